using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Management.Automation;
using System.Text;
using System.Text.Json;

namespace Qfex.Protocol
{
    /// <summary>
    /// JSON to and from PowerShell objects. Objects become PSCustomObjects (property order kept),
    /// arrays become object[]; integers are [long] and other numbers [decimal] where they fit
    /// (money must not pass through binary floating point), else [double].
    /// </summary>
    internal static class PSJson
    {
        internal static readonly JsonDocumentOptions DocumentOptions = new JsonDocumentOptions { MaxDepth = 64 };

        /// <summary>Parses JSON text; throws JsonException when it is not valid JSON.</summary>
        internal static object? Parse(string json, bool redact = false)
        {
            using JsonDocument doc = JsonDocument.Parse(json, DocumentOptions);
            return ToPSValue(doc.RootElement, redact);
        }

        internal static object? Parse(ReadOnlyMemory<byte> utf8)
        {
            using JsonDocument doc = JsonDocument.Parse(utf8, DocumentOptions);
            return ToPSValue(doc.RootElement);
        }

        /// <summary>The PowerShell value of a JSON value; with <paramref name="redact"/>, secret-named keys hold "***" (see Redaction).</summary>
        internal static object? ToPSValue(JsonElement element, bool redact = false)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    var pso = new PSObject();
                    // Names are checked here (SafeName, duplicates), so the engine's own checks, which
                    // walk every adapter on each add, are skipped: most of the cost of a frame's Data.
                    List<PSNoteProperty>? properties = null;
                    Dictionary<string, int>? positions = null;
                    foreach (JsonProperty property in element.EnumerateObject())
                    {
                        string name = PropertyName(property);
                        object? value = redact && Redaction.IsSecretName(name) && property.Value.ValueKind != JsonValueKind.Null
                            ? Redaction.Mask
                            : ToPSValue(property.Value, redact);
                        if (redact && value is string text) value = Redaction.RedactText(text);
                        var note = new PSNoteProperty(name, value);
                        properties ??= new List<PSNoteProperty>();
                        // Duplicate keys (PowerShell names ignore case): the last one wins, as in most JSON readers
                        // and in the frame's Type. Linear in the key count: small objects scan, large ones index.
                        int at = IndexOf(properties, ref positions, name);
                        if (at >= 0) properties[at] = note;
                        else
                        {
                            positions?.Add(name, properties.Count);
                            properties.Add(note);
                        }
                    }
                    if (properties != null)
                    {
                        // One collection object: each read of PSObject.Properties builds a new one.
                        PSMemberInfoCollection<PSPropertyInfo> members = pso.Properties;
                        foreach (PSNoteProperty note in properties)
                            members.Add(note, preValidated: true);
                    }
                    return pso;
                case JsonValueKind.Array:
                    var items = new object?[element.GetArrayLength()];
                    int i = 0;
                    foreach (JsonElement item in element.EnumerateArray())
                    {
                        object? value = ToPSValue(item, redact);
                        items[i++] = redact && value is string text ? Redaction.RedactText(text) : value;
                    }
                    return items;
                case JsonValueKind.String:
                    return StringValue(element);
                case JsonValueKind.Number:
                    return ToNumber(element);
                case JsonValueKind.True:
                    return true;
                case JsonValueKind.False:
                    return false;
                default:
                    return null;
            }
        }

        private static object ToNumber(JsonElement element)
        {
            if (element.TryGetInt64(out long l))
                return l;
            // [decimal] where it fits: not when decimal's 28 places would round the value away (1e-30).
            if (element.TryGetDecimal(out decimal d) && element.TryGetDouble(out double check) && FitsDecimal(d, check))
                return d;
            return element.GetDouble();
        }

        /// <summary>Where a property of that name (ignoring case) already is, or -1; from 16 properties on, through an index.</summary>
        private static int IndexOf(List<PSNoteProperty> properties, ref Dictionary<string, int>? positions, string name)
        {
            if (positions == null)
            {
                if (properties.Count < 16)
                {
                    for (int i = 0; i < properties.Count; i++)
                        if (string.Equals(properties[i].Name, name, StringComparison.OrdinalIgnoreCase)) return i;
                    return -1;
                }
                positions = new Dictionary<string, int>(properties.Count * 2, StringComparer.OrdinalIgnoreCase);
                for (int i = 0; i < properties.Count; i++) positions[properties[i].Name] = i;
            }
            return positions.TryGetValue(name, out int at) ? at : -1;
        }

        private static bool FitsDecimal(decimal d, double value)
        {
            double asDouble = (double)d;
            return asDouble == value || Math.Abs(asDouble - value) <= Math.Abs(value) * 1e-12;
        }

        /// <summary>
        /// Names PowerShell cannot hold as note properties are renamed rather than failing the frame:
        /// an empty key becomes "(empty)", a reserved member name (psobject, psbase, ...) gets a trailing "_".
        /// </summary>
        internal static string SafeName(string name) =>
            name.Length == 0 ? "(empty)" : ReservedNames.Contains(name) ? name + "_" : name;

        private static readonly HashSet<string> ReservedNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        {
            "psobject", "psbase", "psadapted", "psextended", "pstypenames",
        };

        private static string PropertyName(JsonProperty property)
        {
            string name;
            try
            {
                name = property.Name;
            }
            catch (InvalidOperationException)
            {
                // A lone surrogate escape (valid JSON, not valid Unicode): keep the escape as written.
                name = RawStringText(property.ToString(), property.Value.GetRawText());
            }
            return SafeName(name);
        }

        /// <summary>A string value; a lone surrogate escape (valid JSON, not valid Unicode) is kept as written, e.g. "\ud800".</summary>
        internal static string StringValue(JsonElement element)
        {
            try
            {
                return element.GetString()!;
            }
            catch (InvalidOperationException)
            {
                string raw = element.GetRawText();
                return raw.Length >= 2 ? raw.Substring(1, raw.Length - 2) : raw;
            }
        }

        private static string RawStringText(string propertyText, string valueText)
        {
            // JsonProperty.ToString() is "\"name\":value"; take the quoted name as written.
            int end = propertyText.Length - valueText.Length;
            string head = end > 0 ? propertyText.Substring(0, end).TrimEnd() : propertyText;
            if (head.EndsWith(":", StringComparison.Ordinal)) head = head.Substring(0, head.Length - 1).TrimEnd();
            return head.Length >= 2 && head[0] == '"' ? head.Substring(1, head.Length - 2) : head;
        }

        /// <summary>Serialises a PowerShell value (hashtable, PSCustomObject, array, scalar) as JSON.</summary>
        internal static string Serialize(object? value)
        {
            using var stream = new MemoryStream();
            using (var writer = new Utf8JsonWriter(stream))
                Write(writer, value, 0);
            return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
        }

        internal static void Write(Utf8JsonWriter writer, object? value, int depth)
        {
            if (depth > 32)
                throw new ArgumentException("The value is nested more than 32 levels deep; it cannot be sent as JSON.");

            if (value is PSObject pso)
            {
                // A PSCustomObject (or a hashtable with added note properties) is written by its
                // properties; a wrapped .NET value by its base object.
                if (pso.BaseObject is PSCustomObject)
                {
                    writer.WriteStartObject();
                    foreach (PSPropertyInfo property in pso.Properties)
                    {
                        writer.WritePropertyName(property.Name);
                        Write(writer, property.Value, depth + 1);
                    }
                    writer.WriteEndObject();
                    return;
                }
                value = pso.BaseObject;
            }

            switch (value)
            {
                case null:
                    writer.WriteNullValue();
                    return;
                case string s:
                    writer.WriteStringValue(s);
                    return;
                case char c:
                    writer.WriteStringValue(c.ToString());
                    return;
                case bool b:
                    writer.WriteBooleanValue(b);
                    return;
                case System.Security.SecureString _:
                case PSCredential _:
                    throw new ArgumentException("A SecureString or PSCredential cannot be sent as message content.");
                case Enum e:
                    writer.WriteStringValue(e.ToString());
                    return;
                case Guid g:
                    writer.WriteStringValue(g.ToString("D"));
                    return;
                case DateTime dt:
                    writer.WriteStringValue(dt.ToUniversalTime().ToString("o", CultureInfo.InvariantCulture));
                    return;
                case DateTimeOffset dto:
                    writer.WriteStringValue(dto.ToUniversalTime().ToString("o", CultureInfo.InvariantCulture));
                    return;
                case int or long or short or sbyte or byte or ushort or uint:
                    writer.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                    return;
                case ulong ul:
                    writer.WriteNumberValue(ul);
                    return;
                case decimal m:
                    writer.WriteNumberValue(m);
                    return;
                case double dbl:
                    WriteFloating(writer, dbl);
                    return;
                case float f:
                    WriteFloating(writer, f);
                    return;
                case System.Numerics.BigInteger bi:
                    writer.WriteRawValue(bi.ToString(CultureInfo.InvariantCulture));
                    return;
                case IDictionary dictionary:
                    writer.WriteStartObject();
                    foreach (DictionaryEntry entry in dictionary)
                    {
                        writer.WritePropertyName(Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? string.Empty);
                        Write(writer, entry.Value, depth + 1);
                    }
                    writer.WriteEndObject();
                    return;
                case IEnumerable enumerable:
                    writer.WriteStartArray();
                    foreach (object? item in enumerable)
                        Write(writer, item, depth + 1);
                    writer.WriteEndArray();
                    return;
                default:
                    // Any other object: its public properties, as PowerShell sees them.
                    var wrapped = PSObject.AsPSObject(value);
                    writer.WriteStartObject();
                    foreach (PSPropertyInfo property in wrapped.Properties)
                    {
                        if (!property.IsGettable) continue;
                        writer.WritePropertyName(property.Name);
                        Write(writer, property.Value, depth + 1);
                    }
                    writer.WriteEndObject();
                    return;
            }
        }

        private static void WriteFloating(Utf8JsonWriter writer, double value)
        {
            if (double.IsNaN(value) || double.IsInfinity(value))
                throw new ArgumentException("NaN and infinity cannot be sent as JSON numbers.");
            writer.WriteNumberValue(value);
        }

        /// <summary>Reads a top-level property of an object as a string, or null.</summary>
        internal static string? GetString(JsonElement obj, string name) =>
            obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String
                ? StringValue(v)
                : null;
    }
}
