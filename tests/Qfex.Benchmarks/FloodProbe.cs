using System;
using System.Diagnostics;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex.Benchmarks
{
    /// <summary>
    /// Working-set growth during a long flood into a slow consumer, in a child process of its own so the
    /// baseline is not inflated (or the growth hidden) by heap the earlier measurements left committed.
    /// The session has the default receive buffer (100,000 frames): the consumer first reads nothing
    /// until the buffer is full and holds still a second (the receive loop stops reading; the fake
    /// exchange's writes block on TCP backpressure), then drains in small batches with pauses, checking
    /// that every Sequence arrives exactly once and in order.
    /// </summary>
    internal static class FloodProbe
    {
        internal const string Switch = "--probe-flood";
        internal const int DefaultCapacity = QfexSession.DefaultBufferCapacity;
        internal const int Batch = 1_000;
        internal const int PauseMs = 1;

        private const string DrainScript = @"
            $n = [long]$args[0]; $batch = [int]$args[1]; $pause = [int]$args[2]; $expected = [long]$args[3]
            $lost = 0L; $dup = 0L; $got = 0L
            while ($got -lt $n) {
                $take = [int][Math]::Min($batch, $n - $got)
                $frames = @(Receive-QfexFrame -Count $take -TimeoutSec 60)
                foreach ($f in $frames) {
                    if ($f.Sequence -gt $expected) { $lost += $f.Sequence - $expected }
                    elseif ($f.Sequence -lt $expected) { $dup++ }
                    $expected = $f.Sequence + 1
                    $got++
                }
                if ($frames.Count -lt $take) { break }
                [System.Threading.Thread]::Sleep($pause)
            }
            $got; $lost; $dup; $expected - 1";

        internal static int Run(string[] args)
        {
            int total = int.Parse(args[1], CultureInfo.InvariantCulture);
            string payload = Suite.Payload;
            using QfexTestServer server = QfexTestServer.Start();
            using var engine = new Engine();
            var session = (QfexSession)engine.Run("Connect-Qfex -Uri $args[0] -Credential $args[1]", TimeSpan.FromSeconds(30), server.Uri, server.Credential)
                .ThrowOnError("Connect-Qfex").Value()!;
            Suite.WaitConnections(server, 1);

            // Warm the drain path a little so JIT is not counted as growth.
            long warmFirst = session.FramesReceived + 1;
            Task<int> warm = server.Faults.FloodAsync(payload, 5_000);
            EngineResult warmed = engine.Run(DrainScript, TimeSpan.FromSeconds(60), 5_000L, Batch, 0, warmFirst).ThrowOnError("warm-up");
            if (warmed.Long(0) != 5_000 || warmed.Long(1) != 0)
                throw new InvalidOperationException("The warm-up drain lost frames.");
            Suite.Wait(warm, "warm-up flood");

            Stats.Settle();
            Stats.Settle();
            Thread.Sleep(500);
            using Process self = Process.GetCurrentProcess();
            self.Refresh();
            long baseline = self.WorkingSet64;
            long heapBaseline = GC.GetTotalMemory(false);
            long firstSequence = session.FramesReceived + 1;

            long peak = baseline, heapPeak = heapBaseline;
            int maxPending = 0;
            using var stop = new CancellationTokenSource();
            var sampler = new Thread(() =>
            {
                using Process p = Process.GetCurrentProcess();
                while (!stop.IsCancellationRequested)
                {
                    p.Refresh();
                    peak = Math.Max(peak, p.WorkingSet64);
                    heapPeak = Math.Max(heapPeak, GC.GetTotalMemory(false));
                    maxPending = Math.Max(maxPending, session.FramesPending);
                    Thread.Sleep(10);
                }
            }) { IsBackground = true, Name = "working-set sampler" };
            sampler.Start();

            long start = Stopwatch.GetTimestamp();
            Task<int> flood = server.Faults.FloodAsync(payload, total);

            // Phase 1: read nothing until the buffer is full, then hold still for a second.
            int full = Math.Min(session.Buffer.Capacity, total);
            var fill = Stopwatch.StartNew();
            while (session.FramesPending < full && fill.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(5);
            double fillSeconds = fill.Elapsed.TotalSeconds;
            long atFull = session.FramesReceived - firstSequence + 1;
            Thread.Sleep(1000);
            long afterHold = session.FramesReceived - firstSequence + 1;

            // Phase 2: drain slowly.
            long drainStart = Stopwatch.GetTimestamp();
            EngineResult drained = engine.Run(DrainScript, TimeSpan.FromSeconds(300), (long)total, Batch, PauseMs, firstSequence).ThrowOnError("drain");
            double drainSeconds = Stopwatch.GetElapsedTime(drainStart).TotalSeconds;
            double totalSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            int targets = Suite.Wait(flood, "flood");
            stop.Cancel();
            sampler.Join();

            long got = drained.Long(0), lost = drained.Long(1), dup = drained.Long(2), last = drained.Long(3);
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine("total=" + total.ToString(c));
            Console.WriteLine("targets=" + targets.ToString(c));
            Console.WriteLine("got=" + got.ToString(c));
            Console.WriteLine("lost=" + (lost + (total - got)).ToString(c));
            Console.WriteLine("duplicates=" + dup.ToString(c));
            Console.WriteLine("first_sequence=" + firstSequence.ToString(c));
            Console.WriteLine("last_sequence=" + last.ToString(c));
            Console.WriteLine("frames_received=" + (session.FramesReceived - firstSequence + 1).ToString(c));
            Console.WriteLine("max_pending=" + maxPending.ToString(c));
            Console.WriteLine("at_full=" + atFull.ToString(c));
            Console.WriteLine("after_hold=" + afterHold.ToString(c));
            Console.WriteLine("fill_s=" + fillSeconds.ToString("0.000", c));
            Console.WriteLine("drain_s=" + drainSeconds.ToString("0.000", c));
            Console.WriteLine("total_s=" + totalSeconds.ToString("0.000", c));
            Console.WriteLine("baseline_mb=" + Stats.Mb(baseline).ToString("0.0", c));
            Console.WriteLine("peak_mb=" + Stats.Mb(peak).ToString("0.0", c));
            Console.WriteLine("growth_mb=" + Stats.Mb(peak - baseline).ToString("0.0", c));
            Console.WriteLine("heap_baseline_mb=" + Stats.Mb(heapBaseline).ToString("0.0", c));
            Console.WriteLine("heap_peak_mb=" + Stats.Mb(heapPeak).ToString("0.0", c));
            server.Stop();
            return 0;
        }
    }
}
