//! One group's reconcile: decide from its windows (and emergencies) whether
//! hosts may start, build the run (or resume the open one), carry it out in
//! waves, record what each install did.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use jiff::Timestamp;

use super::Options;
use super::event::{Event, Sink};
use super::jobs::{host_job, new_run_id, settings_for, settle_resumed_hosts};
use crate::exit::Exit;
use crate::facts::HostFacts;
use crate::plan::emergency;
use crate::plan::fleet::GroupPlan;
use crate::rollout::budget::ErrorBudget;
use crate::rollout::group::{self, Event as RolloutEvent, GroupRollout, WaveJobs};
use crate::rollout::record::{
    EmergencyRecord, HostOutcome, HostRun, RunKind, RunOutcome, RunRecord, WaveRun,
};
use crate::scan::{FleetScanOptions, ScanTarget};
use crate::schedule::{Calendar, WindowStatus};
use crate::spec::Repository;
use crate::state::{InstallAttempt, LocalState, RunState};

/// What a group's reconcile works from, shared by every group of a pass.
#[derive(Clone, Copy)]
pub struct GroupInputs<'a> {
    pub repo: &'a Repository,
    pub calendar: &'a Calendar,
    pub facts: &'a HashMap<&'a str, &'a HostFacts>,
    pub targets: &'a HashMap<&'a str, &'a ScanTarget>,
    pub scan_opts: &'a FleetScanOptions,
    pub store: &'a Arc<LocalState>,
    pub desired_commit: Option<&'a str>,
    pub emergencies: &'a BTreeMap<String, EmergencyRecord>,
    pub shutdown: &'a Arc<AtomicBool>,
    pub host_permits: &'a Arc<tokio::sync::Semaphore>,
    pub options: &'a Options,
    pub events: &'a Sink,
}

/// Carries out one group's part of the plan: inside its windows (or as an
/// emergency allows), waves in order, every step journaled; returns how it
/// ended and the run, when one ran.
pub async fn reconcile_group(i: &GroupInputs<'_>, g: &GroupPlan) -> (Exit, Option<RunRecord>) {
    let GroupInputs {
        repo,
        calendar,
        facts,
        targets,
        scan_opts,
        desired_commit,
        emergencies,
        options,
        events,
        ..
    } = *i;
    let store = i.store.clone();
    let shutdown = i.shutdown.clone();
    let exit = |e: Exit| (e, None);
    let error = |message: String| {
        events(&Event::Error { message });
        (Exit::Error, None)
    };
    let name = g.group.as_str();
    let Some(group) = repo.group(name) else {
        return exit(Exit::Error);
    };
    if g.suspended {
        events(&Event::Suspended {
            group: name.to_string(),
        });
        return exit(Exit::Ok);
    }
    let lease = match store.lease_group(name).await {
        Ok(l) => l,
        Err(e) => return error(e.to_string()),
    };
    let open = match store.open_run(name).await {
        Ok(o) => o,
        Err(e) => return error(e.to_string()),
    };
    if let Some(r) = &open
        && let RunOutcome::Halted { reason } = &r.outcome
        && !options.resume
    {
        events(&Event::StillHalted {
            group: name.to_string(),
            run: r.id.clone(),
            reason: reason.clone(),
        });
        return exit(Exit::Halted);
    }
    let changes: usize = g.waves.iter().map(|w| w.hosts.len()).sum();
    if changes == 0 {
        if let Some(mut r) = open {
            settle_resumed_hosts(&mut r, g, facts, &settings_for(repo, group, g, scan_opts));
            let errors = r
                .waves
                .iter()
                .flat_map(|w| &w.hosts)
                .filter(|h| h.outcome.is_failure())
                .count();
            r.errors = errors;
            r.outcome = if errors == 0 {
                RunOutcome::Succeeded
            } else {
                RunOutcome::FinishedWithErrors { errors }
            };
            r.finished_at = Some(Timestamp::now());
            if let Err(e) = store.save_run(&r, lease.token).await {
                return error(e.to_string());
            }
        }
        events(&Event::NothingToDo {
            group: name.to_string(),
        });
        return exit(Exit::Ok);
    }
    // The window decides, unless this is an emergency run: a person's
    // (`--emergency --reason`) or a committed EmergencyChange's.
    let now = Timestamp::now();
    let freeze = calendar.freeze_at(name, now);
    let frozen = freeze.is_some();
    let by_change = emergency::usable(&g.emergency, now, frozen);
    let manual = options.emergency.as_ref();
    let (start_until, emergency) = match (&g.window, manual) {
        (WindowStatus::Open { start_until, .. }, None) => (Some(*start_until), false),
        (_, Some(m)) => {
            if let Some((deny, until)) = &freeze
                && !m.break_freeze
            {
                events(&Event::FreezeNeedsBreak {
                    group: name.to_string(),
                    deny_window: deny.clone(),
                    until: *until,
                });
                return exit(Exit::Ok);
            }
            (None, true)
        }
        (_, None) if !by_change.is_empty() => {
            let until = by_change.iter().map(|e| e.until).max();
            events(&Event::AllowedByEmergency {
                group: name.to_string(),
                names: by_change.iter().map(|e| e.name.clone()).collect(),
                until,
            });
            (until, false)
        }
        (
            WindowStatus::Denied {
                deny_window,
                until,
                next_start,
            },
            None,
        ) => {
            events(&Event::Frozen {
                group: name.to_string(),
                deny_window: deny_window.clone(),
                until: *until,
                next_start: *next_start,
                emergency_without_break: !g.emergency.is_empty(),
            });
            return exit(Exit::Ok);
        }
        (WindowStatus::Closed { next_start }, None) => {
            events(&Event::OutsideWindows {
                group: name.to_string(),
                next_start: *next_start,
            });
            return exit(Exit::Ok);
        }
    };
    // Outside the windows by an EmergencyChange, only the hosts it covers start.
    let outside_windows = !matches!(g.window, WindowStatus::Open { .. }) && !emergency;
    let may_start =
        |host: &str| !outside_windows || by_change.iter().any(|e| e.lets_start(host, frozen));
    if outside_windows
        && !g
            .waves
            .iter()
            .flat_map(|w| &w.hosts)
            .any(|h| may_start(&h.host))
    {
        events(&Event::NotCovered {
            group: name.to_string(),
        });
        return exit(Exit::Ok);
    }
    let used: Vec<EmergencyRecord> = emergencies
        .iter()
        .filter(|(n, _)| {
            (outside_windows && by_change.iter().any(|e| e.name == **n))
                || g.waves.iter().flat_map(|w| &w.hosts).any(|h| {
                    may_start(&h.host)
                        && h.desired.install.iter().any(|p| {
                            p.decision.reason == format!("approved by EmergencyChange `{n}`")
                        })
                })
        })
        .map(|(_, r)| r.clone())
        .collect();
    let Some(rollout) = repo.rollouts.iter().find(|r| r.name() == g.rollout) else {
        return exit(Exit::Error);
    };
    // Shutting down (SIGTERM came during the scan): no new run.
    if shutdown.load(std::sync::atomic::Ordering::SeqCst) && open.is_none() {
        events(&Event::Warning {
            message: format!("group {name}: shutting down; no run started"),
        });
        return exit(Exit::Ok);
    }
    let settings = settings_for(repo, group, g, scan_opts);
    let settings = settings.with_journal(store.as_ref()).await;

    let mut record = match open {
        Some(r) => {
            events(&Event::Resuming {
                group: name.to_string(),
                run: r.id.clone(),
            });
            r
        }
        None => RunRecord {
            desired_commit: desired_commit.map(String::from),
            ..RunRecord::start(
                RunKind::Apply,
                new_run_id(store.as_ref(), now, name).await,
                name,
                now,
                options.by.clone(),
            )
        },
    };
    if emergency {
        record.trigger.emergency_reason = manual.map(|m| m.reason.clone());
        record.trigger.freeze_overridden = freeze.map(|(d, _)| d);
    } else if outside_windows {
        record.trigger.freeze_overridden = freeze.map(|(d, _)| d);
    }
    for e in used {
        if !record.trigger.emergency_changes.contains(&e) {
            record.trigger.emergency_changes.push(e);
        }
    }
    let hosts_in_plan: usize = changes
        + record
            .waves
            .iter()
            .flat_map(|w| &w.hosts)
            .filter(|h| {
                !g.waves
                    .iter()
                    .flat_map(|w| &w.hosts)
                    .any(|p| p.host == h.host)
            })
            .count();
    let mut budget = ErrorBudget::new(
        rollout.spec.max_errors.as_ref().map(|m| &m.value),
        hosts_in_plan,
    );
    // A killed run resumes with its errors; `--resume` starts a fresh budget
    // (the operator looked at the errors and chose to go on).
    if !options.resume {
        for h in record.waves.iter().flat_map(|w| &w.hosts) {
            if h.outcome.is_failure() {
                budget.fail(&h.host);
            }
        }
    }
    record.max_errors = budget.max();
    record.errors = budget.errors();
    if options.resume {
        record.outcome = RunOutcome::Running;
    }

    let labels: HashMap<String, BTreeMap<String, String>> = group
        .spec
        .hosts
        .iter()
        .map(|h| (h.name.value.clone(), h.labels.clone()))
        .collect();
    let mut waves = Vec::new();
    for w in &g.waves {
        let mut jobs = Vec::new();
        for hp in w.hosts.iter().filter(|h| may_start(&h.host)) {
            let (Some(t), Some(f)) = (targets.get(hp.host.as_str()), facts.get(hp.host.as_str()))
            else {
                continue;
            };
            let job = host_job(hp, t, f, group, &record.id, w.number);
            // The record: the host's entry (kept if a resumed run has it), now pending again.
            match record.host_mut(&hp.host) {
                Some(h) => {
                    // A resumed run: hosts that failed stay failed (and are
                    // not started again) unless the operator said --resume.
                    let retry = match &h.outcome {
                        HostOutcome::Failed { .. } | HostOutcome::RolledBack { .. } => {
                            options.resume
                        }
                        HostOutcome::Patched => false,
                        _ => true,
                    };
                    if retry {
                        h.outcome = HostOutcome::Pending;
                    }
                    // The first recorded version stays the rollback target.
                    for (k, v) in &job.before {
                        h.before.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    h.planned.extend(job.planned.clone());
                }
                None => {
                    let run = HostRun {
                        host: hp.host.clone(),
                        outcome: HostOutcome::Pending,
                        before: job.before.clone(),
                        planned: job.planned.clone(),
                        after: BTreeMap::new(),
                        steps: Vec::new(),
                    };
                    match record.waves.iter_mut().find(|x| x.number == w.number) {
                        Some(x) => x.hosts.push(run),
                        None => record.waves.push(WaveRun {
                            number: w.number,
                            hosts: vec![run],
                        }),
                    }
                }
            }
            jobs.push(job);
        }
        waves.push(WaveJobs {
            number: w.number,
            soak: w.soak.as_ref().and_then(|s| s.get()),
            hosts: jobs,
        });
    }
    record.waves.sort_by_key(|w| w.number);
    settle_resumed_hosts(&mut record, g, facts, &settings);
    let plan_hosts = changes;
    let max_concurrency = rollout
        .spec
        .max_concurrency
        .as_ref()
        .map_or(plan_hosts, |m| m.value.of(plan_hosts))
        .max(1);
    let rollout_job = GroupRollout {
        group: name.to_string(),
        waves,
        settings,
        max_concurrency,
        on_failure: rollout.spec.on_failure,
        rollback_whole_wave: rollout.spec.rollback_whole_wave,
        one_at_a_time: rollout
            .spec
            .one_at_a_time
            .iter()
            .map(|k| k.value.clone())
            .collect(),
        labels,
        start_until,
        budget,
        shutdown,
        fleet_permits: Some(i.host_permits.clone()),
        fence: lease.token,
    };
    tracing::Span::current().record("run", record.id.as_str());
    tracing::info!(run = %record.id, hosts = changes, "run started");
    events(&Event::RunStarted {
        group: name.to_string(),
        run: record.id.clone(),
        hosts: changes,
        waves: g.waves.len(),
        emergency_reason: manual.filter(|_| emergency).map(|m| m.reason.clone()),
    });
    let sink = events.clone();
    let run = record.id.clone();
    let rollout_events: Arc<dyn Fn(&RolloutEvent) + Send + Sync> =
        Arc::new(move |e: &RolloutEvent| {
            sink(&Event::Rollout {
                run: run.clone(),
                event: e.clone(),
            })
        });
    let state: Arc<dyn crate::rollout::journal::RunJournal> = store.clone();
    let finished = group::run(rollout_job, record, state, rollout_events).await;
    let done = finished.record;
    for h in done.waves.iter().flat_map(|w| &w.hosts) {
        let outcome = match &h.outcome {
            HostOutcome::Patched => Ok(()),
            HostOutcome::Failed {
                step: crate::rollout::record::Step::Install,
                error,
            }
            | HostOutcome::RolledBack {
                step: crate::rollout::record::Step::Install,
                error,
            } => Err(error.as_str()),
            _ => continue,
        };
        for (key, version) in &h.planned {
            let attempt = InstallAttempt {
                host: &h.host,
                package: key,
                version,
                at: done.finished_at.unwrap_or(now),
                outcome,
            };
            if let Err(e) = store.record_install(&attempt).await {
                events(&Event::Error {
                    message: e.to_string(),
                });
            }
        }
    }
    events(&Event::RunFinished {
        run: Box::new(done.clone()),
    });
    if let Some(e) = finished.save_error {
        return error(format!(
            "the run record could not be saved ({e}); no further host was started"
        ));
    }
    let code = match done.outcome {
        RunOutcome::Halted { .. } => Exit::Halted,
        _ => Exit::Ok,
    };
    (code, Some(done))
}
