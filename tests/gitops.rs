//! The GitOps loop end to end, by the daemon alone, with the fleet
//! repository served over SSH by a test host (h1 runs sshd and git): a merged
//! commit that approves a security update ends with the fleet patched and a
//! status commit pushed to `patchwave/status` (host files with the new
//! versions, a run file naming the desired-state commit); a broken commit
//! afterwards is refused, the daemon keeps the last good one and says so in
//! /metrics. An unknown host key or a key the host does not accept is a
//! clear error, never a prompt.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::aptrepo::{AptRepo, Deb, MAIN, SECURITY};
use support::fleet::{Base, Fleet};
use support::git::git;
use support::http::FileServer;
use support::policy;

fn get(addr: &str, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn eventually(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("timed out waiting for {what}");
}

static FLEET: OnceLock<Fleet> = OnceLock::new();

fn fleet() -> &'static Fleet {
    Fleet::shared(&FLEET, Base::Apt, 9, 2)
}

/// A bare repository on h1, and its SSH URL.
fn bare_on_h1(fleet: &Fleet, name: &str) -> String {
    let path = format!("/srv/{name}.git");
    fleet.ssh_ok("h1", &["git", "init", "-q", "--bare", "-b", "main", &path]);
    format!("ssh://root@{}{path}", fleet.host("h1").address)
}

/// git in `dir` reaching the test hosts with the fleet's ssh_config.
fn git_over_ssh(fleet: &Fleet, dir: &Path, args: &[&str]) -> String {
    let ssh = format!("core.sshCommand=ssh -F {}", fleet.ssh_config().display());
    let mut all = vec!["-c", ssh.as_str()];
    all.extend_from_slice(args);
    git(dir, &all)
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_merged_approval_is_rolled_out_by_the_daemon_and_recorded_in_git() {
    let fleet = fleet();
    let apt_dir = tempfile::tempdir().unwrap();
    let apt = AptRepo::new(apt_dir.path());
    apt.publish(MAIN, &[Deb::new("pw-gitops", "1.0-1")]);
    let server = FileServer::start(apt_dir.path());
    for h in ["h1", "h2"] {
        fleet.write(
            h,
            "/etc/apt/sources.list",
            &AptRepo::sources_list(&server.url()),
        );
        fleet.ssh_ok(h, &["apt-get", "update", "-q"]);
        fleet.ssh_ok(
            h,
            &[
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-q",
                "pw-gitops=1.0-1",
            ],
        );
    }
    apt.publish(SECURITY, &[Deb::new("pw-gitops", "1.1-1")]);

    // The fleet repository: a bare remote on h1, and a clone reviewers merge into.
    let tmp = tempfile::tempdir().unwrap();
    let url = bare_on_h1(fleet, "fleet");
    let remote = |args: &[&str]| {
        let mut all = vec!["git", "--git-dir=/srv/fleet.git"];
        all.extend_from_slice(args);
        fleet.ssh(fleet.host("h1").name.as_str(), &all)
    };
    let remote_ok = |args: &[&str]| {
        let out = remote(args);
        assert!(out.status.success(), "git {args:?} on h1: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let work = tmp.path().join("work");
    fs::create_dir(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    let baseline = |rules: &str| {
        format!(
            "apiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {{name: b}}\nspec:\n{rules}"
        )
    };
    let write_repo = |rules: &str| {
        fs::write(
            work.join("fleet.yaml"),
            policy::stream(&[
                "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {name: gitops}\nspec: {scan: {refreshAfter: 0s}}\n",
                // A stage that a (so far unused) production baseline
                // promotes from: its hosts' records go to the status branch.
                &policy::fleet_group("apt-hosts", fleet)
                    .replace("  baseline: b\n", "  baseline: b\n  stage: canary\n"),
                &baseline(rules),
                "apiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {name: prod}\nspec:\n  promotion: {from: canary, after: 1d}\n",
                "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: r}\nspec: {waves: [1, \"100%\"]}\n",
                policy::ALWAYS_OPEN_WINDOW,
            ]),
        )
        .unwrap();
    };
    write_repo("  approvalRules: []\n");
    git(&work, &["add", "-A"]);
    git(
        &work,
        &["commit", "-q", "-m", "fleet: nothing approved yet"],
    );
    git(&work, &["remote", "add", "origin", &url]);
    git_over_ssh(fleet, &work, &["push", "-q", "origin", "main"]);

    let addr = format!(
        "127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let log = tmp.path().join("daemon.log");
    let child = support::patchwave()
        .args([
            "daemon",
            "--interval",
            "2s",
            "--listen",
            &addr,
            "--repo",
            &url,
            "--branch",
            "main",
        ])
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        // The daemon's own key and known hosts, not the fleet's ssh_config:
        // these two are all a git-over-SSH source needs.
        .env("PATCHWAVE_GIT_SSH_KEY", fleet.identity())
        .env("PATCHWAVE_GIT_KNOWN_HOSTS", fleet.known_hosts())
        .stdout(
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap(),
        )
        .stderr(
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap(),
        )
        .spawn()
        .unwrap();
    let _daemon = Daemon(child);
    eventually("the first reconcile", 60, || {
        get(&addr, "/readyz").starts_with("HTTP/1.1 200")
    });
    for h in ["h1", "h2"] {
        assert_eq!(
            fleet.ssh_ok(h, &["dpkg-query", "-W", "-f", "${Version}", "pw-gitops"]),
            "1.0-1",
            "nothing approved yet"
        );
    }

    // A reviewer merges the approval.
    write_repo("  approvalRules:\n    - {name: security, classifications: [security]}\n");
    git(&work, &["commit", "-q", "-am", "approve security updates"]);
    git_over_ssh(fleet, &work, &["push", "-q", "origin", "main"]);
    let approved = git(&work, &["rev-parse", "HEAD"]).trim().to_string();
    eventually("a status commit for the rollout", 120, || {
        !remote(&["ls-tree", "--name-only", "patchwave/status", "status/runs/"])
            .stdout
            .is_empty()
    });
    for h in ["h1", "h2"] {
        assert_eq!(
            fleet.ssh_ok(h, &["dpkg-query", "-W", "-f", "${Version}", "pw-gitops"]),
            "1.1-1",
            "{h}"
        );
        let status = remote_ok(&["show", &format!("patchwave/status:status/hosts/{h}.yaml")]);
        assert!(status.contains("\"pw-gitops:all\": 1.1-1"), "{status}");
    }
    let history = remote_ok(&["show", "patchwave/status:status/history/h1.yaml"]);
    assert!(
        history.contains("pw-gitops:all") && history.contains("version: 1.1-1"),
        "{history}"
    );
    let run_file = remote_ok(&["ls-tree", "--name-only", "patchwave/status", "status/runs/"]);
    let run = remote_ok(&[
        "show",
        &format!("patchwave/status:{}", run_file.lines().next().unwrap()),
    ]);
    assert!(run.contains(&format!("desiredCommit: {approved}")), "{run}");
    assert!(run.contains("state: succeeded"), "{run}");
    assert_eq!(
        remote_ok(&["rev-parse", "main"]).trim(),
        approved,
        "main is never written"
    );

    // A broken commit: refused; the daemon keeps working from the approved one.
    fs::write(
        work.join("fleet.yaml"),
        "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {name: x}\nspec: {baseline: [\n",
    )
    .unwrap();
    git(&work, &["commit", "-q", "-am", "broken"]);
    git_over_ssh(fleet, &work, &["push", "-q", "origin", "main"]);
    eventually("the refusal in /metrics", 60, || {
        get(&addr, "/metrics").contains("patchwave_source_refused 1")
    });
    let metrics = get(&addr, "/metrics");
    assert!(
        metrics.contains(&format!(
            "patchwave_desired_commit_info{{commit=\"{approved}\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("patchwave_hosts{state=\"compliant\"} 2"),
        "{metrics}"
    );
    // The reason is logged by the reconcile that took the refused commit.
    eventually("the refusal in the log", 60, || {
        fs::read_to_string(&log)
            .unwrap()
            .contains("refused: it is not a valid fleet repository")
    });
    // …and the status branch records the refusal.
    eventually("the refusal on the status branch", 60, || {
        String::from_utf8_lossy(&remote(&["show", "patchwave/status:status/SOURCE.yaml"]).stdout)
            .contains("condition: InvalidSpec")
    });
    let source = remote_ok(&["show", "patchwave/status:status/SOURCE.yaml"]);
    assert!(
        source.contains(&format!("workingFrom: {approved}")),
        "{source}"
    );
    let said = fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("refused: it is not a valid fleet repository: fleet.yaml:"),
        "{said}"
    );
    // Polls that find nothing new commit nothing (scan times alone are not news).
    let commits = || remote_ok(&["rev-list", "--count", "patchwave/status"]);
    let reconciles = || -> f64 {
        get(&addr, "/metrics")
            .lines()
            .filter(|l| l.starts_with("patchwave_reconciles_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    // After the run's "Applied", the group settles on "UpToDate" (one commit).
    eventually("the group to settle", 60, || {
        String::from_utf8_lossy(
            &remote(&["show", "patchwave/status:status/groups/apt-hosts.yaml"]).stdout,
        )
        .contains("reason: UpToDate")
    });
    let (before, polls) = (commits(), reconciles());
    eventually("two more reconciles", 60, || reconciles() >= polls + 2.0);
    assert_eq!(
        commits(),
        before,
        "polls that found nothing new committed: {}",
        remote_ok(&["log", "-p", "-2", "patchwave/status"])
    );
    drop(server);
}

/// Host keys are checked and keys must be accepted: both failures name the
/// host and say what to do; nothing is fetched, nothing prompts.
#[test]
fn an_unknown_host_key_or_a_refused_key_is_a_clear_error() {
    let fleet = fleet();
    let url = bare_on_h1(fleet, "keys");
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("known_hosts");
    fs::write(&empty, "").unwrap();
    let (stranger, _) = support::git::ssh_key(tmp.path(), "stranger");
    let addr = &fleet.host("h1").address;
    for (known, key, says) in [
        (&empty, fleet.identity(), "not in the known_hosts file"),
        (&fleet.known_hosts(), stranger, "no key was accepted"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_patchwave"))
            .args(["apply", "--repo", &url, "--branch", "main"])
            .arg("--state-dir")
            .arg(tmp.path().join("state"))
            .env("PATCHWAVE_GIT_SSH_KEY", &key)
            .env("PATCHWAVE_GIT_KNOWN_HOSTS", known)
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(said.contains(&format!("ssh to {addr} failed")), "{said}");
        assert!(said.contains(says), "{said}");
        assert!(!said.contains("PRIVATE KEY"), "{said}");
    }
}
