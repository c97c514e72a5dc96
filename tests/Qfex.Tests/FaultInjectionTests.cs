using System;
using System.Diagnostics;
using System.Linq;
using System.Management.Automation;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// Faults injected by the fake exchange, observed through the engine: every fault gives a clear
    /// ErrorRecord with the documented ErrorId, nothing hangs past its timeout, and no frame already
    /// received is lost. Time bounds are generous "did not hang" limits, never performance assertions.
    /// </summary>
    public class FaultInjectionTests : IDisposable
    {
        private readonly PowerShellHost _ps = new PowerShellHost();

        protected PowerShellHost Host => _ps;

        public virtual void Dispose() => _ps.Dispose();

        private QfexTestServer StartServer() => _ps.StartServer();

        private QfexSession Connect(string extra = "") => _ps.Connect(extra);

        private static void Until(Func<bool> condition, string what) => Wait.Until(condition, what);

        private static QfexFrame[] Frames(ScriptResult result) => result.Output.Select(o => (QfexFrame)o.BaseObject).ToArray();

        private static string Tick(int i) => "{\"type\":\"tick\",\"i\":" + i + "}";

        private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

        // ------------------------------------------------------------------ during auth

        /// <summary>Ends the connection (close frame or TCP reset) as soon as the exchange has the auth request, then connects.</summary>
        private async Task<ScriptResult> ConnectWhileTheServerEndsTheConnectionDuringAuth(QfexTestServer server, string how)
        {
            server.SilentTypes.Add("auth");
            Task closer = Task.Run(() =>
            {
                Until(() => server.Received.Any(r => r.Type == "auth"), "the exchange has the auth request");
                if (how == "close") server.CloseConnections(1008, "auth refused by the test");
                else server.DropConnections();
            });

            // -TimeoutSec 600: were the close not seen, the connect would wait that long and fail the test's hang bound.
            Task<ScriptResult> connect = Task.Run(() => _ps.Run("Connect-Qfex -Uri $server.Uri -Credential $server.Credential -TimeoutSec 600"));
            Until(() => connect.IsCompleted, "Connect-Qfex to see the close");
            await closer;
            return await connect;
        }

        [Theory]
        [InlineData("close")]
        [InlineData("reset")]
        public async Task ServerEndingTheConnectionDuringAuthFailsConnectPromptlyAndCleanly(string how)
        {
            QfexTestServer server = StartServer();
            ScriptResult result = await ConnectWhileTheServerEndsTheConnectionDuringAuth(server, how);

            Assert.Empty(result.Output);
            ErrorRecord error = Assert.Single(result.AllErrors);
            // Seeing the close, not a timeout: the connection's end fails the wait for the auth answer at once.
            Assert.StartsWith("QfexAuthenticationFailed,", error.FullyQualifiedErrorId);
            Assert.IsAssignableFrom<QfexException>(error.Exception);
            Assert.Null(_ps.Run("Get-QfexSession -Default").Value());
        }

        [Theory]
        [InlineData("close")]
        [InlineData("reset")]
        public async Task ServerEndingTheConnectionDuringAuthFailsConnectWithQfexAuthenticationFailed(string how)
        {
            QfexTestServer server = StartServer();
            for (int run = 0; run < 20; run++)
            {
                ScriptResult result = await ConnectWhileTheServerEndsTheConnectionDuringAuth(server, how);
                ErrorRecord error = Assert.Single(result.AllErrors);
                Assert.StartsWith("QfexAuthenticationFailed,", error.FullyQualifiedErrorId);
                Assert.Equal(ErrorCategory.AuthenticationError, error.CategoryInfo.Category);
                Assert.IsType<QfexAuthenticationException>(error.Exception);
                if (how == "close")
                {
                    // The close status and reason reach the user.
                    Assert.Contains("1008", error.Exception.Message);
                    Assert.Contains("auth refused by the test", error.Exception.Message);
                }
                server.SilentTypes.Clear();
                server.ClearReceived();
            }
        }

        [Fact]
        public async Task AuthThatIsNeverConfirmedFailsWithQfexAuthenticationFailedWithinTimeoutSecAndClosesTheSocket()
        {
            QfexTestServer server = StartServer();
            server.SilentTypes.Add("auth");
            // The exchange would close an unauthenticated connection only after its own 60 s deadline: failing
            // before the hang bound proves -TimeoutSec 2 was honoured.
            Task<ScriptResult> connect = Task.Run(() => _ps.Run("Connect-Qfex -Uri $server.Uri -Credential $server.Credential -TimeoutSec 2"));
            Until(() => connect.IsCompleted, "Connect-Qfex -TimeoutSec 2 to give up");
            ScriptResult result = await connect;

            // The contract: no confirmation is a failed authentication; the timeout is its inner cause.
            ErrorRecord error = Assert.Single(result.AllErrors);
            Assert.StartsWith("QfexAuthenticationFailed,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.AuthenticationError, error.CategoryInfo.Category);
            Assert.IsType<QfexTimeoutException>(Assert.IsType<QfexAuthenticationException>(error.Exception).InnerException);
            Assert.Contains(server.Received, r => r.Type == "auth");
            Assert.Null(_ps.Run("Get-QfexSession -Default").Value());
            // The half-authenticated socket is not left open on the exchange.
            Until(() => server.ConnectionCount == 0, "the exchange saw the connection close");
        }

        // ------------------------------------------------------------------ mid-stream

        [Fact]
        public void AbortAfterFramesArrivedKeepsEveryFrameInOrderThenSaysQfexConnectionClosed()
        {
            const int K = 200;
            QfexTestServer server = StartServer();
            QfexSession session = Connect("-NoReconnect");
            for (int i = 1; i <= K; i++) server.Push(Tick(i));
            Until(() => session.FramesReceived == K, "the session received the frames");
            server.DropConnections(); // TCP reset, no close frame
            Until(() => session.State == QfexSessionState.Closed, "the session saw the abort");

            // -TimeoutSec 600: a receive that waited for frames that cannot come would end in QfexReceiveTimeout.
            ScriptResult result = _ps.Run("Receive-QfexFrame -Count ($args[0] + 1) -TimeoutSec 600", K);

            QfexFrame[] frames = Frames(result);
            Assert.Equal(Enumerable.Range(1, K).Select(i => (long)i), frames.Select(f => f.Sequence));
            Assert.Equal(Enumerable.Range(1, K).Select(Tick), frames.Select(f => f.Raw));
            Assert.Null(result.Terminating);
            ErrorRecord error = Assert.Single(result.Errors);
            Assert.StartsWith("QfexConnectionClosed,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.ConnectionError, error.CategoryInfo.Category);
            Assert.IsType<QfexConnectionException>(error.Exception);
            Assert.NotNull(session.CloseReason);
        }

        [Fact]
        public void AbortWithReconnectKeepsEveryFrameInOrderThenAnnouncesTheReconnectInSequence()
        {
            const int K = 200;
            QfexTestServer server = StartServer();
            QfexSession session = Connect();
            for (int i = 1; i <= K; i++) server.Push(Tick(i));
            Until(() => session.FramesReceived == K, "the session received the frames");
            server.DropConnections();

            ScriptResult result = _ps.Run("Receive-QfexFrame -Count ($args[0] + 1) -TimeoutSec 20", K).ThrowOnError();
            QfexFrame[] frames = Frames(result);
            Assert.Equal(Enumerable.Range(1, K + 1).Select(i => (long)i), frames.Select(f => f.Sequence));
            Assert.Equal(Enumerable.Range(1, K).Select(Tick), frames.Take(K).Select(f => f.Raw));
            Assert.Equal("qfex.reconnected", frames[K].Type);
            Until(() => session.State == QfexSessionState.Open, "the session is open again");
            Assert.Equal(1, session.Reconnects);
            Assert.True(session.IsAuthenticated);
        }

        [Fact]
        public void ConnectionEndingRightAfterAStreamAndAHalfSentMessageDeliversTheCompleteFramesOnly()
        {
            const int K = 500;
            QfexTestServer server = StartServer();
            QfexSession session = Connect("-NoReconnect");
            for (int i = 1; i <= K; i++) server.Push(Tick(i));
            // A message cut off by the end of the connection: its first fragment only.
            server.Faults.PushFrame(Utf8("{\"type\":\"cut\",\"pad\":\""), QfexTestServerOpcode.Text, fin: false);
            // TCP FIN right away: everything written before it arrives first, in order.
            foreach (QfexTestServerConnection c in server.Faults.Connections) c.Drop(reset: false);

            ScriptResult result = _ps.Run("Receive-QfexFrame -Count ($args[0] + 1) -TimeoutSec 20", K);
            QfexFrame[] frames = Frames(result);
            Assert.Equal(Enumerable.Range(1, K).Select(i => (long)i), frames.Select(f => f.Sequence));
            Assert.Equal(Enumerable.Range(1, K).Select(Tick), frames.Select(f => f.Raw));
            ErrorRecord error = Assert.Single(result.Errors);
            Assert.StartsWith("QfexConnectionClosed,", error.FullyQualifiedErrorId);
            Assert.Equal(QfexSessionState.Closed, session.State);
            Assert.Equal(K, session.FramesReceived);

            // A send on the closed session says so too.
            ErrorRecord send = Assert.Single(_ps.Run("Send-QfexMessage -Type get_user_orders").AllErrors);
            Assert.StartsWith("QfexConnectionClosed,", send.FullyQualifiedErrorId);
        }

        // ------------------------------------------------------------------ frame size

        private static byte[] JsonOfSize(int size, string type)
        {
            string head = "{\"type\":\"" + type + "\",\"pad\":\"";
            const string Tail = "\"}";
            return Utf8(head + new string('x', size - head.Length - Tail.Length) + Tail);
        }

        [Fact]
        public void FrameOverTheMaximumIsQfexFrameTooLargeAndTheNextFrameStillArrives()
        {
            QfexTestServer server = StartServer();
            QfexSession session = Connect();
            server.Faults.PushFrame(JsonOfSize(QfexSession.DefaultMaxFrameBytes + 1, "big"), QfexTestServerOpcode.Text, fin: true);
            server.Push("{\"type\":\"after\"}");

            ScriptResult result = _ps.Run("Receive-QfexFrame -Count 2 -TimeoutSec 20");
            Assert.Null(result.Terminating);
            ErrorRecord error = Assert.Single(result.Errors);
            Assert.StartsWith("QfexFrameTooLarge,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.LimitsExceeded, error.CategoryInfo.Category);
            var exception = Assert.IsType<QfexMalformedFrameException>(error.Exception);
            Assert.Contains(QfexSession.DefaultMaxFrameBytes.ToString(), exception.Message);
            Assert.Equal(1, exception.Sequence);
            QfexFrame after = Assert.Single(Frames(result));
            Assert.Equal("after", after.Type);
            Assert.Equal(2, after.Sequence);
            Assert.Equal(QfexSessionState.Open, session.State);
        }

        [Fact]
        public void FragmentedMessageOverTheMaximumIsQfexFrameTooLargeAndTheSessionGoesOn()
        {
            QfexTestServer server = StartServer();
            QfexSession session = Connect();
            byte[] big = JsonOfSize(QfexSession.DefaultMaxFrameBytes + 1000, "big");
            int third = big.Length / 3;
            server.Faults.PushFrame(big.Take(third).ToArray(), QfexTestServerOpcode.Text, fin: false);
            server.Faults.PushFrame(big.Skip(third).Take(third).ToArray(), QfexTestServerOpcode.Continuation, fin: false);
            server.Faults.PushFrame(big.Skip(2 * third).ToArray(), QfexTestServerOpcode.Continuation, fin: true);
            server.Push("{\"type\":\"after\"}");

            ScriptResult result = _ps.Run("Receive-QfexFrame -Count 2 -TimeoutSec 20");
            Assert.StartsWith("QfexFrameTooLarge,", Assert.Single(result.Errors).FullyQualifiedErrorId);
            Assert.Equal("after", Assert.Single(Frames(result)).Type);
            Assert.Equal(QfexSessionState.Open, session.State);
        }

        [Fact]
        public void FrameOfExactlyTheMaximumArrivesWhole()
        {
            QfexTestServer server = StartServer();
            Connect();
            byte[] exact = JsonOfSize(QfexSession.DefaultMaxFrameBytes, "exact");
            server.Faults.PushFrame(exact, QfexTestServerOpcode.Text, fin: true);
            ScriptResult result = _ps.Run("Receive-QfexFrame -Count 1 -TimeoutSec 20").ThrowOnError();
            QfexFrame frame = Assert.Single(Frames(result));
            Assert.Equal("exact", frame.Type);
            Assert.Equal(QfexSession.DefaultMaxFrameBytes, frame.Raw.Length);
        }

        // ------------------------------------------------------------------ fragments, binary, bad text

        [Fact]
        public void FragmentedMessagesAreReassembledEvenWithAMultibyteCharacterSplitAndAPingBetween()
        {
            QfexTestServer server = StartServer();
            QfexSession session = Connect();
            byte[] whole = Utf8("{\"type\":\"fragmented\",\"s\":\"é€😀\"}");
            int split = Array.IndexOf(whole, (byte)0xC3) + 1; // between the two bytes of é
            server.Faults.PushFrame(whole.Take(split).ToArray(), QfexTestServerOpcode.Text, fin: false);
            server.Faults.PushFrame(Array.Empty<byte>(), QfexTestServerOpcode.Ping, fin: true); // control frames may come between fragments
            server.Faults.PushFrame(whole.Skip(split).Take(5).ToArray(), QfexTestServerOpcode.Continuation, fin: false);
            server.Faults.PushFrame(whole.Skip(split + 5).ToArray(), QfexTestServerOpcode.Continuation, fin: true);

            // A bigger one in 64 fragments, across the receive buffer's growth.
            byte[] large = JsonOfSize(300_000, "large");
            int size = large.Length / 64 + 1;
            for (int at = 0; at < large.Length; at += size)
                server.Faults.PushFrame(large.Skip(at).Take(size).ToArray(), at == 0 ? QfexTestServerOpcode.Text : QfexTestServerOpcode.Continuation, fin: at + size >= large.Length);
            server.Push("{\"type\":\"after\"}");

            ScriptResult result = _ps.Run("Receive-QfexFrame -Count 3 -TimeoutSec 20").ThrowOnError();
            QfexFrame[] frames = Frames(result);
            Assert.Equal(new[] { "fragmented", "large", "after" }, frames.Select(f => f.Type));
            Assert.Equal(new long[] { 1, 2, 3 }, frames.Select(f => f.Sequence));
            Assert.Equal(Encoding.UTF8.GetString(whole), frames[0].Raw);
            Assert.Equal("é€😀", ((PSObject)frames[0].Data!).Properties["s"].Value);
            Assert.Equal(Encoding.UTF8.GetString(large), frames[1].Raw);
            Assert.Equal(QfexSessionState.Open, session.State);
        }

        [Fact]
        public void BinaryFrameIsQfexMalformedFrameAndTheSessionGoesOn()
        {
            QfexTestServer server = StartServer();
            QfexSession session = Connect();
            server.Faults.PushFrame(Utf8("{\"type\":\"binary\"}"), QfexTestServerOpcode.Binary, fin: true);
            server.Push("{\"type\":\"after\"}");

            ScriptResult result = _ps.Run("Receive-QfexFrame -Count 2 -TimeoutSec 20");
            Assert.Null(result.Terminating);
            ErrorRecord error = Assert.Single(result.Errors);
            Assert.StartsWith("QfexMalformedFrame,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
            Assert.Equal(1, Assert.IsType<QfexMalformedFrameException>(error.Exception).Sequence);
            Assert.Contains("binary", error.Exception.Message);
            Assert.Equal("{\"type\":\"binary\"}", error.TargetObject);
            QfexFrame after = Assert.Single(Frames(result));
            Assert.Equal(2, after.Sequence);
            Assert.Equal(QfexSessionState.Open, session.State);
        }

        [Fact]
        public void InvalidUtf8TextIsQfexMalformedFrameThenTheSessionReconnects()
        {
            // .NET's WebSocket fails the connection on invalid UTF-8 text (RFC 6455 §8.1) before the module
            // can read the frame: the module reports it in the stream, then reconnects.
            QfexTestServer server = StartServer();
            QfexSession session = Connect();
            server.Push(Tick(1));
            Until(() => session.FramesReceived == 1, "the first frame");
            server.Faults.PushFrame(new byte[] { (byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}' }, QfexTestServerOpcode.Text, fin: true);
            Until(() => session.Reconnects == 1 && session.State == QfexSessionState.Open, "the reconnect");
            server.Push(Tick(2));

            ScriptResult result = _ps.Run("Receive-QfexFrame -Count 4 -TimeoutSec 20");
            Assert.Null(result.Terminating);
            ErrorRecord error = Assert.Single(result.Errors);
            Assert.StartsWith("QfexMalformedFrame,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
            Assert.Contains("UTF-8", error.Exception.Message);
            Assert.Equal(2, ((QfexMalformedFrameException)error.Exception).Sequence);
            Assert.Equal(new[] { "tick", QfexSession.ReconnectedType, "tick" }, Frames(result).Select(f => f.Type));
            Assert.Equal(new long[] { 1, 3, 4 }, Frames(result).Select(f => f.Sequence));
        }

        [Fact]
        public void InvalidUtf8TextNeitherHangsNorLosesTheFramesBeforeIt()
        {
            QfexTestServer server = StartServer();
            QfexSession session = Connect("-NoReconnect");
            server.Push(Tick(1));
            server.Push(Tick(2));
            server.Faults.PushFrame(new byte[] { (byte)'{', 0xC3, 0x28, (byte)'}' }, QfexTestServerOpcode.Text, fin: true);

            ScriptResult result = _ps.Run("Receive-QfexFrame -Count 3 -TimeoutSec 600");
            Assert.Equal(new[] { Tick(1), Tick(2) }, Frames(result).Select(f => f.Raw));
            // Today the connection fails (see the skipped test above); either way the user gets a documented ErrorId.
            ErrorRecord error = Assert.Single(result.Errors);
            Assert.Matches("^(QfexMalformedFrame|QfexConnectionClosed),", error.FullyQualifiedErrorId);
        }

        [Theory]
        [InlineData("{\"type\":\"\\ud800\"}")]
        [InlineData("{\"err\":{\"error_code\":\"InvalidParameter\",\"incoming_message\":{\"type\":\"add_order\",\"params\":{\"psobject\":1}}}}")]
        public void AFrameTheParserCannotReadIsAnErrorRecordAndTheSessionGoesOn(string json)
        {
            QfexTestServer server = StartServer();
            QfexSession session = Connect();
            server.Push(json);
            server.Push("{\"type\":\"after\"}");

            // Either shape of outcome is fine (a readable frame, or an ErrorRecord with a documented id);
            // what matters is that nothing throws, the next frame arrives, and the socket survives.
            ScriptResult result = _ps.Run("Receive-QfexFrame -Count 2 -TimeoutSec 10");
            Assert.Null(result.Terminating);
            Assert.Equal(2, result.Errors.Count + Frames(result).Count());
            Assert.All(result.Errors, e => Assert.Matches("^(QfexMalformedFrame|InvalidParameter),", e.FullyQualifiedErrorId));
            Assert.Equal("after", Frames(result).Last().Type);
            Assert.Equal(QfexSessionState.Open, session.State);
            Assert.Equal(0, session.Reconnects);
        }

        // ------------------------------------------------------------------ floods

        [Fact]
        public void FloodOfTenThousandErrorFramesGivesTenThousandErrorRecordsGapFreeAndTheSessionStaysOpen()
        {
            const int N = 10_000;
            QfexTestServer server = StartServer();
            QfexSession session = Connect();
            const string ErrorFrame = "{\"err\":{\"error_code\":\"RateLimited\",\"message\":\"Too many requests. Please retry after 200ms.\",\"incoming_message\":{\"type\":\"cancel_all_orders\",\"params\":{}}}}";
            Assert.Equal(1, server.Faults.Flood(ErrorFrame, N));
            server.Push("{\"type\":\"after\"}");

            ScriptResult result = _ps.Run("Receive-QfexFrame -Count ($args[0] + 1) -TimeoutSec 60", N);
            Assert.Null(result.Terminating);
            Assert.Equal(N, result.Errors.Count);
            for (int i = 0; i < N; i++)
            {
                ErrorRecord error = result.Errors[i];
                Assert.Equal("RateLimited,Qfex.Commands.ReceiveQfexFrameCommand", error.FullyQualifiedErrorId);
                var exception = Assert.IsType<QfexRateLimitedException>(error.Exception);
                Assert.Equal(i + 1, exception.Sequence);
            }
            QfexFrame after = Assert.Single(Frames(result));
            Assert.Equal(N + 1, after.Sequence);
            Assert.Equal(QfexSessionState.Open, session.State);
            Assert.Equal(N + 1, session.FramesReceived);
            Assert.Equal(0, session.FramesPending);
        }
    }
}
