using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Time.Testing;
using Qfex.Protocol;
using Qfex.Transport;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// The supervisor (reconnect backoff, the idle watchdog, sends, closing) on a fake clock with fake
    /// connections: no sockets, no sleeps, every delay advanced by hand.
    /// </summary>
    public sealed class SupervisorTests : IDisposable
    {
        private readonly CountingClock _clock = new CountingClock();

        /// <summary>A fake clock that counts the timers and delays created on it: "the supervisor is waiting now".</summary>
        private sealed class CountingClock : FakeTimeProvider
        {
            private int _timers;

            internal CountingClock() : base(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero)) { }

            internal int Timers => Volatile.Read(ref _timers);

            public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
            {
                // Counted once registered: counted before, a test could advance the clock between the count and the
                // registration, and the timer would then be due a whole step later than the test expects.
                ITimer timer = base.CreateTimer(callback, state, dueTime, period);
                Interlocked.Increment(ref _timers);
                return timer;
            }
        }

        /// <summary>Waits until the reconnect loop has started its next backoff delay (a new timer on the clock).</summary>
        private void UntilWaitingFor(int timers) => Wait.Until(() => _clock.Timers >= timers, $"{timers} timer(s) on the fake clock");
        private readonly List<FakeLink> _links = new List<FakeLink>();
        private readonly Queue<Exception> _failNextOpens = new Queue<Exception>();
        private QfexSession? _session;

        public void Dispose() => _session?.Supervisor.Dispose();

        /// <summary>A connection that records what it was asked to send and ends when told to.</summary>
        private sealed class FakeLink : ISessionLink
        {
            private readonly SessionCore _core;
            private readonly LinkSetup _setup;
            private readonly TimeProvider _clock;
            private long _lastActivity;

            internal FakeLink(SessionCore core, LinkSetup setup, TimeProvider clock)
            {
                _core = core;
                _setup = setup;
                _clock = clock;
                Generation = core.BeginLink();
                _lastActivity = clock.GetTimestamp();
            }

            public int Generation { get; }
            public long LastActivity => Interlocked.Read(ref _lastActivity);
            public string? EndReason { get; private set; }
            internal LinkSetup Setup => _setup;
            internal ConcurrentQueue<string> Sent { get; } = new ConcurrentQueue<string>();
            internal int Probes;
            internal string? AbortedBecause;

            public Task SendControlAsync(string json, CancellationToken cancellationToken)
            {
                Sent.Enqueue(json);
                return Task.CompletedTask;
            }

            public Task SendRequestAsync(RequestTicket ticket, CancellationToken cancellationToken)
            {
                if (!_core.BeginWrite(ticket, Generation)) throw ticket.Failure!;
                Sent.Enqueue(ticket.Json);
                _core.EndWrite(ticket);
                return Task.CompletedTask;
            }

            public Task SendProbeAsync(CancellationToken cancellationToken)
            {
                Interlocked.Increment(ref Probes);
                return Task.CompletedTask;
            }

            public Task CloseAsync(string reason, TimeSpan timeout)
            {
                End("closed: " + reason);
                return Task.CompletedTask;
            }

            public void Abort(string reason)
            {
                AbortedBecause ??= reason;
                End(reason);
            }

            /// <summary>Something arrived now.</summary>
            internal void Hear() => Interlocked.Exchange(ref _lastActivity, _clock.GetTimestamp());

            internal void End(string reason)
            {
                if (EndReason != null) return;
                EndReason = reason;
                _setup.Ended(this, reason);
            }
        }

        private QfexSession Start(QfexEndpoint endpoint = QfexEndpoint.Trade, TimeSpan? idle = null, double weightPerSecond = 0)
        {
            var options = new SessionOptions
            {
                Uri = new Uri("ws://127.0.0.1:1/"),
                Endpoint = endpoint,
                Clock = _clock,
                JitterFactor = () => 1.0,
                IdleTimeout = idle ?? TimeSpan.Zero,
                WeightPerSecond = weightPerSecond,
                RateLimitWindow = TimeSpan.FromSeconds(4),
                ReconnectBaseDelay = TimeSpan.FromMilliseconds(500),
                ReconnectMaxDelay = TimeSpan.FromSeconds(4),
                MaxReconnectAttempts = 5,
            };
            _session = new QfexSession(options, OpenAsync);
            _session.StartAsync(_ => { }, CancellationToken.None).GetAwaiter().GetResult();
            Assert.Equal(QfexSessionState.Open, _session.State);
            return _session;
        }

        private async Task<ISessionLink> OpenAsync(SessionCore core, LinkSetup setup, CancellationToken token)
        {
            var link = new FakeLink(core, setup, _clock);
            lock (_links) _links.Add(link);
            if (_failNextOpens.Count > 0) throw _failNextOpens.Dequeue();
            core.SetAuthenticated(link.Generation);
            if (setup.Authenticated != null) await setup.Authenticated(link);
            return link;
        }

        private FakeLink Current
        {
            get { lock (_links) return _links[_links.Count - 1]; }
        }

        private int LinkCount
        {
            get { lock (_links) return _links.Count; }
        }

        // ------------------------------------------------------------------ reconnects

        [Fact]
        public void ADropIsFollowedByAReconnectAfterTheBackoffDelayAndANoticeInSequence()
        {
            QfexSession session = Start();
            Current.End("reset by peer");
            Assert.Equal(QfexSessionState.Reconnecting, session.State);

            UntilWaitingFor(1);
            _clock.Advance(TimeSpan.FromMilliseconds(499));
            Assert.Equal(1, LinkCount);
            _clock.Advance(TimeSpan.FromMilliseconds(1));
            Wait.Until(() => session.State == QfexSessionState.Open, "the reconnect");
            Assert.Equal(2, LinkCount);
            Assert.Equal(1, session.Reconnects);
            // The notice follows the state change into the stream.
            Wait.Until(() => session.FramesPending == 1, "the reconnect notice");

            var frames = new List<QfexFrame>();
            session.Buffer.TryTakeMany(null, 10, frames);
            QfexFrame notice = Assert.Single(frames);
            Assert.Equal(SessionCore.ReconnectedType, notice.Type);
            Assert.Contains("reset by peer", notice.Raw);
        }

        [Fact]
        public void FailedReconnectsBackOffExponentiallyUpToTheMaximumThenGiveUp()
        {
            QfexSession session = Start();
            for (int i = 0; i < 5; i++) _failNextOpens.Enqueue(new QfexConnectionException("QfexConnectFailed", "refused " + i));
            Current.End("dropped");

            // 0.5 s, 1 s, 2 s, 4 s, 4 s (capped): each attempt exactly when due, not before.
            int timers = 0;
            foreach (int ms in new[] { 500, 1000, 2000, 4000, 4000 })
            {
                int before = LinkCount;
                UntilWaitingFor(++timers);
                _clock.Advance(TimeSpan.FromMilliseconds(ms - 1));
                Assert.Equal(before, LinkCount);
                _clock.Advance(TimeSpan.FromMilliseconds(1));
                Wait.Until(() => LinkCount == before + 1, $"attempt {timers}");
            }
            Wait.Until(() => session.State == QfexSessionState.Closed, "giving up");
            Assert.Contains("Gave up reconnecting after 5 attempts", session.CloseReason);
            Assert.Contains("refused 4", session.CloseReason);
        }

        [Fact]
        public async Task ARequestAdmittedBeforeADropIsNeverWrittenOnTheReconnectedLink()
        {
            QfexSession session = Start();
            var ticket = new RequestTicket("add_order", "{\"type\":\"add_order\"}", f => true);
            session.Core.Admit(ticket);   // as if it waited for rate-limit room
            FakeLink first = Current;
            first.End("dropped");
            UntilWaitingFor(1);
            _clock.Advance(TimeSpan.FromSeconds(1));
            Wait.Until(() => session.State == QfexSessionState.Open, "the reconnect");

            var refused = await Assert.ThrowsAsync<QfexConnectionException>(() => Current.SendRequestAsync(ticket, CancellationToken.None));
            Assert.Equal(QfexRequestOutcome.NotSent, refused.RequestOutcome);
            Assert.DoesNotContain(Current.Sent, s => s.Contains("add_order"));
        }

        [Fact]
        public async Task ARequestWaitingForRateLimitRoomThatADropRefusesLeavesTheLineAndTakesNoRoom()
        {
            // 2.5 weight units averaged over 4 s: two orders (weight 1) go at once, the third waits about 1.15 s.
            QfexSession session = Start(weightPerSecond: 0.625);
            EmaBucket bucket = session.Supervisor.Throttle!.Shared.General;
            static RequestTicket Order(int n) => new RequestTicket("add_order", "{\"type\":\"add_order\",\"n\":" + n + "}", null);
            await session.SendAsync(Order(1), _ => { }, CancellationToken.None);
            await session.SendAsync(Order(2), _ => { }, CancellationToken.None);
            var notes = new List<string>();
            Task third = session.SendAsync(Order(3), notes.Add, CancellationToken.None);
            Assert.False(third.IsCompleted);
            Assert.Equal(1, bucket.Waiting);
            Assert.Contains(notes, n => n.StartsWith("Throttling add_order", StringComparison.Ordinal));

            int timers = _clock.Timers;
            FakeLink first = Current;
            first.End("dropped");
            Wait.Until(() => third.IsCompleted, "the refusal of the waiting order");
            var refused = await Assert.ThrowsAsync<QfexConnectionException>(() => third);
            Assert.Equal(QfexRequestOutcome.NotSent, refused.RequestOutcome);
            // It left the line with its answer: no room is taken for a request that will never be written.
            Assert.Equal(0, bucket.Waiting);
            Assert.Equal(2.0, bucket.Load, 6);

            UntilWaitingFor(timers + 1);
            _clock.Advance(TimeSpan.FromSeconds(1));
            Wait.Until(() => session.State == QfexSessionState.Open, "the reconnect");
            // By 1.15 s the two orders' load has decayed to 1.5: a new order fits now, at once (behind nothing).
            _clock.Advance(TimeSpan.FromMilliseconds(151));
            Task fourth = session.SendAsync(Order(4), _ => { }, CancellationToken.None);
            Assert.True(fourth.IsCompleted);
            await fourth;
            _clock.Advance(TimeSpan.FromMinutes(1));
            Assert.Equal(new[] { "\"n\":1", "\"n\":2" }, first.Sent.Where(s => s.Contains("add_order")).Select(s => s.Substring(s.IndexOf("\"n\"", StringComparison.Ordinal)).TrimEnd('}')));
            Assert.Equal(new[] { "{\"type\":\"add_order\",\"n\":4}" }, Current.Sent.Where(s => s.Contains("add_order")));
        }

        [Fact]
        public async Task DisconnectingDuringTheBackoffStopsTheReconnect()
        {
            QfexSession session = Start();
            Current.End("dropped");
            UntilWaitingFor(1);
            await session.CloseAsync("Disconnect-Qfex", TimeSpan.FromSeconds(1));
            _clock.Advance(TimeSpan.FromMinutes(5));
            Assert.Equal(1, LinkCount);
            Assert.Equal(QfexSessionState.Closed, session.State);
            Assert.Equal("Closed by Disconnect-Qfex.", session.CloseReason);
        }

        // ------------------------------------------------------------------ the watchdog

        [Fact]
        public void AQuietHealthyTradeSessionIsProbedAndNeverReplaced()
        {
            QfexSession session = Start(idle: TimeSpan.FromSeconds(10));
            FakeLink link = Current;
            for (int i = 0; i < 20; i++)
            {
                _clock.Advance(TimeSpan.FromSeconds(5));   // half the idle timeout of silence: a probe
                Assert.Equal(i + 1, link.Probes);
                _clock.Advance(TimeSpan.FromSeconds(1));
                link.Hear();                                // its answer
            }
            Assert.Null(link.AbortedBecause);
            Assert.Equal(1, LinkCount);
            Assert.Equal(QfexSessionState.Open, session.State);
        }

        [Fact]
        public void AnUnansweredProbeReplacesTheConnectionExactlyAtItsDeadline()
        {
            Start(idle: TimeSpan.FromSeconds(10));
            FakeLink link = Current;
            _clock.Advance(TimeSpan.FromSeconds(5));
            Assert.Equal(1, link.Probes);
            _clock.Advance(TimeSpan.FromMilliseconds(4999));
            Assert.Null(link.AbortedBecause);
            _clock.Advance(TimeSpan.FromMilliseconds(1));
            Assert.Contains("probe sent 5 s ago went unanswered", link.AbortedBecause);
        }

        [Fact]
        public void ALateTimerSendsAProbeAndNeverDeclaresDeathFromSilenceAlone()
        {
            // Issue 12: ticks delayed behind a busy thread pool must not turn into "no frame for N s: abort".
            Start(idle: TimeSpan.FromSeconds(1));
            FakeLink link = Current;
            _clock.AdjustTime(_clock.GetUtcNow() + TimeSpan.FromSeconds(30));   // the clock jumps; no timer fired
            _clock.Advance(TimeSpan.Zero);
            _clock.Advance(TimeSpan.FromMilliseconds(500));
            Assert.Equal(1, link.Probes);
            Assert.Null(link.AbortedBecause);
            link.Hear();
            _clock.Advance(TimeSpan.FromMilliseconds(500));
            Assert.Null(link.AbortedBecause);
        }

        [Fact]
        public async Task AFullBufferIsBackpressureNotSilence()
        {
            var options = new SessionOptions
            {
                Uri = new Uri("ws://127.0.0.1:1/"),
                Clock = _clock,
                JitterFactor = () => 1.0,
                IdleTimeout = TimeSpan.FromSeconds(2),
                WeightPerSecond = 0,
                BufferCapacity = 2,
            };
            _session = new QfexSession(options, OpenAsync);
            await _session.StartAsync(_ => { }, CancellationToken.None);
            FakeLink link = Current;
            var contents = new List<FrameContent>();
            FrameReader.ReadText(System.Text.Encoding.UTF8.GetBytes("{\"type\":\"tick\"}"), contents);
            await _session.Core.DeliverAsync(contents[0], DateTime.UtcNow);
            await _session.Core.DeliverAsync(contents[0], DateTime.UtcNow);
            Task parked = _session.Core.DeliverAsync(contents[0], DateTime.UtcNow);   // the loop would park here
            Assert.False(parked.IsCompleted);
            Assert.True(_session.Buffer.IsFull);

            _clock.Advance(TimeSpan.FromSeconds(60));
            Assert.Equal(0, link.Probes);
            Assert.Null(link.AbortedBecause);
        }

        [Fact]
        public void AMarketDataSessionIsNeverReplacedForSilence()
        {
            // Its liveness is the WebSocket ping/pong of the socket itself (see SocketLink), not silence.
            Start(QfexEndpoint.MarketData, idle: TimeSpan.FromSeconds(3));
            FakeLink link = Current;
            _clock.Advance(TimeSpan.FromMinutes(10));
            Assert.Equal(0, link.Probes);
            Assert.Null(link.AbortedBecause);
            Assert.Equal(1, LinkCount);
        }
    }
}
