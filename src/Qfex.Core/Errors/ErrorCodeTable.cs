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
        /// <summary>The request may have reached the exchange: re-query it (by client_order_id) before any resend.</summary>
        CheckOutcome,
        /// <summary>Check the API key pair, the environment it belongs to and the clock.</summary>
        CheckCredentials,
        /// <summary>There is no usable session: open one with Connect-Qfex (or pass -Session).</summary>
        Connect,
        /// <summary>Nothing to resend or fix: log it and go on (the session goes on).</summary>
        LogAndContinue,
        /// <summary>Not an error from Qfex: Qfex has no advice for it.</summary>
        None,
    }

    /// <summary>Where a code comes from: an error frame's error_code, or an order_response's rejecting status.</summary>
    internal enum CodeSource
    {
        ErrorFrame,
        OrderStatus,
        /// <summary>The module's own ErrorIds (QfexTimeout, QfexNoSession, ...): failures on the module's side.</summary>
        Module,
    }

    /// <summary>The facts of one received error, handed to a row's exception factory.</summary>
    internal readonly struct ErrorContext
    {
        internal ErrorContext(string? serverMessage, object? incoming, long sequence, DateTime receivedAt, string? incomingType = null)
        {
            ServerMessage = serverMessage;
            Incoming = incoming;
            Sequence = sequence;
            ReceivedAt = receivedAt;
            IncomingType = incomingType;
        }

        /// <summary>Error frames: the exchange's message. Module ErrorIds: the exception's message (null: the row's default).</summary>
        internal string? ServerMessage { get; }
        /// <summary>Error frames: the echoed request. Order rejections: the order_response payload. Module ErrorIds: the request.</summary>
        internal object? Incoming { get; }
        /// <summary>The type of the request in <see cref="Incoming"/> (add_order, ...), if it has one.</summary>
        internal string? IncomingType { get; }
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

        /// <summary>One of the module's own ErrorIds; <paramref name="create"/> builds the exception the module throws for it.</summary>
        private static ErrorCodeInfo Module<TException>(string id, ErrorCategory category, bool retryable, QfexErrorAction action,
            string meaning, string recommended, Func<string, ErrorContext, TException> create, string defaultMessage) where TException : QfexException =>
            new ErrorCodeInfo(id, CodeSource.Module, category, (r, c) => create(c.ServerMessage ?? defaultMessage, c), typeof(TException).FullName!,
                retryable, action, meaning, recommended);

        /// <summary>order_response statuses that are not rejections (FILLED may be partial: see quantity_remaining).</summary>
        internal static readonly IReadOnlyCollection<string> AcceptedOrderStatuses =
            new HashSet<string>(StringComparer.Ordinal) { "ACK", "FILLED", "MODIFIED", "CANCELLED", "CANCELLED_STP" };

        /// <summary>
        /// The spec: "Safe to retry after a short delay; if persistent, contact support with timestamp and incoming_message"
        /// (support@qfex.com). A record's advice adds the two values it has (QfexErrorAdvice.ForErrorFrame).
        /// </summary>
        internal const string ServerErrorAdvice =
            "Retry after a short delay with jitter; if it persists, contact support@qfex.com with the error's timestamp " +
            "(the exception's ReceivedAt, UTC) and its incoming_message (the record's TargetObject).";

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
                "Do not subscribe again: the exchange already holds a leaderboard subscription for this user, possibly on another connection " +
                "with the same API key (another session, script or app). Qfex does not list leaderboard subscriptions in a session's Subscriptions: " +
                "check the other connections that use this key, and unsubscribe or close the one that holds it if this connection needs it.",
                (r, c) => new QfexStateException(r, c)),
            Row("ServerError", ErrorCategory.ResourceUnavailable, true, QfexErrorAction.RetryWithJitter,
                "An unexpected internal error on the exchange.",
                ServerErrorAdvice,
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
        }.SelectMany(family => family)).Concat(new[]
        {
            // The module's own ErrorIds. QfexTimeout and QfexConnectionClosed are advised here as a code alone, where
            // nothing says whether a request reached the exchange; the advice for a record follows its RequestOutcome
            // and request type (QfexErrorAdvice.ForException).
            Module(ErrorIds.ConnectFailed, ErrorCategory.ConnectionError, true, QfexErrorAction.Backoff,
                "The socket to the exchange could not be opened: DNS, a proxy or firewall, or nothing listening at the address.",
                "Nothing was sent: connect again after a backoff. If it keeps failing, check the address and the network path to it.",
                (m, c) => new QfexConnectionException(ErrorIds.ConnectFailed, m), "Could not connect to the exchange: the connection was refused."),
            Module(ErrorIds.ConnectionClosed, ErrorCategory.ConnectionError, false, QfexErrorAction.CheckOutcome,
                "The session is closed or reconnecting, or its connection dropped while a request waited for its answer.",
                "A request that was sent may have reached the exchange: re-query it (an order by its client_order_id) before any resend. " +
                "One that was not sent (RequestOutcome NotSent) can be sent again once the session is Open; a closed session needs Connect-Qfex.",
                (m, c) => new QfexConnectionException(ErrorIds.ConnectionClosed, m), "The session's connection closed."),
            Module(ErrorIds.AuthenticationFailed, ErrorCategory.AuthenticationError, false, QfexErrorAction.CheckCredentials,
                "The exchange refused or did not confirm authentication, or no credential was given for the Trade endpoint.",
                "Check the public and secret keys, the environment they belong to (-Environment) and the system clock; the exception's ServerErrorCode has the exchange's code, if any.",
                (m, c) => new QfexAuthenticationException(m), "The exchange refused authentication."),
            Module(ErrorIds.Timeout, ErrorCategory.OperationTimeout, false, QfexErrorAction.CheckOutcome,
                "No answer to a request arrived within -TimeoutSec, or opening the connection took too long.",
                "A request that timed out was sent and may have reached the exchange: re-query it (an order by its client_order_id, with get_user_orders) before any resend. " +
                "Read-only requests, and a connect that timed out, can be retried after a backoff.",
                (m, c) => new QfexTimeoutException(ErrorIds.Timeout, m), "No answer to the request arrived within 10 s. The request was sent: check its outcome before sending it again."),
            Module(ErrorIds.ReceiveTimeout, ErrorCategory.OperationTimeout, true, QfexErrorAction.RetryWithJitter,
                "Receive-QfexFrame did not get -Count frames (or any frame) within -TimeoutSec.",
                "The frames that arrived were output first: receive again (with a longer -TimeoutSec), or check the session's subscriptions.",
                (m, c) => new QfexTimeoutException(ErrorIds.ReceiveTimeout, m), "No frame arrived within 5 s."),
            Module(ErrorIds.MalformedFrame, ErrorCategory.InvalidData, false, QfexErrorAction.LogAndContinue,
                "The exchange sent a frame that is not JSON text, or a binary frame; the session goes on.",
                "Nothing to resend: log the frame (TargetObject has its text) and go on; report it to QFEX support (support@qfex.com) if it repeats.",
                (m, c) => new QfexMalformedFrameException(ErrorIds.MalformedFrame, m, 0), "The frame is not valid JSON."),
            Module(ErrorIds.FrameTooLarge, ErrorCategory.LimitsExceeded, false, QfexErrorAction.FixRequest,
                "A frame over the 4 MiB limit arrived and was discarded unread.",
                "Ask for less at a time (a smaller limit, fewer symbols), then query again.",
                (m, c) => new QfexMalformedFrameException(ErrorIds.FrameTooLarge, m, 0), "A frame over the 4 MiB limit was discarded."),
            Module(ErrorIds.BufferFull, ErrorCategory.LimitsExceeded, false, QfexErrorAction.FixRequest,
                "Receive-QfexFrame -Type waited behind a receive buffer full of frames of other types: nothing more can be read until they are taken.",
                "Take the other frames too (Receive-QfexFrame without -Type, or a reader of the other types beside this one), or raise Connect-Qfex -ReceiveBufferCapacity; then receive again.",
                (m, c) => new QfexException(ErrorIds.BufferFull, ErrorCategory.LimitsExceeded, m),
                "The receive buffer is full with frames of other types than the ones asked for, so no more can be read from the socket. Take the other frames too (Receive-QfexFrame without -Type), or raise Connect-Qfex -ReceiveBufferCapacity."),
            Module(ErrorIds.InvalidMessage, ErrorCategory.InvalidArgument, false, QfexErrorAction.FixRequest,
                "A request failed the module's check before sending; nothing was sent.",
                "Fix the parameters the message names, then send the request again.",
                (m, c) => new QfexInvalidMessageException(m), "The request failed the check before sending; nothing was sent."),
            Module(ErrorIds.NoSession, ErrorCategory.InvalidOperation, false, QfexErrorAction.Connect,
                "A cmdlet needed a session: no -Session was given and the runspace has no default session.",
                "Open one with Connect-Qfex, or pass -Session (a thread job or ForEach-Object -Parallel needs the session passed explicitly).",
                (m, c) => new QfexNoSessionException(m), "No Qfex session is open in this runspace. Open one with Connect-Qfex, or pass one with -Session."),
            Module(ErrorIds.SessionNotFound, ErrorCategory.ObjectNotFound, false, QfexErrorAction.FixRequest,
                "Get-QfexSession -Id named a session this runspace does not have.",
                "Run Get-QfexSession to list this runspace's sessions, and use one of their Ids.",
                (m, c) => new QfexException(ErrorIds.SessionNotFound, ErrorCategory.ObjectNotFound, m), "No open Qfex session has that Id in this runspace."),
            Module(ErrorIds.InsecureUri, ErrorCategory.SecurityError, false, QfexErrorAction.FixRequest,
                "A ws:// (clear-text) address for a host that is not loopback.",
                "Use wss:// for every host that is not loopback: secrets never cross a network in clear text.",
                (m, c) => new QfexInsecureUriException(m), "Refusing a ws:// address that is not loopback: ws:// sends everything, credentials included, in clear text. Use wss://, or ws:// only to a loopback address."),
            Module(ErrorIds.InvalidUri, ErrorCategory.InvalidArgument, false, QfexErrorAction.FixRequest,
                "Connect-Qfex -Uri is not an absolute ws:// or wss:// address (for example a host name without a scheme).",
                "Give the whole address with its scheme: use wss://host, for example wss://trade.qfex.com.",
                (m, c) => new QfexException(ErrorIds.InvalidUri, ErrorCategory.InvalidArgument, m), "The address is not a WebSocket address: use wss://host, for example wss://trade.qfex.com."),
            Module(ErrorIds.NoEndpoint, ErrorCategory.InvalidArgument, false, QfexErrorAction.FixRequest,
                "Connect-Qfex got neither -Environment nor -Uri: there is no default, so nothing reaches real funds by omission. Nothing was connected.",
                "Add -Environment Uat (the test exchange) or -Environment Production, or -Uri; to choose one for every call, set $PSDefaultParameterValues['Connect-Qfex:Environment'].",
                (m, c) => new QfexException(ErrorIds.NoEndpoint, ErrorCategory.InvalidArgument, m),
                "Say which exchange to connect to: -Environment Uat|Production, or -Uri <wss://...>."),
            Module(ErrorIds.ConflictingParameters, ErrorCategory.InvalidArgument, false, QfexErrorAction.FixRequest,
                "Connect-Qfex parameters that cannot go together.",
                "Use -Uri or -Environment, not both; use -CancelOnDisconnect only with the Trade endpoint, -Interval and -SigFigs only with their market-data channels, -Proxy only for a host that is not loopback.",
                (m, c) => new QfexException(ErrorIds.ConflictingParameters, ErrorCategory.InvalidArgument, m), "Use -Uri or -Environment, not both: -Uri names the endpoint exactly."),
            Module(ErrorIds.ConfirmationRequired, ErrorCategory.InvalidOperation, false, QfexErrorAction.FixRequest,
                "A fund transfer (Send-QfexMessage) or a mass cancellation (Stop-QfexOrder -All) needs a confirmation, but this PowerShell cannot prompt (it runs with -NonInteractive, or its host has no user interface). Nothing was sent.",
                "Add -Force to send it without the prompt (after checking it is the transfer or cancellation you mean), or run it where PowerShell can prompt.",
                (m, c) => new QfexException(ErrorIds.ConfirmationRequired, ErrorCategory.InvalidOperation, m),
                "transfer_balance moves funds and needs a confirmation, but this PowerShell cannot prompt: add -Force to send it without the prompt. Nothing was sent."),
            Module(ErrorIds.TestServerStartFailed, ErrorCategory.ResourceUnavailable, false, QfexErrorAction.FixRequest,
                "Start-QfexTestServer could not listen on the port (it is in use).",
                "Use another -Port, or -Port 0 for a free one.",
                (m, c) => new QfexException(ErrorIds.TestServerStartFailed, ErrorCategory.ResourceUnavailable, m), "The test server could not listen on the port: it is in use."),
            Module(ErrorIds.WaitTimeout, ErrorCategory.OperationTimeout, true, QfexErrorAction.Backoff,
                "Wait-QfexSession waited longer than -TimeoutSec for a session to reach its -State (for example Open again after a drop).",
                "Wait again: the session may still be reconnecting (-Verbose shows its attempts); once it is Closed, Connect-Qfex again. A request refused as NotSent can be sent once the session is Open.",
                (m, c) => new QfexTimeoutException(ErrorIds.WaitTimeout, m), "The session did not become Open within 30 s."),
            Module(ErrorIds.RecordFailed, ErrorCategory.WriteError, false, QfexErrorAction.FixRequest,
                "Connect-Qfex -RecordPath could not create or write the transcript file (its folder does not exist, or it may not be written); nothing was connected.",
                "Give -RecordPath a file in an existing folder that can be written to, then connect again.",
                (m, c) => new QfexException(ErrorIds.RecordFailed, ErrorCategory.WriteError, m), "Cannot record the session to the file: its folder does not exist. Nothing was connected."),
            Module(ErrorIds.TranscriptInvalid, ErrorCategory.InvalidData, false, QfexErrorAction.FixRequest,
                "Start-QfexTestServer -Replay was given a file it cannot serve: missing or unreadable, not JSON Lines, cut off inside a line, of a newer format version, or holding what looks like an unredacted secret. Nothing is served.",
                "Read the line the message names: remove a cut-off last line, replay with the Qfex version that recorded it, mask a secret as ***, or record the transcript again.",
                (m, c) => new QfexException(ErrorIds.TranscriptInvalid, ErrorCategory.InvalidData, m), "Cannot replay the transcript: its first line is not the start of a Qfex transcript. Nothing is served."),
        }).ToArray();

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

        // An unknown status is the exchange's text, and it becomes an ErrorId: shown as every code is (Redaction, Identifier).
        private static ErrorCodeInfo UnknownRejection(string status) => new ErrorCodeInfo(Qfex.Protocol.Redaction.Clean(status, shape: Qfex.Protocol.TextShape.Identifier), CodeSource.OrderStatus, ErrorCategory.NotSpecified,
            (r, c) => new QfexOrderRejectedException(r, c), typeof(QfexOrderRejectedException).FullName!, false, QfexErrorAction.ReviewOrder,
            "An order status this version of Qfex does not know; it is not one of the accepting statuses.",
            "Check the order's state with get_user_orders before placing it again.");

        /// <summary>Whether <paramref name="row"/> is one of the table's rows (not a stand-in for an unknown code).</summary>
        internal static bool IsTableRow(ErrorCodeInfo row) => ByCode.TryGetValue(row.Code, out ErrorCodeInfo? known) && ReferenceEquals(known, row);

        /// <summary>The row of one of the module's own ErrorIds; null for any other id.</summary>
        internal static ErrorCodeInfo? ForModuleId(string errorId) =>
            ByCode.TryGetValue(errorId, out ErrorCodeInfo? row) && row.Source == CodeSource.Module ? row : null;

        internal static bool IsRejection(string? status) => status != null && !AcceptedOrderStatuses.Contains(status);

        internal static IEnumerable<string> Codes => Rows.Select(r => r.Code);
    }
}
