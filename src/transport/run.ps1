# patchwave: run one command on a Windows host reached over SSH. The
# command comes as data, never as script text: the first line of stdin is
# JSON {program, commandLine, env, stdin (base64 or null), timeoutMs}. The
# command's output is passed through; the exit code is the command's, or
# 124 when it ran out of time (it is then stopped).
$ErrorActionPreference = 'Stop'
try {
    # UTF-8, whatever the console's code page: patchwave writes JSON as UTF-8.
    $reader = New-Object System.IO.StreamReader ([Console]::OpenStandardInput()), (New-Object System.Text.UTF8Encoding $false)
    $req = $reader.ReadLine() | ConvertFrom-Json
    foreach ($p in $req.env.PSObject.Properties) {
        [Environment]::SetEnvironmentVariable($p.Name, [string]$p.Value, 'Process')
    }
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = $req.program
    $psi.Arguments = $req.commandLine
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $proc = [System.Diagnostics.Process]::Start($psi)
    $out = $proc.StandardOutput.BaseStream.CopyToAsync([Console]::OpenStandardOutput())
    $err = $proc.StandardError.BaseStream.CopyToAsync([Console]::OpenStandardError())
    if ($req.stdin) {
        $bytes = [Convert]::FromBase64String($req.stdin)
        $proc.StandardInput.BaseStream.Write($bytes, 0, $bytes.Length)
    }
    $proc.StandardInput.Close()
    if (-not $proc.WaitForExit([int]$req.timeoutMs)) {
        $proc.Kill()
        exit 124
    }
    $out.Wait(); $err.Wait()
    exit $proc.ExitCode
} catch {
    [Console]::Error.WriteLine("patchwave run: $($_.Exception.Message)")
    exit 1
}
