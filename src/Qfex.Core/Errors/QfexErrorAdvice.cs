using System;
using System.Globalization;
using System.Management.Automation;
using System.Text.RegularExpressions;
using Qfex.Errors;

namespace Qfex
{
    /// <summary>What an error code means and what to do about it (Get-QfexErrorAdvice's output).</summary>
    public sealed class QfexErrorAdvice
    {
        private QfexErrorAdvice(ErrorCodeInfo row, bool known, TimeSpan? retryAfter)
        {
            Row = row;
            Code = row.Code;
            Known = known;
            Category = row.Category;
            Retryable = row.Retryable;
            RetryAfter = retryAfter;
            Action = row.Action;
            Meaning = row.Meaning;
            RecommendedAction = row.RecommendedAction;
            ExceptionType = row.ExceptionType;
        }

        public string Code { get; }
        public bool Known { get; }
        public ErrorCategory Category { get; }
        public bool Retryable { get; }

        /// <summary>The delay the server hinted at in its message ("retry after 200ms"), else null.</summary>
        public TimeSpan? RetryAfter { get; }

        public QfexErrorAction Action { get; }
        public string Meaning { get; }
        public string RecommendedAction { get; }
        public string ExceptionType { get; }

        public override string ToString() => $"{Code}: {Action}";

        internal static QfexErrorAdvice From(ErrorCodeInfo row, string? serverMessage)
        {
            // Advice is immutable and a flood of error frames repeats the same code and message:
            // reuse it instead of parsing the hint again for every frame.
            var key = (row.Code, serverMessage ?? string.Empty);
            if (Cache.TryGetValue(key, out QfexErrorAdvice? cached) && ReferenceEquals(cached.Row, row)) return cached;
            var advice = new QfexErrorAdvice(row, ErrorCodeTable.Find(row.Code) != null, RetryAfterHint.Parse(serverMessage));
            if (Cache.Count > 1024) Cache.Clear();
            Cache[key] = advice;
            return advice;
        }

        private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string, string), QfexErrorAdvice> Cache =
            new System.Collections.Concurrent.ConcurrentDictionary<(string, string), QfexErrorAdvice>();

        private ErrorCodeInfo Row { get; }

        internal static QfexErrorAdvice ForCode(string code, string? serverMessage = null) =>
            From(ErrorCodeTable.Find(code) ?? ErrorCodeTable.Unknown(code), serverMessage);
    }
}

namespace Qfex.Errors
{
    /// <summary>
    /// Reads a retry-after hint out of free text. The exchange documents a hint but no field, and its
    /// example puts it in prose ("Please retry after 200ms."), so the parser is liberal: "retry after
    /// 2s", "Retry-After: 1.5 s", "retry in 3 seconds", "retry_after_ms=250". No unit means seconds,
    /// as in HTTP's Retry-After.
    /// </summary>
    internal static class RetryAfterHint
    {
        // Each separator is one group that cannot overlap its neighbours, so a long run of spaces costs
        // linear time, not cubic; the timeout and the length cap bound the rest.
        private static readonly Regex Pattern = new Regex(
            @"retry(?:[\s_-]+(?:after|in))?(?<msfield>[\s_-]+ms)?(?:[ \t]*[:=][ \t]*|[\s_-]+)(?<n>\d+(?:[.,]\d+)?)[ \t]?(?<unit>milliseconds?|millis|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m)?(?![a-z])",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));

        private const int MaxInput = 2048;

        /// <summary>Hints longer than this are not believed (a typo must not park a runbook for a day).</summary>
        internal static readonly TimeSpan Maximum = TimeSpan.FromMinutes(10);

        internal static TimeSpan? Parse(string? text)
        {
            if (string.IsNullOrEmpty(text)) return null;
            Match match;
            try
            {
                match = Pattern.Match(text!.Length > MaxInput ? text.Substring(0, MaxInput) : text);
            }
            catch (RegexMatchTimeoutException)
            {
                return null;
            }
            if (!match.Success) return null;
            if (!double.TryParse(match.Groups["n"].Value.Replace(',', '.'), NumberStyles.Float, CultureInfo.InvariantCulture, out double n))
                return null;

            string unit = match.Groups["unit"].Success ? match.Groups["unit"].Value.ToLowerInvariant()
                : match.Groups["msfield"].Success ? "ms" : "s";
            double ms = unit.StartsWith("ms", StringComparison.Ordinal) || unit.StartsWith("milli", StringComparison.Ordinal) || unit.StartsWith("msec", StringComparison.Ordinal)
                ? n
                : unit.StartsWith("m", StringComparison.Ordinal) ? n * 60_000
                : n * 1000;
            if (ms < 0 || double.IsNaN(ms) || ms > Maximum.TotalMilliseconds) return null;
            return TimeSpan.FromMilliseconds(ms);
        }
    }
}
