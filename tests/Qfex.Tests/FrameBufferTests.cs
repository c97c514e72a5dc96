using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Time.Testing;
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
    

        // ------------------------------------------------------------------ pacing (FrameBuffer.PaceLimit)

        /// <summary>Adds <paramref name="n"/> frames as the receive loop does, each after room was there at once.</summary>
        private static void Fill(FrameBuffer buffer, int n)
        {
            for (int i = 0; i < n; i++)
            {
                Assert.True(buffer.WaitForRoomAsync().IsCompleted, $"frame {i + 1} of {n} had to wait ({buffer.Count} buffered)");
                buffer.Add(Frame());
            }
        }

        private static int Take(FrameBuffer buffer, int n) => buffer.TryTakeMany(null, n, new List<QfexFrame>());

        [Fact]
        public void WhileAReaderDrainsTheProducerStopsAtThePaceLimitAndGoesOnOnceHalfIsTaken()
        {
            var buffer = new FrameBuffer(5_000, clock: new FakeTimeProvider());
            using IDisposable drain = buffer.BeginDrain();
            Fill(buffer, FrameBuffer.PaceLimit);
            long episodes = buffer.FullEpisodes;
            Task room = buffer.WaitForRoomAsync();
            Assert.False(room.IsCompleted);
            Assert.True(buffer.IsFull);                          // the socket is not read meanwhile: the watchdog knows
            Assert.Equal(episodes + 1, buffer.FullEpisodes);
            Assert.False(buffer.TakeEpisodeToReport());          // and no warning: the reader is reading
            Assert.False(buffer.IsAtHardLimit);

            Assert.Equal(FrameBuffer.PaceLimit - FrameBuffer.PaceResume - 1, Take(buffer, FrameBuffer.PaceLimit - FrameBuffer.PaceResume - 1));
            Assert.False(room.IsCompleted);
            Take(buffer, 1);
            Completes(room, "the paced producer to go on");
            Assert.False(buffer.IsFull);
            Assert.Equal(FrameBuffer.PaceResume, buffer.Count);
        }

        [Fact]
        public void AReaderThatDoesNotKeepUpGetsTheWholeCapacityAfterThePaceTimeout()
        {
            var clock = new FakeTimeProvider();
            var buffer = new FrameBuffer(5_000, clock: clock);
            using IDisposable drain = buffer.BeginDrain();
            Fill(buffer, FrameBuffer.PaceLimit);
            Task room = buffer.WaitForRoomAsync();
            clock.Advance(FrameBuffer.PaceTimeout - TimeSpan.FromMilliseconds(1));
            Assert.False(room.IsCompleted);
            clock.Advance(TimeSpan.FromMilliseconds(1));
            Completes(room, "the paced wait to time out");

            // Pacing is off: the buffer fills to its capacity as if nobody read, and only then is it backpressure.
            Fill(buffer, 5_000 - FrameBuffer.PaceLimit);
            Task full = buffer.WaitForRoomAsync();
            Assert.False(full.IsCompleted);
            Assert.True(buffer.TakeEpisodeToReport());
            clock.Advance(TimeSpan.FromSeconds(1));
            Assert.False(full.IsCompleted);                      // a wait at the capacity never times out

            // Once the reader has caught up, it is paced again.
            Take(buffer, 5_000 - FrameBuffer.PaceResume);
            Completes(full, "the producer to go on");
            Fill(buffer, FrameBuffer.PaceLimit - FrameBuffer.PaceResume);
            Assert.False(buffer.WaitForRoomAsync().IsCompleted);
        }

        [Fact]
        public void WhenTheReaderStopsDrainingAPacedProducerGoesOnAtOnce()
        {
            var buffer = new FrameBuffer(5_000, clock: new FakeTimeProvider());
            IDisposable drain = buffer.BeginDrain();
            Fill(buffer, FrameBuffer.PaceLimit);
            Task room = buffer.WaitForRoomAsync();
            Assert.False(room.IsCompleted);
            drain.Dispose();
            Completes(room, "the producer to go on when the reader stopped");
            Fill(buffer, 5_000 - FrameBuffer.PaceLimit);       // the capacity applies again
            drain.Dispose();                                  // a second dispose changes nothing
            Assert.False(buffer.WaitForRoomAsync().IsCompleted);
        }

        [Fact]
        public void NothingIsPacedWithoutADrainingReaderOrWhileTheBufferMayOverflow()
        {
            var clock = new FakeTimeProvider();
            var idle = new FrameBuffer(5_000, clock: clock);
            Fill(idle, 5_000);

            var answer = new FrameBuffer(5_000, clock: clock);
            using (answer.BeginDrain())
            {
                answer.AllowOverflow(true);                     // a -Wait: its answer may sit behind unread frames
                Fill(answer, 2 * FrameBuffer.PaceLimit);
                answer.AllowOverflow(false);
                Assert.False(answer.WaitForRoomAsync().IsCompleted);   // paced again: over the limit, it waits
            }

            var filtered = new FrameBuffer(5_000, clock: clock);
            using (filtered.BeginDrain())
            using (filtered.HoldForFilteredRead())
                Fill(filtered, 2 * FrameBuffer.PaceLimit);

            var small = new FrameBuffer(FrameBuffer.PaceLimit, clock: clock);
            using (small.BeginDrain())
                Fill(small, FrameBuffer.PaceLimit);             // no smaller limit than the capacity itself
        }
    }
}
