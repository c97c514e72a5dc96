using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex
{
    /// <summary>
    /// RFC 6455 opcodes, for <see cref="QfexTestServerFaults.PushFrame"/>. The server writes the low four
    /// bits as given, so a reserved opcode can be sent too: <c>(QfexTestServerOpcode)3</c>.
    /// </summary>
    public enum QfexTestServerOpcode : byte
    {
        /// <summary>The next fragment of a message started by a Text or Binary frame with FIN clear.</summary>
        Continuation = 0x0,

        /// <summary>A UTF-8 text message (what the exchange sends).</summary>
        Text = 0x1,

        /// <summary>A binary message (the exchange never sends one).</summary>
        Binary = 0x2,

        /// <summary>A close frame: payload = status (2 bytes, big-endian) + UTF-8 reason.</summary>
        Close = 0x8,

        /// <summary>A ping: the client must answer with a pong carrying the same payload.</summary>
        Ping = 0x9,

        /// <summary>A pong (unsolicited pongs are allowed).</summary>
        Pong = 0xA,
    }

    /// <summary>
    /// The fault-injection and load seam of the fake exchange (<see cref="QfexTestServer.Faults"/>): for
    /// tests of a client against a hostile or faulty exchange, and for benchmarks. It sends frames the
    /// real exchange never would (any opcode and FIN bit, invalid UTF-8, oversized or fragmented
    /// messages), withholds pongs, pings clients, floods them, ends single connections, and shows what
    /// the server saw (its connections, the last error inside it). The everyday knobs (Respond,
    /// FailNext, SilentTypes, Push, DropConnections, CloseConnections, ...) stay on
    /// <see cref="QfexTestServer"/>.
    /// </summary>
    public sealed class QfexTestServerFaults
    {
        private readonly QfexTestServer _server;
        private int _withholdPongs;
        private long _pingIntervalTicks;
        private Exception? _lastError;

        internal QfexTestServerFaults(QfexTestServer server)
        {
            _server = server;
        }

        /// <summary>
        /// When set, every new connection is closed with this status (and <see cref="CloseAfterUpgradeReason"/>)
        /// right after its WebSocket handshake: a server that accepts the socket and goes away before anything
        /// else happens. Default null (off).
        /// </summary>
        public int? CloseAfterUpgrade { get; set; }

        /// <summary>The close reason sent with <see cref="CloseAfterUpgrade"/>.</summary>
        public string? CloseAfterUpgradeReason { get; set; }

        /// <summary>
        /// When set, the text frame the server answers every auth request with instead of its own answer (the
        /// connection stays unauthenticated): a careless or hostile exchange that quotes the request, secrets and
        /// all, where the real one (and this fake's normal echo) masks them. Placeholders: <c>{request}</c> is the
        /// auth request exactly as received (JSON), <c>{request:escaped}</c> the same text escaped once for use
        /// inside a JSON string, <c>{request:escaped2}</c> escaped twice (for a JSON string that holds a JSON
        /// string); <c>{nonce}</c>, <c>{signature}</c> and <c>{jwt}</c> are those values of the request (empty when it has
        /// none). Example: <c>{"err":{"error_code":"PermissionDenied","message":"Refused {request:escaped}","incoming_message":{request}}}</c>.
        /// Default null (off).
        /// </summary>
        public string? AuthAnswer { get; set; }

        /// <summary>
        /// When set, a text frame the server sends right after its answer to every auth request (accepted or not),
        /// with the placeholders of <see cref="AuthAnswer"/>: an error frame quoting the auth request, a JSON array
        /// of several such frames, or text that is not JSON at all. Default null (off).
        /// </summary>
        public string? AfterAuth { get; set; }

        /// <summary>A template of <see cref="AuthAnswer"/> or <see cref="AfterAuth"/> with the request put in.</summary>
        internal static string Expand(string template, string request)
        {
            string escaped = Escape(request);
            string nonce = string.Empty, signature = string.Empty, jwt = string.Empty;
            try
            {
                using var doc = System.Text.Json.JsonDocument.Parse(request);
                if (doc.RootElement.TryGetProperty("params", out System.Text.Json.JsonElement p) && p.ValueKind == System.Text.Json.JsonValueKind.Object)
                {
                    if (p.TryGetProperty("hmac", out System.Text.Json.JsonElement hmac) && hmac.ValueKind == System.Text.Json.JsonValueKind.Object)
                    {
                        nonce = Protocol.PSJson.GetString(hmac, "nonce") ?? string.Empty;
                        signature = Protocol.PSJson.GetString(hmac, "signature") ?? string.Empty;
                    }
                    jwt = Protocol.PSJson.GetString(p, "jwt") ?? string.Empty;
                }
            }
            catch (System.Text.Json.JsonException)
            {
                // Not JSON: only the request placeholders apply.
            }
            return template
                .Replace("{request:escaped2}", Escape(escaped))
                .Replace("{request:escaped}", escaped)
                .Replace("{request}", request)
                .Replace("{nonce}", nonce)
                .Replace("{signature}", signature)
                .Replace("{jwt}", jwt);
        }

        private static string Escape(string text)
        {
            string quoted = System.Text.Json.JsonSerializer.Serialize(text, EscapeOptions);
            return quoted.Substring(1, quoted.Length - 2);
        }

        private static readonly System.Text.Json.JsonSerializerOptions EscapeOptions = new System.Text.Json.JsonSerializerOptions
        {
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };

        /// <summary>
        /// When true, pings from clients are counted (<see cref="QfexTestServerConnection.PingsReceived"/>)
        /// but not answered, on existing and new connections: a half-open or stuck exchange as a
        /// client's keep-alive sees it. Default false.
        /// </summary>
        public bool WithholdPongs
        {
            get => Volatile.Read(ref _withholdPongs) != 0;
            set
            {
                Volatile.Write(ref _withholdPongs, value ? 1 : 0);
                foreach (QfexTestServerConnection c in _server.AllConnections())
                    c.Socket.WithholdPongs = value;
            }
        }

        /// <summary>
        /// When positive, the server pings each connection at this interval (payload "1", "2", ...):
        /// trade connections from their authentication on, market-data connections from the upgrade
        /// on. Applies to connections that authenticate or connect after it is set. Zero or negative
        /// (the default): no server pings.
        /// </summary>
        public TimeSpan PingInterval
        {
            get => TimeSpan.FromTicks(Interlocked.Read(ref _pingIntervalTicks));
            set => Interlocked.Exchange(ref _pingIntervalTicks, value.Ticks);
        }

        /// <summary>
        /// The last exception raised inside the server while it served a connection (a handshake
        /// fault, a bug in a request handler); null when there was none. For diagnosing a test.
        /// </summary>
        public Exception? LastError
        {
            get => Volatile.Read(ref _lastError);
            internal set => Volatile.Write(ref _lastError, value);
        }

        /// <summary>The fake account's user id: the user_id of the order responses the server sends.</summary>
        public string UserId => _server.UserId;

        /// <summary>
        /// The WebSocket connections open now (handshake done, not yet ended), in id order, to inspect
        /// or to aim a fault at one of them.
        /// </summary>
        public IReadOnlyList<QfexTestServerConnection> Connections =>
            _server.AllConnections().Where(c => c.IsUpgraded).OrderBy(c => c.Id).ToArray();

        /// <summary>
        /// Sends one frame exactly as given to every connection that receives pushes (authenticated
        /// trade connections and market-data connections): any opcode, the FIN bit as given, any
        /// payload, e.g. a binary frame, invalid UTF-8 text, a message larger than the client accepts,
        /// or one message in fragments (Text with <paramref name="fin"/> false, then Continuation
        /// frames) with control frames between them. Waits at most 5 s for the writes.
        /// </summary>
        public void PushFrame(byte[] payload, QfexTestServerOpcode opcode, bool fin = true)
        {
            if (payload == null)
                throw new ArgumentNullException(nameof(payload));
            _server.SendToAll(c => c.PushFrameAsync(payload, opcode, fin));
        }

        /// <summary>
        /// Load: sends <paramref name="count"/> copies of one text frame to every connection that
        /// receives pushes, as fast as the connection takes them (the frame is encoded once and
        /// written in 256 KiB chunks). Returns when every copy was written, with the number of
        /// connections flooded.
        /// </summary>
        public int Flood(string json, int count) => FloodAsync(json, count).GetAwaiter().GetResult();

        /// <summary>
        /// <see cref="Flood"/> without blocking: the returned task completes when every copy was
        /// written (or the connection ended, or <paramref name="cancellationToken"/> fired), with the
        /// number of connections flooded. Start it before the client reads, for a backlog test.
        /// </summary>
        public async Task<int> FloodAsync(string json, int count, CancellationToken cancellationToken = default)
        {
            if (json == null)
                throw new ArgumentNullException(nameof(json));
            if (count < 0)
                throw new ArgumentOutOfRangeException(nameof(count), count, "The count must not be negative.");
            byte[] frame = WsFrameCodec.EncodeFrame(QfexTestServerOpcode.Text, Encoding.UTF8.GetBytes(json));
            int framesPerChunk = Math.Max(1, (256 * 1024) / frame.Length);
            var chunk = new byte[framesPerChunk * frame.Length];
            for (int i = 0; i < framesPerChunk; i++)
                Buffer.BlockCopy(frame, 0, chunk, i * frame.Length, frame.Length);

            QfexTestServerConnection[] targets = _server.AllConnections().Where(c => c.ReceivesPushes).ToArray();
            await Task.WhenAll(targets.Select(async c =>
            {
                try
                {
                    await c.Socket.FloodAsync(chunk, frame.Length, framesPerChunk, count, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (WsServerSocket.IsConnectionFault(ex))
                {
                }
            })).ConfigureAwait(false);
            return targets.Length;
        }

        public override string ToString() =>
            string.Format(CultureInfo.InvariantCulture, "{0} connection(s), WithholdPongs {1}, PingInterval {2}, LastError {3}",
                Connections.Count, WithholdPongs, PingInterval, LastError?.GetType().Name ?? "none");
    }
}
