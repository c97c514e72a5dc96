#Requires -Version 7.0
<#
.SYNOPSIS
    Builds, demonstrates, tests and documents the Qfex module.

.DESCRIPTION
    Tasks:

    Build  dotnet build of Qfex.slnx; lays out the importable module in out/Qfex.
    Demo   Build, then a short tour against the fake exchange (Start-QfexTestServer).
    Test   dotnet test of Qfex.slnx, then the Pester 5 tests in tests/Pester.
    Docs   Build, then platyPS v2 (Microsoft.PowerShell.PlatyPS): docs/*-*.md to MAML in
           out/Qfex/en-US/Qfex.dll-Help.xml, with about_Qfex.help.txt beside it.
    Clean  Removes out/ and the bin/ and obj/ folders of the projects under src/ and tests/.

    Demo, Test and Docs load Qfex.dll in a child pwsh process, so the build's own process never
    holds the DLL open (which would block the next build on Windows).

.PARAMETER Task
    The task to run. The default is Build.

.PARAMETER Configuration
    The dotnet build configuration. The default is Release.

.EXAMPLE
    pwsh ./build.ps1 -Task Demo

.EXAMPLE
    pwsh ./build.ps1 -Task Test -Configuration Debug
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Demo', 'Test', 'Docs', 'Clean')]
    [string] $Task = 'Build',

    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$RepoRoot       = $PSScriptRoot
$Solution       = Join-Path $RepoRoot 'Qfex.slnx'
$OutDir         = Join-Path $RepoRoot 'out'
$ModuleDir      = Join-Path $OutDir 'Qfex'
$ModuleManifest = Join-Path $ModuleDir 'Qfex.psd1'
$HelpDir        = Join-Path $ModuleDir 'en-US'
$DocsDir        = Join-Path $RepoRoot 'docs'
$AboutHelpText  = Join-Path $DocsDir 'about_Qfex.help.txt'
$PesterDir      = Join-Path (Join-Path $RepoRoot 'tests') 'Pester'
$TestResultFile = Join-Path (Join-Path $OutDir 'TestResults') 'Pester.xml'

function Write-Step {
    param([Parameter(Mandatory)] [string] $Message)
    Write-Host ''
    Write-Host "=== $Message ===" -ForegroundColor Cyan
}

function Invoke-Native {
    # Runs a native command and stops the build when it exits with a non-zero code.
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [string[]] $ArgumentList = @(),
        [string] $Description = ''
    )
    if (-not $Description) {
        $Description = "$FilePath $($ArgumentList -join ' ')"
    }
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0) {
        throw "'$Description' failed with exit code $LASTEXITCODE."
    }
}

function Get-PwshPath {
    # The pwsh executable running this script, or else the first pwsh on the PATH.
    $current = (Get-Process -Id $PID).Path
    if ($current -and [System.IO.Path]::GetFileNameWithoutExtension($current) -eq 'pwsh') {
        return $current
    }
    $command = Get-Command -Name 'pwsh' -CommandType Application | Select-Object -First 1
    return $command.Source
}

function ConvertTo-PSLiteral {
    # A single-quoted PowerShell string literal for a value.
    param([Parameter(Mandatory)] [AllowEmptyString()] [string] $Value)
    return "'" + $Value.Replace("'", "''") + "'"
}

function Invoke-ChildPwsh {
    # Runs a script in a new pwsh process. Variables are defined as string literals before it.
    param(
        [Parameter(Mandatory)] [string] $Script,
        [hashtable] $Variables = @{}
    )
    $lines = [System.Collections.Generic.List[string]]::new()
    foreach ($name in $Variables.Keys) {
        $lines.Add(('${0} = {1}' -f $name, (ConvertTo-PSLiteral -Value ([string] $Variables[$name]))))
    }
    $lines.Add($Script)
    $encoded = [System.Convert]::ToBase64String([System.Text.Encoding]::Unicode.GetBytes(($lines -join "`n")))
    Invoke-Native -FilePath (Get-PwshPath) -ArgumentList @('-NoLogo', '-NoProfile', '-NonInteractive', '-EncodedCommand', $encoded) `
        -Description 'pwsh (child process)'
}

function Invoke-BuildTask {
    Write-Step "Build ($Configuration)"
    Invoke-Native -FilePath 'dotnet' -ArgumentList @('build', $Solution, '-c', $Configuration)
    if (-not (Test-Path -LiteralPath $ModuleManifest -PathType Leaf)) {
        throw "The build did not lay out the module: $ModuleManifest is missing."
    }
    Write-Host "Module laid out in $ModuleDir"
}

$DemoScript = @'
$ErrorActionPreference = 'Stop'
Import-Module -Name $ModuleManifest -Force

function Show-Title([string] $Text) {
    Write-Host ''
    Write-Host "--- $Text" -ForegroundColor Green
}

$server = Start-QfexTestServer
try {
    Show-Title 'A fake QFEX exchange on the loopback interface'
    $server | Out-Host

    Show-Title 'Connect-Qfex: authenticate (HMAC) and subscribe to order_responses'
    $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses
    $session | Out-Host

    $order = @{
        symbol              = 'AAPL-USD'
        side                = 'BUY'
        order_type          = 'LIMIT'
        order_time_in_force = 'GTC'
        quantity            = 1
        price               = 200.0
        client_order_id     = 'demo-0001'
    }

    Show-Title 'Send-QfexMessage -Type add_order -Params @{...} -Wait: the answering frame'
    $answer = Send-QfexMessage -Type add_order -Params $order -Wait
    $answer | Out-Host
    $answer.Data.order_response | Format-List | Out-Host

    Show-Title "The fake exchange now answers add_order with RateLimited: `$server.Respond['add_order'] = 'RateLimited'"
    $server.Respond['add_order'] = 'RateLimited'
    $err = $null
    Send-QfexMessage -Type add_order -Params $order -Wait -ErrorAction SilentlyContinue -ErrorVariable err
    if (-not $err) {
        throw 'Expected Send-QfexMessage to write a RateLimited error.'
    }
    $record = $err[0]

    Show-Title 'The error record: $err[0] | Format-List * -Force'
    $record | Format-List * -Force | Out-Host

    Show-Title 'The parts a runbook uses'
    [pscustomobject]@{
        FullyQualifiedErrorId          = $record.FullyQualifiedErrorId
        Category                       = $record.CategoryInfo.Category
        Reason                         = $record.CategoryInfo.Reason
        ExceptionType                  = $record.Exception.GetType().FullName
        TargetObject                   = ($record.TargetObject | ConvertTo-Json -Depth 6 -Compress)
        'ErrorDetails.Message'           = $record.ErrorDetails.Message
        'ErrorDetails.RecommendedAction' = $record.ErrorDetails.RecommendedAction
    } | Format-List | Out-Host

    Show-Title 'Get-QfexErrorAdvice: $err[0] | Get-QfexErrorAdvice'
    $record | Get-QfexErrorAdvice | Format-List | Out-Host

    Show-Title 'Disconnect-Qfex'
    Disconnect-Qfex -Session $session
    $session | Out-Host
}
finally {
    Stop-QfexTestServer -Server $server
}
'@

function Invoke-DemoTask {
    Write-Step 'Demo: Qfex against the fake exchange'
    Invoke-ChildPwsh -Script $DemoScript -Variables @{ ModuleManifest = $ModuleManifest }
}

$PesterScript = @'
$ErrorActionPreference = 'Stop'
Import-Module -Name Pester -MinimumVersion 5.0
$config = New-PesterConfiguration
$config.Run.Path = $PesterDir
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.TestResult.Enabled = $true
$config.TestResult.OutputPath = $TestResultFile
$result = Invoke-Pester -Configuration $config
$failures = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
if ($result.Result -ne 'Passed' -or $failures -gt 0 -or $result.TotalCount -eq 0) {
    Write-Host ("Pester: {0}; {1} of {2} tests failed, {3} blocks and {4} files failed." -f
        $result.Result, $result.FailedCount, $result.TotalCount, $result.FailedBlocksCount,
        $result.FailedContainersCount) -ForegroundColor Red
    exit 1
}
exit 0
'@

function Invoke-TestTask {
    Write-Step "dotnet test ($Configuration)"
    Invoke-Native -FilePath 'dotnet' -ArgumentList @('test', $Solution, '-c', $Configuration)

    Write-Step 'Pester'
    $pester = Get-Module -ListAvailable -Name 'Pester' | Where-Object { $_.Version -ge [version] '5.0' }
    if (-not $pester) {
        throw 'Pester 5 is required: Install-PSResource -Name Pester (or Install-Module -Name Pester -MinimumVersion 5.0).'
    }
    if (-not (Test-Path -LiteralPath $ModuleManifest -PathType Leaf)) {
        throw "The module is not built: $ModuleManifest is missing."
    }
    $null = New-Item -ItemType Directory -Path (Split-Path -Path $TestResultFile -Parent) -Force
    Invoke-ChildPwsh -Script $PesterScript -Variables @{ PesterDir = $PesterDir; TestResultFile = $TestResultFile }
}

$DocsScript = @'
$ErrorActionPreference = 'Stop'
Import-Module -Name Microsoft.PowerShell.PlatyPS
$qfex = Import-Module -Name $ModuleManifest -Force -PassThru

# One page per exported cmdlet, and no page for a cmdlet the module does not export.
$pages = @(Get-ChildItem -LiteralPath $DocsDir -Filter '*-*.md' -File | Sort-Object -Property Name)
$exported = @($qfex.ExportedCmdlets.Keys | Sort-Object)
$documented = @($pages | ForEach-Object { $_.BaseName })
$missing = @($exported | Where-Object { $_ -notin $documented })
$extra = @($documented | Where-Object { $_ -notin $exported })
if ($missing.Count -gt 0) { throw "No help page for: $($missing -join ', ')" }
if ($extra.Count -gt 0) { throw "Help pages for cmdlets the module does not export: $($extra -join ', ')" }

foreach ($page in $pages) {
    $probe = Measure-PlatyPSMarkdown -LiteralPath $page.FullName
    if ("$($probe.FileType)" -notmatch 'CommandHelp') {
        throw "$($page.Name) is not recognized as platyPS command help (file type: $($probe.FileType))."
    }
}

$staging = Join-Path ([System.IO.Path]::GetTempPath()) ('QfexMaml-' + [guid]::NewGuid().ToString('N'))
try {
    $commandHelp = Import-MarkdownCommandHelp -LiteralPath $pages.FullName
    foreach ($help in $commandHelp) {
        foreach ($message in @($help.Diagnostics.Messages | Where-Object { "$($_.Severity)" -eq 'Error' })) {
            Write-Warning ('{0}: {1}' -f $help.Title, $message)
        }
    }
    # Export-MamlCommandHelp writes <OutputFolder>/<module name>/<external help file>; find it wherever it lands.
    $null = $commandHelp | Export-MamlCommandHelp -OutputFolder $staging -Force
    $maml = @(Get-ChildItem -LiteralPath $staging -Filter '*-Help.xml' -File -Recurse)
    if ($maml.Count -ne 1) {
        throw "Expected one MAML file under $staging, found $($maml.Count): $($maml.FullName -join ', ')"
    }
    $null = New-Item -ItemType Directory -Path $HelpDir -Force
    $target = Join-Path $HelpDir 'Qfex.dll-Help.xml'
    Copy-Item -LiteralPath $maml[0].FullName -Destination $target -Force
    Copy-Item -LiteralPath $AboutHelpText -Destination (Join-Path $HelpDir 'about_Qfex.help.txt') -Force
}
finally {
    if (Test-Path -LiteralPath $staging) { Remove-Item -LiteralPath $staging -Recurse -Force }
}

$xml = [xml] (Get-Content -LiteralPath $target -Raw)
$commands = @($xml.DocumentElement.ChildNodes | Where-Object { $_.LocalName -eq 'command' }).Count
if ($commands -ne $exported.Count) {
    throw "$target documents $commands commands; the module exports $($exported.Count)."
}
Write-Host "Wrote $target ($commands commands) and $(Join-Path $HelpDir 'about_Qfex.help.txt')"
'@

function Invoke-DocsTask {
    Write-Step 'Docs: platyPS v2 markdown to MAML'
    $platyPS = Get-Module -ListAvailable -Name 'Microsoft.PowerShell.PlatyPS'
    if (-not $platyPS) {
        throw 'Microsoft.PowerShell.PlatyPS (platyPS v2) is required: Install-PSResource -Name Microsoft.PowerShell.PlatyPS'
    }
    Invoke-ChildPwsh -Script $DocsScript -Variables @{
        ModuleManifest = $ModuleManifest
        DocsDir        = $DocsDir
        HelpDir        = $HelpDir
        AboutHelpText  = $AboutHelpText
    }
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
            Write-Host "Removed $target"
        }
    }
}

switch ($Task) {
    'Build' { Invoke-BuildTask }
    'Demo'  { Invoke-BuildTask; Invoke-DemoTask }
    'Test'  { Invoke-TestTask }
    'Docs'  { Invoke-BuildTask; Invoke-DocsTask }
    'Clean' { Invoke-CleanTask }
}
