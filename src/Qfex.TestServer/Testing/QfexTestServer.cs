using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex
{
    /// <summary>
    /// A fake QFEX exchange on 127.0.0.1 for tests, demos and runbook tests: a WebSocket server
    /// (hand-written HTTP upgrade and RFC 6455 framing, so it runs on netstandard2.0 without URL
    /// ACLs) that checks HMAC auth like the trade socket, answers requests plausibly, can be told to
    /// answer a request type with an error code, and records what it received. Tests of a client
    /// against a hostile or faulty exchange use its fault-injection seam, <see cref="Faults"/>.
    /// </summary>
    public sealed partial class QfexTestServer : IDisposable
    {
        private const int MaxRecorded = 100_000;
        private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);
        private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(5);

        private TcpListener? _listener;
        private readonly ConcurrentDictionary<int, QfexTestServerConnection> _connections = new ConcurrentDictionary<int, QfexTestServerConnection>();
        private readonly List<QfexTestServerRequest> _received = new List<QfexTestServerRequest>();
        private readonly ConcurrentDictionary<string, string> _respond = new ConcurrentDictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        private readonly CancellationTokenSource _stopping = new CancellationTokenSource();
        private readonly string _publicKey;
        private readonly SecureString _secret;
        private readonly byte[] _secretBytes;
        private int _nextConnectionId;
        private int _stopped;
        private long _maxFrameBytes = 1024 * 1024;

        private QfexTestServer(string publicKey, SecureString secret, byte[] secretBytes)
        {
            _publicKey = publicKey;
            _secret = secret;
            _secretBytes = secretBytes;
            Credential = new PSCredential(publicKey, secret.Copy());
            UserId = Guid.NewGuid().ToString("D");
            Faults = new QfexTestServerFaults(this);
        }

        /// <summary>
        /// Starts a server on 127.0.0.1. <paramref name="port"/> 0 picks a free port. Without a key
        /// or secret, random ones are generated (<c>qfex_pub_test_…</c>, <c>qfex_secret_test_…</c>).
        /// </summary>
        public static QfexTestServer Start(int port = 0, string? apiKey = null, SecureString? apiSecret = null) =>
            StartCore(port, apiKey, apiSecret, null);

        private static QfexTestServer StartCore(int port, string? apiKey, SecureString? apiSecret, QfexTestServerReplay? replay)
        {
            if (port < 0 || port > 65535)
                throw new ArgumentOutOfRangeException(nameof(port), port, "The port must be between 0 and 65535.");
            if (apiKey != null && apiKey.Trim().Length == 0)
                throw new ArgumentException("The API key must not be empty.", nameof(apiKey));

            string publicKey = apiKey ?? "qfex_pub_test_" + RandomHex(16);
            SecureString secret;
            byte[] secretBytes;
            if (apiSecret != null)
            {
                if (apiSecret.Length == 0)
                    throw new ArgumentException("The API secret must not be empty.", nameof(apiSecret));
                secret = apiSecret.Copy();
                secretBytes = Utf8Bytes(secret);
            }
            else
            {
                GenerateSecret(out secret, out secretBytes);
            }
            secret.MakeReadOnly();

            var server = new QfexTestServer(publicKey, secret, secretBytes) { Replay = replay };
            try
            {
                server.Listen(port);
            }
            catch
            {
                server.ReleaseSecret();
                throw;
            }
            return server;
        }

        // ---------------------------------------------------------------- public surface

        /// <summary>The trade socket address: ws://127.0.0.1:port/</summary>
        public Uri Uri => new Uri(string.Format(CultureInfo.InvariantCulture, "ws://127.0.0.1:{0}/", Port));

        /// <summary>The market-data socket address: ws://127.0.0.1:port/mds (no auth).</summary>
        public Uri MarketDataUri => new Uri(string.Format(CultureInfo.InvariantCulture, "ws://127.0.0.1:{0}/mds", Port));

        /// <summary>The TCP port the server listens on (127.0.0.1 only).</summary>
        public int Port { get; private set; }

        /// <summary>True until <see cref="Stop"/> (or <see cref="Dispose"/>) was called.</summary>
        public bool IsRunning => Volatile.Read(ref _stopped) == 0;

        /// <summary>User name = public API key, password = secret key.</summary>
        public PSCredential Credential { get; }

        /// <summary>A snapshot of the messages received so far, in arrival order.</summary>
        public IReadOnlyList<QfexTestServerRequest> Received
        {
            get
            {
                lock (_received)
                    return _received.ToArray();
            }
        }

        /// <summary>
        /// Request type → error code to answer it with instead of the normal answer (case-insensitive
        /// keys, thread-safe): <c>$server.Respond['add_order'] = 'RateLimited'</c>. Remove the entry
        /// (or set it to null/empty) to answer normally again.
        /// </summary>
        public IDictionary<string, string> Respond => _respond;

        /// <summary>
        /// Answers the next <paramref name="times"/> requests of a type with an error code, then behaves
        /// normally again: <c>$server.FailNext('add_order', 'RateLimited', 2)</c>.
        /// </summary>
        public void FailNext(string type, string code, int times = 1)
        {
            lock (_failures)
                _failures[type] = (code, times);
        }

        private string? TakeFailure(string type)
        {
            lock (_failures)
            {
                if (!_failures.TryGetValue(type, out (string Code, int Times) failure)) return null;
                if (failure.Times <= 1) _failures.Remove(type);
                else _failures[type] = (failure.Code, failure.Times - 1);
                return failure.Code;
            }
        }

        private readonly Dictionary<string, (string Code, int Times)> _failures = new Dictionary<string, (string Code, int Times)>(StringComparer.OrdinalIgnoreCase);

        /// <summary>
        /// A blunt limit for tests: answer RateLimited to authenticated requests beyond this many per second,
        /// whatever their weight (a sliding one-second window, all connections together). Zero: no limit.
        /// </summary>
        public int RateLimitPerSecond { get; set; }

        private readonly SlidingCounter _rateWindow = new SlidingCounter();

        /// <summary>
        /// The exchange's published limit, scaled as a test needs: authenticated requests are counted by their
        /// published weight in an exponential moving average with time constant <see cref="RateLimitWindowSec"/>,
        /// cancels (cancel_order, cancel_all_orders, cancel_stop_order) in a bucket of their own, all connections
        /// together (one user); a request that does not fit is answered RateLimited. 12000 with a window of 60 is
        /// the exchange's own limit. Zero (the default): off.
        /// </summary>
        public double RateLimitBudget
        {
            get { lock (_rateGate) return _rateBudget; }
            set
            {
                if (value < 0 || double.IsNaN(value) || double.IsInfinity(value))
                    throw new ArgumentOutOfRangeException(nameof(value), value, "RateLimitBudget must be 0 (off) or more.");
                lock (_rateGate)
                {
                    _rateBudget = value;
                    _generalLoad = _cancelLoad = null;
                }
            }
        }

        /// <summary>The time constant, in seconds, of <see cref="RateLimitBudget"/>'s moving average (default 60, as published).</summary>
        public double RateLimitWindowSec
        {
            get { lock (_rateGate) return _rateWindowSec; }
            set
            {
                if (value <= 0 || double.IsNaN(value) || double.IsInfinity(value))
                    throw new ArgumentOutOfRangeException(nameof(value), value, "RateLimitWindowSec must be more than 0.");
                lock (_rateGate)
                {
                    _rateWindowSec = value;
                    _generalLoad = _cancelLoad = null;
                }
            }
        }

        private readonly object _rateGate = new object();
        private double _rateBudget;
        private double _rateWindowSec = Qfex.Protocol.RateLimits.PublishedWindowSeconds;
        private Qfex.Protocol.EmaLoad? _generalLoad;
        private Qfex.Protocol.EmaLoad? _cancelLoad;
        private readonly Stopwatch _rateClock = Stopwatch.StartNew();

        /// <summary>True when the request fits the weighted limit (or there is none), counting it.</summary>
        private bool TryTakeWeighted(string type)
        {
            lock (_rateGate)
            {
                if (_rateBudget <= 0) return true;
                bool cancel = Qfex.Protocol.RateLimits.BucketOf(type) == Qfex.Protocol.RateBucket.Cancel;
                Qfex.Protocol.EmaLoad load = cancel
                    ? _cancelLoad ??= new Qfex.Protocol.EmaLoad(_rateBudget, _rateWindowSec)
                    : _generalLoad ??= new Qfex.Protocol.EmaLoad(_rateBudget, _rateWindowSec);
                load.DecayTo(_rateClock.Elapsed.TotalSeconds);
                return load.TryAdd(Qfex.Protocol.RateLimits.WeightOf(type));
            }
        }

        /// <summary>
        /// Request types the server records but never answers (case-insensitive), e.g.
        /// <c>$server.SilentTypes.Add('auth')</c> to test a client's timeout.
        /// </summary>
        public QfexTestServerTypeSet SilentTypes { get; } = new QfexTestServerTypeSet();

        /// <summary>Connections currently open (WebSocket handshake done, not closed).</summary>
        public int ConnectionCount => _connections.Values.Count(c => c.IsUpgraded && !c.Socket.IsClosed && !c.Socket.OutputShutdown);

        /// <summary>Error frame shape (default Wrapped, as the live server).</summary>
        public QfexTestServerErrorShape ErrorShape { get; set; } = QfexTestServerErrorShape.Wrapped;

        /// <summary>A JWT that <c>{"type":"auth","params":{"jwt":..}}</c> accepts; null (default) rejects every JWT.</summary>
        public string? AcceptedJwt { get; set; }

        /// <summary>A trade connection not authenticated within this time is closed with 1008; zero or negative disables it. Default 60 s.</summary>
        public TimeSpan AuthDeadline { get; set; } = TimeSpan.FromSeconds(60);

        /// <summary>When set (e.g. "FAILED_MARGIN_CHECK"), add_order is answered with one order_response of this status (no ACK, nothing rests).</summary>
        public string? OrderStatusOverride { get; set; }

        /// <summary>
        /// When true, a successful modify_order gives the order a new order_id (a third-party client reports the
        /// exchange does; its docs do not say). Default false: the order keeps its id.
        /// </summary>
        public bool ModifyAssignsNewOrderId { get; set; }

        /// <summary>Like the live exchange, order_response frames go only to connections subscribed to order_responses (default true).</summary>
        public bool RequireOrderSubscription { get; set; } = true;

        /// <summary>Largest client message accepted; a larger one is answered with close 1009. Default 1 MiB.</summary>
        public long MaxFrameBytes
        {
            get => Interlocked.Read(ref _maxFrameBytes);
            set
            {
                if (value < 1)
                    throw new ArgumentOutOfRangeException(nameof(value), value, "MaxFrameBytes must be positive.");
                Interlocked.Exchange(ref _maxFrameBytes, value);
                foreach (QfexTestServerConnection c in _connections.Values)
                    c.Socket.MaxMessageBytes = value;
            }
        }

        /// <summary>Sends a text frame to every authenticated trade connection and every market-data connection.</summary>
        public void Push(string json)
        {
            if (json == null)
                throw new ArgumentNullException(nameof(json));
            byte[] payload = Encoding.UTF8.GetBytes(json);
            SendToAll(c => c.Socket.SendFrameAsync(QfexTestServerOpcode.Text, payload, 0, payload.Length));
        }

        /// <summary>Ends every connection's TCP without a close frame (an abrupt network drop).</summary>
        public void DropConnections()
        {
            foreach (QfexTestServerConnection c in _connections.Values)
                c.Drop(reset: true);
        }

        /// <summary>Closes every connection cleanly with this close status and reason.</summary>
        public void CloseConnections(int closeStatus = 1000, string? reason = null)
        {
            CheckCloseStatus(closeStatus);
            SendToAll(c => c.CloseAsync(closeStatus, reason), includeUnauthenticated: true);
        }

        /// <summary>Forgets the recorded requests.</summary>
        public void ClearReceived()
        {
            lock (_received)
                _received.Clear();
        }

        /// <summary>Stops the server: closes every connection (1001) and the listener. Idempotent; returns within about a second.</summary>
        public void Stop()
        {
            if (Interlocked.Exchange(ref _stopped, 1) != 0)
                return;
            try
            {
                _stopping.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
            try
            {
                _listener?.Stop();
            }
            catch (SocketException)
            {
            }

            // Each open connection gets a close frame (1001) followed by a TCP half-close, so the
            // client reads the close frame and then the end of the stream; its close reply is still
            // read in the background (no RST), and the socket is fully closed within CloseTimeout.
            // Nothing here waits for a thread-pool continuation unless a send is blocked.
            QfexTestServerConnection[] connections = _connections.Values.ToArray();
            var closing = new List<Task>(connections.Length);
            foreach (QfexTestServerConnection c in connections)
            {
                if (c.IsUpgraded)
                    closing.Add(CloseForStopAsync(c));
                else
                    c.Drop(reset: false);
            }
            bool closed = true;
            try
            {
                closed = closing.Count == 0 || Task.WhenAll(closing).Wait(TimeSpan.FromMilliseconds(500));
            }
            catch (AggregateException)
            {
            }
            if (!closed)
            {
                foreach (QfexTestServerConnection c in connections)
                {
                    if (!c.Socket.OutputShutdown)
                        c.Drop(reset: false);
                }
            }
            ReleaseSecret();
        }

        public void Dispose() => Stop();

        public override string ToString() => "QfexTestServer " + Uri.ToString();

        /// <summary>
        /// The fault-injection and load seam, for tests of clients against a hostile or faulty
        /// exchange: raw frames of any kind, withheld pongs, server pings, floods, single connections
        /// to inspect, close or drop, the last error inside the server. See <see cref="QfexTestServerFaults"/>.
        /// </summary>
        public QfexTestServerFaults Faults { get; }

        /// <summary>The user id the fake account uses in order responses.</summary>
        internal string UserId { get; }

        /// <summary>Every accepted connection that has not ended, including ones still in the handshake.</summary>
        internal ICollection<QfexTestServerConnection> AllConnections() => _connections.Values;

        // ---------------------------------------------------------------- accept loop and connections

        private void Listen(int port)
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start(128);
            _listener = listener;
            Port = ((IPEndPoint)listener.LocalEndpoint).Port;
            _ = Task.Run(AcceptLoopAsync);
        }

        private async Task AcceptLoopAsync()
        {
            TcpListener listener = _listener!;
            while (!_stopping.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await listener.AcceptSocketAsync().ConfigureAwait(false);
                }
                catch (Exception) when (_stopping.IsCancellationRequested)
                {
                    break;
                }
                catch (SocketException)
                {
                    continue;
                }
                catch (ObjectDisposedException)
                {
                    break;
                }
                catch (InvalidOperationException)
                {
                    break;
                }

                try
                {
                    socket.NoDelay = true;
                }
                catch (SocketException)
                {
                }
                var ws = new WsServerSocket(socket)
                {
                    MaxMessageBytes = MaxFrameBytes,
                    WithholdPongs = Faults.WithholdPongs,
                };
                var connection = new QfexTestServerConnection(Interlocked.Increment(ref _nextConnectionId), ws);
                _connections[connection.Id] = connection;
                if (_stopping.IsCancellationRequested)
                {
                    _connections.TryRemove(connection.Id, out _);
                    ws.Dispose();
                    break;
                }
                _ = Task.Run(() => RunConnectionAsync(connection));
            }
        }

        private async Task RunConnectionAsync(QfexTestServerConnection connection)
        {
            WsServerSocket ws = connection.Socket;
            try
            {
                WsHandshakeResult handshake;
                using (var timeout = new CancellationTokenSource(HandshakeTimeout))
                using (timeout.Token.Register(() => ws.Abort(reset: true)))
                    handshake = await WsHandshake.AcceptAsync(ws, connection.MarkUpgraded).ConfigureAwait(false);
                if (!handshake.Upgraded)
                    return;

                if (Faults.CloseAfterUpgrade is int closeStatus)
                {
                    // A server that accepts the socket and closes it at once (fault injection), with the closing
                    // handshake a server does: what the client sent meanwhile is read and ignored until its close reply
                    // (or the close timeout). Closing TCP at once would answer the client's auth with a reset, which can
                    // discard the unread close frame, and with it the reason the client should report.
                    await connection.CloseAsync(closeStatus, Faults.CloseAfterUpgradeReason).ConfigureAwait(false);
                    while ((await ws.ReadMessageAsync().ConfigureAwait(false)).Type != QfexTestServerOpcode.Close)
                    {
                    }
                    return;
                }
                if (connection.IsMarketData)
                {
                    StartPings(connection);
                    if (Replay != null)
                        await ReplayConnectionReadyAsync(connection).ConfigureAwait(false);
                }
                else
                {
                    TimeSpan deadline = AuthDeadline;
                    if (deadline > TimeSpan.Zero)
                        _ = EnforceAuthDeadlineAsync(connection, deadline);
                }

                while (true)
                {
                    WsMessage message = await ws.ReadMessageAsync().ConfigureAwait(false);
                    if (message.Type == QfexTestServerOpcode.Close)
                        break;
                    await HandleMessageAsync(connection, message).ConfigureAwait(false);
                }
            }
            catch (Exception ex)
            {
                // A connection fault or a bug in a handler: never let it escape the task.
                Faults.LastError = ex;
            }
            finally
            {
                connection.MarkEnded();
                _connections.TryRemove(connection.Id, out _);
                ws.Dispose();
                if (connection.CancelOnDisconnect && connection.IsAuthenticated && !_stopping.IsCancellationRequested)
                {
                    try
                    {
                        await CancelOrdersOnDisconnectAsync(connection).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        Faults.LastError = ex;
                    }
                }
            }
        }

        private static async Task CloseForStopAsync(QfexTestServerConnection connection)
        {
            try
            {
                await connection.CloseAsync(WsCloseStatus.GoingAway, "Server stopping.").ConfigureAwait(false);
            }
            catch (Exception ex) when (WsServerSocket.IsConnectionFault(ex))
            {
            }
            connection.Socket.ShutdownOutput();
        }

        private static async Task EnforceAuthDeadlineAsync(QfexTestServerConnection connection, TimeSpan deadline)
        {
            try
            {
                await Task.Delay(deadline, connection.Ended).ConfigureAwait(false);
                if (!connection.IsAuthenticated)
                    await connection.CloseAsync(WsCloseStatus.PolicyViolation, "Not authenticated within the time allowed.").ConfigureAwait(false);
            }
            catch (Exception ex) when (WsServerSocket.IsConnectionFault(ex))
            {
            }
        }

        /// <summary>Starts the server pings of <see cref="QfexTestServerFaults.PingInterval"/> on a connection, once.</summary>
        private void StartPings(QfexTestServerConnection connection)
        {
            TimeSpan interval = Faults.PingInterval;
            if (interval > TimeSpan.Zero && connection.TryStartPings())
                _ = PingLoopAsync(connection, interval);
        }

        private static async Task PingLoopAsync(QfexTestServerConnection connection, TimeSpan interval)
        {
            try
            {
                long n = 0;
                while (!connection.Ended.IsCancellationRequested)
                {
                    await Task.Delay(interval, connection.Ended).ConfigureAwait(false);
                    byte[] payload = Encoding.ASCII.GetBytes((++n).ToString(CultureInfo.InvariantCulture));
                    if (!await connection.Socket.SendFrameAsync(QfexTestServerOpcode.Ping, payload, 0, payload.Length).ConfigureAwait(false))
                        return;
                }
            }
            catch (Exception ex) when (WsServerSocket.IsConnectionFault(ex))
            {
            }
        }

        /// <summary>Runs one send per connection that receives pushes (or every upgraded one) and waits at most 5 s.</summary>
        internal void SendToAll(Func<QfexTestServerConnection, Task> send, bool includeUnauthenticated = false)
        {
            Task[] sends = _connections.Values
                .Where(c => includeUnauthenticated ? c.IsUpgraded && !c.Socket.IsClosed : c.ReceivesPushes)
                .Select(c => SafeAsync(send(c)))
                .ToArray();
            WaitQuietly(Task.WhenAll(sends), SendTimeout);
        }

        /// <summary>Waits at most 5 s for one send; connection faults are ignored (the connection ended).</summary>
        internal static void SendAndWait(Task send) => WaitQuietly(SafeAsync(send), SendTimeout);

        internal static void CheckCloseStatus(int closeStatus)
        {
            if (closeStatus < 1000 || closeStatus > 4999)
                throw new ArgumentOutOfRangeException(nameof(closeStatus), closeStatus, "A close status is between 1000 and 4999.");
        }

        private static async Task SafeAsync(Task task)
        {
            try
            {
                await task.ConfigureAwait(false);
            }
            catch (Exception ex) when (WsServerSocket.IsConnectionFault(ex))
            {
            }
        }

        private static void WaitQuietly(Task task, TimeSpan timeout)
        {
            try
            {
                task.Wait(timeout);
            }
            catch (AggregateException)
            {
            }
        }

        private void Record(QfexTestServerConnection connection, string? type, object? parameters, string raw)
        {
            var request = new QfexTestServerRequest(connection.Id, DateTime.UtcNow, type, parameters, raw);
            lock (_received)
            {
                if (_received.Count >= MaxRecorded)
                    _received.RemoveRange(0, MaxRecorded / 10);
                _received.Add(request);
            }
        }

        // ---------------------------------------------------------------- secrets

        private static string RandomHex(int bytes)
        {
            var buffer = new byte[bytes];
            using (var rng = RandomNumberGenerator.Create())
                rng.GetBytes(buffer);
            var sb = new StringBuilder(bytes * 2);
            foreach (byte b in buffer)
                sb.Append(b.ToString("x2", CultureInfo.InvariantCulture));
            return sb.ToString();
        }

        /// <summary>Generates "qfex_secret_test_" + 32 hex chars without ever holding it in a string.</summary>
        private static void GenerateSecret(out SecureString secret, out byte[] bytes)
        {
            const string prefix = "qfex_secret_test_";
            const string hex = "0123456789abcdef";
            var random = new byte[16];
            var chars = new char[prefix.Length + 32];
            try
            {
                using (var rng = RandomNumberGenerator.Create())
                    rng.GetBytes(random);
                prefix.CopyTo(0, chars, 0, prefix.Length);
                for (int i = 0; i < random.Length; i++)
                {
                    chars[prefix.Length + 2 * i] = hex[random[i] >> 4];
                    chars[prefix.Length + 2 * i + 1] = hex[random[i] & 0xF];
                }
                secret = new SecureString();
                foreach (char c in chars)
                    secret.AppendChar(c);
                bytes = Encoding.UTF8.GetBytes(chars);
            }
            finally
            {
                Array.Clear(random, 0, random.Length);
                Array.Clear(chars, 0, chars.Length);
            }
        }

        /// <summary>The UTF-8 bytes of a SecureString, read through unmanaged memory that is zeroed after.</summary>
        private static byte[] Utf8Bytes(SecureString secret)
        {
            IntPtr unmanaged = IntPtr.Zero;
            var chars = new char[secret.Length];
            try
            {
                unmanaged = Marshal.SecureStringToGlobalAllocUnicode(secret);
                Marshal.Copy(unmanaged, chars, 0, chars.Length);
                return Encoding.UTF8.GetBytes(chars);
            }
            finally
            {
                Array.Clear(chars, 0, chars.Length);
                if (unmanaged != IntPtr.Zero)
                    Marshal.ZeroFreeGlobalAllocUnicode(unmanaged);
            }
        }

        private void ReleaseSecret()
        {
            lock (_secretBytes)
                Array.Clear(_secretBytes, 0, _secretBytes.Length);
            _secret.Dispose();
        }
    }

    /// <summary>Counts events over the last second; thread-safe.</summary>
    internal sealed class SlidingCounter
    {
        private readonly Queue<long> _times = new Queue<long>();

        /// <summary>Records an event unless <paramref name="limit"/> events already happened in the last second (limit 0: no limit).</summary>
        internal bool TryTake(int limit)
        {
            if (limit <= 0) return true;
            long now = System.Diagnostics.Stopwatch.GetTimestamp();
            long oneSecond = System.Diagnostics.Stopwatch.Frequency;
            lock (_times)
            {
                while (_times.Count > 0 && now - _times.Peek() >= oneSecond) _times.Dequeue();
                if (_times.Count >= limit) return false;
                _times.Enqueue(now);
                return true;
            }
        }
    }
}
