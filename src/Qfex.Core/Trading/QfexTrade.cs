using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Text.Json;
using Qfex.Protocol;

namespace Qfex
{
    /// <summary>
    /// One of the account's trades (a fill of one of its orders), as get_user_trades lists them, typed: numbers as
    /// [decimal], the closed sets as enums, the time as UTC. The frame it came from is <see cref="Frame"/>. Output by
    /// Get-QfexTrade.
    /// </summary>
    public sealed class QfexTrade
    {
        private QfexTrade(JsonElement trade, QfexFrame frame, QfexSession? session)
        {
            TradeId = PSJson.GetString(trade, "trade_id") ?? string.Empty;
            OrderId = PSJson.GetString(trade, "order_id") ?? string.Empty;
            string? clientOrderId = PSJson.GetString(trade, "client_order_id");
            ClientOrderId = string.IsNullOrEmpty(clientOrderId) ? null : clientOrderId;
            Symbol = PSJson.GetString(trade, "symbol") ?? string.Empty;
            // The docs' example names the side aggressor_side; the AsyncAPI and the CLI say side.
            Side = QfexWire.Parse<QfexSide>(PSJson.GetString(trade, "side") ?? PSJson.GetString(trade, "aggressor_side"));
            OrderType = QfexWire.Parse<QfexOrderType>(PSJson.GetString(trade, "order_type"));
            TimeInForce = QfexWire.Parse<QfexTimeInForce>(PSJson.GetString(trade, "tif") ?? PSJson.GetString(trade, "time_in_force"));
            Price = TradingJson.Decimal(trade, "price") ?? 0;
            Quantity = TradingJson.Decimal(trade, "quantity") ?? 0;
            Fee = TradingJson.Decimal(trade, "fee") ?? 0;
            ExecutedAt = TradingJson.Time(trade, "timestamp") ?? frame.ReceivedAt;
            SessionId = frame.SessionId;
            Frame = frame;
            Session = session;
        }

        public string TradeId { get; }

        /// <summary>The exchange's id of the order that filled.</summary>
        public string OrderId { get; }

        /// <summary>The client's id of the order that filled; null when it had none.</summary>
        public string? ClientOrderId { get; }

        public string Symbol { get; }

        public QfexSide? Side { get; }

        public QfexOrderType? OrderType { get; }

        public QfexTimeInForce? TimeInForce { get; }

        public decimal Price { get; }

        public decimal Quantity { get; }

        public decimal Fee { get; }

        /// <summary>When the trade happened (its timestamp, UTC); when the exchange sent none, when the frame arrived.</summary>
        public DateTime ExecutedAt { get; }

        /// <summary>The id of the session the trade was read on.</summary>
        public int SessionId { get; }

        /// <summary>The frame (the user_trades_response page) the trade was read from.</summary>
        public QfexFrame Frame { get; }

        /// <summary>The session the trade was read on (hidden; null for a trade made by <see cref="FromFrame"/>).</summary>
        [Hidden]
        public QfexSession? Session { get; }

        public override string ToString() =>
            $"{(Side is QfexSide s ? QfexWire.Of(s) : "?")} {QfexWire.Number(Quantity)} {Symbol} @ {QfexWire.Number(Price)}";

        /// <summary>The trades a user_trades_response frame (or the docs' user_trades shape) carries; none for any other frame.</summary>
        public static QfexTrade[] FromFrame(QfexFrame frame) => Read(frame, null).ToArray();

        internal static List<QfexTrade> Read(QfexFrame frame, QfexSession? session)
        {
            if (frame == null) throw new ArgumentNullException(nameof(frame));
            var trades = new List<QfexTrade>();
            if (frame.IsMalformed || frame.IsError) return trades;
            using JsonDocument doc = JsonDocument.Parse(frame.Utf8);
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return trades;
            JsonElement list = default;
            if (root.TryGetProperty("user_trades_response", out JsonElement response))
            {
                // The AsyncAPI's shape is an array; an object holding user_trades is read as well.
                list = response.ValueKind == JsonValueKind.Object && response.TryGetProperty("user_trades", out JsonElement inner) ? inner : response;
            }
            else if (root.TryGetProperty("user_trades", out JsonElement docsShape))
            {
                list = docsShape;
            }
            if (list.ValueKind == JsonValueKind.Array)
                foreach (JsonElement trade in list.EnumerateArray())
                    if (trade.ValueKind == JsonValueKind.Object) trades.Add(new QfexTrade(trade, frame, session));
            return trades;
        }
    }
}
