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
    /// <summary>
    /// Every measurement, against one fake exchange on 127.0.0.1 in this process: the raw C# baselines here,
    /// each module line in real pwsh (a child process, the lines the targets apply to) and in the engine
    /// hosted here (for comparison). The parts: Suite.Throughput.cs (1-4), Suite.RoundTrip.cs (5),
    /// Suite.Import.cs (6), Suite.Flood.cs (7).
    /// </summary>
    internal sealed partial class Suite
    {
        /// <summary>The small frame every throughput line floods (raw and module alike): 123 bytes.</summary>
        internal const string Payload =
            "{\"type\":\"trade\",\"symbol\":\"AAPL-USD\",\"price\":\"187.25\",\"quantity\":\"0.5\",\"side\":\"BUY\",\"trade_id\":123456789,\"ts\":1718000000000}";

        /// <summary>The error frame the error lines flood (raw and module alike), as the live exchange shapes it.</summary>
        internal const string ErrorPayload =
            "{\"err\":{\"error_code\":\"RateLimited\",\"message\":\"Too many requests. Please retry after 200ms.\",\"incoming_message\":{\"type\":\"add_order\",\"params\":{\"symbol\":\"AAPL-USD\",\"quantity\":1}}}}";

        /// <summary>Line 3n's error frame: the same without the echoed request (incoming_message), so TargetObject is null.</summary>
        internal const string ErrorPayloadNoEcho =
            "{\"err\":{\"error_code\":\"RateLimited\",\"message\":\"Too many requests. Please retry after 200ms.\"}}";

        private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(150);
        private static readonly CultureInfo C = CultureInfo.InvariantCulture;

        // Frames streamed into Out-Null, as the raw baseline drops each frame once parsed. `$null = <pipeline>`
        // is not the same sink: the engine keeps every output object until the pipeline ends (it collects the
        // value before discarding it), so N frames stay alive and the GC has to move them (line 2f shows it).
        // -TimeoutSec only bounds the run; it never fires in a good run.
        private const string ObjectsScript = "Receive-QfexFrame -Count $args[0] -TimeoutSec 120 | Out-Null";
        private const string TextScript = "Receive-QfexFrame -Count $args[0] -TimeoutSec 120 -Raw | Out-Null";
        // The engine's own floor for the P2 lines: N frames already in hand (one QfexFrame, built once per N
        // outside the measured runs), written by one cmdlet call with enumeration, as Receive-QfexFrame writes
        // its batches, into Out-Null. No socket, no buffer, no parsing: what the pipeline alone costs per object.
        private const string FloorScript =
            "$n = $args[0]; if ($global:QfexBenchFloor.Count -ne $n) { $f = New-QfexFrame -Type trade -Data @{ symbol = 'AAPL-USD' }; " +
            "$global:QfexBenchFloor = [object[]]::new($n); for ($i = 0; $i -lt $n; $i++) { $global:QfexBenchFloor[$i] = $f } }; " +
            "Write-Output -InputObject $global:QfexBenchFloor | Out-Null";
        // The same with the frame's text, N times, as bare strings: the engine binds a bare string to Out-Null more
        // slowly than an object or a PSObject (a third more time per object in pwsh 7.6.9), which is why
        // Receive-QfexFrame -Raw (P2b) writes its texts wrapped in PSObjects.
        private const string FloorTextScript =
            "$n = $args[0]; if ($global:QfexBenchFloorText.Count -ne $n) { $t = (New-QfexFrame -Type trade -Data @{ symbol = 'AAPL-USD' }).Raw; " +
            "$global:QfexBenchFloorText = [object[]]::new($n); for ($i = 0; $i -lt $n; $i++) { $global:QfexBenchFloorText[$i] = $t } }; " +
            "Write-Output -InputObject $global:QfexBenchFloorText | Out-Null";
        private const string CapturedScript = "$null = Receive-QfexFrame -Count $args[0] -TimeoutSec 120";
        private const string ForEachScript = "Receive-QfexFrame -Count $args[0] -TimeoutSec 120 | ForEach-Object { $null = $_.Sequence }";
        private const string DataScript = "Receive-QfexFrame -Count $args[0] -TimeoutSec 120 | ForEach-Object { $null = $_.Data.type }";
        private const string ErrorsScript =
            "$Error.Clear(); Receive-QfexFrame -Count $args[0] -TimeoutSec 120 -ErrorAction SilentlyContinue | Out-Null; " +
            "$Error.Count; if ($Error.Count) { $Error[0].FullyQualifiedErrorId }";
        // Line 3 ten function calls deeper: the engine builds each record's ScriptStackTrace from the whole call stack.
        private const string ErrorsDeepScript =
            "function Deep([int]$d, [int]$n) { if ($d -gt 1) { Deep ($d - 1) $n } else { " +
            "$Error.Clear(); Receive-QfexFrame -Count $n -TimeoutSec 120 -ErrorAction SilentlyContinue | Out-Null; $Error.Count; if ($Error.Count) { $Error[0].FullyQualifiedErrorId } } }; " +
            "Deep 10 $args[0]";
        private const string ErrorsIgnoredScript =
            "$Error.Clear(); Receive-QfexFrame -Count $args[0] -TimeoutSec 120 -ErrorAction Ignore | Out-Null; $Error.Count";

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

        // Connect-Qfex in the pwsh child: the fake exchange's credential goes over stdin, never on a command line.
        private const string PwshConnectScript =
            "$credential = [pscredential]::new($args[1], [System.Net.NetworkCredential]::new('', $args[2]).SecurePassword); " +
            "$null = Connect-Qfex -Uri $args[0] -Credential $credential -MessagesPerSecond $args[3] -ErrorAction Stop; 'connected'";

        private const string PwshDisconnectScript = "Get-QfexSession | Disconnect-Qfex";

        private readonly Options _options;
        private readonly QfexTestServer _server;
        private readonly Report _report;
        private Engine? _engine;
        private PwshChild? _pwsh;
        private string? _pwshDescription;
        private string? _pwshStartFailure;

        private readonly int _n, _errorN, _scriptN, _rounds, _roundTrips, _roundTripWarmUp, _importReps, _coldReps, _pwshImportPairs, _floodFrames, _minWarmUp, _maxWarmUps;

        private Suite(Options options, QfexTestServer server, Report report)
        {
            _options = options;
            _server = server;
            _report = report;
            bool q = options.Quick;
            // --quick counts fewer frames, but warms up as a full run does: runs of 50,000 frames (25 ms each) in a
            // pwsh child whose JIT was still at work measured P2a anywhere from 0.56x to 0.89x within one run.
            _n = q ? 150_000 : 300_000;
            _errorN = q ? 50_000 : 100_000;
            _scriptN = q ? 10_000 : 50_000;
            _rounds = 5;
            _maxWarmUps = 6;
            _minWarmUp = 100_000;
            _roundTrips = 3_000;                // the p99 of 300 trips is the third-worst, of 1,000 the tenth: noise
            _roundTripWarmUp = 1_000;
            _importReps = q ? 3 : 9;
            _coldReps = q ? 1 : 3;
            _pwshImportPairs = q ? 5 : 9;
            _floodFrames = q ? 100_000 : 1_000_000;
        }

        private Engine Engine => _engine ??= new Engine();

        private bool Hosted => _options.Hosts.Contains("hosted");

        private bool InPwsh => _options.Hosts.Contains("pwsh");

        /// <summary>The pwsh child the throughput and round-trip lines share (one warm process, as the hosted engine is one); a new one after a failure.</summary>
        private PwshChild Pwsh
        {
            get
            {
                if (_pwsh != null && _pwsh.HasExited)
                {
                    _pwsh.Dispose();
                    _pwsh = null;
                }
                if (_pwsh == null)
                {
                    // A pwsh that did not start once is not waited for again by every later line.
                    if (_pwshStartFailure != null) throw new InvalidOperationException("The pwsh child could not be started earlier in this run: " + _pwshStartFailure);
                    Report.Progress("starting the pwsh child (" + Benchmarks.Pwsh.Describe() + ") ...");
                    try
                    {
                        _pwsh = PwshChild.Start(TimeSpan.FromSeconds(90));
                    }
                    catch (Exception e) when (e is InvalidOperationException || e is TimeoutException || e is System.ComponentModel.Win32Exception)
                    {
                        _pwshStartFailure = e.Message;
                        throw;
                    }
                    _pwshDescription ??= _pwsh.Description;
                }
                return _pwsh;
            }
        }

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
                try
                {
                    suite.Throughput();
                    suite.RoundTrip();
                    suite.Import();
                    suite.Flood();
                }
                finally
                {
                    suite._pwsh?.Dispose();
                    suite._engine?.Dispose();
                }
                header += suite.PwshHeader();
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
                "Qfex benchmark, {0} - {1:yyyy-MM-dd HH:mm} UTC - {2} cores, {3}, {4}, hosted engine (SMA) {5}, Qfex {6}, {7} GC{8}\n" +
                "All on 127.0.0.1 against the fake exchange (QfexTestServer, in this process). 'x raw' = the figure over the raw C# baseline measured just before it (same payload).\n",
                _options.Quick ? "--quick" : "full run", DateTime.UtcNow, Environment.ProcessorCount, RuntimeInformation.OSDescription,
                RuntimeInformation.FrameworkDescription, psVersion, moduleVersion,
                GCSettings.IsServerGC ? "server" : "workstation", GCSettings.LatencyMode == GCLatencyMode.Interactive ? " (concurrent)" : "");
        }

        private string PwshHeader() => !InPwsh ? "" :
            "Real pwsh: " + (_pwshDescription ?? "not started") + ", started as `" + Benchmarks.Pwsh.Describe() +
            " -NoLogo -NoProfile -NonInteractive -File tests/Qfex.Benchmarks/RealHost.ps1`; it times its own runs (Stopwatch around the pipeline) and reports them over stdout.\n";

        // ------------------------------------------------------------------ measuring

        /// <summary>
        /// First, once per process and script, <see cref="PrimeRuns"/> small runs of <see cref="PrimeFrames"/>
        /// frames: tiered JIT promotes a method after about 30 calls, twice with PGO (instrumented, then
        /// optimized), so a method called once per pipeline (binding, setup, the per-call paths of the cmdlet)
        /// needs more than 60 runs to be optimized, and would otherwise still run unoptimized after a million
        /// frames of a few long runs; a fresh pwsh took about 200,000 error frames at 10-20 us each before it
        /// reached its steady 4-5 us. Then warm-up runs (N frames, at least 100,000 each; 50,000 with --quick),
        /// each done as a measured run is (after full collections) and followed by a wait for the JIT to go quiet,
        /// until two in a row agree within 10% and the JIT compiled fewer than 20 methods during the last one (at
        /// most 6; 4 with --quick). Then the measured runs, each after full collections; the median is the figure.
        /// (With 40 priming runs and no collections before the warm-up runs, the first measured run of the first
        /// line in a pwsh child compiled 190-360 methods and was the slowest of its five.) <paramref name="once"/> runs N frames and returns the run's sample;
        /// <paramref name="quiesce"/> and <paramref name="settle"/> act on the process that runs the line.
        /// </summary>
        private Measured Measure(int n, Func<int, Sample> once, Action quiesce, Action settle, string primeKey, Action? after = null)
        {
            string primed = "";
            if (_primed.Add(primeKey))
            {
                long jit = 0;
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < PrimeRuns; i++)
                {
                    jit += once(PrimeFrames).Jit;
                    after?.Invoke();
                }
                quiesce();
                primed = string.Format(C, "{0} priming runs of {1:N0} frames ({2:0.0} s, {3:N0} methods JIT-compiled meanwhile)", PrimeRuns, PrimeFrames, clock.Elapsed.TotalSeconds, jit);
            }
            int warm = Math.Max(_minWarmUp, n);
            double previous = 0;
            int warmUps = 0;
            while (warmUps < _maxWarmUps)
            {
                settle();
                Sample sample = once(warm);
                double rate = sample.Rate;
                after?.Invoke();
                quiesce();
                warmUps++;
                if (warmUps >= 2 && sample.Jit < WarmJit && Math.Abs(rate - previous) <= 0.1 * Math.Max(rate, previous)) break;
                previous = rate;
            }
            var samples = new List<Sample>();
            for (int r = 0; r < _rounds; r++)
            {
                settle();
                samples.Add(once(n));
                after?.Invoke();
            }
            return new Measured(samples, (long)warm * warmUps, warmUps, primed);
        }

        /// <summary>A warm-up run that made the JIT compile this many methods or more was not warm yet, whatever its rate.</summary>
        private const int WarmJit = 20;

        private const int PrimeRuns = 100;
        private const int PrimeFrames = 2_500;

        /// <summary>What has been primed: per process (this one, or a pwsh child by its id) and script.</summary>
        private readonly HashSet<string> _primed = new HashSet<string>(StringComparer.Ordinal);

        /// <summary>A line run in this process: <paramref name="run"/> starts the flood and receives every frame; timed here.</summary>
        private Measured MeasureHere(int n, string primeKey, Func<int, Task<int>> run, Action? after = null) =>
            Measure(n, count =>
            {
                var probe = Probe.Start();
                Task<int> flood = run(count);
                Sample sample = probe.Stop(count);
                Wait(flood, "flood");
                return sample;
            }, Stats.QuiesceJit, Stats.Settle, "here|" + primeKey, after);

        // ------------------------------------------------------------------ helpers

        private void Guard(string id, string name, Action action)
        {
            Report.Progress(id + ": " + name + " ...");
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

        /// <summary>Connects the default session of a pwsh child to the fake exchange (-MessagesPerSecond 0: the limiter off).</summary>
        private void ConnectPwsh(PwshChild child, int messagesPerSecond = 100) =>
            child.Run(PwshConnectScript, TimeSpan.FromSeconds(60), null, false,
                _server.Uri.ToString(), _server.Credential.UserName, _server.Credential.GetNetworkCredential().Password, messagesPerSecond).ThrowOnError("Connect-Qfex");

        private static void DisconnectPwsh(PwshChild? child)
        {
            if (child == null || child.HasExited) return;
            try
            {
                child.Run(PwshDisconnectScript, TimeSpan.FromSeconds(30));
            }
            catch (Exception e) when (e is InvalidOperationException || e is TimeoutException)
            {
            }
        }

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

        private static string Join(IEnumerable<double> values) => string.Join(" / ", values.Select(v => v.ToString("0.0", C)));
    }
}
