using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;

namespace Qfex.Transport
{
    /// <summary>
    /// Open sessions, kept per runspace with a default (the newest), so that ForEach-Object -Parallel and
    /// thread jobs never share a session by accident; a session object may still be passed to them. A
    /// session belongs to the runspace that opened it: when that runspace closes (a thread job's, a
    /// -Parallel block's, Runspace.Dispose()), or the module is removed from it, its sessions close.
    /// </summary>
    internal static class SessionRegistry
    {
        private sealed class RunspaceSessions
        {
            internal RunspaceSessions(Runspace runspace) => Runspace = runspace;

            internal Runspace Runspace { get; }
            internal readonly List<QfexSession> Sessions = new List<QfexSession>();
            internal QfexSession? Default;
            internal bool Watched;
        }

        private static readonly ConditionalWeakTable<Runspace, RunspaceSessions> ByRunspace = new ConditionalWeakTable<Runspace, RunspaceSessions>();
        private static readonly ConditionalWeakTable<QfexSession, RunspaceSessions> Owner = new ConditionalWeakTable<QfexSession, RunspaceSessions>();
        private static readonly object Gate = new object();

        /// <summary>How long a session closed with its runspace waits for the close handshake.</summary>
        private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

        /// <summary>The runspace of the calling pipeline thread.</summary>
        private static RunspaceSessions? Current(bool create)
        {
            Runspace? runspace = Runspace.DefaultRunspace;
            if (runspace == null) return null;
            if (create) return ByRunspace.GetValue(runspace, r => new RunspaceSessions(r));
            return ByRunspace.TryGetValue(runspace, out RunspaceSessions? sessions) ? sessions : null;
        }

        /// <summary>Registers a new session with the calling runspace, as its default; it closes with that runspace.</summary>
        internal static void Add(QfexSession session)
        {
            RunspaceSessions? sessions;
            bool watch;
            lock (Gate)
            {
                sessions = Current(create: true);
                if (sessions == null) return;
                sessions.Sessions.Add(session);
                sessions.Default = session;
                Owner.Add(session, sessions);
                watch = !sessions.Watched;
                sessions.Watched = true;
            }
            if (watch) sessions.Runspace.StateChanged += OnRunspaceStateChanged;
        }

        internal static QfexSession? Default
        {
            get
            {
                lock (Gate) return Current(create: false)?.Default;
            }
        }

        internal static IReadOnlyList<QfexSession> All
        {
            get
            {
                lock (Gate) return Current(create: false)?.Sessions.ToArray() ?? Array.Empty<QfexSession>();
            }
        }

        /// <summary>Removes a disconnected session from the runspace it was opened in; the newest remaining becomes the default.</summary>
        internal static void Forget(QfexSession session)
        {
            lock (Gate)
            {
                if (!Owner.TryGetValue(session, out RunspaceSessions? sessions) || !sessions.Sessions.Remove(session)) return;
                if (sessions.Default == session)
                    sessions.Default = sessions.Sessions.Count > 0 ? sessions.Sessions[sessions.Sessions.Count - 1] : null;
            }
        }

        /// <summary>Closes every session of the calling runspace (the module is being removed from it); <paramref name="reason"/> says by what.</summary>
        internal static void CloseCurrent(string reason)
        {
            RunspaceSessions? sessions;
            lock (Gate) sessions = Current(create: false);
            if (sessions != null) CloseAll(sessions, reason);
        }

        private static void OnRunspaceStateChanged(object? sender, RunspaceStateEventArgs e)
        {
            RunspaceState state = e.RunspaceStateInfo.State;
            if (state != RunspaceState.Closing && state != RunspaceState.Closed && state != RunspaceState.Broken) return;
            if (!(sender is Runspace runspace)) return;
            runspace.StateChanged -= OnRunspaceStateChanged;
            RunspaceSessions? sessions;
            lock (Gate)
            {
                if (!ByRunspace.TryGetValue(runspace, out sessions)) return;
                sessions.Watched = false;
            }
            CloseAll(sessions, $"the closing of runspace {runspace.Id}, which opened it");
        }

        private static void CloseAll(RunspaceSessions sessions, string reason)
        {
            QfexSession[] all;
            lock (Gate)
            {
                all = sessions.Sessions.ToArray();
                sessions.Sessions.Clear();
                sessions.Default = null;
            }
            // Not awaited: the runspace (or the module) is going away; each close ends within its timeout.
            foreach (QfexSession session in all)
                _ = session.CloseAsync(reason, CloseTimeout);
        }
    }
}
