using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Management.Automation;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex.Commands
{
    /// <summary>
    /// Base of the typed trading cmdlets (New-QfexOrder, Get-QfexOrder, ...): each request goes through the one
    /// <see cref="RequestRunner"/> Send-QfexMessage uses, always waiting for its answer, so validation, -WhatIf/-Confirm,
    /// rate-limit weights, retries, answer matching and error records are Send-QfexMessage -Wait's.
    /// </summary>
    public abstract class QfexTradingCmdlet : QfexSessionCmdlet
    {
        /// <summary>The session to use; a piped order, trade, leverage setting or session binds its own.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        public override QfexSession? Session { get; set; }

        /// <summary>The whole wait for each request's answer, retries included.</summary>
        [Parameter]
        [ValidateRange(1, 3600)]
        public int TimeoutSec { get; set; } = 10;

        /// <summary>How often a RateLimited (or, for a read-only request, ServerError) answer is retried.</summary>
        [Parameter]
        [ValidateRange(0, 10)]
        public int MaxRetries { get; set; } = 3;

        /// <summary>
        /// Sends one request as Send-QfexMessage -Wait does and returns its answer when it is a normal one; null when
        /// the request was refused, declined (-WhatIf, -Confirm) or not answered normally (its error record is written).
        /// </summary>
        internal QfexFrame? Request(QfexSession session, string type, IDictionary parameters, string target, string action,
            Func<bool>? confirmMore = null, bool needsOrderResponses = false, Action<OutgoingMessage>? sending = null)
        {
            var runner = new RequestRunner(this) { Wait = true, TimeoutSec = TimeoutSec, MaxRetries = MaxRetries };
            OutgoingMessage? message = runner.Build(() => OutgoingMessage.FromTypeAndParams(type, parameters, session.Endpoint),
                () => RequestRunner.RedactedCopy(new OrderedDictionary { ["type"] = type, ["params"] = parameters }));
            if (message == null) return null;
            using (message)
            {
                sending?.Invoke(message);
                return runner.Run(session, message, target, action, confirmMore, needsOrderResponses);
            }
        }

        /// <summary>A request refused before sending because of how the cmdlet's parameters combine: QfexInvalidMessage, nothing sent.</summary>
        internal void Refuse(string type, string problem, IDictionary parameters) =>
            WriteQfexError(new QfexInvalidMessageException($"Not sent: {type}: {problem}"),
                RequestRunner.RedactedCopy(new OrderedDictionary { ["type"] = type, ["params"] = parameters }));

        /// <summary>Outputs the orders an answer carries, with the session they were read on.</summary>
        internal void WriteOrders(QfexFrame? answer, QfexSession session)
        {
            if (answer == null) return;
            foreach (QfexOrder order in QfexOrder.Read(answer, session)) WriteObject(order);
        }

        /// <summary>"order 5b30...: BUY 1 AAPL-USD LIMIT 200 GTC" when the session saw the order, else "order 5b30... on AAPL-USD".</summary>
        internal static string DescribeOrder(QfexSession session, string orderId, string symbol) =>
            session.Core.Orders.SummaryOf(orderId) is string summary ? $"order {orderId}: {summary}" : $"order {orderId} on {symbol}";

        /// <summary>
        /// Pages through a list request (limit/offset, the session's page size): each page's answer to <paramref name="read"/>,
        /// until a page comes back short or <paramref name="first"/> items were read (0: all).
        /// </summary>
        internal void Page<T>(QfexSession session, string type, Action<IDictionary> addFilters, Func<QfexFrame, List<T>> read, int first, Action<T> write)
        {
            int taken = 0;
            for (int offset = 0; ; )
            {
                int limit = first > 0 ? Math.Min(session.PageSize, first - taken) : session.PageSize;
                var parameters = new OrderedDictionary();
                addFilters(parameters);
                parameters["limit"] = limit;
                parameters["offset"] = offset;
                QfexFrame? answer = Request(session, type, parameters, string.Empty, string.Empty);
                if (answer == null) return;
                List<T> items = read(answer);
                foreach (T item in items)
                {
                    write(item);
                    if (first > 0 && ++taken >= first) return;
                }
                if (items.Count < limit) return;
                offset += items.Count;
                WriteVerbose($"{type}: a full page of {items.Count}; asking for the next one (offset {offset}).");
            }
        }
    }
}
