using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Security;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using Qfex.Transport;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// Issue 15: Connect-Qfex -RecordPath writes a transcript (every frame both ways, sequence numbers, reconnects,
    /// no secret), Start-QfexTestServer -Replay serves it (recorded answers to matching requests, pushes in order,
    /// drops, a ReplayUnmatched error and a listing for anything else, nothing served from a bad transcript), and
    /// the runbook testing kit: New-QfexFrame, New-QfexTestSession, Wait-QfexSession, Receive-QfexFrame -AllowPartial.
    /// </summary>
    public sealed class RecordReplayTests : IDisposable
    {
        internal const string Order = "@{symbol='AAPL-USD'; side='BUY'; order_type='LIMIT'; order_time_in_force='GTC'; quantity=1; price=200; client_order_id='runbook-1'}";

        private readonly PowerShellHost _ps = new PowerShellHost();
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "qfex-record-" + Guid.NewGuid().ToString("N"));

        public RecordReplayTests() => Directory.CreateDirectory(_dir);

        public void Dispose()
        {
            _ps.Dispose();
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        private string PathOf(string name) => Path.Combine(_dir, name);

        private static List<JsonElement> Lines(string path) =>
            File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

        private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        private static IEnumerable<JsonElement> Frames(List<JsonElement> lines, string dir) =>
            lines.Where(l => Str(l, "kind") == "frame" && Str(l, "dir") == dir);

        private static SecureString Secure(string text)
        {
            var s = new SecureString();
            foreach (char c in text) s.AppendChar(c);
            s.MakeReadOnly();
            return s;
        }

        /// <summary>Records a session against the fake exchange: an order, a push, a drop and reconnect, a query.</summary>
        private (QfexTestServer Server, QfexSession Session, List<string> Raw) RecordSession(string path)
        {
            QfexTestServer server = _ps.StartServer();
            var session = (QfexSession)_ps.Run("$s = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses -RecordPath $args[0]; $s", path)
                .ThrowOnError().Value()!;
            var raw = new List<string>();
            raw.Add(((QfexFrame)_ps.Run("Send-QfexMessage -Type add_order -Params " + Order + " -Wait").ThrowOnError().Value()!).Raw);
            server.Push("{\"position_response\":{\"symbol\":\"AAPL-USD\",\"position\":1,\"average_price\":200.5}}");
            raw.Add(((QfexFrame)_ps.Run("Receive-QfexFrame -Type position_response -Count 1 -TimeoutSec 10").ThrowOnError().Value()!).Raw);
            server.DropConnections();
            Wait.Until(() => session.Reconnects == 1 && session.State == QfexSessionState.Open, "the session reconnected");
            raw.Add(((QfexFrame)_ps.Run("Send-QfexMessage -Type get_user_orders -Params @{ symbol = 'AAPL-USD' } -Wait").ThrowOnError().Value()!).Raw);
            _ps.Run("Disconnect-Qfex -Session $s").ThrowOnError();
            return (server, session, raw);
        }

        // ------------------------------------------------------------------ recording

        [Fact]
        public void TheTranscriptHasEveryFrameBothWaysWithSequenceNumbersClaimsAndTheReconnect()
        {
            string path = PathOf("session.jsonl");
            (QfexTestServer server, QfexSession session, _) = RecordSession(path);
            Assert.Equal(path, session.RecordPath);
            List<JsonElement> lines = Lines(path);

            JsonElement start = lines[0];
            Assert.Equal("start", Str(start, "kind"));
            Assert.Equal("qfex-transcript", Str(start, "format"));
            Assert.Equal(1, start.GetProperty("version").GetInt32());
            Assert.Equal("Trade", Str(start, "endpoint"));
            Assert.Contains("api_key=***", Str(start, "uri"));
            Assert.Equal("end", Str(lines[^1], "kind"));
            Assert.Equal("Closed by Disconnect-Qfex.", Str(lines[^1], "reason"));
            Assert.All(lines.Skip(1), l => Assert.True(l.GetProperty("offset_ms").GetDouble() >= 0));

            // Numbered frames: 1..FramesReceived, each once, in order.
            long[] seqs = Frames(lines, "received").Where(l => l.GetProperty("seq").ValueKind == JsonValueKind.Number).Select(l => l.GetProperty("seq").GetInt64()).ToArray();
            Assert.Equal(Enumerable.Range(1, (int)session.FramesReceived).Select(i => (long)i), seqs);
            // The auth answers were claimed by the session (never numbered): one per connection.
            JsonElement[] claimed = Frames(lines, "received").Where(l => Str(l, "claimed") == "auth").ToArray();
            Assert.Equal(2, claimed.Length);
            Assert.All(claimed, l => Assert.Equal(JsonValueKind.Null, l.GetProperty("seq").ValueKind));
            // Sent: the module's own (auth twice, subscribe twice) and the script's requests.
            Assert.Equal(2, Frames(lines, "sent").Count(l => Str(l, "type") == "auth" && Str(l, "role") == "module"));
            Assert.Equal(2, Frames(lines, "sent").Count(l => Str(l, "type") == "subscribe" && Str(l, "role") == "module"));
            Assert.Equal(new[] { "add_order", "get_user_orders" }, Frames(lines, "sent").Where(l => Str(l, "role") == "request").Select(l => Str(l, "type")));
            // What was sent is what the exchange received (the auth with its secrets masked).
            Assert.Equal(server.Received.Where(r => r.Type != "auth").Select(r => r.Raw),
                Frames(lines, "sent").Where(l => Str(l, "type") != "auth").Select(l => Str(l, "text")));

            // The reconnect: a drop, a new connection marked as a reconnect, Open again, the notice in sequence.
            Assert.Equal(new long[] { 1, 2 }, lines.Where(l => Str(l, "kind") == "connect").Select(l => l.GetProperty("conn").GetInt64()));
            Assert.True(lines.Single(l => Str(l, "kind") == "connect" && l.GetProperty("conn").GetInt64() == 2).GetProperty("reconnect").GetBoolean());
            Assert.Equal(new long[] { 1, 2 }, lines.Where(l => Str(l, "kind") == "open").Select(l => l.GetProperty("conn").GetInt64()));
            Assert.Contains(lines, l => Str(l, "kind") == "lost" && l.GetProperty("conn").GetInt64() == 1);
            JsonElement notice = Assert.Single(Frames(lines, "received"), l => Str(l, "type") == "qfex.reconnected");
            Assert.Equal("module", Str(notice, "origin"));
        }

        [Fact]
        public void TheTranscriptHoldsNoSecretAndReplaysAsIs()
        {
            string secret = "qfex_secret_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(20)).ToLowerInvariant();
            string jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZWNvcmQifQ." + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            string signatureLike = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
            string nonceLike = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
            string publicKey = "qfex_pub_record_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();

            var server = (QfexTestServer)_ps.Run("$server = Start-QfexTestServer -Credential $args[0]; $server",
                new PSCredential(publicKey, Secure(secret))).ThrowOnError().Value()!;
            server.AcceptedJwt = jwt;
            string hmacPath = PathOf("hmac.jsonl"), jwtPath = PathOf("jwt.jsonl");
            _ps.Run("$h = Connect-Qfex -Uri $server.Uri -Credential $args[0] -RecordPath $args[1] -CancelOnDisconnect", new PSCredential(publicKey, Secure(secret)), hmacPath).ThrowOnError();
            _ps.Run("$j = Connect-Qfex -Uri $server.Uri -Jwt $args[0] -RecordPath $args[1]", Secure(jwt), jwtPath).ThrowOnError();

            // The exchange echoes secrets back, and a careless script sends them: none reaches the transcript.
            string echo = "{\"type\":\"auth\",\"params\":{\"hmac\":{\"public_key\":\"" + publicKey + "\",\"nonce\":\"" + nonceLike + "\",\"unix_ts\":1,\"signature\":\"" + signatureLike + "\"},\"jwt\":\"" + jwt + "\"}}";
            server.Push("{\"err\":{\"error_code\":\"AlreadyAuthenticated\",\"message\":\"Connection is already authenticated.\",\"incoming_message\":" + echo + "}}");
            server.Push("{\"note\":\"" + secret + " " + jwt + " " + signatureLike + " " + nonceLike + " api_key=" + publicKey + "\"}");
            server.Push("{\"type\":\"sentinel\"}");
            _ps.Run("foreach ($x in $h, $j) { Receive-QfexFrame -Session $x -Type sentinel -Count 1 -TimeoutSec 10 }").ThrowOnError();
            _ps.Run("Send-QfexMessage -Session $h -Type get_user_trades -Params @{ order_id = $args[0] } -Wait -ErrorAction SilentlyContinue", secret);
            _ps.Run("Get-QfexSession | Disconnect-Qfex").ThrowOnError();

            // Each session's own secrets wherever they appear (the HMAC session's secret and public key, the JWT
            // session's token), any JWT at all, and the patterns SecretsTests scans everything a user can see for.
            foreach ((string path, string[] own) in new[] { (hmacPath, new[] { secret, publicKey }), (jwtPath, new[] { jwt, jwt.Split('.')[2] }) })
            {
                string text = File.ReadAllText(path);
                Assert.Contains("\"received\"", text);
                foreach (string value in own) Assert.DoesNotContain(value, text, StringComparison.Ordinal);
                Assert.DoesNotContain(jwt, text, StringComparison.Ordinal);
                Assert.DoesNotContain(jwt.Split('.')[2], text, StringComparison.Ordinal);
                Assert.Empty(Regex.Matches(text, "[0-9a-fA-F]{64}"));
                Assert.Empty(Regex.Matches(text, "(?<![0-9A-Za-z_-])[0-9a-fA-F]{32}(?![0-9A-Za-z])"));
                Assert.Empty(Regex.Matches(File.ReadAllLines(path).Aggregate("", (all, l) => all + JsonDocument.Parse(l).RootElement.GetRawText()), "[0-9a-fA-F]{64}"));

                // And the replay's own check accepts what the recorder wrote.
                _ps.Run("$r = Start-QfexTestServer -Replay $args[0]; Stop-QfexTestServer -Server $r", path).ThrowOnError();
            }
        }

        [Fact]
        public void ARecorderThatFallsBehindSaysSoInTheTranscriptAndWarnsOnceButNeverHoldsUpTheSession()
        {
            QfexTestServer server = _ps.StartServer();
            QfexSession session = _ps.Connect("-RecordPath '" + PathOf("first.jsonl") + "'");
            // The same session recorded by a writer that can hold one line: a flood must leave most frames out.
            SessionRecorder first = session.Core.Recorder!;
            string path = PathOf("behind.jsonl");
            var options = new SessionOptions { Uri = session.Uri, Endpoint = session.Endpoint };
            SessionRecorder behind = SessionRecorder.Open(path, session.Id, options, capacity: 1);
            // The writer stalls (as on a slow disk) until the whole flood was received: it cannot keep up by luck.
            var stall = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            behind.HeldUntil = stall.Task;
            session.Core.Recorder = behind;
            first.Complete("replaced by the test", 0);

            const int Flooded = 5000;
            server.Faults.Flood("{\"type\":\"tick\",\"price\":\"200.5\"}", Flooded);
            ScriptResult received = _ps.Run("@(Receive-QfexFrame -Count $args[0] -TimeoutSec 60).Count", Flooded).ThrowOnError();
            Assert.Equal(Flooded, Convert.ToInt32(received.Value(), System.Globalization.CultureInfo.InvariantCulture));
            long dropped = behind.Dropped;
            Assert.True(dropped >= Flooded - 1, $"a one-line queue held {Flooded - dropped} of the flood's lines");
            stall.SetResult(true);
            // The writer, going again, writes the gap; the next cmdlet that uses the session warns.
            var warnings = new List<string>(received.Warnings);
            Wait.Until(() =>
            {
                warnings.AddRange(_ps.Run("$null = Receive-QfexFrame").ThrowOnError().Warnings);
                return warnings.Any(w => w.Contains("fell behind", StringComparison.Ordinal));
            }, "the warning that the recorder fell behind");
            warnings.AddRange(_ps.Run("$null = Receive-QfexFrame; Disconnect-Qfex").ThrowOnError().Warnings);

            // Warned once, by a cmdlet that used the session, never per frame; the transcript says how many are missing.
            Assert.Single(warnings, w => w.Contains("fell behind", StringComparison.Ordinal));
            List<JsonElement> lines = Lines(path);
            long gaps = lines.Where(l => Str(l, "kind") == "gap").Sum(l => l.GetProperty("dropped").GetInt64());
            Assert.Equal(dropped, gaps);
            Assert.Equal(dropped, lines[^1].GetProperty("frames_not_recorded").GetInt64());
            Assert.Equal(Flooded, Frames(lines, "received").Count(l => Str(l, "type") == "tick") + dropped);
        }

        [Fact]
        public void ARecordPathThatCannotBeWrittenFailsBeforeConnecting()
        {
            QfexTestServer server = _ps.StartServer();
            ScriptResult result = _ps.Run("Connect-Qfex -Uri $server.Uri -Credential $server.Credential -RecordPath $args[0]", Path.Combine(_dir, "missing", "t.jsonl"));
            ErrorRecord error = Assert.Single(result.AllErrors);
            Assert.StartsWith("QfexRecordFailed,", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.WriteError, error.CategoryInfo.Category);
            Assert.Empty(server.Received);
            Assert.Empty(_ps.Run("Get-QfexSession").Output);
        }

        [Fact]
        public void ASessionThatIsNotRecordedHasNoRecorder()
        {
            _ps.StartServer();
            QfexSession session = _ps.Connect();
            Assert.Null(session.RecordPath);
            Assert.Null(session.Core.Recorder);
        }

        // ------------------------------------------------------------------ replay

        private const string Replay = @"
            $r = Start-QfexTestServer -Replay $args[0] -NoPacing
            $t = Connect-Qfex -Uri $r.Uri -Credential $r.Credential -Subscribe order_responses";

        [Fact]
        public void AReplayAnswersTheSameScriptWithTheRecordedFramesPushesAndDrop()
        {
            string path = PathOf("session.jsonl");
            (_, _, List<string> recorded) = RecordSession(path);

            var replay = (QfexSession)_ps.Run(Replay + "; $t", path).ThrowOnError().Value()!;
            var raw = new List<string>
            {
                ((QfexFrame)_ps.Run("Send-QfexMessage -Session $t -Type add_order -Params " + Order + " -Wait").ThrowOnError().Value()!).Raw,
                ((QfexFrame)_ps.Run("Receive-QfexFrame -Session $t -Type position_response -Count 1 -TimeoutSec 10").ThrowOnError().Value()!).Raw,
            };
            // The recorded drop is replayed: the session reconnects, re-authenticating with the replay server's credential.
            // Waited for by the count, which only grows: the Reconnecting state lasts only the backoff, and a slow
            // machine could miss it between two looks.
            Wait.Until(() => replay.Reconnects >= 1 && replay.State == QfexSessionState.Open, "the replayed drop and the reconnect");
            Assert.Equal(1, replay.Reconnects);
            raw.Add(((QfexFrame)_ps.Run("Send-QfexMessage -Session $t -Type get_user_orders -Params @{ symbol = 'AAPL-USD' } -Wait").ThrowOnError().Value()!).Raw);

            Assert.Equal(recorded, raw);
            var server = (QfexTestServer)_ps.Run("$r").Value()!;
            Assert.Empty(server.Replay!.Unmatched);
            Assert.Empty(server.Replay.Unused);
            Assert.Equal(2, server.Received.Count(r => r.Type == "auth"));
        }

        [Fact]
        public void ARequestTheTranscriptLacksGetsAReplayUnmatchedErrorNamingItAndIsListed()
        {
            string path = PathOf("session.jsonl");
            RecordSession(path);
            _ps.Run(Replay, path).ThrowOnError();

            // The same order with another quantity: a different order.
            ErrorRecord changed = Assert.Single(_ps.Run("Send-QfexMessage -Session $t -Type add_order -Params @{symbol='AAPL-USD'; side='BUY'; order_type='LIMIT'; order_time_in_force='GTC'; quantity=2; price=200; client_order_id='runbook-1'} -Wait").AllErrors);
            Assert.StartsWith("ReplayUnmatched,", changed.FullyQualifiedErrorId);
            Assert.Contains("quantity 2 (recorded 1)", changed.ErrorDetails.Message);
            // Another symbol: another identity.
            ErrorRecord other = Assert.Single(_ps.Run("Send-QfexMessage -Session $t -Type add_order -Params @{symbol='TSLA-USD'; side='BUY'; order_type='LIMIT'; order_time_in_force='GTC'; quantity=1; price=200; client_order_id='runbook-1'} -Wait").AllErrors);
            Assert.Contains("holds no add_order with client_order_id 'runbook-1', symbol 'TSLA-USD'", other.ErrorDetails.Message);
            // A type the recording never sent.
            ErrorRecord missing = Assert.Single(_ps.Run("Send-QfexMessage -Session $t -Type get_user_trades -Params @{} -Wait").AllErrors);
            Assert.Contains("holds no get_user_trades request", missing.ErrorDetails.Message);
            // The recorded order is answered once (and the recorded drop after it replayed); a second one is extra.
            var replayed = (QfexSession)_ps.Run("$t").Value()!;
            _ps.Run("Send-QfexMessage -Session $t -Type add_order -Params " + Order + " -Wait").ThrowOnError();
            Wait.Until(() => replayed.Reconnects == 1 && replayed.State == QfexSessionState.Open, "the replayed drop and reconnect");
            ErrorRecord extra = Assert.Single(_ps.Run("Send-QfexMessage -Session $t -Type add_order -Params " + Order + " -Wait").AllErrors);
            Assert.Contains("this one is extra", extra.ErrorDetails.Message);

            var server = (QfexTestServer)_ps.Run("$r").Value()!;
            Assert.Equal(new[] { "add_order", "add_order", "get_user_trades", "add_order" }, server.Replay!.Unmatched.Select(m => m.Type));
            Assert.Contains(server.Replay.Unused, u => u.Contains("get_user_orders", StringComparison.Ordinal));
        }

        [Fact]
        public void AnOrderSentWithoutAClientOrderIdIsRecognisedByTheIdQfexGeneratedAndAnsweredWithTheNewOne()
        {
            const string Script = @"
                $order = @{ symbol = 'AAPL-USD'; side = 'BUY'; order_type = 'LIMIT'; order_time_in_force = 'GTC'; quantity = 1; price = 200 }
                $placed = (Send-QfexMessage -Session $args[0] -Type add_order -Params $order -Wait).Data.order_response
                $cancel = @{ symbol = 'AAPL-USD'; order_id = $placed.client_order_id; cancel_order_id_type = 'client_order_id' }
                $cancelled = (Send-QfexMessage -Session $args[0] -Type cancel_order -Params $cancel -Wait).Data.order_response
                $placed.client_order_id; $cancelled.client_order_id; $cancelled.status";
            string path = PathOf("generated.jsonl");
            _ps.StartServer();
            var recording = (QfexSession)_ps.Run("$s = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -Subscribe order_responses -RecordPath $args[0]; $s", path).ThrowOnError().Value()!;
            string[] recorded = _ps.Run(Script, recording).ThrowOnError().Output.Select(o => o.ToString()!).ToArray();
            _ps.Run("Disconnect-Qfex -Session $s").ThrowOnError();
            Assert.StartsWith("qfex-", recorded[0]);

            var replaying = (QfexSession)_ps.Run(Replay + "; $t", path).ThrowOnError().Value()!;
            string[] replayed = _ps.Run(Script, replaying).ThrowOnError().Output.Select(o => o.ToString()!).ToArray();
            Assert.StartsWith("qfex-", replayed[0]);
            Assert.NotEqual(recorded[0], replayed[0]);               // a fresh id this run...
            Assert.Equal(replayed[0], replayed[1]);                  // ...which the replayed answers carry
            Assert.Equal("CANCELLED", replayed[2]);
            Assert.Empty(((QfexTestServer)_ps.Run("$r").Value()!).Replay!.Unmatched);
        }

        [Fact]
        public void AReadOnlyRequestAskedMoreOftenThanRecordedGetsTheLastAnswerAgain()
        {
            string path = PathOf("session.jsonl");
            RecordSession(path);
            _ps.Run(Replay, path).ThrowOnError();
            _ps.Run("Send-QfexMessage -Session $t -Type get_user_orders -Params @{ symbol = 'AAPL-USD' } -Wait; Send-QfexMessage -Session $t -Type get_user_orders -Params @{ symbol = 'AAPL-USD'; limit = 5 } -Wait").ThrowOnError();
            Assert.Empty(((QfexTestServer)_ps.Run("$r").Value()!).Replay!.Unmatched);
        }

        [Fact]
        public void AtTheRecordedPaceFramesStillComeInRecordedOrder()
        {
            string path = PathOf("paced.jsonl");
            QfexTestServer server = _ps.StartServer();
            _ps.Run("$s = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -RecordPath $args[0]", path).ThrowOnError();
            _ps.Run("Send-QfexMessage -Type get_user_leverage -Params @{} -Wait").ThrowOnError();
            for (int i = 1; i <= 5; i++) server.Push("{\"type\":\"tick\",\"n\":" + i + "}");
            _ps.Run("Receive-QfexFrame -Type tick -Count 5 -TimeoutSec 10; Disconnect-Qfex").ThrowOnError();

            ScriptResult replayed = _ps.Run(@"
                $r = Start-QfexTestServer -Replay $args[0]
                $t = Connect-Qfex -Uri $r.Uri -Credential $r.Credential
                $null = Send-QfexMessage -Session $t -Type get_user_leverage -Params @{} -Wait
                Receive-QfexFrame -Session $t -Type tick -Count 5 -TimeoutSec 30 | ForEach-Object { $_.Data.n }", path).ThrowOnError();
            Assert.Equal(new object[] { 1L, 2L, 3L, 4L, 5L }, replayed.Output.Select(o => o.BaseObject));
        }

        [Fact]
        public void AMarketDataSessionReplaysOnTheMarketDataSocket()
        {
            string path = PathOf("md.jsonl");
            QfexTestServer server = _ps.StartServer();
            _ps.Run("$md = Connect-Qfex -Uri $server.MarketDataUri -Endpoint MarketData -Subscribe bbo -Symbol AAPL-USD -RecordPath $args[0]", path).ThrowOnError();
            for (int i = 1; i <= 3; i++) server.Push("{\"type\":\"bbo\",\"symbol\":\"AAPL-USD\",\"bid\":[[\"200." + i + "\",\"1\"]]}");
            string[] recorded = _ps.Run("Receive-QfexFrame -Session $md -Count 4 -TimeoutSec 10 | ForEach-Object Raw; Disconnect-Qfex -Session $md").ThrowOnError()
                .Output.Select(o => o.ToString()!).ToArray();

            ScriptResult replayed = _ps.Run(@"
                $r = Start-QfexTestServer -Replay $args[0] -NoPacing
                $m = Connect-Qfex -Uri $r.MarketDataUri -Endpoint MarketData -Subscribe bbo -Symbol AAPL-USD
                Receive-QfexFrame -Session $m -Count 4 -TimeoutSec 10 | ForEach-Object Raw", path).ThrowOnError();
            Assert.Equal(recorded, replayed.Output.Select(o => o.ToString()!));
            Assert.Empty(((QfexTestServer)_ps.Run("$r").Value()!).Replay!.Unmatched);
            // Another symbol is another subscription: the replaying exchange refuses it, so Connect-Qfex fails with that error.
            ErrorRecord other = Assert.Single(_ps.Run("Connect-Qfex -Uri $r.MarketDataUri -Endpoint MarketData -Subscribe bbo -Symbol TSLA-USD").AllErrors);
            Assert.StartsWith("ReplayUnmatched,", other.FullyQualifiedErrorId);
        }

        public static TheoryData<string, string, int, string> BadTranscripts()
        {
            const string Start = "{\"kind\":\"start\",\"format\":\"qfex-transcript\",\"version\":1,\"endpoint\":\"Trade\"}\n";
            const string Frame = "{\"kind\":\"frame\",\"offset_ms\":1,\"dir\":\"sent\",\"role\":\"request\",\"type\":\"get_user_orders\",\"text\":\"{\\\"type\\\":\\\"get_user_orders\\\",\\\"params\\\":{}}\"}\n";
            string signature = new string('a', 40) + new string('1', 24);
            return new TheoryData<string, string, int, string>
            {
                { "empty", "", 1, "the file is empty" },
                { "not a transcript", "{\"hello\":1}\n", 1, "not a Qfex transcript" },
                { "not JSON Lines", Start + Frame + "this is not json\n" + Frame, 3, "not JSON" },
                { "cut off", Start + Frame + "{\"kind\":\"frame\",\"offset_ms\":2,\"dir\":\"rec", 3, "incomplete" },
                { "newer version", "{\"kind\":\"start\",\"format\":\"qfex-transcript\",\"version\":2}\n" + Frame, 1, "format version 2, newer" },
                { "unknown kind", Start + "{\"kind\":\"teleport\",\"offset_ms\":1}\n", 2, "not a kind of line" },
                { "missing text", Start + "{\"kind\":\"frame\",\"offset_ms\":1,\"dir\":\"sent\"}\n", 2, "needs its \"text\"" },
                { "a signature", Start + Frame + "{\"kind\":\"frame\",\"offset_ms\":2,\"dir\":\"received\",\"seq\":1,\"type\":\"x\",\"text\":\"{\\\"x\\\":\\\"" + signature + "\\\"}\"}\n", 3, "hex digits" },
                { "a nonce by name", Start + "{\"kind\":\"frame\",\"offset_ms\":1,\"dir\":\"sent\",\"role\":\"module\",\"type\":\"auth\",\"text\":\"{\\\"type\\\":\\\"auth\\\",\\\"params\\\":{\\\"hmac\\\":{\\\"nonce\\\":\\\"c0ffee\\\"}}}\"}\n", 2, "secret-named value" },
                { "a JWT", Start + "{\"kind\":\"note\",\"offset_ms\":1,\"text\":\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl\"}\n", 2, "a JWT" },
                { "an api_key", Start + "{\"kind\":\"connect\",\"offset_ms\":1,\"conn\":1,\"uri\":\"wss://trade.qfex.io/?api_key=qfex_pub_abc\"}\n", 2, "api_key" },
            };
        }

        [Theory]
        [MemberData(nameof(BadTranscripts))]
        public void ATranscriptThatCannotBeServedIsRefusedNamingTheLineAndNothingIsServed(string what, string content, int line, string reason)
        {
            string path = PathOf("bad.jsonl");
            File.WriteAllText(path, content);
            ScriptResult result = _ps.Run("Start-QfexTestServer -Replay $args[0]", path);
            Assert.Empty(result.Output);
            ErrorRecord error = Assert.Single(result.AllErrors);
            Assert.True(error.FullyQualifiedErrorId.StartsWith("QfexTranscriptInvalid,", StringComparison.Ordinal), what + ": " + error.FullyQualifiedErrorId);
            Assert.Contains($"line {line}:", error.Exception.Message);
            Assert.Contains(reason, error.Exception.Message);
            Assert.Equal(path, error.TargetObject);
        }

        [Fact]
        public void AStoppedRecordingIsServedWithAWarningAndAMissingFileIsNotFound()
        {
            string path = PathOf("stopped.jsonl");
            File.WriteAllText(path, "{\"kind\":\"start\",\"format\":\"qfex-transcript\",\"version\":1,\"endpoint\":\"Trade\"}\n");
            ScriptResult result = _ps.Run("Start-QfexTestServer -Replay $args[0]", path).ThrowOnError();
            Assert.Contains(result.Warnings, w => w.Contains("no end line", StringComparison.Ordinal));
            ErrorRecord missing = Assert.Single(_ps.Run("Start-QfexTestServer -Replay $args[0]", PathOf("none.jsonl")).AllErrors);
            Assert.StartsWith("QfexTranscriptInvalid,", missing.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.InvalidData, missing.CategoryInfo.Category);
            Assert.StartsWith("QfexConflictingParameters,", Assert.Single(_ps.Run("Start-QfexTestServer -NoPacing").AllErrors).FullyQualifiedErrorId);
        }

        // ------------------------------------------------------------------ the testing kit

        [Fact]
        public void NewQfexFrameTypesEverythingAsTheReceivePathDoes()
        {
            QfexTestServer server = _ps.StartServer();
            _ps.Connect();
            const string Text = "{\"order_response\":{\"order_id\":\"5b309929-206f-40ec-804d-cbe46e81afc1\",\"status\":\"FILLED\",\"quantity\":1,\"price\":200.5,\"take_profit\":0.0}}";
            server.Push(Text);
            var received = (QfexFrame)_ps.Run("Receive-QfexFrame -Count 1 -TimeoutSec 10").ThrowOnError().Value()!;

            foreach (string script in new[]
            {
                "New-QfexFrame -Type order_response -Data @{ order_id = '5b309929-206f-40ec-804d-cbe46e81afc1'; status = 'FILLED'; quantity = 1; price = 200.5; take_profit = 0.0 } -Sequence 7",
                "New-QfexFrame order_response $args[0] -Sequence 7",
            })
            {
                var made = (QfexFrame)_ps.Run(script, Text).ThrowOnError().Value()!;
                Assert.Equal("order_response", made.Type);
                Assert.Equal(7, made.Sequence);
                var a = (PSObject)((PSObject)made.Data!).Properties["order_response"].Value;
                var b = (PSObject)((PSObject)received.Data!).Properties["order_response"].Value;
                foreach (string name in new[] { "order_id", "status", "quantity", "price", "take_profit" })
                {
                    Assert.Equal(b.Properties[name].Value.GetType(), a.Properties[name].Value.GetType());
                    Assert.Equal(b.Properties[name].Value, a.Properties[name].Value);
                }
            }
            Assert.IsType<long>(_ps.Run("(New-QfexFrame fill_response @{ quantity = 3 }).Data.fill_response.quantity").Value());
            Assert.IsType<decimal>(_ps.Run("(New-QfexFrame fill_response @{ price = 0.1 }).Data.fill_response.price").Value());
            Assert.Equal("{\"type\":\"bbo\",\"symbol\":\"AAPL-USD\"}", _ps.Run("(New-QfexFrame bbo @{ symbol = 'AAPL-USD' }).Raw").Value());
            Assert.Equal("{\"subscribed\":\"fills\"}", _ps.Run("(New-QfexFrame subscribed fills).Raw").Value());
            Assert.Equal("{\"authenticated\":true}", _ps.Run("(New-QfexFrame authenticated $true).Raw").Value());

            // An error frame is the error record the receive path writes.
            ScriptResult error = _ps.Run("New-QfexFrame error @{ error_code = 'RateLimited'; message = 'Too many requests. Please retry after 200ms.' } | New-QfexTestSession | Receive-QfexFrame");
            Assert.StartsWith("RateLimited,", Assert.Single(error.Errors).FullyQualifiedErrorId);
            Assert.IsType<QfexRateLimitedException>(error.Errors[0].Exception);

            ErrorRecord wrong = Assert.Single(_ps.Run("New-QfexFrame error @{ message = 'no code' }").AllErrors);
            Assert.StartsWith("QfexInvalidMessage,", wrong.FullyQualifiedErrorId);
            Assert.StartsWith("QfexInvalidMessage,", Assert.Single(_ps.Run("New-QfexFrame order_response '{\"fill_response\":{}}'").AllErrors).FullyQualifiedErrorId);
        }

        [Fact]
        public void TheNewParametersTabComplete()
        {
            string[] Complete(string line) => _ps.Run("(TabExpansion2 -inputScript $args[0] -cursorColumn $args[0].Length).CompletionMatches.CompletionText", line)
                .ThrowOnError().Output.Select(o => o.ToString()!).ToArray();

            Assert.Equal(new[] { "order_response" }, Complete("New-QfexFrame -Type order_r"));
            Assert.Contains("bbo", Complete("New-QfexFrame b"));
            Assert.Contains("Reconnecting", Complete("Wait-QfexSession -State R"));
            Assert.Contains("Closed", Complete("New-QfexTestSession -State C"));
            Assert.Contains("-AllowPartial", Complete("Receive-QfexFrame -Allow"));
            Assert.Contains("-NoPacing", Complete("Start-QfexTestServer -NoP"));
            Assert.Contains("-RecordPath", Complete("Connect-Qfex -Rec"));
        }

        [Fact]
        public void ATestSessionIsTypedButNeverConnectsOrSends()
        {
            var session = (QfexSession)_ps.Run("$o = (New-QfexFrame order_response @{ status = 'ACK' }), (New-QfexFrame fill_response @{ quantity = 1 }) | New-QfexTestSession; $o").ThrowOnError().Value()!;
            Assert.True(session.IsOffline);
            Assert.Equal(QfexSessionState.Open, session.State);
            Assert.True(session.IsAuthenticated);
            Assert.Same(session, _ps.Run("Get-QfexSession -Default").Value());

            ScriptResult frames = _ps.Run("Receive-QfexFrame -Session $o").ThrowOnError();
            Assert.Equal(new[] { 1L, 2L }, frames.Output.Select(o => ((QfexFrame)o.BaseObject).Sequence));
            Assert.Equal(new[] { "order_response", "fill_response" }, frames.Output.Select(o => ((QfexFrame)o.BaseObject).Type));

            ErrorRecord refused = Assert.Single(_ps.Run("Send-QfexMessage -Session $o -Type add_order -Params " + Order + " -Wait").AllErrors);
            Assert.StartsWith("QfexConnectionClosed,", refused.FullyQualifiedErrorId);
            Assert.Equal(QfexRequestOutcome.NotSent, ((QfexException)refused.Exception).RequestOutcome);
            Assert.Contains("offline stand-in", refused.Exception.Message);

            ErrorRecord late = Assert.Single(_ps.Run("New-QfexTestSession -State Reconnecting | Wait-QfexSession -TimeoutSec 0.2").AllErrors);
            Assert.StartsWith("QfexWaitTimeout,", late.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.OperationTimeout, late.CategoryInfo.Category);
            ErrorRecord closed = Assert.Single(_ps.Run("New-QfexTestSession -State Closed | Wait-QfexSession -TimeoutSec 30").AllErrors);
            Assert.StartsWith("QfexConnectionClosed,", closed.FullyQualifiedErrorId);
            Assert.Equal(QfexSessionState.Closed, _ps.Run("(New-QfexTestSession -State Closed | Wait-QfexSession -State Closed -PassThru).State").Value());

            _ps.Run("Disconnect-Qfex -Session $o").ThrowOnError();
            Assert.Equal(QfexSessionState.Closed, session.State);
        }

        [Fact]
        public void WaitQfexSessionReturnsOnceEveryPipedSessionIsOpenAgain()
        {
            QfexTestServer server = _ps.StartServer();
            QfexSession first = _ps.Connect();
            _ps.Run("$second = Connect-Qfex -Uri $server.Uri -Credential $server.Credential").ThrowOnError();
            server.DropConnections();
            Wait.Until(() => first.State == QfexSessionState.Reconnecting || first.Reconnects == 1, "the drop was noticed");
            ScriptResult result = _ps.Run("$s, $second | Wait-QfexSession -TimeoutSec 30 -PassThru").ThrowOnError();
            Assert.Equal(2, result.Output.Count);
            Assert.All(result.Output, o => Assert.Equal(QfexSessionState.Open, ((QfexSession)o.BaseObject).State));
        }

        [Fact]
        public void ReceiveAllowPartialTakesWhatCameWithoutATimeoutError()
        {
            QfexTestServer server = _ps.StartServer();
            QfexSession session = _ps.Connect();
            server.Push("{\"type\":\"tick\",\"n\":1}");
            server.Push("{\"type\":\"tick\",\"n\":2}");
            Wait.Until(() => session.FramesPending == 2, "the two pushed frames");   // in before the 1 s receive starts
            ScriptResult partial = _ps.Run("Receive-QfexFrame -Type tick -Count 5 -TimeoutSec 1 -AllowPartial").ThrowOnError();
            Assert.Equal(2, partial.Output.Count);
            Assert.Empty(_ps.Run("Receive-QfexFrame -TimeoutSec 0.2 -AllowPartial").ThrowOnError().Output);
            Assert.StartsWith("QfexReceiveTimeout,", Assert.Single(_ps.Run("Receive-QfexFrame -Count 5 -TimeoutSec 0.2").AllErrors).FullyQualifiedErrorId);
        }
    }
}
