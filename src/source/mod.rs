//! The fleet repository as git: the desired state from a remote (a mirror
//! that keeps the last good commit), signature checks, `propose`'s branch
//! commits, and status written back to the status branch.

mod branch_commit;
mod git_http;
mod git_ssh;
mod history;
mod remote;
mod status_branch;
mod verify;

pub use branch_commit::{BranchCommit, CommitOutcome, PROPOSED_BY, commit_on_branch};
pub use git_ssh::{SshOptions, SshUrl};
pub use history::commit_adding;
pub use remote::{CheckoutHold, RemoteSource, Synced, cache_key, is_remote, redact};
pub use status_branch::{
    StatusOutcome, StatusWrite, default_remote, head_branch, head_commit, read_status_file,
    read_status_files, write_status,
};
pub use verify::{
    RequiredSignature, Verified, required_by_parent, verify_commit, verify_commit_trusting,
    verify_head,
};

/// A git operation failed; the message says which and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GitError(pub String);

impl From<git2::Error> for GitError {
    fn from(e: git2::Error) -> GitError {
        GitError(format!("git: {}", e.message()))
    }
}

/// Makes every remote spelling patchwave supports reachable; called before
/// each fetch or push (cheap after the first call).
fn remote_transports() {
    git_ssh::register();
    git_http::register();
}
