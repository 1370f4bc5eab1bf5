//! What the desired state's history says about one of its resources: the
//! commit that added it (an EmergencyChange's audit trail is its commit).

use std::path::Path;

use git2::{Oid, Repository};

/// The commit, reached from `commit` along first parents, in which `file`
/// (relative to the fleet repository at `dir`) came to hold what `present`
/// looks for: the oldest commit of the unbroken run, back from `commit`, in
/// which the file's text satisfies it. `None` when `dir` is not in a git
/// repository or `commit`'s file does not satisfy it.
pub fn commit_adding(
    dir: &Path,
    commit: &str,
    file: &Path,
    present: &dyn Fn(&str) -> bool,
) -> Option<String> {
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
    let has = |c: &git2::Commit<'_>| {
        c.tree()
            .ok()
            .and_then(|t| t.get_path(&rel).ok())
            .and_then(|e| repo.find_blob(e.id()).ok())
            .is_some_and(|b| present(&String::from_utf8_lossy(b.content())))
    };
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
        std::fs::write(root.join("fleet/a.yaml"), "a: 1\ne: 1\n").unwrap();
        git(root, &["commit", "-qam", "add e"]);
        let added = git(root, &["rev-parse", "HEAD"]);
        std::fs::write(root.join("fleet/a.yaml"), "a: 2\ne: 2\n").unwrap();
        git(root, &["commit", "-qam", "edit e"]);
        let head = git(root, &["rev-parse", "HEAD"]);
        let fleet = root.join("fleet");
        let has_e = |t: &str| t.contains("e: ");
        assert_eq!(
            commit_adding(&fleet, &head, Path::new("a.yaml"), &has_e).as_deref(),
            Some(added.as_str())
        );
        assert_eq!(
            commit_adding(&fleet, &head, Path::new("nope.yaml"), &has_e),
            None
        );
    }
}
