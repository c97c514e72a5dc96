using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Reflection;
using System.Security;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// With a known secret and JWT, every cmdlet runs with -Verbose -Debug -ErrorAction Continue -WarningAction Continue through success and failure
    /// paths, and everything a user can see is scanned: output objects (ToString and properties, deep),
    /// ErrorRecords (TargetObject, ErrorDetails, CategoryInfo, Exception.ToString() and the exception's
    /// properties), the verbose, debug, warning and information streams, the session's ToString and
    /// properties, and the fake exchange's request log. The secret, the JWT, any HMAC signature (any run
    /// of 64 hex digits) and any nonce (a free-standing run of 32 hex digits) must never appear.
    /// <para>
    /// -Debug makes PowerShell inquire on errors and warnings, which a host without UI turns into
    /// HostFunctionNotImplemented instead of the module's record: so -ErrorAction/-WarningAction Continue go with it.
    /// Not scanned: ErrorRecord.InvocationInfo, which PowerShell fills with the caller's own arguments
    /// (a user who passes a signature in -Message sees it there; the module cannot change that).
    /// </para>
    /// </summary>
    public class SecretsTests : IDisposable
    {
        private const string PublicKey = "qfex_pub_secrets_test";

        private readonly PowerShellHost _ps = new PowerShellHost();
        private readonly Scan _scan = new Scan();
        private readonly string _secret = "qfex_secret_" + Hex(20);
        private readonly string _wrongSecret = "qfex_secret_" + Hex(20);
        private readonly string _jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJxZmV4LXNlY3JldHMifQ." + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        private readonly string _wrongJwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3cm9uZyJ9." + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        public void Dispose() => _ps.Dispose();

        // ------------------------------------------------------------------ helpers

        private static string Hex(int bytes) => Convert.ToHexString(RandomNumberGenerator.GetBytes(bytes)).ToLowerInvariant();

        private static SecureString Secure(string text)
        {
            var s = new SecureString();
            foreach (char c in text) s.AppendChar(c);
            s.MakeReadOnly();
            return s;
        }

        private static string Sign(string secret, string nonce, long ts)
        {
            using var hmac = new HMACSHA256(Encoding.UTF8.GetBytes(secret));
            return Convert.ToHexString(hmac.ComputeHash(Encoding.UTF8.GetBytes(nonce + ":" + ts.ToString(CultureInfo.InvariantCulture)))).ToLowerInvariant();
        }

        /// <summary>Runs a script and scans everything it produced; secrets go in through $args, never the script text.</summary>
        private ScriptResult Run(string label, string script, params object?[] args)
        {
            ScriptResult result = _ps.Run(script, args);
            _scan.Result(label, result);
            return result;
        }

        private string[] Forbidden => new[] { _secret, _wrongSecret, _jwt, _wrongJwt };

        private void AssertNothingLeaked()
        {
            Assert.True(_scan.Texts.Count > 50, "the scan saw too little to mean anything");
            var leaks = new List<string>();
            foreach ((string where, string text) in _scan.Texts)
            {
                foreach (string secret in Forbidden)
                    if (text.Contains(secret, StringComparison.Ordinal)) leaks.Add($"{where}: contains a secret or JWT");
                // The JWT's signature part alone is as bad as the whole token.
                foreach (string jwt in new[] { _jwt, _wrongJwt })
                    if (text.Contains(jwt.Split('.')[2], StringComparison.Ordinal)) leaks.Add($"{where}: contains a JWT signature");
                foreach (Match m in Regex.Matches(text, "[0-9a-fA-F]{64}"))
                    leaks.Add($"{where}: 64 hex digits (an HMAC signature?) {m.Value.Substring(0, 8)}...");
                // Nonces: 32 hex digits standing alone (client_order_ids are qfex-<32 hex>: not secret).
                foreach (Match m in Regex.Matches(text, "(?<![0-9A-Za-z_-])[0-9a-fA-F]{32}(?![0-9A-Za-z])"))
                    leaks.Add($"{where}: 32 hex digits (a nonce?) {m.Value.Substring(0, 8)}...");
            }
            Assert.True(leaks.Count == 0, "Leaked:\n" + string.Join("\n", leaks.Distinct().Take(40)));
        }

        private QfexTestServer StartServer()
        {
            var credential = new PSCredential(PublicKey, Secure(_secret));
            var server = (QfexTestServer)Run("Start-QfexTestServer", "$server = Start-QfexTestServer -Credential $args[0] -Verbose -Debug -ErrorAction Continue -WarningAction Continue; $server", credential)
                .ThrowOnError().Value()!;
            server.AcceptedJwt = _jwt; // after the scan of the server object: this is the fake's configuration
            return server;
        }

        /// <summary>An auth request exactly as the module builds it, with a real signature of the secret.</summary>
        private (Hashtable Message, string Nonce, string Signature) AuthMessage()
        {
            string nonce = Hex(16);
            long ts = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            string signature = Sign(_secret, nonce, ts);
            var hmac = new Hashtable { ["public_key"] = PublicKey, ["nonce"] = nonce, ["unix_ts"] = ts, ["signature"] = signature };
            var message = new Hashtable { ["type"] = "auth", ["params"] = new Hashtable { ["hmac"] = hmac } };
            return (message, nonce, signature);
        }

        // ------------------------------------------------------------------ the scan itself works

        [Fact]
        public void TheScannerFindsASecretWhereverItHides()
        {
            var scan = new Scan();
            var inner = new PSObject();
            inner.Properties.Add(new PSNoteProperty("deep", new object[] { new Hashtable { ["x"] = "needle-" + _secret } }));
            var record = new ErrorRecord(new InvalidOperationException("boom", new Exception("inner " + _jwt)), "Id", ErrorCategory.NotSpecified, inner);
            scan.Object("probe", record, 0);
            Assert.Contains(scan.Texts, t => t.Text.Contains(_secret));
            Assert.Contains(scan.Texts, t => t.Text.Contains(_jwt));
        }

        // ------------------------------------------------------------------ every cmdlet, every stream

        [Fact]
        public void NoStreamErrorRecordOrSessionPropertyEverShowsTheSecretTheSignatureOrTheJwt()
        {
            QfexTestServer server = StartServer();
            var credential = new PSCredential(PublicKey, Secure(_secret));
            var wrong = new PSCredential(PublicKey, Secure(_wrongSecret));

            // Connect: HMAC (both parameter sets), JWT, with subscriptions and cancel-on-disconnect.
            ScriptResult connected = Run("Connect -Credential",
                "$s = Connect-Qfex -Uri $server.Uri -Credential $args[0] -Subscribe order_responses -CancelOnDisconnect -Verbose -Debug -ErrorAction Continue -WarningAction Continue; $s; $s.ToString()", credential).ThrowOnError();
            var session = (QfexSession)connected.Value()!;
            Run("Connect -ApiKey", "$k = Connect-Qfex -Uri $server.Uri -ApiKey $args[0] -ApiSecret $args[1] -Verbose -Debug -ErrorAction Continue -WarningAction Continue; $k; $k.ToString()", PublicKey, Secure(_secret)).ThrowOnError();
            Run("Connect -Jwt", "$j = Connect-Qfex -Uri $server.Uri -Jwt $args[0] -Verbose -Debug -ErrorAction Continue -WarningAction Continue; $j; $j.ToString()", Secure(_jwt)).ThrowOnError();
            Run("Connect MarketData with a credential (warning)",
                "$m = Connect-Qfex -Uri $server.MarketDataUri -Endpoint MarketData -Credential $args[0] -Verbose -Debug -ErrorAction Continue -WarningAction Continue; $m", credential).ThrowOnError();

            // Connect failures: wrong secret, wrong JWT, clear text off loopback, auth never confirmed, unreachable.
            Assert.StartsWith("QfexAuthenticationFailed,", Assert.Single(Run("Connect wrong secret",
                "Connect-Qfex -Uri $server.Uri -Credential $args[0] -Verbose -Debug -ErrorAction Continue -WarningAction Continue", wrong).AllErrors).FullyQualifiedErrorId);
            Assert.StartsWith("QfexAuthenticationFailed,", Assert.Single(Run("Connect wrong JWT",
                "Connect-Qfex -Uri $server.Uri -Jwt $args[0] -Verbose -Debug -ErrorAction Continue -WarningAction Continue", Secure(_wrongJwt)).AllErrors).FullyQualifiedErrorId);
            Assert.StartsWith("QfexInsecureUri,", Assert.Single(Run("Connect insecure",
                "Connect-Qfex -Uri 'ws://exchange.example/' -Credential $args[0] -Verbose -Debug -ErrorAction Continue -WarningAction Continue", credential).AllErrors).FullyQualifiedErrorId);
            server.SilentTypes.Add("auth");
            Assert.StartsWith("QfexAuthenticationFailed,", Assert.Single(Run("Connect timeout",
                "Connect-Qfex -Uri $server.Uri -Credential $args[0] -TimeoutSec 1 -Verbose -Debug -ErrorAction Continue -WarningAction Continue", credential).AllErrors).FullyQualifiedErrorId);
            server.SilentTypes.Remove("auth");
            Run("Connect caught", "try { Connect-Qfex -Uri $server.Uri -Credential $args[0] -ErrorAction Stop -Verbose -Debug -WarningAction Continue } catch { $_; $_.Exception; $_.Exception.ToString() }", wrong);
            Run("Connect unreachable", "Connect-Qfex -Uri 'ws://127.0.0.1:1/' -Credential $args[0] -TimeoutSec 2 -Verbose -Debug -ErrorAction Continue -WarningAction Continue", credential);

            // Send: success with -Wait and -PassThru, a read-only query, an invalid message.
            Run("Send order", "Send-QfexMessage -Session $s -Type add_order -Params " + SessionTests.Order + " -Wait -PassThru -Verbose -Debug -ErrorAction Continue -WarningAction Continue").ThrowOnError();
            Run("Send query", "Send-QfexMessage -Session $s -Type get_user_orders -Params @{} -Wait -Verbose -Debug -ErrorAction Continue -WarningAction Continue").ThrowOnError();
            Assert.StartsWith("QfexInvalidMessage,", Assert.Single(Run("Send invalid",
                "Send-QfexMessage -Session $s -Type add_order -Params @{ symbol = 'AAPL-USD'; side = 'HOLD' } -Verbose -Debug -ErrorAction Continue -WarningAction Continue").AllErrors).FullyQualifiedErrorId);

            // Send an auth request with a real signature ourselves: refused before sending (the exchange would answer
            // AlreadyAuthenticated), and the refusal shows the request with its secrets masked.
            (Hashtable auth, string nonce, string signature) = AuthMessage();
            ScriptResult again = Run("Send auth (refused before sending)",
                "$again = Send-QfexMessage -Session $s -Message $args[0] -Wait -PassThru -Verbose -Debug -ErrorAction Continue -WarningAction Continue -ErrorVariable authError; $again; $authError | Get-QfexErrorAdvice -Verbose -Debug -ErrorAction Continue -WarningAction Continue",
                auth);
            Assert.Contains(again.Errors, e => e.FullyQualifiedErrorId.StartsWith("QfexInvalidMessage,", StringComparison.Ordinal));
            (Hashtable auth2, _, _) = AuthMessage();
            Run("Send auth as JSON text", "Send-QfexMessage -Session $s -Message $args[0] -PassThru -Verbose -Debug -ErrorAction Continue -WarningAction Continue", PSJsonText(auth2));
            Run("Send auth with -Type", "Send-QfexMessage -Session $s -Type auth -Params $args[0].params -Wait -Verbose -Debug -ErrorAction Continue -WarningAction Continue", auth2);

            // The exchange pushes echoed auth payloads (both shapes) carrying signature, nonce, JWT and secret.
            string echo = "{\"type\":\"auth\",\"params\":{\"hmac\":{\"public_key\":\"" + PublicKey + "\",\"nonce\":\"" + nonce + "\",\"unix_ts\":1760545414,\"signature\":\"" + signature
                + "\"},\"jwt\":\"" + _jwt + "\",\"api_secret\":\"" + _secret + "\",\"headers\":[{\"Authorization\":\"Bearer " + _jwt + "\"}]}}";
            server.Push("{\"err\":{\"error_code\":\"AlreadyAuthenticated\",\"message\":\"Connection is already authenticated.\",\"incoming_message\":" + echo + "}}");
            server.Push("{\"type\":\"error\",\"error_code\":\"PermissionDenied\",\"message\":null,\"incoming_message\":" + echo + "}");
            server.Respond["get_user_trades"] = "ServerError";
            Run("Send answered by an error", "Send-QfexMessage -Session $s -Type get_user_trades -Params @{ limit = 5 } -Wait -MaxRetries 1 -Verbose -Debug -ErrorAction Continue -WarningAction Continue");
            server.Respond.Remove("get_user_trades");

            // Receive everything buffered (a sentinel says the pushes have arrived), and every error record's parts.
            server.Push("{\"type\":\"sentinel\"}");
            ScriptResult received = Run("Receive",
                "Receive-QfexFrame -Session $s -Type sentinel -Count 1 -TimeoutSec 10 -Verbose -Debug -ErrorAction Continue -WarningAction Continue; " +
                "Receive-QfexFrame -Session $s -Verbose -Debug -ErrorAction Continue -WarningAction Continue -ErrorVariable frameErrors; " +
                "$frameErrors | ForEach-Object { $_.TargetObject; $_.Exception.IncomingMessage; $_.ErrorDetails; $_ | Get-QfexErrorAdvice; $_.Exception.ToString() }");
            Assert.Contains(received.Errors, e => e.FullyQualifiedErrorId.StartsWith("AlreadyAuthenticated,", StringComparison.Ordinal));
            Assert.Contains(received.Errors, e => e.FullyQualifiedErrorId.StartsWith("PermissionDenied,", StringComparison.Ordinal));
            server.Push("{\"err\":{\"error_code\":\"AlreadyAuthenticated\",\"message\":\"Connection is already authenticated.\",\"incoming_message\":" + echo + "}}");
            server.Push("{\"type\":\"sentinel\"}");
            ScriptResult raw = Run("Receive -Raw", "Receive-QfexFrame -Session $s -Raw -Count 2 -TimeoutSec 10 -Verbose -Debug -ErrorAction Continue -WarningAction Continue; Receive-QfexFrame -Session $s -TimeoutSec 0.2 -Verbose -Debug -ErrorAction Continue -WarningAction Continue");
            Assert.Contains(raw.Errors, e => e.FullyQualifiedErrorId.StartsWith("AlreadyAuthenticated,", StringComparison.Ordinal));

            // The runbook kit: error records built from echoes holding a JWT, a signature and a nonce.
            var incoming = new Hashtable
            {
                ["type"] = "auth",
                ["params"] = new Hashtable { ["jwt"] = _jwt, ["hmac"] = new Hashtable { ["signature"] = signature, ["nonce"] = nonce, ["unix_ts"] = 1 } },
            };
            Run("New-QfexErrorRecord (hashtable)", "$r = New-QfexErrorRecord -Code AlreadyAuthenticated -IncomingMessage $args[0] -Verbose -Debug -ErrorAction Continue -WarningAction Continue; $r; $r.TargetObject; $r.Exception.ToString(); $r | Get-QfexErrorAdvice -Verbose -Debug -ErrorAction Continue -WarningAction Continue", incoming).ThrowOnError();
            Run("New-QfexErrorRecord (JSON)", "New-QfexErrorRecord AlreadyAuthenticated 'Already.' -IncomingMessage $args[0] -Verbose -Debug -ErrorAction Continue -WarningAction Continue", PSJsonText(incoming)).ThrowOnError();
            Run("New-QfexErrorRecord (PSCustomObject)", "New-QfexErrorRecord RateLimited -IncomingMessage ([pscustomobject]$args[0]) -Verbose -Debug -ErrorAction Continue -WarningAction Continue", incoming).ThrowOnError();
            Run("Get-QfexErrorAdvice", "Get-QfexErrorAdvice -Verbose -Debug -ErrorAction Continue -WarningAction Continue; Get-QfexErrorAdvice AlreadyAuthenticated -Verbose -Debug -ErrorAction Continue -WarningAction Continue").ThrowOnError();

            // A drop: the session reconnects and re-authenticates with a fresh nonce and signature.
            server.DropConnections();
            Wait.Until(() => session.Reconnects >= 1 && session.State == QfexSessionState.Open, "the reconnect");
            Run("Receive after reconnect", "Receive-QfexFrame -Session $s -Type qfex.reconnected -Count 1 -TimeoutSec 10 -Verbose -Debug -ErrorAction Continue -WarningAction Continue").ThrowOnError();
            Run("Send after reconnect", "Send-QfexMessage -Session $s -Type get_user_orders -Wait -Verbose -Debug -ErrorAction Continue -WarningAction Continue").ThrowOnError();

            // Sessions: listed, by id, the default, every property, ToString.
            Run("Get-QfexSession", "Get-QfexSession -Verbose -Debug -ErrorAction Continue -WarningAction Continue; Get-QfexSession -Default -Verbose -Debug -ErrorAction Continue -WarningAction Continue; Get-QfexSession -Id $s.Id -Verbose -Debug -ErrorAction Continue -WarningAction Continue; Get-QfexSession -Id 999999 -Verbose -Debug -ErrorAction Continue -WarningAction Continue; " +
                "Get-QfexSession | ForEach-Object { $_.ToString(); $_.PSObject.Properties | ForEach-Object { $_.Name; $_.Value } }");
            foreach (QfexSession open in SessionsIn(_ps)) _scan.Object("session " + open.Id, open, 0);

            // Disconnect: each session, again (idempotent), then none left.
            Run("Disconnect", "Disconnect-Qfex -Session $s -PassThru -Verbose -Debug -ErrorAction Continue -WarningAction Continue; Disconnect-Qfex -Session $s -Verbose -Debug -ErrorAction Continue -WarningAction Continue; Get-QfexSession | Disconnect-Qfex -PassThru -Verbose -Debug -ErrorAction Continue -WarningAction Continue").ThrowOnError();
            Run("Disconnect none", "Disconnect-Qfex -Verbose -Debug -ErrorAction Continue -WarningAction Continue; Receive-QfexFrame -Verbose -Debug -ErrorAction Continue -WarningAction Continue; Send-QfexMessage -Type get_user_orders -Verbose -Debug -ErrorAction Continue -WarningAction Continue");
            _scan.Object("closed session", session, 0);
            _scan.Text("closed session ToString", session.ToString());

            // The exchange's own request log, as a runbook test would print it.
            _scan.Object("server.Received", server.Received.ToArray(), 0);
            Assert.Contains(server.Received, r => r.Type == "auth" && r.Raw.Contains("\"signature\""));
            Run("Stop-QfexTestServer", "Stop-QfexTestServer -Verbose -Debug -ErrorAction Continue -WarningAction Continue").ThrowOnError();

            AssertNothingLeaked();
        }

        [Fact]
        public void AnAuthPayloadEchoedAsTextIsRedactedToo()
        {
            QfexTestServer server = StartServer();
            Run("Connect", "$s = Connect-Qfex -Uri $server.Uri -Credential $args[0]", new PSCredential(PublicKey, Secure(_secret))).ThrowOnError();
            (Hashtable auth, _, _) = AuthMessage();
            string text = PSJsonText(auth);
            server.Push("{\"err\":{\"error_code\":\"InvalidJSONFormat\",\"message\":\"Expected field `params` (object).\",\"incoming_message\":" + System.Text.Json.JsonSerializer.Serialize(text) + "}}");
            server.Push("{\"err\":{\"error_code\":\"InvalidJSONFormat\",\"message\":null,\"incoming_message\":" + System.Text.Json.JsonSerializer.Serialize("{\"type\":\"auth\",\"params\":{\"jwt\":\"" + _jwt + "\"}}") + "}}");
            ScriptResult received = Run("Receive", "Receive-QfexFrame -Count 2 -TimeoutSec 10");
            Assert.Equal(2, received.Errors.Count);
            AssertNothingLeaked();
        }

        // ------------------------------------------------------------------ issue 18: one redaction pass for every shown text

        /// <summary>
        /// What a user looks at for the errors of a script: every record and its exception with all their properties (what
        /// Format-List * -Force shows; the console's views are checked in real pwsh by tests/Pester/Security.Tests.ps1).
        /// </summary>
        private const string ShowErrors =
            "foreach ($e in $shown) { if ($e -is [System.Management.Automation.RuntimeException]) { $e = $e.ErrorRecord }; " +
            "$e.TargetObject; $e.Exception.IncomingMessage; $e.ErrorDetails; $e | Get-QfexErrorAdvice; [string]$e.Exception; " +
            "foreach ($p in $e.PSObject.Properties) { $p.Value }; foreach ($p in $e.Exception.PSObject.Properties) { $p.Value } }";

        /// <summary>None of <paramref name="needles"/> appears in anything scanned so far.</summary>
        private void AssertNowhere(params string[] needles)
        {
            var found = _scan.Texts.Where(t => needles.Any(n => t.Text.Contains(n, StringComparison.Ordinal)))
                .Select(t => t.Where + ": " + needles.First(n => t.Text.Contains(n, StringComparison.Ordinal))).Distinct().Take(20).ToList();
            Assert.True(found.Count == 0, "Shown:\n" + string.Join("\n", found));
        }

        private string ShownTexts() => string.Join("\n", _scan.Texts.Select(t => t.Text));

        [Fact]
        public void AnAuthRefusalQuotingTheAuthRequestShowsNoSignatureNonceOrJwt()
        {
            // A careless exchange refuses the auth request quoting it: in its message (escaped, and its signature, nonce and
            // JWT as words) and as its echo. The session knows what it sent: it masks those values wherever they are.
            QfexTestServer server = StartServer();
            server.Faults.AuthAnswer = "{\"err\":{\"error_code\":\"PermissionDenied\",\"message\":\"Refused {request:escaped} " +
                "(signature {signature}, nonce {nonce}, tag n{nonce}n, bearer {jwt}, tail x{jwt}x)\",\"incoming_message\":{request}}}";

            ScriptResult hmac = Run("Connect refused (HMAC)",
                "Connect-Qfex -Uri $server.Uri -Credential $args[0] -TimeoutSec 5 -ErrorAction Continue -ErrorVariable shown; " + ShowErrors,
                new PSCredential(PublicKey, Secure(_secret)));
            ErrorRecord refused = Assert.Single(hmac.AllErrors);
            Assert.StartsWith("QfexAuthenticationFailed,", refused.FullyQualifiedErrorId);
            Assert.Contains("PermissionDenied", refused.Exception.Message);
            // The nonce inside a word is not shaped like one: it is masked because the session knows it sent it.
            Assert.Contains("tag n***n", refused.Exception.Message);
            Assert.Contains("\"signature\":\"***\"", refused.Exception.Message);

            ScriptResult jwt = Run("Connect refused (JWT)",
                "Connect-Qfex -Uri $server.Uri -Jwt $args[0] -TimeoutSec 5 -ErrorAction Continue -ErrorVariable shown; " + ShowErrors,
                Secure(_jwt));
            refused = Assert.Single(jwt.AllErrors);
            Assert.StartsWith("QfexAuthenticationFailed,", refused.FullyQualifiedErrorId);
            Assert.Contains("bearer ***", refused.Exception.Message);
            Assert.Contains("tail x***x", refused.Exception.Message);
            AssertNothingLeaked();
        }

        [Fact]
        public void ErrorFramesQuotingTheAuthRequestInAnyEncodingShowNoSecret()
        {
            // After a successful auth the exchange sends error frames that quote the request: in the message, as an
            // object, as a JSON string, as a double-encoded JSON string, and as an object holding both.
            QfexTestServer server = StartServer();
            server.Faults.AfterAuth = "[" + string.Join(",",
                "{\"err\":{\"error_code\":\"AlreadyAuthenticated\",\"message\":\"You sent {request:escaped}; signature={signature}; tag n{nonce}n; jwt=x{jwt}x\",\"incoming_message\":{request}}}",
                "{\"err\":{\"error_code\":\"InvalidJSONFormat\",\"message\":null,\"incoming_message\":\"{request:escaped}\"}}",
                "{\"err\":{\"error_code\":\"InvalidJSONFormat\",\"message\":null,\"incoming_message\":\"\\\"{request:escaped2}\\\"\"}}",
                "{\"err\":{\"error_code\":\"PermissionDenied\",\"message\":null,\"incoming_message\":{\"type\":\"auth\",\"raw\":\"{request:escaped}\",\"raw2\":\"\\\"{request:escaped2}\\\"\"}}}") + "]";

            Run("Connect (HMAC)", "$h = Connect-Qfex -Uri $server.Uri -Credential $args[0]", new PSCredential(PublicKey, Secure(_secret))).ThrowOnError();
            ScriptResult hmac = Run("Receive (HMAC)", "Receive-QfexFrame -Session $h -Count 4 -TimeoutSec 10 -ErrorAction Continue -ErrorVariable shown; " + ShowErrors);
            Assert.Equal(new[] { "AlreadyAuthenticated", "InvalidJSONFormat", "InvalidJSONFormat", "PermissionDenied" },
                hmac.Errors.Select(e => e.FullyQualifiedErrorId.Split(',')[0]));
            Assert.Contains("tag n***n", hmac.Errors[0].Exception.Message);
            Assert.Contains("signature=***", hmac.Errors[0].ErrorDetails.Message);

            Run("Connect (JWT)", "$j = Connect-Qfex -Uri $server.Uri -Jwt $args[0]", Secure(_jwt)).ThrowOnError();
            ScriptResult jwt = Run("Receive (JWT)", "Receive-QfexFrame -Session $j -Count 4 -TimeoutSec 10 -ErrorAction Continue -ErrorVariable shown; " + ShowErrors);
            Assert.Equal(4, jwt.Errors.Count);
            Assert.Contains("jwt=x***x", jwt.Errors[0].Exception.Message);

            // Frames that are not JSON at all, quoting the request raw, escaped once and escaped twice.
            int i = 0;
            foreach (string malformed in new[] { "not json: {request}", "not json: {request:escaped} tag n{nonce}n", "not json: \"{request:escaped2}\"" })
            {
                server.Faults.AfterAuth = malformed;
                Run("Connect for a malformed frame " + i, "$m = Connect-Qfex -Uri $server.Uri -Credential $args[0]", new PSCredential(PublicKey, Secure(_secret))).ThrowOnError();
                ScriptResult result = Run("Receive a malformed frame " + i++, "Receive-QfexFrame -Session $m -Count 1 -TimeoutSec 10 -ErrorAction Continue -ErrorVariable shown; " + ShowErrors);
                ErrorRecord error = Assert.Single(result.Errors);
                Assert.StartsWith("QfexMalformedFrame,", error.FullyQualifiedErrorId);
                Assert.Contains("not json: ", (string)error.TargetObject);
            }
            Assert.Contains("tag n***n", ShownTexts());
            AssertNothingLeaked();
        }

        [Fact]
        public void SecretNamedKeysAreMaskedWhateverTheirValueInEchoesTextsAndMalformedFrames()
        {
            QfexTestServer server = StartServer();
            Run("Connect", "$s = Connect-Qfex -Uri $server.Uri -Credential $args[0]", new PSCredential(PublicKey, Secure(_secret))).ThrowOnError();
            const string Number = "918273645546372819";
            // An echo that is a JSON string (numbers, an object, an array, a boolean under secret names).
            server.Push("{\"err\":{\"error_code\":\"InvalidJSONFormat\",\"message\":null,\"incoming_message\":" + System.Text.Json.JsonSerializer.Serialize(
                "{\"type\":\"auth\",\"params\":{\"token\":" + Number + ",\"password\":{\"v\":\"MARKER-A\"},\"secret\":[\"MARKER-B\",1],\"nonce\":true}}") + "}}");
            // A message quoting them, and an object echo holding them.
            server.Push("{\"err\":{\"error_code\":\"PermissionDenied\",\"message\":\"You sent {\\\"token\\\": " + Number + ", \\\"password\\\": [\\\"MARKER-C\\\"]}\"," +
                "\"incoming_message\":{\"type\":\"x\",\"params\":{\"token\":" + Number + ",\"secret\":{\"x\":\"MARKER-D\"},\"jwt\":[\"MARKER-E\"]}}}}");
            // A malformed frame (cut off) holding them.
            server.Push("{\"type\":\"x\",\"signature\": " + Number + ", \"api_secret\": {\"a\":\"MARKER-F\"}, \"jwt\": [\"MARKER-G\"]");
            ScriptResult result = Run("Receive", "Receive-QfexFrame -Count 3 -TimeoutSec 10 -ErrorAction Continue -ErrorVariable shown; " + ShowErrors);
            Assert.Equal(3, result.Errors.Count);
            AssertNowhere(Number, "MARKER-");
            AssertNothingLeaked();
        }

        [Fact]
        public void DebugMasksTheSentRequestBeforeCuttingIt()
        {
            // A secret-named value that straddles the 1,000th character of the sent JSON: cut first, it was shown half.
            StartServer();
            Run("Connect", "$s = Connect-Qfex -Uri $server.Uri -Credential $args[0]", new PSCredential(PublicKey, Secure(_secret))).ThrowOnError();
            string token = "Tk" + Hex(20);
            const string Head = "{\"type\":\"get_user_orders\",\"params\":{\"limit\":1,\"pad\":\"";
            string pad = new string('p', 990 - Head.Length - "\",\"token\":\"".Length);
            ScriptResult sent = Run("Send -Debug", "Send-QfexMessage -Session $s -Type get_user_orders -Params ([ordered]@{ limit = 1; pad = $args[0]; token = $args[1] }) -Wait -Debug -ErrorAction Continue -WarningAction Continue", pad, token);
            string debug = Assert.Single(sent.Debug, d => d.Contains("sent:", StringComparison.Ordinal));
            Assert.Contains("\"token\":\"***\"", debug);
            AssertNowhere(token.Substring(0, 8));
        }

        [Fact]
        public void WhatIfAndConfirmShowSecretNamedParamsMasked()
        {
            // -WhatIf and -Confirm print the request they would send: through the same pass (token and password masked,
            // control characters removed). A host that records what it is asked to show.
            var host = new RecordingHost();
            using Runspace runspace = RunspaceFactory.CreateRunspace(host, InitialSessionState.CreateDefault2());
            runspace.Open();
            using var ps = System.Management.Automation.PowerShell.Create();
            ps.Runspace = runspace;
            string token = "Tk" + Hex(20);
            string password = "Pw" + Hex(20);
            ps.AddScript(
                "Import-Module $args[0] -ErrorAction Stop; $server = Start-QfexTestServer; $s = Connect-Qfex -Uri $server.Uri -Credential $server.Credential; " +
                "$order = @{ symbol = 'AAPL-USD'; side = 'BUY'; order_type = 'LIMIT'; order_time_in_force = 'GTC'; quantity = 1; price = 200; token = $args[1]; password = @{ value = $args[2] }; note = \"a`e[2Jb\" }; " +
                "Send-QfexMessage -Session $s -Type add_order -Params $order -WhatIf; " +
                "Send-QfexMessage -Session $s -Type add_order -Params $order -Confirm; " +
                "$sent = @($server.Received | Where-Object Type -eq 'add_order').Count; " +
                "Disconnect-Qfex -Session $s; Stop-QfexTestServer; $sent")
                .AddArgument(PowerShellHost.ModuleManifest).AddArgument(token).AddArgument(password);
            var output = ps.Invoke();
            Assert.False(ps.HadErrors, string.Join("\n", ps.Streams.Error));
            Assert.Equal(0, (int)output.Last().BaseObject);   // neither was sent: -WhatIf, and "No" to -Confirm
            string[] asked = host.Lines.Where(l => l.Contains("add_order", StringComparison.Ordinal)).ToArray();
            Assert.Equal(2, asked.Length);
            Assert.All(asked, line =>
            {
                // PowerShell's own question has line breaks; nothing else may be a control character.
                Assert.True(!line.Any(c => Qfex.Protocol.Redaction.IsUnsafeCharacter(c) && c != '\n' && c != '\r'), "A control character in: " + line.Replace("\u001b", "<ESC>", StringComparison.Ordinal));
                Assert.Contains("\"token\":\"***\"", line);
                Assert.Contains("\"password\":\"***\"", line);
                Assert.DoesNotContain(token, line);
                Assert.DoesNotContain(password, line);
            });
        }

        [Fact]
        public void ControlSequencesFromTheServerNeverReachWhatIsShown()
        {
            // ESC[2J clears the screen, ESC]0;...BEL sets the window title, 0x9B is CSI on some terminals, U+202E reverses text.
            const string Hostile = "\u001b[2J\u001b]0;pwned\u0007 \u009b31m \u202etxt.exe";
            QfexTestServer server = StartServer();
            Run("Connect", "$s = Connect-Qfex -Uri $server.Uri -Credential $args[0] -NoReconnect", new PSCredential(PublicKey, Secure(_secret))).ThrowOnError();
            server.Push("{\"err\":{\"error_code\":\"Bad\\u001bCode\",\"message\":" + System.Text.Json.JsonSerializer.Serialize("Retry later " + Hostile) +
                ",\"incoming_message\":{\"type\":\"x\",\"note\":" + System.Text.Json.JsonSerializer.Serialize(Hostile) + "}}}");
            server.Push("{\"err\":{\"error_code\":\"ServerError\",\"message\":null,\"incoming_message\":" + System.Text.Json.JsonSerializer.Serialize("echo " + Hostile) + "}}");
            server.Faults.PushFrame(Encoding.UTF8.GetBytes("not json " + Hostile), QfexTestServerOpcode.Text);
            ScriptResult received = Run("Receive", "Receive-QfexFrame -Count 3 -TimeoutSec 10 -ErrorAction Continue -ErrorVariable shown; " + ShowErrors);
            Assert.Equal(3, received.Errors.Count);
            Assert.Equal("Bad\\u001BCode", received.Errors[0].Exception is QfexServerErrorException e ? e.ErrorCode : null);
            Assert.Contains("Retry later [2J]0;pwned 31m txt.exe", received.Errors[0].ErrorDetails.Message);

            // A close reason (the server's close frame text) with the same sequences.
            server.CloseConnections(4000, "\u001b[2J\u001b]0;pwned\u0007 \u202eBye");
            Wait.Until(() => Run("State", "$s.State").Value() is QfexSessionState.Closed, "the session to close");
            ScriptResult closed = Run("Closed", "$s.CloseReason; $s; Receive-QfexFrame -Session $s -TimeoutSec 1 -ErrorAction Continue -ErrorVariable shown; " + ShowErrors);
            Assert.Contains("[2J]0;pwned Bye", (string)closed.Value()!);

            // A server that closes at once with them: Connect-Qfex fails with the reason, cleaned.
            server.Faults.CloseAfterUpgrade = 4001;
            server.Faults.CloseAfterUpgradeReason = "\u001b]0;pwned\u0007go away\u001b[2J";
            ScriptResult refused = Run("Connect closed at once", "Connect-Qfex -Uri $server.Uri -Credential $args[0] -TimeoutSec 5 -ErrorAction Continue -ErrorVariable shown; " + ShowErrors,
                new PSCredential(PublicKey, Secure(_secret)));
            Assert.Single(refused.Errors);

            var unsafeText = _scan.Texts.Where(t => t.Text.Any(c => Qfex.Protocol.Redaction.IsUnsafeCharacter(c) && c != '\n' && c != '\t' && c != '\r'))
                .Select(t => t.Where).Distinct().ToList();
            Assert.True(unsafeText.Count == 0, "Control characters reached:\n" + string.Join("\n", unsafeText.Take(20)));
            AssertNothingLeaked();
        }

        [Fact]
        public void TheRecorderMasksWithTheSamePassAndTheSessionsOwnNonce()
        {
            QfexTestServer server = StartServer();
            server.Faults.AfterAuth = "{\"err\":{\"error_code\":\"AlreadyAuthenticated\",\"message\":\"tag n{nonce}n, {\\\"token\\\": 918273645546372819}\",\"incoming_message\":null}}";
            string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "qfex-secrets-" + Hex(8) + ".jsonl");
            try
            {
                Run("Connect -RecordPath", "$r = Connect-Qfex -Uri $server.Uri -Credential $args[0] -RecordPath $args[1]; Receive-QfexFrame -Session $r -Count 1 -TimeoutSec 10 -ErrorAction SilentlyContinue; Disconnect-Qfex -Session $r",
                    new PSCredential(PublicKey, Secure(_secret)), path).ThrowOnError();
                string transcript = System.IO.File.ReadAllText(path);
                Assert.Contains("tag n***n", transcript);
                Assert.DoesNotContain("918273645546372819", transcript);
                _scan.Text("transcript", transcript);
            }
            finally
            {
                System.IO.File.Delete(path);
            }
            AssertNowhere(_secret, _jwt);
        }

        [Theory]
        [InlineData("{\"signature\":\"S3CR3T-VALUE\"}", "{\"signature\":\"***\"}")]
        [InlineData("{\"token\": 918273645546372819, \"x\": 1}", "{\"token\": \"***\", \"x\": 1}")]
        [InlineData("{\"Password\":{\"a\":[\"S3CR3T-VALUE\",{\"b\":\"}\"}]},\"x\":1}", "{\"Password\":\"***\",\"x\":1}")]
        [InlineData("{\"secret\":[1,2,\"S3CR3T-VALUE\"]}", "{\"secret\":\"***\"}")]
        [InlineData("{\"nonce\":null,\"jwt\":true}", "{\"nonce\":null,\"jwt\":\"***\"}")]
        [InlineData("\"{\\\"signature\\\":\\\"S3CR3T-VALUE\\\",\\\"token\\\":12}\"", "\"{\\\"signature\\\":\\\"***\\\",\\\"token\\\":\\\"***\\\"}\"")]
        [InlineData("\"\\\"{\\\\\\\"jwt\\\\\\\":\\\\\\\"S3CR3T-VALUE\\\\\\\"}\\\"\"", "\"\\\"{\\\\\\\"jwt\\\\\\\":\\\\\\\"***\\\\\\\"}\\\"\"")]
        [InlineData("{\"signature\":\"S3CR3T-VAL", "{\"signature\":\"***")]
        [InlineData("{\"api_secret\":{\"a\":\"S3CR3T-VALUE\"", "{\"api_secret\":\"***\"")]
        [InlineData("{\"note\":\"a \\\"quoted\\\" word\",\"token\":\"a\\\"b\\\\\"}", "{\"note\":\"a \\\"quoted\\\" word\",\"token\":\"***\"}")]
        public void TheOnePassMasksSecretNamedValuesOfAnyTypeAtAnyEscapeLevel(string text, string expected)
        {
            string shown = Qfex.Protocol.Redaction.Clean(text, shape: Qfex.Protocol.TextShape.MultiLine);
            Assert.Equal(expected, shown);
            Assert.DoesNotContain("S3CR3T", shown);
            // Valid JSON stays valid JSON.
            if (IsJson(text)) Assert.True(IsJson(shown), shown);
        }

        private static bool IsJson(string text)
        {
            try
            {
                using var doc = System.Text.Json.JsonDocument.Parse(text);
                return true;
            }
            catch (System.Text.Json.JsonException)
            {
                return false;
            }
        }

        [Fact]
        public void TheOnePassMasksBeforeItCutsAndRemovesControlCharacters()
        {
            string secret = "S3CR3T" + Hex(10);
            string text = new string('x', 990) + "{\"token\":\"" + secret + "\"}";
            string shown = Qfex.Protocol.Redaction.Clean(text, maxChars: 1000);
            Assert.Equal(1000, shown.Length);
            Assert.DoesNotContain("S3CR3T", shown);
            Assert.Equal("a [2J]0;pwned b", Qfex.Protocol.Redaction.Clean("a \u001b[2J\u001b]0;pwned\u0007 b"));
            Assert.Equal("line one\nline two", Qfex.Protocol.Redaction.Clean("line one\r\nline two\u0085", shape: Qfex.Protocol.TextShape.MultiLine));
            Assert.Equal("line one line two", Qfex.Protocol.Redaction.Clean("line one\nline two"));
            // A JWT and a signature by their shape, wherever they are.
            Assert.Equal("Bearer ***.", Qfex.Protocol.Redaction.Clean("Bearer " + _jwt + "."));
            Assert.Equal("sig=*** end", Qfex.Protocol.Redaction.Clean("sig=" + Hex(32) + " end"));
        }

        /// <summary>A host that records what PowerShell shows through it (-WhatIf lines, -Confirm questions) and answers No.</summary>
        private sealed class RecordingHost : System.Management.Automation.Host.PSHost
        {
            private readonly RecordingUserInterface _ui = new RecordingUserInterface();

            internal List<string> Lines => _ui.Lines;

            public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;
            public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;
            public override Guid InstanceId { get; } = Guid.NewGuid();
            public override string Name => "QfexRecordingHost";
            public override System.Management.Automation.Host.PSHostUserInterface UI => _ui;
            public override Version Version => new Version(1, 0);
            public override void EnterNestedPrompt() => throw new NotSupportedException();
            public override void ExitNestedPrompt() => throw new NotSupportedException();
            public override void NotifyBeginApplication() { }
            public override void NotifyEndApplication() { }
            public override void SetShouldExit(int exitCode) { }
        }

        private sealed class RecordingUserInterface : System.Management.Automation.Host.PSHostUserInterface
        {
            internal List<string> Lines { get; } = new List<string>();

            public override System.Management.Automation.Host.PSHostRawUserInterface? RawUI => null;

            public override Dictionary<string, PSObject> Prompt(string caption, string message, System.Collections.ObjectModel.Collection<System.Management.Automation.Host.FieldDescription> descriptions) =>
                throw new NotSupportedException();

            public override int PromptForChoice(string caption, string message, System.Collections.ObjectModel.Collection<System.Management.Automation.Host.ChoiceDescription> choices, int defaultChoice)
            {
                Lines.Add(caption + ": " + message);
                int no = choices.ToList().FindIndex(c => c.Label.Replace("&", "", StringComparison.Ordinal) == "No");
                return no >= 0 ? no : defaultChoice;
            }

            public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) => throw new NotSupportedException();
            public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) =>
                throw new NotSupportedException();
            public override string ReadLine() => string.Empty;
            public override SecureString ReadLineAsSecureString() => new SecureString();
            public override void Write(string value) => Lines.Add(value);
            public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Lines.Add(value);
            public override void WriteDebugLine(string message) => Lines.Add(message);
            public override void WriteErrorLine(string value) => Lines.Add(value);
            public override void WriteLine(string value) => Lines.Add(value);
            public override void WriteProgress(long sourceId, ProgressRecord record) { }
            public override void WriteVerboseLine(string message) => Lines.Add(message);
            public override void WriteWarningLine(string message) => Lines.Add(message);
        }

        private static IEnumerable<QfexSession> SessionsIn(PowerShellHost ps) =>
            ps.Run("Get-QfexSession").Output.Select(o => (QfexSession)o.BaseObject);

        private static string PSJsonText(object value) => Qfex.Protocol.PSJson.Serialize(value);

        // ------------------------------------------------------------------ the scanner

        /// <summary>Collects every piece of text a user could see in an object graph.</summary>
        internal sealed class Scan
        {
            private const int MaxDepth = 10;
            private readonly HashSet<object> _seen = new HashSet<object>(ReferenceEqualityComparer.Instance);

            internal List<(string Where, string Text)> Texts { get; } = new List<(string, string)>();

            internal void Text(string where, string? text)
            {
                if (!string.IsNullOrEmpty(text)) Texts.Add((where, text));
            }

            internal void Result(string label, ScriptResult result)
            {
                for (int i = 0; i < result.Output.Count; i++) Object($"{label} output[{i}]", result.Output[i], 0);
                foreach (ErrorRecord e in result.AllErrors) Object($"{label} error {e.FullyQualifiedErrorId}", e, 0);
                foreach (string v in result.Verbose) Text($"{label} verbose", v);
                foreach (string d in result.Debug) Text($"{label} debug", d);
                foreach (string w in result.Warnings) Text($"{label} warning", w);
                foreach (string n in result.Information) Text($"{label} information", n);
            }

            internal void Object(string where, object? value, int depth)
            {
                if (value == null || depth > MaxDepth) return;
                switch (value)
                {
                    case string s:
                        Text(where, s);
                        return;
                    case SecureString _:
                        return; // shows no content
                    case PSCredential c:
                        Text(where + ".UserName", c.UserName);
                        return;
                    case Type _:
                    case MemberInfo _:
                    case Assembly _:
                    case Delegate _:
                    case InvocationInfo _:
                    case System.Threading.Tasks.Task _:
                    case System.Management.Automation.Runspaces.Runspace _:
                        return;
                }
                Type type = value.GetType();
                if (type.IsPrimitive || type.IsEnum || value is decimal || value is DateTime || value is DateTimeOffset || value is TimeSpan || value is Guid || value is Uri)
                {
                    Text(where, Convert.ToString(value, CultureInfo.InvariantCulture));
                    return;
                }
                if (!_seen.Add(value)) return;

                Text(where + ".ToString()", SafeToString(value));
                switch (value)
                {
                    case ErrorRecord record:
                        Text(where + ".FullyQualifiedErrorId", record.FullyQualifiedErrorId);
                        Text(where + ".CategoryInfo", record.CategoryInfo.ToString());
                        Text(where + ".CategoryInfo.Reason", record.CategoryInfo.Reason);
                        Text(where + ".CategoryInfo.TargetName", record.CategoryInfo.TargetName);
                        Text(where + ".ErrorDetails.Message", record.ErrorDetails?.Message);
                        Text(where + ".ErrorDetails.RecommendedAction", record.ErrorDetails?.RecommendedAction);
                        Text(where + ".ScriptStackTrace", record.ScriptStackTrace);
                        Object(where + ".TargetObject", record.TargetObject, depth + 1);
                        Object(where + ".Exception", record.Exception, depth + 1);
                        return;
                    case Exception exception:
                        Text(where + ".Message", exception.Message);
                        foreach (DictionaryEntry entry in exception.Data) Object(where + ".Data", entry.Value, depth + 1);
                        Properties(where, value, depth);
                        return;
                    case PSObject pso:
                        if (pso.BaseObject is PSCustomObject)
                        {
                            foreach (PSPropertyInfo p in pso.Properties)
                            {
                                Text(where + ".name", p.Name);
                                Object(where + "." + p.Name, SafeValue(p), depth + 1);
                            }
                            return;
                        }
                        foreach (PSPropertyInfo p in pso.Properties.Match("*", PSMemberTypes.NoteProperty))
                            Object(where + "." + p.Name, SafeValue(p), depth + 1);
                        Object(where, pso.BaseObject, depth);
                        return;
                    case IDictionary dictionary:
                        foreach (DictionaryEntry entry in dictionary)
                        {
                            Object(where + ".key", entry.Key, depth + 1);
                            Object(where + "[" + entry.Key + "]", entry.Value, depth + 1);
                        }
                        return;
                    case IEnumerable items:
                        int i = 0;
                        foreach (object? item in items)
                        {
                            if (i > 20_000) break;
                            Object($"{where}[{i++}]", item, depth + 1);
                        }
                        return;
                }
                Properties(where, value, depth);
            }

            private void Properties(string where, object value, int depth)
            {
                foreach (PropertyInfo p in value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
                {
                    if (p.GetIndexParameters().Length > 0) continue;
                    object? v;
                    try
                    {
                        v = p.GetValue(value);
                    }
                    catch (Exception)
                    {
                        continue;
                    }
                    Object(where + "." + p.Name, v, depth + 1);
                }
            }

            private static object? SafeValue(PSPropertyInfo p)
            {
                try
                {
                    return p.Value;
                }
                catch (Exception)
                {
                    return null;
                }
            }

            private static string? SafeToString(object value)
            {
                try
                {
                    return value.ToString();
                }
                catch (Exception)
                {
                    return null;
                }
            }
        }
    }
}
