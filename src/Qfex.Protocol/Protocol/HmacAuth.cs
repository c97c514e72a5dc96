using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Security;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Qfex.Protocol
{
    /// <summary>
    /// The trade socket's auth message. HMAC: a fresh CSPRNG hex nonce, unix seconds, and the lower-case
    /// hex HMAC-SHA256 of "nonce:unix_ts" keyed with the secret's UTF-8 bytes. The secret is read out of
    /// its SecureString only into byte arrays that are zeroed after use.
    /// </summary>
    internal static class HmacAuth
    {
        internal static string NewNonce()
        {
            var bytes = new byte[16];
            using (var rng = RandomNumberGenerator.Create())
                rng.GetBytes(bytes);
            return ToHex(bytes);
        }

        internal static long UnixSeconds(DateTimeOffset now) => now.ToUnixTimeSeconds();

        internal static string Sign(SecureString secret, string nonce, long unixSeconds)
        {
            byte[] key = SecretBytes(secret);
            try
            {
                using var hmac = new HMACSHA256(key);
                return ToHex(hmac.ComputeHash(Encoding.UTF8.GetBytes(nonce + ":" + unixSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture))));
            }
            finally
            {
                Array.Clear(key, 0, key.Length);
            }
        }

        /// <summary>
        /// The JSON auth request. It carries the signature: send it, never log or keep it. <paramref name="sent"/> hears
        /// the nonce and signature it carries (the session keeps them, unprintable, to mask them wherever they come back).
        /// </summary>
        internal static string BuildHmacMessage(string publicKey, SecureString secret, Guid? accountId, DateTimeOffset now, Action<string, string>? sent = null)
        {
            string nonce = NewNonce();
            long ts = UnixSeconds(now);
            string signature = Sign(secret, nonce, ts);
            sent?.Invoke(nonce, signature);
            return Write(w =>
            {
                w.WriteStartObject("hmac");
                w.WriteString("public_key", publicKey);
                w.WriteString("nonce", nonce);
                w.WriteNumber("unix_ts", ts);
                w.WriteString("signature", signature);
                w.WriteEndObject();
            }, accountId);
        }

        internal static string BuildJwtMessage(SecureString jwt, Guid? accountId)
        {
            string token = Plain(jwt);
            return Write(w => w.WriteString("jwt", token), accountId);
        }

        /// <summary>
        /// Who a JWT is for, to share the rate limiter between sessions of one user: "jwt-sub:" and the token's
        /// subject claim (read, not verified: the exchange verifies it), or, when the token has no readable
        /// subject, "jwt-sha256:" and a hash of the whole token. Never the token itself.
        /// </summary>
        internal static string JwtAccountKey(SecureString jwt)
        {
            byte[] token = SecretBytes(jwt);
            try
            {
                string? subject = JwtSubject(token);
                if (!string.IsNullOrEmpty(subject)) return "jwt-sub:" + subject;
                using var sha = SHA256.Create();
                return "jwt-sha256:" + ToHex(sha.ComputeHash(token));
            }
            finally
            {
                Array.Clear(token, 0, token.Length);
            }
        }

        private static string? JwtSubject(byte[] token)
        {
            int first = Array.IndexOf(token, (byte)'.');
            int second = first < 0 ? -1 : Array.IndexOf(token, (byte)'.', first + 1);
            if (second < 0) return null;
            string payload = Encoding.ASCII.GetString(token, first + 1, second - first - 1).Replace('-', '+').Replace('_', '/');
            payload = payload.PadRight(payload.Length + (4 - payload.Length % 4) % 4, '=');
            try
            {
                using JsonDocument doc = JsonDocument.Parse(Convert.FromBase64String(payload));
                return PSJson.GetString(doc.RootElement, "sub");
            }
            catch (Exception e) when (e is FormatException || e is JsonException || e is ArgumentException)
            {
                return null;
            }
        }

        private static string Write(Action<Utf8JsonWriter> credentials, Guid? accountId)
        {
            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                w.WriteString("type", "auth");
                w.WriteStartObject("params");
                credentials(w);
                if (accountId.HasValue) w.WriteString("account_id", accountId.Value.ToString("D"));
                w.WriteEndObject();
                w.WriteEndObject();
            }
            string json = Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
            Array.Clear(stream.GetBuffer(), 0, (int)stream.Length);
            return json;
        }

        internal static byte[] SecretBytes(SecureString secret)
        {
            IntPtr ptr = Marshal.SecureStringToGlobalAllocUnicode(secret);
            var chars = new char[secret.Length];
            try
            {
                Marshal.Copy(ptr, chars, 0, chars.Length);
                return Encoding.UTF8.GetBytes(chars);
            }
            finally
            {
                Array.Clear(chars, 0, chars.Length);
                Marshal.ZeroFreeGlobalAllocUnicode(ptr);
            }
        }

        private static string Plain(SecureString secret)
        {
            IntPtr ptr = Marshal.SecureStringToGlobalAllocUnicode(secret);
            try
            {
                return Marshal.PtrToStringUni(ptr, secret.Length);
            }
            finally
            {
                Marshal.ZeroFreeGlobalAllocUnicode(ptr);
            }
        }

        internal static string ToHex(byte[] bytes)
        {
            var sb = new StringBuilder(bytes.Length * 2);
            foreach (byte b in bytes) sb.Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            return sb.ToString();
        }
    }
}
