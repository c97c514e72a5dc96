using System;
using System.Management.Automation;
using Qfex.Protocol;

namespace Qfex.Errors
{
    /// <summary>The one place exceptions become ErrorRecords, so every path (received frames, -Wait, New-QfexErrorRecord) agrees.</summary>
    internal static class ErrorRecords
    {
        /// <summary>
        /// A record for any Qfex exception, with ErrorDetails: its message (for an error frame, the code and the server's
        /// message) and, as RecommendedAction, the exception's advice, which for a request follows whether it was sent.
        /// </summary>
        internal static ErrorRecord For(QfexException exception, object? targetObject)
        {
            var record = new ErrorRecord(exception, exception.ErrorId, exception.Category, targetObject);
            string message = exception is QfexServerErrorException server ? DetailsMessage(server.ErrorCode, server.ServerMessage) : exception.Message;
            record.ErrorDetails = new ErrorDetails(message) { RecommendedAction = exception.Advice.RecommendedAction };
            return record;
        }

        /// <summary>
        /// ErrorDetails.Message of an error frame's record: the exchange's code, then its message as sent (or a clear
        /// text when it sent none), as in "RateLimited: Too many requests. Please retry after 200ms.". The console's
        /// default error view (ConciseView) shows ErrorDetails.Message, so the code is on screen; the server's text
        /// alone stays in Exception.ServerMessage.
        /// </summary>
        internal static string DetailsMessage(string code, string? serverMessage) =>
            string.IsNullOrWhiteSpace(serverMessage)
                ? $"{code}: the exchange sent no message."
                : $"{code}: {serverMessage}";

        /// <summary>The record for an error frame: TargetObject is the echoed request (secrets redacted).</summary>
        internal static ErrorRecord ForErrorFrame(ErrorEnvelope envelope, long sequence, DateTime receivedAt)
        {
            ErrorCodeInfo row = ErrorCodeTable.ForErrorFrame(envelope.Code);
            QfexException exception = row.Create(row, new ErrorContext(envelope.Message, envelope.Incoming, sequence, receivedAt, envelope.IncomingType));
            return For(exception, envelope.Incoming);
        }

        /// <summary>The record for a frame that is an error of any kind (error frame or malformed); null for a normal frame.</summary>
        internal static ErrorRecord? ForFrame(QfexFrame frame)
        {
            if (frame.Error != null)
                return ForErrorFrame(frame.Error, frame.Sequence, frame.ReceivedAt);
            if (frame.MalformedReason != null)
            {
                var exception = new QfexMalformedFrameException(frame.Malformed == MalformedKind.TooLarge ? ErrorIds.FrameTooLarge : ErrorIds.MalformedFrame,
                    $"Frame {frame.Sequence} on session {frame.SessionId}: {frame.MalformedReason}", frame.Sequence);
                // The one redaction pass, with the session's secrets, masks before it cuts: a value cut in half would no
                // longer look like "name": "value".
                return For(exception, Redaction.Clean(frame.Raw, frame.Secrets, TextShape.MultiLine, FrameReader.MaxTargetChars));
            }
            return null;
        }
    }
}
