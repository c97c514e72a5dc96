using System.Collections.Generic;
using System.Text.Json;

namespace Qfex.Protocol
{
    /// <summary>Reads the channels out of a (un)subscribe acknowledgement, in the trade or market-data shape.</summary>
    internal static class SubscriptionAck
    {
        internal static IEnumerable<string> Channels(System.ReadOnlyMemory<byte> raw, string type)
        {
            var channels = new List<string>();
            try
            {
                using JsonDocument doc = JsonDocument.Parse(raw);
                JsonElement root = doc.RootElement;
                // Trade: {"subscribed":"order_responses"}. Market data: {"type":"subscribed","channels":[..],"symbols":[..]}.
                if (root.TryGetProperty(type, out JsonElement single) && single.ValueKind == JsonValueKind.String)
                    channels.Add(PSJson.StringValue(single));
                if (root.TryGetProperty("channels", out JsonElement list) && list.ValueKind == JsonValueKind.Array)
                {
                    var symbols = new List<string>();
                    if (root.TryGetProperty("symbols", out JsonElement s) && s.ValueKind == JsonValueKind.Array)
                        foreach (JsonElement symbol in s.EnumerateArray())
                            if (symbol.ValueKind == JsonValueKind.String) symbols.Add(PSJson.StringValue(symbol));
                    foreach (JsonElement channel in list.EnumerateArray())
                    {
                        if (channel.ValueKind != JsonValueKind.String) continue;
                        if (symbols.Count == 0) channels.Add(PSJson.StringValue(channel));
                        foreach (string symbol in symbols) channels.Add(PSJson.StringValue(channel) + ":" + symbol);
                    }
                }
            }
            catch (JsonException)
            {
                // An acknowledgement we cannot read changes nothing; the frame itself is still delivered.
            }
            return channels;
        }
    }
}
