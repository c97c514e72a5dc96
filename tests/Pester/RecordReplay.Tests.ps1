# Connect-Qfex -RecordPath in real pwsh: a process stopped in the middle of recording (kill, no cleanup at all)
# leaves a transcript whose every whole line is JSON, and Start-QfexTestServer -Replay either serves it (with a
# warning that it has no end line) or names its one incomplete last line. Run with: pwsh ./build.ps1 -Task Test

BeforeAll {
    $manifest = if ($env:QFEX_MODULE_MANIFEST) { $env:QFEX_MODULE_MANIFEST } else { "$PSScriptRoot/../../out/Qfex/Qfex.psd1" }
    $script:manifest = (Resolve-Path -LiteralPath $manifest).ProviderPath
    Import-Module -Name $script:manifest -Force

    # A new pwsh like this one (as build.ps1 starts one): the pwsh executable, or pwsh.dll under dotnet.
    $current = [System.Environment]::ProcessPath
    $script:pwsh = @(
        if ([System.IO.Path]::GetFileNameWithoutExtension($current) -eq 'pwsh') { $current }
        elseif (Test-Path -LiteralPath (Join-Path $PSHOME 'pwsh') -PathType Leaf) { Join-Path $PSHOME 'pwsh' }
        elseif (Test-Path -LiteralPath (Join-Path $PSHOME 'pwsh.exe') -PathType Leaf) { Join-Path $PSHOME 'pwsh.exe' }
        else { $current; Join-Path $PSHOME 'pwsh.dll' }
    )
}

Describe 'A recording process that is killed' {
    BeforeAll {
        $script:transcript = Join-Path $TestDrive 'killed.jsonl'
        $script:child = Join-Path $TestDrive 'record-forever.ps1'
        # Records a session that receives frames as fast as the fake exchange can push them, until killed.
        Set-Content -LiteralPath $child -Value @'
param([string] $Manifest, [string] $Path)
$ErrorActionPreference = 'Stop'
Import-Module -Name $Manifest
$server = Start-QfexTestServer
$null = Connect-Qfex -Uri $server.Uri -Credential $server.Credential -RecordPath $Path -ReceiveBufferCapacity 1000000
while ($true) {
    $null = $server.Faults.Flood('{"type":"tick","price":200.5,"note":"a frame long enough that a write may be cut in the middle of one"}', 500)
    $null = Receive-QfexFrame
}
'@
        $arguments = @($pwsh | Select-Object -Skip 1) + @('-NoLogo', '-NoProfile', '-NonInteractive', '-File', $child, '-Manifest', $manifest, '-Path', $transcript)
        $process = Start-Process -FilePath $pwsh[0] -ArgumentList $arguments -PassThru -RedirectStandardOutput (Join-Path $TestDrive 'out.txt') -RedirectStandardError (Join-Path $TestDrive 'err.txt')
        try {
            $deadline = [datetime]::UtcNow.AddSeconds(60)
            while ((-not (Test-Path -LiteralPath $transcript) -or (Get-Item -LiteralPath $transcript).Length -lt 200KB) -and [datetime]::UtcNow -lt $deadline -and -not $process.HasExited) {
                Start-Sleep -Milliseconds 50
            }
        }
        finally {
            # Killed outright: no Disconnect-Qfex, no end line, no flush.
            if (-not $process.HasExited) { $process.Kill() }
            $process.WaitForExit()
        }
        $script:bytes = [System.IO.File]::ReadAllBytes($transcript)
        $script:text = [System.Text.Encoding]::UTF8.GetString($bytes)
        $script:wholeLines = @($text.Substring(0, $text.LastIndexOf("`n") + 1).Split("`n") | Where-Object { $_ })
    }

    It 'recorded for a while before it was killed' {
        $bytes.Length | Should -BeGreaterThan 200KB -Because "the child should have recorded (its errors: $(Get-Content -Raw -LiteralPath (Join-Path $TestDrive 'err.txt')))"
    }

    It 'left a file whose every whole line is a JSON object' {
        $wholeLines.Count | Should -BeGreaterThan 100
        $broken = @(foreach ($line in $wholeLines) {
                try { [System.Text.Json.JsonDocument]::Parse($line).Dispose() } catch { $line.Substring(0, [math]::Min(80, $line.Length)) }
            })
        $broken | Should -BeNullOrEmpty -Because 'every line that ends with a newline is whole'
        $wholeLines[-1] | Should -Not -BeLike '{"kind":"end"*' -Because 'killed, it never wrote its end line'

        ($wholeLines[0] | ConvertFrom-Json).format | Should -Be 'qfex-transcript'
    }

    It 'is served up to its last line, or refused naming its incomplete last line' {
        $lastLine = ($text.TrimEnd("`n").Split("`n")).Count
        try {
            $server = Start-QfexTestServer -Replay $transcript -WarningVariable warnings -WarningAction SilentlyContinue
            Stop-QfexTestServer -Server $server
            $text.EndsWith("`n") | Should -BeTrue -Because 'a transcript cut inside a line is not served'
            $warnings -join ' ' | Should -BeLike '*no end line*'
        }
        catch {
            $_.FullyQualifiedErrorId | Should -BeLike 'QfexTranscriptInvalid,*'
            $_.Exception.Message | Should -BeLike "*line $($lastLine): the line is incomplete*"
        }
    }
}
