# Pester 5 tests of the Invoke-EndOfDayCleanup runbook step (Invoke-EndOfDayCleanup.ps1 beside this
# file) against the fake exchange. build.ps1 -Task Test runs them with the module it built.

[Diagnostics.CodeAnalysis.SuppressMessageAttribute('PSUseDeclaredVarsMoreThanAssignments', '',
    Justification = 'Pester shares the variables that BeforeAll sets with the It blocks, which the analyzer does not see.')]
param()

BeforeAll {
    $manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../out/Qfex/Qfex.psd1" }
    Import-Module -Name $manifest -Force
    . "$PSScriptRoot/Invoke-EndOfDayCleanup.ps1"
}

Describe 'Invoke-EndOfDayCleanup' {
    BeforeAll {
        $server = Start-QfexTestServer
        $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses
        $order = @{ symbol = 'AAPL-USD'; side = 'BUY'; order_type = 'LIMIT'; order_time_in_force = 'GTC'; quantity = 1; price = 200.0 }
    }
    AfterAll {
        Disconnect-Qfex -Session $session
        Stop-QfexTestServer -Server $server
    }
    BeforeEach {
        $server.ClearReceived()
    }

    It 'is an advanced function that supports -WhatIf' {
        $command = Get-Command -Name Invoke-EndOfDayCleanup
        $command.CmdletBinding | Should -BeTrue
        $command.Parameters.Keys | Should -Contain 'WhatIf'
    }

    It 'sends exactly one cancel_all_orders and cancels the open orders' {
        $null = Send-QfexMessage -Type add_order -Params $order -Wait
        $answer = Invoke-EndOfDayCleanup
        $answer | Should -Not -BeNullOrEmpty
        @($server.Received | Where-Object Type -eq 'cancel_all_orders').Count | Should -Be 1
        (Send-QfexMessage -Type get_user_orders -Params @{} -Wait).Data.all_orders_response.orders | Should -BeNullOrEmpty
    }

    It 'uses the session it is given rather than the default one' {
        $other = Connect-Qfex -Uri $server.Uri -Credential $server.Credential    # now the default session
        try {
            $answer = $session | Invoke-EndOfDayCleanup
            $answer.SessionId | Should -Be $session.Id
            @($server.Received | Where-Object Type -eq 'cancel_all_orders').Count | Should -Be 1
        }
        finally {
            Disconnect-Qfex -Session $other
        }
    }

    It 'sends nothing with -WhatIf' {
        Invoke-EndOfDayCleanup -WhatIf | Should -BeNullOrEmpty
        @($server.Received | Where-Object Type -eq 'cancel_all_orders').Count | Should -Be 0
    }

    It 'stops on a ServerError without sending the cancellation again' {
        $server.Respond['cancel_all_orders'] = 'ServerError'
        try {
            { Invoke-EndOfDayCleanup } | Should -Throw -ErrorId 'ServerError*'
        }
        finally {
            $server.Respond['cancel_all_orders'] = $null
        }
        @($server.Received | Where-Object Type -eq 'cancel_all_orders').Count | Should -Be 1
    }
}
