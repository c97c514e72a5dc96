using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>How a wait for subscription acknowledgements ended.</summary>
    internal enum SubscribeOutcome
    {
        Acknowledged,
        /// <summary>The exchange answered with an error frame echoing the subscribe (see <see cref="SubscriptionTracker.Refusal"/>).</summary>
        Refused,
        /// <summary>The wait's token ended it first.</summary>
        NotYet,
    }

    /// <summary>
    /// What a session is subscribed to: what the exchange acknowledged, and what was asked for (by Connect-Qfex or
    /// by a subscribe sent with Send-QfexMessage) and not refused or unsubscribed, so a drop before an
    /// acknowledgement still restores it. Keys are <see cref="SubscriptionKeys"/>: the channel (trade), or
    /// channel:symbol with the candle interval or level2 sig_figs (market data). I/O-free; safe between threads.
    /// </summary>
    internal sealed class SubscriptionTracker
    {
        private const string AnyKey = "*any*";
        private readonly object _gate = new object();
        private readonly SortedSet<string> _acknowledged = new SortedSet<string>(StringComparer.Ordinal);
        private readonly SortedSet<string> _wanted = new SortedSet<string>(StringComparer.Ordinal);
        private readonly Dictionary<string, QfexFrame> _refused = new Dictionary<string, QfexFrame>(StringComparer.Ordinal);
        private readonly QfexEndpoint _endpoint;
        private TaskCompletionSource<bool> _changed = NewSignal();

        internal SubscriptionTracker(QfexEndpoint endpoint) => _endpoint = endpoint;

        /// <summary>The acknowledged subscriptions, sorted.</summary>
        internal string[] Acknowledged
        {
            get { lock (_gate) return _acknowledged.ToArray(); }
        }

        /// <summary>What a reconnect restores: acknowledged or asked for and not refused, sorted.</summary>
        internal string[] Current
        {
            get { lock (_gate) return _acknowledged.Union(_wanted).OrderBy(c => c, StringComparer.Ordinal).ToArray(); }
        }

        internal bool IsEmpty
        {
            get { lock (_gate) return _acknowledged.Count == 0 && _wanted.Count == 0; }
        }

        /// <summary>The keys of a (un)subscription on this session's endpoint.</summary>
        internal string[] Keys(IEnumerable<string> channels, IReadOnlyList<string>? symbols, IReadOnlyList<string>? intervals = null, IReadOnlyList<int>? sigFigs = null) =>
            SubscriptionKeys.For(_endpoint, channels, symbols, intervals, sigFigs).ToArray();

        /// <summary>Records what was asked for (before it is sent: an answer may come at once); returns the keys that were not wanted yet.</summary>
        internal string[] Want(IEnumerable<string> keys)
        {
            var added = new List<string>();
            lock (_gate)
            {
                foreach (string key in keys)
                {
                    _refused.Remove(key);
                    if (_wanted.Add(key)) added.Add(key);
                }
                _refused.Remove(AnyKey);
            }
            return added.ToArray();
        }

        /// <summary>Forgets keys asked for but never sent (the request was refused before it was written).</summary>
        internal void Forget(IEnumerable<string> keys)
        {
            lock (_gate)
                foreach (string key in keys) _wanted.Remove(key);
        }

        /// <summary>An unsubscribe was sent: what it names (and finer subscriptions under it) is no longer restored.</summary>
        internal void Unwant(IEnumerable<string> keys)
        {
            lock (_gate)
                foreach (string removed in keys) _wanted.RemoveWhere(k => SubscriptionKeys.Covers(removed, k));
        }

        /// <summary>The keys a user's (un)subscribe request names, or null when it is not one.</summary>
        internal string[]? KeysOfRequest(string type, string json)
        {
            if (type != "subscribe" && type != "unsubscribe") return null;
            try
            {
                using JsonDocument doc = JsonDocument.Parse(json);
                return SubscriptionKeys.OfMessage(doc.RootElement, _endpoint);
            }
            catch (JsonException)
            {
                return null;
            }
        }

        /// <summary>Keeps the sets true to an acknowledgement or a refusal; other frames change nothing.</summary>
        internal void Track(QfexFrame frame)
        {
            bool subscribed = frame.Type == "subscribed";
            if (!subscribed && frame.Type != "unsubscribed")
            {
                if (frame.Error?.IncomingType == "subscribe") TrackRefusal(frame);
                return;
            }
            TaskCompletionSource<bool> changed;
            lock (_gate)
            {
                foreach (string key in SubscriptionAck.Channels(frame.Utf8, frame.Type))
                {
                    if (subscribed) _acknowledged.Add(key);
                    else
                    {
                        _acknowledged.RemoveWhere(k => SubscriptionKeys.Covers(key, k));
                        _wanted.RemoveWhere(k => SubscriptionKeys.Covers(key, k));
                    }
                }
                changed = _changed;
                _changed = NewSignal();
            }
            changed.TrySetResult(true);
        }

        /// <summary>An error frame echoing a subscribe: what it asked for is not wanted any more, and a wait for it ends.</summary>
        private void TrackRefusal(QfexFrame frame)
        {
            string[] keys = Array.Empty<string>();
            try
            {
                using JsonDocument doc = JsonDocument.Parse(frame.Utf8);
                JsonElement root = doc.RootElement;
                JsonElement body = root.TryGetProperty("err", out JsonElement err) ? err : root;
                if (body.TryGetProperty("incoming_message", out JsonElement echo))
                    keys = SubscriptionKeys.OfMessage(echo, _endpoint);
            }
            catch (JsonException)
            {
                // Unreadable: the refusal is still reported, for any wait.
            }
            TaskCompletionSource<bool> changed;
            lock (_gate)
            {
                if (keys.Length == 0) _refused[AnyKey] = frame;
                foreach (string key in keys)
                {
                    _wanted.Remove(key);
                    _refused[key] = frame;
                }
                changed = _changed;
                _changed = NewSignal();
            }
            changed.TrySetResult(true);
        }

        /// <summary>The error frame that refused one of <paramref name="keys"/>, if any.</summary>
        internal QfexFrame? Refusal(IReadOnlyCollection<string> keys)
        {
            lock (_gate) return RefusalLocked(keys);
        }

        private QfexFrame? RefusalLocked(IReadOnlyCollection<string> keys)
        {
            if (_refused.TryGetValue(AnyKey, out QfexFrame? any)) return any;
            foreach (string key in keys)
                if (_refused.TryGetValue(key, out QfexFrame? frame)) return frame;
            return null;
        }

        /// <summary>Waits until every key is acknowledged, or one is refused, or <paramref name="token"/> ends the wait.</summary>
        internal async Task<SubscribeOutcome> WaitForAsync(IReadOnlyCollection<string> keys, CancellationToken token)
        {
            while (true)
            {
                Task changed;
                lock (_gate)
                {
                    if (RefusalLocked(keys) != null) return SubscribeOutcome.Refused;
                    if (keys.All(_acknowledged.Contains)) return SubscribeOutcome.Acknowledged;
                    changed = _changed.Task;
                }
                var cancelled = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                using (token.Register(() => cancelled.TrySetResult(true)))
                    if (await Task.WhenAny(changed, cancelled.Task).ConfigureAwait(false) != changed) return SubscribeOutcome.NotYet;
            }
        }

        internal string[] Missing(IEnumerable<string> keys)
        {
            lock (_gate) return keys.Where(k => !_acknowledged.Contains(k)).ToArray();
        }

        /// <summary>After a reconnect: the subscribe messages that restore everything acknowledged or wanted.</summary>
        internal IReadOnlyList<string> RestoreMessages()
        {
            string[] current = Current;
            if (current.Length == 0) return Array.Empty<string>();
            if (_endpoint == QfexEndpoint.Trade) return new[] { SubscribeMessage(current, null) };
            // One message per channel and interval / sig_figs, for all its symbols: exactly what was subscribed.
            var messages = new List<string>();
            foreach (var group in current.Select(SubscriptionKeys.Parse).GroupBy(k => (k.Channel, k.Detail)))
            {
                string[] symbols = group.Select(k => k.Symbol ?? "*").Distinct(StringComparer.Ordinal).ToArray();
                string? detail = group.Key.Detail;
                if (detail == null) messages.Add(SubscribeMessage(new[] { group.Key.Channel }, symbols));
                else if (detail.StartsWith(SubscriptionKeys.SigFigsPrefix, StringComparison.Ordinal)
                    && int.TryParse(detail.Substring(SubscriptionKeys.SigFigsPrefix.Length), NumberStyles.Integer, CultureInfo.InvariantCulture, out int sigFigs))
                    messages.Add(SubscribeMessage(new[] { group.Key.Channel }, symbols, sigFigs: new[] { sigFigs }));
                else messages.Add(SubscribeMessage(new[] { group.Key.Channel }, symbols, intervals: new[] { detail }));
            }
            return messages;
        }

        /// <summary>Trade: params.channels. Market data: top-level channels, symbols, intervals and sig_figs (protocol doc §7.1).</summary>
        internal string SubscribeMessage(IReadOnlyList<string> channels, IReadOnlyList<string>? symbols,
            IReadOnlyList<string>? intervals = null, IReadOnlyList<int>? sigFigs = null)
        {
            if (_endpoint != QfexEndpoint.MarketData)
                return PSJson.Serialize(new Dictionary<string, object> { ["type"] = "subscribe", ["params"] = new Dictionary<string, object> { ["channels"] = channels } });
            var message = new Dictionary<string, object> { ["type"] = "subscribe", ["channels"] = channels, ["symbols"] = symbols ?? new[] { "*" } };
            if (intervals != null && intervals.Count > 0) message["intervals"] = intervals;
            if (sigFigs != null && sigFigs.Count > 0) message["sig_figs"] = sigFigs;
            return PSJson.Serialize(message);
        }

        private static TaskCompletionSource<bool> NewSignal() => new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
