# What a console user sees: the module's default views rendered at 80 columns (Out-String -Width 80)
# from real objects made against the fake exchange, and the default error view (ConciseView) of an
# error-frame record. Run with: pwsh ./build.ps1 -Task Test

BeforeAll {
    $manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../../out/Qfex/Qfex.psd1" }
    Import-Module -Name $manifest -Force

    $script:order = @{
        symbol              = 'AAPL-USD'
        side                = 'BUY'
        order_type          = 'LIMIT'
        order_time_in_force = 'GTC'
        quantity            = 1
        price               = 200.0
        client_order_id     = 'views-0001'
    }

    # A table as the console shows it: the header line, and each row cut into cells. A column starts where
    # its dashes start (the first column at the line's start: it may be right-aligned) and ends where the
    # next one starts; the last runs to the end of the line.
    # The words of each row of a table (its lines below the dashes): for tables whose values have no spaces, but
    # whose right-aligned numbers may reach left of their column's header.
    function Get-TableRowWord {
        param([Parameter(Mandatory)] $Table)
        $dash = [array]::FindIndex([string[]] $Table.Lines, [Predicate[string]] { param($line) $line -match '-' -and $line -match '^[\s-]+$' })
        foreach ($line in $Table.Lines[($dash + 1)..($Table.Lines.Count - 1)]) {
            if ($line.Trim()) { [pscustomobject]@{ Words = @($line.Trim() -split '\s+') } }
        }
    }

    function ConvertFrom-TableText {
        param([Parameter(Mandatory)] [string] $Text)
        $lines = @($Text -split '\r?\n')
        $dashIndex = -1
        for ($i = 0; $i -lt $lines.Count; $i++) {
            if ($lines[$i] -match '-' -and $lines[$i] -match '^[\s-]+$') { $dashIndex = $i; break }
        }
        if ($dashIndex -lt 1) { throw "No table header in:`n$Text" }
        $starts = @([regex]::Matches($lines[$dashIndex], '-+') | ForEach-Object { $_.Index })
        $starts[0] = 0
        $cut = {
            param([string] $Line)
            for ($c = 0; $c -lt $starts.Count; $c++) {
                $start = $starts[$c]
                if ($Line.Length -le $start) { ''; continue }
                $end = if ($c -eq $starts.Count - 1) { $Line.Length } else { [Math]::Min($starts[$c + 1], $Line.Length) }
                $Line.Substring($start, $end - $start).Trim()
            }
        }
        $headerLines = @($lines[0..($dashIndex - 1)] | Where-Object { $_.Trim() })
        $header = @(& $cut $headerLines[-1])
        $rows = foreach ($line in $lines[($dashIndex + 1)..($lines.Count - 1)]) {
            if (-not $line.Trim()) { continue }
            $cells = @(& $cut $line)
            $row = [ordered]@{}
            for ($c = 0; $c -lt $header.Count; $c++) { $row[$header[$c]] = $cells[$c] }
            [pscustomobject] $row
        }
        [pscustomobject]@{
            HeaderLineCount = $headerLines.Count
            Header          = $header
            Rows            = @($rows)
            Lines           = $lines
        }
    }
}

Describe 'Default views at 80 columns' {
    BeforeAll {
        $script:server = Start-QfexTestServer
        $script:session = Connect-Qfex -Uri $script:server.Uri -Credential $script:server.Credential -Subscribe order_responses, positions
        $script:marketData = Connect-Qfex -Uri $script:server.MarketDataUri -Endpoint MarketData
        $script:answer = Send-QfexMessage -Session $script:session -Type add_order -Params $script:order -Wait
        $script:subscribed = @(Receive-QfexFrame -Session $script:session -Type subscribed -Count 2 -TimeoutSec 5)
    }

    AfterAll {
        Get-QfexSession | Disconnect-Qfex
        Stop-QfexTestServer -Server $script:server
    }

    Context 'Qfex.QfexSession' {
        BeforeAll {
            $script:sessionTable = ConvertFrom-TableText -Text (Get-QfexSession | Out-String -Width 80)
        }

        It 'has a one-line header that fits 80 columns' {
            $script:sessionTable.HeaderLineCount | Should -Be 1
            $script:sessionTable.Header -join ',' | Should -Be 'Id,State,Endpoint,Uri,Subscriptions'
            $script:sessionTable.Lines | Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
        }

        It 'shows id, state, endpoint, host:port and the subscriptions uncut' {
            $row = $script:sessionTable.Rows | Where-Object Id -eq "$($script:session.Id)"
            $row.State | Should -Be 'Open'
            $row.Endpoint | Should -Be 'Trade'
            $row.Uri | Should -Be "ws://127.0.0.1:$($script:server.Port)"
            $row.Subscriptions | Should -Be '2: order_responses, positions'
            # No cell of the table is cut (a cut cell ends with an ellipsis).
            ($script:sessionTable.Rows | ForEach-Object { $_.PSObject.Properties.Value }) -join "`n" | Should -Not -Match ([regex]::Escape([string][char]0x2026))
        }

        It 'shows a market-data session with no subscriptions as 0' {
            $row = $script:sessionTable.Rows | Where-Object Id -eq "$($script:marketData.Id)"
            $row.Endpoint | Should -Be 'MarketData'
            $row.Uri | Should -Be "ws://127.0.0.1:$($script:server.Port)"
            $row.Subscriptions | Should -Be '0'
        }

        It 'keeps every property reachable with Format-List *' {
            $list = $script:session | Format-List * | Out-String -Width 80
            foreach ($name in 'Id', 'Uri', 'Endpoint', 'AccountId', 'State', 'IsAuthenticated', 'ConnectedAt', 'FramesReceived', 'FramesPending', 'Subscriptions', 'Reconnects') {
                $list | Should -Match "(?m)^$name\s+:"
            }
            $list | Should -Match 'api_key='
        }
    }

    Context 'Qfex.QfexFrame' {
        BeforeAll {
            $script:frames = @($script:subscribed) + $script:answer
            $script:frameTable = ConvertFrom-TableText -Text ($script:frames | Out-String -Width 80)
        }

        It 'has a one-line header that fits 80 columns' {
            $script:frameTable.HeaderLineCount | Should -Be 1
            $script:frameTable.Header -join ',' | Should -Be 'Sequence,ReceivedAt,Type,Data'
            $script:frameTable.Lines | Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
        }

        It 'shows each sequence number and type uncut, and the data without its type wrapper' {
            $script:frameTable.Rows.Count | Should -Be $script:frames.Count
            for ($i = 0; $i -lt $script:frames.Count; $i++) {
                $script:frameTable.Rows[$i].Sequence | Should -Be "$($script:frames[$i].Sequence)"
                $script:frameTable.Rows[$i].Type | Should -Be $script:frames[$i].Type
                $script:frameTable.Rows[$i].ReceivedAt | Should -Be $script:frames[$i].ReceivedAt.ToString('HH:mm:ss.fff', [System.Globalization.CultureInfo]::InvariantCulture)
            }
            $script:frameTable.Rows[0].Data | Should -Be '"order_responses"'
            $script:frameTable.Rows[-1].Data | Should -BeLike '{"order_id":*'
        }
    }

    Context 'Qfex.QfexErrorAdvice' {
        BeforeAll {
            $script:advice = @(Get-QfexErrorAdvice)
            $script:adviceTable = ConvertFrom-TableText -Text ($script:advice | Out-String -Width 80)
        }

        It 'has a one-line header that fits 80 columns' {
            $script:adviceTable.HeaderLineCount | Should -Be 1
            $script:adviceTable.Header -join ',' | Should -Be 'Code,Category,Action'
            $script:adviceTable.Lines | Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
        }

        It 'shows every known code, category and action uncut' {
            $script:adviceTable.Rows.Count | Should -Be $script:advice.Count
            for ($i = 0; $i -lt $script:advice.Count; $i++) {
                $script:adviceTable.Rows[$i].Code | Should -Be $script:advice[$i].Code
                $script:adviceTable.Rows[$i].Category | Should -Be "$($script:advice[$i].Category)"
                $script:adviceTable.Rows[$i].Action | Should -Be "$($script:advice[$i].Action)"
            }
        }

        It 'shows the rest of the advice with Format-List' {
            $list = Get-QfexErrorAdvice -Code RateLimited | Format-List | Out-String -Width 80
            foreach ($name in 'Code', 'Known', 'Category', 'Retryable', 'RetryAfter', 'Action', 'Meaning', 'RecommendedAction') {
                $list | Should -Match "(?m)^$name\s+:"
            }
            @($list -split '\r?\n' | Where-Object { $_.Length -gt 80 }) | Should -BeNullOrEmpty
        }
    }

    Context 'Qfex.QfexOrder, Qfex.QfexTrade and Qfex.QfexLeverage' {
        BeforeAll {
            $script:orders = @(
                New-QfexOrder -Session $script:session -Symbol AAPL-USD -Side Buy -OrderType Limit -Quantity 1 -Price 200.5
                New-QfexOrder -Session $script:session -Symbol US500-USD -Side Sell -OrderType TakeProfit -Quantity 0.001 -Price 123456.25
                New-QfexOrder -Session $script:session -Symbol MSFT-USD -Side Buy -OrderType Market -Quantity 12345.5
            )
            $script:orderTable = ConvertFrom-TableText -Text ($script:orders | Out-String -Width 80)
            $script:trades = @(Get-QfexTrade -Session $script:session)
            $script:tradeTable = ConvertFrom-TableText -Text ($script:trades | Out-String -Width 80)
            $null = Set-QfexLeverage -Session $script:session -Symbol NVDA-USD -Leverage 20
            $script:levels = @(Get-QfexLeverage -Session $script:session)
            $script:leverageTable = ConvertFrom-TableText -Text ($script:levels | Out-String -Width 80)
        }

        It 'shows orders on a one-line header that fits 80 columns, every value uncut' {
            $script:orderTable.HeaderLineCount | Should -Be 1
            $script:orderTable.Header -join ',' | Should -Be 'Symbol,Side,OrderType,Quantity,Remaining,Price,TIF,Status'
            $script:orderTable.Lines | Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
            # Numbers are right-aligned and may reach left of their header: a row is read by its words (no value has a space).
            $rows = @(Get-TableRowWord -Table $script:orderTable)
            $rows.Count | Should -Be 3
            for ($i = 0; $i -lt 3; $i++) {
                $order = $script:orders[$i]
                $rows[$i].Words -join ' ' | Should -BeExactly (($order.Symbol, $order.Side, $order.OrderType, $order.Quantity, $order.QuantityRemaining, $order.Price, $order.TimeInForce, $order.Status) -join ' ')
            }
            $rows[1].Words -join ' ' | Should -BeExactly 'US500-USD Sell TakeProfit 0.001 0.001 123456.25 Gtc Ack'
            $rows[2].Words[6] | Should -Be 'Ioc'
        }

        It 'keeps every property of an order reachable with Format-List' {
            $list = $script:orders[0] | Format-List | Out-String -Width 80
            foreach ($name in 'OrderId', 'ClientOrderId', 'Symbol', 'Side', 'OrderType', 'TimeInForce', 'Quantity', 'QuantityRemaining', 'Price', 'TakeProfit', 'StopLoss', 'Status', 'UpdatedAt', 'SessionId', 'Frame') {
                $list | Should -Match "(?m)^$name\s+:"
            }
            $list | Should -Not -Match '(?m)^Session\s+:'
            @($list -split '\r?\n' | Where-Object { $_.Length -gt 80 }) | Should -BeNullOrEmpty
        }

        It 'shows trades on a one-line header that fits 80 columns' {
            $script:tradeTable.HeaderLineCount | Should -Be 1
            $script:tradeTable.Header -join ',' | Should -Be 'Symbol,Side,Quantity,Price,Fee,OrderType,ExecutedAt'
            $script:tradeTable.Lines | Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
            $trade = $script:trades[0]
            @(Get-TableRowWord -Table $script:tradeTable)[0].Words -join ' ' | Should -BeExactly (($trade.Symbol, $trade.Side, $trade.Quantity, $trade.Price, $trade.Fee, $trade.OrderType,
                    $trade.ExecutedAt.ToString('yyyy-MM-dd HH:mm:ss', [System.Globalization.CultureInfo]::InvariantCulture)) -join ' ')
            $trade.Quantity | Should -Be 12345.5
        }

        It 'shows leverage settings on a one-line header that fits 80 columns' {
            $script:leverageTable.HeaderLineCount | Should -Be 1
            $script:leverageTable.Header -join ',' | Should -Be 'Symbol,Leverage,InitialMargin,MaintenanceMargin,MaxNotional'
            $script:leverageTable.Lines | Where-Object { $_.Length -gt 80 } | Should -BeNullOrEmpty
            @(Get-TableRowWord -Table $script:leverageTable)[0].Words -join ' ' | Should -BeExactly 'NVDA-USD 20 0.05 0.025 1000000'
        }
    }

    Context 'Qfex.QfexTestServer' {
        It 'shows the server''s whole address on a one-line header' {
            $table = ConvertFrom-TableText -Text ($script:server | Out-String -Width 80)
            $table.HeaderLineCount | Should -Be 1
            $table.Header -join ',' | Should -Be 'Uri,IsRunning,ConnectionCount'
            $table.Rows[0].Uri | Should -Be $script:server.Uri.ToString()
            $table.Rows[0].IsRunning | Should -Be 'True'
        }
    }

    Context 'The exception list views' {
        It 'shows <Code> as <Label> with its category and action, within 80 columns' -ForEach @(
            @{ Code = 'RateLimited'; Label = 'ErrorCode'; Action = 'Backoff' }
            @{ Code = 'FAILED_MARGIN_CHECK'; Label = 'ErrorCode'; Action = 'ReviewOrder' }
        ) {
            $exception = (New-QfexErrorRecord -Code $Code).Exception
            $text = $exception | Out-String -Width 80
            @($text -split '\r?\n' | Where-Object { $_.Length -gt 80 }) | Should -BeNullOrEmpty
            $text | Should -Match "(?m)^$Label\s+: $Code\s*$"
            $text | Should -Match "(?m)^Category\s+: $($exception.Category)\s*$"
            $text | Should -Match "(?m)^Action\s+: $Action\s*$"
        }

        It 'shows a module-side exception with its ErrorId and whole message' {
            $failure = $null
            try { Connect-Qfex -ErrorAction Stop } catch { $failure = $_ }
            $failure.Exception | Should -BeOfType Qfex.QfexException
            $text = $failure.Exception | Out-String -Width 80
            @($text -split '\r?\n' | Where-Object { $_.Length -gt 80 }) | Should -BeNullOrEmpty
            $text | Should -Match "(?m)^ErrorId\s+: $($failure.Exception.ErrorId)\s*$"
            # The list view wraps a long message onto indented lines: nothing of it is cut.
            ($text -replace '\s', '') | Should -BeLike ('*' + [WildcardPattern]::Escape(($failure.Exception.Message -replace '\s', '')) + '*')
        }
    }
}

Describe 'The console error view (ConciseView) of an error frame' {
    BeforeAll {
        $script:server = Start-QfexTestServer -Respond @{ add_order = 'RateLimited' }
        $script:session = Connect-Qfex -Uri $script:server.Uri -Credential $script:server.Credential -Subscribe order_responses
        $script:savedErrorView = $global:ErrorView
        $global:ErrorView = 'ConciseView'
    }

    AfterAll {
        $global:ErrorView = $script:savedErrorView
        Disconnect-Qfex -Session $script:session
        Stop-QfexTestServer -Server $script:server
    }

    It 'shows the exchange''s code before its message' {
        Send-QfexMessage -Session $script:session -Type add_order -Params $script:order -Wait -MaxRetries 0 -ErrorAction SilentlyContinue
        $record = $Error[0]
        $record.FullyQualifiedErrorId | Should -BeLike 'RateLimited,*'
        $text = $record | Out-String -Width 80
        $text | Should -Match 'RateLimited: Too many requests\. Please retry after 200ms\.'
        $text | Should -Match 'Recommendation: '
        # The code leads ErrorDetails.Message; the exception keeps the server's text as sent.
        $record.ErrorDetails.Message | Should -BeExactly 'RateLimited: Too many requests. Please retry after 200ms.'
        $record.Exception.ServerMessage | Should -BeExactly 'Too many requests. Please retry after 200ms.'
    }

    It 'shows the same text for the record New-QfexErrorRecord makes, once thrown' {
        $made = New-QfexErrorRecord RateLimited
        try { throw $made } catch { $thrown = $_ }
        $thrown.ErrorDetails.Message | Should -BeExactly 'RateLimited: Too many requests. Please retry after 200ms.'
        $thrown | Out-String -Width 80 | Should -Match 'RateLimited: Too many requests\. Please retry after 200ms\.'
    }

    It 'shows the code when the exchange sent no message' {
        $null = Receive-QfexFrame -Session $script:session
        $script:server.Push('{"err":{"error_code":"InvalidOrder"}}')
        $null = Receive-QfexFrame -Session $script:session -Count 1 -TimeoutSec 5 -ErrorAction SilentlyContinue -ErrorVariable frameErrors
        $frameErrors[0].FullyQualifiedErrorId | Should -BeLike 'InvalidOrder,*'
        $frameErrors[0] | Out-String -Width 80 | Should -Match 'InvalidOrder: the exchange sent no message\.'
    }
}
