using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Text.Json;
using Qfex.Errors;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// Issue 19 through the engine, against the fake exchange: the typed trading cmdlets (New-, Get-, Set-, Stop-QfexOrder,
    /// Get-QfexTrade, Close-QfexPosition, Get-/Set-QfexLeverage), their objects, pipeline binding, paging, errors,
    /// retries and -WhatIf (all Send-QfexMessage's, through the one RequestRunner), completion, and the fake exchange's
    /// order book per account.
    /// </summary>
    public class TradingCmdletTests : IDisposable
    {
        private readonly PowerShellHost _ps = new PowerShellHost();
        private readonly QfexTestServer _server;

        public TradingCmdletTests()
        {
            _server = _ps.StartServer();
        }

        public void Dispose() => _ps.Dispose();

        private IEnumerable<QfexTestServerRequest> Sent(string type) => _server.Received.Where(r => r.Type == type);

        private static JsonElement Params(QfexTestServerRequest request) => JsonDocument.Parse(request.Raw).RootElement.GetProperty("params");

        private QfexOrder Place(string arguments) => (QfexOrder)_ps.Run("New-QfexOrder " + arguments).ThrowOnError().Value()!;

        private List<T> All<T>(string script) => _ps.Run(script).ThrowOnError().Output.Select(o => (T)o.BaseObject).ToList();

        // ------------------------------------------------------------------ New-QfexOrder and the typed objects

        [Fact]
        public void NewQfexOrderSendsAddOrderAndOutputsATypedOrder()
        {
            _ps.Connect();
            QfexOrder order = Place("-Symbol AAPL-USD -Side Buy -OrderType Limit -Quantity 1.5 -Price 200.25 -TakeProfit 210 -ReduceOnly");
            JsonElement p = Params(Assert.Single(Sent("add_order")));
            Assert.Equal("AAPL-USD", p.GetProperty("symbol").GetString());
            Assert.Equal("BUY", p.GetProperty("side").GetString());
            Assert.Equal("LIMIT", p.GetProperty("order_type").GetString());
            Assert.Equal("GTC", p.GetProperty("order_time_in_force").GetString());
            Assert.Equal(1.5m, p.GetProperty("quantity").GetDecimal());
            Assert.Equal(200.25m, p.GetProperty("price").GetDecimal());
            Assert.Equal(210m, p.GetProperty("take_profit").GetDecimal());
            Assert.False(p.TryGetProperty("stop_loss", out _));
            Assert.True(p.GetProperty("reduce_only").GetBoolean());
            Assert.StartsWith("qfex-", p.GetProperty("client_order_id").GetString());

            Assert.Equal(p.GetProperty("client_order_id").GetString(), order.ClientOrderId);
            Assert.True(Guid.TryParse(order.OrderId, out _));
            Assert.Equal("AAPL-USD", order.Symbol);
            Assert.Equal(QfexSide.Buy, order.Side);
            Assert.Equal(QfexOrderType.Limit, order.OrderType);
            Assert.Equal(QfexTimeInForce.Gtc, order.TimeInForce);
            Assert.Equal(1.5m, order.Quantity);
            Assert.Equal(1.5m, order.QuantityRemaining);
            Assert.Equal(200.25m, order.Price);
            Assert.Equal(210m, order.TakeProfit);
            Assert.Equal(0m, order.StopLoss);
            Assert.Equal(QfexOrderStatus.Ack, order.Status);
            Assert.Equal(DateTimeKind.Utc, order.UpdatedAt.Kind);
            Assert.InRange(order.UpdatedAt, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(1));
            Assert.Equal(order.Frame.SessionId, order.SessionId);
            Assert.Equal("order_response", order.Frame.Type);
            Assert.Equal("BUY 1.5 AAPL-USD LIMIT 200.25 GTC TP 210", order.ToString());
            // PowerShell sees decimals and enums; the session binds by property name, so it is a (hidden) property.
            Assert.Equal("System.Decimal System.Decimal Qfex.QfexSide", _ps.Run("$o = $args[0]; '{0} {1} {2}' -f $o.Price.GetType(), $o.Quantity.GetType(), $o.Side.GetType()", order).Value());
            Assert.Same(_ps.Run("$s").Value(), order.Session);
        }

        [Fact]
        public void AMarketOrderIsIocByDefaultTakesNoPriceAndIsRecordedAsATrade()
        {
            _ps.Connect();
            QfexOrder order = Place("AAPL-USD Sell 2 -OrderType Market");
            JsonElement p = Params(Assert.Single(Sent("add_order")));
            Assert.Equal("IOC", p.GetProperty("order_time_in_force").GetString());
            Assert.False(p.TryGetProperty("price", out _));
            Assert.Equal(QfexTimeInForce.Ioc, order.TimeInForce);

            // -Price with Market is refused before sending, with the module's invalid-message record.
            var refused = _ps.Run("New-QfexOrder AAPL-USD Buy 1 5 -OrderType Market");
            ErrorRecord error = Assert.Single(refused.Errors);
            Assert.Equal("QfexInvalidMessage,Qfex.Commands.NewQfexOrderCommand", error.FullyQualifiedErrorId);
            Assert.Single(Sent("add_order"));

            QfexTrade trade = Assert.Single(All<QfexTrade>("Get-QfexTrade"));
            Assert.Equal(order.OrderId, trade.OrderId);
            Assert.Equal(QfexSide.Sell, trade.Side);
            Assert.Equal(2m, trade.Quantity);
            Assert.Equal(100m, trade.Price);
            Assert.Equal(0.1m, trade.Fee);
            Assert.Equal(QfexOrderType.Market, trade.OrderType);
            Assert.Equal(DateTimeKind.Utc, trade.ExecutedAt.Kind);
        }

        [Fact]
        public void ValidationIsTheCatalogsAndNothingIsSent()
        {
            _ps.Connect();
            var result = _ps.Run("New-QfexOrder AAPL-USD Buy 0 200 -OrderType Limit; New-QfexOrder AAPL-USD Buy 1 -OrderType Market -TimeInForce Gtc; New-QfexOrder AAPL-USD Buy 1 -OrderType Limit");
            Assert.Equal(3, result.Errors.Count);
            Assert.All(result.Errors, e => Assert.Equal("QfexInvalidMessage,Qfex.Commands.NewQfexOrderCommand", e.FullyQualifiedErrorId));
            Assert.Contains("'quantity' must be a number > 0", result.Errors[0].Exception.Message);
            Assert.Contains("cannot be GTC", result.Errors[1].Exception.Message);
            Assert.Contains("'price' is required for LIMIT orders", result.Errors[2].Exception.Message);
            Assert.Empty(Sent("add_order"));
            // The record's TargetObject is the request that was refused.
            Assert.Equal("add_order", _ps.Run("$args[0].TargetObject.type", result.Errors[0]).Value());

            var nothing = _ps.Run("Get-QfexOrder -Symbol AAPL-USD | Set-QfexOrder");
            Assert.Empty(nothing.Errors);   // no orders: nothing piped
            var set = _ps.Run("Set-QfexOrder -OrderId x -Symbol AAPL-USD -Side Buy -OrderType Limit");
            Assert.Contains("nothing to change", Assert.Single(set.Errors).Exception.Message);
            Assert.Empty(Sent("modify_order"));
        }

        [Fact]
        public void RejectionsErrorFramesAndRetriesAreSendQfexMessages()
        {
            _ps.Connect();
            _server.OrderStatusOverride = "FAILED_MARGIN_CHECK";
            var rejected = _ps.Run("New-QfexOrder AAPL-USD Buy 1 200 -OrderType Limit");
            ErrorRecord rejection = Assert.Single(rejected.Errors);
            Assert.Empty(rejected.Output);
            Assert.Equal("FAILED_MARGIN_CHECK,Qfex.Commands.NewQfexOrderCommand", rejection.FullyQualifiedErrorId);
            Assert.IsType<QfexOrderRejectedException>(rejection.Exception);
            Assert.Equal("add_order", _ps.Run("$args[0].TargetObject.type", rejection).Value());
            _server.OrderStatusOverride = null;

            _server.Respond["add_order"] = "TncRequired";
            ErrorRecord tnc = Assert.Single(_ps.Run("New-QfexOrder AAPL-USD Buy 1 200 -OrderType Limit").Errors);
            Assert.Equal("TncRequired,Qfex.Commands.NewQfexOrderCommand", tnc.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.PermissionDenied, tnc.CategoryInfo.Category);
            Assert.IsType<QfexPermissionException>(tnc.Exception);
            _server.Respond.Remove("add_order");

            // RateLimited is retried (the exchange refused it unprocessed), as Send-QfexMessage -Wait does; ServerError on an order never is.
            _server.ClearReceived();
            _server.FailNext("add_order", "RateLimited", 2);
            var retried = _ps.Run("New-QfexOrder AAPL-USD Buy 1 200 -OrderType Limit -Verbose");
            Assert.IsType<QfexOrder>(Assert.Single(retried.ThrowOnError().Output).BaseObject);
            Assert.Contains(retried.Verbose, v => v.StartsWith("add_order was answered with RateLimited; retry 2 of 3 in ", StringComparison.Ordinal));
            Assert.Equal(3, Sent("add_order").Count());
            Assert.Single(Sent("add_order").Select(r => Params(r).GetProperty("client_order_id").GetString()).Distinct());

            _server.ClearReceived();
            _server.FailNext("add_order", "ServerError", 1);
            Assert.Equal("ServerError,Qfex.Commands.NewQfexOrderCommand", Assert.Single(_ps.Run("New-QfexOrder AAPL-USD Buy 1 200 -OrderType Limit").Errors).FullyQualifiedErrorId);
            Assert.Single(Sent("add_order"));

            // A read-only request is retried after ServerError.
            _server.FailNext("get_user_orders", "ServerError", 1);
            _ps.Run("$null = Get-QfexOrder").ThrowOnError();
            Assert.Equal(2, Sent("get_user_orders").Count());
        }

        [Fact]
        public void TheRateLimiterWeighsTypedRequestsLikeSentOnes()
        {
            // 2 weight units averaged over 4 s: two orders go at once, the third waits about 2.8 s (so it waits
            // unless the first two took that long, which no slow machine should make them).
            _ps.Connect("-MessagesPerSecond 0.5 -RateLimitWindowSec 4");
            var result = _ps.Run("1..3 | ForEach-Object { New-QfexOrder AAPL-USD Buy 1 200 -OrderType Limit -Verbose } | Out-Null");
            result.ThrowOnError();
            Assert.Contains(result.Verbose, v => v.StartsWith("Throttling add_order (weight 1)", StringComparison.Ordinal));
        }

        [Fact]
        public void WhatIfSendsNothing()
        {
            _ps.Connect("-Subscribe order_responses");
            _server.ClearReceived();
            var result = _ps.Run(@"
                New-QfexOrder AAPL-USD Buy 1 200 -OrderType Limit -WhatIf
                Set-QfexOrder -OrderId x -Symbol AAPL-USD -Side Buy -OrderType Limit -Price 1 -WhatIf
                Stop-QfexOrder -OrderId x -Symbol AAPL-USD -WhatIf
                Stop-QfexOrder -All -WhatIf
                Close-QfexPosition AAPL-USD -WhatIf
                Set-QfexLeverage AAPL-USD 5 -WhatIf").ThrowOnError();
            Assert.Empty(result.Output);
            Assert.Empty(_server.Received);
        }

        // ------------------------------------------------------------------ Get-QfexOrder, paging

        [Fact]
        public void GetQfexOrderPagesThroughEveryOrderAndFirstCapsIt()
        {
            Qfex.Commands.SessionOptionHooks.Set(_ps.Runspace, o => o.PageSize = 2);
            _ps.Connect();
            _ps.Run("1..5 | ForEach-Object { $null = New-QfexOrder AAPL-USD Buy $_ 200 -OrderType Limit }; $null = New-QfexOrder MSFT-USD Sell 1 300 -OrderType Limit").ThrowOnError();
            _server.ClearReceived();

            List<QfexOrder> all = All<QfexOrder>("Get-QfexOrder");
            Assert.Equal(6, all.Count);
            Assert.Equal(new[] { "0:2", "2:2", "4:2", "6:2" },
                Sent("get_user_orders").Select(r => $"{Params(r).GetProperty("offset").GetInt32()}:{Params(r).GetProperty("limit").GetInt32()}"));
            Assert.Equal(all.Select(o => o.OrderId).Distinct().Count(), all.Count);

            _server.ClearReceived();
            List<QfexOrder> first = All<QfexOrder>("Get-QfexOrder -Symbol AAPL-USD -First 3");
            Assert.Equal(new[] { 1m, 2m, 3m }, first.Select(o => o.Quantity));
            Assert.Equal(new[] { "0:2", "2:1" },
                Sent("get_user_orders").Select(r => $"{Params(r).GetProperty("offset").GetInt32()}:{Params(r).GetProperty("limit").GetInt32()}"));
            Assert.All(Sent("get_user_orders"), r => Assert.Equal("AAPL-USD", Params(r).GetProperty("symbol").GetString()));

            // One order by id (get_order), and a piped order refreshed.
            QfexOrder one = _ps.Run("Get-QfexOrder -OrderId $args[0] -Symbol MSFT-USD", all[5].OrderId).ThrowOnError().Single<QfexOrder>();
            Assert.Equal(all[5].OrderId, one.OrderId);
            Assert.Single(Sent("get_order"));
            Assert.Equal(all[5].OrderId, _ps.Run("$args[0] | Get-QfexOrder", all[5]).ThrowOnError().Single<QfexOrder>().OrderId);
            ErrorRecord missing = Assert.Single(_ps.Run("Get-QfexOrder -OrderId nope -Symbol MSFT-USD").Errors);
            Assert.Equal("NO_SUCH_ORDER,Qfex.Commands.GetQfexOrderCommand", missing.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.ObjectNotFound, missing.CategoryInfo.Category);
        }

        // ------------------------------------------------------------------ Set- and Stop-QfexOrder from the pipeline

        [Fact]
        public void SetQfexOrderTakesPipedOrdersAndFollowsANewOrderId()
        {
            _ps.Connect();
            QfexOrder placed = Place("AAPL-USD Sell 2 210 -OrderType Limit");
            QfexOrder modified = _ps.Run("Get-QfexOrder -Symbol AAPL-USD | Set-QfexOrder -Price 211.5 -Quantity 1").ThrowOnError().Single<QfexOrder>();
            JsonElement p = Params(Assert.Single(Sent("modify_order")));
            Assert.Equal(placed.OrderId, p.GetProperty("order_id").GetString());
            Assert.Equal("SELL", p.GetProperty("side").GetString());
            Assert.Equal("LIMIT", p.GetProperty("order_type").GetString());
            Assert.Equal(211.5m, p.GetProperty("price").GetDecimal());
            Assert.False(p.TryGetProperty("take_profit", out _));   // only what was asked changes
            Assert.Equal(QfexOrderStatus.Modified, modified.Status);
            Assert.Equal(211.5m, modified.Price);
            Assert.Equal(1m, modified.Quantity);

            // The exchange may give a modified order a new id: the answer is followed by the order's client id.
            _server.ModifyAssignsNewOrderId = true;
            QfexOrder moved = _ps.Run("$args[0] | Set-QfexOrder -Price 212", modified).ThrowOnError().Single<QfexOrder>();
            Assert.NotEqual(placed.OrderId, moved.OrderId);
            Assert.Equal(placed.ClientOrderId, moved.ClientOrderId);
            Assert.Equal(212m, moved.Price);
            Assert.Equal(moved.OrderId, Assert.Single(All<QfexOrder>("Get-QfexOrder")).OrderId);

            ErrorRecord stale = Assert.Single(_ps.Run("$args[0] | Set-QfexOrder -Price 213", placed).Errors);
            Assert.Equal("CANNOT_MODIFY_NO_SUCH_ORDER,Qfex.Commands.SetQfexOrderCommand", stale.FullyQualifiedErrorId);
        }

        [Fact]
        public void StopQfexOrderCancelsPipedOrdersAndANoSuchOrderIsAnErrorForThatOrderOnly()
        {
            _ps.Connect();
            QfexOrder a = Place("AAPL-USD Buy 1 200 -OrderType Limit");
            QfexOrder b = Place("AAPL-USD Buy 2 199 -OrderType Limit");
            var result = _ps.Run("$args[0], [pscustomobject]@{ OrderId = 'no-such-order'; Symbol = 'AAPL-USD' }, $args[1] | Stop-QfexOrder", a, b);
            Assert.Equal(new[] { a.OrderId, b.OrderId }, result.Output.Select(o => ((QfexOrder)o.BaseObject).OrderId));
            Assert.All(result.Output, o => Assert.Equal(QfexOrderStatus.Cancelled, ((QfexOrder)o.BaseObject).Status));
            ErrorRecord missing = Assert.Single(result.Errors);
            Assert.Equal("NO_SUCH_ORDER,Qfex.Commands.StopQfexOrderCommand", missing.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.ObjectNotFound, missing.CategoryInfo.Category);
            Assert.Equal("no-such-order", _ps.Run("$args[0].TargetObject.params.order_id", missing).Value());
            Assert.Equal(3, Sent("cancel_order").Count());
            Assert.Empty(All<QfexOrder>("Get-QfexOrder"));

            // By client order id: sent in both fields, as the protocol doc advises.
            QfexOrder c = Place("AAPL-USD Buy 1 198 -OrderType Limit -ClientOrderId runbook-c");
            QfexOrder cancelled = _ps.Run("Stop-QfexOrder -ClientOrderId runbook-c -Symbol AAPL-USD").ThrowOnError().Single<QfexOrder>();
            Assert.Equal(c.OrderId, cancelled.OrderId);
            JsonElement p = Params(Sent("cancel_order").Last());
            Assert.Equal("client_order_id", p.GetProperty("cancel_order_id_type").GetString());
            Assert.Equal("runbook-c", p.GetProperty("order_id").GetString());
            Assert.Equal("runbook-c", p.GetProperty("client_order_id").GetString());
        }

        [Fact]
        public void StopQfexOrderAllCancelsEveryOrderOfTheSymbolAndOutputsThem()
        {
            _ps.Connect();
            _ps.Run("$null = New-QfexOrder AAPL-USD Buy 1 200 -OrderType Limit; $null = New-QfexOrder AAPL-USD Sell 1 210 -OrderType Limit; $null = New-QfexOrder MSFT-USD Buy 1 300 -OrderType Limit").ThrowOnError();
            List<QfexOrder> cancelled = All<QfexOrder>("Stop-QfexOrder -All -Symbol AAPL-USD -Force");
            Assert.Equal(2, cancelled.Count);
            Assert.All(cancelled, o => Assert.Equal(("AAPL-USD", QfexOrderStatus.Cancelled), (o.Symbol, o.Status)));
            Assert.Equal("AAPL-USD", Params(Assert.Single(Sent("cancel_all_orders"))).GetProperty("symbol").GetString());
            Assert.Equal("MSFT-USD", Assert.Single(All<QfexOrder>("Get-QfexOrder")).Symbol);
            // The cancellations were taken from the receive buffer: nothing of them is left for Receive-QfexFrame.
            Assert.Empty(_ps.Run("Receive-QfexFrame -Type order_response").ThrowOnError().Output);

            Assert.Equal("MSFT-USD", Assert.Single(All<QfexOrder>("Stop-QfexOrder -All -Confirm:$false")).Symbol);
            Assert.Empty(All<QfexOrder>("Stop-QfexOrder -All -Force"));
            Assert.Equal(3, Sent("cancel_all_orders").Count());
        }

        [Fact]
        public void APipedObjectIsHandledOnItsOwnSession()
        {
            QfexSession first = _ps.Connect();
            QfexOrder order = Place("AAPL-USD Buy 1 200 -OrderType Limit");
            QfexSession second = _ps.Connect();   // now the default session
            Assert.NotEqual(first.Id, second.Id);
            QfexOrder cancelled = _ps.Run("$args[0] | Stop-QfexOrder", order).ThrowOnError().Single<QfexOrder>();
            Assert.Equal(first.Id, cancelled.SessionId);
            int firstConnection = Sent("add_order").Single().ConnectionId;
            Assert.Equal(firstConnection, Sent("cancel_order").Single().ConnectionId);
        }

        // ------------------------------------------------------------------ positions, trades, leverage

        [Fact]
        public void ClosePositionFillsTheWholePositionAndTradesAreFilteredAndPaged()
        {
            Qfex.Commands.SessionOptionHooks.Set(_ps.Runspace, o => o.PageSize = 1);
            _ps.Connect();
            QfexOrder bought = Place("AAPL-USD Buy 3 -OrderType Market");
            QfexOrder closing = _ps.Run("Close-QfexPosition -Symbol AAPL-USD").ThrowOnError().Single<QfexOrder>();
            Assert.Equal((QfexSide?)QfexSide.Sell, closing.Side);
            Assert.Equal(3m, closing.Quantity);
            Assert.Equal(QfexOrderStatus.Ack, closing.Status);
            Assert.StartsWith("qfex-", closing.ClientOrderId);

            List<QfexTrade> trades = All<QfexTrade>("Get-QfexTrade");
            Assert.Equal(2, trades.Count);
            Assert.Equal(3, Sent("get_user_trades").Count());   // pages of one: 1, 1, then an empty one
            Assert.Equal(bought.OrderId, _ps.Run("$args[0] | Get-QfexTrade", bought).ThrowOnError().Single<QfexTrade>().OrderId);
            Assert.Single(All<QfexTrade>("Get-QfexTrade -First 1"));

            // -Start and -End are whole unix seconds, inclusive.
            _server.ClearReceived();
            Assert.Equal(2, All<QfexTrade>("Get-QfexTrade -Start ([datetime]::Now.AddMinutes(-5)) -End ([datetime]::UtcNow.AddMinutes(5))").Count);
            JsonElement p = Params(Sent("get_user_trades").First());
            long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            Assert.InRange(p.GetProperty("start_ts").GetInt64(), now - 310, now - 290);
            Assert.InRange(p.GetProperty("end_ts").GetInt64(), now + 290, now + 310);
            Assert.Empty(All<QfexTrade>("Get-QfexTrade -End ([datetime]::Now.AddMinutes(-5))"));
            ErrorRecord backwards = Assert.Single(_ps.Run("Get-QfexTrade -Start ([datetime]::Now) -End ([datetime]::Now.AddDays(-1))").Errors);
            Assert.Equal("QfexInvalidMessage,Qfex.Commands.GetQfexTradeCommand", backwards.FullyQualifiedErrorId);

            // Flat now: closing again fills nothing (ACK with quantity 0, then CANCELLED).
            Assert.Equal(0m, _ps.Run("Close-QfexPosition AAPL-USD").ThrowOnError().Single<QfexOrder>().Quantity);
        }

        [Fact]
        public void LeverageIsSetAndReadBackAndRefusedWithOpenOrders()
        {
            _ps.Connect();
            QfexLeverage set = _ps.Run("Set-QfexLeverage -Symbol AAPL-USD -Leverage 5").ThrowOnError().Single<QfexLeverage>();
            Assert.Equal(("AAPL-USD", 5m), (set.Symbol, set.Leverage));
            Assert.Null(set.InitialMargin);
            Assert.Equal("ack", set.Frame.Type);
            JsonElement p = Params(Assert.Single(Sent("set_user_leverage")));
            Assert.Equal(5m, p.GetProperty("leverage").GetDecimal());

            _ps.Run("$null = Set-QfexLeverage MSFT-USD 10").ThrowOnError();
            List<QfexLeverage> levels = All<QfexLeverage>("Get-QfexLeverage");
            Assert.Equal(new[] { "AAPL-USD", "MSFT-USD" }, levels.Select(l => l.Symbol));
            Assert.Equal(0.2m, levels[0].InitialMargin);
            Assert.Equal(0.1m, levels[0].MaintenanceMargin);
            Assert.Equal(1_000_000m, levels[0].MaxNotional);
            Assert.Equal(10m, Assert.Single(All<QfexLeverage>("Get-QfexLeverage -Symbol msft-usd")).Leverage);

            Place("AAPL-USD Buy 1 200 -OrderType Limit");
            ErrorRecord busy = Assert.Single(_ps.Run("Set-QfexLeverage AAPL-USD 2").Errors);
            Assert.Equal("InvalidParameter,Qfex.Commands.SetQfexLeverageCommand", busy.FullyQualifiedErrorId);
            ErrorRecord invalid = Assert.Single(_ps.Run("Set-QfexLeverage AAPL-USD 0").Errors);
            Assert.Equal("QfexInvalidMessage,Qfex.Commands.SetQfexLeverageCommand", invalid.FullyQualifiedErrorId);
        }

        // ------------------------------------------------------------------ the fake exchange: one book per account

        [Fact]
        public void EachAccountHasItsOwnOrderBook()
        {
            _ps.Connect();
            _ps.Run("$sub = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -AccountId 11111111-1111-1111-1111-111111111111").ThrowOnError();
            _ps.Run("$null = New-QfexOrder AAPL-USD Buy 1 200 -OrderType Limit -Session $s; $null = New-QfexOrder AAPL-USD Buy 2 201 -OrderType Limit -Session $sub").ThrowOnError();
            Assert.Equal(1m, Assert.Single(All<QfexOrder>("Get-QfexOrder -Session $s")).Quantity);
            Assert.Equal(2m, Assert.Single(All<QfexOrder>("Get-QfexOrder -Session $sub")).Quantity);
            Assert.Equal(2m, Assert.Single(All<QfexOrder>("Stop-QfexOrder -All -Force -Session $sub")).Quantity);
            Assert.Single(All<QfexOrder>("Get-QfexOrder -Session $s"));
            // A second connection of the same account sees the same book.
            _ps.Run("$same = Connect-Qfex -Uri $server.Uri -Credential $server.Credential").ThrowOnError();
            Assert.Single(All<QfexOrder>("Get-QfexOrder -Session $same"));
        }

        // ------------------------------------------------------------------ completion

        [Fact]
        public void EnumsAndSeenSymbolsComplete()
        {
            string[] Complete(string line) => _ps.Run("(TabExpansion2 -inputScript $args[0] -cursorColumn $args[0].Length).CompletionMatches.CompletionText", line)
                .ThrowOnError().Output.Where(o => o != null).Select(o => (string)o.BaseObject).ToArray();

            Assert.Equal(new[] { "Buy", "Sell" }, Complete("New-QfexOrder -Side "));
            Assert.Equal(new[] { "Alo", "Limit", "Market", "StopLoss", "TakeProfit" }, Complete("New-QfexOrder -OrderType ").OrderBy(v => v, StringComparer.Ordinal));
            Assert.Equal(new[] { "Fok", "Gtc", "Ioc" }, Complete("New-QfexOrder -TimeInForce ").OrderBy(v => v, StringComparer.Ordinal));
            Assert.Contains("StopMarket", Complete("Set-QfexOrder -OrderType "));

            _ps.Connect();
            Assert.DoesNotContain("NVDA-USD", Complete("Get-QfexOrder -Symbol "));
            Place("NVDA-USD Buy 1 100 -OrderType Limit");
            _ps.Run("$null = Get-QfexTrade; Send-QfexMessage -Type get_order -Params @{ order_id = 'x'; symbol = 'TSLA-USD' }").ThrowOnError();
            Assert.Equal(new[] { "NVDA-USD", "TSLA-USD" }, Complete("Stop-QfexOrder -All -Symbol "));
            Assert.Equal(new[] { "TSLA-USD" }, Complete("New-QfexOrder -Symbol T"));
            Assert.Equal(new[] { "NVDA-USD", "TSLA-USD" }, Complete("Get-QfexLeverage -Symbol "));
        }

        [Fact]
        public void ObjectsAreReadFromAnyFrameShape()
        {
            var orders = (object[])_ps.Run(
                "[Qfex.QfexOrder]::FromFrame((New-QfexFrame -Type stop_order_response -Data @{ stop_order_id = 's-1'; symbol = 'AAPL-USD'; price = 190.0; quantity = 1; direction = 'SELL'; stop_order_type = 'STOP_LOSS'; update_time = '2026-11-25T15:22:00Z' }))")
                .ThrowOnError().Output.Select(o => o.BaseObject).ToArray();
            var stop = Assert.IsType<QfexOrder>(Assert.Single(orders));
            Assert.Equal(("s-1", QfexSide.Sell, QfexOrderType.StopLoss), (stop.OrderId, stop.Side.GetValueOrDefault(), stop.OrderType.GetValueOrDefault()));
            Assert.Equal(new DateTime(2026, 11, 25, 15, 22, 0, DateTimeKind.Utc), stop.UpdatedAt);
            Assert.Equal(QfexOrderStatus.Unknown, stop.Status);

            QfexOrder listed = _ps.Run("[Qfex.QfexOrder]::FromFrame((New-QfexFrame -Type all_orders_response -Data @{ orders = @(@{ order_id = 'o-1'; symbol = 'AAPL-USD'; status = 'CANCELLED_STP'; side = 'BUY'; type = 'STOP_MARKET'; time_in_force = 'FOK'; quantity = 1.50; update_time = 1764084120.5 }) }))[0]")
                .ThrowOnError().Single<QfexOrder>();
            Assert.Equal(QfexOrderStatus.CancelledStp, listed.Status);
            Assert.Equal(QfexOrderType.StopMarket, listed.OrderType);
            Assert.Equal(QfexTimeInForce.Fok, listed.TimeInForce);
            Assert.Equal("1.5", listed.Quantity.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1764084120500).UtcDateTime, listed.UpdatedAt);

            QfexTrade trade = _ps.Run("[Qfex.QfexTrade]::FromFrame((New-QfexFrame -Type user_trades -Data @(@{ trade_id = 't-1'; aggressor_side = 'SELL'; price = 10; quantity = 2; tif = 'IOC'; timestamp = 1764084120 })))[0]")
                .ThrowOnError().Single<QfexTrade>();
            Assert.Equal((QfexSide?)QfexSide.Sell, trade.Side);
            Assert.Equal((QfexTimeInForce?)QfexTimeInForce.Ioc, trade.TimeInForce);

            QfexLeverage level = _ps.Run("[Qfex.QfexLeverage]::FromFrame((New-QfexFrame -Type user_leverage_response -Data @(@{ symbol = 'AAPL-USD'; leverage = '20'; max_position = 5 })))[0]")
                .ThrowOnError().Single<QfexLeverage>();
            Assert.Equal((20m, (decimal?)5m), (level.Leverage, level.MaxNotional));
        }
    }
}
