using System;
using System.Buffers;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Errors;
using Qfex.Protocol;
using Qfex.Transport;

namespace Qfex
{
    public enum QfexSessionState
    {
        Connecting,
        Open,
        Reconnecting,
        Closed,
    }

    /// <summary>
    /// A connection to the exchange that outlives its sockets: a background receive loop feeds one
    /// in-order buffer; sends are serialized (ClientWebSocket allows one at a time) and throttled; an
    /// unexpected drop is followed by a reconnect that re-authenticates and restores subscriptions.
    /// Safe to share between threads and runspaces. It shows no secret.
    /// </summary>
    public sealed class QfexSession
    {
        internal const int DefaultBufferCapacity = 25_000;
        internal const int DefaultMaxFrameBytes = 4 * 1024 * 1024;
        internal const string ReconnectedType = "qfex.reconnected";

        private static int s_lastId;

        private readonly SessionOptions _options;
        private readonly SemaphoreSlim _sendLock = new SemaphoreSlim(1, 1);
        // Serialises sequence numbering with buffering, so frames from a new socket's loop and the
        // reconnect notice never overtake each other. Uncontended in the steady state.
        private readonly object _deliverGate = new object();
        private readonly object _gate = new object();
        private readonly List<InternalWaiter> _waiters = new List<InternalWaiter>();
        private readonly List<AnswerWaiter> _answerWaiters = new List<AnswerWaiter>();
        private readonly SortedSet<string> _subscriptions = new SortedSet<string>(StringComparer.Ordinal);
        // What Connect-Qfex was asked to subscribe to, kept until the exchange says otherwise, so a drop
        // before an acknowledgement still restores it.
        private readonly SortedSet<string> _wanted = new SortedSet<string>(StringComparer.Ordinal);
        private readonly ConcurrentQueue<string> _log = new ConcurrentQueue<string>();
        private readonly RequestThrottle? _throttle;
        private readonly CancellationTokenSource _lifetime = new CancellationTokenSource();
        private ClientWebSocket? _socket;
        private Task _receiveLoop = Task.CompletedTask;
        private long _sequence;
        private long _lastActivity = Stopwatch.GetTimestamp();
        private volatile int _waiterCount;
        private volatile int _answerWaiterCount;
        private volatile QfexSessionState _state = QfexSessionState.Connecting;
        private volatile string? _closingBecause;
        private int _reconnects;
        // Which socket a user send was admitted for: a send admitted before a drop must not go out
        // on the reconnected socket after its -Wait was told "not sent again".
        private volatile int _generation;
        private Task<FrameContent>? _probe;
        private long _probeSentAt;

        internal QfexSession(SessionOptions options)
        {
            _options = options;
            Id = Interlocked.Increment(ref s_lastId);
            Buffer = new FrameBuffer(options.BufferCapacity);
            if (options.WeightPerSecond > 0)
                _throttle = new RequestThrottle(options.WeightPerSecond * options.RateLimitWindow.TotalSeconds, options.RateLimitWindow, options.WeightOverrides);
        }

        public int Id { get; }
        public Uri Uri => _options.Uri;
        public QfexEndpoint Endpoint => _options.Endpoint;
        public Guid? AccountId => _options.AccountId;
        public QfexSessionState State => _state;
        public bool IsAuthenticated { get; private set; }
        public DateTime ConnectedAt { get; private set; }

        /// <summary>Frames delivered so far: the last Sequence handed out.</summary>
        public long FramesReceived => Interlocked.Read(ref _sequence);

        /// <summary>Frames waiting in the receive buffer (at most its capacity: then the socket is not read).</summary>
        public int FramesPending => Buffer.Count;

        public string[] Subscriptions
        {
            get { lock (_gate) return _subscriptions.ToArray(); }
        }

        /// <summary>Successful reconnects after unexpected drops.</summary>
        public int Reconnects => Volatile.Read(ref _reconnects);

        /// <summary>Why the session closed (close status and reason, or the transport error), once Closed.</summary>
        public string? CloseReason { get; private set; }

        internal FrameBuffer Buffer { get; }

        internal int MaxFrameBytes => _options.MaxFrameBytes;

        public override string ToString() => $"QfexSession {Id} {State} {Uri}";

        /// <summary>Background events (reconnects, probes), for the next cmdlet to write as Verbose from the pipeline thread.</summary>
        internal IEnumerable<string> DrainLog()
        {
            while (_log.TryDequeue(out string? line)) yield return line;
        }

        private void Log(string line)
        {
            // Bounded: a session nobody reads from must not grow without limit.
            if (_log.Count < 1000) _log.Enqueue($"[{DateTime.UtcNow:HH:mm:ss.fff}] Session {Id}: {line}");
        }

        // ------------------------------------------------------------------ connecting

        /// <summary>First connection: socket, auth, subscriptions. Throws a QfexException on failure.</summary>
        internal async Task StartAsync(Action<string> log, CancellationToken cancellationToken)
        {
            ClientWebSocket socket = await ConnectOnceAsync(restoring: false, null, log, cancellationToken).ConfigureAwait(false);
            ConnectedAt = DateTime.UtcNow;
            if (!TryOpen(QfexSessionState.Connecting, socket))
                throw ClosedException(CloseReason ?? "The connection closed while it was being set up.");
            if (_options.IdleTimeout > TimeSpan.Zero)
                _ = Task.Run(IdleWatchdogAsync);
        }

        /// <summary>
        /// Connecting/Reconnecting to Open, only if nothing closed the session meanwhile and the socket
        /// is still up; a socket that died in between is handled as the drop it is.
        /// </summary>
        private bool TryOpen(QfexSessionState from, ClientWebSocket socket)
        {
            lock (_gate)
            {
                if (_state != from) return false;
                _state = QfexSessionState.Open;
            }
            if (socket.State != WebSocketState.Open)
                OnSocketEnded(socket, "The connection dropped as it opened.");
            return true;
        }

        /// <summary>Connects, authenticates and (re)subscribes; <paramref name="notice"/> is delivered right after a reconnect's re-auth.</summary>
        private async Task<ClientWebSocket> ConnectOnceAsync(bool restoring, Func<Task>? notice, Action<string> log, CancellationToken userToken)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(userToken, _lifetime.Token);
            timeout.CancelAfter(_options.Timeout);
            var socket = new ClientWebSocket();
            ConfigureKeepAlive(socket);
            if (RuntimeInfo.IsNetFramework)
            {
                // On .NET Framework each WebSocket holds one of the host's HttpWebRequest connections
                // (two by default): raise the limit for this host only, or a third session would hang.
                var http = new UriBuilder(Uri) { Scheme = Uri.Scheme == "wss" ? "https" : "http" }.Uri;
                System.Net.ServicePoint point = System.Net.ServicePointManager.FindServicePoint(http);
                if (point.ConnectionLimit < 64) point.ConnectionLimit = 64;
            }
            log($"Connecting to {Uri} ({Endpoint}).");
            try
            {
                await socket.ConnectAsync(Uri, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!userToken.IsCancellationRequested)
            {
                socket.Dispose();
                throw new QfexTimeoutException(ErrorIds.Timeout, $"Connecting to {Uri} did not complete within {_options.Timeout.TotalSeconds:0.###} s.");
            }
            catch (Exception e) when (e is WebSocketException || e is System.Net.Http.HttpRequestException || e is System.IO.IOException || e is System.Net.Sockets.SocketException)
            {
                socket.Dispose();
                throw new QfexConnectionException(ErrorIds.ConnectFailed, $"Could not connect to {Uri}: {Describe(e)}", e);
            }

            lock (_gate)
            {
                _socket = socket;
                _generation++;
            }
            Touch();
            _receiveLoop = Task.Run(() => ReceiveLoopAsync(socket));
            log($"Connected to {Uri}.");

            if (Endpoint == QfexEndpoint.Trade && _options.Credentials != null)
                await AuthenticateAsync(log, timeout.Token, userToken).ConfigureAwait(false);
            // The notice goes before the restored subscriptions, so their acknowledgements follow it.
            if (notice != null) await notice().ConfigureAwait(false);
            await SubscribeAsync(restoring, log, timeout.Token).ConfigureAwait(false);
            return socket;
        }

        /// <summary>
        /// Keep-alive frames keep NATs and proxies from dropping a quiet socket. The runtime's own dead-peer
        /// detection (.NET 9+ KeepAliveTimeout) is deliberately not used: while the buffer is full the socket
        /// is not read, so a pong waits behind unread frames and the runtime would abort a healthy
        /// connection. The idle watchdog, which knows about backpressure, detects half-open sockets instead.
        /// </summary>
        private static void ConfigureKeepAlive(ClientWebSocket socket) =>
            socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(15);

        private async Task AuthenticateAsync(Action<string> log, CancellationToken timeoutToken, CancellationToken userToken)
        {
            // Claim the answer before asking: a fast server can answer before we start waiting.
            Task<FrameContent> answer = ClaimNext(IsAuthAnswer);
            try
            {
                QfexCredentials credentials = _options.Credentials!;
                log(credentials.Jwt != null
                    ? "Authenticating with a JWT."
                    : $"Authenticating with HMAC for public key {credentials.PublicKey}" + (AccountId.HasValue ? $", account {AccountId}." : "."));
                await SendRawAsync(credentials.BuildAuthMessage(AccountId), timeoutToken).ConfigureAwait(false);

                FrameContent frame = await answer.WaitAsync(timeoutToken).ConfigureAwait(false);
                if (frame.Error != null)
                    throw new QfexAuthenticationException(
                        $"The exchange refused authentication: {frame.Error.Code}{(frame.Error.Message == null ? "" : ": " + frame.Error.Message)}", frame.Error.Code);
                if (!IsAuthSuccess(frame))
                    throw new QfexAuthenticationException("The exchange refused authentication (authenticated: false).");
                IsAuthenticated = true;
                log("Authenticated.");
            }
            catch (OperationCanceledException) when (!userToken.IsCancellationRequested)
            {
                if (_state == QfexSessionState.Closed)
                    throw new QfexAuthenticationException("The connection closed during authentication. " + CloseReason);
                // The contract: no confirmation means authentication failed; the timeout is the inner cause.
                throw new QfexAuthenticationException(
                    $"The exchange did not confirm authentication within {_options.Timeout.TotalSeconds:0.###} s.", null,
                    new QfexTimeoutException(ErrorIds.Timeout, "Authentication was not confirmed in time."));
            }
            catch (QfexConnectionException e)
            {
                throw new QfexAuthenticationException("The connection closed during authentication. " + e.Message, null, e);
            }
            finally
            {
                CancelClaim(answer);
            }
        }

        private async Task SubscribeAsync(bool restoring, Action<string> log, CancellationToken token)
        {
            IEnumerable<string> messages = restoring ? RestoreMessages() : InitialMessages();
            foreach (string message in messages)
                await SendRawAsync(message, token).ConfigureAwait(false);

            if (_options.CancelOnDisconnect && Endpoint == QfexEndpoint.Trade)
            {
                log("Enabling cancel-on-disconnect: if this connection drops, the exchange cancels every open order of the account.");
                await SendRawAsync(PSJson.Serialize(new Dictionary<string, object>
                {
                    ["type"] = "cancel_on_disconnect",
                    ["params"] = new Dictionary<string, object> { ["cancel_on_disconnect"] = true },
                }), token).ConfigureAwait(false);
            }

            // The trade socket documents its acknowledgements; the market-data socket does not (protocol doc §7.1).
            if (!restoring && _options.Subscribe.Count > 0 && Endpoint == QfexEndpoint.Trade)
                await WaitForSubscriptionsAsync(log, token).ConfigureAwait(false);

            IEnumerable<string> InitialMessages()
            {
                if (_options.Subscribe.Count == 0) yield break;
                string[] channels = _options.Subscribe.Distinct(StringComparer.Ordinal).ToArray();
                lock (_gate)
                    foreach (string key in SubscriptionKeys(channels, _options.Symbols)) _wanted.Add(key);
                log($"Subscribing to {string.Join(", ", channels)}" + (Endpoint == QfexEndpoint.MarketData ? $" for {string.Join(", ", _options.Symbols)}." : "."));
                yield return SubscribeMessage(channels, _options.Symbols);
            }

            IEnumerable<string> RestoreMessages()
            {
                string[] current;
                lock (_gate) current = _subscriptions.Union(_wanted).Distinct().OrderBy(c => c, StringComparer.Ordinal).ToArray();
                if (current.Length == 0) yield break;
                log($"Restoring subscriptions: {string.Join(", ", current)}.");
                if (Endpoint == QfexEndpoint.Trade)
                {
                    yield return SubscribeMessage(current, Array.Empty<string>());
                    yield break;
                }
                // Market data subscriptions are tracked as channel:symbol.
                foreach (var channel in current.Select(s => s.Split(new[] { ':' }, 2)).GroupBy(p => p[0]))
                    yield return SubscribeMessage(new[] { channel.Key }, channel.Select(p => p.Length > 1 ? p[1] : "*").ToArray());
            }
        }

        private bool HasSubscriptions
        {
            get { lock (_gate) return _subscriptions.Count > 0 || _wanted.Count > 0; }
        }

        /// <summary>How subscriptions are tracked: channel (trade) or channel:symbol (market data).</summary>
        private IEnumerable<string> SubscriptionKeys(IEnumerable<string> channels, IReadOnlyList<string> symbols) =>
            Endpoint == QfexEndpoint.MarketData ? channels.SelectMany(c => symbols.Select(s => c + ":" + s)) : channels;

        /// <summary>
        /// Connect-Qfex returns with Subscriptions showing what the exchange confirmed. The confirmations
        /// stay in the stream as frames; an unconfirmed channel is reported, not fatal.
        /// </summary>
        private async Task WaitForSubscriptionsAsync(Action<string> log, CancellationToken token)
        {
            string[] wanted;
            lock (_gate) wanted = _wanted.ToArray();
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(5))
            {
                string[] current = Subscriptions;
                if (wanted.All(w => Array.IndexOf(current, w) >= 0)) return;
                try
                {
                    await Task.Delay(10, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            string[] missing = wanted.Except(Subscriptions).ToArray();
            if (missing.Length > 0)
                log($"The exchange has not confirmed {string.Join(", ", missing)} yet; see the session's frames for its answer.");
        }

        /// <summary>Trade: params.channels. Market data: top-level channels and symbols (protocol doc §7.1).</summary>
        private string SubscribeMessage(IReadOnlyList<string> channels, IReadOnlyList<string> symbols) =>
            Endpoint == QfexEndpoint.MarketData
                ? PSJson.Serialize(new Dictionary<string, object> { ["type"] = "subscribe", ["channels"] = channels, ["symbols"] = symbols })
                : PSJson.Serialize(new Dictionary<string, object> { ["type"] = "subscribe", ["params"] = new Dictionary<string, object> { ["channels"] = channels } });

        /// <summary>The auth answer: {"authenticated":bool}, the 2025 {"type":"auth","result":..}, or any error frame before auth.</summary>
        internal static bool IsAuthAnswer(FrameContent frame) =>
            frame.Error != null || frame.Type == "authenticated" || frame.Type == "auth";

        private static bool IsAuthSuccess(FrameContent frame)
        {
            try
            {
                using JsonDocument doc = JsonDocument.Parse(frame.Raw);
                JsonElement root = doc.RootElement;
                if (root.TryGetProperty("authenticated", out JsonElement a))
                    return a.ValueKind == JsonValueKind.True;
                return string.Equals(PSJson.GetString(root, "result"), "success", StringComparison.OrdinalIgnoreCase);
            }
            catch (JsonException)
            {
                return false;
            }
        }

        // ------------------------------------------------------------------ sending

        /// <summary>Sends a user request: throttled by its weight (waiting with a note in <paramref name="onThrottle"/>), then sent.</summary>
        internal async Task SendAsync(string type, string json, Action<string> onThrottle, CancellationToken cancellationToken)
        {
            int generation = _generation;
            if (_state != QfexSessionState.Open)
                throw NotOpenException();
            if (type == ProbeType) CancelProbe();   // the user's own leverage query: its answer is the user's
            if (_throttle != null)
            {
                try
                {
                    await _throttle.AcquireAsync(type, onThrottle, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is ObjectDisposedException || e is InvalidOperationException)
                {
                    throw NotOpenException();   // the session closed while the request waited for its turn
                }
            }
            await SendRawAsync(json, cancellationToken, generation).ConfigureAwait(false);
        }

        /// <summary>
        /// Sends one text message on the current socket; sends are serialized. With a generation (user
        /// requests) only while the session is Open on the socket the request was admitted for.
        /// </summary>
        private async Task SendRawAsync(string json, CancellationToken cancellationToken, int? generation = null)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(json);
            // Ctrl+C may cancel the wait for our turn, never a send in progress (that would abort the socket).
            await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                ClientWebSocket? socket = _socket;
                if (socket == null || socket.State != WebSocketState.Open || _state == QfexSessionState.Closed
                    || (generation.HasValue && (_state != QfexSessionState.Open || _generation != generation.Value)))
                    throw NotOpenException();
                await socket.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException || e is ObjectDisposedException || e is InvalidOperationException)
            {
                throw ClosedException("The message could not be sent: " + e.Message, e);
            }
            finally
            {
                _sendLock.Release();
            }
        }

        private QfexConnectionException NotOpenException() => _state == QfexSessionState.Reconnecting
            ? ClosedException("The connection dropped and the session is reconnecting; nothing was sent. Send again once State is Open (a qfex.reconnected frame says when).")
            : ClosedException(CloseReason ?? "The session is not open.");

        internal QfexConnectionException ClosedException(string message, Exception? inner = null) =>
            new QfexConnectionException(ErrorIds.ConnectionClosed, $"Session {Id} ({Uri}): {message}", inner);


        // ------------------------------------------------------------------ waiting for answers

        /// <summary>
        /// Registers a waiter that takes the first frame it matches before that frame gets a sequence
        /// number or reaches the buffer (the answer to a request the module made itself, such as auth).
        /// Register before sending the request: an answer can beat the code that waits for it.
        /// </summary>
        internal Task<FrameContent> ClaimNext(Func<FrameContent, bool> match)
        {
            var waiter = new InternalWaiter(match);
            lock (_gate)
            {
                _waiters.Add(waiter);
                _waiterCount = _waiters.Count;
            }
            return waiter.Completion.Task;
        }

        internal void CancelClaim(Task<FrameContent> claim)
        {
            lock (_gate)
            {
                _waiters.RemoveAll(w => w.Completion.Task == claim);
                _waiterCount = _waiters.Count;
            }
        }

        /// <summary>
        /// Registers a wait for the frame that answers a request (Send-QfexMessage -Wait). Unlike
        /// <see cref="ClaimNext"/> the answer keeps its sequence number; frames that do not match stay
        /// in the buffer, in order. Register before sending. A dropped connection fails the wait.
        /// </summary>
        internal Task<QfexFrame> WaitForAnswer(Func<QfexFrame, bool> match)
        {
            var waiter = new AnswerWaiter(match);
            lock (_gate)
            {
                if (_state != QfexSessionState.Open)
                    waiter.Completion.TrySetException(NotOpenException());
                else
                {
                    _answerWaiters.Add(waiter);
                    _answerWaiterCount = _answerWaiters.Count;
                }
            }
            Buffer.AllowOverflow(_answerWaiterCount > 0);
            return waiter.Completion.Task;
        }

        /// <summary>Stops waiting; false when the answer was already matched (then its task holds it).</summary>
        internal bool CancelAnswer(Task<QfexFrame> answer)
        {
            lock (_gate)
            {
                int removed = _answerWaiters.RemoveAll(w => w.Completion.Task == answer);
                _answerWaiterCount = _answerWaiters.Count;
                Buffer.AllowOverflow(_answerWaiterCount > 0);
                return removed > 0;
            }
        }

        // ------------------------------------------------------------------ receiving

        private async Task ReceiveLoopAsync(ClientWebSocket socket)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
            var contents = new List<FrameContent>(1);
            int count = 0;
            bool oversized = false;
            string closeReason = "The server closed the connection.";
            try
            {
                while (true)
                {
                    int limit = Math.Min(buffer.Length, MaxFrameBytes);
                    if (count == limit)
                    {
                        if (limit >= MaxFrameBytes)
                        {
                            // Over the limit: keep reading to the end of this message, but keep none of it.
                            oversized = true;
                            count = 0;
                        }
                        else
                        {
                            byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, MaxFrameBytes));
                            System.Buffer.BlockCopy(buffer, 0, bigger, 0, count);
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = bigger;
                            limit = Math.Min(buffer.Length, MaxFrameBytes);
                        }
                    }

                    // Never cancelled (see SocketReceiver): cancelling a ClientWebSocket receive aborts the socket.
                    if (!SocketReceiver.TryReceive(socket, buffer, count, limit - count, out ReceivedChunk result, out Task? pending))
                    {
                        // About to wait for the network: hand the burst's staged frames to the readers now.
                        FlushStaged();
                        await pending!.ConfigureAwait(false);
                        result = SocketReceiver.ResultOf(pending);
                    }
                    Touch();

                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        await AnswerCloseAsync(socket).ConfigureAwait(false);
                        closeReason = $"The server closed the connection ({(int?)socket.CloseStatus} {socket.CloseStatus}{(string.IsNullOrEmpty(socket.CloseStatusDescription) ? "" : ": " + socket.CloseStatusDescription)}).";
                        break;
                    }

                    count += result.Count;
                    if (!result.EndOfMessage) continue;

                    DateTime receivedAt = DateTime.UtcNow;
                    contents.Clear();
                    if (oversized)
                        contents.Add(FrameReader.TooLarge(MaxFrameBytes));
                    else if (result.MessageType == WebSocketMessageType.Binary)
                        contents.Add(FrameReader.ReadBinary(new ReadOnlySpan<byte>(buffer, 0, count)));
                    else
                        FrameReader.ReadText(new ReadOnlySpan<byte>(buffer, 0, count), contents);
                    count = 0;
                    oversized = false;

                    foreach (FrameContent content in contents)
                        await DeliverAsync(content, receivedAt, stage: true).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is WebSocketException || e is ObjectDisposedException || e is OperationCanceledException || e is InvalidOperationException)
            {
                closeReason = "The connection was lost: " + Describe(e);
                if (e is WebSocketException { WebSocketErrorCode: WebSocketError.Faulted } || socket.CloseStatus == WebSocketCloseStatus.InvalidPayloadData)
                {
                    // .NET fails the connection on a frame that breaks RFC 6455 (text that is not UTF-8, a bad
                    // header) before we can read it; say so in the stream rather than lose the frame silently.
                    closeReason = "The server sent a frame the WebSocket layer rejected (for example text that is not valid UTF-8), so it failed the connection.";
                    await DeliverAsync(new FrameContent(FrameReader.MalformedType, string.Empty, null,
                        closeReason + " That frame, and any sent after it on that connection, could not be read."), DateTime.UtcNow).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (!(e is OutOfMemoryException))
            {
                // A fault in the module's own code ends this socket like a lost connection, and says so (in the
                // session's log and CloseReason) instead of ending the loop silently behind a wrong reason.
                closeReason = $"The receive loop failed ({e.GetType().FullName}: {e.Message}); the connection was dropped.";
            }
            finally
            {
                FlushStaged();   // nothing received is lost with the socket
                ArrayPool<byte>.Shared.Return(buffer);
                socket.Dispose();
                OnSocketEnded(socket, closeReason);
            }
        }

        /// <summary>
        /// Completes the close handshake the server started. .NET (Core) answers by itself; .NET Framework
        /// leaves the socket in CloseReceived until we do.
        /// </summary>
        private async Task AnswerCloseAsync(ClientWebSocket socket)
        {
            if (socket.State != WebSocketState.CloseReceived) return;
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await _sendLock.WaitAsync(cts.Token).ConfigureAwait(false);
                try
                {
                    if (socket.State == WebSocketState.CloseReceived)
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, string.Empty, cts.Token).ConfigureAwait(false);
                }
                finally
                {
                    _sendLock.Release();
                }
            }
            catch (Exception e) when (e is WebSocketException || e is OperationCanceledException || e is ObjectDisposedException || e is InvalidOperationException)
            {
                // The socket is going away either way.
            }
        }

        private void Touch() => Interlocked.Exchange(ref _lastActivity, Stopwatch.GetTimestamp());

        private TimeSpan SinceActivity =>
            TimeSpan.FromSeconds((Stopwatch.GetTimestamp() - Interlocked.Read(ref _lastActivity)) / (double)Stopwatch.Frequency);

        /// <summary>
        /// Numbers a received frame and hands it over: to an internal waiter (auth and subscription answers,
        /// never numbered), to a -Wait waiting for it, or to the buffer. With <paramref name="stage"/> (the
        /// receive loop) a frame may be staged instead: a burst is numbered and buffered in one lock per
        /// <see cref="StageBatch"/> frames, or as soon as the socket has nothing more (the loop flushes
        /// before it waits on the network), so readers and the loop do not contend frame by frame. Staging
        /// stops short of the buffer's capacity, so flushing never overfills it.
        /// </summary>
        private async Task DeliverAsync(FrameContent content, DateTime receivedAt, bool force = false, bool stage = false)
        {
            if (_waiterCount > 0 && TryClaim(content)) return;

            QfexFrame? numbered = null;
            if (_answerWaiterCount > 0)
            {
                // An answer someone waits for is handed over even when the buffer is full; what arrived
                // before it is numbered and buffered first, so sequence numbers stay in arrival order.
                lock (_deliverGate)
                {
                    FlushStagedLocked();
                    numbered = Number(content, receivedAt);
                    if (TryAnswer(numbered)) return;
                }
            }

            if (stage && numbered == null && Buffer.CountHint + _staged.Count + 1 < Buffer.Capacity)
            {
                lock (_deliverGate)
                {
                    _staged.Add(new StagedFrame(content, receivedAt));
                    if (_staged.Count >= StageBatch) FlushStagedLocked();
                }
                return;
            }

            // Room next (the loop parks here when the buffer is full: TCP backpressure), then store.
            if (!force)
            {
                FlushStaged();
                Task room = Buffer.WaitForRoomAsync();
                if (!room.IsCompleted) await room.ConfigureAwait(false);
            }
            lock (_deliverGate)
            {
                FlushStagedLocked();
                Buffer.Add(numbered ?? Number(content, receivedAt));
            }
        }

        private const int StageBatch = 64;

        private readonly struct StagedFrame
        {
            internal StagedFrame(FrameContent content, DateTime receivedAt)
            {
                Content = content;
                ReceivedAt = receivedAt;
            }

            internal FrameContent Content { get; }
            internal DateTime ReceivedAt { get; }
        }

        // Only the receive loop stages; any thread may flush (under _deliverGate).
        private readonly List<StagedFrame> _staged = new List<StagedFrame>(StageBatch);
        private readonly List<QfexFrame> _flushing = new List<QfexFrame>(StageBatch);

        private void FlushStaged()
        {
            if (_staged.Count == 0) return;
            lock (_deliverGate) FlushStagedLocked();
        }

        private void FlushStagedLocked()
        {
            if (_staged.Count == 0) return;
            foreach (StagedFrame staged in _staged) _flushing.Add(Number(staged.Content, staged.ReceivedAt));
            _staged.Clear();
            Buffer.AddRange(_flushing);
            _flushing.Clear();
        }

        /// <summary>The next sequence number, and Subscriptions kept true to it. Under _deliverGate: numbers follow arrival order.</summary>
        private QfexFrame Number(FrameContent content, DateTime receivedAt)
        {
            QfexFrame frame = content.ToFrame(Interlocked.Increment(ref _sequence), receivedAt, Id);
            TrackSubscription(frame);
            return frame;
        }

        /// <summary>
        /// Puts back a frame that was taken but never handed to the user (a -Wait stopped just as its answer
        /// arrived), after whatever is staged, so the buffer keeps sequence order.
        /// </summary>
        internal void ReturnFrame(QfexFrame frame)
        {
            lock (_deliverGate)
            {
                FlushStagedLocked();
                Buffer.Return(frame);
            }
        }

        private bool TryClaim(FrameContent content)
        {
            InternalWaiter? taker;
            lock (_gate)
            {
                taker = _waiters.Find(w => w.Match(content));
                if (taker != null)
                {
                    _waiters.Remove(taker);
                    _waiterCount = _waiters.Count;
                }
            }
            return taker != null && taker.Completion.TrySetResult(content);
        }

        private bool TryAnswer(QfexFrame frame)
        {
            AnswerWaiter? taker;
            lock (_gate)
            {
                taker = _answerWaiters.Find(w => w.Match(frame));
                if (taker != null)
                {
                    _answerWaiters.Remove(taker);
                    _answerWaiterCount = _answerWaiters.Count;
                }
            }
            return taker != null && taker.Completion.TrySetResult(frame);
        }

        /// <summary>Keeps Subscriptions true to what the server acknowledged.</summary>
        private void TrackSubscription(QfexFrame frame)
        {
            bool subscribed = frame.Type == "subscribed";
            if (!subscribed && frame.Type != "unsubscribed") return;
            foreach (string channel in SubscriptionAck.Channels(frame.Utf8, frame.Type))
                lock (_gate)
                {
                    if (subscribed) _subscriptions.Add(channel);
                    else
                    {
                        _subscriptions.Remove(channel);
                        _wanted.Remove(channel);
                    }
                }
        }

        // ------------------------------------------------------------------ drops, reconnects, closing

        private void OnSocketEnded(ClientWebSocket socket, string reason)
        {
            lock (_gate)
            {
                if (!ReferenceEquals(socket, _socket)) return;   // an old socket of a session that already moved on
            }

            if (_state == QfexSessionState.Reconnecting)
            {
                // A reconnect attempt's socket died: whatever waited on it fails, and the reconnect loop tries again.
                FailWaiters(ClosedException(reason));
                return;
            }

            bool reconnect = _closingBecause == null && _options.Reconnect && _state == QfexSessionState.Open;
            if (!reconnect)
            {
                MarkClosed(_closingBecause ?? reason);
                return;
            }

            _state = QfexSessionState.Reconnecting;
            IsAuthenticated = false;
            Log($"Connection lost ({reason}) Reconnecting.");
            FailWaiters(ClosedException(reason + " The request may or may not have reached the exchange; it is not sent again: check before resending."));
            _ = Task.Run(() => ReconnectLoopAsync(reason));
        }

        private async Task ReconnectLoopAsync(string reason)
        {
            TimeSpan delay = _options.ReconnectBaseDelay;
            var random = new Random();
            string lastError = reason;
            for (int attempt = 1; attempt <= _options.MaxReconnectAttempts; attempt++)
            {
                // Full jitter around the backoff, so many clients do not reconnect in step.
                TimeSpan wait = TimeSpan.FromMilliseconds(delay.TotalMilliseconds * (0.5 + random.NextDouble()));
                try
                {
                    await Task.Delay(wait, _lifetime.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                if (_closingBecause != null) return;

                try
                {
                    Log($"Reconnect attempt {attempt} of {_options.MaxReconnectAttempts}.");
                    int count = 0;
                    ClientWebSocket socket = await ConnectOnceAsync(restoring: true,
                        () => DeliverNoticeAsync(count = Interlocked.Increment(ref _reconnects), reason), Log, _lifetime.Token).ConfigureAwait(false);
                    ConnectedAt = DateTime.UtcNow;
                    if (!TryOpen(QfexSessionState.Reconnecting, socket)) return;   // disconnected meanwhile
                    Log($"Reconnected (reconnect {count}).");
                    return;
                }
                catch (Exception e) when (e is QfexException || e is OperationCanceledException)
                {
                    lastError = e.Message;
                    Log($"Reconnect attempt {attempt} failed: {e.Message}");
                    ClientWebSocket? failed;
                    lock (_gate) failed = _socket;
                    failed?.Abort();
                    if (_closingBecause != null) return;
                }
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, _options.ReconnectMaxDelay.TotalMilliseconds));
            }
            MarkClosed($"Gave up reconnecting after {_options.MaxReconnectAttempts} attempts. First drop: {reason} Last error: {lastError}");
        }

        /// <summary>A frame of type qfex.reconnected, in sequence, so scripts reading the stream can react.</summary>
        private async Task DeliverNoticeAsync(int reconnects, string reason)
        {
            string raw = PSJson.Serialize(new Dictionary<string, object>
            {
                ["type"] = ReconnectedType,
                ["reconnects"] = reconnects,
                ["reason"] = reason,
                ["subscriptions"] = Subscriptions,
                ["cancel_on_disconnect"] = _options.CancelOnDisconnect,
            });
            // Past the capacity if need be (by one frame): a full buffer must not hold the reconnect up.
            await DeliverAsync(new FrameContent(ReconnectedType, raw, null, null), DateTime.UtcNow, force: true).ConfigureAwait(false);
        }

        /// <summary>
        /// Watches for silence. The built-in keep-alive cannot see a dead server, so after half the idle
        /// timeout without a frame a trade session sends a cheap read-only probe (weight 0.1) and takes its
        /// answer itself; after the whole timeout without any frame the socket is aborted (then reconnects).
        /// </summary>
        private async Task IdleWatchdogAsync()
        {
            TimeSpan timeout = _options.IdleTimeout;
            TimeSpan tick = TimeSpan.FromMilliseconds(Math.Max(50, timeout.TotalMilliseconds / 8));
            while (!_lifetime.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(tick, _lifetime.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                if (_state != QfexSessionState.Open) continue;
                if (Endpoint == QfexEndpoint.MarketData && !HasSubscriptions) continue;   // nothing is due: silence is normal
                if (Buffer.IsFull)
                {
                    // Our own backpressure, not a dead server: the socket is simply not being read.
                    Touch();
                    continue;
                }

                // A probe unanswered for a whole timeout gives up its claim: a later answer is the user's.
                Task<FrameContent>? probe = _probe;
                if (probe != null && (probe.IsCompleted || Elapsed(Interlocked.Read(ref _probeSentAt)) >= timeout))
                    CancelProbe();

                TimeSpan silent = SinceActivity;
                if (silent >= timeout)
                {
                    ClientWebSocket? socket;
                    lock (_gate) socket = _socket;
                    Log($"No frame for {silent.TotalSeconds:0.#} s: the connection is presumed dead (half-open); aborting it.");
                    CancelProbe();
                    socket?.Abort();
                    continue;
                }

                if (silent >= TimeSpan.FromTicks(timeout.Ticks / 2) && _probe == null && Endpoint == QfexEndpoint.Trade && IsAuthenticated
                    && _answerWaiterCount == 0)
                {
                    Task<FrameContent> claim = ClaimNext(IsProbeAnswer);
                    _probe = claim;
                    Interlocked.Exchange(ref _probeSentAt, Stopwatch.GetTimestamp());
                    try
                    {
                        // The probe counts against the rate limit like any request.
                        if (_throttle != null)
                            await _throttle.AcquireAsync(ProbeType, Log, _lifetime.Token).ConfigureAwait(false);
                        await SendRawAsync(ProbeMessage, _lifetime.Token, _generation).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is QfexException || e is OperationCanceledException || e is ObjectDisposedException || e is InvalidOperationException)
                    {
                        CancelProbe();
                    }
                }
            }
        }

        private void CancelProbe()
        {
            Task<FrameContent>? probe = Interlocked.Exchange(ref _probe, null);
            if (probe != null) CancelClaim(probe);
        }

        private static TimeSpan Elapsed(long since) =>
            TimeSpan.FromSeconds((Stopwatch.GetTimestamp() - since) / (double)Stopwatch.Frequency);

        private const string ProbeType = "get_user_leverage";

        private const string ProbeMessage = "{\"type\":\"get_user_leverage\",\"params\":{\"limit\":1,\"offset\":0}}";

        private static bool IsProbeAnswer(FrameContent frame) =>
            frame.Type == "user_leverage_response"
            || frame.Error?.IncomingType == ProbeType;

        /// <summary>Closes cleanly: sends a close frame, waits for the server's, aborts after the timeout. No reconnect follows.</summary>
        internal async Task CloseAsync(string reason, TimeSpan timeout)
        {
            _closingBecause ??= "Closed by " + reason + ".";
            _lifetime.Cancel();
            ClientWebSocket? socket;
            lock (_gate) socket = _socket;
            if (socket == null || _state == QfexSessionState.Closed)
            {
                MarkClosed(_closingBecause);
                return;
            }

            try
            {
                using var cts = new CancellationTokenSource(timeout);
                await _sendLock.WaitAsync(cts.Token).ConfigureAwait(false);
                try
                {
                    if (socket.State == WebSocketState.Open || socket.State == WebSocketState.CloseReceived)
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, reason, cts.Token).ConfigureAwait(false);
                }
                finally
                {
                    _sendLock.Release();
                }
                await Task.WhenAny(_receiveLoop, Task.Delay(timeout)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException || e is OperationCanceledException || e is ObjectDisposedException || e is InvalidOperationException)
            {
                // Falls through to the abort: a close that cannot be said politely is still a close.
            }
            finally
            {
                if (!_receiveLoop.IsCompleted) socket.Abort();
                MarkClosed(_closingBecause);
            }
        }

        private void FailWaiters(Exception error)
        {
            InternalWaiter[] waiters;
            AnswerWaiter[] answerWaiters;
            lock (_gate)
            {
                waiters = _waiters.ToArray();
                _waiters.Clear();
                _waiterCount = 0;
                answerWaiters = _answerWaiters.ToArray();
                _answerWaiters.Clear();
                _answerWaiterCount = 0;
            }
            foreach (InternalWaiter waiter in waiters) waiter.Completion.TrySetException(error);
            foreach (AnswerWaiter waiter in answerWaiters) waiter.Completion.TrySetException(error);
        }

        private void MarkClosed(string reason)
        {
            lock (_gate)
            {
                if (_state == QfexSessionState.Closed) return;
                _state = QfexSessionState.Closed;
                CloseReason = reason;
            }
            // Waiters first: a connect in progress must see "closed", not the cancellation of its timeout.
            FailWaiters(ClosedException(reason));
            _lifetime.Cancel();
            // A session the server dropped stays registered (and default) until Disconnect-Qfex, so the
            // user's next command says "connection closed" instead of "no session" and its buffered
            // frames can still be received.
            Buffer.Complete();
            _throttle?.Dispose();
        }

        private static string Describe(Exception e)
        {
            string message = e.Message;
            for (Exception? inner = e.InnerException; inner != null; inner = inner.InnerException)
                if (!message.Contains(inner.Message)) message += " " + inner.Message;
            return message;
        }

        private sealed class InternalWaiter
        {
            internal InternalWaiter(Func<FrameContent, bool> match) => Match = match;

            internal Func<FrameContent, bool> Match { get; }

            internal TaskCompletionSource<FrameContent> Completion { get; } =
                new TaskCompletionSource<FrameContent>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        private sealed class AnswerWaiter
        {
            internal AnswerWaiter(Func<QfexFrame, bool> match) => Match = match;

            internal Func<QfexFrame, bool> Match { get; }

            // Completed outside every lock but the delivery one; the only waiter is a pipeline thread
            // blocked in Task.Wait, whose continuation just sets an event: no thread-pool hop needed.
            internal TaskCompletionSource<QfexFrame> Completion { get; } = new TaskCompletionSource<QfexFrame>();
        }
    }
}
