using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;

namespace Qfex.Protocol
{
    /// <summary>
    /// How a session names what it is subscribed to (its Subscriptions): the channel on the trade socket
    /// (<c>fills</c>); on the market-data socket channel:symbol (<c>bbo:AAPL-USD</c>, <c>trade:*</c>), with the
    /// candle interval (<c>candle:AAPL-USD:1MIN</c>) or the level2 aggregation (<c>level2:AAPL-USD:sig_figs=1</c>)
    /// when the subscription named one. One function for what is asked, acknowledged, refused and restored.
    /// </summary>
    internal static class SubscriptionKeys
    {
        internal const string SigFigsPrefix = "sig_figs=";
        private static readonly char[] KeySeparator = { ':' };

        /// <summary>The keys of a (un)subscription.</summary>
        internal static IEnumerable<string> For(QfexEndpoint endpoint, IEnumerable<string> channels, IReadOnlyList<string>? symbols,
            IReadOnlyList<string>? intervals, IReadOnlyList<int>? sigFigs)
        {
            if (endpoint == QfexEndpoint.Trade || symbols == null || symbols.Count == 0)
            {
                foreach (string channel in channels) yield return channel;
                yield break;
            }
            foreach (string channel in channels)
            {
                foreach (string symbol in symbols)
                {
                    string key = channel + ":" + symbol;
                    if (channel == "candle" && intervals != null && intervals.Count > 0)
                        foreach (string interval in intervals) yield return key + ":" + interval;
                    else if (channel == "level2" && sigFigs != null && sigFigs.Count > 0)
                        foreach (int n in sigFigs) yield return key + ":" + SigFigsPrefix + n.ToString(CultureInfo.InvariantCulture);
                    else
                        yield return key;
                }
            }
        }

        /// <summary>The keys a (un)subscribe message names: params.channels (trade), or the top-level fields (market data).</summary>
        internal static string[] OfMessage(JsonElement message, QfexEndpoint endpoint)
        {
            if (message.ValueKind != JsonValueKind.Object) return Array.Empty<string>();
            JsonElement fields = endpoint == QfexEndpoint.Trade
                ? (message.TryGetProperty("params", out JsonElement p) ? p : default)
                : message;
            return OfFields(fields, endpoint);
        }

        /// <summary>The keys named by an object with channels (and, for market data, symbols, intervals, sig_figs).</summary>
        internal static string[] OfFields(JsonElement fields, QfexEndpoint endpoint) =>
            For(endpoint, Strings(fields, "channels"), Strings(fields, "symbols"), Strings(fields, "intervals"), Integers(fields, "sig_figs")).ToArray();

        /// <summary>A key split into channel, symbol (or null) and the interval or sig_figs part (or null).</summary>
        internal static (string Channel, string? Symbol, string? Detail) Parse(string key)
        {
            string[] parts = key.Split(KeySeparator, 3);
            return (parts[0], parts.Length > 1 ? parts[1] : null, parts.Length > 2 ? parts[2] : null);
        }

        /// <summary>True when <paramref name="key"/> is <paramref name="removed"/> or a finer subscription of it (candle:X:1MIN under candle:X).</summary>
        internal static bool Covers(string removed, string key) =>
            string.Equals(key, removed, StringComparison.Ordinal) || key.StartsWith(removed + ":", StringComparison.Ordinal);

        internal static List<string> Strings(JsonElement obj, string name)
        {
            var list = new List<string>();
            if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out JsonElement value)) return list;
            if (value.ValueKind == JsonValueKind.String) list.Add(PSJson.StringValue(value));
            else if (value.ValueKind == JsonValueKind.Array)
                foreach (JsonElement item in value.EnumerateArray())
                    if (item.ValueKind == JsonValueKind.String) list.Add(PSJson.StringValue(item));
            return list;
        }

        private static List<int> Integers(JsonElement obj, string name)
        {
            var list = new List<int>();
            if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out JsonElement value)) return list;
            if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int single)) list.Add(single);
            else if (value.ValueKind == JsonValueKind.Array)
                foreach (JsonElement item in value.EnumerateArray())
                    if (item.ValueKind == JsonValueKind.Number && item.TryGetInt32(out int n)) list.Add(n);
            return list;
        }
    }

    /// <summary>Reads the subscription keys out of a (un)subscribe acknowledgement, in the trade or market-data shape.</summary>
    internal static class SubscriptionAck
    {
        internal static IEnumerable<string> Channels(ReadOnlyMemory<byte> raw, string type)
        {
            var keys = new List<string>();
            try
            {
                using JsonDocument doc = JsonDocument.Parse(raw);
                JsonElement root = doc.RootElement;
                // Trade: {"subscribed":"order_responses"}. Market data: {"type":"subscribed","channels":[..],"symbols":[..],..}.
                if (root.TryGetProperty(type, out JsonElement single) && single.ValueKind == JsonValueKind.String)
                    keys.Add(PSJson.StringValue(single));
                if (root.TryGetProperty("channels", out JsonElement list) && list.ValueKind == JsonValueKind.Array)
                    keys.AddRange(SubscriptionKeys.OfFields(root, QfexEndpoint.MarketData));
            }
            catch (JsonException)
            {
                // An acknowledgement we cannot read changes nothing; the frame itself is still delivered.
            }
            return keys;
        }
    }
}
