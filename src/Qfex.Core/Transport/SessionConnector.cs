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
            if (!string.IsNullOrEmpty(uri.UserInfo))
            {
                // Never repeated, not even in the error: a password there would end up in Session.Uri, in logs, on screen.
                options.Uri = WithoutUserInfo(uri);
                throw new QfexInsecureUriException(
                    $"Refusing '{options.Uri}' given with user information (user:password@ before the host): it would be kept and shown with the address. Remove it; credentials go in -Credential, -ApiKey/-ApiSecret or -Jwt.");
            }
            if (options.Proxy != null && !string.IsNullOrEmpty(options.Proxy.UserInfo))
            {
                options.Proxy = WithoutUserInfo(options.Proxy);
                throw new QfexInsecureUriException($"Refusing the proxy '{options.Proxy}' given with user information: remove it.");
            }
            if (!Endpoints.IsWebSocketScheme(uri))
                throw new QfexConnectionException(ErrorIds.ConnectFailed, $"'{uri}' is not a WebSocket address; use wss:// (or ws:// to loopback).");
            if (!Endpoints.IsAllowed(uri))
                throw new QfexInsecureUriException(
                    $"Refusing '{uri}': ws:// sends everything, credentials included, in clear text. Use wss://, or ws:// only to a loopback address.");
            if (options.Endpoint == QfexEndpoint.Trade && options.Credentials?.PublicKey != null)
                options.Uri = WithApiKey(uri, options.Credentials.PublicKey);

            var session = new QfexSession(options);
            if (options.RecordPath != null) StartRecording(session, options, log);
            try
            {
                await session.StartAsync(log, cancellationToken).ConfigureAwait(false);
                // Closed in the instant between opening and returning (a server that closed at once, with
                // -NoReconnect): fail with its reason rather than hand back a dead session.
                if (session.State == QfexSessionState.Closed)
                    throw new QfexConnectionException(ErrorIds.ConnectFailed, $"The connection to {session.Uri} closed as soon as it opened: {session.CloseReason}");
                return session;
            }
            catch (Exception e)
            {
                // The transcript of a failed connect is worth attaching to a bug report: it says why.
                session.Core.Recorder?.Note("Connect-Qfex failed: " + e.Message);
                await session.CloseAsync("Connect-Qfex failure", TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                session.Supervisor.Dispose();
                throw;
            }
        }

        internal static Uri WithoutUserInfo(Uri uri) => new UriBuilder(uri) { UserName = string.Empty, Password = string.Empty }.Uri;

        private static void StartRecording(QfexSession session, SessionOptions options, Action<string> log)
        {
            try
            {
                session.Core.Recorder = SessionRecorder.Open(options.RecordPath!, session.Id, options, secrets: session.Core.Secrets);
                log($"Recording the session to {options.RecordPath} (JSON Lines, secrets masked).");
            }
            catch (Exception e) when (e is System.IO.IOException || e is UnauthorizedAccessException || e is NotSupportedException
                || e is ArgumentException || e is System.Security.SecurityException)
            {
                session.Supervisor.Dispose();
                throw new QfexException(ErrorIds.RecordFailed, System.Management.Automation.ErrorCategory.WriteError,
                    $"Cannot record the session to '{options.RecordPath}': {e.Message} Nothing was connected.", e);
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
