using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Time.Testing;
using Qfex.Protocol;
using Qfex.Transport;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// Issue 14, the protocol as the exchange publishes it, without the engine: the rate limiter (weights,
    /// moving average, the cancel bucket, one limit per account), the endpoint-aware catalog and its order rules,
    /// answer matching (modify_order's new order_id, stop orders), subscription keys and their restore.
    /// </summary>
    public class ProtocolFidelityUnitTests
    {
        private static readonly DateTimeOffset T0 = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

        private static SessionOptions Options(FakeTimeProvider clock, double perSecond, double windowSec, IDictionary<string, double>? weights = null) => new SessionOptions
        {
            Uri = new Uri("ws://127.0.0.1:1/"),
            Clock = clock,
            WeightPerSecond = perSecond,
            RateLimitWindow = TimeSpan.FromSeconds(windowSec),
            WeightOverrides = weights ?? new Dictionary<string, double>(StringComparer.Ordinal),
        };

        // ------------------------------------------------------------------ the rate limiter

        [Fact]
        public void TheDefaultsAreThePublishedBudgetAndTheMovingAverageAllowsItsBurstThenItsRate()
        {
            var options = new SessionOptions();
            Assert.Equal(200, options.WeightPerSecond);
            Assert.Equal(TimeSpan.FromSeconds(60), options.RateLimitWindow);

            var load = new EmaLoad(RateLimits.PublishedBudget, RateLimits.PublishedWindowSeconds);
            load.DecayTo(0);
            int admitted = 0;
            while (load.TryAdd(1.0)) admitted++;
            Assert.Equal(12_000, admitted);                           // the whole budget from idle
            // Then the load decays with a 60 s time constant: one second later about 200 units (12,000 x (1 - e^-1/60)) fit.
            load.DecayTo(1);
            int next = 0;
            while (load.TryAdd(1.0)) next++;
            Assert.InRange(next, 195, 200);
            // A weight above half the budget counts as half the budget (a load never decays to zero).
            var small = new EmaLoad(2, 1);
            small.DecayTo(0);
            Assert.True(small.TryAdd(5));
            Assert.True(small.TryAdd(5));
            Assert.False(small.TryAdd(5));
        }

        [Fact]
        public void PublishedWeightsAndTheCancelBucketComeFromTheCatalog()
        {
            Assert.Equal(1.0, RateLimits.WeightOf("add_order"));
            Assert.Equal(5.0, RateLimits.WeightOf("get_user_orders"));
            Assert.Equal(2.0, RateLimits.WeightOf("cancel_all_orders"));
            Assert.Equal(0.5, RateLimits.WeightOf("get_user_trades"));
            Assert.Equal(1.0, RateLimits.WeightOf("something_new"));
            foreach (string cancel in new[] { "cancel_order", "cancel_all_orders", "cancel_stop_order" })
                Assert.Equal(RateBucket.Cancel, RateLimits.BucketOf(cancel));
            foreach (string other in new[] { "add_order", "get_user_orders", "cancel_on_disconnect", "modify_stop_order", "something_new" })
                Assert.Equal(RateBucket.General, RateLimits.BucketOf(other));
            // The weights the current page does not list are marked so (the docs must not call them published).
            string[] unpublished = MessageCatalog.All.Where(m => m.Endpoint == QfexEndpoint.Trade && !m.WeightPublished).Select(m => m.Type).OrderBy(t => t).ToArray();
            Assert.Equal(new[] { "add_twap", "auth", "close_position", "transfer_balance" }, unpublished);
        }

        [Fact]
        public async Task ACancelGoesOutAtOnceBehindAQueueOfQueries()
        {
            var clock = new FakeTimeProvider(T0);
            using var throttle = new RequestThrottle(Options(clock, 1, 10), "key:cancel-test");   // a budget of 10 units
            var notes = new List<string>();
            await throttle.AcquireAsync("get_user_orders", notes.Add, CancellationToken.None);  // 5
            await throttle.AcquireAsync("get_user_orders", notes.Add, CancellationToken.None);  // 10: the general bucket is full
            Task[] queries = Enumerable.Range(0, 20).Select(_ => throttle.AcquireAsync("get_user_orders", notes.Add, CancellationToken.None)).ToArray();
            Assert.All(queries, q => Assert.False(q.IsCompleted));
            Assert.Equal(20, throttle.Shared.General.Waiting);
            Assert.All(notes, n => Assert.StartsWith("Throttling get_user_orders (weight 5)", n, StringComparison.Ordinal));

            // A cancel does not queue behind them: it completes before the clock moves at all.
            Task cancel = throttle.AcquireAsync("cancel_all_orders", notes.Add, CancellationToken.None);
            Assert.True(cancel.IsCompleted);
            Assert.True(throttle.AcquireAsync("cancel_order", notes.Add, CancellationToken.None).IsCompleted);
            Assert.DoesNotContain(notes, n => n.StartsWith("Throttling cancel", StringComparison.Ordinal));

            // The queries go out in order as the moving average decays: the first after 10 s x ln 2.
            clock.Advance(TimeSpan.FromSeconds(6.9));
            Assert.False(queries[0].IsCompleted);
            clock.Advance(TimeSpan.FromSeconds(0.2));
            await queries[0];
            Assert.False(queries[1].IsCompleted);
            // Twenty more waits of about 7 s each: in order, first come first served.
            var done = new List<int>();
            for (int i = 0; i < 20; i++) _ = queries[i].ContinueWith(_ => { lock (done) done.Add(i); }, TaskScheduler.Default);
            for (int second = 0; second < 200; second++) clock.Advance(TimeSpan.FromSeconds(1));
            Wait.Until(() => { lock (done) return done.Count == 20; }, "every queued query admitted");
            Assert.All(queries, q => Assert.True(q.IsCompletedSuccessfully));
            Assert.Equal(0, throttle.Shared.General.Waiting);
        }

        [Fact]
        public async Task SessionsOfOneAccountShareOneLimitAndOtherAccountsDoNot()
        {
            var clock = new FakeTimeProvider(T0);
            using var first = new RequestThrottle(Options(clock, 1, 4), "key:qfex_pub_shared");     // 4 units
            using var second = new RequestThrottle(Options(clock, 1, 4), "key:qfex_pub_shared");
            using var other = new RequestThrottle(Options(clock, 1, 4), "key:qfex_pub_other");
            using var own = new RequestThrottle(Options(clock, 1, 4), null);
            Assert.Same(first.Shared, second.Shared);
            Assert.NotSame(first.Shared, other.Shared);
            Assert.Equal(2, first.Shared.Users);

            for (int i = 0; i < 4; i++) await first.AcquireAsync("add_order", _ => { }, CancellationToken.None);
            var notes = new List<string>();
            Task waits = second.AcquireAsync("add_order", notes.Add, CancellationToken.None);
            Assert.False(waits.IsCompleted);
            Assert.Contains("shared by the 2 session(s) of this account", Assert.Single(notes), StringComparison.Ordinal);
            Assert.True(other.AcquireAsync("add_order", _ => { }, CancellationToken.None).IsCompleted);
            Assert.True(own.AcquireAsync("add_order", _ => { }, CancellationToken.None).IsCompleted);

            // A session that closes ends its own waits (not sent), never the others'.
            Task mine = first.AcquireAsync("add_order", _ => { }, CancellationToken.None);
            first.Dispose();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => mine);
            Assert.False(waits.IsCompleted);
            clock.Advance(TimeSpan.FromSeconds(2));
            await waits;
        }

        [Fact]
        public void TheAccountKeyIsThePublicKeyOrTheJwtsSubjectNeverASecret()
        {
            static SecureString Secure(string s)
            {
                var secure = new SecureString();
                foreach (char c in s) secure.AppendChar(c);
                return secure;
            }
            static string Jwt(string payload) =>
                "eyJhbGciOiJIUzI1NiJ9." + Convert.ToBase64String(Encoding.UTF8.GetBytes(payload)).TrimEnd('=').Replace('+', '-').Replace('/', '_') + ".c2ln";

            Assert.Equal("key:qfex_pub_1", QfexCredentials.Hmac("qfex_pub_1", Secure("qfex_secret_1")).RateLimitKey);
            string a = QfexCredentials.FromJwt(Secure(Jwt("{\"sub\":\"user-7\",\"exp\":1}"))).RateLimitKey;
            string b = QfexCredentials.FromJwt(Secure(Jwt("{\"sub\":\"user-7\",\"exp\":2}"))).RateLimitKey;
            Assert.Equal("jwt-sub:user-7", a);
            Assert.Equal(a, b);                                                                  // two tokens of one user share
            string opaque = QfexCredentials.FromJwt(Secure("not.a-jwt.at-all")).RateLimitKey;
            Assert.StartsWith("jwt-sha256:", opaque, StringComparison.Ordinal);
            Assert.DoesNotContain("not.a-jwt", opaque, StringComparison.Ordinal);
        }

        // ------------------------------------------------------------------ the catalog and its rules

        private static IReadOnlyList<string> Check(string json, QfexEndpoint endpoint = QfexEndpoint.Trade)
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            return MessageValidator.ValidateMessage(doc.RootElement.GetProperty("type").GetString()!, doc.RootElement, endpoint);
        }

        private static string AddOrder(string extra) =>
            "{\"type\":\"add_order\",\"params\":{\"symbol\":\"AAPL-USD\",\"side\":\"BUY\",\"quantity\":1," + extra + "}}";

        [Fact]
        public void OrderRulesFollowThePublishedProtocol()
        {
            // MARKET ignores its price: 0 (what clients send) or none is fine; MARKET with GTC is refused.
            Assert.Empty(Check(AddOrder("\"order_type\":\"MARKET\",\"order_time_in_force\":\"IOC\",\"price\":0")));
            Assert.Empty(Check(AddOrder("\"order_type\":\"MARKET\",\"order_time_in_force\":\"FOK\"")));
            Assert.Contains("cannot be GTC", Assert.Single(Check(AddOrder("\"order_type\":\"MARKET\",\"order_time_in_force\":\"GTC\""))));
            // Priced orders need a price > 0; stop orders' price is the trigger.
            Assert.Contains("must be > 0 for LIMIT", Assert.Single(Check(AddOrder("\"order_type\":\"LIMIT\",\"order_time_in_force\":\"GTC\",\"price\":0"))));
            Assert.Contains("trigger price", Assert.Single(Check(AddOrder("\"order_type\":\"STOP_LOSS\",\"order_time_in_force\":\"GTC\""))));
            // take_profit and stop_loss: >= 0, 0 = unused.
            Assert.Empty(Check(AddOrder("\"order_type\":\"LIMIT\",\"order_time_in_force\":\"GTC\",\"price\":200,\"take_profit\":0,\"stop_loss\":0")));
            Assert.Contains("'take_profit' must be a number >= 0", Assert.Single(Check(AddOrder("\"order_type\":\"LIMIT\",\"order_time_in_force\":\"GTC\",\"price\":200,\"take_profit\":-1"))));
            Assert.Contains("'stop_loss' must be a number >= 0", Assert.Single(Check(
                "{\"type\":\"modify_order\",\"params\":{\"order_id\":\"o\",\"symbol\":\"AAPL-USD\",\"side\":\"BUY\",\"order_type\":\"LIMIT\",\"stop_loss\":-5}}")));

            // add_twap: num_orders >= 2, order_interval_secs >= 30.
            const string twap = "{\"type\":\"add_twap\",\"params\":{\"symbol\":\"AAPL-USD\",\"side\":\"BUY\",\"total_quantity\":10,\"reduce_only\":false,";
            Assert.Empty(Check(twap + "\"num_orders\":2,\"order_interval_secs\":30}}"));
            Assert.Contains("'num_orders' must be a whole number >= 2", Assert.Single(Check(twap + "\"num_orders\":1,\"order_interval_secs\":30}}")));
            Assert.Contains("'order_interval_secs' must be a whole number >= 30", Assert.Single(Check(twap + "\"num_orders\":5,\"order_interval_secs\":29}}")));

            // modify_stop_order requires price and quantity.
            IReadOnlyList<string> stop = Check("{\"type\":\"modify_stop_order\",\"params\":{\"stop_order_id\":\"s\",\"symbol\":\"AAPL-USD\"}}");
            Assert.Contains(stop, p => p.Contains("'price' is required"));
            Assert.Contains(stop, p => p.Contains("'quantity' is required"));

            // auth is the module's own: a user-sent one would earn AlreadyAuthenticated.
            Assert.Contains("sent by Connect-Qfex", Assert.Single(Check("{\"type\":\"auth\",\"params\":{\"jwt\":\"x\"}}")));
            Assert.DoesNotContain("auth", MessageCatalog.Types);
        }

        [Fact]
        public void ValidationKnowsTheEndpoint()
        {
            // Trade requests on the market-data socket, and the market-data subscribe shape on the trade socket.
            Assert.Contains("is a trade request", Assert.Single(Check(AddOrder("\"order_type\":\"MARKET\",\"order_time_in_force\":\"IOC\""), QfexEndpoint.MarketData)));
            Assert.Contains("market-data socket's shape", Assert.Single(Check("{\"type\":\"subscribe\",\"channels\":[\"bbo\"],\"symbols\":[\"*\"]}")));
            Assert.Contains("is a market-data channel", Assert.Single(Check("{\"type\":\"subscribe\",\"params\":{\"channels\":[\"bbo\"]}}")));

            // The market-data shape: channels, symbols, intervals, sig_figs at the top level.
            Assert.Empty(Check("{\"type\":\"subscribe\",\"channels\":[\"candle\",\"level2\"],\"symbols\":[\"AAPL-USD\"],\"intervals\":[\"1MIN\",\"1DAY\"],\"sig_figs\":[2]}", QfexEndpoint.MarketData));
            Assert.Empty(Check("{\"type\":\"unsubscribe\",\"channels\":[\"bbo\"],\"symbols\":[\"*\"]}", QfexEndpoint.MarketData));
            Assert.Contains("'intervals' has '2MIN'", Assert.Single(Check("{\"type\":\"subscribe\",\"channels\":[\"candle\"],\"symbols\":[\"*\"],\"intervals\":[\"2MIN\"]}", QfexEndpoint.MarketData)));
            Assert.Contains("'sig_figs' has 3", Assert.Single(Check("{\"type\":\"subscribe\",\"channels\":[\"level2\"],\"symbols\":[\"*\"],\"sig_figs\":[3]}", QfexEndpoint.MarketData)));
            Assert.Contains("is a trade channel", Assert.Single(Check("{\"type\":\"subscribe\",\"channels\":[\"fills\"],\"symbols\":[\"*\"]}", QfexEndpoint.MarketData)));
            Assert.Contains("'symbols' is required", Assert.Single(Check("{\"type\":\"subscribe\",\"channels\":[\"bbo\"]}", QfexEndpoint.MarketData)));
            // Unknown types pass on both sockets (forward compatible).
            Assert.Empty(Check("{\"type\":\"something_new\",\"params\":{}}"));
            Assert.Empty(Check("{\"type\":\"something_new\"}", QfexEndpoint.MarketData));
        }

        [Fact]
        public void EveryInputPathMakesTheSameRequestInTheEndpointsShape()
        {
            using var byType = OutgoingMessage.FromTypeAndParams("get_user_orders", null);
            using var byJson = OutgoingMessage.FromMessage("{\"type\":\"get_user_orders\"}");
            var pso = new PSObject();
            pso.Properties.Add(new PSNoteProperty("Type", "get_user_orders"));
            using var byObject = OutgoingMessage.FromMessage(pso);
            using var byNullParams = OutgoingMessage.FromMessage("{\"type\":\"get_user_orders\",\"params\":null}");
            Assert.Equal("{\"type\":\"get_user_orders\",\"params\":{}}", byType.Json);
            Assert.Equal(byType.Json, byJson.Json);
            Assert.Equal(byType.Json, byObject.Json);
            Assert.Equal(byType.Json, byNullParams.Json);

            // Market data: params are moved to the top level, whichever way they were given.
            var fields = new System.Collections.Specialized.OrderedDictionary { ["channels"] = new[] { "bbo" }, ["symbols"] = new[] { "AAPL-USD" } };
            using var md = OutgoingMessage.FromTypeAndParams("subscribe", fields, QfexEndpoint.MarketData);
            using var mdJson = OutgoingMessage.FromMessage("{\"type\":\"subscribe\",\"channels\":[\"bbo\"],\"symbols\":[\"AAPL-USD\"]}", QfexEndpoint.MarketData);
            Assert.Equal("{\"type\":\"subscribe\",\"channels\":[\"bbo\"],\"symbols\":[\"AAPL-USD\"]}", md.Json);
            Assert.Equal(md.Json, mdJson.Json);

            // A case-only variant is the known type: checked, and sent as the exchange spells it.
            using var upper = OutgoingMessage.FromTypeAndParams("GET_USER_ORDERS", null);
            Assert.Equal("get_user_orders", upper.Type);
            Assert.Equal("GET_USER_ORDERS", upper.TypedAs);
            Assert.Equal(byType.Json, upper.Json);
            Assert.Throws<InvalidMessageException>(() => OutgoingMessage.FromTypeAndParams("ADD_ORDER", new System.Collections.Hashtable { ["symbol"] = "X" }));
        }

        [Theory]
        [InlineData("add_ordr", "add_order", true)]
        [InlineData("get_user_order", "get_user_orders", true)]
        [InlineData("cancel_al_orders", "cancel_all_orders", true)]
        [InlineData("subscirbe", "subscribe", true)]
        [InlineData("market_depth_snapshot", null, false)]
        public void TheClosestKnownTypeIsNamed(string typed, string? closest, bool typo)
        {
            (string found, int distance) = MessageCatalog.Closest(typed, QfexEndpoint.Trade);
            if (closest != null) Assert.Equal(closest, found);
            Assert.Equal(typo, MessageCatalog.IsLikelyTypo(typed, distance));
        }

        // ------------------------------------------------------------------ answers

        private static QfexFrame Frame(string type, string raw) => new QfexFrame(1, type, raw, DateTime.UtcNow, 1);

        [Fact]
        public void ModifyOrderFollowsANewOrderIdByTheOrdersClientId()
        {
            using var p = JsonDocument.Parse("{\"order_id\":\"old-id\",\"symbol\":\"AAPL-USD\",\"side\":\"BUY\",\"order_type\":\"LIMIT\",\"price\":201}");
            var index = new OrderIndex();
            index.Track(Frame("order_response", "{\"order_response\":{\"order_id\":\"old-id\",\"client_order_id\":\"mine\",\"status\":\"ACK\"}}"));
            var matcher = new AnswerMatcher("modify_order", p.RootElement, index.ClientIdOf);

            Assert.True(matcher.Matches(Frame("order_response", "{\"order_response\":{\"order_id\":\"old-id\",\"client_order_id\":\"mine\",\"status\":\"MODIFIED\"}}")));
            Assert.True(matcher.Matches(Frame("order_response", "{\"order_response\":{\"order_id\":\"new-id\",\"client_order_id\":\"mine\",\"status\":\"MODIFIED\"}}")));
            Assert.True(matcher.Matches(Frame("order_response", "{\"order_response\":{\"order_id\":\"old-id\",\"client_order_id\":\"\",\"status\":\"CANNOT_MODIFY_PARTIAL_FILL\"}}")));
            // Not its answer: another order's modify, or a fill or cancel of the same order.
            Assert.False(matcher.Matches(Frame("order_response", "{\"order_response\":{\"order_id\":\"new-id\",\"client_order_id\":\"other\",\"status\":\"MODIFIED\"}}")));
            Assert.False(matcher.Matches(Frame("order_response", "{\"order_response\":{\"order_id\":\"old-id\",\"client_order_id\":\"mine\",\"status\":\"FILLED\"}}")));
            Assert.False(matcher.Matches(Frame("order_response", "{\"order_response\":{\"order_id\":\"old-id\",\"client_order_id\":\"mine\",\"status\":\"CANCELLED\"}}")));
            // Without a known client id, only the old id matches.
            var blind = new AnswerMatcher("modify_order", p.RootElement, _ => null);
            Assert.False(blind.Matches(Frame("order_response", "{\"order_response\":{\"order_id\":\"new-id\",\"client_order_id\":\"mine\",\"status\":\"MODIFIED\"}}")));
        }

        [Fact]
        public void StopOrderRequestsAreMatched()
        {
            using var p = JsonDocument.Parse("{\"stop_order_id\":\"stop-1\",\"symbol\":\"AAPL-USD\",\"price\":190,\"quantity\":1}");
            var modify = new AnswerMatcher("modify_stop_order", p.RootElement);
            Assert.True(modify.Matches(Frame("stop_order_response", "{\"stop_order_response\":{\"stop_order_id\":\"stop-1\",\"price\":190}}")));
            Assert.False(modify.Matches(Frame("stop_order_response", "{\"stop_order_response\":{\"stop_order_id\":\"stop-2\",\"price\":190}}")));
            Assert.True(modify.Matches(Frame("ack", "{\"ack\":{}}")));
            Assert.True(modify.Matches(Frame("ack", "{\"ack\":{\"incoming_message\":{\"type\":\"modify_stop_order\",\"params\":{\"stop_order_id\":\"stop-1\"}}}}")));
            Assert.False(modify.Matches(Frame("ack", "{\"ack\":{\"incoming_message\":{\"type\":\"modify_stop_order\",\"params\":{\"stop_order_id\":\"stop-9\"}}}}")));

            var cancel = new AnswerMatcher("cancel_stop_order", p.RootElement);
            Assert.True(cancel.Matches(Frame("order_response", "{\"order_response\":{\"order_id\":\"stop-1\",\"status\":\"CANCELLED\",\"type\":\"STOP_LOSS\"}}")));
            Assert.True(cancel.Matches(Frame("ack", "{\"ack\":{}}")));

            using var add = JsonDocument.Parse("{\"client_order_id\":\"tp-1\"}");
            Assert.True(new AnswerMatcher("add_order", add.RootElement).Matches(Frame("stop_order_response", "{\"stop_order_response\":{\"stop_order_id\":\"s\",\"client_order_id\":\"tp-1\"}}")));
        }

        // ------------------------------------------------------------------ subscriptions

        [Fact]
        public void MarketDataSubscriptionsAreTrackedWithIntervalsAndSigFigsAndRestoredExactly()
        {
            var tracker = new SubscriptionTracker(QfexEndpoint.MarketData);
            string[] keys = tracker.Keys(new[] { "candle", "level2", "bbo" }, new[] { "AAPL-USD", "NVDA-USD" }, new[] { "1MIN", "1HOUR" }, new[] { 1 });
            Assert.Equal(new[]
            {
                "candle:AAPL-USD:1MIN", "candle:AAPL-USD:1HOUR", "candle:NVDA-USD:1MIN", "candle:NVDA-USD:1HOUR",
                "level2:AAPL-USD:sig_figs=1", "level2:NVDA-USD:sig_figs=1", "bbo:AAPL-USD", "bbo:NVDA-USD",
            }, keys);
            tracker.Want(keys);
            string[] restore = tracker.RestoreMessages().OrderBy(m => m, StringComparer.Ordinal).ToArray();
            Assert.Equal(new[]
            {
                "{\"type\":\"subscribe\",\"channels\":[\"bbo\"],\"symbols\":[\"AAPL-USD\",\"NVDA-USD\"]}",
                "{\"type\":\"subscribe\",\"channels\":[\"candle\"],\"symbols\":[\"AAPL-USD\",\"NVDA-USD\"],\"intervals\":[\"1HOUR\"]}",
                "{\"type\":\"subscribe\",\"channels\":[\"candle\"],\"symbols\":[\"AAPL-USD\",\"NVDA-USD\"],\"intervals\":[\"1MIN\"]}",
                "{\"type\":\"subscribe\",\"channels\":[\"level2\"],\"symbols\":[\"AAPL-USD\",\"NVDA-USD\"],\"sig_figs\":[1]}",
            }, restore);

            // An unsubscribe of candle for a symbol (no interval) ends every interval of it.
            tracker.Unwant(new[] { "candle:AAPL-USD" });
            Assert.DoesNotContain(tracker.Current, k => k.StartsWith("candle:AAPL-USD", StringComparison.Ordinal));
            Assert.Contains("candle:NVDA-USD:1MIN", tracker.Current);
        }

        [Fact]
        public async Task ARefusedSubscriptionEndsTheWaitAndIsNotRestored()
        {
            var tracker = new SubscriptionTracker(QfexEndpoint.Trade);
            string[] keys = tracker.Keys(new[] { "order_responses" }, null);
            tracker.Want(keys);
            const string raw = "{\"err\":{\"error_code\":\"PermissionDenied\",\"message\":\"no\",\"incoming_message\":{\"type\":\"subscribe\",\"params\":{\"channels\":[\"order_responses\"]}}}}";
            var list = new List<FrameContent>();
            FrameReader.ReadText(Encoding.UTF8.GetBytes(raw), list);
            QfexFrame refusal = list[0].ToFrame(1, DateTime.UtcNow, 1);
            Task<SubscribeOutcome> wait = tracker.WaitForAsync(keys, CancellationToken.None);
            tracker.Track(refusal);
            Assert.Equal(SubscribeOutcome.Refused, await wait);
            Assert.Same(refusal, tracker.Refusal(keys));
            Assert.Empty(tracker.RestoreMessages());
        }
    }
}
