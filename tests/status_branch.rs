//! Status write-back against real git repositories: a bare repository is the
//! remote (served over file://), the fleet repository a clone of it. The
//! status branch gets one commit per write, the work tree is never touched,
//! and a concurrent push is absorbed: our commit lands on top, nothing lost,
//! never a force-push.

mod support;

use support::git::git;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use patchwave::source::{StatusOutcome, StatusWrite, write_status};

/// A bare remote with one desired-state commit on main, and two clones.
fn setup() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("remote.git");
    let seed = tmp.path().join("seed");
    git(
        tmp.path(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            remote.to_str().unwrap(),
        ],
    );
    fs::create_dir(&seed).unwrap();
    git(&seed, &["init", "-q", "-b", "main"]);
    fs::write(seed.join("fleet.yaml"), "# desired state\n").unwrap();
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-q", "-m", "desired state"]);
    let url = format!("file://{}", remote.display());
    git(&seed, &["push", "-q", &url, "main"]);
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    git(tmp.path(), &["clone", "-q", &url, ours.to_str().unwrap()]);
    git(tmp.path(), &["clone", "-q", &url, theirs.to_str().unwrap()]);
    (tmp, remote, ours, theirs)
}

fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect()
}

fn write(
    dir: &Path,
    f: &BTreeMap<String, String>,
    before_push: Option<&dyn Fn()>,
) -> StatusOutcome {
    write_status(&StatusWrite {
        repo_dir: dir,
        branch: "patchwave/status",
        files: f,
        message: "status: run r1 succeeded\n\nDesired state: abc\n".into(),
        remote: Some("origin"),
        remote_url: None,
        attempts: 3,
        before_push,
        desired_branch: Some("main"),
    })
    .unwrap()
}

#[test]
fn status_lands_on_its_branch_and_survives_a_concurrent_push() {
    let (_tmp, remote, ours, theirs) = setup();
    let first = files(&[
        ("status/hosts/web-1.yaml", "host: web-1\n"),
        ("status/runs/r1.yaml", "id: r1\n"),
        ("status/REPORT.md", "# report 1\n"),
    ]);
    let out = write(&ours, &first, None);
    assert!(
        matches!(
            out,
            StatusOutcome::Committed {
                pushed: true,
                attempts: 1,
                ..
            }
        ),
        "{out:?}"
    );
    // On the remote, on its own branch; main and the work tree untouched.
    let remote_files = git(
        &remote,
        &["ls-tree", "-r", "--name-only", "patchwave/status"],
    );
    assert_eq!(
        remote_files,
        "status/REPORT.md\nstatus/hosts/web-1.yaml\nstatus/runs/r1.yaml\n"
    );
    assert_eq!(git(&ours, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&ours, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "main"
    );
    assert_eq!(
        git(&remote, &["log", "--format=%s", "main"]).trim(),
        "desired state"
    );
    // Writing the same files again changes nothing.
    assert_eq!(write(&ours, &first, None), StatusOutcome::Unchanged);

    // Another writer pushes to the status branch while we are about to push.
    let other = || {
        git(&theirs, &["fetch", "-q", "origin"]);
        git(
            &theirs,
            &[
                "checkout",
                "-q",
                "-B",
                "status-work",
                "origin/patchwave/status",
            ],
        );
        fs::create_dir_all(theirs.join("status/hosts")).unwrap();
        fs::write(theirs.join("status/hosts/db-1.yaml"), "host: db-1\n").unwrap();
        git(&theirs, &["add", "-A"]);
        git(&theirs, &["commit", "-q", "-m", "their status"]);
        git(
            &theirs,
            &["push", "-q", "origin", "status-work:patchwave/status"],
        );
    };
    let raced = std::cell::Cell::new(false);
    let hook = || {
        if !raced.replace(true) {
            other();
        }
    };
    let second = files(&[
        ("status/hosts/web-1.yaml", "host: web-1\nversion: 2\n"),
        ("status/runs/r2.yaml", "id: r2\n"),
        ("status/REPORT.md", "# report 2\n"),
    ]);
    let out = write(&ours, &second, Some(&hook));
    assert!(
        matches!(
            out,
            StatusOutcome::Committed {
                pushed: true,
                attempts: 2,
                ..
            }
        ),
        "{out:?}"
    );
    // Both writers' files are there, ours on top, their commit in the history.
    let tree = git(
        &remote,
        &["ls-tree", "-r", "--name-only", "patchwave/status"],
    );
    assert_eq!(
        tree,
        "status/REPORT.md\nstatus/hosts/db-1.yaml\nstatus/hosts/web-1.yaml\nstatus/runs/r1.yaml\nstatus/runs/r2.yaml\n"
    );
    let log = git(&remote, &["log", "--format=%s", "patchwave/status"]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "status: run r1 succeeded",
            "their status",
            "status: run r1 succeeded"
        ]
    );
    assert_eq!(
        git(&remote, &["show", "patchwave/status:status/REPORT.md"]),
        "# report 2\n"
    );
    assert_eq!(
        git(
            &remote,
            &["log", "-1", "--format=%an <%ae>", "patchwave/status"]
        )
        .trim(),
        "patchwave <patchwave@localhost>"
    );
}

#[test]
fn an_unreachable_remote_keeps_status_locally_and_the_next_push_carries_it() {
    let (_tmp, remote, ours, _theirs) = setup();
    let url = git(&ours, &["remote", "get-url", "origin"])
        .trim()
        .to_string();
    git(
        &ours,
        &[
            "remote",
            "set-url",
            "origin",
            "file:///nonexistent/fleet.git",
        ],
    );
    let first = files(&[
        ("status/runs/r9.yaml", "id: r9\n"),
        ("status/REPORT.md", "# a\n"),
    ]);
    let err = write_status(&StatusWrite {
        repo_dir: &ours,
        branch: "patchwave/status",
        files: &first,
        message: "status r9".into(),
        remote: Some("origin"),
        remote_url: None,
        attempts: 2,
        before_push: None,
        desired_branch: Some("main"),
    })
    .unwrap_err();
    assert!(err.0.contains("status committed locally"), "{err}");
    assert_eq!(
        git(&ours, &["show", "patchwave/status:status/runs/r9.yaml"]),
        "id: r9\n"
    );

    // The remote is back; another writer pushed meanwhile. Our next write
    // carries the unpushed run record over onto the remote's tip.
    git(&ours, &["remote", "set-url", "origin", &url]);
    let other = tempfile::tempdir().unwrap();
    git(other.path(), &["clone", "-q", &url, "c"]);
    let c = other.path().join("c");
    git(&c, &["checkout", "-q", "--orphan", "patchwave/status"]);
    git(&c, &["rm", "-rq", "--cached", "."]);
    fs::create_dir_all(c.join("status/hosts")).unwrap();
    fs::write(c.join("status/hosts/x.yaml"), "host: x\n").unwrap();
    git(&c, &["add", "status"]);
    git(&c, &["commit", "-q", "-m", "their status"]);
    git(&c, &["push", "-q", "origin", "patchwave/status"]);
    let second = files(&[("status/REPORT.md", "# b\n")]);
    let out = write(&ours, &second, None);
    assert!(
        matches!(out, StatusOutcome::Committed { pushed: true, .. }),
        "{out:?}"
    );
    let tree = git(
        &remote,
        &["ls-tree", "-r", "--name-only", "patchwave/status"],
    );
    assert_eq!(
        tree,
        "status/REPORT.md\nstatus/hosts/x.yaml\nstatus/runs/r9.yaml\n"
    );
}

#[test]
fn without_a_remote_status_is_committed_locally_and_a_checked_out_status_branch_is_refused() {
    let (_tmp, _remote, ours, _theirs) = setup();
    let f = files(&[("status/REPORT.md", "# r\n")]);
    let out = write_status(&StatusWrite {
        repo_dir: &ours,
        branch: "patchwave/status",
        files: &f,
        message: "status".into(),
        remote: None,
        remote_url: None,
        attempts: 1,
        before_push: None,
        desired_branch: Some("main"),
    })
    .unwrap();
    assert!(
        matches!(out, StatusOutcome::Committed { pushed: false, .. }),
        "{out:?}"
    );
    assert_eq!(
        git(&ours, &["show", "patchwave/status:status/REPORT.md"]),
        "# r\n"
    );
    git(&ours, &["checkout", "-q", "patchwave/status"]);
    let err = write_status(&StatusWrite {
        repo_dir: &ours,
        branch: "patchwave/status",
        files: &f,
        message: "status".into(),
        remote: None,
        remote_url: None,
        attempts: 1,
        before_push: None,
        desired_branch: Some("main"),
    })
    .unwrap_err();
    assert!(err.0.contains("is checked out"), "{err}");
    // Status never goes to the desired-state branch, checked out or not.
    git(&ours, &["checkout", "-q", "--detach"]);
    let err = write_status(&StatusWrite {
        repo_dir: &ours,
        branch: "main",
        files: &f,
        message: "status".into(),
        remote: None,
        remote_url: None,
        attempts: 1,
        before_push: None,
        desired_branch: Some("main"),
    })
    .unwrap_err();
    assert!(err.0.contains("is the desired-state branch"), "{err}");
}
