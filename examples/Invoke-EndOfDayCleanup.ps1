# A runbook step: cancels every open order of the account at the end of the day.
# Start-QfexTestServer's Example 3 tests it against the fake exchange; load it with
#     . ./examples/Invoke-EndOfDayCleanup.ps1
# Its tests are in Invoke-EndOfDayCleanup.Tests.ps1 beside it.

<#
.SYNOPSIS
    Cancels every open order of the account (cancel_all_orders) and returns the exchange's answer.

.DESCRIPTION
    Sends one cancel_all_orders on the session and waits for its answer. A refusal stops the
    runbook (terminating error): cancel_all_orders changes orders, so Send-QfexMessage never resends
    it after a ServerError, and neither does this function. Supports -WhatIf and -Confirm (asked
    once, here).

.PARAMETER Session
    The session to use. The default is the runspace's default session.

.EXAMPLE
    . ./examples/Invoke-EndOfDayCleanup.ps1
    Invoke-EndOfDayCleanup -WhatIf
#>
function Invoke-EndOfDayCleanup {
    [CmdletBinding(SupportsShouldProcess)]
    param(
        [Parameter(ValueFromPipeline)] [psobject] $Session
    )
    process {
        $target = if ($Session) { @{ Session = $Session } } else { @{} }
        $name = if ($Session) { "session $($Session.Id)" } else { 'the default session' }
        if ($PSCmdlet.ShouldProcess($name, 'Cancel every open order')) {
            # Confirmed here once: Send-QfexMessage does not ask again.
            Send-QfexMessage @target -Type cancel_all_orders -Params @{} -Wait -Confirm:$false -ErrorAction Stop
        }
    }
}
