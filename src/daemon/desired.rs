//! The desired state the controller works from: the source synced (and,
//! for a remote, verified), its policy validated, and the run state of its
//! fleet. Loaded on every poll; a pass holds the one it started with.

use std::path::PathBuf;
use std::sync::Arc;

use crate::reconcile::Source;
use crate::spec::Checked;
use crate::state::LocalState;

/// Where the desired state lives.
#[derive(Debug, Clone)]
pub struct Location {
    /// A working tree, or a remote URL.
    pub repo: PathBuf,
    /// With a remote: the branch holding the desired state.
    pub branch: String,
    /// Run state directory (else the fleet's default).
    pub state_dir: Option<PathBuf>,
}

pub struct Desired {
    pub source: Source,
    pub checked: Checked,
    pub store: Arc<LocalState>,
}

impl Desired {
    /// Syncs and validates. Blocking (git): call it off the async threads.
    pub fn load(at: &Location) -> Result<Desired, String> {
        let source = Source::resolve(&at.repo, &at.branch, at.state_dir.as_deref())?;
        let checked = crate::spec::check(&source.policy_dir).map_err(|e| {
            format!(
                "cannot read fleet repository {}: {e}",
                source.policy_dir.display()
            )
        })?;
        if checked.has_errors() {
            let first: Vec<String> = checked.errors().take(5).map(|d| d.to_string()).collect();
            return Err(format!(
                "the desired state is invalid; fix it (`patchwave validate`):\n{}",
                first.join("\n")
            ));
        }
        let dir = match &at.state_dir {
            Some(d) => d.clone(),
            None => {
                let fleet = checked.repo.fleets.first().map_or("default", |f| f.name());
                LocalState::default_dir(fleet).map_err(|e| e.to_string())?
            }
        };
        Ok(Desired {
            source,
            checked,
            store: Arc::new(LocalState::new(dir)),
        })
    }

    /// The groups of the desired state.
    pub fn groups(&self) -> Vec<String> {
        self.checked
            .repo
            .groups
            .iter()
            .map(|g| g.name().to_string())
            .collect()
    }
}
