using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex.Transport
{
    /// <summary>
    /// A session's received frames, in order, bounded. When full, the receive loop waits for room
    /// (so the socket stops being read and TCP pushes back on the server) instead of dropping.
    /// Consumers take the oldest frame, or the oldest of some types (the rest keep their order), and
    /// wait for arrivals with a token of their own: cancelling a wait never touches the socket.
    /// A growable ring of slots; a frame taken from the middle leaves an empty slot that the head skips.
    /// </summary>
    internal sealed class FrameBuffer
    {
        private readonly object _gate = new object();
        private QfexFrame?[] _slots = new QfexFrame?[256];
        private int _head;       // index of the oldest slot in use
        private int _span;       // slots from head to tail, holes included
        private int _count;      // frames actually held
        private TaskCompletionSource<bool>? _room;
        private bool _completed;
        // Backpressure episodes: one starts when the producer first parks on a full buffer and ends when the
        // buffer has been read empty; the user is warned once per episode, not once per read.
        private bool _inEpisode;
        private bool _episodeUnreported;

        // Readers wait on _gate itself (Monitor.Wait: the thread sleeps, it does not spin); _version counts
        // every change they could be waiting for, _sleepers how many sleep now (written under the lock).
        private long _version;
        private int _sleepers;

        internal FrameBuffer(int capacity, long byteBudget = DefaultByteBudget, TimeProvider? clock = null)
        {
            if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity));
            if (byteBudget < 1) throw new ArgumentOutOfRangeException(nameof(byteBudget));
            Capacity = capacity;
            ByteBudget = byteBudget;
            _clock = clock ?? TimeProvider.System;
            _limitHint = capacity;
        }

        /// <summary>
        /// The bytes a session may hold in pending frames (their text and objects), on top of the frame count:
        /// 64 MiB, so a server sending large frames to a session nobody reads cannot take more than that
        /// (twice that while an answer or a filtered read waits). A frame larger than what is left still goes
        /// into an empty buffer: the maximum frame size (4 MiB) bounds it.
        /// </summary>
        internal const long DefaultByteBudget = 64L * 1024 * 1024;

        internal int Capacity { get; }

        internal long ByteBudget { get; }

        private long _bytes;

        /// <summary>The bytes the pending frames hold now.</summary>
        internal long Bytes
        {
            get { lock (_gate) return _bytes; }
        }

        internal int Count
        {
            get { lock (_gate) return _count; }
        }

        /// <summary>The count without the lock: possibly stale, for heuristics only.</summary>
        internal int CountHint => Volatile.Read(ref _count);

        /// <summary>True while the producer waits for room (the socket is not being read), at the capacity or paced.</summary>
        internal volatile bool IsFull;

        /// <summary>
        /// True once per backpressure episode (from full to read empty), for the first reader that asks: the
        /// moment to warn. False when there is no episode or it was already reported.
        /// </summary>
        internal bool TakeEpisodeToReport()
        {
            lock (_gate)
            {
                bool report = _episodeUnreported;
                _episodeUnreported = false;
                return report;
            }
        }

        /// <summary>How often the producer has had to wait so far (never reset): the watchdog's proof of backpressure.</summary>
        internal long FullEpisodes => Interlocked.Read(ref _fullEpisodes);

        private long _fullEpisodes;

        /// <summary>True once the producer has finished (the session closed); frames may still be buffered.</summary>
        internal bool IsCompleted
        {
            get { lock (_gate) return _completed; }
        }

        /// <summary>
        /// While someone waits for an answer (-Wait), the answer may sit behind frames not yet read: the
        /// buffer may then grow to twice its capacity rather than stop reading and starve the wait.
        /// </summary>
        internal void AllowOverflow(bool allow)
        {
            lock (_gate)
            {
                _answerAwaited = allow;
                UpdateLimitHint();
            }
            ReleaseProducerIfRoom();
        }

        /// <summary>
        /// A filtered read (Receive-QfexFrame -Type) waits for frames that may sit behind frames it does not
        /// take: while it waits, the buffer may grow to twice its capacity, as for -Wait. Dispose to stop.
        /// </summary>
        internal IDisposable HoldForFilteredRead()
        {
            lock (_gate)
            {
                _filteredReaders++;
                UpdateLimitHint();
            }
            ReleaseProducerIfRoom();
            return new Hold(EndFilteredRead);
        }

        private void EndFilteredRead()
        {
            lock (_gate)
            {
                _filteredReaders--;
                UpdateLimitHint();
            }
        }

        /// <summary>What a reader holds while it reads a certain way: disposing it (once; again does nothing) ends that.</summary>
        private sealed class Hold : IDisposable
        {
            private Action? _end;

            internal Hold(Action end) => _end = end;

            public void Dispose() => Interlocked.Exchange(ref _end, null)?.Invoke();
        }

        private void ReleaseProducerIfRoom()
        {
            TaskCompletionSource<bool>? room = null;
            lock (_gate)
            {
                if (_room != null && Overflowing && WithinOverflow) room = TakeRoomLocked();
            }
            room?.TrySetResult(true);
        }

        /// <summary>Under the lock: ends the producer's wait (the caller completes the task outside the lock).</summary>
        private TaskCompletionSource<bool> TakeRoomLocked()
        {
            TaskCompletionSource<bool> room = _room!;
            _room = null;
            IsFull = false;
            if (_pacedWait)
            {
                _pacedWait = false;
                _paceTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
            return room;
        }

        private bool _answerAwaited;
        private int _filteredReaders;

        /// <summary>Under the lock: whether the buffer may grow past its capacity now.</summary>
        private bool Overflowing => _answerAwaited || _filteredReaders > 0;

        /// <summary>True when even the overflow allowance is used up: nothing more can be read from the socket.</summary>
        internal bool IsAtHardLimit
        {
            get { lock (_gate) return !WithinOverflow || (!Within(Capacity, ByteBudget) && !Overflowing && _room != null); }
        }

        /// <summary>Under the lock: the count and the bytes are both under the given limits (an empty buffer always takes a frame).</summary>
        private bool Within(int frames, long bytes) => _count < frames && (_bytes < bytes || _count == 0);

        private bool WithinOverflow => Within(2 * Capacity, 2 * ByteBudget);

        private bool HasRoom => Within(Paced ? PaceLimit : Capacity, ByteBudget) || (Overflowing && WithinOverflow);

        /// <summary>
        /// A parked producer resumes only once a quarter of the buffer is free again, by count and by bytes (or
        /// an answer is awaited): resuming at every freed slot would wake it and park it again for each frame.
        /// A paced one (see <see cref="PaceLimit"/>) resumes once the reader has taken half of what it waited behind,
        /// or at once when pacing no longer applies.
        /// </summary>
        private bool CanResume =>
            _pacedWait
                ? !Paced || _count <= PaceResume
                : (_count <= Capacity - Math.Max(1, Capacity / 4) && _bytes <= ByteBudget - ByteBudget / 4) || (Overflowing && WithinOverflow);

        /// <summary>
        /// Without the lock: whether <paramref name="frames"/> more frames of <paramref name="bytes"/> would still fit
        /// under the limits (possibly stale; the receive loop stages a burst only while this holds).
        /// </summary>
        internal bool RoomHint(int frames, long bytes) =>
            Volatile.Read(ref _count) + frames < _limitHint && Interlocked.Read(ref _bytes) + bytes < ByteBudget;

        // ------------------------------------------------------------------ pacing

        /// <summary>
        /// While a reader drains the buffer (Receive-QfexFrame waiting for frames of any type), the producer stops at
        /// this many frames instead of the capacity, and goes on once the reader has taken half of them: the frames
        /// then wait in the socket instead, and nothing is lost or reordered. Why: a reader that is only a little
        /// slower than the socket otherwise keeps the buffer near its capacity (25,000 by default), so every frame
        /// outlives a garbage collection while it waits and is copied into an older generation; in a flood measured
        /// in pwsh that made GC pauses a fifth to a third of the reader's time, and a tenth with pacing. The capacity
        /// is what a session may hold while nobody reads, and a reader that cannot keep up keeps it: a paced wait
        /// ends after <see cref="PaceTimeout"/>, and pacing stays off until the reader has caught up.
        /// </summary>
        internal const int PaceLimit = 1024;

        /// <summary>Where a paced producer resumes, and where pacing that timed out applies again.</summary>
        internal const int PaceResume = PaceLimit / 2;

        /// <summary>How long a paced wait may last: longer means the reader is not keeping up, and the capacity applies.</summary>
        internal static readonly TimeSpan PaceTimeout = TimeSpan.FromMilliseconds(20);

        private readonly TimeProvider _clock;
        private ITimer? _paceTimer;
        private int _drainers;       // readers draining without a type filter (BeginDrain)
        private bool _paceOff;       // a paced wait timed out: no pacing until the reader catches up
        private bool _pacedWait;     // the producer's current wait is a paced one (under the capacity)
        private volatile int _limitHint;

        /// <summary>Under the lock: whether the producer stops at <see cref="PaceLimit"/> now.</summary>
        private bool Paced => _drainers > 0 && !_paceOff && !Overflowing && Capacity > PaceLimit;

        /// <summary>Under the lock, after anything <see cref="Paced"/> reads changed: the limit the lock-free checks use.</summary>
        private void UpdateLimitHint() => _limitHint = Paced ? PaceLimit : Capacity;

        /// <summary>How many readers drain the buffer now (see <see cref="BeginDrain"/>).</summary>
        internal int Drainers
        {
            get { lock (_gate) return _drainers; }
        }

        /// <summary>
        /// A reader drains the buffer (takes frames of any type as they come) until the result is disposed: the
        /// producer is paced meanwhile (see <see cref="PaceLimit"/>).
        /// </summary>
        internal IDisposable BeginDrain()
        {
            lock (_gate)
            {
                _drainers++;
                UpdateLimitHint();
            }
            return new Hold(EndDrain);
        }

        private void EndDrain()
        {
            TaskCompletionSource<bool>? room = null;
            lock (_gate)
            {
                if (--_drainers == 0) _paceOff = false;
                UpdateLimitHint();
                if (_room != null && _pacedWait && !Paced) room = TakeRoomLocked();
            }
            room?.TrySetResult(true);
        }

        /// <summary>A paced wait lasted <see cref="PaceTimeout"/>: the reader is not keeping up, so the capacity applies.</summary>
        private void PaceTimedOut()
        {
            TaskCompletionSource<bool>? room = null;
            lock (_gate)
            {
                if (_room == null || !_pacedWait) return;
                _paceOff = true;
                UpdateLimitHint();
                room = TakeRoomLocked();
            }
            room?.TrySetResult(true);
        }

        /// <summary>The types that fill the buffer, most frequent first (for an error that says what to read).</summary>
        internal IReadOnlyList<KeyValuePair<string, int>> TypeCounts(int top)
        {
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            lock (_gate)
            {
                int length = _slots.Length;
                for (int i = 0, at = _head; i < _span; i++, at = at + 1 == length ? 0 : at + 1)
                    if (_slots[at] is QfexFrame f) counts[f.Type] = counts.TryGetValue(f.Type, out int n) ? n + 1 : 1;
            }
            var list = new List<KeyValuePair<string, int>>(counts);
            list.Sort((a, b) => b.Value.CompareTo(a.Value));
            return list.Count > top ? list.GetRange(0, top) : list;
        }

        /// <summary>Completes when there is room for a frame (at once, almost always). Only the delivering code calls this.</summary>
        internal Task WaitForRoomAsync()
        {
            // Without the lock first: the delivering code is what adds (besides a rare Return), so a stale
            // count is almost always too high (a reader took frames meanwhile) and the locked check decides.
            if (CountHint < _limitHint && Interlocked.Read(ref _bytes) < ByteBudget && !IsFull) return Task.CompletedTask;
            lock (_gate)
            {
                if (HasRoom || _completed) return Task.CompletedTask;
                if (_room == null)
                {
                    _room = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                    Interlocked.Increment(ref _fullEpisodes);
                    if (Within(Capacity, ByteBudget))
                    {
                        // Only pacing stops it: a reader is draining, so this is no backpressure episode to warn of.
                        _pacedWait = true;
                        _paceTimer ??= _clock.CreateTimer(_ => PaceTimedOut(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                        _paceTimer.Change(PaceTimeout, Timeout.InfiniteTimeSpan);
                    }
                    else if (!_inEpisode)
                    {
                        _inEpisode = true;
                        _episodeUnreported = true;
                    }
                    IsFull = true;
                }
                return _room.Task;
            }
        }

        /// <summary>Appends without waiting. Callers wait for room first, so the bound holds (give or take a reconnect notice).</summary>
        internal void Add(QfexFrame frame)
        {
            lock (_gate)
            {
                Append(frame);
                Interlocked.Increment(ref _version);
                if (_sleepers > 0) WakeReaders();
            }
        }

        /// <summary>
        /// Appends a batch under one lock, with one wake-up: the receive loop hands over a burst this way
        /// (see QfexSession's staging), so readers and the loop do not contend for the lock frame by frame.
        /// </summary>
        internal void AddRange(List<QfexFrame> frames)
        {
            if (frames.Count == 0) return;
            lock (_gate)
            {
                foreach (QfexFrame frame in frames) Append(frame);
                Interlocked.Increment(ref _version);
                if (_sleepers > 0) WakeReaders();
            }
        }

        /// <summary>Under the lock.</summary>
        private void Append(QfexFrame frame)
        {
            if (_span == _slots.Length) Grow();
            int at = _head + _span;
            _slots[at < _slots.Length ? at : at - _slots.Length] = frame;
            _span++;
            _count++;
            Interlocked.Add(ref _bytes, frame.Size);
        }

        /// <summary>Under the lock.</summary>
        private void WakeReaders() => Monitor.PulseAll(_gate);

        /// <summary>Changes so far: read it before <see cref="TryTakeMany"/>, pass it to <see cref="WaitForChange"/>.</summary>
        internal long Version => Interlocked.Read(ref _version);   // no lock: a stale value only costs one more look

        /// <summary>
        /// Sleeps until something changed since <paramref name="seen"/> (a frame arrived or was put back, or
        /// the stream ended), the time is up (false), or <paramref name="cancel"/> fires
        /// (OperationCanceledException). Cancelling wakes only this wait; the socket is never touched.
        /// </summary>
        internal bool WaitForChange(long seen, int millisecondsTimeout, CancellationToken cancel)
        {
            Stopwatch? clock = millisecondsTimeout == Timeout.Infinite ? null : Stopwatch.StartNew();
            CancellationTokenRegistration stop = cancel.CanBeCanceled ? cancel.Register(WakeAllForCancel) : default;
            try
            {
                lock (_gate)
                {
                    while (_version == seen && !_completed)
                    {
                        cancel.ThrowIfCancellationRequested();
                        int left = clock == null ? Timeout.Infinite : millisecondsTimeout - (int)clock.ElapsedMilliseconds;
                        if (clock != null && left <= 0) return false;
                        _sleepers++;
                        try
                        {
                            Monitor.Wait(_gate, left);
                        }
                        finally
                        {
                            _sleepers--;
                        }
                    }
                    cancel.ThrowIfCancellationRequested();
                    return true;
                }
            }
            finally
            {
                stop.Dispose();
            }
        }

        /// <summary>How many readers sleep in <see cref="WaitForChange"/> now.</summary>
        internal int Sleepers => Volatile.Read(ref _sleepers);

        private void WakeAllForCancel()
        {
            lock (_gate) Monitor.PulseAll(_gate);
        }

        /// <summary>
        /// Puts back a frame that was taken but never handed to the user (a -Wait stopped just as its
        /// answer arrived), in its place by sequence, so it is not lost. Rare: a linear insert.
        /// </summary>
        internal void Return(QfexFrame frame)
        {
            lock (_gate)
            {
                var frames = new List<QfexFrame>(_count + 1);
                for (int i = 0; i < _span; i++)
                    if (_slots[(_head + i) % _slots.Length] is QfexFrame f) frames.Add(f);
                int at = frames.FindIndex(f => f.Sequence > frame.Sequence);
                frames.Insert(at < 0 ? frames.Count : at, frame);
                if (frames.Count > _slots.Length) _slots = new QfexFrame?[Math.Max(_slots.Length * 2, frames.Count)];
                Array.Clear(_slots, 0, _slots.Length);
                for (int i = 0; i < frames.Count; i++) _slots[i] = frames[i];
                _head = 0;
                _span = frames.Count;
                _count = frames.Count;
                Interlocked.Add(ref _bytes, frame.Size);
                Interlocked.Increment(ref _version);
                WakeReaders();
            }
        }

        /// <summary>Marks the end of the stream; waiting consumers wake up.</summary>
        internal void Complete()
        {
            TaskCompletionSource<bool>? room;
            lock (_gate)
            {
                _completed = true;
                Interlocked.Increment(ref _version);
                WakeReaders();
                room = _room != null ? TakeRoomLocked() : null;
            }
            // A producer parked on a full buffer must be let go, or the closed session's loop never ends.
            room?.TrySetResult(true);
        }

        /// <summary>Takes up to <paramref name="max"/> of the oldest frames whose type is in <paramref name="types"/>, in order, under one lock.</summary>
        internal int TryTakeMany(ISet<string>? types, int max, List<QfexFrame> into) => TryTakeMany(types, null, max, into);

        /// <summary>
        /// As <see cref="TryTakeMany(ISet{string}, int, List{QfexFrame})"/>, taking only the frames <paramref name="match"/>
        /// accepts as well (Stop-QfexOrder takes the cancellations that answer its request; the others stay, in order).
        /// </summary>
        internal int TryTakeMany(ISet<string>? types, Func<QfexFrame, bool>? match, int max, List<QfexFrame> into)
        {
            TaskCompletionSource<bool>? room = null;
            int taken = 0;
            lock (_gate)
            {
                int length = _slots.Length;
                for (int i = 0, at = _head; i < _span && taken < max; i++, at = at + 1 == length ? 0 : at + 1)
                {
                    QfexFrame? candidate = _slots[at];
                    if (candidate == null || (types != null && !types.Contains(candidate.Type)) || (match != null && !match(candidate))) continue;
                    _slots[at] = null;
                    into.Add(candidate);
                    taken++;
                    _count--;
                    Interlocked.Add(ref _bytes, -candidate.Size);
                }
                if (taken == 0) return 0;

                // Let the head pass the holes left by filtered takes.
                while (_span > 0 && _slots[_head] == null)
                {
                    _head = _head + 1 == length ? 0 : _head + 1;
                    _span--;
                }
                if (_count == 0) _inEpisode = false;   // read empty: the backpressure episode is over
                if (_paceOff && _count <= PaceResume)
                {
                    _paceOff = false;                  // the reader caught up: pace it again
                    UpdateLimitHint();
                }
                if (_room != null && CanResume) room = TakeRoomLocked();
            }
            room?.TrySetResult(true);
            return taken;
        }

        private void Grow()
        {
            var bigger = new QfexFrame?[_slots.Length * 2];
            for (int i = 0; i < _span; i++) bigger[i] = _slots[(_head + i) % _slots.Length];
            _slots = bigger;
            _head = 0;
        }
    }
}
