using System;
using System.Collections.Specialized;
using System.Management.Automation;
using Qfex.Protocol;

namespace Qfex.Commands
{
    /// <summary>Get-QfexTrade: the account's trades (get_user_trades, every page), filtered by order and time.</summary>
    [Cmdlet(VerbsCommon.Get, "QfexTrade")]
    [OutputType(typeof(QfexTrade))]
    public sealed class GetQfexTradeCommand : QfexTradingCmdlet
    {
        /// <summary>Only the trades of this order; a piped order binds its OrderId.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string? OrderId { get; set; }

        /// <summary>Only trades at or after this time (to the second).</summary>
        [Parameter]
        public DateTime? Start { get; set; }

        /// <summary>Only trades at or before this time (to the second).</summary>
        [Parameter]
        public DateTime? End { get; set; }

        /// <summary>At most this many trades (0, the default: all, however many pages that takes).</summary>
        [Parameter]
        [ValidateRange(0, int.MaxValue)]
        public int First { get; set; }

        internal override void ProcessSession(QfexSession session)
        {
            long? start = Start is DateTime s ? UnixSeconds(s) : null;
            long? end = End is DateTime e ? UnixSeconds(e) : null;
            if (start != null && end != null && start > end)
            {
                Refuse("get_user_trades", $"-Start ({Start:u}) is after -End ({End:u}).",
                    new OrderedDictionary { ["start_ts"] = start, ["end_ts"] = end });
                return;
            }
            Page(session, "get_user_trades", p =>
            {
                if (OrderId != null) p["order_id"] = OrderId;
                if (start != null) p["start_ts"] = start;
                if (end != null) p["end_ts"] = end;
            }, frame => QfexTrade.Read(frame, session), First, trade =>
            {
                session.Core.Orders.Symbols.Add(trade.Symbol);
                WriteObject(trade);
            });
        }

        /// <summary>Whole unix seconds (the exchange's start_ts and end_ts); a time that is not UTC is taken as local time, as PowerShell does.</summary>
        private static long UnixSeconds(DateTime time)
        {
            DateTime utc = time.Kind == DateTimeKind.Utc ? time : time.ToUniversalTime();
            return (long)Math.Floor((utc - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds);
        }
    }
}
