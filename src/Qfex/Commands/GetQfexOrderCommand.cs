using System;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Management.Automation;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex.Commands
{
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
}
