using System;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Tasks;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>Issue 18: a hostile server or a careless user cannot exhaust memory or bypass the loopback rule.</summary>
    public sealed class HardeningTests : IDisposable
    {
        private readonly PowerShellHost _ps = new PowerShellHost();
        private readonly QfexTestServer _server;

        public HardeningTests() => _server = _ps.StartServer();

        public void Dispose() => _ps.Dispose();

        [Fact]
        public void PendingFramesAreBoundedByBytesAndNothingIsDropped()
        {
            // A session nobody reads while the server sends large frames: the byte budget stops the reading (a
            // smaller budget here, for this runspace only), long before the frame count would.
            Qfex.Commands.SessionOptionHooks.Set(_ps.Runspace, o => o.BufferBytes = 1_000_000);
            QfexSession session = _ps.Connect();
            string padding = new string('x', 50_000);
            for (int i = 1; i <= 100; i++) _server.Push("{\"type\":\"big\",\"i\":" + i + ",\"pad\":\"" + padding + "\"}");
            Wait.Until(() => session.Buffer.IsFull, "the receive loop to park on the byte budget");
            Assert.InRange(session.FramesPending, 10, 30);
            Assert.True(session.Buffer.Bytes < 1_000_000 + 60_000, $"{session.Buffer.Bytes} bytes pending");

            var all = _ps.Run("Receive-QfexFrame -Count 100 -TimeoutSec 60 | ForEach-Object { $_.Data.i }").ThrowOnError();
            Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), all.Output.Select(o => (long)o.BaseObject));
        }

        [Fact]
        public async Task DisconnectStopsASessionThatIsBusyReceiving()
        {
            // A server that never stops sending error frames with large echoes (each parsed on the receive loop):
            // Disconnect-Qfex returns, the session is Closed, and its connection is gone from the exchange, so
            // nothing keeps reading or parsing after it (issue 18: the loop once kept a core busy after Close).
            QfexSession session = _ps.Connect();
            string echo = "{" + string.Join(",", Enumerable.Range(0, 2_000).Select(i => "\"k" + i + "\":" + i)) + "}";
            string frame = "{\"err\":{\"error_code\":\"RateLimited\",\"message\":\"slow down\",\"incoming_message\":" + echo + "}}";
            using var stop = new System.Threading.CancellationTokenSource();
            Task flood = _server.Faults.FloodAsync(frame, 1_000_000, stop.Token);
            Wait.Until(() => session.FramesReceived > 100, "the flood to reach the session");

            Task disconnect = Task.Run(() => _ps.Run("Disconnect-Qfex").ThrowOnError());
            Wait.Until(() => disconnect.IsCompleted, "Disconnect-Qfex to return while frames keep coming");
            await disconnect;
            Assert.Equal(QfexSessionState.Closed, session.State);
            Wait.Until(() => _server.ConnectionCount == 0, "the exchange to see the connection end");
            long received = session.FramesReceived;
            stop.Cancel();
            await flood;
            Assert.Equal(received, session.FramesReceived);
        }

        [Fact]
        public async Task ARedirectIsNeverFollowed()
        {
            // A loopback "server" that answers the upgrade with 302 to another address; that address must never be reached.
            var target = new TcpListener(IPAddress.Loopback, 0);
            target.Start();
            var redirector = new TcpListener(IPAddress.Loopback, 0);
            redirector.Start();
            try
            {
                int targetPort = ((IPEndPoint)target.LocalEndpoint).Port;
                Task serve = Task.Run(async () =>
                {
                    using TcpClient client = await redirector.AcceptTcpClientAsync();
                    NetworkStream stream = client.GetStream();
                    var head = new byte[4096];
                    _ = await stream.ReadAsync(head);
                    byte[] answer = Encoding.ASCII.GetBytes($"HTTP/1.1 302 Found\r\nLocation: ws://localhost:{targetPort}/\r\nContent-Length: 0\r\n\r\n");
                    await stream.WriteAsync(answer);
                });
                Task<TcpClient> reached = target.AcceptTcpClientAsync();

                var result = _ps.Run("Connect-Qfex -Uri $args[0] -Endpoint MarketData", new Uri($"ws://127.0.0.1:{((IPEndPoint)redirector.LocalEndpoint).Port}/"));
                ErrorRecord error = Assert.Single(result.AllErrors);
                Assert.StartsWith("QfexConnectFailed,", error.FullyQualifiedErrorId);
                Assert.Contains("redirect", error.Exception.Message);
                await serve;
                Assert.False(reached.IsCompleted, "the session followed the redirect");
            }
            finally
            {
                redirector.Stop();
                target.Stop();
            }
        }

        [Fact]
        public void UserInformationInTheAddressIsRefusedWithoutBeingRepeated()
        {
            string address = _server.Uri.ToString().Replace("ws://", "ws://apiuser:MyS3cretPass@");
            var result = _ps.Run("Connect-Qfex -Uri $args[0] -Credential $server.Credential", new Uri(address));
            ErrorRecord error = Assert.Single(result.AllErrors);
            Assert.StartsWith("QfexInsecureUri,", error.FullyQualifiedErrorId);
            string everything = error + " " + error.Exception + " " + error.TargetObject + " " + error.ErrorDetails?.Message;
            Assert.DoesNotContain("MyS3cretPass", everything);
            Assert.DoesNotContain("apiuser", everything);
            Assert.DoesNotContain(_server.Received, r => r.Type == "auth");
        }

        [Fact]
        public void AServerThatClosesRightAfterTheHandshakeFailsTheConnectWithItsReason()
        {
            // The close reaches the session while it authenticates: Connect-Qfex fails with the server's reason,
            // never returns a Closed (or reconnecting) session.
            _server.Faults.CloseAfterUpgrade = 1013;
            _server.Faults.CloseAfterUpgradeReason = "try again later";
            var result = _ps.Run("Connect-Qfex -Uri $server.Uri -Credential $server.Credential");
            ErrorRecord error = Assert.Single(result.AllErrors);
            Assert.StartsWith("QfexAuthenticationFailed,", error.FullyQualifiedErrorId);
            Assert.Contains("1013", error.Exception.Message);
            Assert.Contains("try again later", error.Exception.Message);
            Assert.Empty(result.Output);
            Assert.Null(_ps.Run("Get-QfexSession -Default").Value());
        }

        [Fact]
        public void AProxyIsNeverUsedForLoopback()
        {
            var result = _ps.Run("Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Proxy http://127.0.0.1:9/");
            Assert.StartsWith("QfexConflictingParameters,", Assert.Single(result.AllErrors).FullyQualifiedErrorId);
        }

        [Fact]
        public void ThisRuntimeConnectsWithoutRedirectsOrAnImplicitProxy()
        {
            // Otherwise the two tests above would pass for the wrong reason on a runtime where the handler is not bound.
            Assert.True(Qfex.Transport.SocketLink.ControlsRedirectsAndProxy);
        }
    }
}
