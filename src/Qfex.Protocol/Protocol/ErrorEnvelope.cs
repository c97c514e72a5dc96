using System;
using System.Text.Json;

namespace Qfex.Protocol
{
    /// <summary>
    /// An error frame's content, from either shape: <c>{"err":{"error_code":..,"message":..,"incoming_message":..}}</c>
    /// (what the live server sends) or the flat <c>{"type":"error","error_code":..,...}</c> of the older docs.
    /// </summary>
    internal sealed class ErrorEnvelope
    {
        private ErrorEnvelope(string code, string? message, object? incoming, string? incomingType)
        {
            Code = code;
            Message = message;
            Incoming = incoming;
            IncomingType = incomingType;
        }

        internal string Code { get; }
        internal string? Message { get; }

        /// <summary>
        /// The echoed request with secrets redacted: a <see cref="QfexEcho"/> for an object (its PowerShell objects
        /// built when first read), a string, another JSON value, or null. Redacted in the receive loop, while the
        /// pipeline thread writes the previous record.
        /// </summary>
        internal object? Incoming { get; }

        /// <summary>What the echo holds besides the frame's text, for a session's byte budget (the redacted copy, UTF-16).</summary>
        internal long HeldBytes => Incoming is QfexEcho echo ? 2L * echo.Json.Length : Incoming is string text ? 2L * text.Length : 0;

        /// <summary>The echoed request's type, read without building the object.</summary>
        internal string? IncomingType { get; }

        /// <summary>The frame echoes no request (incoming_message absent or null: the spec sends it only "when available").</summary>
        internal bool HasNoEcho => Incoming == null;

        /// <summary>True when the root object is an error frame of either shape (whether or not it is well formed).</summary>
        internal static bool IsErrorShape(JsonElement root) =>
            root.ValueKind == JsonValueKind.Object &&
            (root.TryGetProperty("err", out _) || IsFlatErrorType(PSJson.GetString(root, "type")));

        internal static bool IsFlatErrorType(string? type) =>
            string.Equals(type, "error", StringComparison.OrdinalIgnoreCase) || string.Equals(type, "err", StringComparison.OrdinalIgnoreCase);

        /// <summary>
        /// Reads an error frame; returns null with a reason when it has no string error_code. Everything kept goes
        /// through the one redaction pass, with the session's own secrets when <paramref name="secrets"/> is given:
        /// the code and message (control characters removed), the echo (secret-named keys masked whatever their
        /// value, every string cleaned, JSON inside strings masked at any escape level).
        /// </summary>
        internal static ErrorEnvelope? TryRead(JsonElement root, out string? malformedReason, SessionSecrets? secrets = null)
        {
            JsonElement body = root;
            if (root.TryGetProperty("err", out JsonElement err))
            {
                if (err.ValueKind != JsonValueKind.Object)
                {
                    malformedReason = "The error frame's \"err\" is not an object.";
                    return null;
                }
                body = err;
            }

            if (!body.TryGetProperty("error_code", out JsonElement codeElement) || codeElement.ValueKind != JsonValueKind.String
                || string.IsNullOrEmpty(PSJson.StringValue(codeElement)))
            {
                malformedReason = "The error frame has no error_code.";
                return null;
            }

            using SecretLiterals? literals = secrets?.Open();
            string? message = null;
            if (body.TryGetProperty("message", out JsonElement m))
                message = m.ValueKind == JsonValueKind.String ? PSJson.StringValue(m)
                    : m.ValueKind == JsonValueKind.Null ? null
                    : m.GetRawText();
            if (message != null) message = Redaction.CleanRecurring(message, literals, TextShape.MultiLine);

            object? incoming = null;
            string? incomingType = null;
            if (body.TryGetProperty("incoming_message", out JsonElement i) && i.ValueKind != JsonValueKind.Null)
            {
                // Secrets are masked now, while the session's literals are at hand (an echoed auth request); an object
                // stays redacted text until someone reads it (QfexEcho).
                incoming = i.ValueKind == JsonValueKind.Object ? QfexEcho.FromElement(i, literals) : PSJson.ToPSValue(i, redact: true, literals);
                if (incoming is string text) incoming = Redaction.Clean(text, literals, TextShape.MultiLine);
                incomingType = PSJson.GetString(i, "type") is string type ? Redaction.CleanRecurring(type, literals, TextShape.Line) : null;
            }

            malformedReason = null;
            return new ErrorEnvelope(Redaction.CleanRecurring(PSJson.StringValue(codeElement), literals, TextShape.Identifier), message, incoming, incomingType);
        }

        /// <summary>For New-QfexErrorRecord: an envelope built from parts, through the same redaction pass as a received one.</summary>
        internal static ErrorEnvelope Create(string code, string? message, object? incoming)
        {
            object? redacted = Redaction.Redact(incoming);
            string? type = (redacted as System.Management.Automation.PSObject)?.Properties["type"]?.Value as string;
            // A mock's echo is the type a received one is, numbers typed as in frames.
            if (redacted is System.Management.Automation.PSObject { BaseObject: System.Management.Automation.PSCustomObject } request)
                redacted = QfexEcho.FromObject(request);
            return new ErrorEnvelope(Redaction.Clean(code, shape: TextShape.Identifier), message == null ? null : Redaction.Clean(message, shape: TextShape.MultiLine), redacted, type);
        }
    }
}
