using System;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Qfex.Protocol;

namespace Qfex.Benchmarks
{
    /// <summary>
    /// The raw baseline: what a C# developer writes without the module. One ClientWebSocket, the Memory
    /// overload of ReceiveAsync into one reused buffer, and one JsonDocument.Parse per frame (then the
    /// frame's type read out, as the module does). It authenticates like the module (HMAC auth message).
    /// </summary>
    internal sealed class RawClient : IDisposable
    {
        private readonly ClientWebSocket _socket = new ClientWebSocket();
        private byte[] _buffer = new byte[64 * 1024];

        /// <summary>Keeps the parse results observable so no work can be skipped.</summary>
        internal long Checksum { get; private set; }

        internal static async Task<RawClient> ConnectAsync(QfexTestServer server, TimeSpan timeout)
        {
            var client = new RawClient();
            try
            {
                using var cts = new CancellationTokenSource(timeout);
                await client._socket.ConnectAsync(server.Uri, cts.Token).ConfigureAwait(false);
                string auth = HmacAuth.BuildHmacMessage(server.Credential.UserName, server.Credential.Password, null, DateTimeOffset.UtcNow);
                await client._socket.SendAsync(Encoding.UTF8.GetBytes(auth), WebSocketMessageType.Text, true, cts.Token).ConfigureAwait(false);
                int length = await client.ReceiveMessageAsync(cts.Token).ConfigureAwait(false);
                string answer = Encoding.UTF8.GetString(client._buffer, 0, length);
                if (!answer.Contains("\"authenticated\":true", StringComparison.Ordinal))
                    throw new InvalidOperationException("The fake exchange refused the raw client's auth: " + answer);
                return client;
            }
            catch
            {
                client.Dispose();
                throw;
            }
        }

        /// <summary>Receives and parses <paramref name="count"/> frames.</summary>
        internal async Task<long> ReceiveAndParseAsync(long count, CancellationToken cancellationToken)
        {
            long got = 0;
            long checksum = 0;
            while (got < count)
            {
                int length = await ReceiveMessageAsync(cancellationToken).ConfigureAwait(false);
                using (JsonDocument doc = JsonDocument.Parse(new ReadOnlyMemory<byte>(_buffer, 0, length)))
                    checksum += KeyOf(doc.RootElement).Length;
                got++;
            }
            Checksum += checksum;
            return got;
        }

        /// <summary>One request and its answer (the first frame with top-level key <paramref name="answerKey"/>), in milliseconds.</summary>
        internal async Task<double> RoundTripAsync(string request, string answerKey, CancellationToken cancellationToken)
        {
            long start = Stopwatch.GetTimestamp();
            await _socket.SendAsync(Encoding.UTF8.GetBytes(request), WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
            while (true)
            {
                int length = await ReceiveMessageAsync(cancellationToken).ConfigureAwait(false);
                using JsonDocument doc = JsonDocument.Parse(new ReadOnlyMemory<byte>(_buffer, 0, length));
                if (doc.RootElement.TryGetProperty(answerKey, out JsonElement answer))
                {
                    Checksum += answer.ValueKind == JsonValueKind.Array ? answer.GetArrayLength() : 1;
                    return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }
            }
        }

        internal async Task CloseAsync()
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "benchmark done", cts.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException || e is OperationCanceledException || e is ObjectDisposedException)
            {
            }
        }

        public void Dispose() => _socket.Dispose();

        /// <summary>One whole text message into the buffer (grown when a message does not fit); its length.</summary>
        private async ValueTask<int> ReceiveMessageAsync(CancellationToken cancellationToken)
        {
            int filled = 0;
            while (true)
            {
                if (filled == _buffer.Length) Array.Resize(ref _buffer, _buffer.Length * 2);
                ValueWebSocketReceiveResult result = await _socket.ReceiveAsync(_buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                    throw new InvalidOperationException("The fake exchange closed the raw client's connection.");
                filled += result.Count;
                if (result.EndOfMessage) return filled;
            }
        }

        /// <summary>The frame's type: "type", else the error code of an error frame, else its first key.</summary>
        private static string KeyOf(JsonElement root)
        {
            if (root.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String)
                return type.GetString()!;
            if (root.TryGetProperty("err", out JsonElement err) && err.ValueKind == JsonValueKind.Object
                && err.TryGetProperty("error_code", out JsonElement code) && err.TryGetProperty("message", out JsonElement message))
                return code.GetString()! + message.GetString();
            foreach (JsonProperty property in root.EnumerateObject())
                return property.Name;
            return string.Empty;
        }
    }
}
