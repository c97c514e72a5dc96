using System;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>Connect, sessions, send and receive through the engine against the fake exchange on loopback.</summary>
    public class SessionTests : IDisposable
    {
        internal const string Order = "@{symbol='AAPL-USD'; side='BUY'; order_type='LIMIT'; order_time_in_force='GTC'; quantity=1; price=200}";

        private readonly PowerShellHost _ps = new PowerShellHost();

        public void Dispose() => _ps.Dispose();

        private QfexTestServer StartServer() => _ps.StartServer();

        private QfexSession Connect(string extra = "") => _ps.Connect(extra);

        private static ErrorRecord SingleError(ScriptResult result) => Assert.Single(result.AllErrors);

        [Fact]
        public void ConnectAuthenticatesWithHmacAndReturnsAnOpenDefaultSession()
        {
            QfexTestServer server = StartServer();
            QfexSession session = Connect("-AccountId 11111111-1111-1111-1111-111111111111");

            Assert.Equal(QfexSessionState.Open, session.State);
            Assert.True(session.IsAuthenticated);
            Assert.Equal(QfexEndpoint.Trade, session.Endpoint);
            Assert.Equal(Guid.Parse("11111111-1111-1111-1111-111111111111"), session.AccountId);
            Assert.True((DateTime.UtcNow - session.ConnectedAt).TotalMinutes < 1);
            var auth = Assert.Single(server.Received, r => r.Type == "auth");
            Assert.Contains("\"account_id\":\"11111111-1111-1111-1111-111111111111\"", auth.Raw);
            // The auth answer was consumed by Connect: it is not a frame the user has to skip.
            Assert.Equal(0, session.FramesReceived);
            Assert.Same(session, _ps.Run("Get-QfexSession -Default").ThrowOnError().Value());
            Assert.Same(session, _ps.Run("Get-QfexSession -Id $s.Id").ThrowOnError().Value());
        }

        [Fact]
        public void ConnectFailuresAreTerminating()
        {
            var result = _ps.Run(@"
                $ss = [securestring]::new(); $ss.AppendChar('x')
                try { Connect-Qfex -Uri 'ws://exchange.example/' -ApiKey k -ApiSecret $ss; 'continued' } catch { 'caught ' + $_.FullyQualifiedErrorId }");
            Assert.Equal("caught QfexInsecureUri,Qfex.Commands.ConnectQfexCommand", Assert.Single(result.Output).ToString());
        }

        [Fact]
        public void ApiKeyAndSecretParametersAuthenticateToo()
        {
            StartServer();
            var session = (QfexSession)_ps.Run(
                "Connect-Qfex -Uri $server.Uri -ApiKey $server.Credential.UserName -ApiSecret $server.Credential.Password").ThrowOnError().Value()!;
            Assert.True(session.IsAuthenticated);
        }

        [Fact]
        public void WrongSecretFailsWithQfexAuthenticationFailedCarryingTheServerCode()
        {
            StartServer();
            // The bare engine has no ConvertTo-SecureString: the SecureString is built by hand.
            var result = _ps.Run(@"
                $ss = [securestring]::new(); foreach ($c in 'wrong'.ToCharArray()) { $ss.AppendChar($c) }
                $bad = [pscredential]::new($server.Credential.UserName, $ss)
                Connect-Qfex -Uri $server.Uri -Credential $bad");
            ErrorRecord error = SingleError(result);
            Assert.StartsWith("QfexAuthenticationFailed,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.AuthenticationError, error.CategoryInfo.Category);
            var exception = Assert.IsType<QfexAuthenticationException>(error.Exception);
            Assert.Equal("PermissionDenied", exception.ServerErrorCode);
            Assert.Null(_ps.Run("Get-QfexSession -Default").Value());
        }

        [Fact]
        public void InsecureUriIsRefusedBeforeAnyConnection()
        {
            var result = _ps.Run(@"
                $ss = [securestring]::new(); $ss.AppendChar('x')
                Connect-Qfex -Uri 'ws://exchange.example/' -ApiKey k -ApiSecret $ss");
            ErrorRecord error = SingleError(result);
            Assert.StartsWith("QfexInsecureUri,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.SecurityError, error.CategoryInfo.Category);
            Assert.IsType<QfexInsecureUriException>(error.Exception);
        }

        [Fact]
        public void UnreachableServerFailsWithQfexConnectFailed()
        {
            int port = FreePort();
            var result = _ps.Run(@"
                $ss = [securestring]::new(); $ss.AppendChar('x')
                Connect-Qfex -Uri ('ws://127.0.0.1:' + $args[0] + '/') -ApiKey k -ApiSecret $ss -TimeoutSec 5", port);
            ErrorRecord error = SingleError(result);
            Assert.StartsWith("QfexConnectFailed,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.ConnectionError, error.CategoryInfo.Category);
        }

        [Fact]
        public void ServerThatNeverAnswersFailsWithQfexTimeoutWithinTheTimeout()
        {
            // A listener that accepts TCP but never completes the WebSocket handshake.
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            try
            {
                var started = DateTime.UtcNow;
                var result = _ps.Run(@"
                    $ss = [securestring]::new(); $ss.AppendChar('x')
                    Connect-Qfex -Uri ('ws://127.0.0.1:' + $args[0] + '/') -ApiKey k -ApiSecret $ss -TimeoutSec 1", ((IPEndPoint)listener.LocalEndpoint).Port);
                ErrorRecord error = SingleError(result);
                Assert.StartsWith("QfexTimeout,", error.FullyQualifiedErrorId);
                Assert.Equal(ErrorCategory.OperationTimeout, error.CategoryInfo.Category);
                Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
            }
            finally
            {
                listener.Stop();
            }
        }

        [Fact]
        public void AuthThatIsNeverConfirmedFailsWithQfexAuthenticationFailed()
        {
            QfexTestServer server = StartServer();
            server.SilentTypes.Add("auth");
            var result = _ps.Run("Connect-Qfex -Uri $server.Uri -Credential $server.Credential -TimeoutSec 1");
            ErrorRecord error = SingleError(result);
            Assert.StartsWith("QfexAuthenticationFailed,", error.FullyQualifiedErrorId);
            Assert.Contains("did not confirm authentication within 1 s", error.Exception.Message);
        }

        [Fact]
        public void TradeEndpointWithoutCredentialsIsRefused()
        {
            StartServer();
            var result = _ps.Run("Connect-Qfex -Uri $server.Uri -Endpoint Trade");
            // With no credential parameter the Anonymous set is chosen; Trade needs credentials.
            Assert.StartsWith("QfexAuthenticationFailed,", SingleError(result).FullyQualifiedErrorId);
        }

        [Fact]
        public void MarketDataConnectsWithoutCredentialsAndSubscribes()
        {
            StartServer();
            var result = _ps.Run(@"
                $md = Connect-Qfex -Uri $server.MarketDataUri -Endpoint MarketData -Subscribe bbo
                Receive-QfexFrame -Session $md -Count 1 -TimeoutSec 5
                $md").ThrowOnError();
            var frame = (QfexFrame)result.Value(0)!;
            var md = (QfexSession)result.Value(1)!;
            Assert.Equal("subscribed", frame.Type);
            Assert.False(md.IsAuthenticated);
            Assert.Contains("bbo:*", md.Subscriptions);
        }

        [Fact]
        public void NoSessionGivesQfexNoSession()
        {
            foreach (string command in new[] { "Receive-QfexFrame", "Send-QfexMessage -Type get_user_orders" })
            {
                ErrorRecord error = SingleError(_ps.Run(command));
                Assert.StartsWith("QfexNoSession,", error.FullyQualifiedErrorId);
                Assert.Equal(ErrorCategory.InvalidOperation, error.CategoryInfo.Category);
                Assert.IsType<QfexNoSessionException>(error.Exception);
            }
        }

        [Fact]
        public void DisconnectClosesCleanlyIsIdempotentAndClearsTheDefault()
        {
            QfexTestServer server = StartServer();
            QfexSession first = Connect();
            QfexSession second = Connect();
            Assert.Same(second, _ps.Run("Get-QfexSession -Default").Value());

            _ps.Run("Disconnect-Qfex").ThrowOnError();
            Assert.Equal(QfexSessionState.Closed, second.State);
            Assert.Contains("Disconnect-Qfex", second.CloseReason);
            // The previous session becomes the default again.
            Assert.Same(first, _ps.Run("Get-QfexSession -Default").Value());

            _ps.Run("$args[0] | Disconnect-Qfex; $args[0] | Disconnect-Qfex", first).ThrowOnError();
            Assert.Equal(QfexSessionState.Closed, first.State);
            Assert.Empty(_ps.Run("Get-QfexSession").ThrowOnError().Output);
            Wait.Until(() => server.ConnectionCount == 0, "server.ConnectionCount == 0");
            Assert.Equal(0, server.ConnectionCount);
        }

        [Fact]
        public void SendThenReceiveRoundTripsThroughTheExchange()
        {
            QfexTestServer server = StartServer();
            Connect("-Subscribe order_responses");
            var result = _ps.Run(@"
                Send-QfexMessage -Type add_order -Params " + Order + @"
                Receive-QfexFrame -Count 2 -TimeoutSec 5").ThrowOnError();
            var frames = result.Output.Select(o => (QfexFrame)o.BaseObject).ToArray();
            Assert.Equal(new[] { "subscribed", "order_response" }, frames.Select(f => f.Type));
            Assert.Equal(new long[] { 1, 2 }, frames.Select(f => f.Sequence));
            var order = (PSObject)((PSObject)frames[1].Data!).Properties["order_response"].Value;
            Assert.Equal("ACK", order.Properties["status"].Value);
            Assert.Equal(200L, order.Properties["price"].Value);

            var sent = Assert.Single(server.Received, r => r.Type == "add_order");
            // Every order gets a client_order_id so its answer can be matched.
            Assert.StartsWith("qfex-", (string)((PSObject)sent.Params!).Properties["client_order_id"].Value);
        }

        [Fact]
        public void SendWithWaitOutputsTheAnswerAndLeavesOtherFramesBufferedInOrder()
        {
            QfexTestServer server = StartServer();
            Connect("-Subscribe order_responses");
            var result = _ps.Run(@"
                $answer = Send-QfexMessage -Type add_order -Params " + Order.Replace("'LIMIT'", "'MARKET'").Replace("; price=200", "").Replace("'GTC'", "'IOC'") + @" -Wait
                $answer
                Receive-QfexFrame -Count 2 -TimeoutSec 5").ThrowOnError();
            var answer = (QfexFrame)result.Value(0)!;
            Assert.Equal("order_response", answer.Type);
            Assert.Contains("\"ACK\"", answer.Raw);
            var rest = result.Output.Skip(1).Select(o => (QfexFrame)o.BaseObject).ToArray();
            Assert.Equal("subscribed", rest[0].Type);
            Assert.Contains("\"FILLED\"", rest[1].Raw);
            Assert.True(rest[0].Sequence < answer.Sequence && answer.Sequence < rest[1].Sequence);
        }

        [Fact]
        public void ReceiveFiltersByTypeKeepingTheRestInOrderAndRawGivesText()
        {
            QfexTestServer server = StartServer();
            Connect();
            server.Push("{\"type\":\"a\",\"n\":1}");
            server.Push("{\"type\":\"b\",\"n\":2}");
            server.Push("{\"type\":\"a\",\"n\":3}");
            var b = (QfexFrame)_ps.Run("Receive-QfexFrame -Type b -Count 1 -TimeoutSec 5").ThrowOnError().Value()!;
            Assert.Equal(2, b.Sequence);
            var raw = _ps.Run("Receive-QfexFrame -Raw -Count 2 -TimeoutSec 5").ThrowOnError().Output.Select(o => (string)o.BaseObject).ToArray();
            Assert.Equal(new[] { "{\"type\":\"a\",\"n\":1}", "{\"type\":\"a\",\"n\":3}" }, raw);
        }

        [Fact]
        public void ReceiveWithoutCountDoesNotBlockAndTimeoutWritesQfexReceiveTimeout()
        {
            QfexTestServer server = StartServer();
            QfexSession session = Connect();
            var started = DateTime.UtcNow;
            Assert.Empty(_ps.Run("Receive-QfexFrame").ThrowOnError().Output);
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20));   // at once: no frame is waited for (20 s: a slow machine too)

            // The frame is in before the short receive starts: its timeout then decides nothing but the error.
            server.Push("{\"x\":1}");
            Wait.Until(() => session.FramesPending == 1, "the pushed frame");
            var result = _ps.Run("Receive-QfexFrame -Count 3 -TimeoutSec 0.5");
            Assert.Single(result.Output);
            ErrorRecord error = SingleError(result);
            Assert.Null(result.Terminating);
            Assert.StartsWith("QfexReceiveTimeout,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.OperationTimeout, error.CategoryInfo.Category);
        }

        [Fact]
        public void WhatIfSendsNothing()
        {
            QfexTestServer server = StartServer();
            Connect();
            var result = _ps.Run("Send-QfexMessage -Type add_order -Params " + Order + " -WhatIf; Send-QfexMessage -Type get_user_orders -WhatIf -Wait").ThrowOnError();
            // Only the read-only query went out; the order did not.
            Assert.DoesNotContain(server.Received, r => r.Type == "add_order");
            Assert.Contains(server.Received, r => r.Type == "get_user_orders");
        }

        [Fact]
        public void InvalidMessageIsRefusedBeforeSending()
        {
            QfexTestServer server = StartServer();
            Connect();
            var result = _ps.Run("Send-QfexMessage -Type add_order -Params @{symbol='AAPL-USD'; side='HOLD'; order_type='LIMIT'; order_time_in_force='GTC'; quantity=0}");
            ErrorRecord error = SingleError(result);
            Assert.StartsWith("QfexInvalidMessage,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
            Assert.Contains("side", error.Exception.Message);
            Assert.Contains("quantity", error.Exception.Message);
            Assert.Contains("price", error.Exception.Message);
            Assert.DoesNotContain(server.Received, r => r.Type == "add_order");
        }

        [Fact]
        public void ARefusedMessageIsShownWithItsSecretsMasked()
        {
            StartServer();
            Connect();
            var result = _ps.Run("Send-QfexMessage -Type add_order -Params @{ symbol = 'X'; jwt = 'eyJ.secret.jwt' }");
            ErrorRecord error = SingleError(result);
            Assert.StartsWith("QfexInvalidMessage,", error.FullyQualifiedErrorId);
            var target = Assert.IsType<PSObject>(error.TargetObject);
            Assert.Equal("***", target.Properties["jwt"].Value);
            Assert.Equal("X", target.Properties["symbol"].Value);
            // The user's own hashtable is not changed.
            Assert.Equal("eyJ.secret.jwt", _ps.Run("$h = @{ jwt = 'eyJ.secret.jwt' }; Send-QfexMessage -Type add_order -Params $h -ErrorAction SilentlyContinue; $h.jwt").Value());
        }

        [Fact]
        public void MessageParameterAcceptsJsonTextAndDictionariesFromThePipeline()
        {
            QfexTestServer server = StartServer();
            Connect();
            _ps.Run(@"
                '{""type"":""get_user_orders"",""params"":{""limit"":5}}' | Send-QfexMessage
                @{ type = 'get_user_trades'; params = @{ limit = 7 } } | Send-QfexMessage
                [pscustomobject]@{ Type = 'get_user_leverage'; Params = @{} } | Send-QfexMessage").ThrowOnError();
            Wait.Until(() => server.Received.Count(r => r.Type != "auth") == 3, "server.Received.Count(r => r.Type != 'auth') == 3");
            Assert.Equal(new[] { "get_user_orders", "get_user_trades", "get_user_leverage" },
                server.Received.Where(r => r.Type != "auth").Select(r => r.Type));
            Assert.Equal(5L, ((PSObject)server.Received.First(r => r.Type == "get_user_orders").Params!).Properties["limit"].Value);
        }

        [Fact]
        public void ErrorFrameBecomesTheContractsErrorRecord()
        {
            QfexTestServer server = StartServer();
            Connect();
            server.Respond["add_order"] = "RateLimited";
            var result = _ps.Run("Send-QfexMessage -Type add_order -Params " + Order + "; Receive-QfexFrame -Count 1 -TimeoutSec 5");
            Assert.Empty(result.Output);
            ErrorRecord error = SingleError(result);
            Assert.Null(result.Terminating);
            Assert.StartsWith("RateLimited,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.QuotaExceeded, error.CategoryInfo.Category);
            Assert.Equal(nameof(QfexRateLimitedException), error.CategoryInfo.Reason);
            var exception = Assert.IsType<QfexRateLimitedException>(error.Exception);
            Assert.Equal("RateLimited", exception.ErrorCode);
            Assert.Equal(1, exception.Sequence);
            Assert.Equal(TimeSpan.FromMilliseconds(200), exception.Advice.RetryAfter);
            Assert.Equal("RateLimited: Too many requests. Please retry after 200ms.", error.ErrorDetails.Message);
            Assert.Equal("Too many requests. Please retry after 200ms.", exception.ServerMessage);
            Assert.False(string.IsNullOrEmpty(error.ErrorDetails.RecommendedAction));
            var target = Assert.IsType<QfexEcho>(error.TargetObject).Value;
            Assert.Equal("add_order", target.Properties["type"].Value);
            Assert.Equal("AAPL-USD", ((PSObject)target.Properties["params"].Value).Properties["symbol"].Value);
            // The session survives an error frame.
            Assert.Equal(QfexSessionState.Open, ((QfexSession)_ps.Run("$s").Value()!).State);
        }

        [Fact]
        public void ErrorFrameCanBeCaughtByExceptionTypeWithErrorActionStop()
        {
            QfexTestServer server = StartServer();
            Connect();
            server.Respond["add_order"] = "RateLimited";
            var result = _ps.Run(@"
                try { Send-QfexMessage -Type add_order -Params " + Order + @" -Wait -ErrorAction Stop; 'not caught' }
                catch [Qfex.QfexRateLimitedException] { 'caught ' + $_.FullyQualifiedErrorId }").ThrowOnError();
            Assert.Equal("caught RateLimited,Qfex.Commands.SendQfexMessageCommand", result.Value());
        }

        [Fact]
        public void ClosedSessionGivesQfexConnectionClosedAndKeepsBufferedFrames()
        {
            QfexTestServer server = StartServer();
            QfexSession session = Connect("-NoReconnect");
            server.Push("{\"type\":\"last\"}");
            Wait.Until(() => session.FramesReceived == 1, "session.FramesReceived == 1");
            server.DropConnections();
            Wait.Until(() => session.State == QfexSessionState.Closed, "session.State == QfexSessionState.Closed");
            Assert.Equal(QfexSessionState.Closed, session.State);

            var receive = _ps.Run("Receive-QfexFrame -Count 2 -TimeoutSec 5");
            Assert.Equal("last", ((QfexFrame)receive.Value()!).Type);
            Assert.StartsWith("QfexConnectionClosed,", SingleError(receive).FullyQualifiedErrorId);

            var send = _ps.Run("Send-QfexMessage -Type get_user_orders");
            ErrorRecord error = SingleError(send);
            Assert.StartsWith("QfexConnectionClosed,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.ConnectionError, error.CategoryInfo.Category);
        }

        [Fact]
        public void BurstOfTwentyThousandFramesArrivesCompleteAndInOrder()
        {
            const int N = 20_000;
            QfexTestServer server = StartServer();
            QfexSession session = Connect();
            for (int i = 1; i <= N; i++)
                server.Push("{\"type\":\"tick\",\"i\":" + i + "}");
            var result = _ps.Run(@"
                $expected = 1L; $bad = 0
                Receive-QfexFrame -Count $args[0] -TimeoutSec 60 | ForEach-Object {
                    if ($_.Sequence -ne $expected -or $_.Raw -ne ('{""type"":""tick"",""i"":' + $expected + '}')) { $bad++ }
                    $expected++
                }
                $expected - 1; $bad; $s.FramesReceived; $s.FramesPending", N);
            // On a failure, say where the frames stopped: in the session, on the wire, or at a reconnect.
            Assert.True(result.Errors.Count == 0 && result.Terminating == null,
                $"{string.Join("; ", result.Errors)} {result.Terminating?.Message} | session: {session.State}, reconnects {session.Reconnects}, " +
                $"received {session.FramesReceived}, pending {session.FramesPending}, close reason '{session.CloseReason}'; exchange connections {server.ConnectionCount}");
            Assert.Equal((long)N, Convert.ToInt64(result.Value(0)));
            Assert.Equal(0, Convert.ToInt32(result.Value(1)));
            Assert.Equal((long)N, Convert.ToInt64(result.Value(2)));
            Assert.Equal(0, Convert.ToInt32(result.Value(3)));
        }

        [Fact]
        public void StopProcessingEndsAWaitingReceivePromptlyAndLeavesTheSocketOpen()
        {
            QfexTestServer server = StartServer();
            QfexSession session = Connect();
            using var ps = PowerShell.Create();
            ps.Runspace = _ps.Runspace;
            ps.AddScript("Receive-QfexFrame -Count 1");
            IAsyncResult pending = ps.BeginInvoke();
            // The receive is asleep on the buffer, waiting for a frame that does not come.
            Wait.Until(() => session.Buffer.Sleepers == 1, "the receive to wait on the buffer");
            Assert.False(pending.IsCompleted);
            // Ctrl+C ends the wait: Stop returns (within the hang bound) with the pipeline stopped.
            Task stop = Task.Run(ps.Stop);
            Wait.Until(() => stop.IsCompleted, "Stop to end the waiting receive");
            Assert.Equal(PSInvocationState.Stopped, ps.InvocationStateInfo.State);

            // The socket was not aborted: the session still receives.
            Assert.Equal(QfexSessionState.Open, session.State);
            server.Push("{\"type\":\"after\"}");
            Assert.Equal("after", ((QfexFrame)_ps.Run("Receive-QfexFrame -Count 1 -TimeoutSec 5").ThrowOnError().Value()!).Type);
        }

        [Fact]
        public void AReceiveOfEveryTypeIsADrainThatPacesTheLoopAndAFilteredOneIsNot()
        {
            // FrameBuffer.PaceLimit applies only while a Receive-QfexFrame without -Type waits for frames.
            QfexTestServer server = StartServer();
            QfexSession session = Connect();
            using (var ps = PowerShell.Create())
            {
                ps.Runspace = _ps.Runspace;
                ps.AddScript("Receive-QfexFrame -Count 1 -TimeoutSec 30");
                IAsyncResult pending = ps.BeginInvoke();
                Wait.Until(() => session.Buffer.Sleepers == 1, "the receive to wait on the buffer");
                Assert.Equal(1, session.Buffer.Drainers);
                server.Push("{\"type\":\"tick\"}");
                Assert.True(pending.AsyncWaitHandle.WaitOne(10_000), "the receive did not end");
                Assert.Single(ps.EndInvoke(pending));
            }
            Assert.Equal(0, session.Buffer.Drainers);

            using (var ps = PowerShell.Create())
            {
                ps.Runspace = _ps.Runspace;
                ps.AddScript("Receive-QfexFrame -Type nothing -Count 1 -TimeoutSec 30");
                IAsyncResult pending = ps.BeginInvoke();
                Wait.Until(() => session.Buffer.Sleepers == 1, "the filtered receive to wait on the buffer");
                Assert.Equal(0, session.Buffer.Drainers);
                Task stop = Task.Run(ps.Stop);
                Wait.Until(() => stop.IsCompleted, "Stop to end the filtered receive");
            }
            Assert.Equal(0, session.Buffer.Drainers);
        }

        [Fact]
        public void MalformedFrameIsAnErrorRecordAndTheSessionGoesOn()
        {
            QfexTestServer server = StartServer();
            Connect();
            server.Push("not json at all");
            server.Push("{\"type\":\"good\"}");
            var result = _ps.Run("Receive-QfexFrame -Count 2 -TimeoutSec 5");
            ErrorRecord error = SingleError(result);
            Assert.StartsWith("QfexMalformedFrame,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
            Assert.Equal("not json at all", error.TargetObject);
            Assert.Equal(2, ((QfexFrame)result.Value()!).Sequence);
        }

        [Fact]
        public void ContinuousStreamsUntilTheSessionCloses()
        {
            QfexTestServer server = StartServer();
            QfexSession session = Connect("-NoReconnect");
            using var ps = PowerShell.Create();
            ps.Runspace = _ps.Runspace;
            ps.AddScript("Receive-QfexFrame -Continuous");
            var output = new PSDataCollection<PSObject>();
            IAsyncResult pending = ps.BeginInvoke<PSObject, PSObject>(null, output);
            for (int i = 1; i <= 3; i++) server.Push("{\"type\":\"tick\",\"i\":" + i + "}");
            Wait.Until(() => output.Count == 3, "three frames streamed");
            Assert.False(pending.IsCompleted);
            server.DropConnections();
            Assert.True(pending.AsyncWaitHandle.WaitOne(10_000), "Receive -Continuous did not end when the session closed");
            ps.EndInvoke(pending);
            Assert.Equal(new long[] { 1, 2, 3 }, output.Select(o => ((QfexFrame)o.BaseObject).Sequence));
            Assert.StartsWith("QfexConnectionClosed,", Assert.Single(ps.Streams.Error).FullyQualifiedErrorId);
        }

        [Fact]
        public void TimeoutWithoutCountReturnsWhatArrivesOrTimesOut()
        {
            QfexTestServer server = StartServer();
            Connect();
            var none = _ps.Run("Receive-QfexFrame -TimeoutSec 0.3");
            Assert.Empty(none.Output);
            Assert.StartsWith("QfexReceiveTimeout,", SingleError(none).FullyQualifiedErrorId);

            server.Push("{\"type\":\"a\"}");
            server.Push("{\"type\":\"b\"}");
            Wait.Until(() => ((QfexSession)_ps.Run("$s").Value()!).FramesPending == 2, "((QfexSession)_ps.Run('$s').Value()!).FramesPending == 2");
            var some = _ps.Run("Receive-QfexFrame -TimeoutSec 5").ThrowOnError();
            Assert.Equal(new[] { "a", "b" }, some.Output.Select(o => ((QfexFrame)o.BaseObject).Type));
        }

        [Fact]
        public void GetQfexSessionWithAnUnknownIdWritesQfexSessionNotFound()
        {
            StartServer();
            Connect();
            var result = _ps.Run("Get-QfexSession -Id 999999");
            ErrorRecord error = SingleError(result);
            Assert.StartsWith("QfexSessionNotFound,", error.FullyQualifiedErrorId);
            Assert.IsAssignableFrom<QfexException>(error.Exception);
        }

        [Fact]
        public void FundTransfersAskToContinueUnlessForced()
        {
            QfexTestServer server = StartServer();
            Connect();
            const string transfer = "Send-QfexMessage -Type transfer_balance -Params @{ amount = 100.0; to_api_key = 'qfex_pub_other' }";
            // No interactive host here: the question cannot be asked, so nothing is sent.
            var asked = _ps.Run(transfer);
            Assert.NotEmpty(asked.AllErrors);
            _ps.Run(transfer + " -Force -WhatIf").ThrowOnError();
            Assert.DoesNotContain(server.Received, r => r.Type == "transfer_balance");
            _ps.Run(transfer + " -Force -Confirm:$false").ThrowOnError();
            Wait.Until(() => server.Received.Any(r => r.Type == "transfer_balance"), "the transfer reaches the exchange");
        }

        [Fact]
        public void DisconnectIsIdempotentEvenWithNoSessionOpen()
        {
            StartServer();
            Connect();
            var result = _ps.Run("Disconnect-Qfex; Disconnect-Qfex -Verbose").ThrowOnError();
            Assert.Contains(result.Verbose, v => v.Contains("nothing to disconnect"));
        }

        internal static int FreePort()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            return port;
        }
    }
}
