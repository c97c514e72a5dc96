using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Qfex.Transport
{
    /// <summary>One wait for an item that matches; completed by <see cref="WaiterSet{T}"/>, or failed with a reason.</summary>
    internal sealed class Waiter<T>
    {
        internal Waiter(Func<T, bool> match, object? owner, bool continueOnPool)
        {
            Match = match;
            Owner = owner;
            // A pipeline thread blocked in Task.Wait needs no thread-pool hop; async code does.
            Completion = new TaskCompletionSource<T>(continueOnPool ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
        }

        internal Func<T, bool> Match { get; }

        /// <summary>What the wait is for (a request ticket, a probe), for whoever fails it.</summary>
        internal object? Owner { get; }

        internal TaskCompletionSource<T> Completion { get; }

        internal Task<T> Task => Completion.Task;
    }

    /// <summary>
    /// Waits for items (frames) that match, oldest wait first; an item goes to at most one waiter. One
    /// mechanism for both kinds a session has: claims (answers to the module's own requests, taken before
    /// they are numbered) and answers (-Wait, numbered). Register before sending: an answer can beat the
    /// code that waits for it.
    /// </summary>
    internal sealed class WaiterSet<T>
    {
        private readonly object _gate = new object();
        private readonly List<Waiter<T>> _waiters = new List<Waiter<T>>();
        private readonly bool _continueOnPool;
        private int _count;

        internal WaiterSet(bool continueOnPool) => _continueOnPool = continueOnPool;

        /// <summary>How many wait now, without the lock (the receive path skips the set when zero).</summary>
        internal int Count => Volatile.Read(ref _count);

        internal Waiter<T> Add(Func<T, bool> match, object? owner = null)
        {
            var waiter = new Waiter<T>(match, owner, _continueOnPool);
            lock (_gate)
            {
                _waiters.Add(waiter);
                Volatile.Write(ref _count, _waiters.Count);
            }
            return waiter;
        }

        /// <summary>Hands <paramref name="item"/> to the oldest waiter it matches; false when none does.</summary>
        internal bool TryHandOver(T item) => TryHandOver(item, w => w.Match(item));

        /// <summary>Hands <paramref name="item"/> to the oldest waiter <paramref name="choose"/> accepts.</summary>
        internal bool TryHandOver(T item, Func<Waiter<T>, bool> choose)
        {
            Waiter<T>? taker = null;
            lock (_gate)
            {
                for (int i = 0; i < _waiters.Count; i++)
                {
                    if (!choose(_waiters[i])) continue;
                    taker = _waiters[i];
                    _waiters.RemoveAt(i);
                    Volatile.Write(ref _count, _waiters.Count);
                    break;
                }
            }
            return taker != null && taker.Completion.TrySetResult(item);
        }

        /// <summary>Stops a wait; false when it was already completed (then its task holds the item or the failure).</summary>
        internal bool Remove(Waiter<T> waiter)
        {
            lock (_gate)
            {
                bool removed = _waiters.Remove(waiter);
                Volatile.Write(ref _count, _waiters.Count);
                return removed;
            }
        }

        /// <summary>Fails every wait, each with the exception <paramref name="reason"/> gives for it.</summary>
        internal void FailAll(Func<Waiter<T>, Exception> reason)
        {
            Waiter<T>[] all;
            lock (_gate)
            {
                all = _waiters.ToArray();
                _waiters.Clear();
                Volatile.Write(ref _count, 0);
            }
            foreach (Waiter<T> waiter in all) waiter.Completion.TrySetException(reason(waiter));
        }

        /// <summary>Whether any waiter satisfies <paramref name="test"/> (under the lock; the set is small).</summary>
        internal bool Any(Func<Waiter<T>, bool> test)
        {
            lock (_gate)
                return _waiters.Exists(w => test(w));
        }
    }
}
