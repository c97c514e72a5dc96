using System;

namespace Qfex.Transport
{
    /// <summary>
    /// Random spread for backoff delays, shared by every runspace and thread: Random is not thread-safe, so
    /// one instance behind a lock (a few calls per retry or reconnect, never on a hot path).
    /// </summary>
    internal static class Jitter
    {
        private static readonly object Gate = new object();
        private static readonly Random Random = new Random();

        /// <summary>A factor in [0.5, 1.5): full jitter around a delay.</summary>
        internal static double Factor()
        {
            lock (Gate) return 0.5 + Random.NextDouble();
        }
    }
}
