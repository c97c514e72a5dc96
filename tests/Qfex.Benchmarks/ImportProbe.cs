using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace Qfex.Benchmarks
{
    /// <summary>
    /// Import-Module time over a bare engine start. In-process (a fresh runspace each time, the Qfex assembly
    /// already loaded by earlier runs) and in a cold child process (the first runspace and the first import
    /// of that process: assembly loading and JIT included). Nothing here references a Qfex type, so a
    /// child process has not loaded Qfex.dll before Import-Module does.
    /// </summary>
    internal static class ImportProbe
    {
        internal const string Switch = "--probe-import";

        /// <summary>
        /// Child process entry: args[1] the manifest, args[2] "empty-first" to import a module of nothing first
        /// (so the engine's module machinery is warm and the Qfex import is what Qfex itself adds). Prints
        /// bare_ms, empty_ms, import_ms and whether Qfex was loaded before the import.
        /// </summary>
        internal static int Run(string[] args)
        {
            string manifest = args.Length > 1 ? args[1] : Engine.ModuleManifest;
            bool emptyFirst = args.Length > 2 && args[2] == "empty-first";
            bool loadedBefore = QfexLoaded();
            string? emptyDir = null;
            try
            {
                string? empty = null;
                if (emptyFirst)
                {
                    emptyDir = Path.Combine(Path.GetTempPath(), "qfex-bench-empty-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
                    Directory.CreateDirectory(emptyDir);
                    empty = Path.Combine(emptyDir, "Empty.psd1");
                    File.WriteAllText(empty, "@{ ModuleVersion = '1.0.0'; GUID = '5f0f5c1e-8a4e-4a7d-9c1b-3d2c1b0a9e8f'; CmdletsToExport = @(); FunctionsToExport = @() }");
                }
                (double bare, double emptyMs, double import) = Measure(manifest, empty);
                Console.WriteLine("bare_ms=" + bare.ToString("0.000", CultureInfo.InvariantCulture));
                Console.WriteLine("empty_ms=" + emptyMs.ToString("0.000", CultureInfo.InvariantCulture));
                Console.WriteLine("import_ms=" + import.ToString("0.000", CultureInfo.InvariantCulture));
                Console.WriteLine("qfex_loaded_before=" + loadedBefore.ToString());
                return 0;
            }
            finally
            {
                if (emptyDir != null) Directory.Delete(emptyDir, recursive: true);
            }
        }

        /// <summary>
        /// Opens a fresh runspace (bare start), optionally imports <paramref name="emptyManifest"/>, then imports
        /// the module; each in ms.
        /// </summary>
        internal static (double BareMs, double EmptyMs, double ImportMs) Measure(string manifest, string? emptyManifest = null)
        {
            long start = Stopwatch.GetTimestamp();
            using Runspace runspace = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
            runspace.Open();
            double bare = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            double empty = emptyManifest == null ? 0 : Import(runspace, emptyManifest);
            double import = Import(runspace, manifest);
            return (bare, empty, import);
        }

        private static double Import(Runspace runspace, string manifest)
        {
            long start = Stopwatch.GetTimestamp();
            using (PowerShell ps = PowerShell.Create())
            {
                ps.Runspace = runspace;
                ps.AddScript("Import-Module $args[0] -ErrorAction Stop").AddArgument(manifest);
                ps.Invoke();
                if (ps.HadErrors && ps.Streams.Error.Count > 0)
                    throw new InvalidOperationException("Import-Module failed: " + ps.Streams.Error[0]);
            }
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        private static bool QfexLoaded() =>
            AppDomain.CurrentDomain.GetAssemblies().Any(a => string.Equals(a.GetName().Name, "Qfex", StringComparison.Ordinal));
    }
}
