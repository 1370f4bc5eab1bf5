//! What the install step needs besides the plan to keep its two promises:
//! the baseline's blocked packages (never installed, not even as a
//! dependency) and what patchwave's own journal says it was installing on
//! each host when it was interrupted (so it may repair its own unfinished
//! work, and only its own).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::tz::TimeZone;

use super::journal::RunJournal;
use super::repair::{Interrupted, interrupted_install};
use crate::plan::baseline::CompiledBaseline;
use crate::spec::Repository;

/// How many run records (newest first, all groups) the journal rule reads.
const JOURNAL_RUNS: usize = 200;

#[derive(Debug, Clone)]
pub struct InstallSafety {
    /// The group's baseline, for its `rejected[]` entries; `None` blocks nothing.
    pub baseline: Option<Arc<CompiledBaseline>>,
    /// The zone in which a rejection's `until` day is counted (the Fleet's, as the planner's).
    pub tz: TimeZone,
    /// Host → the install the journal shows interrupted there.
    pub interrupted: BTreeMap<String, Interrupted>,
}

impl Default for InstallSafety {
    fn default() -> Self {
        InstallSafety {
            baseline: None,
            tz: TimeZone::UTC,
            interrupted: BTreeMap::new(),
        }
    }
}

impl InstallSafety {
    /// The blocked packages of the baseline named `baseline`, compiled as the
    /// planner compiles it (with its PatchApprovals). A baseline that does not
    /// compile was already refused by the planner; here it blocks nothing.
    pub fn for_baseline(repo: &Repository, baseline: &str) -> InstallSafety {
        let compiled = repo
            .baselines
            .iter()
            .find(|b| b.name() == baseline)
            .and_then(|b| {
                let approvals: Vec<_> = repo
                    .approvals
                    .iter()
                    .filter(|a| a.spec.baseline.value == b.name())
                    .collect();
                CompiledBaseline::compile(b, &approvals).ok()
            });
        InstallSafety {
            baseline: compiled.map(Arc::new),
            tz: repo.approval_timezone(),
            interrupted: BTreeMap::new(),
        }
    }

    /// Reads the journal as it stands before this apply changes it. A journal
    /// that cannot be read shows nothing: unfinished work is then refused, as
    /// anyone else's would be.
    pub async fn with_journal(mut self, state: &dyn RunJournal) -> InstallSafety {
        let runs = match state.recent_runs(JOURNAL_RUNS).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    "the run journal cannot be read, so no interrupted install will be repaired: {e}"
                );
                return self;
            }
        };
        let hosts: std::collections::BTreeSet<&str> = runs
            .iter()
            .flat_map(|r| r.waves.iter().flat_map(|w| &w.hosts))
            .map(|h| h.host.as_str())
            .collect();
        self.interrupted = hosts
            .into_iter()
            .filter_map(|h| interrupted_install(&runs, h).map(|i| (h.to_string(), i)))
            .collect();
        self
    }
}
