# The typed trading cmdlets in real pwsh (run -NonInteractive by build.ps1), against the fake exchange: objects
# flowing from Get-* into Set-/Stop-, errors that leave the pipeline going, the high-impact confirmation of
# Stop-QfexOrder -All where PowerShell cannot prompt, and the -WhatIf text a console shows (from a child pwsh).

[Diagnostics.CodeAnalysis.SuppressMessageAttribute('PSUseDeclaredVarsMoreThanAssignments', '',
    Justification = 'Pester shares the variables that BeforeAll sets with the It blocks, which the analyzer does not see.')]
param()

BeforeAll {
    $script:manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../../out/Qfex/Qfex.psd1" }
    Import-Module -Name $script:manifest -Force
}

Describe 'Trading cmdlets' {
    BeforeAll {
        $server = Start-QfexTestServer
        $session = Connect-Qfex -Uri $server.Uri -Credential $server.Credential
    }
    AfterAll {
        Get-QfexSession | Disconnect-Qfex
        Stop-QfexTestServer -Server $server
    }
    BeforeEach {
        $null = Stop-QfexOrder -All -Force
        $server.ClearReceived()
    }

    It 'moves every open order of a symbol to a new price through the pipeline' {
        $null = New-QfexOrder -Symbol AAPL-USD -Side Buy -OrderType Limit -Quantity 1 -Price 200
        $null = New-QfexOrder -Symbol AAPL-USD -Side Buy -OrderType Limit -Quantity 2 -Price 199
        $null = New-QfexOrder -Symbol MSFT-USD -Side Sell -OrderType Limit -Quantity 1 -Price 300
        $moved = @(Get-QfexOrder -Symbol AAPL-USD | Set-QfexOrder -Price 201)
        $moved.Count | Should -Be 2
        $moved.Status | Should -Be @('Modified', 'Modified')
        (Get-QfexOrder -Symbol AAPL-USD).Price | Should -Be @(201, 201)
        (Get-QfexOrder -Symbol MSFT-USD).Price | Should -Be 300
    }

    It 'goes on after an order the exchange does not know, and -ErrorAction Stop stops at it' {
        $a = New-QfexOrder -Symbol AAPL-USD -Side Buy -OrderType Limit -Quantity 1 -Price 200
        $gone = [pscustomobject]@{ OrderId = '00000000-0000-0000-0000-000000000000'; Symbol = 'AAPL-USD' }
        $b = New-QfexOrder -Symbol AAPL-USD -Side Buy -OrderType Limit -Quantity 1 -Price 199
        $cancelled = @($a, $gone, $b | Stop-QfexOrder -ErrorAction SilentlyContinue -ErrorVariable missing)
        $cancelled.OrderId | Should -Be @($a.OrderId, $b.OrderId)
        $missing.Count | Should -Be 1
        $missing[0].FullyQualifiedErrorId | Should -Be 'NO_SUCH_ORDER,Qfex.Commands.StopQfexOrderCommand'
        $missing[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $missing[0].Exception | Should -BeOfType Qfex.QfexOrderRejectedException

        { $gone | Stop-QfexOrder -ErrorAction Stop } | Should -Throw -ErrorId 'NO_SUCH_ORDER,*'
    }

    It 'asks before -All where it can, and refuses it where PowerShell cannot prompt unless -Force' {
        $null = New-QfexOrder -Symbol AAPL-USD -Side Buy -OrderType Limit -Quantity 1 -Price 200
        Stop-QfexOrder -All -ErrorAction SilentlyContinue -ErrorVariable refused | Should -BeNullOrEmpty
        $refused[0].FullyQualifiedErrorId | Should -Be 'QfexConfirmationRequired,Qfex.Commands.StopQfexOrderCommand'
        $refused[0].Exception.Message | Should -Match 'Add -Force'
        @($server.Received | Where-Object Type -eq 'cancel_all_orders').Count | Should -Be 0
        @(Stop-QfexOrder -All -Force).Count | Should -Be 1
    }

    It 'writes what -WhatIf would do, as a one-line order summary' {
        $pwsh = [System.Environment]::ProcessPath
        $arguments = @(if ([System.IO.Path]::GetFileNameWithoutExtension($pwsh) -ne 'pwsh') { Join-Path $PSHOME 'pwsh.dll' }) +
            @('-NoProfile', '-NonInteractive', '-Command', @"
`$null = Import-Module '$($script:manifest -replace "'", "''")'
`$server = Start-QfexTestServer
`$null = Connect-Qfex -Uri `$server.Uri -Credential `$server.Credential
New-QfexOrder -Symbol AAPL-USD -Side Buy -OrderType Limit -Quantity 1 -Price 200 -WhatIf
Stop-QfexOrder -All -Symbol AAPL-USD -WhatIf
Close-QfexPosition -Symbol AAPL-USD -WhatIf
Get-QfexSession | Disconnect-Qfex
Stop-QfexTestServer
"@)
        $out = & $pwsh @arguments 2>&1
        $out | Should -Contain 'What if: Performing the operation "Place order" on target "BUY 1 AAPL-USD LIMIT 200 GTC".'
        $out | Should -Contain 'What if: Performing the operation "Cancel" on target "every open order on AAPL-USD".'
        $out | Should -Contain 'What if: Performing the operation "Close position" on target "position in AAPL-USD".'
    }
}
