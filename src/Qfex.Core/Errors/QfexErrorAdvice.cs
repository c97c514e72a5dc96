using System;
using System.Globalization;
using System.Management.Automation;
using System.Text.RegularExpressions;
using Qfex.Errors;
using Qfex.Protocol;

namespace Qfex
{
    /// <summary>What an error means and what to do about it (Get-QfexErrorAdvice's output).</summary>
    public sealed class QfexErrorAdvice
    {
        private QfexErrorAdvice(ErrorCodeInfo? row, string code, bool known, ErrorCategory category, bool retryable, TimeSpan? retryAfter,
            QfexErrorAction action, string meaning, string recommendedAction, string exceptionType)
        {
            _row = row;
            Code = code;
            Known = known;
            Category = category;
            Retryable = retryable;
            RetryAfter = retryAfter;
            Action = action;
            Meaning = meaning;
            RecommendedAction = recommendedAction;
            ExceptionType = exceptionType;
        }

        public string Code { get; }

        /// <summary>Whether Qfex knows the code: an exchange code, an order status or one of the module's ErrorIds.</summary>
        public bool Known { get; }

        public ErrorCategory Category { get; }

        /// <summary>Whether sending the same request again is safe and can succeed.</summary>
        public bool Retryable { get; }

        /// <summary>The delay the server hinted at in its message ("retry after 200ms"), else null.</summary>
        public TimeSpan? RetryAfter { get; }

        public QfexErrorAction Action { get; }
        public string Meaning { get; }
        public string RecommendedAction { get; }
        public string ExceptionType { get; }

        public override string ToString() => $"{Code}: {Action}";

        private readonly ErrorCodeInfo? _row;

        private QfexErrorAdvice With(bool retryable, QfexErrorAction action, string recommendedAction) =>
            new QfexErrorAdvice(_row, Code, Known, Category, retryable, RetryAfter, action, Meaning, recommendedAction, ExceptionType);

        /// <summary>The advice of a table row (or an unknown code's row), with the retry hint of a server message.</summary>
        internal static QfexErrorAdvice From(ErrorCodeInfo row, string? serverMessage)
        {
            // Advice is immutable and a flood of error frames repeats the same code and message:
            // reuse it instead of parsing the hint again for every frame.
            // The last advice on this thread first: in a flood the same one every time, and no key to hash.
            QfexErrorAdvice? last = t_last;
            if (last != null && ReferenceEquals(last._row, row) && string.Equals(t_lastMessage, serverMessage ?? string.Empty, StringComparison.Ordinal))
                return last;
            var key = (row.Code, serverMessage ?? string.Empty);
            if (Cache.TryGetValue(key, out QfexErrorAdvice? cached) && ReferenceEquals(cached._row, row)) return Remember(cached, key.Item2);
            TimeSpan? hint = RetryAfterHint.Parse(serverMessage, out bool timeDependent);
            var advice = new QfexErrorAdvice(row, row.Code, ErrorCodeTable.IsTableRow(row), row.Category, row.Retryable, hint,
                row.Action, row.Meaning, row.RecommendedAction, row.ExceptionType);
            if (timeDependent) return advice;   // "Retry-After: <date>": the delay shrinks as time passes
            if (Cache.Count > 1024) Cache.Clear();
            Cache[key] = advice;
            return Remember(advice, key.Item2);
        }

        [ThreadStatic] private static QfexErrorAdvice? t_last;
        [ThreadStatic] private static string? t_lastMessage;

        private static QfexErrorAdvice Remember(QfexErrorAdvice advice, string serverMessage)
        {
            t_last = advice;
            t_lastMessage = serverMessage;
            return advice;
        }

        private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string, string), QfexErrorAdvice> Cache =
            new System.Collections.Concurrent.ConcurrentDictionary<(string, string), QfexErrorAdvice>();

        /// <summary>For a code a user typed: exchange codes, order statuses and the module's ErrorIds; any other as an unknown exchange code.</summary>
        internal static QfexErrorAdvice ForCode(string code, string? serverMessage = null) =>
            From(ErrorCodeTable.Find(code) ?? ErrorCodeTable.Unknown(code), serverMessage);

        /// <summary>
        /// The advice of a received error frame. Where the code alone says "retry with jitter" (ServerError, unknown
        /// codes) but the echoed request changes orders, positions or funds, the request may have been carried out:
        /// check its outcome instead. A ServerError's advice names what the spec asks for when reporting it.
        /// </summary>
        internal static QfexErrorAdvice ForErrorFrame(ErrorCodeInfo row, ErrorContext context)
        {
            QfexErrorAdvice advice = From(row, context.ServerMessage);
            bool isServerError = row.Code == "ServerError";
            bool mayHaveActed = row.Action == QfexErrorAction.RetryWithJitter && ChangesState(context.IncomingType);
            if (!isServerError && !mayHaveActed) return advice;

            string lead = mayHaveActed
                ? $"The exchange failed while handling {context.IncomingType}, which may have been carried out: {CheckFirst(context.IncomingType)}"
                : "Retry after a short delay with jitter.";
            string text = isServerError ? lead + " " + ServerErrorReport(context) : lead;
            return mayHaveActed ? advice.With(false, QfexErrorAction.CheckOutcome, text) : advice.With(advice.Retryable, advice.Action, text);
        }

        /// <summary>"If it persists, contact support@qfex.com with the timestamp ... and the incoming_message ...", with this error's values.</summary>
        private static string ServerErrorReport(ErrorContext context)
        {
            string incoming;
            try
            {
                incoming = context.Incoming == null ? "(the exchange sent none)" : Shorten(PSJson.Serialize(context.Incoming), 300);
            }
            catch (Exception e) when (e is ArgumentException || e is InvalidOperationException || e is NotSupportedException)
            {
                incoming = "(see the record's TargetObject)";
            }
            string when = context.ReceivedAt.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
            return $"If it persists, contact support@qfex.com with the timestamp {when} (the exception's ReceivedAt) and the incoming_message {incoming}.";
        }

        /// <summary>
        /// The advice for one of the module's own failures. For a request it follows what is known of it: not sent
        /// (retry is safe), sent with the outcome unknown (safe to resend only when it only reads), otherwise the row's.
        /// </summary>
        internal static QfexErrorAdvice ForException(QfexException exception)
        {
            ErrorCodeInfo row = ErrorCodeTable.ForModuleId(exception.ErrorId)
                ?? new ErrorCodeInfo(exception.ErrorId, CodeSource.Module, exception.Category, (r, c) => exception, exception.GetType().FullName!,
                    false, QfexErrorAction.None, "An error this version of Qfex has no advice for.", "Do not retry it blindly; see the message.");
            QfexErrorAdvice advice = From(row, null);
            string? type = exception.RequestType;
            string request = type ?? "The request";

            if (exception.RequestOutcome == QfexRequestOutcome.NotSent)
                return advice.With(true, QfexErrorAction.Backoff,
                    $"{request} was not sent, so sending it again cannot duplicate it: send it again once the session is Open " +
                    "(back off while it reconnects; a closed session needs Connect-Qfex).");

            bool aboutRequest = exception.RequestOutcome == QfexRequestOutcome.SentOutcomeUnknown
                || (type != null && (exception.ErrorId == ErrorIds.Timeout || exception.ErrorId == ErrorIds.ConnectionClosed));
            if (aboutRequest)
            {
                RequestEffect? effect = type == null ? null : MessageCatalog.Find(type)?.Effect;
                if (effect == RequestEffect.ReadOnly || effect == RequestEffect.Session)
                    return advice.With(true, QfexErrorAction.RetryWithJitter,
                        $"{request} changes no order, position or funds, so sending it again is safe: retry after a short delay with jitter" +
                        (exception.ErrorId == ErrorIds.ConnectionClosed ? ", once the session is Open again." : "."));
                return advice.With(false, QfexErrorAction.CheckOutcome,
                    $"{request} was sent and may have reached the exchange: {CheckFirst(type)}");
            }

            if (exception.ErrorId == ErrorIds.Timeout)
                return advice.With(true, QfexErrorAction.Backoff,
                    "Connecting took too long and nothing was sent: connect again after a backoff; if it keeps timing out, check the network path or raise -TimeoutSec.");
            if (exception.ErrorId == ErrorIds.ConnectionClosed)
                return advice.With(false, QfexErrorAction.Connect,
                    "The session is closed (its CloseReason says why): open a new one with Connect-Qfex, and re-query orders and positions before resending anything.");
            return advice;
        }

        /// <summary>
        /// The advice for any ErrorRecord: a Qfex exception's own (also when wrapped, or when the record came back from
        /// a job with the exception deserialized); for a record that is not from Qfex: Known false, not retryable, Action None.
        /// </summary>
        internal static QfexErrorAdvice ForRecord(ErrorRecord record)
        {
            for (Exception? e = record.Exception; e != null; e = e.InnerException)
                if (e is QfexException qfex) return qfex.Advice;

            string id = record.FullyQualifiedErrorId ?? string.Empty;
            int comma = id.IndexOf(',');
            string code = comma >= 0 ? id.Substring(0, comma) : id;
            // Written by a Qfex cmdlet in another process (Start-Job, remoting): the exception is a RemoteException now.
            if (record.Exception is RemoteException && comma >= 0 && id.Substring(comma + 1).StartsWith("Qfex.Commands.", StringComparison.Ordinal)
                && ErrorCodeTable.Find(code) != null)
                return ForCode(code, record.ErrorDetails?.Message ?? record.Exception?.Message);

            return new QfexErrorAdvice(null, code, false, record.CategoryInfo.Category, false, null, QfexErrorAction.None,
                "An error that did not come from Qfex" + (record.Exception == null ? "." : $" ({record.Exception.GetType().Name})."),
                "Qfex has no advice for it: do not retry it blindly; see the documentation of the command that wrote it.",
                record.Exception?.GetType().FullName ?? string.Empty);
        }

        /// <summary>Requests that create, change or cancel orders or positions, or move funds; unknown types count too.</summary>
        private static bool ChangesState(string? type)
        {
            if (type == null) return false;
            RequestEffect? effect = MessageCatalog.Find(type)?.Effect;
            return effect == null || effect == RequestEffect.Trading || effect == RequestEffect.Funds;
        }

        /// <summary>How to check the outcome of a request before resending it.</summary>
        private static string CheckFirst(string? type) =>
            type != null && MessageCatalog.Find(type)?.Effect == RequestEffect.Funds
                ? "check the account's balances before any resend, and never send it again blindly."
                : "before any resend, re-query it by its client_order_id (get_user_orders lists the open orders with theirs; " +
                  "a cancel or modify: the order's state), and send it again only if it is not there.";

        private static string Shorten(string text, int max) => text.Length > max ? text.Substring(0, max) + "..." : text;
    }
}

namespace Qfex.Errors
{
    /// <summary>
    /// Reads a retry-after hint out of an error message. The exchange documents a hint but no field, and its
    /// example puts it in prose ("Please retry after 200ms."). Only a delay is read, never any other number:
    /// <list type="bullet">
    /// <item>"retry" or "try again" (optionally with "after" or "in"), then a number with a time unit:
    /// ms, msec, millisecond(s), s, sec(s), second(s), min(s), minute(s). "retry after 2s", "Retry-After: 1.5 s",
    /// "try again in 3 seconds".</item>
    /// <item>A field whose name carries the unit: "retry_after_ms=250", "retry-after-seconds: 2".</item>
    /// <item>The HTTP Retry-After header's forms: "Retry-After: 7" (seconds) and "Retry-After: Wed, 21 Oct 2026 07:28:00 GMT".</item>
    /// </list>
    /// A number without a unit ("please retry 3 times", "retry after 3 attempts") is not a delay; nor is a number
    /// far from the word retry ("100 requests per 1 s"). Decimals use a point; "1,500 ms" is not read (comma decimal or
    /// thousands separator?).
    /// </summary>
    internal static class RetryAfterHint
    {
        private const string Number = "(?<n>[0-9]{1,9}(?:\\.[0-9]{1,9})?)";
        private const string Unit = "(?<unit>milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?)";
        private const string NoMore = "(?![a-z0-9_])";

        // Each separator is one group that cannot overlap its neighbours, so a long run of spaces costs linear time,
        // not cubic; the timeout and the length cap bound the rest.
        private static readonly Regex Pattern = new Regex(
            // A field whose name carries the unit: retry_after_ms=250
            "(?<![a-z])retry[-_ ]?after[-_ ]?" + Unit.Replace("?<unit>", "?<fieldunit>") + "[ \\t]*[:=][ \\t]*" + Number + NoMore
            // Retry-After: <seconds>, no unit (the header's delay-seconds), then the end of the text or of a clause, never a word ("3 times")
            + "|(?<![a-z])retry-after[ \\t]*:[ \\t]*(?<header>[0-9]{1,9})(?![0-9]|[.,][0-9])(?=[ \\t]*(?:$|[.;,)\\]}\\r\\n\"']))"
            // Retry-After: <HTTP-date>
            + "|(?<![a-z])retry-after[ \\t]*:[ \\t]*(?<date>(?:mon|tue|wed|thu|fri|sat|sun), [0-9]{2} [a-z]{3} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} gmt)"
            // retry after 200ms, try again in 3 seconds
            + "|(?<![a-z])(?:retry|try[ \\t]+again)(?:[\\s_-]+(?:after|in))?(?:[ \\t]*[:=][ \\t]*|[\\s_-]+)" + Number + "[ \\t]?" + Unit + NoMore,
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));

        private const int MaxInput = 2048;

        /// <summary>Hints longer than this are not believed (a typo must not park a runbook for a day).</summary>
        internal static readonly TimeSpan Maximum = TimeSpan.FromMinutes(10);

        internal static TimeSpan? Parse(string? text) => Parse(text, out _);

        /// <summary><paramref name="timeDependent"/>: the hint is a date, so the delay depends on when it is read.</summary>
        internal static TimeSpan? Parse(string? text, out bool timeDependent) => Parse(text, DateTime.UtcNow, out timeDependent);

        /// <summary>As above, a date hint read against <paramref name="utcNow"/> (tests pass a fixed instant).</summary>
        internal static TimeSpan? Parse(string? text, DateTime utcNow, out bool timeDependent)
        {
            timeDependent = false;
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

            double ms;
            if (match.Groups["date"].Success)
            {
                timeDependent = true;
                if (!DateTime.TryParseExact(match.Groups["date"].Value, "r", CultureInfo.InvariantCulture,
                        DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out DateTime at))
                    return null;
                ms = Math.Max(0, (at - utcNow).TotalMilliseconds);
            }
            else if (match.Groups["header"].Success)
            {
                ms = double.Parse(match.Groups["header"].Value, NumberStyles.None, CultureInfo.InvariantCulture) * 1000;
            }
            else
            {
                double n = double.Parse(match.Groups["n"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
                string unit = (match.Groups["unit"].Success ? match.Groups["unit"].Value : match.Groups["fieldunit"].Value).ToLowerInvariant();
                ms = unit.StartsWith("ms", StringComparison.Ordinal) || unit.StartsWith("milli", StringComparison.Ordinal) ? n
                    : unit.StartsWith("min", StringComparison.Ordinal) ? n * 60_000
                    : n * 1000;
            }
            if (double.IsNaN(ms) || ms < 0 || ms > Maximum.TotalMilliseconds) return null;
            return TimeSpan.FromMilliseconds(Math.Round(ms, 3));
        }
    }
}
