using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// Issue 14 through the engine, against the fake exchange: what an ops engineer hits first. Market-data
    /// subscriptions mid-session and their restore, -Subscribe checks and refusals, the account's rate limit and its
    /// cancel bucket, answers (modify_order's new id, stop orders, auth), order rules, cancel-on-disconnect,
    /// mistyped types, pipeline input, and Connect-Qfex without an endpoint.
    /// </summary>
    public class ProtocolFidelityEngineTests : IDisposable
    {
        private readonly PowerShellHost _ps = new PowerShellHost();
        private readonly QfexTestServer _server;

        public ProtocolFidelityEngineTests()
        {
            _server = _ps.StartServer();
        }

        public void Dispose()
        {
            _fake?.Dispose();
            _ps.Dispose();
        }

        private IEnumerable<QfexTestServerRequest> Sent(string type) => _server.Received.Where(r => r.Type == type);

        private QfexSession MarketData(string extra) =>
            (QfexSession)_ps.Run("$md = Connect-Qfex -Uri $server.MarketDataUri -Endpoint MarketData " + extra + "; $md").ThrowOnError().Value()!;

        // ------------------------------------------------------------------ 1. market data mid-session

        [Fact]
        public void MarketDataSubscribesAndUnsubscribesMidSessionAndTheReconnectRestoresItExactly()
        {
            QfexSession md = MarketData("-Subscribe candle, level2 -Symbol AAPL-USD -Interval 1min, 1HOUR -SigFigs 1");
            Assert.Equal(new[] { "candle:AAPL-USD:1HOUR", "candle:AAPL-USD:1MIN", "level2:AAPL-USD:sig_figs=1" }, md.Subscriptions);
            // The first subscribe, as the market-data socket wants it: top-level fields, intervals upper case.
            Assert.Equal("{\"type\":\"subscribe\",\"channels\":[\"candle\",\"level2\"],\"symbols\":[\"AAPL-USD\"],\"intervals\":[\"1MIN\",\"1HOUR\"],\"sig_figs\":[1]}",
                Sent("subscribe").Single().Raw);

            // Mid-session, with -Type/-Params (moved to the top level) and with -Message.
            var answer = (QfexFrame)_ps.Run("Send-QfexMessage -Session $md -Type subscribe -Params @{ channels = @('bbo', 'trade'); symbols = @('NVDA-USD') } -Wait").ThrowOnError().Value()!;
            Assert.Equal("subscribed", answer.Type);
            _ps.Run("Send-QfexMessage -Session $md -Message '{\"type\":\"subscribe\",\"channels\":[\"candle\"],\"symbols\":[\"NVDA-USD\"],\"intervals\":[\"5MINS\"]}' -Wait").ThrowOnError();
            _ps.Run("Send-QfexMessage -Session $md -Type unsubscribe -Params @{ channels = @('trade'); symbols = @('NVDA-USD') } -Wait").ThrowOnError();
            _ps.Run("Send-QfexMessage -Session $md -Type unsubscribe -Params @{ channels = @('candle'); symbols = @('AAPL-USD'); intervals = @('1HOUR') } -Wait").ThrowOnError();
            string[] expected = { "bbo:NVDA-USD", "candle:AAPL-USD:1MIN", "candle:NVDA-USD:5MINS", "level2:AAPL-USD:sig_figs=1" };
            Assert.Equal(expected, md.Subscriptions);
            // -Params went to the top level of the message, as the market-data socket wants it.
            using (var sent = System.Text.Json.JsonDocument.Parse(Sent("subscribe").ElementAt(1).Raw))
            {
                Assert.False(sent.RootElement.TryGetProperty("params", out _));
                Assert.Equal(new[] { "bbo", "trade" }, sent.RootElement.GetProperty("channels").EnumerateArray().Select(e => e.GetString()));
                Assert.Equal("NVDA-USD", sent.RootElement.GetProperty("symbols")[0].GetString());
            }

            _server.ClearReceived();
            _server.DropConnections();
            var notice = (QfexFrame)_ps.Run("Receive-QfexFrame -Session $md -Type qfex.reconnected -Count 1 -TimeoutSec 20").ThrowOnError().Value()!;
            Assert.Equal(expected, ((object[])((PSObject)notice.Data!).Properties["subscriptions"].Value).Select(o => o.ToString()).ToArray());
            Wait.Until(() => Sent("subscribe").Count() == 4, "the four restoring subscribes");
            string[] restored = Sent("subscribe").Select(r => r.Raw).OrderBy(r => r, StringComparer.Ordinal).ToArray();
            Assert.Equal(new[]
            {
                "{\"type\":\"subscribe\",\"channels\":[\"bbo\"],\"symbols\":[\"NVDA-USD\"]}",
                "{\"type\":\"subscribe\",\"channels\":[\"candle\"],\"symbols\":[\"AAPL-USD\"],\"intervals\":[\"1MIN\"]}",
                "{\"type\":\"subscribe\",\"channels\":[\"candle\"],\"symbols\":[\"NVDA-USD\"],\"intervals\":[\"5MINS\"]}",
                "{\"type\":\"subscribe\",\"channels\":[\"level2\"],\"symbols\":[\"AAPL-USD\"],\"sig_figs\":[1]}",
            }, restored);
        }

        [Fact]
        public void EachEndpointRefusesTheOthersRequestsBeforeSending()
        {
            _ps.Connect();
            MarketData("");
            var onMarketData = _ps.Run("Send-QfexMessage -Session $md -Type add_order -Params " + SessionTests.Order + " -Wait");
            ErrorRecord order = Assert.Single(onMarketData.Errors);
            Assert.StartsWith("QfexInvalidMessage,", order.FullyQualifiedErrorId);
            Assert.Contains("add_order is a trade request", order.Exception.Message);
            var onTrade = _ps.Run("Send-QfexMessage -Session $s -Message @{ type = 'subscribe'; channels = @('bbo'); symbols = @('AAPL-USD') }");
            Assert.Contains("market-data socket's shape", Assert.Single(onTrade.Errors).Exception.Message);
            var channel = _ps.Run("Send-QfexMessage -Session $s -Type subscribe -Params @{ channels = @('bbo') }");
            Assert.Contains("'bbo' is a market-data channel", Assert.Single(channel.Errors).Exception.Message);
            Assert.Empty(Sent("add_order"));
            Assert.Empty(Sent("subscribe"));
        }

        // ------------------------------------------------------------------ 2. -Subscribe

        [Fact]
        public void AnUnknownChannelFailsBeforeConnectingNamingTheValidOnes()
        {
            var result = _ps.Run("Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses, bogus_channel");
            ErrorRecord error = Assert.Single(result.AllErrors);
            Assert.StartsWith("QfexInvalidMessage,Qfex.Commands.ConnectQfexCommand", error.FullyQualifiedErrorId);
            Assert.Contains("bogus_channel", error.Exception.Message);
            Assert.Contains("order_responses, positions, balances, fills, stop_orders", error.Exception.Message);
            var md = _ps.Run("Connect-Qfex -Uri $server.MarketDataUri -Endpoint MarketData -Subscribe bbo, fills");
            Assert.Contains("fills is a channel of the Trade endpoint", Assert.Single(md.AllErrors).Exception.Message);
            var interval = _ps.Run("Connect-Qfex -Uri $server.MarketDataUri -Endpoint MarketData -Subscribe bbo -Interval 1MIN");
            Assert.StartsWith("QfexConflictingParameters,", Assert.Single(interval.AllErrors).FullyQualifiedErrorId);
            Assert.Empty(_server.Received);
            Assert.Equal(0, _server.ConnectionCount);
        }

        [Fact]
        public void ASubscriptionTheExchangeRefusesFailsConnectWithThatError()
        {
            _server.Respond["subscribe"] = "PermissionDenied";
            var result = _ps.Run("Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses, fills");
            ErrorRecord error = Assert.Single(result.AllErrors);
            Assert.StartsWith("PermissionDenied,Qfex.Commands.ConnectQfexCommand", error.FullyQualifiedErrorId);
            Assert.IsType<QfexPermissionException>(error.Exception);
            Assert.Equal("subscribe", Assert.IsType<QfexEcho>(error.TargetObject).Value.Properties["type"].Value);
            Assert.Empty(_ps.Run("Get-QfexSession").ThrowOnError().Output);        // no session left behind

            // The market-data socket too.
            _server.Respond["subscribe"] = "InvalidParameter";
            var md = _ps.Run("Connect-Qfex -Uri $server.MarketDataUri -Endpoint MarketData -Subscribe bbo -Symbol AAPL-USD");
            Assert.StartsWith("InvalidParameter,Qfex.Commands.ConnectQfexCommand", Assert.Single(md.AllErrors).FullyQualifiedErrorId);
        }

        [Theory]
        [InlineData("Connect-Qfex -Subscribe ", "order_responses", "bbo")]
        [InlineData("Connect-Qfex -Endpoint Trade -Subscribe ", "fills", "level2")]
        [InlineData("Connect-Qfex -Endpoint MarketData -Subscribe ", "level2", "order_responses")]
        [InlineData("Connect-Qfex -Subscribe b -Endpoint MarketData", "bbo", "balances")]
        public void SubscribeCompletesTheChannelsOfTheEndpoint(string line, string offered, string notOffered)
        {
            int cursor = line.EndsWith(" ", StringComparison.Ordinal) ? line.Length : line.IndexOf(" -Endpoint", StringComparison.Ordinal);
            var result = _ps.Run("[System.Management.Automation.CommandCompletion]::CompleteInput($args[0], $args[1], $null).CompletionMatches | ForEach-Object { $_.CompletionText }", line, cursor).ThrowOnError();
            string[] texts = result.Output.Select(o => o.ToString()!).ToArray();
            Assert.Contains(offered, texts);
            Assert.DoesNotContain(notOffered, texts);
        }

        // ------------------------------------------------------------------ 3. the limiter

        [Fact]
        public async Task ACancelGoesOutAtOnceBehindAQueueOfQueriesAndTheAccountsSessionsShareTheLimit()
        {
            // A budget of 3 units averaged over 60 s: two get_user_orders (weight 5, counting as half the budget
            // each) fill the general bucket; the next ones wait about 40 s each.
            QfexSession first = _ps.Connect("-Subscribe order_responses -MessagesPerSecond 0.05 -RateLimitWindowSec 60");
            var second = (QfexSession)_ps.Run("$s2 = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -MessagesPerSecond 0.05 -RateLimitWindowSec 60; $s2").ThrowOnError().Value()!;
            Assert.Same(first.Supervisor.Throttle!.Shared, second.Supervisor.Throttle!.Shared);

            using var queueHost = new PowerShellHost();
            using var queued = PowerShell.Create();
            queued.Runspace = queueHost.Runspace;
            queued.AddScript("param($session) 1..6 | ForEach-Object { Send-QfexMessage -Session $session -Type get_user_orders -Wait -MaxRetries 0 }").AddArgument(first);
            IAsyncResult running = queued.BeginInvoke();
            var general = first.Supervisor.Throttle!.Shared.General;
            Wait.Until(() => Sent("get_user_orders").Count() == 2 && general.Waiting == 1, "two queries sent and the third waiting for the limiter");

            // The other session of the same account waits behind them: one limit per account.
            using var otherHost = new PowerShellHost();
            var otherQuery = Task.Run(() => otherHost.Run("Send-QfexMessage -Session $args[0] -Type get_user_trades -Wait -Verbose -MaxRetries 0", second));
            Wait.Until(() => general.Waiting == 2, "the other session's query waiting too");

            // A cancel, on either session, goes out at once: the queue of queries is in the general bucket.
            var cancel = _ps.Run("Send-QfexMessage -Session $s -Type cancel_all_orders -Wait -Verbose").ThrowOnError();
            Assert.Equal("ack", ((QfexFrame)cancel.Value()!).Type);
            Assert.DoesNotContain(cancel.Verbose, v => v.StartsWith("Throttling", StringComparison.Ordinal));
            _ps.Run("Send-QfexMessage -Session $s2 -Type cancel_order -Params @{ symbol = 'AAPL-USD'; order_id = 'nope'; cancel_order_id_type = 'order_id' }").ThrowOnError();
            Wait.Until(() => Sent("cancel_order").Any(), "the second session's cancel");
            Assert.Equal(2, general.Waiting);                      // the queries still wait: the cancels went past them
            Assert.Equal(2, Sent("get_user_orders").Count());
            Assert.Empty(Sent("get_user_trades"));

            // Closing a session ends its own waits (not sent), not the other session's.
            _ps.Run("Disconnect-Qfex -Session $s2").ThrowOnError();
            ScriptResult other = await otherQuery;
            ErrorRecord notSent = Assert.Single(other.Errors);
            Assert.Equal(QfexRequestOutcome.NotSent, ((QfexException)notSent.Exception).RequestOutcome);
            Assert.Contains(other.Verbose, v => v.StartsWith("Throttling get_user_trades (weight 0.5)", StringComparison.Ordinal)
                && v.Contains("shared by the 2 session(s) of this account", StringComparison.Ordinal));
            Assert.Equal(1, general.Waiting);
            queued.Stop();
            Assert.Throws<PipelineStoppedException>(() => queued.EndInvoke(running));
            Assert.Equal(QfexSessionState.Open, first.State);
            Assert.Equal(2, Sent("get_user_orders").Count());
        }

        // ------------------------------------------------------------------ 4. answers

        [Fact]
        public void ModifyOrderWaitFollowsTheNewOrderIdTheExchangeAssigns()
        {
            _ps.Connect("-Subscribe order_responses");
            _server.ModifyAssignsNewOrderId = true;
            var result = _ps.Run(@"
                $ack = Send-QfexMessage -Type add_order -Params " + SessionTests.Order + @" -Wait -ErrorAction Stop
                $old = $ack.Data.order_response.order_id
                $modified = Send-QfexMessage -Type modify_order -Params @{ order_id = $old; symbol = 'AAPL-USD'; side = 'BUY'; order_type = 'LIMIT'; price = 201 } -Wait -TimeoutSec 5 -ErrorAction Stop
                $old; $modified.Data.order_response.order_id; $modified.Data.order_response.status").ThrowOnError();
            Assert.NotEqual(result.Value(0), result.Value(1));
            Assert.Equal("MODIFIED", result.Value(2));
        }

        [Fact]
        public void StopOrderRequestsAreAnsweredUnderWait()
        {
            _ps.Connect("-Subscribe order_responses");
            var result = _ps.Run(@"
                $tp = Send-QfexMessage -Type add_order -Params @{ symbol = 'AAPL-USD'; side = 'SELL'; order_type = 'TAKE_PROFIT'; order_time_in_force = 'GTC'; quantity = 1; price = 250 } -Wait -ErrorAction Stop
                $id = $tp.Data.order_response.order_id
                (Send-QfexMessage -Type modify_stop_order -Params @{ stop_order_id = $id; symbol = 'AAPL-USD'; price = 260; quantity = 1 } -Wait -TimeoutSec 5 -ErrorAction Stop).Type
                $cancelled = Send-QfexMessage -Type cancel_stop_order -Params @{ stop_order_id = $id } -Wait -TimeoutSec 5 -ErrorAction Stop
                $cancelled.Data.order_response.status; $cancelled.Data.order_response.type").ThrowOnError();
            Assert.Equal(new object?[] { "stop_order_response", "CANCELLED", "TAKE_PROFIT" }, result.Output.Select(o => o.BaseObject).ToArray());
            // modify_stop_order without price and quantity is refused before sending.
            var missing = _ps.Run("Send-QfexMessage -Type modify_stop_order -Params @{ stop_order_id = 'x'; symbol = 'AAPL-USD' }");
            Assert.StartsWith("QfexInvalidMessage,", Assert.Single(missing.Errors).FullyQualifiedErrorId);
            Assert.Single(Sent("modify_stop_order"));
        }

        [Fact]
        public void AUserSentAuthIsRefusedBeforeSending()
        {
            _ps.Connect();
            var result = _ps.Run("Send-QfexMessage -Message @{ type = 'auth'; params = @{ jwt = 'eyJ.x.y' } } -Wait");
            ErrorRecord error = Assert.Single(result.Errors);
            Assert.StartsWith("QfexInvalidMessage,", error.FullyQualifiedErrorId);
            Assert.Contains("AlreadyAuthenticated", error.Exception.Message);
            Assert.Single(Sent("auth"));                                     // Connect-Qfex's own
        }

        // ------------------------------------------------------------------ 5. orders

        [Fact]
        public void MarketAndTwapOrdersFollowTheExchangesRules()
        {
            _ps.Connect("-Subscribe order_responses");
            const string market = "@{ symbol = 'AAPL-USD'; side = 'BUY'; order_type = 'MARKET'; order_time_in_force = 'IOC'; quantity = 1; price = 0 }";
            var filled = (QfexFrame)_ps.Run("Send-QfexMessage -Type add_order -Params " + market + " -Wait").ThrowOnError().Value()!;
            Assert.Equal("order_response", filled.Type);

            var gtc = _ps.Run("Send-QfexMessage -Type add_order -Params " + market.Replace("'IOC'", "'GTC'", StringComparison.Ordinal) + " -Wait");
            Assert.Contains("cannot be GTC", Assert.Single(gtc.Errors).Exception.Message);
            var twapTooFew = _ps.Run("Send-QfexMessage -Type add_twap -Params @{ symbol = 'AAPL-USD'; side = 'BUY'; total_quantity = 10; num_orders = 1; order_interval_secs = 30; reduce_only = $false }");
            Assert.Contains("'num_orders' must be a whole number >= 2", Assert.Single(twapTooFew.Errors).Exception.Message);
            var tpNegative = _ps.Run("Send-QfexMessage -Type add_order -Params @{ symbol = 'AAPL-USD'; side = 'BUY'; order_type = 'LIMIT'; order_time_in_force = 'GTC'; quantity = 1; price = 200; take_profit = -1 }");
            Assert.Contains("'take_profit' must be a number >= 0", Assert.Single(tpNegative.Errors).Exception.Message);
            Assert.Single(Sent("add_order"));
            Assert.Empty(Sent("add_twap"));

            var twap = (QfexFrame)_ps.Run("Send-QfexMessage -Type add_twap -Params @{ symbol = 'AAPL-USD'; side = 'BUY'; total_quantity = 10; num_orders = 2; order_interval_secs = 30; reduce_only = $false } -Wait").ThrowOnError().Value()!;
            Assert.Equal("twap_response", twap.Type);
        }

        [Fact]
        public async Task TheFakeExchangeRefusesWhatTheExchangeRefuses()
        {
            // A client that does not check (not this module) gets the fake exchange's refusals, so a runbook test
            // cannot pass on what the exchange refuses.
            using FakeExchangeClient client = await FakeExchangeClient.ConnectAuthenticatedAsync(Fake, "order_responses");
            await client.SendAsync("{\"type\":\"add_order\",\"params\":{\"symbol\":\"AAPL-USD\",\"side\":\"BUY\",\"order_type\":\"MARKET\",\"order_time_in_force\":\"GTC\",\"quantity\":1,\"price\":0}}");
            Assert.Equal("INVALID_TIME_IN_FORCE", (await client.ReceiveJsonAsync()).GetProperty("order_response").GetProperty("status").GetString());
            await client.SendAsync("{\"type\":\"add_order\",\"params\":{\"symbol\":\"AAPL-USD\",\"side\":\"BUY\",\"order_type\":\"MARKET\",\"order_time_in_force\":\"IOC\",\"quantity\":1,\"price\":0}}");
            Assert.Equal("ACK", (await client.ReceiveJsonAsync()).GetProperty("order_response").GetProperty("status").GetString());
            Assert.Equal("FILLED", (await client.ReceiveJsonAsync()).GetProperty("order_response").GetProperty("status").GetString());
            foreach (string bad in new[]
            {
                "{\"type\":\"add_twap\",\"params\":{\"symbol\":\"AAPL-USD\",\"side\":\"BUY\",\"total_quantity\":10,\"num_orders\":1,\"order_interval_secs\":30,\"reduce_only\":false}}",
                "{\"type\":\"add_twap\",\"params\":{\"symbol\":\"AAPL-USD\",\"side\":\"BUY\",\"total_quantity\":10,\"num_orders\":2,\"order_interval_secs\":10,\"reduce_only\":false}}",
                "{\"type\":\"modify_stop_order\",\"params\":{\"stop_order_id\":\"x\",\"symbol\":\"AAPL-USD\"}}",
                "{\"type\":\"add_order\",\"params\":{\"symbol\":\"AAPL-USD\",\"side\":\"BUY\",\"order_type\":\"LIMIT\",\"order_time_in_force\":\"GTC\",\"quantity\":1,\"price\":200,\"stop_loss\":-1}}",
            })
            {
                await client.SendAsync(bad);
                Assert.Equal("InvalidParameter", (await client.ReceiveJsonAsync()).GetProperty("err").GetProperty("error_code").GetString());
            }

            // The market-data socket: unknown channels and trade requests are refused (the fake's guess, labelled in its help).
            using FakeExchangeClient md = await FakeExchangeClient.ConnectAsync(Fake.MarketDataUri);
            await md.SendAsync("{\"type\":\"subscribe\",\"channels\":[\"bbo\",\"bogus\"],\"symbols\":[\"*\"]}");
            Assert.Equal("InvalidParameter", (await md.ReceiveJsonAsync()).GetProperty("err").GetProperty("error_code").GetString());
            await md.SendAsync("{\"type\":\"add_order\",\"params\":{}}");
            Assert.Equal("InvalidParameter", (await md.ReceiveJsonAsync()).GetProperty("err").GetProperty("error_code").GetString());

            // The published rate limit, scaled: weights, the moving average, and a cancel bucket of its own.
            Fake.RateLimitBudget = 10;
            for (int i = 0; i < 2; i++)
            {
                await client.SendAsync("{\"type\":\"get_user_orders\",\"params\":{}}");
                Assert.True((await client.ReceiveJsonAsync()).TryGetProperty("all_orders_response", out _));
            }
            await client.SendAsync("{\"type\":\"get_user_orders\",\"params\":{}}");
            Assert.Equal("RateLimited", (await client.ReceiveJsonAsync()).GetProperty("err").GetProperty("error_code").GetString());
            await client.SendAsync("{\"type\":\"cancel_all_orders\",\"params\":{}}");
            Assert.True((await client.ReceiveJsonAsync()).TryGetProperty("ack", out _));
        }

        private QfexTestServer Fake => _fake ??= QfexTestServer.Start(0, FakeExchangeTests.Key, Secure(FakeExchangeTests.Secret));
        private QfexTestServer? _fake;

        private static System.Security.SecureString Secure(string text)
        {
            var secure = new System.Security.SecureString();
            foreach (char c in text) secure.AppendChar(c);
            return secure;
        }

        // ------------------------------------------------------------------ 6. cancel-on-disconnect

        [Fact]
        public void CancelOnDisconnectTurnedOnWithSendIsRestoredAndReportedAfterAReconnect()
        {
            QfexSession session = _ps.Connect();
            _ps.Run("Send-QfexMessage -Type cancel_on_disconnect -Params @{ cancel_on_disconnect = $true } -Wait").ThrowOnError();
            _server.ClearReceived();
            _server.DropConnections();
            var notice = (QfexFrame)_ps.Run("Receive-QfexFrame -Type qfex.reconnected -Count 1 -TimeoutSec 20").ThrowOnError().Value()!;
            Assert.Equal(true, ((PSObject)notice.Data!).Properties["cancel_on_disconnect"].Value);
            Wait.Until(() => Sent("cancel_on_disconnect").Any(), "cancel-on-disconnect restored on the new connection");
            QfexTestServerRequest restored = Assert.Single(Sent("cancel_on_disconnect"));
            Assert.Equal(Sent("auth").Single().ConnectionId, restored.ConnectionId);
            Assert.Contains("\"cancel_on_disconnect\":true", restored.Raw, StringComparison.Ordinal);

            // Turned off again: the next reconnect neither restores it nor reports it.
            _ps.Run("Send-QfexMessage -Type cancel_on_disconnect -Params @{ cancel_on_disconnect = $false } -Wait").ThrowOnError();
            _server.ClearReceived();
            _server.DropConnections();
            notice = (QfexFrame)_ps.Run("Receive-QfexFrame -Type qfex.reconnected -Count 1 -TimeoutSec 20").ThrowOnError().Value()!;
            Assert.Equal(false, ((PSObject)notice.Data!).Properties["cancel_on_disconnect"].Value);
            _ps.Run("$null = Send-QfexMessage -Type get_user_trades -Wait -ErrorAction Stop").ThrowOnError();   // a barrier on the new connection
            Assert.Empty(Sent("cancel_on_disconnect"));
            Assert.Equal(2, session.Reconnects);
        }

        [Fact]
        public void ACancelOnDisconnectTheExchangeRefusesIsNotRestored()
        {
            _ps.Connect();
            _server.FailNext("cancel_on_disconnect", "PermissionDenied");
            Assert.StartsWith("PermissionDenied,", Assert.Single(_ps.Run("Send-QfexMessage -Type cancel_on_disconnect -Params @{ cancel_on_disconnect = $true } -Wait").Errors).FullyQualifiedErrorId);
            _server.ClearReceived();
            _server.DropConnections();
            var notice = (QfexFrame)_ps.Run("Receive-QfexFrame -Type qfex.reconnected -Count 1 -TimeoutSec 20").ThrowOnError().Value()!;
            Assert.Equal(false, ((PSObject)notice.Data!).Properties["cancel_on_disconnect"].Value);
        }

        // ------------------------------------------------------------------ 7. mistyped types

        [Fact]
        public void AMistypedTypeIsSentWithAWarningNamingTheClosestKnownType()
        {
            _ps.Connect();
            var typo = _ps.Run("Send-QfexMessage -Type add_ordr -Params @{ symbol = 'AAPL-USD' }").ThrowOnError();
            Assert.Contains("did you mean add_order?", Assert.Single(typo.Warnings));
            Wait.Until(() => Sent("add_ordr").Any(), "the mistyped request at the exchange");   // forward compatible: still sent

            var upper = _ps.Run("Send-QfexMessage -Type GET_USER_ORDERS -Wait").ThrowOnError();
            Assert.Contains("only in case", Assert.Single(upper.Warnings));
            Assert.Equal("all_orders_response", ((QfexFrame)upper.Value()!).Type);
            Assert.Empty(Sent("GET_USER_ORDERS"));
            Assert.Equal("{\"type\":\"get_user_orders\",\"params\":{}}", Sent("get_user_orders").Single().Raw);

            // A case variant of an order is checked like the order (here: refused, nothing sent).
            Assert.StartsWith("QfexInvalidMessage,", Assert.Single(_ps.Run("Send-QfexMessage -Type ADD_ORDER -Params @{ symbol = 'AAPL-USD' }").Errors).FullyQualifiedErrorId);
            Assert.Empty(Sent("add_order"));
        }

        // ------------------------------------------------------------------ 8. pipeline

        [Fact]
        public void ARequestWithoutParamsIsTheSameOnEveryInputPath()
        {
            _ps.Connect();
            var result = _ps.Run(@"
                ([pscustomobject]@{ Type = 'get_user_orders' } | Send-QfexMessage -Wait).Type
                (Send-QfexMessage -Message '{""type"":""get_user_orders""}' -Wait).Type
                (@{ type = 'get_user_orders' } | Send-QfexMessage -Wait).Type
                (Send-QfexMessage -Type get_user_orders -Wait).Type").ThrowOnError();
            Assert.All(result.Output, o => Assert.Equal("all_orders_response", o.BaseObject));
            Assert.Equal(4, result.Output.Count);
            Assert.All(Sent("get_user_orders"), r => Assert.Equal("{\"type\":\"get_user_orders\",\"params\":{}}", r.Raw));
        }

        [Fact]
        public void PipedSessionsBindBySessionPropertyName()
        {
            _ps.Connect();
            _ps.Run("$s2 = Connect-Qfex -Uri $server.Uri -Credential $server.Credential").ThrowOnError();
            var result = _ps.Run("Get-QfexSession | Send-QfexMessage -Type get_user_orders -Wait").ThrowOnError();
            Assert.Equal(2, result.Output.Count);
            Assert.Equal(2, result.Output.Select(o => ((QfexFrame)o.BaseObject).SessionId).Distinct().Count());
            Assert.Equal(2, Sent("get_user_orders").Select(r => r.ConnectionId).Distinct().Count());
            // With -Message too; the property is hidden (Format-List * and Get-Member do not show it).
            Assert.Equal(2, _ps.Run("Get-QfexSession | Send-QfexMessage -Message '{\"type\":\"get_user_trades\"}' -Wait").ThrowOnError().Output.Count);
            var hidden = _ps.Run("$s.psobject.Properties.Name -contains 'Session'; [object]::ReferenceEquals($s.Session, $s)").ThrowOnError();
            Assert.Equal(new object[] { false, true }, hidden.Output.Select(o => o.BaseObject).ToArray());
        }

        [Fact]
        public async Task PipedSessionsShareOneReceiveDeadline()
        {
            _ps.Connect();
            var second = (QfexSession)_ps.Run("$s2 = Connect-Qfex -Uri $server.Uri -Credential $server.Credential; $null = Receive-QfexFrame -Session $s; $null = Receive-QfexFrame -Session $s2; $s2").ThrowOnError().Value()!;
            // The first session's wait uses up the call's 1.5 s; with one deadline for the call the second session is
            // not waited for at all: it times out at once. A frame comes for it as soon as it is waited for, if it
            // ever is (a deadline per session would wait, take the frame and output it), else once the call is over:
            // then it stays buffered for the next read. No pause decides the outcome, however slow the machine.
            Task<ScriptResult> call = Task.Run(() => _ps.Run("$s, $s2 | Receive-QfexFrame -Count 1 -TimeoutSec 1.5"));
            Wait.Until(() => call.IsCompleted || second.Buffer.Sleepers > 0, "the call to end or to wait on the second session");
            _server.Push("{\"type\":\"late\"}");
            ScriptResult result = await call;
            Assert.Empty(result.Output);
            Assert.Equal(2, result.Errors.Count(e => e.FullyQualifiedErrorId.StartsWith("QfexReceiveTimeout,", StringComparison.Ordinal)));
            var late = (QfexFrame)_ps.Run("Receive-QfexFrame -Session $s2 -Count 1 -TimeoutSec 10").ThrowOnError().Value()!;
            Assert.Equal("late", late.Type);
        }

        // ------------------------------------------------------------------ 9. no default environment

        [Fact]
        public void ConnectWithoutEnvironmentOrUriFailsBeforeConnecting()
        {
            var result = _ps.Run("Connect-Qfex -Credential $server.Credential");
            ErrorRecord error = Assert.Single(result.AllErrors);
            Assert.StartsWith("QfexNoEndpoint,Qfex.Commands.ConnectQfexCommand", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
            Assert.Contains("-Environment Uat|Production", error.Exception.Message);
            Assert.Contains("$PSDefaultParameterValues['Connect-Qfex:Environment']", error.Exception.Message);
            Assert.Empty(_server.Received);

            // A default from $PSDefaultParameterValues counts as given (here it meets -Uri: conflicting).
            var defaulted = _ps.Run("$PSDefaultParameterValues['Connect-Qfex:Environment'] = 'Uat'; try { Connect-Qfex -Uri $server.Uri -Credential $server.Credential } finally { $PSDefaultParameterValues.Remove('Connect-Qfex:Environment') }");
            Assert.StartsWith("QfexConflictingParameters,", Assert.Single(defaulted.AllErrors).FullyQualifiedErrorId);
        }
    }
}
