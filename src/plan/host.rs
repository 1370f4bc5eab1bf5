//! One host's desired state: which updates it gets now, which wait and why,
//! whether it is compliant, and whether a reboot is expected.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Serialize;

use super::baseline::{CompiledBaseline, Context, Decision};
use crate::facts::{AvailableUpdate, HostFacts};
use crate::spec::baseline::{Classification, RebootPolicy, Severity};
use crate::version;

/// An update with the baseline's decision on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchDecision {
    pub name: String,
    pub arch: String,
    pub from: String,
    pub to: String,
    pub classification: Classification,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisory: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cves: Vec<String>,
    pub decision: Decision,
}

/// Whether a host has every approved patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Compliance {
    Compliant,
    /// Approved patches are missing, counted by compliance level.
    NonCompliant {
        missing: BTreeMap<Severity, usize>,
    },
    /// The host could not be scanned.
    Unknown {
        reason: String,
    },
}

/// The planned changes of one scanned host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostDesired {
    /// Installed now, in name order.
    pub install: Vec<PatchDecision>,
    /// Available but not installed now (pending, rejected, not applicable).
    pub withheld: Vec<PatchDecision>,
    pub compliance: Compliance,
    pub reboot_expected: bool,
}

/// Packages whose update needs a reboot to take effect.
const REBOOT_PACKAGES: &[&str] = &[
    "linux-image-",
    "kernel",
    "kernel-core",
    "kernel-default",
    "glibc",
    "libc6",
    "systemd",
    "dbus",
];

fn needs_reboot(name: &str) -> bool {
    REBOOT_PACKAGES.iter().any(|p| {
        if p.ends_with('-') {
            name.starts_with(p)
        } else {
            name == *p
        }
    })
}

/// The desired state of one scanned host under its baseline. Only upgrades of
/// installed packages are ever planned: never a downgrade, never a new package.
pub fn desired(
    facts: &HostFacts,
    baseline: &CompiledBaseline,
    reboot: RebootPolicy,
    ctx: &Context<'_>,
) -> HostDesired {
    let mut install = Vec::new();
    let mut withheld = Vec::new();
    for u in &facts.updates {
        if !is_upgrade_of_installed(facts, u, ctx) {
            continue;
        }
        let decision = baseline.evaluate(u, ctx);
        let pd = PatchDecision {
            name: u.name.clone(),
            arch: u.arch.clone(),
            from: u.installed_version.clone(),
            to: u.candidate_version.clone(),
            classification: u.classification,
            severity: u.severity,
            advisory: u.advisory.clone(),
            cves: u.cves.clone(),
            decision,
        };
        // Held packages stay where the administrator pinned them.
        if pd.decision.state.installs() && !u.held_back {
            install.push(pd);
        } else {
            withheld.push(pd);
        }
    }
    let key = |p: &PatchDecision| (p.name.clone(), p.arch.clone());
    install.sort_by_key(key);
    withheld.sort_by_key(key);
    let mut missing: BTreeMap<Severity, usize> = BTreeMap::new();
    for p in install
        .iter()
        .chain(withheld.iter().filter(|p| p.decision.state.installs()))
    {
        *missing.entry(p.decision.compliance_level).or_default() += 1;
    }
    let compliance = if missing.is_empty() {
        Compliance::Compliant
    } else {
        Compliance::NonCompliant { missing }
    };
    let reboot_expected = match reboot {
        RebootPolicy::Never => false,
        RebootPolicy::Always => !install.is_empty(),
        RebootPolicy::IfRequired => {
            facts.reboot_required || install.iter().any(|p| needs_reboot(&p.name))
        }
    };
    HostDesired {
        install,
        withheld,
        compliance,
        reboot_expected,
    }
}

/// An update is planned only for a package that is installed, and only upward.
fn is_upgrade_of_installed(facts: &HostFacts, u: &AvailableUpdate, ctx: &Context<'_>) -> bool {
    facts.installed.iter().any(|p| {
        p.name == u.name
            && p.arch == u.arch
            && p.version == u.installed_version
            && version::compare(ctx.package_manager, &u.candidate_version, &p.version)
                == Ordering::Greater
    })
}

/// Priority of a change: severity × host criticality (higher first).
pub fn priority(severity: Severity, criticality: crate::spec::common::Criticality) -> u32 {
    use crate::spec::common::Criticality as C;
    let s = match severity {
        Severity::Critical => 4,
        Severity::Important => 3,
        Severity::Moderate => 2,
        Severity::Low | Severity::Unspecified => 1,
    };
    let c = match criticality {
        C::Critical => 4,
        C::High => 3,
        C::Medium => 2,
        C::Low => 1,
    };
    s * c
}
