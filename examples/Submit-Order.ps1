# A runbook step: places one order and decides what to do when the exchange refuses it.
# The README, about_Qfex and New-QfexErrorRecord's examples use it; load it with
#     . ./examples/Submit-Order.ps1
# Its tests are in Submit-Order.Tests.ps1 beside it. The function below is shown in full in the
# README ("Error handling"); tests/Pester/Docs.Examples.Tests.ps1 checks that the two are the same.

<#
.SYNOPSIS
    Places one order on the default Qfex session and returns the exchange's answer.

.DESCRIPTION
    Sends the order with Send-QfexMessage -Wait (so the cmdlet's own safe retries apply) and
    decides by the error's category when the exchange refuses it:

    - QuotaExceeded (still throttled after the retries): a warning, and nothing is output.
    - PermissionDenied: a terminating error naming what to fix on the account.
    - InvalidArgument, InvalidData, ParserError: a terminating error; the order is not resent.
    - OperationTimeout, ConnectionError, ResourceUnavailable: the order may have reached the
      exchange, so it is looked up by its client_order_id (get_user_orders) and the order found,
      if any, is output; it is never placed a second time.
    - Anything else (for example an order rejection such as FAILED_MARGIN_CHECK): rethrown.

    The order gets a client_order_id ("runbook-" and 12 hex digits) when it has none; the
    caller's hashtable is not changed.

.PARAMETER Order
    The add_order params: symbol, side, order_type, order_time_in_force, quantity, price, ...

.PARAMETER TimeoutSec
    How long to wait for the answer to each request. The default is 15 seconds.

.EXAMPLE
    . ./examples/Submit-Order.ps1
    $answer = Submit-Order -Order @{ symbol = 'AAPL-USD'; side = 'BUY'; order_type = 'LIMIT'
                                     order_time_in_force = 'GTC'; quantity = 1; price = 200.0 }
    $answer.Data.order_response.status
#>
function Submit-Order {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [hashtable] $Order,
        [ValidateRange(1, 600)] [int] $TimeoutSec = 15
    )
    $request = $Order.Clone()    # the caller's hashtable stays as it was
    if (-not $request.client_order_id) {
        $request.client_order_id = "runbook-$([guid]::NewGuid().ToString('N').Substring(0, 12))"
    }
    try {
        Send-QfexMessage -Type add_order -Params $request -Wait -TimeoutSec $TimeoutSec -ErrorAction Stop
    }
    catch [Qfex.QfexException] {
        $failure = $_     # inside switch, $_ is the value being switched on
        switch ($failure.CategoryInfo.Category) {
            'QuotaExceeded'       { Write-Warning "Throttled even after retries; try later: $($failure.ErrorDetails.Message)" }
            'PermissionDenied'    { throw "Fix the account first: $($failure.ErrorDetails.RecommendedAction)" }
            { $_ -in 'InvalidArgument', 'InvalidData', 'ParserError' } {
                throw "Fix the order, do not resend it: $($failure.ErrorDetails.Message)" }
            { $_ -in 'OperationTimeout', 'ConnectionError', 'ResourceUnavailable' } {
                # The order may have reached the exchange: look for it before placing it again.
                $open = Send-QfexMessage -Type get_user_orders -Params @{ symbol = $request.symbol } -Wait -TimeoutSec $TimeoutSec -ErrorAction Stop
                $open.Data.all_orders_response.orders | Where-Object client_order_id -eq $request.client_order_id
            }
            default               { throw $failure }   # e.g. an order rejection such as FAILED_MARGIN_CHECK (InvalidOperation)
        }
    }
}
