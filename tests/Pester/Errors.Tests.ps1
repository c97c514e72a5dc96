# Pester 5 tests, in real pwsh, of what docs/about_Qfex.md promises about errors: which errors are terminating and
# what each -ErrorAction does, the Qfex errors that replace the engine's, mocks that look like the real thing, and
# the runbook built on Get-QfexErrorAdvice (taken from about_Qfex itself), which never resends an order whose
# outcome is unknown.

BeforeAll {
    $script:manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../../out/Qfex/Qfex.psd1" }
    Import-Module -Name $manifest -Force

    $script:order = @{
        symbol              = 'AAPL-USD'
        side                = 'BUY'
        order_type          = 'LIMIT'
        order_time_in_force = 'GTC'
        quantity            = 1
        price               = 200.0
    }

    function Get-AboutQfexBlock {
        # The powershell code blocks of docs/about_Qfex.md under one '### ' heading, in order.
        param([Parameter(Mandatory)] [string] $Heading)
        $lines = Get-Content -LiteralPath "$PSScriptRoot/../../docs/about_Qfex.md"
        $start = [array]::IndexOf($lines, "### $Heading")
        if ($start -lt 0) { throw "about_Qfex.md has no '### $Heading' section." }
        $blocks = [System.Collections.Generic.List[string]]::new()
        $current = $null
        for ($i = $start + 1; $i -lt $lines.Count -and -not $lines[$i].StartsWith('### '); $i++) {
            if ($null -eq $current -and $lines[$i] -eq '```powershell') { $current = [System.Collections.Generic.List[string]]::new(); continue }
            if ($null -ne $current -and $lines[$i] -eq '```') { $blocks.Add($current -join "`n"); $current = $null; continue }
            if ($null -ne $current) { $current.Add($lines[$i]) }
        }
        , $blocks.ToArray()
    }

    function Invoke-ChildPwsh {
        # Runs a command in a new pwsh (the one running these tests) with -NonInteractive; returns its output lines.
        param([Parameter(Mandatory)] [string] $Command)
        $self = (Get-Process -Id $PID).Path
        # Under `dotnet pwsh` this process is dotnet, running pwsh.dll.
        [string[]] $prefix = if ([System.IO.Path]::GetFileNameWithoutExtension($self) -eq 'pwsh') { @() } else { Join-Path $PSHOME 'pwsh.dll' }
        $encoded = [Convert]::ToBase64String([System.Text.Encoding]::Unicode.GetBytes($Command))
        & $self @prefix -NoLogo -NoProfile -NonInteractive -OutputFormat Text -EncodedCommand $encoded 2>&1 | ForEach-Object { "$_" }
    }
}

Describe 'Terminating and non-terminating errors, as about_Qfex documents them' {
    BeforeAll {
        $script:server = Start-QfexTestServer
        $script:session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses
    }

    AfterAll {
        $server.Respond['add_order'] = $null
        Get-QfexSession | Disconnect-Qfex
        Stop-QfexTestServer -Server $server
    }

    Context 'Send-QfexMessage: errors about one request are non-terminating' {
        BeforeAll { $server.Respond['add_order'] = 'InvalidOrder' }
        AfterAll { $server.Respond['add_order'] = $null }

        It 'writes the error and goes on with the script by default (Continue)' {
            $ErrorActionPreference = 'Continue'    # PowerShell's default (the suite's runner sets Stop)
            $out = & { Send-QfexMessage -Type add_order -Params $order -Wait; 'went on' } 2>&1
            $out[0] | Should -BeOfType System.Management.Automation.ErrorRecord
            $out[0].FullyQualifiedErrorId | Should -Be 'InvalidOrder,Qfex.Commands.SendQfexMessageCommand'
            $out[1] | Should -Be 'went on'
        }

        It 'collects it without output under -ErrorAction SilentlyContinue -ErrorVariable' {
            $err = $null
            $out = Send-QfexMessage -Type add_order -Params $order -Wait -ErrorAction SilentlyContinue -ErrorVariable err 2>&1
            $out | Should -BeNullOrEmpty
            @($err).Count | Should -Be 1
            $err[0].Exception | Should -BeOfType Qfex.QfexInvalidRequestException
        }

        It 'drops it, leaving $Error alone, under -ErrorAction Ignore' {
            $before = $Error.Count
            $out = Send-QfexMessage -Type add_order -Params $order -Wait -ErrorAction Ignore 2>&1
            $out | Should -BeNullOrEmpty
            $Error.Count | Should -Be $before
        }

        It 'becomes terminating, caught by exception type, under -ErrorAction Stop' {
            $caught = $null
            try { Send-QfexMessage -Type add_order -Params $order -Wait -ErrorAction Stop; $caught = 'not thrown' }
            catch [Qfex.QfexInvalidRequestException] { $caught = $_.FullyQualifiedErrorId }
            $caught | Should -Be 'InvalidOrder,Qfex.Commands.SendQfexMessageCommand'
        }

        It 'goes on with the next pipeline item after a bad one' {
            $server.ClearReceived()
            $messages = @(
                @{ type = 'add_order'; params = @{ symbol = 'AAPL-USD' } }     # refused before sending
                @{ type = 'get_user_orders'; params = @{} }
            )
            $err = $null
            $answers = $messages | Send-QfexMessage -Wait -ErrorAction SilentlyContinue -ErrorVariable err
            $err[0].FullyQualifiedErrorId | Should -BeLike 'QfexInvalidMessage,*'
            @($answers).Count | Should -Be 1
            $answers.Type | Should -Be 'all_orders_response'
            @($server.Received | Where-Object Type -eq 'add_order').Count | Should -Be 0
        }

        It 'says -Force when a fund transfer cannot be confirmed, in pwsh -NonInteractive' {
            $command = @"
Import-Module '$manifest'
`$s = Connect-Qfex -Uri '$($server.Uri)' -Credential ([pscredential]::new('$($server.Credential.UserName)', (ConvertTo-SecureString '$($server.Credential.GetNetworkCredential().Password)' -AsPlainText -Force)))
Send-QfexMessage -Type transfer_balance -Params @{ amount = 1 } -ErrorAction SilentlyContinue -ErrorVariable e
`$e[0].FullyQualifiedErrorId
`$e[0].Exception.Message
'went on'
Disconnect-Qfex
"@
            $server.ClearReceived()
            $out = Invoke-ChildPwsh -Command $command
            $out | Should -Contain 'QfexConfirmationRequired,Qfex.Commands.SendQfexMessageCommand'
            ($out -join "`n") | Should -Match 'Add -Force'
            ($out -join "`n") | Should -Not -Match 'NonInteractive mode'
            $out | Should -Contain 'went on'
            @($server.Received | Where-Object Type -eq 'transfer_balance').Count | Should -Be 0
        }
    }

    Context 'Receive-QfexFrame and Get-QfexSession: non-terminating' {
        It 'outputs the frames that came, then writes QfexReceiveTimeout and goes on' {
            $null = Receive-QfexFrame
            $server.Push('{"type":"one"}')
            # The frame is in before the short receive starts: its timeout then decides nothing but the error.
            $deadline = [datetime]::UtcNow.AddSeconds(30)
            while ($session.FramesPending -lt 1) {
                if ([datetime]::UtcNow -gt $deadline) { throw 'The pushed frame never arrived.' }
                Start-Sleep -Milliseconds 5
            }
            $err = $null
            $frames = Receive-QfexFrame -Type one -Count 2 -TimeoutSec 1 -ErrorAction SilentlyContinue -ErrorVariable err
            @($frames).Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'QfexReceiveTimeout,Qfex.Commands.ReceiveQfexFrameCommand'
        }

        It 'writes QfexSessionNotFound for a missing Id and still outputs the others' {
            $err = $null
            $found = Get-QfexSession -Id 999, $session.Id -ErrorAction SilentlyContinue -ErrorVariable err
            $found.Id | Should -Be $session.Id
            $err[0].FullyQualifiedErrorId | Should -Be 'QfexSessionNotFound,Qfex.Commands.GetQfexSessionCommand'
        }
    }

    Context 'Connect-Qfex failures, QfexNoSession and QfexTestServerStartFailed are terminating' {
        It 'Connect-Qfex -Uri without a scheme: a Qfex error naming wss://host, not silenced by -ErrorAction' {
            $caught = $null
            try { $null = Connect-Qfex -Uri trade.qfex.com -Credential $server.Credential -ErrorAction SilentlyContinue; $caught = 'not thrown' }
            catch { $caught = $_ }
            $caught.FullyQualifiedErrorId | Should -Be 'QfexInvalidUri,Qfex.Commands.ConnectQfexCommand'
            $caught.CategoryInfo.Category | Should -Be 'InvalidArgument'
            $caught.Exception.Message | Should -Match 'use wss://host, for example wss://trade\.qfex\.com'
            $caught.Exception | Should -BeOfType Qfex.QfexException
        }

        It 'Connect-Qfex to a port where nothing listens: QfexConnectFailed, caught without -ErrorAction Stop' {
            $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
            $listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
            { Connect-Qfex -Uri "ws://127.0.0.1:$port/" -Credential $server.Credential -TimeoutSec 5 -ErrorAction SilentlyContinue } |
                Should -Throw -ErrorId 'QfexConnectFailed,Qfex.Commands.ConnectQfexCommand'
        }

        It 'QfexNoSession stops the cmdlet whatever -ErrorAction says' {
            $job = Start-ThreadJob -ScriptBlock {
                # A new runspace: no default session there.
                Import-Module -Name $using:manifest
                try { Send-QfexMessage -Type get_user_orders -ErrorAction SilentlyContinue; 'not thrown' }
                catch { $_.FullyQualifiedErrorId }
                try { Receive-QfexFrame -ErrorAction Ignore; 'not thrown' }
                catch { $_.FullyQualifiedErrorId }
            }
            $out = $job | Receive-Job -Wait -AutoRemoveJob
            $out | Should -Be @('QfexNoSession,Qfex.Commands.SendQfexMessageCommand', 'QfexNoSession,Qfex.Commands.ReceiveQfexFrameCommand')
        }

        It 'Start-QfexTestServer on a port in use: QfexTestServerStartFailed, terminating' {
            { Start-QfexTestServer -Port $server.Port -ErrorAction SilentlyContinue } |
                Should -Throw -ErrorId 'QfexTestServerStartFailed,Qfex.Commands.StartQfexTestServerCommand'
        }
    }
}

Describe 'Mocks that are indistinguishable from the real record' {
    It 'keeps the cmdlet suffix under Mock, for -like and for Should -Throw -ErrorId' {
        function Invoke-Step { Send-QfexMessage -Type add_order -Params @{} -Wait -ErrorAction Stop }
        Mock Send-QfexMessage { throw (New-QfexErrorRecord RateLimited) }
        $caught = $null
        try { Invoke-Step } catch { $caught = $_ }
        $caught.FullyQualifiedErrorId -like 'RateLimited,*' | Should -BeTrue
        $caught.FullyQualifiedErrorId | Should -Be 'RateLimited,Qfex.Commands.SendQfexMessageCommand'
        $caught.Exception | Should -BeOfType Qfex.QfexRateLimitedException
        { Invoke-Step } | Should -Throw -ErrorId 'RateLimited*'
        { Invoke-Step } | Should -Throw -ErrorId 'RateLimited,Qfex.Commands.SendQfexMessageCommand'
    }

    It 'mocks a timeout of an order, whose advice is to check the outcome' {
        Mock Send-QfexMessage { throw (New-QfexErrorRecord QfexTimeout -IncomingMessage @{ type = 'add_order'; params = @{ client_order_id = 'x' } }) }
        $caught = $null
        try { Send-QfexMessage -Type add_order -Params @{} -Wait } catch { $caught = $_ }
        $caught.FullyQualifiedErrorId -like 'QfexTimeout,*' | Should -BeTrue
        $caught.CategoryInfo.Category | Should -Be 'OperationTimeout'
        $caught.Exception | Should -BeOfType Qfex.QfexTimeoutException
        $caught.Exception.RequestOutcome | Should -Be 'SentOutcomeUnknown'
        ($caught | Get-QfexErrorAdvice).Action | Should -Be 'CheckOutcome'
    }

    It 'mocks a non-terminating error with -NonTerminating, which behaves like the real one under each -ErrorAction' {
        Mock Send-QfexMessage { New-QfexErrorRecord InvalidOrder -NonTerminating }
        $err = $null
        $out = Send-QfexMessage -Type add_order -Params @{} -Wait -ErrorAction SilentlyContinue -ErrorVariable err 2>&1
        $out | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'InvalidOrder,Qfex.Commands.SendQfexMessageCommand'
        $err[0].Exception | Should -BeOfType Qfex.QfexInvalidRequestException
        $ErrorActionPreference = 'Continue'    # PowerShell's default (the suite's runner sets Stop)
        $streamed = & { Send-QfexMessage -Type add_order -Params @{} -Wait; 'went on' } 2>&1
        $streamed[0].FullyQualifiedErrorId | Should -Be 'InvalidOrder,Qfex.Commands.SendQfexMessageCommand'
        $streamed[1] | Should -Be 'went on'
        { Send-QfexMessage -Type add_order -Params @{} -Wait -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidOrder,Qfex.Commands.SendQfexMessageCommand'
    }

    It 'names the cmdlet -CommandName picks' {
        (New-QfexErrorRecord QfexReceiveTimeout -CommandName Receive-QfexFrame).FullyQualifiedErrorId |
            Should -Be 'QfexReceiveTimeout,Qfex.Commands.ReceiveQfexFrameCommand'
        (New-QfexErrorRecord QfexAuthenticationFailed -CommandName Connect-Qfex).CategoryInfo.Activity | Should -Be 'Connect-Qfex'
    }

    It 'leaves $Error as it was: the record is made, not raised' {
        $before = $Error.Count
        $null = New-QfexErrorRecord ServerError
        $Error.Count | Should -Be $before
    }

    It 'takes code strings by value' {
        ('RateLimited' | Get-QfexErrorAdvice).Action | Should -Be 'Backoff'
    }
}

Describe 'The runbook built on the advice (about_Qfex)' {
    BeforeAll {
        $blocks = Get-AboutQfexBlock -Heading 'A runbook built on the advice'
        $script:runbook = $blocks[0]
        $script:usage = $blocks[1]
        # Defined here, from the documentation itself.
        . ([scriptblock]::Create($runbook))
        $script:server = Start-QfexTestServer
        $script:session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses
    }

    AfterAll {
        Get-QfexSession | Disconnect-Qfex
        Stop-QfexTestServer -Server $server
    }

    BeforeEach {
        $server.SilentTypes.Clear()
        $server.Respond['add_order'] = $null
        $server.ClearReceived()
    }

    It 'is in about_Qfex.help.txt too, line for line' {
        $help = (Get-Content -LiteralPath "$PSScriptRoot/../../docs/about_Qfex.help.txt") | ForEach-Object { $_.Trim() }
        $at = 0
        foreach ($line in ($runbook -split "`n" | ForEach-Object { $_.Trim() } | Where-Object { $_ })) {
            $next = [array]::IndexOf($help, $line, $at)
            $next | Should -BeGreaterOrEqual 0 -Because "about_Qfex.help.txt should have '$line' after line $at"
            $at = $next + 1
        }
    }

    It 'runs its documented example against the fake exchange (a refusal, then the order placed)' {
        $out = & ([scriptblock]::Create($usage))
        $out | Should -Be 'ACK'
    }

    It 'backs off after RateLimited, honouring RetryAfter, and places the order once' {
        $server.FailNext('add_order', 'RateLimited', 2)
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $answer = Invoke-QfexRequest -Type add_order -Params $order.Clone()
        $answer.Data.order_response.status | Should -Be 'ACK'
        $clock.Elapsed.TotalMilliseconds | Should -BeGreaterOrEqual 400    # twice "retry after 200ms"
        $sent = @($server.Received | Where-Object Type -eq 'add_order')
        $sent.Count | Should -Be 3
        @($sent.Params.client_order_id | Sort-Object -Unique).Count | Should -Be 1
    }

    It 'stops at once on what it must not retry' {
        $server.Respond['add_order'] = 'InvalidParameter'
        { Invoke-QfexRequest -Type add_order -Params $order.Clone() } | Should -Throw -ErrorId 'InvalidParameter,*'
        @($server.Received | Where-Object Type -eq 'add_order').Count | Should -Be 1
    }

    It 'never resends an order whose answer timed out, and stops when it cannot find it' {
        $server.SilentTypes.Add('add_order')
        { Invoke-QfexRequest -Type add_order -Params $order.Clone() -TimeoutSec 1 -WarningAction SilentlyContinue } |
            Should -Throw -ErrorId 'QfexTimeout,Qfex.Commands.SendQfexMessageCommand'
        # A barrier instead of a pause: the exchange answers in order, so a resend would have reached it before this.
        $null = Send-QfexMessage -Type get_user_trades -Wait -TimeoutSec 10
        @($server.Received | Where-Object Type -eq 'add_order').Count | Should -Be 1
        @($server.Received | Where-Object Type -eq 'get_user_orders').Count | Should -BeGreaterOrEqual 1
    }

    It 'returns the order it finds by client_order_id instead of resending it' {
        # The order reached the exchange (placed here first), but its answer to the runbook never comes.
        $params = $order.Clone()
        $params.client_order_id = 'runbook-found-1'
        $null = Send-QfexMessage -Type add_order -Params $params -Wait
        $server.SilentTypes.Add('add_order')
        $found = Invoke-QfexRequest -Type add_order -Params $params -TimeoutSec 1
        $found.client_order_id | Should -Be 'runbook-found-1'
        @($server.Received | Where-Object Type -eq 'add_order').Count | Should -Be 2
    }

    It 'never resends an order when the connection drops while it waits' {
        $server.SilentTypes.Add('add_order')
        $dropper = Start-ThreadJob -ScriptBlock {
            $fake = $using:server
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while (-not ($fake.Received | Where-Object Type -eq 'add_order') -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
            $fake.DropConnections()
        }
        $caught = $null
        try { $null = Invoke-QfexRequest -Type add_order -Params $order.Clone() -TimeoutSec 20 -WarningAction SilentlyContinue }
        catch { $caught = $_ }
        $dropper | Receive-Job -Wait -AutoRemoveJob
        $caught.FullyQualifiedErrorId | Should -Be 'QfexConnectionClosed,Qfex.Commands.SendQfexMessageCommand'
        $caught.Exception.RequestOutcome | Should -Be 'SentOutcomeUnknown'
        # It checked the outcome (after the reconnect) instead of resending.
        @($server.Received | Where-Object Type -eq 'get_user_orders').Count | Should -BeGreaterOrEqual 1
        # A barrier instead of a pause: the exchange answers in order, so a resend would have reached it before this.
        $null = Send-QfexMessage -Type get_user_trades -Wait -TimeoutSec 10
        @($server.Received | Where-Object Type -eq 'add_order').Count | Should -Be 1
    }
}

Describe 'The echoed request of an error frame (TargetObject), as users read it' {
    BeforeAll {
        $script:server = Start-QfexTestServer
        $script:session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential
        # Non-ASCII and HTML characters stay as they are in the text (this file stays ASCII: [char]0xE9 is e-acute).
        $script:echo = '{"type":"add_order","params":{"symbol":"AAPL-USD","price":"200.5","quantity":0.25,"client_order_id":"c-' + [char]0xE9 + '<1>","legs":[1,2]}}'
        $server.Push('{"err":{"error_code":"InvalidOrder","message":"bad","incoming_message":' + $echo + '}}')
        $script:record = $null
        Receive-QfexFrame -Session $session -Count 1 -TimeoutSec 5 -ErrorAction SilentlyContinue -ErrorVariable script:record
        $script:target = $record[0].TargetObject
    }
    AfterAll {
        Disconnect-Qfex -Session $session
        Stop-QfexTestServer $server
    }

    It 'is the redacted JSON as text, and its keys read as properties with the types of a frame' {
        "$target" | Should -BeExactly $echo
        $target.type | Should -Be 'add_order'
        $target.params.symbol | Should -Be 'AAPL-USD'
        $target.params.quantity | Should -BeOfType [decimal]
        $target.params.legs[0] | Should -BeOfType [long]
    }

    It 'converts with ConvertTo-Json to the same JSON, and selects and formats like the request' {
        $target | ConvertTo-Json -Compress -Depth 5 | Should -BeExactly $echo
        ($target | Select-Object -ExpandProperty params).client_order_id | Should -BeExactly "c-$([char]0xE9)<1>"
        ($target | Format-List | Out-String).Trim() | Should -Match '^type\s+: add_order\r?\nparams\s+: @\{symbol=AAPL-USD'
        $record[0].Exception.IncomingMessage | ConvertTo-Json -Compress -Depth 5 | Should -BeExactly $echo
    }

    It 'survives Export-Clixml as the request' {
        $path = Join-Path ([System.IO.Path]::GetTempPath()) "qfex-echo-$PID.xml"
        try {
            $record[0] | Export-Clixml -LiteralPath $path -Depth 3
            $back = Import-Clixml -LiteralPath $path
            $back.TargetObject.type | Should -Be 'add_order'
            $back.TargetObject.params.symbol | Should -Be 'AAPL-USD'
        }
        finally { Remove-Item -LiteralPath $path -ErrorAction Ignore }
    }

    It 'is the same type from New-QfexErrorRecord, so a mock reads the same' {
        $made = New-QfexErrorRecord InvalidOrder -IncomingMessage ($echo | ConvertFrom-Json)
        $made.TargetObject.GetType() | Should -Be $target.GetType()
        $made.TargetObject | ConvertTo-Json -Compress -Depth 5 | Should -BeExactly $echo
    }
}
