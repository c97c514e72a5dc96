using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;

namespace Qfex.Protocol
{
    /// <summary>
    /// Replaces secret values in an echoed request (an auth payload echoed by an error frame, a
    /// recorded request) before a user can see it: signature, nonce, jwt and any key named like a secret.
    /// </summary>
    internal static class Redaction
    {
        internal const string Mask = "***";

        private static readonly HashSet<string> SecretNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        {
            "signature", "nonce", "jwt", "secret", "secret_key", "api_secret", "apisecret", "password", "token",
            "access_token", "refresh_token", "x-qfex-hmac-signature", "x-qfex-nonce", "authorization",
        };

        internal static bool IsSecretName(string name) => SecretNames.Contains(name);

        /// <summary>Redacts in place (PSObjects, dictionaries, arrays) and returns the value.</summary>
        internal static object? Redact(object? value) => Redact(value, 0);

        private static object? Redact(object? value, int depth)
        {
            if (value == null || depth > 64) return value;
            switch (value is PSObject p && p.BaseObject is not PSCustomObject ? p.BaseObject : value)
            {
                case PSObject pso:
                    foreach (PSPropertyInfo property in pso.Properties)
                    {
                        if (property is not PSNoteProperty) continue;
                        if (IsSecretName(property.Name) && property.Value != null) property.Value = Mask;
                        else Redact(property.Value, depth + 1);
                    }
                    break;
                case IDictionary dictionary:
                    var keys = new List<object>();
                    foreach (object key in dictionary.Keys) keys.Add(key);
                    foreach (object key in keys)
                    {
                        if (key is string name && IsSecretName(name) && dictionary[key] != null) dictionary[key] = Mask;
                        else Redact(dictionary[key], depth + 1);
                    }
                    break;
                case object?[] array:
                    foreach (object? item in array) Redact(item, depth + 1);
                    break;
            }
            return value;
        }
    }
}
