# Pester 5 tests, in real pwsh, of the security model in docs/about_Qfex.md as a user sees it on a console: what the
# error view and Format-List * -Force print for a careless or hostile exchange (the fake exchange's Faults seam) that
# quotes the auth request or sends terminal control sequences. The engine-level tests (tests/Qfex.Tests/SecretsTests.cs)
# scan every property; these check the console's own views, which only real pwsh has.

BeforeAll {
    $script:manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../../out/Qfex/Qfex.psd1" }
    Import-Module -Name $manifest -Force

    # Sequences a terminal obeys: clear the screen, set the window title (ended by BEL), 8-bit CSI, a right-to-left override.
    $script:hostile = "$([char]27)[2J$([char]27)]0;pwned$([char]7) $([char]0x9B)31m $([char]0x202E)txt.exe"

    function Show-Error {
        # Everything the console prints for an error record: the default view, and Format-List * -Force of it and its exception.
        param([Parameter(Mandatory)] $Record)
        (@($Record | Out-String -Width 4000) + ($Record | Format-List * -Force | Out-String -Width 4000) +
            ($Record.Exception | Format-List * -Force | Out-String -Width 4000)) -join "`n"
    }

    function Assert-NoInjectedSequence {
        # PowerShell's own colours (ESC[...m) are allowed; what the server sent must not survive.
        param([Parameter(Mandatory)] [string] $Text)
        $Text | Should -Not -Match ([regex]::Escape("$([char]27)[2J"))
        $Text | Should -Not -Match ([regex]::Escape("$([char]27)]0;"))
        $Text | Should -Not -Match "[$([char]7)$([char]0x9B)$([char]0x202E)]"
    }
}

Describe 'What the console shows of a hostile exchange' {
    BeforeAll {
        # As a console shows it, colours and all (PowerShell's own are ESC[...m; PlainText would strip the server's too).
        $script:rendering = $PSStyle.OutputRendering
        $PSStyle.OutputRendering = 'Ansi'
    }

    AfterAll {
        $PSStyle.OutputRendering = $script:rendering
    }

    BeforeEach {
        $script:server = Start-QfexTestServer
    }

    AfterEach {
        Get-QfexSession | Disconnect-Qfex
        Stop-QfexTestServer -Server $server
    }

    It 'never shows the signature, nonce or JWT of an auth request the exchange quotes back' {
        $server.Faults.AuthAnswer = '{"err":{"error_code":"PermissionDenied","message":"Refused {request:escaped} (signature {signature}, tag n{nonce}n)","incoming_message":{request}}}'
        # A failed connect is a terminating error (about_Qfex): caught, as a runbook would.
        $record = $null
        try { Connect-Qfex -Uri $server.Uri -Credential $server.Credential -TimeoutSec 5 } catch { $record = $_ }
        $record | Should -Not -BeNullOrEmpty
        $record.FullyQualifiedErrorId | Should -BeLike 'QfexAuthenticationFailed,*'
        $shown = Show-Error $record
        $shown | Should -Match ([regex]::Escape('tag n***n'))
        $shown | Should -Not -Match '[0-9a-f]{64}'
        $shown | Should -Not -Match '(?<![0-9A-Za-z_-])[0-9a-f]{32}(?![0-9A-Za-z])'
    }

    It 'shows an error frame without the control sequences of its code, message and echo' {
        $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential
        $server.Push((@{ err = @{ error_code = "Bad$([char]27)Code"; message = "Retry later $hostile"; incoming_message = @{ type = 'x'; note = $hostile } } } | ConvertTo-Json -Compress -Depth 5))
        $null = Receive-QfexFrame -Session $session -Count 1 -TimeoutSec 10 -ErrorAction SilentlyContinue -ErrorVariable received
        $received | Should -HaveCount 1
        $received[0].Exception.ServerMessage | Should -BeLike 'Retry later `[2J]0;pwned*'
        Assert-NoInjectedSequence (Show-Error $received[0])
    }

    It 'shows frames in their table view without the control sequences of their type and text' {
        $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential
        # JSON escapes C0 characters (the type decodes to them); C1 and bidi characters may stand unescaped in the text.
        $server.Push('{"type":"\u001b[2Jtick","v":"' + "$([char]0x9B)31m $([char]0x202E)txt" + '"}')
        $frame = Receive-QfexFrame -Session $session -Count 1 -TimeoutSec 10
        $frame.Type | Should -Be "$([char]27)[2Jtick"   # the data is as received
        $shown = $frame | Out-String -Width 200
        $shown | Should -Match ([regex]::Escape('[2Jtick'))
        Assert-NoInjectedSequence $shown
    }

    It 'shows a close reason without its control sequences' {
        $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -NoReconnect
        $server.CloseConnections(4000, "$([char]27)[2J$([char]27)]0;pwned$([char]7) bye")
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while ($session.State -ne 'Closed' -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
        $session.State | Should -Be 'Closed'
        $session.CloseReason | Should -BeLike '*0;pwned bye*'
        Assert-NoInjectedSequence (($session | Format-List * | Out-String -Width 4000) + $session.CloseReason)
        $null = Receive-QfexFrame -Session $session -TimeoutSec 1 -ErrorAction SilentlyContinue -ErrorVariable closed
        Assert-NoInjectedSequence (Show-Error $closed[0])
    }
}

Describe 'A ws:// loopback session in a pwsh whose environment names a proxy' {
    # .NET reads HTTP_PROXY, HTTPS_PROXY and ALL_PROXY once per process, so the session is made in a fresh pwsh
    # started with them set, pointing at a listener here that accepts nothing: a connection through the proxy
    # would wait in its backlog (and the clear-text auth would have gone to it).
    BeforeAll {
        $script:proxy = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $script:proxy.Start()
        $script:child = Join-Path ([System.IO.Path]::GetTempPath()) ('QfexProxyTest-' + [guid]::NewGuid().ToString('N') + '.ps1')
        Set-Content -LiteralPath $script:child -Encoding utf8 -Value @'
param([string] $Manifest)
$ErrorActionPreference = 'Stop'
Import-Module -Name $Manifest
$server = Start-QfexTestServer
try {
    $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential
    $answer = Send-QfexMessage -Session $session -Type get_user_orders -Wait -TimeoutSec 10
    "state=$($session.State) answer=$($answer.Type) uri=$($session.Uri)"
    Disconnect-Qfex -Session $session
}
finally { Stop-QfexTestServer -Server $server }
'@
    }

    AfterAll {
        $script:proxy.Stop()
        Remove-Item -LiteralPath $script:child -ErrorAction SilentlyContinue
    }

    It 'connects directly: the proxy sees no connection' {
        $saved = @{}
        foreach ($name in 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy', 'NO_PROXY', 'no_proxy') {
            $saved[$name] = [Environment]::GetEnvironmentVariable($name)
        }
        $address = "http://127.0.0.1:$($script:proxy.LocalEndpoint.Port)"
        try {
            foreach ($name in 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy') { [Environment]::SetEnvironmentVariable($name, $address) }
            foreach ($name in 'NO_PROXY', 'no_proxy') { [Environment]::SetEnvironmentVariable($name, $null) }
            $current = [System.Environment]::ProcessPath
            $command = @(
                if ([System.IO.Path]::GetFileNameWithoutExtension($current) -eq 'pwsh') { $current }
                elseif (Test-Path -LiteralPath (Join-Path $PSHOME 'pwsh') -PathType Leaf) { Join-Path $PSHOME 'pwsh' }
                else { $current; Join-Path $PSHOME 'pwsh.dll' }
            )
            $arguments = @($command | Select-Object -Skip 1) + @('-NoLogo', '-NoProfile', '-NonInteractive', '-OutputFormat', 'Text', '-File', $script:child, '-Manifest', $manifest)
            $output = & $command[0] @arguments 2>&1 | ForEach-Object { "$_" }
        }
        finally {
            foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
        }
        ($output -join "`n") | Should -Match '^state=Open answer=all_orders_response uri=ws://127\.0\.0\.1:\d+/'
        $script:proxy.Pending() | Should -BeFalse -Because 'a session to a loopback ws:// address never goes through a proxy'
    }
}
