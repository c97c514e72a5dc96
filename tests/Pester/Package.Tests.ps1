# The package the Package task makes, as a user gets it: build/New-Package.ps1 publishes the module folder
# under test into a temporary file repository, Qfex is installed from there into a temporary module path,
# and a fresh pwsh imports it by name and uses it against the fake exchange.
# Run with: pwsh ./build.ps1 -Task Test

BeforeAll {
    $manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../../out/Qfex/Qfex.psd1" }
    $script:moduleDirectory = Split-Path -Parent (Resolve-Path -LiteralPath $manifest).ProviderPath
    $script:version = (Import-PowerShellDataFile -LiteralPath $manifest).ModuleVersion
    $script:hasHelp = Test-Path -LiteralPath (Join-Path $script:moduleDirectory 'en-US/Qfex.dll-Help.xml') -PathType Leaf
    $script:work = Join-Path ([System.IO.Path]::GetTempPath()) ('QfexPackageTest-' + [guid]::NewGuid().ToString('N'))
    $script:repository = Join-Path $script:work 'repository'
    $script:modules = Join-Path $script:work 'Modules'
    $null = New-Item -ItemType Directory -Path $script:repository, $script:modules -Force

    # Runs a script in a new pwsh like this one (as build.ps1 does: the pwsh executable, or pwsh.dll under
    # dotnet when this is `dotnet pwsh`); returns its output as text lines, with the exit code.
    function Invoke-ChildPwsh {
        param(
            [Parameter(Mandatory)] [string] $File,
            [string[]] $ArgumentList = @()
        )
        $current = [System.Environment]::ProcessPath
        $command = @(
            if ([System.IO.Path]::GetFileNameWithoutExtension($current) -eq 'pwsh') { $current }
            elseif (Test-Path -LiteralPath (Join-Path $PSHOME 'pwsh') -PathType Leaf) { Join-Path $PSHOME 'pwsh' }
            elseif (Test-Path -LiteralPath (Join-Path $PSHOME 'pwsh.exe') -PathType Leaf) { Join-Path $PSHOME 'pwsh.exe' }
            else { $current; Join-Path $PSHOME 'pwsh.dll' }
        )
        $arguments = @($command | Select-Object -Skip 1) + @('-NoLogo', '-NoProfile', '-NonInteractive', '-OutputFormat', 'Text', '-File', $File) + $ArgumentList
        $output = & $command[0] @arguments 2>&1 | ForEach-Object { "$_" }
        [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = @($output) }
    }

    # 1. The package, made by the script the Package task runs.
    $packageArguments = @('-ModuleDirectory', $script:moduleDirectory, '-RepositoryDirectory', $script:repository)
    if (-not $script:hasHelp) { $packageArguments += '-AllowMissingHelp' }
    $script:packaging = Invoke-ChildPwsh -File (Join-Path $PSScriptRoot '../../build/New-Package.ps1') -ArgumentList $packageArguments
    $script:package = Join-Path $script:repository "Qfex.$($script:version).nupkg"

    # 2. Installed from that folder, registered as a repository for this step only.
    Import-Module -Name Microsoft.PowerShell.PSResourceGet
    $script:repositoryName = 'QfexPackageTest-' + [guid]::NewGuid().ToString('N')
    if ($script:packaging.ExitCode -eq 0) {
        Register-PSResourceRepository -Name $script:repositoryName -Uri $script:repository -Trusted
        try {
            Save-PSResource -Name Qfex -Version $script:version -Repository $script:repositoryName -Path $script:modules -TrustRepository
        }
        finally {
            Unregister-PSResourceRepository -Name $script:repositoryName
        }
    }

    # 3. A fresh pwsh with the temporary module path first: Import-Module by name, then a session.
    $usage = Join-Path $script:work 'Use-Qfex.ps1'
    $script:resultPath = Join-Path $script:work 'result.json'
    Set-Content -LiteralPath $usage -Encoding utf8 -Value @'
param([Parameter(Mandatory)] [string] $ResultPath)
$ErrorActionPreference = 'Stop'
$result = [ordered]@{}
Import-Module -Name Qfex
$module = Get-Module -Name Qfex
$result.ModuleBase = $module.ModuleBase
$result.Version = "$($module.Version)"
$server = Start-QfexTestServer
try {
    $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses
    $result.State = "$($session.State)"
    $order = @{ symbol = 'AAPL-USD'; side = 'BUY'; order_type = 'LIMIT'; order_time_in_force = 'GTC'; quantity = 1; price = 200.0; client_order_id = 'package-0001' }
    $answer = Send-QfexMessage -Session $session -Type add_order -Params $order -Wait
    $result.AnswerType = $answer.Type
    $result.AnswerStatus = "$($answer.Data.order_response.status)"
    Disconnect-Qfex -Session $session
    $result.StateAfterDisconnect = "$($session.State)"
}
finally {
    Stop-QfexTestServer -Server $server
}
$helpErrors = @()
$help = Get-Help -Name Connect-Qfex -Parameter Symbol -ErrorAction SilentlyContinue -ErrorVariable helpErrors
$result.SymbolHelpName = if ($help) { "$($help.name)" } else { $null }
$result.SymbolHelpDescription = if ($help) { (@($help.description) | ForEach-Object { $_.Text }) -join ' ' } else { $null }
$result.SymbolHelpError = if ($helpErrors) { "$($helpErrors[0])" } else { $null }
$result | ConvertTo-Json | Set-Content -LiteralPath $ResultPath -Encoding utf8
'@
    $savedModulePath = $env:PSModulePath
    try {
        $env:PSModulePath = $script:modules + [System.IO.Path]::PathSeparator + $savedModulePath
        $script:usage = Invoke-ChildPwsh -File $usage -ArgumentList @('-ResultPath', $script:resultPath)
    }
    finally {
        $env:PSModulePath = $savedModulePath
    }
    $script:result = if (Test-Path -LiteralPath $script:resultPath) { Get-Content -LiteralPath $script:resultPath -Raw | ConvertFrom-Json } else { $null }
}

AfterAll {
    if ($script:work -and (Test-Path -LiteralPath $script:work)) {
        Remove-Item -LiteralPath $script:work -Recurse -Force -ErrorAction SilentlyContinue
    }
}

Describe 'The Qfex package' {
    It 'is made by build/New-Package.ps1 into a local file repository' {
        $script:packaging.ExitCode | Should -Be 0 -Because ($script:packaging.Output -join [Environment]::NewLine)
        $script:package | Should -Exist
    }

    It 'holds the module the build laid out, with its MAML help when the build made it' {
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [System.IO.Compression.ZipFile]::OpenRead($script:package)
        try {
            $entries = @($zip.Entries | ForEach-Object { [System.Uri]::UnescapeDataString($_.FullName) })
        }
        finally {
            $zip.Dispose()
        }
        $entries | Should -Contain 'Qfex.psd1'
        $entries | Should -Contain 'Qfex.dll'
        $entries | Should -Contain 'Qfex.format.ps1xml'
        if ($script:hasHelp) { $entries | Should -Contain 'en-US/Qfex.dll-Help.xml' }
    }

    It 'leaves no repository registered' {
        @(Get-PSResourceRepository | Where-Object { $_.Name -eq $script:repositoryName -or $_.Uri.IsFile -and $_.Uri.LocalPath.TrimEnd('/', '\') -eq $script:repository.TrimEnd('/', '\') }) |
            Should -BeNullOrEmpty
    }

    It 'installs from that repository into a module path' {
        Join-Path $script:modules "Qfex/$($script:version)/Qfex.psd1" | Should -Exist
    }

    It 'imports by name in a fresh pwsh, from the installed copy' {
        $script:usage.ExitCode | Should -Be 0 -Because ($script:usage.Output -join [Environment]::NewLine)
        $script:result.ModuleBase | Should -BeLike "$($script:modules)*"
        $script:result.Version | Should -Be $script:version
    }

    It 'connects to the fake exchange, answers add_order -Wait and disconnects' {
        $script:result.State | Should -Be 'Open'
        $script:result.AnswerType | Should -Be 'order_response'
        $script:result.AnswerStatus | Should -Be 'ACK'
        $script:result.StateAfterDisconnect | Should -Be 'Closed'
    }

    It 'documents Connect-Qfex -Symbol in Get-Help' {
        if (-not $script:hasHelp) {
            Set-ItResult -Skipped -Because 'the module folder under test has no MAML help (platyPS v2 was not on PSModulePath when it was built)'
            return
        }
        $script:result.SymbolHelpError | Should -BeNullOrEmpty
        $script:result.SymbolHelpName | Should -Be 'Symbol'
        $script:result.SymbolHelpDescription | Should -Not -BeNullOrEmpty
    }
}
