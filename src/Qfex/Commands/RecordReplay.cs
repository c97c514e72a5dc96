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
            ["Wait-QfexSession"] = typeof(WaitQfexSessionCommand),
            ["New-QfexOrder"] = typeof(NewQfexOrderCommand),
            ["Get-QfexOrder"] = typeof(GetQfexOrderCommand),
            ["Set-QfexOrder"] = typeof(SetQfexOrderCommand),
            ["Stop-QfexOrder"] = typeof(StopQfexOrderCommand),
            ["Get-QfexTrade"] = typeof(GetQfexTradeCommand),
            ["Close-QfexPosition"] = typeof(CloseQfexPositionCommand),
            ["Get-QfexLeverage"] = typeof(GetQfexLeverageCommand),
            ["Set-QfexLeverage"] = typeof(SetQfexLeverageCommand),
        };

        /// <summary>The cmdlets New-QfexErrorRecord -CommandName names as the ones that send requests (a timeout or a drop is about one).</summary>
        internal static bool SendsRequests(string commandName) =>
            Emitters.TryGetValue(commandName, out Type? type) && (type == typeof(SendQfexMessageCommand) || typeof(QfexTradingCmdlet).IsAssignableFrom(type));

        /// <summary>
        /// What an emitter needs bound to run at all (its mandatory parameters), never used: the invocation writes the record
        /// in BeginProcessing and returns (Send-QfexMessage's default parameter set has a mandatory -Message: -Type's set instead).
        /// </summary>
        private static Hashtable ReplayArguments(Type emitter)
        {
            const string Placeholder = "qfex.error_record";
            var arguments = new Hashtable(StringComparer.OrdinalIgnoreCase);
            if (emitter == typeof(SendQfexMessageCommand)) arguments["Type"] = Placeholder;
            else if (emitter == typeof(NewQfexOrderCommand))
            {
                arguments["Symbol"] = Placeholder;
                arguments["Side"] = QfexSide.Buy;
                arguments["OrderType"] = QfexOrderType.Limit;
                arguments["Quantity"] = 1m;
            }
            else if (emitter == typeof(SetQfexOrderCommand))
            {
                arguments["OrderId"] = Placeholder;
                arguments["Symbol"] = Placeholder;
                arguments["Side"] = QfexSide.Buy;
                arguments["OrderType"] = QfexOrderType.Limit;
            }
            else if (emitter == typeof(StopQfexOrderCommand))
            {
                arguments["OrderId"] = Placeholder;
                arguments["Symbol"] = Placeholder;
            }
            else if (emitter == typeof(CloseQfexPositionCommand))
            {
                arguments["Symbol"] = Placeholder;
            }
            else if (emitter == typeof(SetQfexLeverageCommand))
            {
                arguments["Symbol"] = Placeholder;
                arguments["Leverage"] = 1m;
            }
            return arguments;
        }

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
            CmdletInfo cmdlet = Resolve(caller, commandName);
            Type emitter = cmdlet.ImplementingType;

            using PowerShell ps = PowerShell.Create(RunspaceMode.CurrentRunspace);
            // Continue: the record is collected here, never raised, whatever $ErrorActionPreference the caller has.
            ps.AddCommand(cmdlet).AddParameter("ErrorAction", ActionPreference.Continue);
            // Mandatory parameters get placeholders (never used: the invocation only writes the record).
            ps.AddParameters(ReplayArguments(emitter));
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

        /// <summary>
        /// Has the cmdlet named <paramref name="commandName"/> write <paramref name="record"/> into
        /// <paramref name="caller"/>'s own error pipe, as a non-terminating error it wrote itself: with the caller's
        /// error preference (so -ErrorAction Stop on a mocked command makes it terminating, as it would the real one),
        /// into $Error and -ErrorVariable. Returns false when that could not be done (nothing was written).
        /// </summary>
        internal static bool TryWriteInto(PSCmdlet caller, string commandName, ErrorRecord record)
        {
            CmdletInfo cmdlet = Resolve(caller, commandName);
            Hashtable parameters = ReplayArguments(cmdlet.ImplementingType);
            // -ErrorAction given to the caller applies to the record (a preference variable in scope applies by itself).
            if (caller.MyInvocation.BoundParameters.TryGetValue("ErrorAction", out object? errorAction)) parameters["ErrorAction"] = errorAction;
            // A steppable pipeline begun with the caller: the cmdlet's error pipe is the caller's (as in a proxy command),
            // so the record leaves as that cmdlet wrote it, into the caller's error stream and -ErrorVariable.
            SteppablePipeline pipeline = ScriptBlock.Create("param($command, $parameters) & $command @parameters")
                .GetSteppablePipeline(CommandOrigin.Internal, new object[] { cmdlet, parameters });
            t_record = record;
            t_emitter = cmdlet.ImplementingType;
            try
            {
                pipeline.Begin(caller);
                pipeline.End();
                return t_record == null;
            }
            catch (ParameterBindingException)
            {
                return false;   // e.g. a $PSDefaultParameterValues entry the cmdlet cannot bind
            }
            finally
            {
                t_record = null;
                t_emitter = null;
                pipeline.Dispose();
            }
        }

        private static CmdletInfo Resolve(PSCmdlet caller, string commandName)
        {
            Type emitter = Emitters[commandName];
            if (caller.MyInvocation.MyCommand.Module?.ExportedCmdlets.TryGetValue(commandName, out CmdletInfo? exported) == true
                && exported.ImplementingType == emitter)
                return exported;
            CmdletInfo? found = caller.InvokeCommand.GetCmdlet(commandName);
            return found != null && found.ImplementingType == emitter ? found : new CmdletInfo(commandName, emitter);
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
