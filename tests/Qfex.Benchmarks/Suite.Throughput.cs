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
            bool ExpectErrors = false, bool FullOnly = false);

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
                "script: " + DataScript + " (every frame's Data built as objects: what line 4's script gets from ConvertFrom-Json)", FullOnly: true),
            new ModuleLineSpec("3", "error frames -> ErrorRecords", "errors", ErrorPayload, ErrorsScript, 0.3,
                "script: " + ErrorsScript.Split(';')[1].Trim() + " (baseline: raw parsing the same error frames, as row 1e; $Error checked: last ErrorId RateLimited)",
                ExpectErrors: true),
            new ModuleLineSpec("3d", "error frames -> ErrorRecords, 10 calls deeper", "errors", ErrorPayload, ErrorsDeepScript, null,
                "script: line 3's pipeline run by a function that calls itself 10 times first (the engine writes each record's ScriptStackTrace from the whole call stack)",
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
                if ((line.ExpectErrors || line.Payload == ErrorPayload) ? rawErrors == null : raw == null) continue;
                int n = line.Payload == ErrorPayload ? _errorN : _n;
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
            if (InPwsh) DisconnectPwsh(_pwsh);

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
                    else if (line.Payload != ErrorPayload)
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

        private static string Counters(ChildAnswer answer) =>
            answer.Has("state") ? $" Session: {answer.Text("state")}, {answer.Number("reconnects")} reconnect(s); last error: {answer.Text("last_error") ?? "none"}." : "";

        private static string Noise(PwshChild child)
        {
            string noise = child.Noise();
            return noise.Length == 0 ? "" : "; pwsh also wrote: " + (noise.Length > 300 ? noise.Substring(0, 300) + "..." : noise).Replace('\n', ' ');
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
    }
}
