<#
.SYNOPSIS
    The Demo task's tour of Qfex against the fake exchange (run by build.ps1 in a child pwsh).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModuleManifest
)

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
