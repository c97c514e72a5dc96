using System;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// The fake exchange lives in Qfex.TestServer.dll, which a user of the real exchange never loads: it
    /// comes in when a test-server cmdlet runs, not at Import-Module. This test process has the assembly
    /// loaded already (it references it), so the check runs in a fresh pwsh from the repo's tool manifest.
    /// </summary>
    public class TestServerLoadTests
    {
        private const string Probe = @"
$ErrorActionPreference = 'Stop'
function Test-Loaded { [bool]([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Qfex.TestServer' }) }
Import-Module $env:QFEX_PROBE_MANIFEST
'import=' + (Test-Loaded)
$null = Get-Command -Module Qfex
$null = Get-QfexErrorAdvice -Code RateLimited
$null = Get-QfexSession
'other cmdlets=' + (Test-Loaded)
$server = Start-QfexTestServer
'start=' + (Test-Loaded)
Stop-QfexTestServer -Server $server
";

        [Fact]
        public async Task QfexTestServerDllLoadsOnlyWhenATestServerCmdletRuns()
        {
            var psi = new ProcessStartInfo("dotnet")
            {
                WorkingDirectory = PowerShellHost.RepoRoot,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string arg in new[] { "pwsh", "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", Probe })
                psi.ArgumentList.Add(arg);
            psi.Environment["QFEX_PROBE_MANIFEST"] = PowerShellHost.ModuleManifest;
            psi.Environment["POWERSHELL_TELEMETRY_OPTOUT"] = "1";
            psi.Environment["POWERSHELL_UPDATECHECK"] = "Off";

            using Process process = Process.Start(psi)!;
            Task<string> stdoutTask = process.StandardOutput.ReadToEndAsync();
            Task<string> stderrTask = process.StandardError.ReadToEndAsync();
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120)))
            {
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    Assert.Fail("dotnet pwsh did not finish within 120 s");
                }
            }
            string stdout = await stdoutTask;
            Assert.True(process.ExitCode == 0,
                "dotnet pwsh failed (exit " + process.ExitCode + "; run `dotnet tool restore` in the repo if pwsh is missing):\n" + stdout + await stderrTask);
            Assert.Equal(new[] { "import=False", "other cmdlets=False", "start=True" },
                stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
    }
}
