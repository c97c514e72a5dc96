using System;
using System.Collections.Generic;
using System.Diagnostics;
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

        internal override void ProcessSession(QfexSession session)
        {
            try
            {
                Receive(session);
            }
            finally
            {
                int full = session.Buffer.TakeTimesFull();
                if (full > 0)
                    WriteWarning($"The receive buffer of session {session.Id} reached its capacity of {session.Buffer.Capacity} frames {full} time(s); " +
                        "the module stopped reading the socket until there was room, so no frame was dropped. Receive more often, or raise Connect-Qfex -ReceiveBufferCapacity.");
            }
        }

        private void Receive(QfexSession session)
        {
            bool hasCount = MyInvocation.BoundParameters.ContainsKey(nameof(Count));
            bool hasTimeout = MyInvocation.BoundParameters.ContainsKey(nameof(TimeoutSec));
            ISet<string>? types = Type == null ? null : new HashSet<string>(Type, StringComparer.Ordinal);
            var buffer = session.Buffer;

            if (!hasCount && !hasTimeout && !Continuous)
            {
                // What is buffered now, no waiting; bounded so a flood cannot keep this call going.
                for (int pending = buffer.Count; pending > 0 && buffer.TryTake(types, out QfexFrame? frame); pending--)
                    Output(frame!);
                return;
            }

            Stopwatch clock = Stopwatch.StartNew();
            TimeSpan? limit = hasTimeout ? TimeSpan.FromSeconds(TimeoutSec) : (TimeSpan?)null;
            int wanted = hasCount ? Count : int.MaxValue;
            int got = 0;
            while (got < wanted)
            {
                if (TryTake(buffer, types, out QfexFrame? frame, out Task? signal))
                {
                    Output(frame!);
                    got++;
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

                TimeSpan wait = Timeout.InfiniteTimeSpan;
                if (limit.HasValue)
                {
                    wait = limit.Value - clock.Elapsed;
                    if (wait <= TimeSpan.Zero)
                    {
                        if (got == 0 || hasCount)
                            WriteQfexError(new QfexTimeoutException(ErrorIds.ReceiveTimeout, hasCount
                                ? $"Received {got} of {wanted} frame(s) within {TimeoutSec} s."
                                : $"No frame arrived within {TimeoutSec} s."), session);
                        return;
                    }
                }

                try
                {
                    signal!.Wait(wait == Timeout.InfiniteTimeSpan ? Timeout.Infinite : (int)Math.Min(int.MaxValue, Math.Ceiling(wait.TotalMilliseconds)), StopToken);
                }
                catch (OperationCanceledException)
                {
                    throw new PipelineStoppedException();
                }
            }
        }

        /// <summary>Takes a frame, or returns the signal to wait on; checked twice so no arrival is missed.</summary>
        private static bool TryTake(Transport.FrameBuffer buffer, ISet<string>? types, out QfexFrame? frame, out Task? signal)
        {
            signal = null;
            if (buffer.TryTake(types, out frame)) return true;
            signal = buffer.WhenChanged();
            return buffer.TryTake(types, out frame);
        }

        private void Output(QfexFrame frame)
        {
            ErrorRecord? error = ErrorRecords.ForFrame(frame);
            if (error != null)
                WriteError(error);
            else if (Raw)
                WriteObject(frame.Raw);
            else
                WriteObject(frame);
        }
    }
}
