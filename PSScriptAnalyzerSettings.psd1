# PSScriptAnalyzer settings for every script in this repository (build.ps1 -Task Test runs the analyzer
# with them; any finding fails the task). Severity Warning and above. A rule is excluded only with its
# reason written here.
@{
    Severity     = @('Error', 'Warning')
    ExcludeRules = @()
}
