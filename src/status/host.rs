//! `status/hosts/<host>.yaml`: what one host has, lacks and last went
//! through, as a reviewer reads it on a forge.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::facts::{HostScan, PackageKey, PackageVersions, ScanState};
use crate::plan::fleet::HostPlan;
use crate::plan::host::{Compliance, PatchState, PatchStatus};
use crate::spec::baseline::{Classification, Severity};

/// Format version of status documents.
pub const STATUS_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostStatus {
    pub version: u32,
    pub host: String,
    pub group: String,
    pub transport: String,
    pub last_scan: Timestamp,
    /// `scanned`, `unreachable` or `failed`.
    pub scan: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    #[serde(default)]
    pub reboot_required: bool,
    /// `compliant`, `nonCompliant` or `unknown`.
    pub compliance: String,
    /// Approved patches not installed (MISSING or FAILED).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<MissingPatch>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub patch_states: BTreeMap<PatchState, usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attention: Vec<Attention>,
    /// Installed versions of the packages that matter here: the ones with
    /// updates offered or needing attention.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub installed: PackageVersions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
    /// Offered patches with a deadline (the Fleet's `deadlines`), overdue or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deadlines: Vec<DuePatch>,
}

/// A patch the host lacks, and by when it must have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuePatch {
    pub package: PackageKey,
    pub available: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub known_exploited: bool,
    /// The CVEs it fixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cves: Vec<String>,
    /// The last day to install it, in the Fleet's timezone.
    pub due_by: jiff::civil::Date,
    /// When it becomes overdue (the start of the next day there).
    pub passes_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingPatch {
    pub package: PackageKey,
    pub installed: String,
    pub available: String,
    pub classification: Classification,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory: Option<String>,
    /// The CVEs it fixes (the OS advisory's, then the vulnerability data's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cves: Vec<String>,
    /// Where the patch's own severity comes from: `os`, or a vulnerability
    /// source's name (`severity` is the rule's complianceLevel when it sets one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_source: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub known_exploited: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attention {
    pub package: PackageKey,
    pub version: String,
    pub state: PatchState,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    pub id: String,
    /// `patched`, `failed`, `rolledBack`, `skipped`…
    pub outcome: String,
    /// `before → after` for what the run changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changed: BTreeMap<PackageKey, String>,
}

fn attention(a: &PatchStatus) -> Attention {
    Attention {
        package: PackageKey::new(&a.name, &a.arch),
        version: a.version.clone(),
        state: a.state,
        reason: a.reason.clone(),
    }
}

/// The status of one host from its scan and its plan.
pub fn host_status(
    scan: &HostScan,
    plan: Option<&HostPlan>,
    last_run: Option<LastRun>,
) -> HostStatus {
    let mut s = HostStatus {
        version: STATUS_VERSION,
        host: scan.host.clone(),
        group: scan.group.clone(),
        transport: scan.transport.clone(),
        last_scan: scan.scanned_at,
        scan: String::new(),
        error: None,
        os: None,
        kernel: None,
        reboot_required: false,
        compliance: "unknown".into(),
        missing: Vec::new(),
        patch_states: BTreeMap::new(),
        attention: Vec::new(),
        installed: BTreeMap::new(),
        last_run,
        deadlines: Vec::new(),
    };
    match &scan.state {
        ScanState::Scanned { facts } => {
            s.scan = "scanned".into();
            s.os = Some(if facts.os.pretty_name.is_empty() {
                facts.os.id.clone()
            } else {
                facts.os.pretty_name.clone()
            });
            s.kernel = (!facts.kernel.is_empty()).then(|| facts.kernel.clone());
            s.reboot_required = facts.reboot_required;
            let relevant: std::collections::HashSet<&str> = facts
                .updates
                .iter()
                .map(|u| u.name.as_str())
                .chain(
                    plan.iter()
                        .flat_map(|p| p.desired.attention.iter().map(|a| a.name.as_str())),
                )
                .collect();
            let changed = s.last_run.as_ref().map(|r| &r.changed);
            s.installed = facts
                .installed
                .iter()
                .filter(|p| {
                    relevant.contains(p.name.as_str())
                        || changed.is_some_and(|c| c.contains_key(&p.key()))
                })
                .map(|p| (p.key(), p.version.clone()))
                .collect();
        }
        ScanState::Unreachable { error } => {
            s.scan = "unreachable".into();
            s.error = Some(error.clone());
        }
        ScanState::Failed { error } => {
            s.scan = "failed".into();
            s.error = Some(error.clone());
        }
    }
    if let Some(p) = plan {
        s.compliance = match p.desired.compliance {
            Compliance::Compliant => "compliant",
            Compliance::NonCompliant { .. } => "nonCompliant",
            Compliance::Unknown { .. } => "unknown",
        }
        .into();
        s.missing = p
            .desired
            .install
            .iter()
            .chain(
                p.desired
                    .withheld
                    .iter()
                    .filter(|d| d.decision.state.installs()),
            )
            .map(|d| MissingPatch {
                package: PackageKey::new(&d.name, &d.arch),
                installed: d.from.clone(),
                available: d.to.clone(),
                classification: d.classification,
                severity: d.decision.compliance_level,
                advisory: d.advisory.clone(),
                cves: d.cves.clone(),
                severity_source: d.severity_source.clone(),
                known_exploited: d.known_exploited,
            })
            .collect();
        s.deadlines = p
            .desired
            .install
            .iter()
            .chain(&p.desired.withheld)
            .filter_map(|d| {
                let due = d.deadline.as_ref()?;
                Some(DuePatch {
                    package: PackageKey::new(&d.name, &d.arch),
                    available: d.to.clone(),
                    severity: d.severity,
                    known_exploited: d.known_exploited,
                    cves: d.cves.clone(),
                    due_by: due.due_by,
                    passes_at: due.passes_at,
                })
            })
            .collect();
        s.patch_states = p.desired.patch_states.clone();
        s.attention = p.desired.attention.iter().map(attention).collect();
    }
    s
}
