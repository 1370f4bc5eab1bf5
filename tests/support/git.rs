//! git for tests: run it with a fixed identity, make SSH signing keys, and
//! commit (signed or not) the way a person would.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a program in `dir`; its stdout. Panics with its stderr on failure.
pub fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `git` in `dir` as "Test <test@example.com>".
pub fn git(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["-c", "user.name=Test", "-c", "user.email=test@example.com"];
    all.extend_from_slice(args);
    run(dir, "git", &all)
}

/// A new ed25519 key in `dir`: its private key file and its public key line.
pub fn ssh_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    run(
        dir,
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            name,
            "-f",
            path.to_str().unwrap(),
        ],
    );
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_string())
}

/// Commits everything in `repo`, signed with `key` (gpg.format=ssh) when given.
pub fn commit(repo: &Path, message: &str, key: Option<&Path>) {
    git(repo, &["add", "-A"]);
    match key {
        Some(k) => {
            let signing = format!("user.signingkey={}", k.display());
            git(
                repo,
                &[
                    "-c",
                    "gpg.format=ssh",
                    "-c",
                    &signing,
                    "commit",
                    "-q",
                    "-S",
                    "-m",
                    message,
                ],
            );
        }
        None => {
            git(repo, &["commit", "-q", "-m", message]);
        }
    }
}
