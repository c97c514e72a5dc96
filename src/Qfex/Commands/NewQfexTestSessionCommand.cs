using System.Collections.Generic;
using System.Management.Automation;
using Qfex.Transport;

namespace Qfex.Commands
{
    /// <summary>
    /// New-QfexTestSession: an offline stand-in for a session, for unit tests of runbooks that take a typed
    /// -Session. A real Qfex.QfexSession that never connects and never sends; its frames come from -Frame.
    /// </summary>
    [Cmdlet(VerbsCommon.New, "QfexTestSession")]
    [OutputType(typeof(QfexSession))]
    public sealed class NewQfexTestSessionCommand : QfexCmdlet
    {
        [Parameter]
        public QfexEndpoint Endpoint { get; set; } = QfexEndpoint.Trade;

        [Parameter]
        public QfexSessionState State { get; set; } = QfexSessionState.Open;

        [Parameter(ValueFromPipeline = true)]
        [ValidateNotNull]
        public QfexFrame[]? Frame { get; set; }

        private readonly List<string> _frames = new List<string>();

        protected override void ProcessRecord()
        {
            if (Frame == null) return;
            foreach (QfexFrame frame in Frame)
                if (frame != null) _frames.Add(frame.Raw);
        }

        protected override void EndProcessing()
        {
            QfexSession session = QfexSession.CreateOffline(Endpoint, State, _frames,
                $"New-QfexTestSession made this offline stand-in {State}.");
            SessionRegistry.Add(session);
            WriteVerbose($"Session {session.Id} is an offline stand-in ({Endpoint}, {State}, {_frames.Count} frame(s) buffered): it never connects or sends.");
            WriteObject(session);
        }
    }
}
