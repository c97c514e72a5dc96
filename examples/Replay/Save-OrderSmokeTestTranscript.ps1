<#
.SYNOPSIS
    Records Invoke-OrderSmokeTest.ps1 into the transcript its Pester test replays.

.DESCRIPTION
    Runs the runbook once on a session opened with Connect-Qfex -RecordPath, which writes every frame sent and
    received (secrets masked) to a JSON Lines transcript. Without -Credential it runs against the fake exchange
    (Start-QfexTestServer) standing in for UAT; with a UAT API key it records the real UAT exchange. Commit the
    transcript beside the test; record it again when the runbook is meant to change what it sends.

.EXAMPLE
    ./Save-OrderSmokeTestTranscript.ps1
    Records against the fake exchange into Invoke-OrderSmokeTest.transcript.jsonl.

.EXAMPLE
    ./Save-OrderSmokeTestTranscript.ps1 -Credential (Get-Secret QfexUat)
    Records against UAT (wss://trade.qfex.io): a real order is placed and cancelled there.
#>
[CmdletBinding()]
param(
    [string] $Path = (Join-Path $PSScriptRoot 'Invoke-OrderSmokeTest.transcript.jsonl'),
    # A UAT API key (user name: public key, password: secret key): record UAT instead of the fake exchange.
    [pscredential] $Credential
)

$ErrorActionPreference = 'Stop'
$server = $null
if ($Credential) {
    $connect = @{ Environment = 'Uat'; Credential = $Credential }
}
else {
    $server = Start-QfexTestServer
    $connect = @{ Uri = $server.Uri; Credential = $server.Credential }
}
try {
    $session = Connect-Qfex @connect -Subscribe order_responses -RecordPath $Path
    try {
        & (Join-Path $PSScriptRoot 'Invoke-OrderSmokeTest.ps1') -Session $session -Symbol AAPL-USD -Quantity 1 -Price 200 -ClientOrderId smoke-aapl-1
    }
    finally {
        Disconnect-Qfex -Session $session
    }
}
finally {
    if ($server) { Stop-QfexTestServer -Server $server }
}
Get-Item -LiteralPath $Path
