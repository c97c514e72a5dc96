using System;
using System.Collections.Generic;
using System.Globalization;
using System.Management.Automation;
using System.Text;
using System.Text.Json;
using Qfex.Protocol;

namespace Qfex
{
    /// <summary>
    /// One order as the exchange last described it (an order_response, or an entry of all_orders_response), typed:
    /// numbers as [decimal], the closed sets as enums, the update time as UTC. The frame it came from is
    /// <see cref="Frame"/>, for the fields not modelled here (user_id, trade_id, ...). Output by New-QfexOrder,
    /// Get-QfexOrder, Set-QfexOrder, Stop-QfexOrder and Close-QfexPosition; its OrderId, Symbol, Side, OrderType and
    /// Session bind by property name to Set-QfexOrder and Stop-QfexOrder.
    /// </summary>
    public sealed class QfexOrder
    {
        private QfexOrder(JsonElement order, QfexFrame frame, QfexSession? session)
        {
            // A stop_order_response names its fields differently: stop_order_id, direction, stop_order_type.
            OrderId = PSJson.GetString(order, "order_id") ?? PSJson.GetString(order, "stop_order_id") ?? string.Empty;
            string? clientOrderId = PSJson.GetString(order, "client_order_id");
            ClientOrderId = string.IsNullOrEmpty(clientOrderId) ? null : clientOrderId;
            Symbol = PSJson.GetString(order, "symbol") ?? string.Empty;
            Side = QfexWire.Parse<QfexSide>(PSJson.GetString(order, "side") ?? PSJson.GetString(order, "direction"));
            OrderType = QfexWire.Parse<QfexOrderType>(PSJson.GetString(order, "type") ?? PSJson.GetString(order, "order_type") ?? PSJson.GetString(order, "stop_order_type"));
            TimeInForce = QfexWire.Parse<QfexTimeInForce>(PSJson.GetString(order, "time_in_force") ?? PSJson.GetString(order, "order_time_in_force"));
            Quantity = TradingJson.Decimal(order, "quantity") ?? 0;
            QuantityRemaining = TradingJson.Decimal(order, "quantity_remaining") ?? 0;
            Price = TradingJson.Decimal(order, "price") ?? 0;
            TakeProfit = TradingJson.Decimal(order, "take_profit") ?? 0;
            StopLoss = TradingJson.Decimal(order, "stop_loss") ?? 0;
            Status = QfexWire.Parse<QfexOrderStatus>(PSJson.GetString(order, "status")) ?? QfexOrderStatus.Unknown;
            UpdatedAt = TradingJson.Time(order, "update_time") ?? frame.ReceivedAt;
            SessionId = frame.SessionId;
            Frame = frame;
            Session = session;
        }

        /// <summary>The exchange's id of the order (a UUID). A modify may give the order a new one.</summary>
        public string OrderId { get; }

        /// <summary>The client's id of the order (Qfex sets one on every order it places); null when the order has none.</summary>
        public string? ClientOrderId { get; }

        public string Symbol { get; }

        public QfexSide? Side { get; }

        public QfexOrderType? OrderType { get; }

        public QfexTimeInForce? TimeInForce { get; }

        public decimal Quantity { get; }

        /// <summary>What is still to fill: 0 once FILLED whole (a FILLED order with more than 0 left was filled in part).</summary>
        public decimal QuantityRemaining { get; }

        /// <summary>The limit price, or a stop order's trigger price; 0 for a MARKET order.</summary>
        public decimal Price { get; }

        /// <summary>The bracket take-profit price; 0 = unused.</summary>
        public decimal TakeProfit { get; }

        /// <summary>The bracket stop-loss price; 0 = unused.</summary>
        public decimal StopLoss { get; }

        public QfexOrderStatus Status { get; }

        /// <summary>When the exchange last changed the order (its update_time, UTC); when it sent none, when the frame arrived.</summary>
        public DateTime UpdatedAt { get; }

        /// <summary>The id of the session the order was read on.</summary>
        public int SessionId { get; }

        /// <summary>The frame the order was read from (an order_response, or the all_orders_response page that listed it).</summary>
        public QfexFrame Frame { get; }

        /// <summary>
        /// The session the order was read on, so a piped order binds -Session by property name and is changed or cancelled
        /// on the session (and account) that knows it. Hidden from Format-List and Get-Member; null for an order made by
        /// <see cref="FromFrame"/>.
        /// </summary>
        [Hidden]
        public QfexSession? Session { get; }

        /// <summary>The order in one line, as -WhatIf shows it: "BUY 1 AAPL-USD LIMIT 200 GTC".</summary>
        public override string ToString() =>
            OrderSummary.Format(Side, Quantity, Symbol, OrderType, Price, TimeInForce, TakeProfit, StopLoss, reduceOnly: false);

        /// <summary>
        /// The orders a frame carries: the one of an order_response (or a stop_order_response), or those of an all_orders_response (its stop_orders
        /// and twaps are not orders of this kind: read them from the frame). None for any other frame. For runbook tests:
        /// <c>[Qfex.QfexOrder]::FromFrame((New-QfexFrame -Type order_response -Data @{ ... }))</c>.
        /// </summary>
        public static QfexOrder[] FromFrame(QfexFrame frame) => Read(frame, null).ToArray();

        internal static List<QfexOrder> Read(QfexFrame frame, QfexSession? session)
        {
            if (frame == null) throw new ArgumentNullException(nameof(frame));
            var orders = new List<QfexOrder>();
            if (frame.IsMalformed || frame.IsError) return orders;
            using JsonDocument doc = JsonDocument.Parse(frame.Utf8);
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return orders;
            if (root.TryGetProperty("order_response", out JsonElement one) && one.ValueKind == JsonValueKind.Object)
                orders.Add(new QfexOrder(one, frame, session));
            if (root.TryGetProperty("stop_order_response", out JsonElement stop) && stop.ValueKind == JsonValueKind.Object)
                orders.Add(new QfexOrder(stop, frame, session));
            if (root.TryGetProperty("all_orders_response", out JsonElement all) && all.ValueKind == JsonValueKind.Object
                && all.TryGetProperty("orders", out JsonElement list) && list.ValueKind == JsonValueKind.Array)
                foreach (JsonElement order in list.EnumerateArray())
                    if (order.ValueKind == JsonValueKind.Object) orders.Add(new QfexOrder(order, frame, session));
            return orders;
        }
    }

    /// <summary>The one-line order summary of -WhatIf and QfexOrder.ToString(): "BUY 1 AAPL-USD LIMIT 200 GTC".</summary>
    internal static class OrderSummary
    {
        internal static string Format(QfexSide? side, decimal quantity, string symbol, QfexOrderType? type, decimal? price, QfexTimeInForce? timeInForce,
            decimal? takeProfit, decimal? stopLoss, bool reduceOnly)
        {
            var text = new StringBuilder();
            text.Append(side is QfexSide s ? QfexWire.Of(s) : "?").Append(' ').Append(QfexWire.Number(quantity)).Append(' ').Append(symbol);
            text.Append(' ').Append(type is QfexOrderType t ? QfexWire.Of(t) : "?");
            if (price is decimal p && p != 0) text.Append(' ').Append(QfexWire.Number(p));
            if (timeInForce is QfexTimeInForce tif) text.Append(' ').Append(QfexWire.Of(tif));
            if (takeProfit is decimal tp && tp != 0) text.Append(" TP ").Append(QfexWire.Number(tp));
            if (stopLoss is decimal sl && sl != 0) text.Append(" SL ").Append(QfexWire.Number(sl));
            if (reduceOnly) text.Append(" REDUCE-ONLY");
            return text.ToString();
        }
    }

    /// <summary>Reading the trade socket's numbers and times: JSON numbers (or numeric strings) as decimal, times as UTC.</summary>
    internal static class TradingJson
    {
        private const long UnixEpochTicks = 621_355_968_000_000_000;

        /// <summary>
        /// A number, or a string holding one (leverage is sent as "20"); null when absent, null or not a number. Without
        /// trailing zeros (200.0 reads as 200, 0.0500 as 0.05): the same value, shown as a person writes it.
        /// </summary>
        internal static decimal? Decimal(JsonElement obj, string name) => Normalize(RawDecimal(obj, name));

        private static decimal? Normalize(decimal? value) => value is decimal d ? d / 1.0000000000000000000000000000m : (decimal?)null;

        private static decimal? RawDecimal(JsonElement obj, string name)
        {
            if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out JsonElement value)) return null;
            if (value.ValueKind == JsonValueKind.Number)
            {
                if (value.TryGetDecimal(out decimal d)) return d;
                return value.TryGetDouble(out double f) && !double.IsInfinity(f) && Math.Abs(f) < 7.9e28 ? (decimal)f : (decimal?)null;
            }
            if (value.ValueKind == JsonValueKind.String
                && decimal.TryParse(value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out decimal parsed))
                return parsed;
            return null;
        }

        /// <summary>Unix seconds (with a fraction; a number or a numeric string) or an ISO 8601 date-time string, as UTC.</summary>
        internal static DateTime? Time(JsonElement obj, string name)
        {
            if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out JsonElement value)) return null;
            if (Decimal(obj, name) is decimal seconds)
            {
                // Past 1e11 seconds (the year 5138) it is a unix time in milliseconds.
                if (seconds > 100_000_000_000m) seconds /= 1000m;
                decimal ticks = UnixEpochTicks + decimal.Round(seconds * TimeSpan.TicksPerSecond);
                return ticks < 0 || ticks > DateTime.MaxValue.Ticks ? null : new DateTime((long)ticks, DateTimeKind.Utc);
            }
            if (value.ValueKind == JsonValueKind.String
                && DateTimeOffset.TryParse(value.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset when))
                return when.UtcDateTime;
            return null;
        }
    }
}
