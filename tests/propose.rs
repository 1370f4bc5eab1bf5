//! `patchwave propose` in a real git repository: the lockfile is committed on
//! a branch without touching the working tree; merging that branch approves
//! the versions in `plan`; a branch or file holding someone's work is never
//! overwritten.

mod support;

use support::git::git;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

const NOW: &str = "2026-12-02T09:30:00Z";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A git repository holding the example fleet under `fleet/`, one commit on `main`.
fn example_clone() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/fleet"), &dir.path().join("fleet"));
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "fleet"]);
    dir
}

fn propose(dir: &Path, extra: &[&str]) -> Output {
    support::patchwave()
        .current_dir(dir)
        .args(["propose", "--repo", "fleet", "--now", NOW, "--facts"])
        .arg(root().join("examples/facts.json"))
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every decision (state, reason) on `package` in the plan of `group`.
fn decisions(dir: &Path, group: &str, package: &str) -> Vec<(String, String)> {
    let out = support::patchwave()
        .current_dir(dir)
        .args([
            "plan", "--repo", "fleet", "--format", "json", "--now", NOW, "--group", group,
            "--facts",
        ])
        .arg(root().join("examples/facts.json"))
        .output()
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let g = &doc["groups"][0];
    let hosts = g["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["hosts"].as_array().unwrap().iter())
        .chain(g["unchanged"].as_array().unwrap().iter());
    hosts
        .flat_map(|h| {
            h["install"]
                .as_array()
                .unwrap()
                .iter()
                .chain(h["withheld"].as_array().unwrap().iter())
        })
        .filter(|p| p["name"] == package)
        .map(|p| {
            let d = &p["decision"];
            (
                d["state"].as_str().unwrap().to_string(),
                d["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn propose_commits_on_a_branch_and_merging_approves() {
    let repo = example_clone();
    let dir = repo.path();
    let lockfile = "fleet/baselines/production-approvals.yaml";
    let before = fs::read_to_string(dir.join(lockfile)).unwrap();
    let states = decisions(dir, "web-prod", "tzdata");
    assert!(
        !states.is_empty() && states.iter().all(|(s, _)| s == "NOT_APPLICABLE"),
        "{states:?}"
    );

    let out = propose(dir, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(
            "update fleet/baselines/production-approvals.yaml (1 new for baseline `production`)"
        ),
        "{t}"
    );
    assert!(
        t.contains("+ tzdata 2025b-0+deb12u2  other, unspecified  (6 hosts)"),
        "{t}"
    );
    // Versions a rule approves later (openssl: 7 days) are left to the rule.
    assert!(!t.contains("openssl"), "{t}");

    // The working tree and the checked-out branch are untouched.
    assert_eq!(git(dir, &["status", "--porcelain"]), "");
    assert_eq!(fs::read_to_string(dir.join(lockfile)).unwrap(), before);
    assert_eq!(
        git(dir, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "main"
    );
    // One commit on top of main, marked as propose's, changing only the lockfile.
    let head = git(dir, &["rev-parse", "main"]);
    assert_eq!(git(dir, &["rev-parse", "patchwave/propose^"]), head);
    assert!(
        git(dir, &["log", "-1", "--format=%B", "patchwave/propose"])
            .contains("Proposed-by: patchwave")
    );
    assert_eq!(
        git(dir, &["diff", "--name-only", "main", "patchwave/propose"]).trim(),
        lockfile
    );
    let proposed = git(dir, &["show", &format!("patchwave/propose:{lockfile}")]);
    assert!(
        proposed.contains(
            "    # other, unspecified\n    # proposed 2026-12-02, offered to 6 hosts: no approval rule matches\n    - package: tzdata\n      version: \"2025b-0+deb12u2\"\n"
        ),
        "{proposed}"
    );
    // Existing entries and their comments are kept.
    assert!(proposed.contains("    # bugfix, unspecified — linux kernel point release\n    - package: linux-image-amd64\n"), "{proposed}");

    // Proposing again finds the same proposal on the branch: no new commit.
    let tip = git(dir, &["rev-parse", "patchwave/propose"]);
    let again = propose(dir, &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again).contains("already holds this proposal"),
        "{}",
        text(&again)
    );
    assert_eq!(git(dir, &["rev-parse", "patchwave/propose"]), tip);

    // Merging the pull request approves the version; production still waits
    // for it to run on staging (promotion gates explicit approvals too), and
    // nothing is left to propose.
    git(dir, &["merge", "-q", "--ff-only", "patchwave/propose"]);
    let states = decisions(dir, "web-prod", "tzdata");
    assert!(
        !states.is_empty()
            && states.iter().all(|(s, why)| s == "PENDING_APPROVAL"
                && why.starts_with("approved by review (PatchApprovals); waiting for promotion")),
        "{states:?}"
    );
    let out = propose(dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("nothing to propose"), "{}", text(&out));
}

#[test]
fn include_pending_and_json_for_ci() {
    let repo = example_clone();
    let out = propose(
        repo.path(),
        &[
            "--baseline",
            "staging-fast",
            "--include-pending",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["branch"], "patchwave/propose/staging-fast");
    let lf = &doc["lockfiles"][0];
    assert_eq!(lf["created"], true);
    assert_eq!(lf["file"], "fleet/baselines/staging-fast-approvals.yaml");
    let names: Vec<&str> = lf["proposed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["package"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["linux-image-amd64", "postgresql-15", "tzdata"]);
    // The new file loads: the branch's repository validates.
    let checkout = tempfile::tempdir().unwrap();
    let wt = checkout.path().join("wt");
    git(
        repo.path(),
        &[
            "worktree",
            "add",
            "-q",
            wt.to_str().unwrap(),
            "patchwave/propose/staging-fast",
        ],
    );
    let v = support::patchwave()
        .args(["validate", "--repo"])
        .arg(wt.join("fleet"))
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    // Merged, the staging hosts (no promotion) get the versions now.
    git(
        repo.path(),
        &["merge", "-q", "--ff-only", "patchwave/propose/staging-fast"],
    );
    let states = decisions(repo.path(), "staging", "tzdata");
    assert!(
        !states.is_empty() && states.iter().all(|(s, _)| s == "EXPLICIT_APPROVED"),
        "{states:?}"
    );
}

#[test]
fn never_overwrites_someones_work() {
    let repo = example_clone();
    let dir = repo.path();
    // A branch of the same name holding a commit propose did not make.
    git(dir, &["branch", "patchwave/propose"]);
    let out = propose(dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains(
            "branch `patchwave/propose` exists and its last commit was not made by propose"
        ),
        "{}",
        text(&out)
    );
    git(dir, &["branch", "-D", "patchwave/propose"]);

    // The checked-out branch, and a name git refuses.
    let out = propose(dir, &["--branch", "main"]);
    assert!(
        text(&out).contains("`main` is the checked-out branch"),
        "{}",
        text(&out)
    );
    let out = propose(dir, &["--branch", "bad..name"]);
    assert!(
        text(&out).contains("`bad..name` is not a valid branch name"),
        "{}",
        text(&out)
    );

    // Uncommitted edits to the lockfile would end up in the commit: refused.
    let lockfile = dir.join("fleet/baselines/production-approvals.yaml");
    let mut edited = fs::read_to_string(&lockfile).unwrap();
    edited.push_str("    - {package: vim, version: \"2:9.0.1378-2\"}\n");
    fs::write(&lockfile, &edited).unwrap();
    let out = propose(dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("fleet/baselines/production-approvals.yaml has uncommitted changes"),
        "{}",
        text(&out)
    );
    assert_eq!(
        git(dir, &["branch", "--list", "patchwave/*"]),
        "",
        "no branch was created"
    );

    // --no-commit writes the working tree instead, keeping the edit.
    let out = propose(dir, &["--no-commit"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let written = fs::read_to_string(&lockfile).unwrap();
    assert!(
        written.contains("- package: vim\n      version: \"2:9.0.1378-2\""),
        "{written}"
    );
    assert!(written.contains("- package: tzdata"), "{written}");
}

#[test]
fn outside_git_it_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/fleet"), &dir.path().join("fleet"));
    let out = propose(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("is not inside a git repository"), "{t}");
    assert!(t.contains("--no-commit"), "{t}");
}
