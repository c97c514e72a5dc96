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

        /// <summary>
        /// The PowerShell value of a JSON value. With <paramref name="redact"/> (an echo to show): secret-named keys hold
        /// "***" whatever their value, and every string and key goes through the one redaction pass (the session's
        /// <paramref name="literals"/> masked, control characters removed; see Redaction).
        /// </summary>
        internal static object? ToPSValue(JsonElement element, bool redact = false, SecretLiterals? literals = null)
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
                        string name = PropertyName(property, redact);
                        object? value = redact && Redaction.IsSecretName(name) && property.Value.ValueKind != JsonValueKind.Null
                            ? Redaction.Mask
                            : ToPSValue(property.Value, redact, literals);
                        if (redact && value is string text && !ReferenceEquals(text, Redaction.Mask)) value = Redaction.Clean(text, literals, TextShape.MultiLine);
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
                        object? value = ToPSValue(item, redact, literals);
                        items[i++] = redact && value is string text ? Redaction.Clean(text, literals, TextShape.MultiLine) : value;
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

        private static bool HasUnsafeCharacter(string name)
        {
            foreach (char c in name)
                if (Redaction.IsUnsafeCharacter(c)) return true;
            return false;
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

        /// <summary>A key of an echo as it will read as a property: as <see cref="ToPSValue"/> names it when redacting.</summary>
        internal static string EchoName(JsonProperty property) => PropertyName(property, redact: true);

        private static string PropertyName(JsonProperty property, bool redact)
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
            // A key of an echo is shown too: no control characters in it.
            if (redact && HasUnsafeCharacter(name)) name = Redaction.Clean(name, (SecretLiterals?)null, TextShape.Line);
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

        /// <summary>
        /// Serialises a PowerShell value (hashtable, PSCustomObject, array, scalar, or an object by its readable
        /// properties) as JSON. Throws an ArgumentException naming where the value is (params.legs[2]) for what JSON
        /// cannot carry faithfully: a script block, a file, a process and the like, a property whose
        /// getter fails, a cycle, nesting past 32 levels, NaN or infinity, a SecureString or PSCredential, a lone
        /// surrogate (UTF-8 would turn it into U+FFFD), and, with <paramref name="maxBytes"/> (0: no limit), more than
        /// that many bytes of UTF-8 (<see cref="JsonTooLargeException"/>, found while writing: a huge value is never written whole).
        /// </summary>
        internal static string Serialize(object? value, int maxBytes = 0)
        {
            using var stream = new MemoryStream();
            using (var writer = new Utf8JsonWriter(stream))
                new ValueWriter(writer, maxBytes).Write(value, 0);
            return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
        }

        /// <summary>Writes one value with the checks of <see cref="Serialize"/> (no size limit); <paramref name="depth"/> counts toward the 32 levels.</summary>
        internal static void Write(Utf8JsonWriter writer, object? value, int depth) => new ValueWriter(writer, 0).Write(value, depth);

        /// <summary>The first lone surrogate in <paramref name="text"/>: its index, or -1.</summary>
        internal static int IndexOfLoneSurrogate(string text)
        {
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (!char.IsSurrogate(c)) continue;
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    i++;
                    continue;
                }
                return i;
            }
            return -1;
        }

        /// <summary>What a lone surrogate at index <paramref name="at"/> of a text is, for a message (the text itself is not repeated).</summary>
        internal static string LoneSurrogateProblem(string text, int at, bool key = false) =>
            string.Format(CultureInfo.InvariantCulture,
                "has {0} lone surrogate (U+{1:X4}) at {2}character {3}: UTF-8 cannot carry it (it would arrive as U+FFFD, the replacement character); remove it or complete the pair",
                key ? "a key with a" : "a", (int)text[at], key ? "the key's " : string.Empty, at + 1);

        /// <summary>Where a value is, as a user would write it: params.legs[2].price (an empty path is the value itself).</summary>
        internal static string PathSegment(string name)
        {
            bool plain = name.Length > 0 && !char.IsDigit(name[0]);
            foreach (char c in name)
                plain &= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
            return plain ? "." + name : "['" + name.Replace("'", "''") + "']";
        }

        /// <summary>One serialisation: the path to the value being written (for messages), the objects being written (cycles) and the size so far.</summary>
        private sealed class ValueWriter
        {
            private const int MaxDepth = 32;

            private readonly Utf8JsonWriter _json;
            private readonly int _maxBytes;
            private readonly List<string> _path = new List<string>();
            private readonly List<(object Value, int PathLength)> _active = new List<(object, int)>();

            internal ValueWriter(Utf8JsonWriter json, int maxBytes)
            {
                _json = json;
                _maxBytes = maxBytes;
            }

            internal void Write(object? value, int depth)
            {
                if (depth > MaxDepth)
                    throw Fail($"is nested more than {MaxDepth} levels deep");

                if (value is PSObject pso)
                {
                    // A PSCustomObject (or a hashtable with added note properties) is written by its
                    // properties; a wrapped .NET value by its base object.
                    if (pso.BaseObject is PSCustomObject)
                    {
                        WriteProperties(pso, pso, depth);
                        return;
                    }
                    value = pso.BaseObject;
                }

                switch (value)
                {
                    case null:
                        _json.WriteNullValue();
                        break;
                    case QfexEcho echo:
                        // Redacted JSON already: written as it is, never built into objects for this.
                        if (_maxBytes > 0 && echo.Json.Length > _maxBytes) throw TooLarge();
                        _json.WriteRawValue(echo.Json, skipInputValidation: true);
                        break;
                    case string s:
                        WriteString(s);
                        break;
                    case char c:
                        WriteString(c.ToString());
                        break;
                    case bool b:
                        _json.WriteBooleanValue(b);
                        break;
                    case System.Security.SecureString _:
                    case PSCredential _:
                        throw Fail("is a SecureString or PSCredential, which cannot be sent as message content");
                    case Enum e:
                        _json.WriteStringValue(e.ToString());
                        break;
                    case Guid g:
                        _json.WriteStringValue(g.ToString("D"));
                        break;
                    case DateTime dt:
                        _json.WriteStringValue(dt.ToUniversalTime().ToString("o", CultureInfo.InvariantCulture));
                        break;
                    case DateTimeOffset dto:
                        _json.WriteStringValue(dto.ToUniversalTime().ToString("o", CultureInfo.InvariantCulture));
                        break;
                    case int or long or short or sbyte or byte or ushort or uint:
                        _json.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                        break;
                    case ulong ul:
                        _json.WriteNumberValue(ul);
                        break;
                    case decimal m:
                        _json.WriteNumberValue(m);
                        break;
                    case double dbl:
                        WriteFloating(dbl);
                        break;
                    case float f:
                        WriteFloating(f);
                        break;
                    case System.Numerics.BigInteger bi:
                        _json.WriteRawValue(bi.ToString(CultureInfo.InvariantCulture));
                        break;
                    case IDictionary dictionary:
                        WriteDictionary(dictionary, depth);
                        break;
                    default:
                        if (Unsendable(value) is (string what, string instead))
                            throw Fail($"is {what} ({value.GetType().FullName}), which cannot be sent as JSON{instead}. " +
                                "Qfex sends strings, numbers, booleans, dates, GUIDs, enums, hashtables, PSCustomObjects and arrays of them");
                        if (value is IEnumerable enumerable)
                            WriteArray(enumerable, depth);
                        else
                            // Any other object: its public properties, as PowerShell sees them.
                            WriteProperties(PSObject.AsPSObject(value), value, depth);
                        break;
                }
                CheckSize();
            }

            private void WriteString(string s)
            {
                // A string longer than the limit in characters is longer in UTF-8 bytes too: refused before it is copied.
                if (_maxBytes > 0 && s.Length > _maxBytes) throw TooLarge();
                int lone = IndexOfLoneSurrogate(s);
                if (lone >= 0) throw Fail(LoneSurrogateProblem(s, lone));
                _json.WriteStringValue(s);
            }

            private void WriteName(string name)
            {
                int lone = IndexOfLoneSurrogate(name);
                if (lone >= 0) throw Fail(LoneSurrogateProblem(name, lone, key: true));
                _json.WritePropertyName(name);
            }

            private void WriteFloating(double value)
            {
                if (double.IsNaN(value) || double.IsInfinity(value))
                    throw Fail("is NaN or infinity, which are not JSON numbers");
                _json.WriteNumberValue(value);
            }

            private void WriteDictionary(IDictionary dictionary, int depth)
            {
                Enter(dictionary);
                _json.WriteStartObject();
                IDictionaryEnumerator entries = dictionary.GetEnumerator();
                while (Next(entries))
                {
                    string key = Convert.ToString(entries.Key, CultureInfo.InvariantCulture) ?? string.Empty;
                    WriteName(key);
                    _path.Add(PathSegment(key));
                    Write(entries.Value, depth + 1);
                    _path.RemoveAt(_path.Count - 1);
                }
                _json.WriteEndObject();
                Leave();
            }

            private void WriteArray(IEnumerable enumerable, int depth)
            {
                Enter(enumerable);
                _json.WriteStartArray();
                IEnumerator items;
                try
                {
                    items = enumerable.GetEnumerator();
                }
                catch (Exception e) when (IsReadFailure(e))
                {
                    throw Fail("could not be enumerated: " + Reason(e));
                }
                int index = 0;
                while (Next(items))
                {
                    _path.Add("[" + index.ToString(CultureInfo.InvariantCulture) + "]");
                    Write(items.Current, depth + 1);
                    _path.RemoveAt(_path.Count - 1);
                    index++;
                }
                _json.WriteEndArray();
                Leave();
            }

            private void WriteProperties(PSObject pso, object identity, int depth)
            {
                Enter(identity);
                _json.WriteStartObject();
                foreach (PSPropertyInfo property in pso.Properties)
                {
                    if (!property.IsGettable) continue;
                    WriteName(property.Name);
                    _path.Add(PathSegment(property.Name));
                    object? value;
                    try
                    {
                        value = property.Value;
                    }
                    catch (Exception e) when (IsReadFailure(e))
                    {
                        // The engine's GetValueInvocationException (a getter or a ScriptProperty that throws) never escapes:
                        // the request is refused, naming the property and what its getter said.
                        throw Fail("could not be read: " + Reason(e));
                    }
                    Write(value, depth + 1);
                    _path.RemoveAt(_path.Count - 1);
                }
                _json.WriteEndObject();
                Leave();
            }

            private bool Next(IEnumerator items)
            {
                try
                {
                    return items.MoveNext();
                }
                catch (Exception e) when (IsReadFailure(e))
                {
                    throw Fail("could not be enumerated: " + Reason(e));
                }
            }

            /// <summary>A container being written; one that is already being written higher up is a cycle.</summary>
            private void Enter(object value)
            {
                foreach ((object active, int pathLength) in _active)
                    if (ReferenceEquals(active, value))
                        throw Fail("refers back to " + PathText(pathLength) + " (a cycle), which JSON cannot hold");
                _active.Add((value, _path.Count));
            }

            private void Leave() => _active.RemoveAt(_active.Count - 1);

            private void CheckSize()
            {
                if (_maxBytes > 0 && _json.BytesCommitted + _json.BytesPending > _maxBytes) throw TooLarge();
            }

            private JsonTooLargeException TooLarge() => new JsonTooLargeException(_maxBytes);

            /// <summary>What cannot be written, where: "params.legs[2] is ..." ("the value is ..." at the root).</summary>
            private ArgumentException Fail(string problem)
            {
                string path = PathText(_path.Count);
                return new ArgumentException((path.Length == 0 ? "the value " : path + " ") + problem);
            }

            private string PathText(int length)
            {
                if (length == 0) return string.Empty;
                var sb = new StringBuilder();
                for (int i = 0; i < length; i++) sb.Append(_path[i]);
                return sb[0] == '.' ? sb.ToString(1, sb.Length - 1) : sb.ToString();
            }

            private static bool IsReadFailure(Exception e) =>
                !(e is OutOfMemoryException || e is PipelineStoppedException || e is System.Threading.ThreadAbortException);

            /// <summary>What a failed getter said: the innermost message, without the engine's wrapping, cleaned and short.</summary>
            private static string Reason(Exception e)
            {
                Exception inner = e;
                while ((inner is GetValueInvocationException || inner is System.Reflection.TargetInvocationException || inner is ExtendedTypeSystemException)
                    && inner.InnerException != null)
                    inner = inner.InnerException;
                return inner.GetType().Name + ": " + Redaction.Clean(inner.Message, maxChars: 200);
            }

            /// <summary>What a value is when JSON cannot carry it (its properties are not the value a request wants), and what to send instead; else null.</summary>
            private static (string What, string Instead)? Unsendable(object value) => value switch
            {
                ScriptBlock _ => ("a script block", ": send its result instead (& { ... })"),
                Delegate _ => ("a delegate", string.Empty),
                FileSystemInfo _ => ("a file or directory object", ": send its name or its content instead"),
                System.Diagnostics.Process _ => ("a process object", ": send the values you need instead, such as its Id"),
                Stream _ or TextReader _ or TextWriter _ => ("a stream", ": send its content instead"),
                Type _ or System.Reflection.MemberInfo _ or System.Reflection.Assembly _ or System.Reflection.Module _ => ("a .NET type or member", ": send its name instead"),
                System.Threading.Tasks.Task _ or System.Threading.WaitHandle _ => ("a task or wait handle", string.Empty),
                IntPtr _ or UIntPtr _ or System.Reflection.Pointer _ => ("a pointer", string.Empty),
                System.Management.Automation.Runspaces.Runspace _ or PowerShell _ or PSModuleInfo _ or CommandInfo _ or SessionState _ or EngineIntrinsics _
                    => ("a PowerShell engine object", string.Empty),
                _ => null,
            };
        }

        /// <summary>Reads a top-level property of an object as a string, or null.</summary>
        internal static string? GetString(JsonElement obj, string name) =>
            obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String
                ? StringValue(v)
                : null;
    }
}

namespace Qfex.Protocol
{
    /// <summary>
    /// A value over PSJson's size limit (see <see cref="PSJson.Serialize"/>): found while writing, so a huge value is
    /// never written whole. Every other value PSJson cannot write is an ArgumentException naming where it is.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1032:Implement standard exception constructors",
        Justification = "Internal: made only by PSJson, always with its limit.")]
    internal sealed class JsonTooLargeException : ArgumentException
    {
        internal JsonTooLargeException(int maxBytes)
            : base(string.Format(System.Globalization.CultureInfo.InvariantCulture, "The value is larger than {0:N0} bytes as JSON.", maxBytes))
        {
            MaxBytes = maxBytes;
        }

        internal int MaxBytes { get; }
    }
}
