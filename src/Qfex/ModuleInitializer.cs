using System;
using System.IO;
using System.Management.Automation;
using System.Reflection;

namespace Qfex
{
    /// <summary>
    /// Windows PowerShell 5.1 (.NET Framework) has no binding redirects for a module's dependencies, so
    /// System.Text.Json's references to System.Memory and friends would fail to load. Resolve any
    /// assembly that sits beside Qfex.dll by name, whatever version was asked for. PowerShell 7 loads
    /// them itself (or uses its own, newer copies) and never reaches this handler for them.
    /// </summary>
    public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
    {
        private static readonly string ModuleDirectory = Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location) ?? string.Empty;

        public void OnImport()
        {
            if (!IsNetFramework) return;
            AppDomain.CurrentDomain.AssemblyResolve += ResolveBesideModule;
            // .NET Framework's ClientWebSocket handshakes through HttpWebRequest, whose default protocols
            // can leave out TLS 1.2 on older hosts; add it (nothing is taken away).
            System.Net.ServicePointManager.SecurityProtocol |= System.Net.SecurityProtocolType.Tls12;
        }

        public void OnRemove(PSModuleInfo psModuleInfo)
        {
            // Sessions and test servers belong to the runspace that opened them: removing the module from it
            // closes them (they would otherwise run on, unreachable).
            Transport.SessionRegistry.CloseCurrent("Remove-Module Qfex");
            Commands.TestServers.StopCurrent();
            if (IsNetFramework) AppDomain.CurrentDomain.AssemblyResolve -= ResolveBesideModule;
        }

        private static bool IsNetFramework => Transport.RuntimeInfo.IsNetFramework;

        private static Assembly? ResolveBesideModule(object? sender, ResolveEventArgs args)
        {
            string name = new AssemblyName(args.Name).Name ?? string.Empty;
            string path = Path.Combine(ModuleDirectory, name + ".dll");
            return File.Exists(path) ? Assembly.LoadFrom(path) : null;
        }
    }
}
