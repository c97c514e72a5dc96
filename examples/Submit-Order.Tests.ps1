# Pester 5 tests of the Submit-Order runbook step (Submit-Order.ps1 beside this file): unit tests
# with Send-QfexMessage mocked by New-QfexErrorRecord, and integration tests against the fake
# exchange. build.ps1 -Task Test runs them with the module it built.

[Diagnostics.CodeAnalysis.SuppressMessageAttribute('PSUseDeclaredVarsMoreThanAssignments', '',
    Justification = 'Pester shares the variables that BeforeAll sets with the It blocks, which the analyzer does not see.')]
param()

BeforeAll {
    $manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../out/Qfex/Qfex.psd1" }
    Import-Module -Name $manifest -Force
    . "$PSScriptRoot/Submit-Order.ps1"

    $order = @{
        symbol              = 'AAPL-USD'
        side                = 'BUY'
        order_type          = 'LIMIT'
        order_time_in_force = 'GTC'
        quantity            = 1
        price               = 200.0
    }
}

Describe 'Submit-Order' {
    It 'is an advanced function, so common parameters such as -WarningVariable work' {
        (Get-Command -Name Submit-Order).CmdletBinding | Should -BeTrue
        (Get-Command -Name Submit-Order).Parameters.Keys | Should -Contain 'WarningVariable'
    }

    Context 'with Send-QfexMessage mocked' {
        It 'returns the answer and gives the order a client_order_id, leaving the caller''s hashtable alone' {
            Mock Send-QfexMessage { [pscustomobject]@{ Type = 'order_response'; Params = $Params } }
            $answer = Submit-Order -Order $order
            $answer.Type | Should -Be 'order_response'
            $answer.Params.client_order_id | Should -Match '^runbook-[0-9a-f]{12}$'
            $order.ContainsKey('client_order_id') | Should -BeFalse
            Should -Invoke Send-QfexMessage -Times 1 -Exactly -ParameterFilter { $Type -eq 'add_order' -and $Wait }
        }

        It 'keeps a client_order_id the order already has' {
            Mock Send-QfexMessage { [pscustomobject]@{ Params = $Params } }
            (Submit-Order -Order ($order + @{ client_order_id = 'mine-1' })).Params.client_order_id | Should -Be 'mine-1'
        }

        It 'warns once, outputs nothing and does not resend a throttled order' {
            Mock Send-QfexMessage { throw (New-QfexErrorRecord RateLimited) }
            $result = Submit-Order -Order $order -WarningVariable warnings -WarningAction SilentlyContinue
            $result | Should -BeNullOrEmpty
            $warnings | Should -HaveCount 1
            "$($warnings[0])" | Should -BeLike 'Throttled even after retries; try later: RateLimited: Too many requests.*'
            Should -Invoke Send-QfexMessage -Times 1 -Exactly
        }

        It 'refuses to resend an invalid order (<Code>)' -ForEach @(
            @{ Code = 'InvalidParameter' }, @{ Code = 'InvalidOrder' }, @{ Code = 'InvalidJSONFormat' }
        ) {
            Mock Send-QfexMessage { throw (New-QfexErrorRecord $Code 'price must be positive') }
            { Submit-Order -Order $order } | Should -Throw "Fix the order, do not resend it: ${Code}: price must be positive"
            Should -Invoke Send-QfexMessage -Times 1 -Exactly
        }

        It 'names what to fix on the account when permission is denied' {
            Mock Send-QfexMessage { throw (New-QfexErrorRecord TncRequired) }
            { Submit-Order -Order $order } | Should -Throw 'Fix the account first: Accept the latest Terms and Conditions*'
        }

        It 'looks the order up instead of sending it again after a ServerError' {
            Mock Send-QfexMessage -ParameterFilter { $Type -eq 'add_order' } {
                throw (New-QfexErrorRecord -Code ServerError -Message 'Unexpected error processing request.')
            }
            Mock Send-QfexMessage -ParameterFilter { $Type -eq 'get_user_orders' } {
                [pscustomobject]@{ Data = [pscustomobject]@{ all_orders_response = [pscustomobject]@{ orders = @(
                    [pscustomobject]@{ order_id = 'a'; client_order_id = 'other' }
                    [pscustomobject]@{ order_id = 'b'; client_order_id = 'mine-2' }
                ) } } }
            }
            $found = Submit-Order -Order ($order + @{ client_order_id = 'mine-2' })
            $found.order_id | Should -Be 'b'
            Should -Invoke Send-QfexMessage -ParameterFilter { $Type -eq 'add_order' } -Times 1 -Exactly
            Should -Invoke Send-QfexMessage -ParameterFilter { $Type -eq 'get_user_orders' -and $Params.symbol -eq 'AAPL-USD' } -Times 1 -Exactly
        }

        It 'looks the order up instead of sending it again after a <Id> (mocked as Send-QfexMessage writes it)' -ForEach @(
            @{ Id = 'QfexTimeout' }, @{ Id = 'QfexConnectionClosed' }
        ) {
            # The module's own ErrorIds mock like the exchange's codes: same category, exception type and outcome.
            Mock Send-QfexMessage -ParameterFilter { $Type -eq 'add_order' } {
                throw (New-QfexErrorRecord -Code $Id -RequestOutcome SentOutcomeUnknown)
            }
            Mock Send-QfexMessage -ParameterFilter { $Type -eq 'get_user_orders' } {
                [pscustomobject]@{ Data = [pscustomobject]@{ all_orders_response = [pscustomobject]@{ orders = @(
                    [pscustomobject]@{ order_id = 'c'; client_order_id = 'mine-3' }
                ) } } }
            }
            $found = Submit-Order -Order ($order + @{ client_order_id = 'mine-3' })
            $found.order_id | Should -Be 'c'
            Should -Invoke Send-QfexMessage -ParameterFilter { $Type -eq 'add_order' } -Times 1 -Exactly
            Should -Invoke Send-QfexMessage -ParameterFilter { $Type -eq 'get_user_orders' } -Times 1 -Exactly
        }

        It 'rethrows what it has no rule for, such as an unknown code' {
            Mock Send-QfexMessage { throw (New-QfexErrorRecord SomethingNew) }
            { Submit-Order -Order $order } | Should -Throw -ErrorId 'SomethingNew*'
        }
    }

    Context 'against the fake exchange' {
        BeforeAll {
            $server = Start-QfexTestServer
            $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses
        }
        AfterAll {
            Disconnect-Qfex -Session $session
            Stop-QfexTestServer -Server $server
        }
        BeforeEach {
            $server.ClearReceived()
        }

        It 'places the order' {
            $answer = Submit-Order -Order $order
            $answer.Data.order_response.status | Should -Be 'ACK'
            @($server.Received | Where-Object Type -eq 'add_order').Count | Should -Be 1
        }

        It 'warns when the exchange still throttles after the cmdlet''s retries' {
            $server.Respond['add_order'] = 'RateLimited'
            try {
                Submit-Order -Order $order -WarningVariable warnings -WarningAction SilentlyContinue | Should -BeNullOrEmpty
            }
            finally {
                $server.Respond['add_order'] = $null
            }
            $warnings | Should -HaveCount 1
            @($server.Received | Where-Object Type -eq 'add_order').Count | Should -Be 4    # the first try and 3 retries
        }

        It 'looks for the order after a timeout instead of placing it again' {
            $server.SilentTypes.Add('add_order')
            try {
                Submit-Order -Order $order -TimeoutSec 1 | Should -BeNullOrEmpty
            }
            finally {
                $null = $server.SilentTypes.Remove('add_order')
            }
            @($server.Received | Where-Object Type -eq 'add_order').Count | Should -Be 1
            @($server.Received | Where-Object Type -eq 'get_user_orders').Count | Should -Be 1
        }

        It 'rethrows an order rejection' {
            $server.OrderStatusOverride = 'FAILED_MARGIN_CHECK'
            try {
                { Submit-Order -Order $order } | Should -Throw -ErrorId 'FAILED_MARGIN_CHECK*'
            }
            finally {
                $server.OrderStatusOverride = $null
            }
        }
    }
}
