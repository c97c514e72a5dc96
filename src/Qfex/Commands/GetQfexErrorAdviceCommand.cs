using System.Management.Automation;
using Qfex.Errors;

namespace Qfex.Commands
{
    /// <summary>Get-QfexErrorAdvice: what an error code (or an ErrorRecord from Qfex) means and what to do.</summary>
    [Cmdlet(VerbsCommon.Get, "QfexErrorAdvice", DefaultParameterSetName = CodeSet)]
    [OutputType(typeof(QfexErrorAdvice))]
    public sealed class GetQfexErrorAdviceCommand : QfexCmdlet
    {
        private const string CodeSet = "Code";
        private const string ErrorRecordSet = "ErrorRecord";

        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = CodeSet)]
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
                WriteObject(ForRecord(ErrorRecord!));
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

        private static QfexErrorAdvice ForRecord(ErrorRecord record)
        {
            switch (record.Exception)
            {
                case QfexServerErrorException server:
                    return server.Advice;
                case QfexOrderRejectedException rejected:
                    return rejected.Advice;
            }
            // Any other record: its ErrorId up to the first comma is the code.
            string id = record.FullyQualifiedErrorId ?? string.Empty;
            int comma = id.IndexOf(',');
            return QfexErrorAdvice.ForCode(comma >= 0 ? id.Substring(0, comma) : id, record.ErrorDetails?.Message);
        }
    }
}
