using System;
using System.Collections.Generic;
using System.Text.Json;
using Qfex.Protocol;

namespace Qfex.Transport
{
    /// <summary>
    /// The client_order_id of each order_id the session has seen in an order_response or an all_orders_response
    /// (bounded: the newest 10,000), so modify_order -Wait can recognise its answer when the exchange assigns
    /// the order a new order_id. Safe between threads.
    /// </summary>
    internal sealed class OrderIndex
    {
        internal const int Capacity = 10_000;
        private readonly object _gate = new object();
        private readonly Dictionary<string, string> _clientIds = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        private readonly Queue<string> _order = new Queue<string>();

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
            if (PSJson.GetString(order, "order_id") is not string orderId || orderId.Length == 0) return;
            if (PSJson.GetString(order, "client_order_id") is not string clientId || clientId.Length == 0) return;
            lock (_gate)
            {
                if (!_clientIds.ContainsKey(orderId))
                {
                    _order.Enqueue(orderId);
                    if (_order.Count > Capacity) _clientIds.Remove(_order.Dequeue());
                }
                _clientIds[orderId] = clientId;
            }
        }
    }
}
