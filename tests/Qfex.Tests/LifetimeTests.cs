using System.Management.Automation;
using System.Management.Automation.Runspaces;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>A session belongs to the runspace that opened it: it closes with that runspace and with Remove-Module.</summary>
    public sealed class LifetimeTests : System.IDisposable
    {
        private readonly PowerShellHost _ps = new PowerShellHost();
        private readonly QfexTestServer _server;

        public LifetimeTests() => _server = _ps.StartServer();

        public void Dispose() => _ps.Dispose();

        private static Runspace OpenRunspaceWithTheModule()
        {
            Runspace runspace = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
            runspace.Open();
            using var ps = PowerShell.Create();
            ps.Runspace = runspace;
            ps.AddScript("Import-Module $args[0] -ErrorAction Stop").AddArgument(PowerShellHost.ModuleManifest).Invoke();
            return runspace;
        }

        private QfexSession ConnectIn(Runspace runspace)
        {
            using var ps = PowerShell.Create();
            ps.Runspace = runspace;
            ps.AddScript("Connect-Qfex -Uri $args[0] -Credential $args[1]").AddArgument(_server.Uri).AddArgument(_server.Credential);
            return (QfexSession)Assert.Single(ps.Invoke()).BaseObject;
        }

        [Fact]
        public void ASessionIsUsableFromAnotherRunspaceAndClosesWhenItsOwnRunspaceCloses()
        {
            Runspace owner = OpenRunspaceWithTheModule();
            QfexSession session = ConnectIn(owner);
            Wait.Until(() => _server.ConnectionCount == 1, "the exchange to see the connection");

            // Passed explicitly, it works in another runspace while its owner lives.
            var answer = _ps.Run("Send-QfexMessage -Session $args[0] -Type get_user_orders -Wait", session).ThrowOnError();
            Assert.Equal("all_orders_response", ((QfexFrame)answer.Value()!).Type);

            owner.Dispose();
            Wait.Until(() => session.State == QfexSessionState.Closed && _server.ConnectionCount == 0, "the session to close with its runspace");
            Assert.Contains($"runspace {owner.Id}", session.CloseReason);
            Assert.Equal(0, session.Reconnects);
        }

        [Fact]
        public void RemovingTheModuleClosesTheRunspacesSessionsAndNoOthers()
        {
            Runspace other = OpenRunspaceWithTheModule();
            QfexSession mine = ConnectIn(other);
            QfexSession kept = (QfexSession)_ps.Run("Connect-Qfex -Uri $server.Uri -Credential $server.Credential").ThrowOnError().Value()!;
            using (var ps = PowerShell.Create())
            {
                ps.Runspace = other;
                ps.AddScript("Remove-Module Qfex").Invoke();
            }
            Wait.Until(() => mine.State == QfexSessionState.Closed, "the session to close with the module");
            Assert.Equal("Closed by Remove-Module Qfex.", mine.CloseReason);
            Assert.Equal(QfexSessionState.Open, kept.State);
            other.Dispose();
        }
    }
}
