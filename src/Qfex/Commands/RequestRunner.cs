using System;
using System.Management.Automation;
using System.Text.Json;
using Qfex.Errors;
using Qfex.Protocol;
using Qfex.Transport;

namespace Qfex.Commands
{
    /// <summary>
    /// How a cmdlet sends one request and takes its answer: the one implementation behind Send-QfexMessage and the
    /// typed trading cmdlets (New-QfexOrder, Stop-QfexOrder, ...). It builds the request against the message catalog
    /// (QfexInvalidMessage when refused), applies the catalog's -WhatIf/-Confirm rules, subscribes to order_responses
    /// when an awaited answer comes only there, sends through the session (rate limiter, truthful request outcomes),
    /// waits for the answer (-TimeoutSec bounds the whole wait, retries included), retries only where safe, and writes
    /// error frames and order rejections as the module's ErrorRecords. Everything it writes goes through the cmdlet
    /// that owns it, on the pipeline thread.
    /// </summary>
    internal sealed class RequestRunner
    {
        private readonly QfexCmdlet _cmdlet;

        internal RequestRunner(QfexCmdlet cmdlet) => _cmdlet = cmdlet;

        /// <summary>Wait for the answer (Send-QfexMessage -Wait; the typed cmdlets always wait).</summary>
        internal bool Wait { get; set; }

        /// <summary>The whole wait for one request's answer, retries included, in seconds.</summary>
        internal int TimeoutSec { get; set; } = 10;

        /// <summary>How often a RateLimited (or, for read-only requests, ServerError) answer is retried.</summary>
        internal int MaxRetries { get; set; } = 3;

        /// <summary>Send-QfexMessage -PassThru: the sent message is output once, on the first attempt.</summary>
        internal bool PassThru { get; set; }

        /// <summary>Send-QfexMessage -Force: a fund transfer without the extra prompt.</summary>
        internal bool Force { get; set; }

        /// <summary>
        /// The request in the shape of the session's endpoint, checked against its catalog; null when refused (the
        /// QfexInvalidMessage error is written, with <paramref name="refusedTarget"/> as its TargetObject).
        /// </summary>
        internal OutgoingMessage? Build(Func<OutgoingMessage> build, Func<object?> refusedTarget)
        {
            try
            {
                return build();
            }
            catch (InvalidMessageException e)
            {
                _cmdlet.WriteQfexError(new QfexInvalidMessageException(e.Message, e), refusedTarget());
                return null;
            }
        }

        /// <summary>
        /// Sends <paramref name="message"/> on <paramref name="session"/> as Send-QfexMessage does. With <see cref="Wait"/>,
        /// returns the answer when it is a normal one (an error frame or an order rejection is written as its error record,
        /// and null returned); null also when nothing is to be output (declined, refused, no wait, errors written).
        /// <paramref name="target"/> and <paramref name="action"/> are the -WhatIf/-Confirm texts, asked only for the types
        /// the catalog says change orders, positions or funds; <paramref name="confirmMore"/>, when given, is asked after
        /// (Stop-QfexOrder -All's high-impact confirmation).
        /// </summary>
        internal QfexFrame? Run(QfexSession session, OutgoingMessage message, string target, string action, Func<bool>? confirmMore = null,
            bool needsOrderResponses = false)
        {
            MessageSpec? spec = message.Spec;
            if (message.TypedAs != null)
                _cmdlet.WriteWarning($"'{message.TypedAs}' differs from the request type {message.Type} only in case: it was checked and is sent as {message.Type} (the exchange's types are lower-case).");
            else if (spec == null)
                _cmdlet.WriteWarning(UnknownTypeWarning(message.Type, session.Endpoint));
            if (spec != null && spec.NeedsConfirmation)
            {
                if (!_cmdlet.ShouldProcess(target, action))
                    return null;
                if (spec.Effect == RequestEffect.Funds && !Force && !ConfirmFundTransfer(message))
                    return null;
                if (confirmMore != null && !confirmMore())
                    return null;
            }

            if (Wait && (needsOrderResponses || AnswerMatcher.AnswersOnOrderResponses(message.Type)) && session.Endpoint == QfexEndpoint.Trade
                && Array.IndexOf(session.Subscriptions, "order_responses") < 0 && !SubscribeToOrderResponses(session, message))
                return null;

            // -TimeoutSec bounds the whole -Wait, retries included: the server's hints never decide how long it blocks.
            var elapsed = System.Diagnostics.Stopwatch.StartNew();
            TimeSpan limit = TimeSpan.FromSeconds(TimeoutSec);
            for (int attempt = 0; ; attempt++)
            {
                QfexFrame? answer = SendOnce(session, message, passThru: PassThru && attempt == 0, limit - elapsed.Elapsed);
                if (answer == null) return null;

                TimeSpan? delay = attempt < MaxRetries ? RetryDelay(answer, spec, attempt) : null;
                if (delay != null && (delay.Value > MaxRetryDelay || elapsed.Elapsed + delay.Value >= limit))
                {
                    // Not retried: the wait would pass the deadline (or the cap on a hinted delay). Said, then the refusal is written.
                    _cmdlet.WriteWarning($"{message.Type} was answered with {answer.Error!.Code} and not retried: " +
                        (delay.Value > MaxRetryDelay
                            ? $"the delay it asks for ({delay.Value.TotalSeconds:0.###} s) is over the {MaxRetryDelay.TotalSeconds:0} s the module waits for a retry."
                            : $"retrying after {delay.Value.TotalSeconds:0.###} s would pass -TimeoutSec {TimeoutSec} ({elapsed.Elapsed.TotalSeconds:0.###} s have passed).") +
                        (answer.Error.Message is string hint ? $" The exchange said: {hint}" : string.Empty));
                    delay = null;
                }
                if (delay == null)
                    return Accept(answer, message);

                // The exchange refused this request without acting on it: sending it again is safe.
                _cmdlet.WriteVerbose($"{message.Type} was answered with {answer.Error!.Code}; retry {attempt + 1} of {MaxRetries} in {delay.Value.TotalMilliseconds:0} ms.");
                if (_cmdlet.StopRequested.WaitHandle.WaitOne(delay.Value))
                    throw new PipelineStoppedException();
            }
        }

        /// <summary>
        /// A fund transfer asks for a confirmation unless -Force. Where PowerShell cannot prompt (-NonInteractive, a host
        /// without a user interface) that is a Qfex error naming -Force, for this message only; nothing is sent.
        /// </summary>
        private bool ConfirmFundTransfer(OutgoingMessage message)
        {
            try
            {
                return _cmdlet.ShouldContinue($"Send {message.Describe()}? This moves funds.", "Confirm fund transfer");
            }
            catch (Exception e) when (e is PSInvalidOperationException || e is System.Management.Automation.Host.HostException || e is NotImplementedException)
            {
                _cmdlet.WriteQfexError(new QfexException(ErrorIds.ConfirmationRequired, ErrorCategory.InvalidOperation,
                    $"{message.Type} moves funds and needs a confirmation, but this PowerShell cannot prompt (it runs with -NonInteractive, " +
                    "or its host has no user interface). Add -Force to send it without the prompt. Nothing was sent.", e), message.ToPSObject());
                return false;
            }
        }

        /// <summary>
        /// Sends once; with -Wait returns the answer (null when there is none to give: errors already written,
        /// each saying whether the request was sent).
        /// </summary>
        private QfexFrame? SendOnce(QfexSession session, OutgoingMessage message, bool passThru, TimeSpan answerTimeout)
        {
            var ticket = new RequestTicket(message.Type, message.Json,
                Wait ? new AnswerMatcher(message.Type, message.Params, session.Core.Orders.ClientIdOf).Matches : null);
            bool delivered = false;
            try
            {
                var throttleNotes = new DeferredLog();
                try
                {
                    _cmdlet.Await(session.SendAsync(ticket, throttleNotes.Add, _cmdlet.StopRequested));
                }
                finally
                {
                    throttleNotes.WriteTo(_cmdlet);
                }
                _cmdlet.WriteVerbose($"Sent {message.Type} on session {session.Id}.");
                if (PSJson.GetString(message.Params, "symbol") is string symbol) session.Core.Orders.Symbols.Add(symbol);   // for tab completion
                if (_cmdlet.DebugEnabled) _cmdlet.WriteDebug($"Session {session.Id} sent: {message.DescribeSent(session.Core.Secrets)}");
                if (passThru) _cmdlet.WriteObject(message.ToPSObject());
                if (ticket.AnswerTask == null) return null;

                // Block on the answer itself: no wrapper task, no thread-pool hop between the frame and us.
                bool answered;
                try
                {
                    answered = ticket.AnswerTask.Wait((int)Math.Max(0, Math.Ceiling(answerTimeout.TotalMilliseconds)), _cmdlet.StopRequested);
                }
                catch (OperationCanceledException)
                {
                    throw new PipelineStoppedException();
                }
                catch (AggregateException e) when (e.InnerException is QfexException inner)
                {
                    throw inner;
                }
                QfexFrame? answer = answered ? ticket.AnswerTask.Result : null;
                // The answer may have been matched in the instant the wait ended: then it is the answer.
                if (!answered && session.Finish(ticket, out answer)) answered = true;
                if (!answered)
                {
                    string full = session.Buffer.IsAtHardLimit
                        ? $" The receive buffer was full ({session.Buffer.Count} frames), so the answer may be behind frames not yet read: take them with Receive-QfexFrame, or raise Connect-Qfex -ReceiveBufferCapacity."
                        : string.Empty;
                    _cmdlet.WriteQfexError(new QfexTimeoutException(ErrorIds.Timeout,
                        $"No answer to {message.Type} arrived within {TimeoutSec} s. The request was sent: check its outcome before sending it again." + full)
                    {
                        RequestOutcome = QfexRequestOutcome.SentOutcomeUnknown,
                        RequestType = message.Type,
                    }, message.ToPSObject());
                    return null;
                }
                delivered = true;
                return answer;
            }
            catch (QfexException e)
            {
                _cmdlet.WriteQfexError(e, message.ToPSObject());
                return null;
            }
            finally
            {
                // Stopped (Ctrl+C) just as the answer was matched: it goes back to the buffer, not lost.
                if (session.Finish(ticket, out QfexFrame? late) && !delivered && late != null)
                    session.ReturnFrame(late);
            }
        }

        /// <summary>The longest delay a retry waits, whatever the exchange hints (documented): past it the refusal is written.</summary>
        internal static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

        /// <summary>
        /// When an answer may be retried: RateLimited always (the exchange refused the request unprocessed;
        /// after its hint, else exponential backoff), ServerError only for read-only requests (an order might
        /// have been placed). Nothing else, ever: an order is never sent twice by a retry.
        /// </summary>
        private static TimeSpan? RetryDelay(QfexFrame answer, MessageSpec? spec, int attempt)
        {
            if (answer.Error == null) return null;
            double jitter = Transport.Jitter.Factor();
            if (answer.Error.Code == "RateLimited")
                return RetryAfterHint.Parse(answer.Error.Message) is TimeSpan hint
                    ? hint + TimeSpan.FromMilliseconds(25 * jitter)
                    : TimeSpan.FromMilliseconds(Math.Min(10_000, 250 * Math.Pow(2, attempt)) * jitter);
            if (answer.Error.Code == "ServerError" && spec?.Effect == RequestEffect.ReadOnly)
                return TimeSpan.FromMilliseconds(Math.Min(5_000, 200 * Math.Pow(2, attempt)) * jitter);
            return null;
        }

        /// <summary>An unknown type is sent (forward compatible), with the closest known type named: a typo is caught by eye.</summary>
        private static string UnknownTypeWarning(string type, QfexEndpoint endpoint)
        {
            (string closest, int distance) = MessageCatalog.Closest(type, endpoint);
            string known = endpoint == QfexEndpoint.MarketData ? "market-data request type" : "trade request type";
            return MessageCatalog.IsLikelyTypo(type, distance)
                ? $"'{type}' is not a {known} Qfex knows: did you mean {closest}? It is sent as given, without validation."
                : $"'{type}' is not a {known} Qfex knows (the closest is {closest}); it is sent as given, without validation.";
        }

        /// <summary>What the user passed, for an error's TargetObject: a copy with secret-named values masked (never their object).</summary>
        internal static object? RedactedCopy(object? value)
        {
            object? unwrapped = value is PSObject p && p.BaseObject is not PSCustomObject ? p.BaseObject : value;
            try
            {
                return unwrapped is string text ? Redaction.Clean(text, shape: TextShape.MultiLine) : PSJson.Parse(PSJson.Serialize(value, OutgoingMessage.MaxBytes), redact: true);
            }
            catch (Exception e) when (e is ArgumentException || e is JsonException)
            {
                return null;   // not representable as JSON, or over the send limit (why it was refused): show nothing rather than a secret or megabytes
            }
        }

        private static readonly string[] OrderResponsesChannel = { "order_responses" };

        /// <summary>Order answers come only on the order_responses channel: subscribe once, first.</summary>
        private bool SubscribeToOrderResponses(QfexSession session, OutgoingMessage message)
        {
            _cmdlet.WriteVerbose($"Subscribing session {session.Id} to order_responses: -Wait needs it to see the answer to {message.Type}.");
            using OutgoingMessage subscribe = OutgoingMessage.FromTypeAndParams("subscribe",
                new System.Collections.Hashtable { ["channels"] = OrderResponsesChannel });
            QfexFrame? ack = SendOnce(session, subscribe, passThru: false, TimeSpan.FromSeconds(TimeoutSec));
            if (ack != null && ack.Error == null) return true;
            if (ack != null) _cmdlet.WriteError(ErrorRecords.ForFrame(ack));
            return false;
        }

        /// <summary>The answer when it is a normal one; an error frame or an order rejection is written as its record (null).</summary>
        private QfexFrame? Accept(QfexFrame frame, OutgoingMessage message)
        {
            ErrorRecord? error = ErrorRecords.ForFrame(frame);
            if (error != null)
            {
                _cmdlet.WriteError(error);
                return null;
            }

            // The frame's Data is parsed once and kept; the status is read from it.
            object? payload = frame.Type == "order_response" ? (frame.Data as PSObject)?.Properties["order_response"]?.Value : null;
            if ((payload as PSObject)?.Properties["status"]?.Value is string status && ErrorCodeTable.IsRejection(status))
            {
                ErrorCodeInfo row = ErrorCodeTable.ForOrderStatus(status);
                _cmdlet.WriteError(ErrorRecords.For(row.Create(row, new ErrorContext(null, payload, frame.Sequence, frame.ReceivedAt)), message.ToPSObject()));
                return null;
            }
            return frame;
        }
    }
}
