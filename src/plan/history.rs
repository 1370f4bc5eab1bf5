//! What the planner reads from recorded status: when a version was first
//! seen, and since when it has run healthy on every host of a stage. Run
//! state derives it (`state::stage`); the planner only reads this plain data.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::host::FailedInstall;
use crate::facts::PackageKey;

/// Recorded history, as plain data (the planner stays pure).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// `(package, version)` → the first time any host was seen offering it.
    pub first_seen: BTreeMap<(String, String), Timestamp>,
    /// `(stage, package, version)` → since when every host of the stage has
    /// had it installed (and healthy, where the baseline requires it).
    pub stage_healthy_since: BTreeMap<(String, String, String), StageRecord>,
    /// `(host, package)` → the last failed install of that package there.
    pub failed_installs: BTreeMap<(String, PackageKey), FailedInstall>,
}

/// A version's record on one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRecord {
    /// Since when every host of the stage has had the version installed.
    pub installed_since: Timestamp,
    /// Since when every host has also passed its health checks; `None` if not all healthy now.
    pub healthy_since: Option<Timestamp>,
    /// Why not all healthy: the first host (in repository order) whose
    /// checks failed, or that has no health record yet, and what failed.
    pub unhealthy: Option<String>,
}

impl History {
    pub fn first_seen(&self, package: &str, version: &str) -> Option<Timestamp> {
        self.first_seen
            .get(&(package.to_string(), version.to_string()))
            .copied()
    }

    pub fn failed_install(&self, host: &str, package: &str, arch: &str) -> Option<&FailedInstall> {
        if self.failed_installs.is_empty() {
            return None;
        }
        self.failed_installs
            .get(&(host.to_string(), PackageKey::new(package, arch)))
    }

    pub fn stage_record(&self, stage: &str, package: &str, version: &str) -> Option<&StageRecord> {
        self.stage_healthy_since
            .get(&(stage.to_string(), package.to_string(), version.to_string()))
    }
}
