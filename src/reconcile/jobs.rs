//! What a group's run is built from: each host's job (its planned
//! versions, template scope), the group's host settings, the run id, the
//! EmergencyChanges a run records, and how a resumed run's hosts ended.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;

use super::source::Source;
use crate::facts::{HostFacts, PackageKey, PackageVersions};
use crate::plan::fleet::{GroupPlan, HostPlan};
use crate::rollout::host::{HostJob, HostSettings};
use crate::rollout::record::{EmergencyRecord, HostOutcome, RunRecord};
use crate::rollout::template::{GroupScope, HostScope, PlanScope, RunScope, Scope};
use crate::scan::{FleetScanOptions, ScanTarget};
use crate::spec::Repository;
use crate::spec::baseline::RebootPolicy;
use crate::state::RunState;

/// The EmergencyChanges in force, as runs record them (with the commit
/// that added each, where the source is a git repository).
pub fn emergency_records(
    repo: &Repository,
    source: &Source,
    now: Timestamp,
) -> BTreeMap<String, EmergencyRecord> {
    crate::plan::emergency::in_force(repo, now)
        .into_iter()
        .map(|e| {
            // The commit that added this EmergencyChange (by kind and
            // name, in its file), not merely its file.
            let present = |text: &str| {
                crate::spec::load::load_text(e.file, text)
                    .emergencies
                    .iter()
                    .any(|x| x.name() == e.name)
            };
            // Origin paths start with the repository path as given.
            let file = e.file.strip_prefix(&source.policy_dir).unwrap_or(e.file);
            let added_in = source
                .commit
                .as_deref()
                .and_then(|c| crate::source::commit_adding(&source.git_dir, c, file, &present));
            (
                e.name.to_string(),
                EmergencyRecord {
                    name: e.name.to_string(),
                    reason: e.reason.to_string(),
                    expires: e.expires,
                    added_in,
                },
            )
        })
        .collect()
}

/// How the group's hosts are changed: hooks, health checks, reboot policy, bounds.
pub fn settings_for(
    repo: &Repository,
    group: &crate::spec::Resource<crate::spec::host_group::HostGroupSpec>,
    g: &GroupPlan,
    scan_opts: &FleetScanOptions,
) -> HostSettings {
    let reboot = repo
        .baselines
        .iter()
        .find(|b| b.name() == g.baseline)
        .map(|b| b.spec.reboot)
        .unwrap_or_default();
    let reboot_timeout = repo
        .fleets
        .first()
        .and_then(|f| f.spec.apply.as_ref())
        .and_then(|a| a.reboot_timeout.as_ref())
        .and_then(|t| t.get())
        .unwrap_or(Duration::from_secs(600));
    HostSettings {
        scan: scan_opts.clone(),
        install_timeout: Duration::from_secs(1800),
        reboot_timeout,
        reboot,
        hooks: group.spec.hooks.clone(),
        health: group.spec.health_checks.clone(),
        safety: crate::rollout::safety::InstallSafety::for_baseline(repo, &g.baseline),
    }
}

/// A resumed run's hosts that the new plan no longer lists (the run was
/// killed after their install, before the record said how they ended). The
/// rescan shows their versions, the journal their steps: at the planned
/// versions with every later step done they are patched (never installed
/// twice); a failed step, or steps that never ran (reboot, health, post
/// hook), make them failed, counted against the budget.
pub fn settle_resumed_hosts(
    record: &mut RunRecord,
    g: &GroupPlan,
    facts: &HashMap<&str, &HostFacts>,
    settings: &HostSettings,
) {
    use crate::rollout::record::Step;
    let in_plan: std::collections::HashSet<&str> = g
        .waves
        .iter()
        .flat_map(|w| &w.hosts)
        .map(|h| h.host.as_str())
        .collect();
    for h in record.waves.iter_mut().flat_map(|w| w.hosts.iter_mut()) {
        if in_plan.contains(h.host.as_str())
            || !matches!(h.outcome, HostOutcome::InProgress | HostOutcome::Pending)
        {
            continue;
        }
        let Some(f) = facts.get(h.host.as_str()) else {
            h.outcome = HostOutcome::Skipped {
                reason: "could not be rescanned when the run resumed".into(),
            };
            continue;
        };
        let now: PackageVersions = f
            .installed_versions()
            .into_iter()
            .filter(|(k, _)| h.planned.contains_key(k))
            .collect();
        h.after = now.clone();
        if now != h.planned {
            h.outcome = HostOutcome::Skipped {
                reason: "no longer in the plan when the run resumed".into(),
            };
            continue;
        }
        if let Some(failed) = h.steps.iter().rev().find(|s| !s.ok) {
            h.outcome = HostOutcome::Failed {
                step: failed.step,
                error: failed.output.clone(),
            };
            continue;
        }
        let done = |step: Step| h.steps.iter().any(|s| s.step == step && s.ok);
        let reboot_due = match settings.reboot {
            RebootPolicy::Never => false,
            RebootPolicy::Always => true,
            RebootPolicy::IfRequired => f.reboot_required,
        };
        let missing = [
            (Step::Reboot, reboot_due),
            (Step::Health, !settings.health.is_empty()),
            (Step::Post, !settings.hooks.post.is_empty()),
        ]
        .into_iter()
        .find(|(step, needed)| *needed && !done(*step));
        h.outcome = match missing {
            None => HostOutcome::Patched,
            Some((step, _)) => HostOutcome::Failed {
                step,
                error: format!(
                    "the run was stopped after the install; the {} step never ran: check the host",
                    step.as_str()
                ),
            },
        };
    }
}

/// A run id that no record has yet: time to the millisecond, the group,
/// then this process's instance id.
pub async fn new_run_id(store: &dyn RunState, now: Timestamp, group: &str) -> String {
    let base = format!(
        "{}-{group}-{}",
        now.strftime("%Y%m%dT%H%M%S%.3fZ"),
        super::instance_id()
    );
    let mut id = base.clone();
    let mut n = 2;
    while matches!(store.load_run(&id).await, Ok(Some(_))) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

pub fn host_job(
    hp: &HostPlan,
    target: &ScanTarget,
    facts: &HostFacts,
    group: &crate::spec::Resource<crate::spec::host_group::HostGroupSpec>,
    run_id: &str,
    wave: usize,
) -> HostJob {
    let key = PackageKey::new;
    let before: PackageVersions = hp
        .desired
        .install
        .iter()
        .map(|p| (key(&p.name, &p.arch), p.from.clone()))
        .collect();
    let planned: PackageVersions = hp
        .desired
        .install
        .iter()
        .map(|p| (key(&p.name, &p.arch), p.to.clone()))
        .collect();
    let labels = group
        .spec
        .hosts
        .iter()
        .find(|h| h.name.value == hp.host)
        .map(|h| h.labels.clone())
        .unwrap_or_default();
    HostJob {
        target: target.clone(),
        package_manager: facts.package_manager,
        scope: Scope {
            host: HostScope {
                name: hp.host.clone(),
                address: target.address.clone(),
                labels,
            },
            group: GroupScope {
                name: group.name().to_string(),
                labels: group.metadata.labels.clone(),
            },
            run: RunScope {
                id: run_id.to_string(),
                wave,
            },
            plan: PlanScope {
                packages: hp
                    .desired
                    .install
                    .iter()
                    .map(|p| format!("{}={}", p.name, p.to))
                    .collect(),
                reboot: hp.desired.reboot_expected,
            },
        },
        before,
        planned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{InstalledPackage, OsInfo, PackageManager};
    use crate::rollout::record::{HostRun, RunKind, WaveRun};
    use crate::rollout::record::{Step, StepRecord};
    use crate::schedule::WindowStatus;
    use crate::spec::host_group::HealthCheckSpec;

    fn step(step: Step, ok: bool) -> StepRecord {
        StepRecord {
            step,
            started_at: "2026-11-23T06:00:00Z".parse().unwrap(),
            duration_ms: 1,
            ok,
            output: if ok { String::new() } else { "boom".into() },
        }
    }

    /// One host, killed mid-run with `steps` journaled, now at `version`.
    fn settle(steps: Vec<StepRecord>, version: &str, health: bool) -> HostOutcome {
        let mut record = RunRecord {
            waves: vec![WaveRun {
                number: 1,
                hosts: vec![HostRun {
                    host: "h1".into(),
                    outcome: HostOutcome::InProgress,
                    before: [("vim:amd64".into(), "1".to_string())].into(),
                    planned: [("vim:amd64".into(), "2".to_string())].into(),
                    after: BTreeMap::new(),
                    steps,
                }],
            }],
            ..RunRecord::start(
                RunKind::Apply,
                "r".into(),
                "g",
                "2026-11-23T06:00:00Z".parse().unwrap(),
                "t".into(),
            )
        };
        let plan = GroupPlan {
            group: "g".into(),
            baseline: "b".into(),
            rollout: "r".into(),
            suspended: false,
            window: WindowStatus::Closed { next_start: None },
            waves: vec![],
            unchanged: vec![],
            unknown: vec![],
            emergency: vec![],
        };
        let facts = HostFacts {
            os: OsInfo::default(),
            package_manager: PackageManager::Apt,
            kernel: String::new(),
            boot_id: String::new(),
            installed: vec![InstalledPackage {
                source: None,
                name: "vim".into(),
                arch: "amd64".into(),
                version: version.into(),
                held: false,
            }],
            updates: vec![],
            reboot_required: false,
            reboot_required_by: vec![],
            rejected_lines: vec![],
        };
        let check: HealthCheckSpec = serde_saphyr::from_str("{name: up, command: [true]}").unwrap();
        let settings = HostSettings {
            scan: FleetScanOptions::default(),
            install_timeout: Duration::from_secs(1),
            reboot_timeout: Duration::from_secs(1),
            reboot: RebootPolicy::IfRequired,
            hooks: Default::default(),
            health: if health { vec![check] } else { vec![] },
            safety: Default::default(),
        };
        settle_resumed_hosts(&mut record, &plan, &[("h1", &facts)].into(), &settings);
        record.waves[0].hosts[0].outcome.clone()
    }

    #[test]
    fn a_killed_hosts_outcome_comes_from_its_versions_and_its_journaled_steps() {
        let installed = vec![step(Step::Connect, true), step(Step::Install, true)];
        // At the planned version, nothing left to run: patched, not installed again.
        assert_eq!(settle(installed.clone(), "2", false), HostOutcome::Patched);
        // Health checks never ran: failed at health, counted.
        assert!(matches!(
            settle(installed.clone(), "2", true),
            HostOutcome::Failed {
                step: Step::Health,
                ..
            }
        ));
        // A journaled failure stays a failure.
        assert!(matches!(
            settle(
                vec![
                    step(Step::Connect, true),
                    step(Step::Install, true),
                    step(Step::Verify, false)
                ],
                "2",
                false
            ),
            HostOutcome::Failed {
                step: Step::Verify,
                ..
            }
        ));
        // Not at the planned version: not counted as patched.
        assert!(matches!(
            settle(installed, "1", false),
            HostOutcome::Skipped { .. }
        ));
    }
}
