using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using Qfex.Errors;

namespace Qfex.Commands
{
    /// <summary>Start-QfexTestServer: a fake QFEX exchange on 127.0.0.1 for runbook tests and demos.</summary>
    [Cmdlet(VerbsLifecycle.Start, "QfexTestServer")]
    [OutputType(typeof(QfexTestServer))]
    public sealed class StartQfexTestServerCommand : QfexCmdlet
    {
        [Parameter]
        [ValidateRange(0, 65535)]
        public int Port { get; set; }

        [Parameter]
        [Credential]
        [ValidateNotNull]
        public PSCredential? Credential { get; set; }

        [Parameter]
        [ValidateNotNull]
        public IDictionary? Respond { get; set; }

        /// <summary>Serves this transcript (written by Connect-Qfex -RecordPath) instead of plausible answers.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? Replay { get; set; }

        /// <summary>With -Replay: recorded frames come at once after the request they followed, not at the recorded pace.</summary>
        [Parameter]
        public SwitchParameter NoPacing { get; set; }

        protected override void EndProcessing()
        {
            if (Replaying) return;
            if (NoPacing && Replay == null)
                ThrowQfexError(new QfexException(ErrorIds.ConflictingParameters, ErrorCategory.InvalidArgument,
                    "-NoPacing applies to -Replay only: it serves a transcript's frames at once instead of at the recorded pace."), null);
            QfexTestServerReplay? replay = Replay == null ? null : LoadTranscript(Replay);

            QfexTestServer server;
            try
            {
                server = replay == null
                    ? QfexTestServer.Start(Port, Credential?.UserName, Credential?.Password)
                    : QfexTestServer.Start(replay, Port, Credential?.UserName, Credential?.Password);
            }
            catch (System.Net.Sockets.SocketException e)
            {
                ThrowQfexError(new QfexException(ErrorIds.TestServerStartFailed, ErrorCategory.ResourceUnavailable,
                    $"The test server could not listen on 127.0.0.1:{Port}: {e.Message}", e), Port);
                return;
            }

            if (Respond != null)
                foreach (DictionaryEntry entry in Respond)
                    server.Respond[entry.Key.ToString()!] = entry.Value?.ToString() ?? string.Empty;
            TestServers.Add(server);
            WriteVerbose($"Test exchange listening on {server.Uri} (market data: {server.MarketDataUri}).");
            if (replay != null)
                WriteVerbose($"Replaying {replay.Path}: {replay.RecordedRequests} recorded request(s) of a {replay.Endpoint} session, " +
                    (replay.Paced ? "at the recorded pace." : "at once (-NoPacing)."));
            WriteObject(server);
        }

        /// <summary>Reads the whole transcript before anything listens: a transcript that cannot be served serves nothing.</summary>
        private QfexTestServerReplay LoadTranscript(string path)
        {
            string full;
            try
            {
                full = SessionState.Path.GetResolvedProviderPathFromPSPath(path, out ProviderInfo provider) is { Count: 1 } paths && provider.Name == "FileSystem"
                    ? paths[0]
                    : throw new ItemNotFoundException($"'{path}' is not one file.");
            }
            catch (Exception e) when (e is ItemNotFoundException || e is NotSupportedException || e is ProviderNotFoundException || e is DriveNotFoundException)
            {
                ThrowQfexError(new QfexException(ErrorIds.TranscriptInvalid, ErrorCategory.InvalidData, $"Cannot replay '{path}': {e.Message}", e), path);
                throw;
            }

            QfexTestServerReplay replay;
            try
            {
                replay = QfexTestServerReplay.Load(full, paced: !NoPacing);
            }
            catch (System.IO.InvalidDataException e)
            {
                ThrowQfexError(new QfexException(ErrorIds.TranscriptInvalid, ErrorCategory.InvalidData,
                    $"Cannot replay {e.Message} Nothing is served.", e), full);
                throw;
            }
            catch (Exception e) when (e is System.IO.IOException || e is UnauthorizedAccessException || e is System.Security.SecurityException)
            {
                ThrowQfexError(new QfexException(ErrorIds.TranscriptInvalid, ErrorCategory.InvalidData, $"Cannot read the transcript {full}: {e.Message}", e), full);
                throw;
            }
            foreach (string warning in replay.Warnings) WriteWarning(warning);
            return replay;
        }
    }

    /// <summary>Stop-QfexTestServer: stops the given servers, or every one started in this runspace.</summary>
    [Cmdlet(VerbsLifecycle.Stop, "QfexTestServer")]
    public sealed class StopQfexTestServerCommand : QfexCmdlet
    {
        [Parameter(Position = 0, ValueFromPipeline = true)]
        [ValidateNotNull]
        public QfexTestServer[]? Server { get; set; }

        private bool _any;

        protected override void ProcessRecord()
        {
            if (Server == null) return;
            _any = true;
            foreach (QfexTestServer server in Server)
            {
                server.Stop();
                TestServers.Remove(server);
            }
        }

        protected override void EndProcessing()
        {
            if (_any || MyInvocation.ExpectingInput) return;
            foreach (QfexTestServer server in TestServers.TakeAll())
                server.Stop();
        }
    }

    /// <summary>
    /// The test servers started in each runspace, so Stop-QfexTestServer alone can stop them; they stop when
    /// that runspace closes or the module is removed from it.
    /// </summary>
    internal static class TestServers
    {
        private static readonly ConditionalWeakTable<Runspace, List<QfexTestServer>> ByRunspace = new ConditionalWeakTable<Runspace, List<QfexTestServer>>();

        private static List<QfexTestServer>? Current(bool create)
        {
            Runspace? runspace = Runspace.DefaultRunspace;
            if (runspace == null) return null;
            if (!create) return ByRunspace.TryGetValue(runspace, out List<QfexTestServer>? list) ? list : null;
            return ByRunspace.GetValue(runspace, r =>
            {
                r.StateChanged += OnRunspaceStateChanged;
                return new List<QfexTestServer>();
            });
        }

        internal static void Add(QfexTestServer server)
        {
            List<QfexTestServer>? list = Current(create: true);
            if (list == null) return;
            lock (list) list.Add(server);
        }

        internal static void Remove(QfexTestServer server)
        {
            List<QfexTestServer>? list = Current(create: false);
            if (list == null) return;
            lock (list) list.Remove(server);
        }

        internal static QfexTestServer[] TakeAll() => TakeAll(Current(create: false));

        /// <summary>Stops every test server of the calling runspace (the module is being removed from it).</summary>
        internal static void StopCurrent()
        {
            foreach (QfexTestServer server in TakeAll()) server.Stop();
        }

        private static QfexTestServer[] TakeAll(List<QfexTestServer>? list)
        {
            if (list == null) return Array.Empty<QfexTestServer>();
            lock (list)
            {
                QfexTestServer[] all = list.ToArray();
                list.Clear();
                return all;
            }
        }

        private static void OnRunspaceStateChanged(object? sender, RunspaceStateEventArgs e)
        {
            RunspaceState state = e.RunspaceStateInfo.State;
            if ((state != RunspaceState.Closing && state != RunspaceState.Closed && state != RunspaceState.Broken) || !(sender is Runspace runspace)) return;
            runspace.StateChanged -= OnRunspaceStateChanged;
            if (ByRunspace.TryGetValue(runspace, out List<QfexTestServer>? list))
                foreach (QfexTestServer server in TakeAll(list)) server.Stop();
        }
    }
}
