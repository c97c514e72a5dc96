using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using Xunit;

namespace Qfex.Tests
{
    /// <summary>
    /// Issue 17's soak: several runspaces place orders with -Wait on one session while the exchange drops the
    /// connection over and over; then every outcome the module reported is checked against what the exchange
    /// received. "Not sent" must never have reached it, nothing may be placed twice, every failure is a Qfex
    /// error. About 30 s per receive overload by default; QFEX_SOAK_SECONDS sets another length (longer runs
    /// on demand).
    /// </summary>
    public class SoakTests : IDisposable
    {
        private readonly PowerShellHost _ps = new PowerShellHost();
        private readonly QfexTestServer _server;
        private readonly Xunit.Abstractions.ITestOutputHelper _output;

        protected PowerShellHost Host => _ps;

        public SoakTests(Xunit.Abstractions.ITestOutputHelper output)
        {
            _output = output;
            _server = _ps.StartServer();
        }

        public void Dispose()
        {
            _ps.Dispose();
            GC.SuppressFinalize(this);
        }

        private static TimeSpan Length =>
            TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("QFEX_SOAK_SECONDS"), out int s) && s > 0 ? s : 30);

        private const string Sender = @"
            param($session, $prefix, $until)
            $i = 0
            while ([DateTime]::UtcNow -lt $until) {
                $id = '{0}-{1}' -f $prefix, $i++
                $err = $null
                $answer = Send-QfexMessage -Session $session -Type add_order -MaxRetries 0 -TimeoutSec 10 -Wait -ErrorAction SilentlyContinue -ErrorVariable err -Params @{
                    symbol = 'AAPL-USD'; side = 'BUY'; order_type = 'LIMIT'; order_time_in_force = 'GTC'; quantity = 1; price = 200; client_order_id = $id }
                if ($answer) { [pscustomobject]@{ Id = $id; Outcome = 'Answered'; ErrorId = '' }; continue }
                $e = $err[0]
                $outcome = if ($e.Exception -is [Qfex.QfexException]) { [string] $e.Exception.RequestOutcome } else { 'NotQfex:' + $e.Exception.GetType().FullName }
                [pscustomobject]@{ Id = $id; Outcome = $outcome; ErrorId = $e.FullyQualifiedErrorId }
                # The workload, like a runbook: while the session reconnects, give it a moment before the next order.
                if ($session.State -ne 'Open') { Start-Sleep -Milliseconds 5 }
            }";

        private sealed record Result(string Id, string Outcome, string ErrorId);

        [Fact]
        public async Task ConcurrentOrdersThroughRepeatedDropsAreNeverMisreported()
        {
            QfexSession session = _ps.Connect("-Subscribe order_responses -MessagesPerSecond 0");
            DateTime until = DateTime.UtcNow + Length;

            // The exchange drops every connection every 400 ms (the workload's pace, not a wait for a condition).
            using var stopDropping = new CancellationTokenSource();
            int drops = 0;
            Task dropper = Task.Run(async () =>
            {
                while (!stopDropping.IsCancellationRequested)
                {
                    try
                    {
                        await Task.Delay(400, stopDropping.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                    _server.DropConnections();
                    drops++;
                }
            });

            // Four senders on dedicated threads, as pwsh gives each runspace its own.
            Task<Result[]>[] senders = Enumerable.Range(0, 4).Select(n => Task.Factory.StartNew(() =>
            {
                using var ps = new PowerShellHost();
                ScriptResult r = ps.Run(Sender, session, $"soak{n}", until);
                Assert.Null(r.Terminating);
                return r.Output.Select(o => new Result((string)o.Properties["Id"].Value, (string)o.Properties["Outcome"].Value, (string)o.Properties["ErrorId"].Value)).ToArray();
            }, TaskCreationOptions.LongRunning)).ToArray();
            Result[] results = (await Task.WhenAll(senders)).SelectMany(r => r).ToArray();
            stopDropping.Cancel();
            await dropper;

            // Settle: a barrier crosses the connection once the session is open again, so everything sent has
            // arrived. The last drop may still be landing as the first barrier goes out: then it is not answered
            // (QfexConnectionClosed), and the next one, after the reconnect, is.
            Wait.Until(() => session.State == QfexSessionState.Open
                && _ps.Run("$null = Send-QfexMessage -Type get_user_trades -Wait -ErrorAction Stop").Terminating == null,
                "a barrier answered on a settled connection");
            Assert.True(_server.Received.Count < 100_000, "the exchange records only 100,000 requests: shorten QFEX_SOAK_SECONDS");

            Dictionary<string, int> received = _server.Received.Where(q => q.Type == "add_order")
                .GroupBy(q => (string)((PSObject)q.Params!).Properties["client_order_id"].Value)
                .ToDictionary(g => g.Key, g => g.Count());

            string Summary() => $"{results.Length} orders over {drops} drops: " + string.Join(", ", results.GroupBy(r => r.Outcome).Select(g => $"{g.Count()} {g.Key}"));

            _output.WriteLine(Summary() + $"; {received.Count} distinct orders reached the exchange.");
            Assert.True(drops >= 10, "too few drops to mean anything: " + Summary());
            Assert.True(results.Count(r => r.Outcome == "Answered") >= 100, "too few answered orders to mean anything: " + Summary());
            Assert.DoesNotContain(results, r => r.Outcome.StartsWith("NotQfex:", StringComparison.Ordinal));
            // Nothing placed twice: no module retry, no resend after a reconnect.
            Assert.DoesNotContain(received, kv => kv.Value > 1);
            // "Not sent" was never received; answered orders were received exactly once.
            Assert.DoesNotContain(results, r => r.Outcome == nameof(QfexRequestOutcome.NotSent) && received.ContainsKey(r.Id));
            Assert.DoesNotContain(results, r => r.Outcome == "Answered" && !received.ContainsKey(r.Id));
            // Every failure says whether it was sent.
            Assert.All(results.Where(r => r.Outcome != "Answered"), r => Assert.True(
                r.Outcome == nameof(QfexRequestOutcome.NotSent) || r.Outcome == nameof(QfexRequestOutcome.SentOutcomeUnknown),
                $"{r.Id}: {r.ErrorId} does not say whether it was sent"));
        }
    }

    /// <summary>The soak again with the receive loop on Windows PowerShell's ArraySegment overload (this runspace only).</summary>
    public sealed class SoakTestsOnTheArraySegmentReceive : SoakTests
    {
        public SoakTestsOnTheArraySegmentReceive(Xunit.Abstractions.ITestOutputHelper output) : base(output) =>
            Qfex.Commands.SessionOptionHooks.Set(Host.Runspace, options => options.ForceArraySegmentReceive = true);
    }
}
