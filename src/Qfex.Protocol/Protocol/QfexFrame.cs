using System;
using System.Management.Automation;
using System.Threading;

namespace Qfex
{
    /// <summary>One frame received on a session. <see cref="Data"/> is parsed on first use.</summary>
    public sealed class QfexFrame
    {
        private static readonly object NotParsed = new object();
        private object? _data = NotParsed;

        private byte[]? _utf8;
        private string? _raw;

        internal QfexFrame(long sequence, string type, string raw, DateTime receivedAt, int sessionId)
            : this(sequence, type, null, raw, receivedAt, sessionId) { }

        /// <summary>A frame whose text is kept as received UTF-8 (decoded on first use) or as a string.</summary>
        internal QfexFrame(long sequence, string type, byte[]? utf8, string? raw, DateTime receivedAt, int sessionId)
        {
            Sequence = sequence;
            Type = type;
            _utf8 = utf8;
            _raw = raw;
            ReceivedAt = receivedAt;
            SessionId = sessionId;
            _textSize = FrameOverhead + (utf8 != null ? utf8.Length : 2L * (raw?.Length ?? 0));
        }

        /// <summary>What a frame costs besides its text (the object, its slot), for a session's byte budget.</summary>
        internal const int FrameOverhead = 96;

        private readonly long _textSize;

        /// <summary>The bytes this frame holds while it waits in a session's buffer (its text as kept, the object, an error's echo).</summary>
        internal long Size => _textSize + (Error?.HeldBytes ?? 0);

        /// <summary>1, 2, 3, ... per session, with no gaps: every frame the session delivered has one.</summary>
        public long Sequence { get; }

        /// <summary>The frame's "type" property, else its first top-level key (order_response, subscribed, ...); "error" for error frames.</summary>
        public string Type { get; }

        /// <summary>The JSON as PowerShell objects (PSCustomObject, object[], [long], [decimal], ...).</summary>
        public object? Data
        {
            get
            {
                // Materialised lazily: most frames in a flood are filtered or counted, never inspected.
                object? data = Volatile.Read(ref _data);
                if (ReferenceEquals(data, NotParsed))
                {
                    // Two threads may parse at once; the first result wins so every caller sees one object.
                    object? parsed = IsMalformed ? null : Qfex.Protocol.PSJson.Parse(Utf8);
                    object? previous = Interlocked.CompareExchange(ref _data, parsed, NotParsed);
                    data = ReferenceEquals(previous, NotParsed) ? parsed : previous;
                }
                return data;
            }
        }

        /// <summary>The frame's text as received.</summary>
        public string Raw => _raw ??= _utf8 == null ? string.Empty : System.Text.Encoding.UTF8.GetString(_utf8);

        /// <summary>The frame's UTF-8 text, for parsing without a string in between.</summary>
        internal ReadOnlyMemory<byte> Utf8 => _utf8 ??= System.Text.Encoding.UTF8.GetBytes(_raw ?? string.Empty);

        /// <summary>When the frame arrived (UTC).</summary>
        public DateTime ReceivedAt { get; }

        public int SessionId { get; }

        /// <summary>Set for error frames: the parsed envelope the ErrorRecord is built from.</summary>
        internal Qfex.Protocol.ErrorEnvelope? Error { get; set; }

        /// <summary>
        /// For a malformed frame: the secrets of the session it arrived on, masked in its text when the frame becomes an
        /// ErrorRecord (only then: a flood of malformed frames costs the receive loop nothing more).
        /// </summary>
        internal Qfex.Protocol.SessionSecrets? Secrets { get; set; }

        /// <summary>Set for frames that could not be read as a JSON object: why.</summary>
        internal string? MalformedReason { get; set; }

        internal Qfex.Protocol.MalformedKind Malformed { get; set; }

        internal bool IsError => Error != null;
        internal bool IsMalformed => MalformedReason != null;

        public override string ToString() => $"{Sequence} {Type}";
    }
}
