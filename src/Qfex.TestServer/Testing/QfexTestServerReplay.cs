using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using Qfex.Protocol;

namespace Qfex
{
    /// <summary>
    /// A session transcript (written by <c>Connect-Qfex -RecordPath</c>) as the fake exchange serves it
    /// (<c>Start-QfexTestServer -Replay</c>, <see cref="QfexTestServer.Replay"/>). Each request is answered with the
    /// frames that answered the matching recorded request; what the exchange pushed comes after the request it
    /// followed, in recorded order, at the recorded pace unless <see cref="Paced"/> is false; a recorded drop
    /// drops the connection at that point. A request the transcript does not hold gets a <c>ReplayUnmatched</c>
    /// error frame naming it and is listed in <see cref="Unmatched"/>.
    /// <para>
    /// Matching: the request type and its identifying params (client_order_id, order_id, stop_order_id, symbol,
    /// symbols, channels) pick the recorded request, in recorded order. A request that changes orders, positions
    /// or funds (and any type Qfex does not know) must also agree in every other param: a different order is a
    /// different order. Each recorded request answers once; a read-only or subscription request asked more often
    /// than recorded gets the last recorded answer again, an order request never does. A client_order_id Qfex
    /// generated (an order sent without one) stands for the recorded generated id it is first matched with,
    /// and the replayed frames carry the new id.
    /// </para>
    /// </summary>
    public sealed class QfexTestServerReplay
    {
        internal static readonly string[] IdentifyingParams = { "client_order_id", "order_id", "stop_order_id", "symbol", "symbols", "channels" };

        private readonly object _gate = new object();
        private readonly List<QfexReplayMismatch> _unmatched = new List<QfexReplayMismatch>();
        // client_order_ids Qfex generated (an add_order sent without one): recorded id <-> this run's id.
        private readonly Dictionary<string, string> _sentFor = new Dictionary<string, string>(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _recordedFor = new Dictionary<string, string>(StringComparer.Ordinal);
        private int _nextConnection;

        private QfexTestServerReplay(string path, bool paced, TranscriptDocument document)
        {
            Path = path;
            Paced = paced;
            Endpoint = document.Header.Endpoint;
            var warnings = new List<string>();
            if (!document.HasEnd)
                warnings.Add($"{path} has no end line: the recording stopped without closing its session (the process may have been stopped). It is served up to its last line.");
            foreach (int line in document.Gaps)
                warnings.Add($"{path} line {line}: the recorder fell behind and left frames out there; the replay lacks them.");
            Warnings = warnings.ToArray();
            Build(document);
        }

        /// <summary>The transcript's full path.</summary>
        public string Path { get; }

        /// <summary>True: recorded frames come at the recorded pace after the request they followed. False: at once.</summary>
        public bool Paced { get; }

        /// <summary>The endpoint the transcript recorded (Trade: clients connect to Uri; MarketData: to MarketDataUri).</summary>
        public QfexEndpoint Endpoint { get; }

        /// <summary>How many requests the transcript holds (the module's own and the script's, not the auth or probes).</summary>
        public int RecordedRequests => Requests.Count;

        /// <summary>What loading the transcript noticed: no end line (a stopped recording), gaps the recorder left.</summary>
        public string[] Warnings { get; }

        /// <summary>The requests the transcript did not hold (each got a ReplayUnmatched error frame), in arrival order.</summary>
        public QfexReplayMismatch[] Unmatched
        {
            get
            {
                lock (_gate)
                    return _unmatched.ToArray();
            }
        }

        /// <summary>Recorded requests nobody has asked for (yet), as "line N: type params".</summary>
        public string[] Unused
        {
            get
            {
                lock (_gate)
                    return Requests.Where(r => !r.Used).Select(r => r.Describe()).ToArray();
            }
        }

        /// <summary>
        /// Reads a transcript. Throws <see cref="InvalidDataException"/> naming the file and line when it is not a
        /// transcript that can be served (not JSON Lines, cut off, a newer format version, what looks like an
        /// unredacted secret), and the usual I/O exceptions when it cannot be read.
        /// </summary>
        public static QfexTestServerReplay Load(string path, bool paced = true)
        {
            if (path == null)
                throw new ArgumentNullException(nameof(path));
            string full = System.IO.Path.GetFullPath(path);
            string content = File.ReadAllText(full, new UTF8Encoding(false, throwOnInvalidBytes: false));
            try
            {
                return new QfexTestServerReplay(full, paced, Transcript.Read(content, full));
            }
            catch (TranscriptException e)
            {
                throw new InvalidDataException(e.Message, e);
            }
        }

        public override string ToString() =>
            string.Format(CultureInfo.InvariantCulture, "Replay of {0} ({1} requests, {2})", Path, RecordedRequests, Paced ? "recorded pace" : "at once");

        // ---------------------------------------------------------------- the script

        internal sealed class Step
        {
            internal Step(double delayMs, string? text, bool drop, bool answer)
            {
                DelayMs = delayMs;
                Text = text;
                Drop = drop;
                Answer = answer;
            }

            /// <summary>After the anchor (the request or connection it follows), in recorded milliseconds.</summary>
            internal double DelayMs { get; }
            internal string? Text { get; }
            internal bool Drop { get; }
            /// <summary>Tied to the request by what it answers (not merely by following it).</summary>
            internal bool Answer { get; }
        }

        /// <summary>A point frames are sent after: a recorded request, or the start of a recorded connection.</summary>
        internal class Anchor
        {
            internal Anchor(double offsetMs) => OffsetMs = offsetMs;

            internal double OffsetMs { get; }
            internal List<Step> Steps { get; } = new List<Step>();
        }

        internal sealed class RecordedRequest : Anchor
        {
            internal RecordedRequest(int line, double offsetMs, string type, SortedDictionary<string, string> parameters, AnswerMatcher matcher)
                : base(offsetMs)
            {
                Line = line;
                Type = type;
                Params = parameters;
                Matcher = matcher;
            }

            internal int Line { get; }
            internal string Type { get; }
            /// <summary>Every param (top-level key of params, and of the request for market data) as canonical JSON.</summary>
            internal SortedDictionary<string, string> Params { get; }
            internal AnswerMatcher Matcher { get; }
            internal bool HasAnswer { get; set; }
            internal bool Used { get; set; }

            internal string Describe() => $"line {Line}: {Type} {DescribeIdentity(Params)}";
        }

        internal List<RecordedRequest> Requests { get; } = new List<RecordedRequest>();

        /// <summary>One per recorded connection that opened, in order: the k-th client connection replays the k-th.</summary>
        internal List<Anchor> Connections { get; } = new List<Anchor>();

        private void Build(TranscriptDocument document)
        {
            // Wire order: a frame that arrived in a burst may be written after a later line (the offsets are exact).
            List<TranscriptEntry> entries = document.Entries
                .Select((e, i) => (Entry: e, Index: i))
                .OrderBy(x => x.Entry.OffsetMs).ThenBy(x => x.Index)
                .Select(x => x.Entry).ToList();
            var opened = new HashSet<long>(entries.Where(e => e.Kind == Transcript.KindOpen && e.Conn.HasValue).Select(e => e.Conn!.Value));
            double lastOpen = entries.Where(e => e.Kind == Transcript.KindOpen).Select(e => e.OffsetMs).DefaultIfEmpty(-1).Max();

            Anchor? current = null;
            var open = new List<RecordedRequest>();
            foreach (TranscriptEntry entry in entries)
            {
                switch (entry.Kind)
                {
                    case Transcript.KindConnect:
                        if (!opened.Contains(entry.Conn!.Value)) break;   // a reconnect attempt that failed
                        current = new Anchor(entry.OffsetMs);
                        Connections.Add(current);
                        open.Clear();
                        break;
                    case Transcript.KindLost:
                        // A drop the session recovered from is replayed as a drop; the last one is the session's end.
                        if (current != null && entry.OffsetMs < lastOpen)
                            current.Steps.Add(new Step(entry.OffsetMs - current.OffsetMs, null, drop: true, answer: false));
                        break;
                    case Transcript.KindFrame when entry.Dir == Transcript.DirSent:
                        if (entry.Role == Transcript.RoleProbe || entry.Type == "auth") break;
                        RecordedRequest? request = Parse(entry);
                        if (request == null) break;
                        Requests.Add(request);
                        open.RemoveAll(r => r.HasAnswer);
                        open.Add(request);
                        current = request;
                        break;
                    case Transcript.KindFrame:
                        if (entry.Claimed != null || entry.Origin != null || (entry.Type?.StartsWith("qfex.", StringComparison.Ordinal) ?? false)
                            || string.IsNullOrEmpty(entry.Text))
                            break;
                        QfexFrame? frame = ToFrame(entry.Text!);
                        RecordedRequest? owner = null;
                        if (frame != null)
                        {
                            List<RecordedRequest> matching = open.Where(r => r.Matcher.Matches(frame)).ToList();
                            owner = matching.FirstOrDefault(r => !r.HasAnswer) ?? matching.LastOrDefault();
                        }
                        if (owner != null)
                        {
                            owner.Steps.Add(new Step(entry.OffsetMs - owner.OffsetMs, entry.Text, drop: false, answer: true));
                            owner.HasAnswer = true;
                        }
                        else if (current != null)
                        {
                            current.Steps.Add(new Step(entry.OffsetMs - current.OffsetMs, entry.Text, drop: false, answer: false));
                        }
                        break;
                }
            }
        }

        private static RecordedRequest? Parse(TranscriptEntry entry)
        {
            try
            {
                using JsonDocument doc = JsonDocument.Parse(entry.Text!, PSJson.DocumentOptions);
                JsonElement root = doc.RootElement;
                string? type = PSJson.GetString(root, "type");
                if (type == null) return null;
                return new RecordedRequest(entry.Line, entry.OffsetMs, type, CanonicalParams(root), new AnswerMatcher(type, MatcherParams(root)));
            }
            catch (JsonException)
            {
                return null;
            }
        }

        private static QfexFrame? ToFrame(string text)
        {
            var contents = new List<FrameContent>(1);
            FrameReader.ReadText(Encoding.UTF8.GetBytes(text), contents);
            return contents.Count == 1 ? contents[0].ToFrame(0, DateTime.UtcNow, 0) : null;
        }

        /// <summary>What the answer matcher reads: params (trade), or the request itself (market data: top-level channels).</summary>
        internal static JsonElement MatcherParams(JsonElement root) =>
            root.TryGetProperty("params", out JsonElement p) && p.ValueKind == JsonValueKind.Object ? p : root;

        /// <summary>Every param of a request as canonical JSON (numbers by value, channel and symbol lists as sets); null values are absent.</summary>
        internal static SortedDictionary<string, string> CanonicalParams(JsonElement root)
        {
            var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
            if (root.ValueKind != JsonValueKind.Object) return result;
            if (root.TryGetProperty("params", out JsonElement p) && p.ValueKind == JsonValueKind.Object)
                foreach (JsonProperty property in p.EnumerateObject())
                    Add(result, property);
            foreach (JsonProperty property in root.EnumerateObject())
                if (property.Name != "type" && property.Name != "params")
                    Add(result, property);
            return result;

            static void Add(SortedDictionary<string, string> into, JsonProperty property)
            {
                if (property.Value.ValueKind == JsonValueKind.Null) return;
                bool asSet = property.Name == "channels" || property.Name == "symbols";
                into[property.Name] = Canonical(property.Value, asSet);
            }
        }

        private static string Canonical(JsonElement value, bool asSet)
        {
            switch (value.ValueKind)
            {
                case JsonValueKind.Number:
                    return value.TryGetDecimal(out decimal d)
                        ? (d / 1.000000000000000000000000000000000m).ToString(CultureInfo.InvariantCulture)
                        : value.GetRawText();
                case JsonValueKind.Array:
                    IEnumerable<string> items = value.EnumerateArray().Select(v => Canonical(v, false));
                    if (asSet) items = items.Distinct(StringComparer.Ordinal).OrderBy(s => s, StringComparer.Ordinal);
                    return "[" + string.Join(",", items) + "]";
                case JsonValueKind.Object:
                    return "{" + string.Join(",", value.EnumerateObject().OrderBy(o => o.Name, StringComparer.Ordinal)
                        .Select(o => JsonSerializer.Serialize(o.Name) + ":" + Canonical(o.Value, false))) + "}";
                case JsonValueKind.String:
                    return JsonSerializer.Serialize(PSJson.StringValue(value));
                default:
                    return value.GetRawText();
            }
        }

        internal static string DescribeIdentity(SortedDictionary<string, string> parameters)
        {
            string[] parts = IdentifyingParams.Where(parameters.ContainsKey).Select(k => k + " " + Quote(parameters[k])).ToArray();
            return parts.Length == 0 ? "(no identifying params)" : string.Join(", ", parts);
        }

        private static string Quote(string canonical) =>
            canonical.Length >= 2 && canonical[0] == '"' ? "'" + canonical.Substring(1, canonical.Length - 2) + "'" : canonical;

        private bool SameIdentity(SortedDictionary<string, string> sent, SortedDictionary<string, string> recorded)
        {
            foreach (string key in IdentifyingParams)
            {
                bool inSent = sent.TryGetValue(key, out string? s);
                bool inRecorded = recorded.TryGetValue(key, out string? r);
                if (inSent != inRecorded || (inSent && !Same(s!, r!))) return false;
            }
            return true;
        }

        /// <summary>How the params differ ("quantity 2 (recorded 1)"), or null when they are the same.</summary>
        private string? Differences(SortedDictionary<string, string> sent, SortedDictionary<string, string> recorded)
        {
            var parts = new List<string>();
            foreach (string key in sent.Keys.Union(recorded.Keys).OrderBy(k => k, StringComparer.Ordinal))
            {
                bool inSent = sent.TryGetValue(key, out string? s);
                bool inRecorded = recorded.TryGetValue(key, out string? r);
                if (inSent && inRecorded && Same(s!, r!)) continue;
                parts.Add(!inRecorded ? $"{key} {Quote(s!)} (not in the recording)"
                    : !inSent ? $"no {key} (recorded {Quote(r!)})"
                    : $"{key} {Quote(s!)} (recorded {Quote(r!)})");
            }
            return parts.Count == 0 ? null : string.Join(", ", parts);
        }

        /// <summary>
        /// Equal canonical values; or two client_order_ids Qfex generated (qfex- and 32 hex digits) that are
        /// bound to each other, or both still unbound: a runbook that sent an order without an id cannot send
        /// the recorded one again, so a generated id stands for the recorded generated id it is first matched to.
        /// </summary>
        private bool Same(string sent, string recorded)
        {
            if (string.Equals(sent, recorded, StringComparison.Ordinal)) return true;
            if (!IsGeneratedId(sent) || !IsGeneratedId(recorded)) return false;
            if (_recordedFor.TryGetValue(sent, out string? bound)) return string.Equals(bound, recorded, StringComparison.Ordinal);
            return !_sentFor.ContainsKey(recorded);
        }

        /// <summary>A client_order_id as Qfex generates it, in canonical form: "qfex-" and 32 lower-case hex digits, quoted.</summary>
        internal static bool IsGeneratedId(string canonical)
        {
            if (canonical.Length != 39 || !canonical.StartsWith("\"qfex-", StringComparison.Ordinal) || canonical[38] != '"') return false;
            for (int i = 6; i < 38; i++)
            {
                char c = canonical[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
            }
            return true;
        }

        /// <summary>Binds the generated ids of a matched request to the recorded ones (under the lock).</summary>
        private void Bind(SortedDictionary<string, string> sent, SortedDictionary<string, string> recorded)
        {
            foreach (KeyValuePair<string, string> pair in sent)
            {
                if (!recorded.TryGetValue(pair.Key, out string? r) || string.Equals(pair.Value, r, StringComparison.Ordinal)) continue;
                if (IsGeneratedId(pair.Value) && IsGeneratedId(r) && !_recordedFor.ContainsKey(pair.Value) && !_sentFor.ContainsKey(r))
                {
                    _recordedFor[pair.Value] = r;
                    _sentFor[r] = pair.Value;
                }
            }
        }

        /// <summary>A recorded frame's text with each recorded generated client_order_id replaced by the one this run sent.</summary>
        internal string Rewrite(string text)
        {
            lock (_gate)
            {
                foreach (KeyValuePair<string, string> pair in _sentFor)
                    text = text.Replace(pair.Key.Substring(1, pair.Key.Length - 2), pair.Value.Substring(1, pair.Value.Length - 2));
            }
            return text;
        }

        /// <summary>Whether a request type must agree in every param: it changes orders, positions or funds, or Qfex does not know it.</summary>
        internal static bool IsStrict(string type)
        {
            MessageSpec? spec = MessageCatalog.Find(type);
            return spec == null || spec.Effect == RequestEffect.Trading || spec.Effect == RequestEffect.Funds;
        }

        // ---------------------------------------------------------------- serving (under the lock)

        internal enum Outcome
        {
            Matched,
            Repeated,
            Probe,
            Unmatched,
        }

        /// <summary>The recorded request that answers this one, or why there is none.</summary>
        internal Outcome Match(string type, SortedDictionary<string, string> parameters, out RecordedRequest? recorded, out string? reason)
        {
            recorded = null;
            reason = null;
            lock (_gate)
            {
                List<RecordedRequest> sameType = Requests.Where(r => r.Type == type).ToList();
                List<RecordedRequest> sameIdentity = sameType.Where(r => SameIdentity(parameters, r.Params)).ToList();
                bool strict = IsStrict(type);
                RecordedRequest? next = sameIdentity.FirstOrDefault(r => !r.Used && (!strict || Differences(parameters, r.Params) == null));
                if (next != null)
                {
                    next.Used = true;
                    Bind(parameters, next.Params);
                    recorded = next;
                    return Outcome.Matched;
                }
                if (!strict && sameIdentity.LastOrDefault(r => r.Used) is RecordedRequest last)
                {
                    recorded = last;
                    return Outcome.Repeated;
                }
                if (IsProbe(type, parameters)) return Outcome.Probe;

                string identity = DescribeIdentity(parameters);
                if (sameType.Count == 0)
                {
                    string[] types = Requests.Select(r => r.Type).Distinct(StringComparer.Ordinal).ToArray();
                    reason = $"The transcript holds no {type} request (it has {(types.Length == 0 ? "no requests" : string.Join(", ", types))}).";
                }
                else if (sameIdentity.Count == 0)
                {
                    reason = $"The transcript holds no {type} with {identity}; it has {string.Join("; ", sameType.Take(3).Select(r => DescribeIdentity(r.Params) + $" (line {r.Line})"))}" +
                        (sameType.Count > 3 ? $" and {sameType.Count - 3} more." : ".");
                }
                else
                {
                    // The recorded request it should have been: the next unused one, else the last.
                    RecordedRequest closest = sameIdentity.FirstOrDefault(r => !r.Used) ?? sameIdentity[sameIdentity.Count - 1];
                    string? differences = Differences(parameters, closest.Params);
                    reason = differences != null
                        ? $"This {type} with {identity} differs from the recorded one (line {closest.Line}): {differences}."
                        : $"The transcript's {type} with {identity} was sent {sameIdentity.Count} time(s) in the recording, and each was answered already; " +
                          "this one is extra (requests that change orders, positions or funds are answered once each).";
                }
                return Outcome.Unmatched;
            }
        }

        private static bool IsProbe(string type, SortedDictionary<string, string> parameters) =>
            type == "get_user_leverage" && parameters.Count == 2 && parameters.TryGetValue("limit", out string? limit) && limit == "1"
            && parameters.TryGetValue("offset", out string? offset) && offset == "0";

        internal void AddUnmatched(QfexReplayMismatch mismatch)
        {
            lock (_gate)
                _unmatched.Add(mismatch);
        }

        /// <summary>The recorded connection the next client connection replays (null once all have been).</summary>
        internal Anchor? NextConnection()
        {
            lock (_gate)
                return _nextConnection < Connections.Count ? Connections[_nextConnection++] : null;
        }
    }

    /// <summary>A request a replay could not answer from its transcript (<see cref="QfexTestServerReplay.Unmatched"/>).</summary>
    public sealed class QfexReplayMismatch
    {
        internal QfexReplayMismatch(int connectionId, DateTime receivedAt, string type, object? parameters, string raw, string reason)
        {
            ConnectionId = connectionId;
            ReceivedAt = receivedAt;
            Type = type;
            Params = parameters;
            Raw = raw;
            Reason = reason;
        }

        /// <summary>The server's id of the connection the request came on.</summary>
        public int ConnectionId { get; }

        /// <summary>When it arrived (UTC).</summary>
        public DateTime ReceivedAt { get; }

        /// <summary>The request's type.</summary>
        public string Type { get; }

        /// <summary>Its params as PowerShell objects.</summary>
        public object? Params { get; }

        /// <summary>The request as received.</summary>
        public string Raw { get; }

        /// <summary>Why the transcript does not answer it (also the error frame's message).</summary>
        public string Reason { get; }

        public override string ToString() => Type + ": " + Reason;
    }
}
