using System;
using System.Collections.Specialized;
using System.Management.Automation;
using Qfex.Protocol;

namespace Qfex.Commands
{
    /// <summary>New-QfexOrder: add_order, waiting for the answer; outputs the order as the exchange acknowledged it.</summary>
    [Cmdlet(VerbsCommon.New, "QfexOrder", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(QfexOrder))]
    public sealed class NewQfexOrderCommand : QfexTradingCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(SymbolCompleter))]
        public string Symbol { get; set; } = string.Empty;

        [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
        public QfexSide? Side { get; set; }

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
        [ValidateSet("Limit", "Market", "Alo", "TakeProfit", "StopLoss")]
        public QfexOrderType? OrderType { get; set; }

        [Parameter(Mandatory = true, Position = 2, ValueFromPipelineByPropertyName = true)]
        public decimal Quantity { get; set; }

        /// <summary>The limit price, or a stop order's trigger price; not for Market orders.</summary>
        [Parameter(Position = 3, ValueFromPipelineByPropertyName = true)]
        public decimal? Price { get; set; }

        /// <summary>Gtc by default; Ioc for Market orders.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        public QfexTimeInForce? TimeInForce { get; set; }

        [Parameter(ValueFromPipelineByPropertyName = true)]
        public decimal? TakeProfit { get; set; }

        [Parameter(ValueFromPipelineByPropertyName = true)]
        public decimal? StopLoss { get; set; }

        [Parameter]
        public SwitchParameter ReduceOnly { get; set; }

        /// <summary>The order's client id; Qfex generates one ("qfex-" and a GUID) when it is not given.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? ClientOrderId { get; set; }

        internal override void ProcessSession(QfexSession session)
        {
            // Mandatory: bound whenever this runs (nullable only so that help shows no default).
            QfexSide side = Side!.Value;
            QfexOrderType orderType = OrderType!.Value;
            QfexTimeInForce timeInForce = TimeInForce ?? (orderType == QfexOrderType.Market ? QfexTimeInForce.Ioc : QfexTimeInForce.Gtc);
            var parameters = new OrderedDictionary
            {
                ["symbol"] = Symbol,
                ["side"] = QfexWire.Of(side),
                ["order_type"] = QfexWire.Of(orderType),
                ["order_time_in_force"] = QfexWire.Of(timeInForce),
                ["quantity"] = Quantity,
            };
            // A MARKET order takes no price (the exchange ignores one); 0, as a piped MARKET order has, is no price.
            if (Price is decimal price && !(orderType == QfexOrderType.Market && price == 0)) parameters["price"] = price;
            if (TakeProfit is decimal takeProfit && takeProfit != 0) parameters["take_profit"] = takeProfit;
            if (StopLoss is decimal stopLoss && stopLoss != 0) parameters["stop_loss"] = stopLoss;
            if (ReduceOnly) parameters["reduce_only"] = true;
            if (ClientOrderId != null) parameters["client_order_id"] = ClientOrderId;
            if (orderType == QfexOrderType.Market && parameters.Contains("price"))
            {
                Refuse("add_order", "a Market order takes no -Price (it fills at the market's price): leave -Price out, or use -OrderType Limit.", parameters);
                return;
            }

            string summary = OrderSummary.Format(side, Quantity, Symbol, orderType, Price, timeInForce, TakeProfit, StopLoss, ReduceOnly);
            WriteOrders(Request(session, "add_order", parameters, summary, "Place order"), session);
        }
    }
}
