using System;
using System.Globalization;

namespace Qfex
{
    /// <summary>
    /// One message the test server received, as recorded before it was answered. Auth requests are
    /// recorded with the HMAC signature, nonce and JWT replaced by "***".
    /// </summary>
    public sealed class QfexTestServerRequest
    {
        internal QfexTestServerRequest(int connectionId, DateTime receivedAt, string? type, object? parameters, string raw)
        {
            ConnectionId = connectionId;
            ReceivedAt = receivedAt;
            Type = type;
            Params = parameters;
            Raw = raw;
        }

        /// <summary>The server's id of the connection the message came on (1, 2, 3, ... per server).</summary>
        public int ConnectionId { get; }

        /// <summary>When the message was received (UTC).</summary>
        public DateTime ReceivedAt { get; }

        /// <summary>The request's "type"; null when it has none or the text is not JSON.</summary>
        public string? Type { get; }

        /// <summary>The "params" value as PowerShell objects (PSCustomObject, object[], long, decimal, ...), or null.</summary>
        public object? Params { get; }

        /// <summary>The text as received (auth requests: re-serialised with secrets redacted).</summary>
        public string Raw { get; }

        public override string ToString() =>
            string.Format(CultureInfo.InvariantCulture, "#{0} {1}", ConnectionId, Type ?? "(no type)");
    }
}
