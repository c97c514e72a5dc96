using System.Management.Automation;
using Qfex.Errors;

namespace Qfex.Commands
{
    /// <summary>Get-QfexErrorAdvice: what an error code, or an ErrorRecord, means and what to do.</summary>
    [Cmdlet(VerbsCommon.Get, "QfexErrorAdvice", DefaultParameterSetName = CodeSet)]
    [OutputType(typeof(QfexErrorAdvice))]
    public sealed class GetQfexErrorAdviceCommand : QfexCmdlet
    {
        private const string CodeSet = "Code";
        private const string ErrorRecordSet = "ErrorRecord";

        /// <summary>
        /// Codes: by position, by value ('RateLimited' | Get-QfexErrorAdvice) and by property name (Code, ErrorCode).
        /// An ErrorRecord piped binds to -ErrorRecord: the engine binds by value without conversion first.
        /// </summary>
        [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = CodeSet)]
        [Alias("ErrorCode")]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ErrorCodeCompleter))]
        public string[]? Code { get; set; }

        [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = ErrorRecordSet)]
        [ValidateNotNull]
        public ErrorRecord? ErrorRecord { get; set; }

        protected override void ProcessRecord()
        {
            if (ParameterSetName == ErrorRecordSet)
            {
                WriteObject(QfexErrorAdvice.ForRecord(ErrorRecord!));
                return;
            }
            if (Code == null) return;
            foreach (string code in Code)
                WriteObject(QfexErrorAdvice.ForCode(code));
        }

        protected override void EndProcessing()
        {
            // No -Code and nothing piped: the whole table, one row per known code.
            if (ParameterSetName == CodeSet && Code == null && !MyInvocation.ExpectingInput)
                foreach (string code in ErrorCodeTable.Codes)
                    WriteObject(QfexErrorAdvice.ForCode(code));
        }
    }
}
