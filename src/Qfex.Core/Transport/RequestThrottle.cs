using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.RateLimiting;
using System.Threading.Tasks;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>
    /// Keeps a session under the exchange's weighted rate limit (protocol doc §6.1): each request takes
    /// its type's weight from a sliding window, and waits for room instead of earning RateLimited.
    /// Weights are counted in tenths (the lightest messages weigh 0.1).
    /// </summary>
    internal sealed class RequestThrottle : IDisposable
    {
        private const int TenthsPerUnit = 10;
        private const int Segments = 10;
        private readonly SlidingWindowRateLimiter _limiter;
        private readonly IDictionary<string, double> _overrides;
        private readonly int _permitLimit;

        internal RequestThrottle(double weightPerWindow, TimeSpan window, IDictionary<string, double> overrides)
        {
            _permitLimit = Math.Max(1, (int)Math.Round(weightPerWindow * TenthsPerUnit));
            _overrides = overrides;
            _limiter = new SlidingWindowRateLimiter(new SlidingWindowRateLimiterOptions
            {
                PermitLimit = _permitLimit,
                // A segmented window frees a permit up to one segment early. Counting over one segment
                // more keeps every permit for at least the whole window, so no span of that length ever
                // carries more than the limit: what a server counting over an exact window requires.
                Window = TimeSpan.FromTicks(window.Ticks * (Segments + 1) / Segments),
                SegmentsPerWindow = Segments + 1,
                QueueLimit = int.MaxValue,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
                AutoReplenishment = true,
            });
        }

        internal double WeightOf(string type) =>
            _overrides.TryGetValue(type, out double w) ? w : MessageCatalog.Find(type)?.Weight ?? 1.0;

        /// <summary>Takes the request's weight; when there is no room now, says so through <paramref name="onWait"/> and waits.</summary>
        internal async Task AcquireAsync(string type, Action<string> onWait, CancellationToken cancellationToken)
        {
            int permits = Math.Min(_permitLimit, Math.Max(0, (int)Math.Ceiling(WeightOf(type) * TenthsPerUnit)));
            if (permits == 0) return;
            using (RateLimitLease lease = _limiter.AttemptAcquire(permits))
                if (lease.IsAcquired) return;

            onWait($"Throttling {type} (weight {WeightOf(type)}): waiting for room under the client-side rate limit of {_permitLimit / (double)TenthsPerUnit} weight units per window.");
            using RateLimitLease waited = await _limiter.AcquireAsync(permits, cancellationToken).ConfigureAwait(false);
            if (!waited.IsAcquired)
                throw new InvalidOperationException("The client-side rate limiter refused the request.");
        }

        public void Dispose() => _limiter.Dispose();
    }
}
