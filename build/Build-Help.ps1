<#
.SYNOPSIS
    Builds the module's MAML help from docs/*-*.md with platyPS v2 and lays it into the module folder
    (en-US/Qfex.dll-Help.xml, with about_Qfex.help.txt beside it). Run by build.ps1 in a child pwsh.
    Fails on any platyPS diagnostic of severity Error, printing it whole.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModuleDirectory,
    [Parameter(Mandatory)] [string] $DocsDirectory
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Import-Module -Name Microsoft.PowerShell.PlatyPS
$qfex = Import-Module -Name (Join-Path $ModuleDirectory 'Qfex.psd1') -Force -PassThru
$helpDirectory = Join-Path $ModuleDirectory 'en-US'

# One page per exported cmdlet, and no page for a cmdlet the module does not export.
$pages = @(Get-ChildItem -LiteralPath $DocsDirectory -Filter '*-*.md' -File | Sort-Object -Property Name)
$exported = @($qfex.ExportedCmdlets.Keys | Sort-Object)
$documented = @($pages | ForEach-Object { $_.BaseName })
$missing = @($exported | Where-Object { $_ -notin $documented })
$extra = @($documented | Where-Object { $_ -notin $exported })
if ($missing.Count -gt 0) { throw "No help page for: $($missing -join ', ')" }
if ($extra.Count -gt 0) { throw "Help pages for cmdlets the module does not export: $($extra -join ', ')" }

$errors = [System.Collections.Generic.List[string]]::new()
$commandHelp = foreach ($page in $pages) {
    $help = Import-MarkdownCommandHelp -LiteralPath $page.FullName
    foreach ($message in @($help.Diagnostics.Messages)) {
        if ("$($message.Severity)" -eq 'Error') {
            $errors.Add(('{0}: {1} {2}' -f $page.Name, $message.Identifier, $message.Message))
        }
    }
    $help
}
if ($errors.Count -gt 0) {
    $errors | ForEach-Object { Write-Output $_ }
    throw "platyPS reported $($errors.Count) error(s) in docs/ (listed above)."
}

$staging = Join-Path ([System.IO.Path]::GetTempPath()) ('QfexMaml-' + [guid]::NewGuid().ToString('N'))
try {
    # Export-MamlCommandHelp writes <OutputFolder>/<module name>/<external help file>; find it wherever it lands.
    $null = $commandHelp | Export-MamlCommandHelp -OutputFolder $staging -Force
    $maml = @(Get-ChildItem -LiteralPath $staging -Filter '*-Help.xml' -File -Recurse)
    if ($maml.Count -ne 1) {
        throw "Expected one MAML file under $staging, found $($maml.Count): $($maml.FullName -join ', ')"
    }
    $null = New-Item -ItemType Directory -Path $helpDirectory -Force
    $target = Join-Path $helpDirectory 'Qfex.dll-Help.xml'
    Copy-Item -LiteralPath $maml[0].FullName -Destination $target -Force
    Copy-Item -LiteralPath (Join-Path $DocsDirectory 'about_Qfex.help.txt') -Destination (Join-Path $helpDirectory 'about_Qfex.help.txt') -Force
}
finally {
    if (Test-Path -LiteralPath $staging) { Remove-Item -LiteralPath $staging -Recurse -Force }
}

$xml = [xml] (Get-Content -LiteralPath $target -Raw)
$commands = @($xml.DocumentElement.ChildNodes | Where-Object { $_.LocalName -eq 'command' }).Count
if ($commands -ne $exported.Count) {
    throw "$target documents $commands commands; the module exports $($exported.Count)."
}
Write-Output "Wrote $target ($commands commands) and about_Qfex.help.txt"
