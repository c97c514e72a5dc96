using System;
using System.Collections.Specialized;
using System.Globalization;
using System.Management.Automation;
using Qfex.Protocol;

namespace Qfex.Commands
{
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
