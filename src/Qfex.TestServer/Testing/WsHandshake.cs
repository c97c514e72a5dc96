using System;
using System.Collections.Generic;
using System.Text;
using System.Threading.Tasks;

namespace Qfex
{
    /// <summary>The outcome of the HTTP/1.1 upgrade handshake (RFC 6455 section 4.2).</summary>
    internal sealed class WsHandshakeResult
    {
        internal WsHandshakeResult(bool upgraded, string path)
        {
            Upgraded = upgraded;
            Path = path;
        }

        internal bool Upgraded { get; }
        /// <summary>The request path without query, e.g. "/" or "/mds".</summary>
        internal string Path { get; }
    }

    /// <summary>
    /// A minimal server side of the WebSocket opening handshake: parses the request head, answers
    /// 101 with Sec-WebSocket-Accept for a valid upgrade, 426 for an unsupported version and 400 for
    /// anything else (which then ends the connection).
    /// </summary>
    internal static class WsHandshake
    {
        private static readonly string[] LineBreak = { "\r\n" };

        /// <param name="upgrading">Called before the 101 is written, under the socket's send lock: a frame pushed to the
        /// connection from then on waits for the lock, so it follows the 101, and a client that has read the 101 finds the
        /// connection registered (a test that connects and pushes at once never misses it).</param>
        internal static async Task<WsHandshakeResult> AcceptAsync(WsServerSocket socket, Action<WsHandshakeResult>? upgrading = null)
        {
            string? head = await socket.ReadHttpHeadAsync().ConfigureAwait(false);
            if (head == null)
                return new WsHandshakeResult(false, string.Empty);

            string[] lines = head.Split(LineBreak, StringSplitOptions.None);
            string[] requestLine = lines[0].Split(' ');
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            for (int i = 1; i < lines.Length; i++)
            {
                string line = lines[i];
                int colon = line.IndexOf(':');
                if (colon <= 0)
                    continue;
                string name = line.Substring(0, colon).Trim();
                string value = line.Substring(colon + 1).Trim();
                headers[name] = headers.TryGetValue(name, out string? existing) ? existing + ", " + value : value;
            }

            string path = "/";
            if (requestLine.Length == 3)
            {
                string target = requestLine[1];
                int schemeEnd = target.IndexOf("://", StringComparison.Ordinal);
                if (schemeEnd >= 0)
                {
                    // Absolute form: keep what follows the authority.
                    int slash = target.IndexOf('/', schemeEnd + 3);
                    target = slash >= 0 ? target.Substring(slash) : "/";
                }
                int q = target.IndexOf('?');
                path = q >= 0 ? target.Substring(0, q) : target;
                if (path.Length == 0)
                    path = "/";
            }

            bool wellFormed = requestLine.Length == 3 &&
                requestLine[0] == "GET" &&
                requestLine[2].StartsWith("HTTP/1.", StringComparison.Ordinal) && requestLine[2] != "HTTP/1.0";
            bool upgrade = wellFormed &&
                HasToken(headers, "Upgrade", "websocket") &&
                HasToken(headers, "Connection", "upgrade") &&
                headers.TryGetValue("Sec-WebSocket-Key", out string? key) && IsValidKey(key);

            if (!upgrade)
            {
                await RejectAsync(socket, "400 Bad Request",
                    "This is a QFEX test WebSocket endpoint: send a WebSocket upgrade request.\n", null).ConfigureAwait(false);
                return new WsHandshakeResult(false, path);
            }

            if (!headers.TryGetValue("Sec-WebSocket-Version", out string? version) || version.Trim() != "13")
            {
                await RejectAsync(socket, "426 Upgrade Required", "Only WebSocket version 13 is supported.\n",
                    "Sec-WebSocket-Version: 13\r\n").ConfigureAwait(false);
                return new WsHandshakeResult(false, path);
            }

            string accept = WsFrameCodec.ComputeAccept(headers["Sec-WebSocket-Key"]);
            string response =
                "HTTP/1.1 101 Switching Protocols\r\n" +
                "Upgrade: websocket\r\n" +
                "Connection: Upgrade\r\n" +
                "Sec-WebSocket-Accept: " + accept + "\r\n" +
                "\r\n";
            var upgraded = new WsHandshakeResult(true, path);
            await socket.SendRawBytesAsync(Encoding.ASCII.GetBytes(response), upgrading == null ? null : () => upgrading(upgraded)).ConfigureAwait(false);
            return upgraded;
        }

        private static async Task RejectAsync(WsServerSocket socket, string status, string body, string? extraHeaders)
        {
            byte[] bodyBytes = Encoding.UTF8.GetBytes(body);
            string head =
                "HTTP/1.1 " + status + "\r\n" +
                "Content-Type: text/plain; charset=utf-8\r\n" +
                "Content-Length: " + bodyBytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\r\n" +
                (extraHeaders ?? string.Empty) +
                "Connection: close\r\n" +
                "\r\n";
            byte[] headBytes = Encoding.ASCII.GetBytes(head);
            var all = new byte[headBytes.Length + bodyBytes.Length];
            Buffer.BlockCopy(headBytes, 0, all, 0, headBytes.Length);
            Buffer.BlockCopy(bodyBytes, 0, all, headBytes.Length, bodyBytes.Length);
            try
            {
                await socket.SendRawBytesAsync(all).ConfigureAwait(false);
            }
            catch (Exception ex) when (WsServerSocket.IsConnectionFault(ex))
            {
            }
        }

        private static bool HasToken(Dictionary<string, string> headers, string name, string token)
        {
            if (!headers.TryGetValue(name, out string? value))
                return false;
            foreach (string part in value.Split(','))
            {
                if (string.Equals(part.Trim(), token, StringComparison.OrdinalIgnoreCase))
                    return true;
            }
            return false;
        }

        private static bool IsValidKey(string key)
        {
            try
            {
                return Convert.FromBase64String(key.Trim()).Length == 16;
            }
            catch (FormatException)
            {
                return false;
            }
        }
    }
}
