# Pester 5 tests of the module's MAML help (en-US/Qfex.dll-Help.xml, built from docs/ by platyPS v2) as
# Get-Help shows it in real pwsh, against what each exported cmdlet really has. Skipped when the module
# folder has no MAML help (the build makes it only when platyPS is on PSModulePath).

BeforeDiscovery {
    $manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../../out/Qfex/Qfex.psd1" }
    $discovered = Import-Module -Name $manifest -Force -PassThru
    $script:cmdlets = @($discovered.ExportedCmdlets.Keys | Sort-Object | ForEach-Object { @{ Name = $_ } })
}

BeforeAll {
    $manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../../out/Qfex/Qfex.psd1" }
    $module = Import-Module -Name $manifest -Force -PassThru
    $helpFile = Join-Path $module.ModuleBase 'en-US/Qfex.dll-Help.xml'
    $script:noHelp = if (Test-Path -LiteralPath $helpFile) { $null } else { "the module folder has no MAML help ($helpFile): platyPS v2 was not on PSModulePath when it was built" }

    # Documented like the cmdlet's own parameters: everything but the common parameters (WhatIf and
    # Confirm are documented, as platyPS v2 does).
    $script:common = [System.Management.Automation.Cmdlet]::CommonParameters

    function Get-OwnParameter {
        param([Parameter(Mandatory)] [System.Management.Automation.CommandInfo] $Command)
        @($Command.Parameters.Values | Where-Object { $_.Name -notin $common } | Sort-Object -Property Name)
    }

    function Get-DefaultProblem {
        # What is wrong with the default value Get-Help shows, or $null when it is right. The real default
        # is the value of the parameter's property on a fresh instance of the cmdlet class. A switch shows
        # False; an enum, a number and a non-empty string or array show exactly their value (an array as
        # 'a, b'); a number that is 0 may show None (0 means "not given" there). A parameter without a
        # value (null, empty, Guid.Empty) shows None or words, never a number or True/False.
        param([Parameter(Mandatory)] [System.Type] $CmdletType, [Parameter(Mandatory)] $Parameter, [AllowEmptyString()] [string] $Shown)
        if ([string]::IsNullOrWhiteSpace($Shown)) { return 'Get-Help shows no default value (the page must say None when there is none)' }
        $Shown = $Shown.Trim()
        $instance = [System.Activator]::CreateInstance($CmdletType)
        $property = $CmdletType.GetProperty($Parameter.Name)
        $real = if ($property) { $property.GetValue($instance) } else { $null }
        $type = if ($property) { $property.PropertyType } else { $Parameter.ParameterType }
        $type = if ([System.Nullable]::GetUnderlyingType($type)) { [System.Nullable]::GetUnderlyingType($type) } else { $type }
        $invariant = [cultureinfo]::InvariantCulture
        if ($type -eq [switch] -or $type -eq [bool]) {
            $expected = if ($real) { 'True' } else { 'False' }
            if ($Shown -ne $expected) { return "Get-Help shows '$Shown' but the switch is $expected when not given" }
            return $null
        }
        if ($type.IsEnum -and $null -ne $real) {
            if ($Shown -cne "$real") { return "Get-Help shows '$Shown' but the default is '$real'" }
            return $null
        }
        $number = 0.0
        $isNumber = [double]::TryParse($Shown, [System.Globalization.NumberStyles]::Float, $invariant, [ref] $number)
        if ($type.IsPrimitive -or $type -eq [decimal]) {
            $value = if ($null -eq $real) { 0.0 } else { [double] $real }
            if (($isNumber -and $number -eq $value) -or (-not $isNumber -and $value -eq 0 -and $Shown -eq 'None')) { return $null }
            return "Get-Help shows '$Shown' but the default is $([System.Convert]::ToString($real, $invariant))"
        }
        $actual = if ($null -eq $real) { $null }
        elseif ($real -is [string]) { if ($real.Length -gt 0) { $real } }
        elseif ($real -is [array]) { if ($real.Count -gt 0) { ($real | ForEach-Object { [System.Convert]::ToString($_, $invariant) }) -join ', ' } }
        elseif ($type.IsValueType -and $real.Equals([System.Activator]::CreateInstance($type))) { $null }
        else { [System.Convert]::ToString($real, $invariant) }
        if ($null -ne $actual) {
            if ($Shown -cne $actual) { return "Get-Help shows '$Shown' but the default is '$actual'" }
            return $null
        }
        if ($isNumber -or $Shown -in 'True', 'False') { return "Get-Help shows '$Shown' but the parameter has no default value" }
        return $null
    }

    function ConvertTo-PipelineInput {
        # Get-Help's "Accept pipeline input?" text for an engine parameter in one set.
        param([Parameter(Mandatory)] [System.Management.Automation.ParameterSetMetadata] $Set)
        $kinds = @(if ($Set.ValueFromPipeline) { 'ByValue' }; if ($Set.ValueFromPipelineByPropertyName) { 'ByPropertyName' })
        if ($kinds.Count -eq 0) { return 'false' }
        return "true ($($kinds -join ', '))"
    }

    function ConvertTo-Position {
        param([Parameter(Mandatory)] [int] $Position)
        if ($Position -eq [int]::MinValue) { return 'named' }
        return [string] $Position
    }
}

Describe 'Get-Help <Name>' -ForEach $script:cmdlets {
    BeforeAll {
        $script:command = Get-Command -Name $Name -Module Qfex
        $script:own = Get-OwnParameter -Command $command
        $script:help = Get-Help -Name $Name -Full
        $script:documented = @{}
        foreach ($parameter in @($help.parameters.parameter)) {
            if ($parameter) { $documented[$parameter.name] = $parameter }
        }
    }

    It 'comes from the MAML help, not from the syntax alone' {
        if ($noHelp) { Set-ItResult -Skipped -Because $noHelp }
        $help.ModuleName | Should -Be 'Qfex'
        "$($help.Synopsis)".Trim() | Should -Not -BeNullOrEmpty
        "$($help.Synopsis)".Trim() | Should -Not -BeLike "$Name *" -Because 'a synopsis that is the syntax means Get-Help found no help'
    }

    It 'documents every parameter the cmdlet has, and no other' {
        if ($noHelp) { Set-ItResult -Skipped -Because $noHelp }
        @($documented.Keys | Sort-Object) -join ', ' | Should -Be (@($own.Name | Sort-Object) -join ', ')
    }

    It 'finds each parameter with Get-Help -Parameter' {
        if ($noHelp) { Set-ItResult -Skipped -Because $noHelp }
        foreach ($parameter in $own) {
            $found = Get-Help -Name $Name -Parameter $parameter.Name -ErrorAction SilentlyContinue
            $found.name | Should -Be $parameter.Name -Because "Get-Help $Name -Parameter $($parameter.Name) must find it"
        }
    }

    It 'describes every parameter' {
        if ($noHelp) { Set-ItResult -Skipped -Because $noHelp }
        foreach ($parameter in $own) {
            $text = (@($documented[$parameter.Name].description) | ForEach-Object { $_.Text }) -join "`n"
            $text.Trim() | Should -Not -BeNullOrEmpty -Because "-$($parameter.Name) needs a description"
        }
    }

    It 'shows a default value for every parameter: the real one where the cmdlet has one' {
        if ($noHelp) { Set-ItResult -Skipped -Because $noHelp }
        $problems = @(foreach ($parameter in $own) {
                $problem = Get-DefaultProblem -CmdletType $command.ImplementingType -Parameter $parameter -Shown "$($documented[$parameter.Name].defaultValue)"
                if ($problem) { "-$($parameter.Name): $problem" }
            })
        $problems -join '; ' | Should -BeNullOrEmpty
    }

    It 'shows the type, whether it is required, its position and pipeline input as the engine has them' {
        if ($noHelp) { Set-ItResult -Skipped -Because $noHelp }
        foreach ($parameter in $own) {
            $doc = $documented[$parameter.Name]
            # A nullable parameter (no default: Connect-Qfex -Environment) is documented as its underlying type.
            $type = $parameter.ParameterType
            if ([System.Nullable]::GetUnderlyingType($type)) { $type = [System.Nullable]::GetUnderlyingType($type) }
            $doc.type.name | Should -Be $type.FullName -Because "the type of -$($parameter.Name)"
            # Get-Help has one entry per parameter: compare where the parameter is the same in all its sets.
            $sets = @($parameter.ParameterSets.Values)
            $required = @($sets | ForEach-Object { $_.IsMandatory } | Sort-Object -Unique)
            if ($required.Count -eq 1) { $doc.required | Should -Be ([string] $required[0]).ToLowerInvariant() -Because "-$($parameter.Name) required" }
            $positions = @($sets | ForEach-Object { ConvertTo-Position -Position $_.Position } | Sort-Object -Unique)
            if ($positions.Count -eq 1) { $doc.position | Should -Be $positions[0] -Because "-$($parameter.Name) position" }
            $pipeline = @($sets | ForEach-Object { ConvertTo-PipelineInput -Set $_ } | Sort-Object -Unique)
            if ($pipeline.Count -eq 1) { $doc.pipelineInput | Should -Be $pipeline[0] -Because "-$($parameter.Name) pipeline input" }
            $aliases = @($parameter.Aliases | Sort-Object)
            $shownAliases = if ($doc.aliases -and $doc.aliases -ne 'none') { @($doc.aliases -split ',\s*' | Sort-Object) } else { @() }
            ($shownAliases -join ', ') | Should -Be ($aliases -join ', ') -Because "the aliases of -$($parameter.Name)"
        }
    }

    It 'shows one syntax per parameter set, with exactly its parameters, required flags and positions' {
        if ($noHelp) { Set-ItResult -Skipped -Because $noHelp }
        $items = @($help.syntax.syntaxItem)
        $items.Count | Should -Be $command.ParameterSets.Count -Because "$Name has $($command.ParameterSets.Count) parameter set(s)"
        foreach ($set in $command.ParameterSets) {
            $names = @($set.Parameters | Where-Object { $_.Name -notin $common } | ForEach-Object { $_.Name } | Sort-Object)
            $item = @($items | Where-Object { (@($_.parameter | ForEach-Object { $_.name } | Sort-Object) -join ',') -eq ($names -join ',') })
            $item.Count | Should -Be 1 -Because "parameter set '$($set.Name)' ($($names -join ', ')) must have one syntax"
            foreach ($metadata in @($set.Parameters | Where-Object { $_.Name -notin $common })) {
                $shown = @($item[0].parameter | Where-Object { $_.name -eq $metadata.Name })[0]
                $shown.required | Should -Be ([string] $metadata.IsMandatory).ToLowerInvariant() -Because "-$($metadata.Name) in set '$($set.Name)' required"
                $shown.position | Should -Be (ConvertTo-Position -Position $metadata.Position) -Because "-$($metadata.Name) in set '$($set.Name)' position"
            }
        }
    }

    It 'claims no online link: -Online says no URI is given instead of failing on an invalid one' {
        if ($noHelp) { Set-ItResult -Skipped -Because $noHelp }
        foreach ($link in @($help.relatedLinks.navigationLink)) {
            if ($link -and "$($link.uri)".Trim()) {
                [System.Uri]::IsWellFormedUriString("$($link.uri)", [System.UriKind]::Absolute) | Should -BeTrue -Because "related link '$($link.linkText)' has the URI '$($link.uri)'"
            }
        }
        $failure = $null
        try { Get-Help -Name $Name -Online -ErrorAction Stop } catch { $failure = $_ }
        $failure | Should -Not -BeNullOrEmpty -Because 'no page has an online link, so -Online has nothing to open'
        $failure.Exception.Message | Should -BeLike '*URI*not specified*'
    }
}

Describe 'Get-Help about_Qfex' {
    It 'finds the about topic beside the module' {
        if ($noHelp) { Set-ItResult -Skipped -Because $noHelp }
        # An about topic comes back as its text; without the file, Get-Help would list search results.
        $about = Get-Help -Name about_Qfex
        $about | Should -BeOfType [string]
        $about | Should -Match '^TOPIC\s+about_Qfex\s'
    }
}
