using System;
using System.Collections.ObjectModel;
using System.IO;
using System.Management.Automation;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Threading;
using Qfex.Protocol;

namespace Qfex
{
    /// <summary>
    /// The request an error frame echoed (its incoming_message): an error record's TargetObject. It is kept as its
    /// JSON text, already through the redaction pass, and turned into PowerShell objects only when someone reads it:
    /// most records of a flood of error frames are counted or dropped, never read, and building the objects for each
    /// was the largest part of a record's cost that was ours (docs/performance.md). Its keys read as properties
    /// (<c>$_.TargetObject.type</c>, <c>$_.TargetObject.params.symbol</c>, numbers typed as in frames: [long],
    /// [decimal]) through <see cref="QfexEchoAdapter"/> (registered in Qfex.types.ps1xml), so Select-Object,
    /// formatting and ConvertTo-Json see the echoed request itself; <see cref="ToString"/> is its redacted JSON.
    /// </summary>
    public sealed class QfexEcho
    {
        private static readonly object NotBuilt = new object();
        private static readonly JsonWriterOptions WriterOptions = new JsonWriterOptions
        {
            // Shown to people: keep non-ASCII and HTML characters readable. Nothing embeds this text in a page.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            SkipValidation = true,
        };

        private object? _value = NotBuilt;

        private QfexEcho(string redactedJson) => Json = redactedJson;

        /// <summary>The echoed request as JSON text, secrets masked.</summary>
        internal string Json { get; }

        /// <summary>
        /// The echo as PowerShell objects (a PSCustomObject), built on the first read, once. The text is redacted
        /// already; the build masks secret-named keys and cleans every string again all the same (one rule, not two).
        /// </summary>
        internal PSObject Value
        {
            get
            {
                object? value = Volatile.Read(ref _value);
                if (!ReferenceEquals(value, NotBuilt)) return (PSObject)value!;
                var built = PSJson.Parse(Json, redact: true) as PSObject ?? new PSObject();
                object? previous = Interlocked.CompareExchange(ref _value, built, NotBuilt);
                return (PSObject)(ReferenceEquals(previous, NotBuilt) ? built : previous!);
            }
        }

        /// <summary>True once <see cref="Value"/> was read (tests: a record nobody reads builds no objects).</summary>
        internal bool IsBuilt => !ReferenceEquals(Volatile.Read(ref _value), NotBuilt);

        /// <summary>The redacted JSON text of the echoed request.</summary>
        public override string ToString() => Json;

        /// <summary>
        /// An echoed JSON object through the one redaction pass, written as text: secret-named keys hold "***" whatever
        /// their value, every string is cleaned with the session's <paramref name="literals"/> (its own nonce,
        /// signature, JWT and key masked, control characters removed, JSON inside strings masked), keys as
        /// PSJson names them. Strings are cleaned as decoded values, so an escaped secret cannot slip past.
        /// </summary>
        internal static QfexEcho FromElement(JsonElement element, SecretLiterals? literals)
        {
            // One buffer and writer per thread, reset for each echo: in a flood, the receive loop writes one per frame,
            // and the echo's text should be its only allocation. A buffer grown by a huge echo is not kept.
            MemoryStream buffer = t_buffer ??= new MemoryStream(1024);
            Utf8JsonWriter writer = t_writer ??= new Utf8JsonWriter(buffer, WriterOptions);
            buffer.SetLength(0);
            writer.Reset(buffer);
            try
            {
                WriteRedacted(writer, element, literals);
                writer.Flush();
                return new QfexEcho(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
            }
            finally
            {
                if (buffer.Capacity > MaxKeptBuffer)
                {
                    t_writer = null;
                    t_buffer = null;
                }
            }
        }

        private const int MaxKeptBuffer = 64 * 1024;

        [ThreadStatic] private static MemoryStream? t_buffer;
        [ThreadStatic] private static Utf8JsonWriter? t_writer;

        /// <summary>For New-QfexErrorRecord: an echo from a redacted PowerShell object, typed as a received one would be.</summary>
        internal static QfexEcho FromObject(object redacted)
        {
            using JsonDocument document = JsonDocument.Parse(PSJson.Serialize(redacted), PSJson.DocumentOptions);
            return FromElement(document.RootElement, null);
        }

        private static void WriteRedacted(Utf8JsonWriter writer, JsonElement element, SecretLiterals? literals)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    writer.WriteStartObject();
                    foreach (JsonProperty property in element.EnumerateObject())
                    {
                        string name = PSJson.EchoName(property);
                        writer.WritePropertyName(name);
                        if (Redaction.IsSecretName(name) && property.Value.ValueKind != JsonValueKind.Null)
                            writer.WriteStringValue(Redaction.Mask);
                        else
                            WriteRedacted(writer, property.Value, literals);
                    }
                    writer.WriteEndObject();
                    break;
                case JsonValueKind.Array:
                    writer.WriteStartArray();
                    foreach (JsonElement item in element.EnumerateArray())
                        WriteRedacted(writer, item, literals);
                    writer.WriteEndArray();
                    break;
                case JsonValueKind.String:
                    writer.WriteStringValue(Redaction.CleanRecurring(PSJson.StringValue(element), literals, TextShape.MultiLine));
                    break;
                default:
                    // Numbers as sent (their text decides [long] or [decimal] when read), true, false, null.
                    element.WriteTo(writer);
                    break;
            }
        }
    }

    /// <summary>
    /// Shows a <see cref="QfexEcho"/>'s keys as its properties (registered for the type in Qfex.types.ps1xml), so
    /// scripts, Select-Object, formatting and ConvertTo-Json see the echoed request itself. Read-only: it is what the
    /// exchange sent back.
    /// </summary>
    public sealed class QfexEchoAdapter : PSPropertyAdapter
    {
        public override Collection<PSAdaptedProperty> GetProperties(object baseObject)
        {
            var properties = new Collection<PSAdaptedProperty>();
            if (baseObject is QfexEcho echo)
                foreach (PSPropertyInfo property in echo.Value.Properties)
                    properties.Add(new PSAdaptedProperty(property.Name, property));
            return properties;
        }

        public override PSAdaptedProperty? GetProperty(object baseObject, string propertyName) =>
            baseObject is QfexEcho echo && echo.Value.Properties[propertyName] is PSPropertyInfo property
                ? new PSAdaptedProperty(property.Name, property)
                : null;

        public override object? GetPropertyValue(PSAdaptedProperty adaptedProperty) => ((PSPropertyInfo)adaptedProperty.Tag).Value;

        public override bool IsGettable(PSAdaptedProperty adaptedProperty) => true;

        public override bool IsSettable(PSAdaptedProperty adaptedProperty) => false;

        public override void SetPropertyValue(PSAdaptedProperty adaptedProperty, object value) =>
            throw new NotSupportedException("An echoed request is read-only: it is what the exchange sent back.");

        public override string GetPropertyTypeName(PSAdaptedProperty adaptedProperty) =>
            (((PSPropertyInfo)adaptedProperty.Tag).Value?.GetType() ?? typeof(object)).FullName!;
    }
}
