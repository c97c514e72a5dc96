# The runbook's regression test: Invoke-OrderSmokeTest.ps1 against a replay of the session recorded by
# Save-OrderSmokeTestTranscript.ps1 (Invoke-OrderSmokeTest.transcript.jsonl). The replay answers each request
# with what the exchange answered then, so the test sees the exchange's real frames; a request the recording
# lacks (the runbook changed what it sends) gets a ReplayUnmatched error and is listed on the server.
# Run with: pwsh ./build.ps1 -Task Test

BeforeAll {
    $manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../../out/Qfex/Qfex.psd1" }
    Import-Module -Name $manifest -Force
    $script:runbook = Join-Path $PSScriptRoot 'Invoke-OrderSmokeTest.ps1'
    $script:transcript = Join-Path $PSScriptRoot 'Invoke-OrderSmokeTest.transcript.jsonl'
    $script:arguments = @{ Symbol = 'AAPL-USD'; Quantity = 1; Price = 200; ClientOrderId = 'smoke-aapl-1' }
}

Describe 'Invoke-OrderSmokeTest.ps1 replayed from its recorded session' {
    BeforeEach {
        $script:server = Start-QfexTestServer -Replay $transcript -NoPacing
        $script:session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses
    }

    AfterEach {
        Disconnect-Qfex -Session $session
        Stop-QfexTestServer -Server $server
    }

    It 'places the order, sees it rest, cancels it: every request was in the recording' {
        $result = & $runbook -Session $session @arguments
        $result.Placed | Should -Be 'ACK'
        $result.Rested | Should -BeTrue
        $result.Cancelled | Should -Be 'CANCELLED'
        $server.Replay.Unmatched | Should -BeNullOrEmpty
        $server.Replay.Unused | Should -BeNullOrEmpty
    }

    It 'fails loudly once the runbook changes the order it sends' {
        # The same runbook, edited to sell instead of buy: the test of that edit fails like this.
        $changed = Join-Path $TestDrive 'Invoke-OrderSmokeTest.ps1'
        (Get-Content -LiteralPath $runbook -Raw) -replace "side\s+=\s+'BUY'", "side = 'SELL'" | Set-Content -LiteralPath $changed
        { & $changed -Session $session @arguments } | Should -Throw -ErrorId 'ReplayUnmatched*'
        $server.Replay.Unmatched.Type | Should -Be 'add_order'
        $server.Replay.Unmatched.Reason | Should -BeLike "*side 'SELL' (recorded 'BUY')*"
    }

    It 'fails loudly once the runbook is called with another quantity' {
        $other = $arguments.Clone()
        $other.Quantity = 2
        { & $runbook -Session $session @other } | Should -Throw -ErrorId 'ReplayUnmatched*'
        $server.Replay.Unmatched.Reason | Should -BeLike '*quantity 2 (recorded 1)*'
    }
}

Describe 'Save-OrderSmokeTestTranscript.ps1' {
    It 'records a transcript against the fake exchange that replays the runbook' {
        $path = Join-Path $TestDrive 'smoke.jsonl'
        & (Join-Path $PSScriptRoot 'Save-OrderSmokeTestTranscript.ps1') -Path $path | Out-Null
        $lines = @(Get-Content -LiteralPath $path | ConvertFrom-Json)
        $lines[0].format | Should -Be 'qfex-transcript'
        @($lines | Where-Object { $_.kind -eq 'frame' -and $_.dir -eq 'sent' -and $_.role -eq 'request' }).type |
            Should -Be @('add_order', 'get_user_orders', 'cancel_order')

        $replay = Start-QfexTestServer -Replay $path -NoPacing
        try {
            $replayed = Connect-Qfex -Uri $replay.Uri -Credential $replay.Credential -Subscribe order_responses
            (& $runbook -Session $replayed @arguments).Cancelled | Should -Be 'CANCELLED'
            $replay.Replay.Unmatched | Should -BeNullOrEmpty
            Disconnect-Qfex -Session $replayed
        }
        finally {
            Stop-QfexTestServer -Server $replay
        }
    }
}
