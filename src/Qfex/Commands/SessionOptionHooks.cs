using System;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using Qfex.Transport;

namespace Qfex.Commands
{
    /// <summary>
    /// For the unit tests only: adjusts the options of every session Connect-Qfex opens in one runspace (for
    /// example, receiving on Windows PowerShell's ArraySegment overload). Kept per runspace, so test classes
    /// running in parallel never change each other's sessions.
    /// </summary>
    internal static class SessionOptionHooks
    {
        private static readonly ConditionalWeakTable<Runspace, Action<SessionOptions>> ByRunspace = new ConditionalWeakTable<Runspace, Action<SessionOptions>>();

        internal static void Set(Runspace runspace, Action<SessionOptions> adjust)
        {
            ByRunspace.Remove(runspace);
            ByRunspace.Add(runspace, adjust);
        }

        internal static void Apply(SessionOptions options)
        {
            if (Runspace.DefaultRunspace is Runspace runspace && ByRunspace.TryGetValue(runspace, out Action<SessionOptions>? adjust))
                adjust(options);
        }
    }
}
