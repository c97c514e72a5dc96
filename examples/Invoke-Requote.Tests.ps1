# Pester 5 tests of the Invoke-Requote runbook step (Invoke-Requote.ps1 beside this file) against the fake
# exchange. build.ps1 -Task Test runs them with the module it built.

[Diagnostics.CodeAnalysis.SuppressMessageAttribute('PSUseDeclaredVarsMoreThanAssignments', '',
    Justification = 'Pester shares the variables that BeforeAll sets with the It blocks, which the analyzer does not see.')]
param()

BeforeAll {
    $manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../out/Qfex/Qfex.psd1" }
    Import-Module -Name $manifest -Force
    . "$PSScriptRoot/Invoke-Requote.ps1"
}

Describe 'Invoke-Requote' {
    BeforeAll {
        $server = Start-QfexTestServer
        $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential
        function Get-Sent {
            param([string] $Type)
            @($server.Received | Where-Object Type -eq $Type)
        }
    }
    AfterAll {
        Disconnect-Qfex -Session $session
        Stop-QfexTestServer -Server $server
    }
    BeforeEach {
        $server.Respond.Clear()
        $null = Stop-QfexOrder -All -Force -Session $session
        $server.ClearReceived()
        $null = New-QfexOrder -Session $session -Symbol AAPL-USD -Side Buy -OrderType Limit -Quantity 1 -Price 200
        $null = New-QfexOrder -Session $session -Symbol AAPL-USD -Side Sell -OrderType Limit -Quantity 2 -Price 210 -TakeProfit 190
        $null = New-QfexOrder -Session $session -Symbol MSFT-USD -Side Buy -OrderType Limit -Quantity 3 -Price 300
        $server.ClearReceived()
    }

    It 'is an advanced function that supports -WhatIf and asks before it acts' {
        $command = Get-Command -Name Invoke-Requote
        $command.CmdletBinding | Should -BeTrue
        $command.Parameters.Keys | Should -Contain 'WhatIf'
        $command.ScriptBlock.Attributes.Where({ $_ -is [System.Management.Automation.CmdletBindingAttribute] }).ConfirmImpact | Should -Be 'High'
    }

    It 'cancels every order of the symbol with one request and places each again at the new price' {
        $placed = @(Invoke-Requote -Symbol AAPL-USD -Price 205 -Confirm:$false)
        $placed.Count | Should -Be 2
        $placed | ForEach-Object { $_ | Should -BeOfType Qfex.QfexOrder }
        ($placed | Sort-Object Quantity).Side | Should -Be @('Buy', 'Sell')
        $placed.Price | Should -Be @(205, 205)
        ($placed | Where-Object Side -eq 'Sell').TakeProfit | Should -Be 190

        (Get-Sent cancel_all_orders).Count | Should -Be 1
        (Get-Sent cancel_all_orders)[0].Params.symbol | Should -Be 'AAPL-USD'
        (Get-Sent add_order).Count | Should -Be 2
        $open = @(Get-QfexOrder -Session $session -Symbol AAPL-USD)
        $open.Price | Should -Be @(205, 205)
        (Get-QfexOrder -Session $session -Symbol MSFT-USD).Price | Should -Be 300
    }

    It 'sends nothing with -WhatIf' {
        Invoke-Requote -Symbol AAPL-USD -Price 205 -WhatIf | Should -BeNullOrEmpty
        $server.Received | Should -BeNullOrEmpty
    }

    It 'stops at TncRequired, places nothing more, and says which orders are left' {
        $server.Respond['add_order'] = 'TncRequired'
        $failure = $null
        try { Invoke-Requote -Symbol AAPL-USD -Price 205 -Confirm:$false -WarningVariable left -WarningAction SilentlyContinue }
        catch { $failure = $_ }
        $failure.FullyQualifiedErrorId | Should -BeLike 'TncRequired,*'
        $failure.Exception | Should -BeOfType Qfex.QfexPermissionException
        $failure.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
        (Get-Sent add_order).Count | Should -Be 1
        $left | Should -HaveCount 1
        $left[0] | Should -Match '^Cancelled and not placed again \(2\): BUY 1 AAPL-USD LIMIT 200 GTC; SELL 2 AAPL-USD LIMIT 210 GTC TP 190$'
    }

    It 'stops at PermissionDenied on the cancel, before placing anything' {
        $server.Respond['cancel_all_orders'] = 'PermissionDenied'
        { Invoke-Requote -Symbol AAPL-USD -Price 205 -Confirm:$false } | Should -Throw -ErrorId 'PermissionDenied,*'
        (Get-Sent add_order).Count | Should -Be 0
        @(Get-QfexOrder -Session $session -Symbol AAPL-USD).Count | Should -Be 2
    }

    It 'goes on after one order is refused, and reports it' {
        $server.FailNext('add_order', 'InvalidOrder', 1)
        $placed = @(Invoke-Requote -Symbol AAPL-USD -Price 205 -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable refused)
        $placed.Count | Should -Be 1
        # -ErrorVariable of a function also collects what its own commands wrote: every record here is the one refusal.
        $records = @($refused | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
        $records | Should -Not -BeNullOrEmpty
        $records | ForEach-Object { $_.FullyQualifiedErrorId | Should -BeLike 'InvalidOrder,*' }
        (Get-Sent add_order).Count | Should -Be 2
    }

    It 'uses the session it is given rather than the default one' {
        $other = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -AccountId 22222222-2222-2222-2222-222222222222   # now the default
        try {
            @(Invoke-Requote -Session $session -Symbol AAPL-USD -Price 205 -Confirm:$false).Count | Should -Be 2
            @(Get-QfexOrder -Session $other).Count | Should -Be 0
            @($server.Received | Where-Object Type -in 'cancel_all_orders', 'add_order' | ForEach-Object ConnectionId | Sort-Object -Unique).Count | Should -Be 1
        }
        finally {
            Disconnect-Qfex -Session $other
        }
    }
}
