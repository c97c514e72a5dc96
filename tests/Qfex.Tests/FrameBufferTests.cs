using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
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

        private static void Completes(Task task, string what) => Wait.Until(() => task.IsCompleted, what);

        /// <summary>A reader asleep in WaitForChange (on its own thread), started once it really sleeps.</summary>
        private static Task<bool> SleepingReader(FrameBuffer buffer, int timeoutMs = 30_000, CancellationToken cancel = default)
        {
            long seen = buffer.Version;
            int before = buffer.Sleepers;
            Task<bool> reader = Task.Factory.StartNew(() => buffer.WaitForChange(seen, timeoutMs, cancel), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default);
            Wait.Until(() => buffer.Sleepers > before || reader.IsCompleted, "the reader to fall asleep");
            Assert.Equal(before + 1, buffer.Sleepers);
            return reader;
        }

        [Fact]
        public async Task AnAddWakesASleepingReaderAtOnce()
        {
            var buffer = new FrameBuffer(100);
            Task<bool> reader = SleepingReader(buffer);
            buffer.Add(Frame());
            Completes(reader, "the reader to wake");
            Assert.True(await reader);
        }

        [Fact]
        public async Task ABatchIsAddedUnderOneLockAndWakesTheReaderOnce()
        {
            var buffer = new FrameBuffer(1000);
            Task<bool> reader = SleepingReader(buffer);
            long before = buffer.Version;
            var batch = new List<QfexFrame>();
            for (int i = 0; i < 64; i++) batch.Add(Frame());
            buffer.AddRange(batch);
            Completes(reader, "the reader to wake");
            Assert.True(await reader);
            Assert.Equal(before + 1, buffer.Version);   // one change for the whole batch
            var taken = new List<QfexFrame>();
            Assert.Equal(64, buffer.TryTakeMany(null, int.MaxValue, taken));
            Assert.Equal(batch, taken);

            // An empty batch changes nothing, so nothing can end a wait (a reader wakes only on a new version).
            reader = SleepingReader(buffer);
            long unchanged = buffer.Version;
            buffer.AddRange(new List<QfexFrame>());
            Assert.Equal(unchanged, buffer.Version);
            Assert.Equal(1, buffer.Sleepers);
            buffer.Add(Frame());
            Completes(reader, "the reader to wake on a frame");
            Assert.True(await reader);
        }

        [Fact]
        public void AReaderThatLooksAfterAnArrivalDoesNotSleep()
        {
            // The version read before an empty take: a frame that arrives in between ends the wait at once.
            var buffer = new FrameBuffer(10);
            long seen = buffer.Version;
            Assert.Equal(0, buffer.TryTakeMany(null, 10, new List<QfexFrame>()));
            buffer.Add(Frame());
            Assert.True(buffer.WaitForChange(seen, 30_000, CancellationToken.None));
        }

        [Fact]
        public async Task CompleteWakesEveryReader()
        {
            var buffer = new FrameBuffer(10);
            Task<bool> first = SleepingReader(buffer);
            Task<bool> second = SleepingReader(buffer);
            Assert.Equal(2, buffer.Sleepers);
            buffer.Complete();
            Completes(Task.WhenAll(first, second), "both readers to wake");
            Assert.True(await first);
            Assert.True(await second);
        }

        [Fact]
        public async Task TheWaitEndsAtItsTimeoutOrWhenItsOwnTokenIsCancelled()
        {
            var buffer = new FrameBuffer(10);
            Assert.False(buffer.WaitForChange(buffer.Version, 20, CancellationToken.None));

            using var stop = new CancellationTokenSource();
            Task<bool> stopped = SleepingReader(buffer, cancel: stop.Token);
            Task<bool> other = SleepingReader(buffer);
            stop.Cancel();
            Completes(stopped, "the cancelled reader to give up");
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stopped);
            // Only the cancelled reader gave up; the other one still sleeps until a frame arrives.
            Wait.Until(() => buffer.Sleepers == 1, "one sleeper left");
            Assert.False(other.IsCompleted);
            buffer.Add(Frame());
            Assert.True(await other);
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
                var batch = new List<QfexFrame>();
                for (int i = 0; i < round * 13; i++)
                {
                    if ((i & 1) == 0) buffer.Add(Frame());
                    else
                    {
                        batch.Add(Frame());
                        buffer.AddRange(batch);
                        batch.Clear();
                    }
                }
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
