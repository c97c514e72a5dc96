using System;
using System.Buffers;
using System.Collections.Generic;
using System.Linq;
using System.Net.WebSockets;
using System.Text;
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
    /// One socket connection to the exchange: a background receive loop feeding an in-order buffer,
    /// and serialized sends (ClientWebSocket allows one send at a time). Safe to share between threads.
    /// It holds no secret.
    /// </summary>
    public sealed class QfexSession
    {
        internal const int DefaultBufferCapacity = 100_000;
        internal const int DefaultMaxFrameBytes = 4 * 1024 * 1024;

        private static int s_lastId;

        private readonly SemaphoreSlim _sendLock = new SemaphoreSlim(1, 1);
        private readonly object _gate = new object();
        private readonly List<InternalWaiter> _waiters = new List<InternalWaiter>();
        private readonly SortedSet<string> _subscriptions = new SortedSet<string>(StringComparer.Ordinal);
        private ClientWebSocket? _socket;
        private Task _receiveLoop = Task.CompletedTask;
        private long _sequence;
        private volatile int _waiterCount;
        private readonly List<AnswerWaiter> _answerWaiters = new List<AnswerWaiter>();
        private volatile int _answerWaiterCount;
        private volatile QfexSessionState _state = QfexSessionState.Connecting;
        private volatile string? _closingBecause;

        internal QfexSession(Uri uri, QfexEndpoint endpoint, Guid? accountId, int bufferCapacity, int maxFrameBytes = DefaultMaxFrameBytes)
        {
            Id = Interlocked.Increment(ref s_lastId);
            Uri = uri;
            Endpoint = endpoint;
            AccountId = accountId;
            Buffer = new FrameBuffer(bufferCapacity);
            MaxFrameBytes = maxFrameBytes;
        }

        public int Id { get; }
        public Uri Uri { get; }
        public QfexEndpoint Endpoint { get; }
        public Guid? AccountId { get; }
        public QfexSessionState State => _state;
        public bool IsAuthenticated { get; internal set; }
        public DateTime ConnectedAt { get; private set; }

        /// <summary>Frames delivered so far: the last Sequence handed out.</summary>
        public long FramesReceived => Interlocked.Read(ref _sequence);

        /// <summary>Frames waiting in the receive buffer.</summary>
        public int FramesPending => Buffer.Count;

        public string[] Subscriptions
        {
            get { lock (_gate) return _subscriptions.ToArray(); }
        }

        public int Reconnects { get; internal set; }

        /// <summary>Why the session closed (close status and reason, or the transport error), once Closed.</summary>
        public string? CloseReason { get; private set; }

        internal FrameBuffer Buffer { get; }
        internal int MaxFrameBytes { get; }

        public override string ToString() => $"QfexSession {Id} {State} {Uri}";

        /// <summary>Opens the socket and starts the receive loop.</summary>
        internal async Task OpenAsync(ClientWebSocket socket, CancellationToken cancellationToken)
        {
            _socket = socket;
            await socket.ConnectAsync(Uri, cancellationToken).ConfigureAwait(false);
            ConnectedAt = DateTime.UtcNow;
            _state = QfexSessionState.Open;
            _receiveLoop = Task.Run(ReceiveLoopAsync);
        }

        /// <summary>Sends one text message; sends are serialized.</summary>
        internal async Task SendAsync(string json, CancellationToken cancellationToken)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(json);
            // Ctrl+C may cancel the wait for our turn, never a send in progress (that would abort the socket).
            await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                ClientWebSocket socket = OpenSocket();
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
                if (_state == QfexSessionState.Closed)
                    waiter.Completion.TrySetException(ClosedException(CloseReason ?? "The session is closed."));
                else
                {
                    _waiters.Add(waiter);
                    _waiterCount = _waiters.Count;
                }
            }
            return waiter.Completion.Task;
        }

        /// <summary>
        /// Registers a wait for the frame that answers a request (Send-QfexMessage -Wait). Unlike
        /// <see cref="ClaimNext"/> the answer keeps its sequence number; frames that do not match stay
        /// in the buffer, in order. Register before sending.
        /// </summary>
        internal Task<QfexFrame> WaitForAnswer(Func<QfexFrame, bool> match)
        {
            var waiter = new AnswerWaiter(match);
            lock (_gate)
            {
                if (_state == QfexSessionState.Closed)
                    waiter.Completion.TrySetException(ClosedException(CloseReason ?? "The session is closed."));
                else
                {
                    _answerWaiters.Add(waiter);
                    _answerWaiterCount = _answerWaiters.Count;
                }
            }
            return waiter.Completion.Task;
        }

        internal void CancelAnswer(Task<QfexFrame> answer)
        {
            lock (_gate)
            {
                _answerWaiters.RemoveAll(w => w.Completion.Task == answer);
                _answerWaiterCount = _answerWaiters.Count;
            }
        }

        internal void CancelClaim(Task<FrameContent> claim)
        {
            lock (_gate)
            {
                _waiters.RemoveAll(w => w.Completion.Task == claim);
                _waiterCount = _waiters.Count;
            }
        }

        /// <summary>Closes cleanly: sends a close frame, waits for the server's, aborts after the timeout.</summary>
        internal async Task CloseAsync(string reason, TimeSpan timeout)
        {
            ClientWebSocket? socket = _socket;
            if (socket == null || _state == QfexSessionState.Closed)
            {
                MarkClosed(reason);
                return;
            }

            // The server's answering close ends the receive loop; it must not read as the server's doing.
            _closingBecause = "Closed by " + reason + ".";
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

        private ClientWebSocket OpenSocket()
        {
            ClientWebSocket? socket = _socket;
            if (socket == null || _state == QfexSessionState.Closed || socket.State != WebSocketState.Open)
                throw ClosedException(CloseReason ?? "The session is closed.");
            return socket;
        }

        internal QfexConnectionException ClosedException(string message, Exception? inner = null) =>
            new QfexConnectionException(ErrorIds.ConnectionClosed, $"Session {Id} ({Uri}): {message}", inner);

        private async Task ReceiveLoopAsync()
        {
            ClientWebSocket socket = _socket!;
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
                        }
                    }

                    // Never cancelled: cancelling a ClientWebSocket receive aborts the socket.
                    WebSocketReceiveResult result = await socket.ReceiveAsync(
                        new ArraySegment<byte>(buffer, count, Math.Min(buffer.Length, MaxFrameBytes) - count), CancellationToken.None).ConfigureAwait(false);

                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        closeReason = $"The server closed the connection ({(int?)result.CloseStatus} {result.CloseStatus}{(string.IsNullOrEmpty(result.CloseStatusDescription) ? "" : ": " + result.CloseStatusDescription)}).";
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
                        await DeliverAsync(content, receivedAt).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is WebSocketException || e is ObjectDisposedException || e is OperationCanceledException || e is InvalidOperationException)
            {
                closeReason = "The connection was lost: " + e.Message;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
                MarkClosed(_closingBecause ?? closeReason);
            }
        }

        private async Task DeliverAsync(FrameContent content, DateTime receivedAt)
        {
            if (_waiterCount > 0 && TryClaim(content)) return;

            long sequence = Interlocked.Increment(ref _sequence);
            var frame = new QfexFrame(sequence, content.Type, content.Raw, receivedAt, Id)
            {
                Error = content.Error,
                MalformedReason = content.MalformedReason,
                MalformedErrorId = content.MalformedErrorId,
            };
            TrackSubscription(frame);
            if (_answerWaiterCount > 0 && TryAnswer(frame)) return;
            await Buffer.AddAsync(frame).ConfigureAwait(false);
        }

        private bool TryClaim(FrameContent content)
        {
            InternalWaiter? taker = null;
            lock (_gate)
            {
                foreach (InternalWaiter waiter in _waiters)
                {
                    if (waiter.Match(content))
                    {
                        taker = waiter;
                        break;
                    }
                }
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
            AnswerWaiter? taker = null;
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
            foreach (string channel in SubscriptionAck.Channels(frame.Raw, frame.Type))
                lock (_gate)
                {
                    if (subscribed) _subscriptions.Add(channel);
                    else _subscriptions.Remove(channel);
                }
        }

        private void MarkClosed(string reason)
        {
            InternalWaiter[] waiters;
            AnswerWaiter[] answerWaiters;
            lock (_gate)
            {
                if (_state == QfexSessionState.Closed) return;
                _state = QfexSessionState.Closed;
                CloseReason = reason;
                waiters = _waiters.ToArray();
                _waiters.Clear();
                _waiterCount = 0;
                answerWaiters = _answerWaiters.ToArray();
                _answerWaiters.Clear();
                _answerWaiterCount = 0;
            }
            foreach (InternalWaiter waiter in waiters)
                waiter.Completion.TrySetException(ClosedException(reason));
            foreach (AnswerWaiter waiter in answerWaiters)
                waiter.Completion.TrySetException(ClosedException(reason));
            // A session the server dropped stays registered (and default) until Disconnect-Qfex, so the
            // user's next command says "connection closed" instead of "no session" and its buffered
            // frames can still be received.
            Buffer.Complete();
        }

        private sealed class AnswerWaiter
        {
            internal AnswerWaiter(Func<QfexFrame, bool> match) => Match = match;

            internal Func<QfexFrame, bool> Match { get; }

            internal TaskCompletionSource<QfexFrame> Completion { get; } =
                new TaskCompletionSource<QfexFrame>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        private sealed class InternalWaiter
        {
            internal InternalWaiter(Func<FrameContent, bool> match) => Match = match;

            internal Func<FrameContent, bool> Match { get; }

            internal TaskCompletionSource<FrameContent> Completion { get; } =
                new TaskCompletionSource<FrameContent>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
