using System.Management.Automation;
using Qfex.Protocol;

namespace Qfex.Commands
{
    /// <summary>Send-QfexMessage: validates and sends one request; with -Wait, outputs its answer.</summary>
    [Cmdlet(VerbsCommunications.Send, "QfexMessage", DefaultParameterSetName = MessageSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(QfexFrame), typeof(PSObject))]
    public sealed class SendQfexMessageCommand : QfexSessionCmdlet
    {
        private const string TypeSet = "Type";
        private const string MessageSet = "Message";

        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = TypeSet)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(RequestTypeCompleter))]
        public string Type { get; set; } = string.Empty;

        [Parameter(Position = 1, ValueFromPipelineByPropertyName = true, ParameterSetName = TypeSet)]
        public object? Params { get; set; }

        [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = MessageSet)]
        [ValidateNotNull]
        public object? Message { get; set; }

        /// <summary>By property name only: by value, the pipeline carries messages.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        public override QfexSession? Session { get; set; }

        [Parameter]
        public SwitchParameter Wait { get; set; }

        [Parameter]
        [ValidateRange(1, 3600)]
        public int TimeoutSec { get; set; } = 10;

        [Parameter]
        public SwitchParameter PassThru { get; set; }

        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <summary>How often a RateLimited (or, for read-only requests, ServerError) answer is retried under -Wait.</summary>
        [Parameter]
        [ValidateRange(0, 10)]
        public int MaxRetries { get; set; } = 3;

        internal override void ProcessSession(QfexSession session)
        {
            var runner = new RequestRunner(this) { Wait = Wait, TimeoutSec = TimeoutSec, MaxRetries = MaxRetries, PassThru = PassThru, Force = Force };
            OutgoingMessage? message = runner.Build(() => Build(session.Endpoint), () => RequestRunner.RedactedCopy(ParameterSetName == MessageSet ? Message : Params));
            if (message == null) return;
            using (message)
            {
                QfexFrame? answer = runner.Run(session, message,
                    $"session {session.Id} ({session.Uri.Host})", $"Send {message.Describe()}");
                if (answer != null) WriteObject(answer);
            }
        }

        /// <summary>The request in the shape of the session's endpoint, checked against its catalog (throws InvalidMessageException: refused).</summary>
        private OutgoingMessage Build(QfexEndpoint endpoint) =>
            ParameterSetName == MessageSet ? OutgoingMessage.FromMessage(Message, endpoint) : OutgoingMessage.FromTypeAndParams(Type, Params, endpoint);
    }
}
