<#
.SYNOPSIS
    Makes a PSGallery-ready package of the built module in a local file repository. Run by build.ps1
    (Package task) in a child pwsh, and by tests/Pester/Package.Tests.ps1.

.DESCRIPTION
    1. Checks the module folder: Test-ModuleManifest without error or warning, the gallery metadata in
       PrivateData.PSData (Tags, ProjectUri, LicenseUri, ReleaseNotes), and the MAML help
       en-US/Qfex.dll-Help.xml.
    2. Copies the folder to a staging folder named after the module (the package holds exactly the
       module the build laid out).
    3. Registers RepositoryDirectory as a trusted file repository under a unique name for the time of
       the publish only, publishes the staged module there with Publish-PSResource
       (Microsoft.PowerShell.PSResourceGet, shipped with PowerShell 7.4+), and unregisters it, also on
       failure: the user's registered repositories are left as they were. A package of the same
       version already in the folder is replaced.
    4. Checks that the .nupkg holds the manifest, the assembly, the format file and the help, and
       prints its path.

.PARAMETER ModuleDirectory
    The built module folder (out/Qfex), holding Qfex.psd1.

.PARAMETER RepositoryDirectory
    The local file repository to publish into (created when missing), such as out/repository.

.PARAMETER AllowMissingHelp
    Packages a module folder that has no MAML help (a test run where platyPS is absent), saying so. The
    Package task never uses it: a gallery package without help is not ready.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModuleDirectory,
    [Parameter(Mandatory)] [string] $RepositoryDirectory,
    [switch] $AllowMissingHelp
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version Latest
Import-Module -Name Microsoft.PowerShell.PSResourceGet
Add-Type -AssemblyName System.IO.Compression.FileSystem

$moduleName = 'Qfex'
$helpFile = 'en-US/Qfex.dll-Help.xml'

# 1. The module folder.
if (-not (Test-Path -LiteralPath $ModuleDirectory -PathType Container)) {
    throw "No module folder at $ModuleDirectory (run the Build task first)."
}
$ModuleDirectory = (Resolve-Path -LiteralPath $ModuleDirectory).ProviderPath
$manifestPath = Join-Path $ModuleDirectory "$moduleName.psd1"
if (-not (Test-Path -LiteralPath $manifestPath -PathType Leaf)) {
    throw "No module manifest at $manifestPath (run the Build task first)."
}
$manifestWarnings = @()
$manifest = Test-ModuleManifest -Path $manifestPath -WarningVariable manifestWarnings -WarningAction SilentlyContinue
if ($manifestWarnings.Count -gt 0) {
    throw "Test-ModuleManifest warns about ${manifestPath}: $($manifestWarnings -join ' ')"
}
$psData = (Import-PowerShellDataFile -LiteralPath $manifestPath).PrivateData.PSData
$missingMetadata = @('Tags', 'ProjectUri', 'LicenseUri', 'ReleaseNotes') | Where-Object { -not $psData[$_] }
if ($missingMetadata) {
    throw "The manifest lacks PrivateData.PSData $($missingMetadata -join ', '): the gallery needs them."
}
$hasHelp = Test-Path -LiteralPath (Join-Path $ModuleDirectory $helpFile) -PathType Leaf
if (-not $hasHelp) {
    if (-not $AllowMissingHelp) {
        throw "No MAML help at $(Join-Path $ModuleDirectory $helpFile): build it with platyPS v2 (build.ps1 -Task Docs)."
    }
    Write-Output "No MAML help in $ModuleDirectory (-AllowMissingHelp): the package goes without $helpFile."
}
$version = $manifest.Version.ToString()

# 2. A staging copy named after the module.
$staging = Join-Path ([System.IO.Path]::GetTempPath()) ('QfexPackage-' + [guid]::NewGuid().ToString('N'))
$stagedModule = Join-Path $staging $moduleName
$null = New-Item -ItemType Directory -Path $stagedModule -Force

# 3. Publish into the folder, registered for this publish only.
$null = New-Item -ItemType Directory -Path $RepositoryDirectory -Force
$RepositoryDirectory = (Resolve-Path -LiteralPath $RepositoryDirectory).ProviderPath
$package = Join-Path $RepositoryDirectory "$moduleName.$version.nupkg"
$repositoryName = 'QfexBuild-' + [guid]::NewGuid().ToString('N')
$registered = $false
try {
    Copy-Item -Path (Join-Path $ModuleDirectory '*') -Destination $stagedModule -Recurse -Force
    if (Test-Path -LiteralPath $package) { Remove-Item -LiteralPath $package -Force }
    Register-PSResourceRepository -Name $repositoryName -Uri $RepositoryDirectory -Trusted
    $registered = $true
    Publish-PSResource -Path $stagedModule -Repository $repositoryName
}
finally {
    if ($registered) { Unregister-PSResourceRepository -Name $repositoryName }
    Remove-Item -LiteralPath $staging -Recurse -Force -ErrorAction SilentlyContinue
}

# 4. What the package holds.
if (-not (Test-Path -LiteralPath $package -PathType Leaf)) {
    throw "Publish-PSResource wrote no $package."
}
$zip = [System.IO.Compression.ZipFile]::OpenRead($package)
try {
    $entries = @($zip.Entries | ForEach-Object { [System.Uri]::UnescapeDataString($_.FullName) })
}
finally {
    $zip.Dispose()
}
$required = @("$moduleName.psd1", "$moduleName.dll", "$moduleName.format.ps1xml", "$moduleName.nuspec")
if ($hasHelp) { $required += $helpFile }
$absent = @($required | Where-Object { $_ -notin $entries })
if ($absent.Count -gt 0) {
    throw "$package lacks $($absent -join ', ') (it holds: $($entries -join ', '))."
}
Write-Output ('Packaged {0} {1}: {2} ({3} files{4})' -f $moduleName, $version, $package, $entries.Count,
    $(if ($hasHelp) { ", with $helpFile" } else { ', without help' }))
