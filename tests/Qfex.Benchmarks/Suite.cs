using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex.Benchmarks
{
    /// <summary>Every measurement, in one process, against one fake exchange on 127.0.0.1.</summary>
    internal sealed class Suite
    {
        /// <summary>The small frame every throughput line floods (raw and module alike): 123 bytes.</summary>
        internal const string Payload =
            "{\"type\":\"trade\",\"symbol\":\"AAPL-USD\",\"price\":\"187.25\",\"quantity\":\"0.5\",\"side\":\"BUY\",\"trade_id\":123456789,\"ts\":1718000000000}";

        /// <summary>The error frame the error lines flood (raw and module alike), as the live exchange shapes it.</summary>
        internal const string ErrorPayload =
            "{\"err\":{\"error_code\":\"RateLimited\",\"message\":\"Too many requests. Please retry after 200ms.\",\"incoming_message\":{\"type\":\"add_order\",\"params\":{\"symbol\":\"AAPL-USD\",\"quantity\":1}}}}";

        private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(150);
        private static readonly CultureInfo C = CultureInfo.InvariantCulture;

        // Frames streamed into Out-Null, as the raw baseline drops each frame once parsed. `$null = <pipeline>`
        // is not the same sink: the engine keeps every output object until the pipeline ends (it collects the
        // value before discarding it), so N frames stay alive and the GC has to move them (line 2f shows it).
        // -TimeoutSec only bounds the run; it never fires in a good run.
        private const string ObjectsScript = "Receive-QfexFrame -Count $args[0] -TimeoutSec 120 | Out-Null";
        private const string TextScript = "Receive-QfexFrame -Count $args[0] -TimeoutSec 120 -Raw | Out-Null";
        private const string CapturedScript = "$null = Receive-QfexFrame -Count $args[0] -TimeoutSec 120";
        private const string ForEachScript = "Receive-QfexFrame -Count $args[0] -TimeoutSec 120 | ForEach-Object { $null = $_.Sequence }";
        private const string DataScript = "Receive-QfexFrame -Count $args[0] -TimeoutSec 120 | ForEach-Object { $null = $_.Data.type }";
        private const string ErrorsScript =
            "$Error.Clear(); Receive-QfexFrame -Count $args[0] -TimeoutSec 120 -ErrorAction SilentlyContinue | Out-Null; " +
            "$Error.Count; if ($Error.Count) { $Error[0].FullyQualifiedErrorId }";

        // What users write today without the module: ClientWebSocket by hand, each message decoded and parsed
        // with ConvertFrom-Json (line 4, the target), or with JsonDocument (line 4b, info: a faster parse few
        // scripts use, and one that gives the script no objects to work with).
        private const string HandRolledConnect = @"
            $ws = [System.Net.WebSockets.ClientWebSocket]::new()
            $cts = [System.Threading.CancellationTokenSource]::new([TimeSpan]::FromSeconds(30))
            $null = $ws.ConnectAsync([uri]$args[0], $cts.Token).GetAwaiter().GetResult()
            $auth = [System.Text.Encoding]::UTF8.GetBytes($args[1])
            $null = $ws.SendAsync([System.ArraySegment[byte]]::new($auth), [System.Net.WebSockets.WebSocketMessageType]::Text, $true, $cts.Token).GetAwaiter().GetResult()
            $buf = [byte[]]::new(65536)
            $r = $ws.ReceiveAsync([System.ArraySegment[byte]]::new($buf), $cts.Token).GetAwaiter().GetResult()
            [System.Text.Encoding]::UTF8.GetString($buf, 0, $r.Count)";

        private const string HandRolledReceive = @"
            $n = [int]$args[0]
            $ct = [System.Threading.CancellationTokenSource]::new([TimeSpan]::FromSeconds(120)).Token
            $seg = [System.ArraySegment[byte]]::new($buf)
            $parts = [System.IO.MemoryStream]::new()
            $got = 0
            while ($got -lt $n) {
                $r = $ws.ReceiveAsync($seg, $ct).GetAwaiter().GetResult()
                if ($r.MessageType -eq [System.Net.WebSockets.WebSocketMessageType]::Close) { break }
                if (-not $r.EndOfMessage) { $parts.Write($buf, 0, $r.Count); continue }
                if ($parts.Length -gt 0) {
                    $parts.Write($buf, 0, $r.Count)
                    $text = [System.Text.Encoding]::UTF8.GetString($parts.ToArray())
                    $parts.SetLength(0)
                } else {
                    $text = [System.Text.Encoding]::UTF8.GetString($buf, 0, $r.Count)
                }
                {PARSE}
                $got++
            }
            $got";

        internal const string ParseWithConvertFromJson = "$msg = $text | ConvertFrom-Json; $type = $msg.type";
        internal const string ParseWithJsonDocument =
            "$doc = [System.Text.Json.JsonDocument]::Parse($text); $type = $doc.RootElement.GetProperty('type').GetString(); $doc.Dispose()";

        internal static string HandRolledReceiveWith(string parse) => HandRolledReceive.Replace("{PARSE}", parse);

        private const string HandRolledClose = @"
            $cts = [System.Threading.CancellationTokenSource]::new([TimeSpan]::FromSeconds(5))
            try { $null = $ws.CloseAsync([System.Net.WebSockets.WebSocketCloseStatus]::NormalClosure, 'done', $cts.Token).GetAwaiter().GetResult() } catch { }
            $ws.Dispose()";

        // The user's view of a request/answer: the cmdlet call as written in a script, timed around it.
        private const string RoundTripScript = @"
            $n = [int]$args[0]; $lat = [double[]]::new($n); $sw = [System.Diagnostics.Stopwatch]::new(); $bad = 0
            for ($i = 0; $i -lt $n; $i++) {
                $sw.Restart()
                $f = Send-QfexMessage -Type get_user_orders -Wait
                $lat[$i] = $sw.Elapsed.TotalMilliseconds
                if ($f.Type -ne 'all_orders_response') { $bad++ }
            }
            $bad
            ,$lat";

        // The engine's floor for any cmdlet call in that loop: a Qfex cmdlet that does almost nothing.
        private const string CallFloorScript = @"
            $n = [int]$args[0]; $lat = [double[]]::new($n); $sw = [System.Diagnostics.Stopwatch]::new()
            for ($i = 0; $i -lt $n; $i++) {
                $sw.Restart()
                $f = Get-QfexSession -Default
                $lat[$i] = $sw.Elapsed.TotalMilliseconds
            }
            ,$lat";

        private readonly Options _options;
        private readonly QfexTestServer _server;
        private readonly Report _report;
        private Engine? _engine;

        private readonly int _n, _errorN, _scriptN, _rounds, _roundTrips, _roundTripWarmUp, _importReps, _coldReps, _floodFrames;

        private Suite(Options options, QfexTestServer server, Report report)
        {
            _options = options;
            _server = server;
            _report = report;
            bool q = options.Quick;
            _n = q ? 50_000 : 300_000;
            _errorN = q ? 20_000 : 100_000;
            _scriptN = q ? 10_000 : 50_000;
            _rounds = q ? 3 : 5;
            _roundTrips = q ? 300 : 3_000;
            _roundTripWarmUp = q ? 300 : 1_000;
            _importReps = q ? 3 : 9;
            _coldReps = q ? 1 : 3;
            _floodFrames = q ? 100_000 : 1_000_000;
        }

        private Engine Engine => _engine ??= new Engine();

        internal static int RunAll(Options options)
        {
            var clock = Stopwatch.StartNew();
            var report = new Report();
            Console.Error.WriteLine($"Qfex benchmark ({(options.Quick ? "quick" : "full")}) - progress on stderr, the table on stdout at the end.");
            string header;
            using (QfexTestServer server = QfexTestServer.Start())
            {
                var suite = new Suite(options, server, report);
                header = suite.Header();
                suite.Throughput();
                suite.RoundTrip();
                suite.Import();
                suite.Flood();
                suite._engine?.Dispose();
                server.Stop();
            }
            report.Note(string.Format(C, "Whole run: {0:0.0} s. Every figure is one run's; re-run before comparing.", clock.Elapsed.TotalSeconds));
            Console.WriteLine(report.Render(header));
            return report.Rows.Any(r => r.Verdict == Verdict.Failed) ? 1 : 0;
        }

        private string Header()
        {
            string psVersion = typeof(System.Management.Automation.PSObject).Assembly.GetName().Version?.ToString() ?? "?";
            string moduleVersion;
            try
            {
                moduleVersion = Engine.Run("(Get-Module Qfex).Version.ToString()", TimeSpan.FromSeconds(30)).Value()?.ToString() ?? "?";
            }
            catch (Exception e) when (e is InvalidOperationException || e is TimeoutException)
            {
                moduleVersion = "? (" + e.Message + ")";
            }
            return string.Format(C,
                "Qfex benchmark, {0} - {1:yyyy-MM-dd HH:mm} UTC - {2} cores, {3}, {4}, PowerShell engine (SMA) {5}, Qfex {6}, {7} GC{8}\n" +
                "All on 127.0.0.1 against the fake exchange (QfexTestServer, in this process). 'x raw' = the figure over the raw C# baseline of the same run (same payload).\n",
                _options.Quick ? "--quick" : "full run", DateTime.UtcNow, Environment.ProcessorCount, RuntimeInformation.OSDescription,
                RuntimeInformation.FrameworkDescription, psVersion, moduleVersion,
                GCSettings.IsServerGC ? "server" : "workstation", GCSettings.LatencyMode == GCLatencyMode.Interactive ? " (concurrent)" : "");
        }

        // ------------------------------------------------------------------ throughput (1-4)

        private void Throughput()
        {
            bool objects = _options.Wants("objects"), text = _options.Wants("text"), forEach = _options.Wants("foreach"),
                loop = _options.Wants("loop"), errors = _options.Wants("errors"), script = _options.Wants("script");
            bool needRaw = _options.Wants("raw") || objects || text || forEach || loop || script;
            Measured? raw = null, rawErrors = null, ours = null;

            if (needRaw)
                Guard("1", "raw C# baseline", () =>
                {
                    raw = AdjacentRaw(Payload, _n);
                    _report.Add(new Row
                    {
                        Id = "1", Name = "raw C#: ClientWebSocket + JsonDocument.Parse", Value = raw.Rate, Unit = "frames/s", VsRaw = 1,
                        Verdict = Verdict.Baseline, Detail = raw.Describe("frame " + Payload.Length + " B"),
                    });
                });
            if (errors)
                Guard("1e", "raw C# baseline, error frames", () =>
                {
                    rawErrors = AdjacentRaw(ErrorPayload, _errorN);
                    _report.Add(new Row
                    {
                        Id = "1e", Name = "raw C#, error frames", Value = rawErrors.Rate, Unit = "frames/s", VsRaw = 1,
                        Verdict = Verdict.Baseline, Detail = rawErrors.Describe("error frame " + ErrorPayload.Length + " B; parse + error_code + message read"),
                    });
                });

            // Every module line is compared with a raw baseline measured just before it (connections are
            // swapped in between, because a flood goes to every connection): a shared box drifts by tens of
            // percent within one run (the drift check below shows how much), which a single baseline at the
            // start would book to the module.
            if (loop && raw != null)
                Guard("2d", "module receive loop alone (C#, no engine)", () => MeasureLoop(AdjacentRaw(Payload, _n)));

            if (objects && raw != null)
                Guard("2a", "Receive-QfexFrame -Count N, objects", () =>
                    ours = ModuleLine("2a", "Receive-QfexFrame -Count N, objects", Payload, ObjectsScript, _n, 0.5, "script: " + ObjectsScript));
            if (text && raw != null)
                Guard("2b", "Receive-QfexFrame -Count N -Raw", () =>
                    ModuleLine("2b", "Receive-QfexFrame -Count N -Raw", Payload, TextScript, _n, 0.5,
                        "script: " + TextScript + " (target: the objects target applied to -Raw too)"));
            if (objects && raw != null)
                Guard("2f", "$null = Receive-QfexFrame -Count N (captured)", () =>
                    ModuleLine("2f", "$null = Receive-QfexFrame -Count N (captured)", Payload, CapturedScript, _n, null,
                        "script: " + CapturedScript + " (the engine holds all N output objects until the pipeline ends: GC cost, no target)"));
            if (forEach && raw != null)
                Guard("2c", "Receive-QfexFrame | ForEach-Object", () =>
                    ModuleLine("2c", "Receive-QfexFrame | ForEach-Object", Payload, ForEachScript, _n, null,
                        "script: " + ForEachScript + " (a pipeline a user writes; ForEach-Object's own cost included)"));
            if (forEach && raw != null)
                Guard("2e", "Receive-QfexFrame | ForEach-Object { $_.Data.type }", () =>
                    ModuleLine("2e", "Receive-QfexFrame | ForEach-Object { $_.Data.type }", Payload, DataScript, _n, null,
                        "script: " + DataScript + " (every frame's Data built as objects: what line 4's script gets from ConvertFrom-Json)"));
            if (errors && rawErrors != null)
                Guard("3", "error frames -> ErrorRecords", () =>
                    ModuleLine("3", "error frames -> ErrorRecords", ErrorPayload, ErrorsScript, _errorN, 0.3,
                        "script: " + ErrorsScript.Split(';')[1].Trim() + " (baseline: raw parsing the same error frames, as row 1e; $Error checked: last ErrorId RateLimited)",
                        expectErrors: true));

            if (script && raw != null)
            {
                // The script is compared with the module's objects line measured just before it (same reason).
                Guard("4", "hand-rolled PS script (ClientWebSocket + ConvertFrom-Json)", () =>
                    MeasureHandRolled(raw, MeasureModuleAlone(Payload, ObjectsScript, _n), jsonDocument: false));
                Guard("4b", "hand-rolled PS script (ClientWebSocket + JsonDocument)", () => MeasureHandRolled(raw, ours, jsonDocument: true));
            }

            if (needRaw && raw != null && (objects || text || forEach || loop || script))
            {
                // Drift check: the same baseline again, after everything above.
                try
                {
                    Measured again = AdjacentRaw(Payload, _n);
                    _report.Note(string.Format(C, "Drift check: the raw baseline measured again after the module lines: {0:N0} frames/s ({1:+0.0;-0.0}% vs row 1).",
                        again.Rate, (again.Rate / raw.Rate - 1) * 100));
                }
                catch (Exception e) when (!(e is OutOfMemoryException))
                {
                    _report.Note("Drift check failed: " + e.Message);
                }
            }
        }

        private void ThroughputRow(string id, string name, Measured m, Measured baseline, double? target, string detail)
        {
            double ratio = m.Rate / baseline.Rate;
            _report.Add(new Row
            {
                Id = id,
                Name = name,
                Value = m.Rate,
                Unit = "frames/s",
                VsRaw = ratio,
                Target = target.HasValue ? ">= " + target.Value.ToString("0.00", C) + "x raw" : "",
                Check = target.HasValue ? ratio.ToString("0.00", C) + "x" : "",
                Verdict = target.HasValue ? (ratio >= target.Value ? Verdict.Pass : Verdict.Miss) : Verdict.Info,
                Detail = m.Describe(detail + string.Format(C, "; its raw baseline, measured just before: {0:N0} frames/s", baseline.Rate)),
            });
        }

        /// <summary>The raw baseline again, right now, on its own connection (the only one while it runs).</summary>
        private Measured AdjacentRaw(string payload, int n)
        {
            RawClient client = RawClient.ConnectAsync(_server, TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
            try
            {
                WaitConnections(_server, 1);
                return MeasureRaw(client, payload, n);
            }
            finally
            {
                client.CloseAsync().GetAwaiter().GetResult();
                client.Dispose();
                Released(0);
            }
        }

        /// <summary>One module line on a session of its own (the only connection while it runs).</summary>
        private Measured MeasureModuleAlone(string payload, string script, int n, bool expectErrors = false)
        {
            QfexSession? session = null;
            try
            {
                session = Connect(Engine);
                WaitConnections(_server, 1);
                return MeasureModule(session, payload, script, n, expectErrors);
            }
            finally
            {
                if (session != null) Disconnect(Engine);
                Released(0);
            }
        }

        /// <summary>A raw baseline, then the module line right after it; the row's ratio is to that baseline.</summary>
        private Measured ModuleLine(string id, string name, string payload, string script, int n, double? target, string detail, bool expectErrors = false)
        {
            Measured baseline = AdjacentRaw(payload, n);
            Measured m = MeasureModuleAlone(payload, script, n, expectErrors);
            ThroughputRow(id, name, m, baseline, target, detail);
            return m;
        }

        private Measured MeasureRaw(RawClient client, string payload, int n) =>
            Measure(n, count =>
            {
                Task<int> flood = _server.Faults.FloodAsync(payload, count);
                using var cts = new CancellationTokenSource(RunTimeout);
                long got = client.ReceiveAndParseAsync(count, cts.Token).GetAwaiter().GetResult();
                if (got != count) throw new InvalidOperationException($"The raw client received {got} of {count} frames.");
                return flood;
            });

        private Measured MeasureModule(QfexSession session, string payload, string script, int n, bool expectErrors) =>
            Measure(n, count =>
            {
                long before = session.FramesReceived;
                Task<int> flood = _server.Faults.FloodAsync(payload, count);
                EngineResult result = Engine.Run(script, RunTimeout, count);
                if (result.Terminating != null || result.Errors.Count > 0)
                    result.ThrowOnError("Receive-QfexFrame");
                if (expectErrors && (result.Long(0) < 1 || !(result.Value(1)?.ToString() ?? "").StartsWith("RateLimited", StringComparison.Ordinal)))
                    throw new InvalidOperationException("The error frames did not come out as RateLimited ErrorRecords: " + string.Join(", ", result.Values));
                long received = session.FramesReceived - before;
                if (received != count || session.FramesPending != 0)
                    throw new InvalidOperationException($"The session received {received} of {count} frames; {session.FramesPending} pending.");
                return flood;
            });

        /// <summary>The module's receive loop alone: frames into a buffer big enough for all, nobody reading; FramesReceived polled.</summary>
        private void MeasureLoop(Measured raw)
        {
            QfexSession? session = null;
            try
            {
                session = Connect(Engine, "-ReceiveBufferCapacity " + (WarmUpFrames(_n) + 10_000).ToString(C));
                WaitConnections(_server, 1);
                QfexSession s = session;
                Measured m = Measure(_n, count =>
                {
                    long before = s.FramesReceived;
                    Task<int> flood = _server.Faults.FloodAsync(Payload, count);
                    var limit = Stopwatch.StartNew();
                    while (s.FramesReceived - before < count)
                    {
                        if (limit.Elapsed > RunTimeout) throw new TimeoutException("The receive loop did not take all frames in time.");
                        Thread.Sleep(1);
                    }
                    return flood;
                }, after: () =>
                {
                    EngineResult drained = Engine.Run("$null = Receive-QfexFrame; $s = Get-QfexSession -Default; $s.FramesPending", RunTimeout);
                    drained.ThrowOnError("drain");
                });
                ThroughputRow("2d", "module receive loop alone (C#, no engine)", m, raw, null,
                    "socket read + FrameReader + QfexFrame + buffer add; nobody reads (buffer sized for N); end seen by polling FramesReceived every 1 ms");
            }
            finally
            {
                if (session != null) Disconnect(Engine);
                Released(0);
            }
        }

        private void MeasureHandRolled(Measured raw, Measured? ours, bool jsonDocument)
        {
            string auth = Qfex.Protocol.HmacAuth.BuildHmacMessage(_server.Credential.UserName, _server.Credential.Password, null, DateTimeOffset.UtcNow);
            string receive = HandRolledReceiveWith(jsonDocument ? ParseWithJsonDocument : ParseWithConvertFromJson);
            try
            {
                EngineResult connected = Engine.Run(HandRolledConnect, TimeSpan.FromSeconds(60), _server.Uri.ToString(), auth).ThrowOnError("hand-rolled connect");
                if (!(connected.Value()?.ToString() ?? "").Contains("\"authenticated\":true", StringComparison.Ordinal))
                    throw new InvalidOperationException("The hand-rolled script could not authenticate: " + string.Join(", ", connected.Values));
                WaitConnections(_server, 1);
                Measured m = Measure(_scriptN, count =>
                {
                    Task<int> flood = _server.Faults.FloodAsync(Payload, count);
                    EngineResult result = Engine.Run(receive, RunTimeout, count).ThrowOnError("hand-rolled receive");
                    if (result.Long(0) != count) throw new InvalidOperationException($"The hand-rolled script received {result.Value()} of {count} frames.");
                    return flood;
                });
                double vsOurs = ours != null ? m.Rate / ours.Rate : double.NaN;
                string faster = ours != null ? string.Format(C, "; Qfex objects (2a) are {0:0.0}x faster", ours.Rate / m.Rate) : "";
                _report.Add(new Row
                {
                    Id = jsonDocument ? "4b" : "4",
                    Name = "hand-rolled PS script (ClientWebSocket + " + (jsonDocument ? "JsonDocument)" : "ConvertFrom-Json)"),
                    Value = m.Rate,
                    Unit = "frames/s",
                    VsRaw = m.Rate / raw.Rate,
                    Target = jsonDocument ? "-" : "<= 0.10x of 2a",
                    Check = jsonDocument ? "-" : ours != null ? vsOurs.ToString("0.00", C) + "x" : "(2a not run)",
                    Verdict = jsonDocument || ours == null ? Verdict.Info : vsOurs <= 0.10 ? Verdict.Pass : Verdict.Miss,
                    Detail = m.Describe(jsonDocument
                        ? "the same engine and loop, parsed with [System.Text.Json.JsonDocument]::Parse and the type read out: faster than ConvertFrom-Json, " +
                          "but the script then has no objects, only a document it must walk and dispose; for comparison, no target" + faster
                        : "the same engine; .ReceiveAsync(...).GetAwaiter().GetResult(), [System.Text.Encoding]::UTF8.GetString, " +
                          "`$text | ConvertFrom-Json` per message and its type read (the -InputObject form measured the same here)" + faster),
                });
            }
            finally
            {
                Engine.Run("if ($ws) {" + HandRolledClose + "}", TimeSpan.FromSeconds(30));
                Released(0);
            }
        }

        /// <summary>
        /// Warm-up runs (N frames, at least 100,000 each), each followed by a wait for the background JIT to go
        /// quiet, until two in a row agree within 10% (at most <see cref="MaxWarmUps"/>): tiered JIT recompiles
        /// the engine's thousands of methods in the background early in the process, and a loop measured before
        /// that settles runs on unoptimized code. Then the
        /// measured runs, each after a full GC. <paramref name="once"/> starts the flood and receives every
        /// frame; the flood task it returns is awaited after the clock stops.
        /// </summary>
        private Measured Measure(int n, Func<int, Task<int>> once, Action? after = null)
        {
            int warm = WarmUpFrames(n);
            double previous = 0;
            int warmUps = 0;
            while (warmUps < MaxWarmUps)
            {
                var probe = Probe.Start();
                Task<int> flood = once(warm);
                double rate = probe.Stop(warm).Rate;
                Wait(flood, "warm-up flood");
                after?.Invoke();
                Stats.QuiesceJit();
                warmUps++;
                if (warmUps >= 2 && Math.Abs(rate - previous) <= 0.1 * Math.Max(rate, previous)) break;
                previous = rate;
            }
            var samples = new List<Sample>();
            for (int r = 0; r < _rounds; r++)
            {
                Stats.Settle();
                var probe = Probe.Start();
                Task<int> flood = once(n);
                samples.Add(probe.Stop(n));
                Wait(flood, "flood");
                after?.Invoke();
            }
            return new Measured(samples, (long)warm * warmUps, warmUps);
        }

        private const int MaxWarmUps = 6;

        private static int WarmUpFrames(int n) => Math.Max(100_000, n);

        // ------------------------------------------------------------------ round trip (5)

        private void RoundTrip()
        {
            if (!_options.Wants("roundtrip")) return;
            QfexSession? session = null;
            RawClient? client = null;
            try
            {
                // The client-side rate limiter is turned off: this measures latency, not the limiter (by default
                // 100 weight/s, and get_user_orders weighs 5: 20 a second).
                session = Connect(Engine, "-MessagesPerSecond 0");
                client = RawClient.ConnectAsync(_server, TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
                WaitConnections(_server, 2);

                // Warm both until a block's median agrees with the previous one's within 10% (as the throughput
                // lines do): the engine compiles a script's loop only after it has run a while, and the JIT
                // tiers up both sides. The raw client then sends exactly the bytes the module sent.
                int warmBlocks = 0;
                string request = "";
                for (double previousOurs = 0, previousRaw = 0; warmBlocks < MaxRoundTripWarmUps; warmBlocks++)
                {
                    double warmOurs = Stats.Median(ModuleRoundTrips(_roundTripWarmUp));
                    request = _server.Received.Last(r => r.Type == "get_user_orders").Raw;
                    double warmRaw = Stats.Median(RawRoundTrips(client, request, _roundTripWarmUp));
                    Stats.QuiesceJit();
                    if (warmBlocks >= 1 && Math.Abs(warmOurs - previousOurs) <= 0.1 * Math.Max(warmOurs, previousOurs)
                        && Math.Abs(warmRaw - previousRaw) <= 0.1 * Math.Max(warmRaw, previousRaw))
                        break;
                    previousOurs = warmOurs;
                    previousRaw = warmRaw;
                }
                Stats.Settle();

                // Interleaved blocks (raw, module, raw, ...), so a drifting machine weighs on both alike; no
                // pause between them (a pause lets threads and caches go cold, which is not what is measured).
                var rawAll = new List<double>();
                var oursAll = new List<double>();
                int block = Math.Max(1, _roundTrips / RoundTripBlocks);
                for (int b = 0; b < RoundTripBlocks; b++)
                {
                    rawAll.AddRange(RawRoundTrips(client, request, block));
                    oursAll.AddRange(ModuleRoundTrips(block));
                }
                double[] raw = rawAll.ToArray(), ours = oursAll.ToArray();
                Engine.Run(CallFloorScript, RunTimeout, _roundTripWarmUp).ThrowOnError("Get-QfexSession");
                Stats.Settle();
                double[] floor = (double[])Engine.Run(CallFloorScript, RunTimeout, _roundTrips).ThrowOnError("Get-QfexSession").Value()!;

                double rawMedian = Stats.Median(raw), rawP99 = Stats.Percentile(raw, 99);
                double median = Stats.Median(ours), p99 = Stats.Percentile(ours, 99);
                string common = string.Format(C, "{0:N0} sequential round trips each, in {3} interleaved blocks (raw, module, raw, ...), after {4} warm-up block(s) of {1:N0} each; request {2}",
                    raw.Length, _roundTripWarmUp, request, RoundTripBlocks, Math.Min(warmBlocks + 1, MaxRoundTripWarmUps));
                _report.Add(new Row { Id = "5a", Name = "raw C# send + receive round trip, median", Value = rawMedian, Unit = "ms", ValueFormat = "0.000", VsRaw = 1, Verdict = Verdict.Baseline,
                    Detail = common + string.Format(C, "; raw: C# SendAsync + ReceiveAsync + JsonDocument.Parse until all_orders_response; min {0:0.000} ms", raw.Min()) });
                _report.Add(new Row { Id = "5b", Name = "raw C# round trip, p99", Value = rawP99, Unit = "ms", ValueFormat = "0.000", VsRaw = 1, Verdict = Verdict.Baseline });
                _report.Add(new Row
                {
                    Id = "5c", Name = "Send-QfexMessage -Wait round trip, median", Value = median, Unit = "ms", ValueFormat = "0.000", VsRaw = median / rawMedian,
                    Target = "<= 1.20x raw", Check = (median / rawMedian).ToString("0.00", C) + "x",
                    Verdict = median / rawMedian <= 1.2 ? Verdict.Pass : Verdict.Miss,
                    Detail = string.Format(C, "timed in the script around `$f = Send-QfexMessage -Type get_user_orders -Wait` (binding, validation, send, answer matching, output); session connected with -MessagesPerSecond 0 (rate limiter off); min {0:0.000} ms", ours.Min()),
                });
                _report.Add(new Row { Id = "5d", Name = "Send-QfexMessage -Wait round trip, p99", Value = p99, Unit = "ms", ValueFormat = "0.000", VsRaw = p99 / rawP99, Verdict = Verdict.Info });
                double floorMedian = Stats.Median(floor);
                _report.Add(new Row
                {
                    Id = "5e", Name = "floor: a trivial cmdlet call in that loop, median", Value = floorMedian, Unit = "ms", ValueFormat = "0.000", VsRaw = floorMedian / rawMedian, Verdict = Verdict.Info,
                    Detail = string.Format(C, "`$f = Get-QfexSession -Default` timed the same way, {0:N0} times: the engine's per-call cost (command lookup, binding, pipeline, output) that any cmdlet pays; p99 {1:0.000} ms",
                        _roundTrips, Stats.Percentile(floor, 99)),
                });
            }
            catch (Exception e) when (!(e is OutOfMemoryException))
            {
                _report.Failed("5", "round trip", e);
            }
            finally
            {
                if (client != null)
                {
                    client.CloseAsync().GetAwaiter().GetResult();
                    client.Dispose();
                }
                if (session != null) Disconnect(Engine);
                Released(0);
            }
        }

        private const int RoundTripBlocks = 10;
        private const int MaxRoundTripWarmUps = 10;

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

        // ------------------------------------------------------------------ import (6)

        private void Import()
        {
            if (!_options.Wants("import")) return;
            try
            {
                var bare = new List<double>();
                var import = new List<double>();
                ImportProbe.Measure(Engine.ModuleManifest); // warm-up
                for (int i = 0; i < _importReps; i++)
                {
                    Stats.Settle();
                    (double b, _, double m) = ImportProbe.Measure(Engine.ModuleManifest);
                    bare.Add(b);
                    import.Add(m);
                }
                double added = Stats.Median(import);
                _report.Add(new Row { Id = "6a", Name = "bare engine start (fresh runspace), median", Value = Stats.Median(bare), Unit = "ms", ValueFormat = "0.0", Verdict = Verdict.Info,
                    Detail = string.Format(C, "{0} fresh runspaces (InitialSessionState.CreateDefault2, Open), this process: {1} ms", _importReps, Join(bare)) });
                _report.Add(new Row
                {
                    Id = "6b", Name = "Import-Module added, fresh runspace, median", Value = added, Unit = "ms", ValueFormat = "0.0",
                    Target = "<= 150 ms", Check = added.ToString("0.0", C) + " ms", Verdict = added <= 150 ? Verdict.Pass : Verdict.Miss,
                    Detail = string.Format(C, "Import-Module out/Qfex/Qfex.psd1 into each of those runspaces (Qfex.dll already loaded in this process): {0} ms", Join(import)),
                });

                var coldBare = new List<double>();
                var coldImport = new List<double>();
                var warmEmpty = new List<double>();
                var afterEmpty = new List<double>();
                for (int i = 0; i < _coldReps; i++)
                {
                    Dictionary<string, string> first = Child.Run(TimeSpan.FromSeconds(120), ImportProbe.Switch, Engine.ModuleManifest);
                    Dictionary<string, string> second = Child.Run(TimeSpan.FromSeconds(120), ImportProbe.Switch, Engine.ModuleManifest, "empty-first");
                    foreach (Dictionary<string, string> child in new[] { first, second })
                        if (child.TryGetValue("qfex_loaded_before", out string? loaded) && loaded == "True")
                            throw new InvalidOperationException("The cold probe had loaded Qfex.dll before Import-Module.");
                    coldBare.Add(first.Number("bare_ms"));
                    coldImport.Add(first.Number("import_ms"));
                    warmEmpty.Add(second.Number("empty_ms"));
                    afterEmpty.Add(second.Number("import_ms"));
                }
                double cold = Stats.Median(coldImport), qfexCold = Stats.Median(afterEmpty);
                _report.Add(new Row
                {
                    Id = "6c", Name = "Import-Module added, cold process, JIT engine", Value = cold, Unit = "ms", ValueFormat = "0.0", Verdict = Verdict.Info,
                    Detail = string.Format(C,
                        "{0} child processes, each: first runspace ({1} ms), then the first Import-Module of the process ({2} ms): the engine's module machinery, assembly loads and JIT " +
                        "all included. The NuGet engine this harness runs on is not precompiled (pwsh's is), so most of this is the JIT compiling the engine itself: see 6e for the engine as pwsh ships it",
                        _coldReps, Join(coldBare), Join(coldImport)),
                });
                _report.Add(new Row
                {
                    Id = "6d", Name = "Import-Module added, cold Qfex, warm machinery", Value = qfexCold, Unit = "ms", ValueFormat = "0.0",
                    Target = "<= 150 ms", Check = qfexCold.ToString("0.0", C) + " ms", Verdict = qfexCold <= 150 ? Verdict.Pass : Verdict.Miss,
                    Detail = string.Format(C,
                        "{0} other child processes, each: first runspace, Import-Module of an empty manifest module ({1} ms: the machinery's own first-use cost), then Qfex ({2} ms): " +
                        "what Qfex itself adds in a cold process (Qfex.dll, System.Text.Json, cmdlet discovery, format file)",
                        _coldReps, Join(warmEmpty), Join(afterEmpty)),
                });
                ColdReadyToRun();
            }
            catch (Exception e) when (!(e is OutOfMemoryException))
            {
                _report.Failed("6", "Import-Module", e);
            }
        }

        /// <summary>6e: the cold first import again, with the engine precompiled (ReadyToRun) as pwsh ships it.</summary>
        private void ColdReadyToRun()
        {
            Console.Error.WriteLine("  publishing a ReadyToRun copy of the harness for 6e (dotnet publish -p:PublishReadyToRun=true) ...");
            string? program = ReadyToRunCopy.Publish(TimeSpan.FromMinutes(5), out string? problem);
            if (program == null)
            {
                _report.Add(new Row { Id = "6e", Name = "Import-Module added, cold process, ReadyToRun engine", Verdict = Verdict.Info, Detail = "not measured: " + problem });
                return;
            }
            var bare = new List<double>();
            var import = new List<double>();
            for (int i = 0; i < Math.Max(3, _coldReps); i++)
            {
                Dictionary<string, string> child = Child.RunProgram(program, TimeSpan.FromSeconds(120), ImportProbe.Switch, Engine.ModuleManifest);
                if (child.TryGetValue("qfex_loaded_before", out string? loaded) && loaded == "True")
                    throw new InvalidOperationException("The cold probe had loaded Qfex.dll before Import-Module.");
                bare.Add(child.Number("bare_ms"));
                import.Add(child.Number("import_ms"));
            }
            double added = Stats.Median(import);
            _report.Add(new Row
            {
                Id = "6e", Name = "Import-Module added, cold process, ReadyToRun engine", Value = added, Unit = "ms", ValueFormat = "0.0",
                Target = "<= 150 ms", Check = added.ToString("0.0", C) + " ms", Verdict = added <= 150 ? Verdict.Pass : Verdict.Miss,
                Detail = string.Format(C,
                    "{0} child processes of a ReadyToRun copy of this harness (out/bench-r2r: the engine precompiled, as pwsh releases are since PowerShell/PowerShell#12361; Qfex.dll is not), each: first runspace ({1} ms), " +
                    "then the first Import-Module of the process ({2} ms), the engine's module machinery's first use included",
                    import.Count, Join(bare), Join(import)),
            });
        }

        private static string Join(IEnumerable<double> values) => string.Join(" / ", values.Select(v => v.ToString("0.0", C)));

        // ------------------------------------------------------------------ flood (7)

        private void Flood()
        {
            if (!_options.Wants("flood")) return;
            try
            {
                Dictionary<string, string> r = Child.Run(TimeSpan.FromSeconds(400), FloodProbe.Switch, _floodFrames.ToString(C));
                double growth = r.Number("growth_mb");
                long lost = (long)r.Number("lost"), dup = (long)r.Number("duplicates"), got = (long)r.Number("got");
                bool pass = growth <= 64 && lost == 0 && dup == 0 && got == _floodFrames;
                _report.Add(new Row
                {
                    Id = "7", Name = string.Format(C, "{0:N0}-frame flood, slow consumer: working-set growth", _floodFrames), Value = growth, Unit = "MB", ValueFormat = "0.0",
                    Target = "<= 64 MB, 0 lost", Check = string.Format(C, "{0:0.0} MB, {1} lost", growth, lost + dup),
                    Verdict = pass ? Verdict.Pass : Verdict.Miss,
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

        // ------------------------------------------------------------------ helpers

        private void Guard(string id, string name, Action action)
        {
            try
            {
                action();
            }
            catch (Exception e) when (!(e is OutOfMemoryException))
            {
                _report.Failed(id, name, e);
            }
        }

        private QfexSession Connect(Engine engine, string extra = "")
        {
            EngineResult result = engine.Run("Connect-Qfex -Uri $args[0] -Credential $args[1] " + extra, TimeSpan.FromSeconds(30), _server.Uri, _server.Credential);
            return (QfexSession)result.ThrowOnError("Connect-Qfex").Value()!;
        }

        private static void Disconnect(Engine engine) =>
            engine.Run("Get-QfexSession | Disconnect-Qfex", TimeSpan.FromSeconds(30));

        /// <summary>After a measurement: waits for its connections to go; says so (never throws) if they do not.</summary>
        private void Released(int count)
        {
            try
            {
                WaitConnections(_server, count);
            }
            catch (TimeoutException e)
            {
                _report.Note("Warning: " + e.Message);
            }
        }

        /// <summary>Waits until the fake exchange has exactly <paramref name="count"/> open connections (a flood goes to all).</summary>
        internal static void WaitConnections(QfexTestServer server, int count)
        {
            var clock = Stopwatch.StartNew();
            while (server.ConnectionCount != count)
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(15))
                    throw new TimeoutException($"The fake exchange has {server.ConnectionCount} connection(s), expected {count}.");
                Thread.Sleep(10);
            }
        }

        /// <summary>Waits for a flood to finish; it must have gone to exactly one connection.</summary>
        internal static int Wait(Task<int> flood, string what)
        {
            if (!flood.Wait(TimeSpan.FromSeconds(60)))
                throw new TimeoutException($"The {what} did not finish within 60 s.");
            int targets = flood.GetAwaiter().GetResult();
            if (targets != 1)
                throw new InvalidOperationException($"The {what} went to {targets} connections, expected 1.");
            return targets;
        }
    }
}
