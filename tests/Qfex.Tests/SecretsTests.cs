using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
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
