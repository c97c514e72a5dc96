using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Errors;

namespace Qfex.Commands
{
    /// <summary>
    /// Receive-QfexFrame: takes frames from the session's buffer on the pipeline thread. Error frames
    /// become ErrorRecords. Ctrl+C ends a wait on the buffer; the socket's receive is never cancelled.
    /// </summary>
    [Cmdlet(VerbsCommunications.Receive, "QfexFrame")]
    [OutputType(typeof(QfexFrame), typeof(string))]
    public sealed class ReceiveQfexFrameCommand : QfexSessionCmdlet
    {
        [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        public override QfexSession? Session { get; set; }

        [Parameter]
        [ValidateRange(1, int.MaxValue)]
        public int Count { get; set; }

        [Parameter]
        [ValidateRange(0.0, 86400.0)]
        public double TimeoutSec { get; set; }

        [Parameter]
        public SwitchParameter Continuous { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public string[]? Type { get; set; }

        [Parameter]
        public SwitchParameter Raw { get; set; }

        /// <summary>Up to -Count frames within -TimeoutSec: fewer (or none) is a result, not a QfexReceiveTimeout error.</summary>
        [Parameter]
        public SwitchParameter AllowPartial { get; set; }

        // One deadline for the whole call: sessions piped in share -TimeoutSec, it does not start again for each.
        private readonly Stopwatch _clock = new Stopwatch();

        protected override void BeginProcessing()
        {
            base.BeginProcessing();
            _clock.Start();
        }

        internal override void ProcessSession(QfexSession session)
        {
            try
            {
                Receive(session);
            }
            finally
            {
                // Once per backpressure episode (from full to read empty), not once per call of a drain loop.
                if (session.Buffer.TakeEpisodeToReport())
                    WriteWarning($"The receive buffer of session {session.Id} reached its capacity of {session.Buffer.Capacity} frames; " +
                        "the module stopped reading the socket until there was room, so no frame was dropped. Receive more often, or raise Connect-Qfex -ReceiveBufferCapacity.");
            }
        }

        private void Receive(QfexSession session)
        {
            bool hasCount = MyInvocation.BoundParameters.ContainsKey(nameof(Count));
            bool hasTimeout = MyInvocation.BoundParameters.ContainsKey(nameof(TimeoutSec));
            ISet<string>? types = Type == null ? null : new HashSet<string>(Type, StringComparer.Ordinal);
            var buffer = session.Buffer;

            var batch = new List<QfexFrame>(Batch);
            if (!hasCount && !hasTimeout && !Continuous)
            {
                // What is buffered now, no waiting; bounded so a flood cannot keep this call going.
                for (int pending = buffer.Count; pending > 0 && buffer.TryTakeMany(types, Math.Min(pending, Batch), batch) > 0; batch.Clear())
                {
                    pending -= batch.Count;
                    Output(batch);
                }
                return;
            }

            // A filtered read may wait for frames queued behind frames it does not take: while it waits, the
            // buffer may overflow (up to twice its capacity) so the socket is still read. A read of every type drains
            // the buffer: the receive loop is paced meanwhile (FrameBuffer.PaceLimit), so the frames it takes are young.
            using IDisposable hold = types != null ? buffer.HoldForFilteredRead() : buffer.BeginDrain();
            TimeSpan? limit = hasTimeout ? TimeSpan.FromSeconds(TimeoutSec) : (TimeSpan?)null;
            int wanted = hasCount ? Count : int.MaxValue;
            int got = 0;
            while (got < wanted)
            {
                batch.Clear();
                long seen = buffer.Version;
                if (buffer.TryTakeMany(types, Math.Min(Batch, wanted - got), batch) > 0)
                {
                    Output(batch);
                    got += batch.Count;
                    // -TimeoutSec without -Count: once something arrived, return what is buffered and stop.
                    if (!hasCount && !Continuous && hasTimeout && buffer.Count == 0) return;
                    continue;
                }

                if (buffer.IsCompleted)
                {
                    WriteQfexError(session.ClosedException(
                        (session.CloseReason ?? "The session is closed.") + $" {got} frame(s) were received by this call; no more will arrive."), session);
                    return;
                }

                if (types != null && buffer.IsAtHardLimit)
                {
                    // Nothing more can be read from the socket until frames of other types are taken: say so now
                    // rather than wait for a frame that cannot arrive.
                    string filling = string.Join(", ", buffer.TypeCounts(3).Select(t => $"{t.Value} {t.Key}"));
                    WriteQfexError(new QfexException(ErrorIds.BufferFull, ErrorCategory.LimitsExceeded,
                        $"The receive buffer of session {session.Id} is full ({buffer.Count} frames: {filling}) with frames of other types than {string.Join(", ", Type!)}, " +
                        $"so no more can be read from the socket. {got} frame(s) were received by this call. Take the other frames too (Receive-QfexFrame without -Type), " +
                        "or raise Connect-Qfex -ReceiveBufferCapacity."), session);
                    return;
                }

                TimeSpan wait = Timeout.InfiniteTimeSpan;
                if (limit.HasValue)
                {
                    wait = limit.Value - _clock.Elapsed;
                    if (wait <= TimeSpan.Zero)
                    {
                        if (!AllowPartial && (got == 0 || hasCount))
                            WriteQfexError(new QfexTimeoutException(ErrorIds.ReceiveTimeout, hasCount
                                ? $"Received {got} of {wanted} frame(s) within {TimeoutSec} s."
                                : $"No frame arrived within {TimeoutSec} s."), session);
                        return;
                    }
                }

                try
                {
                    // The thread sleeps (no spinning: on a small machine a spinning reader takes the CPU the
                    // receive loop needs); the loop wakes it once per burst, or at once for a lone frame.
                    buffer.WaitForChange(seen, wait == Timeout.InfiniteTimeSpan ? Timeout.Infinite : (int)Math.Min(int.MaxValue, Math.Ceiling(wait.TotalMilliseconds)), StopToken);
                }
                catch (OperationCanceledException)
                {
                    throw new PipelineStoppedException();
                }
            }
        }

        /// <summary>Frames taken from the buffer under one lock, and written with one call where possible.</summary>
        private const int Batch = 256;

        private readonly List<object> _objects = new List<object>(Batch);

        /// <summary>Writes frames in order: runs of normal frames in one WriteObject, error frames as ErrorRecords between them.</summary>
        private void Output(List<QfexFrame> frames)
        {
            if (frames.Count > 0 && DebugEnabled)
                WriteDebug($"Session {frames[0].SessionId}: frames {frames[0].Sequence}..{frames[frames.Count - 1].Sequence} taken ({frames.Count}).");
            foreach (QfexFrame frame in frames)
            {
                ErrorRecord? error = ErrorRecords.ForFrame(frame);
                if (error == null)
                {
                    // -Raw: the text wrapped in a PSObject, which the engine would otherwise make for every object it
                    // binds downstream; a string arriving bare takes it a third longer to bind (the floor lines P2y and
                    // P2z of the benchmark). A script sees a string either way (Pester's Qfex.Tests: -Raw).
                    _objects.Add(Raw ? new PSObject(frame.Raw) : frame);
                    continue;
                }
                Flush();
                WriteError(error);
            }
            Flush();
        }

        private void Flush()
        {
            if (_objects.Count == 0) return;
            WriteObject(_objects, enumerateCollection: true);
            _objects.Clear();
        }
    }
}
