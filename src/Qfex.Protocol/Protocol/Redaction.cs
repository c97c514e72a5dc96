using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Text.RegularExpressions;

namespace Qfex.Protocol
{
    /// <summary>
    /// Replaces secret values in an echoed request (an auth payload echoed by an error frame, a
    /// recorded request, a malformed frame's text) before a user can see it: signature, nonce, jwt and
    /// any key named like a secret, in objects at any depth and in JSON-looking text.
    /// </summary>
    internal static class Redaction
    {
        internal const string Mask = "***";

        private static readonly string[] SecretNameList =
        {
            "signature", "nonce", "jwt", "secret", "secret_key", "api_secret", "apisecret", "password", "token",
            "access_token", "refresh_token", "x-qfex-hmac-signature", "x-qfex-nonce", "authorization",
        };

        private static readonly HashSet<string> SecretNames = new HashSet<string>(SecretNameList, StringComparer.OrdinalIgnoreCase);

        // "name": "value" (JSON text), for any secret name; the value may hold escaped quotes.
        private static readonly Regex SecretInText = new Regex(
            "(\"(?:" + string.Join("|", SecretNameList.Select(Regex.Escape)) + ")\"\\s*:\\s*)\"(?:[^\"\\\\]|\\\\.)*\"",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(200));

        internal static bool IsSecretName(string name) => SecretNames.Contains(name);

        /// <summary>Redacts objects in place and returns the value (a string comes back redacted).</summary>
        internal static object? Redact(object? value) => Redact(value, 0);

        /// <summary>Masks "secret": "value" pairs in text such as an echo the server could not parse.</summary>
        internal static string RedactText(string text)
        {
            // Only JSON-looking text can hold a "name": "value" pair; most values are plain words.
            if (text.IndexOf('"') < 0 || !SecretNameList.Any(n => text.IndexOf(n, StringComparison.OrdinalIgnoreCase) >= 0))
                return text;
            try
            {
                return SecretInText.Replace(text, "$1\"" + Mask + "\"");
            }
            catch (RegexMatchTimeoutException)
            {
                // Text too tangled to mask reliably is not shown at all.
                return "(text withheld: it may contain a secret and could not be redacted)";
            }
        }

        private static object? Redact(object? value, int depth)
        {
            if (value == null || depth > 64) return value;
            switch (value is PSObject p && p.BaseObject is not PSCustomObject ? p.BaseObject : value)
            {
                case string text:
                    return RedactText(text);
                case PSObject pso:
                    foreach (PSPropertyInfo property in pso.Properties)
                    {
                        if (property is not PSNoteProperty) continue;
                        property.Value = IsSecretName(property.Name) && property.Value != null ? Mask : Redact(property.Value, depth + 1);
                    }
                    return value;
                case IDictionary dictionary:
                    foreach (object key in dictionary.Keys.Cast<object>().ToList())
                        dictionary[key] = key is string name && IsSecretName(name) && dictionary[key] != null ? Mask : Redact(dictionary[key], depth + 1);
                    return value;
                case object?[] array:
                    for (int i = 0; i < array.Length; i++) array[i] = Redact(array[i], depth + 1);
                    return value;
                default:
                    return value;
            }
        }
    }
}
