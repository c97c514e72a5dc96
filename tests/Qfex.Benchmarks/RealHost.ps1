<#
.SYNOPSIS
    The benchmark's child process in real pwsh (the P lines of tests/Qfex.Benchmarks): imports the module,
    then answers requests, one JSON object a line on stdin, with "@qfex-bench <json>" lines on stdout.

.DESCRIPTION
    Started by the harness (RealHost.cs), never by hand. Each request runs one script block and times it
    here, in this process, so the pipe between the two processes is never inside a figure:

        {"op":"run","script":"...","args":[...],"go":true,"stats":true}
            Runs the script (compiled once per distinct text) with the arguments as $args and answers with
            its output, its wall time (Stopwatch), this process's CPU time, bytes allocated, collections,
            methods JIT-compiled meanwhile and what $Error holds afterwards. With "go", the clock starts,
            then "@qfex-bench-go" is written, then the script runs: the harness starts its flood when it
            reads that line, so the frames can only arrive after the clock started. With "stats", the
            default session's counters follow.
        {"op":"quiesce"}   waits (at most 10 s) until the JIT has compiled almost nothing for 200 ms.
        {"op":"settle"}    full blocking collections, pending finalizers, 100 ms.
        {"op":"exit"}      ends the process (as does the end of stdin).

    Anything else this process writes to stdout (a warning of the module, say) is not a protocol line:
    the harness keeps it for its report and ignores it otherwise.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModuleManifest
)

Import-Module -Name $ModuleManifest -ErrorAction Stop
# What the host writes outside the protocol (a warning, say) is kept by the harness as text: no escape codes.
$PSStyle.OutputRendering = 'PlainText'

$compiled = @{}

function Write-Answer {
    param([Parameter(Mandatory)] [System.Collections.IDictionary] $Answer)
    [Console]::Out.WriteLine('@qfex-bench ' + (ConvertTo-Json -InputObject $Answer -Compress -Depth 5))
}

function Get-ProcessCpu {
    [System.Diagnostics.Process]::GetCurrentProcess().TotalProcessorTime.TotalMilliseconds
}

function Invoke-Run {
    param([Parameter(Mandatory)] $Request)
    $block = $compiled[$Request.script]
    if (-not $block) {
        $block = [scriptblock]::Create($Request.script)
        $compiled[$Request.script] = $block
    }
    $arguments = @($Request.args)
    $Error.Clear()
    $cpu = Get-ProcessCpu
    $allocated = [GC]::GetTotalAllocatedBytes($false)
    $gen0 = [GC]::CollectionCount(0); $gen1 = [GC]::CollectionCount(1); $gen2 = [GC]::CollectionCount(2)
    $jit = [System.Runtime.JitInfo]::GetCompiledMethodCount($false)
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    if ($Request.go) { [Console]::Out.WriteLine('@qfex-bench-go') }
    $output = @(& $block @arguments)
    $ms = $clock.Elapsed.TotalMilliseconds
    $jit = [System.Runtime.JitInfo]::GetCompiledMethodCount($false) - $jit
    $answer = [ordered]@{
        ok        = $true
        ms        = $ms
        cpu_ms    = (Get-ProcessCpu) - $cpu
        allocated = [GC]::GetTotalAllocatedBytes($false) - $allocated
        gen0      = [GC]::CollectionCount(0) - $gen0
        gen1      = [GC]::CollectionCount(1) - $gen1
        gen2      = [GC]::CollectionCount(2) - $gen2
        jit       = $jit
        errors    = $Error.Count
        # The most recent error, as the hosted lines see the first of their error stream.
        last_error = if ($Error.Count -gt 0) { '{0}: {1}' -f $Error[0].FullyQualifiedErrorId, $Error[0] } else { $null }
        output    = $output
    }
    if ($Request.stats) {
        $session = Get-QfexSession -Default -ErrorAction SilentlyContinue
        if ($session) {
            $answer.received = $session.FramesReceived
            $answer.pending = $session.FramesPending
            $answer.reconnects = $session.Reconnects
            $answer.state = [string]$session.State
        }
    }
    Write-Answer -Answer $answer
}

function Wait-JitQuiet {
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $before = [System.Runtime.JitInfo]::GetCompiledMethodCount($false)
    while ($clock.Elapsed.TotalSeconds -lt 10) {
        [System.Threading.Thread]::Sleep(200)
        $now = [System.Runtime.JitInfo]::GetCompiledMethodCount($false)
        if ($now - $before -lt 5) { break }
        $before = $now
    }
    Write-Answer -Answer ([ordered]@{ ok = $true; ms = $clock.Elapsed.TotalMilliseconds })
}

function Clear-Heap {
    [GC]::Collect(2, [GCCollectionMode]::Forced, $true, $true)
    [GC]::WaitForPendingFinalizers()
    [GC]::Collect(2, [GCCollectionMode]::Forced, $true, $true)
    [System.Threading.Thread]::Sleep(100)
    Write-Answer -Answer ([ordered]@{ ok = $true })
}

Write-Answer -Answer ([ordered]@{
        ok      = $true
        ready   = $true
        version = $PSVersionTable.PSVersion.ToString()
        pshome  = $PSHOME
        process = [System.Environment]::ProcessPath
        runtime = [System.Runtime.InteropServices.RuntimeInformation]::FrameworkDescription
        gc      = if ([System.Runtime.GCSettings]::IsServerGC) { 'server' } else { 'workstation' }
        qfex    = (Get-Module -Name Qfex).Version.ToString()
    })

while ($null -ne ($line = [Console]::In.ReadLine())) {
    if ($line.Length -eq 0) { continue }
    try {
        $request = ConvertFrom-Json -InputObject $line
        switch ($request.op) {
            'run' { Invoke-Run -Request $request }
            'quiesce' { Wait-JitQuiet }
            'settle' { Clear-Heap }
            'exit' { return }
            default { Write-Answer -Answer ([ordered]@{ ok = $false; error = "Unknown op '$($request.op)'." }) }
        }
    }
    catch {
        Write-Answer -Answer ([ordered]@{ ok = $false; error = '{0}: {1}' -f $_.FullyQualifiedErrorId, $_ })
    }
}
