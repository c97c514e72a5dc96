using System;

namespace Qfex.Protocol
{
    /// <summary>
    /// The exchange's published rate limit (protocol doc §6.1): per user across all connections, 12,000 weight
    /// units per 60 seconds smoothed with an exponential moving average, in two independent buckets (general and
    /// cancel). The module's limiter and the fake exchange both count with <see cref="EmaLoad"/>.
    /// </summary>
    internal static class RateLimits
    {
        internal const double PublishedBudget = 12_000;
        internal const double PublishedWindowSeconds = 60;

        /// <summary>The catalog's weight of a trade request type; 1 for a type Qfex does not know.</summary>
        internal static double WeightOf(string type) => MessageCatalog.Find(type, QfexEndpoint.Trade)?.Weight ?? 1.0;

        /// <summary>
        /// The bucket a request counts in: cancel_order, cancel_all_orders and cancel_stop_order in the cancel
        /// bucket (the exchange does not list its members; these are the cancel-related messages), all else general.
        /// </summary>
        internal static RateBucket BucketOf(string type) => MessageCatalog.Find(type, QfexEndpoint.Trade)?.Bucket ?? RateBucket.General;
    }

    /// <summary>
    /// An exponentially decaying load: every admitted request adds its weight, and the load decays with time
    /// constant tau (load(t) = load(t0) * e^-((t - t0) / tau)). A request is admitted while load + weight stays
    /// within the budget, so at a steady rate r the load settles at r * tau: the budget allows budget / tau units
    /// per second sustained (12,000 / 60 s = 200 per second), and a burst of up to the budget from idle. A weight
    /// above half the budget counts as half the budget (the load never decays to zero, so a whole-budget request
    /// could never fit). Not thread-safe: the owner locks.
    /// </summary>
    internal sealed class EmaLoad
    {
        private double _load;
        private double _at;
        private bool _started;

        internal EmaLoad(double budget, double tauSeconds)
        {
            if (budget <= 0) throw new ArgumentOutOfRangeException(nameof(budget));
            if (tauSeconds <= 0) throw new ArgumentOutOfRangeException(nameof(tauSeconds));
            Budget = budget;
            TauSeconds = tauSeconds;
        }

        internal double Budget { get; }
        internal double TauSeconds { get; }

        /// <summary>The load at the last <see cref="DecayTo"/>.</summary>
        internal double Load => _load;

        /// <summary>What a request of this weight counts for.</summary>
        internal double Effective(double weight) => Math.Min(Math.Max(0, weight), Budget / 2);

        /// <summary>Brings the load to time <paramref name="seconds"/> (any monotonic clock, in seconds).</summary>
        internal void DecayTo(double seconds)
        {
            if (_started && seconds > _at) _load *= Math.Exp(-(seconds - _at) / TauSeconds);
            if (!_started || seconds > _at) _at = seconds;
            _started = true;
        }

        internal bool Fits(double weight) => _load + Effective(weight) <= Budget * (1 + 1e-12);

        /// <summary>Adds the weight when it fits now (after <see cref="DecayTo"/>); false otherwise.</summary>
        internal bool TryAdd(double weight)
        {
            if (!Fits(weight)) return false;
            _load += Effective(weight);
            return true;
        }

        /// <summary>Seconds until a request of this weight fits, at the current load (0 when it fits now).</summary>
        internal double SecondsUntilFits(double weight)
        {
            double target = Budget - Effective(weight);
            if (_load <= target) return 0;
            return TauSeconds * Math.Log(_load / target);
        }
    }
}
