using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace Qfex.Benchmarks
{
    /// <summary>
    /// A copy of this harness published ReadyToRun (precompiled), engine included, for the cold-import line:
    /// pwsh ships its engine precompiled, the NuGet engine the harness runs on is not, and a cold process
    /// spends most of its first Import-Module compiling the engine's own module machinery. Published into
    /// out/bench-r2r with `dotnet publish -p:PublishReadyToRun=true` (Qfex itself is not rebuilt: the copy
    /// imports out/Qfex/Qfex.psd1 like every other line).
    /// </summary>
    internal static class ReadyToRunCopy
    {
        internal static string Folder => Path.Combine(Engine.RepoRoot, "out", "bench-r2r");

        /// <summary>The published program, or null with <paramref name="problem"/> saying why there is none.</summary>
        internal static string? Publish(TimeSpan timeout, out string? problem)
        {
            problem = null;
            string project = Path.Combine(Engine.RepoRoot, "tests", "Qfex.Benchmarks", "Qfex.Benchmarks.csproj");
            var psi = new ProcessStartInfo("dotnet")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Engine.RepoRoot,
            };
            foreach (string arg in new[]
            {
                "publish", project, "-c", "Release", "-r", RuntimeInformation.RuntimeIdentifier, "--self-contained", "false",
                "-p:PublishReadyToRun=true", "-p:BuildProjectReferences=false", "-o", Folder, "-nologo", "-v", "quiet",
            })
                psi.ArgumentList.Add(arg);

            using Process process = Process.Start(psi) ?? throw new InvalidOperationException("Could not start dotnet publish.");
            var output = new StringBuilder();
            process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                problem = $"dotnet publish -p:PublishReadyToRun=true did not finish within {timeout.TotalSeconds:0} s.";
                return null;
            }
            process.WaitForExit();
            string program = Path.Combine(Folder, OperatingSystem.IsWindows() ? "Qfex.Benchmarks.exe" : "Qfex.Benchmarks");
            if (process.ExitCode != 0 || !File.Exists(program))
            {
                string text;
                lock (output) text = output.ToString().Trim();
                problem = $"dotnet publish -p:PublishReadyToRun=true failed (exit {process.ExitCode}; it needs the crossgen package from the NuGet feed): " +
                    (text.Length > 600 ? text.Substring(0, 600) + "..." : text);
                return null;
            }
            return program;
        }
    }
}
