using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex.Commands
{
    /// <summary>Completes from a fixed list; the lists come from the message catalog and the code table.</summary>
    public abstract class ListCompleter : IArgumentCompleter
    {
        internal abstract IEnumerable<string> Values { get; }

        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            string prefix = (wordToComplete ?? string.Empty).Trim('\'', '"');
            return Values
                .Where(v => v.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                .Select(v => new CompletionResult(v, v, CompletionResultType.ParameterValue, v));
        }
    }

    public sealed class RequestTypeCompleter : ListCompleter
    {
        internal override IEnumerable<string> Values => MessageCatalog.Types;
    }

    public sealed class ErrorCodeCompleter : ListCompleter
    {
        internal override IEnumerable<string> Values => ErrorCodeTable.Codes;
    }

    /// <summary>The frame types the module knows (New-QfexFrame -Type): the trade socket's answers and pushes, the market-data channels.</summary>
    public sealed class FrameTypeCompleter : ListCompleter
    {
        internal static readonly string[] TradeFrameTypes =
        {
            "order_response", "fill_response", "position_response", "balance_response", "all_orders_response", "user_trades_response",
            "user_leverage_response", "available_leverage_levels_response", "twap_response", "stop_order_response", "ack", "ack_response",
            "subscribed", "unsubscribed", "authenticated", "error", "malformed", "qfex.reconnected",
        };

        internal override IEnumerable<string> Values => TradeFrameTypes.Concat(MessageCatalog.MarketDataChannels);
    }

    /// <summary>Connect-Qfex -Subscribe: the channels of the -Endpoint typed so far (Trade when none is).</summary>
    public sealed class ChannelCompleter : IArgumentCompleter
    {
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            object? endpoint = fakeBoundParameters?["Endpoint"];
            if (endpoint is PSObject pso) endpoint = pso.BaseObject;
            bool marketData = endpoint is QfexEndpoint e ? e == QfexEndpoint.MarketData
                : endpoint != null && Enum.TryParse(endpoint.ToString(), true, out QfexEndpoint parsed) && parsed == QfexEndpoint.MarketData;
            string prefix = (wordToComplete ?? string.Empty).Trim('\'', '"');
            return MessageCatalog.ChannelsFor(marketData ? QfexEndpoint.MarketData : QfexEndpoint.Trade)
                .Where(v => v.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                .Select(v => new CompletionResult(v, v, CompletionResultType.ParameterValue, v));
        }
    }

    /// <summary>-Symbol: the symbols the session (-Session, else every session of the runspace) has seen, then none.</summary>
    public sealed class SymbolCompleter : IArgumentCompleter
    {
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            object? bound = fakeBoundParameters?["Session"];
            if (bound is PSObject pso) bound = pso.BaseObject;
            IEnumerable<QfexSession> sessions = bound is QfexSession session ? new[] { session } : Transport.SessionRegistry.All;
            string prefix = (wordToComplete ?? string.Empty).Trim('\'', '"');
            return sessions.SelectMany(s => s.Core.Orders.Symbols.Snapshot())
                .Distinct(StringComparer.Ordinal)
                .OrderBy(v => v, StringComparer.Ordinal)
                .Where(v => v.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                .Select(v => new CompletionResult(v, v, CompletionResultType.ParameterValue, v));
        }
    }
}
