@{
    RootModule           = 'Qfex.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5f0d3c52-8d7e-4b8a-9a51-2f8c6f1d7a31'
    Author               = 'Qfex contributors'
    CompanyName          = 'Qfex'
    Copyright            = '(c) Qfex contributors. MIT License.'
    Description          = 'Drive the QFEX exchange''s WebSocket APIs (trade and market data) from PowerShell: sessions, orders, frames, and exchange error frames as rich ErrorRecords. Includes a fake exchange for runbook tests.'
    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Desktop', 'Core')
    DotNetFrameworkVersion = '4.7.2'
    # Loaded before the types file, which names the echo's adapter from it.
    RequiredAssemblies   = @('Qfex.Protocol.dll')
    TypesToProcess       = @('Qfex.types.ps1xml')
    FormatsToProcess     = @('Qfex.format.ps1xml')
    CmdletsToExport      = @(
        'Connect-Qfex'
        'Disconnect-Qfex'
        'Get-QfexSession'
        'Send-QfexMessage'
        'Receive-QfexFrame'
        'Get-QfexErrorAdvice'
        'New-QfexErrorRecord'
        'Start-QfexTestServer'
        'Stop-QfexTestServer'
        'New-QfexFrame'
        'New-QfexTestSession'
        'Wait-QfexSession'
        'New-QfexOrder'
        'Get-QfexOrder'
        'Set-QfexOrder'
        'Stop-QfexOrder'
        'Get-QfexTrade'
        'Close-QfexPosition'
        'Get-QfexLeverage'
        'Set-QfexLeverage'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('QFEX', 'exchange', 'trading', 'websocket', 'ErrorRecord', 'Pester', 'PSEdition_Desktop', 'PSEdition_Core', 'Windows', 'Linux', 'MacOS')
            ProjectUri   = 'https://github.com/qfex-powershell/Qfex'
            LicenseUri   = 'https://github.com/qfex-powershell/Qfex/blob/main/LICENSE'
            ReleaseNotes = '0.1.0, the first release: sessions with HMAC or JWT auth, Send-QfexMessage with validation and -Wait, typed trading cmdlets (New-, Get-, Set-, Stop-QfexOrder, Get-QfexTrade, Close-QfexPosition, Get-/Set-QfexLeverage) whose objects pipe into each other, Receive-QfexFrame, error frames as ErrorRecords (the console shows the exchange''s code before its message), Get-QfexErrorAdvice, New-QfexErrorRecord and a fake exchange for runbook tests; help for every cmdlet; default views that fit 80 columns. All changes: https://github.com/qfex-powershell/Qfex/blob/main/CHANGELOG.md'
        }
    }
}
