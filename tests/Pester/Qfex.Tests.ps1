# Pester 5 tests for the built module in out/Qfex. Run them with: pwsh ./build.ps1 -Task Test

BeforeAll {
    # build.ps1 names the module folder it built; alone, the Release layout.
    $manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../../out/Qfex/Qfex.psd1" }
    Import-Module -Name $manifest -Force

    $order = @{
        symbol              = 'AAPL-USD'
        side                = 'BUY'
        order_type          = 'LIMIT'
        order_time_in_force = 'GTC'
        quantity            = 1
        price               = 200.0
        client_order_id     = 'pester-0001'
    }

    # A runbook step as a user would write it: retry only when the exchange throttles (QuotaExceeded).
    # It has its own retry policy, so it turns off the cmdlet's (-MaxRetries 0).
    function Invoke-OrderWithRetry {
        [CmdletBinding()]
        param(
            [Parameter(Mandatory)] [hashtable] $Order,
            [int] $MaxAttempts = 3,
            [int] $DelayMilliseconds = 500
        )
        for ($attempt = 1; ; $attempt++) {
            try {
                return Send-QfexMessage -Type add_order -Params $Order -Wait -MaxRetries 0 -ErrorAction Stop
            }
            catch {
                $throttled = $_.CategoryInfo.Category -eq [System.Management.Automation.ErrorCategory]::QuotaExceeded
                if (-not $throttled -or $attempt -ge $MaxAttempts) {
                    throw
                }
                Start-Sleep -Milliseconds $DelayMilliseconds
            }
        }
    }
}

Describe 'The Qfex module' {
    It 'exports exactly the twenty cmdlets' {
        $expected = @(
            'Connect-Qfex', 'Disconnect-Qfex', 'Get-QfexSession', 'Send-QfexMessage', 'Receive-QfexFrame',
            'Get-QfexErrorAdvice', 'New-QfexErrorRecord', 'Start-QfexTestServer', 'Stop-QfexTestServer',
            'New-QfexFrame', 'New-QfexTestSession', 'Wait-QfexSession',
            'New-QfexOrder', 'Get-QfexOrder', 'Set-QfexOrder', 'Stop-QfexOrder', 'Get-QfexTrade', 'Close-QfexPosition',
            'Get-QfexLeverage', 'Set-QfexLeverage'
        ) | Sort-Object
        $actual = @((Get-Module -Name Qfex).ExportedCmdlets.Keys) | Sort-Object
        ($actual -join ',') | Should -Be ($expected -join ',')
    }
}

Describe 'Orders against the fake exchange' {
    BeforeAll {
        # Script scope: the It blocks read them (and the analyzer sees them used).
        $script:server = Start-QfexTestServer
        $script:session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses
    }

    AfterAll {
        Disconnect-Qfex -Session $session
        Stop-QfexTestServer -Server $server
    }

    It 'opens an authenticated session' {
        $session | Should -BeOfType Qfex.QfexSession
        $session.State.ToString() | Should -Be 'Open'
        $session.IsAuthenticated | Should -BeTrue
    }

    It 'answers add_order -Wait with an order_response frame with status ACK' {
        $frame = Send-QfexMessage -Type add_order -Params $order -Wait
        $frame | Should -BeOfType Qfex.QfexFrame
        $frame.Type | Should -Be 'order_response'
        $frame.Data.order_response.status | Should -Be 'ACK'
    }

    Context 'when the exchange answers add_order with RateLimited' {
        BeforeAll {
            $server.Respond['add_order'] = 'RateLimited'
        }

        AfterAll {
            $server.Respond['add_order'] = $null
        }

        It 'throws with the exchange code as ErrorId under -ErrorAction Stop' {
            { Send-QfexMessage -Type add_order -Params $order -Wait -MaxRetries 0 -ErrorAction Stop } |
                Should -Throw -ErrorId 'RateLimited*'
        }

        It 'retries RateLimited -MaxRetries times before writing the error' {
            $server.ClearReceived()
            { Send-QfexMessage -Type add_order -Params $order -Wait -MaxRetries 2 -ErrorAction Stop } |
                Should -Throw -ErrorId 'RateLimited*'
            @($server.Received | Where-Object Type -eq 'add_order').Count | Should -Be 3
        }

        It 'can be caught as [Qfex.QfexRateLimitedException]' {
            $caught = $null
            try {
                Send-QfexMessage -Type add_order -Params $order -Wait -MaxRetries 0 -ErrorAction Stop
            }
            catch [Qfex.QfexRateLimitedException] {
                $caught = $_
            }
            $caught | Should -Not -BeNullOrEmpty
            $caught.FullyQualifiedErrorId | Should -BeLike 'RateLimited,*'
            $caught.CategoryInfo.Category.ToString() | Should -Be 'QuotaExceeded'
            $caught.TargetObject.type | Should -Be 'add_order'
        }

        It 'writes a non-terminating error by default' {
            $err = $null
            Send-QfexMessage -Type add_order -Params $order -Wait -MaxRetries 0 -ErrorAction SilentlyContinue -ErrorVariable err
            @($err).Count | Should -Be 1
            $err[0].Exception | Should -BeOfType Qfex.QfexRateLimitedException
        }
    }
}

Describe 'Sessions against the fake exchange' {
    BeforeAll {
        $script:server = Start-QfexTestServer
    }

    AfterAll {
        Get-QfexSession | Disconnect-Qfex
        Stop-QfexTestServer -Server $server
    }

    It 'subscribes to order_responses by itself when -Wait needs it' {
        $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential
        $frame = Send-QfexMessage -Session $session -Type add_order -Params $order -Wait
        $frame.Data.order_response.status | Should -Be 'ACK'
        $session.Subscriptions | Should -Contain 'order_responses'
    }

    It 'reconnects after a drop and says so with a qfex.reconnected frame' {
        $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses
        $null = Receive-QfexFrame -Session $session -Type subscribed -Count 1 -TimeoutSec 5
        $server.DropConnections()
        $notice = Receive-QfexFrame -Session $session -Type qfex.reconnected -Count 1 -TimeoutSec 10
        $notice.Type | Should -Be 'qfex.reconnected'
        $notice.Data.subscriptions | Should -Contain 'order_responses'
        $session.Reconnects | Should -Be 1
        $session.State.ToString() | Should -Be 'Open'
    }

    It '-Raw writes text a script uses as strings' {
        # Receive-QfexFrame writes each text wrapped in a PSObject (the engine binds those faster); nothing a
        # script does with a string may tell the difference.
        $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential
        $text = '{"type":"tick","n":1}'
        $server.Push($text)
        $raw = Receive-QfexFrame -Session $session -Raw -Count 1 -TimeoutSec 5
        $raw | Should -BeOfType [string]
        $raw.GetType().FullName | Should -Be 'System.String'
        $raw | Should -BeExactly $text
        $text.Equals($raw) | Should -BeTrue
        ($raw | ConvertFrom-Json).n | Should -Be 1
        ConvertTo-Json -InputObject $raw -Compress | Should -BeExactly (ConvertTo-Json -InputObject $text -Compress)
        ConvertTo-Json -InputObject @($raw) -Compress | Should -BeExactly ('[' + (ConvertTo-Json -InputObject $text -Compress) + ']')
        @{ $text = 'found' }[$raw] | Should -Be 'found'
        $set = [System.Collections.Generic.HashSet[string]]::new(); $null = $set.Add($raw)
        $set.Contains($text) | Should -BeTrue
        [System.Management.Automation.PSSerializer]::Serialize($raw) | Should -Match '<S>\{"type":"tick","n":1\}</S>'
        ($raw | Get-Member)[0].TypeName | Should -Be 'System.String'
        $session | Disconnect-Qfex
    }
}

Describe 'Get-QfexErrorAdvice and New-QfexErrorRecord' {
    It 'builds the record the module writes for RateLimited' {
        $record = New-QfexErrorRecord RateLimited
        $record | Should -BeOfType System.Management.Automation.ErrorRecord
        $record.FullyQualifiedErrorId | Should -BeLike 'RateLimited*'
        $record.CategoryInfo.Category.ToString() | Should -Be 'QuotaExceeded'
        $record.Exception | Should -BeOfType Qfex.QfexRateLimitedException
    }

    It 'advises Backoff for RateLimited' {
        $advice = New-QfexErrorRecord RateLimited | Get-QfexErrorAdvice
        $advice | Should -BeOfType Qfex.QfexErrorAdvice
        $advice.Action.ToString() | Should -Be 'Backoff'
        $advice.Retryable | Should -BeTrue
    }
}

Describe 'A runbook that retries on QuotaExceeded' {
    It 'tries three times and then rethrows the RateLimited error' {
        Mock Send-QfexMessage { throw (New-QfexErrorRecord RateLimited) }

        { Invoke-OrderWithRetry -Order $order -MaxAttempts 3 -DelayMilliseconds 0 } |
            Should -Throw -ErrorId 'RateLimited*'
        Should -Invoke Send-QfexMessage -Times 3 -Exactly
    }

    It 'does not retry an error that is not QuotaExceeded' {
        Mock Send-QfexMessage { throw (New-QfexErrorRecord InvalidOrder) }

        { Invoke-OrderWithRetry -Order $order -MaxAttempts 3 -DelayMilliseconds 0 } |
            Should -Throw -ErrorId 'InvalidOrder*'
        Should -Invoke Send-QfexMessage -Times 1 -Exactly
    }
}

Describe 'Disconnect-Qfex' {
    BeforeAll {
        $script:server = Start-QfexTestServer
    }

    AfterAll {
        Stop-QfexTestServer -Server $server
    }

    It 'closes the session' {
        $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses
        Disconnect-Qfex -Session $session
        $session.State.ToString() | Should -Be 'Closed'
    }

    It 'is idempotent for a session object' {
        $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential
        Disconnect-Qfex -Session $session
        { Disconnect-Qfex -Session $session -ErrorAction Stop } | Should -Not -Throw
        $session.State.ToString() | Should -Be 'Closed'
    }

    It 'does nothing, without error, when no session is open' {
        Get-QfexSession | Disconnect-Qfex
        { Disconnect-Qfex -ErrorAction Stop } | Should -Not -Throw
    }
}
