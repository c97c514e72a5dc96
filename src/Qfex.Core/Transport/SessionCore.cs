using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>What the core made of a lost connection.</summary>
    internal enum LinkLoss
    {
        /// <summary>Not the current connection, or the session was already closed: nothing changes.</summary>
        Ignored,
        /// <summary>A connection that was being set up (first connect or a reconnect attempt) died: its waits failed.</summary>
        SetupFailed,
        /// <summary>The open session lost its connection and is now Reconnecting: start a reconnect.</summary>
        Reconnect,
        /// <summary>The session is now Closed.</summary>
        Closed,
    }

    /// <summary>
    /// The I/O-free heart of a session: its state and connection generation, frame numbering and the
    /// receive buffer, the waits for answers and claims, subscription tracking, and the outcome of every
    /// user request. No sockets, no timers, no clock: the socket link feeds it frames, the supervisor tells
    /// it about connections, and the unit tests drive it directly. Safe between threads.
    /// </summary>
    internal sealed class SessionCore
    {
        internal const string ReconnectedType = "qfex.reconnected";

        // State, generation, tickets. Never held while calling out (completions, buffer waits).
        private readonly object _gate = new object();
        // Numbering with buffering, so frames of a new connection and the reconnect notice never overtake
        // each other. Uncontended in the steady state.
        private readonly object _deliverGate = new object();
        private readonly List<RequestTicket> _inflight = new List<RequestTicket>();
        private readonly ConcurrentQueue<string> _log = new ConcurrentQueue<string>();
        private readonly Func<DateTime> _utcNow;
        private QfexSessionState _state = QfexSessionState.Connecting;
        private int _generation;
        // A connection that ended while it was being set up: it must never become the open one.
        private int _failedSetup;
        private bool _authenticated;
        private DateTime _connectedAt;
        private string? _closeReason;
        private long _sequence;
        private int _reconnects;

        internal SessionCore(int id, Uri uri, QfexEndpoint endpoint, int bufferCapacity, Func<DateTime> utcNow, long bufferBytes = FrameBuffer.DefaultByteBudget,
            bool cancelOnDisconnect = false, SessionSecrets? secrets = null, TimeProvider? clock = null)
        {
            Secrets = secrets ?? new SessionSecrets();
            Id = id;
            Uri = uri;
            Endpoint = endpoint;
            _utcNow = utcNow;
            Buffer = new FrameBuffer(bufferCapacity, bufferBytes, clock);
            Subscriptions = new SubscriptionTracker(endpoint);
            CancelOnDisconnect = new CancelOnDisconnectState(cancelOnDisconnect);
        }

        internal int Id { get; }
        internal Uri Uri { get; }
        internal QfexEndpoint Endpoint { get; }
        internal FrameBuffer Buffer { get; }
        internal SubscriptionTracker Subscriptions { get; }

        /// <summary>What the session must never show (its secret key, JWT, and its last auth's nonce and signature): every text from the server is masked with it.</summary>
        internal SessionSecrets Secrets { get; }

        /// <summary>Whether cancel-on-disconnect is on (Connect-Qfex or Send-QfexMessage): a reconnect turns it on again.</summary>
        internal CancelOnDisconnectState CancelOnDisconnect { get; }

        /// <summary>The client_order_id of each order the session saw (modify_order -Wait follows a new order_id by it).</summary>
        internal OrderIndex Orders { get; } = new OrderIndex();

        /// <summary>Waits for the answers to the module's own requests (auth, probes): taken before numbering, never shown.</summary>
        internal WaiterSet<FrameContent> Claims { get; } = new WaiterSet<FrameContent>(continueOnPool: true);

        /// <summary>Waits for the answers to user requests (-Wait): numbered frames, handed over instead of buffered.</summary>
        internal WaiterSet<QfexFrame> Answers { get; } = new WaiterSet<QfexFrame>(continueOnPool: false);

        internal QfexSessionState State
        {
            get { lock (_gate) return _state; }
        }

        internal bool IsAuthenticated
        {
            get { lock (_gate) return _authenticated; }
        }

        internal DateTime ConnectedAt
        {
            get { lock (_gate) return _connectedAt; }
        }

        internal string? CloseReason
        {
            get { lock (_gate) return _closeReason; }
        }

        internal int Generation
        {
            get { lock (_gate) return _generation; }
        }

        internal long FramesReceived => Interlocked.Read(ref _sequence);

        /// <summary>Writes the session's transcript (Connect-Qfex -RecordPath); null when not recording: one null check per frame.</summary>
        internal SessionRecorder? Recorder { get; set; }

        internal int Reconnects
        {
            get { lock (_gate) return _reconnects; }
        }

        // ------------------------------------------------------------------ background log

        /// <summary>Background events, for the next cmdlet to write as Verbose from the pipeline thread.</summary>
        internal IEnumerable<string> DrainLog()
        {
            while (_log.TryDequeue(out string? line)) yield return line;
        }

        internal void Log(string line)
        {
            // Bounded: a session nobody reads from must not grow without limit.
            if (_log.Count < 1000) _log.Enqueue($"[{_utcNow():HH:mm:ss.fff}] Session {Id}: {line}");
        }

        // ------------------------------------------------------------------ connections and state

        /// <summary>A new connection is being set up: its generation. Frames and requests of older ones are refused.</summary>
        internal int BeginLink()
        {
            lock (_gate)
            {
                if (_state == QfexSessionState.Open) throw new InvalidOperationException("A new connection while the current one is open.");
                return ++_generation;
            }
        }

        internal void SetAuthenticated(int generation)
        {
            lock (_gate)
                if (generation == _generation) _authenticated = true;
        }

        /// <summary>
        /// Connecting or Reconnecting to Open, only for the current connection and only if nothing closed the
        /// session meanwhile. Reopening after a drop counts the reconnect in the same step, so Reconnects and
        /// State never disagree.
        /// </summary>
        internal bool TryOpen(int generation)
        {
            lock (_gate)
            {
                if (generation != _generation || generation == _failedSetup
                    || (_state != QfexSessionState.Connecting && _state != QfexSessionState.Reconnecting)) return false;
                if (_state == QfexSessionState.Reconnecting) _reconnects++;
                _state = QfexSessionState.Open;
                _connectedAt = _utcNow();
                return true;
            }
        }

        /// <summary>
        /// A connection ended. The open session's requests in flight fail truthfully (not sent, or sent with
        /// an unknown outcome); the session goes to Reconnecting when allowed, else Closed.
        /// </summary>
        internal LinkLoss LinkLost(int generation, string reason, bool mayReconnect)
        {
            List<RequestTicket> failed;
            LinkLoss result;
            lock (_gate)
            {
                if (generation != _generation || _state == QfexSessionState.Closed) return LinkLoss.Ignored;
                if (_state != QfexSessionState.Open)
                {
                    result = LinkLoss.SetupFailed;
                    _failedSetup = generation;
                    failed = new List<RequestTicket>();
                }
                else
                {
                    _authenticated = false;
                    result = mayReconnect ? LinkLoss.Reconnect : LinkLoss.Closed;
                    if (mayReconnect) _state = QfexSessionState.Reconnecting;
                    failed = DecideAllLocked(reason, reconnecting: mayReconnect);
                }
            }
            // A wait for the setup's own answers (auth) fails with the reason.
            Claims.FailAll(_ => ClosedException(reason));
            Complete(failed);
            if (result == LinkLoss.Closed) Close(reason);
            return result;
        }

        /// <summary>Closes for good: every wait fails, the buffer ends (its frames can still be read). Idempotent.</summary>
        internal bool Close(string reason)
        {
            List<RequestTicket> failed;
            lock (_gate)
            {
                if (_state == QfexSessionState.Closed) return false;
                _state = QfexSessionState.Closed;
                _authenticated = false;
                _closeReason = Redaction.Clean(reason, Secrets);
                failed = DecideAllLocked(reason, reconnecting: false);
            }
            Claims.FailAll(_ => ClosedException(reason));
            Complete(failed);
            // Anything else that waits for an answer (never admitted through a ticket) fails too.
            Answers.FailAll(_ => ClosedException(reason));
            Buffer.Complete();
            // The last auth's nonce and signature are needed no longer once no connection can echo them and the
            // recorder has masked its last lines.
            SessionRecorder? recorder = Recorder;
            if (recorder == null)
            {
                Secrets.Forget();
            }
            else
            {
                recorder.Complete(reason, FramesReceived);
                recorder.Completion.ContinueWith(_ => Secrets.Forget(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
            return true;
        }

        // ------------------------------------------------------------------ requests

        /// <summary>
        /// Admits a user request for the current connection, registering its answer wait first; throws (not
        /// sent) when the session is not Open. From here on its outcome is decided only by this core.
        /// </summary>
        internal void Admit(RequestTicket ticket)
        {
            lock (_gate)
            {
                if (_state != QfexSessionState.Open)
                {
                    ticket.Phase = RequestPhase.Done;
                    ticket.Failure = NotSent(ticket, _state == QfexSessionState.Reconnecting
                        ? $"not sent: the connection had dropped and the session was reconnecting. Send {ticket.Type} again once State is Open (a qfex.reconnected frame announces it)."
                        : _state == QfexSessionState.Closed
                            ? $"not sent: the session is closed. {_closeReason}"
                            : "not sent: the session was still connecting.");
                    throw ticket.Failure;
                }
                ticket.Generation = _generation;
                ticket.Phase = RequestPhase.Admitted;
                if (ticket.AnswerMatch != null) ticket.Answer = Answers.Add(ticket.AnswerMatch, ticket);
                _inflight.Add(ticket);
            }
            if (ticket.Answer != null) Buffer.AllowOverflow(true);
        }

        /// <summary>
        /// Just before the write: true when the request may go out on the connection <paramref name="generation"/>
        /// (it becomes Writing: from here on it may reach the exchange). False with the failure already decided
        /// (a drop, a replaced connection): it was not sent, and never will be.
        /// </summary>
        internal bool BeginWrite(RequestTicket ticket, int generation)
        {
            lock (_gate)
            {
                if (ticket.Phase == RequestPhase.Done) return false;
                if (_state != QfexSessionState.Open || generation != ticket.Generation || generation != _generation)
                {
                    DecideLocked(ticket, NotSent(ticket,
                        $"not sent: the connection {ticket.Type} was admitted for was replaced while it waited for rate-limit room or its turn to be written. Send it again."));
                }
                else
                {
                    ticket.Phase = RequestPhase.Writing;
                    return true;
                }
            }
            Complete(new List<RequestTicket> { ticket });
            return false;
        }

        /// <summary>
        /// A token cancelled once the request is decided (already cancelled when it is): what a request waiting for
        /// rate-limit room watches, so a drop that refuses it also ends its wait.
        /// </summary>
        internal CancellationToken WhenDecided(RequestTicket ticket)
        {
            lock (_gate)
            {
                if (ticket.Phase == RequestPhase.Done) return new CancellationToken(canceled: true);
                ticket.Decided ??= new CancellationTokenSource();
                return ticket.Decided.Token;
            }
        }

        /// <summary>Refuses a request that is not yet written (not sent), unless already decided.</summary>
        internal void Refuse(RequestTicket ticket, string message)
        {
            lock (_gate)
            {
                if (ticket.Phase == RequestPhase.Done || ticket.Phase == RequestPhase.Writing || ticket.Phase == RequestPhase.Written) return;
                DecideLocked(ticket, NotSent(ticket, message));
            }
            Complete(new List<RequestTicket> { ticket });
        }

        /// <summary>The write completed: the request went out; it stays in flight only while its answer is awaited.</summary>
        internal void EndWrite(RequestTicket ticket)
        {
            lock (_gate)
            {
                if (ticket.Phase != RequestPhase.Writing) return;
                ticket.Phase = ticket.Answer != null ? RequestPhase.Written : RequestPhase.Done;
                if (ticket.Phase == RequestPhase.Done) _inflight.Remove(ticket);
            }
        }

        /// <summary>The write itself failed: the request may have reached the exchange (part of it may have been written).</summary>
        internal QfexException WriteFailed(RequestTicket ticket, string reason, Exception cause)
        {
            lock (_gate)
            {
                if (ticket.Phase != RequestPhase.Done)
                    DecideLocked(ticket, SentUnknown(ticket,
                        $"the connection failed while {ticket.Type} was being written ({reason}): it may or may not have reached the exchange. It is not sent again: check its outcome before resending.", cause));
            }
            Complete(new List<RequestTicket> { ticket });
            return ticket.Failure!;
        }

        /// <summary>
        /// The caller stopped (Ctrl+C) or is done with the request. Before it was written: not sent, never will be.
        /// Returns the answer if it was matched meanwhile (false: there was none).
        /// </summary>
        internal bool Finish(RequestTicket ticket, out QfexFrame? answer)
        {
            answer = null;
            lock (_gate)
            {
                _inflight.Remove(ticket);
                if (ticket.Phase == RequestPhase.Admitted)
                    ticket.Failure ??= NotSent(ticket, $"not sent: {ticket.Type} was stopped before it was written.");
                ticket.Phase = RequestPhase.Done;
            }
            bool stillWaiting = ticket.Answer != null && Answers.Remove(ticket.Answer);
            Buffer.AllowOverflow(Answers.Count > 0);
            if (ticket.Answer != null && !stillWaiting && ticket.Answer.Task.Status == TaskStatus.RanToCompletion)
            {
                answer = ticket.Answer.Task.Result;
                return true;
            }
            if (stillWaiting) ticket.Answer!.Completion.TrySetCanceled();
            return false;
        }

        private List<RequestTicket> DecideAllLocked(string reason, bool reconnecting)
        {
            var failed = new List<RequestTicket>();
            foreach (RequestTicket ticket in _inflight.ToArray())
            {
                QfexException failure = ticket.Phase == RequestPhase.Admitted
                    ? NotSent(ticket, $"not sent: the connection dropped ({reason}) while {ticket.Type} waited for rate-limit room or its turn to be written. " +
                        (reconnecting ? "The session reconnects by itself (State shows it; a qfex.reconnected frame announces it): send it again then." : "The session is closed."))
                    : SentUnknown(ticket, $"{ticket.Type} was sent, then the connection dropped ({reason}) before its answer arrived: it may or may not have reached the exchange. " +
                        "It is not sent again: check its outcome before resending.", null);
                DecideLocked(ticket, failure);
                failed.Add(ticket);
            }
            return failed;
        }

        private void DecideLocked(RequestTicket ticket, QfexException failure)
        {
            ticket.Failure ??= failure;
            ticket.Phase = RequestPhase.Done;
            _inflight.Remove(ticket);
        }

        /// <summary>Fails the answer waits of decided tickets; outside the lock (completions may run code).</summary>
        private void Complete(List<RequestTicket> tickets)
        {
            foreach (RequestTicket ticket in tickets)
            {
                // Decided under the lock, so no new watcher can come: a wait for rate-limit room ends first, then the answer's.
                ticket.Decided?.Cancel();
                if (ticket.Answer == null) continue;
                if (Answers.Remove(ticket.Answer) || !ticket.Answer.Task.IsCompleted)
                    ticket.Answer.Completion.TrySetException(ticket.Failure!);
            }
            Buffer.AllowOverflow(Answers.Count > 0);
        }

        private QfexConnectionException NotSent(RequestTicket ticket, string message) =>
            new QfexConnectionException(ErrorIds.ConnectionClosed, $"Session {Id} ({Uri}): {message}")
            {
                RequestOutcome = QfexRequestOutcome.NotSent,
                RequestType = ticket.Type,
            };

        private QfexConnectionException SentUnknown(RequestTicket ticket, string message, Exception? cause) =>
            new QfexConnectionException(ErrorIds.ConnectionClosed, $"Session {Id} ({Uri}): {message}", cause)
            {
                RequestOutcome = QfexRequestOutcome.SentOutcomeUnknown,
                RequestType = ticket.Type,
            };

        internal QfexConnectionException ClosedException(string message, Exception? inner = null) =>
            new QfexConnectionException(ErrorIds.ConnectionClosed, $"Session {Id} ({Uri}): {message}", inner);

        // ------------------------------------------------------------------ receiving

        /// <summary>
        /// Numbers a received frame and hands it over: to a claim (the module's own answers, never numbered),
        /// to a -Wait waiting for it, or to the buffer. With <paramref name="stage"/> (the receive loop) a
        /// frame may be staged instead: a burst is numbered and buffered under one lock per
        /// <see cref="StageBatch"/> frames, or as soon as the socket has nothing more (the loop flushes before
        /// it waits on the network), so readers and the loop do not contend frame by frame. Staging stops
        /// short of the buffer's capacity, so flushing never overfills it. A full buffer makes the returned
        /// task wait for room: the socket is then not read (TCP backpressure), nothing is dropped.
        /// </summary>
        internal Task DeliverAsync(FrameContent content, DateTime receivedAt, bool force = false, bool stage = false)
        {
            if (Claims.Count > 0 && (Recorder == null ? Claims.TryHandOver(content) : TryClaimRecorded(content, receivedAt)))
                return Task.CompletedTask;

            QfexFrame? numbered = null;
            if (Answers.Count > 0)
            {
                // An answer someone waits for is handed over even when the buffer is full; what arrived
                // before it is numbered and buffered first, so sequence numbers stay in arrival order.
                lock (_deliverGate)
                {
                    FlushStagedLocked();
                    numbered = Number(content, receivedAt);
                    if (numbered.Error is { HasNoEcho: true }
                        ? Answers.TryHandOver(numbered, EcholessErrorTaker)
                        : Answers.TryHandOver(numbered)) return Task.CompletedTask;
                }
            }

            if (stage && numbered == null && Buffer.RoomHint(_staged.Count + 1, _stagedBytes + content.Size))
            {
                lock (_deliverGate)
                {
                    _stagedBytes += content.Size;
                    _staged.Add(new StagedFrame(content, receivedAt));
                    if (_staged.Count >= StageBatch) FlushStagedLocked();
                }
                return Task.CompletedTask;
            }

            if (!force)
            {
                FlushStaged();
                Task room = Buffer.WaitForRoomAsync();
                if (!room.IsCompleted) return StoreAfter(room, content, receivedAt, numbered);
            }
            Store(content, receivedAt, numbered);
            return Task.CompletedTask;
        }

        /// <summary>
        /// A claim on a recorded session: written to the transcript before it is handed over, so what the
        /// claimant does next (the auth answer lets the session subscribe) comes after it. Its own method: the
        /// closure is allocated only here, never on the receive path of every frame.
        /// </summary>
        private bool TryClaimRecorded(FrameContent content, DateTime receivedAt)
        {
            SessionRecorder? recorder = Recorder;
            return recorder == null
                ? Claims.TryHandOver(content)
                : Claims.TryHandOver(content, w => w.Match(content) && recorder.Claimed(content, receivedAt, Transcript.ClaimedAuth));
        }

        private async Task StoreAfter(Task room, FrameContent content, DateTime receivedAt, QfexFrame? numbered)
        {
            await room.ConfigureAwait(false);
            Store(content, receivedAt, numbered);
        }

        private void Store(FrameContent content, DateTime receivedAt, QfexFrame? numbered)
        {
            lock (_deliverGate)
            {
                FlushStagedLocked();
                Buffer.Add(numbered ?? Number(content, receivedAt));
            }
        }

        /// <summary>
        /// An error frame that echoes no request cannot say which request it answers. The rule (the official CLI's,
        /// documented): it goes to the oldest -Wait of the session whose request was sent, as that request's answer.
        /// A frame goes to one waiter at most; with no such waiter it stays in the buffer for Receive-QfexFrame.
        /// </summary>
        private static bool EcholessErrorTaker(Waiter<QfexFrame> waiter) =>
            waiter.Owner is RequestTicket ticket && (ticket.Phase == RequestPhase.Writing || ticket.Phase == RequestPhase.Written);

        /// <summary>
        /// A reconnect's connection becomes the open one and the qfex.reconnected notice goes into the stream, in one
        /// step under the delivery lock: frames that connection delivered before are numbered before the notice, and
        /// every frame it delivers once the session is Open comes after it, however fast the server sends (a frame
        /// sent the moment State read Open was once numbered before the notice). <paramref name="opened"/> runs once
        /// the session is Open, before the notice is numbered. False (nothing delivered) when this connection may not
        /// open (see <see cref="TryOpen"/>).
        /// </summary>
        internal bool TryReopen(int generation, string reason, bool cancelOnDisconnect, Action? opened = null)
        {
            lock (_deliverGate)
            {
                if (!TryOpen(generation)) return false;
                opened?.Invoke();
                FlushStagedLocked();
                // Past the capacity if need be (by one frame): a full buffer must not hold the reconnect up.
                Buffer.Add(Number(ReconnectNotice(reason, cancelOnDisconnect), _utcNow()));
                return true;
            }
        }

        /// <summary>The reconnect notice: a frame of type qfex.reconnected, in sequence, so scripts reading the stream can react.</summary>
        private FrameContent ReconnectNotice(string reason, bool cancelOnDisconnect)
        {
            string raw = PSJson.Serialize(new Dictionary<string, object>
            {
                ["type"] = ReconnectedType,
                ["reconnects"] = Reconnects,
                ["reason"] = reason,
                ["subscriptions"] = Subscriptions.Current,
                ["cancel_on_disconnect"] = cancelOnDisconnect,
            });
            return new FrameContent(ReconnectedType, raw, null, null);
        }

        /// <summary>Puts back a frame taken but never handed to the user, after whatever is staged, so the buffer keeps sequence order.</summary>
        internal void ReturnFrame(QfexFrame frame)
        {
            lock (_deliverGate)
            {
                FlushStagedLocked();
                Buffer.Return(frame);
            }
        }

        internal const int StageBatch = 64;

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
        private long _stagedBytes;
        private readonly List<QfexFrame> _flushing = new List<QfexFrame>(StageBatch);

        /// <summary>Hands staged frames to the buffer (the receive loop calls it before it waits on the network).</summary>
        internal void FlushStaged()
        {
            if (_staged.Count == 0) return;
            lock (_deliverGate) FlushStagedLocked();
        }

        private void FlushStagedLocked()
        {
            if (_staged.Count == 0) return;
            foreach (StagedFrame staged in _staged) _flushing.Add(Number(staged.Content, staged.ReceivedAt));
            _staged.Clear();
            _stagedBytes = 0;
            Buffer.AddRange(_flushing);
            _flushing.Clear();
        }

        /// <summary>
        /// The next sequence number, and what the session restores and matches (subscriptions, cancel-on-disconnect,
        /// the order index) kept true to it. Under _deliverGate: numbers follow arrival order.
        /// </summary>
        private QfexFrame Number(FrameContent content, DateTime receivedAt)
        {
            QfexFrame frame = content.ToFrame(Interlocked.Increment(ref _sequence), receivedAt, Id);
            if (content.Malformed != MalformedKind.None) frame.Secrets = Secrets;
            Subscriptions.Track(frame);
            CancelOnDisconnect.Track(frame);
            Orders.Track(frame);
            Recorder?.Received(content, frame.Sequence, receivedAt);
            return frame;
        }
    }
}
