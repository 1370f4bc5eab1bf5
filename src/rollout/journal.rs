//! What a rollout needs of run state, defined here so that the rollout
//! never imports the store: its run record saved after every step (the
//! journal a killed run resumes from), health check results, and the
//! recent runs (whose journal says what patchwave was installing where).
//! `state` implements it for every store.

use jiff::Timestamp;

use super::health::CheckResult;
use super::record::RunRecord;

/// The fencing token of a group's lease, carried by every write its holder
/// makes: the store refuses a write whose token is older than the newest
/// lease it granted on the group (a holder that lost its lease — an etcd
/// lease that expired while the process was paused — writes nothing more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fence(pub u64);

#[async_trait::async_trait]
pub trait RunJournal: Send + Sync {
    /// Saves the run record under the group lease `fence` was issued with;
    /// an error says which file or key failed, or that the lease was lost.
    async fn save_run(&self, run: &RunRecord, fence: Fence) -> Result<(), String>;
    /// Records the health checks' results on a host at `at`.
    async fn record_health(
        &self,
        host: &str,
        at: Timestamp,
        checks: &[CheckResult],
    ) -> Result<(), String>;
    /// The most recent runs, newest first, at most `limit`.
    async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, String>;
}
