using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;

namespace Qfex.Protocol
{
    /// <summary>Checks a known request against the message catalog before it is sent; unknown types pass.</summary>
    internal static class MessageValidator
    {
        /// <summary>Returns the problems found (empty: valid).</summary>
        internal static IReadOnlyList<string> Validate(string type, JsonElement parameters)
        {
            var problems = new List<string>();
            MessageSpec? spec = MessageCatalog.Find(type);
            if (spec == null) return problems;
            if (parameters.ValueKind != JsonValueKind.Object)
            {
                problems.Add($"{type}: params must be an object.");
                return problems;
            }

            foreach (ParamSpec p in spec.Parameters)
            {
                if (!parameters.TryGetProperty(p.Name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
                {
                    if (p.Required) problems.Add($"{type}: '{p.Name}' is required.");
                    continue;
                }
                string? problem = Check(p, value);
                if (problem != null) problems.Add($"{type}: {problem}");
            }

            // Limit-style orders need a price; the exchange ignores it only for MARKET.
            if ((type == "add_order") && parameters.TryGetProperty("order_type", out JsonElement orderType)
                && orderType.ValueKind == JsonValueKind.String && orderType.GetString() is string ot && ot != "MARKET"
                && (!parameters.TryGetProperty("price", out JsonElement price) || price.ValueKind == JsonValueKind.Null))
                problems.Add($"{type}: 'price' is required for {ot} orders.");
            return problems;
        }

        private static string? Check(ParamSpec p, JsonElement value)
        {
            switch (p.Kind)
            {
                case ParamKind.String:
                    if (value.ValueKind != JsonValueKind.String) return $"'{p.Name}' must be a string.";
                    if (p.Allowed.Count > 0 && !p.Allowed.Contains(value.GetString()!, StringComparer.Ordinal))
                        return $"'{p.Name}' is '{value.GetString()}'; expected one of {string.Join(", ", p.Allowed)}.";
                    return null;
                case ParamKind.StringArray:
                    if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0) return $"'{p.Name}' must be a non-empty array of strings.";
                    foreach (JsonElement item in value.EnumerateArray())
                    {
                        if (item.ValueKind != JsonValueKind.String) return $"'{p.Name}' must contain only strings.";
                        if (p.Allowed.Count > 0 && !p.Allowed.Contains(item.GetString()!, StringComparer.Ordinal))
                            return $"'{p.Name}' has '{item.GetString()}'; expected any of {string.Join(", ", p.Allowed)}.";
                    }
                    return null;
                case ParamKind.Boolean:
                    return value.ValueKind == JsonValueKind.True || value.ValueKind == JsonValueKind.False ? null : $"'{p.Name}' must be $true or $false.";
                case ParamKind.Integer:
                    return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out long l) && l >= 0 ? null : $"'{p.Name}' must be a whole number >= 0.";
                case ParamKind.Number:
                    return value.ValueKind == JsonValueKind.Number ? null : $"'{p.Name}' must be a number.";
                case ParamKind.PositiveNumber:
                    return value.ValueKind == JsonValueKind.Number && value.TryGetDecimal(out decimal d) && d > 0 ? null : $"'{p.Name}' must be a number > 0.";
                default:
                    return null;
            }
        }
    }
}
