using System;
using System.Collections.Generic;
using System.Linq;

namespace Qfex.Protocol
{
    /// <summary>What a request does, for -WhatIf/-Confirm, retries and the rate limiter.</summary>
    internal enum RequestEffect
    {
        /// <summary>Session housekeeping: auth, (un)subscribe.</summary>
        Session,
        /// <summary>Reads state; safe to resend.</summary>
        ReadOnly,
        /// <summary>Creates, changes or cancels orders or positions (or account settings that affect them).</summary>
        Trading,
        /// <summary>Moves funds.</summary>
        Funds,
    }

    /// <summary>The exchange's two rate-limit buckets (protocol doc §6.1): cancels never wait behind other requests.</summary>
    internal enum RateBucket
    {
        General,
        Cancel,
    }

    internal enum ParamKind
    {
        String,
        Number,
        /// <summary>A number >= 0 (take_profit and stop_loss: 0 = unused; a MARKET order's ignored price).</summary>
        NonNegativeNumber,
        PositiveNumber,
        /// <summary>A whole number >= <see cref="ParamSpec.Min"/> (0 unless stated).</summary>
        Integer,
        Boolean,
        StringArray,
        /// <summary>A non-empty array of whole numbers, each one of <see cref="ParamSpec.Allowed"/> when given.</summary>
        IntegerArray,
    }

    internal sealed class ParamSpec
    {
        internal ParamSpec(string name, ParamKind kind, bool required, long min, params string[] allowed)
        {
            Name = name;
            Kind = kind;
            Required = required;
            Min = min;
            Allowed = allowed;
        }

        internal string Name { get; }
        internal ParamKind Kind { get; }
        internal bool Required { get; }
        /// <summary>The smallest whole number allowed (Integer).</summary>
        internal long Min { get; }
        /// <summary>The closed set of values, when there is one.</summary>
        internal IReadOnlyList<string> Allowed { get; }
    }

    internal sealed class MessageSpec
    {
        internal MessageSpec(QfexEndpoint endpoint, string type, RequestEffect effect, double weight, string description, params ParamSpec[] parameters)
        {
            Endpoint = endpoint;
            Type = type;
            Effect = effect;
            Weight = weight;
            Description = description;
            Parameters = parameters;
        }

        /// <summary>The socket the request belongs to.</summary>
        internal QfexEndpoint Endpoint { get; }
        internal string Type { get; }
        internal RequestEffect Effect { get; }
        /// <summary>The rate-limit weight: the exchange's current published one where <see cref="WeightPublished"/>, else the module's choice.</summary>
        internal double Weight { get; }
        /// <summary>False for types the current rate page does not list (their weight is the module's choice, documented).</summary>
        internal bool WeightPublished { get; private set; } = true;
        internal RateBucket Bucket { get; private set; } = RateBucket.General;
        /// <summary>Sent by the module itself (auth): a user-sent one is refused before sending.</summary>
        internal bool ModuleOnly { get; private set; }
        /// <summary>Market-data shape: the fields are top-level members, not a params object (protocol doc §7.1).</summary>
        internal bool TopLevel => Endpoint == QfexEndpoint.MarketData;
        internal string Description { get; }
        internal IReadOnlyList<ParamSpec> Parameters { get; }

        internal bool NeedsConfirmation => Effect == RequestEffect.Trading || Effect == RequestEffect.Funds;

        internal MessageSpec Unpublished()
        {
            WeightPublished = false;
            return this;
        }

        internal MessageSpec InCancelBucket()
        {
            Bucket = RateBucket.Cancel;
            return this;
        }

        internal MessageSpec SentByModule()
        {
            ModuleOnly = true;
            return this;
        }
    }

    /// <summary>
    /// The request types of both sockets (protocol doc §3 and §7.1): one catalog for validation, -WhatIf/-Confirm,
    /// retry safety, rate-limit weights and buckets, and tab completion. Unknown types are sent as given.
    /// </summary>
    internal static class MessageCatalog
    {
        internal static readonly string[] Channels = { "order_responses", "positions", "balances", "fills", "stop_orders" };
        internal static readonly string[] MarketDataChannels =
            { "level2", "bbo", "trade", "candle", "funding", "underlier", "mark_price", "open_interest", "minmax_price", "market_stats" };
        /// <summary>Candle intervals (protocol doc §7.1).</summary>
        internal static readonly string[] Intervals = { "1MIN", "5MINS", "15MINS", "1HOUR", "4HOURS", "1DAY" };
        /// <summary>level2 aggregation: 0 (none, the default), 1 or 2 significant figures.</summary>
        internal static readonly string[] SigFigs = { "0", "1", "2" };
        internal static readonly string[] Sides = { "BUY", "SELL" };
        internal static readonly string[] OrderTypes = { "LIMIT", "MARKET", "ALO", "TAKE_PROFIT", "STOP_LOSS" };
        internal static readonly string[] StopOrderTypes = { "TAKE_PROFIT", "STOP_LOSS" };
        internal static readonly string[] TimesInForce = { "GTC", "IOC", "FOK" };
        internal static readonly string[] CancelIdTypes = { "order_id", "client_order_id", "twap_id", "client_twap_id" };

        /// <summary>The channels of an endpoint.</summary>
        internal static IReadOnlyList<string> ChannelsFor(QfexEndpoint endpoint) => endpoint == QfexEndpoint.MarketData ? MarketDataChannels : Channels;

        private static ParamSpec Req(string name, ParamKind kind, params string[] allowed) => new ParamSpec(name, kind, true, 0, allowed);
        private static ParamSpec Opt(string name, ParamKind kind, params string[] allowed) => new ParamSpec(name, kind, false, 0, allowed);
        private static ParamSpec ReqMin(string name, long min) => new ParamSpec(name, ParamKind.Integer, true, min);

        private const QfexEndpoint Trade = QfexEndpoint.Trade;
        private const QfexEndpoint MarketData = QfexEndpoint.MarketData;

        internal static readonly IReadOnlyList<MessageSpec> All = new[]
        {
            // The module authenticates every connection itself; a second auth earns AlreadyAuthenticated.
            new MessageSpec(Trade, "auth", RequestEffect.Session, 0, "Authenticate the connection (sent by Connect-Qfex).").Unpublished().SentByModule(),
            new MessageSpec(Trade, "subscribe", RequestEffect.Session, 0.1, "Subscribe to account channels.", Req("channels", ParamKind.StringArray, Channels)),
            new MessageSpec(Trade, "unsubscribe", RequestEffect.Session, 0.1, "Unsubscribe from account channels.", Req("channels", ParamKind.StringArray, Channels)),
            new MessageSpec(Trade, "cancel_on_disconnect", RequestEffect.Trading, 0.1, "Cancel every open order of the account if this connection drops.",
                Req("cancel_on_disconnect", ParamKind.Boolean)),
            new MessageSpec(Trade, "add_order", RequestEffect.Trading, 1.0, "Place an order.",
                Req("symbol", ParamKind.String), Req("side", ParamKind.String, Sides), Req("order_type", ParamKind.String, OrderTypes),
                Req("order_time_in_force", ParamKind.String, TimesInForce), Req("quantity", ParamKind.PositiveNumber),
                Opt("price", ParamKind.NonNegativeNumber), Opt("take_profit", ParamKind.NonNegativeNumber), Opt("stop_loss", ParamKind.NonNegativeNumber),
                Opt("client_order_id", ParamKind.String), Opt("reduce_only", ParamKind.Boolean)),
            new MessageSpec(Trade, "cancel_order", RequestEffect.Trading, 1.0, "Cancel an order (or TWAP) by id.",
                Req("symbol", ParamKind.String), Req("order_id", ParamKind.String), Req("cancel_order_id_type", ParamKind.String, CancelIdTypes),
                Opt("client_order_id", ParamKind.String)).InCancelBucket(),
            new MessageSpec(Trade, "modify_order", RequestEffect.Trading, 1.0, "Change an order's price, quantity, take profit or stop loss.",
                Req("order_id", ParamKind.String), Req("symbol", ParamKind.String), Req("side", ParamKind.String, Sides),
                Req("order_type", ParamKind.String, OrderTypes), Opt("price", ParamKind.PositiveNumber), Opt("quantity", ParamKind.PositiveNumber),
                Opt("take_profit", ParamKind.NonNegativeNumber), Opt("stop_loss", ParamKind.NonNegativeNumber), Opt("reduce_only", ParamKind.Boolean)),
            new MessageSpec(Trade, "cancel_all_orders", RequestEffect.Trading, 2.0, "Cancel every open order (optionally of one symbol).",
                Opt("symbol", ParamKind.String)).InCancelBucket(),
            new MessageSpec(Trade, "close_position", RequestEffect.Trading, 1.0, "Close the whole position in a symbol.",
                Req("symbol", ParamKind.String), Opt("client_order_id", ParamKind.String)).Unpublished(),
            new MessageSpec(Trade, "add_twap", RequestEffect.Trading, 1.0, "Start a TWAP order.",
                Req("symbol", ParamKind.String), Req("side", ParamKind.String, Sides), Req("total_quantity", ParamKind.PositiveNumber),
                ReqMin("num_orders", 2), ReqMin("order_interval_secs", 30), Req("reduce_only", ParamKind.Boolean),
                Opt("client_twap_id", ParamKind.String)).Unpublished(),
            new MessageSpec(Trade, "cancel_stop_order", RequestEffect.Trading, 1.0, "Cancel a stop order.", Req("stop_order_id", ParamKind.String)).InCancelBucket(),
            new MessageSpec(Trade, "modify_stop_order", RequestEffect.Trading, 1.0, "Change a stop order's price and quantity.",
                Req("stop_order_id", ParamKind.String), Req("symbol", ParamKind.String), Req("price", ParamKind.PositiveNumber), Req("quantity", ParamKind.PositiveNumber),
                Opt("side", ParamKind.String, Sides), Opt("order_type", ParamKind.String, StopOrderTypes)),
            new MessageSpec(Trade, "set_user_leverage", RequestEffect.Trading, 0.1, "Set the leverage for a symbol.",
                Req("symbol", ParamKind.String), Req("leverage", ParamKind.PositiveNumber)),
            // 0.1 on the older rate page; the current page does not list it.
            new MessageSpec(Trade, "transfer_balance", RequestEffect.Funds, 0.1, "Move funds to another account.").Unpublished(),
            new MessageSpec(Trade, "get_order", RequestEffect.ReadOnly, 2.0, "Get one order.", Req("order_id", ParamKind.String), Req("symbol", ParamKind.String)),
            new MessageSpec(Trade, "get_user_orders", RequestEffect.ReadOnly, 5.0, "List open orders.",
                Opt("limit", ParamKind.Integer), Opt("offset", ParamKind.Integer), Opt("symbol", ParamKind.String)),
            new MessageSpec(Trade, "get_user_trades", RequestEffect.ReadOnly, 0.5, "List the account's trades.",
                Opt("limit", ParamKind.Integer), Opt("offset", ParamKind.Integer), Opt("order_id", ParamKind.String),
                Opt("start_ts", ParamKind.Integer), Opt("end_ts", ParamKind.Integer)),
            new MessageSpec(Trade, "get_user_leverage", RequestEffect.ReadOnly, 0.1, "List leverage settings.", Opt("limit", ParamKind.Integer), Opt("offset", ParamKind.Integer)),
            new MessageSpec(Trade, "get_available_leverage_levels", RequestEffect.ReadOnly, 0.1, "List the leverage levels available.",
                Opt("limit", ParamKind.Integer), Opt("offset", ParamKind.Integer)),

            // The market-data socket: top-level fields, no params object; no published weights (0.1, as on the trade socket).
            new MessageSpec(MarketData, "subscribe", RequestEffect.Session, 0.1, "Subscribe to market-data channels for symbols.",
                Req("channels", ParamKind.StringArray, MarketDataChannels), Req("symbols", ParamKind.StringArray),
                Opt("intervals", ParamKind.StringArray, Intervals), Opt("sig_figs", ParamKind.IntegerArray, SigFigs)).Unpublished(),
            new MessageSpec(MarketData, "unsubscribe", RequestEffect.Session, 0.1, "Unsubscribe from market-data channels for symbols.",
                Req("channels", ParamKind.StringArray, MarketDataChannels), Req("symbols", ParamKind.StringArray),
                Opt("intervals", ParamKind.StringArray, Intervals), Opt("sig_figs", ParamKind.IntegerArray, SigFigs)).Unpublished(),
        };

        private static readonly Dictionary<string, MessageSpec> TradeByType = All.Where(m => m.Endpoint == Trade).ToDictionary(m => m.Type, StringComparer.Ordinal);
        private static readonly Dictionary<string, MessageSpec> MarketDataByType = All.Where(m => m.Endpoint == MarketData).ToDictionary(m => m.Type, StringComparer.Ordinal);

        /// <summary>The spec of a trade request type (exact, as the server matches it), or null for an unknown type.</summary>
        internal static MessageSpec? Find(string type) => Find(type, Trade);

        /// <summary>The spec of a request type on an endpoint (exact), or null when the endpoint has no such type.</summary>
        internal static MessageSpec? Find(string type, QfexEndpoint endpoint) =>
            (endpoint == MarketData ? MarketDataByType : TradeByType).TryGetValue(type, out MessageSpec? spec) ? spec : null;

        /// <summary>Types a user sends on the trade socket (what -Type completes): not auth, which the module sends.</summary>
        internal static IEnumerable<string> Types => All.Where(m => m.Endpoint == Trade && !m.ModuleOnly).Select(m => m.Type);

        /// <summary>Every type the catalog knows on any endpoint (auth included).</summary>
        internal static IEnumerable<string> AllTypes => All.Select(m => m.Type).Distinct(StringComparer.Ordinal);

        /// <summary>A known type spelled differently only in case (ADD_ORDER), or null.</summary>
        internal static string? CaseVariantOf(string type) =>
            AllTypes.FirstOrDefault(t => !string.Equals(t, type, StringComparison.Ordinal) && string.Equals(t, type, StringComparison.OrdinalIgnoreCase));

        /// <summary>The known type closest to <paramref name="type"/> on the endpoint (edit distance), and that distance.</summary>
        internal static (string Type, int Distance) Closest(string type, QfexEndpoint endpoint)
        {
            string best = string.Empty;
            int bestDistance = int.MaxValue;
            foreach (MessageSpec spec in All.Where(m => m.Endpoint == endpoint && !m.ModuleOnly))
            {
                int d = EditDistance(type.ToLowerInvariant(), spec.Type);
                if (d < bestDistance)
                {
                    best = spec.Type;
                    bestDistance = d;
                }
            }
            return (best, bestDistance);
        }

        /// <summary>Close enough to be a typo: at most 2 edits, or a third of the name.</summary>
        internal static bool IsLikelyTypo(string type, int distance) => distance <= Math.Max(2, type.Length / 3);

        /// <summary>Levenshtein distance (insert, delete, substitute), with an adjacent swap counted as one edit.</summary>
        internal static int EditDistance(string a, string b)
        {
            var before = new int[b.Length + 1];
            var previous = new int[b.Length + 1];
            var current = new int[b.Length + 1];
            for (int j = 0; j <= b.Length; j++) previous[j] = j;
            for (int i = 1; i <= a.Length; i++)
            {
                current[0] = i;
                for (int j = 1; j <= b.Length; j++)
                {
                    int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                    int best = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), previous[j - 1] + cost);
                    if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) best = Math.Min(best, before[j - 2] + 1);
                    current[j] = best;
                }
                int[] spare = before;
                before = previous;
                previous = current;
                current = spare;
            }
            return previous[b.Length];
        }
    }
}
