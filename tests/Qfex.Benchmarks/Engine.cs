using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace Qfex.Benchmarks
{
    /// <summary>
    /// The PowerShell engine in-process, hosted as the tests host it: CreateDefault2 (core commands only),
    /// then Import-Module out/Qfex/Qfex.psd1, the folder a user imports. Every script run is bounded in time.
    /// </summary>
    internal sealed class Engine : IDisposable
    {
        internal static readonly string RepoRoot = FindRepoRoot();
        // The module folder this build's configuration laid out (out/Qfex for Release).
        internal static readonly string ModuleManifest = Path.Combine(Path.GetFullPath(
            typeof(Engine).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
                .Cast<System.Reflection.AssemblyMetadataAttribute>().Single(a => a.Key == "QfexModuleDir").Value!), "Qfex.psd1");

        private readonly Runspace _runspace;

        internal Engine(bool importModule = true)
        {
            InitialSessionState state = InitialSessionState.CreateDefault2();
            // The one command the hand-rolled script (line 4) needs that the bare engine lacks.
            state.Commands.Add(new SessionStateCmdletEntry("ConvertFrom-Json", typeof(Microsoft.PowerShell.Commands.ConvertFromJsonCommand), null));
            _runspace = RunspaceFactory.CreateRunspace(state);
            _runspace.Open();
            if (importModule)
                Run("Import-Module $args[0] -ErrorAction Stop", TimeSpan.FromSeconds(60), ModuleManifest).ThrowOnError("Import-Module");
        }

        /// <summary>Runs a script in the global scope ($args holds the arguments); stops it after <paramref name="timeout"/>.</summary>
        internal EngineResult Run(string script, TimeSpan timeout, params object?[] args)
        {
            var ps = PowerShell.Create();
            ps.Runspace = _runspace;
            ps.AddScript(script);
            foreach (object? arg in args) ps.AddArgument(arg);
            var output = new PSDataCollection<PSObject>();
            var input = new PSDataCollection<PSObject>();
            input.Complete();
            IAsyncResult pending = ps.BeginInvoke(input, output);
            if (!pending.AsyncWaitHandle.WaitOne(timeout))
            {
                // Never dispose a pipeline that may still run; stop it and report.
                ps.BeginStop(null, null);
                pending.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(10));
                throw new TimeoutException($"The script did not finish within {timeout.TotalSeconds:0} s and was stopped.");
            }

            var result = new EngineResult();
            try
            {
                ps.EndInvoke(pending);
            }
            catch (RuntimeException e)
            {
                result.Terminating = e;
            }
            result.Output.AddRange(output);
            result.Errors.AddRange(ps.Streams.Error);
            ps.Dispose();
            return result;
        }

        public void Dispose()
        {
            try
            {
                Run("Get-QfexSession -ErrorAction SilentlyContinue | Disconnect-Qfex -ErrorAction SilentlyContinue", TimeSpan.FromSeconds(20));
            }
            catch (Exception e) when (e is TimeoutException || e is InvalidOperationException || e is PSInvalidOperationException)
            {
            }
            _runspace.Dispose();
        }

        private static string FindRepoRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Qfex.slnx"))) return dir.FullName;
            throw new InvalidOperationException("Qfex.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    internal sealed class EngineResult
    {
        internal List<PSObject> Output { get; } = new List<PSObject>();
        internal List<ErrorRecord> Errors { get; } = new List<ErrorRecord>();
        internal RuntimeException? Terminating { get; set; }

        internal EngineResult ThrowOnError(string what)
        {
            if (Terminating != null)
                throw new InvalidOperationException($"{what} failed: {Terminating.ErrorRecord?.FullyQualifiedErrorId}: {Terminating.Message}");
            if (Errors.Count > 0)
                throw new InvalidOperationException($"{what} wrote {Errors.Count} error(s); the first: {Errors[0].FullyQualifiedErrorId}: {Errors[0]}");
            return this;
        }

        internal object? Value(int i = 0) => i < Output.Count ? Output[i]?.BaseObject : null;

        internal long Long(int i) => Convert.ToInt64(Value(i), System.Globalization.CultureInfo.InvariantCulture);

        internal IEnumerable<object?> Values => Output.Select(o => o?.BaseObject);
    }
}
