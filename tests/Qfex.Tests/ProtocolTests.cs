using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using System.Text;
using System.Text.Json;
using Qfex.Errors;
using Qfex.Protocol;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>Plain unit tests of the protocol classes (no engine, no socket).</summary>
    public class ProtocolTests
    {
        private static List<FrameContent> Read(string text) => ReadBytes(Encoding.UTF8.GetBytes(text));

        private static List<FrameContent> ReadBytes(byte[] bytes)
        {
            var list = new List<FrameContent>();
            FrameReader.ReadText(bytes, list);
            return list;
        }

        [Theory]
        [InlineData("{\"order_response\":{\"status\":\"ACK\"}}", "order_response")]
        [InlineData("{\"authenticated\":true}", "authenticated")]
        [InlineData("{\"type\":\"level2\",\"symbol\":\"AAPL-USD\"}", "level2")]
        [InlineData("{\"symbol\":\"X\",\"type\":\"bbo\"}", "bbo")]
        [InlineData("{}", "empty")]
        [InlineData("{\"\\u006frder_response\":{}}", "order_response")]
        [InlineData("{\"type\":\"l\\u0065vel2\"}", "level2")]
        [InlineData("{\"a\":{\"type\":\"inner\"},\"b\":[{\"type\":\"x\"}]}", "a")]
        [InlineData("{\"type\":5,\"z\":1}", "type")]
        public void FrameTypeIsTheTypePropertyElseTheFirstKey(string json, string type)
        {
            FrameContent frame = Assert.Single(Read(json));
            Assert.Equal(type, frame.Type);
            Assert.Null(frame.Error);
            Assert.Null(frame.MalformedReason);
            Assert.Equal(json, frame.Raw);
        }

        [Theory]
        [InlineData("{\"err\":{\"error_code\":\"RateLimited\",\"message\":\"m\",\"incoming_message\":null}}")]
        [InlineData("{\"type\":\"error\",\"error_code\":\"RateLimited\",\"message\":\"m\"}")]
        [InlineData("{\"type\":\"Err\",\"error_code\":\"RateLimited\",\"message\":\"m\",\"extra\":[1,2]}")]
        public void BothErrorShapesAreRead(string json)
        {
            FrameContent frame = Assert.Single(Read(json));
            Assert.Equal("error", frame.Type);
            Assert.Equal("RateLimited", frame.Error!.Code);
            Assert.Equal("m", frame.Error.Message);
            Assert.Null(frame.Error.Incoming);
        }

        [Theory]
        [InlineData("not json")]
        [InlineData("{\"a\":1")]
        [InlineData("[1,2]")]
        [InlineData("42")]
        [InlineData("\"text\"")]
        [InlineData("{\"a\":1} trailing")]
        [InlineData("")]
        [InlineData("{\"err\":{\"message\":\"no code\"}}")]
        [InlineData("{\"err\":\"RateLimited\"}")]
        [InlineData("{\"type\":\"error\",\"error_code\":5}")]
        public void AnythingElseIsMalformedNeverAnException(string text)
        {
            FrameContent frame = Assert.Single(Read(text));
            Assert.Equal(FrameReader.MalformedType, frame.Type);
            Assert.NotNull(frame.MalformedReason);
            Assert.Equal(MalformedKind.Unreadable, frame.Malformed);
        }

        [Fact]
        public void RepeatedTypesShareOneStringAndInventedTypesAreStillReadExactly()
        {
            // The reader caches type names it has seen (bounded): the same instance for a repeated type.
            // Tests running in parallel may replace the slot between two reads, so a few tries are allowed.
            bool shared = false;
            for (int attempt = 0; attempt < 5 && !shared; attempt++)
            {
                string first = Assert.Single(Read("{\"type\":\"cache_probe\",\"n\":1}")).Type;
                string second = Assert.Single(Read("{\"type\":\"cache_probe\",\"n\":2}")).Type;
                Assert.Equal("cache_probe", first);
                Assert.Equal("cache_probe", second);
                shared = ReferenceEquals(first, second);
            }
            Assert.True(shared, "a repeated type name was decoded into a new string every time");

            // ...and a server inventing more types than the cache holds still gets every one read right,
            // including names that share a prefix with a cached one.
            for (int round = 0; round < 2; round++)
                for (int i = 0; i < 200; i++)
                    Assert.Equal("cache_probe" + i, Assert.Single(Read("{\"type\":\"cache_probe" + i + "\"}")).Type);
            Assert.Equal("cache_prob", Assert.Single(Read("{\"type\":\"cache_prob\"}")).Type);
            Assert.Equal("cache_probf", Assert.Single(Read("{\"type\":\"cache_probf\"}")).Type);
            Assert.Equal("", Assert.Single(Read("{\"type\":\"\"}")).Type);
        }

        [Fact]
        public void InvalidUtf8IsMalformed()
        {
            FrameContent frame = Assert.Single(ReadBytes(new byte[] { (byte)'{', 0xC3, 0x28, (byte)'}' }));
            Assert.Contains("UTF-8", frame.MalformedReason);
        }

        [Fact]
        public void BinaryFrameIsMalformed()
        {
            FrameContent frame = FrameReader.ReadBinary(new byte[] { 1, 2, 3 });
            Assert.Contains("binary", frame.MalformedReason);
        }

        [Fact]
        public void AnArrayOfObjectsIsSplitIntoFramesInOrder()
        {
            var frames = Read("[{\"type\":\"bbo\",\"n\":1},{\"err\":{\"error_code\":\"ServerError\"}},{\"subscribed\":\"fills\"}]");
            Assert.Equal(new[] { "bbo", "error", "subscribed" }, frames.Select(f => f.Type));
            Assert.Equal("{\"type\":\"bbo\",\"n\":1}", frames[0].Raw);
        }

        [Fact]
        public void AnErrorFramesEchoCountsTowardTheBytesItHolds()
        {
            // The echo is kept as its own redacted text beside the frame's: the session's byte budget counts both.
            string pad = new string('x', 10_000);
            string text = "{\"err\":{\"error_code\":\"InvalidOrder\",\"incoming_message\":{\"type\":\"add_order\",\"params\":{\"note\":\"" + pad + "\"}}}}";
            var list = new List<FrameContent>();
            FrameReader.ReadText(Encoding.UTF8.GetBytes(text), list);
            FrameContent content = Assert.Single(list);
            var echo = Assert.IsType<QfexEcho>(content.Error!.Incoming);
            Assert.Equal(QfexFrame.FrameOverhead + Encoding.UTF8.GetByteCount(text) + 2L * echo.Json.Length, content.Size);
            Assert.True(content.Size > 3L * pad.Length);
            Assert.Equal(content.Size, content.ToFrame(1, DateTime.UtcNow, 1).Size);
        }

        [Fact]
        public void EchoedAuthRequestIsRedacted()
        {
            var frame = Assert.Single(Read(
                "{\"err\":{\"error_code\":\"AlreadyAuthenticated\",\"message\":null,\"incoming_message\":{\"type\":\"auth\",\"params\":{\"hmac\":{\"public_key\":\"pub\",\"nonce\":\"n0nce\",\"unix_ts\":1,\"signature\":\"s1gnature\"},\"jwt\":\"eyJtoken\"}}}}"));
            var incoming = Assert.IsType<QfexEcho>(frame.Error!.Incoming).Value;
            var p = (PSObject)incoming.Properties["params"].Value;
            var hmac = (PSObject)p.Properties["hmac"].Value;
            Assert.Equal("pub", hmac.Properties["public_key"].Value);
            Assert.Equal(Redaction.Mask, hmac.Properties["signature"].Value);
            Assert.Equal(Redaction.Mask, hmac.Properties["nonce"].Value);
            Assert.Equal(Redaction.Mask, p.Properties["jwt"].Value);
            Assert.Equal(1L, hmac.Properties["unix_ts"].Value);
        }

        [Fact]
        public void JsonNumbersBecomeLongOrDecimalAndObjectsKeepTheirOrder()
        {
            var pso = (PSObject)PSJson.Parse("{\"b\":10,\"a\":10.0,\"c\":0.1,\"d\":12345678901234567890123,\"e\":1e400,\"f\":[1,\"x\",null,true]}")!;
            Assert.Equal(new[] { "b", "a", "c", "d", "e", "f" }, pso.Properties.Select(p => p.Name));
            Assert.Equal(10L, pso.Properties["b"].Value);
            Assert.Equal(10.0m, pso.Properties["a"].Value);
            Assert.Equal(0.1m, pso.Properties["c"].Value);
            Assert.IsType<decimal>(pso.Properties["d"].Value);
            Assert.Equal(new object?[] { 1L, "x", null, true }, (object?[])pso.Properties["f"].Value);
        }

        [Fact]
        public void SerializeWritesHashtablesObjectsArraysAndNumbersFaithfully()
        {
            var inner = new PSObject();
            inner.Properties.Add(new PSNoteProperty("q", 1.5m));
            var table = new System.Collections.Specialized.OrderedDictionary { ["type"] = "x", ["params"] = inner, ["list"] = new object[] { 1, "a", null! }, ["flag"] = true };
            Assert.Equal("{\"type\":\"x\",\"params\":{\"q\":1.5},\"list\":[1,\"a\",null],\"flag\":true}", PSJson.Serialize(table));
            Assert.Throws<ArgumentException>(() => PSJson.Serialize(new Hashtable { ["s"] = new SecureString() }));
            Assert.Throws<ArgumentException>(() => PSJson.Serialize(double.NaN));
        }

        [Fact]
        public void HmacSignatureMatchesTheProtocolRecipe()
        {
            // Independent computation: lower-case hex HMAC-SHA256(secret UTF-8, "nonce:unix_ts").
            var secret = new SecureString();
            foreach (char c in "qfex_secret_abc") secret.AppendChar(c);
            using var hmac = new System.Security.Cryptography.HMACSHA256(Encoding.UTF8.GetBytes("qfex_secret_abc"));
            string expected = string.Concat(hmac.ComputeHash(Encoding.UTF8.GetBytes("c0ffee:1760545414")).Select(b => b.ToString("x2")));
            Assert.Equal(expected, HmacAuth.Sign(secret, "c0ffee", 1760545414));

            string nonce = HmacAuth.NewNonce();
            Assert.Matches("^[0-9a-f]{32}$", nonce);
            Assert.NotEqual(nonce, HmacAuth.NewNonce());

            using var doc = JsonDocument.Parse(HmacAuth.BuildHmacMessage("pub", secret, Guid.Empty, DateTimeOffset.FromUnixTimeSeconds(1760545414)));
            JsonElement h = doc.RootElement.GetProperty("params").GetProperty("hmac");
            Assert.Equal("auth", doc.RootElement.GetProperty("type").GetString());
            Assert.Equal(1760545414, h.GetProperty("unix_ts").GetInt64());
            Assert.Equal(HmacAuth.Sign(secret, h.GetProperty("nonce").GetString()!, 1760545414), h.GetProperty("signature").GetString());
        }

        [Theory]
        [InlineData("ws://127.0.0.1:5000/", true)]
        [InlineData("ws://localhost/", true)]
        [InlineData("ws://[::1]:80/", true)]
        [InlineData("wss://trade.qfex.com/", true)]
        [InlineData("ws://trade.qfex.com/", false)]
        [InlineData("ws://10.0.0.1/", false)]
        public void ClearTextIsAllowedOnlyToLoopback(string uri, bool allowed) =>
            Assert.Equal(allowed, Endpoints.IsAllowed(new Uri(uri)));

        [Fact]
        public void EnvironmentsMapToTheDocumentedHosts()
        {
            Assert.Equal("wss://trade.qfex.com/", Endpoints.For(QfexEnvironment.Production, QfexEndpoint.Trade).ToString());
            Assert.Equal("wss://mds.qfex.io/", Endpoints.For(QfexEnvironment.Uat, QfexEndpoint.MarketData).ToString());
        }

        [Theory]
        [InlineData("Too many requests. Please retry after 200ms.", 200)]
        [InlineData("retry after 2s", 2000)]
        [InlineData("Retry-After: 1.5 s", 1500)]
        [InlineData("please RETRY IN 3 seconds", 3000)]
        [InlineData("retry_after_ms=250", 250)]
        [InlineData("Retry-After: 7", 7000)]
        [InlineData("retry after 1 minute", 60000)]
        [InlineData("try again in 500 ms", 500)]
        [InlineData("retry-after-seconds: 2", 2000)]
        [InlineData("Retry-After: 120 seconds", 120000)]
        [InlineData("You sent 120 messages in 1 s. Please retry after 200ms.", 200)]
        public void RetryAfterHintsAreReadLiberally(string message, int ms) =>
            Assert.Equal(TimeSpan.FromMilliseconds(ms), RetryAfterHint.Parse(message));

        [Theory]
        [InlineData(null)]
        [InlineData("")]
        [InlineData("You have exceeded the allowed message rate.")]
        [InlineData("retry after 99999 minutes")]
        [InlineData("please retry 3 times")]
        [InlineData("retry after 3 attempts")]
        [InlineData("Retry-After: 3 times")]
        [InlineData("retry attempt 2 of 5")]
        [InlineData("Limit: 100 requests per 1 s. Retry later.")]
        [InlineData("retry after 0,5s")]
        [InlineData("retry after 1,500 ms")]
        [InlineData("retry after 2 hours")]
        [InlineData("retry after order 12345")]
        public void NoUsableHintGivesNull(string? message) => Assert.Null(RetryAfterHint.Parse(message));

        [Fact]
        public void ValidatorChecksRequiredEnumsNumbersAndPriceForLimitOrders()
        {
            using var bad = JsonDocument.Parse("{\"symbol\":\"AAPL-USD\",\"side\":\"buy\",\"order_type\":\"ALO\",\"order_time_in_force\":\"GTC\",\"quantity\":-1}");
            var problems = MessageValidator.Validate("add_order", bad.RootElement);
            Assert.Contains(problems, p => p.Contains("'side'"));
            Assert.Contains(problems, p => p.Contains("'quantity'"));
            Assert.Contains(problems, p => p.Contains("'price' is required for ALO"));

            using var market = JsonDocument.Parse("{\"symbol\":\"AAPL-USD\",\"side\":\"SELL\",\"order_type\":\"MARKET\",\"order_time_in_force\":\"IOC\",\"quantity\":1}");
            Assert.Empty(MessageValidator.Validate("add_order", market.RootElement));
            using var anything = JsonDocument.Parse("{\"whatever\":1}");
            Assert.Empty(MessageValidator.Validate("some_future_type", anything.RootElement));
        }

        [Fact]
        public void EveryCatalogTypeAndCodeIsUnique()
        {
            Assert.Equal(MessageCatalog.Types.Count(), MessageCatalog.Types.Distinct().Count());
            Assert.Equal(ErrorCodeTable.Codes.Count(), ErrorCodeTable.Codes.Distinct().Count());
        }

        [Fact]
        public void AnswerMatcherTakesOnlyTheAnswerToItsRequest()
        {
            using var p = JsonDocument.Parse("{\"client_order_id\":\"mine\"}");
            var matcher = new AnswerMatcher("add_order", p.RootElement);
            Assert.True(matcher.Matches(Frame("order_response", "{\"order_response\":{\"client_order_id\":\"mine\",\"status\":\"ACK\"}}")));
            Assert.False(matcher.Matches(Frame("order_response", "{\"order_response\":{\"client_order_id\":\"other\",\"status\":\"ACK\"}}")));
            Assert.True(matcher.Matches(ErrorFrame("{\"err\":{\"error_code\":\"RateLimited\",\"incoming_message\":{\"type\":\"add_order\",\"params\":{\"client_order_id\":\"mine\"}}}}")));
            Assert.False(matcher.Matches(ErrorFrame("{\"err\":{\"error_code\":\"RateLimited\",\"incoming_message\":{\"type\":\"add_order\",\"params\":{\"client_order_id\":\"other\"}}}}")));
            Assert.False(matcher.Matches(ErrorFrame("{\"err\":{\"error_code\":\"ServerError\"}}")));
            Assert.False(matcher.Matches(Frame("subscribed", "{\"subscribed\":\"fills\"}")));
        }

        [Theory]
        [InlineData("{\"type\":\"b\",\"Type\":\"c\"}", "c")]
        [InlineData("{\"Type\":\"c\",\"type\":\"b\"}", "b")]
        [InlineData("[{\"TYPE\":\"x\",\"type\":\"y\"}]", "y")]
        public void TypeAndDataAgreeWhenKeysDifferOnlyInCase(string json, string type)
        {
            // Issue 18: Data holds such keys as one property, the last one winning; Type is read the same way.
            FrameContent content = Read(json).Single();
            Assert.Equal(type, content.Type);
            var data = (PSObject)new QfexFrame(1, content.Type, content.Raw, DateTime.UtcNow, 1).Data!;
            Assert.Equal(type, data.Properties["type"].Value);
        }

        [Fact]
        public async System.Threading.Tasks.Task ParsingIsLinearInTheKeyCount()
        {
            // Issue 18: 200,000 keys (one object) took minutes when duplicates were checked by a scan of every key
            // so far. Linear, it is a fraction of a second; the hang bound catches a quadratic parser.
            var json = new StringBuilder("{\"type\":\"wide\"");
            for (int i = 0; i < 200_000; i++) json.Append(",\"k").Append(i).Append("\":").Append(i);
            json.Append('}');
            var parse = System.Threading.Tasks.Task.Run(() => PSJson.Parse(json.ToString()));
            Wait.Until(() => parse.IsCompleted, "200,000 keys to be parsed");
            var wide = (PSObject)(await parse)!;
            Assert.Equal(200_001, wide.Properties.Count());
            Assert.Equal(199_999L, wide.Properties["K199999"].Value);
        }

        private static QfexFrame Frame(string type, string raw) => new QfexFrame(1, type, raw, DateTime.UtcNow, 1);

        private static QfexFrame ErrorFrame(string raw)
        {
            FrameContent content = Assert.Single(Read(raw));
            return new QfexFrame(1, content.Type, raw, DateTime.UtcNow, 1) { Error = content.Error };
        }
    }
}
