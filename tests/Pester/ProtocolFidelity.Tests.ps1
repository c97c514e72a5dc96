# Issue 14 in real pwsh: what an ops engineer hits first, as a runbook sees it.

BeforeAll {
    $manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../../out/Qfex/Qfex.psd1" }
    Import-Module -Name $manifest -Force
    $script:server = Start-QfexTestServer
}

AfterAll {
    Get-QfexSession | Disconnect-Qfex
    Stop-QfexTestServer -Server $script:server
}

Describe 'Connect-Qfex has no default environment' {
    It 'fails before connecting with QfexNoEndpoint, showing both ways to choose' {
        $failure = $null
        try { Connect-Qfex -Credential $script:server.Credential -ErrorAction Stop } catch { $failure = $_ }
        $failure.FullyQualifiedErrorId | Should -BeLike 'QfexNoEndpoint,*'
        $failure.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $failure.Exception.Message | Should -BeLike '*-Environment Uat|Production*'
        $failure.Exception.Message.Contains("`$PSDefaultParameterValues['Connect-Qfex:Environment']") | Should -BeTrue
        @($script:server.Received).Count | Should -Be 0
    }

    It 'takes -Environment from $PSDefaultParameterValues' {
        $PSDefaultParameterValues['Connect-Qfex:Environment'] = 'Uat'
        try {
            { Connect-Qfex -Uri $script:server.Uri -Credential $script:server.Credential -ErrorAction Stop } |
                Should -Throw -ErrorId 'QfexConflictingParameters*'
        }
        finally { $PSDefaultParameterValues.Remove('Connect-Qfex:Environment') }
    }
}

Describe 'Connect-Qfex -Subscribe' {
    It 'fails before connecting on a channel of the other endpoint, naming the valid ones' {
        { Connect-Qfex -Uri $script:server.Uri -Credential $script:server.Credential -Subscribe order_responses, bbo -ErrorAction Stop } |
            Should -Throw -ExpectedMessage '*Its channels are order_responses, positions, balances, fills, stop_orders*'
    }

    It 'completes the channels of the -Endpoint on the line' {
        $line = 'Connect-Qfex -Endpoint MarketData -Subscribe '
        $offered = [System.Management.Automation.CommandCompletion]::CompleteInput($line, $line.Length, $null).CompletionMatches.CompletionText
        $offered | Should -Contain 'level2'
        $offered | Should -Not -Contain 'order_responses'
    }

    It 'fails with the exchange''s error when the exchange refuses the subscription' {
        $script:server.Respond['subscribe'] = 'PermissionDenied'
        try {
            { Connect-Qfex -Uri $script:server.Uri -Credential $script:server.Credential -Subscribe fills -ErrorAction Stop } |
                Should -Throw -ErrorId 'PermissionDenied,*'
        }
        finally { $script:server.Respond['subscribe'] = $null }
    }
}

Describe 'Market data mid-session' {
    BeforeAll {
        $script:md = Connect-Qfex -Uri $script:server.MarketDataUri -Endpoint MarketData -Subscribe candle -Symbol AAPL-USD -Interval 5mins
    }
    AfterAll { Disconnect-Qfex -Session $script:md }

    It 'subscribes with top-level fields and tracks intervals and sig_figs' {
        $answer = Send-QfexMessage -Session $script:md -Type subscribe -Params ([ordered]@{ channels = @('level2'); symbols = @('NVDA-USD'); sig_figs = @(2) }) -Wait
        $answer.Type | Should -Be 'subscribed'
        $script:md.Subscriptions | Should -Be @('candle:AAPL-USD:5MINS', 'level2:NVDA-USD:sig_figs=2')
        ($script:server.Received | Where-Object Type -eq subscribe | Select-Object -Last 1).Raw |
            Should -Be '{"type":"subscribe","channels":["level2"],"symbols":["NVDA-USD"],"sig_figs":[2]}'
    }

    It 'refuses an order on the market-data session before sending it' {
        { Send-QfexMessage -Session $script:md -Type add_order -Params @{ symbol = 'AAPL-USD' } -ErrorAction Stop } |
            Should -Throw -ErrorId 'QfexInvalidMessage,*'
    }
}

Describe 'Send-QfexMessage on a trade session' {
    BeforeAll {
        $script:session = Connect-Qfex -Uri $script:server.Uri -Credential $script:server.Credential -Subscribe order_responses
    }
    AfterAll { Disconnect-Qfex -Session $script:session }

    It 'warns about a mistyped type, naming the closest one, and still sends it' {
        $script:server.ClearReceived()
        Send-QfexMessage -Session $script:session -Type add_ordr -Params @{} -WarningVariable warned -WarningAction SilentlyContinue
        "$warned" | Should -BeLike '*did you mean add_order?*'
        # A barrier: the exchange handles a connection's messages in order, so once this is answered it has the first.
        $null = Send-QfexMessage -Session $script:session -Type get_user_trades -Wait
        @($script:server.Received | Where-Object Type -eq add_ordr).Count | Should -Be 1
    }

    It 'sends a request without params the same way on every input path' {
        $script:server.ClearReceived()
        $null = [pscustomobject]@{ Type = 'get_user_orders'; Session = $script:session } | Send-QfexMessage -Wait
        $null = Send-QfexMessage -Session $script:session -Message '{"type":"get_user_orders"}' -Wait
        $null = Send-QfexMessage -Session $script:session -Type get_user_orders -Wait
        $raw = @($script:server.Received | Where-Object Type -eq get_user_orders | ForEach-Object Raw)
        $raw.Count | Should -Be 3
        $raw | Select-Object -Unique | Should -Be '{"type":"get_user_orders","params":{}}'
    }

    It 'binds a piped session by its Session property' {
        (Get-QfexSession -Id $script:session.Id | Send-QfexMessage -Type get_user_trades -Wait).Type | Should -Be 'user_trades_response'
    }

    It 'refuses MARKET with GTC and accepts MARKET with price 0' {
        $market = @{ symbol = 'AAPL-USD'; side = 'BUY'; order_type = 'MARKET'; order_time_in_force = 'GTC'; quantity = 1; price = 0 }
        { Send-QfexMessage -Session $script:session -Type add_order -Params $market -ErrorAction Stop } | Should -Throw -ExpectedMessage '*cannot be GTC*'
        $market.order_time_in_force = 'IOC'
        (Send-QfexMessage -Session $script:session -Type add_order -Params $market -Wait).Data.order_response.status | Should -Be 'ACK'
    }
}
