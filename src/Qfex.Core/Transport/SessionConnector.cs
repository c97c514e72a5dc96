using System;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>Checks where a session may connect, then opens it. Progress goes to <c>log</c> (Verbose), never a secret.</summary>
    internal static class SessionConnector
    {
        internal static async Task<QfexSession> ConnectAsync(SessionOptions options, Action<string> log, CancellationToken cancellationToken)
        {
            Uri uri = options.Uri;
            if (!Endpoints.IsWebSocketScheme(uri))
                throw new QfexConnectionException(ErrorIds.ConnectFailed, $"'{uri}' is not a WebSocket address; use wss:// (or ws:// to loopback).");
            if (!Endpoints.IsAllowed(uri))
                throw new QfexInsecureUriException(
                    $"Refusing '{uri}': ws:// sends everything, credentials included, in clear text. Use wss://, or ws:// only to a loopback address.");
            if (options.Endpoint == QfexEndpoint.Trade && options.Credentials?.PublicKey != null)
                options.Uri = WithApiKey(uri, options.Credentials.PublicKey);

            var session = new QfexSession(options);
            try
            {
                await session.StartAsync(log, cancellationToken).ConfigureAwait(false);
                return session;
            }
            catch
            {
                await session.CloseAsync("Connect-Qfex failure", TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                session.Supervisor.Dispose();
                throw;
            }
        }

        private static Uri WithApiKey(Uri uri, string publicKey)
        {
            // The docs connect with ?api_key=<public key> (public, not a secret); the auth message proves it.
            if (uri.Query.IndexOf("api_key=", StringComparison.OrdinalIgnoreCase) >= 0) return uri;
            var builder = new UriBuilder(uri);
            string pair = "api_key=" + Uri.EscapeDataString(publicKey);
            builder.Query = string.IsNullOrEmpty(builder.Query) ? pair : builder.Query.TrimStart('?') + "&" + pair;
            return builder.Uri;
        }
    }
}
