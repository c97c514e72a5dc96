<#
.SYNOPSIS
    Runs the Pester suite (tests/Pester and the examples' tests) against a built module, in this pwsh.
    build.ps1 runs it in a child process; exit code 0 only when every test passed.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModuleManifest,
    [Parameter(Mandatory)] [string] $PesterManifest,
    [Parameter(Mandatory)] [string] $OutputPath
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Import-Module -Name $PesterManifest -Force

$repoRoot = Split-Path -Path $PSScriptRoot -Parent
$paths = @(
    Join-Path $repoRoot 'tests/Pester'
    Join-Path $repoRoot 'examples'
) | Where-Object { Test-Path -LiteralPath $_ }

# The tests import the module under test from here (the folder the build task laid out).
$env:QFEX_MODULE_MANIFEST = $ModuleManifest

$config = New-PesterConfiguration
$config.Run.Path = $paths
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Normal'
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'NUnitXml'
$config.TestResult.OutputPath = $OutputPath
$result = Invoke-Pester -Configuration $config

$failures = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
if ($result.Result -ne 'Passed' -or $failures -gt 0 -or $result.PassedCount -eq 0) {
    Write-Output ('Pester: {0}; {1} of {2} tests failed, {3} blocks and {4} files failed.' -f
        $result.Result, $result.FailedCount, $result.TotalCount, $result.FailedBlocksCount, $result.FailedContainersCount)
    exit 1
}
exit 0
