//! Run state: what patchwave remembers between runs (first sightings of
//! versions, what each host had installed since when, host health), behind
//! one small trait. The local store keeps it in files today; replicas sharing
//! a fleet will keep it in etcd, and the status branch will carry it in git.
//! The planner never touches a store: [`load_history`] turns records into
//! plain data first.

mod local;
mod record;
mod stage;

pub use local::LocalState;
pub use record::{CheckResult, FirstSeen, Health, HostRecord, InstalledSince, STATE_VERSION};

use jiff::Timestamp;

use crate::facts::{HostScan, PackageKey};
use crate::plan::History;
use crate::plan::host::FailedInstall;
use crate::rollout::record::{RunKind, RunOutcome, RunRecord};
use crate::spec::Repository;

/// A store failed; the message names the file or key and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StateError(pub String);

/// Where run state lives. Implementations make each update atomic: a reader
/// sees the old record or the new one, never half of either, and two writers
/// never lose each other's updates. Async, because the shared store (etcd)
/// is a network service; the local one does its file work off the async
/// threads.
#[async_trait::async_trait]
pub trait RunState: Send + Sync {
    /// When each `(package, version)` was first seen offered on any host.
    async fn first_seen(&self) -> Result<FirstSeen, StateError>;
    /// A host's record, or `None` if patchwave never scanned it.
    async fn host(&self, host: &str) -> Result<Option<HostRecord>, StateError>;
    /// Records what a fleet scan saw. Dates never move later; hosts that
    /// could not be scanned keep their records. Each host's latest scan
    /// (reached or not) is kept whole, for [`RunState::last_scans`].
    async fn record_scan(&self, scans: &[HostScan]) -> Result<(), StateError>;
    /// The latest recorded scan of each of `hosts` that has one: a new
    /// commit is planned from these, without reaching a host.
    async fn last_scans(&self, hosts: &[&str]) -> Result<Vec<HostScan>, StateError>;
    /// Records the health checks' results on a scanned host at `at` (no
    /// checks: patched and verified, so healthy).
    async fn record_health(
        &self,
        host: &str,
        at: Timestamp,
        checks: &[CheckResult],
    ) -> Result<(), StateError>;
    /// The last failed install per `(host, "name:arch")` (FAILED patch states).
    async fn failed_installs(&self) -> Result<FailedInstalls, StateError>;
    /// Records an install attempt: a failure replaces the package's record on
    /// that host, a success clears it.
    async fn record_install(&self, attempt: &InstallAttempt<'_>) -> Result<(), StateError>;
    /// Saves a run record (after every step: it is the run's journal) under
    /// the group lease `fence` came from; refused when a newer lease on the
    /// group was granted since. A run that is running or halted stays its
    /// group's open run.
    async fn save_run(&self, run: &RunRecord, fence: Fence) -> Result<(), StateError>;
    /// A saved run record.
    async fn load_run(&self, id: &str) -> Result<Option<RunRecord>, StateError>;
    /// The group's run that has not finished: one that was killed (to
    /// resume) or halted (to stay halted until resumed).
    async fn open_run(&self, group: &str) -> Result<Option<RunRecord>, StateError>;
    /// The most recent runs (newest first), at most `limit`.
    async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StateError>;
    /// One rollout per group at a time: a lease on the group, with a
    /// fencing token newer than every earlier one; fails at once when
    /// another holds it.
    async fn lease_group(&self, group: &str) -> Result<GroupLease, StateError>;
}

/// Every store is the rollout's journal.
#[async_trait::async_trait]
impl<T: RunState> crate::rollout::journal::RunJournal for T {
    async fn save_run(&self, run: &RunRecord, fence: Fence) -> Result<(), String> {
        RunState::save_run(self, run, fence)
            .await
            .map_err(|e| e.to_string())
    }

    async fn record_health(
        &self,
        host: &str,
        at: Timestamp,
        checks: &[CheckResult],
    ) -> Result<(), String> {
        RunState::record_health(self, host, at, checks)
            .await
            .map_err(|e| e.to_string())
    }

    async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, String> {
        RunState::recent_runs(self, limit)
            .await
            .map_err(|e| e.to_string())
    }
}

pub use crate::rollout::journal::Fence;

/// A group's lease, held while its rollout runs; dropping it lets the next
/// holder in. Its token fences every write the holder makes.
pub struct GroupLease {
    pub group: String,
    pub token: Fence,
    _held: Box<dyn std::any::Any + Send>,
}

impl GroupLease {
    pub fn new(group: &str, token: Fence, held: impl std::any::Any + Send) -> GroupLease {
        GroupLease {
            group: group.to_string(),
            token,
            _held: Box::new(held),
        }
    }
}

impl RunRecord {
    /// Running (or killed) and halted rollouts stay open; finished ones
    /// close. A rollback is never a group's open run.
    pub fn is_open(&self) -> bool {
        self.kind == RunKind::Apply
            && matches!(
                self.outcome,
                RunOutcome::Running | RunOutcome::Halted { .. }
            )
    }
}

/// `(host, package)` → the last failed install there.
pub type FailedInstalls = std::collections::BTreeMap<(String, PackageKey), FailedInstall>;

/// One package install on one host, as the rollout reports it.
#[derive(Debug, Clone, Copy)]
pub struct InstallAttempt<'a> {
    pub host: &'a str,
    pub package: &'a PackageKey,
    pub version: &'a str,
    pub at: Timestamp,
    /// `Err(output tail)` when it failed.
    pub outcome: Result<(), &'a str>,
}

impl InstallAttempt<'_> {
    /// The failure record after this attempt.
    pub fn apply_to(&self, failed: &mut FailedInstalls) {
        let key = (self.host.to_string(), self.package.clone());
        match self.outcome {
            Ok(()) => {
                failed.remove(&key);
            }
            Err(error) => {
                failed.insert(
                    key,
                    FailedInstall {
                        version: self.version.to_string(),
                        at: self.at,
                        error: error.to_string(),
                    },
                );
            }
        }
    }
}

/// The history the planner needs: first sightings, and the record of every
/// stage that some baseline promotes from (only those hosts are read).
pub async fn load_history(state: &dyn RunState, repo: &Repository) -> Result<History, StateError> {
    load_history_with(state, repo, &std::collections::HashMap::new()).await
}

/// The hosts of every group whose stage some baseline promotes from: the
/// hosts whose records the planner needs.
pub fn promotion_stage_hosts(repo: &Repository) -> Vec<&str> {
    let stages: Vec<&str> = repo
        .baselines
        .iter()
        .filter_map(|b| b.spec.promotion.as_ref().map(|p| p.from.value.as_str()))
        .collect();
    repo.groups
        .iter()
        .filter(|g| {
            g.spec
                .stage
                .as_ref()
                .is_some_and(|s| stages.contains(&s.value.as_str()))
        })
        .flat_map(|g| g.spec.hosts.iter().map(|h| h.name.value.as_str()))
        .collect()
}

/// [`load_history`], with host records shared by another machine (read
/// from the status branch), merged with the local ones (see
/// [`HostRecord::merged_with`]).
pub async fn load_history_with(
    state: &dyn RunState,
    repo: &Repository,
    shared: &std::collections::HashMap<String, HostRecord>,
) -> Result<History, StateError> {
    let mut stages: Vec<&str> = repo
        .baselines
        .iter()
        .filter_map(|b| b.spec.promotion.as_ref().map(|p| p.from.value.as_str()))
        .collect();
    stages.sort_unstable();
    stages.dedup();
    let mut records: Vec<(&str, Vec<Option<HostRecord>>)> = Vec::new();
    for stage in stages {
        let mut hosts = Vec::new();
        for g in repo
            .groups
            .iter()
            .filter(|g| g.spec.stage.as_ref().is_some_and(|s| s.value == stage))
        {
            for h in &g.spec.hosts {
                let local = state.host(&h.name.value).await?;
                let record = match (local, shared.get(&h.name.value)) {
                    (Some(l), Some(s)) => Some(l.merged_with(s)),
                    (None, Some(s)) => Some(s.clone()),
                    (local, None) => local,
                };
                hosts.push(record);
            }
        }
        records.push((stage, hosts));
    }
    let mut history = History::from_records(
        state.first_seen().await?,
        records
            .iter()
            .map(|(s, hosts)| (*s, hosts.iter().map(Option::as_ref).collect())),
    );
    history.failed_installs = state.failed_installs().await?;
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fixture::scan;

    /// The example fleet's production baseline promotes from stage `staging`
    /// (hosts stg-web-1 and stg-db-1): its record comes from both hosts' files.
    #[tokio::test]
    async fn history_reads_the_hosts_of_every_promotion_stage() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet");
        let checked = crate::spec::check(&root).unwrap();
        assert!(!checked.has_errors());
        let dir = tempfile::tempdir().unwrap();
        let store = LocalState::new(dir.path());
        store
            .record_scan(&[
                scan(
                    "stg-web-1",
                    "2026-11-01T08:00:00Z",
                    &[("openssl", "3.0.15-1")],
                    &[],
                ),
                scan(
                    "stg-db-1",
                    "2026-11-02T08:00:00Z",
                    &[("openssl", "3.0.15-1")],
                    &[],
                ),
            ])
            .await
            .unwrap();
        let h = load_history(&store, &checked.repo).await.unwrap();
        let r = h.stage_record("staging", "openssl", "3.0.15-1").unwrap();
        assert_eq!(r.installed_since, "2026-11-02T08:00:00Z".parse().unwrap());
        assert_eq!(r.healthy_since, None, "no health recorded yet");
        for host in ["stg-web-1", "stg-db-1"] {
            store
                .record_health(
                    host,
                    "2026-11-03T08:00:00Z".parse().unwrap(),
                    &record::tests::checks(true),
                )
                .await
                .unwrap();
        }
        let h = load_history(&store, &checked.repo).await.unwrap();
        assert_eq!(
            h.stage_record("staging", "openssl", "3.0.15-1")
                .unwrap()
                .healthy_since,
            Some("2026-11-03T08:00:00Z".parse().unwrap())
        );
    }
}
