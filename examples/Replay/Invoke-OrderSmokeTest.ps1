<#
.SYNOPSIS
    A UAT smoke test of order entry: places a limit order far from the market, checks that it rests among the
    open orders, and cancels it. The runbook whose Pester test replays a recorded session
    (Invoke-OrderSmokeTest.Tests.ps1).

.DESCRIPTION
    Every request is sent with -Wait and $ErrorActionPreference = 'Stop', so any refusal ends the runbook with
    the exchange's error record. The client_order_id is a parameter, not a fresh GUID: an order a runbook can
    name again is one a replay can recognise (and one the runbook can look up after a dropped connection).

.EXAMPLE
    $session = Connect-Qfex -Environment Uat -Credential $uatKey -Subscribe order_responses
    ./Invoke-OrderSmokeTest.ps1 -Session $session -Symbol AAPL-USD -Quantity 1 -Price 200 -ClientOrderId smoke-aapl-1
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [Qfex.QfexSession] $Session,
    [Parameter(Mandatory)] [string] $Symbol,
    [Parameter(Mandatory)] [decimal] $Quantity,
    [Parameter(Mandatory)] [decimal] $Price,
    [Parameter(Mandatory)] [string] $ClientOrderId
)

$ErrorActionPreference = 'Stop'

$order = @{
    symbol              = $Symbol
    side                = 'BUY'
    order_type          = 'LIMIT'
    order_time_in_force = 'GTC'
    quantity            = $Quantity
    price               = $Price
    client_order_id     = $ClientOrderId
}
$placed = (Send-QfexMessage -Session $Session -Type add_order -Params $order -Wait).Data.order_response
Write-Verbose "Order $($placed.order_id) ($ClientOrderId): $($placed.status)."

$open = @((Send-QfexMessage -Session $Session -Type get_user_orders -Params @{ symbol = $Symbol } -Wait).Data.all_orders_response.orders)
$resting = @($open | Where-Object { $_.order_id -eq $placed.order_id }).Count -eq 1

$cancel = @{ symbol = $Symbol; order_id = $placed.order_id; cancel_order_id_type = 'order_id' }
$cancelled = (Send-QfexMessage -Session $Session -Type cancel_order -Params $cancel -Wait).Data.order_response

[pscustomobject]@{
    ClientOrderId = $ClientOrderId
    OrderId       = $placed.order_id
    Placed        = $placed.status
    Rested        = $resting
    Cancelled     = $cancelled.status
}
