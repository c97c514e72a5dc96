using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;

namespace Qfex.Protocol
{
    /// <summary>
    /// Checks a request against the message catalog of the session's endpoint before it is sent. Unknown types
    /// pass; a type of the other socket does not (an order on the market-data socket, the market-data subscribe
    /// shape on the trade socket).
    /// </summary>
    internal static class MessageValidator
    {
        private static readonly string[] MarketDataFields = { "channels", "symbols", "intervals", "sig_figs" };

        /// <summary>A trade request's params (the problems found; empty: valid).</summary>
        internal static IReadOnlyList<string> Validate(string type, JsonElement parameters)
        {
            var problems = new List<string>();
            MessageSpec? spec = MessageCatalog.Find(type, QfexEndpoint.Trade);
            if (spec != null) CheckFields(spec, parameters, problems);
            return problems;
        }

        /// <summary>A whole request (the JSON root) for a session on <paramref name="endpoint"/>.</summary>
        internal static IReadOnlyList<string> ValidateMessage(string type, JsonElement root, QfexEndpoint endpoint)
        {
            var problems = new List<string>();
            MessageSpec? spec = MessageCatalog.Find(type, endpoint);
            if (spec == null)
            {
                QfexEndpoint other = endpoint == QfexEndpoint.Trade ? QfexEndpoint.MarketData : QfexEndpoint.Trade;
                if (MessageCatalog.Find(type, other) != null)
                    problems.Add($"{type} is a {Name(other)} request and this is a {Name(endpoint)} session: send it on a session opened with Connect-Qfex -Endpoint {other}.");
                return problems;
            }
            if (spec.ModuleOnly)
            {
                problems.Add($"{type} is sent by Connect-Qfex, once per connection (and again by each reconnect); the exchange answers a second one with AlreadyAuthenticated.");
                return problems;
            }

            if (spec.TopLevel)
            {
                if (root.TryGetProperty("params", out JsonElement wrapped) && wrapped.ValueKind != JsonValueKind.Null)
                    problems.Add($"{type}: the market-data socket takes channels, symbols, intervals and sig_figs at the top level of the message, not in params.");
                CheckFields(spec, root, problems);
                return problems;
            }

            string[] marketDataShape = MarketDataFields.Where(f => root.TryGetProperty(f, out _)).ToArray();
            if (marketDataShape.Length > 0)
            {
                problems.Add($"{type}: top-level {string.Join(", ", marketDataShape)} is the market-data socket's shape; on a Trade session, {type} takes params.channels ({string.Join(", ", MessageCatalog.Channels)}).");
                return problems;
            }
            CheckFields(spec, root.TryGetProperty("params", out JsonElement p) ? p : default, problems);
            return problems;
        }

        private static string Name(QfexEndpoint endpoint) => endpoint == QfexEndpoint.MarketData ? "market-data" : "trade";

        private static void CheckFields(MessageSpec spec, JsonElement fields, List<string> problems)
        {
            string type = spec.Type;
            if (fields.ValueKind != JsonValueKind.Object)
            {
                // A request without params is the request with empty params: only the required ones are missing.
                if (fields.ValueKind == JsonValueKind.Undefined || fields.ValueKind == JsonValueKind.Null)
                {
                    foreach (ParamSpec p in spec.Parameters.Where(p => p.Required))
                        problems.Add($"{type}: '{p.Name}' is required.");
                    return;
                }
                problems.Add($"{type}: params must be an object.");
                return;
            }

            foreach (ParamSpec p in spec.Parameters)
            {
                if (!fields.TryGetProperty(p.Name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
                {
                    if (p.Required) problems.Add($"{type}: '{p.Name}' is required." + RequiredHint(spec, p));
                    continue;
                }
                string? problem = Check(spec, p, value);
                if (problem != null) problems.Add($"{type}: {problem}");
            }

            if (type == "add_order") CheckOrderRules(fields, problems);
        }

        private static string RequiredHint(MessageSpec spec, ParamSpec p) =>
            spec.TopLevel && p.Name == "symbols" ? " Use @('*') for every symbol." : string.Empty;

        /// <summary>The exchange's published order rules that span fields (protocol doc §3.2).</summary>
        private static void CheckOrderRules(JsonElement p, List<string> problems)
        {
            if (PSJson.GetString(p, "order_type") is not string orderType) return;
            bool hasPrice = p.TryGetProperty("price", out JsonElement price) && price.ValueKind == JsonValueKind.Number;
            if (orderType == "MARKET")
            {
                // The exchange ignores a MARKET order's price (0 is what clients send), and refuses MARKET with GTC.
                if (PSJson.GetString(p, "order_time_in_force") == "GTC")
                    problems.Add("add_order: a MARKET order cannot be GTC (the exchange refuses it): use IOC or FOK.");
                return;
            }
            if (!p.TryGetProperty("price", out JsonElement given) || given.ValueKind == JsonValueKind.Null)
                problems.Add($"add_order: 'price' is required for {orderType} orders" + (orderType == "TAKE_PROFIT" || orderType == "STOP_LOSS" ? " (the trigger price)." : "."));
            else if (hasPrice && price.TryGetDecimal(out decimal d) && d <= 0)
                problems.Add($"add_order: 'price' must be > 0 for {orderType} orders (only MARKET orders ignore it).");
        }

        private static string? Check(MessageSpec spec, ParamSpec p, JsonElement value)
        {
            switch (p.Kind)
            {
                case ParamKind.String:
                    if (value.ValueKind != JsonValueKind.String) return $"'{p.Name}' must be a string.";
                    if (p.Allowed.Count > 0 && !p.Allowed.Contains(value.GetString()!, StringComparer.Ordinal))
                        return $"'{p.Name}' is '{value.GetString()}'; expected one of {string.Join(", ", p.Allowed)}.";
                    return null;
                case ParamKind.StringArray:
                    if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0)
                        return $"'{p.Name}' must be a non-empty array of strings, e.g. @('{(p.Allowed.Count > 0 ? p.Allowed[0] : "AAPL-USD")}').";
                    foreach (JsonElement item in value.EnumerateArray())
                    {
                        if (item.ValueKind != JsonValueKind.String) return $"'{p.Name}' must contain only strings.";
                        string s = item.GetString()!;
                        if (p.Allowed.Count > 0 && !p.Allowed.Contains(s, StringComparer.Ordinal))
                            return $"'{p.Name}' has '{s}'; expected any of {string.Join(", ", p.Allowed)}." + OtherEndpointHint(spec, p, s);
                    }
                    return null;
                case ParamKind.IntegerArray:
                    if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0) return $"'{p.Name}' must be a non-empty array of whole numbers, e.g. @(1).";
                    foreach (JsonElement item in value.EnumerateArray())
                    {
                        if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long n)) return $"'{p.Name}' must contain only whole numbers.";
                        if (p.Allowed.Count > 0 && !p.Allowed.Contains(n.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparer.Ordinal))
                            return $"'{p.Name}' has {n}; expected any of {string.Join(", ", p.Allowed)}.";
                    }
                    return null;
                case ParamKind.Boolean:
                    return value.ValueKind == JsonValueKind.True || value.ValueKind == JsonValueKind.False ? null : $"'{p.Name}' must be $true or $false.";
                case ParamKind.Integer:
                    return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out long l) && l >= p.Min ? null : $"'{p.Name}' must be a whole number >= {p.Min}.";
                case ParamKind.Number:
                    return value.ValueKind == JsonValueKind.Number ? null : $"'{p.Name}' must be a number.";
                case ParamKind.NonNegativeNumber:
                    return value.ValueKind == JsonValueKind.Number && value.TryGetDecimal(out decimal z) && z >= 0 ? null
                        : $"'{p.Name}' must be a number >= 0" + (p.Name == "take_profit" || p.Name == "stop_loss" ? " (0 = unused)." : ".");
                case ParamKind.PositiveNumber:
                    return value.ValueKind == JsonValueKind.Number && value.TryGetDecimal(out decimal d) && d > 0 ? null : $"'{p.Name}' must be a number > 0.";
                default:
                    return null;
            }
        }

        /// <summary>A channel of the other socket: say where it belongs.</summary>
        private static string OtherEndpointHint(MessageSpec spec, ParamSpec p, string value)
        {
            if (p.Name != "channels") return string.Empty;
            if (spec.Endpoint == QfexEndpoint.Trade && MessageCatalog.MarketDataChannels.Contains(value, StringComparer.Ordinal))
                return $" '{value}' is a market-data channel: subscribe to it on a session opened with Connect-Qfex -Endpoint MarketData.";
            if (spec.Endpoint == QfexEndpoint.MarketData && MessageCatalog.Channels.Contains(value, StringComparer.Ordinal))
                return $" '{value}' is a trade channel: subscribe to it on a Trade session.";
            return string.Empty;
        }
    }
}
