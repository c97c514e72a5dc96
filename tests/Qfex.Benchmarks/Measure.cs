using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;

namespace Qfex.Benchmarks
{
    /// <summary>One timed run: wall time, and the whole process's CPU time, allocations and collections.</summary>
    internal sealed class Sample
    {
        internal long N { get; init; }
        internal TimeSpan Elapsed { get; init; }
        internal TimeSpan Cpu { get; init; }
        internal long Allocated { get; init; }
        internal int Gen0 { get; init; }
        internal int Gen1 { get; init; }
        internal int Gen2 { get; init; }
        /// <summary>For a run in a pwsh child: this process's CPU time meanwhile (the fake exchange, mostly).</summary>
        internal TimeSpan? HarnessCpu { get; init; }
        /// <summary>Methods the JIT compiled during the run, in the process that ran it: near 0 once the process is warm.</summary>
        internal long Jit { get; init; }
        internal double Rate => N / Elapsed.TotalSeconds;
    }

    internal readonly struct Probe
    {
        private readonly long _start;
        private readonly TimeSpan _cpu;
        private readonly long _allocated;
        private readonly int _gen0, _gen1, _gen2;
        private readonly long _jit;

        private Probe(long start, TimeSpan cpu, long allocated, int gen0, int gen1, int gen2, long jit)
        {
            _jit = jit;
            _start = start;
            _cpu = cpu;
            _allocated = allocated;
            _gen0 = gen0;
            _gen1 = gen1;
            _gen2 = gen2;
        }

        internal static Probe Start()
        {
            TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
            long allocated = GC.GetTotalAllocatedBytes(false);
            int g0 = GC.CollectionCount(0), g1 = GC.CollectionCount(1), g2 = GC.CollectionCount(2);
            long jit = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false);
            return new Probe(Stopwatch.GetTimestamp(), cpu, allocated, g0, g1, g2, jit);
        }

        internal Sample Stop(long n)
        {
            TimeSpan elapsed = Stopwatch.GetElapsedTime(_start);
            return new Sample
            {
                N = n,
                Elapsed = elapsed,
                Cpu = Process.GetCurrentProcess().TotalProcessorTime - _cpu,
                Allocated = GC.GetTotalAllocatedBytes(false) - _allocated,
                Gen0 = GC.CollectionCount(0) - _gen0,
                Gen1 = GC.CollectionCount(1) - _gen1,
                Gen2 = GC.CollectionCount(2) - _gen2,
                Jit = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false) - _jit,
            };
        }
    }

    /// <summary>The runs of one throughput measurement; the figure is the median run.</summary>
    internal sealed class Measured
    {
        internal Measured(List<Sample> samples, long warmUp, int warmUpRuns, string primed = "")
        {
            Samples = samples;
            WarmUp = warmUp;
            WarmUpRuns = warmUpRuns;
            Primed = primed;
            Median = samples.OrderBy(s => s.Rate).ElementAt(samples.Count / 2);
        }

        internal List<Sample> Samples { get; }
        internal long WarmUp { get; }
        internal int WarmUpRuns { get; }
        /// <summary>How the process was primed before the warm-up runs (empty when it already was, for this script).</summary>
        internal string Primed { get; }
        internal Sample Median { get; }
        internal double Rate => Median.Rate;

        internal string Describe(string extra = "")
        {
            Sample m = Median;
            string runs = string.Join(" / ", Samples.Select(s => s.Elapsed.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture)));
            string whose = m.HarnessCpu.HasValue ? "the pwsh process, timed in it" : "whole process incl. the fake exchange";
            string harness = m.HarnessCpu.HasValue
                ? string.Format(CultureInfo.InvariantCulture, "; the harness meanwhile (the fake exchange, mostly): {0:0.00} us CPU per frame", m.HarnessCpu.Value.TotalMilliseconds * 1000 / m.N)
                : "";
            return string.Format(CultureInfo.InvariantCulture,
                "N={0:N0} x {1} run(s) after {14}{11} warm-up run(s) of {2:N0} frames in all: {3} s; median {4:N0} frames/s; per frame (median run, {12}): {5:0.00} us CPU, {6:N0} B allocated; GCs gen0/1/2: {7}/{8}/{9}; methods JIT-compiled during the runs: {15}{13}{10}",
                m.N, Samples.Count, WarmUp, runs, m.Rate, m.Cpu.TotalMilliseconds * 1000 / m.N, (double)m.Allocated / m.N,
                m.Gen0, m.Gen1, m.Gen2, extra.Length == 0 ? "" : "; " + extra, WarmUpRuns, whose, harness,
                Primed.Length == 0 ? "" : Primed + ", then ", string.Join(" / ", Samples.Select(s => s.Jit.ToString(CultureInfo.InvariantCulture))));
        }
    }

    internal static class Stats
    {
        internal static double Median(IEnumerable<double> values) => Percentile(values, 50);

        /// <summary>Nearest-rank percentile.</summary>
        internal static double Percentile(IEnumerable<double> values, double p)
        {
            double[] sorted = values.OrderBy(v => v).ToArray();
            if (sorted.Length == 0) return double.NaN;
            int rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
            return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
        }

        /// <summary>Full blocking, compacting collections so one measurement's garbage is not the next one's cost.</summary>
        internal static void Settle()
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            Thread.Sleep(100);
        }

        /// <summary>Waits (at most 10 s) until the JIT has compiled almost nothing for 200 ms (twice its call-counting delay): tiering has caught up.</summary>
        internal static void QuiesceJit()
        {
            var clock = Stopwatch.StartNew();
            long before = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false);
            while (clock.Elapsed < TimeSpan.FromSeconds(10))
            {
                Thread.Sleep(200);
                long now = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false);
                if (now - before < 5) return;
                before = now;
            }
        }

        internal static double Mb(long bytes) => bytes / (1024.0 * 1024.0);
    }

    /// <summary>Runs this program again as a child process (a cold process) and reads its key=value lines.</summary>
    internal static class Child
    {
        internal static Dictionary<string, string> Run(TimeSpan timeout, params string[] args) => RunProgram(null, timeout, args);

        /// <summary>Runs <paramref name="program"/> (another build of this harness), or this program when null.</summary>
        internal static Dictionary<string, string> RunProgram(string? program, TimeSpan timeout, params string[] args)
        {
            var psi = new ProcessStartInfo();
            string? host = Environment.ProcessPath;
            string self = typeof(Child).Assembly.Location;
            if (program != null)
            {
                psi.FileName = program;
            }
            else if (host == null || string.Equals(Path.GetFileNameWithoutExtension(host), "dotnet", StringComparison.OrdinalIgnoreCase))
            {
                psi.FileName = host ?? "dotnet";
                psi.ArgumentList.Add(self);
            }
            else
            {
                psi.FileName = host;
            }
            foreach (string arg in args) psi.ArgumentList.Add(arg);

            (int exitCode, string output, string err) = Exec(psi, timeout, "The child process (" + string.Join(' ', args) + ")");
            if (exitCode != 0)
                throw new InvalidOperationException($"The child process exited with {exitCode}: {err.Trim()} {output.Trim()}");
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string line in output.Split('\n'))
            {
                int eq = line.IndexOf('=');
                if (eq > 0) values[line.Substring(0, eq).Trim()] = line.Substring(eq + 1).Trim();
            }
            return values;
        }

        /// <summary>Runs a process to its end with its output captured; killed (TimeoutException) after <paramref name="timeout"/>.</summary>
        internal static (int ExitCode, string Stdout, string Stderr) Exec(ProcessStartInfo psi, TimeSpan timeout, string what)
        {
            psi.UseShellExecute = false;
            psi.RedirectStandardOutput = true;
            psi.RedirectStandardError = true;
            using Process process = Process.Start(psi) ?? throw new InvalidOperationException("Could not start " + psi.FileName);
            var stdout = new StringBuilder();
            var stderr = new StringBuilder();
            process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (stdout) stdout.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) stderr.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{what} did not finish within {timeout.TotalSeconds:0} s and was killed.");
            }
            process.WaitForExit();
            lock (stdout)
                lock (stderr)
                    return (process.ExitCode, stdout.ToString(), stderr.ToString());
        }

        internal static double Number(this Dictionary<string, string> values, string key) =>
            values.TryGetValue(key, out string? text) ? double.Parse(text, CultureInfo.InvariantCulture)
            : throw new InvalidOperationException($"The child process did not report '{key}'.");
    }
}
