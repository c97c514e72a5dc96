using System;
using System.Net;

namespace Qfex
{
    public enum QfexEnvironment
    {
        Production,
        Uat,
    }

    public enum QfexEndpoint
    {
        Trade,
        MarketData,
    }
}

namespace Qfex.Protocol
{
    /// <summary>The exchange's socket addresses, and the rule that keeps secrets off clear-text sockets.</summary>
    internal static class Endpoints
    {
        internal static Uri For(QfexEnvironment environment, QfexEndpoint endpoint)
        {
            string domain = environment == QfexEnvironment.Uat ? "qfex.io" : "qfex.com";
            string host = endpoint == QfexEndpoint.MarketData ? "mds" : "trade";
            return new Uri($"wss://{host}.{domain}/");
        }

        /// <summary>ws:// is allowed only to loopback: secrets never cross a network in clear text.</summary>
        internal static bool IsAllowed(Uri uri) =>
            string.Equals(uri.Scheme, "wss", StringComparison.OrdinalIgnoreCase)
            || (string.Equals(uri.Scheme, "ws", StringComparison.OrdinalIgnoreCase) && IsLoopback(uri));

        internal static bool IsWebSocketScheme(Uri uri) =>
            string.Equals(uri.Scheme, "wss", StringComparison.OrdinalIgnoreCase) || string.Equals(uri.Scheme, "ws", StringComparison.OrdinalIgnoreCase);

        internal static bool IsLoopback(Uri uri)
        {
            if (uri.IsLoopback) return true;
            string host = uri.DnsSafeHost;
            return IPAddress.TryParse(host, out IPAddress? address) && IPAddress.IsLoopback(address);
        }
    }
}
