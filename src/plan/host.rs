//! One host's desired state: which updates it gets now, which wait and why,
//! whether it is compliant, and whether a reboot is expected.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::baseline::{CompiledBaseline, Context, Decision};
use super::deadline::{Deadline, Deadlines};
use super::decision_cache::DecisionCache;
use super::offer::Offer;
use crate::facts::{AvailableUpdate, HostFacts};
use crate::spec::baseline::{Classification, RebootPolicy, Severity};
use crate::version;
use crate::vuln::VulnIndex;

/// An update with the baseline's decision on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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
    /// Every CVE it fixes: the OS advisory's, then the vulnerability data's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cves: Vec<String>,
    /// Where `severity` comes from: `os` (the package manager's advisory)
    /// or the name of the Fleet's vulnerability source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity_source: Option<String>,
    /// It fixes a CVE of CISA's Known Exploited Vulnerabilities catalog.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub known_exploited: bool,
    /// The CVEs the Fleet's vulnerability data says it fixes, with their source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vulnerabilities: Vec<crate::vuln::CveFinding>,
    /// The vendor says this update needs a restart.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub requires_reboot: bool,
    pub decision: Decision,
    /// By when it must be installed, under the Fleet's `deadlines`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Deadline>,
}

impl PatchDecision {
    pub fn overdue(&self) -> bool {
        self.deadline.as_ref().is_some_and(|d| d.overdue)
    }
}

/// A package's patch state on a host, as AWS Patch Manager reports it.
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
    serde::Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatchState {
    /// Installed, and no approved newer version is offered.
    Installed,
    /// Installed, but the host has not rebooted since (the old code still runs).
    InstalledPendingReboot,
    /// The installed version is one the baseline rejects (`rejectedAction: block`).
    InstalledRejected,
    /// An approved newer version is offered and not installed.
    Missing,
    /// The last attempt to install the approved version failed.
    Failed,
}

/// A package in a state that needs someone's attention (the states besides
/// INSTALLED and MISSING, which the counts and the install list show).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchStatus {
    pub name: String,
    pub arch: String,
    pub version: String,
    pub state: PatchState,
    pub reason: String,
}

/// The last failed install of a package on a host, from run state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedInstall {
    pub version: String,
    pub at: jiff::Timestamp,
    pub error: String,
}

/// Whether a host has every approved patch, and nothing it must not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Compliance {
    Compliant,
    /// Approved patches are missing (counted by compliance level, failed
    /// ones included), rejected versions are installed, or a reboot is due.
    NonCompliant {
        missing: BTreeMap<Severity, usize>,
        #[serde(skip_serializing_if = "is_zero")]
        failed: usize,
        #[serde(skip_serializing_if = "is_zero")]
        installed_rejected: usize,
        #[serde(skip_serializing_if = "is_zero")]
        pending_reboot: usize,
    },
    /// The host could not be scanned.
    Unknown {
        reason: String,
    },
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The planned changes of one scanned host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostDesired {
    /// Installed now: overdue patches first, then in name order.
    pub install: Vec<Arc<PatchDecision>>,
    /// Available but not installed now (pending, rejected, not applicable).
    pub withheld: Vec<Arc<PatchDecision>>,
    pub compliance: Compliance,
    pub reboot_expected: bool,
    /// Installed packages (and approved patches) by state.
    pub patch_states: BTreeMap<PatchState, usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attention: Vec<PatchStatus>,
    /// Patches (installed now or withheld) past their deadline.
    #[serde(skip_serializing_if = "is_zero")]
    pub overdue: usize,
}

/// What, besides the baseline, judges an update: the Fleet's
/// vulnerability data and deadlines.
#[derive(Debug, Clone, Copy)]
pub struct Judging<'a> {
    pub vulns: &'a VulnIndex,
    pub deadlines: &'a Deadlines,
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
    host: &str,
    facts: &HostFacts,
    baseline: &CompiledBaseline,
    reboot: RebootPolicy,
    ctx: &Context<'_>,
    cache: &DecisionCache,
    judging: Judging<'_>,
) -> HostDesired {
    let mut install = Vec::new();
    let mut withheld = Vec::new();
    for u in upgrades(facts, ctx.package_manager) {
        // The vulnerability data depends on the host's release besides the
        // update: part of the key, and assessed only when not yet decided.
        let release = crate::vuln::release(&facts.os);
        let pd = cache.get_or_insert(ctx.package_manager, ctx.seen_day(), u, release, || {
            let assessed = judging.vulns.assess(&facts.os, ctx.package_manager, u);
            let offer = Offer {
                update: u,
                vuln: assessed.as_deref(),
            };
            PatchDecision {
                name: u.name.clone(),
                arch: u.arch.clone(),
                from: u.installed_version.clone(),
                to: u.candidate_version.clone(),
                classification: u.classification,
                severity: offer.severity(),
                advisory: u.advisory.clone(),
                cves: offer.cve_ids(),
                severity_source: offer.severity_source(),
                known_exploited: offer.known_exploited(),
                vulnerabilities: assessed
                    .as_ref()
                    .map(|a| a.cves.clone())
                    .unwrap_or_default(),
                requires_reboot: u.requires_reboot,
                decision: baseline.evaluate(&offer, ctx),
                deadline: deadline(judging.deadlines, &offer, baseline, ctx),
            }
        });
        // Held packages stay where the administrator pinned them.
        if pd.decision.state.installs() && !u.held_back {
            install.push(pd);
        } else {
            withheld.push(pd);
        }
    }
    let by_name = |a: &Arc<PatchDecision>, b: &Arc<PatchDecision>| {
        (&a.name, &a.arch).cmp(&(&b.name, &b.arch))
    };
    install.sort_by(|a, b| b.overdue().cmp(&a.overdue()).then_with(|| by_name(a, b)));
    withheld.sort_by(by_name);
    let overdue = install
        .iter()
        .chain(&withheld)
        .filter(|p| p.overdue())
        .count();
    let states = patch_states(host, facts, baseline, &install, &withheld, ctx);
    let mut missing: BTreeMap<Severity, usize> = BTreeMap::new();
    for p in install
        .iter()
        .chain(withheld.iter().filter(|p| p.decision.state.installs()))
    {
        *missing.entry(p.decision.compliance_level).or_default() += 1;
    }
    let count = |s: PatchState| states.counts.get(&s).copied().unwrap_or(0);
    let (failed, installed_rejected, pending_reboot) = (
        count(PatchState::Failed),
        count(PatchState::InstalledRejected),
        count(PatchState::InstalledPendingReboot),
    );
    let compliance = if missing.is_empty() && installed_rejected == 0 && pending_reboot == 0 {
        Compliance::Compliant
    } else {
        Compliance::NonCompliant {
            missing,
            failed,
            installed_rejected,
            pending_reboot,
        }
    };
    let reboot_expected = match reboot {
        RebootPolicy::Never => false,
        RebootPolicy::Always => !install.is_empty(),
        // A pending reboot alone is not a change: the host shows it as
        // INSTALLED_PENDING_REBOOT; it reboots when it is next patched.
        RebootPolicy::IfRequired => {
            !install.is_empty()
                && (facts.reboot_required
                    || install
                        .iter()
                        .any(|p| p.requires_reboot || needs_reboot(&p.name)))
        }
    };
    HostDesired {
        install,
        withheld,
        compliance,
        reboot_expected,
        patch_states: states.counts,
        attention: states.attention,
        overdue,
    }
}

/// The deadline of an offered update, unless the policy sets none for it or
/// the baseline rejects it (a rejection is a decision not to install).
fn deadline(
    deadlines: &Deadlines,
    offer: &Offer<'_>,
    baseline: &CompiledBaseline,
    ctx: &Context<'_>,
) -> Option<Deadline> {
    if deadlines.is_empty() {
        return None;
    }
    let u = offer.update;
    if baseline.rejects(offer, ctx) {
        return None;
    }
    deadlines.due(
        offer.severity(),
        offer.known_exploited(),
        u.release_date,
        ctx.first_seen_day(u),
        ctx.today(),
        ctx.tz,
    )
}

struct States {
    counts: BTreeMap<PatchState, usize>,
    attention: Vec<PatchStatus>,
}

/// Every installed package's state. Precedence: FAILED (the approved version
/// failed to install last time), MISSING, INSTALLED_REJECTED,
/// INSTALLED_PENDING_REBOOT, INSTALLED.
fn patch_states(
    host: &str,
    facts: &HostFacts,
    baseline: &CompiledBaseline,
    install: &[Arc<PatchDecision>],
    withheld: &[Arc<PatchDecision>],
    ctx: &Context<'_>,
) -> States {
    let approved: foldhash::HashMap<(&str, &str), &PatchDecision> = install
        .iter()
        .chain(withheld.iter().filter(|p| p.decision.state.installs()))
        .map(|p| ((p.name.as_str(), p.arch.as_str()), &**p))
        .collect();
    let mut counts: BTreeMap<PatchState, usize> = BTreeMap::new();
    let mut attention = Vec::new();
    for pkg in &facts.installed {
        let key = (pkg.name.as_str(), pkg.arch.as_str());
        let (state, reason) = if let Some(p) = approved.get(&key) {
            match ctx.history.failed_install(host, &pkg.name, &pkg.arch) {
                Some(f) if f.version == p.to => (
                    PatchState::Failed,
                    Some(format!(
                        "installing {} failed at {}: {}",
                        f.version, f.at, f.error
                    )),
                ),
                _ => (PatchState::Missing, None),
            }
        } else if let Some(why) = baseline.rejects_installed(&pkg.name, &pkg.version, ctx) {
            (PatchState::InstalledRejected, Some(why))
        } else if facts.reboot_required && facts.reboot_required_by.contains(&pkg.name) {
            (
                PatchState::InstalledPendingReboot,
                Some("installed; the host has not rebooted since".to_string()),
            )
        } else {
            (PatchState::Installed, None)
        };
        *counts.entry(state).or_default() += 1;
        if let Some(reason) = reason {
            attention.push(PatchStatus {
                name: pkg.name.clone(),
                arch: pkg.arch.clone(),
                version: pkg.version.clone(),
                state,
                reason,
            });
        }
    }
    attention.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    States { counts, attention }
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
        match installed.get(&(u.name.as_str(), u.arch.as_str())) {
            Some(v) => {
                *v == u.installed_version
                    && version::compare(pm, &u.candidate_version, v) == Ordering::Greater
            }
            // A Windows update is a KB not installed yet: installing it is
            // the patch (never so for a package manager's new package).
            None => {
                pm == crate::facts::PackageManager::WindowsUpdate && u.installed_version.is_empty()
            }
        }
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

    /// No vulnerability data, no deadlines.
    fn plain() -> Judging<'static> {
        Judging {
            vulns: Box::leak(Box::default()),
            deadlines: Box::leak(Box::default()),
        }
    }
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
                    source: None,
                    name: n.to_string(),
                    arch: "amd64".into(),
                    version: v.to_string(),
                    held: false,
                })
                .collect(),
            updates: updates
                .iter()
                .map(|(n, from, to, c, held)| AvailableUpdate {
                    source: None,
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
                    requires_reboot: false,
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
            seen_at: None,
        }
    }

    /// An overdue patch comes first in the install list, whatever its name.
    #[test]
    fn overdue_patches_are_installed_first() {
        let b = baseline("  approvalRules:\n    - {name: all}\n");
        let mut f = facts(
            &[("aaa", "1.0-1"), ("zzz", "1.0-1")],
            &[
                ("aaa", "1.0-1", "1.0-2", Classification::Security, false),
                ("zzz", "1.0-1", "1.0-2", Classification::Security, false),
            ],
        );
        // aaa was released a week ago, zzz in January: past 30 days.
        f.updates[0].release_date = Some(jiff::civil::date(2026, 11, 20));
        f.updates[1].release_date = Some(jiff::civil::date(2026, 1, 5));
        let spec: crate::spec::fleet::DeadlineSpec =
            serde_saphyr::from_str("{countFrom: release, important: 30}").unwrap();
        let deadlines = Deadlines::from_spec(&spec);
        let (h, tz) = (History::default(), TimeZone::UTC);
        let d = desired(
            "h",
            &f,
            &b,
            RebootPolicy::Never,
            &ctx(&h, &tz),
            &DecisionCache::default(),
            Judging {
                vulns: &VulnIndex::default(),
                deadlines: &deadlines,
            },
        );
        let order: Vec<(&str, bool)> = d
            .install
            .iter()
            .map(|p| (p.name.as_str(), p.overdue()))
            .collect();
        assert_eq!(order, [("zzz", true), ("aaa", false)]);
        assert_eq!(d.overdue, 1);
        let due = d.install[1].deadline.as_ref().unwrap();
        assert_eq!(due.due_by, jiff::civil::date(2026, 12, 20));
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
        let d = desired(
            "h",
            &f,
            &b,
            RebootPolicy::IfRequired,
            &ctx(&h, &tz),
            &DecisionCache::default(),
            plain(),
        );
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
                missing: [(Severity::Important, 2)].into(),
                failed: 0,
                installed_rejected: 0,
                pending_reboot: 0,
            }
        );
        assert!(
            !desired(
                "h",
                &f,
                &b,
                RebootPolicy::Never,
                &ctx(&h, &tz),
                &DecisionCache::default(),
                plain()
            )
            .reboot_expected
        );
    }

    #[test]
    fn every_installed_package_has_a_patch_state() {
        let b = baseline(
            "  approvalRules:\n    - {name: sec, classifications: [security]}\n  rejected:\n    - {package: \"lib-old*\", version: \"< 2\", reason: known bad}\n",
        );
        let mut f = facts(
            &[
                ("openssl", "3.0-1"),
                ("curl", "7.0-1"),
                ("lib-old-x", "1.5"),
                ("lib-old-y", "2.5"),
                ("systemd", "252-1"),
                ("vim", "9.0-1"),
            ],
            &[
                ("openssl", "3.0-1", "3.0-2", Classification::Security, false),
                ("curl", "7.0-1", "7.0-2", Classification::Security, false),
            ],
        );
        f.reboot_required = true;
        f.reboot_required_by = vec!["systemd".into()];
        let tz = TimeZone::UTC;
        let mut h = History::default();
        h.failed_installs.insert(
            ("h".into(), crate::facts::PackageKey::parse("curl:amd64")),
            FailedInstall {
                version: "7.0-2".into(),
                at: "2026-11-26T22:10:00Z".parse().unwrap(),
                error: "dpkg: error processing package curl".into(),
            },
        );
        // A failure of another version, or on another host, is not this one's.
        h.failed_installs.insert(
            ("h".into(), crate::facts::PackageKey::parse("openssl:amd64")),
            FailedInstall {
                version: "3.0-9".into(),
                at: "2026-11-26T22:10:00Z".parse().unwrap(),
                error: "old".into(),
            },
        );
        let d = desired(
            "h",
            &f,
            &b,
            RebootPolicy::IfRequired,
            &ctx(&h, &tz),
            &DecisionCache::default(),
            plain(),
        );
        assert_eq!(
            d.patch_states,
            [
                (PatchState::Installed, 2),
                (PatchState::InstalledPendingReboot, 1),
                (PatchState::InstalledRejected, 1),
                (PatchState::Missing, 1),
                (PatchState::Failed, 1),
            ]
            .into()
        );
        let attention: Vec<(&str, PatchState)> = d
            .attention
            .iter()
            .map(|a| (a.name.as_str(), a.state))
            .collect();
        assert_eq!(
            attention,
            [
                ("curl", PatchState::Failed),
                ("lib-old-x", PatchState::InstalledRejected),
                ("systemd", PatchState::InstalledPendingReboot),
            ]
        );
        assert!(
            d.attention[0]
                .reason
                .contains("installing 7.0-2 failed at 2026-11-26T22:10:00Z: dpkg: error")
        );
        assert_eq!(
            d.compliance,
            Compliance::NonCompliant {
                missing: [(Severity::Important, 2)].into(),
                failed: 1,
                installed_rejected: 1,
                pending_reboot: 1,
            }
        );
        // allowAsDependency tolerates an installed rejected version.
        let lenient = baseline(
            "  rejected:\n    - {package: \"lib-old*\", reason: r}\n  rejectedAction: allowAsDependency\n",
        );
        f.reboot_required = false;
        let d = desired(
            "other-host",
            &f,
            &lenient,
            RebootPolicy::IfRequired,
            &ctx(&h, &tz),
            &DecisionCache::default(),
            plain(),
        );
        assert_eq!(d.patch_states, [(PatchState::Installed, 6)].into());
        assert_eq!(d.compliance, Compliance::Compliant);
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
            let a = desired("h", &f, &b, RebootPolicy::IfRequired, &ctx(&h, &tz), &DecisionCache::default(), plain());
            let again = desired("h", &f, &b, RebootPolicy::IfRequired, &ctx(&h, &tz), &DecisionCache::default(), plain());
            prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&again).unwrap());
            for p in &a.install {
                prop_assert!(f.installed.iter().any(|i| i.name == p.name && i.version == p.from));
                prop_assert_eq!(version::compare(PackageManager::Apt, &p.to, &p.from), Ordering::Greater);
            }
        }
    }
}
