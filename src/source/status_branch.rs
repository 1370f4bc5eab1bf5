//! Status write-back: one commit of status files on the status branch
//! (never the desired-state branch, never the work tree), pushed with retry.
//! On a non-fast-forward the remote tip is fetched and the same files are
//! committed again on top of it: nothing is lost, and nothing is ever
//! force-pushed. Status files are last-writer-wins per host and unique per
//! run, so re-applying them on a newer tip is always correct.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use git2::{FileMode, Oid, Repository, Signature};

use super::GitError;

/// What to write, where.
pub struct StatusWrite<'a> {
    /// Any path inside the fleet repository's work tree.
    pub repo_dir: &'a Path,
    pub branch: &'a str,
    /// Path in the branch → content.
    pub files: &'a BTreeMap<String, String>,
    pub message: String,
    /// Remote to push to; `None` commits locally only.
    pub remote: Option<&'a str>,
    /// The URL to reach it by instead of the configured one: it may carry
    /// credentials, which are never written to the repository's config.
    pub remote_url: Option<&'a str>,
    /// Pushes tried before giving up (each after a fresh fetch).
    pub attempts: usize,
    /// Runs after each commit is built, before it is pushed (a seam for
    /// tests that race another writer).
    pub before_push: Option<&'a dyn Fn()>,
    /// The desired-state branch: status is never written to it.
    pub desired_branch: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    /// The branch already holds exactly these files.
    Unchanged,
    Committed {
        commit: String,
        pushed: bool,
        attempts: usize,
    },
}

/// The remote to push status to: `origin` when the repository has one.
pub fn default_remote(repo_dir: &Path) -> Option<String> {
    let repo = Repository::discover(repo_dir).ok()?;
    repo.find_remote("origin")
        .ok()
        .map(|_| "origin".to_string())
}

/// The branch the work tree has checked out, if any (not on a detached HEAD).
pub fn head_branch(repo_dir: &Path) -> Option<String> {
    let repo = Repository::discover(repo_dir).ok()?;
    let head = repo.head().ok()?;
    head.is_branch()
        .then(|| head.shorthand().ok().map(String::from))
        .flatten()
}

/// The desired-state commit the work tree is on (HEAD), if any.
pub fn head_commit(repo_dir: &Path) -> Option<String> {
    let repo = Repository::discover(repo_dir).ok()?;
    let id = repo.head().ok()?.peel_to_commit().ok()?.id();
    Some(id.to_string())
}

fn signature(repo: &Repository) -> Result<Signature<'static>, GitError> {
    // A fixed identity: status commits are patchwave's, whoever runs it.
    repo.config()
        .ok()
        .and_then(|c| c.get_string("patchwave.email").ok())
        .map_or_else(
            || Signature::now("patchwave", "patchwave@localhost"),
            |email| Signature::now("patchwave", &email),
        )
        .map_err(GitError::from)
}

/// Commits the files on the status branch and pushes, retrying on a race.
pub fn write_status(w: &StatusWrite<'_>) -> Result<StatusOutcome, GitError> {
    let repo = Repository::discover(w.repo_dir).map_err(|e| {
        GitError(format!(
            "{} is not inside a git repository ({}); status is written to a branch of the fleet repository",
            w.repo_dir.display(),
            e.message()
        ))
    })?;
    let local_ref = format!("refs/heads/{}", w.branch);
    if !git2::Reference::is_valid_name(&local_ref) {
        return Err(GitError(format!(
            "`{}` is not a valid branch name",
            w.branch
        )));
    }
    if repo
        .head()
        .ok()
        .and_then(|h| h.name().ok().map(String::from))
        == Some(local_ref.clone())
    {
        return Err(GitError(format!(
            "the status branch `{}` is checked out; status never writes to the work tree",
            w.branch
        )));
    }
    if w.desired_branch == Some(w.branch) {
        return Err(GitError(format!(
            "the status branch `{}` is the desired-state branch; set Fleet spec.statusBranch to a branch of its own",
            w.branch
        )));
    }
    let attempts = w.attempts.max(1);
    for attempt in 1..=attempts {
        let remote_tip = match w.remote {
            Some(r) => match fetch_branch(&repo, r, w.remote_url, w.branch) {
                Ok(tip) => tip,
                // Unreachable remote: the status is committed locally all
                // the same (and carried over by the next write that can push).
                Err(e) => {
                    let local_only = StatusWrite {
                        remote: None,
                        message: w.message.clone(),
                        ..*w
                    };
                    let kept = write_status(&local_only)?;
                    let id = match kept {
                        StatusOutcome::Committed { commit, .. } => commit,
                        StatusOutcome::Unchanged => "(no change)".into(),
                    };
                    return Err(GitError(format!(
                        "status committed locally ({id}) but not pushed: {e}; it is pushed with the next status write"
                    )));
                }
            },
            None => None,
        };
        let local_tip = repo
            .find_reference(&local_ref)
            .ok()
            .and_then(|r| r.peel_to_commit().ok())
            .map(|c| c.id());
        let base = remote_tip.or(local_tip);
        let base_commit = base.map(|id| repo.find_commit(id)).transpose()?;
        // Path → blob: status files only this clone has (from a push that
        // failed earlier) are carried over, never lost to a newer remote
        // tip; then this write's files.
        let mut blobs: BTreeMap<String, Oid> = BTreeMap::new();
        if let (Some(remote), Some(local)) = (remote_tip, local_tip)
            && remote != local
            && !repo.graph_descendant_of(remote, local)?
        {
            for (path, blob) in status_files(&repo, local)? {
                let known = base_commit
                    .as_ref()
                    .and_then(|c| c.tree().ok())
                    .and_then(|t| t.get_path(Path::new(&path)).ok())
                    .is_some();
                if !known {
                    blobs.insert(path, blob);
                }
            }
        }
        for (path, content) in w.files {
            blobs.insert(path.clone(), repo.blob(content.as_bytes())?);
        }
        let mut update = git2::build::TreeUpdateBuilder::new();
        for (path, blob) in &blobs {
            update.upsert(path.as_str(), *blob, FileMode::Blob);
        }
        let base_tree = match &base_commit {
            Some(c) => c.tree()?,
            None => repo.find_tree(repo.treebuilder(None)?.write()?)?,
        };
        let tree_id = update.create_updated(&repo, &base_tree)?;
        if base_commit.is_some()
            && tree_id == base_tree.id()
            && (w.remote.is_none() || remote_tip == local_tip)
        {
            return Ok(StatusOutcome::Unchanged);
        }
        let commit = if tree_id == base_tree.id() {
            // Nothing new to say, but the local branch is behind: follow the remote.
            match base {
                Some(b) => b,
                None => return Ok(StatusOutcome::Unchanged),
            }
        } else {
            let tree = repo.find_tree(tree_id)?;
            let sig = signature(&repo)?;
            let parents: Vec<&git2::Commit<'_>> = base_commit.iter().collect();
            repo.commit(None, &sig, &sig, &w.message, &tree, &parents)?
        };
        repo.reference(&local_ref, commit, true, "patchwave status")?;
        let Some(remote) = w.remote else {
            return Ok(StatusOutcome::Committed {
                commit: commit.to_string(),
                pushed: false,
                attempts: attempt,
            });
        };
        if let Some(hook) = w.before_push {
            hook();
        }
        match push_branch(&repo, remote, w.remote_url, w.branch)? {
            None => {
                return Ok(StatusOutcome::Committed {
                    commit: commit.to_string(),
                    pushed: true,
                    attempts: attempt,
                });
            }
            Some(rejected) if attempt == attempts => {
                return Err(GitError(format!(
                    "could not push the status branch `{}` to `{remote}` after {attempts} attempts \
                     (last: {rejected}); the status commit is kept locally and will be pushed next time",
                    w.branch
                )));
            }
            Some(rejected) => {
                tracing::info!(
                    branch = w.branch,
                    remote,
                    attempt,
                    attempts,
                    %rejected,
                    "status push rejected; fetching, re-applying the status files and pushing again"
                );
                continue;
            }
        }
    }
    Err(GitError("no push attempt was made".into()))
}

/// Fetches the remote's status branch; its tip, or `None` if it has none yet.
/// The remote by name, or at `url` when given (kept in memory only).
fn open_remote<'r>(
    repo: &'r Repository,
    remote: &str,
    url: Option<&str>,
) -> Result<git2::Remote<'r>, GitError> {
    Ok(match url {
        Some(u) => repo.remote_anonymous(u)?,
        None => repo.find_remote(remote)?,
    })
}

fn fetch_branch(
    repo: &Repository,
    remote: &str,
    url: Option<&str>,
    branch: &str,
) -> Result<Option<Oid>, GitError> {
    super::remote_transports();
    let mut r = open_remote(repo, remote, url)?;
    let tracking = format!("refs/remotes/{remote}/{branch}");
    // The whole heads namespace: fetching one missing branch is an error,
    // fetching all of them tells whether it exists.
    r.fetch(
        &[format!("+refs/heads/*:refs/remotes/{remote}/*")],
        None,
        None,
    )
    .map_err(|e| GitError(format!("cannot fetch from `{remote}`: {}", e.message())))?;
    Ok(repo
        .find_reference(&tracking)
        .ok()
        .and_then(|r| r.peel_to_commit().ok())
        .map(|c| c.id()))
}

/// Pushes the branch (never forced). `Some(reason)` when the remote refused
/// it because it moved on (a non-fast-forward).
fn push_branch(
    repo: &Repository,
    remote: &str,
    url: Option<&str>,
    branch: &str,
) -> Result<Option<String>, GitError> {
    super::remote_transports();
    let mut r = open_remote(repo, remote, url)?;
    let rejected: RefCell<Option<String>> = RefCell::new(None);
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.push_update_reference(|_, status| {
        if let Some(s) = status {
            *rejected.borrow_mut() = Some(s.to_string());
        }
        Ok(())
    });
    let mut opts = git2::PushOptions::new();
    opts.remote_callbacks(callbacks);
    let spec = format!("refs/heads/{branch}:refs/heads/{branch}");
    match r.push(&[spec], Some(&mut opts)) {
        Ok(()) => {}
        // Local transports report a non-fast-forward as an error.
        Err(e)
            if e.code() == git2::ErrorCode::NotFastForward
                || e.message().contains("fast-forward") =>
        {
            return Ok(Some(e.message().to_string()));
        }
        Err(e) => {
            return Err(GitError(format!(
                "cannot push to `{remote}`: {}",
                e.message()
            )));
        }
    }
    drop(opts);
    Ok(rejected.into_inner())
}

/// Every file under `status/` in a commit, path → blob.
fn status_files(repo: &Repository, commit: Oid) -> Result<Vec<(String, Oid)>, GitError> {
    let tree = repo.find_commit(commit)?.tree()?;
    let mut out = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob)
            && let Ok(name) = entry.name()
            && dir.starts_with("status/")
        {
            out.push((format!("{dir}{name}"), entry.id()));
        }
        git2::TreeWalkResult::Ok
    })?;
    Ok(out)
}

/// The files under `prefix` on the status branch (the local branch, or the
/// remote-tracking one when only that exists), path → content.
pub fn read_status_files(
    repo_dir: &Path,
    branch: &str,
    prefix: &str,
) -> Result<Vec<(String, String)>, GitError> {
    let (repo, tree) = status_tree(repo_dir, branch)?;
    let tree = repo.find_tree(tree)?;
    let Ok(entry) = tree.get_path(Path::new(prefix)) else {
        return Ok(Vec::new());
    };
    let dir = repo.find_tree(entry.id())?;
    let mut out = Vec::new();
    for e in dir.iter() {
        let Ok(name) = e.name() else { continue };
        let Ok(blob) = repo.find_blob(e.id()) else {
            continue;
        };
        let text = String::from_utf8_lossy(blob.content()).into_owned();
        out.push((format!("{prefix}/{name}"), text));
    }
    Ok(out)
}

/// One file of the status branch (`None`: not there).
pub fn read_status_file(
    repo_dir: &Path,
    branch: &str,
    path: &str,
) -> Result<Option<String>, GitError> {
    let (repo, tree) = status_tree(repo_dir, branch)?;
    let tree = repo.find_tree(tree)?;
    let Ok(entry) = tree.get_path(Path::new(path)) else {
        return Ok(None);
    };
    let Ok(blob) = repo.find_blob(entry.id()) else {
        return Ok(None);
    };
    Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
}

/// The repository and the tree id of the status branch's newest commit
/// (local, else `origin`'s).
fn status_tree(repo_dir: &Path, branch: &str) -> Result<(Repository, git2::Oid), GitError> {
    let repo = Repository::discover(repo_dir).map_err(|e| {
        GitError(format!(
            "{} is not inside a git repository ({})",
            repo_dir.display(),
            e.message()
        ))
    })?;
    let tree = [
        format!("refs/heads/{branch}"),
        format!("refs/remotes/origin/{branch}"),
    ]
    .iter()
    .find_map(|r| repo.find_reference(r).ok()?.peel_to_commit().ok())
    .ok_or_else(|| {
        GitError(format!(
            "there is no status branch `{branch}` yet; `patchwave apply` writes it (or `git fetch origin {branch}`)"
        ))
    })?
    .tree_id();
    Ok((repo, tree))
}
