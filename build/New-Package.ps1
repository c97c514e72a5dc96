<#
.SYNOPSIS
    Makes a PSGallery-ready package of the built module in a local file repository. Run by build.ps1.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModuleDirectory,
    [Parameter(Mandatory)] [string] $RepositoryDirectory
)

$ErrorActionPreference = 'Stop'
throw "Not implemented yet: package $ModuleDirectory into $RepositoryDirectory."
