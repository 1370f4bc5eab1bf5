//! Windows Update, through the Windows Update Agent API in PowerShell: the
//! scripts are constant text (src/os/windows/*.ps1) sent as
//! `-EncodedCommand`; their input comes in environment variables, their
//! output is one JSON document parsed strictly here.
//!
//! In the common model a Windows update is a package named by its KB id
//! (`KB5044281`) offered at its update revision and not installed yet
//! (`installedVersion` empty); installed updates are the host's hotfixes.
//! Classifications map onto the common ones (Security Updates → security;
//! Critical Updates, Updates, Update Rollups, Service Packs → bugfix;
//! Feature Packs, Upgrades → enhancement; the rest → other) and MSRC
//! severities are the seeds' classes as they are. The Windows name of the
//! classification is kept as the update's repository.

use serde::Deserialize;

use super::{PackageScan, Rejected, ScanError, ScanOptions};
use crate::facts::{AvailableUpdate, HostFacts, InstalledPackage, OsInfo, PackageManager};
use crate::spec::baseline::{Classification, Severity};
use crate::transport::{RemoteCommand, Transport};

pub const SCAN_SCRIPT: &str = include_str!("windows/scan.ps1");
pub const INSTALL_SCRIPT: &str = include_str!("windows/install.ps1");
/// Prints the last boot time (the boot id: it changes with every boot).
pub const BOOT_ID_SCRIPT: &str = "[Console]::Out.Write((Get-CimInstance -ClassName Win32_OperatingSystem).LastBootUpTime.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ'))";

/// `powershell.exe` running `script` (constant text) as `-EncodedCommand`.
pub fn powershell(script: &str) -> RemoteCommand {
    crate::transport::powershell::command(script)
}

/// The script an `-EncodedCommand` argument carries (tests read it back).
pub fn encoded_script(cmd: &RemoteCommand) -> Option<String> {
    crate::transport::powershell::encoded_script(&cmd.args)
}

/// A KB id as Windows Update names it: `KB` and digits.
pub fn is_kb(s: &str) -> bool {
    s.len() > 2
        && s.len() <= 12
        && s.starts_with("KB")
        && s[2..].bytes().all(|b| b.is_ascii_digit())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ScanDoc {
    version: u32,
    os: OsDoc,
    boot_id: String,
    #[serde(default)]
    reboot_reasons: Vec<String>,
    #[serde(default)]
    installed: Vec<InstalledDoc>,
    #[serde(default)]
    updates: Vec<UpdateDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OsDoc {
    caption: String,
    version: String,
    #[serde(default)]
    ubr: Option<u32>,
    arch: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InstalledDoc {
    kb: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateDoc {
    kbs: Vec<String>,
    update_id: String,
    revision: u32,
    title: String,
    classification: String,
    #[serde(default)]
    msrc_severity: String,
    #[serde(default)]
    released: Option<String>,
    /// 0: never reboots, 1: always requires a reboot, 2: can request one.
    #[serde(default)]
    reboot_behavior: u8,
    #[serde(default)]
    cves: Vec<String>,
}

/// Windows Update's classification in the common model.
pub fn classification(windows: &str) -> Classification {
    match windows {
        "Security Updates" => Classification::Security,
        "Critical Updates" | "Updates" | "Update Rollups" | "Service Packs" => {
            Classification::Bugfix
        }
        "Feature Packs" | "Upgrades" => Classification::Enhancement,
        _ => Classification::Other,
    }
}

/// An MSRC severity rating.
pub fn severity(msrc: &str) -> Severity {
    match msrc {
        "Critical" => Severity::Critical,
        "Important" => Severity::Important,
        "Moderate" => Severity::Moderate,
        "Low" => Severity::Low,
        _ => Severity::Unspecified,
    }
}

/// What the scan script found, in the common model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsScan {
    pub os: OsInfo,
    pub kernel: String,
    pub boot_id: String,
    pub packages: PackageScan,
}

/// Architecture names as Linux hosts spell them.
fn arch(processor: &str) -> String {
    match processor {
        "AMD64" => "amd64".into(),
        "ARM64" => "arm64".into(),
        "x86" => "i386".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// serde builds every element of an array (tens of bytes each, however
/// short its text) before patchwave looks at it, so the number of values in
/// a document from a host is bounded before it is parsed. A real scan
/// document holds a few thousand.
const MAX_JSON_VALUES: usize = 500_000;

/// Refuses a document with more than [`MAX_JSON_VALUES`] values (counted
/// as the commas and openings outside strings, at least one per value).
fn check_json_size(json: &str) -> Result<(), String> {
    let (mut n, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b',' | b'[' | b'{' => n += 1,
            _ => {}
        }
        if n > MAX_JSON_VALUES {
            return Err(format!(
                "the script printed a document of more than {MAX_JSON_VALUES} values; no real host has that much to say"
            ));
        }
    }
    Ok(())
}

pub fn parse_scan(json: &str) -> Result<WindowsScan, String> {
    check_json_size(json)?;
    let doc: ScanDoc = serde_json::from_str(json.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("the scan script's output is not what patchwave expects: {e}"))?;
    if doc.version != 1 {
        return Err(format!(
            "the scan script reported format version {}, expected 1",
            doc.version
        ));
    }
    let arch = arch(&doc.os.arch);
    let mut rejected = Rejected::default();
    let mut installed = Vec::new();
    for i in doc.installed {
        if is_kb(&i.kb) {
            installed.push(InstalledPackage {
                source: None,
                name: i.kb,
                arch: arch.clone(),
                version: "installed".into(),
                held: false,
            });
        } else {
            rejected.push(&format!(
                "installed: `{}` is not a KB id",
                i.kb.escape_debug()
            ));
        }
    }
    installed.sort();
    installed.dedup_by(|a, b| a.name == b.name);
    let mut updates = Vec::new();
    for u in doc.updates {
        let Some(kb) = u.kbs.iter().find(|k| is_kb(k)) else {
            rejected.push(&format!(
                "update {} ({}) has no KB id; baselines cannot name it",
                u.update_id.escape_debug(),
                u.title.escape_debug()
            ));
            continue;
        };
        let cves: Vec<String> = u
            .cves
            .into_iter()
            .filter(|c| c.starts_with("CVE-") && c.len() < 32 && !c.contains(char::is_whitespace))
            .collect();
        updates.push(AvailableUpdate {
            source: None,
            name: kb.clone(),
            arch: arch.clone(),
            installed_version: String::new(),
            candidate_version: u.revision.to_string(),
            repository: if u.classification.is_empty() {
                "Windows Update".into()
            } else {
                u.classification.clone()
            },
            classification: classification(&u.classification),
            severity: severity(&u.msrc_severity),
            advisory: Some(u.title.chars().take(200).collect()),
            cves,
            release_date: u
                .released
                .as_deref()
                .and_then(|r| r.get(..10))
                .and_then(|d| d.parse().ok()),
            held_back: false,
            // 1: always requires a reboot, 2: can request one.
            requires_reboot: u.reboot_behavior != 0,
        });
    }
    updates.sort_by(|a, b| a.name.cmp(&b.name));
    updates.dedup_by(|a, b| a.name == b.name);
    let kernel = match doc.os.ubr {
        Some(ubr) => format!("{}.{ubr}", doc.os.version),
        None => doc.os.version.clone(),
    };
    Ok(WindowsScan {
        os: OsInfo {
            id: "windows".into(),
            id_like: Vec::new(),
            version_id: doc.os.version,
            pretty_name: doc.os.caption,
        },
        kernel,
        boot_id: doc.boot_id,
        packages: PackageScan {
            installed,
            updates,
            reboot_required: !doc.reboot_reasons.is_empty(),
            reboot_required_by: doc.reboot_reasons,
            rejected: rejected.into_lines(),
        },
    })
}

/// Runs one of the scripts; its stdout, or an error naming the script.
async fn run_script(
    t: &dyn Transport,
    what: &str,
    cmd: &RemoteCommand,
) -> Result<String, ScanError> {
    let out = t.run(cmd).await?;
    if out.success() {
        Ok(out.stdout_str())
    } else {
        Err(ScanError::Failed(format!(
            "{}: the {what} script exited with {}: {}",
            t.host(),
            out.status
                .map_or("no status".to_string(), |c| c.to_string()),
            out.stderr_tail()
        )))
    }
}

/// Scans a Windows host.
pub async fn scan_host(t: &dyn Transport, opts: &ScanOptions) -> Result<HostFacts, ScanError> {
    // Searching Windows Update contacts the update service: it takes the
    // refresh budget, not a quick command's.
    let cmd = powershell(SCAN_SCRIPT).timeout(opts.refresh_timeout.max(opts.command_timeout));
    let out = run_script(t, "Windows Update scan", &cmd).await?;
    let s = parse_scan(&out).map_err(|e| ScanError::Failed(format!("{}: {e}", t.host())))?;
    Ok(HostFacts {
        os: s.os,
        package_manager: PackageManager::WindowsUpdate,
        kernel: s.kernel,
        boot_id: s.boot_id,
        installed: s.packages.installed,
        updates: s.packages.updates,
        reboot_required: s.packages.reboot_required,
        reboot_required_by: s.packages.reboot_required_by,
        rejected_lines: s.packages.rejected,
    })
}

/// Installs exactly `kbs` (each checked to be a KB id; passed as data in
/// an environment variable, never as script text).
pub fn install_command(kbs: &[&str]) -> Option<RemoteCommand> {
    if kbs.is_empty() || !kbs.iter().all(|k| is_kb(k)) {
        return None;
    }
    Some(powershell(INSTALL_SCRIPT).env("PATCHWAVE_KBS", kbs.join(",")))
}

/// One KB's outcome as the install script reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KbResult {
    pub kb: String,
    /// `succeeded`, `succeededWithErrors`, `failed`, `aborted`, `notOffered`…
    pub result: String,
    pub hresult: String,
    pub reboot_required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstallReport {
    pub version: u32,
    pub reboot_required: bool,
    pub results: Vec<KbResult>,
}

pub fn parse_install(json: &str) -> Result<InstallReport, String> {
    check_json_size(json)?;
    serde_json::from_str(json.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("the install script's output is not what patchwave expects: {e}"))
}

/// Why an install failed, per KB, from the script's report (or its stderr).
pub fn install_failure(stdout: &str, stderr_tail: &str) -> String {
    match parse_install(stdout) {
        Ok(r) => r
            .results
            .iter()
            .filter(|k| k.result != "succeeded")
            .map(|k| format!("{}: {} (HRESULT {})", k.kb, k.result, k.hresult))
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => stderr_tail.to_string(),
    }
}

/// Restarts in 5 seconds (the command returns first), recorded as a
/// planned restart for an installed update in the event log.
pub fn reboot_command() -> RemoteCommand {
    RemoteCommand::new("shutdown.exe").args([
        "/r",
        "/t",
        "5",
        "/d",
        "p:2:17",
        "/c",
        "patchwave: restart after installing updates",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/os/windows")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn a_scan_maps_onto_the_common_model() {
        let s = parse_scan(&doc("scan-before.json")).unwrap();
        assert_eq!(s.os.id, "windows");
        assert_eq!(s.os.pretty_name, "Microsoft Windows Server 2022 Standard");
        assert_eq!(s.kernel, "10.0.20348.2700");
        assert_eq!(s.boot_id, "2024-10-01T03:12:44Z");
        assert!(!s.packages.reboot_required);
        let names: Vec<&str> = s
            .packages
            .installed
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["KB5042881", "KB5043050"]);
        let u: Vec<(&str, &str, Classification, Severity, &str)> = s
            .packages
            .updates
            .iter()
            .map(|u| {
                (
                    u.name.as_str(),
                    u.candidate_version.as_str(),
                    u.classification,
                    u.severity,
                    u.repository.as_str(),
                )
            })
            .collect();
        assert_eq!(
            u,
            [
                (
                    "KB2267602",
                    "210",
                    Classification::Other,
                    Severity::Unspecified,
                    "Definition Updates"
                ),
                (
                    "KB5044025",
                    "1",
                    Classification::Security,
                    Severity::Important,
                    "Security Updates"
                ),
                (
                    "KB5044281",
                    "200",
                    Classification::Security,
                    Severity::Critical,
                    "Security Updates"
                ),
            ]
        );
        let cu = &s.packages.updates[2];
        assert_eq!(cu.installed_version, "");
        assert_eq!(cu.arch, "amd64");
        assert_eq!(cu.cves, ["CVE-2024-43572", "CVE-2024-43573"]);
        assert_eq!(cu.release_date, Some(jiff::civil::date(2024, 10, 8)));
        // The driver has no KB id: reported, never silently dropped.
        assert_eq!(s.packages.rejected.len(), 1);
        assert!(
            s.packages.rejected[0].contains("Intel - System"),
            "{:?}",
            s.packages.rejected
        );

        let after = parse_scan(&doc("scan-after.json")).unwrap();
        assert!(after.packages.reboot_required);
        assert_eq!(
            after.packages.reboot_required_by,
            ["Windows Update", "Component Based Servicing"]
        );
    }

    #[test]
    fn unexpected_documents_are_refused() {
        let good = doc("scan-before.json");
        for bad in [
            good.replace("\"version\":1", "\"version\":2"),
            good.replace("\"revision\":200", "\"revision\":\"200\""),
            good.replace(
                "\"msrcSeverity\":\"Critical\"",
                "\"msrcSeverity\":\"Critical\",\"extra\":1",
            ),
            "Get-HotFix : Access is denied".to_string(),
        ] {
            assert!(parse_scan(&bad).is_err(), "{bad:.80}");
        }
        assert!(
            parse_scan(&format!("\u{feff}{good}")).is_ok(),
            "a BOM is tolerated"
        );
    }

    #[test]
    fn install_reports_name_what_failed() {
        let ok = parse_install(&doc("install-ok.json")).unwrap();
        assert!(ok.reboot_required);
        assert!(ok.results.iter().all(|r| r.result == "succeeded"));
        assert_eq!(
            install_failure(&doc("install-failed.json"), ""),
            "KB5044281: failed (HRESULT 0x80240022)"
        );
        assert_eq!(
            install_failure("", "patchwave install: boom"),
            "patchwave install: boom"
        );
    }

    #[test]
    fn scripts_round_trip_through_encoded_command() {
        for script in [SCAN_SCRIPT, INSTALL_SCRIPT, BOOT_ID_SCRIPT] {
            let cmd = powershell(script);
            assert_eq!(encoded_script(&cmd).as_deref(), Some(script));
            // Windows' command line holds 32767 characters.
            assert!(cmd.args.iter().map(|a| a.len() + 1).sum::<usize>() < 32_000);
        }
        let install = install_command(&["KB5044281", "KB5043050"]).unwrap();
        assert!(
            install
                .env
                .contains(&("PATCHWAVE_KBS".into(), "KB5044281,KB5043050".into()))
        );
        assert!(install_command(&["KB1; Restart-Computer"]).is_none());
        assert!(install_command(&[]).is_none());
    }

    #[test]
    fn a_document_too_big_to_hold_is_refused_before_it_is_parsed() {
        let kbs: String = (0..=MAX_JSON_VALUES)
            .map(|i| format!("{{\"kb\":\"KB{i}\"}},"))
            .collect();
        let doc = format!(
            r#"{{"version":1,"os":{{"caption":"c","version":"10","arch":"AMD64"}},"bootId":"b","installed":[{}]}}"#,
            kbs.trim_end_matches(',')
        );
        assert!(
            parse_scan(&doc)
                .unwrap_err()
                .contains("more than 500000 values")
        );
        // Commas inside strings are text, not values.
        assert!(check_json_size(&format!("[\"{}\"]", ",".repeat(2 * MAX_JSON_VALUES))).is_ok());
        assert!(check_json_size(&format!("[\"\\\"{}\"]", ",".repeat(2 * MAX_JSON_VALUES))).is_ok());
    }
}
