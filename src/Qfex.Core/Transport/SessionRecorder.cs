using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>
    /// Writes a session's transcript (Connect-Qfex -RecordPath; the format is <see cref="Transcript"/>): every
    /// frame sent and received, connections, drops and reconnects, each with its offset from the start.
    /// <para>
    /// The session's threads only queue what happened (a reference and a timestamp: no formatting, no I/O, no
    /// lock); one background writer masks the secrets, formats the lines and appends them, each batch of whole
    /// lines with one write, so a process stopped at any moment leaves a file that is readable up to its last
    /// whole line. The queue is bounded: when the writer cannot keep up, what does not fit is counted, never
    /// dropped silently: a "gap" line says how many frames are missing, and the session warns once.
    /// </para>
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable",
        Justification = "The writer task owns the file and closes it when the session completes the recording; the signal is a SemaphoreSlim whose wait handle is never created, and a session thread may still signal it after the writer ended.")]
    internal sealed class SessionRecorder
    {
        internal const int DefaultCapacity = 100_000;

        private enum EntryKind
        {
            Sent,
            Received,
            Claimed,
            Event,
        }

        /// <summary>A field of an event line: its strings are masked when the line is written.</summary>
        private readonly struct Field
        {
            private Field(string name, string? text, long? number, bool? flag)
            {
                Name = name;
                Text = text;
                Number = number;
                Flag = flag;
            }

            internal string Name { get; }
            internal string? Text { get; }
            internal long? Number { get; }
            internal bool? Flag { get; }

            internal static Field Of(string name, string? text) => new Field(name, text, null, null);
            internal static Field Of(string name, long number) => new Field(name, null, number, null);
            internal static Field Of(string name, bool flag) => new Field(name, null, null, flag);

            internal void Write(Utf8JsonWriter w, Func<string, string> mask)
            {
                if (Number.HasValue) w.WriteNumber(Name, Number.Value);
                else if (Flag.HasValue) w.WriteBoolean(Name, Flag.Value);
                else if (Text == null) w.WriteNull(Name);
                else w.WriteString(Name, mask(Text));
            }
        }

        private readonly struct Entry
        {
            internal Entry(EntryKind kind, DateTime at, string? text, byte[]? utf8, long seq, string? tag, string? extra, Field[]? fields)
            {
                Kind = kind;
                At = at;
                Text = text;
                Utf8 = utf8;
                Seq = seq;
                Tag = tag;
                Extra = extra;
                Fields = fields;
            }

            internal EntryKind Kind { get; }
            internal DateTime At { get; }
            internal string? Text { get; }
            internal byte[]? Utf8 { get; }
            internal long Seq { get; }
            /// <summary>Sent: the role. Received/claimed: the frame type. Event: the kind of line.</summary>
            internal string? Tag { get; }
            /// <summary>Received: the malformed reason. Claimed: who took it.</summary>
            internal string? Extra { get; }
            /// <summary>Event: its fields.</summary>
            internal Field[]? Fields { get; }

            internal string Raw => Text ?? (Utf8 == null ? string.Empty : Encoding.UTF8.GetString(Utf8));
        }

        private readonly ConcurrentQueue<Entry> _queue = new ConcurrentQueue<Entry>();
        private readonly SemaphoreSlim _signal = new SemaphoreSlim(0, int.MaxValue);
        private readonly FileStream _file;
        private readonly DateTime _startedAt;
        private readonly int _capacity;
        private readonly SessionSecrets _secrets;
        private readonly string? _publicKey;
        private readonly Task _writer;
        private int _count;
        private int _signaled;
        private long _dropped;
        private long _droppedTotal;
        private int _completing;
        private string? _problem;
        private int _problemReported;

        private SessionRecorder(string path, FileStream file, SessionOptions options, int capacity, SessionSecrets? secrets)
        {
            Path = path;
            _file = file;
            _capacity = capacity;
            _startedAt = DateTime.UtcNow;
            _secrets = secrets ?? new SessionSecrets(options.Credentials?.Secret, options.Credentials?.Jwt);
            _publicKey = options.Credentials?.PublicKey;
            _writer = Task.Run(WriteLoopAsync);
        }

        /// <summary>The file the transcript goes to (a full path).</summary>
        internal string Path { get; }

        /// <summary>Completes when the writer has written the last line and closed the file.</summary>
        internal Task Completion => _writer;

        private Task? _heldUntil;

        /// <summary>
        /// For tests: the writer takes no line until this task completes, as behind a disk that stalls, so a test can
        /// show what a recorder that falls behind does without depending on which thread is faster.
        /// </summary>
        internal Task? HeldUntil
        {
            get => Volatile.Read(ref _heldUntil);
            set => Volatile.Write(ref _heldUntil, value);
        }

        /// <summary>Frames left out because the writer could not keep up (each gap is in the transcript too).</summary>
        internal long Dropped => Interlocked.Read(ref _droppedTotal) + Interlocked.Read(ref _dropped);

        /// <summary>
        /// Creates (or replaces) the file and writes the start line. Throws IOException, UnauthorizedAccessException
        /// and the like when the file cannot be written; nothing has connected yet then. <paramref name="secrets"/>: the
        /// session's, which the lines are masked with (its last auth's nonce and signature too); by default the credentials' alone.
        /// </summary>
        internal static SessionRecorder Open(string path, int sessionId, SessionOptions options, int capacity = DefaultCapacity, SessionSecrets? secrets = null)
        {
            var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 1, FileOptions.None);
            var recorder = new SessionRecorder(path, file, options, capacity, secrets);
            string moduleVersion = typeof(SessionRecorder).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
            var fields = new List<Field>
            {
                Field.Of("format", Transcript.FormatName),
                Field.Of("version", Transcript.Version),
                Field.Of("module", "Qfex " + moduleVersion),
                Field.Of("session", sessionId),
                Field.Of("endpoint", options.Endpoint.ToString()),
                Field.Of("uri", options.Uri.ToString()),
            };
            if (options.AccountId.HasValue) fields.Add(Field.Of("account_id", options.AccountId.Value.ToString("D")));
            fields.Add(Field.Of("started_at", recorder._startedAt.ToString("o", System.Globalization.CultureInfo.InvariantCulture)));
            recorder.Enqueue(new Entry(EntryKind.Event, recorder._startedAt, null, null, 0, Transcript.KindStart, null, fields.ToArray()), force: true);
            return recorder;
        }

        // ------------------------------------------------------------------ what the session reports (cheap, any thread)

        /// <summary>A frame the session is about to write: <paramref name="role"/> is module, request or probe.</summary>
        internal void Sent(string role, string json) =>
            Enqueue(new Entry(EntryKind.Sent, DateTime.UtcNow, json, null, 0, role, null, null));

        /// <summary>A received frame that got a sequence number (called in numbering order).</summary>
        internal void Received(in FrameContent content, long sequence, DateTime receivedAt) =>
            Enqueue(new Entry(EntryKind.Received, receivedAt, content.Text, content.Utf8, sequence, content.Type, content.MalformedReason, null));

        /// <summary>A received frame the session took for itself (auth answer, probe answer): never numbered. Returns true.</summary>
        internal bool Claimed(in FrameContent content, DateTime receivedAt, string by)
        {
            Enqueue(new Entry(EntryKind.Claimed, receivedAt, content.Text, content.Utf8, 0, content.Type, by, null));
            return true;
        }

        /// <summary>A connection attempt begins.</summary>
        internal void Connect(int conn, Uri uri, bool reconnect) =>
            Event(Transcript.KindConnect, Field.Of("conn", conn), Field.Of("reconnect", reconnect), Field.Of("uri", uri.ToString()));

        /// <summary>The session is Open on this connection.</summary>
        internal void Opened(int conn) => Event(Transcript.KindOpen, Field.Of("conn", conn));

        /// <summary>A connection ended (what followed, a reconnect or the end, is on the next lines).</summary>
        internal void Lost(int conn, string reason) =>
            Event(Transcript.KindLost, Field.Of("conn", conn), Field.Of("reason", reason));

        internal void AttemptFailed(int attempt, string reason) =>
            Event(Transcript.KindAttemptFailed, Field.Of("attempt", attempt), Field.Of("reason", reason));

        internal void Note(string text) => Event(Transcript.KindNote, Field.Of("text", text));

        private void Event(string kind, params Field[] fields) =>
            Enqueue(new Entry(EntryKind.Event, DateTime.UtcNow, null, null, 0, kind, null, fields));

        /// <summary>The session closed: the end line, then the writer finishes and closes the file. Idempotent.</summary>
        internal void Complete(string reason, long framesReceived)
        {
            if (Volatile.Read(ref _completing) != 0) return;
            Enqueue(new Entry(EntryKind.Event, DateTime.UtcNow, null, null, 0, Transcript.KindEnd, null, new[]
            {
                Field.Of("reason", reason),
                Field.Of("frames_received", framesReceived),
                Field.Of("frames_not_recorded", Dropped),
            }), force: true);
            Interlocked.Exchange(ref _completing, 1);
            Signal();
        }

        /// <summary>A problem to warn about once (the file could not be written, frames were left out), or null.</summary>
        internal string? TakeProblemToReport()
        {
            string? problem = Volatile.Read(ref _problem);
            return problem != null && Interlocked.Exchange(ref _problemReported, 1) == 0 ? problem : null;
        }

        private void Enqueue(Entry entry, bool force = false)
        {
            if (Volatile.Read(ref _completing) != 0) return;
            if (!force && Volatile.Read(ref _count) >= _capacity)
            {
                Interlocked.Increment(ref _dropped);
                return;
            }
            Interlocked.Increment(ref _count);
            _queue.Enqueue(entry);
            Signal();
        }

        private void Signal()
        {
            if (Interlocked.Exchange(ref _signaled, 1) == 0) _signal.Release();
        }

        // ------------------------------------------------------------------ the writer

        private async Task WriteLoopAsync()
        {
            var batch = new MemoryStream(64 * 1024);
            bool failed = false;
            try
            {
                while (true)
                {
                    await _signal.WaitAsync().ConfigureAwait(false);
                    Volatile.Write(ref _signaled, 0);
                    bool completing = Volatile.Read(ref _completing) != 0;
                    SecretLiterals? literals = null;
                    try
                    {
                        while (true)
                        {
                            if (Volatile.Read(ref _heldUntil) is Task held && !held.IsCompleted) await held.ConfigureAwait(false);
                            if (!_queue.TryDequeue(out Entry entry)) break;
                            Interlocked.Decrement(ref _count);
                            if (failed) continue;
                            // Opened again when the secrets changed meanwhile: an auth sent after this batch began
                            // (its nonce and signature may be echoed in the very next lines).
                            if (literals == null || literals.Version != _secrets.Version)
                            {
                                literals?.Dispose();
                                literals = Literals();
                            }
                            long dropped = Interlocked.Exchange(ref _dropped, 0);
                            if (dropped > 0) WriteGap(batch, dropped, entry.At);
                            WriteLine(batch, Format(entry, literals));
                            if (batch.Length >= 256 * 1024) failed = !Flush(batch);
                        }
                        if (!failed)
                        {
                            long dropped = Interlocked.Exchange(ref _dropped, 0);
                            if (dropped > 0) WriteGap(batch, dropped, DateTime.UtcNow);
                            failed = !Flush(batch);
                        }
                    }
                    finally
                    {
                        literals?.Dispose();
                    }
                    if (failed)
                    {
                        // Nothing more is taken: the session goes on unrecorded (reported once as a warning).
                        Volatile.Write(ref _completing, 1);
                        break;
                    }
                    if (completing && _queue.IsEmpty) break;
                }
            }
            finally
            {
                try
                {
                    _file.Dispose();
                }
                catch (IOException e)
                {
                    SetProblem($"The transcript {Path} could not be closed: {e.Message}");
                }
            }
        }

        private void WriteGap(MemoryStream batch, long dropped, DateTime at)
        {
            Interlocked.Add(ref _droppedTotal, dropped);
            SetProblem($"Recording to {Path} fell behind: {dropped} frame(s) were left out of the transcript (a \"gap\" line says where). The session itself lost nothing.");
            WriteLine(batch, Transcript.Line(Transcript.KindGap, Offset(at), w => w.WriteNumber("dropped", dropped)));
        }

        private static void WriteLine(MemoryStream batch, string line)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(line);
            batch.Write(bytes, 0, bytes.Length);
            batch.WriteByte((byte)'\n');
        }

        /// <summary>Writes the batch (whole lines) with one write; false once the file cannot be written (reported, recording stops).</summary>
        private bool Flush(MemoryStream batch)
        {
            if (batch.Length == 0) return true;
            try
            {
                _file.Write(batch.GetBuffer(), 0, (int)batch.Length);
                _file.Flush();
                return true;
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is ObjectDisposedException)
            {
                SetProblem($"Recording stopped: the transcript {Path} could not be written ({e.Message}). It is whole up to its last line; the session goes on unrecorded.");
                return false;
            }
            finally
            {
                batch.SetLength(0);
            }
        }

        private void SetProblem(string problem) => Interlocked.CompareExchange(ref _problem, problem, null);

        private double Offset(DateTime at) => Math.Max(0, (at - _startedAt).TotalMilliseconds);

        private string Format(in Entry entry, SecretLiterals literals)
        {
            double offset = Offset(entry.At);
            switch (entry.Kind)
            {
                case EntryKind.Sent:
                {
                    string raw = entry.Raw;
                    string? type = Transcript.RequestType(raw);
                    string text = Redaction.Clean(raw, literals, TextShape.Transcript);
                    string role = entry.Tag!;
                    return Transcript.Line(Transcript.KindFrame, offset, w =>
                    {
                        w.WriteString("dir", Transcript.DirSent);
                        w.WriteString("role", role);
                        if (type != null) w.WriteString("type", Redaction.Clean(type, literals, TextShape.Transcript));
                        w.WriteString("text", text);
                    });
                }
                case EntryKind.Received:
                case EntryKind.Claimed:
                {
                    string text = Redaction.Clean(entry.Raw, literals, TextShape.Transcript);
                    string type = Redaction.Clean(entry.Tag ?? string.Empty, literals, TextShape.Transcript);
                    bool claimed = entry.Kind == EntryKind.Claimed;
                    long seq = entry.Seq;
                    string? extra = entry.Extra == null ? null : Redaction.Clean(entry.Extra, literals, TextShape.Transcript);
                    return Transcript.Line(Transcript.KindFrame, offset, w =>
                    {
                        w.WriteString("dir", Transcript.DirReceived);
                        if (claimed) w.WriteNull("seq");
                        else w.WriteNumber("seq", seq);
                        w.WriteString("type", type);
                        if (claimed) w.WriteString("claimed", extra);
                        else if (extra != null) w.WriteString("malformed", extra);
                        if (!claimed && type.StartsWith("qfex.", StringComparison.Ordinal)) w.WriteString("origin", "module");
                        w.WriteString("text", text);
                    });
                }
                default:
                {
                    // Events carry reasons and URIs: masked like frames (an exception message never holds a
                    // secret, but a URI holds the api_key).
                    Field[] fields = entry.Fields ?? Array.Empty<Field>();
                    SecretLiterals secrets = literals;
                    Func<string, string> mask = text => Redaction.Clean(text, secrets, TextShape.Transcript);
                    return Transcript.Line(entry.Tag!, offset, w =>
                    {
                        foreach (Field field in fields) field.Write(w, mask);
                    });
                }
            }
        }

        /// <summary>
        /// The session's own secrets as text, for this batch only (zeroed after it): the secret key, the JWT and its
        /// signature part, the last auth's nonce and signature, and the public key (the api_key value).
        /// </summary>
        private SecretLiterals Literals() => _secrets.Open(_publicKey);
    }
}
