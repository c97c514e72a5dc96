using System;
using System.Linq;
using System.Management.Automation;
using Qfex.Errors;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// Get-QfexErrorAdvice for every kind of error: the table's rows (exchange codes, order statuses, module ErrorIds),
    /// records of requests by what is known of their outcome, records that are not from Qfex, codes by value.
    /// </summary>
    public sealed class ErrorAdviceTests : IDisposable
    {
        private readonly PowerShellHost _ps = new PowerShellHost();

        public void Dispose() => _ps.Dispose();

        private QfexErrorAdvice Advice(string script, params object?[] args) => _ps.Run(script, args).ThrowOnError().Single<QfexErrorAdvice>();

        [Fact]
        public void EveryRowBuildsTheExceptionItsRowNames()
        {
            foreach (ErrorCodeInfo row in ErrorCodeTable.Rows)
            {
                QfexException exception = row.Create(row, new ErrorContext(null, null, 0, DateTime.UtcNow));
                Assert.True(row.Code == exception.ErrorId, row.Code);
                Assert.True(row.Category == exception.Category, $"{row.Code}: {exception.Category}, row says {row.Category}");
                Assert.True(row.ExceptionType == exception.GetType().FullName, $"{row.Code}: {exception.GetType()}, row says {row.ExceptionType}");
                Assert.False(string.IsNullOrWhiteSpace(exception.Message), row.Code);
            }
        }

        [Fact]
        public void EveryModuleErrorIdIsKnownWithItsRowsCategoryRetryableAndAction()
        {
            var rows = ErrorCodeTable.Rows.Where(r => r.Source == CodeSource.Module).ToArray();
            Assert.Contains(rows, r => r.Code == "QfexTimeout");
            foreach (ErrorCodeInfo row in rows)
            {
                QfexErrorAdvice advice = Advice("Get-QfexErrorAdvice -Code $args[0]", row.Code);
                Assert.True(advice.Known, row.Code);
                Assert.Equal(row.Category, advice.Category);
                Assert.Equal(row.Retryable, advice.Retryable);
                Assert.Equal(row.Action, advice.Action);
                Assert.Equal(row.ExceptionType, advice.ExceptionType);
            }
            // A code alone says nothing of a request's outcome: the safe answer.
            QfexErrorAdvice timeout = Advice("Get-QfexErrorAdvice QfexTimeout");
            Assert.False(timeout.Retryable);
            Assert.Equal(QfexErrorAction.CheckOutcome, timeout.Action);
            Assert.Contains("client_order_id", timeout.RecommendedAction);
        }

        [Theory]
        [InlineData("QfexTimeout", "add_order", "SentOutcomeUnknown", false, QfexErrorAction.CheckOutcome)]
        [InlineData("QfexTimeout", "close_position", "SentOutcomeUnknown", false, QfexErrorAction.CheckOutcome)]
        [InlineData("QfexTimeout", "transfer_balance", "SentOutcomeUnknown", false, QfexErrorAction.CheckOutcome)]
        [InlineData("QfexTimeout", "some_future_type", "SentOutcomeUnknown", false, QfexErrorAction.CheckOutcome)]
        [InlineData("QfexTimeout", "get_user_orders", "SentOutcomeUnknown", true, QfexErrorAction.RetryWithJitter)]
        [InlineData("QfexConnectionClosed", "add_order", "SentOutcomeUnknown", false, QfexErrorAction.CheckOutcome)]
        [InlineData("QfexConnectionClosed", "cancel_order", "SentOutcomeUnknown", false, QfexErrorAction.CheckOutcome)]
        [InlineData("QfexConnectionClosed", "add_order", "NotSent", true, QfexErrorAction.Backoff)]
        [InlineData("QfexConnectionClosed", "get_order", "SentOutcomeUnknown", true, QfexErrorAction.RetryWithJitter)]
        public void ARequestsRecordIsAdvisedByItsOutcomeAndType(string id, string type, string outcome, bool retryable, QfexErrorAction action)
        {
            QfexErrorAdvice advice = Advice(
                "New-QfexErrorRecord $args[0] -IncomingMessage @{ type = $args[1]; params = @{ symbol = 'AAPL-USD' } } -RequestOutcome $args[2] | Get-QfexErrorAdvice",
                id, type, outcome);
            Assert.True(advice.Known);
            Assert.Equal(retryable, advice.Retryable);
            Assert.Equal(action, advice.Action);
            if (action == QfexErrorAction.CheckOutcome)
                Assert.Contains(type == "transfer_balance" ? "balances" : "client_order_id", advice.RecommendedAction);
        }

        [Fact]
        public void ModuleRecordsWithoutARequestGetTheirOwnAdvice()
        {
            // A closed session seen by Receive-QfexFrame: connect again. A connect that timed out: retry it.
            QfexErrorAdvice closed = Advice("New-QfexErrorRecord QfexConnectionClosed -CommandName Receive-QfexFrame | Get-QfexErrorAdvice");
            Assert.Equal(QfexErrorAction.Connect, closed.Action);
            Assert.False(closed.Retryable);
            QfexErrorAdvice connect = Advice("New-QfexErrorRecord QfexTimeout -CommandName Connect-Qfex | Get-QfexErrorAdvice");
            Assert.Equal(QfexErrorAction.Backoff, connect.Action);
            Assert.True(connect.Retryable);
            // The advice is the record's RecommendedAction too: what the console shows under the error.
            var record = (ErrorRecord)_ps.Run("New-QfexErrorRecord QfexTimeout -IncomingMessage @{ type = 'add_order'; params = @{} }").ThrowOnError().Value()!;
            Assert.Equal(((QfexException)record.Exception).Advice.RecommendedAction, record.ErrorDetails.RecommendedAction);
            Assert.Contains("client_order_id", record.ErrorDetails.RecommendedAction);
        }

        [Fact]
        public void ServerErrorAdviceCarriesWhatTheSpecAsksForWhenReporting()
        {
            var record = (ErrorRecord)_ps.Run("New-QfexErrorRecord ServerError -IncomingMessage @{ type = 'get_user_trades'; params = @{ limit = 50 } }").ThrowOnError().Value()!;
            var exception = (QfexServerErrorException)record.Exception;
            string advice = exception.Advice.RecommendedAction;
            Assert.Contains("support@qfex.com", advice);
            Assert.Contains(exception.ReceivedAt.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture), advice);
            Assert.Contains("incoming_message {", advice);
            Assert.Contains("\"limit\":50", advice);
            Assert.Contains("\"type\":\"get_user_trades\"", advice);
            Assert.True(exception.Advice.Retryable);
            Assert.Contains("support@qfex.com", Advice("Get-QfexErrorAdvice ServerError").RecommendedAction);

            // On an order the exchange may have placed it: check first.
            QfexErrorAdvice onOrder = Advice("New-QfexErrorRecord ServerError -IncomingMessage @{ type = 'add_order'; params = @{} } | Get-QfexErrorAdvice");
            Assert.False(onOrder.Retryable);
            Assert.Equal(QfexErrorAction.CheckOutcome, onOrder.Action);
        }

        [Fact]
        public void LeaderboardAdviceTellsWhatTheUserCanCheck()
        {
            string advice = Advice("Get-QfexErrorAdvice AlreadySubscribedToLeaderboard").RecommendedAction;
            Assert.Contains("another connection", advice);
            Assert.Contains("API key", advice);
            Assert.DoesNotContain("check the session's current subscriptions", advice);
        }

        [Theory]
        [InlineData("try { 1/0 } catch { $_ | Get-QfexErrorAdvice }", "RuntimeException")]
        [InlineData("try { 5 | Get-QfexSession -ErrorAction Stop } catch { $_ | Get-QfexErrorAdvice }", "InputObjectNotBound")]
        [InlineData("try { Get-QfexErrorAdvice -NoSuchParameter } catch { $_ | Get-QfexErrorAdvice }", "NamedParameterNotFound")]
        [InlineData("function f { [CmdletBinding()] param() $PSCmdlet.WriteError([System.Management.Automation.ErrorRecord]::new([Exception]::new('x'), 'RateLimited', 'QuotaExceeded', $null)) }; " +
                    "f -ErrorAction SilentlyContinue -ErrorVariable e; $e | Get-QfexErrorAdvice", "RateLimited")]
        public void RecordsNotFromQfexAreNotKnownNotRetryableAndHaveNoAction(string script, string code)
        {
            QfexErrorAdvice advice = Advice(script);
            Assert.Equal(code, advice.Code);
            Assert.False(advice.Known);
            Assert.False(advice.Retryable);
            Assert.Equal(QfexErrorAction.None, advice.Action);
            Assert.Null(advice.RetryAfter);
        }

        [Fact]
        public void CodesBindByValueByPropertyAndByPositionAndMixWithRecords()
        {
            var result = _ps.Run(@"
                'RateLimited' | Get-QfexErrorAdvice
                'QfexNoSession', 'FAILED_MARGIN_CHECK' | Get-QfexErrorAdvice
                [pscustomobject]@{ ErrorCode = 'ServerError' } | Get-QfexErrorAdvice
                [pscustomobject]@{ Code = 'KycRequired' } | Get-QfexErrorAdvice
                (New-QfexErrorRecord InvalidOrder), 'TncRequired' | Get-QfexErrorAdvice
                Get-QfexErrorAdvice InvalidParameter, QfexTimeout").ThrowOnError();
            string[] codes = result.Output.Select(o => ((QfexErrorAdvice)o.BaseObject).Code).ToArray();
            Assert.Equal(new[] { "RateLimited", "QfexNoSession", "FAILED_MARGIN_CHECK", "ServerError", "KycRequired", "InvalidOrder", "TncRequired", "InvalidParameter", "QfexTimeout" }, codes);
            Assert.All(result.Output, o => Assert.True(((QfexErrorAdvice)o.BaseObject).Known));
        }

        [Fact]
        public void TheListWithoutArgumentsAndCompletionCoverEveryRowModuleIdsIncluded()
        {
            string[] listed = _ps.Run("Get-QfexErrorAdvice").ThrowOnError().Output.Select(o => ((QfexErrorAdvice)o.BaseObject).Code).ToArray();
            Assert.Equal(ErrorCodeTable.Codes, listed);
            Assert.Contains("QfexConfirmationRequired", listed);
            string[] completed = _ps.Run("$line = 'Get-QfexErrorAdvice -Code QfexT'; (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText")
                .ThrowOnError().Output.Select(o => (string)o.BaseObject).ToArray();
            Assert.Equal(new[] { "QfexTimeout", "QfexTestServerStartFailed", "QfexTranscriptInvalid" }, completed);
        }
    }
}
