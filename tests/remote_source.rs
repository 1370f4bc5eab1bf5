//! A remote desired state (a bare repository served over file://): each sync
//! fetches the branch and settles on a commit. An invalid commit, an unsigned
//! one, or one that switches verification off never replaces the last good
//! commit; the reason names the file:line:col or the signature problem.

mod support;

use std::fs;
use std::path::Path;

use patchwave::source::RemoteSource;
use support::git::{commit, git, run};

fn commit_and_push(work: &Path, message: &str, key: Option<&Path>) -> String {
    commit(work, message, key);
    git(work, &["push", "-q", "origin", "main"]);
    git(work, &["rev-parse", "HEAD"]).trim().to_string()
}

/// A bare remote and a clone to push from; the source syncing from it.
fn setup(tmp: &Path) -> (std::path::PathBuf, RemoteSource) {
    let bare = tmp.join("fleet.git");
    run(
        tmp,
        "git",
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    let work = tmp.join("work");
    run(
        tmp,
        "git",
        &[
            "clone",
            "-q",
            &format!("file://{}", bare.display()),
            work.to_str().unwrap(),
        ],
    );
    run(&work, "git", &["checkout", "-q", "-b", "main"]);
    let source = RemoteSource {
        url: format!("file://{}", bare.display()),
        branch: "main".into(),
        cache: tmp.join("state/sources/fleet"),
    };
    (work, source)
}

#[test]
fn an_invalid_commit_never_replaces_the_last_good_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (work, source) = setup(tmp.path());
    run(
        &work,
        "cp",
        &[
            "-r",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fleet/."),
            ".",
        ],
    );
    // No signatures in this test.
    let fleet = fs::read_to_string(work.join("fleet.yaml")).unwrap();
    fs::write(
        work.join("fleet.yaml"),
        fleet.replace("requireSignedCommits: true", "requireSignedCommits: false"),
    )
    .unwrap();
    let good = commit_and_push(&work, "good", None);
    let s = source.sync().unwrap();
    assert_eq!(s.commit, good);
    assert!(s.refused.is_none());
    assert!(s.dir.join("groups/web-prod.yaml").exists());

    // A broken document: refused with its position; the last good commit stays.
    let path = work.join("groups/web-prod.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("criticality: high", "criticality: extreme"),
    )
    .unwrap();
    let bad = commit_and_push(&work, "typo", None);
    let s = source.sync().unwrap();
    assert_eq!(s.commit, good, "kept the last good commit");
    let why = s.refused.unwrap();
    assert!(
        why.starts_with(&format!(
            "commit {} refused: it is not a valid fleet repository",
            &bad[..12]
        )),
        "{why}"
    );
    assert!(
        why.contains("groups/web-prod.yaml:") && why.contains("extreme"),
        "{why}"
    );
    assert_eq!(
        fs::read_to_string(s.dir.join("groups/web-prod.yaml")).unwrap(),
        text
    );

    // Fixed: the new commit is taken.
    fs::write(&path, &text).unwrap();
    let fixed = commit_and_push(&work, "fix", None);
    let s = source.sync().unwrap();
    assert_eq!((s.commit.as_str(), s.refused), (fixed.as_str(), None));
}

#[test]
fn unsigned_commits_are_refused_and_cannot_switch_verification_off() {
    let tmp = tempfile::tempdir().unwrap();
    let (work, source) = setup(tmp.path());
    let key = tmp.path().join("alice");
    run(
        tmp.path(),
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "alice",
            "-f",
            key.to_str().unwrap(),
        ],
    );
    let public = fs::read_to_string(key.with_extension("pub")).unwrap();
    run(
        &work,
        "cp",
        &[
            "-r",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fleet/."),
            ".",
        ],
    );
    fs::write(
        work.join(".patchwave/allowed_signers"),
        format!("alice@example.com namespaces=\"git\" {}", public.trim()),
    )
    .unwrap();
    let signed = commit_and_push(&work, "signed by alice", Some(&key));
    let s = source.sync().unwrap();
    assert_eq!(s.commit, signed);
    assert_eq!(s.signer.as_deref(), Some("alice@example.com"));

    fs::write(work.join("notes.yaml"), "# unsigned\n").unwrap();
    commit_and_push(&work, "unsigned", None);
    let s = source.sync().unwrap();
    assert_eq!(s.commit, signed);
    assert!(s.refused.unwrap().contains("is not signed"));

    // Mallory adds her key in an unsigned commit, then signs the next one
    // with it: trust comes from the last good commit, so both are refused.
    let (mallory_key, mallory) = support::git::ssh_key(tmp.path(), "mallory");
    let signers = work.join(".patchwave/allowed_signers");
    let mut text = fs::read_to_string(&signers).unwrap();
    text.push_str(&format!(
        "\nmallory@example.com namespaces=\"git\" {mallory}\n"
    ));
    fs::write(&signers, text).unwrap();
    commit_and_push(&work, "add mallory", None);
    fs::write(work.join("notes.yaml"), "# mallory\n").unwrap();
    commit_and_push(&work, "signed by mallory", Some(&mallory_key));
    let s = source.sync().unwrap();
    assert_eq!(s.commit, signed);
    assert!(s.refused.unwrap().contains("not in the allowed signers"));

    // Turning verification off in an unsigned commit does not work either.
    let fleet = fs::read_to_string(work.join("fleet.yaml")).unwrap();
    fs::write(
        work.join("fleet.yaml"),
        fleet.replace("requireSignedCommits: true", "requireSignedCommits: false"),
    )
    .unwrap();
    commit_and_push(&work, "switch verification off", None);
    let s = source.sync().unwrap();
    assert_eq!(s.commit, signed);
    assert!(s.refused.unwrap().contains("is not signed"));
}

/// HTTPS with a token: `apply` fetches the desired state and pushes its
/// status back over git's smart HTTP protocol (TLS checked against the
/// test CA). A wrong token, a missing one, or an untrusted certificate is a
/// clear error naming the URL, never the token.
#[test]
fn desired_state_and_status_travel_over_https_with_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let (work, _) = setup(tmp.path());
    // One host on a loopback port nothing listens on: apply reaches its end
    // (the host is unreachable) and writes status, touching no machine.
    fs::write(
        work.join("fleet.yaml"),
        support::policy::stream(&[
            "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {name: https}\nspec: {}\n",
            "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {name: g}\nspec:\n  baseline: b\n  rollout: r\n  windows: [w]\n  connection: {user: root, port: 1}\n  hosts:\n    - {name: nowhere, address: 127.0.0.1}\n",
            support::policy::BASELINE_AND_ROLLOUT,
            support::policy::ALWAYS_OPEN_WINDOW,
        ]),
    )
    .unwrap();
    let desired = commit_and_push(&work, "fleet", None);
    let tls = tmp.path().join("tls");
    fs::create_dir(&tls).unwrap();
    let server = support::githttp::GitHttpServer::start(tmp.path(), &tls, Some("s3cret-token"));
    let url = server.url("fleet.git");
    let apply = |token: Option<&str>, ca: Option<&Path>| {
        let mut c = support::patchwave();
        c.args(["apply", "--repo", &url, "--branch", "main"])
            .arg("--state-dir")
            .arg(tmp.path().join("state"))
            .env_remove("PATCHWAVE_GIT_TOKEN")
            .env_remove("PATCHWAVE_GIT_CA_BUNDLE");
        if let Some(t) = token {
            c.env("PATCHWAVE_GIT_TOKEN", t);
        }
        if let Some(ca) = ca {
            c.env("PATCHWAVE_GIT_CA_BUNDLE", ca);
        }
        let out = c.output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), said)
    };

    let (code, said) = apply(Some("s3cret-token"), None);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!("cannot fetch main from {url}")),
        "{said}"
    );
    assert!(
        said.contains("UnknownIssuer"),
        "untrusted certificate: {said}"
    );

    let (code, said) = apply(None, Some(&server.ca));
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("set PATCHWAVE_GIT_TOKEN"), "{said}");

    let (code, said) = apply(Some("wrong-token"), Some(&server.ca));
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("refused the credentials"), "{said}");
    assert!(!said.contains("wrong-token"), "{said}");

    let (code, said) = apply(Some("s3cret-token"), Some(&server.ca));
    // Fetched, verified and status pushed; its one host is unreachable, so
    // the run is incomplete (4), never success.
    assert_eq!(code, Some(4), "{said}");
    assert!(!said.contains("s3cret-token"), "{said}");
    let bare = tmp.path().join("fleet.git");
    assert!(
        said.contains("host nowhere: unreachable, not patched"),
        "{said}"
    );
    let host = run(
        &bare,
        "git",
        &["show", "patchwave/status:status/hosts/nowhere.yaml"],
    );
    assert!(host.contains("scan: unreachable"), "{host}");
    let group = run(
        &bare,
        "git",
        &["show", "patchwave/status:status/groups/g.yaml"],
    );
    assert!(group.contains("HostsUnreachable"), "{group}");
    assert_eq!(run(&bare, "git", &["rev-parse", "main"]).trim(), desired);
    // Credentials in the URL work the same, and never reach the disk.
    let with_token = url.replace("https://", "https://x-access-token:s3cret-token@");
    let out = support::patchwave()
        .args(["apply", "--repo", &with_token, "--branch", "main"])
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .env_remove("PATCHWAVE_GIT_TOKEN")
        .env("PATCHWAVE_GIT_CA_BUNDLE", &server.ca)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Its only host is unreachable: incomplete (4), never success.
    assert_eq!(out.status.code(), Some(4), "{said}");
    assert!(!said.contains("s3cret-token"), "{said}");
    let grep = std::process::Command::new("grep")
        .args(["-rl", "--", "s3cret-token"])
        .arg(tmp.path().join("state"))
        .output()
        .unwrap();
    assert_eq!(
        grep.status.code(),
        Some(1),
        "files holding the token: {}",
        String::from_utf8_lossy(&grep.stdout)
    );
    let requests = server.requests.lock().unwrap().clone();
    assert!(
        requests.iter().any(|(m, t, authorized)| m == "POST"
            && t == "/fleet.git/git-receive-pack"
            && *authorized),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|(m, t, _)| m == "GET" && t == "/fleet.git/info/refs?service=git-upload-pack"),
        "{requests:?}"
    );
}

/// `validate` and `plan` read a remote branch's newest commit as it is (a
/// preview, as a review would see it): the plan equals the local one, and a
/// broken commit is reported with its position rather than skipped.
#[test]
fn validate_and_plan_read_a_remote_branch() {
    let tmp = tempfile::tempdir().unwrap();
    let (work, source) = setup(tmp.path());
    run(
        &work,
        "cp",
        &[
            "-r",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fleet/."),
            ".",
        ],
    );
    commit_and_push(&work, "fleet", None);
    let cli = |args: &[&str]| {
        let out = support::patchwave()
            .args(args)
            .args(["--repo", &source.url, "--branch", "main"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let plan_args = [
        "plan",
        "--facts",
        "examples/facts.json",
        "--now",
        "2026-12-02T09:30:00Z",
    ];
    let (code, remote_plan, err) = cli(&plan_args);
    assert_eq!(code, Some(2), "{remote_plan}{err}");
    let local = support::patchwave()
        .args(plan_args)
        .args(["--repo", "examples/fleet"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(remote_plan, String::from_utf8_lossy(&local.stdout));
    let (code, out, err) = cli(&["validate"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&source.url), "{out}");

    let path = work.join("groups/web-prod.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("criticality: high", "criticality: extreme"),
    )
    .unwrap();
    commit_and_push(&work, "typo", None);
    let (code, out, err) = cli(&["validate"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("groups/web-prod.yaml:") && out.contains("extreme"),
        "{out}"
    );
    let (code, _, err) = cli(&plan_args);
    assert_eq!(code, Some(1), "{err}");
}
