using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Errors;
using Qfex.Protocol;
using Qfex.Transport;

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

        internal override void ProcessSession(QfexSession session)
        {
            OutgoingMessage? message = Build();
            if (message == null) return;
            using (message)
                Send(session, message);
        }

        private OutgoingMessage? Build()
        {
            try
            {
                return ParameterSetName == MessageSet ? OutgoingMessage.FromMessage(Message) : OutgoingMessage.FromTypeAndParams(Type, Params);
            }
            catch (QfexInvalidMessageException e)
            {
                WriteQfexError(e, ParameterSetName == MessageSet ? Message : Params);
                return null;
            }
        }

        private void Send(QfexSession session, OutgoingMessage message)
        {
            MessageSpec? spec = MessageCatalog.Find(message.Type);
            if (spec == null)
                WriteVerbose($"'{message.Type}' is not a request type this version of Qfex knows; it is sent as given, without validation.");
            if (spec != null && spec.NeedsConfirmation)
            {
                if (!ShouldProcess($"session {session.Id} ({session.Uri.Host})", $"Send {message.Describe()}"))
                    return;
                if (spec.Effect == RequestEffect.Funds && !Force
                    && !ShouldContinue($"Send {message.Describe()}? This moves funds.", "Confirm fund transfer"))
                    return;
            }

            Task<QfexFrame>? answer = Wait ? session.WaitForAnswer(new AnswerMatcher(message.Type, message.Params).Matches) : null;
            try
            {
                WriteVerbose($"Sending {message.Type} on session {session.Id}.");
                Await(session.SendAsync(message.Json, StopToken));
            }
            catch (QfexException e)
            {
                if (answer != null) session.CancelAnswer(answer);
                WriteQfexError(e, message.ToPSObject());
                return;
            }

            if (PassThru) WriteObject(message.ToPSObject());
            if (answer == null) return;

            QfexFrame frame;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(StopToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(TimeoutSec));
            try
            {
                frame = Await(SessionConnector.WithCancellation(answer, timeout.Token));
            }
            catch (OperationCanceledException) when (!StopToken.IsCancellationRequested)
            {
                session.CancelAnswer(answer);
                WriteQfexError(new QfexTimeoutException(ErrorIds.Timeout,
                    $"No answer to {message.Type} arrived within {TimeoutSec} s. The request was sent: check its outcome before sending it again."),
                    message.ToPSObject());
                return;
            }
            catch (QfexException e)
            {
                WriteQfexError(e, message.ToPSObject());
                return;
            }
            finally
            {
                session.CancelAnswer(answer);
            }

            WriteAnswer(frame, message);
        }

        private void WriteAnswer(QfexFrame frame, OutgoingMessage message)
        {
            ErrorRecord? error = ErrorRecords.ForFrame(frame);
            if (error != null)
            {
                WriteError(error);
                return;
            }

            if (frame.Type == "order_response" && OrderRejection.Status(frame) is string status && ErrorCodeTable.IsRejection(status))
            {
                ErrorCodeInfo row = ErrorCodeTable.ForOrderStatus(status);
                object? payload = (frame.Data as PSObject)?.Properties["order_response"]?.Value;
                WriteError(ErrorRecords.For(row.Create(row, new ErrorContext(null, payload, frame.Sequence, frame.ReceivedAt)), message.ToPSObject()));
                return;
            }
            WriteObject(frame);
        }
    }

    /// <summary>Reads an order_response's status.</summary>
    internal static class OrderRejection
    {
        internal static string? Status(QfexFrame frame)
        {
            try
            {
                using JsonDocument doc = JsonDocument.Parse(frame.Raw);
                return doc.RootElement.TryGetProperty("order_response", out JsonElement order) ? PSJson.GetString(order, "status") : null;
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }
}
