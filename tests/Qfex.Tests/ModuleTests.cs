using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Xunit;

namespace Qfex.Tests
{
    public class ModuleTests
    {
        internal static readonly string[] Cmdlets =
        {
            "Close-QfexPosition", "Connect-Qfex", "Disconnect-Qfex", "Get-QfexErrorAdvice", "Get-QfexLeverage",
            "Get-QfexOrder", "Get-QfexSession", "Get-QfexTrade", "New-QfexErrorRecord", "New-QfexFrame",
            "New-QfexOrder", "New-QfexTestSession", "Receive-QfexFrame", "Send-QfexMessage", "Set-QfexLeverage",
            "Set-QfexOrder", "Start-QfexTestServer", "Stop-QfexOrder", "Stop-QfexTestServer", "Wait-QfexSession",
        };

        [Fact]
        public void ImportsTheBuiltModuleFolderAndExportsExactlyTheContractCmdlets()
        {
            using var ps = new PowerShellHost();
            var result = ps.Run("$m = Get-Module Qfex; $m.ModuleBase; [string[]]$m.ExportedCmdlets.Keys").ThrowOnError();
            Assert.Equal(Path.GetDirectoryName(PowerShellHost.ModuleManifest), result.Output[0].ToString());
            var exported = result.Output.Skip(1).Select(o => o.ToString()).OrderBy(n => n, StringComparer.Ordinal).ToArray();
            Assert.Equal(Cmdlets, exported);
        }

        [Fact]
        public void ManifestPassesTestModuleManifestAndDeclaresBothEditions()
        {
            using var ps = new PowerShellHost(importModule: false);
            var result = ps.Run(@"
                $m = Test-ModuleManifest -Path $args[0] -ErrorAction Stop
                $m.Version.ToString()
                $m.PowerShellVersion.ToString()
                [string[]]$m.CompatiblePSEditions -join ','
                [string[]]$m.ExportedCmdlets.Keys -join ','
                $m.PrivateData.PSData.Tags.Count -gt 0
                [bool]$m.PrivateData.PSData.ProjectUri
                [bool]$m.PrivateData.PSData.LicenseUri
                [bool]$m.PrivateData.PSData.ReleaseNotes
            ", PowerShellHost.ModuleManifest).ThrowOnError();
            Assert.Equal("0.1.0", result.Output[0].ToString());
            Assert.Equal("5.1", result.Output[1].ToString());
            Assert.Equal("Desktop,Core", result.Output[2].ToString());
            Assert.Equal(string.Join(",", Cmdlets), string.Join(",", result.Output[3].ToString()!.Split(',').OrderBy(n => n, StringComparer.Ordinal)));
            Assert.All(result.Output.Skip(4), o => Assert.True((bool)o.BaseObject));
        }

        [Fact]
        public void ThisBuildImportsTheFolderOfItsOwnConfigurationAndItsAssembliesMatchIt()
        {
            // A plain `dotnet test` (no -c) once laid its Debug assemblies into out/Qfex, the Release folder
            // build.ps1 and the benchmark use: Directory.Build.props is read before the SDK defaults
            // Configuration, so the folder was out//Qfex.
            string configuration = typeof(ModuleTests).Assembly
                .GetCustomAttributes(typeof(System.Reflection.AssemblyConfigurationAttribute), false)
                .Cast<System.Reflection.AssemblyConfigurationAttribute>().Single().Configuration;
            string dir = Path.GetDirectoryName(PowerShellHost.ModuleManifest)!.Replace('\\', '/');
            string expected = configuration == "Release" ? "/out/Qfex" : "/out/" + configuration + "/Qfex";
            Assert.EndsWith(expected, dir, StringComparison.Ordinal);

            bool testsOptimized = !IsBuiltWithoutOptimizations(typeof(ModuleTests).Assembly.Location);
            foreach (string name in new[] { "Qfex.dll", "Qfex.Core.dll", "Qfex.Protocol.dll", "Qfex.TestServer.dll" })
                Assert.True(testsOptimized == !IsBuiltWithoutOptimizations(Path.Combine(dir, name)),
                    name + " in " + dir + " was not built as " + configuration + " (optimizations " + (testsOptimized ? "on" : "off") + ")");
        }

        private static bool IsBuiltWithoutOptimizations(string path)
        {
            using var stream = File.OpenRead(path);
            using var pe = new PEReader(stream);
            var metadata = pe.GetMetadataReader();
            foreach (var handle in metadata.GetAssemblyDefinition().GetCustomAttributes())
            {
                var attribute = metadata.GetCustomAttribute(handle);
                if (attribute.Constructor.Kind != HandleKind.MemberReference) continue;
                var constructor = metadata.GetMemberReference((MemberReferenceHandle)attribute.Constructor);
                if (constructor.Parent.Kind != HandleKind.TypeReference) continue;
                var type = metadata.GetTypeReference((TypeReferenceHandle)constructor.Parent);
                if (metadata.GetString(type.Name) != "DebuggableAttribute") continue;
                // DebuggableAttribute(DebuggingModes): a 2-byte prolog, then the int32 modes.
                var blob = metadata.GetBlobReader(attribute.Value);
                blob.ReadUInt16();
                const int DisableOptimizations = 0x100;
                return (blob.ReadInt32() & DisableOptimizations) != 0;
            }
            return false;
        }

        [Fact]
        public void OutFolderHoldsTheModuleAndItsRuntimeDependenciesButNoEngineAssembly()
        {
            string dir = Path.GetDirectoryName(PowerShellHost.ModuleManifest)!;
            foreach (string file in new[] { "Qfex.psd1", "Qfex.dll", "Qfex.format.ps1xml", "System.Text.Json.dll", "System.Memory.dll" })
                Assert.True(File.Exists(Path.Combine(dir, file)), file + " is missing from out/Qfex");
            Assert.False(File.Exists(Path.Combine(dir, "System.Management.Automation.dll")));
            // Pinned to 8.0.x: PowerShell 7.4 ships that assembly version and cannot load a higher one.
            Assert.Equal(new Version(8, 0, 0, 0), System.Reflection.AssemblyName.GetAssemblyName(Path.Combine(dir, "System.Text.Json.dll")).Version);
        }
    
        [Theory]
        [InlineData("Send-QfexMessage -Type add_", "add_order", "add_twap")]
        [InlineData("Send-QfexMessage -Type get_user_", "get_user_orders", "get_user_trades")]
        [InlineData("Get-QfexErrorAdvice -Code Rate", "RateLimited", null)]
        [InlineData("Get-QfexErrorAdvice FAILED_", "FAILED_MARGIN_CHECK", null)]
        [InlineData("New-QfexErrorRecord -Code Kyc", "KycRequired", null)]
        [InlineData("Connect-Qfex -Subscribe order_", "order_responses", null)]
        [InlineData("Connect-Qfex -Endpoint Mar", "MarketData", null)]
        [InlineData("Connect-Qfex -Environment U", "Uat", null)]
        public void TabCompletionOffersTheCatalogAndTheCodeTable(string line, string expected, string? alsoExpected)
        {
            using var ps = new PowerShellHost();
            var result = ps.Run("[System.Management.Automation.CommandCompletion]::CompleteInput($args[0], $args[0].Length, $null).CompletionMatches | ForEach-Object { $_.CompletionText }", line).ThrowOnError();
            var offered = result.Output.Select(o => o.ToString()!.Trim('\'')).ToArray();
            Assert.Contains(expected, offered);
            if (alsoExpected != null) Assert.Contains(alsoExpected, offered);
        }

        [Fact]
        public void GetHelpAnswersForCmdletsAndTheAboutTopic()
        {
            using var ps = new PowerShellHost();
            var result = ps.Run(@"
                (Get-Help Send-QfexMessage).Syntax | ForEach-Object { $_.syntaxItem.Count }
                (Get-Help about_Qfex | ForEach-Object { $_.ToString() }) -join ''").ThrowOnError();
            Assert.True(Convert.ToInt32(result.Value(0)) >= 2);
            Assert.Contains("RateLimited", result.Output[1].ToString());
        }
    
        [Fact]
        public void FormatFileLoadsAndHasViewsForFramesSessionsAdviceAndExceptions()
        {
            string path = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(PowerShellHost.ModuleManifest)!, "Qfex.format.ps1xml");
            // The engine's own loader: it throws on anything it would refuse at Import-Module.
            _ = new System.Management.Automation.Runspaces.FormatTable(new[] { path });
            var xml = System.Xml.Linq.XDocument.Load(path);
            var selected = xml.Descendants("TypeName").Select(e => e.Value).ToHashSet();
            foreach (string type in new[] { "Qfex.QfexFrame", "Qfex.QfexSession", "Qfex.QfexErrorAdvice", "Qfex.QfexTestServer",
                         "Qfex.QfexServerErrorException", "Qfex.QfexOrderRejectedException", "Qfex.QfexException" })
                Assert.Contains(type, selected);
            Assert.Contains(xml.Descendants("View"), v => v.Element("Name")!.Value == "Qfex.QfexServerErrorException" && v.Element("ListControl") != null);
        }
    }
}
