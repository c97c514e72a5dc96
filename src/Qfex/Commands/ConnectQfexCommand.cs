using System;
using System.Linq;
using System.Management.Automation;
using System.Security;
using Qfex.Errors;
using Qfex.Protocol;
using Qfex.Transport;

namespace Qfex.Commands
{
    /// <summary>Connect-Qfex: opens a session, authenticates (trade) and makes it the runspace's default.</summary>
    // Anonymous is the default set so that a missing credential is a clear error, not a prompt that
    // hangs an unattended runbook.
    [Cmdlet(VerbsCommunications.Connect, "Qfex", DefaultParameterSetName = AnonymousSet)]
    [OutputType(typeof(QfexSession))]
    public sealed class ConnectQfexCommand : QfexCmdlet
    {
        private const string CredentialSet = "Credential";
        private const string ApiKeySet = "ApiKey";
        private const string JwtSet = "Jwt";
        private const string AnonymousSet = "Anonymous";

        /// <summary>Production or Uat. No default: nothing reaches real funds by omission (QfexNoEndpoint without it or -Uri).</summary>
        [Parameter]
        public QfexEnvironment? Environment { get; set; }

        [Parameter]
        [ValidateNotNull]
        public Uri? Uri { get; set; }

        [Parameter]
        public QfexEndpoint Endpoint { get; set; } = QfexEndpoint.Trade;

        [Parameter(Mandatory = true, ParameterSetName = CredentialSet)]
        [Credential]
        [ValidateNotNull]
        public PSCredential? Credential { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = ApiKeySet)]
        [ValidateNotNullOrEmpty]
        public string? ApiKey { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = ApiKeySet)]
        [ValidateNotNull]
        public SecureString? ApiSecret { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = JwtSet)]
        [ValidateNotNull]
        public SecureString? Jwt { get; set; }

        [Parameter]
        public Guid AccountId { get; set; }

        [Parameter]
        [ValidateRange(1, 600)]
        public int TimeoutSec { get; set; } = 10;

        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ChannelCompleter))]
        public string[]? Subscribe { get; set; }

        [Parameter]
        public SwitchParameter CancelOnDisconnect { get; set; }

        /// <summary>Market data: the symbols -Subscribe applies to ('*' = all).</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string[] Symbol { get; set; } = { "*" };

        /// <summary>Market data: candle intervals for the candle channel in -Subscribe.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ValidateSet("1MIN", "5MINS", "15MINS", "1HOUR", "4HOURS", "1DAY")]
        public string[]? Interval { get; set; }

        /// <summary>Market data: level2 aggregation to 0 (none), 1 or 2 significant figures, for the level2 channel in -Subscribe.</summary>
        [Parameter]
        [ValidateRange(0, 2)]
        public int SigFigs { get; set; }

        [Parameter]
        [ValidateRange(1000, 10_000_000)]
        public int ReceiveBufferCapacity { get; set; } = QfexSession.DefaultBufferCapacity;

        /// <summary>Do not reconnect after an unexpected drop: the session closes instead.</summary>
        [Parameter]
        public SwitchParameter NoReconnect { get; set; }

        /// <summary>Client-side rate limit: the sustained rate in weight units per second (an add_order weighs 1); 0 turns it off.</summary>
        [Parameter]
        [ValidateRange(0.0, 100_000.0)]
        public double MessagesPerSecond { get; set; } = SessionOptions.DefaultWeightPerSecond;

        /// <summary>The time constant, in seconds, of the limiter's exponential moving average; the budget is MessagesPerSecond x this.</summary>
        [Parameter]
        [ValidateRange(0.1, 600.0)]
        public double RateLimitWindowSec { get; set; } = SessionOptions.DefaultRateLimitWindowSeconds;

        /// <summary>Per-type weight overrides for the rate limiter, e.g. @{ get_user_orders = 5 }.</summary>
        [Parameter]
        [ValidateNotNull]
        [ValidateRequestWeight]
        public System.Collections.IDictionary? RequestWeight { get; set; }

        /// <summary>An HTTP proxy to connect through (wss only). Without it no proxy is used, whatever the environment says.</summary>
        [Parameter]
        [ValidateNotNull]
        public Uri? Proxy { get; set; }

        /// <summary>Silence, in seconds, after which the connection is presumed dead and replaced; 0 turns the watchdog off.</summary>
        [Parameter]
        [ValidateRange(0, 3600)]
        public int IdleTimeoutSec { get; set; } = 60;

        /// <summary>Writes a transcript of the session to this file (JSON Lines, secrets masked); replaced if it exists.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? RecordPath { get; set; }

        protected override void EndProcessing()
        {
            if (Replaying) return;
            bool hasUri = MyInvocation.BoundParameters.ContainsKey(nameof(Uri));
            bool hasEnvironment = MyInvocation.BoundParameters.ContainsKey(nameof(Environment));
            if (hasUri && hasEnvironment)
                ThrowQfexError(new QfexException(ErrorIds.ConflictingParameters, ErrorCategory.InvalidArgument,
                    "Use -Uri or -Environment, not both: -Uri names the endpoint exactly."), Uri);
            if (!hasUri && !hasEnvironment)
                ThrowQfexError(new QfexException(ErrorIds.NoEndpoint, ErrorCategory.InvalidArgument,
                    "Say which exchange to connect to: -Environment Uat|Production (Uat is the test exchange, Production has real funds), " +
                    "or -Uri <wss://...>. There is no default, so nothing reaches real funds by omission. To choose one for every call, set " +
                    "$PSDefaultParameterValues['Connect-Qfex:Environment'] = 'Uat'."), null);
            string[] intervals = CheckMarketDataOptions();

            // An address with user information is refused by the connector without being repeated (it may hold a password).
            if (Uri != null && !(Uri.IsAbsoluteUri && !string.IsNullOrEmpty(Uri.UserInfo)) && (!Uri.IsAbsoluteUri || !Endpoints.IsWebSocketScheme(Uri)))
            {
                bool mayHoldSecret = Uri.OriginalString.IndexOf('@') >= 0;
                ThrowQfexError(new QfexException(ErrorIds.InvalidUri, ErrorCategory.InvalidArgument, mayHoldSecret
                    ? "The -Uri given is not a WebSocket address (it is not repeated: it has an '@', which may hold a password): use wss://host, for example wss://trade.qfex.com."
                    : $"'{Uri.OriginalString}' is not a WebSocket address: use wss://host, for example {SuggestedUri(Uri)} (ws:// only to a loopback address)."),
                    mayHoldSecret ? null : Uri);
            }

            QfexCredentials? credentials = ParameterSetName switch
            {
                CredentialSet => QfexCredentials.Hmac(Credential!.UserName, Credential.Password),
                ApiKeySet => QfexCredentials.Hmac(ApiKey!, ApiSecret!),
                JwtSet => QfexCredentials.FromJwt(Jwt!),
                _ => null,
            };

            if (Endpoint == QfexEndpoint.Trade && credentials == null)
                ThrowQfexError(new QfexAuthenticationException(
                    "The trade endpoint needs credentials: -Credential, -ApiKey with -ApiSecret, or -Jwt. Only -Endpoint MarketData connects without them."), null);
            if (Endpoint == QfexEndpoint.MarketData && credentials != null)
                WriteWarning("The market-data endpoint takes no credentials; they are not sent.");
            if (Proxy != null && (Uri ?? Endpoints.For(Environment!.Value, Endpoint)) is Uri target && Endpoints.IsLoopback(target))
                ThrowQfexError(new QfexException(ErrorIds.ConflictingParameters, ErrorCategory.InvalidArgument,
                    "-Proxy is never used for a loopback address: the connection stays on this machine."), null);
            if (Endpoint == QfexEndpoint.MarketData && CancelOnDisconnect)
                ThrowQfexError(new QfexException(ErrorIds.ConflictingParameters, ErrorCategory.InvalidArgument,
                    "-CancelOnDisconnect applies to the trade endpoint only."), null);

            var weights = new System.Collections.Generic.Dictionary<string, double>(StringComparer.Ordinal);
            if (RequestWeight != null)
                foreach (System.Collections.DictionaryEntry entry in RequestWeight)
                    weights[entry.Key.ToString()!] = ValidateRequestWeightAttribute.Weight(entry.Value)!.Value;

            var options = new SessionOptions
            {
                Uri = hasUri ? Uri! : Endpoints.For(Environment!.Value, Endpoint),
                Endpoint = Endpoint,
                Credentials = Endpoint == QfexEndpoint.Trade ? credentials : null,
                AccountId = MyInvocation.BoundParameters.ContainsKey(nameof(AccountId)) ? AccountId : (Guid?)null,
                Timeout = TimeSpan.FromSeconds(TimeoutSec),
                Subscribe = Subscribe ?? Array.Empty<string>(),
                Symbols = Symbol,
                Intervals = intervals,
                SigFigs = MyInvocation.BoundParameters.ContainsKey(nameof(SigFigs)) ? SigFigs : (int?)null,
                CancelOnDisconnect = CancelOnDisconnect,
                BufferCapacity = ReceiveBufferCapacity,
                Reconnect = !NoReconnect,
                WeightPerSecond = MessagesPerSecond,
                RateLimitWindow = TimeSpan.FromSeconds(RateLimitWindowSec),
                WeightOverrides = weights,
                IdleTimeout = TimeSpan.FromSeconds(IdleTimeoutSec),
                Proxy = Proxy,
                RecordPath = RecordPath == null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(RecordPath),
            };

            SessionOptionHooks.Apply(options);
            var log = new DeferredLog();
            QfexSession session;
            try
            {
                session = Await(SessionConnector.ConnectAsync(options, log.Add, StopToken));
            }
            catch (QfexException e)
            {
                log.WriteTo(this);
                // A subscription the exchange refused: its error frame's record, with the echoed subscribe as target.
                ThrowQfexError(e, e is QfexServerErrorException refused ? refused.Incoming
                    : e is QfexInsecureUriException || e.ErrorId == ErrorIds.ConnectFailed ? options.Uri : null);
                return;
            }
            log.WriteTo(this);
            SessionRegistry.Add(session);
            WriteObject(session);
        }

        /// <summary>The address the user probably meant: trade.qfex.com and https://trade.qfex.com become wss://trade.qfex.com.</summary>
        private static string SuggestedUri(Uri uri)
        {
            if (uri.IsAbsoluteUri && !string.IsNullOrEmpty(uri.Authority))
                return "wss://" + uri.Authority + (uri.PathAndQuery == "/" ? string.Empty : uri.PathAndQuery);
            string text = uri.OriginalString.Trim();
            return "wss://" + (text.StartsWith("//", StringComparison.Ordinal) ? text.Substring(2) : text);
        }

        /// <summary>
        /// -Subscribe names channels of the endpoint (an unknown one fails before connecting, naming the valid ones);
        /// -Interval and -SigFigs go with the market-data channels they apply to. Returns the intervals, upper case.
        /// </summary>
        private string[] CheckMarketDataOptions()
        {
            var channels = MessageCatalog.ChannelsFor(Endpoint);
            string[] subscribe = Subscribe ?? Array.Empty<string>();
            string[] unknown = subscribe.Where(c => !channels.Contains(c, StringComparer.Ordinal)).ToArray();
            if (unknown.Length > 0)
            {
                QfexEndpoint other = Endpoint == QfexEndpoint.Trade ? QfexEndpoint.MarketData : QfexEndpoint.Trade;
                string[] elsewhere = unknown.Where(c => MessageCatalog.ChannelsFor(other).Contains(c, StringComparer.Ordinal)).ToArray();
                ThrowQfexError(new QfexInvalidMessageException(
                    $"Not connected: -Subscribe {string.Join(", ", unknown)} {(unknown.Length == 1 ? "is not a channel" : "are not channels")} of the {Endpoint} endpoint. " +
                    $"Its channels are {string.Join(", ", channels)}." +
                    (elsewhere.Length > 0 ? $" {string.Join(", ", elsewhere)} {(elsewhere.Length == 1 ? "is a channel" : "are channels")} of the {other} endpoint (-Endpoint {other})." : "")),
                    Subscribe);
            }

            bool hasSigFigs = MyInvocation.BoundParameters.ContainsKey(nameof(SigFigs));
            if (Endpoint == QfexEndpoint.Trade && (Interval != null || hasSigFigs))
                ThrowQfexError(new QfexException(ErrorIds.ConflictingParameters, ErrorCategory.InvalidArgument,
                    "-Interval and -SigFigs apply to the MarketData endpoint only (the candle and level2 channels)."), null);
            if (Interval != null && !subscribe.Contains("candle", StringComparer.Ordinal))
                ThrowQfexError(new QfexException(ErrorIds.ConflictingParameters, ErrorCategory.InvalidArgument,
                    "-Interval applies to the candle channel: add candle to -Subscribe."), Interval);
            if (hasSigFigs && !subscribe.Contains("level2", StringComparer.Ordinal))
                ThrowQfexError(new QfexException(ErrorIds.ConflictingParameters, ErrorCategory.InvalidArgument,
                    "-SigFigs applies to the level2 channel: add level2 to -Subscribe."), SigFigs);
            // ValidateSet accepts any case; the exchange matches the intervals exactly.
            return (Interval ?? Array.Empty<string>())
                .Select(i => MessageCatalog.Intervals.First(known => string.Equals(known, i, StringComparison.OrdinalIgnoreCase)))
                .Distinct(StringComparer.Ordinal).ToArray();
        }
    }

    /// <summary>-RequestWeight: request type names mapped to weights >= 0.</summary>
    internal sealed class ValidateRequestWeightAttribute : ValidateArgumentsAttribute
    {
        internal static double? Weight(object? value)
        {
            object? v = value is PSObject p ? p.BaseObject : value;
            return v != null && double.TryParse(Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture),
                System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double w) && w >= 0 && !double.IsInfinity(w)
                ? w : (double?)null;
        }

        protected override void Validate(object arguments, EngineIntrinsics engineIntrinsics)
        {
            if (!(arguments is System.Collections.IDictionary weights)) return;
            foreach (System.Collections.DictionaryEntry entry in weights)
                if (string.IsNullOrEmpty(entry.Key?.ToString()) || Weight(entry.Value) == null)
                    throw new ValidationMetadataException(
                        $"-RequestWeight maps request types to weights >= 0, e.g. @{{ get_user_orders = 5 }}; '{entry.Key}' = '{entry.Value}' is not one.");
        }
    }
}
