//! `patchwave apply` on six real apt hosts: waves in order with a canary,
//! a failing postinst halting the rollout (and rolled back), windows that
//! keep an apply from starting, and emergency runs with a recorded reason.
//! Each test uses its own package, so they share one fleet (one at a time).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use support::aptrepo::{AptRepo, Deb, MAIN, SECURITY};
use support::fleet::{Base, Fleet};
use support::git::git;
use support::http::FileServer;
use support::policy;

const HOSTS: [&str; 6] = ["h1", "h2", "h3", "h4", "h5", "h6"];
/// Packages installed on every host at 1.0-1; each test moves one of them.
const PACKAGES: [&str; 12] = [
    "pw-app",
    "pw-bad",
    "pw-urgent",
    "pw-health",
    "pw-reach",
    "pw-slow",
    "pw-boot",
    "pw-quorum",
    "pw-bad2",
    "pw-after",
    "pw-late",
    "pw-status",
];

struct World {
    fleet: Fleet,
    apt: AptRepo,
    _apt_dir: tempfile::TempDir,
    _server: FileServer,
}

static WORLD: OnceLock<World> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let fleet = Fleet::start(Base::Apt, 7, HOSTS.len());
        let apt_dir = tempfile::tempdir().unwrap();
        let apt = AptRepo::new(apt_dir.path());
        let debs: Vec<Deb> = PACKAGES.iter().map(|p| Deb::new(p, "1.0-1")).collect();
        apt.publish(MAIN, &debs);
        let server = FileServer::start(apt_dir.path());
        let sources = AptRepo::sources_list(&server.url());
        for h in HOSTS {
            fleet.write(h, "/etc/apt/sources.list", &sources);
            fleet.ssh_ok(h, &["apt-get", "update", "-q"]);
            let mut argv = vec![
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-q",
            ];
            let pins: Vec<String> = PACKAGES.iter().map(|p| format!("{p}=1.0-1")).collect();
            argv.extend(pins.iter().map(String::as_str));
            fleet.ssh_ok(h, &argv);
        }
        World {
            fleet,
            apt,
            _apt_dir: apt_dir,
            _server: server,
        }
    })
}

/// A repository whose baseline approves security updates of `package` only.
fn repo(dir: &Path, package: &str, rollout: &str, window: &str) {
    repo_with(dir, package, rollout, window, "");
}

/// The same, with more `spec` keys for the group (health checks, hooks).
fn repo_with(dir: &Path, package: &str, rollout: &str, window: &str, group_extra: &str) {
    let w = world();
    let group = policy::fleet_group("apt-hosts", &w.fleet)
        .replace("spec:\n", &format!("spec:\n{group_extra}"));
    let yaml = policy::stream(&[
        "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {name: t}\nspec: {scan: {refreshAfter: 0s}}\n",
        &group,
        &format!(
            "apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {{name: b}}
spec:
  approvalRules:
    - {{name: security, classifications: [security], packages: [{package}]}}
"
        ),
        &format!(
            "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {{name: r}}\nspec: {rollout}\n"
        ),
        window,
    ]);
    fs::write(dir.join("fleet.yaml"), yaml).unwrap();
}

struct Applied {
    code: Option<i32>,
    stdout: String,
    stderr: String,
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
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `apply --format json` started in the background, and its event stream.
fn spawn_apply_json(repo: &Path, state: &Path) -> (std::process::Child, std::process::ChildStdout) {
    let mut child = support::patchwave()
        .args(["apply", "--format", "json", "--repo"])
        .arg(repo)
        .arg("--state-dir")
        .arg(state)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    (child, stdout)
}

/// The version dpkg has installed, and its status.
fn installed(host: &str, package: &str) -> String {
    world()
        .fleet
        .ssh_ok(
            host,
            &[
                "dpkg-query",
                "-W",
                "-f",
                "${Version} ${db:Status-Abbrev}",
                package,
            ],
        )
        .trim()
        .to_string()
}

/// The single run record in the state directory for the group.
fn run_records(state: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let dir = state.join("runs");
    let Ok(entries) = fs::read_dir(&dir) else {
        return out;
    };
    // Only records: a killed run may leave a temporary file behind.
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for p in paths {
        out.push(serde_json::from_slice(&fs::read(p).unwrap()).unwrap());
    }
    out
}

#[test]
fn canary_first_then_the_rest_each_at_the_planned_version() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-app", "1.1-1")]);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    repo(
        dir.path(),
        "pw-app",
        "{waves: [1, \"50%\", \"100%\"], maxConcurrency: 2}",
        policy::ALWAYS_OPEN_WINDOW,
    );

    let out = apply(dir.path(), state.path(), &["--format", "json"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for e in &events {
        support::output_schema::assert_valid("Event", e);
    }
    // The last event carries the whole run record beside the run's id.
    let finished = events.iter().find(|e| e["event"] == "runFinished").unwrap();
    assert_eq!(finished["record"]["id"], finished["run"], "{finished}");
    assert_eq!(
        finished["record"]["waves"].as_array().map(Vec::len),
        Some(3),
        "{finished}"
    );
    // Hosts start wave by wave: every host of wave n finishes before wave n+1 starts.
    let mut order: Vec<(u64, String)> = Vec::new();
    let mut finished_before_next = true;
    let mut current_wave = 0;
    let mut open_hosts = 0i32;
    for e in &events {
        match e["event"].as_str().unwrap() {
            "hostStarted" => {
                let wave = e["wave"].as_u64().unwrap();
                if wave != current_wave {
                    finished_before_next &= open_hosts == 0;
                    current_wave = wave;
                }
                open_hosts += 1;
                order.push((wave, e["host"].as_str().unwrap().to_string()));
            }
            "hostFinished" => open_hosts -= 1,
            _ => {}
        }
    }
    assert!(
        finished_before_next,
        "a wave started before the previous one finished: {events:?}"
    );
    let per_wave = |n: u64| order.iter().filter(|(w, _)| *w == n).count();
    assert_eq!(
        (per_wave(1), per_wave(2), per_wave(3)),
        (1, 2, 3),
        "{order:?}\n{}\n{}",
        out.stdout,
        out.stderr
    );

    // The run record shows the order and the before/after versions.
    let runs = run_records(state.path());
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["outcome"]["state"], "succeeded", "{run}");
    let waves = run["waves"].as_array().unwrap();
    assert_eq!(
        waves
            .iter()
            .map(|w| w["hosts"].as_array().unwrap().len())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    for h in waves.iter().flat_map(|w| w["hosts"].as_array().unwrap()) {
        assert_eq!(h["outcome"]["state"], "patched", "{h}");
        assert_eq!(h["before"]["pw-app:all"], "1.0-1");
        assert_eq!(h["after"]["pw-app:all"], "1.1-1");
        let steps: Vec<&str> = h["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["connect", "resolve", "install", "verify"], "{h}");
    }
    for h in HOSTS {
        assert_eq!(installed(h, "pw-app"), "1.1-1 ii", "{h}");
    }
    // Nothing is left: a second apply does nothing.
    let again = apply(dir.path(), state.path(), &[]);
    assert_eq!(again.code, Some(0));
    assert!(
        again.stdout.contains("group apt-hosts: nothing to do"),
        "{}",
        again.stdout
    );
}

#[test]
fn a_failing_canary_halts_the_rollout_and_is_rolled_back() {
    let _s = serial();
    let w = world();
    let mut bad = Deb::new("pw-bad", "2.0-1");
    bad.postinst = Some("echo 'pw-bad: configuration failed' >&2\nexit 1".into());
    w.apt.publish(SECURITY, &[bad]);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    repo(
        dir.path(),
        "pw-bad",
        "{waves: [1, \"100%\"], maxErrors: 0, onFailure: rollback}",
        policy::ALWAYS_OPEN_WINDOW,
    );
    let dpkg_before: Vec<String> = HOSTS
        .iter()
        .map(|h| {
            w.fleet.ssh_ok(
                h,
                &[
                    "dpkg-query",
                    "-W",
                    "-f",
                    "${Package} ${Version} ${db:Status-Abbrev}\n",
                ],
            )
        })
        .collect();

    let out = apply(dir.path(), state.path(), &[]);
    assert_eq!(out.code, Some(3), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("apt-hosts: HALTED: 1 error exceed maxErrors 0"),
        "{}",
        out.stdout
    );
    let run = &run_records(state.path())[0];
    assert_eq!(run["outcome"]["state"], "halted", "{run}");
    let waves = run["waves"].as_array().unwrap();
    let canary = &waves[0]["hosts"][0];
    let canary_name = canary["host"].as_str().unwrap();
    assert_eq!(canary["outcome"]["state"], "rolledBack", "{canary}");
    assert_eq!(canary["outcome"]["step"], "install");
    assert!(
        canary["outcome"]["error"]
            .as_str()
            .unwrap()
            .contains("pw-bad: configuration failed"),
        "{canary}"
    );
    assert_eq!(canary["after"]["pw-bad:all"], "1.0-1");
    // The canary is back on its before-version, configured.
    assert_eq!(installed(canary_name, "pw-bad"), "1.0-1 ii");
    // No other host was touched: their dpkg databases are as they were.
    for (i, h) in HOSTS.iter().enumerate() {
        if *h == canary_name {
            continue;
        }
        let now = w.fleet.ssh_ok(
            h,
            &[
                "dpkg-query",
                "-W",
                "-f",
                "${Package} ${Version} ${db:Status-Abbrev}\n",
            ],
        );
        assert_eq!(now, dpkg_before[i], "{h} was touched");
        let rec = waves
            .iter()
            .flat_map(|w| w["hosts"].as_array().unwrap())
            .find(|x| x["host"] == *h)
            .unwrap();
        assert_eq!(rec["outcome"]["state"], "skipped", "{rec}");
    }
    // A halted rollout stays halted until resumed.
    let again = apply(dir.path(), state.path(), &[]);
    assert_eq!(again.code, Some(3), "{}", again.stdout);
    assert!(again.stdout.contains("halted"), "{}", again.stdout);
    // The failure is a FAILED patch state in the plan of the canary.
    let plan = support::patchwave()
        .args(["plan", "--format", "json", "--repo"])
        .arg(dir.path())
        .arg("--state-dir")
        .arg(state.path())
        .args(["--host", canary_name])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let host = &doc["groups"][0]["waves"][0]["hosts"][0];
    assert_eq!(host["patchStates"]["FAILED"], 1, "{host}");
}

#[test]
fn outside_a_window_nothing_changes_until_an_emergency_run() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-urgent", "1.1-1")]);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let (later, opens) = policy::later_window();
    repo(dir.path(), "pw-urgent", "{waves: [\"100%\"]}", &later);

    let out = apply(dir.path(), state.path(), &[]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "group apt-hosts: outside maintenance windows; nothing applied; next window opens {opens}"
        )),
        "{}",
        out.stdout
    );
    assert!(run_records(state.path()).is_empty());
    for h in HOSTS {
        assert_eq!(installed(h, "pw-urgent"), "1.0-1 ii");
    }

    let out = apply(dir.path(), state.path(), &["--now"]);
    assert_eq!(
        out.code,
        Some(1),
        "--now (the old name of --emergency) without --reason is a usage error (1, never 2): {}",
        out.stderr
    );
    let out = apply(
        dir.path(),
        state.path(),
        &[
            "--emergency",
            "--reason",
            "CVE-2026-0001 exploited in the wild",
        ],
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let run = &run_records(state.path())[0];
    assert_eq!(
        run["trigger"]["emergencyReason"],
        "CVE-2026-0001 exploited in the wild"
    );
    for h in HOSTS {
        assert_eq!(installed(h, "pw-urgent"), "1.1-1 ii");
    }
}

#[test]
fn a_health_check_failing_on_one_host_of_wave_2_halts_before_wave_3() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-health", "1.1-1")]);
    // h3 (in wave 2) is unhealthy once patched.
    w.fleet.write("h3", "/etc/pw-unhealthy", "yes\n");
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    repo_with(
        dir.path(),
        "pw-health",
        "{waves: [{size: 1, soak: 2s}, 3, \"100%\"]}",
        policy::ALWAYS_OPEN_WINDOW,
        "  healthChecks:
    - {name: marker, command: [test, \"!\", -e, /etc/pw-unhealthy], retries: 1, interval: 1s}
  hooks:
    pre:
      - command: [sh, -c, 'printf %s \"$1\" > /tmp/pw-pre', sh, '{{ run.wave }} {{ host.name }} {{ plan.packages | join(\",\") }}']
",
    );
    let out = apply(dir.path(), state.path(), &[]);
    w.fleet.ssh_ok("h3", &["rm", "-f", "/etc/pw-unhealthy"]);
    assert_eq!(out.code, Some(3), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("apt-hosts: soaking 2s after wave 1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("apt-hosts/h3: health FAILED")
            && out.stdout.contains("health check `marker` failed 2 times"),
        "{}",
        out.stdout
    );
    let run = &run_records(state.path())[0];
    let outcome = |h: &str| {
        run["waves"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| w["hosts"].as_array().unwrap())
            .find(|x| x["host"] == h)
            .unwrap()["outcome"]["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        ["h1", "h2", "h3", "h4", "h5", "h6"].map(outcome),
        [
            "patched", "patched", "failed", "skipped", "skipped", "skipped"
        ]
    );
    // Wave 3 was never started: its hosts keep the old version.
    for h in ["h4", "h5", "h6"] {
        assert_eq!(installed(h, "pw-health"), "1.0-1 ii");
    }
    // The pre hook ran on each started host, its arguments rendered one by one.
    assert_eq!(
        w.fleet.ssh_ok("h1", &["cat", "/tmp/pw-pre"]),
        "1 h1 pw-health=1.1-1"
    );
    assert_eq!(
        w.fleet.ssh_ok("h2", &["cat", "/tmp/pw-pre"]),
        "2 h2 pw-health=1.1-1"
    );
}

#[test]
fn a_host_that_goes_unreachable_mid_rollout_counts_as_an_error_and_blocks_no_one() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-reach", "1.1-1")]);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // The canary's pre hook sleeps, so h5 can be frozen after the scan and
    // before wave 2 reaches it.
    repo_with(
        dir.path(),
        "pw-reach",
        "{waves: [1, \"100%\"], maxErrors: 1}",
        policy::ALWAYS_OPEN_WINDOW,
        "  hooks:\n    pre:\n      - command: [sh, -c, 'if [ \"$1\" = h1 ]; then sleep 3; fi', sh, '{{ host.name }}']\n",
    );
    let (mut child, stdout) = spawn_apply_json(dir.path(), state.path());
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("\"hostStarted\"") && line.contains("\"h1\"") {
            w.fleet.ctl("hang", "h5");
            break;
        }
    }
    seen.extend(lines.map(|l| l.unwrap()));
    let status = child.wait().unwrap();
    w.fleet.ctl("unhang", "h5");
    let all = seen.join("\n");
    assert_eq!(status.code(), Some(0), "{all}");
    for line in seen.iter().filter(|l| l.starts_with('{')) {
        support::output_schema::assert_valid("Event", &serde_json::from_str(line).unwrap());
    }
    let run = &run_records(state.path())[0];
    assert_eq!(run["outcome"]["state"], "finishedWithErrors", "{run}");
    assert_eq!(run["errors"], 1);
    for h in ["h1", "h2", "h3", "h4", "h6"] {
        assert_eq!(installed(h, "pw-reach"), "1.1-1 ii", "{h}");
    }
    let h5 = run["waves"][1]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["host"] == "h5")
        .unwrap();
    assert_eq!(h5["outcome"]["state"], "failed", "{h5}");
    assert_eq!(h5["outcome"]["step"], "connect", "{h5}");
    assert_eq!(installed("h5", "pw-reach"), "1.0-1 ii");
}

#[test]
fn a_killed_apply_resumes_without_installing_anything_twice() {
    let _s = serial();
    let w = world();
    let mut slow = Deb::new("pw-slow", "1.1-1");
    slow.postinst = Some("sleep 1".into());
    w.apt.publish(SECURITY, &[slow]);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    repo(
        dir.path(),
        "pw-slow",
        "{waves: [\"100%\"], maxConcurrency: 1}",
        policy::ALWAYS_OPEN_WINDOW,
    );
    let (mut child, stdout) = spawn_apply_json(dir.path(), state.path());
    let mut finished = 0;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        if line.unwrap().contains("\"hostFinished\"") {
            finished += 1;
            if finished == 2 {
                break;
            }
        }
    }
    // SIGKILL: no chance to tidy up.
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = &run_records(state.path())[0];
    assert_eq!(killed["outcome"]["state"], "running", "{killed}");

    let out = apply(dir.path(), state.path(), &[]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("resuming run"), "{}", out.stdout);
    let runs = run_records(state.path());
    assert_eq!(runs.len(), 1, "the same run was resumed");
    assert_eq!(runs[0]["outcome"]["state"], "succeeded", "{}", runs[0]);
    for h in HOSTS {
        assert_eq!(installed(h, "pw-slow"), "1.1-1 ii", "{h}");
        // dpkg configured 1.1-1 exactly once on every host.
        let log = w.fleet.ssh_ok(h, &["cat", "/var/log/dpkg.log"]);
        let configured = log
            .lines()
            .filter(|l| l.contains("status installed pw-slow:all 1.1-1"))
            .count();
        assert_eq!(configured, 1, "{h}: {log}");
    }
}

#[test]
fn reboot_always_reboots_waits_for_the_host_and_verifies_again() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-boot", "1.1-1")]);
    // The test hosts have no init system: their `reboot` ends the host's own
    // PID 1 (sshd, in the host's PID namespace), and the fleet boots it again.
    w.fleet
        .write("h6", "/usr/sbin/reboot", "#!/bin/sh\nkill -TERM 1\n");
    w.fleet.ssh_ok("h6", &["chmod", "755", "/usr/sbin/reboot"]);
    let boot_before = w
        .fleet
        .ssh_ok("h6", &["cat", "/proc/sys/kernel/random/boot_id"]);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    repo(
        dir.path(),
        "pw-boot",
        "{waves: [\"100%\"]}",
        policy::ALWAYS_OPEN_WINDOW,
    );
    let path = dir.path().join("fleet.yaml");
    let yaml = fs::read_to_string(&path).unwrap().replace(
        "spec:\n  approvalRules:",
        "spec:\n  reboot: always\n  approvalRules:",
    );
    fs::write(&path, yaml).unwrap();

    let out = apply(dir.path(), state.path(), &["--host", "h6"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let runs = run_records(state.path());
    let run = &runs[0];
    let h6 = &run["waves"][0]["hosts"][0];
    let steps: Vec<&str> = h6["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "connect", "resolve", "install", "verify", "reboot", "verify"
        ],
        "{h6}"
    );
    assert_eq!(h6["outcome"]["state"], "patched");
    let boot_after = w
        .fleet
        .ssh_ok("h6", &["cat", "/proc/sys/kernel/random/boot_id"]);
    assert_ne!(boot_before, boot_after, "the host booted again");
    assert_eq!(installed("h6", "pw-boot"), "1.1-1 ii");
    // Only h6 was selected.
    assert_eq!(installed("h5", "pw-boot"), "1.0-1 ii");
}

#[test]
fn one_at_a_time_sets_never_have_two_hosts_down_together() {
    let _s = serial();
    let w = world();
    let mut slow = Deb::new("pw-quorum", "1.1-1");
    slow.postinst = Some("sleep 1".into());
    w.apt.publish(SECURITY, &[slow]);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    repo(
        dir.path(),
        "pw-quorum",
        "{waves: [\"100%\"], maxConcurrency: 6, oneAtATime: [cluster]}",
        policy::ALWAYS_OPEN_WINDOW,
    );
    // h1-h3 form one quorum cluster, h4-h6 another.
    let path = dir.path().join("fleet.yaml");
    let mut yaml = fs::read_to_string(&path).unwrap();
    for (i, h) in HOSTS.iter().enumerate() {
        let cluster = if i < 3 { "a" } else { "b" };
        let line = format!("    - name: {h}\n");
        yaml = yaml.replace(
            &line,
            &format!("{line}      labels: {{cluster: {cluster}}}\n"),
        );
    }
    fs::write(&path, yaml).unwrap();

    let out = apply(dir.path(), state.path(), &["--format", "json"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let cluster = |h: &str| {
        if ["h1", "h2", "h3"].contains(&h) {
            "a"
        } else {
            "b"
        }
    };
    let mut running: Vec<String> = Vec::new();
    let mut most_at_once = 0;
    for line in out.stdout.lines().filter(|l| l.starts_with('{')) {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let host = e["host"].as_str().unwrap_or("").to_string();
        match e["event"].as_str().unwrap() {
            "hostStarted" => {
                assert!(
                    running.iter().all(|r| cluster(r) != cluster(&host)),
                    "{host} started while {running:?} ran"
                );
                running.push(host);
                most_at_once = most_at_once.max(running.len());
            }
            "hostFinished" => running.retain(|r| *r != host),
            _ => {}
        }
    }
    assert_eq!(
        most_at_once, 2,
        "one host of each cluster at a time, both clusters at once"
    );
    for h in HOSTS {
        assert_eq!(installed(h, "pw-quorum"), "1.1-1 ii");
    }
}

#[test]
fn a_run_killed_after_it_halted_stays_halted() {
    let _s = serial();
    let w = world();
    let mut bad = Deb::new("pw-bad2", "2.0-1");
    bad.postinst = Some("exit 1".into());
    w.apt.publish(SECURITY, &[bad]);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // h1 fails at once; the others are slow to start, so the run is killed
    // after the halt and before it ends.
    repo_with(
        dir.path(),
        "pw-bad2",
        "{waves: [\"100%\"], maxConcurrency: 2}",
        policy::ALWAYS_OPEN_WINDOW,
        "  hooks:\n    pre:\n      - command: [sh, -c, 'if [ \"$1\" != h1 ]; then sleep 30; fi', sh, '{{ host.name }}']\n",
    );
    let (mut child, stdout) = spawn_apply_json(dir.path(), state.path());
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        let line = line.unwrap();
        if line.contains("\"hostFinished\"") && line.contains("\"h1\"") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let run = &run_records(state.path())[0];
    assert_eq!(
        run["outcome"]["state"], "halted",
        "the halt is recorded at once: {run}"
    );

    let again = apply(dir.path(), state.path(), &[]);
    assert_eq!(again.code, Some(3), "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("halted (1 error exceed maxErrors 0)"),
        "{}",
        again.stdout
    );
    // Only h1 and the host started beside it were touched; nothing more started.
    for h in ["h3", "h4", "h5", "h6"] {
        assert_eq!(installed(h, "pw-bad2"), "1.0-1 ii", "{h}");
    }
    // h1 is left half-configured (no rollback ran). Resumed, h1 stays failed
    // and is not started again; a fresh run reports the broken database
    // instead of making it worse.
    w.apt.publish(SECURITY, &[Deb::new("pw-after", "1.1-1")]);
    let other = tempfile::tempdir().unwrap();
    repo(
        other.path(),
        "pw-after",
        "{waves: [\"100%\"]}",
        policy::ALWAYS_OPEN_WINDOW,
    );
    let fresh = tempfile::tempdir().unwrap();
    let again = apply(other.path(), fresh.path(), &["--host", "h1"]);
    assert_eq!(again.code, Some(3), "{}\n{}", again.stdout, again.stderr);
    assert!(
        again
            .stdout
            .contains("the package database has unfinished work from before (`dpkg --audit`)")
            && again.stdout.contains("pw-bad2"),
        "{}",
        again.stdout
    );
    // Repair it, or every later install on h1 would fail the same way.
    w.fleet.ssh_ok(
        "h1",
        &[
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "-q",
            "--allow-downgrades",
            "pw-bad2=1.0-1",
        ],
    );
    assert_eq!(installed("h1", "pw-bad2"), "1.0-1 ii");
}

#[test]
fn no_host_starts_after_the_windows_cutoff() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-late", "1.1-1")]);
    // A window that opened this minute (UTC) and whose last start time is
    // about 12 seconds after the apply begins.
    let now = jiff::Timestamp::now();
    let z = now.to_zoned(jiff::tz::TimeZone::UTC);
    let opened = z.timestamp().as_second() - i64::from(z.second());
    let cutoff = 7200 - (now.as_second() - opened) - 12;
    let window = format!(
        "apiVersion: patchwave.dev/v1\nkind: MaintenanceWindow\nmetadata: {{name: w}}\nspec: {{schedule: \"{} {} * * *\", duration: 2h, cutoff: {cutoff}s}}\n",
        z.minute(),
        z.hour()
    );
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // One host at a time, each held 4 s by its pre hook: only the first few start.
    repo_with(
        dir.path(),
        "pw-late",
        "{waves: [\"100%\"], maxConcurrency: 1}",
        &window,
        "  hooks:\n    pre:\n      - command: [sleep, \"4\"]\n",
    );
    let out = apply(dir.path(), state.path(), &[]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let run = &run_records(state.path())[0];
    assert_eq!(run["outcome"]["state"], "stopped", "{run}");
    let hosts: Vec<&serde_json::Value> = run["waves"][0]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let patched = hosts
        .iter()
        .filter(|h| h["outcome"]["state"] == "patched")
        .count();
    let late: Vec<&&serde_json::Value> = hosts
        .iter()
        .filter(|h| h["outcome"]["state"] == "skipped")
        .collect();
    assert!((1..=4).contains(&patched), "{run}");
    assert_eq!(patched + late.len(), 6, "{run}");
    for h in &late {
        assert!(
            h["outcome"]["reason"]
                .as_str()
                .unwrap()
                .contains("the window's last start time"),
            "{h}"
        );
        assert_eq!(
            installed(h["host"].as_str().unwrap(), "pw-late"),
            "1.0-1 ii"
        );
    }
}

#[test]
fn the_run_is_committed_to_the_status_branch_naming_the_desired_state() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-status", "1.1-1")]);
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("fleet.git");
    let work = tmp.path().join("fleet");
    fs::create_dir(&work).unwrap();
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
    git(&work, &["init", "-q", "-b", "main"]);
    repo(
        &work,
        "pw-status",
        "{waves: [\"100%\"]}",
        policy::ALWAYS_OPEN_WINDOW,
    );
    git(&work, &["add", "-A"]);
    git(
        &work,
        &["commit", "-q", "-m", "approve pw-status security updates"],
    );
    git(
        &work,
        &[
            "remote",
            "add",
            "origin",
            &format!("file://{}", remote.display()),
        ],
    );
    git(&work, &["push", "-q", "origin", "main"]);
    let desired = git(&work, &["rev-parse", "HEAD"]).trim().to_string();
    let state = tempfile::tempdir().unwrap();

    let out = apply(&work, state.path(), &["--host", "h2"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("on patchwave/status and pushed"),
        "{}",
        out.stdout
    );
    // On the remote's status branch; the work tree and main untouched.
    assert_eq!(git(&work, &["status", "--porcelain"]), "");
    assert_eq!(git(&remote, &["rev-parse", "main"]).trim(), desired);
    let host = git(&remote, &["show", "patchwave/status:status/hosts/h2.yaml"]);
    // The host file shows the new version, what the run changed, and compliance.
    assert!(host.contains("\n  \"pw-status:all\": 1.1-1\n"), "{host}");
    assert!(host.contains("\"pw-status:all\": 1.0-1 → 1.1-1"), "{host}");
    assert!(host.contains("compliance: compliant\n"), "{host}");
    let runs = git(
        &remote,
        &["ls-tree", "--name-only", "patchwave/status", "status/runs/"],
    );
    let run_file = runs.lines().next().unwrap().to_string();
    let run = git(&remote, &["show", &format!("patchwave/status:{run_file}")]);
    assert!(run.contains(&format!("desiredCommit: {desired}")), "{run}");
    assert!(run.contains("state: patched"), "{run}");
    let message = git(
        &remote,
        &[
            "log",
            "-1",
            "--format=%B",
            "patchwave/status",
            "--",
            "status/runs",
        ],
    );
    // First sightings travel with the status, for runners without run state.
    let seen = git(
        &remote,
        &["show", "patchwave/status:status/first-seen.yaml"],
    );
    assert!(
        seen.contains("package: pw-status\n  version: 1.1-1"),
        "{seen}"
    );
    // The group's condition is there too.
    let condition = git(
        &remote,
        &["show", "patchwave/status:status/groups/apt-hosts.yaml"],
    );
    assert!(
        condition.contains("state: Ready") && condition.contains("reason: Applied"),
        "{condition}"
    );
    assert!(
        message.contains(&format!("Desired state: {desired}")) && message.contains("succeeded"),
        "{message}"
    );
    let report = git(&remote, &["show", "patchwave/status:status/REPORT.md"]);
    assert!(report.starts_with("# Patch compliance report"), "{report}");
    assert!(
        report.contains(&format!("from desired state `{desired}`")),
        "{report}"
    );

    // `report` renders the same status from the branch, in three formats.
    let render = |format: &str| {
        let out = support::patchwave()
            .args(["report", "--format", format, "--repo"])
            .arg(&work)
            .arg("--state-dir")
            .arg(state.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let run_id = run_file
        .trim_start_matches("status/runs/")
        .trim_end_matches(".yaml")
        .to_string();
    let md = render("markdown");
    assert!(md.contains("**1 of 1 hosts compliant**"), "{md}");
    assert!(
        md.contains(&format!("| {run_id} | apt-hosts | succeeded | 1 | 0 | 0 |")),
        "{md}"
    );
    let text = render("text");
    assert!(text.contains("apt-hosts: 1/1 compliant"), "{text}");
    let html = render("html");
    assert!(
        html.contains("<h1>Patch compliance report</h1>") && html.contains(&run_id),
        "{html}"
    );
    // And for machines: the same content as JSON, and a row per host as CSV.
    let json: serde_json::Value = serde_json::from_str(&render("json")).unwrap();
    support::output_schema::assert_valid("Report", &json);
    assert_eq!(json["totals"]["compliant"], 1, "{json}");
    assert_eq!(json["totals"]["nonCompliant"], 0, "{json}");
    assert_eq!(json["runs"][0]["id"], run_id.as_str(), "{json}");
    assert_eq!(json["desiredCommit"], desired.as_str(), "{json}");
    let csv = render("csv");
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("host,group,compliance,scan,lastScan,missingCritical"),
        "{csv}"
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &row[..4],
        ["h2", "apt-hosts", "compliant", "scanned"],
        "{csv}"
    );
    assert_eq!(row[11], run_id, "{csv}");
    assert_eq!(lines.next(), None, "{csv}");
}
