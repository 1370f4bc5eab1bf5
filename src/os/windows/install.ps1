# patchwave: install exactly the Windows updates named in PATCHWAVE_KBS
# (comma-separated KB ids, checked by patchwave) through the Windows Update
# Agent, and report each one as one JSON document on stdout. Never reboots.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try {
    $wanted = @($env:PATCHWAVE_KBS -split ',' | Where-Object { $_ -match '^KB\d+$' })
    if ($wanted.Count -eq 0) { throw 'PATCHWAVE_KBS names no KB' }
    $session = New-Object -ComObject Microsoft.Update.Session
    $result = $session.CreateUpdateSearcher().Search('IsInstalled=0 and IsHidden=0')
    $chosen = New-Object -ComObject Microsoft.Update.UpdateColl
    $found = @{}
    foreach ($u in $result.Updates) {
        $kbs = @($u.KBArticleIDs | ForEach-Object { "KB$_" })
        foreach ($kb in $kbs) {
            if ($wanted -contains $kb -and -not $found.ContainsKey($kb)) {
                if (-not $u.EulaAccepted) { $u.AcceptEula() }
                [void]$chosen.Add($u)
                $found[$kb] = $chosen.Count - 1
            }
        }
    }
    $results = @()
    $reboot = $false
    if ($chosen.Count -gt 0) {
        $downloader = $session.CreateUpdateDownloader()
        $downloader.Updates = $chosen
        [void]$downloader.Download()
        $installer = $session.CreateUpdateInstaller()
        $installer.Updates = $chosen
        $outcome = $installer.Install()
        $reboot = [bool]$outcome.RebootRequired
    }
    $codes = @{ 0 = 'notStarted'; 1 = 'inProgress'; 2 = 'succeeded'; 3 = 'succeededWithErrors'; 4 = 'failed'; 5 = 'aborted' }
    foreach ($kb in $wanted) {
        if ($found.ContainsKey($kb)) {
            $r = $outcome.GetUpdateResult($found[$kb])
            $results += [ordered]@{ kb = $kb; result = $codes[[int]$r.ResultCode]; hresult = ('0x{0:X8}' -f $r.HResult); rebootRequired = [bool]$r.RebootRequired }
        } else {
            $results += [ordered]@{ kb = $kb; result = 'notOffered'; hresult = '0x00000000'; rebootRequired = $false }
        }
    }
    [Console]::Out.Write((ConvertTo-Json -InputObject ([ordered]@{ version = 1; rebootRequired = $reboot; results = $results }) -Depth 4 -Compress))
    if (@($results | Where-Object { $_.result -ne 'succeeded' }).Count -gt 0) { exit 2 }
} catch {
    [Console]::Error.WriteLine("patchwave install: $($_.Exception.Message)")
    exit 1
}
