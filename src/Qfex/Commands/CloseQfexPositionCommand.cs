using System;
using System.Collections.Specialized;
using System.Management.Automation;
using Qfex.Protocol;

namespace Qfex.Commands
{
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
