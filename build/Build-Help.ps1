<#
.SYNOPSIS
    Builds the module's MAML help from docs/*-*.md with platyPS v2 and lays it into the module folder
    (en-US/Qfex.dll-Help.xml, with about_Qfex.help.txt beside it). Run by build.ps1 in a child pwsh.

.DESCRIPTION
    Every platyPS diagnostic of severity Warning or Error is printed whole (file, line, source,
    identifier and message); any Error fails the build. So do the things platyPS drops without an
    Error: a parameter of the cmdlet missing from what platyPS read (a YAML block that does not parse
    loses its parameter), a parameter with no description or no DefaultValue, a parameter the cmdlet
    does not have, and an online link (HelpUri or a related link) that is not an absolute http(s) URI,
    which would make `Get-Help -Online` fail.

    platyPS 1.0.3 writes no <dev:defaultValue> into the MAML (PowerShell/platyPS#801), so Get-Help
    would show a blank "Default value" for every parameter: this script adds each parameter's
    DefaultValue from its page. It also drops the empty "Online Version" link platyPS adds when a page
    has no HelpUri, and re-wraps each parameter description at word boundaries to fit an 80-column
    console (Get-Help itself breaks long lines inside words).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModuleDirectory,
    [Parameter(Mandatory)] [string] $DocsDirectory
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version Latest
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

function Format-Diagnostic {
    # One platyPS diagnostic, whole: every field, continuation lines indented.
    param([Parameter(Mandatory)] [string] $Page, [Parameter(Mandatory)] $Message)
    $text = '{0}:{1}: {2} [{3}] message: {4}; identifier: {5}' -f $Page, $Message.Line, $Message.Severity, $Message.Source,
        (@($Message.Message) -join '; '), "$($Message.Identifier)".Trim()
    return ($text -split '\r?\n') -join "`n    "
}

function Test-OnlineUri {
    # True for an empty URI (no online link) or an absolute http(s) URI that Get-Help -Online can open.
    param([AllowNull()] [AllowEmptyString()] [string] $Uri)
    if ([string]::IsNullOrWhiteSpace($Uri)) { return $true }
    $parsed = $null
    return [System.Uri]::TryCreate($Uri, [System.UriKind]::Absolute, [ref] $parsed) -and $parsed.Scheme -in 'http', 'https'
}

function Format-Paragraph {
    # Get-Help breaks a line that is too long for the console at any character, even inside a word. So
    # each paragraph of a parameter description is re-wrapped at word boundaries to $Width columns,
    # which fit an 80-column console under the 8-space indent of Get-Help -Full. A line that starts a
    # list item keeps its own line.
    param([Parameter(Mandatory)] [AllowEmptyString()] [string] $Text, [int] $Width = 70)
    $logical = [System.Collections.Generic.List[string]]::new()
    foreach ($line in ($Text -split '\r?\n')) {
        $trimmed = $line.Trim()
        if ($logical.Count -eq 0 -or $trimmed -match '^(?:[-*+]|\d+\.)\s' -or $trimmed.Length -eq 0 -or $logical[-1].Length -eq 0) {
            $logical.Add($trimmed)
        }
        else {
            $logical[-1] = $logical[-1] + ' ' + $trimmed
        }
    }
    $wrapped = foreach ($line in $logical) {
        $current = ''
        foreach ($word in ($line -split ' ' | Where-Object { $_ })) {
            if ($current.Length -gt 0 -and $current.Length + 1 + $word.Length -gt $Width) {
                $current
                $current = $word
            }
            else {
                $current = if ($current.Length -gt 0) { "$current $word" } else { $word }
            }
        }
        $current
    }
    return ($wrapped -join "`n")
}

# WhatIf and Confirm are documented like the cmdlet's own parameters (platyPS v2 does so); the other
# common parameters are not.
$common = [System.Management.Automation.Cmdlet]::CommonParameters

$errors = [System.Collections.Generic.List[string]]::new()
$commandHelp = [System.Collections.Generic.List[object]]::new()
foreach ($page in $pages) {
    $help = Import-MarkdownCommandHelp -LiteralPath $page.FullName
    foreach ($message in @($help.Diagnostics.Messages)) {
        $severity = "$($message.Severity)"
        if ($severity -eq 'Error') {
            $errors.Add((Format-Diagnostic -Page $page.Name -Message $message))
        }
        elseif ($severity -eq 'Warning') {
            Write-Output (Format-Diagnostic -Page $page.Name -Message $message)
        }
    }

    $command = Get-Command -Name $page.BaseName -Module $qfex.Name
    $read = @{}
    foreach ($parameter in $help.Parameters) { $read[$parameter.Name] = $parameter }
    foreach ($name in $command.Parameters.Keys) {
        if ($name -in $common) { continue }
        if (-not $read.ContainsKey($name)) {
            $errors.Add("$($page.Name): -$name is not in the help platyPS read from the page (no '### -$name' entry, or its YAML block does not parse).")
            continue
        }
        if ([string]::IsNullOrWhiteSpace($read[$name].Description)) {
            $errors.Add("$($page.Name): -$name has no description.")
        }
        if ([string]::IsNullOrWhiteSpace($read[$name].DefaultValue)) {
            $errors.Add("$($page.Name): -$name has no DefaultValue (write None when it has none).")
        }
    }
    foreach ($name in $read.Keys) {
        if (-not $command.Parameters.ContainsKey($name)) {
            $errors.Add("$($page.Name): documents -$name, which $($command.Name) does not have.")
        }
    }
    if (-not (Test-OnlineUri -Uri $help.OnlineVersionUrl)) {
        $errors.Add("$($page.Name): HelpUri '$($help.OnlineVersionUrl)' is not an absolute http(s) URI; leave it '' when there is no online page.")
    }
    foreach ($link in $help.RelatedLinks) {
        if (-not (Test-OnlineUri -Uri $link.Uri)) {
            $errors.Add("$($page.Name): the related link [$($link.LinkText)]($($link.Uri)) is not an absolute http(s) URI, so Get-Help -Online would fail on it; write [$($link.LinkText)]() instead.")
        }
    }
    $commandHelp.Add($help)
}
if ($errors.Count -gt 0) {
    $errors | ForEach-Object { Write-Output $_ }
    throw "The help in docs/ has $($errors.Count) error(s) (listed above)."
}

$staging = Join-Path ([System.IO.Path]::GetTempPath()) ('QfexMaml-' + [guid]::NewGuid().ToString('N'))
try {
    # Export-MamlCommandHelp writes <OutputFolder>/<module name>/<external help file>; find it wherever it lands.
    $null = $commandHelp | Export-MamlCommandHelp -OutputFolder $staging -Force
    $maml = @(Get-ChildItem -LiteralPath $staging -Filter '*-Help.xml' -File -Recurse)
    if ($maml.Count -ne 1) {
        throw "Expected one MAML file under $staging, found $($maml.Count): $($maml.FullName -join ', ')"
    }
    $xml = [System.Xml.XmlDocument]::new()
    $xml.PreserveWhitespace = $true
    $xml.Load($maml[0].FullName)
}
finally {
    if (Test-Path -LiteralPath $staging) { Remove-Item -LiteralPath $staging -Recurse -Force }
}

$ns = [System.Xml.XmlNamespaceManager]::new($xml.NameTable)
$ns.AddNamespace('maml', 'http://schemas.microsoft.com/maml/2004/10')
$ns.AddNamespace('command', 'http://schemas.microsoft.com/maml/dev/command/2004/10')
$ns.AddNamespace('dev', 'http://schemas.microsoft.com/maml/dev/2004/10')
$ns.AddNamespace('msh', 'http://msh')
$byName = @{}
foreach ($help in $commandHelp) { $byName[$help.Title] = $help }

foreach ($commandNode in $xml.SelectNodes('/msh:helpItems/command:command', $ns)) {
    $name = $commandNode.SelectSingleNode('command:details/command:name', $ns).InnerText.Trim()
    $help = $byName[$name]
    if ($null -eq $help) { throw "The MAML documents '$name', which no page in docs/ is for." }

    foreach ($parameterNode in $commandNode.SelectNodes('command:parameters/command:parameter', $ns)) {
        $parameterName = $parameterNode.SelectSingleNode('maml:name', $ns).InnerText.Trim()
        $parameter = $help.Parameters | Where-Object { $_.Name -eq $parameterName } | Select-Object -First 1
        if ($null -eq $parameter) { throw "${name}: the MAML has a parameter -$parameterName that the page does not document." }

        # <dev:defaultValue> follows <dev:type>, as in the MAML schema.
        foreach ($old in @($parameterNode.SelectNodes('dev:defaultValue', $ns))) { $null = $parameterNode.RemoveChild($old) }
        $default = $xml.CreateElement('dev', 'defaultValue', 'http://schemas.microsoft.com/maml/dev/2004/10')
        $default.InnerText = $parameter.DefaultValue
        $type = $parameterNode.SelectSingleNode('dev:type', $ns)
        if ($type) { $null = $parameterNode.InsertAfter($default, $type) } else { $null = $parameterNode.AppendChild($default) }

        foreach ($para in $parameterNode.SelectNodes('maml:description/maml:para', $ns)) {
            $para.InnerText = Format-Paragraph -Text $para.InnerText
        }
    }

    # platyPS adds an "Online Version" link even when the page has no HelpUri: drop it when it is empty.
    foreach ($link in @($commandNode.SelectNodes('command:relatedLinks/maml:navigationLink', $ns))) {
        $uri = $link.SelectSingleNode('maml:uri', $ns)
        if ($link.SelectSingleNode('maml:linkText', $ns).InnerText.Trim() -eq 'Online Version' -and ($null -eq $uri -or [string]::IsNullOrWhiteSpace($uri.InnerText))) {
            $null = $link.ParentNode.RemoveChild($link)
        }
    }
}

$null = New-Item -ItemType Directory -Path $helpDirectory -Force
$target = Join-Path $helpDirectory 'Qfex.dll-Help.xml'
$writer = [System.IO.StreamWriter]::new($target, $false, [System.Text.UTF8Encoding]::new($false))
try { $xml.Save($writer) } finally { $writer.Dispose() }
Copy-Item -LiteralPath (Join-Path $DocsDirectory 'about_Qfex.help.txt') -Destination (Join-Path $helpDirectory 'about_Qfex.help.txt') -Force

$commands = $xml.SelectNodes('/msh:helpItems/command:command', $ns).Count
if ($commands -ne $exported.Count) {
    throw "$target documents $commands commands; the module exports $($exported.Count)."
}
Write-Output "Wrote $target ($commands commands) and about_Qfex.help.txt"
