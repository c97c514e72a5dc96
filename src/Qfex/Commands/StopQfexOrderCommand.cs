using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Management.Automation;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex.Commands
{
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
}
