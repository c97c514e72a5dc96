using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex.Transport
{
    /// <summary>
    /// A session's received frames, in order, bounded. When full, the receive loop waits for room
    /// (so the socket stops being read and TCP pushes back on the server) instead of dropping.
    /// Consumers take the oldest frame, or the oldest of some types (the rest keep their order), and
    /// wait for arrivals with a token of their own: cancelling a wait never touches the socket.
    /// </summary>
    internal sealed class FrameBuffer
    {
        private readonly object _gate = new object();
        private readonly LinkedList<QfexFrame> _frames = new LinkedList<QfexFrame>();
        private readonly SemaphoreSlim _room;
        private TaskCompletionSource<bool> _changed = NewSignal();
        private bool _completed;
        private bool _watched;
        private int _timesFull;

        internal FrameBuffer(int capacity)
        {
            if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity));
            Capacity = capacity;
            _room = new SemaphoreSlim(capacity, capacity);
        }

        internal int Capacity { get; }

        internal int Count
        {
            get { lock (_gate) return _frames.Count; }
        }

        /// <summary>True while the producer waits for room (the socket is not being read).</summary>
        internal volatile bool IsFull;

        /// <summary>How often the buffer filled up since the last call, and resets the count.</summary>
        internal int TakeTimesFull() => Interlocked.Exchange(ref _timesFull, 0);

        /// <summary>True once the producer has finished (the session closed); frames may still be buffered.</summary>
        internal bool IsCompleted
        {
            get { lock (_gate) return _completed; }
        }

        /// <summary>Waits for room, then appends. Only the session's receive loop calls this.</summary>
        internal async Task AddAsync(QfexFrame frame)
        {
            if (!_room.Wait(0))
            {
                // Full: the receive loop parks here, so the socket is not read and TCP pushes back.
                Interlocked.Increment(ref _timesFull);
                IsFull = true;
                await _room.WaitAsync().ConfigureAwait(false);
                IsFull = false;
            }
            TaskCompletionSource<bool>? signal = null;
            lock (_gate)
            {
                _frames.AddLast(frame);
                // A new signal only when someone waits on the current one: no allocation per frame in a flood.
                if (_watched)
                {
                    signal = _changed;
                    _changed = NewSignal();
                    _watched = false;
                }
            }
            signal?.TrySetResult(true);
        }

        /// <summary>Marks the end of the stream; waiting consumers wake up.</summary>
        internal void Complete()
        {
            TaskCompletionSource<bool> signal;
            lock (_gate)
            {
                _completed = true;
                signal = _changed;
            }
            signal.TrySetResult(true);
        }

        /// <summary>Takes the oldest frame whose type is in <paramref name="types"/> (null: any).</summary>
        internal bool TryTake(ISet<string>? types, out QfexFrame? frame)
        {
            lock (_gate)
            {
                for (LinkedListNode<QfexFrame>? node = _frames.First; node != null; node = node.Next)
                {
                    if (types == null || types.Contains(node.Value.Type))
                    {
                        _frames.Remove(node);
                        frame = node.Value;
                        _room.Release();
                        return true;
                    }
                }
            }
            frame = null;
            return false;
        }

        /// <summary>A task that completes at the next arrival or at completion.</summary>
        internal Task WhenChanged()
        {
            lock (_gate)
            {
                if (_completed) return Task.CompletedTask;
                _watched = true;
                return _changed.Task;
            }
        }

        private static TaskCompletionSource<bool> NewSignal() =>
            new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
