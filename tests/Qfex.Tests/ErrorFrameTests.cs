using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using Qfex.Errors;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>Error frames as ErrorRecords, end to end through the fake exchange and the engine.</summary>
    public class ErrorFrameTests : IDisposable
    {
        private readonly PowerShellHost _ps = new PowerShellHost();
        private readonly QfexTestServer _server;

        public ErrorFrameTests()
        {
            _server = _ps.StartServer();
            _ps.Connect();
        }

        public void Dispose() => _ps.Dispose();

        /// <summary>The six examples of the error-frame spec (example 2's elided "{ ... }" params filled with an HMAC auth payload).</summary>
        public static IEnumerable<object[]> SpecExamples() => new[]
        {
            new object[] { "{\"err\":{\"error_code\":\"InvalidJSONFormat\",\"message\":\"Expected field `symbol` (string).\",\"incoming_message\":{\"type\":\"add_order\",\"params\":{\"side\":\"BUY\",\"order_type\":\"LIMIT\",\"order_time_in_force\":\"GTC\",\"quantity\":10.0,\"price\":200.0}}}}",
                "InvalidJSONFormat", ErrorCategory.ParserError, typeof(QfexInvalidRequestException), "add_order" },
            new object[] { "{\"err\":{\"error_code\":\"AlreadyAuthenticated\",\"message\":\"Connection is already authenticated.\",\"incoming_message\":{\"type\":\"auth\",\"params\":{\"hmac\":{\"public_key\":\"qfex_pub_x\",\"nonce\":\"abcdef0123\",\"unix_ts\":1760545414,\"signature\":\"5f2e9d0c1b\"}}}}}",
                "AlreadyAuthenticated", ErrorCategory.InvalidOperation, typeof(QfexStateException), "auth" },
            new object[] { "{\"err\":{\"error_code\":\"InvalidParameter\",\"message\":\"price must be >= min_tick and within price bands.\",\"incoming_message\":{\"type\":\"modify_order\",\"params\":{\"symbol\":\"AAPL\",\"order_id\":\"cd1a2b0c-...-f3\",\"quantity\":10.0,\"price\":0.0001,\"take_profit\":0.0,\"stop_loss\":0.0,\"side\":\"BUY\"}}}}",
                "InvalidParameter", ErrorCategory.InvalidArgument, typeof(QfexInvalidRequestException), "modify_order" },
            new object[] { "{\"err\":{\"error_code\":\"PermissionDenied\",\"message\":\"API key does not allow trading on this account.\",\"incoming_message\":{\"type\":\"transfer_balance\",\"params\":{\"amount\":100.0,\"to_api_key\":\"****\"}}}}",
                "PermissionDenied", ErrorCategory.PermissionDenied, typeof(QfexPermissionException), "transfer_balance" },
            new object[] { "{\"err\":{\"error_code\":\"RateLimited\",\"message\":\"Too many requests. Please retry after 200ms.\",\"incoming_message\":{\"type\":\"cancel_all_orders\",\"params\":{}}}}",
                "RateLimited", ErrorCategory.QuotaExceeded, typeof(QfexRateLimitedException), "cancel_all_orders" },
            new object[] { "{\"err\":{\"error_code\":\"ServerError\",\"message\":\"Unexpected error processing request.\",\"incoming_message\":{\"type\":\"get_user_trades\",\"params\":{\"limit\":50}}}}",
                "ServerError", ErrorCategory.ResourceUnavailable, typeof(QfexServerFaultException), "get_user_trades" },
        };

        private ErrorRecord ReceiveOneError(string frame)
        {
            _server.Push(frame);
            var result = _ps.Run("Receive-QfexFrame -Count 1 -TimeoutSec 5");
            Assert.Empty(result.Output);
            Assert.Null(result.Terminating);
            return Assert.Single(result.Errors);
        }

        [Theory]
        [MemberData(nameof(SpecExamples))]
        public void SpecExampleFramesBecomeTheirErrorRecords(string frame, string code, ErrorCategory category, Type exceptionType, string echoedType)
        {
            ErrorRecord error = ReceiveOneError(frame);
            Assert.Equal(code + ",Qfex.Commands.ReceiveQfexFrameCommand", error.FullyQualifiedErrorId);
            Assert.Equal(category, error.CategoryInfo.Category);
            Assert.Equal(exceptionType.Name, error.CategoryInfo.Reason);
            Assert.IsType(exceptionType, error.Exception);
            var exception = (QfexServerErrorException)error.Exception;
            Assert.Equal(code, exception.ErrorCode);
            Assert.Equal(code + ": " + exception.ServerMessage, error.ErrorDetails.Message);
            Assert.Equal(exception.Advice.RecommendedAction, error.ErrorDetails.RecommendedAction);
            Assert.Equal(DateTimeKind.Utc, exception.ReceivedAt.Kind);
            Assert.True(exception.Sequence >= 1);
            var target = Assert.IsType<QfexEcho>(error.TargetObject).Value;
            Assert.Same(exception.IncomingMessage, target);
            Assert.Equal(echoedType, target.Properties["type"].Value);
            Assert.Equal(QfexSessionState.Open, ((QfexSession)_ps.Run("$s").Value()!).State);
        }

        [Fact]
        public void EchoedNumbersKeepTheirValuesNestedParamsAreNavigableAndSecretsAreRedacted()
        {
            _server.Push((string)SpecExamples().ElementAt(2)[0]);
            _server.Push((string)SpecExamples().ElementAt(1)[0]);
            var result = _ps.Run(@"
                Receive-QfexFrame -Count 2 -TimeoutSec 5 -ErrorVariable e -ErrorAction SilentlyContinue
                $e[0].TargetObject.params.price
                $e[0].TargetObject.params.price.GetType().Name
                $e[0].TargetObject.params.symbol
                $e[1].TargetObject.params.hmac.signature
                $e[1].TargetObject.params.hmac.nonce
                $e[1].TargetObject.params.hmac.public_key
                ($e | Out-String -Stream) -join ''
            ");
            Assert.Equal(0.0001m, result.Value(0));
            Assert.Equal("Decimal", result.Value(1));
            Assert.Equal("AAPL", result.Value(2));
            Assert.Equal("***", result.Value(3));
            Assert.Equal("***", result.Value(4));
            Assert.Equal("qfex_pub_x", result.Value(5));
            Assert.DoesNotContain("5f2e9d0c1b", string.Join("\n", result.Output.Select(o => o?.ToString())));
        }

        [Fact]
        public void AnEchoStaysRedactedTextUntilReadThenReadsConvertsAndPrintsAsTheRequest()
        {
            const string echo = "{\"type\":\"add_order\",\"params\":{\"symbol\":\"AAPL-USD\",\"price\":\"200.5\",\"quantity\":0.25,\"client_order_id\":\"c-\u00e9<1>\",\"legs\":[1,2]}}";
            _server.Push("{\"err\":{\"error_code\":\"InvalidOrder\",\"message\":\"bad\",\"incoming_message\":" + echo + "}}");
            ErrorRecord error = Assert.Single(_ps.Run("Receive-QfexFrame -Count 1 -TimeoutSec 5").Errors);
            var target = Assert.IsType<QfexEcho>(error.TargetObject);
            // Nobody read it: no PowerShell object was built for it (the cost a flood of error records does not pay).
            Assert.False(target.IsBuilt);
            Assert.Equal(echo.Replace("\\u00e9", "\u00e9"), target.ToString());

            _ps.Run("$echo = $args[0]", target).ThrowOnError();
            var read = _ps.Run(@"
                $echo.type
                $echo.params.symbol
                $echo.params.quantity.GetType().Name
                $echo.params.legs[1].GetType().Name
                ""$echo""
                ($echo.PSObject.Properties | ForEach-Object Name) -join ','
                $echo.PSObject.Properties['params'].Value.price
            ").ThrowOnError();
            // ConvertTo-Json, Select-Object and the views are the real host's (tests/Pester, "echo").
            Assert.Equal("add_order", read.Value(0));
            Assert.Equal("AAPL-USD", read.Value(1));
            Assert.Equal("Decimal", read.Value(2));
            Assert.Equal("Int64", read.Value(3));
            Assert.Equal(target.ToString(), read.Value(4));
            Assert.Equal("type,params", read.Value(5));
            Assert.Equal("200.5", read.Value(6));
            Assert.True(target.IsBuilt);
            Assert.Same(target.Value, ((QfexServerErrorException)error.Exception).IncomingMessage);
            // Read-only: it is what the exchange sent.
            var set = _ps.Run("$echo.type = 'cancel_order'");
            Assert.True(set.Terminating != null || set.Errors.Count > 0);
            Assert.Equal("add_order", _ps.Run("$echo.type").ThrowOnError().Value());
        }

        [Fact]
        public void EveryKnownCodeMapsToItsRow()
        {
            foreach (ErrorCodeInfo row in ErrorCodeTable.Rows.Where(r => r.Source == CodeSource.ErrorFrame))
            {
                ErrorRecord error = ReceiveOneError("{\"err\":{\"error_code\":\"" + row.Code + "\",\"message\":\"m\",\"incoming_message\":{\"type\":\"get_user_orders\",\"params\":{}}}}");
                Assert.StartsWith(row.Code + ",", error.FullyQualifiedErrorId);
                Assert.Equal(row.Category, error.CategoryInfo.Category);
                Assert.Equal(row.ExceptionType, error.Exception.GetType().FullName);
                // A ServerError record's advice adds its timestamp and incoming_message for a support request.
                if (row.Code == "ServerError")
                    Assert.StartsWith("Retry after a short delay with jitter. If it persists, contact support@qfex.com with the timestamp ", error.ErrorDetails.RecommendedAction);
                else
                    Assert.Equal(row.RecommendedAction, error.ErrorDetails.RecommendedAction);
            }
            Assert.Equal(10, ErrorCodeTable.Rows.Count(r => r.Source == CodeSource.ErrorFrame));
        }

        [Fact]
        public void FlatShapeNullAndAbsentFieldsAndExtraFieldsAreAccepted()
        {
            ErrorRecord flat = ReceiveOneError("{\"type\":\"error\",\"error_code\":\"InvalidOrder\",\"message\":null,\"incoming_message\":null,\"extra\":{\"x\":1}}");
            Assert.StartsWith("InvalidOrder,", flat.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.InvalidData, flat.CategoryInfo.Category);
            Assert.Null(flat.TargetObject);
            Assert.Null(((QfexServerErrorException)flat.Exception).ServerMessage);
            Assert.Equal("InvalidOrder: the exchange sent no message.", flat.ErrorDetails.Message);

            ErrorRecord bare = ReceiveOneError("{\"err\":{\"error_code\":\"TncRequired\"}}");
            Assert.StartsWith("TncRequired,", bare.FullyQualifiedErrorId);
            Assert.Null(bare.TargetObject);
        }

        [Fact]
        public void UnknownCodeIsKeptVerbatimAsNotSpecifiedWithRetryAdvice()
        {
            ErrorRecord error = ReceiveOneError("{\"err\":{\"error_code\":\"BrandNewCode\",\"message\":\"hm\"}}");
            Assert.StartsWith("BrandNewCode,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.NotSpecified, error.CategoryInfo.Category);
            var exception = Assert.IsType<QfexServerErrorException>(error.Exception);
            Assert.False(exception.Advice.Known);
            Assert.True(exception.Advice.Retryable);
            Assert.Equal(QfexErrorAction.RetryWithJitter, exception.Advice.Action);
        }

        [Fact]
        public void MalformedFramesAreNonTerminatingAndTheNextGoodFrameArrives()
        {
            _server.Push("{\"err\":{\"message\":\"no code\"}}");
            _server.Push("[1,2,3]");
            _server.Push(new string('x', 10_000));
            _server.Push("{\"subscribed\":\"fills\"}");
            var result = _ps.Run("Receive-QfexFrame -Count 4 -TimeoutSec 5");
            Assert.Null(result.Terminating);
            Assert.Equal(3, result.Errors.Count);
            Assert.All(result.Errors, e =>
            {
                Assert.StartsWith("QfexMalformedFrame,", e.FullyQualifiedErrorId);
                Assert.Equal(ErrorCategory.InvalidData, e.CategoryInfo.Category);
                Assert.IsType<QfexMalformedFrameException>(e.Exception);
            });
            Assert.Equal(4096, ((string)result.Errors[2].TargetObject).Length);
            var good = (QfexFrame)Assert.Single(result.Output).BaseObject;
            Assert.Equal(4, good.Sequence);
        }

        [Fact]
        public void ErrorRecordFlowsIntoGetQfexErrorAdviceByPipeline()
        {
            _server.Push((string)SpecExamples().ElementAt(4)[0]);
            var result = _ps.Run(@"
                Receive-QfexFrame -Count 1 -TimeoutSec 5 -ErrorVariable err -ErrorAction SilentlyContinue
                $err | Get-QfexErrorAdvice
                [pscustomobject]@{ ErrorCode = 'ServerError' } | Get-QfexErrorAdvice").ThrowOnError();
            var advice = (QfexErrorAdvice)result.Value(0)!;
            Assert.Equal("RateLimited", advice.Code);
            Assert.Equal(TimeSpan.FromMilliseconds(200), advice.RetryAfter);
            Assert.Equal(QfexErrorAction.Backoff, advice.Action);
            Assert.Equal("ServerError", ((QfexErrorAdvice)result.Value(1)!).Code);
        }

        [Fact]
        public void GetQfexErrorAdviceWithoutArgumentsListsEveryKnownCode()
        {
            var codes = _ps.Run("Get-QfexErrorAdvice").ThrowOnError().Output.Select(o => ((QfexErrorAdvice)o.BaseObject).Code).ToArray();
            Assert.Equal(ErrorCodeTable.Codes, codes);
            Assert.Contains("KycRequired", codes);
            var advice = (QfexErrorAdvice)_ps.Run("Get-QfexErrorAdvice ratelimited").ThrowOnError().Value()!;
            Assert.True(advice.Known);
            Assert.Equal("RateLimited", advice.Code);
        }

        [Fact]
        public void OrderRejectionUnderWaitIsAnErrorRecordButReceiveReturnsItAsAFrame()
        {
            _ps.Run("Send-QfexMessage -Type subscribe -Params @{channels=@('order_responses')} -Wait").ThrowOnError();
            _server.OrderStatusOverride = "FAILED_MARGIN_CHECK";
            var result = _ps.Run("Send-QfexMessage -Type add_order -Params " + SessionTests.Order + " -Wait");
            ErrorRecord error = Assert.Single(result.Errors);
            Assert.StartsWith("FAILED_MARGIN_CHECK,", error.FullyQualifiedErrorId);
            var exception = Assert.IsType<QfexOrderRejectedException>(error.Exception);
            Assert.IsAssignableFrom<QfexException>(exception);
            Assert.Equal("FAILED_MARGIN_CHECK", exception.ErrorCode);
            Assert.Equal("add_order", ((PSObject)error.TargetObject).Properties["type"].Value);

            _ps.Run("Send-QfexMessage -Type add_order -Params " + SessionTests.Order).ThrowOnError();
            var frame = (QfexFrame)_ps.Run("Receive-QfexFrame -Count 1 -TimeoutSec 5").ThrowOnError().Value()!;
            Assert.Equal("order_response", frame.Type);
            Assert.Contains("FAILED_MARGIN_CHECK", frame.Raw);
        }

        [Fact]
        public void NewQfexErrorRecordBuildsTheSameShapeAsAReceivedOne()
        {
            ErrorRecord received = ReceiveOneError((string)SpecExamples().ElementAt(4)[0]);
            var made = (ErrorRecord)_ps.Run("New-QfexErrorRecord RateLimited -IncomingMessage @{ type = 'cancel_all_orders'; params = @{} }").ThrowOnError().Value()!;
            Assert.Equal("RateLimited,Qfex.Commands.SendQfexMessageCommand", made.FullyQualifiedErrorId);
            Assert.Equal(received.CategoryInfo.Category, made.CategoryInfo.Category);
            Assert.Equal(received.CategoryInfo.Reason, made.CategoryInfo.Reason);
            Assert.Equal(received.Exception.GetType(), made.Exception.GetType());
            Assert.Equal(received.ErrorDetails.Message, made.ErrorDetails.Message);
            Assert.Equal(received.ErrorDetails.RecommendedAction, made.ErrorDetails.RecommendedAction);
            Assert.Equal(((QfexServerErrorException)received.Exception).Advice.RetryAfter, ((QfexServerErrorException)made.Exception).Advice.RetryAfter);
            Assert.Equal("cancel_all_orders", Assert.IsType<QfexEcho>(made.TargetObject).Value.Properties["type"].Value);
            Assert.IsType<PSObject>(Assert.IsType<QfexEcho>(made.TargetObject).Value.Properties["params"].Value);
        }

        [Fact]
        public void NewQfexErrorRecordForAnOrderStatusMatchesWhatWaitWrites()
        {
            _ps.Run("Send-QfexMessage -Type subscribe -Params @{channels=@('order_responses')} -Wait").ThrowOnError();
            _server.OrderStatusOverride = "FAILED_MARGIN_CHECK";
            ErrorRecord written = Assert.Single(_ps.Run("Send-QfexMessage -Type add_order -Params " + SessionTests.Order + " -Wait").Errors);
            var made = (ErrorRecord)_ps.Run("New-QfexErrorRecord failed_margin_check -IncomingMessage @{ type = 'add_order'; params = @{ symbol = 'AAPL-USD' } }").ThrowOnError().Value()!;
            Assert.Equal(written.FullyQualifiedErrorId, made.FullyQualifiedErrorId);
            Assert.Equal(written.CategoryInfo.Category, made.CategoryInfo.Category);
            Assert.IsType<QfexOrderRejectedException>(made.Exception);
            Assert.Equal(written.ErrorDetails.RecommendedAction, made.ErrorDetails.RecommendedAction);
            Assert.Equal("add_order", ((PSObject)made.TargetObject).Properties["type"].Value);
        }

        [Fact]
        public void NewQfexErrorRecordWorksAsAThrownMockResult()
        {
            var result = _ps.Run(@"
                try { throw (New-QfexErrorRecord RateLimited) } catch [Qfex.QfexRateLimitedException] { 'caught ' + $_.FullyQualifiedErrorId + ' ' + $_.CategoryInfo.Category }").ThrowOnError();
            Assert.Equal("caught RateLimited,Qfex.Commands.SendQfexMessageCommand QuotaExceeded", result.Value());
        }
    }
}
