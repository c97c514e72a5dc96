using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;

namespace Qfex.Benchmarks
{
    internal sealed partial class Suite
    {
        // ------------------------------------------------------------------ round trip (5)

        private const int RoundTripBlocks = 10;

        /// <summary>One side of the round-trip comparison: a block of N sequential round trips, in ms each.</summary>
        private sealed record RoundTripSide(string Name, Func<int, double[]> Block, Action Quiesce, Action Settle)
        {
            internal List<double> All { get; } = new List<double>();
        }

        private void RoundTrip()
        {
            if (!_options.Wants("roundtrip") || !(Hosted || InPwsh)) return;
            QfexSession? session = null;
            RawClient? client = null;
            PwshChild? child = null;
            try
            {
                // The client-side rate limiter is turned off: this measures latency, not the limiter (by default
                // 100 weight/s, and get_user_orders weighs 5: 20 a second).
                var modules = new List<RoundTripSide>();
                if (InPwsh)
                {
                    child = Pwsh;
                    ConnectPwsh(child, messagesPerSecond: 0);
                    PwshChild c = child;
                    modules.Add(new RoundTripSide("pwsh", n => PwshRoundTrips(c, RoundTripScript, n, check: true), c.Quiesce, c.Settle));
                }
                if (Hosted)
                {
                    session = Connect(Engine, "-MessagesPerSecond 0");
                    modules.Add(new RoundTripSide("hosted", ModuleRoundTrips, Stats.QuiesceJit, Stats.Settle));
                }
                client = RawClient.ConnectAsync(_server, TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
                WaitConnections(_server, modules.Count + 1);

                // Warm every side until a block's median agrees with the previous one's within 10% (as the
                // throughput lines do): the engine compiles a script's loop only after it has run a while, and the
                // JIT tiers up every process. The raw client then sends exactly the bytes the module sent.
                int warmBlocks = 0;
                string request = "";
                RawClient raw = client;
                var rawSide = new RoundTripSide("raw", n => RawRoundTrips(raw, request, n), Stats.QuiesceJit, Stats.Settle);
                var previous = new Dictionary<string, double>();
                int maxWarmBlocks = _options.Quick ? 4 : 10;
                for (; warmBlocks < maxWarmBlocks; warmBlocks++)
                {
                    bool stable = warmBlocks >= 1;
                    foreach (RoundTripSide side in modules.Append(rawSide))
                    {
                        double median = Stats.Median(side.Block(_roundTripWarmUp));
                        if (side != rawSide && request.Length == 0)
                            request = _server.Received.Last(r => r.Type == "get_user_orders").Raw;
                        stable &= previous.TryGetValue(side.Name, out double before) && Math.Abs(median - before) <= 0.1 * Math.Max(median, before);
                        previous[side.Name] = median;
                    }
                    foreach (RoundTripSide side in modules) side.Quiesce();
                    if (stable) break;
                }
                foreach (RoundTripSide side in modules) side.Settle();

                // Interleaved blocks (raw, then each module side, again and again), so a drifting machine weighs on
                // all alike; no pause between them (a pause lets threads and caches go cold, which is not measured).
                int block = Math.Max(1, _roundTrips / RoundTripBlocks);
                for (int b = 0; b < RoundTripBlocks; b++)
                    foreach (RoundTripSide side in modules.Prepend(rawSide))
                        side.All.AddRange(side.Block(block));

                // Each module side's floor: a cmdlet that does almost nothing, timed the same way in the same process.
                var floors = new Dictionary<string, double[]>();
                if (child != null)
                {
                    PwshRoundTrips(child, CallFloorScript, _roundTripWarmUp, check: false);
                    child.Settle();
                    floors["pwsh"] = PwshRoundTrips(child, CallFloorScript, _roundTrips, check: false);
                }
                if (session != null)
                {
                    Engine.Run(CallFloorScript, RunTimeout, _roundTripWarmUp).ThrowOnError("Get-QfexSession");
                    Stats.Settle();
                    floors["hosted"] = (double[])Engine.Run(CallFloorScript, RunTimeout, _roundTrips).ThrowOnError("Get-QfexSession").Value()!;
                }

                double[] rawAll = rawSide.All.ToArray();
                double rawMedian = Stats.Median(rawAll), rawP99 = Stats.Percentile(rawAll, 99);
                string common = string.Format(C, "{0:N0} sequential round trips on each side ({5}), in {3} interleaved blocks (raw, {5}, raw, ...), after {4} warm-up block(s) of {1:N0} each; request {2}",
                    rawAll.Length, _roundTripWarmUp, request, RoundTripBlocks, Math.Min(warmBlocks + 1, maxWarmBlocks), string.Join(", ", modules.Select(m => m.Name)));
                _report.Add(new Row { Id = "5a", Name = "raw C# send + receive round trip, median", Value = rawMedian, Unit = "ms", ValueFormat = "0.000", VsRaw = 1, Verdict = Verdict.Baseline, Where = Where.Raw,
                    Detail = common + string.Format(C, "; raw: C# SendAsync + ReceiveAsync + JsonDocument.Parse until all_orders_response; min {0:0.000} ms", rawAll.Min()) });
                _report.Add(new Row { Id = "5b", Name = "raw C# round trip, p99", Value = rawP99, Unit = "ms", ValueFormat = "0.000", VsRaw = 1, Verdict = Verdict.Baseline, Where = Where.Raw });

                foreach (RoundTripSide side in modules)
                {
                    bool pwsh = side.Name == "pwsh";
                    string p = pwsh ? "P" : "";
                    Where where = pwsh ? Where.Pwsh : Where.Hosted;
                    double[] ours = side.All.ToArray();
                    double[] floor = floors[side.Name];
                    double median = Stats.Median(ours), p99 = Stats.Percentile(ours, 99), floorMedian = Stats.Median(floor);
                    double limit = rawMedian + floorMedian + 0.020;
                    _report.Add(new Row
                    {
                        Id = p + "5c", Name = "Send-QfexMessage -Wait round trip, median", Value = median, Unit = "ms", ValueFormat = "0.000", VsRaw = median / rawMedian, Where = where,
                        Target = pwsh ? "<= raw + P5e + 20 us" : "",
                        Check = pwsh ? string.Format(C, "{0:0.000} ms", limit) : "",
                        Verdict = !pwsh ? Verdict.Info : median <= limit ? Verdict.Pass : Verdict.Miss,
                        Detail = string.Format(C,
                            "timed in the script around `$f = Send-QfexMessage -Type get_user_orders -Wait` (binding, validation, send, answer matching, output){0}; session connected with -MessagesPerSecond 0 (rate limiter off); " +
                            "min {1:0.000} ms; the target's limit: raw median {2:0.000} + the floor ({3}5e) {4:0.000} + 0.020 = {5:0.000} ms; the module's own share above the floor: {6:0.000} ms over raw",
                            pwsh ? ", in the pwsh child, which sends the block's latencies back" : "", ours.Min(), rawMedian, p, floorMedian, limit, median - floorMedian - rawMedian),
                    });
                    _report.Add(new Row
                    {
                        Id = p + "5d", Name = "Send-QfexMessage -Wait round trip, p99", Value = p99, Unit = "ms", ValueFormat = "0.000", VsRaw = p99 / rawP99, Where = where,
                        Target = pwsh ? "<= 2.00x raw p99" : "",
                        Check = pwsh ? (p99 / rawP99).ToString("0.00", C) + "x" : "",
                        Verdict = !pwsh ? Verdict.Info : p99 <= 2 * rawP99 ? Verdict.Pass : Verdict.Miss,
                        Detail = string.Format(C, "p99.9 {0:0.000} ms, max {1:0.000} ms (raw: p99.9 {2:0.000} ms, max {3:0.000} ms)",
                            Stats.Percentile(ours, 99.9), ours.Max(), Stats.Percentile(rawAll, 99.9), rawAll.Max()),
                    });
                    _report.Add(new Row
                    {
                        Id = p + "5e", Name = "floor: a trivial cmdlet call in that loop, median", Value = floorMedian, Unit = "ms", ValueFormat = "0.000", VsRaw = floorMedian / rawMedian, Verdict = Verdict.Info, Where = where,
                        Detail = string.Format(C, "`$f = Get-QfexSession -Default` timed the same way, {0:N0} times: the engine's per-call cost (command lookup, binding, pipeline, output) that any cmdlet pays; p99 {1:0.000} ms",
                            floor.Length, Stats.Percentile(floor, 99)),
                    });
                }
            }
            catch (Exception e) when (!(e is OutOfMemoryException))
            {
                _report.Failed("5", "round trip (raw, pwsh, hosted)", e, InPwsh ? Where.Pwsh : Where.Hosted);
            }
            finally
            {
                if (client != null)
                {
                    client.CloseAsync().GetAwaiter().GetResult();
                    client.Dispose();
                }
                if (session != null) Disconnect(Engine);
                DisconnectPwsh(child);
                Released(0);
            }
        }

        private static double[] RawRoundTrips(RawClient client, string request, int count)
        {
            var latencies = new double[count];
            using var cts = new CancellationTokenSource(RunTimeout);
            for (int i = 0; i < count; i++)
                latencies[i] = client.RoundTripAsync(request, "all_orders_response", cts.Token).GetAwaiter().GetResult();
            return latencies;
        }

        private double[] ModuleRoundTrips(int count)
        {
            EngineResult result = Engine.Run(RoundTripScript, RunTimeout, count).ThrowOnError("Send-QfexMessage -Wait");
            if (result.Long(0) != 0) throw new InvalidOperationException($"{result.Value(0)} answers were not all_orders_response.");
            return (double[])result.Value(1)!;
        }

        /// <summary>A block timed in the pwsh child, call by call (the script's own Stopwatch); the latencies come back over stdout.</summary>
        private static double[] PwshRoundTrips(PwshChild child, string script, int count, bool check)
        {
            ChildAnswer answer = child.Run(script, RunTimeout, null, false, count).ThrowOnError(check ? "Send-QfexMessage -Wait" : "Get-QfexSession");
            if (check && answer.Long(0) != 0) throw new InvalidOperationException($"{answer.Long(0)} answers in pwsh were not all_orders_response.");
            return answer.Doubles(check ? 1 : 0);
        }
    }
}
