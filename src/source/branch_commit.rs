//! One commit of whole files onto a branch, built from HEAD's tree without
//! touching the working tree, the index or the checked-out branch, so
//! `propose` is safe to run in someone's clone and in CI alike.

use std::path::{Path, PathBuf};

use git2::{FileMode, Oid, Repository, Signature, Status};

use super::GitError;

/// The trailer that marks commits `propose` made: only such a branch tip is
/// ever replaced, so a branch holding someone's work is never overwritten.
pub const PROPOSED_BY: &str = "Proposed-by: patchwave";

/// Files to commit on a branch.
#[derive(Debug, Clone)]
pub struct BranchCommit<'a> {
    /// Any path inside the work tree (the fleet repository may be a subdirectory).
    pub repo_dir: &'a Path,
    pub branch: &'a str,
    /// Path (absolute, or relative to the current directory) → new content.
    pub files: Vec<(PathBuf, String)>,
    /// Without the trailer, which is added.
    pub message: String,
}

/// What became of the branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    Created {
        commit: String,
    },
    /// The branch already held exactly this change on top of HEAD.
    Unchanged {
        commit: String,
    },
}

fn err(msg: impl Into<String>) -> GitError {
    GitError(msg.into())
}

/// Commits `c.files` on `c.branch` as one commit whose parent is HEAD.
pub fn commit_on_branch(c: &BranchCommit<'_>) -> Result<CommitOutcome, GitError> {
    let repo = Repository::discover(c.repo_dir).map_err(|e| {
        err(format!(
            "{} is not inside a git repository ({}); run `git init` and commit the fleet \
             repository, or pass --no-commit to only write the files",
            c.repo_dir.display(),
            e.message()
        ))
    })?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| err("the repository is bare; run propose in a clone with a work tree"))?
        .canonicalize()
        .map_err(|e| err(format!("cannot resolve the work tree: {e}")))?;
    let branch_ref = format!("refs/heads/{}", c.branch);
    if !git2::Reference::is_valid_name(&branch_ref) {
        return Err(err(format!(
            "`{}` is not a valid branch name; pass another --branch",
            c.branch
        )));
    }
    let head = repo
        .head()
        .map_err(|_| err("the repository has no commit yet; commit the fleet repository first"))?;
    if head.is_branch() && head.name().ok() == Some(branch_ref.as_str()) {
        return Err(err(format!(
            "`{}` is the checked-out branch; propose commits on a branch of its own (pass another --branch)",
            c.branch
        )));
    }
    let head_commit = head.peel_to_commit()?;
    let base_tree = head_commit.tree()?;

    let mut update = git2::build::TreeUpdateBuilder::new();
    for (path, content) in &c.files {
        let abs = std::path::absolute(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        let parent = abs
            .parent()
            .ok_or_else(|| err(format!("{}: no parent directory", abs.display())))?
            .canonicalize()
            .map_err(|e| err(format!("{}: {e}", abs.display())))?;
        let rel = parent
            .join(abs.file_name().unwrap_or_default())
            .strip_prefix(&workdir)
            .map_err(|_| {
                err(format!(
                    "{} is outside the git work tree {}",
                    abs.display(),
                    workdir.display()
                ))
            })?
            .to_path_buf();
        // The lockfile is rewritten from what the fleet repository holds: if
        // that differs from HEAD, the commit would carry uncommitted edits.
        let status = repo.status_file(&rel).unwrap_or(Status::CURRENT);
        if status.intersects(
            Status::WT_MODIFIED
                | Status::WT_NEW
                | Status::WT_DELETED
                | Status::INDEX_MODIFIED
                | Status::INDEX_NEW
                | Status::INDEX_DELETED,
        ) {
            return Err(err(format!(
                "{} has uncommitted changes; commit or stash them first (propose builds on HEAD)",
                rel.display()
            )));
        }
        let blob = repo.blob(content.as_bytes())?;
        let rel_str = rel
            .to_str()
            .ok_or_else(|| err(format!("{}: path is not UTF-8", rel.display())))?;
        update.upsert(rel_str, blob, FileMode::Blob);
    }
    let tree_id = update.create_updated(&repo, &base_tree)?;
    let tree = repo.find_tree(tree_id)?;

    if let Ok(existing) = repo.find_reference(&branch_ref) {
        let tip = existing.peel_to_commit()?;
        if !tip.message().unwrap_or("").contains(PROPOSED_BY) {
            return Err(err(format!(
                "branch `{}` exists and its last commit was not made by propose; \
                 pass another --branch, or delete the branch",
                c.branch
            )));
        }
        if tip.tree_id() == tree_id && tip.parent_ids().eq([head_commit.id()]) {
            return Ok(CommitOutcome::Unchanged {
                commit: tip.id().to_string(),
            });
        }
    }
    let sig = repo
        .signature()
        .or_else(|_| Signature::now("patchwave", "patchwave@localhost"))?;
    let message = format!("{}\n\n{PROPOSED_BY}\n", c.message.trim_end());
    let id: Oid = repo.commit(None, &sig, &sig, &message, &tree, &[&head_commit])?;
    repo.reference(&branch_ref, id, true, "patchwave propose")?;
    Ok(CommitOutcome::Created {
        commit: id.to_string(),
    })
}
