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

    /// <summary>The test server's state for one client connection (internal: for tests and fault injection).</summary>
    internal sealed class QfexTestServerConnection
    {
        private readonly HashSet<string> _subscriptions = new HashSet<string>(StringComparer.Ordinal);
        private readonly CancellationTokenSource _ended = new CancellationTokenSource();
        private volatile bool _authenticated;
        private volatile bool _upgraded;

        internal QfexTestServerConnection(int id, WsServerSocket socket)
        {
            Id = id;
            Socket = socket;
            ConnectedAt = DateTime.UtcNow;
        }

        internal int Id { get; }
        internal DateTime ConnectedAt { get; }

        /// <summary>The frame layer of this connection (raw sends, close, abort, ping/pong counters).</summary>
        internal WsServerSocket Socket { get; }

        internal Task Task { get; set; } = Task.CompletedTask;

        /// <summary>The request path of the upgrade ("/" or "/mds").</summary>
        internal string Path { get; private set; } = "/";

        internal IReadOnlyDictionary<string, string> Headers { get; private set; } = new Dictionary<string, string>();

        /// <summary>True for a connection to /mds (market data: no auth).</summary>
        internal bool IsMarketData { get; private set; }

        /// <summary>True once the WebSocket handshake completed.</summary>
        internal bool IsUpgraded => _upgraded;

        internal bool IsAuthenticated
        {
            get => _authenticated;
            set => _authenticated = value;
        }

        /// <summary>True when the server pushes to this connection: authenticated trade, or market data.</summary>
        internal bool ReceivesPushes => _upgraded && (_authenticated || IsMarketData) && !Socket.CloseSent && !Socket.IsClosed;

        internal string? AccountId { get; set; }

        internal bool CancelOnDisconnect { get; set; }

        /// <summary>Cancelled when the connection ended.</summary>
        internal CancellationToken Ended => _ended.Token;

        internal void MarkUpgraded(WsHandshakeResult handshake)
        {
            Path = handshake.Path;
            Headers = handshake.Headers;
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

        internal string[] Subscriptions
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

        /// <summary>Fault injection: one raw frame (any opcode, any FIN bit, any payload, even invalid UTF-8 text).</summary>
        internal Task PushRawAsync(byte[] payload, WsOpcode opcode, bool fin) =>
            Socket.SendRawFrameAsync((byte)opcode, payload, fin);

        /// <summary>Fault injection: arbitrary bytes on the wire (e.g. a header announcing an oversized frame).</summary>
        internal Task PushRawBytesAsync(byte[] bytes) => Socket.SendRawBytesAsync(bytes);

        /// <summary>Starts a clean close with this status and reason.</summary>
        internal Task<bool> CloseAsync(int status, string? reason) => Socket.CloseAsync(status, reason);

        /// <summary>Ends TCP without a close frame (RST when <paramref name="reset"/>, else FIN).</summary>
        internal void Drop(bool reset = true) => Socket.Abort(reset);

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
