# Executable docs: every ```powershell block (also ```pwsh, ```ps1) of README.md, of docs/about_Qfex.md
# and of the EXAMPLES section of each docs/*-*.md page runs here against the fake exchange
# (Start-QfexTestServer), each in a child pwsh of its own, and the output the docs show is checked.
# A block that cannot run is listed in $NotRunnable by its exact identifier (page > heading, and a
# hash of its text) with the reason; a new or changed block that is not listed runs, so a block that
# cannot run fails until someone decides.
#
# How a block runs (see $ChildRunner): a new pwsh process, located at the repository's root, the
# module under test imported (as the README's `Import-Module ./out/Qfex/Qfex.psd1` does), then
# $Prelude (a fake exchange and the variables the docs assume from earlier examples), the Given of
# the block's entry in $Examples, the block itself statement by statement as a user typing it would
# run it (each top-level statement's output formatted on its own, 120 columns wide), the entry's
# Then checks, and finally every session is disconnected and every fake exchange stopped. Live
# endpoints and credential prompts are replaced first, by $Substitutions (every block) and the
# entry's Replace (that block). A block whose top-level commands include Describe runs with
# Invoke-Pester in that process, and every test in it must pass. Output the docs show (an ```Output
# block right after the code) must be what the block writes to the console (VERBOSE, WARNING and
# What if lines included), line by line; the entry's Vary patterns mark the parts that change from
# run to run (a jittered delay, a port). The block must write no error.

[Diagnostics.CodeAnalysis.SuppressMessageAttribute('PSUseDeclaredVarsMoreThanAssignments', '',
    Justification = 'Discovery data reaches the tests through -ForEach, and the Prelude, Given and Then blocks run in the example''s scope in a child pwsh: uses the analyzer does not see.')]
param()

BeforeDiscovery {
    $RepoRoot = (Resolve-Path -LiteralPath "$PSScriptRoot/../..").Path

    function Get-QfexDocBlock {
        # The ```powershell blocks of the docs, each with the ```Output block that follows it, if any.
        param([Parameter(Mandatory)] [string] $Root)

        $pages = @('README.md', 'docs/about_Qfex.md') +
            @(Get-ChildItem -LiteralPath (Join-Path $Root 'docs') -Filter '*-*.md' -File | Sort-Object -Property Name |
                ForEach-Object { "docs/$($_.Name)" })
        foreach ($page in $pages) {
            $lines = @(Get-Content -LiteralPath (Join-Path $Root $page))
            $commandPage = $page -like 'docs/*-*.md'
            $inExamples = -not $commandPage
            $heading = ''
            $blocks = [System.Collections.Generic.List[object]]::new()
            for ($i = 0; $i -lt $lines.Count; $i++) {
                $line = $lines[$i]
                if ($line -match '^(#{2,3}) (.+?)\s*$') {
                    if ($commandPage -and $Matches[1] -eq '##') { $inExamples = $Matches[2] -eq 'EXAMPLES' }
                    $heading = $Matches[2]
                    continue
                }
                if ($line -notmatch '^ {0,3}```(powershell|pwsh|ps1)\s*$') {
                    if ($line -match '^ {0,3}```') {
                        # Another fence (text, Output, yaml): skip to its end so its lines are not read as headings.
                        for ($i++; $i -lt $lines.Count -and $lines[$i] -notmatch '^ {0,3}```\s*$'; $i++) { }
                    }
                    continue
                }
                $start = $i + 1
                for ($i++; $i -lt $lines.Count -and $lines[$i] -notmatch '^ {0,3}```\s*$'; $i++) { }
                $code = @($lines[$start..($i - 1)])
                $output = $null
                $next = $i + 1
                while ($next -lt $lines.Count -and $lines[$next].Trim() -eq '') { $next++ }
                if ($next -lt $lines.Count -and $lines[$next] -match '^```output\s*$') {
                    $end = $next + 1
                    while ($end -lt $lines.Count -and $lines[$end] -notmatch '^```\s*$') { $end++ }
                    $output = if ($end -gt $next + 1) { @($lines[($next + 1)..($end - 1)]) } else { @() }
                }
                if ($inExamples) {
                    $blocks.Add([pscustomobject]@{ Page = $page; Heading = $heading; Line = $start; Code = $code -join "`n"; Output = $output })
                }
            }
            foreach ($group in ($blocks | Group-Object -Property Heading)) {
                $n = 0
                foreach ($block in $group.Group) {
                    $n++
                    $id = "$($block.Page) > $($block.Heading)"
                    if ($group.Count -gt 1) { $id += " #$n" }
                    $sha = [System.Security.Cryptography.SHA256]::HashData([System.Text.Encoding]::UTF8.GetBytes($block.Code))
                    $hash = [System.Convert]::ToHexString($sha).Substring(0, 12).ToLowerInvariant()
                    $block | Add-Member -NotePropertyName Id -NotePropertyValue $id
                    $block | Add-Member -NotePropertyName Hash -NotePropertyValue $hash -PassThru
                }
            }
        }
    }

    # Blocks that cannot run here, by exact identifier and the hash of their text, with the reason.
    # When a listed block changes, its hash no longer matches: it runs, and fails until someone
    # decides again (makes it runnable, or lists the new hash).
    $NotRunnable = @{
        # 'docs/Example-Page.md > Example 9: ...' = @{ Hash = '0123456789ab'; Reason = 'needs a real account' }
    }

    # How each runnable block runs; a block without an entry runs as it is, after $Prelude.
    #   Given      run first (output discarded): the state the example assumes.
    #   Replace    this block's own literal substitutions, applied before $Substitutions.
    #   Then       checks that must each be true afterwards (they run in the block's scope).
    #   Shows      regular expressions that must each match a line of the block's console output
    #              (what the prose around the block says is shown).
    #   Vary       regular expressions for parts of the documented output that change from run to run.
    #   After      the identifier of the example this one continues: that one runs first.
    #   Wrap       a Pester fragment is put into a test file: <block> is replaced by the block.
    #   Arguments  a block with a param() block runs as a script, once per hashtable of arguments.
    #   TimeoutSec default 60.
    # A block whose top-level commands include Describe runs as a Pester file: all its tests must pass.
    $connect = { $null = Connect-Qfex -Uri $QfexDocServer.Uri -Credential $cred -Subscribe order_responses }
    # An order id in a -WhatIf target ("order 5b309929-...: BUY 1 ..."): new on every run.
    $orderIdInTarget = '(?<=target "order )[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?=:)'
    $Examples = @{
        'README.md > Quick start'                                                                                 = @{
            Then = { @(Get-Command -Module Qfex).Count -eq 20 }
        }
        'README.md > Trading on the exchange'                                                                     = @{
            Then = { $ack.Data.order_response.status -eq 'ACK' },
            { @($QfexDocServer.Received | Where-Object Type -eq 'cancel_order').Count -eq 1 },
            { -not (Get-QfexSession) }
        }
        'README.md > Error handling #1'                                                                           = @{
            Given = $connect, { $QfexDocServer.Respond['add_order'] = 'RateLimited' }
            Then  = { $err[0].FullyQualifiedErrorId -eq 'RateLimited,Qfex.Commands.SendQfexMessageCommand' },
            { $wait.TotalMilliseconds -eq 200 }
        }
        'README.md > Error handling #2'                                                                           = @{
            Then = { (Get-Command -Name Submit-Order).CmdletBinding }
        }
        'docs/about_Qfex.md > Advice for an error'                                                                = @{
            Given = $connect, { $QfexDocServer.Respond['add_order'] = 'RateLimited' }
            Then  = { $advice.Code -eq 'RateLimited' }
        }
        'docs/about_Qfex.md > A runbook built on the advice #1'                                                   = @{
            Then = { (Get-Command -Name Invoke-QfexRequest).CmdletBinding }
        }
        'docs/about_Qfex.md > A runbook built on the advice #2'                                                   = @{
            # The runbook is defined by the block before; tests/Pester/Errors.Tests.ps1 tests it further.
            After = 'docs/about_Qfex.md > A runbook built on the advice #1'
            Shows = '^ACK$'
            Then  = { $answer.Data.order_response.status -eq 'ACK' }, { @($server.Received | Where-Object Type -eq 'add_order').Count -eq 2 }
        }
        'docs/about_Qfex.md > Testing runbooks #1'                                                                = @{
            Shows = '^\s*\d+ \S+ order_response\s', '^QuotaExceeded$'
            Then  = { $err[0].CategoryInfo.Category -eq 'QuotaExceeded' }
        }
        'docs/about_Qfex.md > Testing runbooks #2'                                                                = @{
            # The fragment is an It of a runbook's test file, with Submit-Order loaded and an $order.
            Wrap = @'
Describe 'about_Qfex: a runbook unit test' {
    BeforeAll {
        . ./examples/Submit-Order.ps1
        $order = @{ symbol = 'AAPL-USD' }
    }
<block>
}
'@
        }
        'docs/Connect-Qfex.md > Example 1: Connect to the fake exchange and subscribe to order answers'             = @{
            Shows = '^\s*Id\s+State\s+Endpoint\s+Uri\s+Subscriptions$'
            Then  = { $session.State -eq 'Open' }, { $session.Subscriptions -contains 'order_responses' }
        }
        'docs/Connect-Qfex.md > Example 2: Connect to the UAT exchange with API keys from a credential prompt'      = @{
            Then = { $session.IsAuthenticated }, { @($QfexDocServer.Received.Type) -contains 'cancel_on_disconnect' }
        }
        'docs/Connect-Qfex.md > Example 3: Use keys kept in a secret store, and a subaccount'                       = @{
            Replace = @{ "'qfex_pub_0123456789'" = '$QfexDocServer.Credential.UserName' }
            Then    = { $session.IsAuthenticated }, { $session.AccountId -eq [guid] '11111111-1111-1111-1111-111111111111' }
        }
        'docs/Connect-Qfex.md > Example 4: Open a market-data session for two symbols'                             = @{
            # The fake exchange sends no market data by itself: ten bbo frames once the session subscribed.
            Given = {
                Invoke-QfexDocsLater -When { param($server) @($server.Received | Where-Object Type -eq 'subscribe').Count -ge 1 } -Action {
                    param($server)
                    foreach ($n in 1..10) {
                        $server.Push('{"type":"bbo","symbol":"AAPL-USD","time":"2026-11-25T15:22:00.000000000Z","bid":[["199.5","3"]],"ask":[["200.5","2"]],"sequence":' + $n + '}')
                    }
                }
            }
            Then  = { $md.State -eq 'Closed' }
        }
        'docs/Connect-Qfex.md > Example 5: Tune the rate limiter and the watchdog for a busy runbook'               = @{
            Then = { $session.State -eq 'Open' }
        }
        'docs/Connect-Qfex.md > Example 6: React to a reconnect while streaming'                                   = @{
            # -Continuous runs until Ctrl+C: here it ends after 10 seconds (room for a slow machine), and
            # the connection is dropped once the session is subscribed.
            Replace = @{ '-Continuous' = '-Continuous -TimeoutSec 10' }
            Given   = {
                Invoke-QfexDocsLater -When { param($server) @($server.Received | Where-Object Type -eq 'subscribe').Count -ge 1 } -Action {
                    param($server)
                    $server.DropConnections()
                }
            }
            Shows   = '^WARNING: Reconnected \(.+\); re-reading open orders\.$', '^\s*\d+ \S+ all_orders_response\s'
            Then    = { $session.Reconnects -eq 1 }, { @($QfexDocServer.Received.Type) -contains 'get_user_orders' }
        }
        'docs/Connect-Qfex.md > Example 7: Fail fast instead of reconnecting, and handle the failure'              = @{
            Then = { $session.State -eq 'Open' }
        }
        'docs/Disconnect-Qfex.md > Example 1: Close the default session after a test run'                          = @{
            Then = { -not (Get-QfexSession) }, { -not $server.IsRunning }
        }
        'docs/Disconnect-Qfex.md > Example 2: Close every session of the runspace and show the result'             = @{
            Given = $connect, $connect
            Then  = { -not (Get-QfexSession) }
        }
        'docs/Disconnect-Qfex.md > Example 3: Close a production session at the end of a runbook, even after a failure' = @{
            Then = { $session.State -eq 'Closed' }, { @($QfexDocServer.Received.Type) -contains 'cancel_all_orders' }
        }
        'docs/Disconnect-Qfex.md > Example 4: See what would be closed'                                            = @{
            Given = $connect
            Shows = '^What if: Performing the operation "Disconnect" on target "QfexSession 1 Open ws://127\.0\.0\.1:\d+/.*"\.$'
            Then  = { (Get-QfexSession -Default).State -eq 'Open' }
        }
        'docs/Get-QfexErrorAdvice.md > Example 1: List every known code'                                           = @{
            Shows = '^Code\s+Category\s+Action$', '^TncRequired\s+PermissionDenied\s+AcceptTerms\s*$'
        }
        'docs/Get-QfexErrorAdvice.md > Example 4: Branch a production runbook on the advice'                       = @{
            Given = $connect, { $QfexDocServer.Respond['add_order'] = 'RateLimited' }
            Then  = { $advice.Action -eq 'Backoff' }
        }
        'docs/Get-QfexSession.md > Example 1: List the sessions of a test run'                                     = @{
            Shows = '^\s*Id\s+State\s+Endpoint\s+Uri\s+Subscriptions$'
        }
        'docs/Get-QfexSession.md > Example 2: Check the default session before a runbook step'                     = @{
            Then = { $session.State -eq 'Open' }
        }
        'docs/Get-QfexSession.md > Example 3: Watch the health of a production session'                           = @{
            Given = $connect
            Shows = '^Reconnects\s+: 0$'
        }
        'docs/Receive-QfexFrame.md > Example 1: Read what the fake exchange pushed'                                = @{
            Shows = '^Sequence\s+ReceivedAt\s+Type\s+Data$', '^\s*2 \S+ order_response\s'
            Then  = { @(Receive-QfexFrame -Type subscribed).Count -eq 1 }
        }
        'docs/Receive-QfexFrame.md > Example 2: Wait for fills on the UAT exchange, with a deadline'              = @{
            # Two fills, pushed once the session is subscribed.
            Given = {
                Invoke-QfexDocsLater -When { param($server) @($server.Received | Where-Object Type -eq 'subscribe').Count -ge 1 } -Action {
                    param($server)
                    foreach ($n in 1..2) {
                        $server.Push('{"fill_response":{"trade_id":"t-' + $n + '","symbol":"AAPL-USD","price":150.0,"quantity":1.0,"side":"BUY","order_id":"o-1","remaining_quantity":' + (2 - $n) + '.0}}')
                    }
                }
            }
            Shows = '^remaining_quantity : 0\.0$'
            Then  = { @($fills).Count -eq 2 }, { -not $late }
        }
        'docs/Receive-QfexFrame.md > Example 3: Prove that no frame was lost'                                      = @{
            # Buffered: the subscription's confirmation, an error frame and an answer.
            Given = $connect, {
                $QfexDocServer.FailNext('get_user_orders', 'RateLimited', 1)
                Send-QfexMessage -Type get_user_orders
                Send-QfexMessage -Type get_user_orders
                Wait-QfexDocsCondition { (Get-QfexSession -Default).FramesPending -ge 3 }
            }
            Then  = { ($numbers -join ',') -eq '1,2,3' }, { @($frameErrors).Count -eq 1 }
        }
        'docs/Receive-QfexFrame.md > Example 4: Stream everything to a log file until Ctrl+C, and notice reconnects' = @{
            # -Continuous runs until Ctrl+C: here it ends after 10 seconds (room for a slow machine). A
            # frame is pushed and the connection dropped meanwhile; the log goes to this block's own folder.
            Replace = @{ '-Continuous' = '-Continuous -TimeoutSec 10'; './qfex-frames.jsonl' = '(Join-Path $QfexDocsFolder qfex-frames.jsonl)' }
            Given   = $connect, {
                Invoke-QfexDocsLater -Action {
                    param($server)
                    $server.Push('{"order_response":{"order_id":"o-1","symbol":"AAPL-USD","status":"FILLED","quantity":1.0,"quantity_remaining":0.0}}')
                    Start-Sleep -Milliseconds 200
                    $server.DropConnections()
                }
            }
            Shows   = '^WARNING: Reconnected: '
            Then    = {
                (Get-Content -LiteralPath (Join-Path $QfexDocsFolder 'qfex-frames.jsonl') -Raw) -match '(?s)^\{"subscribed".*\n\{"order_response".*"FILLED".*\n\{"type":"qfex\.reconnected"'
            }
        }
        'docs/Receive-QfexFrame.md > Example 5: Take up to five fills within ten seconds, however many come'      = @{
            # Two fills, pushed once the session is subscribed: fewer than five, and no error.
            Given = {
                $null = Connect-Qfex -Uri $QfexDocServer.Uri -Credential $cred -Subscribe fills
                Invoke-QfexDocsLater -Action {
                    param($server)
                    foreach ($n in 1..2) { $server.Push('{"fill_response":{"trade_id":"t-' + $n + '","symbol":"AAPL-USD","quantity":1.0}}') }
                }
            }
            Shows = '^2 fill\(s\) in 10 seconds$'
        }
        'docs/Receive-QfexFrame.md > Example 6: Separate error frames from normal frames'                          = @{
            # Buffered: the subscription's confirmation and the error frame that answered a request sent without -Wait.
            Given = $connect, {
                $QfexDocServer.Respond['get_user_orders'] = 'RateLimited'
                Send-QfexMessage -Type get_user_orders
                Wait-QfexDocsCondition { (Get-QfexSession -Default).FramesPending -ge 2 }
            }
        }
        'docs/Send-QfexMessage.md > Example 2: Make the fake exchange answer with an error and inspect it'         = @{
            After = 'docs/Send-QfexMessage.md > Example 1: Place a limit order on the fake exchange and wait for the answer'
        }
        'docs/Send-QfexMessage.md > Example 3: Watch the cmdlet retry a rate-limited request'                      = @{
            After = 'docs/Send-QfexMessage.md > Example 1: Place a limit order on the fake exchange and wait for the answer'
            Vary  = '(?<=retry \d of \d in )\d+(?= ms\.$)'
        }
        'docs/Send-QfexMessage.md > Example 4: Place and cancel an order on the UAT exchange'                      = @{
            Then = { (@($QfexDocServer.Received.Type) -join ' ') -eq 'auth subscribe add_order cancel_order' }
        }
        'docs/Send-QfexMessage.md > Example 5: Send a whole request as JSON'                                       = @{
            Given = $connect
            Shows = '^\s*\d+ \S+ all_orders_response\s'
        }
        'docs/Send-QfexMessage.md > Example 6: Send requests from the pipeline'                                    = @{
            Given = $connect
            Shows = '^\s*\d+ \S+ all_orders_response\s', '^\s*\d+ \S+ user_trades_response\s'
        }
        'docs/Send-QfexMessage.md > Example 7: Preview a mass cancellation without sending it'                     = @{
            Given = $connect
            Vary  = '(?<=on target "session 1 \()[^()]+(?=\)"\.$)'
            Then  = { @($QfexDocServer.Received.Type) -notcontains 'cancel_all_orders' }
        }
        'docs/Send-QfexMessage.md > Example 8: Handle errors by category in a runbook'                             = @{
            # The order is refused through its status, so the second catch block runs.
            Given = $connect, { $QfexDocServer.OrderStatusOverride = 'FAILED_MARGIN_CHECK' }
            Shows = '^WARNING: Order refused: FAILED_MARGIN_CHECK\. .+'
        }
        'docs/Start-QfexTestServer.md > Example 2: Make the fake exchange refuse orders with an error code'        = @{
            Then = { $server.Respond['add_order'] -eq 'InvalidOrder' }, { $server.Respond['cancel_all_orders'] -eq 'ServerError' }
        }
        'docs/Start-QfexTestServer.md > Example 6: Use a fixed port and a known key pair'                          = @{
            # Port 18080 may be taken on a shared machine: a free port instead.
            Given   = {
                $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
                $listener.Start()
                $QfexDocsPort = $listener.LocalEndpoint.Port
                $listener.Stop()
            }
            Replace = @{ '-Port 18080' = '-Port $QfexDocsPort' }
            Vary    = '(?<=^ws://127\.0\.0\.1:)\d+(?=/$)'
            Then    = { $server.Uri.Port -eq $QfexDocsPort }, { $server.Credential.UserName -eq 'qfex_pub_test' }
        }
        'docs/Start-QfexTestServer.md > Example 5: Replay a recorded session in a runbook''s Pester test'          = @{
            Then = { $replay.Replay.Unmatched.Count -eq 1 }, { -not $replay.IsRunning }
        }
        'docs/Connect-Qfex.md > Example 8: Record a session for a bug report or a replay test'                     = @{
            Then = { (Get-Content -LiteralPath $path -Raw) -match 'nonce\\":\\"\*\*\*\\"' }
        }
        'README.md > Testing runbooks with Pester #3'                                                             = @{
            # The fragment is the BeforeEach and an It of the runbook's test file (examples/Replay holds it whole).
            Wrap = @'
Describe 'README: a runbook replayed from its recording' {
<block>
    AfterEach {
        Disconnect-Qfex -Session $session
        Stop-QfexTestServer -Server $server
    }
}
'@
        }
        'docs/about_Qfex.md > Replaying a recorded session #1'                                                     = @{
            # Run from the repository's root: the runbook is in examples/Replay; the transcript goes to this block's folder.
            Replace = @{
                './Invoke-OrderSmokeTest.ps1'                           = './examples/Replay/Invoke-OrderSmokeTest.ps1'
                '-RecordPath ./Invoke-OrderSmokeTest.transcript.jsonl' = '-RecordPath (Join-Path $QfexDocsFolder smoke.jsonl)'
            }
            Shows   = '^Cancelled\s+: CANCELLED$'
            Then    = { (Get-Content -LiteralPath (Join-Path $QfexDocsFolder smoke.jsonl) -Tail 1) -match '^\{"kind":"end"' }
        }
        'docs/about_Qfex.md > Replaying a recorded session #2'                                                     = @{
            # The fragment is the runbook's test file without its Describe; the files are in examples/Replay.
            Replace = @{
                './Invoke-OrderSmokeTest.ps1'              = './examples/Replay/Invoke-OrderSmokeTest.ps1'
                './Invoke-OrderSmokeTest.transcript.jsonl' = './examples/Replay/Invoke-OrderSmokeTest.transcript.jsonl'
            }
            Wrap    = @'
Describe 'about_Qfex: a runbook replayed from its recording' {
<block>
}
'@
        }
        'docs/about_Qfex.md > Testing runbooks #3'                                                                 = @{
            Shows = '^1$', '^Decimal$'
        }
        'docs/New-QfexFrame.md > Example 1: Mock the answer to an order in a Pester test'                          = @{
            # The mock is a fragment of a test: here in an It that calls the mocked cmdlet like a runbook would.
            Wrap = @'
Describe 'New-QfexFrame: a typed answer from a mock' {
    It 'answers add_order with a frame typed as the exchange''s' {
<block>
        $answer = Send-QfexMessage -Type add_order -Params @{ symbol = 'AAPL-USD' } -Wait
        $answer.Data.order_response.price | Should -BeOfType [decimal]
        $answer.Data.order_response.price | Should -Be 200.0
    }
}
'@
        }
        'docs/New-QfexTestSession.md > Example 1: Unit-test a runbook that takes a typed session'                  = @{
            Replace = @{ './Invoke-OrderSmokeTest.ps1' = './examples/Replay/Invoke-OrderSmokeTest.ps1' }
        }
        'docs/Wait-QfexSession.md > Example 1: Resend an order that was not sent because the session was reconnecting' = @{
            Given = $connect
            Then  = { @($QfexDocServer.Received | Where-Object Type -eq 'add_order').Count -eq 1 }
        }
        'docs/Wait-QfexSession.md > Example 3: Wait for every session of the runspace, with one deadline'          = @{
            Given = $connect
            Then  = { -not $late }
        }
        'docs/Stop-QfexTestServer.md > Example 1: Stop the fake exchange at the end of a Pester file'              = @{
            # The fragment is the AfterAll of a Pester file: its effect is checked after that file's tests.
            Wrap = @'
Describe 'Stop-QfexTestServer in AfterAll' {
    BeforeAll {
        $server = Start-QfexTestServer
        $null = Connect-Qfex -Uri $server.Uri -Credential $server.Credential
    }
    Describe 'a Pester file' {
        It 'has a session' { Get-QfexSession | Should -Not -BeNullOrEmpty }
<block>
    }
    It 'closed the session and stopped the server' {
        Get-QfexSession | Should -BeNullOrEmpty
        $server.IsRunning | Should -BeFalse
    }
}
'@
        }
        'docs/Stop-QfexTestServer.md > Example 2: Stop every fake exchange of the runspace'                        = @{
            Given = { $first = Start-QfexTestServer; $second = Start-QfexTestServer }
            Then  = { -not $first.IsRunning }, { -not $second.IsRunning }, { -not $QfexDocServer.IsRunning }
        }
        'docs/Stop-QfexTestServer.md > Example 3: Run a runbook against the fake or the real exchange'             = @{
            # Once as a rehearsal, once "for real" (on $QfexDocServer, through the substitutions).
            Arguments = @{ Rehearsal = $true }, @{}
            Then      = { @($QfexDocServer.Received | Where-Object Type -eq 'cancel_all_orders').Count -eq 1 }, { -not (Get-QfexSession) }
        }
        'docs/New-QfexOrder.md > Example 1: Place a limit order on the fake exchange'                              = @{
            Then = { (Get-QfexSession -Default).Subscriptions -contains 'order_responses' }
        }
        'docs/New-QfexOrder.md > Example 2: Preview an order without placing it'                                  = @{
            Then = { @($QfexDocServer.Received.Type) -notcontains 'add_order' }
        }
        'docs/New-QfexOrder.md > Example 4: Stop a runbook when the account may not trade'                        = @{
            # The fake exchange refuses orders as an account that has not accepted the latest terms.
            Given = { $QfexDocServer.Respond['add_order'] = 'TncRequired' }
            Then  = { -not $placed }
        }
        'docs/Get-QfexOrder.md > Example 3: See what cancelling the orders of a symbol would do'                  = @{
            Vary = $orderIdInTarget
            Then = { @($QfexDocServer.Received.Type) -notcontains 'cancel_order' }
        }
        'docs/Set-QfexOrder.md > Example 2: Add a stop loss to one order, after a preview'                        = @{
            Vary = $orderIdInTarget
            Then = { @($QfexDocServer.Received | Where-Object Type -eq 'modify_order').Count -eq 1 }
        }
        'docs/Stop-QfexOrder.md > Example 2: Cancel everything in a runbook, after a preview'                      = @{
            Then = { @($QfexDocServer.Received | Where-Object Type -eq 'cancel_all_orders').Count -eq 1 }
        }
        'docs/Close-QfexPosition.md > Example 2: Preview closing every position the account traded today'         = @{
            Then = { @($QfexDocServer.Received.Type) -notcontains 'close_position' }
        }
        'docs/Get-QfexTrade.md > Example 1: List the trades of the fake exchange''s account'                       = @{
            Vary = '\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$'
        }
    }

    $blocks = @(Get-QfexDocBlock -Root $RepoRoot)
    $runnable = @()
    $notRun = @()
    foreach ($block in $blocks) {
        $listed = $NotRunnable[$block.Id]
        if ($listed -and $listed.Hash -eq $block.Hash) {
            $notRun += @{ Id = $block.Id; Reason = $listed.Reason }
            continue
        }
        $entry = if ($Examples.ContainsKey($block.Id)) { $Examples[$block.Id] } else { @{} }
        $runnable += @{ Id = $block.Id; Block = $block; Entry = $entry; Listed = $listed; Before = @(); MissingBefore = $null }
    }
    # An example that continues another runs that one first (its own predecessors first).
    foreach ($case in $runnable) {
        $case.Before = @()
        $after = $case.Entry.After
        while ($after) {
            $previous = @($runnable | Where-Object { $_.Id -eq $after })
            if ($previous.Count -ne 1) { $case.MissingBefore = $after; break }
            $case.Before = @($previous[0]) + $case.Before
            $after = $previous[0].Entry.After
        }
    }
    # Entries that name no block, or a block that is listed twice: the tables must say what the docs have.
    $ids = @($blocks.Id)
    $stale = @(@($Examples.Keys) + @($NotRunnable.Keys) | Where-Object { $_ -notin $ids }) +
        @($NotRunnable.Keys | Where-Object { $Examples.ContainsKey($_) } | ForEach-Object { "$_ (in both tables)" }) +
        @($runnable | Where-Object { $_.Listed } | ForEach-Object { "$($_.Id) (listed as not runnable with hash $($_.Listed.Hash); its hash is now $($_.Block.Hash): decide again)" })
    $blockCount = $blocks.Count
    $readmeSubmitOrder = @($blocks | Where-Object { $_.Page -eq 'README.md' -and $_.Code -match '^function Submit-Order\b' })
}

BeforeAll {
    $RepoRoot = (Resolve-Path -LiteralPath "$PSScriptRoot/../..").Path
    $Manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { Join-Path $RepoRoot 'out/Qfex/Qfex.psd1' }
    $Manifest = (Resolve-Path -LiteralPath $Manifest).Path
    $PesterManifest = Join-Path (Get-Module -Name Pester).ModuleBase 'Pester.psd1'

    # Live endpoints, credential prompts and paths, replaced in every block (literal text, in this order).
    $Substitutions = [ordered]@{
        '-Endpoint MarketData -Environment Uat'                                            = '-Endpoint MarketData -Uri $QfexDocServer.MarketDataUri'
        '-Environment Uat'                                                                 = '-Uri $QfexDocServer.Uri'
        '-Environment Production'                                                          = '-Uri $QfexDocServer.Uri'
        "Get-Credential -Message 'QFEX public key (user name) and secret key (password)'" = '$QfexDocServer.Credential'
        '(Get-Credential)'                                                                 = '($QfexDocServer.Credential)'
        'Get-Secret -Name QfexSecretKey'                                                   = '$QfexDocServer.Credential.Password'
        './out/Qfex/Qfex.psd1'                                                             = "'$($Manifest -replace "'", "''")'"
    }

    # What every block finds in its session before it runs: a fake exchange standing in for the live
    # one, the variables the docs assume a reader has from earlier examples, and two helpers for the
    # entries' Given. ($QfexDocsFolder, the block's own folder, is set by the runner.)
    $Prelude = {
        $QfexDocServer = Start-QfexTestServer
        $cred = $QfexDocServer.Credential        # what the docs' Get-Credential prompt returns
        $order = @{                              # the order of Send-QfexMessage's Example 1
            symbol              = 'AAPL-USD'
            side                = 'BUY'
            order_type          = 'LIMIT'
            order_time_in_force = 'GTC'
            quantity            = 1
            price               = 200.0
            client_order_id     = 'test-0001'
        }

        function Wait-QfexDocsCondition {
            # Waits (at most 10 s) until the condition holds, for example until frames are buffered.
            param([Parameter(Mandatory)] [scriptblock] $Until)
            $deadline = [datetime]::UtcNow.AddSeconds(10)
            while (-not (& $Until)) {
                if ([datetime]::UtcNow -gt $deadline) { throw "Timed out waiting until { $Until }." }
                Start-Sleep -Milliseconds 20
            }
        }

        function Invoke-QfexDocsLater {
            # Runs -Action on the fake exchange from a thread job while the block runs: once -When holds
            # (at most 20 s), after a short pause. For blocks that wait for the exchange to do something.
            param([Parameter(Mandatory)] [scriptblock] $Action, [scriptblock] $When = { $true }, [int] $DelayMilliseconds = 300)
            $whenText = $When.ToString()
            $actionText = $Action.ToString()
            $pause = [timespan]::FromMilliseconds($DelayMilliseconds)
            $null = Start-ThreadJob -ScriptBlock {
                $server = $using:QfexDocServer
                $until = [scriptblock]::Create($using:whenText)
                $deadline = [datetime]::UtcNow.AddSeconds(20)
                while (-not (& $until $server) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
                Start-Sleep -Duration $using:pause
                & ([scriptblock]::Create($using:actionText)) $server
            }
        }
    }

    # The script each child pwsh runs: -SpecPath names a JSON file written by Invoke-DocExample.
    $ChildRunner = {
        param([Parameter(Mandatory)] [string] $SpecPath)

        $ProgressPreference = 'SilentlyContinue'
        $PSStyle.OutputRendering = 'PlainText'
        $QfexDocsSpec = Get-Content -LiteralPath $SpecPath -Raw | ConvertFrom-Json
        $QfexDocsFolder = $QfexDocsSpec.Folder
        $QfexDocsFailures = [System.Collections.Generic.List[string]]::new()
        Set-Location -LiteralPath $QfexDocsSpec.RepoRoot
        Import-Module -Name $QfexDocsSpec.Manifest

        function Invoke-QfexDocsBlock {
            # Dot-sourced, so that the block's variables stay in the script's scope for the checks.
            # Output is formatted as in a console 120 columns wide, one top-level statement at a time.
            param([Parameter(Mandatory)] [string] $QfexDocsPath, [string] $QfexDocsMode = 'Statements', [object[]] $QfexDocsArguments)
            $qfexDocsParseErrors = $null
            $qfexDocsAst = [System.Management.Automation.Language.Parser]::ParseFile($QfexDocsPath, [ref] $null, [ref] $qfexDocsParseErrors)
            if ($qfexDocsParseErrors) {
                $QfexDocsFailures.Add("The block does not parse: $($qfexDocsParseErrors[0].Message) (line $($qfexDocsParseErrors[0].Extent.StartLineNumber))")
                return
            }
            if ($QfexDocsMode -eq 'Pester') {
                Import-Module -Name $QfexDocsSpec.PesterManifest
                $qfexDocsResult = Invoke-Pester -Path $QfexDocsPath -PassThru -Output Detailed
                if ($qfexDocsResult.Result -ne 'Passed' -or $qfexDocsResult.PassedCount -eq 0 -or $qfexDocsResult.PassedCount -ne $qfexDocsResult.TotalCount) {
                    $QfexDocsFailures.Add("Its Pester tests did not all pass: $($qfexDocsResult.PassedCount) of $($qfexDocsResult.TotalCount) passed, $($qfexDocsResult.FailedCount) failed, $($qfexDocsResult.FailedBlocksCount) blocks and $($qfexDocsResult.FailedContainersCount) files failed.")
                }
                return
            }
            if ($QfexDocsMode -eq 'Script') {
                foreach ($qfexDocsArgumentSet in $QfexDocsArguments) {
                    $qfexDocsSplat = @{}
                    foreach ($qfexDocsProperty in $qfexDocsArgumentSet.PSObject.Properties) { $qfexDocsSplat[$qfexDocsProperty.Name] = $qfexDocsProperty.Value }
                    try { & $QfexDocsPath @qfexDocsSplat | Out-String -Stream -Width 120 | Out-Default }
                    catch { $QfexDocsFailures.Add("The script ended with a terminating error: $_") }
                }
                return
            }
            foreach ($qfexDocsStatement in $qfexDocsAst.EndBlock.Statements) {
                try {
                    . ([scriptblock]::Create($qfexDocsStatement.Extent.Text)) | Out-String -Stream -Width 120 | Out-Default
                }
                catch {
                    $QfexDocsFailures.Add("The statement at line $($qfexDocsStatement.Extent.StartLineNumber) ended with a terminating error: $_")
                }
            }
        }

        try {
            . ([scriptblock]::Create($QfexDocsSpec.Prelude))
            foreach ($qfexDocsBefore in @($QfexDocsSpec.Before)) {
                if ($qfexDocsBefore) { . Invoke-QfexDocsBlock -QfexDocsPath $qfexDocsBefore }
            }
            foreach ($qfexDocsGiven in @($QfexDocsSpec.Given)) {
                if ($qfexDocsGiven) { $null = . ([scriptblock]::Create($qfexDocsGiven)) }
            }
            [System.Console]::Out.WriteLine('<<<qfex-docs:begin>>>')
            . Invoke-QfexDocsBlock -QfexDocsPath $QfexDocsSpec.BlockPath -QfexDocsMode $QfexDocsSpec.Mode -QfexDocsArguments @($QfexDocsSpec.Arguments)
            [System.Console]::Out.WriteLine('<<<qfex-docs:end>>>')
            foreach ($qfexDocsCheck in @($QfexDocsSpec.Then)) {
                if (-not $qfexDocsCheck) { continue }
                try {
                    $qfexDocsValue = . ([scriptblock]::Create($qfexDocsCheck))
                    if (-not $qfexDocsValue) { $QfexDocsFailures.Add("This check is false: { $($qfexDocsCheck.Trim()) }") }
                }
                catch {
                    $QfexDocsFailures.Add("This check failed: { $($qfexDocsCheck.Trim()) }: $_")
                }
            }
        }
        catch {
            $QfexDocsFailures.Add("The run failed: $_")
        }
        finally {
            Get-QfexSession | Disconnect-Qfex
            Stop-QfexTestServer
        }
        foreach ($qfexDocsFailure in $QfexDocsFailures) { [System.Console]::Error.WriteLine("QFEX-DOCS FAILURE: $qfexDocsFailure") }
        exit $(if ($QfexDocsFailures.Count -gt 0) { 1 } else { 0 })
    }


    $WorkDirectory = Join-Path ([System.IO.Path]::GetTempPath()) ('qfex-docs-' + [guid]::NewGuid().ToString('N'))
    $null = New-Item -ItemType Directory -Path $WorkDirectory -Force
    $RunnerPath = Join-Path $WorkDirectory 'Invoke-QfexDocsChild.ps1'
    Set-Content -LiteralPath $RunnerPath -Value $ChildRunner.ToString() -Encoding utf8NoBOM

    function Get-PwshCommand {
        # How to start another pwsh like this one (as build.ps1 does): this pwsh, or dotnet + pwsh.dll.
        $current = [System.Environment]::ProcessPath
        if ($current -and [System.IO.Path]::GetFileNameWithoutExtension($current) -eq 'pwsh') { return , @($current) }
        foreach ($name in 'pwsh', 'pwsh.exe') {
            $candidate = Join-Path $PSHOME $name
            if (Test-Path -LiteralPath $candidate -PathType Leaf) { return , @($candidate) }
        }
        $dll = Join-Path $PSHOME 'pwsh.dll'
        if ($current -and (Test-Path -LiteralPath $dll)) { return , @($current, $dll) }
        return , @((Get-Command -Name pwsh -CommandType Application | Select-Object -First 1).Source)
    }
    $Pwsh = Get-PwshCommand

    function ConvertTo-RunnableText {
        # The block's text with this block's own substitutions, then the common ones.
        param([Parameter(Mandatory)] [string] $Code, [System.Collections.IDictionary] $Replace)
        foreach ($table in @($Replace, $Substitutions)) {
            if (-not $table) { continue }
            foreach ($key in $table.Keys) { $Code = $Code.Replace([string] $key, [string] $table[$key]) }
        }
        return $Code
    }

    function Get-CommandCall {
        # The commands a block calls: all of them, or only its top-level statements' (-TopLevel).
        param([Parameter(Mandatory)] [string] $Code, [switch] $TopLevel)
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($Code, [ref] $null, [ref] $null)
        $commands = $ast.FindAll({ param($node) $node -is [System.Management.Automation.Language.CommandAst] }, $true)
        if ($TopLevel) {
            $top = @($ast.EndBlock.Statements)
            $commands = $commands | Where-Object { $_.Parent.Parent -in $top -or $_.Parent -in $top }
        }
        $commands
    }

    function Get-LiveConnect {
        # Connect-Qfex calls that would still reach a live exchange (no -Uri) after the substitutions.
        param([Parameter(Mandatory)] [string] $Code)
        Get-CommandCall -Code $Code | Where-Object { $_.GetCommandName() -eq 'Connect-Qfex' } |
            Where-Object { -not ($_.CommandElements | Where-Object { $_ -is [System.Management.Automation.Language.CommandParameterAst] -and $_.ParameterName -eq 'Uri' }) } |
            ForEach-Object { $_.Extent.Text }
    }

    function Invoke-DocExample {
        # Runs one block in a child pwsh; returns its exit code, its console output between the
        # markers, everything it wrote, its errors, and whether it timed out.
        param([Parameter(Mandatory)] [object] $Block, [Parameter(Mandatory)] [System.Collections.IDictionary] $Entry, [object[]] $Before = @())

        $folder = Join-Path $WorkDirectory $Block.Hash
        $null = New-Item -ItemType Directory -Path $folder -Force
        $code = ConvertTo-RunnableText -Code $Block.Code -Replace $Entry.Replace
        $describes = @(Get-CommandCall -Code $code -TopLevel | Where-Object { $_.GetCommandName() -eq 'Describe' })
        $mode = if ($Entry.Wrap -or $describes) { 'Pester' } elseif ($Entry.Arguments) { 'Script' } else { 'Statements' }
        if ($Entry.Wrap) { $code = $Entry.Wrap.Replace('<block>', $code) }
        $blockPath = Join-Path $folder $(if ($mode -eq 'Pester') { 'Block.Tests.ps1' } else { 'Block.ps1' })
        Set-Content -LiteralPath $blockPath -Value $code -Encoding utf8NoBOM

        $beforePaths = @(for ($i = 0; $i -lt $Before.Count; $i++) {
                $path = Join-Path $folder "Before$i.ps1"
                Set-Content -LiteralPath $path -Value (ConvertTo-RunnableText -Code $Before[$i].Block.Code -Replace $Before[$i].Entry.Replace) -Encoding utf8NoBOM
                $path
            })
        $spec = [ordered]@{
            RepoRoot       = $RepoRoot
            Manifest       = $Manifest
            PesterManifest = $PesterManifest
            Folder         = $folder
            Prelude        = $Prelude.ToString()
            Before         = $beforePaths
            Given          = @(foreach ($step in @($Entry.Given)) { if ($step) { $step.ToString() } })
            BlockPath      = $blockPath
            Mode           = $mode
            Arguments      = @($Entry.Arguments)
            Then           = @(foreach ($check in @($Entry.Then)) { if ($check) { $check.ToString() } })
        }
        $specPath = Join-Path $folder 'spec.json'
        $spec | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $specPath -Encoding utf8NoBOM

        $start = [System.Diagnostics.ProcessStartInfo]::new($Pwsh[0])
        foreach ($argument in @($Pwsh | Select-Object -Skip 1) + @('-NoLogo', '-NoProfile', '-NonInteractive', '-OutputFormat', 'Text', '-File', $RunnerPath, '-SpecPath', $specPath)) {
            $start.ArgumentList.Add($argument)
        }
        $start.UseShellExecute = $false
        $start.RedirectStandardOutput = $true
        $start.RedirectStandardError = $true
        $start.RedirectStandardInput = $true
        $start.Environment['NO_COLOR'] = '1'
        $process = [System.Diagnostics.Process]::Start($start)
        try {
            $process.StandardInput.Close()
            $stdout = $process.StandardOutput.ReadToEndAsync()
            $stderr = $process.StandardError.ReadToEndAsync()
            $timeoutSec = if ($Entry.TimeoutSec) { $Entry.TimeoutSec } else { 60 }
            $timedOut = -not $process.WaitForExit($timeoutSec * 1000)
            if ($timedOut) { $process.Kill($true) }
            $process.WaitForExit()
            $text = $stdout.Result -replace "`r`n", "`n"
            $console = if ($text -match '(?s)<<<qfex-docs:begin>>>\n(.*?)<<<qfex-docs:end>>>') { $Matches[1] } else { $null }
            [pscustomobject]@{
                ExitCode = $process.ExitCode
                TimedOut = $timedOut
                Console  = $console
                Stdout   = $text
                Stderr   = ($stderr.Result -replace "`r`n", "`n").Trim()
                Code     = $code
            }
        }
        finally {
            $process.Dispose()
        }
    }

    function Format-ConsoleLine {
        # Lines as compared: trailing spaces trimmed, leading and trailing empty lines dropped, the
        # parts that vary from run to run replaced by <varies>.
        param([AllowNull()] [string[]] $Line, [string[]] $Vary)
        $lines = @($Line | ForEach-Object { $_ -split "`n" } | ForEach-Object {
                $text = $_.TrimEnd()
                foreach ($pattern in $Vary) { $text = $text -replace $pattern, '<varies>' }
                $text
            })
        $first = 0
        while ($first -lt $lines.Count -and $lines[$first] -eq '') { $first++ }
        $last = $lines.Count - 1
        while ($last -ge $first -and $lines[$last] -eq '') { $last-- }
        if ($last -lt $first) { return , @() }
        return , @($lines[$first..$last])
    }
}

AfterAll {
    if ($WorkDirectory -and (Test-Path -LiteralPath $WorkDirectory)) { Remove-Item -LiteralPath $WorkDirectory -Recurse -Force }
}

Describe 'Documented examples' {
    It 'finds the PowerShell blocks of the README, about_Qfex and every help page''s EXAMPLES' -ForEach @(@{ Count = $blockCount }) {
        $Count | Should -BeGreaterThan 50
    }

    It 'has no entry for a block the docs do not have' -ForEach @(@{ Stale = $stale }) {
        $Stale | Should -BeNullOrEmpty -Because 'every entry of $Examples and $NotRunnable must name a block of the docs (page > heading)'
    }

    It 'shows in the README the Submit-Order that examples/Submit-Order.ps1 defines' -ForEach @(@{ Readme = $readmeSubmitOrder }) {
        $readmeSubmitOrder = @($Readme)
        $readmeSubmitOrder | Should -HaveCount 1
        $file = [System.Management.Automation.Language.Parser]::ParseFile((Join-Path $RepoRoot 'examples/Submit-Order.ps1'), [ref] $null, [ref] $null)
        $function = $file.Find({ param($node) $node -is [System.Management.Automation.Language.FunctionDefinitionAst] -and $node.Name -eq 'Submit-Order' }, $true)
        ($readmeSubmitOrder[0].Code.Trim() -replace "`r`n", "`n") | Should -BeExactly ($function.Extent.Text -replace "`r`n", "`n")
    }

    It '<Id>' -ForEach $runnable {
        $MissingBefore | Should -BeNullOrEmpty -Because "$Id continues '$MissingBefore', which must be a runnable block"
        $live = @(Get-LiveConnect -Code (ConvertTo-RunnableText -Code $Block.Code -Replace $Entry.Replace))
        $live | Should -BeNullOrEmpty -Because 'a Connect-Qfex without -Uri would reach a live exchange: add a substitution, or list the block as not runnable'

        $result = Invoke-DocExample -Block $Block -Entry $Entry -Before $Before
        $diagnosis = "`n--- block as run:`n$($result.Code)`n--- stdout:`n$($result.Stdout)`n--- stderr:`n$($result.Stderr)"
        if ($Listed) {
            $diagnosis = "`nIt is listed as not runnable ($($Listed.Reason)) with hash $($Listed.Hash), but its hash is now $($Block.Hash): decide again.$diagnosis"
        }
        $result.TimedOut | Should -BeFalse -Because "the block must end in time$diagnosis"
        $result.Stderr | Should -BeNullOrEmpty -Because "the block must write no error and every check must hold$diagnosis"
        $result.ExitCode | Should -Be 0 -Because $diagnosis
        $null -ne $result.Console | Should -BeTrue -Because "the runner marks the block's output$diagnosis"
        $console = Format-ConsoleLine -Line $result.Console
        foreach ($pattern in @($Entry.Shows)) {
            if (-not $pattern) { continue }
            @($console -match $pattern) | Should -Not -BeNullOrEmpty -Because "the docs say this block shows a line like /$pattern/$diagnosis"
        }
        if ($null -ne $Block.Output) {
            $expected = Format-ConsoleLine -Line $Block.Output -Vary $Entry.Vary
            $actual = Format-ConsoleLine -Line $result.Console -Vary $Entry.Vary
            ($actual -join "`n") | Should -BeExactly ($expected -join "`n") -Because "the docs show this output after the block (line $($Block.Line) of $($Block.Page))$diagnosis"
        }
    }

    It '<Id> is not run: <Reason>' -ForEach $notRun -Skip { }
}
