using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Text;
using System.Text.Json;

namespace Qfex.Protocol
{
    /// <summary>A request refused before sending (nothing was sent); the cmdlets report it as QfexInvalidMessage.</summary>
    internal sealed class InvalidMessageException : Exception
    {
        internal InvalidMessageException(string message, Exception? inner = null) : base(Redaction.Clean(message, shape: TextShape.MultiLine), inner) { }
    }

    /// <summary>
    /// A request ready to send: validated against the catalog, with a client_order_id on every order
    /// that lacks one (so its answer can be matched), serialised once, at most <see cref="MaxBytes"/> long.
    /// </summary>
    internal sealed class OutgoingMessage : IDisposable
    {
        /// <summary>
        /// The largest request Send-QfexMessage sends: 256 KiB of UTF-8 JSON, far more than any request of the
        /// exchange's needs and well under what a WebSocket server accepts in one message (the fake exchange: 1 MiB).
        /// A larger one is refused (QfexInvalidMessage, nothing sent): sent, the server would close the connection
        /// (1009, message too big) and the request would be lost with it.
        /// </summary>
        internal const int MaxBytes = 256 * 1024;

        /// <summary>How much of a sent request -Debug shows (after its secrets are masked).</summary>
        internal const int DebugChars = 1000;

        /// <summary>How much of a request's params -WhatIf and -Confirm show (after its secrets are masked).</summary>
        internal const int DescribeChars = 300;

        private readonly JsonDocument _document;

        private OutgoingMessage(string type, string json, JsonDocument document, QfexEndpoint endpoint, string? typedAs)
        {
            Type = type;
            Json = json;
            _document = document;
            Endpoint = endpoint;
            TypedAs = typedAs;
        }

        internal string Type { get; }
        internal string Json { get; }
        internal QfexEndpoint Endpoint { get; }

        /// <summary>The type as the user spelled it when it differed from a known type only in case (ADD_ORDER); else null.</summary>
        internal string? TypedAs { get; }

        /// <summary>The catalog's spec of the type on the session's endpoint, or null for a type Qfex does not know.</summary>
        internal MessageSpec? Spec => MessageCatalog.Find(Type, Endpoint);

        /// <summary>The request's fields: params on the trade socket, the message itself on the market-data socket.</summary>
        internal JsonElement Params =>
            Endpoint == QfexEndpoint.MarketData ? _document.RootElement
            : _document.RootElement.TryGetProperty("params", out JsonElement p) ? p : default;

        internal static OutgoingMessage FromTypeAndParams(string type, object? parameters, QfexEndpoint endpoint = QfexEndpoint.Trade)
        {
            object? unwrapped = parameters is PSObject pso && pso.BaseObject is not PSCustomObject ? pso.BaseObject : parameters;
            if (unwrapped != null && !(unwrapped is IDictionary) && !(unwrapped is PSObject))
                throw new InvalidMessageException($"-Params must be a hashtable, dictionary or PSCustomObject, not {unwrapped.GetType().Name}.");
            return Create(new Dictionary<string, object?> { ["type"] = type, ["params"] = parameters ?? new Hashtable() }, endpoint);
        }

        internal static OutgoingMessage FromMessage(object? message, QfexEndpoint endpoint = QfexEndpoint.Trade)
        {
            object? unwrapped = message is PSObject pso && pso.BaseObject is not PSCustomObject ? pso.BaseObject : message;
            if (unwrapped is string text)
            {
                // A lone surrogate cannot be read as JSON text (nor sent as UTF-8); an escaped one (\ud800) is valid JSON
                // that no string can hold: both are refused, saying where, never turned into U+FFFD or kept as "\ud800".
                int lone = PSJson.IndexOfLoneSurrogate(text);
                if (lone >= 0)
                    throw new InvalidMessageException("Not sent: -Message " + PSJson.LoneSurrogateProblem(text, lone) + ".");
                JsonDocument doc;
                try
                {
                    doc = JsonDocument.Parse(text);
                }
                catch (JsonException e)
                {
                    throw new InvalidMessageException("-Message is not valid JSON: " + e.Message, e);
                }
                using (doc)
                {
                    if (LoneSurrogateEscape(doc.RootElement, string.Empty) is string at)
                        throw new InvalidMessageException($"Not sent: -Message has a lone surrogate escape (\\uD800-\\uDFFF without its pair) in {(at.Length == 0 ? "its value" : at)}: UTF-8 cannot carry it (a string holding it would arrive as U+FFFD, the replacement character); remove it or complete the pair.");
                    return Create(PSJson.ToPSValue(doc.RootElement), endpoint);
                }
            }
            return Create(NormalizeKeys(unwrapped), endpoint);
        }

        /// <summary>
        /// PowerShell users write Type/Params as readily as type/params: the wire wants lower case. A Session
        /// member is what Send-QfexMessage binds -Session from (by property name), not part of the request.
        /// </summary>
        private static object? NormalizeKeys(object? message)
        {
            var normalized = new System.Collections.Specialized.OrderedDictionary();
            switch (message)
            {
                case IDictionary dictionary:
                    foreach (DictionaryEntry entry in dictionary)
                        if (!IsSessionKey(entry.Key?.ToString())) normalized[Normalize(entry.Key?.ToString() ?? string.Empty)] = entry.Value;
                    return normalized;
                case PSObject pso:
                    foreach (PSPropertyInfo property in pso.Properties)
                        if (!IsSessionKey(property.Name)) normalized[Normalize(property.Name)] = property.Value;
                    return normalized;
                default:
                    return message;
            }
        }

        private static bool IsSessionKey(string? key) => string.Equals(key, "session", StringComparison.OrdinalIgnoreCase);

        private static string Normalize(string key) =>
            string.Equals(key, "type", StringComparison.OrdinalIgnoreCase) ? "type"
            : string.Equals(key, "params", StringComparison.OrdinalIgnoreCase) ? "params"
            : key;

        /// <summary>Where a string or key of the document holds an escaped lone surrogate (params.note, params['a b']), or null.</summary>
        private static string? LoneSurrogateEscape(JsonElement element, string path)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String:
                    try
                    {
                        element.GetString();
                        return null;
                    }
                    catch (InvalidOperationException)
                    {
                        return path;
                    }
                case JsonValueKind.Object:
                    foreach (JsonProperty property in element.EnumerateObject())
                    {
                        string name;
                        try
                        {
                            name = property.Name;
                        }
                        catch (InvalidOperationException)
                        {
                            return (path.Length == 0 ? "a key" : "a key of " + path);
                        }
                        string inner = path + PSJson.PathSegment(name);
                        if (LoneSurrogateEscape(property.Value, inner.TrimStart('.')) is string found) return found;
                    }
                    return null;
                case JsonValueKind.Array:
                    int i = 0;
                    foreach (JsonElement item in element.EnumerateArray())
                        if (LoneSurrogateEscape(item, path + "[" + (i++).ToString(System.Globalization.CultureInfo.InvariantCulture) + "]") is string found) return found;
                    return null;
                default:
                    return null;
            }
        }

        private static OutgoingMessage Create(object? message, QfexEndpoint endpoint)
        {
            string json;
            try
            {
                json = PSJson.Serialize(message, MaxBytes);
            }
            catch (JsonTooLargeException)
            {
                throw TooLarge(null);
            }
            catch (ArgumentException e)
            {
                // Never the engine's exception (a getter that threw): the message names where the value is and what it is.
                throw new InvalidMessageException("Not sent: " + e.Message + ".");
            }

            JsonDocument doc = JsonDocument.Parse(json);
            JsonElement root = doc.RootElement;
            string? type = PSJson.GetString(root, "type");
            if (root.ValueKind != JsonValueKind.Object || string.IsNullOrEmpty(type))
            {
                doc.Dispose();
                throw new InvalidMessageException("A message must be an object with a string 'type' (and usually 'params').");
            }

            // ADD_ORDER is add_order: the exchange's types are lower-case snake_case, and a case-only variant is
            // checked, confirmed and sent as the known type (the cmdlet warns), never sent unchecked.
            string? typedAs = null;
            if (MessageCatalog.Find(type!, QfexEndpoint.Trade) == null && MessageCatalog.Find(type!, QfexEndpoint.MarketData) == null
                && MessageCatalog.CaseVariantOf(type!) is string known)
            {
                typedAs = type;
                type = known;
            }

            // One request on every input path: trade requests always carry params ({} when none were given);
            // market-data requests carry their fields at the top level (given in params, they are moved there).
            if (Reshape(root, type!, endpoint) is string reshaped)
            {
                json = reshaped;
                doc.Dispose();
                doc = JsonDocument.Parse(json);
                root = doc.RootElement;
            }

            IReadOnlyList<string> problems = MessageValidator.ValidateMessage(type!, root, endpoint);
            if (problems.Count > 0)
            {
                doc.Dispose();
                throw new InvalidMessageException("Not sent: " + string.Join(" ", problems));
            }

            if (endpoint == QfexEndpoint.Trade && (type == "add_order" || type == "close_position")
                && PSJson.GetString(root.GetProperty("params"), "client_order_id") is null or "")
            {
                // The protocol has no request id: our own client_order_id is how the answer is found.
                json = WithClientOrderId(root, NewClientOrderId());
                doc.Dispose();
                doc = JsonDocument.Parse(json);
            }
            int bytes = Encoding.UTF8.GetByteCount(json);
            if (bytes > MaxBytes)
            {
                doc.Dispose();
                throw TooLarge(bytes);
            }
            return new OutgoingMessage(type!, json, doc, endpoint, typedAs);
        }

        private static InvalidMessageException TooLarge(int? bytes) =>
            new InvalidMessageException(string.Format(System.Globalization.CultureInfo.InvariantCulture,
                "Not sent: the request is {0} bytes as JSON; Send-QfexMessage sends at most {1:N0} bytes (256 KiB) in one request. " +
                "Split it into smaller requests (fewer orders or ids per request).",
                bytes.HasValue ? bytes.Value.ToString("N0", System.Globalization.CultureInfo.InvariantCulture) : "more than " + MaxBytes.ToString("N0", System.Globalization.CultureInfo.InvariantCulture),
                MaxBytes));

        /// <summary>The message in its endpoint's shape with the canonical type, or null when it already is.</summary>
        private static string? Reshape(JsonElement root, string type, QfexEndpoint endpoint)
        {
            bool typeChanged = PSJson.GetString(root, "type") != type;
            bool hasParams = root.TryGetProperty("params", out JsonElement parameters);
            if (endpoint == QfexEndpoint.Trade)
            {
                bool paramsMissing = !hasParams || parameters.ValueKind == JsonValueKind.Null;
                if (!typeChanged && !paramsMissing) return null;
                return Write(w =>
                {
                    w.WriteString("type", type);
                    if (paramsMissing)
                    {
                        w.WriteStartObject("params");
                        w.WriteEndObject();
                    }
                    foreach (JsonProperty property in root.EnumerateObject())
                    {
                        if (property.Name == "type" || (paramsMissing && property.Name == "params")) continue;
                        property.WriteTo(w);
                    }
                });
            }

            // Market data: hoist params' members unless one of them is also given at the top level (then the
            // message is left as it is, and the check says why it is not sent).
            bool hoist = hasParams && (parameters.ValueKind == JsonValueKind.Null
                || (parameters.ValueKind == JsonValueKind.Object && !parameters.EnumerateObject().Any(m => m.Name != "type" && root.TryGetProperty(m.Name, out _))));
            if (!typeChanged && !hoist) return null;
            return Write(w =>
            {
                w.WriteString("type", type);
                foreach (JsonProperty property in root.EnumerateObject())
                {
                    if (property.Name == "type") continue;
                    if (hoist && property.Name == "params")
                    {
                        if (property.Value.ValueKind == JsonValueKind.Object)
                            foreach (JsonProperty member in property.Value.EnumerateObject())
                                if (member.Name != "type") member.WriteTo(w);
                        continue;
                    }
                    property.WriteTo(w);
                }
            });
        }

        private static string Write(Action<Utf8JsonWriter> members)
        {
            using var stream = new System.IO.MemoryStream();
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                members(w);
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(stream.ToArray());
        }

        internal static string NewClientOrderId() => "qfex-" + Guid.NewGuid().ToString("N");

        private static string WithClientOrderId(JsonElement root, string id)
        {
            using var stream = new System.IO.MemoryStream();
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                foreach (JsonProperty property in root.EnumerateObject())
                {
                    if (property.Name != "params")
                    {
                        property.WriteTo(w);
                        continue;
                    }
                    w.WriteStartObject("params");
                    foreach (JsonProperty param in property.Value.EnumerateObject())
                        if (param.Name != "client_order_id") param.WriteTo(w);
                    w.WriteString("client_order_id", id);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(stream.ToArray());
        }

        /// <summary>
        /// For -WhatIf/-Confirm: "add_order {"symbol":...}", through the one redaction pass (secret-named params such
        /// as token or password masked whatever their value, control characters removed), then cut to a readable length.
        /// </summary>
        internal string Describe(SessionSecrets? secrets = null)
        {
            string p = Params.ValueKind == JsonValueKind.Undefined ? "{}" : Params.GetRawText();
            return Redaction.Clean(Type + " " + p, secrets, TextShape.Line, Type.Length + 1 + DescribeChars);
        }

        /// <summary>For -Debug: the request as sent, masked first and only then cut (a secret cut in half would no longer look like one).</summary>
        internal string DescribeSent(SessionSecrets? secrets = null) => Redaction.Clean(Json, secrets, TextShape.Line, DebugChars);

        /// <summary>The message as PowerShell sees it (-PassThru, an error's TargetObject); secrets redacted.</summary>
        internal PSObject ToPSObject() => (PSObject)Redaction.Redact(PSJson.ToPSValue(_document.RootElement))!;

        public void Dispose() => _document.Dispose();
    }
}
