//! Two install-time promises, on real hosts with real repositories and
//! `patchwave apply` as a binary:
//!
//! - a package the baseline blocks (`rejected[]`, `rejectedAction: block`)
//!   never comes in as another package's dependency: the host is refused
//!   before anything changes, naming both packages; with
//!   `rejectedAction: allowAsDependency` the same host is patched (apt on
//!   subnet 12; dnf and zypper on subnet 13);
//! - a host whose processes are all killed while dpkg unpacks is repaired by
//!   the next apply, which records a `repair` step, while the same broken
//!   database is refused to a patchwave without that journal.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use support::aptrepo::{AptRepo, Deb, MAIN};
use support::fleet::{Base, Fleet};
use support::http::FileServer;
use support::policy;
use support::rpmrepo::{Rpm, RpmRepo};

const APT_SUBNET: u8 = 12;
const RPM_SUBNET: u8 = 13;

/// A baseline approving `approved` packages explicitly and rejecting every
/// `pw-block*` from 1.0 on, with `action` (block or allowAsDependency).
fn baseline(approved: &[&str], action: &str) -> String {
    let approved: String = approved
        .iter()
        .map(|p| format!("    - {{package: {p}, reason: tested}}\n"))
        .collect();
    format!(
        "apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {{name: b}}
spec:
  rejectedAction: {action}
  approved:
{approved}  rejected:
    - {{package: \"pw-block*\", version: \">= 1.0\", reason: not certified}}
"
    )
}

/// HostGroup `g` of the named hosts of `fleet`.
fn group(fleet: &Fleet, hosts: &[&str]) -> String {
    let all = policy::fleet_group("g", fleet);
    let (head, _) = all.split_once("  hosts:\n").unwrap();
    let list: String = hosts
        .iter()
        .map(|h| {
            format!(
                "    - name: {h}\n      address: {}\n",
                fleet.host(h).address
            )
        })
        .collect();
    format!("{head}  hosts:\n{list}")
}

/// A fleet repository for `hosts` with the baseline above and `rollout`.
fn write_repo(
    dir: &Path,
    fleet: &Fleet,
    hosts: &[&str],
    approved: &[&str],
    action: &str,
    rollout: &str,
) {
    let yaml = policy::stream(&[
        "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {name: t}\nspec: {scan: {refreshAfter: 0s}}\n",
        &group(fleet, hosts),
        &baseline(approved, action),
        &format!(
            "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {{name: r}}\nspec: {rollout}\n"
        ),
        policy::ALWAYS_OPEN_WINDOW,
    ]);
    fs::write(dir.join("fleet.yaml"), yaml).unwrap();
}

struct Applied {
    code: Option<i32>,
    said: String,
}

fn apply(repo: &Path, state: &Path, extra: &[&str]) -> Applied {
    let out = support::patchwave()
        .args(["apply", "--repo"])
        .arg(repo)
        .arg("--state-dir")
        .arg(state)
        .args(extra)
        .output()
        .unwrap();
    Applied {
        code: out.status.code(),
        said: format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The run records in a state directory, oldest first (ids start with the time).
fn run_records(state: &Path) -> Vec<serde_json::Value> {
    let mut paths: Vec<PathBuf> = fs::read_dir(state.join("runs"))
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_json::from_slice(&fs::read(p).unwrap()).unwrap())
        .collect()
}

fn host_entry<'a>(run: &'a serde_json::Value, host: &str) -> &'a serde_json::Value {
    run["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["hosts"].as_array().unwrap())
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("{host} is not in run {run}"))
}

fn steps(entry: &serde_json::Value) -> Vec<(String, bool, String)> {
    entry["steps"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| {
                    (
                        s["step"].as_str().unwrap().to_string(),
                        s["ok"].as_bool().unwrap(),
                        s["output"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------- apt hosts

struct AptWorld {
    fleet: Fleet,
    apt: AptRepo,
    _dir: tempfile::TempDir,
    _server: FileServer,
}

static APT: OnceLock<AptWorld> = OnceLock::new();
static APT_SERIAL: Mutex<()> = Mutex::new(());

fn apt_serial() -> MutexGuard<'static, ()> {
    APT_SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// h1: the blocked dependency; h2 and h3: the crash.
fn apt_world() -> &'static AptWorld {
    APT.get_or_init(|| {
        let fleet = Fleet::start(Base::Apt, APT_SUBNET, 3);
        let dir = tempfile::tempdir().unwrap();
        let apt = AptRepo::new(dir.path());
        // pw-crash 1.0-1's postrm stalls an upgrade while /etc/pw-slow exists:
        // dpkg has unpacked 2.0-1 then and marked it half-installed.
        let mut crash = Deb::new("pw-crash", "1.0-1");
        crash.postrm = Some(
            "if [ \"$1\" = upgrade ] && [ -e /etc/pw-slow ]; then touch /run/pw-crash-waiting; sleep 600; fi"
                .into(),
        );
        apt.publish(
            MAIN,
            &[Deb::new("pw-lib", "1.0-1"), Deb::new("pw-ok", "1.0-1"), crash],
        );
        let server = FileServer::start(dir.path());
        let sources = AptRepo::sources_list(&server.url());
        for h in ["h1", "h2", "h3"] {
            fleet.write(h, "/etc/apt/sources.list", &sources);
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
                    "pw-lib=1.0-1",
                    "pw-ok=1.0-1",
                    "pw-crash=1.0-1",
                ],
            );
        }
        AptWorld {
            fleet,
            apt,
            _dir: dir,
            _server: server,
        }
    })
}

/// `VERSION STATUS` as dpkg has it, or `not installed`.
fn dpkg(host: &str, package: &str) -> String {
    let out = apt_world().fleet.ssh(
        host,
        &[
            "dpkg-query",
            "-W",
            "-f",
            "${Version} ${db:Status-Abbrev}",
            package,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || text.ends_with(" un") || text.is_empty() {
        "not installed".into()
    } else {
        text
    }
}

#[test]
fn apt_a_blocked_dependency_refuses_the_host_and_allow_as_dependency_patches_it() {
    let _s = apt_serial();
    let w = apt_world();
    let mut lib = Deb::new("pw-lib", "2.0-1");
    lib.depends = Some("pw-blocked (>= 1.0)".into());
    w.apt.publish(
        MAIN,
        &[
            lib,
            Deb::new("pw-blocked", "1.0-1"),
            Deb::new("pw-ok", "1.1-1"),
        ],
    );

    let repo = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_repo(
        repo.path(),
        &w.fleet,
        &["h1"],
        &["pw-lib", "pw-ok"],
        "block",
        "{waves: [\"100%\"]}",
    );
    let out = apply(repo.path(), state.path(), &[]);
    assert_eq!(
        out.code,
        Some(3),
        "a wave whose every host failed halts: {}",
        out.said
    );
    assert!(
        out.said.contains(
            "pw-blocked 1.0-1 is blocked by baseline `b` (not certified) and would be installed as a dependency of pw-lib 2.0-1"
        ),
        "{}",
        out.said
    );
    // Nothing changed: not the blocked package, not the one pulling it in,
    // not the other planned package of the same transaction.
    assert_eq!(dpkg("h1", "pw-blocked"), "not installed");
    assert_eq!(dpkg("h1", "pw-lib"), "1.0-1 ii");
    assert_eq!(dpkg("h1", "pw-ok"), "1.0-1 ii");
    let run = &run_records(state.path())[0];
    let h1 = host_entry(run, "h1");
    assert_eq!(h1["outcome"]["state"], "failed", "{h1}");
    assert_eq!(h1["outcome"]["step"], "resolve", "{h1}");
    assert!(
        !steps(h1).iter().any(|(s, _, _)| s == "install"),
        "no install ran: {h1}"
    );

    let allow_repo = tempfile::tempdir().unwrap();
    let allow_state = tempfile::tempdir().unwrap();
    write_repo(
        allow_repo.path(),
        &w.fleet,
        &["h1"],
        &["pw-lib", "pw-ok"],
        "allowAsDependency",
        "{waves: [\"100%\"]}",
    );
    let out = apply(allow_repo.path(), allow_state.path(), &[]);
    assert_eq!(out.code, Some(0), "{}", out.said);
    assert_eq!(dpkg("h1", "pw-lib"), "2.0-1 ii");
    assert_eq!(dpkg("h1", "pw-blocked"), "1.0-1 ii");
    assert_eq!(dpkg("h1", "pw-ok"), "1.1-1 ii");
    let run = &run_records(allow_state.path())[0];
    let resolve = steps(host_entry(run, "h1"))
        .into_iter()
        .find(|(s, _, _)| s == "resolve")
        .unwrap();
    assert!(resolve.1, "{resolve:?}");
    assert!(
        resolve.2.contains("pw-blocked:all=1.0-1") && resolve.2.contains("pw-lib:all=2.0-1"),
        "the transaction is recorded: {resolve:?}"
    );
}

/// Waits (bounded) for a child, killing it if the bound passes.
fn wait_bounded(child: &mut Child, bound: Duration) -> Option<i32> {
    let until = Instant::now() + bound;
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("patchwave apply did not finish within {bound:?}");
}

#[test]
fn apt_a_host_killed_while_dpkg_unpacks_is_repaired_by_the_next_apply() {
    let _s = apt_serial();
    let w = apt_world();
    let f = &w.fleet;
    w.apt.publish(MAIN, &[Deb::new("pw-crash", "2.0-1")]);
    let repo = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // Two hosts, one error allowed: h2 is cut off, h3 is patched, the run
    // finishes (with an error) and the next apply starts a new run.
    write_repo(
        repo.path(),
        f,
        &["h2", "h3"],
        &["pw-crash"],
        "block",
        "{waves: [\"100%\"], maxErrors: 1}",
    );
    f.ssh_ok("h2", &["touch", "/etc/pw-slow"]);
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("apply.log");
    let log_file = fs::File::create(&log).unwrap();
    let mut child = support::patchwave()
        .args(["apply", "--repo"])
        .arg(repo.path())
        .arg("--state-dir")
        .arg(state.path())
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    let said = || fs::read_to_string(&log).unwrap_or_default();
    // Until dpkg has unpacked pw-crash 2.0-1 over 1.0-1 and waits in the old
    // postrm: the package is half-installed then.
    let until = Instant::now() + Duration::from_secs(180);
    loop {
        if dpkg("h2", "pw-crash").starts_with("1.0-1 iH") {
            break;
        }
        if Instant::now() > until || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "pw-crash never became half-installed on h2: {}\n{}",
                dpkg("h2", "pw-crash"),
                said()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    f.ssh_ok("h2", &["test", "-e", "/run/pw-crash-waiting"]);
    // Every process of h2 dies at once, as in a power cut: `kill -9 -1` run
    // by h2's root inside h2's own PID namespace reaches only that namespace
    // (its PID 1, sshd, is spared by the kernel and keeps the host up).
    let _ = f.ssh("h2", &["kill", "-9", "-1"]);
    let code = wait_bounded(&mut child, Duration::from_secs(300));
    // Within the error budget the run finishes (exit 0) with h2 failed.
    assert_eq!(code, Some(0), "{}", said());
    assert!(
        said().contains("1 patched, 1 failed"),
        "h2 failed within the budget, h3 was patched: {}",
        said()
    );
    let out = f.ssh("h2", &["pgrep", "-x", "dpkg"]);
    assert!(!out.status.success(), "no dpkg survives on h2");
    assert_eq!(dpkg("h2", "pw-crash"), "1.0-1 iHR");
    assert_eq!(dpkg("h3", "pw-crash"), "2.0-1 ii");
    let first = run_records(state.path())[0].clone();
    let first_id = first["id"].as_str().unwrap().to_string();
    let h2 = host_entry(&first, "h2");
    assert_eq!(h2["outcome"]["step"], "install", "{h2}");
    f.ssh_ok("h2", &["rm", "/etc/pw-slow"]);

    // A patchwave without that journal finds someone else's unfinished work
    // and refuses it, changing nothing.
    let stranger = tempfile::tempdir().unwrap();
    let out = apply(repo.path(), stranger.path(), &["--host", "h2"]);
    assert_eq!(out.code, Some(3), "{}", out.said);
    assert!(
        out.said
            .contains("the package database has unfinished work from before (`dpkg --audit`)")
            && out.said.contains("no install of its own")
            && out.said.contains("dpkg --configure -a"),
        "{}",
        out.said
    );
    assert_eq!(dpkg("h2", "pw-crash"), "1.0-1 iHR");

    // The next apply with the journal repairs h2 first, then patches it.
    let out = apply(repo.path(), state.path(), &[]);
    assert_eq!(out.code, Some(0), "{}", out.said);
    assert!(out.said.contains("g/h2: repair ok"), "{}", out.said);
    assert_eq!(dpkg("h2", "pw-crash"), "2.0-1 ii");
    assert_eq!(f.ssh_ok("h2", &["dpkg", "--audit"]).trim(), "");
    let runs = run_records(state.path());
    assert_eq!(runs.len(), 2);
    let h2 = host_entry(&runs[1], "h2");
    assert_eq!(h2["outcome"]["state"], "patched", "{h2}");
    let names: Vec<String> = steps(h2).into_iter().map(|(s, _, _)| s).collect();
    assert_eq!(
        names,
        ["connect", "repair", "resolve", "install", "verify"],
        "{h2}"
    );
    let (_, ok, said) = steps(h2).into_iter().nth(1).unwrap();
    assert!(ok);
    assert!(
        said.contains(&format!("run {first_id} was interrupted"))
            && said.contains("pw-crash 1.0-1 (half-installed, reinst-required)")
            && said.contains(
                "installed again at the planned version by the install that follows: pw-crash 2.0-1"
            ),
        "{said}"
    );
}

// ---------------------------------------------------------------- RPM hosts

struct RpmWorld {
    fleet: Fleet,
    repo: Mutex<RpmRepo>,
    _dir: tempfile::TempDir,
    _server: FileServer,
}

static RPM: OnceLock<RpmWorld> = OnceLock::new();
static RPM_SERIAL: Mutex<()> = Mutex::new(());

fn rpm_serial() -> MutexGuard<'static, ()> {
    RPM_SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// h1 runs dnf and h2 zypper (the blocked dependency); h3 runs dnf (the crash).
fn rpm_world() -> &'static RpmWorld {
    RPM.get_or_init(|| {
        let fleet = Fleet::start(Base::Rpm, RPM_SUBNET, 3);
        let dir = tempfile::tempdir().unwrap();
        let mut repo = RpmRepo::new(dir.path());
        // rpm runs scriptlets with /bin/sh, which the Debian base has but its
        // rpm database does not know about.
        let mut sh = Rpm::new("pw-sh-provider", "1", "1");
        sh.provides = Some("/bin/sh".into());
        // pw-crash 1.0-1's %preun stalls its erasure while /etc/pw-slow
        // exists: in an upgrade rpm has installed 2.0-1 by then.
        let mut crash = Rpm::new("pw-crash", "1.0", "1");
        crash.preun =
            Some("if [ -e /etc/pw-slow ]; then touch /run/pw-crash-waiting; sleep 600; fi".into());
        repo.publish(
            &[
                Rpm::new("pw-lib", "1.0", "1"),
                Rpm::new("pw-ok", "1.0", "1"),
                Rpm::new("pw-other", "1.0", "1"),
                sh,
                crash,
            ],
            &[],
        );
        let server = FileServer::start(dir.path());
        let url = format!("{}/repo", server.url());
        let rhel = "ID=patchwave-rpmtest\nID_LIKE=\"rhel fedora\"\nVERSION_ID=9\n";
        let suse = "ID=opensuse-leap\nID_LIKE=\"suse opensuse\"\nVERSION_ID=15.6\n";
        for (h, os) in [("h1", rhel), ("h2", suse), ("h3", rhel)] {
            fleet.write(h, "/etc/os-release", os);
            fleet.ssh_ok(
                h,
                &[
                    "mkdir",
                    "-p",
                    "/etc/yum.repos.d",
                    "/etc/dnf/vars",
                    "/etc/rpm",
                ],
            );
            fleet.write(h, "/etc/rpm/macros", "%_dbpath /var/lib/rpm\n");
        }
        for h in ["h1", "h3"] {
            fleet.write(h, "/etc/dnf/vars/releasever", "9\n");
            fleet.write(
                h,
                "/etc/yum.repos.d/testfleet.repo",
                &RpmRepo::dnf_repo_file(&url),
            );
        }
        fleet.ssh_ok(
            "h1",
            &["dnf", "-q", "-y", "install", "pw-lib-1.0-1", "pw-ok-1.0-1"],
        );
        fleet.ssh_ok(
            "h2",
            &[
                "zypper",
                "--non-interactive",
                "addrepo",
                "--no-gpgcheck",
                &url,
                "testfleet",
            ],
        );
        fleet.ssh_ok(
            "h2",
            &[
                "zypper",
                "--non-interactive",
                "install",
                "pw-lib = 1.0-1",
                "pw-ok = 1.0-1",
            ],
        );
        fleet.ssh_ok(
            "h3",
            &[
                "dnf",
                "-q",
                "-y",
                "install",
                "pw-sh-provider",
                "pw-crash-1.0-1",
                "pw-other-1.0-1",
            ],
        );
        RpmWorld {
            fleet,
            repo: Mutex::new(repo),
            _dir: dir,
            _server: server,
        }
    })
}

/// Every installed `VERSION-RELEASE` of a package (one a line), or `not installed`.
fn rpm(host: &str, package: &str) -> String {
    let out = rpm_world().fleet.ssh(
        host,
        &["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}\n", package],
    );
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    } else {
        "not installed".to_string()
    }
}

#[test]
fn dnf_and_zypper_a_blocked_dependency_refuses_the_host_and_allow_as_dependency_patches_it() {
    let _s = rpm_serial();
    let w = rpm_world();
    let mut lib = Rpm::new("pw-lib", "2.0", "1");
    lib.requires = Some("pw-blocked >= 1.0".into());
    w.repo.lock().unwrap().publish(
        &[
            lib,
            Rpm::new("pw-blocked", "1.0", "1"),
            Rpm::new("pw-ok", "1.1", "1"),
        ],
        &[],
    );

    let repo_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_repo(
        repo_dir.path(),
        &w.fleet,
        &["h1", "h2"],
        &["pw-lib", "pw-ok"],
        "block",
        "{waves: [\"100%\"]}",
    );
    let out = apply(repo_dir.path(), state.path(), &[]);
    assert_eq!(out.code, Some(3), "{}", out.said);
    let run = &run_records(state.path())[0];
    for h in ["h1", "h2"] {
        let entry = host_entry(run, h);
        assert_eq!(entry["outcome"]["step"], "resolve", "{h}: {entry}");
        let error = entry["outcome"]["error"].as_str().unwrap();
        assert!(
            error.contains(
                "pw-blocked 1.0-1 is blocked by baseline `b` (not certified) and would be installed as a dependency of pw-lib 2.0-1"
            ),
            "{h}: {error}"
        );
        assert_eq!(rpm(h, "pw-blocked"), "not installed", "{h}");
        assert_eq!(rpm(h, "pw-lib"), "1.0-1", "{h}");
        assert_eq!(rpm(h, "pw-ok"), "1.0-1", "{h}");
    }

    let allow_dir = tempfile::tempdir().unwrap();
    let allow_state = tempfile::tempdir().unwrap();
    write_repo(
        allow_dir.path(),
        &w.fleet,
        &["h1", "h2"],
        &["pw-lib", "pw-ok"],
        "allowAsDependency",
        "{waves: [\"100%\"]}",
    );
    let out = apply(allow_dir.path(), allow_state.path(), &[]);
    assert_eq!(out.code, Some(0), "{}", out.said);
    for h in ["h1", "h2"] {
        assert_eq!(rpm(h, "pw-lib"), "2.0-1", "{h}");
        assert_eq!(rpm(h, "pw-blocked"), "1.0-1", "{h}");
        assert_eq!(rpm(h, "pw-ok"), "1.1-1", "{h}");
    }
}

#[test]
fn dnf_a_host_killed_between_install_and_erase_is_repaired_by_the_next_apply() {
    let _s = rpm_serial();
    let w = rpm_world();
    let f = &w.fleet;
    w.repo
        .lock()
        .unwrap()
        .publish(&[Rpm::new("pw-crash", "2.0", "1")], &[]);
    let repo = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_repo(
        repo.path(),
        f,
        &["h3"],
        &["pw-crash", "pw-other"],
        "block",
        "{waves: [\"100%\"]}",
    );
    f.ssh_ok("h3", &["touch", "/etc/pw-slow"]);
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("apply.log");
    let log_file = fs::File::create(&log).unwrap();
    let mut child = support::patchwave()
        .args(["apply", "--repo"])
        .arg(repo.path())
        .arg("--state-dir")
        .arg(state.path())
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    let said = || fs::read_to_string(&log).unwrap_or_default();
    // Until rpm has installed 2.0-1 and waits in 1.0-1's %preun.
    let until = Instant::now() + Duration::from_secs(180);
    while !f
        .ssh("h3", &["test", "-e", "/run/pw-crash-waiting"])
        .status
        .success()
    {
        if Instant::now() > until || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "rpm never reached pw-crash 1.0-1's %preun on h3\n{}",
                said()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    // Every process of h3 dies at once (see the apt test: only h3's own PID
    // namespace is reached).
    let _ = f.ssh("h3", &["kill", "-9", "-1"]);
    let code = wait_bounded(&mut child, Duration::from_secs(300));
    assert_eq!(code, Some(3), "its only host failed: {}", said());
    assert!(!f.ssh("h3", &["pgrep", "-x", "dnf"]).status.success());
    assert_eq!(
        rpm("h3", "pw-crash"),
        "1.0-1\n2.0-1",
        "both copies are in the rpm database"
    );
    let id = run_records(state.path())[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    f.ssh_ok("h3", &["rm", "/etc/pw-slow"]);
    // rpm counts 2.0-1 as installed now, so pw-crash is not planned again; a
    // newer pw-other puts h3 back in the plan.
    w.repo
        .lock()
        .unwrap()
        .publish(&[Rpm::new("pw-other", "1.1", "1")], &[]);

    let stranger = tempfile::tempdir().unwrap();
    let out = apply(repo.path(), stranger.path(), &[]);
    assert_eq!(out.code, Some(3), "{}", out.said);
    assert!(
        out.said.contains("(`dnf check --duplicates`)")
            && out.said.contains("no install of its own")
            && out.said.contains("dnf remove --duplicates"),
        "{}",
        out.said
    );
    assert_eq!(rpm("h3", "pw-crash"), "1.0-1\n2.0-1");

    // The halted run, resumed: repaired first, then patched.
    let out = apply(repo.path(), state.path(), &["--resume"]);
    assert_eq!(out.code, Some(0), "{}", out.said);
    assert!(out.said.contains("g/h3: repair ok"), "{}", out.said);
    assert_eq!(rpm("h3", "pw-crash"), "2.0-1");
    assert_eq!(rpm("h3", "pw-other"), "1.1-1");
    f.ssh_ok("h3", &["dnf", "-q", "check", "--duplicates"]);
    let runs = run_records(state.path());
    assert_eq!(runs.len(), 1, "the same run, resumed");
    let h3 = host_entry(&runs[0], "h3");
    assert_eq!(h3["outcome"]["state"], "patched", "{h3}");
    let steps = steps(h3);
    let names: Vec<&str> = steps.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "connect", "resolve", "install", "connect", "repair", "resolve", "install", "verify"
        ],
        "{h3}"
    );
    let (_, ok, said) = &steps[4];
    assert!(ok);
    assert!(
        said.contains(&format!("run {id} was interrupted"))
            && said.contains("pw-crash 1.0-1 (duplicate of 2.0-1)")
            && said.contains("`dnf remove --duplicates`"),
        "{said}"
    );
}
