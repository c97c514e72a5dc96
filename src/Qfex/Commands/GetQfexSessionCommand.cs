using System.Linq;
using System.Management.Automation;
using Qfex.Transport;
using Qfex.Errors;

namespace Qfex.Commands
{
    /// <summary>Get-QfexSession: the sessions opened in this runspace and not disconnected, or the default one.</summary>
    [Cmdlet(VerbsCommon.Get, "QfexSession", DefaultParameterSetName = IdSet)]
    [OutputType(typeof(QfexSession))]
    public sealed class GetQfexSessionCommand : QfexCmdlet
    {
        private const string IdSet = "Id";
        private const string DefaultSet = "Default";

        [Parameter(Position = 0, ParameterSetName = IdSet)]
        [ValidateNotNullOrEmpty]
        public int[]? Id { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = DefaultSet)]
        public SwitchParameter Default { get; set; }

        protected override void EndProcessing()
        {
            if (Replaying) return;
            if (Default)
            {
                if (SessionRegistry.Default is QfexSession session) WriteObject(session);
                return;
            }

            var sessions = SessionRegistry.All;
            if (Id == null)
            {
                WriteObject(sessions, enumerateCollection: true);
                return;
            }
            foreach (int id in Id)
            {
                QfexSession? match = sessions.FirstOrDefault(s => s.Id == id);
                if (match != null) WriteObject(match);
                else WriteQfexError(new QfexException(ErrorIds.SessionNotFound, ErrorCategory.ObjectNotFound,
                    $"No open Qfex session has Id {id} in this runspace."), id);
            }
        }
    }
}
