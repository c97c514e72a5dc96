using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Management.Automation;
using Qfex.Errors;
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

    /// <summary>Get-QfexOrder: the account's open orders (get_user_orders, every page), or one order (get_order).</summary>
    [Cmdlet(VerbsCommon.Get, "QfexOrder", DefaultParameterSetName = ListSet)]
    [OutputType(typeof(QfexOrder))]
    public sealed class GetQfexOrderCommand : QfexTradingCmdlet
    {
        private const string ListSet = "List";
        private const string OrderIdSet = "OrderId";

        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = ListSet)]
        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = OrderIdSet)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(SymbolCompleter))]
        public string? Symbol { get; set; }

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = OrderIdSet)]
        [ValidateNotNullOrEmpty]
        public string OrderId { get; set; } = string.Empty;

        /// <summary>At most this many orders (0, the default: all, however many pages that takes).</summary>
        [Parameter(ParameterSetName = ListSet)]
        [ValidateRange(0, int.MaxValue)]
        public int First { get; set; }

        internal override void ProcessSession(QfexSession session)
        {
            if (ParameterSetName == OrderIdSet)
            {
                var parameters = new OrderedDictionary { ["order_id"] = OrderId, ["symbol"] = Symbol };
                QfexFrame? answer = Request(session, "get_order", parameters, string.Empty, string.Empty);
                if (answer == null) return;
                List<QfexOrder> found = QfexOrder.Read(answer, session);
                if (found.Count == 0)
                {
                    // The exchange lists no such open order: the record a cancel of it would get (ObjectNotFound).
                    ErrorCodeInfo row = ErrorCodeTable.ForOrderStatus("NO_SUCH_ORDER");
                    WriteError(ErrorRecords.For(row.Create(row, new ErrorContext(null, answer.Data, answer.Sequence, answer.ReceivedAt)),
                        RequestRunner.RedactedCopy(new OrderedDictionary { ["type"] = "get_order", ["params"] = parameters })));
                    return;
                }
                foreach (QfexOrder order in found) WriteObject(order);
                return;
            }

            Page(session, "get_user_orders", p => { if (Symbol != null) p["symbol"] = Symbol; },
                frame => QfexOrder.Read(frame, session), First, order => WriteObject(order));
        }
    }

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

    /// <summary>Stop-QfexOrder: cancel_order (by order id or client order id), or cancel_all_orders; outputs the cancelled orders.</summary>
    [Cmdlet(VerbsLifecycle.Stop, "QfexOrder", DefaultParameterSetName = OrderIdSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(QfexOrder))]
    public sealed class StopQfexOrderCommand : QfexTradingCmdlet
    {
        private const string OrderIdSet = "OrderId";
        private const string ClientOrderIdSet = "ClientOrderId";
        private const string AllSet = "AllOrders";

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = OrderIdSet)]
        [ValidateNotNullOrEmpty]
        public string OrderId { get; set; } = string.Empty;

        [Parameter(Mandatory = true, ParameterSetName = ClientOrderIdSet)]
        [ValidateNotNullOrEmpty]
        public string ClientOrderId { get; set; } = string.Empty;

        [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = OrderIdSet)]
        [Parameter(Mandatory = true, ParameterSetName = ClientOrderIdSet)]
        [Parameter(Position = 0, ParameterSetName = AllSet)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(SymbolCompleter))]
        public string? Symbol { get; set; }

        /// <summary>Cancels every open order of the account (of -Symbol only, when given): high impact.</summary>
        [Parameter(Mandatory = true, ParameterSetName = AllSet)]
        public SwitchParameter All { get; set; }

        /// <summary>-All without its extra high-impact confirmation (where PowerShell cannot prompt, -All needs it).</summary>
        [Parameter(ParameterSetName = AllSet)]
        public SwitchParameter Force { get; set; }

        private static readonly HashSet<string> OrderResponse = new HashSet<string>(StringComparer.Ordinal) { "order_response" };

        internal override void ProcessSession(QfexSession session)
        {
            if (ParameterSetName == AllSet)
            {
                CancelAll(session);
                return;
            }
            bool byClientId = ParameterSetName == ClientOrderIdSet;
            string id = byClientId ? ClientOrderId : OrderId;
            var parameters = new OrderedDictionary
            {
                ["symbol"] = Symbol,
                ["order_id"] = id,
                ["cancel_order_id_type"] = byClientId ? "client_order_id" : "order_id",
            };
            // Older docs read a client id from client_order_id: it is sent in both fields (protocol doc §3.2).
            if (byClientId) parameters["client_order_id"] = id;
            string target = byClientId ? $"orders with client order id {id} on {Symbol}" : DescribeOrder(session, id, Symbol!);
            WriteOrders(Request(session, "cancel_order", parameters, target, "Cancel order"), session);
        }

        private void CancelAll(QfexSession session)
        {
            var parameters = new OrderedDictionary();
            if (Symbol != null) parameters["symbol"] = Symbol;
            string target = Symbol != null ? $"every open order on {Symbol}" : "every open order of the account";
            long before = 0;
            QfexFrame? ack = Request(session, "cancel_all_orders", parameters, target, "Cancel", () => ConfirmAll(target),
                needsOrderResponses: true, sending: _ => before = session.FramesReceived);
            if (ack == null) return;

            // The exchange answers with one CANCELLED order_response per order, then its acknowledgement: the
            // cancellations that came since the request was sent are its output, taken from the receive buffer.
            var frames = new List<QfexFrame>();
            session.Buffer.TryTakeMany(OrderResponse, frame => frame.Sequence > before && frame.Sequence < ack.Sequence && IsCancellation(frame),
                int.MaxValue, frames);
            foreach (QfexFrame frame in frames) WriteOrders(frame, session);
        }

        private bool IsCancellation(QfexFrame frame)
        {
            foreach (QfexOrder order in QfexOrder.Read(frame, null))
                if (order.Status == QfexOrderStatus.Cancelled && (Symbol == null || string.Equals(order.Symbol, Symbol, StringComparison.Ordinal)))
                    return true;
            return false;
        }

        /// <summary>
        /// -All is high impact: after ShouldProcess (ConfirmImpact Medium), it also asks when $ConfirmPreference is High
        /// (the default), unless -Force or -Confirm (asked already, or -Confirm:$false: not to be asked).
        /// </summary>
        private bool ConfirmAll(string target)
        {
            if (Force || MyInvocation.BoundParameters.ContainsKey("Confirm")) return true;
            object? preference = GetVariableValue("ConfirmPreference");
            if (preference is PSObject pso) preference = pso.BaseObject;
            ConfirmImpact level = preference is ConfirmImpact impact ? impact
                : Enum.TryParse(preference?.ToString(), true, out ConfirmImpact parsed) ? parsed : ConfirmImpact.High;
            // None: never ask; Low or Medium: ShouldProcess has just asked.
            if (level != ConfirmImpact.High) return true;
            try
            {
                return ShouldContinue($"Cancel {target}?", "Confirm mass cancellation");
            }
            catch (Exception e) when (e is PSInvalidOperationException || e is System.Management.Automation.Host.HostException || e is NotImplementedException)
            {
                WriteQfexError(new QfexException(ErrorIds.ConfirmationRequired, ErrorCategory.InvalidOperation,
                    $"Stop-QfexOrder -All cancels {target} and needs a confirmation, but this PowerShell cannot prompt (it runs with -NonInteractive, " +
                    "or its host has no user interface). Add -Force (or -Confirm:$false) to cancel without the prompt. Nothing was sent.", e),
                    Symbol);
                return false;
            }
        }
    }

    /// <summary>Close-QfexPosition: close_position; outputs the closing order as the exchange acknowledged it.</summary>
    [Cmdlet(VerbsCommon.Close, "QfexPosition", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(QfexOrder))]
    public sealed class CloseQfexPositionCommand : QfexTradingCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(SymbolCompleter))]
        public string Symbol { get; set; } = string.Empty;

        internal override void ProcessSession(QfexSession session) =>
            WriteOrders(Request(session, "close_position", new OrderedDictionary { ["symbol"] = Symbol }, $"position in {Symbol}", "Close position"), session);
    }
}
