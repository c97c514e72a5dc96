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

    internal enum ParamKind
    {
        String,
        Number,
        PositiveNumber,
        Integer,
        Boolean,
        StringArray,
    }

    internal sealed class ParamSpec
    {
        internal ParamSpec(string name, ParamKind kind, bool required, params string[] allowed)
        {
            Name = name;
            Kind = kind;
            Required = required;
            Allowed = allowed;
        }

        internal string Name { get; }
        internal ParamKind Kind { get; }
        internal bool Required { get; }
        /// <summary>The closed set of values, when there is one.</summary>
        internal IReadOnlyList<string> Allowed { get; }
    }

    internal sealed class MessageSpec
    {
        internal MessageSpec(string type, RequestEffect effect, double weight, string description, params ParamSpec[] parameters)
        {
            Type = type;
            Effect = effect;
            Weight = weight;
            Description = description;
            Parameters = parameters;
        }

        internal string Type { get; }
        internal RequestEffect Effect { get; }
        /// <summary>The exchange's published rate-limit weight (current docs; unlisted types count 1).</summary>
        internal double Weight { get; }
        internal string Description { get; }
        internal IReadOnlyList<ParamSpec> Parameters { get; }

        internal bool NeedsConfirmation => Effect == RequestEffect.Trading || Effect == RequestEffect.Funds;
    }

    /// <summary>
    /// The trade socket's request types (protocol doc §3): one catalog for validation, -WhatIf/-Confirm,
    /// retry safety, rate-limit weights and tab completion. Unknown types are sent as given.
    /// </summary>
    internal static class MessageCatalog
    {
        internal static readonly string[] Channels = { "order_responses", "positions", "balances", "fills", "stop_orders" };
        internal static readonly string[] MarketDataChannels =
            { "level2", "bbo", "trade", "candle", "funding", "underlier", "mark_price", "open_interest", "minmax_price", "market_stats" };
        internal static readonly string[] Sides = { "BUY", "SELL" };
        internal static readonly string[] OrderTypes = { "LIMIT", "MARKET", "ALO", "TAKE_PROFIT", "STOP_LOSS" };
        internal static readonly string[] TimesInForce = { "GTC", "IOC", "FOK" };
        internal static readonly string[] CancelIdTypes = { "order_id", "client_order_id", "twap_id", "client_twap_id" };

        private static ParamSpec Req(string name, ParamKind kind, params string[] allowed) => new ParamSpec(name, kind, true, allowed);
        private static ParamSpec Opt(string name, ParamKind kind, params string[] allowed) => new ParamSpec(name, kind, false, allowed);

        internal static readonly IReadOnlyList<MessageSpec> All = new[]
        {
            new MessageSpec("subscribe", RequestEffect.Session, 0.1, "Subscribe to account channels.", Req("channels", ParamKind.StringArray, Channels)),
            new MessageSpec("unsubscribe", RequestEffect.Session, 0.1, "Unsubscribe from account channels.", Req("channels", ParamKind.StringArray, Channels)),
            new MessageSpec("cancel_on_disconnect", RequestEffect.Trading, 0.1, "Cancel every open order of the account if this connection drops.",
                Req("cancel_on_disconnect", ParamKind.Boolean)),
            new MessageSpec("add_order", RequestEffect.Trading, 1.0, "Place an order.",
                Req("symbol", ParamKind.String), Req("side", ParamKind.String, Sides), Req("order_type", ParamKind.String, OrderTypes),
                Req("order_time_in_force", ParamKind.String, TimesInForce), Req("quantity", ParamKind.PositiveNumber),
                Opt("price", ParamKind.PositiveNumber), Opt("take_profit", ParamKind.Number), Opt("stop_loss", ParamKind.Number),
                Opt("client_order_id", ParamKind.String), Opt("reduce_only", ParamKind.Boolean)),
            new MessageSpec("cancel_order", RequestEffect.Trading, 1.0, "Cancel an order (or TWAP) by id.",
                Req("symbol", ParamKind.String), Req("order_id", ParamKind.String), Req("cancel_order_id_type", ParamKind.String, CancelIdTypes),
                Opt("client_order_id", ParamKind.String)),
            new MessageSpec("modify_order", RequestEffect.Trading, 1.0, "Change an order's price, quantity, take profit or stop loss.",
                Req("order_id", ParamKind.String), Req("symbol", ParamKind.String), Req("side", ParamKind.String, Sides),
                Req("order_type", ParamKind.String, OrderTypes), Opt("price", ParamKind.PositiveNumber), Opt("quantity", ParamKind.PositiveNumber),
                Opt("take_profit", ParamKind.Number), Opt("stop_loss", ParamKind.Number), Opt("reduce_only", ParamKind.Boolean)),
            new MessageSpec("cancel_all_orders", RequestEffect.Trading, 2.0, "Cancel every open order (optionally of one symbol).", Opt("symbol", ParamKind.String)),
            new MessageSpec("close_position", RequestEffect.Trading, 1.0, "Close the whole position in a symbol.",
                Req("symbol", ParamKind.String), Opt("client_order_id", ParamKind.String)),
            new MessageSpec("add_twap", RequestEffect.Trading, 1.0, "Start a TWAP order.",
                Req("symbol", ParamKind.String), Req("side", ParamKind.String, Sides), Req("total_quantity", ParamKind.PositiveNumber),
                Req("num_orders", ParamKind.Integer), Req("order_interval_secs", ParamKind.Integer), Req("reduce_only", ParamKind.Boolean),
                Opt("client_twap_id", ParamKind.String)),
            new MessageSpec("cancel_stop_order", RequestEffect.Trading, 1.0, "Cancel a stop order.", Req("stop_order_id", ParamKind.String)),
            new MessageSpec("modify_stop_order", RequestEffect.Trading, 1.0, "Change a stop order's price or quantity.",
                Req("stop_order_id", ParamKind.String), Req("symbol", ParamKind.String), Opt("price", ParamKind.PositiveNumber), Opt("quantity", ParamKind.PositiveNumber)),
            new MessageSpec("set_user_leverage", RequestEffect.Trading, 0.1, "Set the leverage for a symbol.",
                Req("symbol", ParamKind.String), Req("leverage", ParamKind.PositiveNumber)),
            new MessageSpec("transfer_balance", RequestEffect.Funds, 0.1, "Move funds to another account."),
            new MessageSpec("get_order", RequestEffect.ReadOnly, 2.0, "Get one order.", Req("order_id", ParamKind.String), Req("symbol", ParamKind.String)),
            new MessageSpec("get_user_orders", RequestEffect.ReadOnly, 5.0, "List open orders.",
                Opt("limit", ParamKind.Integer), Opt("offset", ParamKind.Integer), Opt("symbol", ParamKind.String)),
            new MessageSpec("get_user_trades", RequestEffect.ReadOnly, 0.5, "List the account's trades.",
                Opt("limit", ParamKind.Integer), Opt("offset", ParamKind.Integer), Opt("order_id", ParamKind.String),
                Opt("start_ts", ParamKind.Integer), Opt("end_ts", ParamKind.Integer)),
            new MessageSpec("get_user_leverage", RequestEffect.ReadOnly, 0.1, "List leverage settings.", Opt("limit", ParamKind.Integer), Opt("offset", ParamKind.Integer)),
            new MessageSpec("get_available_leverage_levels", RequestEffect.ReadOnly, 0.1, "List the leverage levels available.",
                Opt("limit", ParamKind.Integer), Opt("offset", ParamKind.Integer)),
        };

        private static readonly Dictionary<string, MessageSpec> ByType = All.ToDictionary(m => m.Type, StringComparer.Ordinal);

        /// <summary>The spec of a request type (exact, as the server matches it), or null for an unknown type.</summary>
        internal static MessageSpec? Find(string type) => ByType.TryGetValue(type, out MessageSpec? spec) ? spec : null;

        internal static IEnumerable<string> Types => All.Select(m => m.Type);
    }
}
