using System;
using System.Collections;
using System.Management.Automation;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex.Commands
{
    /// <summary>
    /// New-QfexErrorRecord: the ErrorRecord the module writes for an exchange code, an order status or one of the
    /// module's ErrorIds, for runbook tests: <c>Mock Send-QfexMessage { throw (New-QfexErrorRecord RateLimited) }</c>.
    /// </summary>
    [Cmdlet(VerbsCommon.New, "QfexErrorRecord")]
    [OutputType(typeof(ErrorRecord))]
    public sealed class NewQfexErrorRecordCommand : QfexCmdlet
    {
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ErrorCodeCompleter))]
        public string Code { get; set; } = string.Empty;

        [Parameter(Position = 1)]
        public string? Message { get; set; }

        /// <summary>The echoed request of an error frame, the refused request of an order status, or what a module error is about.</summary>
        [Parameter]
        [Alias("TargetObject")]
        public object? IncomingMessage { get; set; }

        /// <summary>The cmdlet the record comes from: the end of its FullyQualifiedErrorId and its CategoryInfo.Activity.</summary>
        [Parameter]
        [ValidateSet("Send-QfexMessage", "Receive-QfexFrame", "Connect-Qfex", "Get-QfexSession", "Start-QfexTestServer", "Wait-QfexSession",
            "New-QfexOrder", "Get-QfexOrder", "Set-QfexOrder", "Stop-QfexOrder", "Get-QfexTrade", "Close-QfexPosition", "Get-QfexLeverage", "Set-QfexLeverage")]
        public string CommandName { get; set; } = "Send-QfexMessage";

        /// <summary>For QfexTimeout and QfexConnectionClosed from Send-QfexMessage: whether the request was sent.</summary>
        [Parameter]
        public QfexRequestOutcome RequestOutcome { get; set; } = QfexRequestOutcome.SentOutcomeUnknown;

        /// <summary>
        /// Writes the record as a non-terminating error of the cmdlet -CommandName names, into this command's error
        /// stream, instead of outputting it: Mock Send-QfexMessage { New-QfexErrorRecord RateLimited -NonTerminating }.
        /// </summary>
        [Parameter]
        public SwitchParameter NonTerminating { get; set; }

        protected override void EndProcessing()
        {
            ErrorRecord record = Build();
            if (NonTerminating)
            {
                if (!RecordReplay.TryWriteInto(this, CommandName, record))
                {
                    WriteWarning($"The record could not be written from {CommandName} (check $PSDefaultParameterValues for it): it is written without the cmdlet's name.");
                    WriteError(record);
                }
                return;
            }
            if (!RecordReplay.TryWriteFrom(this, CommandName, record))
                WriteWarning($"The record could not be written from {CommandName} (check $PSDefaultParameterValues for it): " +
                    $"its FullyQualifiedErrorId is '{record.FullyQualifiedErrorId}', without the cmdlet's name.");
            WriteObject(record);
        }

        private ErrorRecord Build()
        {
            // A code in capitals with underscores that Qfex does not know is an order status, as the exchange spells them:
            // -Wait writes the record of a rejection for it, and so does this.
            ErrorCodeInfo? row = ErrorCodeTable.Find(Code)
                ?? (System.Text.RegularExpressions.Regex.IsMatch(Code, "^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$") && ErrorCodeTable.IsRejection(Code)
                    ? ErrorCodeTable.ForOrderStatus(Code) : null);
            string? message = string.IsNullOrEmpty(Message) ? null : Message;
            switch (row?.Source)
            {
                case CodeSource.OrderStatus:
                {
                    // The record -Wait writes for that rejection: TargetObject is the request that was refused.
                    object? request = Redaction.Redact(AsFrameObject(IncomingMessage));
                    return ErrorRecords.For(row.Create(row, new ErrorContext(message, OrderResponseFor(row.Code, request), 0, DateTime.UtcNow)), request);
                }
                case CodeSource.Module:
                {
                    object? target = AsTarget(IncomingMessage);
                    string? type = (target as PSObject)?.Properties["type"]?.Value as string;
                    QfexException exception = row.Create(row, new ErrorContext(message ?? DefaultModuleMessage(row.Code, type), target, 0, DateTime.UtcNow, type));
                    if (IsAboutARequest(row.Code))
                    {
                        exception.RequestType = type;
                        exception.RequestOutcome = RequestOutcome;
                    }
                    return ErrorRecords.For(exception, target);
                }
                default:
                {
                    // An error frame with that code; a known code typed in another case is the known code ("ratelimited").
                    string code = row?.Code ?? Code;
                    ErrorEnvelope envelope = ErrorEnvelope.Create(code, message ?? DefaultMessage(code), AsFrameObject(IncomingMessage));
                    return ErrorRecords.ForErrorFrame(envelope, 0, DateTime.UtcNow);
                }
            }
        }

        /// <summary>What Send-QfexMessage (and the trading cmdlets) set RequestOutcome and RequestType on: a timeout or a drop of a request sent.</summary>
        private bool IsAboutARequest(string errorId) =>
            (errorId == ErrorIds.Timeout || errorId == ErrorIds.ConnectionClosed)
            && (RecordReplay.SendsRequests(CommandName) || MyInvocation.BoundParameters.ContainsKey(nameof(RequestOutcome)));

        /// <summary>Module messages that name the request, as the real ones do.</summary>
        private string? DefaultModuleMessage(string errorId, string? type)
        {
            if (errorId == ErrorIds.Timeout && IsAboutARequest(errorId))
                return $"No answer to {type ?? "the request"} arrived within 10 s. The request was sent: check its outcome before sending it again.";
            if (errorId == ErrorIds.ConnectionClosed && IsAboutARequest(errorId))
                return RequestOutcome == QfexRequestOutcome.NotSent
                    ? $"The session is reconnecting; {type ?? "the request"} was not sent."
                    : $"The connection closed while waiting for the answer to {type ?? "the request"}; it may or may not have reached the exchange.";
            return null;
        }

        /// <summary>An echoed request as a received frame has it: dictionaries and objects become the same PSCustomObject shape.</summary>
        private static object? AsFrameObject(object? value)
        {
            if (value is string json)
            {
                try
                {
                    return PSJson.Parse(json);
                }
                catch (System.Text.Json.JsonException)
                {
                    return json;   // not JSON: kept as the text, as a server echoing unparseable input would
                }
            }
            return value == null ? null : PSJson.Parse(PSJson.Serialize(value));
        }

        /// <summary>
        /// A module error's TargetObject as the module has it: a request (dictionary or PSCustomObject) as an object,
        /// text (a frame's, or a request given as JSON) as text, secrets masked in both; anything else (a Uri, a session,
        /// an Id) as given.
        /// </summary>
        private static object? AsTarget(object? value)
        {
            object? unwrapped = value is PSObject p && !(p.BaseObject is PSCustomObject) ? p.BaseObject : value;
            return unwrapped switch
            {
                string text => Redaction.Clean(text, shape: TextShape.MultiLine),
                IDictionary _ or PSObject _ => Redaction.Redact(AsFrameObject(unwrapped)),
                _ => unwrapped,
            };
        }

        /// <summary>
        /// A rejection's OrderResponse: the status, and what the order_response echoes of the request (symbol, side,
        /// client_order_id, quantity, price, order_id) where the request has it.
        /// </summary>
        private static PSObject OrderResponseFor(string status, object? request)
        {
            var response = new PSObject();
            var parameters = (request as PSObject)?.Properties["params"]?.Value as PSObject;
            foreach (string name in new[] { "order_id", "symbol", "side", "client_order_id", "quantity", "price" })
                if (parameters?.Properties[name]?.Value is object value)
                    response.Properties.Add(new PSNoteProperty(name, value));
            response.Properties.Add(new PSNoteProperty("status", status));
            return response;
        }

        /// <summary>RateLimited gets the exchange's own example text, so its RetryAfter is there as in real life.</summary>
        private static string? DefaultMessage(string code) =>
            code == "RateLimited" ? "Too many requests. Please retry after 200ms." : null;
    }
}
