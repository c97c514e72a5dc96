using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Text;
using System.Text.Json;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex.Commands
{
    /// <summary>
    /// New-QfexFrame: a real Qfex.QfexFrame for unit tests of runbooks, read by the same reader as a received frame,
    /// so its Type, Data (integers [long], other numbers [decimal]) and error envelope are what the receive path
    /// would make of the same text.
    /// </summary>
    [Cmdlet(VerbsCommon.New, "QfexFrame")]
    [OutputType(typeof(QfexFrame))]
    public sealed class NewQfexFrameCommand : QfexCmdlet
    {
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(FrameTypeCompleter))]
        public string Type { get; set; } = string.Empty;

        [Parameter(Position = 1)]
        public object? Data { get; set; }

        [Parameter]
        [ValidateRange(1L, long.MaxValue)]
        public long Sequence { get; set; } = 1;

        protected override void ProcessRecord()
        {
            string text;
            try
            {
                text = FrameText(Type, Data, MyInvocation.BoundParameters.ContainsKey(nameof(Data)));
            }
            catch (Exception e) when (e is ArgumentException || e is JsonException)
            {
                ThrowQfexError(new QfexInvalidMessageException($"New-QfexFrame cannot make a {Type} frame of -Data: {e.Message}", e), Data);
                return;
            }

            var contents = new List<FrameContent>(1);
            FrameReader.ReadText(Encoding.UTF8.GetBytes(text), contents);
            if (contents.Count != 1)
            {
                ThrowQfexError(new QfexInvalidMessageException(
                    $"-Data is a JSON array of {contents.Count} frames; New-QfexFrame makes one frame: call it once per item."), Data);
                return;
            }
            FrameContent content = contents[0];
            if (!string.Equals(content.Type, Type, StringComparison.Ordinal))
            {
                string why = content.MalformedReason != null ? $"the receive path would read it as a malformed frame ({content.MalformedReason})" : $"the receive path would read it as a '{content.Type}' frame";
                ThrowQfexError(new QfexInvalidMessageException(
                    $"The frame text {Shorten(text)} is not a '{Type}' frame: {why}. Give -Data the frame's content (it is put under the '{Type}' key), or its whole text with the '{Type}' key or \"type\": \"{Type}\"."), Data);
                return;
            }
            WriteObject(content.ToFrame(Sequence, DateTime.UtcNow, 0));
        }

        /// <summary>
        /// The frame's JSON text. -Data as a JSON object or array text, or as an object that already has the type's
        /// key (or a "type"), is the whole frame; otherwise it is the frame's content, shaped as the exchange shapes
        /// that type: under "err" for an error frame, beside "type" for a market-data channel, under the type's key
        /// for the trade socket's answers and pushes (order_response, subscribed, ...).
        /// </summary>
        internal static string FrameText(string type, object? data, bool hasData)
        {
            object? value = data is PSObject p && p.BaseObject is not PSCustomObject ? p.BaseObject : data;
            if (value is string s && (type == FrameReader.MalformedType || s.TrimStart().StartsWith("{", StringComparison.Ordinal) || s.TrimStart().StartsWith("[", StringComparison.Ordinal)))
                return s;

            bool marketData = MessageCatalog.MarketDataChannels.Contains(type, StringComparer.Ordinal);
            if (!hasData)
            {
                if (type == FrameReader.ErrorType)
                    throw new ArgumentException("an error frame needs -Data with at least error_code, for example @{ error_code = 'RateLimited'; message = '...' }.");
                return marketData ? PSJson.Serialize(new Dictionary<string, object> { ["type"] = type }) : "{" + JsonSerializer.Serialize(type) + ":{}}";
            }

            string json = Serialize(data);
            using JsonDocument doc = JsonDocument.Parse(json, PSJson.DocumentOptions);
            JsonElement root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && (root.TryGetProperty("type", out _) || root.TryGetProperty(type, out _) || (type == FrameReader.ErrorType && root.TryGetProperty("err", out _))))
                return json;
            if (type == FrameReader.ErrorType)
                return "{\"err\":" + json + "}";
            if (marketData && root.ValueKind == JsonValueKind.Object)
            {
                var sb = new StringBuilder("{\"type\":").Append(JsonSerializer.Serialize(type));
                foreach (JsonProperty property in root.EnumerateObject())
                    sb.Append(',').Append(JsonSerializer.Serialize(property.Name)).Append(':').Append(property.Value.GetRawText());
                return sb.Append('}').ToString();
            }
            return "{" + JsonSerializer.Serialize(type) + ":" + json + "}";
        }

        /// <summary>
        /// JSON of a PowerShell value, as PSJson writes it except that every floating-point or decimal number keeps
        /// a decimal point (200.0 stays 200.0): the exchange writes prices and sizes as floats, which the receive
        /// path reads as [decimal], and a test's 200.0 means a price, not the integer 200 ([long]).
        /// </summary>
        internal static string Serialize(object? value)
        {
            using var stream = new System.IO.MemoryStream();
            using (var writer = new Utf8JsonWriter(stream))
                Write(writer, value, 0);
            return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
        }

        private static void Write(Utf8JsonWriter writer, object? value, int depth)
        {
            if (depth > 32) throw new ArgumentException("the value is nested more than 32 levels deep.");
            object? v = value is PSObject p && p.BaseObject is not PSCustomObject ? p.BaseObject : value;
            switch (v)
            {
                case double d:
                    WriteFloating(writer, d.ToString("R", System.Globalization.CultureInfo.InvariantCulture), double.IsNaN(d) || double.IsInfinity(d));
                    return;
                case float f:
                    WriteFloating(writer, f.ToString("R", System.Globalization.CultureInfo.InvariantCulture), float.IsNaN(f) || float.IsInfinity(f));
                    return;
                case decimal m:
                    WriteFloating(writer, m.ToString(System.Globalization.CultureInfo.InvariantCulture), false);
                    return;
                case PSObject pso:
                    writer.WriteStartObject();
                    foreach (PSPropertyInfo property in pso.Properties)
                    {
                        writer.WritePropertyName(property.Name);
                        Write(writer, property.Value, depth + 1);
                    }
                    writer.WriteEndObject();
                    return;
                case System.Collections.IDictionary dictionary:
                    writer.WriteStartObject();
                    foreach (System.Collections.DictionaryEntry entry in dictionary)
                    {
                        writer.WritePropertyName(Convert.ToString(entry.Key, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty);
                        Write(writer, entry.Value, depth + 1);
                    }
                    writer.WriteEndObject();
                    return;
                case string _:
                    PSJson.Write(writer, v, depth);
                    return;
                case System.Collections.IEnumerable items:
                    writer.WriteStartArray();
                    foreach (object? item in items) Write(writer, item, depth + 1);
                    writer.WriteEndArray();
                    return;
                default:
                    PSJson.Write(writer, v, depth);
                    return;
            }
        }

        private static readonly char[] DecimalMarks = { '.', 'E', 'e' };

        private static void WriteFloating(Utf8JsonWriter writer, string text, bool invalid)
        {
            if (invalid) throw new ArgumentException("NaN and infinity are not JSON numbers.");
            writer.WriteRawValue(text.IndexOfAny(DecimalMarks) < 0 ? text + ".0" : text);
        }

        private static string Shorten(string text) => text.Length > 200 ? text.Substring(0, 200) + "..." : text;
    }
}
