using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.WebSockets;
using System.Security;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>How to authenticate a trade session; holds secrets only as SecureString.</summary>
    internal sealed class QfexCredentials
    {
        private QfexCredentials(string? publicKey, SecureString? secret, SecureString? jwt)
        {
            PublicKey = publicKey;
            Secret = secret;
            Jwt = jwt;
        }

        internal string? PublicKey { get; }
        internal SecureString? Secret { get; }
        internal SecureString? Jwt { get; }

        internal static QfexCredentials Hmac(string publicKey, SecureString secret) => new QfexCredentials(publicKey, secret, null);
        internal static QfexCredentials FromJwt(SecureString jwt) => new QfexCredentials(null, null, jwt);

        internal string BuildAuthMessage(Guid? accountId) =>
            Jwt != null ? HmacAuth.BuildJwtMessage(Jwt, accountId) : HmacAuth.BuildHmacMessage(PublicKey!, Secret!, accountId, DateTimeOffset.UtcNow);

        public override string ToString() => Jwt != null ? "JWT credentials" : $"HMAC credentials for {PublicKey}";
    }

    internal sealed class ConnectOptions
    {
        internal Uri Uri { get; set; } = null!;
        internal QfexEndpoint Endpoint { get; set; }
        internal QfexCredentials? Credentials { get; set; }
        internal Guid? AccountId { get; set; }
        internal TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
        internal IReadOnlyList<string> Subscribe { get; set; } = Array.Empty<string>();
        internal bool CancelOnDisconnect { get; set; }
        internal int BufferCapacity { get; set; } = QfexSession.DefaultBufferCapacity;
    }

    /// <summary>
    /// Opens a session: connects, authenticates (trade) and waits for the server's confirmation, then
    /// sends the requested subscriptions. Progress is reported through <c>log</c> (Verbose), never a secret.
    /// </summary>
    internal static class SessionConnector
    {
        internal static async Task<QfexSession> ConnectAsync(ConnectOptions options, Action<string> log, CancellationToken cancellationToken)
        {
            Uri uri = options.Uri;
            if (!Endpoints.IsWebSocketScheme(uri))
                throw new QfexConnectionException(ErrorIds.ConnectFailed, $"'{uri}' is not a WebSocket address; use wss:// (or ws:// to loopback).");
            if (!Endpoints.IsAllowed(uri))
                throw new QfexInsecureUriException(
                    $"Refusing '{uri}': ws:// sends everything, credentials included, in clear text. Use wss://, or ws:// only to a loopback address.");
            if (options.Endpoint == QfexEndpoint.Trade && options.Credentials != null && options.Credentials.PublicKey != null)
                uri = WithApiKey(uri, options.Credentials.PublicKey);

            var session = new QfexSession(uri, options.Endpoint, options.AccountId, options.BufferCapacity);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.Timeout);
            bool ok = false;
            try
            {
                log($"Connecting to {session.Uri} ({options.Endpoint}).");
                var socket = new ClientWebSocket();
                // The protocol-level ping keeps NATs and proxies from dropping an idle socket.
                socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(15);
                try
                {
                    await session.OpenAsync(socket, timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new QfexTimeoutException(ErrorIds.Timeout, $"Connecting to {session.Uri} did not complete within {options.Timeout.TotalSeconds:0.###} s.");
                }
                catch (Exception e) when (e is WebSocketException || e is System.Net.Http.HttpRequestException || e is System.IO.IOException || e is System.Net.Sockets.SocketException)
                {
                    throw new QfexConnectionException(ErrorIds.ConnectFailed, $"Could not connect to {session.Uri}: {Describe(e)}", e);
                }
                log($"Connected to {session.Uri}.");

                if (options.Endpoint == QfexEndpoint.Trade && options.Credentials != null)
                    await AuthenticateAsync(session, options, log, timeout.Token, cancellationToken).ConfigureAwait(false);

                await SubscribeAsync(session, options, log, timeout.Token).ConfigureAwait(false);
                ok = true;
                return session;
            }
            finally
            {
                if (!ok) await session.CloseAsync("Connect-Qfex failure", TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            }
        }

        private static async Task AuthenticateAsync(QfexSession session, ConnectOptions options, Action<string> log,
            CancellationToken timeoutToken, CancellationToken userToken)
        {
            // Claim the answer before asking: a fast server can answer before we start waiting.
            Task<FrameContent> answer = session.ClaimNext(IsAuthAnswer);
            try
            {
                log(options.Credentials!.Jwt != null
                    ? "Authenticating with a JWT."
                    : $"Authenticating with HMAC for public key {options.Credentials.PublicKey}" + (options.AccountId.HasValue ? $", account {options.AccountId}." : "."));
                await session.SendAsync(options.Credentials.BuildAuthMessage(options.AccountId), timeoutToken).ConfigureAwait(false);

                FrameContent frame = await WithCancellation(answer, timeoutToken).ConfigureAwait(false);
                if (frame.Error != null)
                    throw new QfexAuthenticationException(
                        $"The exchange refused authentication: {frame.Error.Code}{(frame.Error.Message == null ? "" : ": " + frame.Error.Message)}", frame.Error.Code);
                if (!IsSuccess(frame))
                    throw new QfexAuthenticationException("The exchange refused authentication (authenticated: false).");
                session.IsAuthenticated = true;
                log("Authenticated.");
            }
            catch (OperationCanceledException) when (!userToken.IsCancellationRequested)
            {
                throw new QfexTimeoutException(ErrorIds.Timeout,
                    $"The exchange did not confirm authentication within {options.Timeout.TotalSeconds:0.###} s.");
            }
            catch (QfexConnectionException e)
            {
                throw new QfexAuthenticationException("The connection closed during authentication. " + e.Message, null, e);
            }
            finally
            {
                session.CancelClaim(answer);
            }
        }

        private static async Task SubscribeAsync(QfexSession session, ConnectOptions options, Action<string> log, CancellationToken token)
        {
            if (options.Subscribe.Count > 0)
            {
                string[] channels = options.Subscribe.Distinct(StringComparer.Ordinal).ToArray();
                log($"Subscribing to {string.Join(", ", channels)}.");
                // Trade: params.channels. Market data: top-level channels and symbols (all symbols here).
                string message = options.Endpoint == QfexEndpoint.MarketData
                    ? PSJson.Serialize(new Dictionary<string, object> { ["type"] = "subscribe", ["channels"] = channels, ["symbols"] = new[] { "*" } })
                    : PSJson.Serialize(new Dictionary<string, object> { ["type"] = "subscribe", ["params"] = new Dictionary<string, object> { ["channels"] = channels } });
                await session.SendAsync(message, token).ConfigureAwait(false);
            }
            if (options.CancelOnDisconnect)
            {
                log("Enabling cancel-on-disconnect: if this connection drops, the exchange cancels every open order of the account.");
                await session.SendAsync(PSJson.Serialize(new Dictionary<string, object>
                {
                    ["type"] = "cancel_on_disconnect",
                    ["params"] = new Dictionary<string, object> { ["cancel_on_disconnect"] = true },
                }), token).ConfigureAwait(false);
            }
        }

        /// <summary>The auth answer: {"authenticated":bool}, the 2025 {"type":"auth","result":..}, or any error frame before auth.</summary>
        internal static bool IsAuthAnswer(FrameContent frame) =>
            frame.Error != null || frame.Type == "authenticated" || frame.Type == "auth";

        private static bool IsSuccess(FrameContent frame)
        {
            try
            {
                using JsonDocument doc = JsonDocument.Parse(frame.Raw);
                JsonElement root = doc.RootElement;
                if (root.TryGetProperty("authenticated", out JsonElement a))
                    return a.ValueKind == JsonValueKind.True;
                return string.Equals(PSJson.GetString(root, "result"), "success", StringComparison.OrdinalIgnoreCase);
            }
            catch (JsonException)
            {
                return false;
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

        internal static async Task<T> WithCancellation<T>(Task<T> task, CancellationToken token)
        {
            if (!task.IsCompleted)
            {
                var cancelled = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                using (token.Register(() => cancelled.TrySetResult(true)))
                    if (await Task.WhenAny(task, cancelled.Task).ConfigureAwait(false) != task)
                        throw new OperationCanceledException(token);
            }
            return await task.ConfigureAwait(false);
        }

        private static string Describe(Exception e)
        {
            string message = e.Message;
            for (Exception? inner = e.InnerException; inner != null; inner = inner.InnerException)
                if (!message.Contains(inner.Message)) message += " " + inner.Message;
            return message;
        }
    }
}
