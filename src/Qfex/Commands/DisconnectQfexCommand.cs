using System;
using System.Management.Automation;
using Qfex.Transport;

namespace Qfex.Commands
{
    /// <summary>Disconnect-Qfex: closes sessions cleanly (close handshake, then abort after a timeout). Idempotent.</summary>
    [Cmdlet(VerbsCommunications.Disconnect, "Qfex", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(QfexSession))]
    public sealed class DisconnectQfexCommand : QfexCmdlet
    {
        [Parameter(Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public QfexSession[]? Session { get; set; }

        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            QfexSession[] sessions = Session ?? (SessionRegistry.Default is QfexSession d ? new[] { d } : Array.Empty<QfexSession>());
            if (Session == null && sessions.Length == 0)
            {
                // Idempotent (the contract's word for this cmdlet): with nothing open there is nothing to do.
                WriteVerbose("No Qfex session is open in this runspace; nothing to disconnect.");
                return;
            }
            foreach (QfexSession session in sessions)
            {
                if (!ShouldProcess(session.ToString(), "Disconnect")) continue;
                WriteVerbose($"Closing session {session.Id} ({session.Uri}).");
                Await(session.CloseAsync("Disconnect-Qfex", TimeSpan.FromSeconds(5)));
                SessionRegistry.Forget(session);
                if (PassThru) WriteObject(session);
            }
        }
    }
}
