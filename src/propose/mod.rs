//! `propose`: the versions hosts are offered that the rules do not approve
//! now, gathered per baseline so a reviewer can approve them by merging a
//! pull request that adds them to the baseline's PatchApprovals lockfile.
//! Pure, like the planner: facts, history and `now` in; candidates out.

pub mod lockfile;

use crate::plan::offer::Offer;
use crate::vuln::VulnIndex;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::facts::{HostScan, ScanState};
use crate::plan::baseline::Context;
use crate::plan::host::upgrades;
use crate::plan::{CompiledBaseline, DecisionState, History};
use crate::spec::Repository;
use crate::spec::baseline::{Classification, Severity};

/// One version proposed for approval, with what a reviewer needs to judge it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub package: String,
    pub version: String,
    /// The most urgent classification and severity any host reported for it.
    pub classification: Classification,
    pub severity: Severity,
    pub advisories: BTreeSet<String>,
    pub cves: BTreeSet<String>,
    /// Hosts offered this version.
    pub hosts: usize,
    /// Why the rules do not approve it now.
    pub why: String,
}

/// Gathers candidates host by host (a large facts file can be streamed).
pub struct Collector<'a> {
    history: &'a History,
    now: Timestamp,
    tz: &'a TimeZone,
    /// Host name → index into `baselines`.
    hosts: HashMap<&'a str, usize>,
    baselines: Vec<CompiledBaseline>,
    found: BTreeMap<(String, String, String), Candidate>,
    include_pending: bool,
    /// The Fleet's vulnerability data: rules by severity, KEV or CVE see it.
    vulns: Option<&'a VulnIndex>,
}

impl<'a> Collector<'a> {
    /// Every baseline in use (or only `only`), with its current approvals.
    /// Versions a rule will approve later are left to the rule unless
    /// `include_pending` (a reviewer fast-tracking them).
    pub fn new(
        repo: &'a Repository,
        history: &'a History,
        now: Timestamp,
        tz: &'a TimeZone,
        only: Option<&str>,
        include_pending: bool,
    ) -> Result<Collector<'a>, String> {
        let mut baselines: Vec<CompiledBaseline> = Vec::new();
        let mut hosts = HashMap::new();
        for g in &repo.groups {
            let name = g.spec.baseline.value.as_str();
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let idx = match baselines.iter().position(|b| b.name == name) {
                Some(i) => i,
                None => {
                    let b = repo
                        .baselines
                        .iter()
                        .find(|b| b.name() == name)
                        .ok_or_else(|| {
                            format!("group `{}`: baseline `{name}` not found", g.name())
                        })?;
                    let approvals: Vec<_> = repo
                        .approvals
                        .iter()
                        .filter(|a| a.spec.baseline.value == name)
                        .collect();
                    baselines.push(CompiledBaseline::compile(b, &approvals)?);
                    baselines.len() - 1
                }
            };
            for h in &g.spec.hosts {
                hosts.insert(h.name.value.as_str(), idx);
            }
        }
        Ok(Collector {
            history,
            now,
            tz,
            hosts,
            baselines,
            found: BTreeMap::new(),
            include_pending,
            vulns: None,
        })
    }

    /// Judges updates with the Fleet's vulnerability data, as `plan` does.
    pub fn with_vulnerabilities(mut self, vulns: &'a VulnIndex) -> Self {
        self.vulns = Some(vulns);
        self
    }

    /// The baselines being considered, by name.
    pub fn baselines(&self) -> impl Iterator<Item = &str> {
        self.baselines.iter().map(|b| b.name.as_str())
    }

    /// Adds one host's scan. Hosts of other baselines, and hosts that could
    /// not be scanned, add nothing; nor do held packages (an administrator pinned them).
    pub fn add(&mut self, scan: &HostScan) {
        let (Some(&idx), ScanState::Scanned { facts }) =
            (self.hosts.get(scan.host.as_str()), &scan.state)
        else {
            return;
        };
        let baseline = &self.baselines[idx];
        let ctx = Context {
            package_manager: facts.package_manager,
            now: self.now,
            tz: self.tz,
            history: self.history,
            seen_at: Some(scan.scanned_at),
        };
        // A host counts once per version, even when it has several architectures of the package.
        let mut counted = std::collections::HashSet::new();
        for u in upgrades(facts, facts.package_manager).filter(|u| !u.held_back) {
            let assessed = self
                .vulns
                .and_then(|v| v.assess(&facts.os, facts.package_manager, u));
            let offer = Offer {
                update: u,
                vuln: assessed.as_deref(),
            };
            let Some((state, why)) = baseline.proposable(&offer, &ctx) else {
                continue;
            };
            if state == DecisionState::PendingApproval && !self.include_pending {
                continue;
            }
            let key = (
                baseline.name.clone(),
                u.name.clone(),
                u.candidate_version.clone(),
            );
            let c = self.found.entry(key).or_insert_with(|| Candidate {
                package: u.name.clone(),
                version: u.candidate_version.clone(),
                classification: u.classification,
                severity: u.severity,
                advisories: BTreeSet::new(),
                cves: BTreeSet::new(),
                hosts: 0,
                why,
            });
            c.classification = c.classification.min(u.classification);
            c.severity = c.severity.min(u.severity);
            c.advisories.extend(u.advisory.iter().cloned());
            c.cves.extend(u.cves.iter().cloned());
            if counted.insert((u.name.as_str(), u.candidate_version.as_str())) {
                c.hosts += 1;
            }
        }
    }

    /// Baseline name → its candidates, sorted by package and version.
    pub fn finish(self) -> BTreeMap<String, Vec<Candidate>> {
        let mut out: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
        for ((baseline, _, _), c) in self.found {
            out.entry(baseline).or_default().push(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{AvailableUpdate, HostFacts, InstalledPackage, OsInfo, PackageManager};

    const REPO: &str = "apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {name: g}
spec:
  baseline: b
  windows: [w]
  rollout: r
  hosts: [{name: h1, address: 10.0.0.1}, {name: h2, address: 10.0.0.2}]
---
apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {name: b}
spec:
  approvalRules:
    - {name: sec, classifications: [security]}
    - {name: later, classifications: [bugfix], approveAfterDays: 7}
  rejected:
    - {package: bad, reason: breaks things}
---
apiVersion: patchwave.dev/v1
kind: PatchApprovals
metadata: {name: b-approvals}
spec:
  baseline: b
  approvals:
    - {package: done, version: \"2\"}
---
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {name: r}
spec: {waves: [\"100%\"]}
---
apiVersion: patchwave.dev/v1
kind: MaintenanceWindow
metadata: {name: w}
spec: {schedule: \"0 22 * * SAT\", duration: 4h}
";

    fn host(name: &str, updates: &[(&str, Classification, bool)]) -> HostScan {
        HostScan {
            host: name.into(),
            group: "g".into(),
            address: "10.0.0.1".into(),
            transport: "ssh".into(),
            scanned_at: "2026-11-20T00:00:00Z".parse().unwrap(),
            duration_ms: 1,
            state: ScanState::Scanned {
                facts: Box::new(HostFacts {
                    os: OsInfo::default(),
                    package_manager: PackageManager::Apt,
                    kernel: String::new(),
                    boot_id: String::new(),
                    installed: updates
                        .iter()
                        .flat_map(|(n, _, _)| {
                            ["amd64", "i386"].map(|arch| InstalledPackage {
                                source: None,
                                name: n.to_string(),
                                arch: arch.into(),
                                version: "1".into(),
                                held: false,
                            })
                        })
                        .collect(),
                    updates: updates
                        .iter()
                        .flat_map(|(n, c, held)| {
                            ["amd64", "i386"].map(|arch| AvailableUpdate {
                                source: None,
                                name: n.to_string(),
                                arch: arch.into(),
                                installed_version: "1".into(),
                                candidate_version: "2".into(),
                                repository: String::new(),
                                classification: *c,
                                severity: Severity::Unspecified,
                                advisory: Some(format!("ADV-{n}")),
                                cves: vec![],
                                release_date: None,
                                held_back: *held,
                                requires_reboot: false,
                            })
                        })
                        .collect(),
                    reboot_required: false,
                    reboot_required_by: vec![],
                    rejected_lines: vec![],
                }),
            },
        }
    }

    fn collect(include_pending: bool) -> BTreeMap<String, Vec<Candidate>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fleet.yaml"), REPO).unwrap();
        let checked = crate::spec::check(dir.path()).unwrap();
        assert!(
            !checked.has_errors(),
            "{:?}",
            checked.errors().collect::<Vec<_>>()
        );
        let history = History::default();
        let tz = TimeZone::UTC;
        let mut c = Collector::new(
            &checked.repo,
            &history,
            "2026-11-23T00:00:00Z".parse().unwrap(),
            &tz,
            None,
            include_pending,
        )
        .unwrap();
        use Classification::*;
        let rows = [
            ("misc", Other, false),   // no rule: proposed
            ("fix", Bugfix, false),   // a rule approves it in 7 days: only with include_pending
            ("sec", Security, false), // approved now: nothing to propose
            ("bad", Other, false),    // rejected: never
            ("done", Other, false),   // already in the lockfile
            ("pinned", Other, true),  // held by the administrator
        ];
        c.add(&host("h1", &rows));
        c.add(&host("h2", &rows[..1]));
        c.add(&HostScan {
            state: ScanState::Unreachable {
                error: "down".into(),
            },
            ..host("h2", &[])
        });
        c.finish()
    }

    #[test]
    fn proposes_what_no_rule_approves_once_per_host() {
        let got = collect(false);
        let b = &got["b"];
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(
            (b[0].package.as_str(), b[0].version.as_str()),
            ("misc", "2")
        );
        assert_eq!(
            b[0].hosts, 2,
            "two hosts, each counted once across architectures"
        );
        assert_eq!(b[0].advisories, BTreeSet::from(["ADV-misc".to_string()]));
        assert_eq!(b[0].why, "no approval rule matches");

        let with_pending = collect(true);
        let names: Vec<&str> = with_pending["b"]
            .iter()
            .map(|c| c.package.as_str())
            .collect();
        assert_eq!(names, ["fix", "misc"]);
        assert!(
            with_pending["b"][0]
                .why
                // Offered by the scan of 2026-11-20, so 7 days from then
                // (not from the collection's `now`, 2026-11-23).
                .contains("first seen 2026-11-20, approved after 7 days; the rule approves it on 2026-11-27"),
            "{}",
            with_pending["b"][0].why
        );
    }
}
