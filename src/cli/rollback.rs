//! `patchwave rollback --run RUN [--host H] --reason TEXT`: puts a finished
//! run's hosts back on the versions they had before it (emergency powers:
//! inside or outside windows; a change freeze needs --break-freeze). The
//! rollback is itself recorded as a run. Exit 0: every host is back; 1: not.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::{RepoArgs, StateArgs};
use crate::exit::Exit;
use crate::facts::ScanState;
use crate::rollout::host::{HostJob, HostSettings, StepSink, roll_back};
use crate::rollout::record::{
    HostOutcome, HostRun, RunKind, RunOutcome, RunRecord, StepRecord, WaveRun,
};
use crate::rollout::template::{GroupScope, HostScope, PlanScope, RunScope, Scope};
use crate::scan::{FleetScanOptions, targets};
use crate::schedule::Calendar;
use crate::state::RunState;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// The run to revert (its id, as `apply` printed it).
    #[arg(long, value_name = "RUN")]
    pub run: String,
    /// Only this host of the run.
    #[arg(long)]
    pub host: Option<String>,
    /// Why; recorded with the rollback.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Roll back even during a change freeze (deny window).
    #[arg(long)]
    pub break_freeze: bool,
}

/// Prints each step as it ends.
struct Printer;

#[async_trait::async_trait]
impl StepSink for Printer {
    async fn step(&self, host: &str, r: StepRecord) {
        println!(
            "{host}: {} {} ({} ms){}",
            r.step.as_str(),
            if r.ok { "ok" } else { "FAILED" },
            r.duration_ms,
            if r.ok || r.output.is_empty() {
                String::new()
            } else {
                format!(": {}", super::style::printable(&r.output))
            }
        );
    }
}

pub fn run(args: &Args) -> Exit {
    match rollback(args) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Error
        }
    }
}

fn rollback(args: &Args) -> Result<Exit, String> {
    if args.reason.trim().is_empty() {
        return Err("--reason must say why the run is being reverted".into());
    }
    let root = &args.repo.repo;
    let checked =
        super::load_valid_repo(root).map_err(|_| "the repository is invalid".to_string())?;
    let repo = &checked.repo;
    let store = Arc::new(
        args.state
            .open(repo)
            .map_err(|_| "cannot open run state".to_string())?,
    );
    let original =
        super::wait(RunState::load_run(store.as_ref(), &args.run))?.ok_or_else(|| {
            format!(
                "no run `{}` in {}; `ls {}/runs` lists the recorded runs",
                args.run,
                store.dir().display(),
                store.dir().display()
            )
        })?;
    let group = repo.group(&original.group).ok_or_else(|| {
        format!(
            "run `{}` patched group `{}`, which the repository no longer has",
            original.id, original.group
        )
    })?;
    if let Some((deny, until)) = Calendar::build(repo).freeze_at(group.name(), Timestamp::now())
        && !args.break_freeze
    {
        return Err(format!(
            "change freeze `{deny}` is in force until {until}; pass --break-freeze to roll back anyway"
        ));
    }
    let hosts: Vec<&HostRun> = original
        .waves
        .iter()
        .flat_map(|w| &w.hosts)
        .filter(|h| args.host.as_ref().is_none_or(|x| *x == h.host))
        .filter(|h| {
            // Hosts the run changed (or may have changed before it failed).
            matches!(
                h.outcome,
                HostOutcome::Patched | HostOutcome::Failed { .. } | HostOutcome::InProgress
            )
        })
        .collect();
    if hosts.is_empty() {
        return Err(match &args.host {
            Some(h) => format!("run `{}` changed nothing on host `{h}`", original.id),
            None => format!("run `{}` changed no host", original.id),
        });
    }
    let lease = super::wait(RunState::lease_group(store.as_ref(), group.name()))?;
    let scan_opts = FleetScanOptions::from_repo(repo);
    let all = targets(repo, root, Some(group.name()), None);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let wanted: Vec<_> = all
        .iter()
        .filter(|t| hosts.iter().any(|h| h.host == t.host))
        .cloned()
        .collect();
    let facts = runtime.block_on(crate::scan::scan_fleet(wanted.clone(), &scan_opts, |_| {}));
    let scanned: HashMap<&str, &crate::facts::HostFacts> = facts
        .hosts
        .iter()
        .filter_map(|h| match &h.state {
            ScanState::Scanned { facts } => Some((h.host.as_str(), facts.as_ref())),
            _ => None,
        })
        .collect();
    let now = Timestamp::now();
    let id = format!(
        "{}-{}-rollback-{}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        group.name(),
        crate::reconcile::instance_id()
    );
    let settings = HostSettings {
        scan: scan_opts,
        install_timeout: Duration::from_secs(1800),
        reboot_timeout: Duration::from_secs(600),
        reboot: Default::default(),
        hooks: Default::default(),
        health: Vec::new(),
        safety: Default::default(),
    };
    let mut record = RunRecord {
        waves: vec![WaveRun {
            number: 1,
            hosts: Vec::new(),
        }],
        ..RunRecord::start(
            RunKind::Rollback,
            id.clone(),
            group.name(),
            now,
            format!("rollback of run {}", original.id),
        )
    };
    record.trigger.emergency_reason = Some(args.reason.clone());
    println!(
        "rollback {id}: reverting run {} on {} host(s)",
        original.id,
        hosts.len()
    );
    let mut failed = 0;
    for h in hosts {
        let mut entry = HostRun {
            host: h.host.clone(),
            outcome: HostOutcome::InProgress,
            before: h.planned.clone(),
            planned: h.before.clone(),
            after: BTreeMap::new(),
            steps: Vec::new(),
        };
        let (Some(target), Some(f)) = (
            wanted.iter().find(|t| t.host == h.host),
            scanned.get(h.host.as_str()),
        ) else {
            failed += 1;
            entry.outcome = HostOutcome::Failed {
                step: crate::rollout::record::Step::Connect,
                error: "could not be scanned; nothing was changed".into(),
            };
            println!("{}: could not be scanned; nothing was changed", h.host);
            record.waves[0].hosts.push(entry);
            continue;
        };
        // Only packages still at the version this run installed go back: a
        // later run's upgrade is never undone by reverting an earlier one.
        let current = f.installed_versions();
        let mut targets = BTreeMap::new();
        for (k, old) in &h.before {
            match (current.get(k), h.planned.get(k)) {
                (Some(now), _) if now == old => {}
                (Some(now), Some(installed)) if now == installed => {
                    targets.insert(k.clone(), old.clone());
                }
                (now, _) => println!(
                    "{}: {k} left alone: it is at {} now, not the {} run {} installed",
                    h.host,
                    now.map_or("(not installed)", String::as_str),
                    h.planned.get(k).map_or("version", String::as_str),
                    original.id
                ),
            }
        }
        if targets.is_empty() {
            println!("{}: nothing to revert", h.host);
            entry.outcome = HostOutcome::Skipped {
                reason: "nothing to revert".into(),
            };
            record.waves[0].hosts.push(entry);
            continue;
        }
        entry.planned = targets.clone();
        let job = HostJob {
            target: target.clone(),
            package_manager: f.package_manager,
            before: targets,
            planned: h.planned.clone(),
            scope: Scope {
                host: HostScope {
                    name: h.host.clone(),
                    address: target.address.clone(),
                    labels: Default::default(),
                },
                group: GroupScope {
                    name: group.name().to_string(),
                    labels: group.metadata.labels.clone(),
                },
                run: RunScope {
                    id: id.clone(),
                    wave: 1,
                },
                plan: PlanScope {
                    packages: Vec::new(),
                    reboot: false,
                },
            },
        };
        match runtime.block_on(roll_back(&job, &settings, &Printer)) {
            Ok(after) => {
                entry.after = after;
                entry.outcome = HostOutcome::Patched;
                println!(
                    "{}: back on the versions from before run {}",
                    h.host, original.id
                );
            }
            Err(e) => {
                failed += 1;
                entry.outcome = HostOutcome::Failed {
                    step: crate::rollout::record::Step::Rollback,
                    error: e,
                };
            }
        }
        record.waves[0].hosts.push(entry);
        runtime
            .block_on(RunState::save_run(store.as_ref(), &record, lease.token))
            .map_err(|e| e.to_string())?;
    }
    record.errors = failed;
    record.finished_at = Some(Timestamp::now());
    record.outcome = if failed == 0 {
        RunOutcome::Succeeded
    } else {
        RunOutcome::FinishedWithErrors { errors: failed }
    };
    runtime
        .block_on(RunState::save_run(store.as_ref(), &record, lease.token))
        .map_err(|e| e.to_string())?;
    let reverted = record.waves[0]
        .hosts
        .iter()
        .filter(|h| h.outcome == HostOutcome::Patched)
        .count();
    println!("rollback {id}: {reverted} host(s) reverted, {failed} failed");
    Ok(if failed == 0 { Exit::Ok } else { Exit::Error })
}
