using System;
using System.Buffers;
using System.Collections.Generic;
using System.Linq;
using System.Net.WebSockets;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>One connection of a session, as the supervisor sees it (a fake in the supervisor's unit tests).</summary>
    internal interface ISessionLink
    {
        /// <summary>Which connection of the session this is (1, 2, ...): frames and requests of older ones are refused.</summary>
        int Generation { get; }

        /// <summary>When something last arrived (a TimeProvider timestamp).</summary>
        long LastActivity { get; }

        /// <summary>Why the connection ended, once it has (set before the end is reported).</summary>
        string? EndReason { get; }

        /// <summary>Sends one of the module's own messages (auth, subscribe, probe); throws QfexConnectionClosed when it cannot.</summary>
        Task SendControlAsync(string json, CancellationToken cancellationToken);

        /// <summary>Writes a user request if the core still admits it for this connection (decided at one point, under the core's lock).</summary>
        Task SendRequestAsync(RequestTicket ticket, CancellationToken cancellationToken);

        /// <summary>Writes the watchdog's probe; its answer (any frame, in fact) shows up as activity.</summary>
        Task SendProbeAsync(CancellationToken cancellationToken);

        /// <summary>Closes cleanly (close handshake), aborting after <paramref name="timeout"/>.</summary>
        Task CloseAsync(string reason, TimeSpan timeout);

        /// <summary>Drops the connection now; the end is reported with <paramref name="reason"/>.</summary>
        void Abort(string reason);
    }

    /// <summary>What the supervisor asks of a new connection.</summary>
    internal sealed class LinkSetup
    {
        internal LinkSetup(bool restoring, Func<ISessionLink, Task>? authenticated, Action<string> log, Action<ISessionLink, string> ended)
        {
            Restoring = restoring;
            Authenticated = authenticated;
            Log = log;
            Ended = ended;
        }

        /// <summary>A reconnect: restore subscriptions instead of making the initial ones.</summary>
        internal bool Restoring { get; }

        /// <summary>Called once authenticated (and cancel-on-disconnect re-enabled), before subscriptions are restored.</summary>
        internal Func<ISessionLink, Task>? Authenticated { get; }

        internal Action<string> Log { get; }

        /// <summary>Called once, from the receive loop, when the connection ended, with the reason.</summary>
        internal Action<ISessionLink, string> Ended { get; }
    }

    /// <summary>
    /// One WebSocket connection of a session: connect, authenticate, subscribe, send (one at a time, as
    /// ClientWebSocket requires), and the receive loop that feeds the session core. Everything about the
    /// socket lives here; what the session knows and decides lives in <see cref="SessionCore"/>.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable",
        Justification = "The send lock is a SemaphoreSlim whose wait handle is never created, so it holds nothing to release; disposing it while a sender may still wait would turn a clean refusal into an ObjectDisposedException. The socket is disposed by the receive loop.")]
    internal sealed class SocketLink : ISessionLink
    {
        internal const string ProbeType = "get_user_leverage";

        private readonly SessionCore _core;
        private readonly SessionOptions _options;
        private readonly ClientWebSocket _socket;
        private readonly SemaphoreSlim _sendLock = new SemaphoreSlim(1, 1);
        private readonly LinkSetup _setup;
        private Task _receiveLoop = Task.CompletedTask;
        private long _lastActivity;
        private volatile string? _abortReason;

        private SocketLink(SessionCore core, SessionOptions options, LinkSetup setup, ClientWebSocket socket, int generation)
        {
            _core = core;
            _options = options;
            _setup = setup;
            _socket = socket;
            Generation = generation;
            _lastActivity = options.Clock.GetTimestamp();
        }

        public int Generation { get; }

        public long LastActivity => Interlocked.Read(ref _lastActivity);

        public string? EndReason { get; private set; }

        /// <summary>Connects, authenticates (trade) and subscribes; throws a QfexException (the link aborted) on failure.</summary>
        internal static async Task<ISessionLink> OpenAsync(SessionCore core, SessionOptions options, LinkSetup setup, CancellationToken cancellationToken)
        {
            int generation = core.BeginLink();
            core.Recorder?.Connect(generation, options.Uri, setup.Restoring);
            using CancellationTokenSource timeout = options.Clock.CreateCancellationTokenSource(options.Timeout);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            var socket = new ClientWebSocket();
            ConfigureKeepAlive(socket, options);
            if (RuntimeInfo.IsNetFramework)
            {
                // On .NET Framework each WebSocket holds one of the host's HttpWebRequest connections
                // (two by default): raise the limit for this host only, or a third session would hang.
                var http = new UriBuilder(options.Uri) { Scheme = options.Uri.Scheme == "wss" ? "https" : "http" }.Uri;
                System.Net.ServicePoint point = System.Net.ServicePointManager.FindServicePoint(http);
                if (point.ConnectionLimit < 64) point.ConnectionLimit = 64;
            }
            setup.Log($"Connecting to {options.Uri} ({options.Endpoint})" + (options.Proxy != null ? $" through the proxy {options.Proxy.GetLeftPart(UriPartial.Authority)}." : ", without a proxy."));
            IDisposable? invoker = null;
            try
            {
                invoker = await ConnectAsync(socket, options, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                throw new QfexTimeoutException(ErrorIds.Timeout, $"Connecting to {options.Uri} did not complete within {options.Timeout.TotalSeconds:0.###} s.");
            }
            catch (Exception e) when (e is WebSocketException || e is System.Net.Http.HttpRequestException || e is System.IO.IOException || e is System.Net.Sockets.SocketException)
            {
                socket.Dispose();
                invoker?.Dispose();
                string redirect = e.Message.IndexOf("status code '30", StringComparison.Ordinal) >= 0
                    ? " The server answered with a redirect, which is never followed (it could lead the session, with its credentials, to another host or to ws://): connect to the address you mean directly."
                    : string.Empty;
                throw new QfexConnectionException(ErrorIds.ConnectFailed, $"Could not connect to {options.Uri}: {Describe(e)}{redirect}", e);
            }

            var link = new SocketLink(core, options, setup, socket, generation) { _invoker = invoker };
            link._receiveLoop = Task.Run(link.ReceiveLoopAsync, CancellationToken.None);
            setup.Log($"Connected to {options.Uri}.");
            try
            {
                if (options.Endpoint == QfexEndpoint.Trade && options.Credentials != null)
                    await link.AuthenticateAsync(linked.Token, cancellationToken).ConfigureAwait(false);
                // On when Connect-Qfex -CancelOnDisconnect asked for it or a cancel_on_disconnect request turned it on.
                if (options.Endpoint == QfexEndpoint.Trade && core.CancelOnDisconnect.Value)
                {
                    setup.Log("Enabling cancel-on-disconnect: if this connection drops, the exchange cancels every open order of the account.");
                    await link.SendControlAsync(CancelOnDisconnectMessage, linked.Token).ConfigureAwait(false);
                }
                if (setup.Authenticated != null) await setup.Authenticated(link).ConfigureAwait(false);
                await link.SubscribeAsync(linked.Token).ConfigureAwait(false);
                return link;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                link.Abort("The connection was not set up in time.");
                throw new QfexTimeoutException(ErrorIds.Timeout, $"Setting up the connection to {options.Uri} did not complete within {options.Timeout.TotalSeconds:0.###} s.");
            }
            catch
            {
                link.Abort("The connection could not be set up.");
                throw;
            }
        }

        private static readonly string CancelOnDisconnectMessage = PSJson.Serialize(new Dictionary<string, object>
        {
            ["type"] = "cancel_on_disconnect",
            ["params"] = new Dictionary<string, object> { ["cancel_on_disconnect"] = true },
        });

        /// <summary>
        /// Keep-alive frames keep NATs and proxies from dropping a quiet socket. On the market-data socket,
        /// which has no request a quiet healthy connection would answer, liveness is the WebSocket ping: where
        /// the runtime has ClientWebSocketOptions.KeepAliveTimeout (.NET 9+, PowerShell 7.5+) a ping goes out
        /// every half IdleTimeout and the runtime aborts the connection when its pong is late by another half.
        /// A pong cannot overtake unread frames, so a market-data session whose buffer stays full that long is
        /// treated as dead too (documented). The trade socket never uses it: its watchdog probes with a
        /// request and knows about backpressure.
        /// </summary>
        private static void ConfigureKeepAlive(ClientWebSocket socket, SessionOptions options)
        {
            TimeSpan half = TimeSpan.FromTicks(options.IdleTimeout.Ticks / 2);
            if (options.Endpoint == QfexEndpoint.MarketData && half > TimeSpan.Zero && KeepAliveTimeout != null)
            {
                socket.Options.KeepAliveInterval = half;
                KeepAliveTimeout.SetValue(socket.Options, half);
                return;
            }
            socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(15);
        }

        /// <summary>
        /// Opens the socket to exactly the address asked for: no redirect is followed (a redirect could take the
        /// session, and its credentials, to another host or to clear-text ws://) and no proxy is used unless the
        /// user named one (never for ws:// to loopback), whatever HTTP_PROXY/ALL_PROXY say. On PowerShell 7
        /// (.NET 7+) the socket connects through its own HTTP handler, configured so; the runtime's overload that
        /// takes it is bound by reflection (netstandard2.0 cannot name it). Windows PowerShell's ClientWebSocket
        /// has no such overload: there the proxy setting applies and redirects are the runtime's.
        /// </summary>
        private static async Task<IDisposable?> ConnectAsync(ClientWebSocket socket, SessionOptions options, CancellationToken cancellationToken)
        {
            System.Net.IWebProxy? proxy = options.Proxy == null ? null : new System.Net.WebProxy(options.Proxy);
            if (ConnectWithInvoker != null && SocketsHttpHandler != null)
            {
                var handler = (System.Net.Http.HttpMessageHandler)Activator.CreateInstance(SocketsHttpHandler)!;
                SocketsHttpHandler.GetProperty("AllowAutoRedirect")!.SetValue(handler, false);
                SocketsHttpHandler.GetProperty("UseProxy")!.SetValue(handler, proxy != null);
                if (proxy != null) SocketsHttpHandler.GetProperty("Proxy")!.SetValue(handler, proxy);
                var invoker = new System.Net.Http.HttpMessageInvoker(handler, disposeHandler: true);
                try
                {
                    Task connect;
                    try
                    {
                        connect = (Task)ConnectWithInvoker.Invoke(socket, new object[] { options.Uri, invoker, cancellationToken })!;
                    }
                    catch (TargetInvocationException e) when (e.InnerException != null)
                    {
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
                        throw;
                    }
                    await connect.ConfigureAwait(false);
                    return invoker;
                }
                catch
                {
                    invoker.Dispose();
                    throw;
                }
            }
            socket.Options.Proxy = proxy;
            await socket.ConnectAsync(options.Uri, cancellationToken).ConfigureAwait(false);
            return null;
        }

        private static readonly MethodInfo? ConnectWithInvoker =
            typeof(ClientWebSocket).GetMethod(nameof(ClientWebSocket.ConnectAsync), new[] { typeof(Uri), typeof(System.Net.Http.HttpMessageInvoker), typeof(CancellationToken) });

        private static readonly Type? SocketsHttpHandler = Type.GetType("System.Net.Http.SocketsHttpHandler, System.Net.Http", throwOnError: false);

        /// <summary>Receives read without waiting between two reads of the clock (see the receive loop).</summary>
        private const int ClockEvery = 32;

        /// <summary>Whether this runtime connects through the module's own handler (no redirects, no implicit proxy).</summary>
        internal static bool ControlsRedirectsAndProxy => ConnectWithInvoker != null && SocketsHttpHandler != null;

        // The HTTP handler the socket was opened through (PowerShell 7), released with the connection.
        private IDisposable? _invoker;

        /// <summary>ClientWebSocketOptions.KeepAliveTimeout, where the runtime has it (.NET 9+).</summary>
        internal static readonly PropertyInfo? KeepAliveTimeout =
            typeof(ClientWebSocketOptions).GetProperty("KeepAliveTimeout", typeof(TimeSpan)) is PropertyInfo p && p.CanWrite ? p : null;

        private async Task AuthenticateAsync(CancellationToken timeoutToken, CancellationToken userToken)
        {
            // Claim the answer before asking: a fast server can answer before we start waiting.
            Waiter<FrameContent> answer = _core.Claims.Add(IsAuthAnswer);
            try
            {
                QfexCredentials credentials = _options.Credentials!;
                _setup.Log(credentials.Jwt != null
                    ? "Authenticating with a JWT."
                    : $"Authenticating with HMAC for public key {credentials.PublicKey}" + (_options.AccountId.HasValue ? $", account {_options.AccountId}." : "."));
                await SendControlAsync(credentials.BuildAuthMessage(_options.AccountId, _core.Secrets), timeoutToken).ConfigureAwait(false);

                FrameContent frame = await answer.Task.WaitAsync(timeoutToken).ConfigureAwait(false);
                if (frame.Error != null)
                    throw new QfexAuthenticationException(
                        $"The exchange refused authentication: {frame.Error.Code}{(frame.Error.Message == null ? "" : ": " + frame.Error.Message)}", frame.Error.Code);
                if (!IsAuthSuccess(frame))
                    throw new QfexAuthenticationException("The exchange refused authentication (authenticated: false).");
                _core.SetAuthenticated(Generation);
                _setup.Log("Authenticated.");
            }
            catch (OperationCanceledException) when (!userToken.IsCancellationRequested)
            {
                // The contract: no confirmation means authentication failed; the timeout is the inner cause.
                throw new QfexAuthenticationException(
                    $"The exchange did not confirm authentication within {_options.Timeout.TotalSeconds:0.###} s.", null,
                    new QfexTimeoutException(ErrorIds.Timeout, "Authentication was not confirmed in time."));
            }
            catch (QfexConnectionException e)
            {
                // The auth could not be sent because the server had closed already (the socket said CloseReceived before
                // the receive loop had read why): the loop fails the claim with the server's close status and reason.
                QfexConnectionException why = await WhyTheLoopEndedAsync(answer, e, timeoutToken).ConfigureAwait(false);
                throw new QfexAuthenticationException("The connection closed during authentication. " + why.Message, null, why);
            }
            finally
            {
                _core.Claims.Remove(answer);
            }
        }

        private static async Task<QfexConnectionException> WhyTheLoopEndedAsync(Waiter<FrameContent> answer, QfexConnectionException sendFailure, CancellationToken timeoutToken)
        {
            try
            {
                await answer.Task.WaitAsync(timeoutToken).ConfigureAwait(false);
            }
            catch (QfexConnectionException loopEnded)
            {
                return loopEnded;
            }
            catch (OperationCanceledException)
            {
                // The loop did not end within the connect timeout: the send's own failure is all there is to say.
            }
            return sendFailure;
        }

        private async Task SubscribeAsync(CancellationToken token)
        {
            if (_setup.Restoring)
            {
                IReadOnlyList<string> restore = _core.Subscriptions.RestoreMessages();
                if (restore.Count > 0) _setup.Log($"Restoring subscriptions: {string.Join(", ", _core.Subscriptions.Current)}.");
                foreach (string message in restore)
                    await SendControlAsync(message, token).ConfigureAwait(false);
                return;
            }

            if (_options.Subscribe.Count == 0) return;
            string[] channels = _options.Subscribe.Distinct(StringComparer.Ordinal).ToArray();
            bool marketData = _options.Endpoint == QfexEndpoint.MarketData;
            IReadOnlyList<string>? symbols = marketData ? _options.Symbols : null;
            IReadOnlyList<string>? intervals = marketData ? _options.Intervals : null;
            int[]? sigFigs = marketData && _options.SigFigs.HasValue ? new[] { _options.SigFigs.Value } : null;
            string[] keys = _core.Subscriptions.Keys(channels, symbols, intervals, sigFigs);
            _core.Subscriptions.Want(keys);
            _setup.Log($"Subscribing to {string.Join(", ", channels)}" + (marketData
                ? $" for {string.Join(", ", _options.Symbols)}" + (intervals?.Count > 0 ? $", intervals {string.Join(", ", intervals)}" : "")
                    + (sigFigs != null ? $", sig_figs {sigFigs[0]}" : "") + "."
                : "."));
            await SendControlAsync(_core.Subscriptions.SubscribeMessage(channels, symbols, intervals, sigFigs), token).ConfigureAwait(false);

            // Connect-Qfex returns once the exchange confirmed every subscription (Subscriptions shows them; the
            // confirmations stay in the stream as frames), and fails with the exchange's error when it refuses one.
            // The trade socket documents its acknowledgements; the market-data socket does not (protocol doc §7.1),
            // so a confirmation that does not come within the wait is reported, not fatal: what was asked for is
            // still restored after a reconnect.
            using CancellationTokenSource wait = _options.Clock.CreateCancellationTokenSource(SubscribeWait);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(token, wait.Token);
            switch (await _core.Subscriptions.WaitForAsync(keys, linked.Token).ConfigureAwait(false))
            {
                case SubscribeOutcome.Refused:
                    QfexFrame refusal = _core.Subscriptions.Refusal(keys)!;
                    _setup.Log($"The exchange refused the subscription: {refusal.Error!.Code}{(refusal.Error.Message == null ? "" : ": " + refusal.Error.Message)}");
                    throw RefusedSubscription(refusal);
                case SubscribeOutcome.NotYet:
                    token.ThrowIfCancellationRequested();
                    _setup.Log($"The exchange has not confirmed {string.Join(", ", _core.Subscriptions.Missing(keys))} within {SubscribeWait.TotalSeconds:0} s; see the session's frames for its answer.");
                    break;
            }
        }

        /// <summary>How long Connect-Qfex waits for the exchange to confirm or refuse its subscriptions (at most -TimeoutSec in all).</summary>
        internal static readonly TimeSpan SubscribeWait = TimeSpan.FromSeconds(5);

        /// <summary>The exception of the error frame that refused Connect-Qfex's subscription: the record Connect-Qfex fails with.</summary>
        private static QfexException RefusedSubscription(QfexFrame frame)
        {
            ErrorCodeInfo row = ErrorCodeTable.ForErrorFrame(frame.Error!.Code);
            QfexException e = row.Create(row, new ErrorContext(frame.Error.Message, frame.Error.Incoming, frame.Sequence, frame.ReceivedAt));
            e.RequestType = "subscribe";
            return e;
        }

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

        public async Task SendControlAsync(string json, CancellationToken cancellationToken)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(json);
            await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_socket.State != WebSocketState.Open)
                {
                    // Closed by the server before the receive loop said so (CloseReceived): its reason, not just the state.
                    // Every abort reason and the close text are sentences already; only the bare state needs its stop.
                    throw _core.ClosedException("The connection is not open: " + (_abortReason ?? ServerCloseText() ?? _socket.State + "."));
                }
                _core.Recorder?.Sent(Transcript.RoleModule, json);
                // Never cancelled: cancelling a ClientWebSocket send aborts the socket.
                await _socket.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (IsSocketFault(e))
            {
                throw _core.ClosedException("The message could not be sent: " + Describe(e), e);
            }
            finally
            {
                _sendLock.Release();
            }
        }

        public async Task SendRequestAsync(RequestTicket ticket, CancellationToken cancellationToken)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(ticket.Json);
            // Ctrl+C may end the wait for our turn, never a write in progress (that would abort the socket).
            await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_socket.State != WebSocketState.Open)
                {
                    // Nothing can have been written on a socket that is not open: the request was not sent.
                    _core.Refuse(ticket, $"not sent: the connection had closed ({_abortReason ?? _socket.State.ToString()}) when {ticket.Type} reached the socket.");
                    throw ticket.Failure!;
                }
                if (!_core.BeginWrite(ticket, Generation)) throw ticket.Failure!;
                try
                {
                    if (ticket.Type == ProbeType) RecordLeverageQuestion(probe: false);
                    _core.Recorder?.Sent(Transcript.RoleRequest, ticket.Json);
                    await _socket.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (!(e is OutOfMemoryException))
                {
                    // Whatever the runtime throws (an IOException, an OperationCanceledException from a reset,
                    // a WebSocketException...): the write began, so the outcome is unknown.
                    throw _core.WriteFailed(ticket, Describe(e), e);
                }
                _core.EndWrite(ticket);
            }
            finally
            {
                _sendLock.Release();
            }
        }

        /// <summary>
        /// The watchdog's probe: a cheap read-only request (weight 0.1). Its answer proves the server alive (any
        /// frame does) and is taken out of the stream, never shown: see <see cref="TakeProbeAnswer"/>.
        /// </summary>
        public async Task SendProbeAsync(CancellationToken cancellationToken)
        {
            await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_socket.State != WebSocketState.Open)
                    throw _core.ClosedException("The connection is not open: " + (_abortReason ?? _socket.State.ToString()) + ".");
                RecordLeverageQuestion(probe: true);
                _core.Recorder?.Sent(Transcript.RoleProbe, ProbeJson);
                await _socket.SendAsync(new ArraySegment<byte>(ProbeBytes), WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (IsSocketFault(e))
            {
                throw _core.ClosedException("The probe could not be sent: " + Describe(e), e);
            }
            finally
            {
                _sendLock.Release();
            }
        }

        internal const string ProbeJson = "{\"type\":\"" + ProbeType + "\",\"params\":{\"limit\":1,\"offset\":0}}";
        private static readonly byte[] ProbeBytes = Encoding.UTF8.GetBytes(ProbeJson);

        // The protocol has no request id: the exchange answers in order, so the owner of each answer to a
        // get_user_leverage on this connection is known from the order the questions were written in (under
        // the send lock). That tells the probe's answer from a user's own, whoever asked first.
        private readonly Queue<bool> _leverageQuestions = new Queue<bool>();
        private const int MaxLeverageQuestions = 10_000;

        private void RecordLeverageQuestion(bool probe)
        {
            lock (_leverageQuestions)
            {
                if (_leverageQuestions.Count == MaxLeverageQuestions) _leverageQuestions.Dequeue();
                _leverageQuestions.Enqueue(probe);
            }
        }

        /// <summary>True (and the frame is consumed) when it answers the watchdog's probe.</summary>
        private bool TakeProbeAnswer(FrameContent content)
        {
            if (content.Type != "user_leverage_response" && content.Error?.IncomingType != ProbeType) return false;
            lock (_leverageQuestions)
                return _leverageQuestions.Count > 0 && _leverageQuestions.Dequeue();
        }

        // ------------------------------------------------------------------ closing

        public async Task CloseAsync(string reason, TimeSpan timeout)
        {
            try
            {
                using var cts = new CancellationTokenSource(timeout);
                await _sendLock.WaitAsync(cts.Token).ConfigureAwait(false);
                try
                {
                    if (_socket.State == WebSocketState.Open || _socket.State == WebSocketState.CloseReceived)
                        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, reason, cts.Token).ConfigureAwait(false);
                }
                finally
                {
                    _sendLock.Release();
                }
                await Task.WhenAny(_receiveLoop, Task.Delay(timeout)).ConfigureAwait(false);
            }
            catch (Exception e) when (IsSocketFault(e))
            {
                // Falls through to the abort: a close that cannot be said politely is still a close.
            }
            finally
            {
                if (!_receiveLoop.IsCompleted) Abort(reason);
            }
        }

        public void Abort(string reason)
        {
            _abortReason ??= reason;
            _socket.Abort();
        }

        // ------------------------------------------------------------------ receiving

        private async Task ReceiveLoopAsync()
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
            var contents = new List<FrameContent>(1);
            int count = 0;
            // The clock is read when a receive had to wait, and every ClockEvery receives of a burst read without
            // waiting: two clock reads per frame were a tenth of the loop's work in a flood. A frame's ReceivedAt is
            // then when the loop last looked (within a few microseconds of a burst), and the watchdog's last activity
            // is at most that old.
            int sinceClock = ClockEvery;
            DateTime receivedAt = DateTime.UtcNow;
            bool oversized = false;
            int maxFrameBytes = _options.MaxFrameBytes;
            string closeReason = "The server closed the connection.";
            try
            {
                while (true)
                {
                    int limit = Math.Min(buffer.Length, maxFrameBytes);
                    if (count == limit)
                    {
                        if (limit >= maxFrameBytes)
                        {
                            // Over the limit: keep reading to the end of this message, but keep none of it.
                            oversized = true;
                            count = 0;
                        }
                        else
                        {
                            byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, maxFrameBytes));
                            System.Buffer.BlockCopy(buffer, 0, bigger, 0, count);
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = bigger;
                            limit = Math.Min(buffer.Length, maxFrameBytes);
                        }
                    }

                    // Never cancelled (see SocketReceiver): cancelling a ClientWebSocket receive aborts the socket.
                    bool waited = false;
                    if (!SocketReceiver.TryReceive(_socket, buffer, count, limit - count, _options.ForceArraySegmentReceive, out ReceivedChunk result, out Task? pending))
                    {
                        waited = true;
                        // About to wait for the network: hand the burst's staged frames to the readers now, and
                        // zero the secrets held open for the burst (never held across an await: see SessionSecrets).
                        _core.FlushStaged();
                        _core.Secrets.Release();
                        await pending!.ConfigureAwait(false);
                        result = SocketReceiver.ResultOf(pending);
                    }
                    if (waited || ++sinceClock >= ClockEvery)
                    {
                        sinceClock = 0;
                        Interlocked.Exchange(ref _lastActivity, _options.Clock.GetTimestamp());
                        receivedAt = DateTime.UtcNow;
                    }

                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        // Read before the answer: answering may end the socket (Aborted), and the reason with it.
                        closeReason = ServerCloseText() ?? "The server closed the connection.";
                        _core.Secrets.Release();
                        await AnswerCloseAsync().ConfigureAwait(false);
                        break;
                    }

                    count += result.Count;
                    if (!result.EndOfMessage) continue;

                    contents.Clear();
                    if (oversized)
                        contents.Add(FrameReader.TooLarge(maxFrameBytes));
                    else if (result.MessageType == WebSocketMessageType.Binary)
                        contents.Add(FrameReader.ReadBinary(new ReadOnlySpan<byte>(buffer, 0, count)));
                    else
                    {
                        // An error frame's text is redacted with the session's secrets: opened once for the burst.
                        _core.Secrets.Hold();
                        FrameReader.ReadText(new ReadOnlySpan<byte>(buffer, 0, count), contents, _core.Secrets);
                    }
                    count = 0;
                    oversized = false;

                    foreach (FrameContent content in contents)
                    {
                        if (TakeProbeAnswer(content))
                        {
                            _core.Recorder?.Claimed(content, receivedAt, Transcript.ClaimedProbe);
                            continue;
                        }
                        Task delivered = _core.DeliverAsync(content, receivedAt, stage: true);
                        if (!delivered.IsCompleted)
                        {
                            _core.Secrets.Release();
                            await delivered.ConfigureAwait(false);
                        }
                    }
                }
            }
            catch (Exception e) when (IsSocketFault(e))
            {
                _core.Secrets.Release();
                closeReason = _abortReason ?? "The connection was lost: " + Describe(e);
                if (_abortReason == null && (e is WebSocketException { WebSocketErrorCode: WebSocketError.Faulted } || _socket.CloseStatus == WebSocketCloseStatus.InvalidPayloadData))
                {
                    // .NET fails the connection on a frame that breaks RFC 6455 (text that is not UTF-8, a bad
                    // header) before we can read it; say so in the stream rather than lose the frame silently.
                    closeReason = "The server sent a frame the WebSocket layer rejected (for example text that is not valid UTF-8), so it failed the connection.";
                    await _core.DeliverAsync(new FrameContent(FrameReader.MalformedType, string.Empty, null,
                        closeReason + " That frame, and any sent after it on that connection, could not be read."), DateTime.UtcNow).ConfigureAwait(false);
                }
            }
            catch (OutOfMemoryException)
            {
                // Reported as what it is, never as "the server closed the connection".
                closeReason = $"The process ran out of memory (OutOfMemoryException) while receiving a frame ({count} bytes read so far, {_core.Buffer.Count} frames pending); the connection was dropped.";
            }
            catch (Exception e)
            {
                // A fault in the module's own code ends this socket like a lost connection, and says so (in the
                // session's log and CloseReason) instead of ending the loop silently behind a wrong reason.
                closeReason = $"The receive loop failed ({e.GetType().FullName}: {e.Message}); the connection was dropped.";
            }
            finally
            {
                _core.Secrets.Release();
                _core.FlushStaged();   // nothing received is lost with the socket
                ArrayPool<byte>.Shared.Return(buffer);
                _socket.Dispose();
                _invoker?.Dispose();
                // Whatever it was built from (an exception's message, the server's close text), it is shown as CloseReason.
                closeReason = Redaction.Clean(closeReason, _core.Secrets);
                EndReason = closeReason;
                _core.Recorder?.Lost(Generation, closeReason);
                _setup.Ended(this, closeReason);
            }
        }

        /// <summary>
        /// Completes the close handshake the server started. .NET (Core) answers by itself; .NET Framework
        /// leaves the socket in CloseReceived until we do.
        /// </summary>
        private async Task AnswerCloseAsync()
        {
            if (_socket.State != WebSocketState.CloseReceived) return;
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await _sendLock.WaitAsync(cts.Token).ConfigureAwait(false);
                try
                {
                    if (_socket.State == WebSocketState.CloseReceived)
                        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, string.Empty, cts.Token).ConfigureAwait(false);
                }
                finally
                {
                    _sendLock.Release();
                }
            }
            catch (Exception e) when (IsSocketFault(e))
            {
                // The socket is going away either way.
            }
        }

        /// <summary>What a socket operation throws when the connection fails or goes away (the one filter for all of them).</summary>
        internal static bool IsSocketFault(Exception e) =>
            e is WebSocketException || e is ObjectDisposedException || e is OperationCanceledException || e is InvalidOperationException
            || e is System.IO.IOException || e is System.Net.Sockets.SocketException;

        /// <summary>
        /// Why the server closed, once its close frame was read (State CloseReceived or Closed); null before. The
        /// description is the server's text: shown only through the redaction pass (no control characters).
        /// </summary>
        private string? ServerCloseText()
        {
            if ((_socket.State != WebSocketState.CloseReceived && _socket.State != WebSocketState.Closed) || _socket.CloseStatus is not WebSocketCloseStatus status)
                return null;
            string? description = _socket.CloseStatusDescription;
            return $"The server closed the connection ({(int)status} {status}{(string.IsNullOrEmpty(description) ? "" : ": " + Redaction.Clean(description, _core.Secrets))}).";
        }

        internal static string Describe(Exception e)
        {
            string message = e.Message;
            for (Exception? inner = e.InnerException; inner != null; inner = inner.InnerException)
                if (!message.Contains(inner.Message)) message += " " + inner.Message;
            return message;
        }
    }
}
