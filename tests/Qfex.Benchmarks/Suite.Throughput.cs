using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex.Benchmarks
{
    internal sealed partial class Suite
    {
        // ------------------------------------------------------------------ throughput (1-4)

        /// <summary>
        /// One module line: the same script in real pwsh (id P + <see cref="Id"/>, where <see cref="Target"/> applies)
        /// and in the hosted engine (for comparison), each against a raw baseline measured just before it.
        /// </summary>
        private sealed record ModuleLineSpec(string Id, string Name, string Option, string Payload, string Script, double? Target, string Detail,
            bool ExpectErrors = false, bool FullOnly = false, bool Slow = false);

        private IEnumerable<ModuleLineSpec> ModuleLines() => new[]
        {
            new ModuleLineSpec("2a", "Receive-QfexFrame -Count N, objects", "objects", Payload, ObjectsScript, 0.8, "script: " + ObjectsScript),
            new ModuleLineSpec("2b", "Receive-QfexFrame -Count N -Raw", "text", Payload, TextScript, 0.8,
                "script: " + TextScript + " (the objects target applies to -Raw too)"),
            new ModuleLineSpec("2f", "$null = Receive-QfexFrame -Count N (captured)", "objects", Payload, CapturedScript, null,
                "script: " + CapturedScript + " (the engine holds all N output objects until the pipeline ends: GC cost, no target)", FullOnly: true),
            new ModuleLineSpec("2c", "Receive-QfexFrame | ForEach-Object", "foreach", Payload, ForEachScript, null,
                "script: " + ForEachScript + " (a pipeline a user writes; ForEach-Object's own cost included)", FullOnly: true),
            new ModuleLineSpec("2e", "Receive-QfexFrame | ForEach-Object { $_.Data.type }", "foreach", Payload, DataScript, null,
                "script: " + DataScript + " (every frame's Data built as objects: what line 4's script gets from ConvertFrom-Json)", FullOnly: true, Slow: true),
            new ModuleLineSpec("3", "error frames -> ErrorRecords", "errors", ErrorPayload, ErrorsScript, 0.3,
                "script: " + ErrorsScript.Split(';')[1].Trim() + " (baseline: raw parsing the same error frames, as row 1e; $Error checked: last ErrorId RateLimited)",
                ExpectErrors: true),
            new ModuleLineSpec("3d", "error frames -> ErrorRecords, 10 calls deeper", "errors", ErrorPayload, ErrorsDeepScript, null,
                "script: line 3's pipeline run by a function that calls itself 10 times first (the engine writes each record's ScriptStackTrace from the whole call stack)",
                ExpectErrors: true, FullOnly: true),
            new ModuleLineSpec("3n", "error frames without an echo -> ErrorRecords", "errors", ErrorPayloadNoEcho, ErrorsScript, null,
                "script: as line 3, on error frames without incoming_message (TargetObject null): what the echo costs is the difference to line 3; baseline: raw parsing these frames",
                ExpectErrors: true, FullOnly: true),
            new ModuleLineSpec("3i", "error frames -> ErrorRecords, -ErrorAction Ignore", "errors", ErrorPayload, ErrorsIgnoredScript, null,
                "script: " + ErrorsIgnoredScript.Split(';')[1].Trim() + " (as 3, but the records are not kept in $Error; the engine still builds and writes each one)",
                ExpectErrors: false, FullOnly: true),
        };

        private void Throughput()
        {
            bool objects = _options.Wants("objects"), text = _options.Wants("text"), forEach = _options.Wants("foreach"),
                loop = _options.Wants("loop"), errors = _options.Wants("errors"), script = _options.Wants("script");
            bool needRaw = _options.Wants("raw") || objects || text || forEach || loop || script;
            Measured? raw = null, rawErrors = null;

            if (needRaw)
                Guard("1", "raw C# baseline", () =>
                {
                    raw = AdjacentRaw(Payload, _n);
                    _report.Add(new Row
                    {
                        Id = "1", Name = "raw C#: ClientWebSocket + JsonDocument.Parse", Value = raw.Rate, Unit = "frames/s", VsRaw = 1,
                        Verdict = Verdict.Baseline, Where = Where.Raw, Detail = raw.Describe("frame " + Payload.Length + " B"),
                    });
                });
            if (errors)
                Guard("1e", "raw C# baseline, error frames", () =>
                {
                    rawErrors = AdjacentRaw(ErrorPayload, _errorN);
                    _report.Add(new Row
                    {
                        Id = "1e", Name = "raw C#, error frames", Value = rawErrors.Rate, Unit = "frames/s", VsRaw = 1,
                        Verdict = Verdict.Baseline, Where = Where.Raw, Detail = rawErrors.Describe("error frame " + ErrorPayload.Length + " B; parse + error_code + message read"),
                    });
                });

            // Every module line is compared with a raw baseline measured just before it (connections are
            // swapped in between, because a flood goes to every connection): a shared box drifts by tens of
            // percent within one run (the drift check below shows how much), which a single baseline at the
            // start would book to the module.
            if (loop && raw != null && Hosted && !_options.Quick)
                Guard("2d", "module receive loop alone (C#, no engine)", () => MeasureLoop(AdjacentRaw(Payload, _n)));

            Measured? ours = null;
            foreach (ModuleLineSpec line in ModuleLines())
            {
                if (!_options.Wants(line.Option) || (line.FullOnly && _options.Quick)) continue;
                bool errorFrames = line.Payload != Payload;
                if (errorFrames ? rawErrors == null : raw == null) continue;
                int n = line.Slow ? _scriptN : errorFrames ? _errorN : _n;
                if (InPwsh)
                    Guard("P" + line.Id, line.Name, () => PwshModuleLine(line, n));
                if (Hosted)
                    Guard(line.Id, line.Name, () =>
                    {
                        Measured baseline = AdjacentRaw(line.Payload, n);
                        Measured m = MeasureModuleAlone(line.Payload, line.Script, n, line.ExpectErrors);
                        ThroughputRow(line.Id, line.Name, m, baseline, null, line.Detail, Where.Hosted);
                        if (line.Id == "2a") ours = m;
                    });
            }
            if (InPwsh && objects && raw != null)
                Guard("P2z", FloorName, () => PwshFloor(_n, "P2z", FloorName, FloorScript, "frames", "the ceiling of P2a"));
            if (InPwsh && text && raw != null)
                Guard("P2y", FloorTextName, () => PwshFloor(_n, "P2y", FloorTextName, FloorTextScript, "text",
                    "bare strings: Receive-QfexFrame -Raw writes each text wrapped in a PSObject, which binds as fast as an object (P2z)"));
            if (InPwsh) DisconnectPwsh(_pwsh);
            if (errors && rawErrors != null && InPwsh && !_options.Quick)
                Guard("P3c", "error frames -> ErrorRecords, cold pwsh", () => PwshCold(rawErrors));

            if (script && raw != null && Hosted && !_options.Quick)
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

        private void ThroughputRow(string id, string name, Measured m, Measured baseline, double? target, string detail, Where where)
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
                Where = where,
                Detail = m.Describe(detail + string.Format(C, "; its raw baseline, measured just before: {0:N0} frames/s, {1:0.00} us CPU per frame; by CPU time per frame (steadier than wall time on a busy machine) this line is {2:0.00}x raw",
                    baseline.Rate, CpuPerFrame(baseline.Median), CpuPerFrame(baseline.Median) / CpuPerFrame(m.Median))),
            });
        }

        /// <summary>Microseconds of CPU per frame of a run: the process that ran it, plus this one's meanwhile when that was a pwsh child.</summary>
        private static double CpuPerFrame(Sample s) => (s.Cpu + (s.HarnessCpu ?? TimeSpan.Zero)).TotalMilliseconds * 1000 / s.N;

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

        /// <summary>One module line on a session of its own in the hosted engine (the only connection while it runs).</summary>
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

        /// <summary>
        /// One module line in the pwsh child: a raw baseline here first, then the child connects (the only
        /// connection), and each run is timed in the child: its clock starts before it tells the harness to
        /// start the flood, and stops when the pipeline has ended.
        /// </summary>
        private void PwshModuleLine(ModuleLineSpec line, int n)
        {
            Measured baseline = AdjacentRaw(line.Payload, n);
            PwshChild child = Pwsh;
            try
            {
                ConnectPwsh(child);
                WaitConnections(_server, 1);
                long received = (long)child.Run("(Get-QfexSession -Default).FramesReceived", TimeSpan.FromSeconds(30)).Long(0);
                Measured m = Measure(n, count =>
                {
                    Task<int>? flood = null;
                    var probe = Probe.Start();
                    ChildAnswer answer = child.Run(line.Script, RunTimeout, () => flood = _server.Faults.FloodAsync(line.Payload, count), true, count);
                    Sample harness = probe.Stop(count);
                    if (flood != null) Wait(flood, "flood");
                    if (line.ExpectErrors)
                    {
                        if (answer.Output.Length < 2 || answer.Long(0) < 1 || !(answer.Output[1].ToString()).StartsWith("RateLimited", StringComparison.Ordinal))
                            throw new InvalidOperationException("The error frames did not come out as RateLimited ErrorRecords in pwsh: " + answer.OutputText + Counters(answer));
                    }
                    else if (line.Payload == Payload)
                    {
                        answer.ThrowOnError("Receive-QfexFrame");
                    }
                    long now = (long)answer.Number("received");
                    if (now - received != count || answer.Number("pending") != 0)
                        throw new InvalidOperationException($"The pwsh session received {now - received} of {count} frames; {answer.Number("pending")} pending.{Counters(answer)}");
                    received = now;
                    return answer.ToSample(count, harness.Cpu);
                }, child.Quiesce, child.Settle, "pwsh#" + child.ProcessId.ToString(C) + "|" + line.Payload + "|" + line.Script);
                ThroughputRow("P" + line.Id, line.Name, m, baseline, line.Target, line.Detail + Noise(child), Where.Pwsh);
            }
            finally
            {
                DisconnectPwsh(_pwsh);
                Released(0);
            }
        }

        private const string FloorName = "the engine's floor: frames in hand -> Out-Null";
        private const string FloorTextName = "the engine's floor: text in hand -> Out-Null";

        /// <summary>
        /// P2z and P2y: what the engine alone costs per object on the P2 lines' path (one cmdlet writing N objects
        /// with enumeration into Out-Null: QfexFrames for P2a, strings for P2b's -Raw), against a raw baseline
        /// measured just before it. P2a and P2b cannot pass these rates; when one is below the target, the target is
        /// below the engine's floor on this machine.
        /// </summary>
        private void PwshFloor(int n, string id, string name, string script, string what, string ceilingOf)
        {
            Measured baseline = AdjacentRaw(Payload, n);
            PwshChild child = Pwsh;
            Measured m = Measure(n, count =>
            {
                ChildAnswer answer = child.Run(script, RunTimeout, null, false, count);
                answer.ThrowOnError("Write-Output | Out-Null");
                return answer.ToSample(count, TimeSpan.Zero);
            }, child.Quiesce, child.Settle, "pwsh#" + child.ProcessId.ToString(C) + "|floor-" + what);
            ThroughputRow(id, name, m, baseline, null,
                "script: " + script + " (no socket, buffer or parsing: the pipeline's own cost per object, " + ceilingOf + ")", Where.Pwsh);
        }

        /// <summary>
        /// P3c: what a short runbook sees, line 3 in a pwsh process that has just imported the module: no priming,
        /// no warm-up, <see cref="ColdRuns"/> runs one after the other. The first run is the figure; the detail
        /// shows how long the process takes to reach line P3's steady rate (tiered JIT, the engine's R2R code).
        /// </summary>
        private void PwshCold(Measured rawErrors)
        {
            PwshChild? child = null;
            try
            {
                if (_pwshStartFailure != null) throw new InvalidOperationException("The pwsh child could not be started earlier in this run: " + _pwshStartFailure);
                Report.Progress("starting a fresh pwsh child for the cold line ...");
                child = PwshChild.Start(TimeSpan.FromSeconds(90));
                ConnectPwsh(child);
                WaitConnections(_server, 1);
                int n = ColdFrames;
                var samples = new List<Sample>();
                for (int i = 0; i < ColdRuns; i++)
                {
                    Task<int>? flood = null;
                    ChildAnswer answer = child.Run(ErrorsScript, RunTimeout, () => flood = _server.Faults.FloodAsync(ErrorPayload, n), true, n);
                    if (flood != null) Wait(flood, "flood");
                    if (answer.Output.Length < 2 || !answer.Output[1].ToString().StartsWith("RateLimited", StringComparison.Ordinal) || answer.Number("pending") != 0)
                        throw new InvalidOperationException("The error frames did not all come out as RateLimited ErrorRecords in pwsh: " + answer.OutputText + Counters(answer));
                    samples.Add(answer.ToSample(n, TimeSpan.Zero));
                }
                Sample first = samples[0];
                _report.Add(new Row
                {
                    Id = "P3c", Name = "error frames -> ErrorRecords, cold pwsh, first run", Value = first.Rate, Unit = "frames/s", VsRaw = first.Rate / rawErrors.Rate,
                    Verdict = Verdict.Info, Where = Where.Pwsh,
                    Detail = string.Format(C,
                        "a pwsh process that has just imported the module and connected (no priming, no warm-up), line 3's script {0} times on {1:N0} error frames each: " +
                        "{2} frames/s; CPU per frame {3} us; methods JIT-compiled per run {4}; ratio to row 1e",
                        ColdRuns, n, string.Join(" / ", samples.Select(s => s.Rate.ToString("N0", C))),
                        string.Join(" / ", samples.Select(s => (s.Cpu.TotalMilliseconds * 1000 / s.N).ToString("0.0", C))),
                        string.Join(" / ", samples.Select(s => s.Jit.ToString(C)))),
                });
            }
            finally
            {
                DisconnectPwsh(child);
                child?.Dispose();
                Released(0);
            }
        }

        private const int ColdRuns = 12;
        private const int ColdFrames = 20_000;

        private static string Counters(ChildAnswer answer) =>
            answer.Has("state") ? $" Session: {answer.Text("state")}, {answer.Number("reconnects")} reconnect(s); last error: {answer.Text("last_error") ?? "none"}." : "";

        /// <summary>What the child wrote outside the protocol meanwhile, in short: the module's backpressure warning, when a flood outran the reader.</summary>
        private static string Noise(PwshChild child)
        {
            (string text, int count) = child.Noise();
            string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (lines.Length == 0) return "";
            string first = lines[0].Length > 120 ? lines[0].Substring(0, 120) + "..." : lines[0];
            return string.Format(C, "; pwsh also wrote {0} line(s) on its console, the first: {1}", count, first);
        }

        private Measured MeasureRaw(RawClient client, string payload, int n) =>
            MeasureHere(n, "raw|" + payload, count =>
            {
                Task<int> flood = _server.Faults.FloodAsync(payload, count);
                using var cts = new CancellationTokenSource(RunTimeout);
                long got = client.ReceiveAndParseAsync(count, cts.Token).GetAwaiter().GetResult();
                if (got != count) throw new InvalidOperationException($"The raw client received {got} of {count} frames.");
                return flood;
            });

        private Measured MeasureModule(QfexSession session, string payload, string script, int n, bool expectErrors) =>
            MeasureHere(n, "module|" + payload + "|" + script, count =>
            {
                long before = session.FramesReceived;
                Task<int> flood = _server.Faults.FloodAsync(payload, count);
                EngineResult result = Engine.Run(script, RunTimeout, count);
                if (result.Terminating != null || (result.Errors.Count > 0 && !expectErrors))
                    result.ThrowOnError("Receive-QfexFrame");
                if (expectErrors && (result.Long(0) < 1 || !(result.Value(1)?.ToString() ?? "").StartsWith("RateLimited", StringComparison.Ordinal)))
                    throw new InvalidOperationException("The error frames did not come out as RateLimited ErrorRecords: " + string.Join(", ", result.Values) +
                        $" Session: {session.State}, {session.Reconnects} reconnect(s), {session.FramesReceived - before} of {count} received.");
                long received = session.FramesReceived - before;
                if (received != count || session.FramesPending != 0)
                    throw new InvalidOperationException($"The session received {received} of {count} frames; {session.FramesPending} pending; {session.State}, {session.Reconnects} reconnect(s).");
                return flood;
            });

        /// <summary>The module's receive loop alone: frames into a buffer big enough for all, nobody reading; FramesReceived polled.</summary>
        private void MeasureLoop(Measured raw)
        {
            QfexSession? session = null;
            try
            {
                session = Connect(Engine, "-ReceiveBufferCapacity " + (Math.Max(_minWarmUp, _n) + 10_000).ToString(C));
                WaitConnections(_server, 1);
                QfexSession s = session;
                Measured m = MeasureHere(_n, "loop", count =>
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
                    "socket read + FrameReader + QfexFrame + buffer add; nobody reads (buffer sized for N); end seen by polling FramesReceived every 1 ms", Where.Hosted);
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
                Measured m = MeasureHere(_scriptN, "script|" + receive, count =>
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
                    Check = jsonDocument ? "-" : ours != null ? vsOurs.ToString("0.00", C) + "x of 2a" : "(2a not run)",
                    Verdict = Verdict.Info,
                    Detail = m.Describe(jsonDocument
                        ? "the same engine and loop, parsed with [System.Text.Json.JsonDocument]::Parse and the type read out: faster than ConvertFrom-Json, " +
                          "but the script then has no objects, only a document it must walk and dispose; for comparison, no target" + faster
                        : "the same engine; .ReceiveAsync(...).GetAwaiter().GetResult(), [System.Text.Encoding]::UTF8.GetString, " +
                          "`$text | ConvertFrom-Json` per message and its type read (the -InputObject form measured the same here); issue 6 asked for <= 0.10x of 2a (no target since issue 16)" + faster),
                });
            }
            finally
            {
                Engine.Run("if ($ws) {" + HandRolledClose + "}", TimeSpan.FromSeconds(30));
                Released(0);
            }
        }
    }
}
