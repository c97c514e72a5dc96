using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Text.Json;
using Qfex.Protocol;

namespace Qfex
{
    /// <summary>
    /// The account's leverage for one symbol, as get_user_leverage lists it (the exchange sends the leverage as a
    /// string; here it is a [decimal]). Output by Get-QfexLeverage and Set-QfexLeverage (which knows only the symbol and
    /// the leverage it set: its margins are null).
    /// </summary>
    public sealed class QfexLeverage
    {
        private QfexLeverage(JsonElement level, QfexFrame frame, QfexSession? session)
        {
            Symbol = PSJson.GetString(level, "symbol") ?? string.Empty;
            Leverage = TradingJson.Decimal(level, "leverage") ?? 0;
            InitialMargin = TradingJson.Decimal(level, "initial_margin");
            MaintenanceMargin = TradingJson.Decimal(level, "maintenance_margin");
            // Older docs call it max_position.
            MaxNotional = TradingJson.Decimal(level, "max_notional") ?? TradingJson.Decimal(level, "max_position");
            SessionId = frame.SessionId;
            Frame = frame;
            Session = session;
        }

        internal QfexLeverage(string symbol, decimal leverage, QfexFrame frame, QfexSession? session)
        {
            Symbol = symbol;
            Leverage = leverage;
            SessionId = frame.SessionId;
            Frame = frame;
            Session = session;
        }

        public string Symbol { get; }

        public decimal Leverage { get; }

        /// <summary>The initial margin rate; null when not known (Set-QfexLeverage's output).</summary>
        public decimal? InitialMargin { get; }

        /// <summary>The maintenance margin rate; null when not known.</summary>
        public decimal? MaintenanceMargin { get; }

        /// <summary>The largest notional allowed at this leverage; null when not known.</summary>
        public decimal? MaxNotional { get; }

        /// <summary>The id of the session it was read (or set) on.</summary>
        public int SessionId { get; }

        /// <summary>The frame it came from: the user_leverage_response page, or the exchange's acknowledgement of set_user_leverage.</summary>
        public QfexFrame Frame { get; }

        /// <summary>The session it was read (or set) on (hidden).</summary>
        [Hidden]
        public QfexSession? Session { get; }

        public override string ToString() => $"{Symbol} x{QfexWire.Number(Leverage)}";

        /// <summary>The leverage settings a user_leverage_response frame carries; none for any other frame.</summary>
        public static QfexLeverage[] FromFrame(QfexFrame frame) => Read(frame, null).ToArray();

        internal static List<QfexLeverage> Read(QfexFrame frame, QfexSession? session)
        {
            if (frame == null) throw new ArgumentNullException(nameof(frame));
            var levels = new List<QfexLeverage>();
            if (frame.IsMalformed || frame.IsError) return levels;
            using JsonDocument doc = JsonDocument.Parse(frame.Utf8);
            JsonElement root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("user_leverage_response", out JsonElement list) && list.ValueKind == JsonValueKind.Array)
                foreach (JsonElement level in list.EnumerateArray())
                    if (level.ValueKind == JsonValueKind.Object) levels.Add(new QfexLeverage(level, frame, session));
            return levels;
        }
    }
}
