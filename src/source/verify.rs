//! Signature checks on the desired-state commit: SSH signatures verified as
//! `git verify-commit` does with `gpg.ssh.allowedSignersFile` — by running
//! `ssh-keygen -Y find-principals` / `-Y verify` (argument vectors, the
//! payload on stdin), so the checks are OpenSSH's own.
//!
//! Which keys are allowed is read from the commit's *parent* (from the
//! commit itself only for a root commit): a commit that adds a key can only
//! be trusted if a key allowed before it signed it. And the work tree must
//! hold exactly the verified commit: uncommitted policy is never applied
//! under a signature that does not cover it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use git2::{Oid, Repository, StatusOptions};

use super::GitError;

/// Who signed a commit, as the allowed-signers file names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub commit: String,
    pub signer: String,
    /// ssh-keygen's own words ("Good "git" signature for … with ED25519 key SHA256:…").
    pub detail: String,
}

fn err(msg: impl Into<String>) -> GitError {
    GitError(msg.into())
}

/// Verifies HEAD of the repository holding `repo_dir`, against the allowed
/// signers file at `allowed_signers` (a path inside the repository).
pub fn verify_head(repo_dir: &Path, allowed_signers: &str) -> Result<Verified, GitError> {
    let repo = Repository::discover(repo_dir).map_err(|e| {
        err(format!(
            "{} is not inside a git repository ({}); signature verification needs the commit",
            repo_dir.display(),
            e.message()
        ))
    })?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|_| err("the repository has no commit to verify"))?;
    refuse_uncommitted(&repo, repo_dir)?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| err("the repository is bare"))?;
    // The allowed-signers path is relative to the fleet repository, which may
    // be a subdirectory of the git work tree.
    let fleet_dir = repo_dir
        .canonicalize()
        .map_err(|e| err(format!("{}: {e}", repo_dir.display())))?;
    let prefix = fleet_dir
        .strip_prefix(workdir.canonicalize().map_err(|e| err(e.to_string()))?)
        .map_err(|_| err("the fleet repository is outside the git work tree"))?
        .join(allowed_signers);
    verify_commit(&repo, head.id(), &prefix)
}

/// Verifies one commit against the allowed signers of its parent (of the
/// commit itself only for a true root commit; a parent that is missing, as
/// in a shallow clone, is refused rather than trusted).
pub fn verify_commit(
    repo: &Repository,
    id: Oid,
    signers_path: &Path,
) -> Result<Verified, GitError> {
    let commit = repo.find_commit(id)?;
    let trusted_from = if commit.parent_count() == 0 {
        commit.clone()
    } else {
        commit.parent(0).map_err(|_| {
            err(format!(
                "commit {}: its parent is not in this clone (shallow?), so the allowed signers cannot be read from before it; fetch the full history",
                &id.to_string()[..12]
            ))
        })?
    };
    verify_commit_trusting(repo, id, trusted_from.id(), signers_path)
}

/// Verifies commit `id` against the allowed signers file as it is in commit
/// `trusted` (the last good commit, for a remote source).
pub fn verify_commit_trusting(
    repo: &Repository,
    id: Oid,
    trusted: Oid,
    signers_path: &Path,
) -> Result<Verified, GitError> {
    let short = &id.to_string()[..12];
    let (signature, payload) = repo.extract_signature(&id, None).map_err(|_| {
        err(format!(
            "commit {short} is not signed; sign desired-state commits (`git commit -S` with gpg.format=ssh)"
        ))
    })?;
    let signature = signature.as_str().unwrap_or("").to_string();
    if !signature.starts_with("-----BEGIN SSH SIGNATURE-----") {
        return Err(err(format!(
            "commit {short} has an OpenPGP signature; this build verifies SSH signatures only"
        )));
    }
    let trusted_from = repo.find_commit(trusted)?;
    let signers = trusted_from
        .tree()?
        .get_path(signers_path)
        .ok()
        .and_then(|e| repo.find_blob(e.id()).ok())
        .map(|b| b.content().to_vec())
        .ok_or_else(|| {
            err(format!(
                "the allowed signers file `{}` does not exist in commit {}",
                signers_path.display(),
                &trusted_from.id().to_string()[..12]
            ))
        })?;
    let dir = tempfile::tempdir().map_err(|e| err(e.to_string()))?;
    let signers_file = dir.path().join("allowed_signers");
    let sig_file = dir.path().join("commit.sig");
    std::fs::write(&signers_file, &signers).map_err(|e| err(e.to_string()))?;
    std::fs::write(&sig_file, signature.as_bytes()).map_err(|e| err(e.to_string()))?;
    let principals = ssh_keygen(
        &["-Y", "find-principals", "-f"],
        &signers_file,
        &sig_file,
        None,
        None,
    )?;
    let principals: Vec<String> = match principals {
        Ok(out) => out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        Err(_) => Vec::new(),
    };
    if principals.is_empty() {
        return Err(err(format!(
            "commit {short} is signed by a key that is not in the allowed signers (`{}` as of commit {})",
            signers_path.display(),
            &trusted_from.id().to_string()[..12]
        )));
    }
    let mut last = String::new();
    for p in &principals {
        match ssh_keygen(
            &["-Y", "verify", "-n", "git", "-f"],
            &signers_file,
            &sig_file,
            Some(p),
            Some(payload.as_ref()),
        )? {
            Ok(out) => {
                return Ok(Verified {
                    commit: id.to_string(),
                    signer: p.clone(),
                    detail: out.trim().to_string(),
                });
            }
            Err(e) => last = e,
        }
    }
    Err(err(format!(
        "commit {short}: the signature does not verify: {last}"
    )))
}

/// Runs ssh-keygen; `Ok(Err(text))` when it ran and said no.
fn ssh_keygen(
    lead: &[&str],
    signers: &Path,
    sig: &Path,
    principal: Option<&str>,
    stdin: Option<&[u8]>,
) -> Result<Result<String, String>, GitError> {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(lead).arg(signers);
    if let Some(p) = principal {
        cmd.arg("-I").arg(p);
    }
    cmd.arg("-s").arg(sig);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        err(format!(
            "cannot run ssh-keygen (install openssh-client): {e}"
        ))
    })?;
    if let (Some(data), Some(mut input)) = (stdin, child.stdin.take()) {
        input.write_all(data).map_err(|e| err(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Our temporary paths mean nothing to a reader (and would make every
    // refusal text differ).
    let text = text
        .replace(&signers.display().to_string(), "allowed_signers")
        .replace(&sig.display().to_string(), "signature");
    Ok(if out.status.success() {
        Ok(text)
    } else {
        Err(text.trim().to_string())
    })
}

/// Refuses a work tree whose fleet files differ from the commit.
fn refuse_uncommitted(repo: &Repository, fleet_dir: &Path) -> Result<(), GitError> {
    let mut opts = StatusOptions::new();
    // Ignored files count too: the loader reads them, the signature does not cover them.
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(true)
        .recurse_ignored_dirs(true);
    let workdir = repo
        .workdir()
        .ok_or_else(|| err("the repository is bare"))?;
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let fleet = canonical(fleet_dir);
    let root = canonical(workdir);
    let dirty: Vec<String> = repo
        .statuses(Some(&mut opts))?
        .iter()
        .filter(|e| !e.status().is_empty())
        .filter_map(|e| e.path().ok().map(String::from))
        .filter(|p| root.join(p).starts_with(&fleet))
        .collect();
    if dirty.is_empty() {
        Ok(())
    } else {
        Err(err(format!(
            "the work tree has changes the signature does not cover ({}); commit and sign them, or discard them",
            dirty.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        )))
    }
}

/// Whether HEAD's parent required signed commits (and with which allowed
/// signers file): an unsigned commit must not switch verification off by
/// deleting the setting. `None` when there is no parent or it did not.
pub fn required_by_parent(repo_dir: &Path) -> Result<Option<String>, GitError> {
    let repo = Repository::discover(repo_dir).map_err(|e| err(e.message().to_string()))?;
    let Ok(head) = repo.head().and_then(|h| h.peel_to_commit()) else {
        return Ok(None);
    };
    let Ok(parent) = head.parent(0) else {
        return Ok(None);
    };
    let workdir = repo
        .workdir()
        .ok_or_else(|| err("the repository is bare"))?;
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let prefix = canonical(repo_dir)
        .strip_prefix(canonical(workdir))
        .map(Path::to_path_buf)
        .map_err(|_| err("the fleet repository is outside the git work tree"))?;
    let dir = tempfile::tempdir().map_err(|e| err(e.to_string()))?;
    let mut co = git2::build::CheckoutBuilder::new();
    // Never touch the repository's index: only the temporary directory.
    co.target_dir(dir.path())
        .force()
        .recreate_missing(true)
        .update_index(false);
    repo.checkout_tree(parent.tree()?.as_object(), Some(&mut co))?;
    // A parent that does not parse cannot say "no": fail closed.
    let Ok(checked) = crate::spec::check(&dir.path().join(&prefix)) else {
        return Ok(Some(".patchwave/allowed_signers".into()));
    };
    Ok(checked
        .repo
        .fleets
        .first()
        .and_then(|f| f.spec.verification.as_ref())
        .filter(|v| v.require_signed_commits)
        .map(|v| v.allowed_signers.value.clone()))
}
