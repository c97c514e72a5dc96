using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;

namespace Qfex.Commands
{
    /// <summary>
    /// How New-QfexErrorRecord gives a record what the engine gives the records a cmdlet writes. The engine sets
    /// an ErrorRecord's InvocationInfo, and with it the ",Qfex.Commands.SendQfexMessageCommand" end of its
    /// FullyQualifiedErrorId, its CategoryInfo.Activity ("Send-QfexMessage") and its script stack trace, only
    /// when a cmdlet writes the record (ErrorRecord.SetInvocationInfo is not public). So the record is written
    /// by a real invocation of that cmdlet, called by its CmdletInfo (a Pester mock of the same name, which is
    /// a function, is not involved), in a nested pipeline on this thread, with no input. That invocation writes
    /// the record in BeginProcessing (<see cref="QfexCmdlet"/>) and does nothing else.
    /// </summary>
    internal static class RecordReplay
    {
        /// <summary>The cmdlets New-QfexErrorRecord -CommandName can name: each returns at once when <see cref="QfexCmdlet.Replaying"/>.</summary>
        internal static readonly IReadOnlyDictionary<string, Type> Emitters = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase)
        {
            ["Send-QfexMessage"] = typeof(SendQfexMessageCommand),
            ["Receive-QfexFrame"] = typeof(ReceiveQfexFrameCommand),
            ["Connect-Qfex"] = typeof(ConnectQfexCommand),
            ["Get-QfexSession"] = typeof(GetQfexSessionCommand),
            ["Start-QfexTestServer"] = typeof(StartQfexTestServerCommand),
        };

        [ThreadStatic] private static ErrorRecord? t_record;
        [ThreadStatic] private static Type? t_emitter;

        /// <summary>Called by every Qfex cmdlet's BeginProcessing: the record to write, when this invocation is a replay.</summary>
        internal static ErrorRecord? Take(Type cmdletType)
        {
            if (t_record == null || t_emitter != cmdletType) return null;
            ErrorRecord record = t_record;
            t_record = null;
            t_emitter = null;
            return record;
        }

        /// <summary>
        /// Has <paramref name="caller"/>'s runspace write <paramref name="record"/> from the cmdlet named
        /// <paramref name="commandName"/>; returns false (the record unchanged) when that could not be done.
        /// </summary>
        internal static bool TryWriteFrom(PSCmdlet caller, string commandName, ErrorRecord record)
        {
            Type emitter = Emitters[commandName];
            CmdletInfo? cmdlet = null;
            if (caller.MyInvocation.MyCommand.Module?.ExportedCmdlets.TryGetValue(commandName, out CmdletInfo? exported) == true
                && exported.ImplementingType == emitter)
                cmdlet = exported;
            cmdlet ??= caller.InvokeCommand.GetCmdlet(commandName);
            if (cmdlet == null || cmdlet.ImplementingType != emitter)
                cmdlet = new CmdletInfo(commandName, emitter);

            using PowerShell ps = PowerShell.Create(RunspaceMode.CurrentRunspace);
            // Continue: the record is collected here, never raised, whatever $ErrorActionPreference the caller has.
            ps.AddCommand(cmdlet).AddParameter("ErrorAction", ActionPreference.Continue);
            // Send-QfexMessage's default parameter set has a mandatory -Message: bind one of -Type's instead (never sent).
            if (emitter == typeof(SendQfexMessageCommand)) ps.AddParameter("Type", "qfex.error_record");
            t_record = record;
            t_emitter = emitter;
            try
            {
                ps.Invoke();
            }
            catch (RuntimeException)
            {
                return false;   // e.g. a $PSDefaultParameterValues entry the cmdlet cannot bind
            }
            finally
            {
                t_record = null;
                t_emitter = null;
            }

            bool written = false;
            foreach (ErrorRecord error in ps.Streams.Error)
                written |= ReferenceEquals(error, record);
            ForgetInDollarError(caller, record);
            return written;
        }

        /// <summary>The engine appended the record to $Error as it was written: it was made, not raised, so it goes again.</summary>
        private static void ForgetInDollarError(PSCmdlet caller, ErrorRecord record)
        {
            if (!(caller.SessionState.PSVariable.GetValue("global:Error") is ArrayList errors)) return;
            for (int i = errors.Count - 1; i >= 0; i--)
            {
                object? item = errors[i] is PSObject wrapped ? wrapped.BaseObject : errors[i];
                if (ReferenceEquals(item, record)) errors.RemoveAt(i);
            }
        }
    }
}
