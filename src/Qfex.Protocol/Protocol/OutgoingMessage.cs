using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Text;
using System.Text.Json;

namespace Qfex.Protocol
{
    /// <summary>
    /// A request ready to send: validated against the catalog, with a client_order_id on every order
    /// that lacks one (so its answer can be matched), serialised once.
    /// </summary>
    /// <summary>A request refused before sending (nothing was sent); the cmdlets report it as QfexInvalidMessage.</summary>
    internal sealed class InvalidMessageException : Exception
    {
        internal InvalidMessageException(string message, Exception? inner = null) : base(message, inner) { }
    }

    internal sealed class OutgoingMessage : IDisposable
    {
        private readonly JsonDocument _document;

        private OutgoingMessage(string type, string json, JsonDocument document)
        {
            Type = type;
            Json = json;
            _document = document;
        }

        internal string Type { get; }
        internal string Json { get; }
        internal JsonElement Params => _document.RootElement.TryGetProperty("params", out JsonElement p) ? p : default;

        internal static OutgoingMessage FromTypeAndParams(string type, object? parameters)
        {
            object? unwrapped = parameters is PSObject pso && pso.BaseObject is not PSCustomObject ? pso.BaseObject : parameters;
            if (unwrapped != null && !(unwrapped is IDictionary) && !(unwrapped is PSObject))
                throw new InvalidMessageException($"-Params must be a hashtable, dictionary or PSCustomObject, not {unwrapped.GetType().Name}.");
            return Create(new Dictionary<string, object?> { ["type"] = type, ["params"] = parameters ?? new Hashtable() });
        }

        internal static OutgoingMessage FromMessage(object? message)
        {
            object? unwrapped = message is PSObject pso && pso.BaseObject is not PSCustomObject ? pso.BaseObject : message;
            if (unwrapped is string text)
            {
                try
                {
                    using JsonDocument doc = JsonDocument.Parse(text);
                    return Create(PSJson.ToPSValue(doc.RootElement));
                }
                catch (JsonException e)
                {
                    throw new InvalidMessageException("-Message is not valid JSON: " + e.Message, e);
                }
            }
            return Create(NormalizeKeys(unwrapped));
        }

        /// <summary>PowerShell users write Type/Params as readily as type/params: the wire wants lower case.</summary>
        private static object? NormalizeKeys(object? message)
        {
            var normalized = new System.Collections.Specialized.OrderedDictionary();
            switch (message)
            {
                case IDictionary dictionary:
                    foreach (DictionaryEntry entry in dictionary)
                        normalized[Normalize(entry.Key?.ToString() ?? string.Empty)] = entry.Value;
                    return normalized;
                case PSObject pso:
                    foreach (PSPropertyInfo property in pso.Properties)
                        normalized[Normalize(property.Name)] = property.Value;
                    return normalized;
                default:
                    return message;
            }
        }

        private static string Normalize(string key) =>
            string.Equals(key, "type", StringComparison.OrdinalIgnoreCase) ? "type"
            : string.Equals(key, "params", StringComparison.OrdinalIgnoreCase) ? "params"
            : key;

        private static OutgoingMessage Create(object? message)
        {
            string json;
            try
            {
                json = PSJson.Serialize(message);
            }
            catch (ArgumentException e)
            {
                throw new InvalidMessageException("The message cannot be sent as JSON: " + e.Message, e);
            }

            JsonDocument doc = JsonDocument.Parse(json);
            JsonElement root = doc.RootElement;
            string? type = PSJson.GetString(root, "type");
            if (root.ValueKind != JsonValueKind.Object || string.IsNullOrEmpty(type))
            {
                doc.Dispose();
                throw new InvalidMessageException("A message must be an object with a string 'type' (and usually 'params').");
            }

            IReadOnlyList<string> problems = MessageValidator.Validate(type!, root.TryGetProperty("params", out JsonElement p) ? p : default);
            if (problems.Count > 0)
            {
                doc.Dispose();
                throw new InvalidMessageException("Not sent: " + string.Join(" ", problems));
            }

            if ((type == "add_order" || type == "close_position") && PSJson.GetString(p, "client_order_id") is null or "")
            {
                // The protocol has no request id: our own client_order_id is how the answer is found.
                json = WithClientOrderId(root, NewClientOrderId());
                doc.Dispose();
                doc = JsonDocument.Parse(json);
            }
            return new OutgoingMessage(type!, json, doc);
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

        /// <summary>For -WhatIf/-Confirm: "add_order {"symbol":...}" cut to a readable length.</summary>
        internal string Describe()
        {
            string p = Params.ValueKind == JsonValueKind.Undefined ? "{}" : Params.GetRawText();
            if (p.Length > 300) p = p.Substring(0, 300) + "...";
            return $"{Type} {p}";
        }

        /// <summary>The message as PowerShell sees it (-PassThru, an error's TargetObject); secrets redacted.</summary>
        internal PSObject ToPSObject() => (PSObject)Redaction.Redact(PSJson.ToPSValue(_document.RootElement))!;

        public void Dispose() => _document.Dispose();
    }
}
