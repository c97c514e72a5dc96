using System;
using System.Diagnostics;
using System.Threading;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// The one way the tests wait for something that happens on another thread: until a condition holds,
    /// failing the test (never ignoring the result) if it does not within a generous bound. The bound is a
    /// hang detector, not a performance assertion: a slow machine only makes the wait longer.
    /// </summary>
    internal static class Wait
    {
        internal static readonly TimeSpan Hang = TimeSpan.FromSeconds(30);

        internal static void Until(Func<bool> condition, string what, TimeSpan? timeout = null)
        {
            TimeSpan limit = timeout ?? Hang;
            var clock = Stopwatch.StartNew();
            var spin = new SpinWait();
            while (!condition())
            {
                if (clock.Elapsed > limit) Assert.Fail($"Timed out after {limit.TotalSeconds:0} s waiting until {what}.");
                // Spins briefly, then yields the CPU (Thread.Sleep(1) inside SpinWait's back-off), never a fixed delay.
                spin.SpinOnce(sleep1Threshold: 30);
            }
        }
    }
}
