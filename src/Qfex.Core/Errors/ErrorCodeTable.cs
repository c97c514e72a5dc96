using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;

namespace Qfex.Errors
{
    /// <summary>What a caller should do about an error; one per row of the code table.</summary>
    public enum QfexErrorAction
    {
        Backoff,
        FixRequest,
        CheckPermissions,
        AcceptTerms,
        CompleteVerification,
        ChangeFlow,
        RetryWithJitter,
        /// <summary>An order the exchange refused: re-check it against the market before placing anew.</summary>
        ReviewOrder,
    }

    /// <summary>Where a code comes from: an error frame's error_code, or an order_response's rejecting status.</summary>
    internal enum CodeSource
    {
        ErrorFrame,
        OrderStatus,
    }

    /// <summary>The facts of one received error, handed to a row's exception factory.</summary>
    internal readonly struct ErrorContext
    {
        internal ErrorContext(string? serverMessage, object? incoming, long sequence, DateTime receivedAt)
        {
            ServerMessage = serverMessage;
            Incoming = incoming;
            Sequence = sequence;
            ReceivedAt = receivedAt;
        }

        internal string? ServerMessage { get; }
        /// <summary>Error frames: the echoed request. Order rejections: the order_response payload.</summary>
        internal object? Incoming { get; }
        internal long Sequence { get; }
        internal DateTime ReceivedAt { get; }
    }

    /// <summary>One row of the code table: everything the module knows about an error code.</summary>
    internal sealed class ErrorCodeInfo
    {
        internal ErrorCodeInfo(string code, CodeSource source, ErrorCategory category, Func<ErrorCodeInfo, ErrorContext, QfexException> create,
            string exceptionType, bool retryable, QfexErrorAction action, string meaning, string recommendedAction)
        {
            Code = code;
            Source = source;
            Category = category;
            Create = create;
            ExceptionType = exceptionType;
            Retryable = retryable;
            Action = action;
            Meaning = meaning;
            RecommendedAction = recommendedAction;
        }

        internal string Code { get; }
        internal CodeSource Source { get; }
        internal ErrorCategory Category { get; }
        internal string ExceptionType { get; }
        internal bool Retryable { get; }
        internal QfexErrorAction Action { get; }
        internal string Meaning { get; }
        internal string RecommendedAction { get; }
        /// <summary>Builds the exception this code becomes.</summary>
        internal Func<ErrorCodeInfo, ErrorContext, QfexException> Create { get; }
    }

    /// <summary>
    /// The one table of exchange error codes. It drives categories, exception types, advice,
    /// tab completion and the docs: adding a code is adding one row.
    /// </summary>
    internal static class ErrorCodeTable
    {
        private static ErrorCodeInfo Row<TException>(string code, ErrorCategory category, bool retryable, QfexErrorAction action,
            string meaning, string recommended,
            Func<ErrorCodeInfo, ErrorContext, TException> create) where TException : QfexServerErrorException =>
            new ErrorCodeInfo(code, CodeSource.ErrorFrame, category, create, typeof(TException).FullName!, retryable, action, meaning, recommended);

        /// <summary>A family of order_response statuses that mean the exchange refused the request.</summary>
        private static IEnumerable<ErrorCodeInfo> Rejections(ErrorCategory category, bool retryable, QfexErrorAction action,
            string meaning, string recommended, params string[] statuses) =>
            statuses.Select(status => new ErrorCodeInfo(status, CodeSource.OrderStatus, category,
                (r, c) => new QfexOrderRejectedException(r, c), typeof(QfexOrderRejectedException).FullName!,
                retryable, action, meaning, recommended));

        /// <summary>order_response statuses that are not rejections (FILLED may be partial: see quantity_remaining).</summary>
        internal static readonly IReadOnlyCollection<string> AcceptedOrderStatuses =
            new HashSet<string>(StringComparer.Ordinal) { "ACK", "FILLED", "MODIFIED", "CANCELLED", "CANCELLED_STP" };

        internal static readonly IReadOnlyList<ErrorCodeInfo> Rows = new[]
        {
            Row("RateLimited", ErrorCategory.QuotaExceeded, true, QfexErrorAction.Backoff,
                "You exceeded the allowed message rate (weighted per message type, an exponential moving average per user).",
                "Wait for the hinted delay (or back off exponentially with jitter), then retry; send fewer, larger requests.",
                (r, c) => new QfexRateLimitedException(r, c)),
            Row("InvalidJSONFormat", ErrorCategory.ParserError, false, QfexErrorAction.FixRequest,
                "The message is not valid JSON or does not match the expected schema.",
                "Fix the message: include the required fields with the right types and enum values. Do not retry it unchanged.",
                (r, c) => new QfexInvalidRequestException(r, c)),
            Row("InvalidParameter", ErrorCategory.InvalidArgument, false, QfexErrorAction.FixRequest,
                "One or more parameters are out of range, missing or invalid for the message.",
                "Correct the parameter named in the message (see TargetObject for the request you sent), then send again.",
                (r, c) => new QfexInvalidRequestException(r, c)),
            Row("InvalidOrder", ErrorCategory.InvalidData, false, QfexErrorAction.FixRequest,
                "The order is invalid or malformed.",
                "Check the order's parameters and format against the symbol's reference data, correct it, then place it again.",
                (r, c) => new QfexInvalidRequestException(r, c)),
            Row("PermissionDenied", ErrorCategory.PermissionDenied, false, QfexErrorAction.CheckPermissions,
                "The API key or user lacks permission for the requested action.",
                "Check the API key's scopes and roles (and the account or subaccount in use); contact support if it should be allowed.",
                (r, c) => new QfexPermissionException(r, c)),
            Row("TncRequired", ErrorCategory.PermissionDenied, false, QfexErrorAction.AcceptTerms,
                "The user must agree to the latest Terms and Conditions.",
                "Accept the latest Terms and Conditions in the QFEX web app, then retry.",
                (r, c) => new QfexPermissionException(r, c)),
            Row("KycRequired", ErrorCategory.PermissionDenied, false, QfexErrorAction.CompleteVerification,
                "The account must complete identity verification (KYC) first.",
                "Complete identity verification in the QFEX web app, then retry.",
                (r, c) => new QfexPermissionException(r, c)),
            Row("AlreadyAuthenticated", ErrorCategory.InvalidOperation, false, QfexErrorAction.ChangeFlow,
                "The connection was authenticated already; authentication was sent again.",
                "Do not authenticate twice on one connection; Connect-Qfex authenticates once per session.",
                (r, c) => new QfexStateException(r, c)),
            Row("AlreadySubscribedToLeaderboard", ErrorCategory.ResourceExists, false, QfexErrorAction.ChangeFlow,
                "The user is already subscribed to a leaderboard.",
                "Do not subscribe again; check the session's current subscriptions first.",
                (r, c) => new QfexStateException(r, c)),
            Row("ServerError", ErrorCategory.ResourceUnavailable, true, QfexErrorAction.RetryWithJitter,
                "An unexpected internal error on the exchange.",
                "Retry after a short delay with jitter; if it persists, contact QFEX support with the error's ReceivedAt timestamp and the request (TargetObject).",
                (r, c) => new QfexServerFaultException(r, c)),
        }.Concat(new[]
        {
            Rejections(ErrorCategory.ObjectNotFound, false, QfexErrorAction.ReviewOrder,
                "The order to cancel or modify does not exist (or is no longer open).",
                "Query the open orders (get_user_orders) and use the current order_id; a modify may have given the order a new id.",
                "NO_SUCH_ORDER", "CANNOT_MODIFY_NO_SUCH_ORDER"),
            Rejections(ErrorCategory.InvalidArgument, false, QfexErrorAction.FixRequest,
                "The order's parameters break the symbol's trading rules (type, symbol, price or quantity limits, tick or lot size, time in force, bracket prices).",
                "Check the order against the symbol's reference data (tick_size, lot_size, min/max price and quantity), correct it, then place it again.",
                "INVALID_ORDER_TYPE", "BAD_SYMBOL", "PRICE_LESS_THAN_MIN_PRICE", "PRICE_GREATER_THAN_MAX_PRICE",
                "INVALID_TICK_SIZE_PRECISION_PRICE", "INVALID_TICK_SIZE_PRECISION_QUANTITY", "QUANTITY_LESS_THAN_MIN_QUANTITY",
                "QUANTITY_GREATER_THAN_MAX_QUANTITY", "INVALID_TIME_IN_FORCE", "INVALID_TAKEPROFIT_PRICE", "INVALID_STOPLOSS_PRICE",
                "INVALID_TAKE_PROFIT_PRICE", "INVALID_STOP_LOSS_PRICE", "REJECTED_GREATER_THAN_MAX_PRICE_BAND",
                "REJECTED_LESS_THAN_MIN_PRICE_BAND", "REJECTED_LESS_THAN_MIN_NOTIONAL"),
            Rejections(ErrorCategory.InvalidOperation, false, QfexErrorAction.ReviewOrder,
                "The order cannot be changed in its current state (partially filled, or an ALO change that would cross).",
                "Cancel and place a new order instead of modifying it.",
                "CANNOT_MODIFY_PARTIAL_FILL", "CANNOT_MODIFY_ALO_WOULD_CROSS"),
            Rejections(ErrorCategory.InvalidOperation, false, QfexErrorAction.ReviewOrder,
                "The order would break an account limit: margin, maximum notional or position, open orders or open interest.",
                "Reduce the size, add margin, or close orders or positions, then place it again.",
                "FAILED_MARGIN_CHECK", "REJECTED_WOULD_BREACH_MAX_NOTIONAL", "REJECTED_WOULD_BREACH_MAX_POSITION",
                "REJECTED_TOO_MANY_OPEN_ORDERS", "REJECTED_OPEN_INTEREST_LIMIT"),
            Rejections(ErrorCategory.ResourceUnavailable, false, QfexErrorAction.ReviewOrder,
                "The market for the symbol is closed.",
                "Place the order when the market is open (see the symbol's market_hours).",
                "REJECTED_MARKET_CLOSED"),
            Rejections(ErrorCategory.QuotaExceeded, true, QfexErrorAction.Backoff,
                "The order was refused because the account sent too many requests.",
                "Wait, send fewer requests, then place the order again; contact support to raise your limits.",
                "RATE_LIMITED"),
            Rejections(ErrorCategory.NotSpecified, false, QfexErrorAction.ReviewOrder,
                "The exchange refused or could not process the order without a more specific reason.",
                "Check the order and the account's state (open orders, positions) before placing it again.",
                "REJECTED", "REJECTED_FAILED_TO_PROCESS"),
        }.SelectMany(family => family)).ToArray();

        private static readonly Dictionary<string, ErrorCodeInfo> ByCode =
            Rows.ToDictionary(r => r.Code, StringComparer.Ordinal);

        /// <summary>For what a user typed: exactly first, then ignoring case. Frames use the exact lookups below.</summary>
        internal static ErrorCodeInfo? Find(string code)
        {
            if (ByCode.TryGetValue(code, out ErrorCodeInfo? row)) return row;
            return Rows.FirstOrDefault(r => string.Equals(r.Code, code, StringComparison.OrdinalIgnoreCase));
        }

        /// <summary>The row for a code the table does not know: kept verbatim, retried with jitter.</summary>
        internal static ErrorCodeInfo Unknown(string code) => new ErrorCodeInfo(code, CodeSource.ErrorFrame, ErrorCategory.NotSpecified,
            (r, c) => new QfexServerErrorException(r, c), typeof(QfexServerErrorException).FullName!,
            true, QfexErrorAction.RetryWithJitter,
            "A code this version of Qfex does not know.",
            "Retry after a short delay with jitter; if it persists, look the code up in the exchange's documentation or update Qfex.");

        /// <summary>The row for an error frame's code (an unknown one kept verbatim).</summary>
        internal static ErrorCodeInfo ForErrorFrame(string code) =>
            ByCode.TryGetValue(code, out ErrorCodeInfo? row) && row.Source == CodeSource.ErrorFrame ? row : Unknown(code);

        /// <summary>The row for an order_response status that is a rejection (an unknown one as a generic rejection).</summary>
        internal static ErrorCodeInfo ForOrderStatus(string status) =>
            ByCode.TryGetValue(status, out ErrorCodeInfo? row) && row.Source == CodeSource.OrderStatus ? row : UnknownRejection(status);

        private static ErrorCodeInfo UnknownRejection(string status) => new ErrorCodeInfo(status, CodeSource.OrderStatus, ErrorCategory.NotSpecified,
            (r, c) => new QfexOrderRejectedException(r, c), typeof(QfexOrderRejectedException).FullName!, false, QfexErrorAction.ReviewOrder,
            "An order status this version of Qfex does not know; it is not one of the accepting statuses.",
            "Check the order's state with get_user_orders before placing it again.");

        internal static bool IsRejection(string? status) => status != null && !AcceptedOrderStatuses.Contains(status);

        internal static IEnumerable<string> Codes => Rows.Select(r => r.Code);
    }
}
