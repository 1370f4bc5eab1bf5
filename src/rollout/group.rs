//! One group's rollout: its waves in order, hosts inside a wave up to
//! `maxConcurrency` at once (never two of a `oneAtATime` set together), the
//! error budget over the whole rollout, a soak between waves, rollback on
//! failure. The run record is saved after every step: it is the journal a
//! killed run resumes from.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::budget::{ErrorBudget, wave_failed_entirely};
use super::host::{HostJob, HostSettings, StepSink, check_health, patch, roll_back};
use super::journal::{Fence, RunJournal};
use super::record::{HostOutcome, RunOutcome, RunRecord, StepRecord};
use crate::spec::rollout::OnFailure;

/// What the rollout reports as it goes (rendered as text or JSON lines).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum Event {
    #[serde(rename_all = "camelCase")]
    WaveStarted {
        group: String,
        wave: usize,
        hosts: usize,
    },
    #[serde(rename_all = "camelCase")]
    HostStarted {
        group: String,
        wave: usize,
        host: String,
    },
    #[serde(rename_all = "camelCase")]
    Step {
        group: String,
        host: String,
        record: StepRecord,
    },
    #[serde(rename_all = "camelCase")]
    HostFinished {
        group: String,
        host: String,
        outcome: HostOutcome,
    },
    #[serde(rename_all = "camelCase")]
    Soak {
        group: String,
        wave: usize,
        seconds: u64,
    },
    #[serde(rename_all = "camelCase")]
    Halted { group: String, reason: String },
}

impl Event {
    /// The group it is about.
    pub fn group(&self) -> &str {
        match self {
            Event::WaveStarted { group, .. }
            | Event::HostStarted { group, .. }
            | Event::Step { group, .. }
            | Event::HostFinished { group, .. }
            | Event::Soak { group, .. }
            | Event::Halted { group, .. } => group,
        }
    }
}

/// A wave's hosts and what each needs.
#[derive(Debug, Clone)]
pub struct WaveJobs {
    pub number: usize,
    pub soak: Option<Duration>,
    pub hosts: Vec<HostJob>,
}

/// Everything one group's rollout needs.
pub struct GroupRollout {
    pub group: String,
    pub waves: Vec<WaveJobs>,
    pub settings: HostSettings,
    pub max_concurrency: usize,
    pub on_failure: OnFailure,
    pub rollback_whole_wave: bool,
    /// Label keys: hosts sharing a value for any of them never run together.
    pub one_at_a_time: Vec<String>,
    pub labels: HashMap<String, BTreeMap<String, String>>,
    /// No host starts at or after this instant (the window's cutoff); `None`
    /// for an emergency run.
    pub start_until: Option<Timestamp>,
    pub budget: ErrorBudget,
    /// Set when patchwave is shutting down: no new host starts, running
    /// hosts finish their steps, a soak ends early, and the run stays open
    /// for the next start to resume.
    pub shutdown: Arc<AtomicBool>,
    /// Hosts patched at once across every group (the Fleet's
    /// `apply.concurrency`), shared by groups rolling out together.
    pub fleet_permits: Option<Arc<Semaphore>>,
    /// The group lease's fencing token: every journal write carries it.
    pub fence: Fence,
}

/// The record, saved on every change; a save that fails halts the rollout
/// (status is never lost silently).
struct Journal {
    fence: Fence,
    /// Held while a change is saved, so saves land in the order made.
    record: tokio::sync::Mutex<RunRecord>,
    state: Arc<dyn RunJournal>,
    save_error: Mutex<Option<String>>,
    events: Arc<dyn Fn(&Event) + Send + Sync>,
}

impl Journal {
    async fn update(&self, f: impl FnOnce(&mut RunRecord)) {
        let mut r = self.record.lock().await;
        f(&mut r);
        if let Err(e) = self.state.save_run(&r, self.fence).await {
            let mut slot = self.save_error.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert(e.to_string());
        }
    }

    fn save_failed(&self) -> Option<String> {
        self.save_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn snapshot(&self) -> RunRecord {
        self.record.lock().await.clone()
    }
}

struct Sink {
    journal: Arc<Journal>,
    group: String,
}

#[async_trait::async_trait]
impl StepSink for Sink {
    async fn step(&self, host: &str, record: StepRecord) {
        (self.journal.events)(&Event::Step {
            group: self.group.clone(),
            host: host.to_string(),
            record: record.clone(),
        });
        self.journal
            .update(|r| {
                if let Some(h) = r.host_mut(host) {
                    h.steps.push(record);
                }
            })
            .await;
    }

    async fn health(&self, host: &str, at: Timestamp, checks: &[super::health::CheckResult]) {
        // Not saved is not fatal to the host, but it must not go unnoticed:
        // a later stage's promotion waits until health is recorded.
        if let Err(e) = self.journal.state.record_health(host, at, checks).await {
            tracing::warn!(host, "the health check results were not recorded: {e}");
        }
    }
}

/// Runs the group's rollout on `record` (new, or an open run being resumed:
/// hosts it already patched are not started again).
pub async fn run(
    rollout: GroupRollout,
    record: RunRecord,
    state: Arc<dyn RunJournal>,
    events: Arc<dyn Fn(&Event) + Send + Sync>,
) -> Finished {
    let journal = Arc::new(Journal {
        fence: rollout.fence,
        record: tokio::sync::Mutex::new(record),
        state,
        save_error: Mutex::new(None),
        events: events.clone(),
    });
    journal.update(|r| r.outcome = RunOutcome::Running).await;
    let budget = Arc::new(Mutex::new(rollout.budget.clone()));
    // A resumed run whose replayed errors already exceed the budget stays halted.
    let halted: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(
        (rollout.budget.exceeded() && rollout.on_failure != OnFailure::Continue)
            .then(|| exceeded_reason(&rollout.budget)),
    ));
    let settings = Arc::new(rollout.settings.clone());
    let sets: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = Arc::default();
    let wave_count = rollout.waves.len();

    // A soak that a shutdown cut short is waited out before any later wave
    // starts: a restart must not shorten the canary's soak.
    let resumed = journal.snapshot().await;
    if let Some(rest) = resumed
        .soak_until
        .and_then(|t| Duration::try_from(t.duration_since(Timestamp::now())).ok())
        .filter(|d| !d.is_zero())
    {
        let wave = resumed
            .waves
            .iter()
            .filter(|w| w.hosts.iter().any(|h| h.outcome == HostOutcome::Patched))
            .map(|w| w.number)
            .max()
            .unwrap_or(0);
        events(&Event::Soak {
            group: rollout.group.clone(),
            wave,
            seconds: rest.as_secs(),
        });
        soak_and_watch(&rollout, &[], rest, &journal, &budget, &halted).await;
    }
    if !rollout.shutdown.load(Ordering::SeqCst) {
        journal.update(|r| r.soak_until = None).await;
    }

    for (wi, wave) in rollout.waves.iter().enumerate() {
        let before = journal.snapshot().await;
        let pending: Vec<&HostJob> = wave
            .hosts
            .iter()
            .filter(|j| {
                !matches!(
                    before.host(&j.target.host).map(|h| &h.outcome),
                    Some(HostOutcome::Patched)
                        | Some(HostOutcome::Failed { .. })
                        | Some(HostOutcome::RolledBack { .. })
                )
            })
            .collect();
        if halted_reason(&halted).is_some() || pending.is_empty() {
            continue;
        }
        if rollout.shutdown.load(Ordering::SeqCst) {
            break;
        }
        events(&Event::WaveStarted {
            group: rollout.group.clone(),
            wave: wave.number,
            hosts: pending.len(),
        });
        // Spans are stamped where tasks are spawned: group (the caller's)
        // → wave → host → step.
        let wave_span = tracing::info_span!("wave", wave = wave.number);
        let permits = Arc::new(Semaphore::new(rollout.max_concurrency.max(1)));
        let failed_here = Arc::new(AtomicBool::new(false));
        let mut tasks = tokio::task::JoinSet::new();
        for job in pending.iter().map(|j| (*j).clone()) {
            // Taken here, in the plan's order, so hosts start in the order
            // the plan lists them (a task's first poll has no order).
            let permit = permits.clone().acquire_owned().await;
            let (journal, budget, halted, settings, sets) = (
                journal.clone(),
                budget.clone(),
                halted.clone(),
                settings.clone(),
                sets.clone(),
            );
            let group = rollout.group.clone();
            let wave_no = wave.number;
            let start_until = rollout.start_until;
            let set_keys: Vec<String> = rollout
                .one_at_a_time
                .iter()
                .filter_map(|k| {
                    rollout
                        .labels
                        .get(&job.target.host)
                        .and_then(|l| l.get(k))
                        .map(|v| format!("{k}={v}"))
                })
                .collect();
            let failed_here = failed_here.clone();
            let on_failure = rollout.on_failure;
            let shutdown = rollout.shutdown.clone();
            let fleet_permits = rollout.fleet_permits.clone();
            let host_span =
                tracing::info_span!(parent: &wave_span, "host", host = %job.target.host);
            tasks.spawn(
                async move {
                    let _permit = permit;
                    // Quorum sets: hold every set this host belongs to (sorted: no deadlock).
                    let mut keys = set_keys;
                    keys.sort();
                    let mut guards = Vec::new();
                    for k in keys {
                        let m = sets
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .entry(k)
                            .or_default()
                            .clone();
                        guards.push(m.lock_owned().await);
                    }
                    // The fleet-wide permit last: a host waiting for its
                    // quorum set holds none, so other groups go on.
                    let _fleet_permit = match fleet_permits {
                        Some(p) => Some(p.acquire_owned().await),
                        None => None,
                    };
                    let host = job.target.host.clone();
                    // Shutting down: the host stays pending, for the next
                    // start to resume.
                    if shutdown.load(Ordering::SeqCst) {
                        return;
                    }
                    let skip = halted_reason(&halted)
                        .map(|r| format!("not started: the rollout halted ({r})"))
                        .or_else(|| {
                            journal.save_failed().map(|e| {
                                format!("not started: the run record cannot be saved: {e}")
                            })
                        })
                        .or_else(|| {
                            start_until.filter(|u| Timestamp::now() >= *u).map(|u| {
                                format!("not started: the window's last start time {u} has passed")
                            })
                        });
                    if let Some(reason) = skip {
                        journal
                            .update(|r| {
                                if let Some(h) = r.host_mut(&host) {
                                    h.outcome = HostOutcome::Skipped { reason };
                                }
                            })
                            .await;
                        return;
                    }
                    (journal.events)(&Event::HostStarted {
                        group: group.clone(),
                        wave: wave_no,
                        host: host.clone(),
                    });
                    journal
                        .update(|r| {
                            if let Some(h) = r.host_mut(&host) {
                                h.outcome = HostOutcome::InProgress;
                            }
                        })
                        .await;
                    let sink = Sink {
                        journal: journal.clone(),
                        group: group.clone(),
                    };
                    let result = patch(&job, &settings, &sink).await;
                    if result.outcome.is_failure() {
                        failed_here.store(true, Ordering::Relaxed);
                        let over = {
                            let mut b = budget.lock().unwrap_or_else(|e| e.into_inner());
                            b.fail(&host);
                            // `onFailure: continue` records errors but keeps going.
                            (b.exceeded() && on_failure != OnFailure::Continue)
                                .then(|| exceeded_reason(&b))
                        };
                        if let Some(reason) = over {
                            halt(&halted, &journal, reason).await;
                        }
                    }
                    (journal.events)(&Event::HostFinished {
                        group,
                        host: host.clone(),
                        outcome: result.outcome.clone(),
                    });
                    journal
                        .update(|r| {
                            r.errors = budget.lock().unwrap_or_else(|e| e.into_inner()).errors();
                            if let Some(h) = r.host_mut(&host) {
                                h.outcome = result.outcome;
                                h.after = result.after;
                            }
                        })
                        .await;
                    drop(guards);
                }
                .instrument(host_span),
            );
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined {
                // A host task that panicked is a failed host, never a silent
                // gap (the final pass marks it failed).
                halt(
                    &halted,
                    &journal,
                    format!("a host task crashed ({e}); please report this as a bug"),
                )
                .await;
            }
        }
        let snapshot = journal.snapshot().await;
        let wave_hosts: Vec<&str> = wave.hosts.iter().map(|j| j.target.host.as_str()).collect();
        let ran = wave_hosts
            .iter()
            .filter(|h| {
                snapshot.host(h).is_some_and(|x| {
                    matches!(x.outcome, HostOutcome::Patched | HostOutcome::Failed { .. })
                })
            })
            .count();
        let failed = wave_hosts
            .iter()
            .filter(|h| snapshot.host(h).is_some_and(|x| x.outcome.is_failure()))
            .count();
        if failed_here.load(Ordering::Relaxed) && wave_failed_entirely(ran, failed) {
            halt(
                &halted,
                &journal,
                format!("every host of wave {} failed", wave.number),
            )
            .await;
        }
        if rollout.on_failure == OnFailure::Rollback && failed_here.load(Ordering::Relaxed) {
            let jobs: Vec<&HostJob> = wave.hosts.iter().collect();
            roll_back_failed(
                &rollout,
                &jobs,
                rollout.rollback_whole_wave,
                &journal,
                &settings,
            )
            .await;
        }
        if let Some(reason) = halted_reason(&halted) {
            events(&Event::Halted {
                group: rollout.group.clone(),
                reason,
            });
            continue;
        }
        if let Some(soak) = wave.soak.filter(|_| wi + 1 < wave_count) {
            events(&Event::Soak {
                group: rollout.group.clone(),
                wave: wave.number,
                seconds: soak.as_secs(),
            });
            let now_record = journal.snapshot().await;
            let patched: Vec<&HostJob> = rollout.waves[..=wi]
                .iter()
                .flat_map(|w| &w.hosts)
                .filter(|j| {
                    now_record
                        .host(&j.target.host)
                        .is_some_and(|h| h.outcome == HostOutcome::Patched)
                })
                .collect();
            let until = Timestamp::now()
                .checked_add(jiff::SignedDuration::try_from(soak).unwrap_or_default())
                .ok();
            journal.update(|r| r.soak_until = until).await;
            soak_and_watch(&rollout, &patched, soak, &journal, &budget, &halted)
                .instrument(tracing::info_span!("wave", wave = wave.number))
                .await;
            if !rollout.shutdown.load(Ordering::SeqCst) {
                journal.update(|r| r.soak_until = None).await;
            }
            if rollout.on_failure == OnFailure::Rollback {
                roll_back_failed(&rollout, &patched, false, &journal, &settings).await;
            }
            if let Some(reason) = halted_reason(&halted) {
                events(&Event::Halted {
                    group: rollout.group.clone(),
                    reason,
                });
            }
        }
    }
    let reason = halted_reason(&halted).or_else(|| {
        journal
            .save_failed()
            .map(|e| format!("the run record cannot be saved: {e}"))
    });
    let stopping = rollout.shutdown.load(Ordering::SeqCst);
    journal
        .update(|r| {
            for h in r.waves.iter_mut().flat_map(|w| w.hosts.iter_mut()) {
                // Only a crashed host task can leave a host in progress here.
                if h.outcome == HostOutcome::InProgress {
                    h.outcome = HostOutcome::Failed {
                        step: super::record::Step::Install,
                        error: "its task crashed mid-way; check the host".into(),
                    };
                }
            }
            r.errors = r
                .waves
                .iter()
                .flat_map(|w| &w.hosts)
                .filter(|h| h.outcome.is_failure())
                .count()
                .max(r.errors);
            // Stopped by a shutdown (and not halted): the run stays open, its
            // pending hosts pending; the next start resumes it.
            let unfinished = r
                .waves
                .iter()
                .flat_map(|w| &w.hosts)
                .any(|h| h.outcome == HostOutcome::Pending);
            if stopping && reason.is_none() && unfinished {
                r.outcome = RunOutcome::Running;
                return;
            }
            for h in r.waves.iter_mut().flat_map(|w| w.hosts.iter_mut()) {
                if h.outcome == HostOutcome::Pending {
                    h.outcome = HostOutcome::Skipped {
                        reason: match &reason {
                            Some(why) => format!("not started: the rollout halted ({why})"),
                            None => "not started".into(),
                        },
                    };
                }
            }
            r.finished_at = Some(Timestamp::now());
            r.outcome = match &reason {
                Some(why) => RunOutcome::Halted {
                    reason: why.clone(),
                },
                None if r
                    .waves
                    .iter()
                    .flat_map(|w| &w.hosts)
                    .any(|h| matches!(h.outcome, HostOutcome::Skipped { .. })) =>
                {
                    RunOutcome::Stopped {
                        reason: "the window closed before every host started".into(),
                    }
                }
                None if r.errors > 0 => RunOutcome::FinishedWithErrors { errors: r.errors },
                None => RunOutcome::Succeeded,
            };
        })
        .await;
    Finished {
        record: journal.snapshot().await,
        save_error: journal.save_failed(),
    }
}

/// The run as it ended, and why its record could not be saved if it could
/// not (then the run is an error, not a halt: status is never lost silently).
pub struct Finished {
    pub record: RunRecord,
    pub save_error: Option<String>,
}

/// Waits out a soak, repeating the health checks on the patched hosts; a
/// host that turns unhealthy fails (and counts against the budget).
async fn soak_and_watch(
    rollout: &GroupRollout,
    patched: &[&HostJob],
    soak: Duration,
    journal: &Arc<Journal>,
    budget: &Mutex<ErrorBudget>,
    halted: &Mutex<Option<String>>,
) {
    let sink = Sink {
        journal: journal.clone(),
        group: rollout.group.clone(),
    };
    let end = tokio::time::Instant::now() + soak;
    let every = SOAK_CHECK_EVERY.min(soak).max(Duration::from_secs(1));
    let mut next_check = tokio::time::Instant::now() + every;
    loop {
        let now = tokio::time::Instant::now();
        let stopping = rollout.shutdown.load(Ordering::SeqCst);
        if now >= end || halted_reason(halted).is_some() || stopping {
            return;
        }
        // Wake at least every second, so a shutdown ends the soak promptly.
        tokio::time::sleep(
            next_check
                .min(end)
                .saturating_duration_since(now)
                .min(Duration::from_secs(1)),
        )
        .await;
        if tokio::time::Instant::now() < next_check.min(end) {
            continue;
        }
        next_check = tokio::time::Instant::now() + every;
        if rollout.settings.health.is_empty() {
            continue;
        }
        for job in patched {
            // A shutdown or the soak's end stops a round of checks too.
            if rollout.shutdown.load(Ordering::SeqCst) || tokio::time::Instant::now() >= end {
                break;
            }
            let host = &job.target.host;
            let still_patched = journal
                .snapshot()
                .await
                .host(host)
                .is_some_and(|h| h.outcome == HostOutcome::Patched);
            if !still_patched {
                continue;
            }
            if let Err(e) = check_health(job, &rollout.settings, &sink).await {
                let error = format!("unhealthy during the soak: {e}");
                (journal.events)(&Event::HostFinished {
                    group: rollout.group.clone(),
                    host: host.clone(),
                    outcome: HostOutcome::Failed {
                        step: super::record::Step::Health,
                        error: error.clone(),
                    },
                });
                let (errors, over) = {
                    let mut b = budget.lock().unwrap_or_else(|e| e.into_inner());
                    b.fail(host);
                    let over = (b.exceeded() && rollout.on_failure != OnFailure::Continue)
                        .then(|| exceeded_reason(&b));
                    (b.errors(), over)
                };
                if let Some(reason) = over {
                    halt(halted, journal, reason).await;
                }
                journal
                    .update(|r| {
                        r.errors = errors;
                        if let Some(h) = r.host_mut(host) {
                            h.outcome = HostOutcome::Failed {
                                step: super::record::Step::Health,
                                error,
                            };
                        }
                    })
                    .await;
            }
        }
    }
}

/// `onFailure: rollback`: puts the failed hosts among `jobs` (and, with
/// `whole`, the patched ones too) back on their before-versions.
async fn roll_back_failed(
    rollout: &GroupRollout,
    jobs: &[&HostJob],
    whole: bool,
    journal: &Arc<Journal>,
    settings: &HostSettings,
) {
    let snapshot = journal.snapshot().await;
    let back: Vec<&&HostJob> = jobs
        .iter()
        .filter(|j| {
            let o = snapshot.host(&j.target.host).map(|h| &h.outcome);
            matches!(o, Some(HostOutcome::Failed { .. }))
                || (whole && matches!(o, Some(HostOutcome::Patched)))
        })
        .collect();
    for job in back {
        let sink = Sink {
            journal: journal.clone(),
            group: rollout.group.clone(),
        };
        let host = job.target.host.clone();
        let result = roll_back(job, settings, &sink).await;
        journal
            .update(|r| {
                if let Some(h) = r.host_mut(&host) {
                    let (step, error) = match &h.outcome {
                        HostOutcome::Failed { step, error } => (*step, error.clone()),
                        _ => (
                            super::record::Step::Rollback,
                            "rolled back with its wave".to_string(),
                        ),
                    };
                    match result {
                        Ok(after) => {
                            h.after = after;
                            h.outcome = HostOutcome::RolledBack { step, error };
                        }
                        Err(e) => {
                            h.outcome = HostOutcome::Failed {
                                step,
                                error: format!("{error}; rollback failed too: {e}"),
                            };
                        }
                    }
                }
            })
            .await;
    }
}

fn exceeded_reason(b: &ErrorBudget) -> String {
    format!(
        "{} error{} exceed maxErrors {}",
        b.errors(),
        if b.errors() == 1 { "" } else { "s" },
        b.max()
    )
}

/// Halts the rollout, and says so in the record at once: a run killed
/// after halting must stay halted, not resume as if nothing happened.
async fn halt(halted: &Mutex<Option<String>>, journal: &Journal, reason: String) {
    let first = {
        let mut h = halted.lock().unwrap_or_else(|e| e.into_inner());
        if h.is_some() {
            false
        } else {
            *h = Some(reason.clone());
            true
        }
    };
    if first {
        journal
            .update(|r| r.outcome = RunOutcome::Halted { reason })
            .await;
    }
}

/// How often the soak repeats health checks.
const SOAK_CHECK_EVERY: Duration = Duration::from_secs(10);

fn halted_reason(h: &Mutex<Option<String>>) -> Option<String> {
    h.lock().unwrap_or_else(|e| e.into_inner()).clone()
}
