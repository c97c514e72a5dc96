# A runbook step, written with the typed trading cmdlets: moves every open order of one symbol to a new
# price by cancelling them all and placing each again. about_Qfex and the README show it; load it with
#     . ./examples/Invoke-Requote.ps1
# Its tests are in Invoke-Requote.Tests.ps1 beside it, against the fake exchange.

<#
.SYNOPSIS
    Cancels every open order of a symbol and places each again at a new price.

.DESCRIPTION
    One cancel_all_orders for the symbol (Stop-QfexOrder -All -Symbol), then, for each order it cancelled,
    one add_order (New-QfexOrder) with the same side, type, time in force and brackets, for what remained of
    it, at -Price. The re-placed orders are output.

    - PermissionDenied, TncRequired or KycRequired (a Qfex.QfexPermissionException), from the cancel or from
      any order: the runbook stops at once with that error (terminating): no order will go through until
      the account is fixed, and the error's RecommendedAction says what to do. The orders already cancelled
      and not yet placed again are named in a warning first.
    - Any other refusal of one order (a rejection such as FAILED_MARGIN_CHECK, InvalidOrder, a timeout):
      that order's error is written (non-terminating) and the runbook goes on with the next order.
    - A failure of the cancel itself stops the runbook before anything is placed.

    Nothing is ever sent twice: a RateLimited answer is retried by the cmdlets themselves (they refuse
    nothing else again), and an order whose answer did not come (QfexTimeout) is not placed again.
    Supports -WhatIf and -Confirm (ConfirmImpact High: it asks once, here; the cmdlets do not ask again).

.PARAMETER Symbol
    The symbol whose orders move, such as AAPL-USD.

.PARAMETER Price
    The new price (for stop orders, the new trigger price).

.PARAMETER Session
    The session to use. The default is the runspace's default session.

.PARAMETER TimeoutSec
    How long to wait for each answer. The default is 15 seconds.

.EXAMPLE
    . ./examples/Invoke-Requote.ps1
    Invoke-Requote -Symbol AAPL-USD -Price 201 -Confirm:$false
#>
function Invoke-Requote {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType([Qfex.QfexOrder])]
    param(
        [Parameter(Mandatory)] [string] $Symbol,
        [Parameter(Mandatory)] [decimal] $Price,
        [Qfex.QfexSession] $Session,
        [ValidateRange(1, 600)] [int] $TimeoutSec = 15
    )
    $common = @{ TimeoutSec = $TimeoutSec; Confirm = $false; ErrorAction = 'Stop' }
    if ($Session) { $common.Session = $Session }
    if (-not $PSCmdlet.ShouldProcess("every open order on $Symbol", "Cancel and place again at $Price")) { return }

    # 1. Cancel everything on the symbol; a refusal (PermissionDenied, TncRequired, ...) stops here.
    $cancelled = @(Stop-QfexOrder -All -Symbol $Symbol -Force @common)
    Write-Verbose "Cancelled $($cancelled.Count) order(s) on $Symbol."

    # 2. Place each again at the new price: same side, type, time in force and brackets, for what remained.
    for ($i = 0; $i -lt $cancelled.Count; $i++) {
        $order = $cancelled[$i]
        try {
            $order | New-QfexOrder -Price $Price -Quantity $order.QuantityRemaining @common
        }
        catch [Qfex.QfexPermissionException] {
            # The account may not trade: nothing else will go through. Say what is left, then stop.
            $left = @($cancelled[$i..($cancelled.Count - 1)] | ForEach-Object { $_.ToString() })
            Write-Warning "Cancelled and not placed again ($($left.Count)): $($left -join '; ')"
            $PSCmdlet.ThrowTerminatingError($_)
        }
        catch [Qfex.QfexException] {
            # This order only (a rejection, an invalid order, a timeout): report it and go on.
            $PSCmdlet.WriteError($_)
        }
    }
}
