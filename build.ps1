#Requires -Version 7.0
<#
.SYNOPSIS
    Builds, demonstrates, tests, documents and packages the Qfex module.

.DESCRIPTION
    Tasks:

    Build    dotnet build of Qfex.slnx: the importable module in out/Qfex, and its MAML help when
             platyPS v2 (Microsoft.PowerShell.PlatyPS) is on PSModulePath.
    Demo     Build, then a short tour against the fake exchange (Start-QfexTestServer).
    Test     Build, then everything a maintainer trusts: the xunit suite, the docs build,
             PSScriptAnalyzer over every script in the repository, the Pester suite in real pwsh, and
             the Demo as a smoke test. Ends with one "N passed, N failed" line.
    Docs     Build, then the MAML help (platyPS v2 is required for this task).
    Package  Build with help, then a PSGallery-ready package in a local file repository, out/repository.
    Clean    Removes out/ and the bin/ and obj/ folders of the projects under src/ and tests/.

    Demo, Test, Docs and Package load Qfex.dll only in child pwsh processes (scripts in build/), so
    this process never holds the DLL open (which would block the next build on Windows). Children run
    with -OutputFormat Text: redirected output is text, never serialized CLIXML.

    Works as `dotnet pwsh ./build.ps1` (PowerShell pinned in .config/dotnet-tools.json; run
    `dotnet tool restore` first) and as plain `pwsh ./build.ps1`. Pester comes from NuGet with the
    build; platyPS and PSScriptAnalyzer are taken from PSModulePath.

.PARAMETER Task
    The task to run. The default is Build.

.PARAMETER Configuration
    The dotnet build configuration. The default is Release (out/Qfex); other configurations lay the
    module out in out/<Configuration>/Qfex.

.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 -Task Demo

.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Demo', 'Test', 'Docs', 'Package', 'Clean')]
    [string] $Task = 'Build',

    [ValidateNotNullOrEmpty()]
    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
$InformationPreference = 'Continue'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version Latest
if ([System.Console]::IsOutputRedirected) {
    # A log file gets plain text from this process and (through the environment) from every child pwsh.
    $env:NO_COLOR = '1'
    $PSStyle.OutputRendering = 'PlainText'
}

$RepoRoot = $PSScriptRoot
$Solution = Join-Path $RepoRoot 'Qfex.slnx'
$OutDir = Join-Path $RepoRoot 'out'
$ModuleDir = if ($Configuration -eq 'Release') { Join-Path $OutDir 'Qfex' } else { Join-Path (Join-Path $OutDir $Configuration) 'Qfex' }
$ModuleManifest = Join-Path $ModuleDir 'Qfex.psd1'
$ScriptsDir = Join-Path $RepoRoot 'build'
$ResultsDir = Join-Path $OutDir 'TestResults'

function Write-Step {
    param([Parameter(Mandatory)] [string] $Message)
    Write-Information ''
    Write-Information "=== $Message ==="
}

function Invoke-Native {
    # Runs a native command; returns its exit code, or stops the build on a non-zero one unless -PassThru.
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [string[]] $ArgumentList = @(),
        [switch] $PassThru
    )
    # Out-Host: the command's output streams to the console (or the log) as it comes, and never becomes
    # this function's output.
    & $FilePath @ArgumentList | Out-Host
    $code = $LASTEXITCODE
    if ($PassThru) { return $code }
    if ($code -ne 0) {
        throw "'$FilePath $($ArgumentList -join ' ')' failed with exit code $code."
    }
}

function Get-PwshCommand {
    # How to start another pwsh like this one: the pwsh executable running this script, the apphost
    # beside the engine when this is `dotnet pwsh` (the process is then dotnet), or pwsh.dll under
    # dotnet, else the first pwsh on the PATH.
    $current = [System.Environment]::ProcessPath
    if ($current -and [System.IO.Path]::GetFileNameWithoutExtension($current) -eq 'pwsh') {
        return , @($current)
    }
    foreach ($name in 'pwsh', 'pwsh.exe') {
        $candidate = Join-Path $PSHOME $name
        if (Test-Path -LiteralPath $candidate -PathType Leaf) { return , @($candidate) }
    }
    $dll = Join-Path $PSHOME 'pwsh.dll'
    if ($current -and [System.IO.Path]::GetFileNameWithoutExtension($current) -eq 'dotnet' -and (Test-Path -LiteralPath $dll)) {
        return , @($current, $dll)
    }
    $command = Get-Command -Name 'pwsh' -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if (-not $command) { throw 'No pwsh found to run the child process: run `dotnet tool restore` and use `dotnet pwsh ./build.ps1`.' }
    return , @($command.Source)
}

function Invoke-ChildScript {
    # Runs build/<Name>.ps1 in a new pwsh (text output); returns its exit code.
    param(
        [Parameter(Mandatory)] [string] $Name,
        [hashtable] $Parameters = @{}
    )
    $pwsh = Get-PwshCommand
    $arguments = [System.Collections.Generic.List[string]]::new()
    if ($pwsh.Count -gt 1) { $arguments.AddRange([string[]] $pwsh[1..($pwsh.Count - 1)]) }
    $arguments.AddRange([string[]] @('-NoLogo', '-NoProfile', '-NonInteractive', '-OutputFormat', 'Text', '-File', (Join-Path $ScriptsDir "$Name.ps1")))
    foreach ($key in $Parameters.Keys) {
        $arguments.Add("-$key")
        $arguments.Add([string] $Parameters[$key])
    }
    return Invoke-Native -FilePath $pwsh[0] -ArgumentList $arguments -PassThru
}

function Test-ModuleAvailable {
    # True when the module is on PSModulePath; otherwise says so in one line.
    param([Parameter(Mandatory)] [string] $Name, [Parameter(Mandatory)] [string] $Purpose)
    if (Get-Module -ListAvailable -Name $Name) { return $true }
    Write-Information "$Name is not on PSModulePath: $Purpose skipped (Install-PSResource -Name $Name)."
    return $false
}

function Invoke-BuildTask {
    param([switch] $RequireHelp)
    Write-Step "Build ($Configuration)"
    Invoke-Native -FilePath 'dotnet' -ArgumentList @('build', $Solution, '-c', $Configuration, '-nologo', '-v', 'quiet', '-clp:ErrorsOnly;Summary')
    if (-not (Test-Path -LiteralPath $ModuleManifest -PathType Leaf)) {
        throw "The build did not lay out the module: $ModuleManifest is missing."
    }
    Write-Information "Module laid out in $ModuleDir"
    if ($RequireHelp -or (Test-ModuleAvailable -Name 'Microsoft.PowerShell.PlatyPS' -Purpose 'the MAML help')) {
        Invoke-DocsTask
    }
}

function Invoke-DocsTask {
    Write-Step 'Docs: platyPS v2 markdown to MAML'
    if (-not (Get-Module -ListAvailable -Name 'Microsoft.PowerShell.PlatyPS')) {
        throw 'The Docs task needs platyPS v2: Install-PSResource -Name Microsoft.PowerShell.PlatyPS'
    }
    $code = Invoke-ChildScript -Name 'Build-Help' -Parameters @{ ModuleDirectory = $ModuleDir; DocsDirectory = (Join-Path $RepoRoot 'docs') }
    if ($code -ne 0) { throw "The help build failed (exit code $code)." }
}

function Invoke-DemoTask {
    Write-Step 'Demo: Qfex against the fake exchange'
    $code = Invoke-ChildScript -Name 'Demo' -Parameters @{ ModuleManifest = $ModuleManifest }
    if ($code -ne 0) { throw "The Demo failed (exit code $code)." }
}

function Get-TrxCount {
    # Passed and failed counts from the xunit results file.
    param([Parameter(Mandatory)] [string] $Path)
    if (-not (Test-Path -LiteralPath $Path)) { return @{ Passed = 0; Failed = 0; Found = $false } }
    $counters = ([xml] (Get-Content -LiteralPath $Path -Raw)).TestRun.ResultSummary.Counters
    return @{ Passed = [int] $counters.passed; Failed = [int] $counters.failed; Found = $true }
}

function Invoke-TestTask {
    Invoke-BuildTask
    $failures = [System.Collections.Generic.List[string]]::new()
    if (Test-Path -LiteralPath $ResultsDir) { Remove-Item -LiteralPath $ResultsDir -Recurse -Force }
    $null = New-Item -ItemType Directory -Path $ResultsDir -Force

    Write-Step "xunit: dotnet test ($Configuration)"
    $trx = Join-Path $ResultsDir 'xunit.trx'
    $code = Invoke-Native -FilePath 'dotnet' -PassThru -ArgumentList @(
        'test', $Solution, '-c', $Configuration, '--no-build', '--nologo',
        '--logger', 'console;verbosity=minimal', '--logger', "trx;LogFileName=$trx", '--results-directory', $ResultsDir)
    $xunit = Get-TrxCount -Path $trx
    if ($code -ne 0 -or -not $xunit.Found -or $xunit.Passed -eq 0) { $failures.Add("xunit (exit code $code)") }

    Write-Step 'PSScriptAnalyzer (Warning and above)'
    if (Test-ModuleAvailable -Name 'PSScriptAnalyzer' -Purpose 'the script analysis') {
        $findings = @(Invoke-Analyzer)
        if ($findings.Count -gt 0) { $failures.Add("PSScriptAnalyzer ($($findings.Count) finding(s))") }
    }

    Write-Step 'Pester (real pwsh)'
    $pesterResult = Join-Path $ResultsDir 'Pester.xml'
    $code = Invoke-ChildScript -Name 'Invoke-PesterSuite' -Parameters @{
        ModuleManifest = $ModuleManifest
        PesterManifest = (Get-PesterManifest)
        OutputPath     = $pesterResult
    }
    $pester = Get-PesterCount -Path $pesterResult
    if ($code -ne 0 -or -not $pester.Found -or $pester.Passed -eq 0) { $failures.Add("Pester (exit code $code)") }

    try {
        Invoke-DemoTask
    }
    catch {
        $failures.Add('Demo')
        Write-Information "Demo failed: $_"
    }

    Write-Step 'Summary'
    Write-Information ('xunit: {0} passed, {1} failed; Pester: {2} passed, {3} failed' -f $xunit.Passed, $xunit.Failed, $pester.Passed, $pester.Failed)
    Write-Information ('{0} passed, {1} failed' -f ($xunit.Passed + $pester.Passed), ($xunit.Failed + $pester.Failed))
    if ($failures.Count -gt 0) {
        throw "Test task failed: $($failures -join ', ')."
    }
}

function Invoke-Analyzer {
    # Every .ps1/.psm1/.psd1 of the repository (build output and restored packages excluded), with the
    # committed settings; findings are printed and returned.
    $settings = Join-Path $RepoRoot 'PSScriptAnalyzerSettings.psd1'
    $excluded = @('out', 'bin', 'obj', '.git') | ForEach-Object { [System.IO.Path]::DirectorySeparatorChar + $_ + [System.IO.Path]::DirectorySeparatorChar }
    $files = @(Get-ChildItem -LiteralPath $RepoRoot -Recurse -File -Include '*.ps1', '*.psm1', '*.psd1' |
            Where-Object { $path = $_.FullName.Substring($RepoRoot.Length); -not ($excluded | Where-Object { $path.Contains($_) }) } |
            Where-Object { $_.Name -ne 'PSScriptAnalyzerSettings.psd1' })
    Import-Module -Name PSScriptAnalyzer
    $findings = foreach ($file in $files) {
        # The root manifest names files that exist only in the laid-out module folder (the format file,
        # the DLL): it is analyzed there, as the identical copy the build made.
        $path = if ($file.FullName -eq (Join-Path $RepoRoot 'Qfex.psd1')) { $ModuleManifest } else { $file.FullName }
        Invoke-ScriptAnalyzer -Path $path -Settings $settings
    }
    foreach ($finding in $findings) {
        Write-Information ('{0}:{1}: {2} [{3}] {4}' -f $finding.ScriptPath, $finding.Line, $finding.Severity, $finding.RuleName, $finding.Message)
    }
    Write-Information "$($files.Count) file(s) analyzed, $(@($findings).Count) finding(s)."
    return $findings
}

function Get-PesterManifest {
    # Written by tests/Pester/Qfex.Pester.csproj when the build restored the pinned Pester.
    $record = Join-Path (Join-Path $OutDir 'toolchain') 'Pester.path'
    if (-not (Test-Path -LiteralPath $record)) { throw "Pester was not restored: $record is missing (run the Build task)." }
    $manifest = (Get-Content -LiteralPath $record -TotalCount 1).Trim()
    if (-not (Test-Path -LiteralPath $manifest)) { throw "The restored Pester is missing at $manifest (run the Build task)." }
    return $manifest
}

function Get-PesterCount {
    # Passed and failed counts from Pester's NUnit results file.
    param([Parameter(Mandatory)] [string] $Path)
    if (-not (Test-Path -LiteralPath $Path)) { return @{ Passed = 0; Failed = 0; Found = $false } }
    $run = ([xml] (Get-Content -LiteralPath $Path -Raw)).'test-results'
    $total = [int] $run.total
    $failed = [int] $run.failures + [int] $run.errors
    $notRun = [int] $run.'not-run' + [int] $run.inconclusive + [int] $run.ignored + [int] $run.skipped + [int] $run.invalid
    return @{ Passed = $total - $failed - $notRun; Failed = $failed; Found = $true }
}

function Invoke-PackageTask {
    Invoke-BuildTask -RequireHelp
    Write-Step 'Package: a PSGallery-ready package in out/repository'
    $code = Invoke-ChildScript -Name 'New-Package' -Parameters @{ ModuleDirectory = $ModuleDir; RepositoryDirectory = (Join-Path $OutDir 'repository') }
    if ($code -ne 0) { throw "Packaging failed (exit code $code)." }
}

function Invoke-CleanTask {
    Write-Step 'Clean'
    $targets = [System.Collections.Generic.List[string]]::new()
    $targets.Add($OutDir)
    foreach ($area in 'src', 'tests') {
        $areaPath = Join-Path $RepoRoot $area
        if (-not (Test-Path -LiteralPath $areaPath -PathType Container)) { continue }
        foreach ($project in Get-ChildItem -LiteralPath $areaPath -Directory) {
            foreach ($name in 'bin', 'obj') {
                $targets.Add((Join-Path $project.FullName $name))
            }
        }
    }
    foreach ($target in $targets) {
        if (Test-Path -LiteralPath $target) {
            Remove-Item -LiteralPath $target -Recurse -Force
            Write-Information "Removed $target"
        }
    }
}

switch ($Task) {
    'Build' { Invoke-BuildTask }
    'Demo' { Invoke-BuildTask; Invoke-DemoTask }
    'Test' { Invoke-TestTask }
    'Docs' { Invoke-BuildTask -RequireHelp }
    'Package' { Invoke-PackageTask }
    'Clean' { Invoke-CleanTask }
}
