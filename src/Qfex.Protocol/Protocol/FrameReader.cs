using System;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;
using System.Threading;

namespace Qfex.Protocol
{
    /// <summary>Why a received message is not a frame the module can read (none for a readable one).</summary>
    internal enum MalformedKind
    {
        None,
        /// <summary>Not a JSON object in UTF-8 text (or binary): QfexMalformedFrame.</summary>
        Unreadable,
        /// <summary>Over the session's maximum frame size, discarded: QfexFrameTooLarge.</summary>
        TooLarge,
    }

    /// <summary>
    /// What one received WebSocket message holds, before it gets a sequence number. The text is kept as
    /// the UTF-8 bytes received (half the memory of a string, no transcoding in the receive loop) or,
    /// for frames the module makes itself, as a string.
    /// </summary>
    internal readonly struct FrameContent
    {
        internal FrameContent(string type, string raw, ErrorEnvelope? error, string? malformedReason, MalformedKind kind = MalformedKind.Unreadable)
            : this(type, null, raw, error, malformedReason, kind) { }

        internal FrameContent(string type, byte[]? utf8, string? text, ErrorEnvelope? error, string? malformedReason, MalformedKind kind = MalformedKind.Unreadable)
        {
            Type = type;
            Utf8 = utf8;
            Text = text;
            Error = error;
            MalformedReason = malformedReason;
            Malformed = malformedReason == null ? MalformedKind.None : kind;
        }

        internal string Type { get; }
        internal byte[]? Utf8 { get; }
        internal string? Text { get; }

        /// <summary>The frame's text (decoded on demand when it was kept as bytes).</summary>
        internal string Raw => Text ?? (Utf8 == null ? string.Empty : Encoding.UTF8.GetString(Utf8));

        internal ErrorEnvelope? Error { get; }
        internal string? MalformedReason { get; }

        internal MalformedKind Malformed { get; }

        /// <summary>What the frame will hold in a buffer (see QfexFrame.Size).</summary>
        internal long Size => QfexFrame.FrameOverhead + (Utf8 != null ? Utf8.Length : 2L * (Text?.Length ?? 0)) + (Error?.HeldBytes ?? 0);

        internal QfexFrame ToFrame(long sequence, DateTime receivedAt, int sessionId) =>
            new QfexFrame(sequence, Type, Utf8, Text, receivedAt, sessionId)
            {
                Error = Error,
                MalformedReason = MalformedReason,
                Malformed = Malformed,
            };
    }

    /// <summary>
    /// Turns a received message into frames. The common case (one JSON object that is not an error)
    /// is read in one forward pass and no DOM: by PlainFrameScan when the object is plain ASCII without
    /// escapes, else by Utf8JsonReader; error frames and arrays of frames
    /// (the market-data socket may batch) are parsed fully. Anything else is a malformed frame: this
    /// never throws for any input.
    /// </summary>
    internal static class FrameReader
    {
        internal const string ErrorType = "error";
        internal const string MalformedType = "malformed";
        internal const int MaxTargetChars = 4096;

        private static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);
        private static readonly UTF8Encoding LenientUtf8 = new UTF8Encoding(false, throwOnInvalidBytes: false);

        /// <summary>
        /// Reads one received text message into frames. <paramref name="secrets"/>: the session's own secrets, masked
        /// in an error frame's code, message and echo as they are read (see ErrorEnvelope.TryRead).
        /// </summary>
        internal static void ReadText(ReadOnlySpan<byte> utf8, List<FrameContent> into, SessionSecrets? secrets = null)
        {
            // The frame a stream is made of (an ASCII object without escapes) is checked in one pass over its bytes;
            // whatever that pass does not accept, malformed frames included, is read with Utf8JsonReader below.
            if (PlainFrameScan.TryScan(utf8, out PlainFrameFacts facts))
            {
                string? typeValue = facts.TypeStart >= 0 ? TypeName(utf8.Slice(facts.TypeStart, facts.TypeLength)) : null;
                string? firstKey = typeValue == null && facts.FirstKeyStart >= 0 ? Decode(LenientUtf8, utf8.Slice(facts.FirstKeyStart, facts.FirstKeyLength)) : null;
                AddObject(utf8.ToArray(), typeValue, firstKey, facts.HasErr, into, secrets);
                return;
            }
            ReadTextWithReader(utf8, into, secrets);
        }

        /// <summary>
        /// <see cref="ReadText"/> without its fast path: every frame read with Utf8JsonReader. The tests hold the fast
        /// path to what this says.
        /// </summary>
        internal static void ReadTextWithReader(ReadOnlySpan<byte> utf8, List<FrameContent> into, SessionSecrets? secrets = null)
        {
            // Validated without allocating (the WebSocket layer has usually checked already).
            if (!IsValidUtf8(utf8))
            {
                into.Add(Malformed(Decode(LenientUtf8, utf8), "The frame is not valid UTF-8 text."));
                return;
            }

            // The loop's buffer is reused for the next message: the frame keeps its own copy.
            byte[] bytes = utf8.ToArray();
            try
            {
                var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 64 });
                if (!reader.Read())
                {
                    into.Add(Malformed(Decode(LenientUtf8, bytes), "The frame is empty."));
                    return;
                }

                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    ScanObject(ref reader, out string? firstKey, out string? typeValue, out bool hasErr);
                    if (reader.Read())
                    {
                        into.Add(Malformed(Decode(LenientUtf8, bytes), "The frame has text after its JSON value."));
                        return;
                    }
                    AddObject(bytes, typeValue, firstKey, hasErr, into, secrets);
                    return;
                }

                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    using JsonDocument doc = JsonDocument.Parse(bytes, PSJson.DocumentOptions);
                    int before = into.Count;
                    foreach (JsonElement item in doc.RootElement.EnumerateArray())
                    {
                        if (item.ValueKind != JsonValueKind.Object)
                        {
                            into.RemoveRange(before, into.Count - before);
                            into.Add(Malformed(Decode(LenientUtf8, bytes), "The frame is an array whose items are not all JSON objects."));
                            return;
                        }
                        into.Add(FromElement(item, null, item.GetRawText(), secrets));
                    }
                    if (into.Count == before)
                        into.Add(Malformed(Decode(LenientUtf8, bytes), "The frame is an empty array."));
                    return;
                }

                into.Add(Malformed(Decode(LenientUtf8, bytes), "The frame is JSON but not an object."));
            }
            catch (JsonException e)
            {
                into.Add(Malformed(Decode(LenientUtf8, bytes), "The frame is not valid JSON: " + e.Message));
            }
            catch (ArgumentException e)
            {
                into.Add(Malformed(Decode(LenientUtf8, bytes), "The frame is not valid JSON: " + e.Message));
            }
            catch (Exception e) when (!(e is OutOfMemoryException))
            {
                // Whatever a frame holds, reading it must not end the session: it becomes an error record.
                into.Add(Malformed(Decode(LenientUtf8, bytes), "The frame could not be read: " + e.Message));
            }
        }

        /// <summary>A frame that is one valid JSON object, from its top-level facts: an error frame is parsed whole for its envelope.</summary>
        private static void AddObject(byte[] bytes, string? typeValue, string? firstKey, bool hasErr, List<FrameContent> into, SessionSecrets? secrets)
        {
            if (hasErr || ErrorEnvelope.IsFlatErrorType(typeValue))
            {
                using JsonDocument doc = JsonDocument.Parse(bytes, PSJson.DocumentOptions);
                into.Add(FromElement(doc.RootElement, bytes, null, secrets));
                return;
            }
            into.Add(new FrameContent(typeValue ?? firstKey ?? "empty", bytes, null, null, null));
        }

        private static bool IsValidUtf8(ReadOnlySpan<byte> utf8)
        {
            try
            {
                GetCharCount(StrictUtf8, utf8);
                return true;
            }
            catch (DecoderFallbackException)
            {
                return false;
            }
        }

        private static unsafe int GetCharCount(Encoding encoding, ReadOnlySpan<byte> bytes)
        {
            if (bytes.IsEmpty) return 0;
            fixed (byte* p = bytes) return encoding.GetCharCount(p, bytes.Length);
        }

        internal static FrameContent ReadBinary(ReadOnlySpan<byte> bytes) =>
            Malformed(Decode(LenientUtf8, bytes.Length > MaxTargetChars ? bytes.Slice(0, MaxTargetChars) : bytes),
                $"The frame is binary ({bytes.Length} bytes); the exchange sends JSON text frames.");

        internal static FrameContent TooLarge(int maxFrameBytes) =>
            new FrameContent(MalformedType, string.Empty, null,
                $"A frame larger than the session's maximum of {maxFrameBytes} bytes was received and discarded.",
                MalformedKind.TooLarge);

        /// <summary>
        /// Reads one complete JSON object's top level: its "type" string, whether "err" is there, and its
        /// first key, which is decoded only when there is no "type" (it names answers like order_response).
        /// </summary>
        private static void ScanObject(ref Utf8JsonReader reader, out string? firstKey, out string? typeValue, out bool hasErr)
        {
            firstKey = null;
            typeValue = null;
            hasErr = false;
            bool first = true;
            Utf8JsonReader firstKeyAt = default;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isType = IsTypeKey(ref reader);
                bool isErr = !isType && reader.ValueTextEquals(ErrKey);
                if (first)
                {
                    firstKeyAt = reader;   // a struct copy: the name is decoded later only if needed
                    first = false;
                }
                reader.Read();
                if (isType) typeValue = reader.TokenType == JsonTokenType.String ? TypeName(ref reader) : null;
                if (isErr) hasErr = true;
                if (reader.TokenType == JsonTokenType.StartObject || reader.TokenType == JsonTokenType.StartArray)
                    reader.Skip();
            }
            if (typeValue == null && !first) firstKey = Text(ref firstKeyAt);
        }

        /// <summary>
        /// A key "type" in any case: Data holds keys that differ only in case as one property, the last one
        /// winning, so the frame's Type is read the same way and the two always agree.
        /// </summary>
        private static bool IsTypeKey(ref Utf8JsonReader reader)
        {
            if (reader.ValueIsEscaped || reader.HasValueSequence) return string.Equals(Text(ref reader), "type", StringComparison.OrdinalIgnoreCase);
            return PlainFrameScan.IsTypeKey(reader.ValueSpan);
        }
        private static ReadOnlySpan<byte> ErrKey => "err"u8;

        /// <summary>
        /// Type names seen lately, as UTF-8 and as the string handed out: a stream repeats a handful of
        /// types, so each frame's type is matched here instead of decoded into a new string. Direct-mapped
        /// (a name has one slot, a newcomer replaces what was there), so it stays small whatever a server
        /// sends, never fills up for good, and readers never lock: a slot is swapped whole.
        /// </summary>
        private static readonly TypeNameEntry?[] s_typeNames = new TypeNameEntry?[64];
        private const int MaxTypeNameBytes = 64;

        private sealed class TypeNameEntry
        {
            internal TypeNameEntry(byte[] utf8, string text)
            {
                Utf8 = utf8;
                Text = text;
            }

            internal byte[] Utf8 { get; }
            internal string Text { get; }
        }

        private static string TypeName(ref Utf8JsonReader reader) =>
            reader.ValueIsEscaped || reader.HasValueSequence ? Text(ref reader) : TypeName(reader.ValueSpan);

        /// <summary>A type name as written, without escapes, in valid UTF-8 (decoding it is what GetString does).</summary>
        private static string TypeName(ReadOnlySpan<byte> name)
        {
            if (name.Length > MaxTypeNameBytes) return Decode(LenientUtf8, name);
            int slot = name.IsEmpty ? 0 : (name.Length * 31 + name[0] * 7 + name[name.Length / 2] * 13 + name[name.Length - 1]) & (s_typeNames.Length - 1);
            TypeNameEntry? entry = Volatile.Read(ref s_typeNames[slot]);
            if (entry != null && name.SequenceEqual(entry.Utf8)) return entry.Text;

            string text = Decode(LenientUtf8, name);
            Volatile.Write(ref s_typeNames[slot], new TypeNameEntry(name.ToArray(), text));
            return text;
        }

        /// <summary>The token's text; a lone surrogate escape (valid JSON, not valid Unicode) is kept as written.</summary>
        private static string Text(ref Utf8JsonReader reader)
        {
            try
            {
                return reader.GetString()!;
            }
            catch (InvalidOperationException)
            {
                return Decode(LenientUtf8, reader.ValueSpan);
            }
        }

        /// <summary>A frame from one parsed object; its text is <paramref name="utf8"/> or <paramref name="text"/>.</summary>
        private static FrameContent FromElement(JsonElement element, byte[]? utf8, string? text, SessionSecrets? secrets)
        {
            if (ErrorEnvelope.IsErrorShape(element))
            {
                ErrorEnvelope? envelope = ErrorEnvelope.TryRead(element, out string? reason, secrets);
                return envelope != null
                    ? new FrameContent(ErrorType, utf8, text, envelope, null)
                    : Malformed(text ?? Decode(LenientUtf8, utf8), reason!);
            }

            string? type = TypeOf(element);
            if (type == null)
                foreach (JsonProperty property in element.EnumerateObject())
                {
                    type = TryName(property);
                    break;
                }
            return new FrameContent(type ?? "empty", utf8, text, null, null);
        }

        /// <summary>The last "type" key in any case with a string value (as Data holds it), else null.</summary>
        private static string? TypeOf(JsonElement element)
        {
            string? type = null;
            foreach (JsonProperty property in element.EnumerateObject())
                if (string.Equals(TryName(property), "type", StringComparison.OrdinalIgnoreCase))
                    type = property.Value.ValueKind == JsonValueKind.String ? PSJson.StringValue(property.Value) : null;
            return type;
        }

        private static string TryName(JsonProperty property)
        {
            try
            {
                return property.Name;
            }
            catch (InvalidOperationException)
            {
                return "unreadable";
            }
        }

        private static FrameContent Malformed(string raw, string reason) => new FrameContent(MalformedType, raw, null, reason);

        private static string Decode(Encoding encoding, byte[]? bytes) => bytes == null ? string.Empty : encoding.GetString(bytes);

        private static unsafe string Decode(Encoding encoding, ReadOnlySpan<byte> bytes)
        {
            if (bytes.IsEmpty) return string.Empty;
            fixed (byte* p = bytes) return encoding.GetString(p, bytes.Length);
        }
    }
}
