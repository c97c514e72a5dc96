using System;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Errors;

namespace Qfex.Commands
{
    /// <summary>
    /// Base of every Qfex cmdlet: a token cancelled by Ctrl+C (StopProcessing), a way to wait for async
    /// work on the pipeline thread (the only thread that may write), and one way to write errors.
    /// </summary>
    public abstract class QfexCmdlet : PSCmdlet, IDisposable
    {
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();

        protected CancellationToken StopToken => _stop.Token;

        /// <summary>The same token, for the helpers that work for a cmdlet (<see cref="RequestRunner"/>).</summary>
        internal CancellationToken StopRequested => _stop.Token;

        protected override void StopProcessing() => _stop.Cancel();

        private bool _replaying;

        /// <summary>
        /// True when this invocation exists only to write a record for New-QfexErrorRecord (<see cref="RecordReplay"/>):
        /// it wrote it in BeginProcessing and does nothing else. Cmdlets that New-QfexErrorRecord -CommandName can name
        /// return at once from ProcessRecord and EndProcessing when it is set.
        /// </summary>
        internal bool Replaying => _replaying;

        /// <summary>Overrides must call this first.</summary>
        protected override void BeginProcessing()
        {
            ErrorRecord? record = RecordReplay.Take(GetType());
            if (record == null) return;
            _replaying = true;
            WriteError(record);
        }

        private bool? _debugEnabled;

        /// <summary>
        /// Whether Debug output would be shown: checked once, so hot loops build no Debug text nobody reads.
        /// </summary>
        internal bool DebugEnabled => _debugEnabled ??=
            (MyInvocation.BoundParameters.TryGetValue("Debug", out object? debug) && debug is SwitchParameter { IsPresent: true })
            || (GetVariableValue("DebugPreference") is ActionPreference preference && preference != ActionPreference.SilentlyContinue && preference != ActionPreference.Ignore);

        /// <summary>Blocks the pipeline thread on a task; Ctrl+C ends the wait with PipelineStoppedException.</summary>
        internal T Await<T>(Task<T> task)
        {
            try
            {
                return task.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
        }

        internal void Await(Task task)
        {
            try
            {
                task.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
        }

        internal void WriteQfexError(QfexException exception, object? target) => WriteError(ErrorRecords.For(exception, target));

        internal void ThrowQfexError(QfexException exception, object? target) => ThrowTerminatingError(ErrorRecords.For(exception, target));

        public void Dispose()
        {
            _stop.Dispose();
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Base of the cmdlets that work on a session: -Session, or the runspace's default session.</summary>
    public abstract class QfexSessionCmdlet : QfexCmdlet
    {
        /// <summary>
        /// The session to use; the runspace's default session when omitted. Each cmdlet declares the
        /// parameter itself, because pipeline binding differs (Send-QfexMessage takes messages by value).
        /// </summary>
        public abstract QfexSession? Session { get; set; }

        protected override void ProcessRecord()
        {
            if (Replaying) return;
            QfexSession? session = Session ?? Transport.SessionRegistry.Default;
            if (session == null)
            {
                ThrowQfexError(new QfexNoSessionException(
                    "No Qfex session is open in this runspace. Open one with Connect-Qfex, or pass one with -Session."), null);
                return;
            }
            WriteSessionLog(session);
            try
            {
                ProcessSession(session);
            }
            finally
            {
                WriteSessionLog(session);
            }
        }

        /// <summary>What the session did in the background (reconnects, probes), written from the pipeline thread.</summary>
        internal void WriteSessionLog(QfexSession session)
        {
            foreach (string line in session.DrainLog()) WriteVerbose(line);
            if (session.Core.Recorder?.TakeProblemToReport() is string problem) WriteWarning(problem);
        }

        internal abstract void ProcessSession(QfexSession session);
    }
}
