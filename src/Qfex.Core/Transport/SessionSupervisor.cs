using System;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>
    /// Keeps a session connected: the first connection, reconnects with jittered backoff after a drop, the
    /// idle watchdog, sends through the rate limiter, and closing. Everything time-related runs on the
    /// injected clock (<see cref="SessionOptions.Clock"/>), so the unit tests drive it with a fake clock and
    /// fake connections, without sockets or sleeps.
    /// </summary>
    internal sealed class SessionSupervisor : IDisposable
    {
        private readonly SessionCore _core;
        private readonly SessionOptions _options;
        private readonly Func<LinkSetup, CancellationToken, Task<ISessionLink>> _open;
        private readonly RequestThrottle? _throttle;
        private readonly CancellationTokenSource _lifetime = new CancellationTokenSource();
        // The current link, the watchdog and its probe, and the reconnect epoch.
        private readonly object _gate = new object();
        private ISessionLink? _link;
        private ITimer? _watchdog;
        private Probe? _probe;
        private int _reconnectEpoch;
        private volatile string? _closingBecause;

        internal SessionSupervisor(SessionCore core, SessionOptions options, Func<LinkSetup, CancellationToken, Task<ISessionLink>> open)
        {
            _core = core;
            _options = options;
            _open = open;
            // The exchange counts per user across all connections: the trade sessions of one account share the
            // limit. The market-data socket has no published limit and no user: its sessions each count their own.
            if (options.WeightPerSecond > 0)
                _throttle = new RequestThrottle(options, options.Endpoint == QfexEndpoint.Trade ? options.Credentials?.RateLimitKey : null);
        }

        /// <summary>The session's view of its account's rate limit (null when -MessagesPerSecond is 0).</summary>
        internal RequestThrottle? Throttle => _throttle;

        /// <summary>The connection in use (null before the first one).</summary>
        internal ISessionLink? Link
        {
            get { lock (_gate) return _link; }
        }

        private TimeSpan Half => TimeSpan.FromTicks(_options.IdleTimeout.Ticks / 2);

        // ------------------------------------------------------------------ connecting

        /// <summary>The first connection: socket, auth, subscriptions. Throws a QfexException on failure.</summary>
        internal async Task StartAsync(Action<string> log, CancellationToken cancellationToken)
        {
            ISessionLink link = await _open(new LinkSetup(restoring: false, null, log, OnLinkEnded), cancellationToken).ConfigureAwait(false);
            lock (_gate) _link = link;
            if (!_core.TryOpen(link.Generation))
            {
                link.Abort("The session closed while it was being set up.");
                // Ended as it was set up (a server that closed right after the handshake): the connect fails with its reason.
                if (link.EndReason is string ended)
                    throw new QfexConnectionException(ErrorIds.ConnectFailed, $"The connection to {_options.Uri} ended as it was being set up: {ended}");
                throw _core.ClosedException(_core.CloseReason ?? "The connection closed while it was being set up.");
            }
            _core.Recorder?.Opened(link.Generation);
            StartWatchdog();
        }

        /// <summary>
        /// A connection ended (reported once by its receive loop). The core decides what that means for the
        /// session; a drop of the open session starts a reconnect.
        /// </summary>
        private void OnLinkEnded(ISessionLink link, string reason)
        {
            string? closing = _closingBecause;
            LinkLoss loss = _core.LinkLost(link.Generation, closing ?? reason, mayReconnect: _options.Reconnect && closing == null);
            if (loss == LinkLoss.Reconnect)
            {
                _core.Log($"Connection lost ({reason}) Reconnecting.");
                int epoch;
                lock (_gate)
                {
                    _probe = null;
                    epoch = ++_reconnectEpoch;
                }
                _ = ReconnectLoopAsync(reason, epoch);
            }
            else if (loss == LinkLoss.Closed)
            {
                _core.Log($"Connection lost ({reason}) The session is closed.");
                StopWatchdog();
            }
        }

        private async Task ReconnectLoopAsync(string reason, int epoch)
        {
            TimeSpan delay = _options.ReconnectBaseDelay;
            string lastError = reason;
            for (int attempt = 1; attempt <= _options.MaxReconnectAttempts; attempt++)
            {
                // Full jitter around the backoff, so many clients do not reconnect in step.
                TimeSpan wait = TimeSpan.FromMilliseconds(delay.TotalMilliseconds * _options.JitterFactor());
                try
                {
                    await _options.Clock.Delay(wait, _lifetime.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                if (_closingBecause != null || !IsCurrent(epoch)) return;

                bool opened = false;
                try
                {
                    _core.Log($"Reconnect attempt {attempt} of {_options.MaxReconnectAttempts}.");
                    await _open(new LinkSetup(restoring: true, link => ReopenedAsync(link, reason, () => opened = true), _core.Log, OnLinkEnded), _lifetime.Token).ConfigureAwait(false);
                    return;
                }
                catch (Exception e) when (e is QfexException || e is OperationCanceledException)
                {
                    // Once the new connection was open, its own drop starts its own reconnect: this one is done.
                    if (opened || _closingBecause != null || !IsCurrent(epoch)) return;
                    lastError = e.Message;
                    _core.Log($"Reconnect attempt {attempt} failed: {e.Message}");
                    _core.Recorder?.AttemptFailed(attempt, e.Message);
                }
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, _options.ReconnectMaxDelay.TotalMilliseconds));
            }
            _core.Close($"Gave up reconnecting after {_options.MaxReconnectAttempts} attempts. First drop: {reason} Last error: {lastError}");
            StopWatchdog();
        }

        private bool IsCurrent(int epoch)
        {
            lock (_gate) return epoch == _reconnectEpoch;
        }

        /// <summary>
        /// A reconnect's connection is authenticated (and cancel-on-disconnect is on again): it becomes the
        /// session's connection and the session is Open, and the qfex.reconnected notice goes into the stream in
        /// the same step, before anything that connection receives from then on (the restored subscriptions'
        /// acknowledgements included). A script that reads the notice can send at once.
        /// </summary>
        private Task ReopenedAsync(ISessionLink link, string reason, Action opened)
        {
            lock (_gate) _link = link;
            // What this connection's setup did: cancel-on-disconnect was turned on again when it is on.
            bool cancelOnDisconnect = _options.Endpoint == QfexEndpoint.Trade && _core.CancelOnDisconnect.Value;
            bool reopened = _core.TryReopen(link.Generation, reason, cancelOnDisconnect, () =>
            {
                _core.Recorder?.Opened(link.Generation);
                // Logged as the session opens, before the notice: whoever sees the notice sees this line too.
                _core.Log($"Reconnected (reconnect {_core.Reconnects}).");
                opened();
            });
            if (!reopened)
                throw _core.ClosedException(link.EndReason ?? _core.CloseReason ?? "The session closed while it was reconnecting.");
            return Task.CompletedTask;
        }

        // ------------------------------------------------------------------ sending

        /// <summary>
        /// Sends a user request: admitted for the current connection (else not sent), throttled by its weight
        /// (waiting with a note in <paramref name="onThrottle"/>), then written, unless the connection it was
        /// admitted for was lost meanwhile. Throws a QfexException that says whether it was sent.
        /// </summary>
        internal async Task SendAsync(RequestTicket ticket, Action<string> onThrottle, CancellationToken cancellationToken)
        {
            _core.Admit(ticket);
            // What a reconnect restores follows what the user sends: a subscribe is wanted (and cancel-on-disconnect
            // set) before the write, since the answer may come at once, and undone if it was not sent after all; an
            // unsubscribe stops restoring once it was written (or may have been).
            string[]? keys = _core.Subscriptions.KeysOfRequest(ticket.Type, ticket.Json);
            string[]? wanted = keys != null && ticket.Type == "subscribe" ? _core.Subscriptions.Want(keys) : null;
            bool? cancelOnDisconnect = _options.Endpoint == QfexEndpoint.Trade ? _core.CancelOnDisconnect.Sending(ticket.Type, ticket.Json) : null;
            try
            {
                await WriteAsync(ticket, onThrottle, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException || (e is QfexException q && q.RequestOutcome == QfexRequestOutcome.NotSent))
            {
                if (wanted != null) _core.Subscriptions.Forget(wanted);
                if (cancelOnDisconnect.HasValue) _core.CancelOnDisconnect.Undo(cancelOnDisconnect.Value);
                throw;
            }
            finally
            {
                if (keys != null && ticket.Type == "unsubscribe" && ticket.Phase != RequestPhase.Admitted && ticket.Failure?.RequestOutcome != QfexRequestOutcome.NotSent)
                    _core.Subscriptions.Unwant(keys);
            }
        }

        private async Task WriteAsync(RequestTicket ticket, Action<string> onThrottle, CancellationToken cancellationToken)
        {
            try
            {
                if (_throttle != null)
                {
                    try
                    {
                        if (!_throttle.TryAcquire(ticket.Type)) await WaitForRoomAsync(ticket, onThrottle, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is ObjectDisposedException || (e is InvalidOperationException && !cancellationToken.IsCancellationRequested))
                    {
                        _core.Refuse(ticket, $"not sent: the session closed while {ticket.Type} waited for rate-limit room.");
                        throw ticket.Failure!;
                    }
                }
                ISessionLink? link = Link;
                if (link == null)
                {
                    _core.Refuse(ticket, _options.Offline
                        ? $"not sent: session {_core.Id} is an offline stand-in (New-QfexTestSession), which never connects or sends. Mock the cmdlet that sends in the test, or use Start-QfexTestServer."
                        : "not sent: the session has no connection.");
                    throw ticket.Failure!;
                }
                await link.SendRequestAsync(ticket, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl+C before the write: not sent, and it never will be.
                _core.Finish(ticket, out _);
                throw;
            }
        }

        /// <summary>
        /// Waits in the rate limit's line until the request fits. A request decided meanwhile (a drop refused it:
        /// not sent) leaves the line at once: it never takes room that the requests sent after the reconnect need.
        /// </summary>
        private async Task WaitForRoomAsync(RequestTicket ticket, Action<string> onThrottle, CancellationToken cancellationToken)
        {
            CancellationToken decided = _core.WhenDecided(ticket);
            cancellationToken.ThrowIfCancellationRequested();
            if (decided.IsCancellationRequested) throw ticket.Failure!;   // refused before it began to wait
            using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, decided);
            try
            {
                await _throttle!.WaitAsync(ticket.Type, onThrottle, either.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (decided.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw ticket.Failure!;
            }
        }

        // ------------------------------------------------------------------ the idle watchdog

        private sealed class Probe
        {
            internal Probe(ISessionLink link, long fullEpisodes)
            {
                Link = link;
                FullEpisodes = fullEpisodes;
            }

            internal ISessionLink Link { get; }

            /// <summary>How often the buffer had filled up when the probe was decided on.</summary>
            internal long FullEpisodes { get; }

            /// <summary>When the write began (a clock timestamp); 0 until then.</summary>
            internal long StartedAt { get; set; }

            internal bool Written { get; set; }
        }

        /// <summary>
        /// The built-in keep-alive cannot see a dead server, so a trade session that has heard nothing for half
        /// the idle timeout sends a cheap read-only probe; the connection is declared dead only when that probe
        /// went unanswered (nothing at all arrived) for another half, measured from the probe's write, never from
        /// silence measured across a late timer. Its own backpressure (a full buffer: the socket is not read, an
        /// answer may wait behind unread frames) never counts as silence. The market-data socket has no request a
        /// quiet healthy connection would answer: its liveness is the WebSocket ping (see SocketLink).
        /// </summary>
        private void StartWatchdog()
        {
            if (_options.IdleTimeout <= TimeSpan.Zero || _options.Endpoint != QfexEndpoint.Trade) return;
            lock (_gate)
            {
                if (_watchdog != null || _closingBecause != null) return;
                _watchdog = _options.Clock.CreateTimer(_ => OnWatchdog(), null, Half, Timeout.InfiniteTimeSpan);
            }
        }

        private void StopWatchdog()
        {
            ITimer? timer;
            lock (_gate)
            {
                timer = _watchdog;
                _watchdog = null;
                _probe = null;
            }
            timer?.Dispose();
        }

        private void OnWatchdog()
        {
            ISessionLink? probeOn = null;
            ISessionLink? dead = null;
            string deadReason = string.Empty;
            lock (_gate)
            {
                if (_watchdog == null) return;
                TimeSpan next = Half;
                ISessionLink? link = _link;
                if (link != null && _core.State == QfexSessionState.Open)
                    next = CheckLocked(link, ref probeOn, ref dead, ref deadReason);
                _watchdog.Change(next, Timeout.InfiniteTimeSpan);
            }
            if (dead != null)
            {
                _core.Log(deadReason);
                dead.Abort(deadReason);
            }
            if (probeOn != null) _ = SendProbeAsync(probeOn);
        }

        /// <summary>Under the lock: the time until the next look, and what to do now.</summary>
        private TimeSpan CheckLocked(ISessionLink link, ref ISessionLink? probeOn, ref ISessionLink? dead, ref string deadReason)
        {
            TimeSpan half = Half;
            long now = _options.Clock.GetTimestamp();
            FrameBuffer buffer = _core.Buffer;
            if (_probe != null)
            {
                Probe probe = _probe;
                if (probe.Link == link && !probe.Written) return half;
                // Anything that arrived since the probe went out proves the server alive; a buffer that filled up
                // since then excuses the silence (the answer may wait behind frames nobody read).
                if (probe.Link != link || link.LastActivity >= probe.StartedAt || buffer.IsFull || buffer.FullEpisodes != probe.FullEpisodes)
                {
                    _probe = null;
                }
                else
                {
                    TimeSpan waited = _options.Clock.GetElapsedTime(probe.StartedAt, now);
                    if (waited < half) return half - waited;
                    dead = link;
                    deadReason = $"The idle probe sent {waited.TotalSeconds:0.#} s ago went unanswered and nothing else arrived: the connection is presumed dead (half-open); replacing it.";
                    _probe = null;
                    return half;
                }
            }

            if (buffer.IsFull) return half;
            TimeSpan silent = _options.Clock.GetElapsedTime(link.LastActivity, now);
            if (silent < half) return half - silent;
            if (!_core.IsAuthenticated) return half;
            _probe = new Probe(link, buffer.FullEpisodes);
            probeOn = link;
            return half;
        }

        private async Task SendProbeAsync(ISessionLink link)
        {
            try
            {
                // The probe counts against the rate limit like any request.
                if (_throttle != null)
                    await _throttle.AcquireAsync(SocketLink.ProbeType, _core.Log, _lifetime.Token).ConfigureAwait(false);
                lock (_gate)
                {
                    if (_probe?.Link != link) return;
                    _probe.StartedAt = _options.Clock.GetTimestamp();
                }
                await link.SendProbeAsync(_lifetime.Token).ConfigureAwait(false);
                lock (_gate)
                {
                    if (_probe?.Link != link) return;
                    _probe.Written = true;
                    // The deadline runs from the write: look again when it is due.
                    _watchdog?.Change(Half, Timeout.InfiniteTimeSpan);
                }
            }
            catch (Exception e) when (e is QfexException || e is OperationCanceledException || e is ObjectDisposedException || e is InvalidOperationException)
            {
                lock (_gate)
                    if (_probe?.Link == link) _probe = null;
            }
        }

        // ------------------------------------------------------------------ closing

        /// <summary>Closes cleanly: close handshake, abort after the timeout, and whatever the session was doing stops. No reconnect follows.</summary>
        internal async Task CloseAsync(string reason, TimeSpan timeout)
        {
            _closingBecause ??= "Closed by " + reason + ".";
            _lifetime.Cancel();
            StopWatchdog();
            ISessionLink? link = Link;
            try
            {
                if (link != null && _core.State != QfexSessionState.Closed)
                    await link.CloseAsync(reason, timeout).ConfigureAwait(false);
            }
            finally
            {
                _core.Close(_closingBecause);
                _throttle?.Dispose();
            }
            // A closed session's transcript is whole on disk before Disconnect-Qfex returns.
            if (_core.Recorder is SessionRecorder recorder)
                await Task.WhenAny(recorder.Completion, Task.Delay(RecorderCloseTimeout)).ConfigureAwait(false);
        }

        private static readonly TimeSpan RecorderCloseTimeout = TimeSpan.FromSeconds(5);

        public void Dispose()
        {
            StopWatchdog();
            _lifetime.Cancel();
            _lifetime.Dispose();
            _throttle?.Dispose();
        }
    }
}
