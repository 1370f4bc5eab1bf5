//! What the desired state's history says about one of its files: the
//! commit that added it (an EmergencyChange's audit trail is its commit).

use std::path::Path;

use git2::{Oid, Repository};

/// The commit, reached from `commit` along first parents, in which `file`
/// (relative to the fleet repository at `dir`) appeared: the newest commit
/// holding it whose first parent does not. `None` when `dir` is not in a
/// git repository or the file is not in `commit`.
pub fn commit_adding(dir: &Path, commit: &str, file: &Path) -> Option<String> {
    let repo = Repository::discover(dir).ok()?;
    // The fleet repository may be a subdirectory of the work tree.
    let rel = match repo.workdir() {
        Some(w) => dir
            .canonicalize()
            .ok()?
            .strip_prefix(w.canonicalize().ok()?)
            .ok()?
            .join(file),
        None => file.to_path_buf(),
    };
    let has = |c: &git2::Commit<'_>| c.tree().ok().and_then(|t| t.get_path(&rel).ok()).is_some();
    let mut c = repo.find_commit(Oid::from_str(commit).ok()?).ok()?;
    if !has(&c) {
        return None;
    }
    // Bounded: a history longer than this is reported as its oldest commit seen.
    for _ in 0..100_000 {
        match c.parent(0) {
            Ok(p) if has(&p) => c = p,
            _ => break,
        }
    }
    Some(c.id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn finds_the_commit_that_added_a_file_in_a_subdirectory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        std::fs::create_dir(root.join("fleet")).unwrap();
        std::fs::write(root.join("fleet/a.yaml"), "a: 1\n").unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "first"]);
        std::fs::write(root.join("fleet/emergency.yaml"), "e: 1\n").unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "add emergency"]);
        let added = git(root, &["rev-parse", "HEAD"]);
        std::fs::write(root.join("fleet/emergency.yaml"), "e: 2\n").unwrap();
        git(root, &["commit", "-qam", "edit emergency"]);
        let head = git(root, &["rev-parse", "HEAD"]);
        let fleet = root.join("fleet");
        assert_eq!(
            commit_adding(&fleet, &head, Path::new("emergency.yaml")).as_deref(),
            Some(added.as_str())
        );
        assert_eq!(commit_adding(&fleet, &head, Path::new("nope.yaml")), None);
    }
}
