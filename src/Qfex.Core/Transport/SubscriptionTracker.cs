using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>
    /// What a session is subscribed to: what the exchange acknowledged, and what was asked for and not yet
    /// refused (so a drop before an acknowledgement still restores it). Keys are the channel (trade) or
    /// channel:symbol (market data). I/O-free; safe between threads.
    /// </summary>
    internal sealed class SubscriptionTracker
    {
        private readonly object _gate = new object();
        private readonly SortedSet<string> _acknowledged = new SortedSet<string>(StringComparer.Ordinal);
        private readonly SortedSet<string> _wanted = new SortedSet<string>(StringComparer.Ordinal);
        private readonly QfexEndpoint _endpoint;
        private TaskCompletionSource<bool> _changed = NewSignal();
        private static readonly char[] KeySeparator = { ':' };

        internal SubscriptionTracker(QfexEndpoint endpoint) => _endpoint = endpoint;

        /// <summary>The acknowledged subscriptions, sorted.</summary>
        internal string[] Acknowledged
        {
            get { lock (_gate) return _acknowledged.ToArray(); }
        }

        internal bool IsEmpty
        {
            get { lock (_gate) return _acknowledged.Count == 0 && _wanted.Count == 0; }
        }

        /// <summary>How subscriptions are tracked: channel (trade) or channel:symbol (market data).</summary>
        internal IEnumerable<string> Keys(IEnumerable<string> channels, IReadOnlyList<string> symbols) =>
            _endpoint == QfexEndpoint.MarketData ? channels.SelectMany(c => symbols.Select(s => c + ":" + s)) : channels;

        /// <summary>Records what was asked for; returns the keys.</summary>
        internal string[] Want(IEnumerable<string> channels, IReadOnlyList<string> symbols)
        {
            string[] keys = Keys(channels, symbols).ToArray();
            lock (_gate)
                foreach (string key in keys) _wanted.Add(key);
            return keys;
        }

        /// <summary>Keeps the sets true to an acknowledgement frame; other frames change nothing.</summary>
        internal void Track(QfexFrame frame)
        {
            bool subscribed = frame.Type == "subscribed";
            if (!subscribed && frame.Type != "unsubscribed") return;
            TaskCompletionSource<bool> changed;
            lock (_gate)
            {
                foreach (string key in SubscriptionAck.Channels(frame.Utf8, frame.Type))
                {
                    if (subscribed) _acknowledged.Add(key);
                    else
                    {
                        _acknowledged.Remove(key);
                        _wanted.Remove(key);
                    }
                }
                changed = _changed;
                _changed = NewSignal();
            }
            changed.TrySetResult(true);
        }

        /// <summary>Waits until every key is acknowledged; false when <paramref name="token"/> ends the wait first.</summary>
        internal async Task<bool> WaitForAsync(IReadOnlyCollection<string> keys, CancellationToken token)
        {
            while (true)
            {
                Task changed;
                lock (_gate)
                {
                    if (keys.All(_acknowledged.Contains)) return true;
                    changed = _changed.Task;
                }
                var cancelled = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                using (token.Register(() => cancelled.TrySetResult(true)))
                    if (await Task.WhenAny(changed, cancelled.Task).ConfigureAwait(false) != changed) return false;
            }
        }

        internal string[] Missing(IEnumerable<string> keys)
        {
            lock (_gate) return keys.Where(k => !_acknowledged.Contains(k)).ToArray();
        }

        /// <summary>After a reconnect: the subscribe messages that restore everything acknowledged or wanted.</summary>
        internal IReadOnlyList<string> RestoreMessages()
        {
            string[] current;
            lock (_gate) current = _acknowledged.Union(_wanted).OrderBy(c => c, StringComparer.Ordinal).ToArray();
            if (current.Length == 0) return Array.Empty<string>();
            if (_endpoint == QfexEndpoint.Trade) return new[] { SubscribeMessage(current, Array.Empty<string>()) };
            return current.Select(s => s.Split(KeySeparator, 2)).GroupBy(p => p[0], StringComparer.Ordinal)
                .Select(g => SubscribeMessage(new[] { g.Key }, g.Select(p => p.Length > 1 ? p[1] : "*").ToArray()))
                .ToArray();
        }

        /// <summary>Trade: params.channels. Market data: top-level channels and symbols (protocol doc §7.1).</summary>
        internal string SubscribeMessage(IReadOnlyList<string> channels, IReadOnlyList<string> symbols) =>
            _endpoint == QfexEndpoint.MarketData
                ? PSJson.Serialize(new Dictionary<string, object> { ["type"] = "subscribe", ["channels"] = channels, ["symbols"] = symbols })
                : PSJson.Serialize(new Dictionary<string, object> { ["type"] = "subscribe", ["params"] = new Dictionary<string, object> { ["channels"] = channels } });

        private static TaskCompletionSource<bool> NewSignal() => new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
