using System;
using System.Management.Automation;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex.Commands
{
    /// <summary>
    /// New-QfexErrorRecord: the ErrorRecord the module writes for an error frame with this code, for
    /// runbook tests: <c>Mock Send-QfexMessage { throw (New-QfexErrorRecord RateLimited) }</c>.
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

        [Parameter]
        public object? IncomingMessage { get; set; }

        protected override void EndProcessing()
        {
            object? incoming = IncomingMessage;
            if (incoming is string json)
            {
                try
                {
                    incoming = PSJson.Parse(json);
                }
                catch (System.Text.Json.JsonException)
                {
                    // Not JSON: kept as the text, as a server echoing unparseable input would.
                }
            }
            else if (incoming != null)
            {
                // Hashtables and objects become the same PSCustomObject shape a received frame has.
                incoming = PSJson.Parse(PSJson.Serialize(incoming));
            }

            // An order status (FAILED_MARGIN_CHECK, ...) gives the record -Wait writes for that rejection;
            // anything else the record of an error frame with that code.
            if (ErrorCodeTable.Find(Code) is { Source: CodeSource.OrderStatus } row)
            {
                object? request = Redaction.Redact(incoming);
                WriteObject(ErrorRecords.For(row.Create(row, new ErrorContext(Message, null, 0, DateTime.UtcNow)), request));
                return;
            }
            // A known code typed in another case is the known code ("ratelimited" is RateLimited).
            string code = ErrorCodeTable.Find(Code)?.Code ?? Code;
            ErrorEnvelope envelope = ErrorEnvelope.Create(code, Message ?? DefaultMessage(code), incoming);
            WriteObject(ErrorRecords.ForErrorFrame(envelope, 0, DateTime.UtcNow));
        }

        /// <summary>RateLimited gets the exchange's own example text, so its RetryAfter is there as in real life.</summary>
        private static string? DefaultMessage(string code) =>
            code == "RateLimited" ? "Too many requests. Please retry after 200ms." : null;
    }
}
