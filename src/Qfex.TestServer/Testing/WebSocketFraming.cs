using System;
using System.Security.Cryptography;
using System.Text;

namespace Qfex
{
    /// <summary>RFC 6455 close status codes the fake exchange uses.</summary>
    internal static class WsCloseStatus
    {
        internal const int GoingAway = 1001;
        internal const int ProtocolError = 1002;
        internal const int NoStatus = 1005;      // never sent on the wire
        internal const int Abnormal = 1006;      // never sent on the wire: TCP ended without a close frame
        internal const int InvalidPayload = 1007;
        internal const int PolicyViolation = 1008;
        internal const int MessageTooBig = 1009;
    }

    /// <summary>
    /// Stateless helpers of the RFC 6455 wire format, server side: frames written by a server are
    /// never masked; frames read from a client always are.
    /// </summary>
    internal static class WsFrameCodec
    {
        /// <summary>The GUID RFC 6455 appends to the client's key.</summary>
        internal const string HandshakeGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

        internal const int MaxControlPayload = 125;

        /// <summary>Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA1(key + GUID)).</summary>
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350:Do Not Use Weak Cryptographic Algorithms",
            Justification = "RFC 6455 defines the handshake's accept key as SHA-1; it is an interoperability check, not a security measure.")]
        internal static string ComputeAccept(string key)
        {
            using var sha1 = SHA1.Create();
            byte[] hash = sha1.ComputeHash(Encoding.ASCII.GetBytes(key.Trim() + HandshakeGuid));
            return Convert.ToBase64String(hash);
        }

        internal static bool IsControl(QfexTestServerOpcode opcode) => ((byte)opcode & 0x8) != 0;

        internal static bool IsKnown(QfexTestServerOpcode opcode) =>
            opcode == QfexTestServerOpcode.Continuation || opcode == QfexTestServerOpcode.Text || opcode == QfexTestServerOpcode.Binary ||
            opcode == QfexTestServerOpcode.Close || opcode == QfexTestServerOpcode.Ping || opcode == QfexTestServerOpcode.Pong;

        /// <summary>Length of an unmasked header for a payload of this size: 2, 4 or 10 bytes.</summary>
        internal static int HeaderLength(long payloadLength) =>
            payloadLength <= 125 ? 2 : payloadLength <= ushort.MaxValue ? 4 : 10;

        /// <summary>
        /// Writes an unmasked frame header (7-, 16- or 64-bit length) at <paramref name="offset"/>
        /// and returns its length. The opcode is written as given, so any four-bit value can be
        /// produced for fault injection.
        /// </summary>
        internal static int WriteHeader(byte[] buffer, int offset, byte opcode, bool fin, long payloadLength)
        {
            if (payloadLength < 0)
                throw new ArgumentOutOfRangeException(nameof(payloadLength));
            buffer[offset] = (byte)((fin ? 0x80 : 0x00) | (opcode & 0x0F));
            if (payloadLength <= 125)
            {
                buffer[offset + 1] = (byte)payloadLength;
                return 2;
            }
            if (payloadLength <= ushort.MaxValue)
            {
                buffer[offset + 1] = 126;
                buffer[offset + 2] = (byte)(payloadLength >> 8);
                buffer[offset + 3] = (byte)payloadLength;
                return 4;
            }
            buffer[offset + 1] = 127;
            for (int i = 0; i < 8; i++)
                buffer[offset + 2 + i] = (byte)(payloadLength >> (56 - 8 * i));
            return 10;
        }

        /// <summary>A whole unmasked final frame (header + payload) in one array.</summary>
        internal static byte[] EncodeFrame(QfexTestServerOpcode opcode, byte[] payload)
        {
            int header = HeaderLength(payload.Length);
            var frame = new byte[header + payload.Length];
            WriteHeader(frame, 0, (byte)opcode, true, payload.Length);
            Buffer.BlockCopy(payload, 0, frame, header, payload.Length);
            return frame;
        }

        /// <summary>Close payload: status (big-endian) + UTF-8 reason, cut to fit 125 bytes.</summary>
        internal static byte[] EncodeClosePayload(int status, string? reason)
        {
            if (status == WsCloseStatus.NoStatus || status == WsCloseStatus.Abnormal)
                return Array.Empty<byte>();
            byte[] reasonBytes = Encoding.UTF8.GetBytes(reason ?? string.Empty);
            int reasonLength = Math.Min(reasonBytes.Length, MaxControlPayload - 2);
            // Do not cut a multi-byte UTF-8 sequence in half.
            while (reasonLength > 0 && reasonLength < reasonBytes.Length && (reasonBytes[reasonLength] & 0xC0) == 0x80)
                reasonLength--;
            var payload = new byte[2 + reasonLength];
            payload[0] = (byte)(status >> 8);
            payload[1] = (byte)status;
            Buffer.BlockCopy(reasonBytes, 0, payload, 2, reasonLength);
            return payload;
        }

        /// <summary>XORs <paramref name="count"/> bytes with the masking key, starting at key index <paramref name="maskIndex"/>.</summary>
        internal static void Unmask(byte[] data, int offset, int count, byte[] mask, int maskIndex)
        {
            for (int i = 0; i < count; i++)
                data[offset + i] ^= mask[(maskIndex + i) & 3];
        }

        /// <summary>Strict UTF-8 (throws on invalid sequences), used for text messages and close reasons.</summary>
        internal static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    }
}
