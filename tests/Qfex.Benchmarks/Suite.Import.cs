using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;

namespace Qfex.Benchmarks
{
    internal sealed partial class Suite
    {
        // ------------------------------------------------------------------ import (6)

        private void Import()
        {
            if (!_options.Wants("import")) return;
            if (InPwsh) Guard("P6", "Import-Module added, cold pwsh", ImportPwsh);
            if (Hosted) ImportHosted();
        }

        /// <summary>
        /// P6: what users wait for. Cold pwsh processes, each started and waited for from here: `pwsh -NoProfile
        /// -Command 'Import-Module out/Qfex/Qfex.psd1'` against the same command without the import, in pairs
        /// (the order alternates, so a drifting machine weighs on both alike), after one pair as a warm-up (the
        /// files in the OS cache); the figure is the median of the imports minus the median of the bare starts.
        /// </summary>
        private void ImportPwsh()
        {
            string import = "Import-Module -Name '" + Engine.ModuleManifest.Replace("'", "''", StringComparison.Ordinal) + "' -ErrorAction Stop";
            const string bareCommand = "$null";
            // Both commands end by printing the process's CPU time: the same small cost on both sides, and a
            // second figure that a busy machine disturbs less than the wall time.
            const string cpuSuffix = "; [Console]::Out.Write([System.Diagnostics.Process]::GetCurrentProcess().TotalProcessorTime.TotalMilliseconds)";
            (double Wall, double Cpu) Start(string command)
            {
                var psi = Benchmarks.Pwsh.StartInfo("-NoLogo", "-NoProfile", "-NonInteractive", "-Command", command + cpuSuffix);
                long start = Stopwatch.GetTimestamp();
                (int exitCode, string stdout, string stderr) = Child.Exec(psi, TimeSpan.FromSeconds(60), "pwsh -Command " + command);
                double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (exitCode != 0 || !double.TryParse(stdout.Trim(), System.Globalization.NumberStyles.Float, C, out double cpu))
                    throw new InvalidOperationException($"pwsh -Command {command} exited with {exitCode}: {stderr.Trim()} {stdout.Trim()}");
                return (ms, cpu);
            }
            Start(import); // the files into the OS cache
            var bare = new List<(double Wall, double Cpu)>();
            var imported = new List<(double Wall, double Cpu)>();
            for (int i = 0; i < _pwshImportPairs; i++)
            {
                if (i % 2 == 0)
                {
                    bare.Add(Start(bareCommand));
                    imported.Add(Start(import));
                }
                else
                {
                    imported.Add(Start(import));
                    bare.Add(Start(bareCommand));
                }
            }
            double added = Stats.Median(imported.Select(s => s.Wall)) - Stats.Median(bare.Select(s => s.Wall));
            double addedCpu = Stats.Median(imported.Select(s => s.Cpu)) - Stats.Median(bare.Select(s => s.Cpu));
            _report.Add(new Row
            {
                Id = "P6", Name = "Import-Module added, cold pwsh process", Value = added, Unit = "ms", ValueFormat = "0.0", Where = Where.Pwsh,
                Target = "<= 150 ms", Check = added.ToString("0.0", C) + " ms", Verdict = added <= 150 ? Verdict.Pass : Verdict.Miss,
                Detail = string.Format(C,
                    "{0} pairs of cold pwsh processes (-NoLogo -NoProfile -NonInteractive -Command), the order alternating, after one import as a warm-up; wall time from start to exit, seen from here: " +
                    "'{1}' {2} ms (median {3:0.0}); 'Import-Module out/Qfex/Qfex.psd1' {4} ms (median {5:0.0}); the figure is the difference of the medians. " +
                    "CPU time of the process (printed by it at the end): {6} ms vs {7} ms, {8:0.0} ms added; the fastest of each (the least disturbed by other work): {9:0.0} ms added",
                    _pwshImportPairs, bareCommand, Join(bare.Select(s => s.Wall)), Stats.Median(bare.Select(s => s.Wall)), Join(imported.Select(s => s.Wall)),
                    Stats.Median(imported.Select(s => s.Wall)), Join(bare.Select(s => s.Cpu)), Join(imported.Select(s => s.Cpu)), addedCpu,
                    imported.Min(s => s.Wall) - bare.Min(s => s.Wall)),
            });
        }

        private void ImportHosted()
        {
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
                    Verdict = Verdict.Info,
                    Detail = string.Format(C, "Import-Module out/Qfex/Qfex.psd1 into each of those runspaces (Qfex.dll already loaded in this process): {0} ms", Join(import)),
                });

                if (_options.Quick) return;
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
                    Verdict = Verdict.Info,
                    Detail = string.Format(C,
                        "{0} other child processes, each: first runspace, Import-Module of an empty manifest module ({1} ms: the machinery's own first-use cost), then Qfex ({2} ms): " +
                        "what Qfex itself adds in a cold process (Qfex.dll, System.Text.Json, cmdlet discovery, format file)",
                        _coldReps, Join(warmEmpty), Join(afterEmpty)),
                });
                if (!_options.Quick) ColdReadyToRun();
            }
            catch (Exception e) when (!(e is OutOfMemoryException))
            {
                _report.Failed("6", "Import-Module", e);
            }
        }

        /// <summary>6e: the cold first import again, with the engine precompiled (ReadyToRun) as pwsh ships it.</summary>
        private void ColdReadyToRun()
        {
            Report.Progress("publishing a ReadyToRun copy of the harness for 6e (dotnet publish -p:PublishReadyToRun=true) ...");
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
                Verdict = Verdict.Info,
                Detail = string.Format(C,
                    "{0} child processes of a ReadyToRun copy of this harness (out/bench-r2r: the engine precompiled, as pwsh releases are since PowerShell/PowerShell#12361; Qfex.dll is not), each: first runspace ({1} ms), " +
                    "then the first Import-Module of the process ({2} ms), the engine's module machinery's first use included",
                    import.Count, Join(bare), Join(import)),
            });
        }
    }
}
