//! Signed desired state: commits verified with real keys, signed by real git
//! (`gpg.format=ssh`), checked by OpenSSH's `ssh-keygen -Y`. An unsigned
//! commit, a key that is not allowed, a commit that adds its own signer, and
//! uncommitted changes are all refused — and `apply` applies nothing then.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use patchwave::source::verify_head;
use patchwave::spec::fleet::SignatureFormat::Ssh;
use support::git::{commit, run, ssh_key as key};

/// The example fleet in a git repository whose allowed signers hold `alice`.
fn fleet_repo(tmp: &Path, alice: &str) -> PathBuf {
    let repo = tmp.join("fleet");
    fs::create_dir(&repo).unwrap();
    run(
        &repo,
        "cp",
        &[
            "-r",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fleet/."),
            ".",
        ],
    );
    fs::write(
        repo.join(".patchwave/allowed_signers"),
        format!("alice@example.com namespaces=\"git\" {alice}\n"),
    )
    .unwrap();
    run(&repo, "git", &["init", "-q", "-b", "main"]);
    repo
}

#[test]
fn only_commits_signed_by_an_allowed_key_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let (alice_key, alice) = key(tmp.path(), "alice");
    let (mallory_key, mallory) = key(tmp.path(), "mallory");
    let repo = fleet_repo(tmp.path(), &alice);
    commit(&repo, "fleet, signed by alice", Some(&alice_key));
    let ok = verify_head(&repo, Ssh, ".patchwave/allowed_signers").unwrap();
    assert_eq!(ok.signer, "alice@example.com");
    assert!(
        ok.detail.contains("Good \"git\" signature"),
        "{}",
        ok.detail
    );

    // Unsigned.
    fs::write(repo.join("notes.yaml"), "# unsigned change\n").unwrap();
    commit(&repo, "unsigned", None);
    let e = verify_head(&repo, Ssh, ".patchwave/allowed_signers").unwrap_err();
    assert!(e.0.contains("is not signed"), "{e}");

    // Signed by a key that is not allowed.
    fs::write(repo.join("notes.yaml"), "# mallory's change\n").unwrap();
    commit(&repo, "mallory", Some(&mallory_key));
    let e = verify_head(&repo, Ssh, ".patchwave/allowed_signers").unwrap_err();
    assert!(
        e.0.contains("signed by a key that is not in the allowed signers"),
        "{e}"
    );

    // Mallory adds herself to the allowed signers in the same commit: still
    // refused, trust comes from the parent commit.
    let signers = repo.join(".patchwave/allowed_signers");
    let mut text = fs::read_to_string(&signers).unwrap();
    text.push_str(&format!(
        "mallory@example.com namespaces=\"git\" {mallory}\n"
    ));
    fs::write(&signers, text).unwrap();
    commit(&repo, "mallory adds her key", Some(&mallory_key));
    let e = verify_head(&repo, Ssh, ".patchwave/allowed_signers").unwrap_err();
    assert!(e.0.contains("not in the allowed signers"), "{e}");

    // Alice signs on top: verified again; then an uncommitted edit is refused.
    fs::write(repo.join("notes.yaml"), "# alice reviewed\n").unwrap();
    commit(&repo, "alice", Some(&alice_key));
    verify_head(&repo, Ssh, ".patchwave/allowed_signers").unwrap();
    fs::write(repo.join("baselines/production.yaml"), "# tampered\n").unwrap();
    let e = verify_head(&repo, Ssh, ".patchwave/allowed_signers").unwrap_err();
    assert!(
        e.0.contains("changes the signature does not cover (baselines/production.yaml)"),
        "{e}"
    );
}

#[test]
fn apply_refuses_an_unsigned_desired_state_before_touching_any_host() {
    let tmp = tempfile::tempdir().unwrap();
    let (_alice_key, alice) = key(tmp.path(), "alice");
    let repo = fleet_repo(tmp.path(), &alice);
    commit(&repo, "unsigned fleet", None);
    let state = tempfile::tempdir().unwrap();
    let out = support::patchwave()
        .args(["apply", "--repo"])
        .arg(&repo)
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refusing to apply: commit") && err.contains("is not signed"),
        "{err}"
    );
    // It says where signatures are required and the ways forward.
    assert!(
        err.contains("hint: signed commits are required by fleet.yaml:")
            && err.contains("git commit -S")
            && err.contains("requireSignedCommits: false"),
        "{err}"
    );
    // Nothing was scanned or recorded.
    assert!(!state.path().join("first-seen.json").exists());
    assert!(!state.path().join("runs").exists());
}

#[test]
fn an_unsigned_commit_cannot_switch_verification_off_or_hide_an_ignored_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (alice_key, alice) = key(tmp.path(), "alice");
    let repo = fleet_repo(tmp.path(), &alice);
    commit(&repo, "fleet, signed", Some(&alice_key));
    // An ignored policy file is read by the loader but not covered by the signature.
    fs::write(repo.join(".git/info/exclude"), "local.yaml\n").unwrap();
    fs::write(repo.join("local.yaml"), "# sneaky\n").unwrap();
    let e = verify_head(&repo, Ssh, ".patchwave/allowed_signers").unwrap_err();
    assert!(e.0.contains("local.yaml"), "{e}");
    fs::remove_file(repo.join("local.yaml")).unwrap();

    let fleet = fs::read_to_string(repo.join("fleet.yaml")).unwrap();
    fs::write(
        repo.join("fleet.yaml"),
        fleet.replace("requireSignedCommits: true", "requireSignedCommits: false"),
    )
    .unwrap();
    commit(&repo, "verification off, unsigned", None);
    let state = tempfile::tempdir().unwrap();
    let out = support::patchwave()
        .args(["apply", "--repo"])
        .arg(&repo)
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refusing to apply") && err.contains("is not signed"),
        "{err}"
    );
    // Looking at the parent commit left the user's index and work tree alone.
    assert_eq!(support::git::git(&repo, &["status", "--porcelain"]), "");
}

/// A signed commit cannot point verification at another keys file of its
/// parent (one holding the committer's own key): while the parent requires
/// signatures, the parent's settings say where the allowed signers are.
#[test]
fn a_commit_cannot_point_verification_at_another_keys_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (alice_key, alice) = key(tmp.path(), "alice");
    let (mallory_key, mallory) = key(tmp.path(), "mallory");
    let repo = fleet_repo(tmp.path(), &alice);
    // A file that happens to hold Mallory's key, committed (and reviewed) as
    // something harmless, while verification reads .patchwave/allowed_signers.
    fs::write(
        repo.join("contrib-signers"),
        format!("mallory@example.com namespaces=\"git\" {mallory}\n"),
    )
    .unwrap();
    commit(&repo, "fleet, signed by alice", Some(&alice_key));
    let fleet = fs::read_to_string(repo.join("fleet.yaml")).unwrap();
    assert!(fleet.contains(".patchwave/allowed_signers"), "{fleet}");
    fs::write(
        repo.join("fleet.yaml"),
        fleet.replace(".patchwave/allowed_signers", "contrib-signers"),
    )
    .unwrap();
    commit(&repo, "mallory re-points the signers", Some(&mallory_key));
    let state = tempfile::tempdir().unwrap();
    let out = support::patchwave()
        .args(["apply", "--repo"])
        .arg(&repo)
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refusing to apply") && err.contains("not in the allowed signers"),
        "{err}"
    );
    assert!(!state.path().join("runs").exists(), "nothing was applied");
}
