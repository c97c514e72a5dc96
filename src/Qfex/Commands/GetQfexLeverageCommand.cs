using System;
using System.Linq;
using System.Management.Automation;
using Qfex.Protocol;

namespace Qfex.Commands
{
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
}
