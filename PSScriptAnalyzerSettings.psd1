# PSScriptAnalyzer settings for every script in this repository (build.ps1 -Task Test runs the analyzer
# with them; any finding fails the task). Severity Warning and above. A rule is excluded only with its
# reason written here.
#
# No rule is excluded. Five test files suppress one rule for themselves only, each with its reason in a
# SuppressMessageAttribute at its top (a suppression hides its findings silently, so this list is kept
# by hand; `git grep SuppressMessageAttribute -- '*.ps1'` shows them):
#   PSUseDeclaredVarsMoreThanAssignments in examples/Invoke-Requote.Tests.ps1,
#   examples/Invoke-EndOfDayCleanup.Tests.ps1, examples/Submit-Order.Tests.ps1 and
#   tests/Pester/Trading.Tests.ps1: Pester shares the variables a BeforeAll block sets with the It blocks,
#   which the analyzer cannot see; and in tests/Pester/Docs.Examples.Tests.ps1: discovery data reaches the
#   tests through -ForEach, and the example's blocks run in a child pwsh.
@{
    Severity     = @('Error', 'Warning')
    ExcludeRules = @()
}
