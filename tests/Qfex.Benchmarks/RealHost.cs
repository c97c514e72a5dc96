using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace Qfex.Benchmarks
{
    /// <summary>
    /// The pwsh users run: the one from the repository's tool manifest (`dotnet pwsh`), started through the
    /// apphost in its $PSHOME as build.ps1's Get-PwshCommand does (no `dotnet` muxer in between), or
    /// QFEX_BENCH_PWSH when set (a path to a pwsh executable).
    /// </summary>
    internal static class Pwsh
    {
        private static readonly Lazy<(string? Program, string[] Prefix, string Problem)> Found = new Lazy<(string?, string[], string)>(Locate);

        /// <summary>The program and the arguments that come before pwsh's own; null with a reason when there is no pwsh.</summary>
        internal static (string Program, string[] Prefix) Command
        {
            get
            {
                (string? program, string[] prefix, string problem) = Found.Value;
                if (program == null) throw new InvalidOperationException(problem);
                return (program, prefix);
            }
        }

        internal static string Describe()
        {
            (string? program, string[] prefix, string problem) = Found.Value;
            return program == null ? "no pwsh (" + problem + ")" : string.Join(' ', new[] { program }.Concat(prefix));
        }

        /// <summary>A start description for pwsh with these arguments (stdout and stderr redirected by the caller).</summary>
        internal static ProcessStartInfo StartInfo(params string[] args)
        {
            (string program, string[] prefix) = Command;
            var psi = new ProcessStartInfo(program) { WorkingDirectory = Engine.RepoRoot };
            foreach (string arg in prefix) psi.ArgumentList.Add(arg);
            foreach (string arg in args) psi.ArgumentList.Add(arg);
            // No telemetry ping and no update check in a measured process.
            psi.Environment["POWERSHELL_TELEMETRY_OPTOUT"] = "1";
            psi.Environment["POWERSHELL_UPDATECHECK"] = "Off";
            return psi;
        }

        private static (string?, string[], string) Locate()
        {
            string? given = Environment.GetEnvironmentVariable("QFEX_BENCH_PWSH");
            if (!string.IsNullOrEmpty(given))
                return File.Exists(given) ? (given, Array.Empty<string>(), "") : (null, Array.Empty<string>(), "QFEX_BENCH_PWSH names no file: " + given);

            // `dotnet pwsh` resolves the tool from the manifest of the repository (the working directory).
            var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = Engine.RepoRoot };
            foreach (string arg in new[] { "pwsh", "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", "[Console]::Out.Write($PSHOME)" })
                psi.ArgumentList.Add(arg);
            int exitCode;
            string stdout, stderr;
            try
            {
                (exitCode, stdout, stderr) = Child.Exec(psi, TimeSpan.FromSeconds(60), "dotnet pwsh");
            }
            catch (Exception e) when (e is TimeoutException || e is InvalidOperationException || e is System.ComponentModel.Win32Exception)
            {
                return (null, Array.Empty<string>(), "`dotnet pwsh` did not start: " + e.Message);
            }
            string home = stdout.Trim();
            if (exitCode != 0 || home.Length == 0 || !Directory.Exists(home))
                return (null, Array.Empty<string>(), $"`dotnet pwsh` failed (exit {exitCode}; run `dotnet tool restore` in the repository): {stderr.Trim()}");
            string apphost = Path.Combine(home, OperatingSystem.IsWindows() ? "pwsh.exe" : "pwsh");
            if (File.Exists(apphost)) return (apphost, Array.Empty<string>(), "");
            string dll = Path.Combine(home, "pwsh.dll");
            if (File.Exists(dll)) return ("dotnet", new[] { dll }, "");
            return (null, Array.Empty<string>(), "no pwsh apphost or pwsh.dll in " + home);
        }
    }

    /// <summary>One answer of the child: its fields, and the run's own figures when it ran a script.</summary>
    internal sealed class ChildAnswer
    {
        private readonly JsonElement _root;

        internal ChildAnswer(JsonElement root) => _root = root;

        internal double Number(string name) => _root.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble()
            : throw new InvalidOperationException($"The pwsh child did not report '{name}'.");

        internal string? Text(string name) => _root.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        internal bool Has(string name) => _root.TryGetProperty(name, out JsonElement v) && v.ValueKind != JsonValueKind.Null;

        /// <summary>The script's output, one element per object it wrote.</summary>
        internal JsonElement[] Output => _root.TryGetProperty("output", out JsonElement o) && o.ValueKind == JsonValueKind.Array ? o.EnumerateArray().ToArray() : Array.Empty<JsonElement>();

        internal long Long(int i) => Output.Length > i && Output[i].ValueKind == JsonValueKind.Number ? Output[i].GetInt64()
            : throw new InvalidOperationException($"The pwsh child's output has no number at {i}: {OutputText}");

        internal string OutputText => string.Join(", ", Output.Select(e => e.ToString()));

        internal double[] Doubles(int i) => Output.Length > i && Output[i].ValueKind == JsonValueKind.Array
            ? Output[i].EnumerateArray().Select(e => e.GetDouble()).ToArray()
            : throw new InvalidOperationException($"The pwsh child's output has no array at {i}.");

        /// <summary>The run as a sample (wall time, CPU, allocations and collections of the child process).</summary>
        internal Sample ToSample(long n, TimeSpan harnessCpu) => new Sample
        {
            N = n,
            Elapsed = TimeSpan.FromMilliseconds(Number("ms")),
            Cpu = TimeSpan.FromMilliseconds(Number("cpu_ms")),
            Allocated = (long)Number("allocated"),
            Gen0 = (int)Number("gen0"),
            Gen1 = (int)Number("gen1"),
            Gen2 = (int)Number("gen2"),
            Jit = (long)Number("jit"),
            HarnessCpu = harnessCpu,
        };

        /// <summary>Throws when the script failed or left anything in $Error.</summary>
        internal ChildAnswer ThrowOnError(string what)
        {
            if (Number("errors") > 0)
                throw new InvalidOperationException($"{what} in pwsh wrote {Number("errors")} error(s); the last: {Text("last_error")}");
            return this;
        }
    }

    /// <summary>
    /// A pwsh child process running RealHost.ps1: requests go in on stdin, answers come back as
    /// "@qfex-bench" lines. Every wait is bounded; a child that does not answer in time is killed, and
    /// a dead child fails the request that found it dead (the next line starts a new one).
    /// </summary>
    internal sealed class PwshChild : IDisposable
    {
        private const string AnswerPrefix = "@qfex-bench ";
        private const string GoLine = "@qfex-bench-go";

        private readonly Process _process;
        private readonly BlockingCollection<string> _answers = new BlockingCollection<string>();
        private readonly StringBuilder _noise = new StringBuilder();
        private readonly StringBuilder _stderr = new StringBuilder();
        private int _noiseLines;

        private PwshChild(Process process) => _process = process;

        internal int ProcessId => _process.Id;

        internal Process Process => _process;

        internal bool HasExited => _process.HasExited;

        /// <summary>What the ready line said: pwsh version, $PSHOME, runtime, GC, Qfex version.</summary>
        internal string Description { get; private set; } = "";

        internal static string ScriptPath => Path.Combine(Engine.RepoRoot, "tests", "Qfex.Benchmarks", "RealHost.ps1");

        /// <summary>Starts pwsh on RealHost.ps1 and waits (bounded) until it has imported the module.</summary>
        internal static PwshChild Start(TimeSpan timeout)
        {
            ProcessStartInfo psi = Pwsh.StartInfo("-NoLogo", "-NoProfile", "-NonInteractive", "-File", ScriptPath, "-ModuleManifest", Engine.ModuleManifest);
            psi.UseShellExecute = false;
            psi.RedirectStandardInput = true;
            psi.RedirectStandardOutput = true;
            psi.RedirectStandardError = true;
            psi.StandardOutputEncoding = new UTF8Encoding(false);
            Process process = Process.Start(psi) ?? throw new InvalidOperationException("Could not start " + psi.FileName);
            var child = new PwshChild(process);
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data == null)
                {
                    child._answers.CompleteAdding();
                    return;
                }
                if (e.Data == GoLine || e.Data.StartsWith(AnswerPrefix, StringComparison.Ordinal))
                    child._answers.Add(e.Data);
                else
                    lock (child._noise)
                    {
                        child._noiseLines++;
                        if (child._noise.Length < 4000) child._noise.AppendLine(e.Data);
                    }
            };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data != null)
                    lock (child._stderr)
                        if (child._stderr.Length < 4000) child._stderr.AppendLine(e.Data);
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                ChildAnswer ready = child.Expect("start", timeout);
                child.Description = string.Format(CultureInfo.InvariantCulture, "PowerShell {0} ({1}, {2} GC), Qfex {3}",
                    ready.Text("version"), ready.Text("runtime"), ready.Text("gc"), ready.Text("qfex"));
                return child;
            }
            catch
            {
                child.Dispose();
                throw;
            }
        }

        /// <summary>
        /// Runs <paramref name="script"/> in the child with <paramref name="args"/> as $args. With <paramref name="onGo"/>,
        /// the child starts its clock, says so, and waits no further: <paramref name="onGo"/> runs then (it starts the flood).
        /// </summary>
        internal ChildAnswer Run(string script, TimeSpan timeout, Action? onGo = null, bool stats = false, params object[] args)
        {
            Send(new Dictionary<string, object?> { ["op"] = "run", ["script"] = script, ["args"] = args, ["go"] = onGo != null, ["stats"] = stats });
            var clock = Stopwatch.StartNew();
            if (onGo != null)
            {
                string line = Next("run (go)", timeout);
                if (line != GoLine) throw Fail("run", "answered before it started: " + line);
                onGo();
            }
            TimeSpan left = timeout - clock.Elapsed;
            return Expect("run", left > TimeSpan.Zero ? left : TimeSpan.FromSeconds(1));
        }

        /// <summary>Waits until the child's JIT has gone quiet (at most 10 s in the child).</summary>
        internal void Quiesce() => Request("quiesce", TimeSpan.FromSeconds(30));

        /// <summary>Full collections in the child, pending finalizers run.</summary>
        internal void Settle() => Request("settle", TimeSpan.FromSeconds(30));

        private void Request(string op, TimeSpan timeout)
        {
            Send(new Dictionary<string, object?> { ["op"] = op });
            Expect(op, timeout);
        }

        private void Send(Dictionary<string, object?> request)
        {
            if (_process.HasExited) throw Fail((string)request["op"]!, "had exited (code " + _process.ExitCode.ToString(CultureInfo.InvariantCulture) + ")");
            try
            {
                _process.StandardInput.WriteLine(JsonSerializer.Serialize(request));
                _process.StandardInput.Flush();
            }
            catch (IOException e)
            {
                throw Fail((string)request["op"]!, "could not be written to: " + e.Message);
            }
        }

        private ChildAnswer Expect(string op, TimeSpan timeout)
        {
            string line = Next(op, timeout);
            if (!line.StartsWith(AnswerPrefix, StringComparison.Ordinal)) throw Fail(op, "said something else: " + line);
            JsonElement root = JsonDocument.Parse(line.Substring(AnswerPrefix.Length)).RootElement;
            if (!root.TryGetProperty("ok", out JsonElement ok) || ok.ValueKind != JsonValueKind.True)
                throw new InvalidOperationException("pwsh (" + op + ") failed: " + (root.TryGetProperty("error", out JsonElement error) ? error.ToString() : line));
            return new ChildAnswer(root);
        }

        private string Next(string op, TimeSpan timeout)
        {
            try
            {
                if (_answers.TryTake(out string? line, timeout)) return line;
            }
            catch (InvalidOperationException)
            {
                // Completed: stdout ended.
            }
            if (_answers.IsCompleted)
            {
                _process.WaitForExit(5000);
                throw Fail(op, "exited" + (_process.HasExited ? " (code " + _process.ExitCode.ToString(CultureInfo.InvariantCulture) + ")" : ""));
            }
            Kill();
            throw new TimeoutException($"The pwsh child did not answer '{op}' within {timeout.TotalSeconds:0} s and was killed.{Said()}");
        }

        private InvalidOperationException Fail(string op, string what) =>
            new InvalidOperationException($"The pwsh child ({op}) {what}.{Said()}");

        private string Said()
        {
            string err, noise;
            lock (_stderr) err = _stderr.ToString().Trim();
            lock (_noise) noise = _noise.ToString().Trim();
            return (err.Length > 0 ? " Its stderr: " + err : "") + (noise.Length > 0 ? " Its other output: " + noise : "");
        }

        /// <summary>What the child wrote outside the protocol (warnings, say) since the last call, and how many lines; empty when nothing.</summary>
        internal (string Text, int Lines) Noise()
        {
            lock (_noise)
            {
                string noise = _noise.ToString().Trim();
                int lines = _noiseLines;
                _noise.Clear();
                _noiseLines = 0;
                return (noise, lines);
            }
        }

        private void Kill()
        {
            try
            {
                if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited)
                {
                    Send(new Dictionary<string, object?> { ["op"] = "exit" });
                    if (!_process.WaitForExit(10_000)) Kill();
                }
            }
            catch (Exception e) when (e is InvalidOperationException || e is IOException)
            {
                Kill();
            }
            // _answers is not disposed: the output handler may still complete it while the process ends.
            _process.Dispose();
        }
    }
}
