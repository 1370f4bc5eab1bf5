//! Where the desired state comes from for one reconcile: a local work tree
//! as it is, or a remote branch synced (and verified) into run state; and
//! the status branch of that same git repository, where status goes.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::event::{Event, Sink};
use crate::spec::Repository;

/// The desired state a reconcile works from.
pub struct Source {
    /// The fleet repository's files.
    pub policy_dir: PathBuf,
    /// The git repository status is committed to (and pushed from).
    pub git_dir: PathBuf,
    /// The desired-state commit, where there is one.
    pub commit: Option<String>,
    pub remote: bool,
    /// A remote source's URL as given (it may carry credentials; it stays
    /// in memory, never in the mirror's config).
    pub url: Option<String>,
    pub signer: Option<String>,
    /// The desired-state branch (status never goes there).
    pub desired_branch: Option<String>,
    /// Why the remote's newest commit was refused (the last good one is used).
    pub refused: Option<String>,
    /// A remote's checkout stays while this source is in use.
    _hold: Option<crate::source::CheckoutHold>,
}

/// One status commit at a time per git repository, in this process: groups
/// reconciled concurrently (and passes of different polls, each with its
/// own `Source`) share the status branch.
fn status_lock(git_dir: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let key = git_dir
        .canonicalize()
        .unwrap_or_else(|_| git_dir.to_path_buf());
    LOCKS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default()
        .clone()
}

/// A remote `--repo` and its mirror under run state (`sources/<key>`).
pub fn remote_source(
    url: &str,
    branch: &str,
    state_dir: Option<&Path>,
) -> Result<crate::source::RemoteSource, String> {
    let base = match state_dir {
        Some(d) => d.to_path_buf(),
        None => crate::state::LocalState::default_dir("sources").map_err(|e| e.to_string())?,
    };
    Ok(crate::source::RemoteSource {
        url: url.to_string(),
        branch: branch.to_string(),
        cache: base
            .join("sources")
            .join(crate::source::cache_key(url, branch)),
    })
}

impl Source {
    /// `repo` as a local work tree as it is, or (a URL) `branch` of that
    /// remote, synced into the mirror under `state_dir` and verified.
    pub fn resolve(repo: &Path, branch: &str, state_dir: Option<&Path>) -> Result<Source, String> {
        let given = repo.to_string_lossy().to_string();
        if !crate::source::is_remote(&given) {
            return Ok(Source {
                policy_dir: repo.to_path_buf(),
                git_dir: repo.to_path_buf(),
                commit: crate::source::head_commit(repo),
                desired_branch: crate::source::head_branch(repo),
                remote: false,
                url: None,
                signer: None,
                refused: None,
                _hold: None,
            });
        }
        let remote = remote_source(&given, branch, state_dir)?;
        let synced = remote.sync().map_err(|e| e.to_string())?;
        Ok(Source {
            policy_dir: synced.dir,
            git_dir: synced.git_dir,
            commit: Some(synced.commit),
            desired_branch: Some(branch.to_string()),
            remote: true,
            url: Some(given),
            signer: synced.signer,
            refused: synced.refused,
            _hold: Some(synced.hold),
        })
    }

    /// Whether status can be committed at all (a git checkout, or a remote's mirror).
    pub fn has_git(&self) -> bool {
        self.remote || crate::source::head_commit(&self.git_dir).is_some()
    }

    /// Commits `files` to the status branch of this source's git repository
    /// and pushes them to its `origin` (when it has one), with retries.
    pub fn commit_status(
        &self,
        repo: &Repository,
        files: &BTreeMap<String, String>,
        message: String,
    ) -> Result<crate::source::StatusOutcome, String> {
        let lock = status_lock(&self.git_dir);
        let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
        // git and the network block: let the runtime move other tasks off
        // this thread meanwhile.
        crate::blocking::blocking(|| self.commit_status_now(repo, files, message))
    }

    fn commit_status_now(
        &self,
        repo: &Repository,
        files: &BTreeMap<String, String>,
        message: String,
    ) -> Result<crate::source::StatusOutcome, String> {
        let remote = crate::source::default_remote(&self.git_dir);
        crate::source::write_status(&crate::source::StatusWrite {
            repo_dir: &self.git_dir,
            branch: &repo.status_branch(),
            files,
            message,
            remote: remote.as_deref(),
            remote_url: self.url.as_deref(),
            attempts: 5,
            before_push: None,
            desired_branch: self.desired_branch.as_deref(),
        })
        .map_err(|e| e.to_string())
    }

    /// `status/SOURCE.yaml`: which commit patchwave works from and, when
    /// the newest was refused, why (Flux's `SourceUnverified` /
    /// `InvalidSpec`). It changes only when that changes, so polling adds
    /// no commits.
    pub fn write_condition(&self, repo: &Repository, events: &Sink) {
        let doc = match &self.refused {
            Some(why) => serde_json::json!({
                "condition": if why.contains("not a valid fleet repository") { "InvalidSpec" } else { "SourceUnverified" },
                "workingFrom": self.commit,
                "reason": why,
            }),
            None => serde_json::json!({"condition": "Ready", "workingFrom": self.commit}),
        };
        let Ok(text) = serde_saphyr::to_string(&doc) else {
            return;
        };
        let files = [("status/SOURCE.yaml".to_string(), text)]
            .into_iter()
            .collect();
        let message = match &self.refused {
            Some(why) => format!("status: desired state refused\n\n{why}\n"),
            None => format!(
                "status: desired state {}\n",
                self.commit.as_deref().unwrap_or("")
            ),
        };
        if let Err(e) = self.commit_status(repo, &files, message) {
            events(&Event::Warning {
                message: format!("the source condition was not written to git: {e}"),
            });
        }
    }
}
