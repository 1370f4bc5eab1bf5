# patchwave: what Windows Update offers and what is installed, as one JSON
# document on stdout (parsed strictly by patchwave). Reads only; no input.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    $cv = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
    $reasons = @()
    if (Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired') { $reasons += 'Windows Update' }
    if (Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') { $reasons += 'Component Based Servicing' }
    $sm = Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -ErrorAction SilentlyContinue
    if ($sm -and $sm.PendingFileRenameOperations) { $reasons += 'Pending file renames' }
    if ((New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired) { $reasons += 'Windows Update Agent' }
    $installed = @(Get-HotFix | Where-Object { $_.HotFixID -match '^KB\d+$' } | ForEach-Object {
        $on = $null; if ($_.InstalledOn) { $on = $_.InstalledOn.ToString('yyyy-MM-dd') }
        [ordered]@{ kb = $_.HotFixID; installedOn = $on }
    })
    $session = New-Object -ComObject Microsoft.Update.Session
    $searcher = $session.CreateUpdateSearcher()
    $result = $searcher.Search('IsInstalled=0 and IsHidden=0')
    $updates = @(foreach ($u in $result.Updates) {
        $class = ''
        foreach ($c in $u.Categories) { if ($c.Type -eq 'UpdateClassification') { $class = $c.Name } }
        $released = $null
        if ($u.LastDeploymentChangeTime) { $released = $u.LastDeploymentChangeTime.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ') }
        [ordered]@{
            kbs = @($u.KBArticleIDs | ForEach-Object { "KB$_" })
            updateId = $u.Identity.UpdateID
            revision = $u.Identity.RevisionNumber
            title = $u.Title
            classification = $class
            msrcSeverity = [string]$u.MsrcSeverity
            released = $released
            rebootBehavior = $u.InstallationBehavior.RebootBehavior
            cves = @($u.CveIDs)
        }
    })
    $doc = [ordered]@{
        version = 1
        os = [ordered]@{ caption = $os.Caption; version = $os.Version; ubr = [int]$cv.UBR; arch = $env:PROCESSOR_ARCHITECTURE }
        bootId = $os.LastBootUpTime.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')
        rebootReasons = $reasons
        installed = $installed
        updates = $updates
    }
    [Console]::Out.Write((ConvertTo-Json -InputObject $doc -Depth 6 -Compress))
} catch {
    [Console]::Error.WriteLine("patchwave scan: $($_.Exception.Message)")
    exit 1
}
