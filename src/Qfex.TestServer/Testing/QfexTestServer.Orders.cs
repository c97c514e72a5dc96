using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using Qfex.Protocol;

namespace Qfex
{
    public sealed partial class QfexTestServer
    {
        /// <summary>An order resting in the fake book (LIMIT, ALO and stop orders rest until cancelled).</summary>
        private sealed class FakeOrder
        {
            internal string OrderId = string.Empty;
            internal string Symbol = string.Empty;
            internal string Side = string.Empty;
            internal string Type = string.Empty;
            internal string TimeInForce = string.Empty;
            internal decimal Quantity;
            internal decimal Price;
            internal decimal TakeProfit;
            internal decimal StopLoss;
            internal string ClientOrderId = string.Empty;
            internal decimal QuantityRemaining;
            internal string Status = "ACK";

            internal FakeOrder Clone() => (FakeOrder)MemberwiseClone();
        }

        private readonly List<FakeOrder> _orders = new List<FakeOrder>();

        private static readonly string[] Sides = { "BUY", "SELL" };
        private static readonly string[] OrderTypes = { "LIMIT", "MARKET", "ALO", "TAKE_PROFIT", "STOP_LOSS" };
        private static readonly string[] TimesInForce = { "GTC", "IOC", "FOK" };

        private async Task HandleTradeAsync(QfexTestServerConnection connection, Request request)
        {
            switch (request.Type)
            {
                case "subscribe":
                case "unsubscribe":
                    await HandleSubscriptionAsync(connection, request, request.Type == "subscribe").ConfigureAwait(false);
                    return;
                case "cancel_on_disconnect":
                    if (!request.Params.TryGetPropertyOrUndefined("cancel_on_disconnect", out JsonElement flag) ||
                        (flag.ValueKind != JsonValueKind.True && flag.ValueKind != JsonValueKind.False))
                    {
                        await InvalidParameterAsync(connection, request, "cancel_on_disconnect (boolean) is required.").ConfigureAwait(false);
                        return;
                    }
                    connection.CancelOnDisconnect = flag.ValueKind == JsonValueKind.True;
                    await SendAckAsync(connection, request).ConfigureAwait(false);
                    return;
                case "add_order":
                    await HandleAddOrderAsync(connection, request).ConfigureAwait(false);
                    return;
                case "cancel_order":
                    await HandleCancelOrderAsync(connection, request).ConfigureAwait(false);
                    return;
                case "modify_order":
                    await HandleModifyOrderAsync(connection, request).ConfigureAwait(false);
                    return;
                case "cancel_all_orders":
                    await HandleCancelAllAsync(connection, request).ConfigureAwait(false);
                    return;
                case "get_user_orders":
                case "get_order":
                    await HandleGetOrdersAsync(connection, request).ConfigureAwait(false);
                    return;
                case "close_position":
                    await HandleClosePositionAsync(connection, request).ConfigureAwait(false);
                    return;
                case "get_user_trades":
                    await SendKeyedArrayAsync(connection, "user_trades_response").ConfigureAwait(false);
                    return;
                case "get_user_leverage":
                    await SendKeyedArrayAsync(connection, "user_leverage_response").ConfigureAwait(false);
                    return;
                case "get_available_leverage_levels":
                    await SendKeyedArrayAsync(connection, "available_leverage_levels_response").ConfigureAwait(false);
                    return;
                case "add_twap":
                    await HandleAddTwapAsync(connection, request).ConfigureAwait(false);
                    return;
                case "cancel_stop_order":
                    await HandleCancelStopOrderAsync(connection, request).ConfigureAwait(false);
                    return;
                case "modify_stop_order":
                    await HandleModifyStopOrderAsync(connection, request).ConfigureAwait(false);
                    return;
                default:
                    // set_user_leverage and every unknown type.
                    await SendAckAsync(connection, request).ConfigureAwait(false);
                    return;
            }
        }

        private async Task HandleSubscriptionAsync(QfexTestServerConnection connection, Request request, bool subscribe)
        {
            if (!IsStringArray(request.Params, "channels", out JsonElement channels) || channels.GetArrayLength() == 0)
            {
                await InvalidParameterAsync(connection, request, "channels must be a non-empty array of channel names.").ConfigureAwait(false);
                return;
            }
            var names = new List<string>();
            foreach (JsonElement channel in channels.EnumerateArray())
            {
                string name = channel.GetString()!;
                if (Array.IndexOf(TradeChannels, name) < 0)
                {
                    await InvalidParameterAsync(connection, request,
                        "Unknown channel '" + name + "'. Valid channels: " + string.Join(", ", TradeChannels) + ".").ConfigureAwait(false);
                    return;
                }
                names.Add(name);
            }
            foreach (string name in names)
            {
                if (subscribe)
                    connection.Subscribe(name);
                else
                    connection.Unsubscribe(name);
                await SendAsync(connection, Build(w =>
                {
                    w.WriteStartObject();
                    w.WriteString(subscribe ? "subscribed" : "unsubscribed", name);
                    w.WriteEndObject();
                })).ConfigureAwait(false);
            }
        }

        private async Task HandleAddOrderAsync(QfexTestServerConnection connection, Request request)
        {
            JsonElement p = request.Params;
            string? symbol = PSJson.GetString(p, "symbol");
            string? side = PSJson.GetString(p, "side");
            string? orderType = PSJson.GetString(p, "order_type");
            string? tif = PSJson.GetString(p, "order_time_in_force");
            string? problem = null;
            decimal quantity = 0, price = 0, takeProfit = 0, stopLoss = 0;
            bool needsPrice = orderType != null && orderType != "MARKET";

            if (p.ValueKind != JsonValueKind.Object) problem = "params (object) is required.";
            else if (string.IsNullOrWhiteSpace(symbol)) problem = "symbol is required.";
            else if (side == null || Array.IndexOf(Sides, side) < 0) problem = "side must be BUY or SELL.";
            else if (orderType == null || Array.IndexOf(OrderTypes, orderType) < 0) problem = "order_type must be LIMIT, MARKET, ALO, TAKE_PROFIT or STOP_LOSS.";
            else if (tif == null || Array.IndexOf(TimesInForce, tif) < 0) problem = "order_time_in_force must be GTC, IOC or FOK.";
            else if (ReadDecimal(p, "quantity", out quantity) != true || quantity <= 0) problem = "quantity must be a number greater than 0.";
            else
            {
                bool? hasPrice = ReadDecimal(p, "price", out price);
                if (hasPrice == false || (needsPrice && (hasPrice == null || price <= 0)))
                    problem = "price must be a number greater than 0 for " + orderType + " orders.";
                else if (price < 0) problem = "price must not be negative.";
                else if (ReadDecimal(p, "take_profit", out takeProfit) == false || takeProfit < 0) problem = "take_profit must be a number, 0 = unused.";
                else if (ReadDecimal(p, "stop_loss", out stopLoss) == false || stopLoss < 0) problem = "stop_loss must be a number, 0 = unused.";
            }
            string clientOrderId = string.Empty;
            if (problem == null && p.TryGetProperty("client_order_id", out JsonElement coid) && coid.ValueKind != JsonValueKind.Null)
            {
                if (coid.ValueKind != JsonValueKind.String)
                    problem = "client_order_id must be a string.";
                else
                    clientOrderId = coid.GetString() ?? string.Empty;
            }
            if (problem != null)
            {
                await InvalidParameterAsync(connection, request, problem).ConfigureAwait(false);
                return;
            }

            var order = new FakeOrder
            {
                OrderId = Guid.NewGuid().ToString("D"),
                Symbol = symbol!,
                Side = side!,
                Type = orderType!,
                TimeInForce = tif!,
                Quantity = quantity,
                Price = price,
                TakeProfit = takeProfit,
                StopLoss = stopLoss,
                ClientOrderId = clientOrderId,
                QuantityRemaining = quantity,
            };

            // The exchange's rule: MARKET cannot be GTC (protocol doc §3.2). Guess: it refuses with an order_response
            // of status INVALID_TIME_IN_FORCE (the docs do not show the answer).
            if (orderType == "MARKET" && tif == "GTC")
            {
                order.Status = "INVALID_TIME_IN_FORCE";
                order.QuantityRemaining = 0;
                await SendOrderResponseAsync(connection, order, null).ConfigureAwait(false);
                return;
            }

            string? statusOverride = OrderStatusOverride;
            if (!string.IsNullOrWhiteSpace(statusOverride))
            {
                order.Status = statusOverride!.Trim();
                await SendOrderResponseAsync(connection, order, null).ConfigureAwait(false);
                return;
            }

            await SendOrderResponseAsync(connection, order, null).ConfigureAwait(false);
            if (orderType == "MARKET")
            {
                order.Status = "FILLED";
                order.QuantityRemaining = 0;
                if (order.Price == 0)
                    order.Price = 100.0m;
                await SendOrderResponseAsync(connection, order, Guid.NewGuid().ToString("D")).ConfigureAwait(false);
                return;
            }
            lock (_orders)
                _orders.Add(order);
        }

        private async Task HandleCancelOrderAsync(QfexTestServerConnection connection, Request request)
        {
            JsonElement p = request.Params;
            string? symbol = PSJson.GetString(p, "symbol");
            string? id = PSJson.GetString(p, "order_id");
            string idType = PSJson.GetString(p, "cancel_order_id_type") ?? "order_id";
            if (string.IsNullOrEmpty(id) && idType == "client_order_id")
                id = PSJson.GetString(p, "client_order_id");
            if (string.IsNullOrWhiteSpace(symbol) || string.IsNullOrEmpty(id))
            {
                await InvalidParameterAsync(connection, request, "symbol and order_id are required.").ConfigureAwait(false);
                return;
            }
            if (idType != "order_id" && idType != "client_order_id" && idType != "twap_id" && idType != "client_twap_id")
            {
                await InvalidParameterAsync(connection, request, "cancel_order_id_type must be order_id, client_order_id, twap_id or client_twap_id.").ConfigureAwait(false);
                return;
            }

            List<FakeOrder> cancelled;
            lock (_orders)
            {
                cancelled = _orders.Where(o => o.Symbol == symbol &&
                    (idType == "order_id" ? string.Equals(o.OrderId, id, StringComparison.OrdinalIgnoreCase)
                     : idType == "client_order_id" && o.ClientOrderId.Length > 0 && o.ClientOrderId == id)).ToList();
                foreach (FakeOrder o in cancelled)
                    _orders.Remove(o);
            }
            if (cancelled.Count == 0)
            {
                var missing = new FakeOrder
                {
                    OrderId = idType == "order_id" ? id! : string.Empty,
                    ClientOrderId = idType == "client_order_id" ? id! : string.Empty,
                    Symbol = symbol!,
                    Status = "NO_SUCH_ORDER",
                };
                await SendOrderResponseAsync(connection, missing, null).ConfigureAwait(false);
                return;
            }
            foreach (FakeOrder o in cancelled)
            {
                o.Status = "CANCELLED";
                await SendOrderResponseAsync(connection, o, null).ConfigureAwait(false);
            }
        }

        private async Task HandleModifyOrderAsync(QfexTestServerConnection connection, Request request)
        {
            JsonElement p = request.Params;
            string? symbol = PSJson.GetString(p, "symbol");
            string? id = PSJson.GetString(p, "order_id");
            string? side = PSJson.GetString(p, "side");
            string? orderType = PSJson.GetString(p, "order_type");
            if (string.IsNullOrWhiteSpace(symbol) || string.IsNullOrEmpty(id))
            {
                await InvalidParameterAsync(connection, request, "symbol and order_id are required.").ConfigureAwait(false);
                return;
            }
            bool? hasPrice = ReadDecimal(p, "price", out decimal price);
            bool? hasQuantity = ReadDecimal(p, "quantity", out decimal quantity);
            bool? hasTakeProfit = ReadDecimal(p, "take_profit", out decimal takeProfit);
            bool? hasStopLoss = ReadDecimal(p, "stop_loss", out decimal stopLoss);
            if (hasPrice == false || hasQuantity == false || hasTakeProfit == false || hasStopLoss == false ||
                (hasPrice == true && price <= 0) || (hasQuantity == true && quantity <= 0) || takeProfit < 0 || stopLoss < 0)
            {
                await InvalidParameterAsync(connection, request, "price and quantity must be numbers greater than 0; take_profit and stop_loss numbers, 0 = unused.").ConfigureAwait(false);
                return;
            }

            FakeOrder? answer;
            lock (_orders)
            {
                FakeOrder? order = _orders.FirstOrDefault(o => o.Symbol == symbol &&
                    string.Equals(o.OrderId, id, StringComparison.OrdinalIgnoreCase) &&
                    (side == null || o.Side == side) && (orderType == null || o.Type == orderType));
                if (order != null)
                {
                    // Guess (a third-party client's report, not the docs): a modify may give the order a new order_id.
                    if (ModifyAssignsNewOrderId) order.OrderId = Guid.NewGuid().ToString("D");
                    if (hasPrice == true) order.Price = price;
                    if (hasQuantity == true) order.Quantity = order.QuantityRemaining = quantity;
                    if (hasTakeProfit == true) order.TakeProfit = takeProfit;
                    if (hasStopLoss == true) order.StopLoss = stopLoss;
                    order.Status = "MODIFIED";
                    answer = order.Clone();
                }
                else
                {
                    answer = null;
                }
            }
            answer ??= new FakeOrder
            {
                OrderId = id!,
                Symbol = symbol!,
                Side = side ?? string.Empty,
                Type = orderType ?? string.Empty,
                Status = "CANNOT_MODIFY_NO_SUCH_ORDER",
            };
            await SendOrderResponseAsync(connection, answer, null).ConfigureAwait(false);
        }

        private async Task HandleAddTwapAsync(QfexTestServerConnection connection, Request request)
        {
            JsonElement p = request.Params;
            string? symbol = PSJson.GetString(p, "symbol");
            string? side = PSJson.GetString(p, "side");
            string? problem = null;
            if (string.IsNullOrWhiteSpace(symbol)) problem = "symbol is required.";
            else if (side == null || Array.IndexOf(Sides, side) < 0) problem = "side must be BUY or SELL.";
            else if (ReadDecimal(p, "total_quantity", out decimal total) != true || total <= 0) problem = "total_quantity must be a number greater than 0.";
            else if (ReadInt(p, "num_orders", 0) < 2) problem = "num_orders must be an integer >= 2.";
            else if (ReadInt(p, "order_interval_secs", 0) < 30) problem = "order_interval_secs must be an integer >= 30.";
            else if (!p.TryGetPropertyOrUndefined("reduce_only", out JsonElement reduce) || (reduce.ValueKind != JsonValueKind.True && reduce.ValueKind != JsonValueKind.False))
                problem = "reduce_only (boolean) is required.";
            if (problem != null)
            {
                await InvalidParameterAsync(connection, request, problem).ConfigureAwait(false);
                return;
            }
            string clientTwapId = PSJson.GetString(p, "client_twap_id") ?? string.Empty;
            ReadDecimal(p, "total_quantity", out decimal totalQuantity);
            string now = DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture);
            // Guess: the status values are not published; this server says ACTIVE.
            await SendAsync(connection, Build(w =>
            {
                w.WriteStartObject();
                w.WritePropertyName("twap_response");
                w.WriteStartObject();
                w.WriteString("twap_id", Guid.NewGuid().ToString("D"));
                w.WriteString("client_twap_id", clientTwapId);
                w.WriteString("user_id", UserId);
                w.WriteString("status", "ACTIVE");
                w.WriteString("symbol", symbol);
                w.WriteNumber("total_quantity", totalQuantity);
                w.WriteNumber("filled_quantity", 0);
                w.WriteNumber("average_fill_price", 0);
                w.WriteNumber("total_num_orders", ReadInt(p, "num_orders", 0));
                w.WriteNumber("order_interval_secs", ReadInt(p, "order_interval_secs", 0));
                w.WriteBoolean("reduce_only", p.GetProperty("reduce_only").ValueKind == JsonValueKind.True);
                w.WriteString("side", side);
                w.WriteString("updated_at", now);
                w.WriteString("created_at", now);
                w.WriteEndObject();
                w.WriteEndObject();
            })).ConfigureAwait(false);
        }

        private static bool IsStopType(string type) => type == "TAKE_PROFIT" || type == "STOP_LOSS";

        /// <summary>cancel_stop_order: an order_response CANCELLED typed TAKE_PROFIT/STOP_LOSS (protocol doc §3.2), or NO_SUCH_ORDER.</summary>
        private async Task HandleCancelStopOrderAsync(QfexTestServerConnection connection, Request request)
        {
            string? id = PSJson.GetString(request.Params, "stop_order_id");
            if (string.IsNullOrEmpty(id))
            {
                await InvalidParameterAsync(connection, request, "stop_order_id is required.").ConfigureAwait(false);
                return;
            }
            FakeOrder? stop;
            lock (_orders)
            {
                stop = _orders.FirstOrDefault(o => IsStopType(o.Type) && string.Equals(o.OrderId, id, StringComparison.OrdinalIgnoreCase));
                if (stop != null) _orders.Remove(stop);
            }
            if (stop == null)
            {
                await SendOrderResponseAsync(connection, new FakeOrder { OrderId = id!, Status = "NO_SUCH_ORDER" }, null).ConfigureAwait(false);
                return;
            }
            stop.Status = "CANCELLED";
            await SendOrderResponseAsync(connection, stop, null).ConfigureAwait(false);
        }

        /// <summary>
        /// modify_stop_order: stop_order_id, symbol, price and quantity are required (protocol doc §3.2). Guess: the
        /// answer is a stop_order_response with the changed stop order (the docs show none; the CLI waits for an ack),
        /// or an order_response CANNOT_MODIFY_NO_SUCH_ORDER.
        /// </summary>
        private async Task HandleModifyStopOrderAsync(QfexTestServerConnection connection, Request request)
        {
            JsonElement p = request.Params;
            string? id = PSJson.GetString(p, "stop_order_id");
            string? symbol = PSJson.GetString(p, "symbol");
            bool? hasPrice = ReadDecimal(p, "price", out decimal price);
            bool? hasQuantity = ReadDecimal(p, "quantity", out decimal quantity);
            if (string.IsNullOrEmpty(id) || string.IsNullOrWhiteSpace(symbol) || hasPrice != true || hasQuantity != true || price <= 0 || quantity <= 0)
            {
                await InvalidParameterAsync(connection, request, "stop_order_id, symbol, price (> 0) and quantity (> 0) are required.").ConfigureAwait(false);
                return;
            }
            FakeOrder? stop;
            lock (_orders)
            {
                stop = _orders.FirstOrDefault(o => IsStopType(o.Type) && o.Symbol == symbol && string.Equals(o.OrderId, id, StringComparison.OrdinalIgnoreCase));
                if (stop != null)
                {
                    stop.Price = price;
                    stop.Quantity = stop.QuantityRemaining = quantity;
                    stop = stop.Clone();
                }
            }
            if (stop == null)
            {
                await SendOrderResponseAsync(connection, new FakeOrder { OrderId = id!, Symbol = symbol!, Status = "CANNOT_MODIFY_NO_SUCH_ORDER" }, null).ConfigureAwait(false);
                return;
            }
            await SendAsync(connection, Build(w =>
            {
                w.WriteStartObject();
                w.WritePropertyName("stop_order_response");
                w.WriteStartObject();
                w.WriteString("stop_order_id", stop.OrderId);
                w.WriteString("user_id", UserId);
                w.WriteString("symbol", stop.Symbol);
                w.WriteNumber("price", stop.Price);
                w.WriteNumber("quantity", stop.Quantity);
                w.WriteString("direction", stop.Side);
                w.WriteString("stop_order_type", stop.Type);
                w.WriteString("client_order_id", stop.ClientOrderId);
                w.WriteString("update_time", DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture));
                w.WriteEndObject();
                w.WriteEndObject();
            })).ConfigureAwait(false);
        }

        private async Task HandleCancelAllAsync(QfexTestServerConnection connection, Request request)
        {
            string? symbol = PSJson.GetString(request.Params, "symbol");
            List<FakeOrder> cancelled = TakeOrders(symbol);
            foreach (FakeOrder o in cancelled)
            {
                o.Status = "CANCELLED";
                await SendOrderResponseAsync(connection, o, null).ConfigureAwait(false);
            }
            await SendAckAsync(connection, request).ConfigureAwait(false);
        }

        private List<FakeOrder> TakeOrders(string? symbol)
        {
            lock (_orders)
            {
                List<FakeOrder> taken = _orders.Where(o => symbol == null || o.Symbol == symbol).ToList();
                foreach (FakeOrder o in taken)
                    _orders.Remove(o);
                return taken;
            }
        }

        private async Task HandleGetOrdersAsync(QfexTestServerConnection connection, Request request)
        {
            JsonElement p = request.Params;
            string? symbol = PSJson.GetString(p, "symbol");
            string? orderId = request.Type == "get_order" ? PSJson.GetString(p, "order_id") : null;
            int offset = ReadInt(p, "offset", 0);
            int limit = ReadInt(p, "limit", 1000);
            FakeOrder[] orders;
            lock (_orders)
            {
                orders = _orders
                    .Where(o => (symbol == null || o.Symbol == symbol) &&
                                (orderId == null || string.Equals(o.OrderId, orderId, StringComparison.OrdinalIgnoreCase)))
                    .Skip(Math.Max(0, offset)).Take(Math.Max(0, limit))
                    .Select(o => o.Clone()).ToArray();
            }
            await SendAsync(connection, Build(w =>
            {
                w.WriteStartObject();
                w.WritePropertyName("all_orders_response");
                w.WriteStartObject();
                w.WritePropertyName("orders");
                w.WriteStartArray();
                foreach (FakeOrder o in orders)
                    WriteOrder(w, o, null);
                w.WriteEndArray();
                w.WritePropertyName("twaps");
                w.WriteStartArray();
                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteEndObject();
            })).ConfigureAwait(false);
        }

        private async Task HandleClosePositionAsync(QfexTestServerConnection connection, Request request)
        {
            JsonElement p = request.Params;
            string? symbol = PSJson.GetString(p, "symbol");
            if (string.IsNullOrWhiteSpace(symbol))
            {
                await InvalidParameterAsync(connection, request, "symbol is required.").ConfigureAwait(false);
                return;
            }
            var order = new FakeOrder
            {
                OrderId = Guid.NewGuid().ToString("D"),
                Symbol = symbol!,
                Side = "SELL",
                Type = "LIMIT",
                TimeInForce = "IOC",
                ClientOrderId = PSJson.GetString(p, "client_order_id") ?? string.Empty,
            };
            await SendOrderResponseAsync(connection, order, null).ConfigureAwait(false);
        }

        private static Task<bool> SendKeyedArrayAsync(QfexTestServerConnection connection, string key) =>
            SendAsync(connection, Build(w =>
            {
                w.WriteStartObject();
                w.WritePropertyName(key);
                w.WriteStartArray();
                w.WriteEndArray();
                w.WriteEndObject();
            }));

        /// <summary>cancel_on_disconnect: a dropped connection cancels every resting order; the other subscribed connections hear about it.</summary>
        private async Task CancelOrdersOnDisconnectAsync(QfexTestServerConnection gone)
        {
            List<FakeOrder> cancelled = TakeOrders(null);
            if (cancelled.Count == 0)
                return;
            foreach (QfexTestServerConnection other in _connections.Values)
            {
                if (other.Id == gone.Id || other.IsMarketData || !other.ReceivesPushes)
                    continue;
                foreach (FakeOrder o in cancelled)
                {
                    o.Status = "CANCELLED";
                    await SafeAsync(SendOrderResponseAsync(other, o, null)).ConfigureAwait(false);
                }
            }
        }

        /// <summary>Sends {"order_response":…} when the connection is subscribed to order_responses (or the rule is off).</summary>
        private Task SendOrderResponseAsync(QfexTestServerConnection connection, FakeOrder order, string? tradeId)
        {
            if (RequireOrderSubscription && !connection.IsSubscribed("order_responses"))
                return Task.CompletedTask;
            return SendAsync(connection, Build(w =>
            {
                w.WriteStartObject();
                w.WritePropertyName("order_response");
                WriteOrder(w, order, tradeId);
                w.WriteEndObject();
            }));
        }

        private void WriteOrder(Utf8JsonWriter w, FakeOrder o, string? tradeId)
        {
            w.WriteStartObject();
            w.WriteString("order_id", o.OrderId);
            w.WriteString("symbol", o.Symbol);
            w.WriteString("status", o.Status);
            w.WriteNumber("quantity", o.Quantity);
            w.WriteNumber("price", o.Price);
            w.WriteNumber("take_profit", o.TakeProfit);
            w.WriteNumber("stop_loss", o.StopLoss);
            w.WriteString("side", o.Side);
            w.WriteString("type", o.Type);
            w.WriteString("time_in_force", o.TimeInForce);
            w.WriteString("user_id", UserId);
            w.WriteString("client_order_id", o.ClientOrderId);
            w.WriteNumber("quantity_remaining", o.QuantityRemaining);
            w.WriteNumber("update_time", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000m);
            if (tradeId == null)
                w.WriteNull("trade_id");
            else
                w.WriteString("trade_id", tradeId);
            w.WriteEndObject();
        }

        private Task<bool> InvalidParameterAsync(QfexTestServerConnection connection, Request request, string message) =>
            SendErrorAsync(connection, "InvalidParameter", message, request.Echo);

        /// <summary>True: a number (or numeric string) was read; null: absent or null; false: present but not a number.</summary>
        private static bool? ReadDecimal(JsonElement obj, string name, out decimal value)
        {
            value = 0;
            if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
                return null;
            if (e.ValueKind == JsonValueKind.Number)
                return e.TryGetDecimal(out value);
            if (e.ValueKind == JsonValueKind.String)
                return decimal.TryParse(e.GetString(), NumberStyles.Number, CultureInfo.InvariantCulture, out value);
            return false;
        }

        private static int ReadInt(JsonElement obj, string name, int fallback) =>
            obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out JsonElement e) &&
            e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int value) ? value : fallback;
    }

    internal static class QfexTestServerJsonExtensions
    {
        /// <summary>TryGetProperty that also works (returns false) on a non-object or undefined element.</summary>
        internal static bool TryGetPropertyOrUndefined(this JsonElement element, string name, out JsonElement value)
        {
            value = default;
            return element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out value);
        }
    }
}
