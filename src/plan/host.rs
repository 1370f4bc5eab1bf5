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
    for u in upgrades(facts, ctx.package_manager) {
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

/// The updates that upgrade an installed package (at the version the update
/// starts from) to a newer version: the only ones ever planned.
pub(crate) fn upgrades(
    facts: &HostFacts,
    pm: crate::facts::PackageManager,
) -> impl Iterator<Item = &AvailableUpdate> {
    // foldhash: this map is built for every host of the fleet.
    let installed: foldhash::HashMap<(&str, &str), &str> = facts
        .installed
        .iter()
        .map(|p| ((p.name.as_str(), p.arch.as_str()), p.version.as_str()))
        .collect();
    facts.updates.iter().filter(move |u| {
        installed
            .get(&(u.name.as_str(), u.arch.as_str()))
            .is_some_and(|v| {
                *v == u.installed_version
                    && version::compare(pm, &u.candidate_version, v) == Ordering::Greater
            })
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use jiff::tz::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::facts::{InstalledPackage, OsInfo, PackageManager};
    use crate::plan::History;
    use crate::spec::resource::Document;
    use crate::spec::{Origin, Resource};

    fn baseline(spec: &str) -> CompiledBaseline {
        let d: Document<crate::spec::baseline::PatchBaselineSpec> = serde_saphyr::from_str(&format!(
            "apiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {{name: b}}\nspec:\n{spec}"
        ))
        .unwrap();
        let r = Resource {
            origin: Origin {
                file: Arc::from(Path::new("t.yaml")),
                pos: Default::default(),
            },
            metadata: d.metadata,
            spec: d.spec,
        };
        CompiledBaseline::compile(&r, &[]).unwrap()
    }

    fn facts(
        installed: &[(&str, &str)],
        updates: &[(&str, &str, &str, Classification, bool)],
    ) -> HostFacts {
        HostFacts {
            os: OsInfo::default(),
            package_manager: PackageManager::Apt,
            kernel: String::new(),
            boot_id: String::new(),
            installed: installed
                .iter()
                .map(|(n, v)| InstalledPackage {
                    name: n.to_string(),
                    arch: "amd64".into(),
                    version: v.to_string(),
                    held: false,
                })
                .collect(),
            updates: updates
                .iter()
                .map(|(n, from, to, c, held)| AvailableUpdate {
                    name: n.to_string(),
                    arch: "amd64".into(),
                    installed_version: from.to_string(),
                    candidate_version: to.to_string(),
                    repository: String::new(),
                    classification: *c,
                    severity: Severity::Important,
                    advisory: None,
                    cves: vec![],
                    release_date: None,
                    held_back: *held,
                })
                .collect(),
            reboot_required: false,
            reboot_required_by: vec![],
            rejected_lines: vec![],
        }
    }

    fn ctx<'a>(h: &'a History, tz: &'a TimeZone) -> Context<'a> {
        Context {
            package_manager: PackageManager::Apt,
            now: "2026-11-27T10:00:00Z".parse().unwrap(),
            tz,
            history: h,
        }
    }

    #[test]
    fn installs_withholds_counts_and_expects_reboots() {
        let b = baseline("  approvalRules:\n    - {name: sec, classifications: [security]}\n");
        let f = facts(
            &[
                ("linux-image-amd64", "6.1.1-1"),
                ("vim", "9.0-1"),
                ("pinned", "1.0-1"),
            ],
            &[
                (
                    "linux-image-amd64",
                    "6.1.1-1",
                    "6.1.2-1",
                    Classification::Security,
                    false,
                ),
                ("vim", "9.0-1", "9.0-2", Classification::Bugfix, false),
                ("pinned", "1.0-1", "1.1-1", Classification::Security, true),
                // Not installed, and a downgrade: never planned.
                ("newpkg", "", "1.0-1", Classification::Security, false),
                ("vim", "9.0-1", "8.0-1", Classification::Security, false),
            ],
        );
        let (h, tz) = (History::default(), TimeZone::UTC);
        let d = desired(&f, &b, RebootPolicy::IfRequired, &ctx(&h, &tz));
        assert_eq!(
            d.install
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["linux-image-amd64"]
        );
        assert_eq!(
            d.withheld
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["pinned", "vim"]
        );
        assert!(d.reboot_expected, "a kernel update needs a reboot");
        // The held security patch is approved but missing: the host is not compliant because of it too.
        assert_eq!(
            d.compliance,
            Compliance::NonCompliant {
                missing: [(Severity::Important, 2)].into()
            }
        );
        assert!(!desired(&f, &b, RebootPolicy::Never, &ctx(&h, &tz)).reboot_expected);
    }

    proptest! {
        /// Same inputs, same plan; and never a downgrade or a package that is not installed.
        #[test]
        fn deterministic_and_only_upgrades(
            rows in prop::collection::vec(("[a-d]", 0u8..4, 0u8..4, any::<bool>(), any::<bool>()), 0..12)
        ) {
            let b = baseline("  approvalRules:\n    - {name: all}\n");
            let installed: Vec<(String, String)> = rows.iter().filter(|r| r.3).map(|r| (r.0.clone(), format!("1.{}-1", r.1))).collect();
            let inst_ref: Vec<(&str, &str)> = installed.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let ups: Vec<(String, String, String)> = rows.iter().map(|r| (r.0.clone(), format!("1.{}-1", r.1), format!("1.{}-1", r.2))).collect();
            let ups_ref: Vec<(&str, &str, &str, Classification, bool)> = ups.iter().zip(&rows)
                .map(|((n, a, c), r)| (n.as_str(), a.as_str(), c.as_str(), Classification::Security, r.4)).collect();
            let f = facts(&inst_ref, &ups_ref);
            let (h, tz) = (History::default(), TimeZone::UTC);
            let a = desired(&f, &b, RebootPolicy::IfRequired, &ctx(&h, &tz));
            let again = desired(&f, &b, RebootPolicy::IfRequired, &ctx(&h, &tz));
            prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&again).unwrap());
            for p in &a.install {
                prop_assert!(f.installed.iter().any(|i| i.name == p.name && i.version == p.from));
                prop_assert_eq!(version::compare(PackageManager::Apt, &p.to, &p.from), Ordering::Greater);
            }
        }
    }
}
