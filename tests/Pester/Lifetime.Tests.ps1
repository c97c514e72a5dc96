# A session belongs to the runspace that opened it (thread jobs, ForEach-Object -Parallel): it closes with it.

BeforeAll {
    $manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../../out/Qfex/Qfex.psd1" }
    $script:module = (Resolve-Path -LiteralPath $manifest).Path
    Import-Module -Name $script:module -Force
    $script:server = Start-QfexTestServer

    # Waits (bounded) until the condition holds; fails the test otherwise.
    function Wait-Until([scriptblock] $Condition, [string] $What) {
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while (-not (& $Condition)) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "Timed out waiting until $What." }
            Start-Sleep -Milliseconds 20
        }
    }
}

AfterAll {
    Stop-QfexTestServer -Server $script:server
}

Describe 'Session lifetime' {
    It 'closes a session opened in a thread job when the job ends' {
        $job = Start-ThreadJob { Import-Module $using:module; Connect-Qfex -Uri ($using:server).Uri -Credential ($using:server).Credential }
        $session = Receive-Job -Job $job -Wait -AutoRemoveJob
        Wait-Until { $session.State -eq 'Closed' } 'the job session closes'
        $session.CloseReason | Should -BeLike 'Closed by the closing of runspace*'
        Wait-Until { $server.ConnectionCount -eq 0 } 'the exchange sees no connection'
    }

    It 'closes the sessions of ForEach-Object -Parallel blocks when they end' {
        $sessions = 1..3 | ForEach-Object -ThrottleLimit 3 -Parallel {
            Import-Module $using:module
            Connect-Qfex -Uri ($using:server).Uri -Credential ($using:server).Credential
        }
        $sessions | Should -HaveCount 3
        Wait-Until { -not ($sessions | Where-Object State -ne 'Closed') } 'every parallel session closes'
        Wait-Until { $server.ConnectionCount -eq 0 } 'the exchange sees no connection'
    }

    It 'keeps a session passed explicitly to a thread job usable there' {
        $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential
        $type = Start-ThreadJob { Import-Module $using:module; (Send-QfexMessage -Session $using:session -Type get_user_orders -Wait).Type } |
            Receive-Job -Wait -AutoRemoveJob
        $type | Should -Be 'all_orders_response'
        $session.State | Should -Be 'Open'
        Disconnect-Qfex -Session $session
    }
}
