using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex
{
    /// <summary>How the test server shapes error frames.</summary>
    public enum QfexTestServerErrorShape
    {
        /// <summary><c>{"err":{"error_code":..,"message":..,"incoming_message":..}}</c> (what the live server sends).</summary>
        Wrapped,

        /// <summary><c>{"type":"error","error_code":..,"message":..,"incoming_message":..}</c> (older docs).</summary>
        Flat,
    }

    /// <summary>
    /// One WebSocket connection as the fake exchange sees it, from
    /// <see cref="QfexTestServerFaults.Connections"/>: what it is (trade or market data, authenticated,
    /// subscribed channels, pings received) and faults aimed at it alone (a raw frame, a clean close,
    /// an abrupt drop). The properties are live; once the connection has ended, the methods do nothing.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable",
        Justification = "The end-of-connection token source has no timer and no registrations of its own to release; it is cancelled when the connection ends, and a public Dispose would only invite tests to end connections another way.")]
    public sealed class QfexTestServerConnection
    {
        private readonly HashSet<string> _subscriptions = new HashSet<string>(StringComparer.Ordinal);
        private readonly CancellationTokenSource _ended = new CancellationTokenSource();
        private volatile bool _authenticated;
        private volatile bool _upgraded;
        private int _pinging;

        internal QfexTestServerConnection(int id, WsServerSocket socket)
        {
            Id = id;
            Socket = socket;
        }

        /// <summary>The server's id of the connection (1, 2, 3, ... per server), as in <see cref="QfexTestServerRequest.ConnectionId"/>.</summary>
        public int Id { get; }

        /// <summary>The request path of the upgrade: "/" (trade) or "/mds" (market data).</summary>
        public string Path { get; private set; } = "/";

        /// <summary>True for a connection to /mds (market data: no auth).</summary>
        public bool IsMarketData { get; private set; }

        /// <summary>True once the connection authenticated (trade connections only).</summary>
        public bool IsAuthenticated
        {
            get => _authenticated;
            internal set => _authenticated = value;
        }

        /// <summary>
        /// The channels the connection is subscribed to: trade channels such as order_responses, or
        /// market-data channel names such as bbo (without symbols).
        /// </summary>
        public string[] Subscriptions
        {
            get
            {
                lock (_subscriptions)
                {
                    var list = new string[_subscriptions.Count];
                    _subscriptions.CopyTo(list);
                    return list;
                }
            }
        }

        /// <summary>WebSocket pings received from the client, answered or not (see <see cref="QfexTestServerFaults.WithholdPongs"/>).</summary>
        public long PingsReceived => Socket.PingsReceived;

        /// <summary>
        /// Sends one frame exactly as given to this connection: any opcode (a value outside the enum
        /// too, up to 15), the FIN bit as given, any payload (invalid UTF-8 text, a control frame
        /// over 125 bytes, data after a close frame). Waits at most 5 s for the write.
        /// </summary>
        public void PushFrame(byte[] payload, QfexTestServerOpcode opcode, bool fin = true)
        {
            if (payload == null)
                throw new ArgumentNullException(nameof(payload));
            QfexTestServer.SendAndWait(PushFrameAsync(payload, opcode, fin));
        }

        /// <summary>Starts a clean close of this connection with this close status (1000-4999) and reason.</summary>
        public void Close(int closeStatus = 1000, string? reason = null)
        {
            QfexTestServer.CheckCloseStatus(closeStatus);
            QfexTestServer.SendAndWait(CloseAsync(closeStatus, reason));
        }

        /// <summary>
        /// Ends this connection's TCP without a close frame: a reset (RST) when <paramref name="reset"/>
        /// is true, else a normal end of stream (FIN), so that the client reads everything sent
        /// before it first.
        /// </summary>
        public void Drop(bool reset = true) => Socket.Abort(reset);

        /// <summary>The frame layer of this connection.</summary>
        internal WsServerSocket Socket { get; }

        /// <summary>True once the WebSocket handshake completed.</summary>
        internal bool IsUpgraded => _upgraded;

        /// <summary>True when the server pushes to this connection: authenticated trade, or market data.</summary>
        internal bool ReceivesPushes => _upgraded && (_authenticated || IsMarketData) && !Socket.CloseSent && !Socket.IsClosed;

        internal bool CancelOnDisconnect { get; set; }

        /// <summary>The account the connection authenticated for ("key:&lt;public key&gt;|&lt;account id&gt;"): each has its own order book.</summary>
        internal string AccountKey { get; set; } = string.Empty;

        /// <summary>Cancelled when the connection ended.</summary>
        internal CancellationToken Ended => _ended.Token;

        internal void MarkUpgraded(WsHandshakeResult handshake)
        {
            Path = handshake.Path;
            IsMarketData = string.Equals(handshake.Path.TrimEnd('/'), "/mds", StringComparison.OrdinalIgnoreCase);
            _upgraded = true;
        }

        internal void MarkEnded()
        {
            try
            {
                _ended.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        /// <summary>True the first time only: the server pings a connection from one loop at most.</summary>
        internal bool TryStartPings() => Interlocked.Exchange(ref _pinging, 1) == 0;

        internal bool IsSubscribed(string channel)
        {
            lock (_subscriptions)
                return _subscriptions.Contains(channel);
        }

        internal void Subscribe(string channel)
        {
            lock (_subscriptions)
                _subscriptions.Add(channel);
        }

        internal void Unsubscribe(string channel)
        {
            lock (_subscriptions)
                _subscriptions.Remove(channel);
        }

        /// <summary>One raw frame (any opcode, any FIN bit, any payload), ignoring the close state.</summary>
        internal Task PushFrameAsync(byte[] payload, QfexTestServerOpcode opcode, bool fin) =>
            Socket.SendRawFrameAsync((byte)opcode, payload, fin);

        /// <summary>Starts a clean close with this status and reason.</summary>
        internal Task<bool> CloseAsync(int status, string? reason) => Socket.CloseAsync(status, reason);

        public override string ToString() =>
            "#" + Id.ToString(System.Globalization.CultureInfo.InvariantCulture) + " " + Path +
            (IsAuthenticated ? " (authenticated)" : string.Empty);
    }
}

namespace Qfex
{
    /// <summary>A thread-safe, case-insensitive set of request types (for <see cref="QfexTestServer.SilentTypes"/>).</summary>
    public sealed class QfexTestServerTypeSet : ICollection<string>
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _items =
            new System.Collections.Concurrent.ConcurrentDictionary<string, byte>(StringComparer.OrdinalIgnoreCase);

        public int Count => _items.Count;
        public bool IsReadOnly => false;

        public void Add(string item)
        {
            if (item == null)
                throw new ArgumentNullException(nameof(item));
            _items[item] = 0;
        }

        public bool Remove(string item) => item != null && _items.TryRemove(item, out _);
        public bool Contains(string item) => item != null && _items.ContainsKey(item);
        public void Clear() => _items.Clear();

        public void CopyTo(string[] array, int arrayIndex)
        {
            foreach (string key in _items.Keys)
                array[arrayIndex++] = key;
        }

        public IEnumerator<string> GetEnumerator() => _items.Keys.GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => string.Join(", ", _items.Keys);
    }
}
