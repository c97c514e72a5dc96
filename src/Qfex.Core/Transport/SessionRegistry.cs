using System.Collections.Generic;
using System.Linq;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;

namespace Qfex.Transport
{
    /// <summary>
    /// Open sessions, kept per runspace with a default (the newest), so that ForEach-Object -Parallel
    /// and thread jobs never share a session by accident; a session object may still be passed to them.
    /// </summary>
    internal static class SessionRegistry
    {
        private sealed class RunspaceSessions
        {
            internal readonly List<QfexSession> Sessions = new List<QfexSession>();
            internal QfexSession? Default;
        }

        private static readonly ConditionalWeakTable<Runspace, RunspaceSessions> ByRunspace = new ConditionalWeakTable<Runspace, RunspaceSessions>();
        private static readonly ConditionalWeakTable<QfexSession, RunspaceSessions> Owner = new ConditionalWeakTable<QfexSession, RunspaceSessions>();
        private static readonly object Gate = new object();

        /// <summary>The runspace of the calling pipeline thread.</summary>
        private static RunspaceSessions? Current(bool create)
        {
            Runspace? runspace = Runspace.DefaultRunspace;
            if (runspace == null) return null;
            if (create) return ByRunspace.GetValue(runspace, _ => new RunspaceSessions());
            return ByRunspace.TryGetValue(runspace, out RunspaceSessions? sessions) ? sessions : null;
        }

        internal static void Add(QfexSession session)
        {
            lock (Gate)
            {
                RunspaceSessions? sessions = Current(create: true);
                if (sessions == null) return;
                sessions.Sessions.Add(session);
                sessions.Default = session;
                Owner.Add(session, sessions);
            }
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
                lock (Gate) return Current(create: false)?.Sessions.ToArray() ?? new QfexSession[0];
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
    }
}
