using System;
using System.Collections.Generic;
using System.Text.Json;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>
    /// The client_order_id of each order_id the session has seen in an order_response or an all_orders_response
    /// (bounded: the newest 10,000), so modify_order -Wait can recognise its answer when the exchange assigns
    /// the order a new order_id; and what each of those orders is (its one-line summary, for the -WhatIf of
    /// Set-QfexOrder and Stop-QfexOrder), and the symbols they were for (tab completion). Safe between threads.
    /// </summary>
    internal sealed class OrderIndex
    {
        internal const int Capacity = 10_000;
        private readonly object _gate = new object();
        private readonly Dictionary<string, string> _clientIds = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        private readonly Dictionary<string, string> _summaries = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        private readonly Queue<string> _order = new Queue<string>();

        internal OrderIndex(SymbolIndex? symbols = null) => Symbols = symbols ?? new SymbolIndex();

        /// <summary>The symbols of the orders seen (and of what the session sent: see <see cref="SymbolIndex"/>).</summary>
        internal SymbolIndex Symbols { get; }

        /// <summary>The one-line summary of an order the session saw ("BUY 1 AAPL-USD LIMIT 200 GTC"), or null.</summary>
        internal string? SummaryOf(string orderId)
        {
            lock (_gate) return _summaries.TryGetValue(orderId, out string? summary) ? summary : null;
        }

        /// <summary>The client_order_id last seen for an order_id, or null.</summary>
        internal string? ClientIdOf(string orderId)
        {
            lock (_gate) return _clientIds.TryGetValue(orderId, out string? id) ? id : null;
        }

        /// <summary>Indexes an order frame; other frames cost one string comparison.</summary>
        internal void Track(QfexFrame frame)
        {
            if (frame.Type != "order_response" && frame.Type != "all_orders_response") return;
            try
            {
                using JsonDocument doc = JsonDocument.Parse(frame.Utf8);
                JsonElement root = doc.RootElement;
                if (root.TryGetProperty("order_response", out JsonElement order)) Add(order);
                if (root.TryGetProperty("all_orders_response", out JsonElement all) && all.ValueKind == JsonValueKind.Object
                    && all.TryGetProperty("orders", out JsonElement orders) && orders.ValueKind == JsonValueKind.Array)
                    foreach (JsonElement o in orders.EnumerateArray()) Add(o);
            }
            catch (JsonException)
            {
                // Not an order we can read: nothing to index.
            }
        }

        private void Add(JsonElement order)
        {
            string? symbol = PSJson.GetString(order, "symbol");
            if (!string.IsNullOrEmpty(symbol)) Symbols.Add(symbol!);
            if (PSJson.GetString(order, "order_id") is not string orderId || orderId.Length == 0) return;
            string? clientId = PSJson.GetString(order, "client_order_id");
            string? summary = Summary(order, symbol);
            if (string.IsNullOrEmpty(clientId) && summary == null) return;
            lock (_gate)
            {
                if (!_clientIds.ContainsKey(orderId) && !_summaries.ContainsKey(orderId))
                {
                    _order.Enqueue(orderId);
                    if (_order.Count > Capacity)
                    {
                        string oldest = _order.Dequeue();
                        _clientIds.Remove(oldest);
                        _summaries.Remove(oldest);
                    }
                }
                if (!string.IsNullOrEmpty(clientId)) _clientIds[orderId] = clientId!;
                if (summary != null) _summaries[orderId] = summary;
            }
        }

        /// <summary>The order's summary, when the frame says what it is (a NO_SUCH_ORDER answer does not).</summary>
        private static string? Summary(JsonElement order, string? symbol)
        {
            QfexSide? side = QfexWire.Parse<QfexSide>(PSJson.GetString(order, "side"));
            QfexOrderType? type = QfexWire.Parse<QfexOrderType>(PSJson.GetString(order, "type"));
            if (side == null || type == null || string.IsNullOrEmpty(symbol)) return null;
            return OrderSummary.Format(side, TradingJson.Decimal(order, "quantity") ?? 0, symbol!, type, TradingJson.Decimal(order, "price"),
                QfexWire.Parse<QfexTimeInForce>(PSJson.GetString(order, "time_in_force")), TradingJson.Decimal(order, "take_profit"),
                TradingJson.Decimal(order, "stop_loss"), reduceOnly: false);
        }
    }
}
