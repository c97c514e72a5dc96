using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>
    /// Keeps a session under the exchange's weighted rate limit (protocol doc §6.1) instead of earning RateLimited:
    /// each request takes its type's weight from a bucket whose load is an exponential moving average
    /// (<see cref="EmaLoad"/>: budget = weight per second x window, time constant = the window), and waits, first
    /// come first served, until it fits. Cancels (cancel_order, cancel_all_orders, cancel_stop_order) count in a
    /// bucket of their own, so a cancel never waits behind queries or orders. The buckets belong to the account:
    /// every session of one account in the process with the same settings shares them (see <see cref="RateLimitRegistry"/>).
    /// </summary>
    internal sealed class RequestThrottle : IDisposable
    {
        private readonly SharedRateLimit _shared;
        private readonly IDictionary<string, double> _overrides;
        private readonly CancellationTokenSource _disposed = new CancellationTokenSource();
        private int _released;

        /// <param name="accountKey">Whose limit this is (null: this session's own, not shared).</param>
        internal RequestThrottle(SessionOptions options, string? accountKey)
        {
            _overrides = options.WeightOverrides;
            _shared = RateLimitRegistry.Acquire(accountKey, options.WeightPerSecond * options.RateLimitWindow.TotalSeconds, options.RateLimitWindow, options.Clock);
        }

        internal SharedRateLimit Shared => _shared;

        internal double WeightOf(string type) =>
            _overrides.TryGetValue(type, out double w) ? w : RateLimits.WeightOf(type);

        /// <summary>Takes the request's weight; when there is no room now, says so through <paramref name="onWait"/> and waits.</summary>
        internal async Task AcquireAsync(string type, Action<string> onWait, CancellationToken cancellationToken)
        {
            if (!TryAcquire(type)) await WaitAsync(type, onWait, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Takes the request's weight when there is room now and nobody waits before it.</summary>
        internal bool TryAcquire(string type)
        {
            double weight = WeightOf(type);
            if (weight <= 0) return true;
            if (_disposed.IsCancellationRequested) throw new ObjectDisposedException(nameof(RequestThrottle));
            return _shared.Bucket(RateLimits.BucketOf(type)).TryTake(weight);
        }

        /// <summary>
        /// Says through <paramref name="onWait"/> that the request waits, then waits in line until its weight fits
        /// and takes it. A cancelled wait leaves the line at once and takes nothing.
        /// </summary>
        internal async Task WaitAsync(string type, Action<string> onWait, CancellationToken cancellationToken)
        {
            double weight = WeightOf(type);
            if (weight <= 0) return;
            RateBucket kind = RateLimits.BucketOf(type);
            EmaBucket bucket = _shared.Bucket(kind);
            if (_disposed.IsCancellationRequested) throw new ObjectDisposedException(nameof(RequestThrottle));

            onWait(string.Format(CultureInfo.InvariantCulture,
                "Throttling {0} (weight {1}): waiting about {2:0.###} s for room in the {3} bucket of the client-side rate limit " +
                "({4} weight units averaged over {5} s, {6}).",
                type, weight, bucket.SecondsUntilFits(weight), kind == RateBucket.Cancel ? "cancel" : "general",
                bucket.Budget, bucket.WindowSeconds, _shared.IsShared ? $"shared by the {_shared.Users} session(s) of this account" : "this session's own"));
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
            try
            {
                await bucket.TakeAsync(weight, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_disposed.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new ObjectDisposedException(nameof(RequestThrottle));
            }
        }

        /// <summary>Ends this session's waits and leaves the shared limit (the last session to leave disposes it). Idempotent.</summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0) return;
            _disposed.Cancel();
            RateLimitRegistry.Release(_shared);
            _disposed.Dispose();
        }
    }

    /// <summary>One account's rate limit in the process: a general and a cancel bucket.</summary>
    internal sealed class SharedRateLimit : IDisposable
    {
        internal SharedRateLimit(string? account, double budget, TimeSpan window, TimeProvider clock)
        {
            Account = account;
            General = new EmaBucket(budget, window, clock);
            Cancel = new EmaBucket(budget, window, clock);
        }

        internal string? Account { get; }
        internal bool IsShared => Account != null;
        internal EmaBucket General { get; }
        internal EmaBucket Cancel { get; }

        /// <summary>Sessions using it (under the registry's lock).</summary>
        internal int Users { get; set; }

        internal EmaBucket Bucket(RateBucket kind) => kind == RateBucket.Cancel ? Cancel : General;

        public void Dispose()
        {
            General.Dispose();
            Cancel.Dispose();
        }
    }

    /// <summary>
    /// The process's rate limits by account: sessions with the same account key (the public key, or a JWT's
    /// subject) and the same settings (budget, window) share one; other settings get a limit of their own.
    /// </summary>
    internal static class RateLimitRegistry
    {
        private static readonly object Gate = new object();
        private static readonly Dictionary<(string Account, double Budget, long WindowTicks, TimeProvider Clock), SharedRateLimit> ByAccount =
            new Dictionary<(string, double, long, TimeProvider), SharedRateLimit>();

        internal static SharedRateLimit Acquire(string? account, double budget, TimeSpan window, TimeProvider clock)
        {
            if (account == null) return new SharedRateLimit(null, budget, window, clock) { Users = 1 };
            var key = (account, budget, window.Ticks, clock);
            lock (Gate)
            {
                if (!ByAccount.TryGetValue(key, out SharedRateLimit? shared))
                {
                    shared = new SharedRateLimit(account, budget, window, clock);
                    ByAccount.Add(key, shared);
                }
                shared.Users++;
                return shared;
            }
        }

        internal static void Release(SharedRateLimit shared)
        {
            lock (Gate)
            {
                if (--shared.Users > 0) return;
                if (shared.Account != null)
                    ByAccount.Remove((shared.Account, shared.General.Budget, shared.General.Window.Ticks, shared.General.Clock));
            }
            shared.Dispose();
        }
    }

    /// <summary>
    /// One bucket: an <see cref="EmaLoad"/> on a clock, and a first-come-first-served queue of requests waiting
    /// for room, woken by one timer when the head fits. Safe between threads.
    /// </summary>
    internal sealed class EmaBucket : IDisposable
    {
        private readonly object _gate = new object();
        private readonly EmaLoad _load;
        private readonly long _origin;
        private readonly LinkedList<Waiter> _queue = new LinkedList<Waiter>();
        private ITimer? _timer;
        private bool _disposed;

        internal EmaBucket(double budget, TimeSpan window, TimeProvider clock)
        {
            Clock = clock;
            Window = window;
            _load = new EmaLoad(budget, window.TotalSeconds);
            _origin = clock.GetTimestamp();
        }

        internal TimeProvider Clock { get; }
        internal TimeSpan Window { get; }
        internal double Budget => _load.Budget;
        internal double WindowSeconds => Window.TotalSeconds;

        /// <summary>The current load (for tests and messages).</summary>
        internal double Load
        {
            get
            {
                lock (_gate)
                {
                    _load.DecayTo(Now);
                    return _load.Load;
                }
            }
        }

        /// <summary>Requests waiting.</summary>
        internal int Waiting
        {
            get { lock (_gate) return _queue.Count; }
        }

        private double Now => Clock.GetElapsedTime(_origin).TotalSeconds;

        /// <summary>Takes the weight now when it fits and nobody waits before it.</summary>
        internal bool TryTake(double weight)
        {
            lock (_gate)
            {
                if (_disposed) throw new ObjectDisposedException(nameof(EmaBucket));
                _load.DecayTo(Now);
                return _queue.Count == 0 && _load.TryAdd(weight);
            }
        }

        /// <summary>Seconds until a request of this weight would fit (ignoring the queue before it).</summary>
        internal double SecondsUntilFits(double weight)
        {
            lock (_gate)
            {
                _load.DecayTo(Now);
                return _load.SecondsUntilFits(weight);
            }
        }

        /// <summary>Waits in line until the weight fits, then takes it.</summary>
        internal Task TakeAsync(double weight, CancellationToken cancellationToken)
        {
            var waiter = new Waiter(weight);
            LinkedListNode<Waiter> node;
            lock (_gate)
            {
                if (_disposed) throw new ObjectDisposedException(nameof(EmaBucket));
                _load.DecayTo(Now);
                if (_queue.Count == 0 && _load.TryAdd(weight)) return Task.CompletedTask;
                node = _queue.AddLast(waiter);
                ScheduleLocked();
            }
            if (cancellationToken.CanBeCanceled)
            {
                CancellationTokenRegistration registration = cancellationToken.Register(() => Leave(node, cancellationToken));
                waiter.Completion.Task.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
            return waiter.Completion.Task;
        }

        private void Leave(LinkedListNode<Waiter> node, CancellationToken token)
        {
            lock (_gate)
            {
                if (node.List == null) return;
                _queue.Remove(node);
                ScheduleLocked();
            }
            node.Value.Completion.TrySetCanceled(token);
            Pump();
        }

        /// <summary>Admits the waiters at the head that fit now, and sets the timer for the next one.</summary>
        private void Pump()
        {
            List<Waiter>? ready = null;
            lock (_gate)
            {
                if (_disposed) return;
                _load.DecayTo(Now);
                while (_queue.First is LinkedListNode<Waiter> head && _load.TryAdd(head.Value.Weight))
                {
                    _queue.RemoveFirst();
                    (ready ??= new List<Waiter>()).Add(head.Value);
                }
                ScheduleLocked();
            }
            if (ready != null)
                foreach (Waiter waiter in ready) waiter.Completion.TrySetResult(true);
        }

        private void ScheduleLocked()
        {
            if (_queue.First == null)
            {
                _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                return;
            }
            // A millisecond late rather than early: early, the head would not fit yet and wait for another tick.
            TimeSpan due = TimeSpan.FromMilliseconds(Math.Max(1, Math.Ceiling(_load.SecondsUntilFits(_queue.First.Value.Weight) * 1000) + 1));
            if (_timer == null) _timer = Clock.CreateTimer(_ => Pump(), null, due, Timeout.InfiniteTimeSpan);
            else _timer.Change(due, Timeout.InfiniteTimeSpan);
        }

        public void Dispose()
        {
            Waiter[] waiting;
            lock (_gate)
            {
                if (_disposed) return;
                _disposed = true;
                waiting = new Waiter[_queue.Count];
                _queue.CopyTo(waiting, 0);
                _queue.Clear();
                _timer?.Dispose();
                _timer = null;
            }
            foreach (Waiter waiter in waiting) waiter.Completion.TrySetException(new ObjectDisposedException(nameof(EmaBucket)));
        }

        private sealed class Waiter
        {
            internal Waiter(double weight) => Weight = weight;

            internal double Weight { get; }
            internal TaskCompletionSource<bool> Completion { get; } = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
