using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Qfex.Protocol
{
    /// <summary>
    /// The session transcript: JSON Lines written by <c>Connect-Qfex -RecordPath</c> and served by
    /// <c>Start-QfexTestServer -Replay</c>. One place knows the format: its name and version, the kinds of
    /// line, how secrets are masked before a line is written, and how a transcript is read back (refusing,
    /// with the line number, anything that is not a whole, known, redacted transcript). I/O-free: the
    /// recorder and the replay own the files.
    /// <para>
    /// Version 1. The first line is <c>{"kind":"start","format":"qfex-transcript","version":1,...}</c>; every
    /// other line has <c>kind</c> and <c>offset_ms</c> (milliseconds since the recording started). A reader
    /// reads every version up to its own and refuses a newer one by name; unknown fields are ignored.
    /// </para>
    /// </summary>
    internal static class Transcript
    {
        internal const string FormatName = "qfex-transcript";
        internal const int Version = 1;
        internal const string Mask = "***";

        internal const string KindStart = "start";
        internal const string KindConnect = "connect";
        internal const string KindOpen = "open";
        internal const string KindLost = "lost";
        internal const string KindAttemptFailed = "attempt_failed";
        internal const string KindNote = "note";
        internal const string KindGap = "gap";
        internal const string KindEnd = "end";
        internal const string KindFrame = "frame";

        internal const string DirSent = "sent";
        internal const string DirReceived = "received";

        /// <summary>Sent by the module itself (auth, subscriptions, cancel-on-disconnect), by a script, or the watchdog's probe.</summary>
        internal const string RoleModule = "module";
        internal const string RoleRequest = "request";
        internal const string RoleProbe = "probe";

        /// <summary>Received frames the session took for itself, never numbered: the auth answer, the probe's answers.</summary>
        internal const string ClaimedAuth = "auth";
        internal const string ClaimedProbe = "probe";

        private static readonly HashSet<string> Kinds = new HashSet<string>(StringComparer.Ordinal)
        {
            KindStart, KindConnect, KindOpen, KindLost, KindAttemptFailed, KindNote, KindGap, KindEnd, KindFrame,
        };

        // ------------------------------------------------------------------ masking

        // Lines are masked by the module's one redaction pass in its transcript shape (Redaction.Clean with
        // TextShape.Transcript, called by the recorder): the session's own secret, JWT, last nonce and signature and
        // public key wherever they appear, secret-named JSON values whatever their type and escape level, anything
        // shaped like a JWT, the api_key query value, and hex runs shaped like an HMAC signature (64 or more) or a
        // nonce (exactly 32, standing alone) that hold a letter or touch a quote. Characters are kept: the line
        // writer escapes them.

        /// <summary>What looks like an unredacted secret in the text (a description), or null: the check a transcript must pass to be served.</summary>
        internal static string? FindSecret(string text)
        {
            if (string.IsNullOrEmpty(text)) return null;
            if (!string.Equals(Redaction.MaskSecretNamedValues(text), text, StringComparison.Ordinal))
                return "a secret-named value (signature, nonce, jwt, secret, token, password, ...) that is not \"***\"";
            if (Redaction.HasJwtShape(text))
                return "a JWT (eyJ....eyJ....)";
            try
            {
                if (Redaction.HasApiKeyQuery(text))
                    return "an api_key query value";
            }
            catch (RegexMatchTimeoutException)
            {
                return "text too tangled to check for secrets";
            }
            foreach ((int start, int length) in Redaction.SecretHexRuns(text, nonces: true))
                return length >= 64 ? $"a run of {length} hex digits (an HMAC signature?) at column {start + 1}" : $"32 hex digits standing alone (a nonce?) at column {start + 1}";
            return null;
        }

        // ------------------------------------------------------------------ writing

        /// <summary>One line (no newline) from the writer's properties, with the kind and offset first.</summary>
        internal static string Line(string kind, double offsetMs, Action<Utf8JsonWriter>? body)
        {
            using var stream = new MemoryStream(256);
            using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                writer.WriteStartObject();
                writer.WriteString("kind", kind);
                if (kind != KindStart) writer.WriteNumber("offset_ms", Math.Round(offsetMs, 3));
                body?.Invoke(writer);
                writer.WriteEndObject();
            }
            return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
        }

        /// <summary>The "type" of a request's JSON text (or null): the sent lines name what was sent.</summary>
        internal static string? RequestType(string json)
        {
            try
            {
                var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json), new JsonReaderOptions { MaxDepth = 64 });
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    bool isType = reader.ValueTextEquals("type");
                    reader.Read();
                    if (isType && reader.TokenType == JsonTokenType.String) return reader.GetString();
                    if (reader.TokenType == JsonTokenType.StartObject || reader.TokenType == JsonTokenType.StartArray) reader.Skip();
                }
            }
            catch (JsonException)
            {
            }
            catch (InvalidOperationException)
            {
            }
            return null;
        }

        // ------------------------------------------------------------------ reading

        /// <summary>
        /// Reads a whole transcript. Throws <see cref="TranscriptException"/> naming the line for anything that
        /// is not a transcript this module can serve: not JSON Lines, cut off inside a line, a newer format
        /// version, an unknown kind of line, a missing field, or what looks like an unredacted secret.
        /// </summary>
        internal static TranscriptDocument Read(string content, string name)
        {
            var entries = new List<TranscriptEntry>();
            TranscriptHeader? header = null;
            bool hasEnd = false;
            var gaps = new List<int>();
            int lineNumber = 0;
            int position = 0;
            while (position < content.Length)
            {
                int newline = content.IndexOf('\n', position);
                bool terminated = newline >= 0;
                string line = content.Substring(position, (terminated ? newline : content.Length) - position).TrimEnd('\r');
                position = terminated ? newline + 1 : content.Length;
                lineNumber++;
                if (lineNumber == 1 && line.Length > 0 && line[0] == '\uFEFF') line = line.Substring(1);
                if (line.Trim().Length == 0)
                {
                    if (lineNumber == 1) throw new TranscriptException(name, lineNumber, "the first line is empty; a transcript starts with its {\"kind\":\"start\",\"format\":\"qfex-transcript\",...} line.");
                    continue;
                }

                JsonDocument doc;
                try
                {
                    doc = JsonDocument.Parse(line, PSJson.DocumentOptions);
                }
                catch (JsonException e)
                {
                    if (!terminated)
                        throw new TranscriptException(name, lineNumber,
                            "the line is incomplete: the transcript was cut off there (the recording process may have been stopped while writing). " +
                            "Every line before it is whole: remove this last line to replay the rest.");
                    throw new TranscriptException(name, lineNumber, "the line is not JSON, so this is not a JSON Lines transcript (" + e.Message + ").");
                }

                using (doc)
                {
                    JsonElement root = doc.RootElement;
                    if (root.ValueKind != JsonValueKind.Object)
                        throw new TranscriptException(name, lineNumber, "the line is JSON but not an object; every transcript line is one JSON object.");

                    string? kind = PSJson.GetString(root, "kind");
                    if (lineNumber == 1)
                    {
                        header = ReadHeader(root, kind, name);
                        CheckSecrets(root, line, name, lineNumber);
                        continue;
                    }
                    if (kind == null)
                        throw new TranscriptException(name, lineNumber, "the line has no \"kind\".");
                    if (!Kinds.Contains(kind) || kind == KindStart)
                        throw new TranscriptException(name, lineNumber, $"\"kind\":\"{kind}\" is not a kind of line transcript format {header!.Version} has.");
                    CheckSecrets(root, line, name, lineNumber);

                    var entry = new TranscriptEntry(lineNumber, kind, RequiredNumber(root, "offset_ms", name, lineNumber));
                    switch (kind)
                    {
                        case KindFrame:
                            entry.Dir = PSJson.GetString(root, "dir");
                            if (entry.Dir != DirSent && entry.Dir != DirReceived)
                                throw new TranscriptException(name, lineNumber, "a frame line needs \"dir\": \"sent\" or \"received\".");
                            entry.Text = PSJson.GetString(root, "text")
                                ?? throw new TranscriptException(name, lineNumber, "a frame line needs its \"text\" (a string).");
                            entry.Type = PSJson.GetString(root, "type");
                            entry.Role = PSJson.GetString(root, "role");
                            entry.Claimed = PSJson.GetString(root, "claimed");
                            entry.Origin = PSJson.GetString(root, "origin");
                            entry.Malformed = PSJson.GetString(root, "malformed");
                            entry.Seq = OptionalLong(root, "seq");
                            break;
                        case KindConnect:
                        case KindOpen:
                        case KindLost:
                            entry.Conn = OptionalLong(root, "conn")
                                ?? throw new TranscriptException(name, lineNumber, $"a {kind} line needs \"conn\" (the connection's number).");
                            entry.Reason = PSJson.GetString(root, "reason");
                            entry.Reconnect = root.TryGetProperty("reconnect", out JsonElement r) && r.ValueKind == JsonValueKind.True;
                            break;
                        case KindGap:
                            entry.Dropped = OptionalLong(root, "dropped") ?? 0;
                            gaps.Add(lineNumber);
                            break;
                        case KindEnd:
                            hasEnd = true;
                            entry.Reason = PSJson.GetString(root, "reason");
                            break;
                        default:
                            entry.Reason = PSJson.GetString(root, "reason") ?? PSJson.GetString(root, "text");
                            break;
                    }
                    entries.Add(entry);
                }
            }
            if (header == null)
                throw new TranscriptException(name, 1, "the file is empty; a transcript starts with its {\"kind\":\"start\",\"format\":\"qfex-transcript\",...} line.");
            return new TranscriptDocument(name, header, entries, hasEnd, gaps);
        }

        private static TranscriptHeader ReadHeader(JsonElement root, string? kind, string name)
        {
            if (kind != KindStart || PSJson.GetString(root, "format") != FormatName)
                throw new TranscriptException(name, 1,
                    "this is not a Qfex transcript: its first line must be {\"kind\":\"start\",\"format\":\"qfex-transcript\",\"version\":N,...} (written by Connect-Qfex -RecordPath).");
            if (!root.TryGetProperty("version", out JsonElement v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int version) || version < 1)
                throw new TranscriptException(name, 1, "the start line has no valid \"version\" (a whole number from 1).");
            if (version > Version)
                throw new TranscriptException(name, 1,
                    $"the transcript is format version {version}, newer than this version of Qfex reads (up to {Version}). Replay it with the Qfex version that recorded it, or a later one.");
            string? endpoint = PSJson.GetString(root, "endpoint");
            return new TranscriptHeader(version, endpoint == "MarketData" ? QfexEndpoint.MarketData : QfexEndpoint.Trade, PSJson.GetString(root, "uri"));
        }

        private static void CheckSecrets(JsonElement root, string line, string name, int lineNumber)
        {
            string? found = FindSecret(line);
            if (found == null)
                foreach (JsonProperty property in root.EnumerateObject())
                    if (property.Value.ValueKind == JsonValueKind.String && (found = FindSecret(PSJson.StringValue(property.Value))) != null)
                        break;
            if (found != null)
                throw new TranscriptException(name, lineNumber,
                    $"the line holds what looks like an unredacted secret: {found}. Connect-Qfex -RecordPath never writes one, so the transcript was edited " +
                    "or not written by Qfex. Mask the value as \"***\" (and check where else it went).");
        }

        private static double RequiredNumber(JsonElement root, string property, string name, int lineNumber)
        {
            if (root.TryGetProperty(property, out JsonElement e) && e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double value) && value >= 0)
                return value;
            throw new TranscriptException(name, lineNumber, $"the line needs \"{property}\" (a number from 0).");
        }

        private static long? OptionalLong(JsonElement root, string property) =>
            root.TryGetProperty(property, out JsonElement e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long value) ? value : (long?)null;

        internal static string Describe(double offsetMs) => (offsetMs / 1000).ToString("0.000", CultureInfo.InvariantCulture) + " s";
    }

    /// <summary>A transcript that cannot be served: which file, which line, and why.</summary>
    internal sealed class TranscriptException : Exception
    {
        internal TranscriptException(string name, int line, string reason)
            : base($"{name} line {line}: {reason}")
        {
            Line = line;
        }

        internal int Line { get; }
    }

    internal sealed class TranscriptHeader
    {
        internal TranscriptHeader(int version, QfexEndpoint endpoint, string? uri)
        {
            Version = version;
            Endpoint = endpoint;
            Uri = uri;
        }

        internal int Version { get; }
        internal QfexEndpoint Endpoint { get; }
        internal string? Uri { get; }
    }

    internal sealed class TranscriptDocument
    {
        internal TranscriptDocument(string name, TranscriptHeader header, List<TranscriptEntry> entries, bool hasEnd, List<int> gaps)
        {
            Name = name;
            Header = header;
            Entries = entries;
            HasEnd = hasEnd;
            Gaps = gaps;
        }

        internal string Name { get; }
        internal TranscriptHeader Header { get; }
        internal IReadOnlyList<TranscriptEntry> Entries { get; }
        /// <summary>False when the recording ended without closing the session (the process was stopped).</summary>
        internal bool HasEnd { get; }
        /// <summary>Lines where the recorder could not keep up and left frames out (it says how many).</summary>
        internal IReadOnlyList<int> Gaps { get; }
    }

    /// <summary>One line of a transcript after the start line.</summary>
    internal sealed class TranscriptEntry
    {
        internal TranscriptEntry(int line, string kind, double offsetMs)
        {
            Line = line;
            Kind = kind;
            OffsetMs = offsetMs;
        }

        internal int Line { get; }
        internal string Kind { get; }
        internal double OffsetMs { get; }
        internal string? Dir { get; set; }
        internal string? Text { get; set; }
        internal string? Type { get; set; }
        internal string? Role { get; set; }
        internal string? Claimed { get; set; }
        internal string? Origin { get; set; }
        internal string? Malformed { get; set; }
        internal long? Seq { get; set; }
        internal long? Conn { get; set; }
        internal string? Reason { get; set; }
        internal bool Reconnect { get; set; }
        internal long Dropped { get; set; }
    }
}
