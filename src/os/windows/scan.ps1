# patchwave: what Windows Update offers and what is installed, as one JSON
# document on stdout (parsed strictly by patchwave). Reads only; no input.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false
$inv = [Globalization.CultureInfo]::InvariantCulture
function Utc($t) {
    if ($null -eq $t) { return $null }
    # WUA dates are UTC without saying so; CIM dates are local.
    if ($t.Kind -eq 'Unspecified') { $t = [DateTime]::SpecifyKind($t, 'Utc') }
    $t.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', $inv)
}
try {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    $cv = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
    $reasons = @()
    if (Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired') { $reasons += 'Windows Update' }
    if (Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') { $reasons += 'Component Based Servicing' }
    $sm = Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -ErrorAction SilentlyContinue
    if ($sm -and $sm.PendingFileRenameOperations) { $reasons += 'Pending file renames' }
    if ((New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired) { $reasons += 'Windows Update Agent' }
    $searcher = (New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher()
    # Installed: the servicing stack's hotfixes and what Windows Update
    # installed (Defender definitions and the removal tool are only there).
    $kbs = @{}
    foreach ($h in @(Get-HotFix -ErrorAction SilentlyContinue)) { if ($h.HotFixID -match '^KB\d+$') { $kbs[$h.HotFixID] = $true } }
    foreach ($u in $searcher.Search('IsInstalled=1').Updates) { foreach ($k in $u.KBArticleIDs) { $kbs["KB$k"] = $true } }
    $installed = @($kbs.Keys | Sort-Object | ForEach-Object { [ordered]@{ kb = $_ } })
    $updates = @(foreach ($u in $searcher.Search('IsInstalled=0 and IsHidden=0').Updates) {
        $class = ''
        foreach ($c in $u.Categories) { if ($c.Type -eq 'UpdateClassification') { $class = $c.Name } }
        [ordered]@{
            kbs = @($u.KBArticleIDs | ForEach-Object { "KB$_" })
            updateId = $u.Identity.UpdateID
            revision = $u.Identity.RevisionNumber
            title = $u.Title
            classification = $class
            msrcSeverity = [string]$u.MsrcSeverity
            released = (Utc $u.LastDeploymentChangeTime)
            rebootBehavior = [int]$u.InstallationBehavior.RebootBehavior
            cves = @($u.CveIDs)
        }
    })
    $doc = [ordered]@{
        version = 1
        os = [ordered]@{ caption = $os.Caption; version = $os.Version; ubr = [int]$cv.UBR; arch = $env:PROCESSOR_ARCHITECTURE }
        bootId = (Utc $os.LastBootUpTime)
        rebootReasons = $reasons
        installed = $installed
        updates = $updates
    }
    [Console]::Out.Write((ConvertTo-Json -InputObject $doc -Depth 6 -Compress))
} catch {
    [Console]::Error.WriteLine("patchwave scan: $($_.Exception.Message)")
    exit 1
}
