using System;
using System.Diagnostics;
using System.Management.Automation;
using System.Threading;
using Qfex.Errors;

namespace Qfex.Commands
{
    /// <summary>
    /// Wait-QfexSession: waits, with a timeout, until sessions reach a state (by default Open again after a
    /// reconnect). One deadline for the whole call, however many sessions come down the pipeline.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Wait, "QfexSession")]
    [OutputType(typeof(QfexSession))]
    public sealed class WaitQfexSessionCommand : QfexSessionCmdlet
    {
        [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        public override QfexSession? Session { get; set; }

        [Parameter]
        public QfexSessionState State { get; set; } = QfexSessionState.Open;

        [Parameter]
        [ValidateRange(0.0, 86400.0)]
        public double TimeoutSec { get; set; } = 30;

        [Parameter]
        public SwitchParameter PassThru { get; set; }

        private readonly Stopwatch _clock = new Stopwatch();

        /// <summary>How often the state is looked at while waiting.</summary>
        private const int PollMilliseconds = 20;

        protected override void BeginProcessing()
        {
            base.BeginProcessing();
            _clock.Start();
        }

        internal override void ProcessSession(QfexSession session)
        {
            TimeSpan limit = TimeSpan.FromSeconds(TimeoutSec);
            while (true)
            {
                QfexSessionState state = session.State;
                if (state == State)
                {
                    if (PassThru) WriteObject(session);
                    return;
                }
                if (state == QfexSessionState.Closed)
                {
                    // Closed is final: waiting longer cannot help.
                    WriteQfexError(session.ClosedException(
                        $"it is closed and will not be {State} again. {session.CloseReason}".TrimEnd()), session);
                    return;
                }
                TimeSpan left = limit - _clock.Elapsed;
                if (left <= TimeSpan.Zero)
                {
                    WriteQfexError(new QfexTimeoutException(ErrorIds.WaitTimeout,
                        $"Session {session.Id} ({session.Uri}) did not become {State} within {TimeoutSec} s: it is {state} " +
                        $"(reconnects so far: {session.Reconnects}). Run with -Verbose to see its reconnect attempts."), session);
                    return;
                }
                WriteSessionLog(session);
                if (StopToken.WaitHandle.WaitOne((int)Math.Min(PollMilliseconds, Math.Ceiling(left.TotalMilliseconds))))
                    throw new PipelineStoppedException();
            }
        }
    }
}
