//! Signature checks on the desired-state commit, as `git verify-commit`
//! does them, by the tools git itself uses (argument vectors, never a shell):
//! SSH signatures with `ssh-keygen -Y find-principals` / `-Y verify` against
//! an allowed signers file (`gpg.ssh.allowedSignersFile`); OpenPGP signatures
//! with GnuPG's `gpgv` against the armored public keys committed in the
//! repository (see [`openpgp`]). The Fleet's `verification.format` decides
//! which runs; a signature of the other kind is refused.
//!
//! Which keys are allowed is read from the commit's *parent* (from the
//! commit itself only for a root commit): a commit that adds a key can only
//! be trusted if a key allowed before it signed it. And the work tree must
//! hold exactly the verified commit: uncommitted policy is never applied
//! under a signature that does not cover it.

mod openpgp;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use git2::{Oid, Repository, StatusOptions, Tree};

use super::GitError;
use crate::spec::fleet::SignatureFormat;

/// Where the allowed signers are when the settings that would say cannot be
/// read: verification stays on (fail closed).
const DEFAULT_ALLOWED_SIGNERS: &str = ".patchwave/allowed_signers";

/// What a Fleet requires of its desired-state commits: the signature format
/// (which verifier runs) and the allowed signers' path in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredSignature {
    pub format: SignatureFormat,
    pub allowed_signers: String,
}

impl RequiredSignature {
    /// What the repository's Fleet requires, when it requires signed commits.
    pub fn of(repo: &crate::spec::Repository) -> Option<RequiredSignature> {
        repo.fleets
            .first()
            .and_then(|f| f.spec.verification.as_ref())
            .filter(|v| v.require_signed_commits)
            .map(|v| RequiredSignature {
                format: v.format,
                allowed_signers: v.allowed_signers.value.clone(),
            })
    }

    /// Used when the settings that decide cannot be read: verification is
    /// required, with the defaults.
    pub fn fail_closed() -> RequiredSignature {
        RequiredSignature {
            format: SignatureFormat::Ssh,
            allowed_signers: DEFAULT_ALLOWED_SIGNERS.into(),
        }
    }
}

/// Who signed a commit: for SSH the principal the allowed signers file
/// names, for OpenPGP the key's user ID and primary key fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub commit: String,
    pub signer: String,
    /// The verifier's own account: ssh-keygen's words ("Good "git" signature
    /// for … with ED25519 key SHA256:…"), or gpgv's status (signing key, date).
    pub detail: String,
}

fn err(msg: impl Into<String>) -> GitError {
    GitError(msg.into())
}

/// Verifies HEAD of the repository holding `repo_dir` as `format`, against
/// the allowed signers at `allowed_signers` (a path inside the repository).
pub fn verify_head(
    repo_dir: &Path,
    format: SignatureFormat,
    allowed_signers: &str,
) -> Result<Verified, GitError> {
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
    verify_commit(&repo, head.id(), format, &prefix)
}

/// Verifies one commit against the allowed signers of its parent (of the
/// commit itself only for a true root commit; a parent that is missing, as
/// in a shallow clone, is refused rather than trusted).
pub fn verify_commit(
    repo: &Repository,
    id: Oid,
    format: SignatureFormat,
    signers_path: &Path,
) -> Result<Verified, GitError> {
    let commit = repo.find_commit(id)?;
    let trusted_from = if commit.parent_count() == 0 {
        commit.clone()
    } else {
        commit.parent(0).map_err(|_| {
            err(format!(
                "commit {}: its parent is not in this clone (shallow?), so the allowed signers cannot be read from before it; fetch the full history",
                short_id(id)
            ))
        })?
    };
    verify_commit_trusting(repo, id, trusted_from.id(), format, signers_path)
}

/// Verifies commit `id` as `format` against the allowed signers as they are
/// in commit `trusted` (the last good commit, for a remote source).
pub fn verify_commit_trusting(
    repo: &Repository,
    id: Oid,
    trusted: Oid,
    format: SignatureFormat,
    signers_path: &Path,
) -> Result<Verified, GitError> {
    let short = short_id(id);
    let (signature, payload) = repo.extract_signature(&id, None).map_err(|_| {
        err(format!(
            "commit {short} is not signed; sign desired-state commits (`git commit -S` with gpg.format={})",
            format_name(format)
        ))
    })?;
    let signature = signature.as_str().unwrap_or("");
    let found = signature_format(signature);
    if found != Some(format) {
        return Err(err(wrong_format(&short, found, format)));
    }
    let tree = repo.find_commit(trusted)?.tree()?;
    let signers = Signers {
        commit: short,
        path: signers_path,
        as_of: short_id(trusted),
    };
    let (signer, detail) = match format {
        SignatureFormat::Ssh => verify_ssh(repo, &tree, &signers, signature, &payload)?,
        SignatureFormat::Openpgp => openpgp::verify(repo, &tree, &signers, signature, &payload)?,
    };
    Ok(Verified {
        commit: id.to_string(),
        signer,
        detail,
    })
}

/// The commit under verification and where its allowed signers were read
/// from, for messages: every refusal names the commit.
struct Signers<'a> {
    /// The (short) commit being verified.
    commit: String,
    path: &'a Path,
    /// The (short) commit the allowed signers were read from.
    as_of: String,
}

impl Signers<'_> {
    /// "`.patchwave/allowed_signers` as of commit 0123456789ab".
    fn describe(&self) -> String {
        format!("`{}` as of commit {}", self.path.display(), self.as_of)
    }

    /// "commit 0123456789ab: {why}".
    fn refuse(&self, why: impl std::fmt::Display) -> GitError {
        err(format!("commit {}: {why}", self.commit))
    }

    fn missing(&self) -> GitError {
        self.refuse(format_args!(
            "the allowed signers `{}` do not exist in commit {}",
            self.path.display(),
            self.as_of
        ))
    }

    fn not_allowed(&self, key: &str) -> GitError {
        err(format!(
            "commit {} is signed by a key that is not in the allowed signers ({}){key}; sign it with an allowed key (a new key is trusted once a commit adding it is signed by an allowed one)",
            self.commit,
            self.describe()
        ))
    }
}

fn short_id(id: Oid) -> String {
    id.to_string()[..12].to_string()
}

fn format_name(format: SignatureFormat) -> &'static str {
    match format {
        SignatureFormat::Ssh => "ssh",
        SignatureFormat::Openpgp => "openpgp",
    }
}

/// The kind of an armored commit signature, as git tells them apart.
fn signature_format(signature: &str) -> Option<SignatureFormat> {
    if signature.starts_with("-----BEGIN SSH SIGNATURE-----") {
        Some(SignatureFormat::Ssh)
    } else if signature.starts_with("-----BEGIN PGP SIGNATURE-----") {
        Some(SignatureFormat::Openpgp)
    } else {
        None
    }
}

fn wrong_format(short: &str, found: Option<SignatureFormat>, wanted: SignatureFormat) -> String {
    let kind = match found {
        Some(SignatureFormat::Ssh) => "an SSH signature",
        Some(SignatureFormat::Openpgp) => "an OpenPGP signature",
        None => "a signature that is neither SSH nor OpenPGP (X.509?)",
    };
    let name = format_name(wanted);
    format!(
        "commit {short} has {kind}, but the Fleet's verification.format is {name}; sign it with gpg.format={name} and an allowed key (changing the format takes a commit signed the current way)"
    )
}

/// The file at `path` in `tree`, when there is one.
fn blob_at(repo: &Repository, tree: &Tree, path: &Path) -> Option<Vec<u8>> {
    let entry = tree.get_path(path).ok()?;
    Some(repo.find_blob(entry.id()).ok()?.content().to_vec())
}

/// An SSH signature against the allowed signers file: the principals that
/// may have made it, then the first whose key verifies it.
fn verify_ssh(
    repo: &Repository,
    tree: &Tree,
    signers: &Signers,
    signature: &str,
    payload: &[u8],
) -> Result<(String, String), GitError> {
    let allowed = blob_at(repo, tree, signers.path).ok_or_else(|| signers.missing())?;
    let dir = tempfile::tempdir().map_err(|e| err(e.to_string()))?;
    let signers_file = dir.path().join("allowed_signers");
    let sig_file = dir.path().join("commit.sig");
    std::fs::write(&signers_file, &allowed).map_err(|e| err(e.to_string()))?;
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
        return Err(signers.not_allowed(""));
    }
    let mut last = String::new();
    for p in &principals {
        match ssh_keygen(
            &["-Y", "verify", "-n", "git", "-f"],
            &signers_file,
            &sig_file,
            Some(p),
            Some(payload),
        )? {
            Ok(out) => return Ok((p.clone(), out.trim().to_string())),
            Err(e) => last = e,
        }
    }
    Err(signers.refuse(format_args!("the signature does not verify: {last}")))
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

/// What HEAD's parent required of signatures (format and allowed signers):
/// an unsigned commit must not switch verification off by deleting the
/// setting. `None` when there is no parent or it did not.
pub fn required_by_parent(repo_dir: &Path) -> Result<Option<RequiredSignature>, GitError> {
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
        return Ok(Some(RequiredSignature::fail_closed()));
    };
    Ok(RequiredSignature::of(&checked.repo))
}
