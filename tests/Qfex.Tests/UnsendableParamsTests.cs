using System;
using System.Linq;
using System.Management.Automation;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>A public object whose property getter throws, as many .NET objects' do in some states.</summary>
    public sealed class ThrowingGetter
    {
        public string Name => "fine";

        public string Value => throw new InvalidOperationException("the getter refused");
    }

    /// <summary>
    /// Issue 18 (8): -Params values the module cannot send as JSON, requests over the documented send limit and lone
    /// surrogates are refused as QfexInvalidMessage, naming where the bad value is; nothing is sent, the session is
    /// untouched, and the engine's own exceptions (GetValueInvocationException) never escape.
    /// </summary>
    public sealed class UnsendableParamsTests : IDisposable
    {
        private readonly PowerShellHost _ps = new PowerShellHost();
        private readonly QfexTestServer _server;
        private readonly QfexSession _session;

        public UnsendableParamsTests()
        {
            _server = _ps.StartServer();
            _session = _ps.Connect();
        }

        public void Dispose() => _ps.Dispose();

        /// <summary>Runs a send that must be refused; returns its one error, after checking what every refusal must be.</summary>
        private ErrorRecord Refused(string script, params object?[] args)
        {
            ScriptResult result = _ps.Run(script, args);
            ErrorRecord error = Assert.Single(result.AllErrors);
            Assert.StartsWith("QfexInvalidMessage,", error.FullyQualifiedErrorId);
            Assert.IsType<QfexInvalidMessageException>(error.Exception);
            Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
            // Never the engine's exception, nor a raw one from a getter, anywhere in the chain.
            for (Exception? e = error.Exception; e != null; e = e.InnerException)
                Assert.False(e is GetValueInvocationException || e is ExtendedTypeSystemException || e is InvalidOperationException || e is RuntimeException,
                    $"{e.GetType().FullName} in the chain: {e.Message}");
            Assert.DoesNotContain("CatchFromBaseAdapterGetValue", error.FullyQualifiedErrorId);
            // Nothing was sent, and the session is as it was.
            Assert.DoesNotContain(_server.Received, r => r.Type == "get_user_orders");
            Assert.Equal(QfexSessionState.Open, _session.State);
            Assert.Equal(0, _session.Reconnects);
            return error;
        }

        [Theory]
        [InlineData("{ 'not a value' }", "params.note is a script block")]
        [InlineData("[System.IO.FileInfo]::new($file)", "params.note is a file or directory object")]
        [InlineData("[System.IO.DirectoryInfo]::new($dir)", "params.note is a file or directory object")]
        [InlineData("[System.Diagnostics.Process]::GetCurrentProcess()", "params.note is a process object")]
        [InlineData("[Qfex.Tests.ThrowingGetter]::new()", "params.note.Value could not be read: InvalidOperationException: the getter refused")]
        [InlineData("$o = [pscustomobject]@{ a = 1 }; $o.PSObject.Properties.Add([psscriptproperty]::new('bad', { throw 'the script property refused' })); $o",
            "params.note.bad could not be read: RuntimeException: the script property refused")]
        [InlineData("$c = @{ name = 'c' }; $c.self = $c; $c", "params.note.self refers back to params.note (a cycle)")]
        [InlineData("@{ deep = @(1, @{ list = @(2, { 'inner' }) }) }", "params.note.deep[1].list[1] is a script block")]
        public void AValueThatCannotBeSentIsRefusedNamingWhereItIs(string valueScript, string expected)
        {
            string file = typeof(UnsendableParamsTests).Assembly.Location;
            ErrorRecord error = Refused("$file = $args[0]; $dir = $args[1]; $note = & { " + valueScript + " }; Send-QfexMessage -Type get_user_orders -Params @{ limit = 1; note = $note } -Wait",
                file, System.IO.Path.GetDirectoryName(file));
            Assert.Contains(expected, error.Exception.Message);
            Assert.Contains("Not sent", error.Exception.Message);
        }

        [Fact]
        public void ARequestOverTheSendLimitIsRefusedAndTheSessionStaysUp()
        {
            // 7 MB of params: sent, the exchange closed the connection (1009) and the session silently reconnected.
            ErrorRecord error = Refused("Send-QfexMessage -Type get_user_orders -Params @{ limit = 1; pad = ('x' * 7MB) } -Wait");
            Assert.Contains("262,144 bytes", error.Exception.Message);
            Assert.Contains("Not sent", error.Exception.Message);

            // Many small values past the limit are refused as soon as the limit is passed.
            error = Refused("Send-QfexMessage -Type get_user_orders -Params @{ limit = 1; ids = (1..200000) } -Wait");
            Assert.Contains("262,144 bytes", error.Exception.Message);

            // Under the limit, the same request goes out and is answered.
            ScriptResult sent = _ps.Run("Send-QfexMessage -Type get_user_orders -Params @{ limit = 1; pad = ('x' * 200KB) } -Wait").ThrowOnError();
            Assert.Single(sent.Output);
            Assert.Contains(_server.Received, r => r.Type == "get_user_orders");
        }

        [Theory]
        [InlineData("Send-QfexMessage -Type get_user_orders -Params @{ limit = 1; note = \"ab$([char]0xD800)c\" } -Wait", "params.note has a lone surrogate (U+D800) at character 3")]
        [InlineData("Send-QfexMessage -Type get_user_orders -Params @{ limit = 1; list = @('ok', \"$([char]0xDC00)\") } -Wait", "params.list[1] has a lone surrogate (U+DC00) at character 1")]
        [InlineData("Send-QfexMessage -Type get_user_orders -Params @{ limit = 1; \"k$([char]0xD801)\" = 1 } -Wait", "params has a key with a lone surrogate (U+D801) at the key's character 2")]
        [InlineData("Send-QfexMessage -Message ('{\"type\":\"get_user_orders\",\"params\":{\"note\":\"x' + [char]0xD800 + '\"}}') -Wait", "-Message has a lone surrogate (U+D800) at character 46")]
        [InlineData("Send-QfexMessage -Message '{\"type\":\"get_user_orders\",\"params\":{\"note\":\"x\\ud800\"}}' -Wait", "-Message has a lone surrogate escape")]
        [InlineData("Send-QfexMessage -Message '{\"type\":\"get_user_orders\",\"params\":{\"items\":[\"a\",\"\\udfff\"]}}' -Wait", "in params.items[1]")]
        public void ALoneSurrogateIsRefusedNamingWhereItIsInsteadOfBeingSentAsAReplacementCharacter(string script, string expected)
        {
            ErrorRecord error = Refused(script);
            Assert.Contains(expected, error.Exception.Message);
            Assert.Contains("U+FFFD", error.Exception.Message);
        }

        [Fact]
        public void APairedSurrogateIsSentAsIs()
        {
            ScriptResult sent = _ps.Run("Send-QfexMessage -Type get_user_orders -Params @{ limit = 1; note = \"rocket \U0001F680\" } -Wait").ThrowOnError();
            Assert.Single(sent.Output);
            QfexTestServerRequest request = Assert.Single(_server.Received, r => r.Type == "get_user_orders");
            Assert.Equal("rocket \U0001F680", ((PSObject)request.Params!).Properties["note"].Value);
        }
    }
}
