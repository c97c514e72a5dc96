using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Security;
using System.Text;
using System.Threading.Tasks;

namespace Qfex
{
    public sealed partial class QfexTestServer
    {
        /// <summary>The transcript this server serves (Start-QfexTestServer -Replay), or null for the ordinary fake exchange.</summary>
        public QfexTestServerReplay? Replay { get; private set; }

        /// <summary>
        /// Starts a server that serves a transcript instead of answering plausibly: clients authenticate with this
        /// server's own credential, then each request gets the recorded answers of the matching recorded request
        /// (see <see cref="QfexTestServerReplay"/>). Load the transcript first with <see cref="QfexTestServerReplay.Load"/>.
        /// </summary>
        public static QfexTestServer Start(QfexTestServerReplay replay, int port = 0, string? apiKey = null, SecureString? apiSecret = null)
        {
            if (replay == null)
                throw new ArgumentNullException(nameof(replay));
            return StartCore(port, apiKey, apiSecret, replay);
        }

        /// <summary>A client connection is ready (authenticated trade, or upgraded market data): it replays the next recorded connection.</summary>
        private Task ReplayConnectionReadyAsync(QfexTestServerConnection connection)
        {
            QfexTestServerReplay? replay = Replay;
            if (replay == null || (replay.Endpoint == QfexEndpoint.MarketData) != connection.IsMarketData)
                return Task.CompletedTask;
            QfexTestServerReplay.Anchor? anchor = replay.NextConnection();
            return anchor == null ? Task.CompletedTask : PlayAsync(connection, anchor.Steps, replay);
        }

        private async Task ReplayRequestAsync(QfexTestServerConnection connection, Request request)
        {
            QfexTestServerReplay replay = Replay!;
            SortedDictionary<string, string> parameters = QfexTestServerReplay.CanonicalParams(request.Root);
            switch (replay.Match(request.Type, parameters, out QfexTestServerReplay.RecordedRequest? recorded, out string? reason))
            {
                case QfexTestServerReplay.Outcome.Matched:
                    await PlayAsync(connection, recorded!.Steps, replay).ConfigureAwait(false);
                    return;
                case QfexTestServerReplay.Outcome.Repeated:
                    await PlayAsync(connection, recorded!.Steps.Where(s => s.Answer).ToList(), replay).ConfigureAwait(false);
                    return;
                case QfexTestServerReplay.Outcome.Probe:
                    // The idle watchdog's probe: recordings leave it out, and a replay answers it like the exchange.
                    await SendKeyedArrayAsync(connection, "user_leverage_response").ConfigureAwait(false);
                    return;
                default:
                    replay.AddUnmatched(new QfexReplayMismatch(connection.Id, DateTime.UtcNow, request.Type,
                        ParamsAsPSValue(request.Echo), request.Echo.GetRawText(), reason!));
                    await SendErrorAsync(connection, ReplayUnmatchedCode, "Replay: " + reason, request.Echo).ConfigureAwait(false);
                    return;
            }
        }

        /// <summary>The error code of the error frame a replay answers a request the transcript lacks with.</summary>
        internal const string ReplayUnmatchedCode = "ReplayUnmatched";

        /// <summary>
        /// Sends recorded frames (and drops) in order: at once, inside the request's handling, so they precede the
        /// next request's; or at the recorded pace after now, in the background.
        /// </summary>
        private static Task PlayAsync(QfexTestServerConnection connection, List<QfexTestServerReplay.Step> steps, QfexTestServerReplay replay)
        {
            if (steps.Count == 0) return Task.CompletedTask;
            if (!replay.Paced) return SendStepsAsync(connection, steps, replay, null);
            _ = SendStepsAsync(connection, steps, replay, Stopwatch.StartNew());
            return Task.CompletedTask;
        }

        private static async Task SendStepsAsync(QfexTestServerConnection connection, List<QfexTestServerReplay.Step> steps, QfexTestServerReplay replay, Stopwatch? clock)
        {
            try
            {
                foreach (QfexTestServerReplay.Step step in steps)
                {
                    if (clock != null)
                    {
                        double wait = step.DelayMs - clock.Elapsed.TotalMilliseconds;
                        if (wait >= 1) await Task.Delay(TimeSpan.FromMilliseconds(wait), connection.Ended).ConfigureAwait(false);
                    }
                    if (connection.Ended.IsCancellationRequested) return;
                    if (step.Drop)
                    {
                        // The recorded connection was lost here and the session reconnected: so does this one.
                        // An end of stream without a close frame (FIN, not RST: the client still reads what came before).
                        connection.Drop(reset: false);
                        return;
                    }
                    byte[] payload = Encoding.UTF8.GetBytes(replay.Rewrite(step.Text!));
                    if (!await connection.Socket.SendFrameAsync(QfexTestServerOpcode.Text, payload, 0, payload.Length).ConfigureAwait(false))
                        return;
                }
            }
            catch (Exception ex) when (WsServerSocket.IsConnectionFault(ex) || ex is OperationCanceledException)
            {
                // The connection ended: what it would have been sent goes with it.
            }
        }
    }
}
