//! The run record: every step of a group's rollout as it happens (host, step,
//! before/after versions, output tail, durations, outcome). It is saved after
//! every step, so it is also the journal a killed run resumes from; the
//! status module will commit it to git as `status/runs/<run-id>.yaml`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::facts::PackageVersions;

/// Format version of run records.
pub const RUN_VERSION: u32 = 1;

/// One group's rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunRecord {
    pub version: u32,
    pub id: String,
    /// A rollout (`apply`) or a `rollback` of an earlier run.
    #[serde(default)]
    pub kind: RunKind,
    pub group: String,
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    pub trigger: Trigger,
    /// The desired-state commit, where the repository is a git checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_commit: Option<String>,
    pub outcome: RunOutcome,
    pub max_errors: usize,
    pub errors: usize,
    pub waves: Vec<WaveRun>,
    /// A soak in progress ends here: a run stopped during a soak (SIGTERM)
    /// waits out the rest when it resumes, before any later wave starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_until: Option<Timestamp>,
}

impl RunRecord {
    /// A run of `group` that has just started: running, nothing done yet.
    pub fn start(
        kind: RunKind,
        id: String,
        group: &str,
        started_at: Timestamp,
        by: String,
    ) -> RunRecord {
        RunRecord {
            version: RUN_VERSION,
            id,
            kind,
            group: group.to_string(),
            started_at,
            finished_at: None,
            trigger: Trigger {
                by,
                emergency_reason: None,
                freeze_overridden: None,
                emergency_changes: Vec::new(),
            },
            desired_commit: None,
            outcome: RunOutcome::Running,
            max_errors: 0,
            errors: 0,
            waves: Vec::new(),
            soak_until: None,
        }
    }
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum RunKind {
    #[default]
    Apply,
    Rollback,
}

/// Who started the run and with what powers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Trigger {
    /// `user@machine` for a person at a terminal, `daemon` for the daemon.
    pub by: String,
    /// Set for an out-of-window emergency run (`apply --emergency --reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_reason: Option<String>,
    /// A change freeze this run was allowed through (`--break-freeze`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_overridden: Option<String>,
    /// The EmergencyChanges that let this run start outside the windows or
    /// approved what it installs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emergency_changes: Vec<EmergencyRecord>,
}

/// An EmergencyChange as a run records it: its commit is the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyRecord {
    pub name: String,
    pub reason: String,
    pub expires: jiff::Timestamp,
    /// The desired-state commit that added its file, where git knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_in: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum RunOutcome {
    /// Still going, or killed: a later apply resumes it.
    Running,
    /// Every host was patched (or had nothing left to do).
    Succeeded,
    /// Every host ran; some failed, within the error budget (`maxErrors`).
    FinishedWithErrors { errors: usize },
    /// Halted: the error budget was exceeded or a whole wave failed. No host
    /// starts again until `apply --resume` (or a new desired-state commit).
    Halted { reason: String },
    /// Not started or stopped for a reason that is not a host's fault
    /// (the window closed, nothing to do).
    Stopped { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WaveRun {
    /// 1-based; wave 1 is the canary.
    pub number: usize,
    pub hosts: Vec<HostRun>,
}

/// One host's part in the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostRun {
    pub host: String,
    pub outcome: HostOutcome,
    /// Version before the run (the rollback target).
    pub before: PackageVersions,
    /// Version the run installs.
    pub planned: PackageVersions,
    /// Version found after the run (verified by a rescan).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub after: PackageVersions,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum HostOutcome {
    /// In the plan; not started (yet).
    Pending,
    /// Started; a step is running (or the run was killed during it).
    InProgress,
    /// Installed, verified and healthy.
    Patched,
    /// A step failed: counts against the error budget.
    Failed { step: Step, error: String },
    /// Not started: the rollout halted, or the window's cutoff passed.
    Skipped { reason: String },
    /// Failed, then put back on its before-versions.
    RolledBack { step: Step, error: String },
}

impl HostOutcome {
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            HostOutcome::Failed { .. } | HostOutcome::RolledBack { .. }
        )
    }
}

/// The steps of one host, in order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema, Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    Connect,
    Pre,
    Snapshot,
    /// Finishing an install of an earlier run that was interrupted on the
    /// host (its package database says so, and so does this journal).
    Repair,
    /// The install resolved without changing anything: what it would put on
    /// the host, dependencies included, checked against blocked packages.
    Resolve,
    Install,
    Reboot,
    Verify,
    Health,
    Post,
    Rollback,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Pre => "pre hook",
            Step::Snapshot => "snapshot hook",
            Step::Repair => "repair",
            Step::Resolve => "resolve",
            Step::Install => "install",
            Step::Reboot => "reboot",
            Step::Verify => "verify",
            Step::Health => "health",
            Step::Post => "post hook",
            Step::Rollback => "rollback",
        }
    }
}

/// One step as it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepRecord {
    pub step: Step,
    pub started_at: Timestamp,
    pub duration_ms: u64,
    pub ok: bool,
    /// What it said, trimmed to the last lines.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
}

impl RunRecord {
    /// The host's entry, wherever it is.
    pub fn host_mut(&mut self, host: &str) -> Option<&mut HostRun> {
        self.waves
            .iter_mut()
            .flat_map(|w| w.hosts.iter_mut())
            .find(|h| h.host == host)
    }

    pub fn host(&self, host: &str) -> Option<&HostRun> {
        self.waves
            .iter()
            .flat_map(|w| w.hosts.iter())
            .find(|h| h.host == host)
    }
}
