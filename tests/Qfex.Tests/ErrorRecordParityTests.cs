using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using Qfex.Errors;
using Qfex.Protocol;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// New-QfexErrorRecord against the real thing: for every exchange error code (and an unknown one), every order
    /// rejection status and every module ErrorId in the code table, the record the fake exchange makes the module
    /// write is compared, property by property, with the record New-QfexErrorRecord builds from the same code,
    /// message and target (and, for a request, the same outcome), as a runbook test would build it.
    /// <para>
    /// Compared: FullyQualifiedErrorId; CategoryInfo (Category, Reason, Activity, TargetName, TargetType); the
    /// exception's type, Message, ErrorId, Category, RequestOutcome, RequestType and Advice (every property); the
    /// error frame's ErrorCode, ServerMessage and IncomingMessage; the rejection's ErrorCode and OrderResponse.status;
    /// ErrorDetails (Message and RecommendedAction); TargetObject (as JSON for requests); the InvocationInfo's command.
    /// Not compared, because they describe one occurrence rather than the error: the exception's stack trace, inner
    /// exception, Sequence and ReceivedAt (a ServerError's advice quotes that timestamp: it is masked), where the
    /// command was called (InvocationInfo.ScriptPosition, ScriptStackTrace), and what only the exchange or the socket
    /// can say (a connection's close status, the server's authentication code, a rejection's other order fields).
    /// </para>
    /// </summary>
    public sealed class ErrorRecordParityTests : IDisposable
    {
        private readonly PowerShellHost _ps = new PowerShellHost();
        private readonly QfexTestServer _server;

        public ErrorRecordParityTests()
        {
            _server = _ps.StartServer();
            _ps.Connect("-Subscribe order_responses -MessagesPerSecond 0");
            _ps.Run("$order = " + SessionTests.Order).ThrowOnError();
        }

        public void Dispose() => _ps.Dispose();

        // ------------------------------------------------------------------ exchange codes and order statuses

        public static IEnumerable<object[]> ErrorFrameCodes() =>
            ErrorCodeTable.Rows.Where(r => r.Source == CodeSource.ErrorFrame).Select(r => new object[] { r.Code, "get_user_orders" })
                .Append(new object[] { "BrandNewCode", "get_user_orders" })
                // The code alone says "retry with jitter"; on an order, the record's advice says to check the outcome.
                .Append(new object[] { "ServerError", "add_order" })
                .Append(new object[] { "BrandNewCode", "add_order" });

        [Theory]
        [MemberData(nameof(ErrorFrameCodes))]
        public void ErrorFrameRecordMatchesTheMock(string code, string requestType)
        {
            _server.Respond[requestType] = code;
            string parameters = requestType == "add_order" ? " -Params $order" : "";
            ErrorRecord real = OnlyError(_ps.Run($"Send-QfexMessage -Type {requestType}{parameters} -Wait -MaxRetries 0"));
            var exception = Assert.IsAssignableFrom<QfexServerErrorException>(real.Exception);
            Assert.Equal(code, exception.ErrorCode);
            AssertSame(real, Mock(code, exception.ServerMessage, real), code + " on " + requestType);
        }

        public static IEnumerable<object[]> OrderStatuses() =>
            ErrorCodeTable.Rows.Where(r => r.Source == CodeSource.OrderStatus).Select(r => new object[] { r.Code })
                .Append(new object[] { "REJECTED_FOR_A_REASON_QFEX_DOES_NOT_KNOW" });

        [Theory]
        [MemberData(nameof(OrderStatuses))]
        public void OrderRejectionRecordMatchesTheMock(string status)
        {
            _server.OrderStatusOverride = status;
            ErrorRecord real = OnlyError(_ps.Run("Send-QfexMessage -Type add_order -Params $order -Wait"));
            Assert.IsType<QfexOrderRejectedException>(real.Exception);
            AssertSame(real, Mock(status, null, real), status);
        }

        // ------------------------------------------------------------------ the module's own ErrorIds

        /// <summary>How to make the module write each of its ErrorIds against the fake exchange (some ids in several ways).</summary>
        private IEnumerable<(string Id, string How, Func<ErrorRecord> Real)> ModuleScenarios() => new (string, string, Func<ErrorRecord>)[]
        {
            ("QfexConnectFailed", "nothing listens on the port",
                () => OnlyError(_ps.Run("Connect-Qfex -Uri \"ws://127.0.0.1:$($args[0])/\" -Credential $server.Credential -TimeoutSec 5", ClosedPort()))),
            ("QfexConnectionClosed", "the connection drops while -Wait waits for add_order", ConnectionDropsDuringAWait),
            ("QfexConnectionClosed", "add_order on a closed session (not sent)",
                () => OnlyError(_ps.Run("$c = Connect-Qfex -Uri $server.Uri -Credential $server.Credential; Disconnect-Qfex -Session $c; " +
                                        "Send-QfexMessage -Session $c -Type add_order -Params $order"))),
            ("QfexConnectionClosed", "Receive-QfexFrame on a closed session",
                () => OnlyError(_ps.Run("$c = Connect-Qfex -Uri $server.Uri -Credential $server.Credential; Disconnect-Qfex -Session $c; " +
                                        "Receive-QfexFrame -Session $c -Count 1 -TimeoutSec 1"))),
            ("QfexAuthenticationFailed", "no credential for the Trade endpoint", () => OnlyError(_ps.Run("Connect-Qfex -Uri $server.Uri"))),
            ("QfexAuthenticationFailed", "a wrong secret",
                () => OnlyError(_ps.Run("Connect-Qfex -Uri $server.Uri -TimeoutSec 5 -Credential ([pscredential]::new($server.Credential.UserName, [System.Net.NetworkCredential]::new('', 'wrong').SecurePassword))"))),
            ("QfexTimeout", "add_order is never answered", () =>
            {
                _server.SilentTypes.Add("add_order");
                return OnlyError(_ps.Run("Send-QfexMessage -Type add_order -Params $order -Wait -TimeoutSec 1"));
            }),
            ("QfexTimeout", "get_user_orders is never answered", () =>
            {
                _server.SilentTypes.Add("get_user_orders");
                return OnlyError(_ps.Run("Send-QfexMessage -Type get_user_orders -Wait -TimeoutSec 1"));
            }),
            ("QfexReceiveTimeout", "no frame of the type arrives", () => OnlyError(_ps.Run("Receive-QfexFrame -Type nothing.here -Count 1 -TimeoutSec 0.2"))),
            ("QfexMalformedFrame", "a frame that is not an object", () =>
            {
                _server.Push("[1,2,3]");
                return OnlyError(_ps.Run("Receive-QfexFrame -Type malformed -Count 1 -TimeoutSec 5"));
            }),
            ("QfexFrameTooLarge", "a frame over 4 MiB", () =>
            {
                _server.Push("{\"type\":\"big\",\"pad\":\"" + new string('x', 4 * 1024 * 1024 + 16) + "\"}");
                return OnlyError(_ps.Run("Receive-QfexFrame -Type malformed -Count 1 -TimeoutSec 20"));
            }),
            ("QfexBufferFull", "Receive-QfexFrame -Type behind a buffer full of other frames", () =>
            {
                using var other = new PowerShellHost();
                QfexTestServer server = other.StartServer();
                QfexSession session = other.Connect("-ReceiveBufferCapacity 1000");
                for (int i = 1; i <= 2500; i++) server.Push("{\"type\":\"noise\",\"i\":" + i + "}");
                Wait.Until(() => session.Buffer.IsFull, "a full buffer");
                return OnlyError(other.Run("Receive-QfexFrame -Type wanted -Count 1 -TimeoutSec 600"));
            }),
            ("QfexInvalidMessage", "add_order without its required params",
                () => OnlyError(_ps.Run("Send-QfexMessage -Type add_order -Params @{ symbol = 'AAPL-USD'; api_secret = 'hush' }"))),
            ("QfexNoSession", "Send-QfexMessage in a runspace without a session", () =>
            {
                using var bare = new PowerShellHost();
                return OnlyError(bare.Run("Send-QfexMessage -Type get_user_orders"));
            }),
            ("QfexSessionNotFound", "Get-QfexSession -Id of no session", () => OnlyError(_ps.Run("Get-QfexSession -Id 999"))),
            ("QfexInsecureUri", "ws:// to a host that is not loopback",
                () => OnlyError(_ps.Run("Connect-Qfex -Uri ws://example.com/ -Credential $server.Credential"))),
            ("QfexInvalidUri", "a host name without a scheme", () => OnlyError(_ps.Run("Connect-Qfex -Uri trade.qfex.com -Credential $server.Credential"))),
            ("QfexNoEndpoint", "neither -Environment nor -Uri", () => OnlyError(_ps.Run("Connect-Qfex -Credential $server.Credential"))),
            ("QfexConflictingParameters", "-Uri with -Environment",
                () => OnlyError(_ps.Run("Connect-Qfex -Uri $server.Uri -Environment Uat -Credential $server.Credential"))),
            ("QfexConfirmationRequired", "transfer_balance where PowerShell cannot prompt",
                () => OnlyError(_ps.Run("Send-QfexMessage -Type transfer_balance -Params @{ amount = 1 }"))),
            ("QfexTestServerStartFailed", "a port that is in use", () => OnlyError(_ps.Run("Start-QfexTestServer -Port $server.Port"))),
            ("QfexWaitTimeout", "a session that stays Reconnecting",
                () => OnlyError(_ps.Run("New-QfexTestSession -State Reconnecting | Wait-QfexSession -TimeoutSec 0.1"))),
            ("QfexRecordFailed", "-RecordPath in a folder that does not exist",
                () => OnlyError(_ps.Run("Connect-Qfex -Uri $server.Uri -Credential $server.Credential -RecordPath $args[0]",
                    Path.Combine(Path.GetTempPath(), "qfex-no-such-folder-" + Guid.NewGuid().ToString("N"), "t.jsonl")))),
            ("QfexTranscriptInvalid", "a transcript of a newer format version", () =>
            {
                string path = Path.Combine(Path.GetTempPath(), "qfex-parity-" + Guid.NewGuid().ToString("N") + ".jsonl");
                File.WriteAllText(path, "{\"kind\":\"start\",\"format\":\"qfex-transcript\",\"version\":99}\n");
                try
                {
                    return OnlyError(_ps.Run("Start-QfexTestServer -Replay $args[0]", path));
                }
                finally
                {
                    File.Delete(path);
                }
            }),
        };

        [Fact]
        public void EveryModuleErrorIdRecordMatchesTheMock()
        {
            var scenarios = ModuleScenarios().ToList();
            string[] rows = ErrorCodeTable.Rows.Where(r => r.Source == CodeSource.Module).Select(r => r.Code).ToArray();
            Assert.Empty(rows.Except(scenarios.Select(s => s.Id)));   // a new row needs a scenario here

            foreach ((string id, string how, Func<ErrorRecord> makeReal) in scenarios)
            {
                ErrorRecord real = makeReal();
                _server.SilentTypes.Clear();
                var exception = Assert.IsAssignableFrom<QfexException>(real.Exception);
                Assert.True(id == exception.ErrorId, $"{how}: expected {id}, the module wrote {real.FullyQualifiedErrorId}: {real}");
                AssertSame(real, Mock(id, exception.Message, real), $"{id} ({how})");
            }
        }

        private ErrorRecord ConnectionDropsDuringAWait()
        {
            _server.SilentTypes.Add("add_order");
            int sent = _server.Received.Count(r => r.Type == "add_order");
            Task<ScriptResult> pending = Task.Run(() => _ps.Run("Send-QfexMessage -Type add_order -Params $order -Wait -TimeoutSec 20"));
            Wait.Until(() => _server.Received.Count(r => r.Type == "add_order") > sent, "the order reached the exchange");
            _server.DropConnections();
            ErrorRecord error = OnlyError(pending.GetAwaiter().GetResult());
            Wait.Until(() => ((QfexSession)_ps.Run("$s").Value()!).State == QfexSessionState.Open, "the session is open again");
            return error;
        }

        // ------------------------------------------------------------------ the mock and the comparison

        /// <summary>
        /// What a runbook test writes: the code, the message and target it expects, the cmdlet it mocks, the outcome.
        /// Both forms: the record output (to throw) and the record written as a non-terminating error (-NonTerminating),
        /// which must be the same.
        /// </summary>
        private ErrorRecord Mock(string code, string? message, ErrorRecord real)
        {
            var extra = new System.Collections.Hashtable { ["CommandName"] = real.InvocationInfo.MyCommand.Name };
            if (real.Exception is QfexException { RequestOutcome: QfexRequestOutcome outcome }) extra["RequestOutcome"] = outcome;
            const string Make = "$p = $args[3]; New-QfexErrorRecord -Code $args[0] -Message $args[1] -IncomingMessage $args[2] @p";
            ScriptResult made = _ps.Run(Make, code, message, real.TargetObject, extra);
            made.ThrowOnError();
            Assert.Empty(made.Warnings);

            ScriptResult written = _ps.Run(Make + " -NonTerminating -ErrorVariable e -ErrorAction SilentlyContinue; $e.Count; $e[0]",
                code, message, real.TargetObject, extra);
            Assert.Empty(written.Warnings);
            Assert.Equal(1, written.Value());
            AssertSame(real, (ErrorRecord)written.Value(1)!, code + " written with -NonTerminating");
            return made.Single<ErrorRecord>();
        }

        private static void AssertSame(ErrorRecord real, ErrorRecord mock, string what)
        {
            void Same(object? expected, object? actual, string property) =>
                Assert.True(Equals(expected, actual), $"{what}: {property} differs.\n  real: {expected}\n  mock: {actual}");

            Same(real.FullyQualifiedErrorId, mock.FullyQualifiedErrorId, "FullyQualifiedErrorId");
            Same(real.CategoryInfo.Category, mock.CategoryInfo.Category, "CategoryInfo.Category");
            Same(real.CategoryInfo.Reason, mock.CategoryInfo.Reason, "CategoryInfo.Reason");
            Same(real.CategoryInfo.Activity, mock.CategoryInfo.Activity, "CategoryInfo.Activity");
            Same(real.CategoryInfo.TargetName, mock.CategoryInfo.TargetName, "CategoryInfo.TargetName");
            Same(real.CategoryInfo.TargetType, mock.CategoryInfo.TargetType, "CategoryInfo.TargetType");
            Same(real.Exception.GetType(), mock.Exception.GetType(), "Exception type");
            Same(real.Exception.Message, mock.Exception.Message, "Exception.Message");
            Same(real.ErrorDetails?.Message, mock.ErrorDetails?.Message, "ErrorDetails.Message");
            Same(MaskTime(real.ErrorDetails?.RecommendedAction), MaskTime(mock.ErrorDetails?.RecommendedAction), "ErrorDetails.RecommendedAction");
            Same(Shape(real.TargetObject), Shape(mock.TargetObject), "TargetObject");
            Same(real.InvocationInfo?.MyCommand?.Name, mock.InvocationInfo?.MyCommand?.Name, "InvocationInfo.MyCommand");
            Same(real.InvocationInfo?.MyCommand?.ModuleName, mock.InvocationInfo?.MyCommand?.ModuleName, "InvocationInfo.MyCommand.ModuleName");
            Same((real.InvocationInfo?.MyCommand as CmdletInfo)?.ImplementingType, (mock.InvocationInfo?.MyCommand as CmdletInfo)?.ImplementingType, "the cmdlet's type");

            var r = (QfexException)real.Exception;
            var m = (QfexException)mock.Exception;
            Same(r.ErrorId, m.ErrorId, "Exception.ErrorId");
            Same(r.Category, m.Category, "Exception.Category");
            Same(r.RequestOutcome, m.RequestOutcome, "Exception.RequestOutcome");
            Same(r.RequestType, m.RequestType, "Exception.RequestType");
            foreach (var property in typeof(QfexErrorAdvice).GetProperties())
                Same(MaskTime(property.GetValue(r.Advice)?.ToString()), MaskTime(property.GetValue(m.Advice)?.ToString()), "Advice." + property.Name);

            switch (r)
            {
                case QfexServerErrorException server:
                    var mockServer = (QfexServerErrorException)m;
                    Same(server.ErrorCode, mockServer.ErrorCode, "ErrorCode");
                    Same(server.ServerMessage, mockServer.ServerMessage, "ServerMessage");
                    Same(Shape(server.IncomingMessage), Shape(mockServer.IncomingMessage), "IncomingMessage");
                    break;
                case QfexOrderRejectedException rejected:
                    var mockRejected = (QfexOrderRejectedException)m;
                    Same(rejected.ErrorCode, mockRejected.ErrorCode, "ErrorCode");
                    Same(Property(rejected.OrderResponse, "status"), Property(mockRejected.OrderResponse, "status"), "OrderResponse.status");
                    Same(Property(rejected.OrderResponse, "symbol"), Property(mockRejected.OrderResponse, "symbol"), "OrderResponse.symbol");
                    break;
            }
        }

        /// <summary>A target as a runbook sees it: a request as its JSON (numbers typed), a session by Id, anything else as text with its type.</summary>
        private static string? Shape(object? value) => value switch
        {
            null => null,
            PSObject p when p.BaseObject is PSCustomObject => PSJson.Serialize(p),
            PSObject p => Shape(p.BaseObject),
            QfexSession session => "session " + session.Id,
            _ => value.GetType().Name + ": " + value,
        };

        private static object? Property(object? value, string name) => (value as PSObject)?.Properties[name]?.Value;

        private static string? MaskTime(string? text) =>
            text == null ? null : Regex.Replace(text, @"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", "<time>");

        private static ErrorRecord OnlyError(ScriptResult result)
        {
            Assert.DoesNotContain(result.Output, o => !(o?.BaseObject is QfexFrame));
            return Assert.Single(result.AllErrors);
        }

        private static int ClosedPort()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            return port;
        }
    }
}
