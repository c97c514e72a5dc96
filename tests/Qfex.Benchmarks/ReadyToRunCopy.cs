using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;

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
            var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = Engine.RepoRoot };
            foreach (string arg in new[]
            {
                "publish", project, "-c", "Release", "-r", RuntimeInformation.RuntimeIdentifier, "--self-contained", "false",
                "-p:PublishReadyToRun=true", "-p:BuildProjectReferences=false", "-o", Folder, "-nologo", "-v", "quiet",
            })
                psi.ArgumentList.Add(arg);

            int exitCode;
            string text;
            try
            {
                (exitCode, string stdout, string stderr) = Child.Exec(psi, timeout, "dotnet publish -p:PublishReadyToRun=true");
                text = (stdout + stderr).Trim();
            }
            catch (TimeoutException e)
            {
                problem = e.Message;
                return null;
            }
            string program = Path.Combine(Folder, OperatingSystem.IsWindows() ? "Qfex.Benchmarks.exe" : "Qfex.Benchmarks");
            if (exitCode != 0 || !File.Exists(program))
            {
                problem = $"dotnet publish -p:PublishReadyToRun=true failed (exit {exitCode}; it needs the crossgen package from the NuGet feed): " +
                    (text.Length > 600 ? text.Substring(0, 600) + "..." : text);
                return null;
            }
            return program;
        }
    }
}
