using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Management.Automation;
using Qfex.Protocol;

namespace Qfex.Commands
{
    /// <summary>Set-QfexOrder: modify_order; outputs the order as modified (with its new order_id when the exchange gave it one).</summary>
    [Cmdlet(VerbsCommon.Set, "QfexOrder", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(QfexOrder))]
    public sealed class SetQfexOrderCommand : QfexTradingCmdlet
    {
        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string OrderId { get; set; } = string.Empty;

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(SymbolCompleter))]
        public string Symbol { get; set; } = string.Empty;

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
        public QfexSide? Side { get; set; }

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
        public QfexOrderType? OrderType { get; set; }

        [Parameter]
        public decimal? Price { get; set; }

        [Parameter]
        public decimal? Quantity { get; set; }

        /// <summary>The new bracket take-profit price; 0 removes it.</summary>
        [Parameter]
        public decimal? TakeProfit { get; set; }

        /// <summary>The new bracket stop-loss price; 0 removes it.</summary>
        [Parameter]
        public decimal? StopLoss { get; set; }

        internal override void ProcessSession(QfexSession session)
        {
            var parameters = new OrderedDictionary
            {
                ["order_id"] = OrderId,
                ["symbol"] = Symbol,
                ["side"] = QfexWire.Of(Side!.Value),
                ["order_type"] = QfexWire.Of(OrderType!.Value),
            };
            var changes = new List<string>();
            void Change(string name, string label, decimal? value)
            {
                if (value is not decimal v) return;
                parameters[name] = v;
                changes.Add($"{label} {QfexWire.Number(v)}");
            }
            Change("price", "price", Price);
            Change("quantity", "quantity", Quantity);
            Change("take_profit", "take profit", TakeProfit);
            Change("stop_loss", "stop loss", StopLoss);
            if (changes.Count == 0)
            {
                Refuse("modify_order", "nothing to change: give -Price, -Quantity, -TakeProfit or -StopLoss.", parameters);
                return;
            }
            WriteOrders(Request(session, "modify_order", parameters, DescribeOrder(session, OrderId, Symbol), "Modify order: " + string.Join(", ", changes)), session);
        }
    }
}
