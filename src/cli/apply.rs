//! `patchwave apply`: parses its arguments, calls the reconcile engine
//! ([`crate::reconcile`]) and renders what it reports, as progress text or
//! JSON lines. Exit 0: done (or nothing to do, or outside windows); 3: a
//! rollout halted; 4: a targeted host was not reached; 1: error.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::{RepoArgs, SelectArgs, StateArgs};
use crate::exit::Exit;
use crate::reconcile::event::{Event, Sink};
use crate::reconcile::{ManualEmergency, Options, Source};
use crate::rollout::group::Event as RolloutEvent;
use crate::rollout::record::{HostOutcome, HostRun, RunOutcome, RunRecord};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Emergency: start now, outside maintenance windows (needs --reason;
    /// `--now` is the old name).
    #[arg(long, alias = "now", requires = "reason")]
    pub emergency: bool,
    /// Why this emergency run cannot wait; recorded with the run.
    #[arg(long, value_name = "TEXT", requires = "emergency")]
    pub reason: Option<String>,
    /// With --emergency: run even during a change freeze (deny window).
    #[arg(long, requires = "emergency")]
    pub break_freeze: bool,
    /// Start hosts again in a rollout that halted.
    #[arg(long)]
    pub resume: bool,
    /// With a remote `--repo` URL: the branch holding the desired state.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// Do not commit status (hosts, run, REPORT.md) to the status branch.
    #[arg(long)]
    pub no_status: bool,
    /// text (progress lines), or json (one event per line, then the run records).
    #[arg(short = 'o', long, value_enum, default_value_t = ApplyFormat::Text)]
    pub format: ApplyFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApplyFormat {
    Text,
    Json,
}

/// Who is running this, for the record.
fn who() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{user}@{host}")
}

impl Args {
    /// The engine's options: what these arguments allow beyond the policy.
    fn options(&self) -> Options {
        Options {
            group: self.select.group.clone(),
            host: self.select.host.clone(),
            emergency: self.emergency.then(|| ManualEmergency {
                reason: self.reason.clone().unwrap_or_default(),
                break_freeze: self.break_freeze,
            }),
            resume: self.resume,
            write_status: !self.no_status,
            by: who(),
            host_permits: None,
        }
    }
}

pub fn run(args: &Args) -> Exit {
    if args.reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
        eprintln!("error: --reason must say why this cannot wait for a window");
        return Exit::Error;
    }
    let source = match Source::resolve(
        &args.repo.repo,
        &args.branch,
        args.state.state_dir.as_deref(),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Error;
        }
    };
    let checked = match super::load_valid_repo(&source.policy_dir) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let repo = &checked.repo;
    if let Err(exit) = super::check_selection(repo, &args.select) {
        return exit;
    }
    let store = match args.state.open(repo) {
        Ok(s) => Arc::new(s),
        Err(exit) => return exit,
    };
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    let events = printer(args.format, false);
    // Killed (Ctrl-C, SIGTERM), `apply` leaves its run open to resume.
    let shutdown = Arc::new(AtomicBool::new(false));
    runtime.block_on(crate::reconcile::reconcile_fleet(
        &source,
        repo,
        store,
        &args.options(),
        &events,
        shutdown,
    ))
}

/// Prints events: progress on stdout (text, or one JSON object per line
/// with its time, level, run, group, host and state), warnings and errors
/// on stderr — or, with `logs` (the daemon), through the log at their level.
pub fn printer(format: ApplyFormat, logs: bool) -> Sink {
    Arc::new(move |e: &Event| {
        if let Some(line) = problem_line(e) {
            if !logs {
                eprintln!("{line}");
            } else if e.level() == "error" {
                tracing::error!(group = e.group(), host = e.host(), "{line}");
            } else {
                tracing::warn!(group = e.group(), host = e.host(), "{line}");
            }
            return;
        }
        match format {
            ApplyFormat::Text => println!("{}", event_line(e)),
            ApplyFormat::Json => println!("{}", json_line(e)),
        }
    })
}

/// One event as a JSON object, with the fields every event carries.
fn json_line(e: &Event) -> serde_json::Value {
    use serde_json::Value;
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        let text = |s: Option<&str>| s.map_or(Value::Null, |s| Value::String(s.to_string()));
        o.insert(
            "ts".into(),
            Value::String(jiff::Timestamp::now().to_string()),
        );
        o.insert("level".into(), Value::String(e.level().into()));
        o.insert("run".into(), text(e.run()));
        o.insert("group".into(), text(e.group()));
        o.entry("host").or_insert_with(|| text(e.host()));
        if !o.contains_key("state") {
            o.insert("state".into(), text(e.state().as_deref()));
        }
    }
    v
}

/// The stderr line of a warning or an error, in either format.
fn problem_line(e: &Event) -> Option<String> {
    let short = |c: &Option<String>| {
        c.as_deref()
            .map_or(String::new(), |c| c[..c.len().min(12)].to_string())
    };
    Some(match e {
        Event::Warning { message } => format!("warning: {message}"),
        Event::Error { message } => format!("error: {message}"),
        Event::SourceRefused {
            reason,
            working_from,
        } => format!(
            "warning: {reason}; working from the last good commit {}",
            short(working_from)
        ),
        Event::Unreached { hosts } => format!(
            "error: {} targeted host{} could not be reached or scanned and {} not patched: {}",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" },
            if hosts.len() == 1 { "was" } else { "were" },
            hosts.join(", ")
        ),
        _ => return None,
    })
}

/// The progress line of an event, for people.
pub fn event_line(e: &Event) -> String {
    let when =
        |t: &Option<jiff::Timestamp>, none: &str| t.map_or(none.to_string(), |t| t.to_string());
    match e {
        Event::Verified { commit, signer } => format!(
            "desired state {} verified: signed by {signer}",
            &commit[..commit.len().min(12)]
        ),
        Event::HostNotScanned {
            host, state, error, ..
        } => match *state {
            "unreachable" => format!("host {host}: unreachable, not patched: {error}"),
            _ => format!("host {host}: scan failed, not patched: {error}"),
        },
        Event::Suspended { group } => {
            format!("group {group}: suspended (detect only); nothing applied")
        }
        Event::StillHalted { group, run, reason } => format!(
            "group {group}: run {run} halted ({reason}); no host starts until `apply --resume` (or a new desired state)"
        ),
        Event::NothingToDo { group } => format!("group {group}: nothing to do"),
        Event::FreezeNeedsBreak {
            group,
            deny_window,
            until,
        } => format!(
            "group {group}: change freeze `{deny_window}` until {until}; an emergency run needs --break-freeze as well"
        ),
        Event::AllowedByEmergency {
            group,
            names,
            until,
        } => format!(
            "group {group}: outside its windows, allowed by EmergencyChange {} until {}",
            names.join(", "),
            when(until, "")
        ),
        Event::Frozen {
            group,
            deny_window,
            until,
            next_start,
            emergency_without_break,
        } => format!(
            "group {group}: frozen by `{deny_window}` until {until}; nothing applied; next start {}{}",
            when(next_start, "none scheduled"),
            if *emergency_without_break {
                " (an EmergencyChange covers it, but without `breakFreeze: true`)"
            } else {
                ""
            }
        ),
        Event::OutsideWindows { group, next_start } => format!(
            "group {group}: outside maintenance windows; nothing applied; next window opens {}",
            when(next_start, "never (none scheduled)")
        ),
        Event::NotCovered { group } => format!(
            "group {group}: no host with changes is covered by the EmergencyChange; nothing applied outside the windows"
        ),
        Event::Observed {
            group,
            facts,
            hosts,
            to_change,
            commit,
        } => format!(
            "group {group}: planned {hosts} host(s) from {}{}: {to_change} to change",
            if *facts == "scan" {
                "a scan"
            } else {
                "stored facts (no host contacted)"
            },
            commit
                .as_ref()
                .map(|c| format!(" at {}", &c[..c.len().min(12)]))
                .unwrap_or_default()
        ),
        Event::Resuming { group, run } => format!("group {group}: resuming run {run}"),
        Event::RunStarted {
            group,
            run,
            hosts,
            waves,
            emergency_reason,
        } => format!(
            "group {group}: run {run} — {hosts} host(s) in {waves} wave(s){}",
            emergency_reason
                .as_ref()
                .map(|r| format!(" (emergency, outside windows: {r})"))
                .unwrap_or_default()
        ),
        Event::Rollout { event, .. } => rollout_line(event),
        Event::RunFinished { run } => summary_line(run),
        Event::StatusCommitted {
            commit,
            branch,
            pushed,
            changed,
        } => {
            let c = &commit[..commit.len().min(12)];
            match changed {
                Some(n) => format!(
                    "status: {n} host(s) changed since the last status; committed {c} on {branch}"
                ),
                None => format!(
                    "status: committed {c} on {branch}{}",
                    if *pushed {
                        " and pushed"
                    } else {
                        " (no remote to push to)"
                    }
                ),
            }
        }
        Event::Unreached { .. }
        | Event::SourceRefused { .. }
        | Event::Warning { .. }
        | Event::Error { .. } => problem_line(e).unwrap_or_default(),
    }
}

fn rollout_line(e: &RolloutEvent) -> String {
    match e {
        RolloutEvent::WaveStarted { group, wave, hosts } => {
            format!(
                "{group}: wave {wave} ({hosts} host{})",
                if *hosts == 1 { "" } else { "s" }
            )
        }
        RolloutEvent::HostStarted { group, host, .. } => format!("{group}/{host}: started"),
        RolloutEvent::Step {
            group,
            host,
            record,
        } => format!(
            "{group}/{host}: {} {} ({} ms){}",
            record.step.as_str(),
            if record.ok { "ok" } else { "FAILED" },
            record.duration_ms,
            if record.output.is_empty() || record.ok {
                String::new()
            } else {
                format!(": {}", super::style::printable(&record.output))
            }
        ),
        RolloutEvent::HostFinished {
            group,
            host,
            outcome,
        } => format!(
            "{group}/{host}: {}",
            match outcome {
                HostOutcome::Patched => "patched".to_string(),
                HostOutcome::Failed { step, .. } => format!("failed at {}", step.as_str()),
                HostOutcome::RolledBack { .. } => "rolled back".into(),
                other => format!("{other:?}"),
            }
        ),
        RolloutEvent::Soak {
            group,
            wave,
            seconds,
        } => {
            format!("{group}: soaking {seconds}s after wave {wave}")
        }
        RolloutEvent::Halted { group, reason } => format!("{group}: HALTED: {reason}"),
    }
}

fn summary_line(r: &RunRecord) -> String {
    let hosts: Vec<&HostRun> = r.waves.iter().flat_map(|w| &w.hosts).collect();
    let count = |f: &dyn Fn(&HostOutcome) -> bool| hosts.iter().filter(|h| f(&h.outcome)).count();
    let outcome = match &r.outcome {
        RunOutcome::Succeeded => "succeeded".to_string(),
        RunOutcome::FinishedWithErrors { errors } => {
            format!("finished with {errors} error(s) within the budget")
        }
        RunOutcome::Halted { reason } => format!("HALTED ({reason})"),
        RunOutcome::Stopped { reason } => format!("stopped ({reason})"),
        RunOutcome::Running => "running".into(),
    };
    format!(
        "{}: run {} {outcome}: {} patched, {} failed, {} rolled back, {} not started; errors {}/{} allowed",
        r.group,
        r.id,
        count(&|o| matches!(o, HostOutcome::Patched)),
        count(&|o| matches!(o, HostOutcome::Failed { .. })),
        count(&|o| matches!(o, HostOutcome::RolledBack { .. })),
        count(&|o| matches!(o, HostOutcome::Skipped { .. } | HostOutcome::Pending)),
        r.errors,
        r.max_errors
    )
}
