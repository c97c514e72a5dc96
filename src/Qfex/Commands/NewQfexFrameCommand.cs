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

            string json = PSJson.Serialize(data);
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

        private static string Shorten(string text) => text.Length > 200 ? text.Substring(0, 200) + "..." : text;
    }
}
