using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex.Benchmarks
{
    internal sealed partial class Suite
    {
        // ------------------------------------------------------------------ flood (7)

        // The slow consumer in pwsh: reads nothing until the buffer is full (or, for the warm-up, not at all
        // first), holds still, then drains batches with pauses and checks every Sequence. Its output: got, lost,
        // duplicates, last sequence, received at full, received after the hold, fill s, drain s, most pending
        // seen, managed heap at the start and at its peak (sampled after each batch).
        private const string PwshFloodScript = @"
            $n = [long]$args[0]; $batch = [int]$args[1]; $pause = [int]$args[2]; $expected = [long]$args[3]; $capacity = [int]$args[4]; $holdMs = [int]$args[5]
            $heapStart = [GC]::GetTotalMemory($false); $heapPeak = $heapStart
            $first = $expected
            $session = Get-QfexSession -Default
            $fill = [System.Diagnostics.Stopwatch]::StartNew()
            if ($holdMs -gt 0) {
                $full = [Math]::Min($capacity, $n)
                while ($session.FramesPending -lt $full -and $fill.Elapsed.TotalSeconds -lt 60) { [System.Threading.Thread]::Sleep(5) }
            }
            $fillS = $fill.Elapsed.TotalSeconds
            $atFull = $session.FramesReceived - $first + 1
            if ($holdMs -gt 0) { [System.Threading.Thread]::Sleep($holdMs) }
            $afterHold = $session.FramesReceived - $first + 1
            $drain = [System.Diagnostics.Stopwatch]::StartNew()
            $lost = 0L; $dup = 0L; $got = 0L; $maxPending = 0
            while ($got -lt $n) {
                $pending = $session.FramesPending
                if ($pending -gt $maxPending) { $maxPending = $pending }
                $take = [int][Math]::Min($batch, $n - $got)
                $frames = @(Receive-QfexFrame -Count $take -TimeoutSec 60)
                foreach ($f in $frames) {
                    if ($f.Sequence -gt $expected) { $lost += $f.Sequence - $expected }
                    elseif ($f.Sequence -lt $expected) { $dup++ }
                    $expected = $f.Sequence + 1
                    $got++
                }
                $heap = [GC]::GetTotalMemory($false)
                if ($heap -gt $heapPeak) { $heapPeak = $heap }
                if ($frames.Count -lt $take) { break }
                if ($pause -gt 0) { [System.Threading.Thread]::Sleep($pause) }
            }
            $got; $lost; $dup; ($expected - 1); $atFull; $afterHold; $fillS; $drain.Elapsed.TotalSeconds; $maxPending; $heapStart; $heapPeak";

        private void Flood()
        {
            if (!_options.Wants("flood")) return;
            if (InPwsh) Guard("P7", "flood into a slow consumer, pwsh", FloodPwsh);
            if (Hosted && !_options.Quick) FloodHosted();
        }

        /// <summary>
        /// P7: the flood in a pwsh process of its own (a clean baseline), its working set sampled from here every
        /// 10 ms: the consumer reads nothing until the default buffer is full and holds still a second (the
        /// receive loop stops reading, the fake exchange blocks on TCP backpressure), then drains slowly.
        /// </summary>
        private void FloodPwsh()
        {
            PwshChild? child = null;
            try
            {
                if (_pwshStartFailure != null) throw new InvalidOperationException("The pwsh child could not be started earlier in this run: " + _pwshStartFailure);
                Report.Progress("starting a pwsh child for the flood ...");
                child = PwshChild.Start(TimeSpan.FromSeconds(90));
                ConnectPwsh(child);
                WaitConnections(_server, 1);
                const string receivedScript = "(Get-QfexSession -Default).FramesReceived";

                // Warm the drain path a little so JIT is not counted as growth.
                long first = child.Run(receivedScript, TimeSpan.FromSeconds(30)).Long(0) + 1;
                Task<int>? warm = null;
                ChildAnswer warmed = child.Run(PwshFloodScript, TimeSpan.FromSeconds(60), () => warm = _server.Faults.FloodAsync(Payload, 5_000), false,
                    5_000, FloodProbe.Batch, 0, first, FloodProbe.DefaultCapacity, 0).ThrowOnError("warm-up drain");
                if (warm != null) Wait(warm, "warm-up flood");
                if (warmed.Long(0) != 5_000 || warmed.Long(1) != 0) throw new InvalidOperationException("The warm-up drain in pwsh lost frames: " + warmed.OutputText);

                child.Settle();
                child.Settle();
                Thread.Sleep(500);
                Process process = child.Process;
                process.Refresh();
                long baseline = process.WorkingSet64, peak = baseline;
                first = child.Run(receivedScript, TimeSpan.FromSeconds(30)).Long(0) + 1;

                using var stop = new CancellationTokenSource();
                var sampler = new Thread(() =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        try
                        {
                            process.Refresh();
                            peak = Math.Max(peak, process.WorkingSet64);
                        }
                        catch (InvalidOperationException)
                        {
                            return;
                        }
                        Thread.Sleep(10);
                    }
                }) { IsBackground = true, Name = "pwsh working-set sampler" };
                sampler.Start();
                Task<int>? flood = null;
                var clock = Stopwatch.StartNew();
                ChildAnswer r;
                try
                {
                    r = child.Run(PwshFloodScript, TimeSpan.FromSeconds(400), () => flood = _server.Faults.FloodAsync(Payload, _floodFrames), false,
                        _floodFrames, FloodProbe.Batch, FloodProbe.PauseMs, first, FloodProbe.DefaultCapacity, 1000).ThrowOnError("the drain");
                }
                finally
                {
                    stop.Cancel();
                    sampler.Join();
                }
                double total = clock.Elapsed.TotalSeconds;
                int targets = flood != null ? Wait(flood, "flood") : 0;
                long got = r.Long(0), lost = r.Long(1) + (_floodFrames - got), dup = r.Long(2);
                double growth = Stats.Mb(peak - baseline);
                bool pass = growth <= 64 && lost == 0 && dup == 0 && got == _floodFrames && targets == 1;
                _report.Add(new Row
                {
                    Id = "P7", Name = string.Format(C, "{0:N0}-frame flood, slow consumer: working-set growth", _floodFrames), Value = growth, Unit = "MB", ValueFormat = "0.0",
                    Where = Where.Pwsh, Target = "<= 64 MB, 0 lost", Check = string.Format(C, "{0:0.0} MB, {1} lost", growth, lost + dup),
                    Verdict = pass ? Verdict.Pass : Verdict.Miss,
                    Detail = string.Format(C,
                        "a pwsh process of its own, its working set sampled from here every 10 ms; default receive buffer ({0:N0} frames): nothing read until full ({1:N0} frames in {2:0.000} s), " +
                        "held 1 s (received {3:N0} -> {4:N0}: the loop stopped reading, the server blocked on TCP backpressure), then drained {5:N0}-frame batches " +
                        "(@(Receive-QfexFrame -Count 1000), every Sequence checked) with {6} ms pauses in {7:0.000} s; most pending seen {8:N0}; sequences {9}..{10}, lost {11}, duplicates {12}; " +
                        "working set {13:0.0} MB after connect -> peak {14:0.0} MB; managed heap {15:0.0} -> peak {16:0.0} MB (after each batch); whole flood {17:0.000} s{18}",
                        FloodProbe.DefaultCapacity, r.Long(4), r.Output[6].GetDouble(), r.Long(4), r.Long(5), FloodProbe.Batch, FloodProbe.PauseMs, r.Output[7].GetDouble(),
                        r.Long(8), first, r.Long(3), lost, dup, Stats.Mb(baseline), Stats.Mb(peak), Stats.Mb(r.Long(9)), Stats.Mb(r.Long(10)), total, Noise(child)),
                });
            }
            finally
            {
                DisconnectPwsh(child);
                child?.Dispose();
                Released(0);
            }
        }

        private void FloodHosted()
        {
            try
            {
                Dictionary<string, string> r = Child.Run(TimeSpan.FromSeconds(400), FloodProbe.Switch, _floodFrames.ToString(C));
                double growth = r.Number("growth_mb");
                long lost = (long)r.Number("lost"), dup = (long)r.Number("duplicates"), got = (long)r.Number("got");
                bool pass = growth <= 64 && lost == 0 && dup == 0 && got == _floodFrames;
                _report.Add(new Row
                {
                    Id = "7", Name = string.Format(C, "{0:N0}-frame flood, slow consumer: working-set growth", _floodFrames), Value = growth, Unit = "MB", ValueFormat = "0.0",
                    Check = string.Format(C, "{0:0.0} MB, {1} lost", growth, lost + dup),
                    Verdict = pass ? Verdict.Info : Verdict.Miss,
                    Detail = string.Format(C,
                        "child process; default receive buffer ({0:N0} frames): nothing read until full ({1:N0} frames in {2} s), held 1 s (received {3:N0} -> {4:N0}: the loop stopped reading, " +
                        "the server blocked on TCP backpressure), then drained {5:N0}-frame batches with {6} ms pauses in {7} s; peak pending {8:N0}; sequences {9}..{10}, lost {11}, duplicates {12}; " +
                        "working set {13} MB after connect -> peak {14} MB; managed heap {15} -> peak {16} MB; whole flood {17} s",
                        FloodProbe.DefaultCapacity, r["at_full"].Length > 0 ? r.Number("at_full") : 0, r["fill_s"], r.Number("at_full"), r.Number("after_hold"),
                        FloodProbe.Batch, FloodProbe.PauseMs, r["drain_s"], r.Number("max_pending"), r["first_sequence"], r["last_sequence"], lost, dup,
                        r["baseline_mb"], r["peak_mb"], r["heap_baseline_mb"], r["heap_peak_mb"], r["total_s"]),
                });
            }
            catch (Exception e) when (!(e is OutOfMemoryException))
            {
                _report.Failed("7", "flood", e);
            }
        }
    }
}
