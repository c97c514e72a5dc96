using System;
using System.Management.Automation;
using Qfex.Errors;

namespace Qfex
{
    /// <summary>What became of a request when it failed: the one thing a runbook must know before resending it.</summary>
    public enum QfexRequestOutcome
    {
        /// <summary>Provably never written to any socket: sending it again cannot duplicate it.</summary>
        NotSent,
        /// <summary>Written (or being written) when the failure came: it may have reached the exchange. Check before resending.</summary>
        SentOutcomeUnknown,
    }

    /// <summary>
    /// Base of everything the module throws or writes: <c>catch [Qfex.QfexException]</c> catches it all.
    /// <see cref="ErrorId"/> and <see cref="Category"/> become the ErrorRecord's id and category. Its message goes
    /// through the module's one redaction pass (secrets masked, control characters removed): it often quotes a
    /// server's or a user's text.
    /// </summary>
    public class QfexException : Exception
    {
        // CleanRecurring: a flood of error frames repeats one message, which is then not cleaned again.
        public QfexException(string errorId, ErrorCategory category, string message, Exception? innerException = null)
            : base(Qfex.Protocol.Redaction.CleanRecurring(message, null, Qfex.Protocol.TextShape.MultiLine), innerException)
        {
            ErrorId = errorId;
            Category = category;
        }

        /// <summary>The stable ErrorId of the ErrorRecord this exception becomes.</summary>
        public string ErrorId { get; }

        public ErrorCategory Category { get; }

        private QfexRequestOutcome? _requestOutcome;
        private string? _requestType;
        private QfexErrorAdvice? _advice;

        /// <summary>For a failed request: whether it was sent (null when the failure is not about a request).</summary>
        public QfexRequestOutcome? RequestOutcome
        {
            get => _requestOutcome;
            internal set
            {
                _requestOutcome = value;
                _advice = null;
            }
        }

        /// <summary>The request's type (add_order, ...), when the failure is about a request.</summary>
        public string? RequestType
        {
            get => _requestType;
            internal set
            {
                _requestType = value;
                _advice = null;
            }
        }

        /// <summary>
        /// What to do about this failure (Get-QfexErrorAdvice's answer for its record): for a request, it follows
        /// <see cref="RequestOutcome"/> and the request's type, so an order that may have reached the exchange is
        /// never advised to be resent.
        /// </summary>
        public QfexErrorAdvice Advice
        {
            get => _advice ??= QfexErrorAdvice.ForException(this);
            private protected set => _advice = value;
        }
    }

    /// <summary>An error frame from the exchange. Unknown codes are this type itself.</summary>
    public class QfexServerErrorException : QfexException
    {
        internal QfexServerErrorException(ErrorCodeInfo row, ErrorContext context)
            : base(row.Code, row.Category, FormatMessage(row.Code, context.ServerMessage))
        {
            ErrorCode = row.Code;
            ServerMessage = context.ServerMessage;
            _incoming = context.Incoming;
            Sequence = context.Sequence;
            ReceivedAt = context.ReceivedAt;
            Advice = QfexErrorAdvice.ForErrorFrame(row, context);
        }

        /// <summary>The exchange's error code exactly as sent.</summary>
        public string ErrorCode { get; }

        /// <summary>The exchange's message (may be null).</summary>
        public string? ServerMessage { get; }

        private readonly object? _incoming;

        /// <summary>The echo as the record holds it (a <see cref="QfexEcho"/> stays text): for another record about the same frame.</summary>
        internal object? Incoming => _incoming;

        /// <summary>The echoed request (secrets redacted) as a PowerShell object (built on the first read), its text, or null.</summary>
        public object? IncomingMessage => _incoming is QfexEcho echo ? echo.Value : _incoming;

        /// <summary>The frame's sequence number in its session (0 when not received from a session).</summary>
        public long Sequence { get; }

        /// <summary>When the frame arrived (UTC).</summary>
        public DateTime ReceivedAt { get; }

        private static string FormatMessage(string code, string? serverMessage) =>
            string.IsNullOrEmpty(serverMessage)
                ? $"The exchange answered with error {code} and no message."
                : $"The exchange answered with error {code}: {serverMessage}";
    }

    public class QfexRateLimitedException : QfexServerErrorException
    {
        internal QfexRateLimitedException(ErrorCodeInfo row, ErrorContext context) : base(row, context) { }
    }

    public class QfexInvalidRequestException : QfexServerErrorException
    {
        internal QfexInvalidRequestException(ErrorCodeInfo row, ErrorContext context) : base(row, context) { }
    }

    public class QfexPermissionException : QfexServerErrorException
    {
        internal QfexPermissionException(ErrorCodeInfo row, ErrorContext context) : base(row, context) { }
    }

    public class QfexStateException : QfexServerErrorException
    {
        internal QfexStateException(ErrorCodeInfo row, ErrorContext context) : base(row, context) { }
    }

    public class QfexServerFaultException : QfexServerErrorException
    {
        internal QfexServerFaultException(ErrorCodeInfo row, ErrorContext context) : base(row, context) { }
    }

    /// <summary>An order_response whose status is a rejection; ErrorCode is the status (e.g. FAILED_MARGIN_CHECK).</summary>
    public class QfexOrderRejectedException : QfexException
    {
        internal QfexOrderRejectedException(ErrorCodeInfo row, ErrorContext context)
            : base(row.Code, row.Category, $"The exchange rejected the order: {row.Code}.")
        {
            ErrorCode = row.Code;
            OrderResponse = context.Incoming;
            Sequence = context.Sequence;
            ReceivedAt = context.ReceivedAt;
            Advice = QfexErrorAdvice.From(row, null);
        }

        /// <summary>The rejecting status exactly as sent.</summary>
        public string ErrorCode { get; }

        /// <summary>The order_response payload (order_id, symbol, status, ...).</summary>
        public object? OrderResponse { get; }

        public long Sequence { get; }
        public DateTime ReceivedAt { get; }
    }

    /// <summary>Module-side: the socket could not be opened, or it closed.</summary>
    public class QfexConnectionException : QfexException
    {
        public QfexConnectionException(string errorId, string message, Exception? inner = null)
            : base(errorId, ErrorCategory.ConnectionError, message, inner) { }

        /// <summary>The WebSocket close status, when the server sent one.</summary>
        public int? CloseStatus { get; internal set; }

        public string? CloseReason { get; internal set; }
    }

    /// <summary>Module-side: the exchange did not confirm authentication.</summary>
    public class QfexAuthenticationException : QfexException
    {
        public QfexAuthenticationException(string message, string? serverErrorCode = null, Exception? inner = null)
            : base(ErrorIds.AuthenticationFailed, ErrorCategory.AuthenticationError, message, inner)
        {
            ServerErrorCode = serverErrorCode;
        }

        /// <summary>The error code the server answered the auth request with, if any.</summary>
        public string? ServerErrorCode { get; }
    }

    /// <summary>Module-side: something did not happen in time.</summary>
    public class QfexTimeoutException : QfexException
    {
        public QfexTimeoutException(string errorId, string message)
            : base(errorId, ErrorCategory.OperationTimeout, message) { }
    }

    /// <summary>Module-side: a frame that is not a JSON text frame.</summary>
    public class QfexMalformedFrameException : QfexException
    {
        public QfexMalformedFrameException(string errorId, string message, long sequence, Exception? inner = null)
            : base(errorId, errorId == ErrorIds.FrameTooLarge ? ErrorCategory.LimitsExceeded : ErrorCategory.InvalidData, message, inner)
        {
            Sequence = sequence;
        }

        public long Sequence { get; }
    }

    /// <summary>Module-side: a request refused before sending (nothing was sent).</summary>
    public class QfexInvalidMessageException : QfexException
    {
        public QfexInvalidMessageException(string message, Exception? inner = null)
            : base(ErrorIds.InvalidMessage, ErrorCategory.InvalidArgument, message, inner) { }
    }

    /// <summary>Module-side: the cmdlet needs a session and none is open.</summary>
    public class QfexNoSessionException : QfexException
    {
        public QfexNoSessionException(string message)
            : base(ErrorIds.NoSession, ErrorCategory.InvalidOperation, message) { }
    }

    /// <summary>Module-side: a clear-text ws:// address that is not loopback.</summary>
    public class QfexInsecureUriException : QfexException
    {
        public QfexInsecureUriException(string message)
            : base(ErrorIds.InsecureUri, ErrorCategory.SecurityError, message) { }
    }
}

namespace Qfex.Errors
{
    /// <summary>The module's own ErrorIds (not from error frames).</summary>
    internal static class ErrorIds
    {
        internal const string ConnectFailed = "QfexConnectFailed";
        internal const string ConnectionClosed = "QfexConnectionClosed";
        internal const string AuthenticationFailed = "QfexAuthenticationFailed";
        internal const string Timeout = "QfexTimeout";
        internal const string ReceiveTimeout = "QfexReceiveTimeout";
        internal const string MalformedFrame = "QfexMalformedFrame";
        internal const string FrameTooLarge = "QfexFrameTooLarge";
        internal const string InvalidMessage = "QfexInvalidMessage";
        internal const string NoSession = "QfexNoSession";
        internal const string InsecureUri = "QfexInsecureUri";
        internal const string ConflictingParameters = "QfexConflictingParameters";
        internal const string BufferFull = "QfexBufferFull";
        internal const string InvalidUri = "QfexInvalidUri";
        internal const string ConfirmationRequired = "QfexConfirmationRequired";
        internal const string SessionNotFound = "QfexSessionNotFound";
        internal const string TestServerStartFailed = "QfexTestServerStartFailed";
        internal const string NoEndpoint = "QfexNoEndpoint";
        internal const string WaitTimeout = "QfexWaitTimeout";
        internal const string RecordFailed = "QfexRecordFailed";
        internal const string TranscriptInvalid = "QfexTranscriptInvalid";
    }
}
