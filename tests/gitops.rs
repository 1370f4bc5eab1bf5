//! The GitOps loop end to end, by the daemon alone: a merged commit that
//! approves a security update ends with the fleet patched and a status
//! commit on `patchwave/status` (host files with the new versions, a run
//! file naming the desired-state commit); a broken commit afterwards is
//! refused, the daemon keeps the last good one and says so in /metrics.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
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

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_merged_approval_is_rolled_out_by_the_daemon_and_recorded_in_git() {
    let fleet = Fleet::start(Base::Apt, 9, 2);
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

    // The fleet repository: a bare remote, and a clone reviewers merge into.
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("fleet.git");
    let work = tmp.path().join("work");
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
                &policy::fleet_group("apt-hosts", &fleet),
                &baseline(rules),
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
    let url = format!("file://{}", remote.display());
    git(&work, &["remote", "add", "origin", &url]);
    git(&work, &["push", "-q", "origin", "main"]);

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
    git(&work, &["push", "-q", "origin", "main"]);
    let approved = git(&work, &["rev-parse", "HEAD"]).trim().to_string();
    eventually("a status commit for the rollout", 120, || {
        Command::new("git")
            .current_dir(&remote)
            .args(["ls-tree", "--name-only", "patchwave/status", "status/runs/"])
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false)
    });
    for h in ["h1", "h2"] {
        assert_eq!(
            fleet.ssh_ok(h, &["dpkg-query", "-W", "-f", "${Version}", "pw-gitops"]),
            "1.1-1",
            "{h}"
        );
        let status = git(
            &remote,
            &["show", &format!("patchwave/status:status/hosts/{h}.yaml")],
        );
        assert!(status.contains("\"pw-gitops:all\": 1.1-1"), "{status}");
    }
    let run_file = git(
        &remote,
        &["ls-tree", "--name-only", "patchwave/status", "status/runs/"],
    );
    let run = git(
        &remote,
        &[
            "show",
            &format!("patchwave/status:{}", run_file.lines().next().unwrap()),
        ],
    );
    assert!(run.contains(&format!("desiredCommit: {approved}")), "{run}");
    assert!(run.contains("state: succeeded"), "{run}");
    assert_eq!(
        git(&remote, &["rev-parse", "main"]).trim(),
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
    git(&work, &["push", "-q", "origin", "main"]);
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
        Command::new("git")
            .current_dir(&remote)
            .args(["show", "patchwave/status:status/SOURCE.yaml"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("condition: InvalidSpec"))
            .unwrap_or(false)
    });
    let source = git(&remote, &["show", "patchwave/status:status/SOURCE.yaml"]);
    assert!(
        source.contains(&format!("workingFrom: {approved}")),
        "{source}"
    );
    let said = fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("refused: it is not a valid fleet repository: fleet.yaml:"),
        "{said}"
    );
    drop(server);
}
