//! What a reconcile reports as it goes: one typed stream that the CLI
//! renders as progress text or JSON lines, and that the daemon logs and
//! counts (later: notifications, the dashboard, other replicas).

use jiff::Timestamp;
use serde::Serialize;

use crate::rollout::group::Event as RolloutEvent;
use crate::rollout::record::RunRecord;

/// One thing that happened during a reconcile.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    /// The desired-state commit carries an allowed signature.
    Verified {
        commit: String,
        signer: String,
    },
    /// The source's newest commit was refused; the last good one is used.
    SourceRefused {
        reason: String,
        working_from: Option<String>,
    },
    /// A targeted host could not be scanned, so it is not patched.
    HostNotScanned {
        group: String,
        host: String,
        /// `unreachable` or `failed`.
        state: &'static str,
        error: String,
    },
    /// The group is suspended (detect only).
    Suspended {
        group: String,
    },
    /// An earlier run halted; nothing starts until `--resume`.
    StillHalted {
        group: String,
        run: String,
        reason: String,
    },
    NothingToDo {
        group: String,
    },
    /// An emergency run (`--emergency`) during a freeze without `--break-freeze`.
    FreezeNeedsBreak {
        group: String,
        deny_window: String,
        until: Timestamp,
    },
    /// Outside the windows, EmergencyChanges let covered hosts start.
    AllowedByEmergency {
        group: String,
        names: Vec<String>,
        until: Option<Timestamp>,
    },
    /// A change freeze keeps the group from starting hosts.
    Frozen {
        group: String,
        deny_window: String,
        until: Timestamp,
        next_start: Option<Timestamp>,
        /// An EmergencyChange covers it, without `breakFreeze`.
        emergency_without_break: bool,
    },
    OutsideWindows {
        group: String,
        next_start: Option<Timestamp>,
    },
    /// A group that may not start hosts was planned anyway, for status:
    /// from a fresh scan (`scan.interval` was due) or from the facts run
    /// state holds (a new desired commit; no host reached).
    Observed {
        group: String,
        /// `scan` or `stored`.
        facts: &'static str,
        hosts: usize,
        to_change: usize,
        commit: Option<String>,
    },
    /// Outside the windows, no host with changes is covered by an EmergencyChange.
    NotCovered {
        group: String,
    },
    Resuming {
        group: String,
        run: String,
    },
    RunStarted {
        group: String,
        run: String,
        hosts: usize,
        waves: usize,
        /// `--emergency --reason`.
        emergency_reason: Option<String>,
    },
    /// A run ended; its whole record (as run state and the status branch
    /// keep it). `record`, because every event line's `run` is the run's id.
    RunFinished {
        #[serde(rename = "record")]
        run: Box<RunRecord>,
    },
    /// Status committed to the status branch: a run's, or hosts that
    /// changed since the last status (`changed`).
    StatusCommitted {
        commit: String,
        branch: String,
        pushed: bool,
        changed: Option<usize>,
    },
    /// Targeted hosts that were not reached: the run is incomplete.
    Unreached {
        hosts: Vec<String>,
    },
    Warning {
        message: String,
    },
    Error {
        message: String,
    },
    /// Waves, hosts, steps, soaks and halts, as the rollout of run `run`
    /// reports them (in their own shape: `{"event": "hostStarted", …}`).
    #[serde(untagged)]
    Rollout {
        run: String,
        #[serde(flatten)]
        event: RolloutEvent,
    },
}

impl Event {
    /// The group it is about, when it is about one.
    pub fn group(&self) -> Option<&str> {
        use Event::*;
        match self {
            HostNotScanned { group, .. }
            | Suspended { group }
            | StillHalted { group, .. }
            | NothingToDo { group }
            | FreezeNeedsBreak { group, .. }
            | AllowedByEmergency { group, .. }
            | Frozen { group, .. }
            | OutsideWindows { group, .. }
            | NotCovered { group }
            | Observed { group, .. }
            | Resuming { group, .. }
            | RunStarted { group, .. } => Some(group),
            RunFinished { run } => Some(&run.group),
            Rollout { event, .. } => Some(event.group()),
            _ => None,
        }
    }

    /// The host it is about, when it is about one.
    pub fn host(&self) -> Option<&str> {
        match self {
            Event::HostNotScanned { host, .. } => Some(host),
            Event::Rollout {
                event:
                    RolloutEvent::HostStarted { host, .. }
                    | RolloutEvent::Step { host, .. }
                    | RolloutEvent::HostFinished { host, .. },
                ..
            } => Some(host),
            _ => None,
        }
    }

    /// The run it belongs to, when a run is under way.
    pub fn run(&self) -> Option<&str> {
        match self {
            Event::StillHalted { run, .. }
            | Event::Resuming { run, .. }
            | Event::RunStarted { run, .. }
            | Event::Rollout { run, .. } => Some(run),
            Event::RunFinished { run } => Some(&run.id),
            _ => None,
        }
    }

    /// Where the host or run stands after it (`patched`, `failed`, `halted`,
    /// `succeeded`, …), when it says.
    pub fn state(&self) -> Option<String> {
        let word = |v: serde_json::Value| v["state"].as_str().map(String::from);
        match self {
            Event::HostNotScanned { state, .. } => Some(state.to_string()),
            Event::RunFinished { run } => serde_json::to_value(&run.outcome).ok().and_then(word),
            Event::Rollout {
                event: RolloutEvent::HostFinished { outcome, .. },
                ..
            } => serde_json::to_value(outcome).ok().and_then(word),
            Event::Rollout {
                event: RolloutEvent::Halted { .. },
                ..
            }
            | Event::StillHalted { .. } => Some("halted".into()),
            _ => None,
        }
    }

    /// How a log weighs it.
    pub fn level(&self) -> &'static str {
        match self {
            Event::Error { .. } | Event::Unreached { .. } => "error",
            Event::Warning { .. } | Event::SourceRefused { .. } | Event::HostNotScanned { .. } => {
                "warn"
            }
            Event::Rollout {
                event: RolloutEvent::Halted { .. },
                ..
            }
            | Event::StillHalted { .. } => "warn",
            _ => "info",
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Event::Error { .. })
    }
}

/// Where events go; cheap to clone, shared by concurrent groups.
pub type Sink = std::sync::Arc<dyn Fn(&Event) + Send + Sync>;
