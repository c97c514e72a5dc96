using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using Qfex.Transport;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>Plain unit tests of the session's frame buffer (no engine, no socket).</summary>
    public class FrameBufferTests
    {
        private static long _sequence;

        private static QfexFrame Frame() => new QfexFrame(++_sequence, "trade", "{\"type\":\"trade\"}", DateTime.UtcNow, 1);

        /// <summary>Whether the task completes within the time (false: it is still pending).</summary>
        private static async Task<bool> Completes(Task task, int milliseconds) =>
            await Task.WhenAny(task, Task.Delay(milliseconds)).ConfigureAwait(false) == task;

        [Fact]
        public async Task AnUndeferredAddWakesAWaitingReaderAtOnce()
        {
            var buffer = new FrameBuffer(100);
            Task changed = buffer.WhenChanged();
            Assert.False(changed.IsCompleted);
            buffer.Add(Frame());
            Assert.True(await Completes(changed, 5000));
        }

        [Fact]
        public async Task DeferredAddsWakeTheReaderAtSignalOrAfterABatch()
        {
            var buffer = new FrameBuffer(1000);

            // A burst: the receive loop defers the wake-up while the socket still has data...
            Task changed = buffer.WhenChanged();
            for (int i = 0; i < FrameBuffer.SignalBatch - 1; i++) buffer.Add(Frame(), deferSignal: true);
            Assert.False(await Completes(changed, 50));
            // ...and the batch's last frame wakes the reader.
            buffer.Add(Frame(), deferSignal: true);
            Assert.True(await Completes(changed, 5000));

            // Fewer than a batch: Signal (called before the loop waits on the socket) wakes the reader.
            var taken = new List<QfexFrame>();
            buffer.TryTakeMany(null, int.MaxValue, taken);
            Assert.Equal(FrameBuffer.SignalBatch, taken.Count);
            changed = buffer.WhenChanged();
            buffer.Add(Frame(), deferSignal: true);
            Assert.False(await Completes(changed, 50));
            buffer.Signal();
            Assert.True(await Completes(changed, 5000));
        }

        [Fact]
        public async Task SignalWithNothingBufferedWakesNobody()
        {
            var buffer = new FrameBuffer(10);
            Task changed = buffer.WhenChanged();
            buffer.Signal();
            Assert.False(await Completes(changed, 50));
            buffer.Complete();
            Assert.True(await Completes(changed, 5000));
        }

        [Fact]
        public void FramesComeOutInOrderAcrossTheRingsWrapAndGrowth()
        {
            var buffer = new FrameBuffer(10_000);
            var taken = new List<QfexFrame>();
            long expected = 0;
            long first = _sequence + 1;
            // Add and take in uneven steps so the head wraps round the ring and the ring grows while wrapped.
            for (int round = 1; round <= 40; round++)
            {
                for (int i = 0; i < round * 13; i++) buffer.Add(Frame(), deferSignal: (i & 1) == 0);
                taken.Clear();
                buffer.TryTakeMany(null, round * 11, taken);
                foreach (QfexFrame f in taken) Assert.Equal(first + expected++, f.Sequence);
            }
            taken.Clear();
            buffer.TryTakeMany(null, int.MaxValue, taken);
            foreach (QfexFrame f in taken) Assert.Equal(first + expected++, f.Sequence);
            Assert.Equal(_sequence - first + 1, expected);
            Assert.Equal(0, buffer.Count);
        }
    }
}
