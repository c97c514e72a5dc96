using System;

namespace Qfex.Transport
{
    /// <summary>Which runtime the module runs on: Windows PowerShell 5.1 (.NET Framework) needs a few extra steps.</summary>
    internal static class RuntimeInfo
    {
        internal static bool IsNetFramework { get; } =
            System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription.StartsWith(".NET Framework", StringComparison.Ordinal);
    }
}
