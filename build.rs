//! Names the git commit in `patchwave --version`: sets `PATCHWAVE_VERSION` to
//! `0.1.0 (44ec850 2026-12-02)` in a git checkout of this repository,
//! `0.1.0 (44ec850-dirty 2026-12-02)` when the files the binary is built from
//! (src/, build.rs, Cargo.toml, Cargo.lock) differ from that commit, and the
//! bare version elsewhere (a crate tarball, a tree without git, git missing);
//! and `PATCHWAVE_COMMIT_DATE` to the commit's date (the manual pages' date).
//!
//! Rebuilds: cargo reruns this script only when HEAD, the branch's ref, or one
//! of those files changes (not on every build, and never missing a commit or a
//! checkout); every path it is told to watch exists, since cargo reruns a build
//! script on every build while a watched path is missing.
//! `tests/install_artifacts.rs` includes this file to test [`describe`].

use std::path::{Path, PathBuf};
use std::process::Command;

/// What the binary is built from; the dirty flag covers exactly these paths.
pub const BUILD_INPUTS: [&str; 4] = ["src", "build.rs", "Cargo.toml", "Cargo.lock"];

/// The checkout the package is built from.
#[derive(Debug)]
pub struct Checkout {
    /// `git rev-parse --short HEAD`.
    pub commit: String,
    /// The commit's committer date, YYYY-MM-DD in UTC.
    pub date: String,
    /// Whether [`BUILD_INPUTS`] differ from the commit (untracked files included).
    pub dirty: bool,
    /// Git files whose change means another commit: HEAD, and the branch's
    /// loose ref and packed-refs; all exist.
    pub watch: Vec<PathBuf>,
}

impl Checkout {
    /// `44ec850 2026-12-02` or `44ec850-dirty 2026-12-02`.
    pub fn label(&self) -> String {
        let dirty = if self.dirty { "-dirty" } else { "" };
        format!("{}{dirty} {}", self.commit, self.date)
    }
}

/// Runs git in `dir`; its trimmed stdout on success, `None` on any failure.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        // Building a checkout runs its code already; git's ownership check
        // (a checkout owned by another user, as under `sudo cargo test`)
        // protects nothing here, and would only drop the commit.
        .args(["-c", "safe.directory=*"])
        .args(args)
        // Never write the index (`git status` refreshes it otherwise).
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("TZ", "UTC")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
}

/// The git checkout whose top level is `dir`, or `None`: not a checkout, git
/// missing, or `dir` inside some other repository (a vendored crate tarball
/// must not claim its host repository's commit).
pub fn describe(dir: &Path) -> Option<Checkout> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let commit = git(dir, &["rev-parse", "--short", "HEAD"])?;
    let date = git(
        dir,
        &[
            "show",
            "-s",
            "--format=%cd",
            "--date=format-local:%Y-%m-%d",
            "HEAD",
        ],
    )?;
    let mut status = vec!["status", "--porcelain", "--"];
    status.extend(BUILD_INPUTS);
    let dirty = !git(dir, &status)?.is_empty();

    // `--git-path` resolves worktrees (HEAD is per worktree, refs are shared)
    // and prints paths relative to `dir`.
    let git_path = |p: &str| git(dir, &["rev-parse", "--git-path", p]).map(|x| dir.join(x));
    let mut watch = vec![git_path("HEAD")?];
    // On a branch, a commit rewrites the branch's loose ref; a packed ref gets
    // a loose file again at its next commit, so then the nearest existing
    // directory on its path is watched for it. Detached, HEAD holds the commit.
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        let loose = git_path(&branch)?;
        let mut at = loose.as_path();
        while !at.exists() {
            at = at.parent()?;
        }
        watch.push(at.to_path_buf());
        let packed = git_path("packed-refs")?;
        if packed.exists() {
            watch.push(packed);
        }
    }
    Some(Checkout {
        commit,
        date,
        dirty,
        watch,
    })
}

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let version = std::env::var("CARGO_PKG_VERSION").expect("set by cargo");
    let (full, date) = match describe(&dir) {
        Some(checkout) => {
            for path in checkout.watch.iter().map(PathBuf::as_path) {
                println!("cargo::rerun-if-changed={}", path.display());
            }
            for input in BUILD_INPUTS {
                println!("cargo::rerun-if-changed={input}");
            }
            (format!("{version} ({})", checkout.label()), checkout.date)
        }
        None => {
            println!("cargo::rerun-if-changed=build.rs");
            (version, String::new())
        }
    };
    println!("cargo::rustc-env=PATCHWAVE_VERSION={full}");
    // The manual pages' date (empty without a checkout).
    println!("cargo::rustc-env=PATCHWAVE_COMMIT_DATE={date}");
}
