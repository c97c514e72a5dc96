using System;
using System.Collections.Generic;
using System.Security;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>How to authenticate a trade session; holds secrets only as SecureString, and never shows them.</summary>
    internal sealed class QfexCredentials
    {
        private QfexCredentials(string? publicKey, SecureString? secret, SecureString? jwt)
        {
            PublicKey = publicKey;
            Secret = secret;
            Jwt = jwt;
            RateLimitKey = jwt != null ? HmacAuth.JwtAccountKey(jwt) : "key:" + publicKey;
        }

        internal string? PublicKey { get; }
        internal SecureString? Secret { get; }
        internal SecureString? Jwt { get; }

        /// <summary>
        /// Whose rate limit the session counts against (the exchange counts per user): the public key, or a JWT's
        /// subject (a hash of the token when it has none). Never a secret.
        /// </summary>
        internal string RateLimitKey { get; }

        internal static QfexCredentials Hmac(string publicKey, SecureString secret) => new QfexCredentials(publicKey, secret.Copy(), null);
        internal static QfexCredentials FromJwt(SecureString jwt) => new QfexCredentials(null, null, jwt.Copy());

        /// <summary>
        /// A fresh auth request (new nonce and timestamp every call). It carries the signature: send it, never log it.
        /// <paramref name="secrets"/> keeps its nonce and signature (until the next request or the session's close) to mask them.
        /// </summary>
        internal string BuildAuthMessage(Guid? accountId, SessionSecrets? secrets = null) =>
            Jwt != null ? HmacAuth.BuildJwtMessage(Jwt, accountId)
            : HmacAuth.BuildHmacMessage(PublicKey!, Secret!, accountId, DateTimeOffset.UtcNow, secrets == null ? null : secrets.Sent);

        public override string ToString() => Jwt != null ? "JWT credentials" : $"HMAC credentials for {PublicKey}";
    }

    /// <summary>Everything a session needs to connect, and to connect again after a drop.</summary>
    internal sealed class SessionOptions
    {
        /// <summary>The published limit: 12,000 weight units per 60 s = 200 per second, averaged over 60 s.</summary>
        internal const double DefaultWeightPerSecond = RateLimits.PublishedBudget / RateLimits.PublishedWindowSeconds;
        internal const double DefaultRateLimitWindowSeconds = RateLimits.PublishedWindowSeconds;

        internal Uri Uri { get; set; } = null!;
        internal QfexEndpoint Endpoint { get; set; }
        internal QfexCredentials? Credentials { get; set; }
        internal Guid? AccountId { get; set; }
        internal TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
        internal IReadOnlyList<string> Subscribe { get; set; } = Array.Empty<string>();
        /// <summary>Market data only: the symbols the channels are for ("*" = all).</summary>
        internal IReadOnlyList<string> Symbols { get; set; } = new[] { "*" };
        /// <summary>Market data only: candle intervals for the candle channel (none: the exchange's default).</summary>
        internal IReadOnlyList<string> Intervals { get; set; } = Array.Empty<string>();
        /// <summary>Market data only: level2 aggregation (null: the exchange's default, none).</summary>
        internal int? SigFigs { get; set; }
        internal bool CancelOnDisconnect { get; set; }
        internal const int DefaultBufferCapacity = 25_000;
        internal const int DefaultMaxFrameBytes = 4 * 1024 * 1024;

        internal int BufferCapacity { get; set; } = DefaultBufferCapacity;

        /// <summary>The bytes pending frames may hold, on top of the frame count (see FrameBuffer.DefaultByteBudget).</summary>
        internal long BufferBytes { get; set; } = FrameBuffer.DefaultByteBudget;

        /// <summary>A proxy the user asked for (Connect-Qfex -Proxy); null: none, whatever the environment says.</summary>
        internal Uri? Proxy { get; set; }
        internal int MaxFrameBytes { get; set; } = DefaultMaxFrameBytes;
        internal bool Reconnect { get; set; } = true;
        internal int MaxReconnectAttempts { get; set; } = 10;
        internal TimeSpan ReconnectBaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);
        internal TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);
        /// <summary>Silence after which the socket is presumed dead (a trade session probes at half of it). Zero: off.</summary>
        internal TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);
        /// <summary>Client-side rate limit: the sustained rate in weight units per second (an add_order weighs 1). Zero: off.</summary>
        internal double WeightPerSecond { get; set; } = DefaultWeightPerSecond;
        /// <summary>The moving average's time constant; the budget is WeightPerSecond x this.</summary>
        internal TimeSpan RateLimitWindow { get; set; } = TimeSpan.FromSeconds(DefaultRateLimitWindowSeconds);
        internal IDictionary<string, double> WeightOverrides { get; set; } = new Dictionary<string, double>(StringComparer.Ordinal);

        /// <summary>The clock the supervisor's delays and timers run on (a fake one in the unit tests).</summary>
        internal TimeProvider Clock { get; set; } = TimeProvider.System;

        /// <summary>The spread of backoff delays, a factor in [0.5, 1.5) (fixed in the unit tests).</summary>
        internal Func<double> JitterFactor { get; set; } = Jitter.Factor;

        /// <summary>Where to write the session's transcript (a full path), or null: Connect-Qfex -RecordPath.</summary>
        internal string? RecordPath { get; set; }

        /// <summary>An offline stand-in (New-QfexTestSession): it never has a connection, so it never sends.</summary>
        internal bool Offline { get; set; }

        /// <summary>For tests: receive with the ArraySegment overload (Windows PowerShell's) even where the Memory one exists.</summary>
        internal bool ForceArraySegmentReceive { get; set; }

        /// <summary>How many orders, trades or leverage settings the trading cmdlets ask for per page (the exchange's default limit).</summary>
        internal int PageSize { get; set; } = 1000;
    }
}
