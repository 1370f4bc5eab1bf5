//! The desired state from a remote repository: a bare mirror in run state,
//! fetched on every sync, each accepted commit checked out on its own.
//! Flux's rule holds: a new commit that is invalid or whose signature does
//! not verify never replaces the last good one — patchwave keeps working
//! from the last good commit and reports why the new one was refused.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::GitError;
use super::verify::{RequiredSignature, verify_commit, verify_commit_trusting};

/// A remote branch and where its mirror lives.
#[derive(Debug, Clone)]
pub struct RemoteSource {
    pub url: String,
    pub branch: String,
    /// A directory of its own under run state.
    pub cache: PathBuf,
}

/// What a sync settled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    /// The commit to work from (the last good one).
    pub commit: String,
    /// Its files, checked out.
    pub dir: PathBuf,
    /// The bare mirror (status is committed and pushed from here).
    pub git_dir: PathBuf,
    /// Who signed it, when verification is on.
    pub signer: Option<String>,
    /// Why the remote's newest commit was not taken, if it was not.
    pub refused: Option<String>,
    /// Keeps `dir` from being pruned while this process works from it (a
    /// daemon's pass may outlive the poll that takes a newer commit).
    pub hold: CheckoutHold,
}

/// The checkouts this process works from, with how many holders each has.
fn holds() -> &'static std::sync::Mutex<std::collections::HashMap<PathBuf, usize>> {
    static HOLDS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<PathBuf, usize>>> =
        std::sync::OnceLock::new();
    HOLDS.get_or_init(Default::default)
}

/// A checkout in use: pruning skips it until every hold is dropped (the
/// next sync after that removes it).
#[derive(Debug, PartialEq, Eq)]
pub struct CheckoutHold(PathBuf);

impl Clone for CheckoutHold {
    fn clone(&self) -> CheckoutHold {
        CheckoutHold::new(&self.0)
    }
}

impl CheckoutHold {
    fn new(dir: &std::path::Path) -> CheckoutHold {
        *holds()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(dir.to_path_buf())
            .or_default() += 1;
        CheckoutHold(dir.to_path_buf())
    }

    fn is_held(dir: &std::path::Path) -> bool {
        holds()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(dir)
            .is_some_and(|n| *n > 0)
    }
}

impl Drop for CheckoutHold {
    fn drop(&mut self) {
        let mut h = holds().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = h.get_mut(&self.0) {
            *n -= 1;
            if *n == 0 {
                h.remove(&self.0);
            }
        }
    }
}

/// A URL without its `user:password@` part: credentials never reach logs.
pub fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    // Only the authority holds credentials; an `@` in the path is a path.
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}{}", &url[..start], &url[start + at + 1..]),
        None => url.to_string(),
    }
}

/// A directory name for a remote and branch: a hash, so no part of the URL
/// (credentials included) ends up in a path.
pub fn cache_key(url: &str, branch: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{url}\n{branch}").as_bytes());
    hex::encode(&digest[..12])
}

/// Whether `--repo` names a remote rather than a directory.
pub fn is_remote(repo: &str) -> bool {
    repo.contains("://") || (repo.contains('@') && repo.contains(':') && !Path::new(repo).exists())
}

impl RemoteSource {
    fn mirror(&self) -> PathBuf {
        self.cache.join("mirror.git")
    }

    fn last_good_file(&self) -> PathBuf {
        self.cache.join("last-good")
    }

    fn checkout_dir(&self, commit: &str) -> PathBuf {
        self.cache.join("checkouts").join(commit)
    }

    /// Fetches the branch into the mirror; the mirror and the branch's tip.
    fn fetch(&self) -> Result<(Repository, Oid), GitError> {
        super::remote_transports();
        std::fs::create_dir_all(&self.cache)
            .map_err(|e| GitError(format!("cannot create {}: {e}", self.cache.display())))?;
        let repo = match Repository::open_bare(self.mirror()) {
            Ok(r) => r,
            Err(_) => Repository::init_bare(self.mirror())?,
        };
        // The config names the remote without credentials; the URL as given
        // (a token in it, say) is only ever used from memory.
        let shown = redact(&self.url);
        match repo.find_remote("origin") {
            Ok(r) if r.url().ok() == Some(shown.as_str()) => {}
            Ok(_) => repo.remote_set_url("origin", &shown)?,
            Err(_) => {
                repo.remote("origin", &shown)?;
            }
        }
        let tracking = format!("refs/remotes/origin/{}", self.branch);
        repo.remote_anonymous(&self.url)?
            .fetch(
                &[format!("+refs/heads/{}:{tracking}", self.branch)],
                None,
                None,
            )
            .map_err(|e| {
                GitError(format!(
                    "cannot fetch {} from {}: {}",
                    self.branch,
                    redact(&self.url),
                    e.message()
                ))
            })?;
        let newest = repo.find_reference(&tracking)?.peel_to_commit()?.id();
        Ok((repo, newest))
    }

    /// The branch's newest commit, checked out as it is: neither validated
    /// nor verified (what `validate` and `plan` look at, as a review would).
    pub fn tip(&self) -> Result<Synced, GitError> {
        let (repo, newest) = self.fetch()?;
        let tip = self.settled(&repo, newest, None, None)?;
        self.prune_checkouts(&[&tip.commit]);
        Ok(tip)
    }

    /// Removes checkouts other than `keep` and the last good commit's.
    fn prune_checkouts(&self, keep: &[&str]) {
        let last_good = std::fs::read_to_string(self.last_good_file()).unwrap_or_default();
        let Ok(entries) = std::fs::read_dir(self.cache.join("checkouts")) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name.as_str())
                && name != last_good.trim()
                && !CheckoutHold::is_held(&e.path())
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Fetches the branch and settles on a commit: the newest if it is valid
    /// (and verified where the Fleet requires it), else the last good one.
    pub fn sync(&self) -> Result<Synced, GitError> {
        let (repo, newest) = self.fetch()?;
        let last_good: Option<Oid> = std::fs::read_to_string(self.last_good_file())
            .ok()
            .and_then(|s| Oid::from_str(s.trim()).ok())
            .filter(|id| repo.find_commit(*id).is_ok());
        if Some(newest) == last_good {
            return self.settled(&repo, newest, None, None);
        }
        match self.accept(&repo, newest, last_good) {
            Ok(signer) => {
                std::fs::write(self.last_good_file(), format!("{newest}\n"))
                    .map_err(|e| GitError(format!("cannot record the last good commit: {e}")))?;
                // Older checkouts go, but for those still in use here.
                self.prune_checkouts(&[&newest.to_string()]);
                self.settled(&repo, newest, signer, None)
            }
            Err(why) => {
                let _ = std::fs::remove_dir_all(self.checkout_dir(&newest.to_string()));
                let why = format!("commit {} refused: {why}", &newest.to_string()[..12]);
                match last_good {
                    Some(good) => self.settled(&repo, good, None, Some(why)),
                    None => Err(GitError(format!(
                        "{why}; there is no earlier good commit to work from"
                    ))),
                }
            }
        }
    }

    fn settled(
        &self,
        repo: &Repository,
        commit: Oid,
        signer: Option<String>,
        refused: Option<String>,
    ) -> Result<Synced, GitError> {
        let dir = self.checkout(repo, commit)?;
        Ok(Synced {
            commit: commit.to_string(),
            hold: CheckoutHold::new(&dir),
            dir,
            git_dir: self.mirror(),
            signer,
            refused,
        })
    }

    /// The commit's files in a directory of their own (kept while it is the last good one).
    fn checkout(&self, repo: &Repository, commit: Oid) -> Result<PathBuf, GitError> {
        let dir = self.checkout_dir(&commit.to_string());
        if dir.join(".patchwave-checkout-complete").exists() {
            return Ok(dir);
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| GitError(format!("cannot create {}: {e}", dir.display())))?;
        let tree = repo.find_commit(commit)?.tree()?;
        let mut co = git2::build::CheckoutBuilder::new();
        co.target_dir(&dir)
            .force()
            .recreate_missing(true)
            .update_index(false);
        repo.checkout_tree(tree.as_object(), Some(&mut co))?;
        std::fs::write(dir.join(".patchwave-checkout-complete"), "")
            .map_err(|e| GitError(e.to_string()))?;
        Ok(dir)
    }

    /// Validates the candidate and, where required, verifies its signature.
    /// Verification is required when the candidate *or the last good commit*
    /// asks for it: an unsigned commit cannot switch verification off.
    fn accept(
        &self,
        repo: &Repository,
        candidate: Oid,
        last_good: Option<Oid>,
    ) -> Result<Option<String>, String> {
        let dir = self.checkout(repo, candidate).map_err(|e| e.0)?;
        let checked = crate::spec::check(&dir).map_err(|e| format!("cannot read it: {e}"))?;
        if checked.has_errors() {
            let errors: Vec<String> = checked
                .errors()
                .take(5)
                .map(|d| d.to_string().replace(&format!("{}/", dir.display()), ""))
                .collect();
            return Err(format!(
                "it is not a valid fleet repository: {}",
                errors.join("; ")
            ));
        }
        let wants = |c: &crate::spec::Checked| RequiredSignature::of(&c.repo);
        let Some(good) = last_good else {
            // First sync: nothing trusted yet; the candidate's own settings
            // decide, and its parent's signers (trust on first use).
            return match wants(&checked) {
                None => Ok(None),
                Some(r) => verify_commit(repo, candidate, r.format, Path::new(&r.allowed_signers))
                    .map(|v| Some(v.signer))
                    .map_err(|e| e.0),
            };
        };
        // The last good commit decides whether signatures are required and
        // which keys are allowed; it fails closed: if it cannot be read,
        // verification is required.
        let previous = self
            .checkout(repo, good)
            .ok()
            .and_then(|d| crate::spec::check(&d).ok())
            .map(|c| wants(&c));
        let required = match previous {
            Some(Some(required)) => Some(required),
            Some(None) => wants(&checked),
            None => Some(wants(&checked).unwrap_or_else(RequiredSignature::fail_closed)),
        };
        let Some(required) = required else {
            return Ok(None);
        };
        // History is only ever added to: a rewritten branch is not trusted.
        if !repo.graph_descendant_of(candidate, good).unwrap_or(false) {
            return Err(format!(
                "it does not descend from the last good commit {} (history was rewritten); signatures are required",
                &good.to_string()[..12]
            ));
        }
        let signers_path = Path::new(&required.allowed_signers);
        verify_commit_trusting(repo, candidate, good, required.format, signers_path)
            .map(|v| Some(v.signer))
            .map_err(|e| e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkout in use survives pruning until its last hold is dropped.
    #[test]
    fn a_held_checkout_outlives_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let r = RemoteSource {
            url: "file:///fleet.git".into(),
            branch: "main".into(),
            cache: dir.path().to_path_buf(),
        };
        for c in ["a", "b", "c"] {
            std::fs::create_dir_all(r.checkout_dir(c)).unwrap();
        }
        let hold = CheckoutHold::new(&r.checkout_dir("b"));
        let again = hold.clone();
        r.prune_checkouts(&["c"]);
        assert!(!r.checkout_dir("a").exists());
        assert!(r.checkout_dir("b").exists() && r.checkout_dir("c").exists());
        drop(hold);
        r.prune_checkouts(&["c"]);
        assert!(r.checkout_dir("b").exists(), "still held once");
        drop(again);
        r.prune_checkouts(&["c"]);
        assert!(!r.checkout_dir("b").exists());
    }

    #[test]
    fn credentials_never_reach_messages_or_paths() {
        assert_eq!(
            redact("https://bot:t0ken@git.example.com/fleet.git"),
            "https://git.example.com/fleet.git"
        );
        assert_eq!(redact("file:///srv/fleet.git"), "file:///srv/fleet.git");
        // An `@` in the path is not a user.
        assert_eq!(
            redact("https://git.example.com/team@infra/fleet.git"),
            "https://git.example.com/team@infra/fleet.git"
        );
        assert_eq!(
            redact("ssh://git@example.org:22/srv/a@b.git"),
            "ssh://example.org:22/srv/a@b.git"
        );
        let key = cache_key("https://bot:t0ken@git.example.com/fleet.git", "main");
        assert!(!key.contains("t0ken") && key.len() == 24, "{key}");
        assert_ne!(
            key,
            cache_key("https://bot:t0ken@git.example.com/fleet.git", "prod")
        );
    }
}
