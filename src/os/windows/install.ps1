# patchwave: install exactly the Windows updates named in PATCHWAVE_KBS
# (comma-separated KB ids, checked by patchwave) and report each one as one
# JSON document on stdout. Never reboots. Windows refuses the update
# installer to remote logons, so the work runs as SYSTEM in a one-off
# scheduled task; its input and result travel as files in its own directory.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false
$work = @'
$ErrorActionPreference = 'Stop'
try {
    $wanted = @((Get-Content -Raw -Path 'kbs.txt').Trim() -split ',' | Where-Object { $_ -match '^KB\d+$' })
    $session = New-Object -ComObject Microsoft.Update.Session
    $result = $session.CreateUpdateSearcher().Search('IsInstalled=0 and IsHidden=0')
    $chosen = New-Object -ComObject Microsoft.Update.UpdateColl
    $index = @{}
    foreach ($u in $result.Updates) {
        $hits = @($u.KBArticleIDs | ForEach-Object { "KB$_" } | Where-Object { $wanted -contains $_ })
        if ($hits.Count -eq 0) { continue }
        if (-not $u.EulaAccepted) { $u.AcceptEula() }
        $at = $chosen.Add($u)
        foreach ($kb in $hits) { if (-not $index.ContainsKey($kb)) { $index[$kb] = @() }; $index[$kb] += $at }
    }
    $reboot = $false
    if ($chosen.Count -gt 0) {
        $downloader = $session.CreateUpdateDownloader(); $downloader.Updates = $chosen; [void]$downloader.Download()
        $installer = $session.CreateUpdateInstaller(); $installer.Updates = $chosen
        $outcome = $installer.Install(); $reboot = [bool]$outcome.RebootRequired
    }
    $codes = @{ 0 = 'notStarted'; 1 = 'inProgress'; 2 = 'succeeded'; 3 = 'succeededWithErrors'; 4 = 'failed'; 5 = 'aborted' }
    $results = @(foreach ($kb in $wanted) {
        if (-not $index.ContainsKey($kb)) { [ordered]@{ kb = $kb; result = 'notOffered'; hresult = '0x00000000'; rebootRequired = $false }; continue }
        $worst = $null
        foreach ($i in $index[$kb]) { $r = $outcome.GetUpdateResult($i); if ($null -eq $worst -or $r.ResultCode -gt $worst.ResultCode) { $worst = $r } }
        [ordered]@{ kb = $kb; result = $codes[[int]$worst.ResultCode]; hresult = ('0x{0:X8}' -f $worst.HResult); rebootRequired = [bool]$worst.RebootRequired }
    })
    $doc = [ordered]@{ version = 1; rebootRequired = $reboot; results = $results }
} catch {
    $doc = [ordered]@{ version = 1; rebootRequired = $false; results = @(); error = $_.Exception.Message }
}
Set-Content -Path 'result.tmp' -Value (ConvertTo-Json -InputObject $doc -Depth 4 -Compress) -Encoding UTF8
Move-Item -Force -Path 'result.tmp' -Destination 'result.json'
'@
$name = 'patchwave-install-' + [guid]::NewGuid().ToString('N')
$dir = Join-Path $env:ProgramData "patchwave\$name"
$code = 0
try {
    $wanted = @($env:PATCHWAVE_KBS -split ',' | Where-Object { $_ -match '^KB\d+$' })
    if ($wanted.Count -eq 0) { throw 'PATCHWAVE_KBS names no KB' }
    New-Item -ItemType Directory -Force -Path $dir | Out-Null
    Set-Content -Path (Join-Path $dir 'kbs.txt') -Value ($wanted -join ',') -Encoding ASCII
    $encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($work))
    $action = New-ScheduledTaskAction -Execute 'powershell.exe' -WorkingDirectory $dir `
        -Argument "-NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand $encoded"
    $principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
    $settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -ExecutionTimeLimit (New-TimeSpan -Hours 4)
    Register-ScheduledTask -TaskName $name -Action $action -Principal $principal -Settings $settings -Force | Out-Null
    Start-ScheduledTask -TaskName $name
    $resultFile = Join-Path $dir 'result.json'
    # Bounded by patchwave's own timeout for this command. A task not yet
    # started may show as Ready or Queued for a moment.
    $started = Get-Date
    while (-not (Test-Path $resultFile)) {
        Start-Sleep -Seconds 2
        $state = [string](Get-ScheduledTask -TaskName $name).State
        $waiting = ($state -eq 'Running') -or ($state -eq 'Queued') -or (((Get-Date) - $started).TotalSeconds -lt 30)
        if (-not $waiting -and -not (Test-Path $resultFile)) { throw "the install task ended without a result (state $state)" }
    }
    $doc = Get-Content -Raw -Path $resultFile | ConvertFrom-Json
    if ($doc.PSObject.Properties['error']) { throw "Windows Update: $($doc.error)" }
    [Console]::Out.Write((ConvertTo-Json -InputObject ([ordered]@{ version = 1; rebootRequired = [bool]$doc.rebootRequired; results = @($doc.results) }) -Depth 4 -Compress))
    if (@($doc.results | Where-Object { $_.result -ne 'succeeded' }).Count -gt 0) { $code = 2 }
} catch {
    [Console]::Error.WriteLine("patchwave install: $($_.Exception.Message)")
    $code = 1
} finally {
    Unregister-ScheduledTask -TaskName $name -Confirm:$false -ErrorAction SilentlyContinue
    Remove-Item -Recurse -Force -Path $dir -ErrorAction SilentlyContinue
}
exit $code
