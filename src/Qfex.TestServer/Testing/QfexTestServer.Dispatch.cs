using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Threading.Tasks;
using Qfex.Protocol;

namespace Qfex
{
    public sealed partial class QfexTestServer
    {
        private static readonly JsonWriterOptions WriterOptions = new JsonWriterOptions
        {
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };

        private static readonly string[] TradeChannels = { "order_responses", "positions", "balances", "fills", "stop_orders" };
        private const string Redacted = "***";

        /// <summary>A parsed request: the real one (for auth checks) and its echo (secrets redacted for auth).</summary>
        private readonly struct Request
        {
            internal Request(JsonElement root, JsonElement echo, string type)
            {
                Root = root;
                Echo = echo;
                Type = type;
                Params = root.TryGetProperty("params", out JsonElement p) ? p : default;
            }

            internal JsonElement Root { get; }
            internal JsonElement Echo { get; }
            internal string Type { get; }
            /// <summary>The "params" value; ValueKind Undefined when absent.</summary>
            internal JsonElement Params { get; }
        }

        // ---------------------------------------------------------------- entry

        private async Task HandleMessageAsync(QfexTestServerConnection connection, WsMessage message)
        {
            if (message.Type == QfexTestServerOpcode.Binary)
            {
                byte[] data = message.Data ?? Array.Empty<byte>();
                Record(connection, null, null, Encoding.UTF8.GetString(data));
                await SendErrorAsync(connection, "InvalidJSONFormat", "Binary frames are not supported; send JSON text frames.", null).ConfigureAwait(false);
                return;
            }

            string text = message.Text ?? string.Empty;
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(text, PSJson.DocumentOptions);
            }
            catch (JsonException)
            {
                Record(connection, null, null, text);
                await SendErrorAsync(connection, "InvalidJSONFormat", "Message is not valid JSON.", null).ConfigureAwait(false);
                return;
            }

            using (document)
            {
                JsonElement root = document.RootElement;
                string? type = PSJson.GetString(root, "type");
                if (type == "auth")
                {
                    string redacted = RedactAuth(root);
                    using JsonDocument echo = JsonDocument.Parse(redacted, PSJson.DocumentOptions);
                    Record(connection, type, ParamsAsPSValue(echo.RootElement), redacted);
                    await DispatchAsync(connection, new Request(root, echo.RootElement, type)).ConfigureAwait(false);
                    return;
                }

                Record(connection, type, ParamsAsPSValue(root), text);
                if (type == null)
                {
                    await SendErrorAsync(connection, "InvalidJSONFormat", "Expected field `type` (string).", root).ConfigureAwait(false);
                    return;
                }
                await DispatchAsync(connection, new Request(root, root, type)).ConfigureAwait(false);
            }
        }

        private static object? ParamsAsPSValue(JsonElement root) =>
            root.ValueKind == JsonValueKind.Object && root.TryGetProperty("params", out JsonElement p) ? PSJson.ToPSValue(p) : null;

        private async Task DispatchAsync(QfexTestServerConnection connection, Request request)
        {
            if (SilentTypes.Contains(request.Type))
                return;
            try
            {
                if (connection.IsMarketData)
                {
                    if (await TryOverrideAsync(connection, request).ConfigureAwait(false))
                        return;
                    if (Replay != null)
                        await ReplayRequestAsync(connection, request).ConfigureAwait(false);
                    else
                        await HandleMarketDataAsync(connection, request).ConfigureAwait(false);
                    return;
                }
                if (request.Type == "auth")
                {
                    string? answer = Faults.AuthAnswer;
                    string? after = Faults.AfterAuth;
                    if (answer != null)
                        await SendAsync(connection, Encoding.UTF8.GetBytes(QfexTestServerFaults.Expand(answer, request.Root.GetRawText()))).ConfigureAwait(false);
                    else if (!await TryOverrideAsync(connection, request).ConfigureAwait(false))
                        await HandleAuthAsync(connection, request).ConfigureAwait(false);
                    if (after != null)
                        await SendAsync(connection, Encoding.UTF8.GetBytes(QfexTestServerFaults.Expand(after, request.Root.GetRawText()))).ConfigureAwait(false);
                    return;
                }
                if (!connection.IsAuthenticated)
                {
                    await SendErrorAsync(connection, "PermissionDenied", "Not authenticated: authenticate first.", request.Echo).ConfigureAwait(false);
                    return;
                }
                if (await TryOverrideAsync(connection, request).ConfigureAwait(false))
                    return;
                if (!_rateWindow.TryTake(RateLimitPerSecond) || !TryTakeWeighted(request.Type))
                {
                    await SendErrorAsync(connection, "RateLimited", MessageFor("RateLimited"), request.Echo).ConfigureAwait(false);
                    return;
                }
                if (Replay != null)
                    await ReplayRequestAsync(connection, request).ConfigureAwait(false);
                else
                    await HandleTradeAsync(connection, request).ConfigureAwait(false);
            }
            catch (Exception ex) when (!(ex is IOException || ex is System.Net.Sockets.SocketException || ex is ObjectDisposedException || ex is OperationCanceledException))
            {
                // A handler bug must not kill the connection: answer like the real server would.
                Faults.LastError = ex;
                await SendErrorAsync(connection, "ServerError", "Unexpected error processing request.", request.Echo).ConfigureAwait(false);
            }
        }

        private async Task<bool> TryOverrideAsync(QfexTestServerConnection connection, Request request)
        {
            if (TakeFailure(request.Type) is string once)
            {
                await SendErrorAsync(connection, once, MessageFor(once), request.Echo).ConfigureAwait(false);
                return true;
            }
            if (!_respond.TryGetValue(request.Type, out string? code) || string.IsNullOrWhiteSpace(code))
                return false;
            code = code.Trim();
            await SendErrorAsync(connection, code, MessageFor(code), request.Echo).ConfigureAwait(false);
            return true;
        }

        private static string MessageFor(string code)
        {
            switch (code)
            {
                case "RateLimited": return "Too many requests. Please retry after 200ms.";
                case "InvalidJSONFormat": return "Message is not valid JSON or does not match the expected schema.";
                case "AlreadyAuthenticated": return "Connection is already authenticated.";
                case "InvalidParameter": return "One or more parameters are out of range, missing, or invalid.";
                case "PermissionDenied": return "API key does not allow this action on this account.";
                case "ServerError": return "Unexpected error processing request.";
                case "InvalidOrder": return "The order is invalid or malformed.";
                case "AlreadySubscribedToLeaderboard": return "The user is already subscribed to a leaderboard.";
                case "TncRequired": return "Please agree to the latest Terms and Conditions.";
                case "KycRequired": return "Please complete KYC verification first.";
                default: return "Simulated error " + code + ".";
            }
        }

        // ---------------------------------------------------------------- auth

        private async Task HandleAuthAsync(QfexTestServerConnection connection, Request request)
        {
            if (connection.IsAuthenticated)
            {
                await SendErrorAsync(connection, "AlreadyAuthenticated", "Connection is already authenticated.", request.Echo).ConfigureAwait(false);
                return;
            }
            JsonElement p = request.Params;
            if (p.ValueKind != JsonValueKind.Object)
            {
                await SendErrorAsync(connection, "InvalidJSONFormat", "Expected field `params` (object).", request.Echo).ConfigureAwait(false);
                return;
            }

            if (p.TryGetProperty("account_id", out JsonElement account) && account.ValueKind != JsonValueKind.Null &&
                (account.ValueKind != JsonValueKind.String || !Guid.TryParse(account.GetString(), out _)))
            {
                await SendErrorAsync(connection, "InvalidParameter", "account_id must be a UUID.", request.Echo).ConfigureAwait(false);
                return;
            }

            string? formatError = null;
            string? denied;
            if (p.TryGetProperty("hmac", out JsonElement hmac))
            {
                denied = VerifyHmac(hmac, out formatError);
            }
            else if (p.TryGetProperty("jwt", out JsonElement jwt))
            {
                denied = jwt.ValueKind != JsonValueKind.String ? null : VerifyJwt(jwt.GetString() ?? string.Empty);
                if (jwt.ValueKind != JsonValueKind.String)
                    formatError = "Expected field `jwt` (string).";
            }
            else if (p.TryGetProperty("api_key", out _))
            {
                denied = "Authentication with api_key alone is no longer supported; use HMAC.";
            }
            else
            {
                denied = null;
                formatError = "Expected field `hmac` (object) or `jwt` (string).";
            }

            if (formatError != null)
            {
                await SendErrorAsync(connection, "InvalidJSONFormat", formatError, request.Echo).ConfigureAwait(false);
                return;
            }
            if (denied != null)
            {
                await SendErrorAsync(connection, "PermissionDenied", denied, request.Echo).ConfigureAwait(false);
                return;
            }

            // The account whose orders, trades, positions and leverage the connection sees: the key it authenticated
            // with (or the JWT) and the subaccount it asked for.
            connection.AccountKey = (p.TryGetProperty("hmac", out _) ? "key:" + _publicKey : "jwt") + "|" +
                (p.TryGetProperty("account_id", out JsonElement accountId) && accountId.ValueKind == JsonValueKind.String
                    ? Guid.Parse(accountId.GetString()!).ToString("D") : "primary");
            connection.IsAuthenticated = true;
            await SendAsync(connection, Build(w =>
            {
                w.WriteStartObject();
                w.WriteBoolean("authenticated", true);
                w.WriteEndObject();
            })).ConfigureAwait(false);
            StartPings(connection);
            if (Replay != null)
                await ReplayConnectionReadyAsync(connection).ConfigureAwait(false);
        }

        /// <summary>Null when the HMAC block is valid; else why not (formatError set for a malformed block).</summary>
        private string? VerifyHmac(JsonElement hmac, out string? formatError)
        {
            formatError = null;
            if (hmac.ValueKind != JsonValueKind.Object)
            {
                formatError = "Expected field `hmac` (object).";
                return null;
            }
            string? publicKey = PSJson.GetString(hmac, "public_key");
            string? nonce = PSJson.GetString(hmac, "nonce");
            string? signature = PSJson.GetString(hmac, "signature");
            long unixTs = 0;
            bool hasTs = hmac.TryGetProperty("unix_ts", out JsonElement ts) && ts.ValueKind == JsonValueKind.Number && ts.TryGetInt64(out unixTs);
            if (publicKey == null) formatError = "Expected field `hmac.public_key` (string).";
            else if (nonce == null) formatError = "Expected field `hmac.nonce` (string).";
            else if (!hasTs) formatError = "Expected field `hmac.unix_ts` (integer).";
            else if (signature == null) formatError = "Expected field `hmac.signature` (string).";
            if (formatError != null)
                return null;

            if (!string.Equals(publicKey, _publicKey, StringComparison.Ordinal))
                return "Unknown API key.";
            if (!IsHexNonce(nonce!))
                return "Invalid nonce: it must be 1 to 100 hexadecimal characters.";
            long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            if (Math.Abs(now - unixTs) > 60)
                return "Stale timestamp: unix_ts is more than 60 seconds away from the server time.";
            if (!SignatureMatches(nonce!, unixTs, signature!))
                return "Bad signature.";
            if (!TryUseNonce(nonce!))
                return "Nonce reused: a nonce may be used only once within 15 minutes.";
            return null;
        }

        private string? VerifyJwt(string jwt)
        {
            string? accepted = AcceptedJwt;
            if (accepted == null || !FixedTimeEquals(Encoding.UTF8.GetBytes(accepted), Encoding.UTF8.GetBytes(jwt)))
                return "Invalid or expired JWT.";
            return null;
        }

        private static bool IsHexNonce(string nonce)
        {
            if (nonce.Length < 1 || nonce.Length > 100)
                return false;
            foreach (char c in nonce)
            {
                bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
                if (!hex)
                    return false;
            }
            return true;
        }

        private bool SignatureMatches(string nonce, long unixTs, string signature)
        {
            byte[] message = Encoding.UTF8.GetBytes(nonce + ":" + unixTs.ToString(CultureInfo.InvariantCulture));
            byte[] mac;
            lock (_secretBytes)
            {
                using var hmac = new HMACSHA256(_secretBytes);
                mac = hmac.ComputeHash(message);
            }
            const string hex = "0123456789abcdef";
            var expected = new byte[mac.Length * 2];
            for (int i = 0; i < mac.Length; i++)
            {
                expected[2 * i] = (byte)hex[mac[i] >> 4];
                expected[2 * i + 1] = (byte)hex[mac[i] & 0xF];
            }
            Array.Clear(mac, 0, mac.Length);
            bool equal = FixedTimeEquals(expected, Encoding.UTF8.GetBytes(signature));
            Array.Clear(expected, 0, expected.Length);
            return equal;
        }

        /// <summary>Constant-time comparison (no early exit); netstandard2.0 has no CryptographicOperations.</summary>
        internal static bool FixedTimeEquals(byte[] a, byte[] b)
        {
            if (a.Length != b.Length)
                return false;
            int difference = 0;
            for (int i = 0; i < a.Length; i++)
                difference |= a[i] ^ b[i];
            return difference == 0;
        }

        private readonly Dictionary<string, DateTime> _nonces = new Dictionary<string, DateTime>(StringComparer.Ordinal);
        private static readonly TimeSpan NonceWindow = TimeSpan.FromMinutes(15);

        private bool TryUseNonce(string nonce)
        {
            DateTime now = DateTime.UtcNow;
            lock (_nonces)
            {
                if (_nonces.Count > 0 && _nonces.Count % 64 == 0)
                {
                    var expired = new List<string>();
                    foreach (KeyValuePair<string, DateTime> entry in _nonces)
                    {
                        if (now - entry.Value > NonceWindow)
                            expired.Add(entry.Key);
                    }
                    foreach (string key in expired)
                        _nonces.Remove(key);
                }
                if (_nonces.TryGetValue(nonce, out DateTime used) && now - used <= NonceWindow)
                    return false;
                _nonces[nonce] = now;
                return true;
            }
        }

        /// <summary>Re-serialises an auth request with every signature, nonce and jwt under params replaced by "***".</summary>
        internal static string RedactAuth(JsonElement root)
        {
            byte[] bytes = Build(w => WriteRedacted(w, root, inParams: false, depth: 0));
            return Encoding.UTF8.GetString(bytes);
        }

        private static void WriteRedacted(Utf8JsonWriter writer, JsonElement element, bool inParams, int depth)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    writer.WriteStartObject();
                    foreach (JsonProperty property in element.EnumerateObject())
                    {
                        writer.WritePropertyName(property.Name);
                        if (inParams && IsSecretName(property.Name))
                            writer.WriteStringValue(Redacted);
                        else
                            WriteRedacted(writer, property.Value, inParams || (depth == 0 && property.Name == "params"), depth + 1);
                    }
                    writer.WriteEndObject();
                    break;
                case JsonValueKind.Array:
                    writer.WriteStartArray();
                    foreach (JsonElement item in element.EnumerateArray())
                        WriteRedacted(writer, item, inParams, depth + 1);
                    writer.WriteEndArray();
                    break;
                default:
                    element.WriteTo(writer);
                    break;
            }
        }

        private static bool IsSecretName(string name) =>
            string.Equals(name, "signature", StringComparison.OrdinalIgnoreCase) ||
            string.Equals(name, "nonce", StringComparison.OrdinalIgnoreCase) ||
            string.Equals(name, "jwt", StringComparison.OrdinalIgnoreCase) ||
            name.IndexOf("secret", StringComparison.OrdinalIgnoreCase) >= 0;

        // ---------------------------------------------------------------- market data (/mds)

        private async Task HandleMarketDataAsync(QfexTestServerConnection connection, Request request)
        {
            bool subscribe = request.Type == "subscribe";
            if (!subscribe && request.Type != "unsubscribe")
            {
                // Guess: the market-data socket documents only (un)subscribe; anything else is refused.
                await SendErrorAsync(connection, "InvalidParameter",
                    "Unknown message type '" + request.Type + "' for the market-data socket: it takes subscribe and unsubscribe.", request.Echo).ConfigureAwait(false);
                return;
            }
            JsonElement root = request.Root;
            if (!IsStringArray(root, "channels", out JsonElement channels) || channels.GetArrayLength() == 0)
            {
                await SendErrorAsync(connection, "InvalidJSONFormat", "Expected field `channels` (non-empty array of strings).", request.Echo).ConfigureAwait(false);
                return;
            }
            if (!IsStringArray(root, "symbols", out JsonElement symbols))
            {
                await SendErrorAsync(connection, "InvalidJSONFormat", "Expected field `symbols` (array of strings).", request.Echo).ConfigureAwait(false);
                return;
            }
            // Guess: the exchange's answer to an unknown channel, interval or sig_figs is not documented; this
            // server answers InvalidParameter echoing the request, and subscribes to none of it.
            string? problem = null;
            foreach (JsonElement channel in channels.EnumerateArray())
                if (Array.IndexOf(MessageCatalog.MarketDataChannels, channel.GetString()) < 0)
                    problem ??= "Unknown channel '" + channel.GetString() + "'. Valid channels: " + string.Join(", ", MessageCatalog.MarketDataChannels) + ".";
            if (root.TryGetProperty("intervals", out JsonElement intervals))
            {
                if (!IsStringArray(root, "intervals", out intervals))
                    problem ??= "intervals must be an array of strings.";
                else
                    foreach (JsonElement interval in intervals.EnumerateArray())
                        if (Array.IndexOf(MessageCatalog.Intervals, interval.GetString()) < 0)
                            problem ??= "Unknown interval '" + interval.GetString() + "'. Valid intervals: " + string.Join(", ", MessageCatalog.Intervals) + ".";
            }
            if (root.TryGetProperty("sig_figs", out JsonElement sigFigs))
            {
                bool valid = sigFigs.ValueKind == JsonValueKind.Array;
                if (valid)
                    foreach (JsonElement n in sigFigs.EnumerateArray())
                        valid &= n.ValueKind == JsonValueKind.Number && n.TryGetInt32(out int v) && v >= 0 && v <= 2;
                if (!valid) problem ??= "sig_figs must be an array of 0, 1 or 2.";
            }
            if (problem != null)
            {
                await SendErrorAsync(connection, "InvalidParameter", problem, request.Echo).ConfigureAwait(false);
                return;
            }
            foreach (JsonElement channel in channels.EnumerateArray())
            {
                if (subscribe)
                    connection.Subscribe(channel.GetString()!);
                else
                    connection.Unsubscribe(channel.GetString()!);
            }
            // Guess: the exchange does not document market-data acknowledgements; this server echoes the
            // request's channels, symbols, intervals and sig_figs in a {"type":"subscribed"} frame.
            await SendAsync(connection, Build(w =>
            {
                w.WriteStartObject();
                w.WriteString("type", subscribe ? "subscribed" : "unsubscribed");
                w.WritePropertyName("channels");
                channels.WriteTo(w);
                w.WritePropertyName("symbols");
                symbols.WriteTo(w);
                foreach (string optional in OptionalMarketDataFields)
                {
                    if (root.TryGetProperty(optional, out JsonElement value))
                    {
                        w.WritePropertyName(optional);
                        value.WriteTo(w);
                    }
                }
                w.WriteEndObject();
            })).ConfigureAwait(false);
        }

        private static bool IsStringArray(JsonElement obj, string name, out JsonElement array)
        {
            array = default;
            if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out array) || array.ValueKind != JsonValueKind.Array)
                return false;
            foreach (JsonElement item in array.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String)
                    return false;
            }
            return true;
        }

        // ---------------------------------------------------------------- frames

        private static byte[] Build(Action<Utf8JsonWriter> write)
        {
            using var stream = new MemoryStream(256);
            using (var writer = new Utf8JsonWriter(stream, WriterOptions))
                write(writer);
            return stream.ToArray();
        }

        private static readonly string[] OptionalMarketDataFields = { "intervals", "sig_figs" };

        private static Task<bool> SendAsync(QfexTestServerConnection connection, byte[] frame) =>
            connection.Socket.SendFrameAsync(QfexTestServerOpcode.Text, frame, 0, frame.Length);

        private Task<bool> SendErrorAsync(QfexTestServerConnection connection, string code, string? message, JsonElement? incoming)
        {
            bool flat = ErrorShape == QfexTestServerErrorShape.Flat;
            return SendAsync(connection, Build(w =>
            {
                w.WriteStartObject();
                if (flat)
                {
                    w.WriteString("type", "error");
                }
                else
                {
                    w.WritePropertyName("err");
                    w.WriteStartObject();
                }
                w.WriteString("error_code", code);
                if (message == null)
                    w.WriteNull("message");
                else
                    w.WriteString("message", message);
                w.WritePropertyName("incoming_message");
                if (incoming.HasValue && incoming.Value.ValueKind != JsonValueKind.Undefined)
                    incoming.Value.WriteTo(w);
                else
                    w.WriteNullValue();
                if (!flat)
                    w.WriteEndObject();
                w.WriteEndObject();
            }));
        }

        private static Task<bool> SendAckAsync(QfexTestServerConnection connection, Request request) =>
            SendAsync(connection, Build(w =>
            {
                w.WriteStartObject();
                w.WritePropertyName("ack");
                w.WriteStartObject();
                w.WritePropertyName("incoming_message");
                request.Echo.WriteTo(w);
                w.WriteEndObject();
                w.WriteEndObject();
            }));
    }
}
