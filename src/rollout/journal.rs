//! What a rollout needs of run state, defined here so that the rollout
//! never imports the store: its run record saved after every step (the
//! journal a killed run resumes from), health check results, and the
//! recent runs (whose journal says what patchwave was installing where).
//! `state` implements it for every store.

use jiff::Timestamp;

use super::health::CheckResult;
use super::record::RunRecord;

pub trait RunJournal: Send + Sync {
    /// Saves the run record; an error says which file or key failed.
    fn save_run(&self, run: &RunRecord) -> Result<(), String>;
    /// Records the health checks' results on a host at `at`.
    fn record_health(
        &self,
        host: &str,
        at: Timestamp,
        checks: &[CheckResult],
    ) -> Result<(), String>;
    /// The most recent runs, newest first, at most `limit`.
    fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, String>;
}
