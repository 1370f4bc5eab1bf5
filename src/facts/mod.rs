//! What a scan learned about a host: plain data, the planner's input.
//!
//! Serialised as the `scan --format json` document, which `plan --facts`
//! reads back, so CI can plan without reaching hosts.

mod key;
mod stream;

pub use key::{PackageKey, PackageVersions};
pub use stream::{RawHost, StreamError, for_each_host, for_each_host_raw};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::spec::baseline::{Classification, Severity};

/// The package manager that owns a host's packages.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    schemars::JsonSchema,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    Apt,
    Dnf,
    Zypper,
    Apk,
    /// Windows Update (through the Windows Update Agent).
    #[serde(rename = "windows-update")]
    WindowsUpdate,
}

impl PackageManager {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageManager::Apt => "apt",
            PackageManager::Dnf => "dnf",
            PackageManager::Zypper => "zypper",
            PackageManager::Apk => "apk",
            PackageManager::WindowsUpdate => "windows-update",
        }
    }
}

/// From `/etc/os-release`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OsInfo {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pretty_name: String,
}

/// One installed package.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema, Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct InstalledPackage {
    pub name: String,
    pub arch: String,
    /// As the package manager prints it (`1:2.3-4`, `2:1.0-3.el9`).
    pub version: String,
    /// Held by the administrator (`apt-mark hold`, versionlock): never upgraded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
    /// The source package it was built from, when its name differs from the
    /// binary's (dpkg's `Source`, rpm's `SOURCERPM`): vulnerability data is
    /// keyed by source package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl InstalledPackage {
    pub fn key(&self) -> PackageKey {
        PackageKey::new(&self.name, &self.arch)
    }

    /// The source package's name (the binary's own when it has none apart).
    pub fn source_name(&self) -> &str {
        self.source.as_deref().unwrap_or(&self.name)
    }
}

/// A newer version the host's repositories offer for an installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailableUpdate {
    pub name: String,
    pub arch: String,
    pub installed_version: String,
    pub candidate_version: String,
    /// Repository / origin the candidate comes from (`Debian-Security:12/stable-security`).
    pub repository: String,
    pub classification: Classification,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cves: Vec<String>,
    /// Where the OS publishes one (RPM updateinfo); otherwise the planner
    /// counts from the first time patchwave saw this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_date: Option<jiff::civil::Date>,
    /// The package manager would not install it as things stand (held, or
    /// dependencies it cannot resolve).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held_back: bool,
    /// The vendor says installing it needs a restart (Windows Update's
    /// RebootBehavior); Linux packages are judged by name instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_reboot: bool,
    /// The source package of the candidate, when its name differs from the
    /// binary's (see [`InstalledPackage::source`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl AvailableUpdate {
    pub fn key(&self) -> PackageKey {
        PackageKey::new(&self.name, &self.arch)
    }

    /// The source package's name (the binary's own when it has none apart).
    pub fn source_name(&self) -> &str {
        self.source.as_deref().unwrap_or(&self.name)
    }
}

/// Everything one successful scan found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostFacts {
    pub os: OsInfo,
    pub package_manager: PackageManager,
    pub kernel: String,
    pub boot_id: String,
    pub installed: Vec<InstalledPackage>,
    pub updates: Vec<AvailableUpdate>,
    pub reboot_required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reboot_required_by: Vec<String>,
    /// Lines of remote output that were not trusted (bad names or versions):
    /// never used later, reported so nothing is silently dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected_lines: Vec<String>,
}

impl HostFacts {
    /// Every installed package's version, by key.
    pub fn installed_versions(&self) -> PackageVersions {
        self.installed
            .iter()
            .map(|p| (p.key(), p.version.clone()))
            .collect()
    }
}

/// How a host's scan ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum ScanState {
    Scanned {
        facts: Box<HostFacts>,
    },
    /// Could not connect (or the host key was wrong): the host, not patchwave, needs attention.
    Unreachable {
        error: String,
    },
    /// Connected, but scanning failed (a command failed or timed out).
    Failed {
        error: String,
    },
}

/// One host's scan: who, when, how long, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "HostScanFields")]
pub struct HostScan {
    pub host: String,
    pub group: String,
    pub address: String,
    pub transport: String,
    pub scanned_at: Timestamp,
    pub duration_ms: u64,
    #[serde(flatten)]
    pub state: ScanState,
}

/// The JSON fields of a host scan, read without `flatten` (which makes serde
/// buffer every host's whole document first: many times slower on big fleets).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HostScanFields {
    host: String,
    group: String,
    address: String,
    transport: String,
    scanned_at: Timestamp,
    duration_ms: u64,
    state: String,
    #[serde(default)]
    facts: Option<Box<HostFacts>>,
    #[serde(default)]
    error: Option<String>,
}

impl TryFrom<HostScanFields> for HostScan {
    type Error = String;

    fn try_from(f: HostScanFields) -> Result<HostScan, String> {
        let need_error = |e: Option<String>, state: &str| {
            e.ok_or_else(|| format!("host `{}`: state `{state}` needs `error`", f.host))
        };
        let state = match f.state.as_str() {
            "scanned" => ScanState::Scanned {
                facts: f
                    .facts
                    .ok_or_else(|| format!("host `{}`: state `scanned` needs `facts`", f.host))?,
            },
            "unreachable" => ScanState::Unreachable {
                error: need_error(f.error.clone(), "unreachable")?,
            },
            "failed" => ScanState::Failed {
                error: need_error(f.error.clone(), "failed")?,
            },
            other => {
                return Err(format!(
                    "host `{}`: unknown state `{other}`; expected scanned, unreachable or failed",
                    f.host
                ));
            }
        };
        Ok(HostScan {
            host: f.host,
            group: f.group,
            address: f.address,
            transport: f.transport,
            scanned_at: f.scanned_at,
            duration_ms: f.duration_ms,
            state,
        })
    }
}

/// The `scan --format json` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetFacts {
    /// Format version of this document.
    pub version: u32,
    pub hosts: Vec<HostScan>,
}

pub const FACTS_VERSION: u32 = 1;

/// Scans for unit tests: one apt host's facts, built from a few rows.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;

    /// Host `host` scanned at `at`, with `installed` (name, version) packages
    /// and `offered` (name, candidate) security updates of them.
    pub fn scan(
        host: &str,
        at: &str,
        installed: &[(&str, &str)],
        offered: &[(&str, &str)],
    ) -> HostScan {
        let version_of = |n: &str| {
            installed
                .iter()
                .find(|(name, _)| *name == n)
                .map_or("0", |(_, v)| v)
                .to_string()
        };
        HostScan {
            host: host.into(),
            group: "g".into(),
            address: "127.0.0.1".into(),
            transport: "ssh".into(),
            scanned_at: at.parse().unwrap(),
            duration_ms: 1,
            state: ScanState::Scanned {
                facts: Box::new(HostFacts {
                    os: OsInfo::default(),
                    package_manager: PackageManager::Apt,
                    kernel: String::new(),
                    boot_id: String::new(),
                    installed: installed
                        .iter()
                        .map(|(n, v)| InstalledPackage {
                            source: None,
                            name: n.to_string(),
                            arch: "amd64".into(),
                            version: v.to_string(),
                            held: false,
                        })
                        .collect(),
                    updates: offered
                        .iter()
                        .map(|(n, v)| AvailableUpdate {
                            source: None,
                            name: n.to_string(),
                            arch: "amd64".into(),
                            installed_version: version_of(n),
                            candidate_version: v.to_string(),
                            repository: String::new(),
                            classification: Classification::Security,
                            severity: Severity::Important,
                            advisory: None,
                            cves: vec![],
                            release_date: None,
                            held_back: false,
                            requires_reboot: false,
                        })
                        .collect(),
                    reboot_required: false,
                    reboot_required_by: vec![],
                    rejected_lines: vec![],
                }),
            },
        }
    }
}
