using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace Qfex.Tests
{
    /// <summary>
    /// The real PowerShell engine, in-process, with the built module folder out/Qfex imported exactly as a
    /// user imports it. Each instance is one runspace; scripts share its state (variables, default session).
    /// </summary>
    public sealed class PowerShellHost : IDisposable
    {
        public static readonly string RepoRoot = FindRepoRoot();
        /// <summary>The module folder this test build's configuration laid out (out/Qfex for Release, out/Debug/Qfex for Debug).</summary>
        public static readonly string ModuleDirectory = ModuleDirectoryOf(typeof(PowerShellHost).Assembly);
        public static readonly string ModuleManifest = Path.Combine(ModuleDirectory, "Qfex.psd1");

        private readonly Runspace _runspace;

        public PowerShellHost(bool importModule = true)
        {
            // CreateDefault2: the engine's core commands only (the NuGet engine ships no console host snap-in).
            _runspace = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
            _runspace.Open();
            if (importModule)
                Run("Import-Module $args[0] -ErrorAction Stop", ModuleManifest).ThrowOnError();
        }

        public Runspace Runspace => _runspace;

        /// <summary>Runs a script; $args holds the arguments. Never throws for script errors: see the result.</summary>
        public ScriptResult Run(string script, params object?[] args)
        {
            using var ps = PowerShell.Create();
            ps.Runspace = _runspace;
            ps.AddScript(script);
            foreach (object? arg in args) ps.AddArgument(arg);
            var result = new ScriptResult();
            try
            {
                result.Output.AddRange(ps.Invoke());
            }
            catch (RuntimeException e)
            {
                result.Terminating = e;
            }
            result.Errors.AddRange(ps.Streams.Error);
            result.Verbose.AddRange(ps.Streams.Verbose.Select(v => v.Message));
            result.Debug.AddRange(ps.Streams.Debug.Select(v => v.Message));
            result.Warnings.AddRange(ps.Streams.Warning.Select(v => v.Message));
            result.Information.AddRange(ps.Streams.Information.Select(v => v.MessageData?.ToString() ?? ""));
            return result;
        }

        /// <summary>Starts the fake exchange in this runspace as $server.</summary>
        public QfexTestServer StartServer() =>
            (QfexTestServer)Run("$server = Start-QfexTestServer; $server").ThrowOnError().Value()!;

        /// <summary>Connects to $server (with <paramref name="extra"/> Connect-Qfex parameters) as $s, the default session.</summary>
        public QfexSession Connect(string extra = "") =>
            (QfexSession)Run("$s = Connect-Qfex -Uri $server.Uri -Credential $server.Credential " + extra + "; $s").ThrowOnError().Value()!;

        public void Dispose()
        {
            Run("Get-QfexSession -ErrorAction SilentlyContinue | Disconnect-Qfex -ErrorAction SilentlyContinue; Stop-QfexTestServer -ErrorAction SilentlyContinue");
            _runspace.Dispose();
        }

        internal static string ModuleDirectoryOf(System.Reflection.Assembly assembly) =>
            assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
                .Cast<System.Reflection.AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == "QfexModuleDir")?.Value is string dir && dir.Length > 0
                ? Path.GetFullPath(dir)
                : throw new InvalidOperationException("The test assembly does not say which module folder its build laid out (QfexModuleDir).");

        private static string FindRepoRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Qfex.slnx"))) return dir.FullName;
            throw new InvalidOperationException("Qfex.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    public sealed class ScriptResult
    {
        public List<PSObject> Output { get; } = new List<PSObject>();
        public List<ErrorRecord> Errors { get; } = new List<ErrorRecord>();
        public List<string> Verbose { get; } = new List<string>();
        public List<string> Debug { get; } = new List<string>();
        public List<string> Warnings { get; } = new List<string>();
        public List<string> Information { get; } = new List<string>();
        public RuntimeException? Terminating { get; set; }

        /// <summary>Every ErrorRecord: the non-terminating ones and the terminating one.</summary>
        public IEnumerable<ErrorRecord> AllErrors =>
            Terminating?.ErrorRecord != null ? Errors.Concat(new[] { Terminating.ErrorRecord }) : Errors;

        public ScriptResult ThrowOnError()
        {
            if (Terminating != null) throw new Xunit.Sdk.XunitException("Script failed: " + Terminating.ErrorRecord + "\n" + Terminating.ErrorRecord?.ScriptStackTrace);
            if (Errors.Count > 0) throw new Xunit.Sdk.XunitException("Script wrote errors: " + string.Join("\n", Errors.Select(e => e.FullyQualifiedErrorId + ": " + e)));
            return this;
        }

        public T Single<T>() => (T)Xunit.Assert.Single(Output).BaseObject;

        public object? Value(int i = 0) => i < Output.Count ? Output[i]?.BaseObject : null;
    }
}
