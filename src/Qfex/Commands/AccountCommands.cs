using System;
using System.Collections.Specialized;
using System.Globalization;
using System.Linq;
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

    /// <summary>Get-QfexLeverage: the account's leverage settings (get_user_leverage, every page), optionally of some symbols.</summary>
    [Cmdlet(VerbsCommon.Get, "QfexLeverage")]
    [OutputType(typeof(QfexLeverage))]
    public sealed class GetQfexLeverageCommand : QfexTradingCmdlet
    {
        /// <summary>Only these symbols (the request has no filter: the others are read and dropped).</summary>
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(SymbolCompleter))]
        public string[]? Symbol { get; set; }

        internal override void ProcessSession(QfexSession session) =>
            Page(session, "get_user_leverage", _ => { }, frame => QfexLeverage.Read(frame, session), 0, level =>
            {
                session.Core.Orders.Symbols.Add(level.Symbol);
                if (Symbol == null || Symbol.Contains(level.Symbol, StringComparer.OrdinalIgnoreCase)) WriteObject(level);
            });
    }

    /// <summary>Set-QfexLeverage: set_user_leverage; outputs the symbol's new leverage once the exchange acknowledged it.</summary>
    [Cmdlet(VerbsCommon.Set, "QfexLeverage", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(QfexLeverage))]
    public sealed class SetQfexLeverageCommand : QfexTradingCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(SymbolCompleter))]
        public string Symbol { get; set; } = string.Empty;

        [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
        public decimal Leverage { get; set; }

        internal override void ProcessSession(QfexSession session)
        {
            QfexFrame? ack = Request(session, "set_user_leverage", new OrderedDictionary { ["symbol"] = Symbol, ["leverage"] = Leverage },
                Symbol, "Set leverage to " + Leverage.ToString("0.############################", CultureInfo.InvariantCulture));
            if (ack != null) WriteObject(new QfexLeverage(Symbol, Leverage, ack, session));
        }
    }
}
