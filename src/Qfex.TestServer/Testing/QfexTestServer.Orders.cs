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

        /// <summary>A trade the fake exchange recorded for a fill it made (get_user_trades).</summary>
        private sealed class FakeTrade
        {
            internal string TradeId = string.Empty;
            internal string OrderId = string.Empty;
            internal string ClientOrderId = string.Empty;
            internal string Symbol = string.Empty;
            internal string Side = string.Empty;
            internal string OrderType = string.Empty;
            internal string TimeInForce = string.Empty;
            internal decimal Price;
            internal decimal Quantity;
            internal decimal Fee;
            internal decimal Timestamp;
        }

        /// <summary>
        /// One account's state: its order book, the trades of its fills, its positions and its leverage settings. An
        /// account is the key a connection authenticated with plus the account_id it asked for (the primary account
        /// when none): connections of one account share it, other accounts never see it. Locked on itself.
        /// </summary>
        private sealed class FakeAccount
        {
            internal readonly List<FakeOrder> Orders = new List<FakeOrder>();
            internal readonly List<FakeTrade> Trades = new List<FakeTrade>();
            internal readonly Dictionary<string, decimal> Positions = new Dictionary<string, decimal>(StringComparer.Ordinal);
            internal readonly Dictionary<string, decimal> Leverage = new Dictionary<string, decimal>(StringComparer.Ordinal);
        }

        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, FakeAccount> _accounts =
            new System.Collections.Concurrent.ConcurrentDictionary<string, FakeAccount>(StringComparer.Ordinal);

        private FakeAccount AccountOf(QfexTestServerConnection connection) => _accounts.GetOrAdd(connection.AccountKey, _ => new FakeAccount());

        /// <summary>Guess: the fee of a fill, 5 basis points of its notional (the exchange publishes no fee schedule in the protocol docs).</summary>
        private const decimal FeeRate = 0.0005m;

        /// <summary>Guess: the price of a fill when the order has none (a MARKET order): the fake exchange has no market.</summary>
        private const decimal FakeMarketPrice = 100.0m;

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
                    await HandleGetTradesAsync(connection, request).ConfigureAwait(false);
                    return;
                case "get_user_leverage":
                    await HandleGetLeverageAsync(connection, request).ConfigureAwait(false);
                    return;
                case "set_user_leverage":
                    await HandleSetLeverageAsync(connection, request).ConfigureAwait(false);
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
                    // Every unknown type.
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

            FakeAccount account = AccountOf(connection);
            if (orderType != "MARKET")
            {
                // Resting before the ACK is sent: a get_user_orders that follows the ACK always finds it.
                lock (account)
                    account.Orders.Add(order);
                await SendOrderResponseAsync(connection, order, null).ConfigureAwait(false);
                return;
            }
            await SendOrderResponseAsync(connection, order, null).ConfigureAwait(false);
            // A MARKET order fills at once, whole, at its price or the fake market price; the fill is a trade.
            order.Status = "FILLED";
            order.QuantityRemaining = 0;
            if (order.Price == 0)
                order.Price = FakeMarketPrice;
            FakeTrade trade = Fill(account, order, order.Quantity);
            await SendOrderResponseAsync(connection, order, trade.TradeId).ConfigureAwait(false);
        }

        /// <summary>Records a fill of <paramref name="quantity"/> of an order at its price: a trade, and the position it moves.</summary>
        private static FakeTrade Fill(FakeAccount account, FakeOrder order, decimal quantity)
        {
            var trade = new FakeTrade
            {
                TradeId = Guid.NewGuid().ToString("D"),
                OrderId = order.OrderId,
                ClientOrderId = order.ClientOrderId,
                Symbol = order.Symbol,
                Side = order.Side,
                OrderType = order.Type,
                TimeInForce = order.TimeInForce,
                Price = order.Price,
                Quantity = quantity,
                Fee = decimal.Round(order.Price * quantity * FeeRate, 8),
                Timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000m,
            };
            lock (account)
            {
                account.Trades.Add(trade);
                account.Positions.TryGetValue(order.Symbol, out decimal position);
                account.Positions[order.Symbol] = position + (order.Side == "SELL" ? -quantity : quantity);
            }
            return trade;
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
            FakeAccount account = AccountOf(connection);
            lock (account)
            {
                cancelled = account.Orders.Where(o => o.Symbol == symbol &&
                    (idType == "order_id" ? string.Equals(o.OrderId, id, StringComparison.OrdinalIgnoreCase)
                     : idType == "client_order_id" && o.ClientOrderId.Length > 0 && o.ClientOrderId == id)).ToList();
                foreach (FakeOrder o in cancelled)
                    account.Orders.Remove(o);
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
            FakeAccount account = AccountOf(connection);
            lock (account)
            {
                FakeOrder? order = account.Orders.FirstOrDefault(o => o.Symbol == symbol &&
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
            FakeAccount account = AccountOf(connection);
            lock (account)
            {
                stop = account.Orders.FirstOrDefault(o => IsStopType(o.Type) && string.Equals(o.OrderId, id, StringComparison.OrdinalIgnoreCase));
                if (stop != null) account.Orders.Remove(stop);
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
            FakeAccount account = AccountOf(connection);
            lock (account)
            {
                stop = account.Orders.FirstOrDefault(o => IsStopType(o.Type) && o.Symbol == symbol && string.Equals(o.OrderId, id, StringComparison.OrdinalIgnoreCase));
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
            List<FakeOrder> cancelled = TakeOrders(AccountOf(connection), symbol);
            foreach (FakeOrder o in cancelled)
            {
                o.Status = "CANCELLED";
                await SendOrderResponseAsync(connection, o, null).ConfigureAwait(false);
            }
            await SendAckAsync(connection, request).ConfigureAwait(false);
        }

        private static List<FakeOrder> TakeOrders(FakeAccount account, string? symbol)
        {
            lock (account)
            {
                List<FakeOrder> taken = account.Orders.Where(o => symbol == null || o.Symbol == symbol).ToList();
                foreach (FakeOrder o in taken)
                    account.Orders.Remove(o);
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
            FakeAccount account = AccountOf(connection);
            lock (account)
            {
                orders = account.Orders
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

        /// <summary>
        /// close_position (protocol doc §3.2): a reduce-only LIMIT IOC order on the opposite side, sized to the whole
        /// position, answered ACK and then FILLED (a trade; the position is then flat). Guess: the order's price is the
        /// last fill's price (the fake exchange has no mark price), and with no position the IOC fills nothing: ACK,
        /// then CANCELLED.
        /// </summary>
        private async Task HandleClosePositionAsync(QfexTestServerConnection connection, Request request)
        {
            JsonElement p = request.Params;
            string? symbol = PSJson.GetString(p, "symbol");
            if (string.IsNullOrWhiteSpace(symbol))
            {
                await InvalidParameterAsync(connection, request, "symbol is required.").ConfigureAwait(false);
                return;
            }
            FakeAccount account = AccountOf(connection);
            decimal position;
            decimal price;
            lock (account)
            {
                account.Positions.TryGetValue(symbol!, out position);
                FakeTrade? last = account.Trades.LastOrDefault(t => t.Symbol == symbol);
                price = last?.Price ?? FakeMarketPrice;
            }
            var order = new FakeOrder
            {
                OrderId = Guid.NewGuid().ToString("D"),
                Symbol = symbol!,
                Side = position > 0 ? "SELL" : "BUY",
                Type = "LIMIT",
                TimeInForce = "IOC",
                Quantity = Math.Abs(position),
                QuantityRemaining = Math.Abs(position),
                Price = position == 0 ? 0 : price,
                ClientOrderId = PSJson.GetString(p, "client_order_id") ?? string.Empty,
            };
            await SendOrderResponseAsync(connection, order, null).ConfigureAwait(false);
            order.QuantityRemaining = 0;
            if (position == 0)
            {
                order.Status = "CANCELLED";
                await SendOrderResponseAsync(connection, order, null).ConfigureAwait(false);
                return;
            }
            order.Status = "FILLED";
            FakeTrade trade = Fill(account, order, order.Quantity);
            await SendOrderResponseAsync(connection, order, trade.TradeId).ConfigureAwait(false);
        }

        /// <summary>
        /// get_user_trades: the account's trades, oldest first (guess: the docs do not say the order), filtered by
        /// order_id and by start_ts/end_ts (unix seconds, inclusive), then offset and limit (default 1000), as
        /// {"user_trades_response":[...]} (the AsyncAPI's and the CLI's shape).
        /// </summary>
        private async Task HandleGetTradesAsync(QfexTestServerConnection connection, Request request)
        {
            JsonElement p = request.Params;
            string? orderId = PSJson.GetString(p, "order_id");
            bool hasStart = p.TryGetPropertyOrUndefined("start_ts", out JsonElement startElement) && startElement.ValueKind == JsonValueKind.Number;
            bool hasEnd = p.TryGetPropertyOrUndefined("end_ts", out JsonElement endElement) && endElement.ValueKind == JsonValueKind.Number;
            decimal start = hasStart ? startElement.GetDecimal() : 0, end = hasEnd ? endElement.GetDecimal() : 0;
            int offset = ReadInt(p, "offset", 0);
            int limit = ReadInt(p, "limit", 1000);
            FakeAccount account = AccountOf(connection);
            FakeTrade[] trades;
            lock (account)
            {
                trades = account.Trades
                    .Where(t => (orderId == null || string.Equals(t.OrderId, orderId, StringComparison.OrdinalIgnoreCase))
                                && (!hasStart || Math.Floor(t.Timestamp) >= start) && (!hasEnd || Math.Floor(t.Timestamp) <= end))
                    .Skip(Math.Max(0, offset)).Take(Math.Max(0, limit)).ToArray();
            }
            await SendAsync(connection, Build(w =>
            {
                w.WriteStartObject();
                w.WritePropertyName("user_trades_response");
                w.WriteStartArray();
                foreach (FakeTrade t in trades)
                {
                    w.WriteStartObject();
                    w.WriteString("trade_id", t.TradeId);
                    w.WriteString("symbol", t.Symbol);
                    w.WriteNumber("price", t.Price);
                    w.WriteNumber("quantity", t.Quantity);
                    w.WriteString("side", t.Side);
                    w.WriteString("order_id", t.OrderId);
                    w.WriteString("client_order_id", t.ClientOrderId);
                    w.WriteNumber("fee", t.Fee);
                    w.WriteString("order_type", t.OrderType);
                    w.WriteString("tif", t.TimeInForce);
                    w.WriteNumber("timestamp", t.Timestamp);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            })).ConfigureAwait(false);
        }

        /// <summary>
        /// get_user_leverage: the leverage of each symbol the account set one for (guess: the exchange may list every
        /// symbol with its default), with offset and limit, as {"user_leverage_response":[...]}; leverage is a string,
        /// as the docs show. Guess: the margins are 1/leverage (initial) and half that (maintenance), max_notional 1,000,000.
        /// </summary>
        private async Task HandleGetLeverageAsync(QfexTestServerConnection connection, Request request)
        {
            JsonElement p = request.Params;
            int offset = ReadInt(p, "offset", 0);
            int limit = ReadInt(p, "limit", 1000);
            FakeAccount account = AccountOf(connection);
            KeyValuePair<string, decimal>[] levels;
            lock (account)
                levels = account.Leverage.OrderBy(l => l.Key, StringComparer.Ordinal).Skip(Math.Max(0, offset)).Take(Math.Max(0, limit)).ToArray();
            await SendAsync(connection, Build(w =>
            {
                w.WriteStartObject();
                w.WritePropertyName("user_leverage_response");
                w.WriteStartArray();
                foreach (KeyValuePair<string, decimal> level in levels)
                {
                    decimal initial = decimal.Round(1m / level.Value, 6);
                    w.WriteStartObject();
                    w.WriteString("id", LeverageId(connection.AccountKey, level.Key));
                    w.WriteString("symbol", level.Key);
                    w.WriteNumber("initial_margin", initial);
                    w.WriteNumber("maintenance_margin", decimal.Round(initial / 2, 6));
                    w.WriteNumber("max_notional", 1_000_000m);
                    w.WriteString("leverage", level.Value.ToString(CultureInfo.InvariantCulture));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            })).ConfigureAwait(false);
        }

        /// <summary>A stable id per account and symbol (a GUID made from their names).</summary>
        private static string LeverageId(string account, string symbol)
        {
            using var sha = System.Security.Cryptography.SHA256.Create();
            byte[] hash = sha.ComputeHash(System.Text.Encoding.UTF8.GetBytes(account + "/" + symbol));
            Array.Resize(ref hash, 16);
            return new Guid(hash).ToString("D");
        }

        /// <summary>
        /// set_user_leverage: symbol and leverage (a number > 0) are required; answered with an ack echoing the request
        /// (the CLI waits for one). The docs say leverage cannot change while the account has open orders or a position
        /// in the symbol; guess: that is refused with InvalidParameter (the docs do not show the answer).
        /// </summary>
        private async Task HandleSetLeverageAsync(QfexTestServerConnection connection, Request request)
        {
            JsonElement p = request.Params;
            string? symbol = PSJson.GetString(p, "symbol");
            if (string.IsNullOrWhiteSpace(symbol) || ReadDecimal(p, "leverage", out decimal leverage) != true || leverage <= 0)
            {
                await InvalidParameterAsync(connection, request, "symbol and leverage (a number greater than 0) are required.").ConfigureAwait(false);
                return;
            }
            FakeAccount account = AccountOf(connection);
            bool busy;
            lock (account)
            {
                busy = account.Orders.Any(o => o.Symbol == symbol) || (account.Positions.TryGetValue(symbol!, out decimal position) && position != 0);
                if (!busy) account.Leverage[symbol!] = leverage;
            }
            if (busy)
            {
                await InvalidParameterAsync(connection, request,
                    "Leverage cannot change while the account has open orders or a position in " + symbol + ".").ConfigureAwait(false);
                return;
            }
            await SendAckAsync(connection, request).ConfigureAwait(false);
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

        /// <summary>cancel_on_disconnect: a dropped connection cancels every resting order of its account; the account's other subscribed connections hear about it.</summary>
        private async Task CancelOrdersOnDisconnectAsync(QfexTestServerConnection gone)
        {
            List<FakeOrder> cancelled = TakeOrders(AccountOf(gone), null);
            if (cancelled.Count == 0)
                return;
            foreach (QfexTestServerConnection other in _connections.Values)
            {
                if (other.Id == gone.Id || other.IsMarketData || !other.ReceivesPushes || other.AccountKey != gone.AccountKey)
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
