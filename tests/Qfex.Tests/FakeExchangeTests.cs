using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Protocol;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>Builds HMAC auth messages the way the protocol describes (lower-case hex HMAC-SHA256 of "nonce:unix_ts").</summary>
    internal static class FakeExchangeHmac
    {
        internal static string Sign(string secret, string nonce, long unixTs)
        {
            using var hmac = new HMACSHA256(Encoding.UTF8.GetBytes(secret));
            byte[] mac = hmac.ComputeHash(Encoding.UTF8.GetBytes(nonce + ":" + unixTs));
            return Convert.ToHexString(mac).ToLowerInvariant();
        }

        internal static string NewNonce() => Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();

        internal static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        internal static string AuthMessage(string publicKey, string secret, string? nonce = null, long? unixTs = null, string? signature = null, string? accountId = null)
        {
            nonce ??= NewNonce();
            long ts = unixTs ?? Now();
            signature ??= Sign(secret, nonce, ts);
            var hmac = new Dictionary<string, object> { ["public_key"] = publicKey, ["nonce"] = nonce, ["unix_ts"] = ts, ["signature"] = signature };
            var p = new Dictionary<string, object> { ["hmac"] = hmac };
            if (accountId != null)
                p["account_id"] = accountId;
            return JsonSerializer.Serialize(new Dictionary<string, object> { ["type"] = "auth", ["params"] = p });
        }
    }

    /// <summary>A ClientWebSocket with timeouts on every await.</summary>
    internal sealed class FakeExchangeClient : IDisposable
    {
        internal const int TimeoutMs = 5000;
        internal ClientWebSocket Socket { get; } = new ClientWebSocket();

        internal static async Task<FakeExchangeClient> ConnectAsync(Uri uri)
        {
            var client = new FakeExchangeClient();
            using var cts = new CancellationTokenSource(TimeoutMs);
            await client.Socket.ConnectAsync(uri, cts.Token);
            return client;
        }

        internal static async Task<FakeExchangeClient> ConnectAuthenticatedAsync(QfexTestServer server, params string[] channels)
        {
            FakeExchangeClient client = await ConnectAsync(server.Uri);
            await client.SendAsync(FakeExchangeHmac.AuthMessage(FakeExchangeTests.Key, FakeExchangeTests.Secret));
            JsonElement answer = await client.ReceiveJsonAsync();
            Assert.True(answer.GetProperty("authenticated").GetBoolean(), answer.ToString());
            if (channels.Length > 0)
            {
                await client.SendAsync(JsonSerializer.Serialize(new { type = "subscribe", @params = new { channels } }));
                foreach (string channel in channels)
                    Assert.Equal(channel, (await client.ReceiveJsonAsync()).GetProperty("subscribed").GetString());
            }
            return client;
        }

        internal async Task SendAsync(string text)
        {
            using var cts = new CancellationTokenSource(TimeoutMs);
            await Socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, cts.Token);
        }

        internal async Task SendPartAsync(string text, bool endOfMessage)
        {
            using var cts = new CancellationTokenSource(TimeoutMs);
            await Socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage, cts.Token);
        }

        /// <summary>One whole message; for a close, Type is Close and Text the close description.</summary>
        internal async Task<(WebSocketMessageType Type, string Text)> ReceiveAsync(int timeoutMs = TimeoutMs)
        {
            using var cts = new CancellationTokenSource(timeoutMs);
            var buffer = new byte[64 * 1024];
            using var message = new MemoryStream();
            while (true)
            {
                WebSocketReceiveResult result = await Socket.ReceiveAsync(buffer, cts.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                    return (WebSocketMessageType.Close, result.CloseStatusDescription ?? string.Empty);
                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                    return (result.MessageType, Encoding.UTF8.GetString(message.ToArray()));
            }
        }

        internal async Task<string> ReceiveTextAsync()
        {
            var (type, text) = await ReceiveAsync();
            Assert.Equal(WebSocketMessageType.Text, type);
            return text;
        }

        internal async Task<JsonElement> ReceiveJsonAsync()
        {
            string text = await ReceiveTextAsync();
            using JsonDocument doc = JsonDocument.Parse(text);
            return doc.RootElement.Clone();
        }

        /// <summary>Expects the server's close frame and returns its status.</summary>
        internal async Task<WebSocketCloseStatus?> ReceiveCloseAsync(int timeoutMs = TimeoutMs)
        {
            var (type, _) = await ReceiveAsync(timeoutMs);
            Assert.Equal(WebSocketMessageType.Close, type);
            return Socket.CloseStatus;
        }

        public void Dispose() => Socket.Dispose();
    }

    /// <summary>A raw TCP WebSocket client for frame-level tests (masked frames of any kind, raw reads).</summary>
    internal sealed class FakeExchangeRawClient : IDisposable
    {
        private readonly TcpClient _tcp;
        private readonly NetworkStream _stream;

        private FakeExchangeRawClient(TcpClient tcp)
        {
            _tcp = tcp;
            _stream = tcp.GetStream();
        }

        internal string ResponseHead { get; private set; } = string.Empty;

        internal static async Task<FakeExchangeRawClient> ConnectAsync(int port, string path = "/")
        {
            var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TimeSpan.FromSeconds(5));
            var client = new FakeExchangeRawClient(tcp);
            string key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                             "Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
            await client._stream.WriteAsync(Encoding.ASCII.GetBytes(request));
            client.ResponseHead = await client.ReadHeadAsync();
            Assert.StartsWith("HTTP/1.1 101", client.ResponseHead);
            Assert.Contains("Sec-WebSocket-Accept: " + ExpectedAccept(key) + "\r\n", client.ResponseHead);
            return client;
        }

        /// <summary>Sec-WebSocket-Accept as RFC 6455 section 4.2.2 defines it: base64(SHA-1(key + GUID)).</summary>
        internal static string ExpectedAccept(string key) =>
            Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));

        /// <summary>The next <paramref name="count"/> bytes as they are on the wire.</summary>
        internal async Task<byte[]> ReadBytesAsync(int count)
        {
            using var cts = new CancellationTokenSource(5000);
            return await ReadExactAsync(count, cts.Token);
        }

        private async Task<string> ReadHeadAsync()
        {
            var head = new StringBuilder();
            var one = new byte[1];
            using var cts = new CancellationTokenSource(5000);
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                int n = await _stream.ReadAsync(one, cts.Token);
                if (n == 0) break;
                head.Append((char)one[0]);
            }
            return head.ToString();
        }

        internal async Task SendFrameAsync(QfexTestServerOpcode opcode, byte[] payload, bool fin = true)
        {
            var frame = new List<byte> { (byte)((fin ? 0x80 : 0) | (byte)opcode) };
            if (payload.Length <= 125) frame.Add((byte)(0x80 | payload.Length));
            else if (payload.Length <= 65535) { frame.Add(0x80 | 126); frame.Add((byte)(payload.Length >> 8)); frame.Add((byte)payload.Length); }
            else { frame.Add(0x80 | 127); for (int i = 7; i >= 0; i--) frame.Add((byte)((long)payload.Length >> (8 * i))); }
            byte[] mask = RandomNumberGenerator.GetBytes(4);
            frame.AddRange(mask);
            for (int i = 0; i < payload.Length; i++)
                frame.Add((byte)(payload[i] ^ mask[i & 3]));
            using var cts = new CancellationTokenSource(5000);
            await _stream.WriteAsync(frame.ToArray(), cts.Token);
        }

        internal async Task<(QfexTestServerOpcode Opcode, bool Fin, byte[] Payload)> ReadFrameAsync()
        {
            using var cts = new CancellationTokenSource(5000);
            byte[] head = await ReadExactAsync(2, cts.Token);
            long length = head[1] & 0x7F;
            Assert.Equal(0, head[1] & 0x80); // server frames are never masked
            if (length == 126) { byte[] ext = await ReadExactAsync(2, cts.Token); length = (ext[0] << 8) | ext[1]; }
            else if (length == 127) { byte[] ext = await ReadExactAsync(8, cts.Token); length = 0; foreach (byte b in ext) length = (length << 8) | b; }
            byte[] payload = await ReadExactAsync((int)length, cts.Token);
            return ((QfexTestServerOpcode)(head[0] & 0x0F), (head[0] & 0x80) != 0, payload);
        }

        private async Task<byte[]> ReadExactAsync(int count, CancellationToken token)
        {
            var buffer = new byte[count];
            await _stream.ReadExactlyAsync(buffer, token);
            return buffer;
        }

        public void Dispose() => _tcp.Dispose();
    }

    public class FakeExchangeTests
    {
        internal const string Key = "qfex_pub_unit_test";
        internal const string Secret = "qfex_secret_unit_test_0123456789abcdef";

        private static SecureString SecretAsSecureString()
        {
            var s = new SecureString();
            foreach (char c in Secret) s.AppendChar(c);
            s.MakeReadOnly();
            return s;
        }

        private static QfexTestServer StartServer() => QfexTestServer.Start(0, Key, SecretAsSecureString());

        private static string Order(string orderType = "LIMIT", string tif = "GTC", string quantity = "1.5", string price = "200.25", string clientOrderId = "c-1") =>
            "{\"type\":\"add_order\",\"params\":{\"symbol\":\"AAPL-USD\",\"side\":\"BUY\",\"order_type\":\"" + orderType +
            "\",\"order_time_in_force\":\"" + tif + "\",\"quantity\":" + quantity + ",\"price\":" + price +
            ",\"client_order_id\":\"" + clientOrderId + "\"}}";

        private static JsonElement Err(JsonElement frame)
        {
            Assert.True(frame.TryGetProperty("err", out JsonElement err), "expected an error frame: " + frame);
            Assert.Single(frame.EnumerateObject());
            return err;
        }

        // ------------------------------------------------------------ handshake and framing

        [Fact]
        public async Task Handshake_Upgrades_And_PlainHttpRequestGets400()
        {
            using QfexTestServer server = StartServer();
            Assert.Equal(new Uri("ws://127.0.0.1:" + server.Port + "/"), server.Uri);
            Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", FakeExchangeRawClient.ExpectedAccept("dGhlIHNhbXBsZSBub25jZQ==")); // RFC 6455's example

            using (await FakeExchangeRawClient.ConnectAsync(server.Port)) { }

            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, server.Port).WaitAsync(TimeSpan.FromSeconds(5));
            NetworkStream stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
            using var cts = new CancellationTokenSource(5000);
            using var response = new MemoryStream();
            await stream.CopyToAsync(response, cts.Token);
            Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", Encoding.ASCII.GetString(response.ToArray()));
        }

        [Fact]
        public async Task ServerFrames_HaveSevenSixteenAndSixtyFourBitLengths_AndCloseReasonsFit125Bytes()
        {
            using QfexTestServer server = StartServer();
            // Market-data connections receive pushes without auth, so the raw client reads them from the first byte.
            using FakeExchangeRawClient raw = await FakeExchangeRawClient.ConnectAsync(server.Port, "/mds");
            server.Faults.PushFrame(Encoding.ASCII.GetBytes("abc"), QfexTestServerOpcode.Text);
            Assert.Equal(new byte[] { 0x81, 3, (byte)'a', (byte)'b', (byte)'c' }, await raw.ReadBytesAsync(5));
            server.Faults.PushFrame(new byte[125], QfexTestServerOpcode.Binary);
            Assert.Equal(new byte[] { 0x82, 125 }, (await raw.ReadBytesAsync(2 + 125)).Take(2));
            server.Faults.PushFrame(new byte[126], QfexTestServerOpcode.Text, fin: false);
            Assert.Equal(new byte[] { 0x01, 126, 0, 126 }, (await raw.ReadBytesAsync(4 + 126)).Take(4));
            server.Faults.PushFrame(new byte[65536], QfexTestServerOpcode.Continuation, fin: true);
            Assert.Equal(new byte[] { 0x80, 127, 0, 0, 0, 0, 0, 1, 0, 0 }, (await raw.ReadBytesAsync(10 + 65536)).Take(10));
            // A flood encodes its frame once, apart from the frame writer.
            Assert.Equal(1, server.Faults.Flood("\"" + new string('x', 65534) + "\"", 1));
            Assert.Equal(new byte[] { 0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0, (byte)'"', (byte)'x' }, (await raw.ReadBytesAsync(10 + 65536)).Take(12));

            using FakeExchangeRawClient second = await FakeExchangeRawClient.ConnectAsync(server.Port, "/mds");
            QfexTestServerConnection[] connections = server.Faults.Connections.ToArray();
            Assert.Equal(2, connections.Length);
            connections[0].Close(1000, "ok");
            var ok = await raw.ReadFrameAsync();
            Assert.Equal(QfexTestServerOpcode.Close, ok.Opcode);
            Assert.Equal(new byte[] { 0x03, 0xE8, (byte)'o', (byte)'k' }, ok.Payload);
            connections[1].Close(1000, new string('é', 100));
            byte[] longReason = (await second.ReadFrameAsync()).Payload;
            Assert.Equal(124, longReason.Length); // cut to fit 125 bytes without splitting a UTF-8 sequence
            Assert.Equal(new string('é', 61), Encoding.UTF8.GetString(longReason, 2, longReason.Length - 2));
        }

        [Fact]
        public async Task Ping_IsAnsweredWithPong_UnlessWithheld()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeRawClient raw = await FakeExchangeRawClient.ConnectAsync(server.Port);
            await raw.SendFrameAsync(QfexTestServerOpcode.Ping, Encoding.ASCII.GetBytes("hello"));
            var pong = await raw.ReadFrameAsync();
            Assert.Equal(QfexTestServerOpcode.Pong, pong.Opcode);
            Assert.True(pong.Fin);
            Assert.Equal("hello", Encoding.ASCII.GetString(pong.Payload));

            server.Faults.WithholdPongs = true;
            await raw.SendFrameAsync(QfexTestServerOpcode.Ping, Encoding.ASCII.GetBytes("again"));
            await raw.SendFrameAsync(QfexTestServerOpcode.Text, Encoding.UTF8.GetBytes("not json"));
            var next = await raw.ReadFrameAsync();
            Assert.Equal(QfexTestServerOpcode.Text, next.Opcode); // the error frame, no pong before it
            Assert.Contains("InvalidJSONFormat", Encoding.UTF8.GetString(next.Payload));
            Assert.Equal(2, server.Faults.Connections.Single().PingsReceived);
        }

        [Fact]
        public async Task Close_FromClient_IsAnsweredWithClose()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeRawClient raw = await FakeExchangeRawClient.ConnectAsync(server.Port);
            await raw.SendFrameAsync(QfexTestServerOpcode.Close, new byte[] { 0x03, 0xE8, (byte)'b', (byte)'y', (byte)'e' });
            var close = await raw.ReadFrameAsync();
            Assert.Equal(QfexTestServerOpcode.Close, close.Opcode);
            Assert.Equal(new byte[] { 0x03, 0xE8 }, close.Payload.Take(2));
        }

        [Fact]
        public async Task FragmentedClientMessage_IsReassembled()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            await client.SendPartAsync("{\"type\":\"set_user_", false);
            await client.SendPartAsync("leverage\",\"params\":{\"symbol\":\"AAPL-USD\",", false);
            await client.SendPartAsync("\"leverage\":5}}", true);
            JsonElement ack = (await client.ReceiveJsonAsync()).GetProperty("ack").GetProperty("incoming_message");
            Assert.Equal("set_user_leverage", ack.GetProperty("type").GetString());
            Assert.Equal(5, ack.GetProperty("params").GetProperty("leverage").GetInt32());

            // Raw fragments with a ping between them (control frames may interleave).
            using FakeExchangeRawClient raw = await FakeExchangeRawClient.ConnectAsync(server.Port);
            await raw.SendFrameAsync(QfexTestServerOpcode.Text, Encoding.UTF8.GetBytes("{\"ty"), fin: false);
            await raw.SendFrameAsync(QfexTestServerOpcode.Ping, Array.Empty<byte>());
            await raw.SendFrameAsync(QfexTestServerOpcode.Continuation, Encoding.UTF8.GetBytes("pe\":\"get_user_orders\"}"), fin: true);
            Assert.Equal(QfexTestServerOpcode.Pong, (await raw.ReadFrameAsync()).Opcode);
            string answer = Encoding.UTF8.GetString((await raw.ReadFrameAsync()).Payload);
            Assert.Contains("authenticate first", answer);
        }

        [Fact]
        public async Task OversizedClientMessage_ClosesWith1009()
        {
            using QfexTestServer server = StartServer();
            server.MaxFrameBytes = 1024;
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAsync(server.Uri);
            await client.SendAsync(new string('x', 4096));
            Assert.Equal(WebSocketCloseStatus.MessageTooBig, await client.ReceiveCloseAsync());
            Assert.Empty(server.Received);
        }

        [Fact]
        public async Task InvalidUtf8Text_ClosesWith1007()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeRawClient raw = await FakeExchangeRawClient.ConnectAsync(server.Port);
            await raw.SendFrameAsync(QfexTestServerOpcode.Text, new byte[] { 0x7B, 0xC3, 0x28, 0x7D });
            var close = await raw.ReadFrameAsync();
            Assert.Equal(QfexTestServerOpcode.Close, close.Opcode);
            Assert.Equal(1007, (close.Payload[0] << 8) | close.Payload[1]);
        }

        // ------------------------------------------------------------ auth

        [Fact]
        public async Task Auth_WithValidHmac_Succeeds()
        {
            using QfexTestServer server = StartServer();
            Assert.True(server.IsRunning);
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            Assert.Equal(1, server.ConnectionCount);
            Assert.Equal(Key, server.Credential.UserName);
            Assert.Equal(Secret, server.Credential.GetNetworkCredential().Password);
            Assert.Equal("QfexTestServer ws://127.0.0.1:" + server.Port + "/", server.ToString());
            Assert.DoesNotContain(Secret, server.ToString());
        }

        [Fact]
        public async Task Auth_GeneratedCredentials_Work()
        {
            using QfexTestServer server = QfexTestServer.Start();
            string key = server.Credential.UserName;
            string secret = server.Credential.GetNetworkCredential().Password;
            Assert.Matches("^qfex_pub_test_[0-9a-f]{32}$", key);
            Assert.Matches("^qfex_secret_test_[0-9a-f]{32}$", secret);
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAsync(server.Uri);
            await client.SendAsync(FakeExchangeHmac.AuthMessage(key, secret));
            Assert.True((await client.ReceiveJsonAsync()).GetProperty("authenticated").GetBoolean());
        }

        [Theory]
        [InlineData("signature", "Bad signature")]
        [InlineData("key", "Unknown API key")]
        [InlineData("stale", "Stale timestamp")]
        [InlineData("nonce", "Nonce reused")]
        public async Task Auth_Failures_ArePermissionDenied_AndKeepTheSocketOpen(string fault, string reason)
        {
            using QfexTestServer server = StartServer();
            string nonce = FakeExchangeHmac.NewNonce();
            if (fault == "nonce")
            {
                using FakeExchangeClient first = await FakeExchangeClient.ConnectAsync(server.Uri);
                await first.SendAsync(FakeExchangeHmac.AuthMessage(Key, Secret, nonce));
                Assert.True((await first.ReceiveJsonAsync()).GetProperty("authenticated").GetBoolean());
            }
            string message = fault switch
            {
                "signature" => FakeExchangeHmac.AuthMessage(Key, Secret, nonce, signature: FakeExchangeHmac.Sign("wrong-secret", nonce, FakeExchangeHmac.Now())),
                "key" => FakeExchangeHmac.AuthMessage("qfex_pub_other", Secret, nonce),
                "stale" => FakeExchangeHmac.AuthMessage(Key, Secret, nonce, FakeExchangeHmac.Now() - 120),
                _ => FakeExchangeHmac.AuthMessage(Key, Secret, nonce),
            };
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAsync(server.Uri);
            await client.SendAsync(message);
            JsonElement err = Err(await client.ReceiveJsonAsync());
            Assert.Equal("PermissionDenied", err.GetProperty("error_code").GetString());
            Assert.Contains(reason, err.GetProperty("message").GetString());
            JsonElement hmac = err.GetProperty("incoming_message").GetProperty("params").GetProperty("hmac");
            Assert.Equal("***", hmac.GetProperty("signature").GetString());
            Assert.Equal("***", hmac.GetProperty("nonce").GetString());

            // The socket stays open: the client may try again.
            await client.SendAsync(FakeExchangeHmac.AuthMessage(Key, Secret));
            Assert.True((await client.ReceiveJsonAsync()).GetProperty("authenticated").GetBoolean());
        }

        [Fact]
        public async Task SecondAuth_IsAlreadyAuthenticated()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            await client.SendAsync(FakeExchangeHmac.AuthMessage(Key, Secret));
            JsonElement err = Err(await client.ReceiveJsonAsync());
            Assert.Equal("AlreadyAuthenticated", err.GetProperty("error_code").GetString());
            Assert.Equal("auth", err.GetProperty("incoming_message").GetProperty("type").GetString());
        }

        [Fact]
        public async Task RequestBeforeAuth_IsPermissionDenied()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAsync(server.Uri);
            await client.SendAsync(Order());
            JsonElement err = Err(await client.ReceiveJsonAsync());
            Assert.Equal("PermissionDenied", err.GetProperty("error_code").GetString());
            Assert.Contains("authenticate first", err.GetProperty("message").GetString());
            Assert.Equal("add_order", err.GetProperty("incoming_message").GetProperty("type").GetString());
        }

        [Fact]
        public async Task Jwt_IsAcceptedOnlyWhenConfigured()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAsync(server.Uri);
            await client.SendAsync("{\"type\":\"auth\",\"params\":{\"jwt\":\"eyJ.secret.jwt\"}}");
            Assert.Equal("PermissionDenied", Err(await client.ReceiveJsonAsync()).GetProperty("error_code").GetString());
            server.AcceptedJwt = "eyJ.secret.jwt";
            await client.SendAsync("{\"type\":\"auth\",\"params\":{\"jwt\":\"eyJ.secret.jwt\"}}");
            Assert.True((await client.ReceiveJsonAsync()).GetProperty("authenticated").GetBoolean());
            Assert.All(server.Received, r => Assert.DoesNotContain("eyJ.secret.jwt", r.Raw));
        }

        [Fact]
        public async Task AuthDeadline_ClosesWithPolicyViolation()
        {
            using QfexTestServer server = StartServer();
            server.AuthDeadline = TimeSpan.FromMilliseconds(150);
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAsync(server.Uri);
            Assert.Equal(WebSocketCloseStatus.PolicyViolation, await client.ReceiveCloseAsync());
        }

        [Fact]
        public async Task Received_RecordsRequests_WithAuthSecretsRedacted()
        {
            using QfexTestServer server = StartServer();
            string nonce = FakeExchangeHmac.NewNonce();
            long ts = FakeExchangeHmac.Now();
            string signature = FakeExchangeHmac.Sign(Secret, nonce, ts);
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAsync(server.Uri);
            await client.SendAsync(FakeExchangeHmac.AuthMessage(Key, Secret, nonce, ts, accountId: "11111111-1111-1111-1111-111111111111"));
            await client.ReceiveJsonAsync();
            await client.SendAsync("{\"type\":\"get_user_trades\",\"params\":{\"limit\":50}}");
            await client.ReceiveJsonAsync();

            IReadOnlyList<QfexTestServerRequest> received = server.Received;
            Assert.Equal(2, received.Count);
            QfexTestServerRequest auth = received[0];
            Assert.Equal("auth", auth.Type);
            Assert.Equal(DateTimeKind.Utc, auth.ReceivedAt.Kind);
            Assert.DoesNotContain(signature, auth.Raw);
            Assert.DoesNotContain(nonce, auth.Raw);
            Assert.Contains(Key, auth.Raw);
            var hmac = (PSObject)((PSObject)auth.Params!).Properties["hmac"].Value;
            Assert.Equal("***", hmac.Properties["signature"].Value);
            Assert.Equal("***", hmac.Properties["nonce"].Value);
            Assert.Equal(ts, hmac.Properties["unix_ts"].Value);
            Assert.DoesNotContain(signature, PSJson.Serialize(auth.Params));

            QfexTestServerRequest trades = received[1];
            Assert.Equal("get_user_trades", trades.Type);
            Assert.Equal(auth.ConnectionId, trades.ConnectionId);
            Assert.Equal(50L, ((PSObject)trades.Params!).Properties["limit"].Value);
            Assert.Equal("{\"type\":\"get_user_trades\",\"params\":{\"limit\":50}}", trades.Raw);
        }

        // ------------------------------------------------------------ requests and answers

        [Fact]
        public async Task AddOrder_WithoutSubscription_GetsNoOrderResponse()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            await client.SendAsync(Order());   // the exchange handles a connection's messages in order
            await client.SendAsync("{\"type\":\"get_user_orders\",\"params\":{}}");
            JsonElement next = await client.ReceiveJsonAsync();
            JsonElement orders = next.GetProperty("all_orders_response").GetProperty("orders");
            Assert.Equal(1, orders.GetArrayLength()); // the order rested, but its order_response was not sent
            Assert.Equal("c-1", orders[0].GetProperty("client_order_id").GetString());
        }

        [Fact]
        public async Task AddOrder_WithSubscription_GetsAck_AndMarketAlsoFilled()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server, "order_responses");
            await client.SendAsync(Order());
            JsonElement ack = (await client.ReceiveJsonAsync()).GetProperty("order_response");
            Assert.Equal("ACK", ack.GetProperty("status").GetString());
            Assert.Equal("c-1", ack.GetProperty("client_order_id").GetString());
            Assert.Equal(1.5m, ack.GetProperty("quantity").GetDecimal());
            Assert.Equal(200.25m, ack.GetProperty("price").GetDecimal());
            Assert.Equal(1.5m, ack.GetProperty("quantity_remaining").GetDecimal());
            Assert.True(Guid.TryParse(ack.GetProperty("order_id").GetString(), out _));
            Assert.Equal("LIMIT", ack.GetProperty("type").GetString());
            Assert.Equal("GTC", ack.GetProperty("time_in_force").GetString());
            Assert.Equal(JsonValueKind.Null, ack.GetProperty("trade_id").ValueKind);
            Assert.True(ack.GetProperty("update_time").GetDecimal() > 1_700_000_000m);

            await client.SendAsync(Order("MARKET", "IOC", "2", "0", ""));
            JsonElement first = (await client.ReceiveJsonAsync()).GetProperty("order_response");
            JsonElement filled = (await client.ReceiveJsonAsync()).GetProperty("order_response");
            Assert.Equal("ACK", first.GetProperty("status").GetString());
            Assert.Equal("FILLED", filled.GetProperty("status").GetString());
            Assert.Equal(0m, filled.GetProperty("quantity_remaining").GetDecimal());
            Assert.Equal(first.GetProperty("order_id").GetString(), filled.GetProperty("order_id").GetString());
            Assert.Equal(JsonValueKind.String, filled.GetProperty("trade_id").ValueKind);
        }

        [Fact]
        public async Task AddOrder_Invalid_IsInvalidParameter_WithRequestEchoed()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server, "order_responses");
            await client.SendAsync(Order(quantity: "0"));
            JsonElement err = Err(await client.ReceiveJsonAsync());
            Assert.Equal("InvalidParameter", err.GetProperty("error_code").GetString());
            Assert.Contains("quantity", err.GetProperty("message").GetString());
            Assert.Equal("add_order", err.GetProperty("incoming_message").GetProperty("type").GetString());

            await client.SendAsync(Order(price: "0"));
            Assert.Contains("price", Err(await client.ReceiveJsonAsync()).GetProperty("message").GetString());
        }

        [Fact]
        public async Task OrderLifecycle_ModifyCancelCancelAll()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server, "order_responses");
            await client.SendAsync(Order());
            string id = (await client.ReceiveJsonAsync()).GetProperty("order_response").GetProperty("order_id").GetString()!;

            await client.SendAsync("{\"type\":\"modify_order\",\"params\":{\"order_id\":\"" + id + "\",\"symbol\":\"AAPL-USD\",\"side\":\"BUY\",\"order_type\":\"LIMIT\",\"price\":201}}");
            JsonElement modified = (await client.ReceiveJsonAsync()).GetProperty("order_response");
            Assert.Equal("MODIFIED", modified.GetProperty("status").GetString());
            Assert.Equal(201m, modified.GetProperty("price").GetDecimal());

            await client.SendAsync("{\"type\":\"modify_order\",\"params\":{\"order_id\":\"" + Guid.NewGuid() + "\",\"symbol\":\"AAPL-USD\",\"side\":\"BUY\",\"order_type\":\"LIMIT\",\"price\":201}}");
            Assert.Equal("CANNOT_MODIFY_NO_SUCH_ORDER", (await client.ReceiveJsonAsync()).GetProperty("order_response").GetProperty("status").GetString());

            string cancel = "{\"type\":\"cancel_order\",\"params\":{\"symbol\":\"AAPL-USD\",\"order_id\":\"" + id + "\",\"cancel_order_id_type\":\"order_id\"}}";
            await client.SendAsync(cancel);
            Assert.Equal("CANCELLED", (await client.ReceiveJsonAsync()).GetProperty("order_response").GetProperty("status").GetString());
            await client.SendAsync(cancel);
            Assert.Equal("NO_SUCH_ORDER", (await client.ReceiveJsonAsync()).GetProperty("order_response").GetProperty("status").GetString());

            await client.SendAsync(Order(clientOrderId: "a"));
            await client.ReceiveJsonAsync();
            await client.SendAsync(Order(clientOrderId: "b"));
            await client.ReceiveJsonAsync();
            await client.SendAsync("{\"type\":\"cancel_all_orders\",\"params\":{}}");
            Assert.Equal("CANCELLED", (await client.ReceiveJsonAsync()).GetProperty("order_response").GetProperty("status").GetString());
            Assert.Equal("CANCELLED", (await client.ReceiveJsonAsync()).GetProperty("order_response").GetProperty("status").GetString());
            Assert.Equal("cancel_all_orders", (await client.ReceiveJsonAsync()).GetProperty("ack").GetProperty("incoming_message").GetProperty("type").GetString());

            await client.SendAsync("{\"type\":\"get_user_orders\",\"params\":{}}");
            JsonElement all = (await client.ReceiveJsonAsync()).GetProperty("all_orders_response");
            Assert.Equal(0, all.GetProperty("orders").GetArrayLength());
            Assert.Equal(0, all.GetProperty("twaps").GetArrayLength());

            await client.SendAsync("{\"type\":\"get_user_trades\",\"params\":{}}");
            Assert.Equal(0, (await client.ReceiveJsonAsync()).GetProperty("user_trades_response").GetArrayLength());
            await client.SendAsync("{\"type\":\"cancel_on_disconnect\",\"params\":{\"cancel_on_disconnect\":true}}");
            Assert.True((await client.ReceiveJsonAsync()).TryGetProperty("ack", out _));
            await client.SendAsync("{\"type\":\"close_position\",\"params\":{\"symbol\":\"AAPL-USD\"}}");
            Assert.Equal("ACK", (await client.ReceiveJsonAsync()).GetProperty("order_response").GetProperty("status").GetString());
        }

        [Fact]
        public async Task OrderStatusOverride_AnswersWithOneRejection()
        {
            using QfexTestServer server = StartServer();
            server.OrderStatusOverride = "FAILED_MARGIN_CHECK";
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server, "order_responses");
            await client.SendAsync(Order());
            Assert.Equal("FAILED_MARGIN_CHECK", (await client.ReceiveJsonAsync()).GetProperty("order_response").GetProperty("status").GetString());
            await client.SendAsync("{\"type\":\"get_user_orders\",\"params\":{}}");
            Assert.Equal(0, (await client.ReceiveJsonAsync()).GetProperty("all_orders_response").GetProperty("orders").GetArrayLength());
        }

        [Fact]
        public async Task Subscribe_UnknownChannel_IsInvalidParameter()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server, "positions", "fills");
            await client.SendAsync("{\"type\":\"subscribe\",\"params\":{\"channels\":[\"level2\"]}}");
            Assert.Equal("InvalidParameter", Err(await client.ReceiveJsonAsync()).GetProperty("error_code").GetString());
            await client.SendAsync("{\"type\":\"unsubscribe\",\"params\":{\"channels\":[\"fills\"]}}");
            Assert.Equal("fills", (await client.ReceiveJsonAsync()).GetProperty("unsubscribed").GetString());
            Assert.Equal(new[] { "positions" }, server.Faults.Connections.Single().Subscriptions);
        }

        [Fact]
        public async Task RespondOverride_GivesWrappedErrorFrame_WithRequestEchoed()
        {
            using QfexTestServer server = StartServer();
            server.Respond["ADD_ORDER"] = "RateLimited"; // keys are case-insensitive
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server, "order_responses");
            await client.SendAsync(Order(quantity: "10.0", price: "200.50"));
            string text = await client.ReceiveTextAsync();
            Assert.Contains("\"quantity\":10.0", text);
            Assert.Contains("\"price\":200.50", text);
            using JsonDocument doc = JsonDocument.Parse(text);
            JsonElement err = Err(doc.RootElement);
            Assert.Equal("RateLimited", err.GetProperty("error_code").GetString());
            Assert.Equal("Too many requests. Please retry after 200ms.", err.GetProperty("message").GetString());
            JsonElement incoming = err.GetProperty("incoming_message");
            Assert.Equal("add_order", incoming.GetProperty("type").GetString());
            Assert.Equal("c-1", incoming.GetProperty("params").GetProperty("client_order_id").GetString());

            server.Respond.Remove("add_order");
            await client.SendAsync(Order());
            Assert.Equal("ACK", (await client.ReceiveJsonAsync()).GetProperty("order_response").GetProperty("status").GetString());
        }

        [Fact]
        public async Task RespondOverride_FlatShape()
        {
            using QfexTestServer server = StartServer();
            server.ErrorShape = QfexTestServerErrorShape.Flat;
            server.Respond["get_user_trades"] = "ServerError";
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            await client.SendAsync("{\"type\":\"get_user_trades\",\"params\":{\"limit\":50}}");
            JsonElement frame = await client.ReceiveJsonAsync();
            Assert.False(frame.TryGetProperty("err", out _));
            Assert.Equal("error", frame.GetProperty("type").GetString());
            Assert.Equal("ServerError", frame.GetProperty("error_code").GetString());
            Assert.Equal(50, frame.GetProperty("incoming_message").GetProperty("params").GetProperty("limit").GetInt32());
        }

        [Fact]
        public async Task RespondOverride_OnAuth_FailsAuth()
        {
            using QfexTestServer server = StartServer();
            server.Respond["auth"] = "PermissionDenied";
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAsync(server.Uri);
            await client.SendAsync(FakeExchangeHmac.AuthMessage(Key, Secret));
            JsonElement err = Err(await client.ReceiveJsonAsync());
            Assert.Equal("PermissionDenied", err.GetProperty("error_code").GetString());
            Assert.Equal("***", err.GetProperty("incoming_message").GetProperty("params").GetProperty("hmac").GetProperty("signature").GetString());
            await client.SendAsync("{\"type\":\"get_user_orders\",\"params\":{}}");
            Assert.Contains("authenticate first", Err(await client.ReceiveJsonAsync()).GetProperty("message").GetString());
        }

        [Fact]
        public async Task InvalidJson_IsInvalidJSONFormat_WithNullIncomingMessage()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAsync(server.Uri);
            await client.SendAsync("{not json");
            JsonElement err = Err(await client.ReceiveJsonAsync());
            Assert.Equal("InvalidJSONFormat", err.GetProperty("error_code").GetString());
            Assert.Equal(JsonValueKind.Null, err.GetProperty("incoming_message").ValueKind);

            await client.SendAsync("{\"params\":{}}");
            err = Err(await client.ReceiveJsonAsync());
            Assert.Equal("InvalidJSONFormat", err.GetProperty("error_code").GetString());
            Assert.Equal(JsonValueKind.Object, err.GetProperty("incoming_message").GetProperty("params").ValueKind);

            IReadOnlyList<QfexTestServerRequest> received = server.Received;
            Assert.Equal("{not json", received[0].Raw);
            Assert.Null(received[0].Type);
            Assert.Null(received[0].Params);
        }

        [Fact]
        public async Task UnknownType_IsAcked()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            await client.SendAsync("{\"type\":\"something_new\",\"params\":{\"x\":1.10}}");
            Assert.Contains("\"x\":1.10", await client.ReceiveTextAsync());
        }

        [Fact]
        public async Task MarketData_SubscribeIsAnswered_WithoutAuth()
        {
            using QfexTestServer server = StartServer();
            Assert.Equal(new Uri("ws://127.0.0.1:" + server.Port + "/mds"), server.MarketDataUri);
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAsync(server.MarketDataUri);
            await client.SendAsync("{\"type\":\"subscribe\",\"channels\":[\"bbo\",\"trade\"],\"symbols\":[\"AAPL-USD\"]}");
            JsonElement answer = await client.ReceiveJsonAsync();
            Assert.Equal("subscribed", answer.GetProperty("type").GetString());
            Assert.Equal(new[] { "bbo", "trade" }, answer.GetProperty("channels").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal("AAPL-USD", answer.GetProperty("symbols")[0].GetString());

            server.Push("{\"type\":\"bbo\",\"symbol\":\"AAPL-USD\"}");
            Assert.Equal("bbo", (await client.ReceiveJsonAsync()).GetProperty("type").GetString());
        }

        // ------------------------------------------------------------ pushes, faults, lifecycle

        [Fact]
        public async Task Push_And_Flood_ReachOnlyAuthenticatedConnections()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient authed = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            using FakeExchangeClient anonymous = await FakeExchangeClient.ConnectAsync(server.Uri);
            server.Push("{\"balance_response\":{\"deposit\":1000.0}}");
            Assert.Contains("1000.0", await authed.ReceiveTextAsync());

            Assert.Equal(1, server.Faults.Flood("{\"position_response\":{}}", 1000));
            for (int i = 0; i < 1000; i++)
                Assert.Equal("{\"position_response\":{}}", await authed.ReceiveTextAsync());

            await anonymous.SendAsync("{\"type\":\"get_user_orders\",\"params\":{}}");
            Assert.Equal("PermissionDenied", Err(await anonymous.ReceiveJsonAsync()).GetProperty("error_code").GetString());
        }

        [Fact]
        public async Task PushFrame_SendsBinaryAndFragmentedFrames()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            server.Faults.PushFrame(new byte[] { 1, 2, 3 }, QfexTestServerOpcode.Binary, fin: true);
            var (type, _) = await client.ReceiveAsync();
            Assert.Equal(WebSocketMessageType.Binary, type);

            server.Faults.PushFrame(Encoding.UTF8.GetBytes("{\"a\":"), QfexTestServerOpcode.Text, fin: false);
            server.Faults.PushFrame(Encoding.UTF8.GetBytes("1}"), QfexTestServerOpcode.Continuation, fin: true);
            Assert.Equal("{\"a\":1}", await client.ReceiveTextAsync());
        }

        [Fact]
        public async Task Faults_AimAtOneConnection_AndShowWhatTheServerSaw()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient first = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            using FakeExchangeClient second = await FakeExchangeClient.ConnectAuthenticatedAsync(server, "order_responses");
            QfexTestServerConnection[] connections = server.Faults.Connections.ToArray();
            Assert.Equal(new[] { 1, 2 }, connections.Select(c => c.Id));
            Assert.All(connections, c => Assert.True(c.IsAuthenticated && !c.IsMarketData && c.Path == "/"));
            Assert.Equal(new[] { "order_responses" }, connections[1].Subscriptions);
            Assert.Equal(2, server.Received.Count(r => r.Type == "auth"));

            await second.SendAsync(Order());
            JsonElement ack = (await second.ReceiveJsonAsync()).GetProperty("order_response");
            Assert.Equal(server.Faults.UserId, ack.GetProperty("user_id").GetString());

            connections[1].PushFrame(Encoding.UTF8.GetBytes("{\"only\":2}"), QfexTestServerOpcode.Text);
            server.Push("{\"all\":true}");
            Assert.Equal("{\"all\":true}", await first.ReceiveTextAsync()); // nothing before it
            Assert.Equal("{\"only\":2}", await second.ReceiveTextAsync());
            Assert.Equal("{\"all\":true}", await second.ReceiveTextAsync());

            connections[0].Close(4001, "just you");
            Assert.Equal((WebSocketCloseStatus)4001, await first.ReceiveCloseAsync());
            server.Push("{\"still\":true}");
            Assert.Equal("{\"still\":true}", await second.ReceiveTextAsync());

            connections[1].Drop();
            await Assert.ThrowsAsync<WebSocketException>(() => second.ReceiveAsync());
            Assert.Throws<ArgumentOutOfRangeException>(() => connections[1].Close(999));
            connections[1].PushFrame(new byte[] { 1 }, QfexTestServerOpcode.Binary); // ended: nothing happens
            Assert.Null(server.Faults.LastError);
            Assert.True(server.IsRunning);
        }

        [Fact]
        public async Task Faults_PingInterval_PingsMarketDataFromTheUpgradeAndTradeFromAuthentication()
        {
            using QfexTestServer server = StartServer();
            Assert.Equal(TimeSpan.Zero, server.Faults.PingInterval);
            server.Faults.PingInterval = TimeSpan.FromMilliseconds(20);

            using FakeExchangeRawClient marketData = await FakeExchangeRawClient.ConnectAsync(server.Port, "/mds");
            for (int n = 1; n <= 2; n++)
            {
                var ping = await marketData.ReadFrameAsync();
                Assert.Equal(QfexTestServerOpcode.Ping, ping.Opcode);
                Assert.Equal(n.ToString(System.Globalization.CultureInfo.InvariantCulture), Encoding.ASCII.GetString(ping.Payload));
            }

            using FakeExchangeRawClient trade = await FakeExchangeRawClient.ConnectAsync(server.Port);
            await trade.SendFrameAsync(QfexTestServerOpcode.Text, Encoding.UTF8.GetBytes(FakeExchangeHmac.AuthMessage(Key, Secret)));
            var answer = await trade.ReadFrameAsync(); // no ping before the authentication
            Assert.Contains("\"authenticated\":true", Encoding.UTF8.GetString(answer.Payload));
            var first = await trade.ReadFrameAsync();
            Assert.Equal(QfexTestServerOpcode.Ping, first.Opcode);
            Assert.Equal("1", Encoding.ASCII.GetString(first.Payload));
        }

        [Fact]
        public async Task CloseConnections_SendsStatusAndReason()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            server.CloseConnections(4000, "maintenance");
            Assert.Equal((WebSocketCloseStatus)4000, await client.ReceiveCloseAsync());
            Assert.Equal("maintenance", client.Socket.CloseStatusDescription);
        }

        [Fact]
        public async Task DropConnections_AbortsWithoutCloseFrame()
        {
            using QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            server.DropConnections();
            await Assert.ThrowsAsync<WebSocketException>(() => client.ReceiveAsync());
            Assert.True(server.IsRunning);
            using FakeExchangeClient again = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
        }

        [Fact]
        public async Task Stop_ClosesClients_Quickly_AndIsIdempotent()
        {
            QfexTestServer server = StartServer();
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            using FakeExchangeClient pending = await FakeExchangeClient.ConnectAsync(server.Uri);
            Task<(WebSocketMessageType, string)> receive = client.ReceiveAsync();
            // Stop does not wait for the pending connection's handshake: it returns within the hang bound.
            Task stop = Task.Run(server.Stop);
            Wait.Until(() => stop.IsCompleted, "Stop to return");
            Assert.False(server.IsRunning);
            var (type, _) = await receive;
            Assert.Equal(WebSocketMessageType.Close, type);
            Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, client.Socket.CloseStatus);
            server.Stop();
            server.Dispose();
            Assert.Equal(0, server.ConnectionCount);
            await Assert.ThrowsAnyAsync<Exception>(() => FakeExchangeClient.ConnectAsync(server.Uri));
        }

        [Fact]
        public async Task AbruptClientDisconnect_DoesNotHurtTheServer()
        {
            using QfexTestServer server = StartServer();
            FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            client.Socket.Abort();
            client.Dispose();
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, server.Port).WaitAsync(TimeSpan.FromSeconds(5));
            tcp.Client.LingerState = new LingerOption(true, 0);
            tcp.Close();
            using FakeExchangeClient next = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            Wait.Until(() => server.ConnectionCount == 1, "the server to count only the live connection");
        }

        [Fact]
        public async Task SilentTypes_AreRecordedButNeverAnswered()
        {
            using QfexTestServer server = StartServer();
            server.SilentTypes.Add("GET_USER_TRADES");
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(server);
            await client.SendAsync("{\"type\":\"get_user_trades\",\"params\":{}}");
            await client.SendAsync("{\"type\":\"get_user_leverage\",\"params\":{}}");
            Assert.True((await client.ReceiveJsonAsync()).TryGetProperty("user_leverage_response", out _));
            Assert.Equal(new[] { "auth", "get_user_trades", "get_user_leverage" }, server.Received.Select(r => r.Type));
        }
    }
}
