//! The reconcile engine on real apt hosts (issue 15): groups roll out
//! together, and a daemon stopped during a soak leaves its run open for the
//! next start, which resumes it without installing anything twice.

mod support;

use support::daemon::Daemon;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use support::aptrepo::{Deb, SECURITY};
use support::aptworld::AptWorld;
use support::policy;

const HOSTS: [&str; 4] = ["h1", "h2", "h3", "h4"];
const PACKAGES: [&str; 8] = [
    "pw-left", "pw-right", "pw-long", "pw-open", "pw-thaw", "pw-idle", "pw-bound", "pw-inv",
];

static WORLD: OnceLock<AptWorld> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn world() -> &'static AptWorld {
    WORLD.get_or_init(|| AptWorld::start(15, HOSTS.len(), &PACKAGES))
}

fn installed(host: &str, package: &str) -> String {
    world().installed(host, package)
}

/// A HostGroup `name` of `hosts`, under baseline `b`, rollout `rollout`, window `w`.
fn group(name: &str, hosts: &[&str], rollout: &str) -> String {
    group_in(name, hosts, rollout, "w", "{}")
}

/// The same, with its windows and metadata labels given.
fn group_in(name: &str, hosts: &[&str], rollout: &str, windows: &str, labels: &str) -> String {
    let f = &world().fleet;
    let list: String = hosts
        .iter()
        .map(|h| format!("    - {{name: {h}, address: {}}}\n", f.host(h).address))
        .collect();
    format!(
        "apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {{name: {name}, labels: {labels}}}
spec:
  baseline: b
  rollout: {rollout}
  windows: [{windows}]
  connection:
    user: root
    identityFile: {id}
    knownHostsFile: {kh}
  hosts:
{list}",
        id = f.identity().display(),
        kh = f.known_hosts().display(),
    )
}

fn rollout(name: &str, soak: &str) -> String {
    format!(
        "apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {{name: {name}}}
spec: {{waves: [{{size: 1, soak: {soak}}}, \"100%\"]}}
"
    )
}

/// Security updates of `packages` approved at once.
fn baseline(packages: &[&str]) -> String {
    format!(
        "apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {{name: b}}
spec:
  approvalRules:
    - {{name: security, classifications: [security], packages: [{}]}}
",
        packages.join(", ")
    )
}

const FLEET: &str = "apiVersion: patchwave.dev/v1
kind: Fleet
metadata: {name: t}
spec: {scan: {refreshAfter: 0s}}
";

fn write_repo(dir: &Path, docs: &[&str]) {
    fs::write(dir.join("fleet.yaml"), policy::stream(docs)).unwrap();
}

/// The run records in `state`, oldest first.
fn runs(state: &Path) -> Vec<serde_json::Value> {
    let Ok(entries) = fs::read_dir(state.join("runs")) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_json::from_slice(&fs::read(p).unwrap()).unwrap())
        .collect()
}

/// Install steps recorded for `host` over every run in `state`.
fn installs_of(state: &Path, host: &str) -> usize {
    runs(state)
        .iter()
        .flat_map(|r| r["waves"].as_array().cloned().unwrap_or_default())
        .flat_map(|w| w["hosts"].as_array().cloned().unwrap_or_default())
        .filter(|h| h["host"] == host)
        .flat_map(|h| h["steps"].as_array().cloned().unwrap_or_default())
        .filter(|s| s["step"] == "install" && s["ok"] == true)
        .count()
}

#[test]
fn two_groups_soak_together_not_one_after_the_other() {
    let _s = serial();
    let w = world();
    w.apt.publish(
        SECURITY,
        &[Deb::new("pw-left", "1.1-1"), Deb::new("pw-right", "1.1-1")],
    );
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_repo(
        dir.path(),
        &[
            FLEET,
            &group("left", &["h1", "h2"], "slow"),
            &group("right", &["h3", "h4"], "slow"),
            &baseline(&["pw-left", "pw-right"]),
            &rollout("slow", "20s"),
            policy::ALWAYS_OPEN_WINDOW,
        ],
    );
    let started = Instant::now();
    let out = support::patchwave()
        .args(["apply", "-v", "--format", "json", "--repo"])
        .arg(dir.path())
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for h in HOSTS {
        let want = if ["h1", "h2"].contains(&h) {
            "pw-left"
        } else {
            "pw-right"
        };
        assert_eq!(installed(h, want), "1.1-1", "{h}");
    }
    // Each group soaks 20 s after its canary: one after the other would take
    // over 40 s; together, a little over 20.
    assert!(
        took < Duration::from_secs(35),
        "the two rollouts took {took:?}, as long as one after the other"
    );
    // Both soaks were announced before either group's second wave started.
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for e in &events {
        support::output_schema::assert_valid("Event", e);
    }
    let soaks = events.iter().filter(|e| e["event"] == "soak").count();
    let first_wave_2 = events
        .iter()
        .position(|e| e["event"] == "waveStarted" && e["wave"] == 2)
        .unwrap();
    let soaks_before = events[..first_wave_2]
        .iter()
        .filter(|e| e["event"] == "soak")
        .count();
    assert_eq!((soaks, soaks_before), (2, 2), "{stdout}");
    assert!(
        events.iter().all(|e| e["ts"].is_string()),
        "every event has its time"
    );
}

fn start_daemon(repo: &Path, state: &Path) -> (Daemon, std::process::ChildStdout) {
    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut child = support::patchwave()
        .args([
            "daemon",
            "--interval",
            "1h",
            "--log-format",
            "json",
            "--listen",
            &listen,
        ])
        .arg("--repo")
        .arg(repo)
        .arg("--state-dir")
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    (Daemon(child), out)
}

#[test]
fn sigterm_during_a_long_soak_exits_at_once_and_the_next_start_resumes() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-long", "1.1-1")]);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_repo(
        dir.path(),
        &[
            FLEET,
            &group("long", &["h1", "h2"], "ten-minutes"),
            &baseline(&["pw-long"]),
            &rollout("ten-minutes", "10m"),
            policy::ALWAYS_OPEN_WINDOW,
        ],
    );
    let (mut daemon, out) = start_daemon(dir.path(), state.path());
    // Wait for the soak to begin (bounded).
    let mut lines = BufReader::new(out).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "no soak began");
        let Some(Ok(line)) = lines.next() else {
            panic!("the daemon's output ended before the soak");
        };
        if line.contains("\"event\":\"soak\"") {
            break;
        }
    }
    let canary: Vec<&str> = HOSTS[..2]
        .iter()
        .copied()
        .filter(|h| installed(h, "pw-long") == "1.1-1")
        .collect();
    assert_eq!(canary.len(), 1, "one canary patched before the soak");
    let pid = daemon.0.id().to_string();
    let stopped = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = loop {
        if let Some(st) = daemon.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "the daemon did not exit within 30 s of SIGTERM during the soak"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0));
    // The run is still open: the canary patched, the other host pending.
    let open = runs(state.path());
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["outcome"]["state"], "running", "{}", open[0]);
    let other = if canary[0] == "h1" { "h2" } else { "h1" };
    assert_eq!(installed(other, "pw-long"), "1.0-1");

    // The run says until when it soaks: ten minutes from the canary. Time
    // passes (the record is moved to 8 s from now) and the daemon restarts:
    // it waits out the rest of the soak, then resumes the same run — the
    // other host is patched, the canary is not installed again.
    let path = fs::read_dir(state.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    let mut record: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let until: jiff::Timestamp = record["soakUntil"]
        .as_str()
        .expect("soakUntil")
        .parse()
        .unwrap();
    assert!(
        until.duration_since(jiff::Timestamp::now()) > jiff::SignedDuration::from_secs(9 * 60),
        "the soak ends {until}"
    );
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(8);
    record["soakUntil"] = serde_json::Value::String(soon.to_string());
    fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    write_repo(
        dir.path(),
        &[
            FLEET,
            &group("long", &["h1", "h2"], "ten-minutes"),
            &baseline(&["pw-long"]),
            &rollout("ten-minutes", "1s"),
            policy::ALWAYS_OPEN_WINDOW,
        ],
    );
    let (_again, _out) = start_daemon(dir.path(), state.path());
    // Still soaking: nothing more is patched before the recorded end.
    while jiff::Timestamp::now() < soon - jiff::SignedDuration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(
        installed(other, "pw-long"),
        "1.0-1",
        "a restart cut the soak short"
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while installed(other, "pw-long") != "1.1-1" {
        assert!(
            Instant::now() < deadline,
            "the resumed run did not patch {other}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while runs(state.path())[0]["outcome"]["state"] != "succeeded" {
        assert!(
            Instant::now() < deadline,
            "the resumed run did not finish: {:?}",
            runs(state.path())
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(runs(state.path()).len(), 1, "the same run, resumed");
    assert_eq!(
        installs_of(state.path(), canary[0]),
        1,
        "the canary was installed once"
    );
    assert_eq!(installs_of(state.path(), other), 1);
}

/// SSH logins a host's sshd has accepted so far.
fn logins(host: &str) -> usize {
    let log = world()
        .fleet
        .dir()
        .join("hosts")
        .join(host)
        .join("sshd.log");
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("Accepted publickey"))
        .count()
}

#[test]
fn the_daemon_starts_groups_when_a_window_opens_and_a_freeze_ends_and_is_idle_between() {
    let _s = serial();
    let w = world();
    w.apt.publish(
        SECURITY,
        &[Deb::new("pw-open", "1.1-1"), Deb::new("pw-thaw", "1.1-1")],
    );
    // Logins still landing from an earlier test's daemon (an SSH master
    // outlives the process that started it) settle first: the counts must
    // hold still for 3 s (bounded).
    let mut before = (logins("h1"), logins("h2"));
    let settle = Instant::now() + Duration::from_secs(30);
    let mut still_since = Instant::now();
    while still_since.elapsed() < Duration::from_secs(3) {
        assert!(Instant::now() < settle, "logins on h1/h2 never settled");
        std::thread::sleep(Duration::from_millis(250));
        let now = (logins("h1"), logins("h2"));
        if now != before {
            before = now;
            still_since = Instant::now();
        }
    }
    // T: a whole minute at least 25 s away (cron windows open on minutes).
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let this_minute = now.with().second(0).subsec_nanosecond(0).build().unwrap();
    let mut at = this_minute
        .checked_add(jiff::Span::new().minutes(1))
        .unwrap();
    if at.timestamp().duration_since(now.timestamp()) < jiff::SignedDuration::from_secs(25) {
        at = at.checked_add(jiff::Span::new().minutes(1)).unwrap();
    }
    let freeze_minutes = (at.timestamp().as_second() - this_minute.timestamp().as_second()) / 60;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    write_repo(
        dir.path(),
        &[
            FLEET,
            // `opening` (h1): its window opens at T.
            &group_in("opening", &["h1"], "one", "opens-at-t", "{}"),
            // `frozen` (h2): always inside its window, but frozen until T.
            &group_in("frozen", &["h2"], "one", "w", "{freeze: \"yes\"}"),
            &baseline(&["pw-open", "pw-thaw"]),
            "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: one}\nspec: {waves: [\"100%\"]}\n",
            policy::ALWAYS_OPEN_WINDOW,
            &format!(
                "apiVersion: patchwave.dev/v1\nkind: MaintenanceWindow\nmetadata: {{name: opens-at-t}}\nspec: {{schedule: \"{} {} * * *\", duration: 30m}}\n",
                at.minute(),
                at.hour()
            ),
            &format!(
                "apiVersion: patchwave.dev/v1\nkind: MaintenanceWindow\nmetadata: {{name: thaw-at-t}}\nspec:\n  kind: deny\n  schedule: \"{} {} * * *\"\n  duration: {freeze_minutes}m\n  selector: {{matchLabels: {{freeze: \"yes\"}}}}\n",
                this_minute.minute(),
                this_minute.hour()
            ),
        ],
    );
    let (_daemon, out) = start_daemon(dir.path(), state.path());
    // Collect the daemon's events as they come.
    let events: std::sync::Arc<Mutex<Vec<serde_json::Value>>> = Default::default();
    {
        let events = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    events.lock().unwrap().push(v);
                }
            }
        });
    }
    let t = at.timestamp();
    // Idle until T: both groups are waiting, no host is contacted.
    let quiet_until = t - jiff::SignedDuration::from_secs(2);
    while jiff::Timestamp::now() < quiet_until {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        (logins("h1"), logins("h2")),
        before,
        "the daemon opened SSH connections while every window was closed"
    );
    let waiting: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str().map(String::from))
        .collect();
    assert!(
        waiting.contains(&"outsideWindows".to_string()) && waiting.contains(&"frozen".to_string()),
        "{waiting:?}"
    );
    // At T, both rollouts begin within 5 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    let started = |group: &str| -> Option<jiff::Timestamp> {
        events
            .lock()
            .unwrap()
            .iter()
            .find(|e| e["event"] == "runStarted" && e["group"] == group)
            .and_then(|e| e["ts"].as_str()?.parse().ok())
    };
    loop {
        if let (Some(a), Some(b)) = (started("opening"), started("frozen")) {
            for (group, when) in [("opening", a), ("frozen", b)] {
                let late = when.duration_since(t);
                assert!(
                    late >= jiff::SignedDuration::ZERO && late < jiff::SignedDuration::from_secs(5),
                    "{group} began {late:?} after T ({t})"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rollouts did not begin at T: {:?}",
            events.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while installed("h1", "pw-open") != "1.1-1" || installed("h2", "pw-thaw") != "1.1-1" {
        assert!(Instant::now() < deadline, "the rollouts did not finish");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A waiting group's status follows the desired state: the Fleet's
/// `scan.interval` rescans its hosts on schedule while every window is
/// closed (not at every poll), and a new commit is planned from the stored
/// facts — its host documents and condition committed — without a login.
#[test]
fn a_waiting_group_is_rescanned_on_schedule_and_replanned_from_stored_facts() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-idle", "1.1-1")]);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let repo = dir.path();
    support::git::git(repo, &["init", "-q", "-b", "main"]);
    // Its only window opens on 1 January: it is closed for the whole test.
    let docs = |interval: &str, approve: &str| {
        vec![
            format!(
                "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {{name: t}}\nspec: {{scan: {{refreshAfter: 0s, interval: {interval}}}}}\n"
            ),
            group_in("waiting", &["h4"], "one", "new-year", "{}"),
            baseline(&[approve]),
            "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: one}\nspec: {waves: [\"100%\"]}\n".to_string(),
            "apiVersion: patchwave.dev/v1\nkind: MaintenanceWindow\nmetadata: {name: new-year}\nspec: {schedule: \"0 3 1 1 *\", duration: 1h}\n".to_string(),
        ]
    };
    let write = |interval: &str, approve: &str| {
        let d = docs(interval, approve);
        write_repo(repo, &d.iter().map(String::as_str).collect::<Vec<_>>());
    };
    write("15s", "pw-nothing");
    support::git::commit(repo, "first", None);
    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut child = support::patchwave()
        .args(["daemon", "--interval", "2s", "--log-format", "json"])
        .args(["--listen", &listen])
        .arg("--repo")
        .arg(repo)
        .arg("--state-dir")
        .arg(state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let _daemon = Daemon(child);
    let events: std::sync::Arc<Mutex<Vec<(Instant, serde_json::Value)>>> = Default::default();
    {
        let events = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    events.lock().unwrap().push((Instant::now(), v));
                }
            }
        });
    }
    let observed = |facts: &str| -> Vec<(Instant, serde_json::Value)> {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| e["event"] == "observed" && e["facts"] == facts)
            .cloned()
            .collect()
    };
    let wait_for = |what: &str, secs: u64, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // Never scanned: scanned at once, though no window is open; then again
    // when the interval has passed — not at each 2 s poll.
    wait_for("a first scan", 90, &|| !observed("scan").is_empty());
    wait_for("a second scan", 90, &|| observed("scan").len() >= 2);
    let scans = observed("scan");
    let gap = scans[1].0 - scans[0].0;
    assert!(
        gap >= Duration::from_secs(13),
        "rescanned after {gap:?}, before scan.interval (15s)"
    );
    let show = |path: &str| support::git::git(repo, &["show", &format!("patchwave/status:{path}")]);
    let first = support::git::git(repo, &["rev-parse", "HEAD"])
        .trim()
        .to_string();
    assert!(
        show("status/groups/waiting.yaml").contains(&format!("observedCommit: {first}")),
        "{}",
        show("status/groups/waiting.yaml")
    );
    assert!(!show("status/hosts/h4.yaml").contains("package: pw-idle:"));
    // A new commit approves pw-idle (and stops the rescans): planned from
    // the stored facts, with no login on the host.
    let logins_before = logins("h4");
    write("1h", "pw-idle");
    support::git::commit(repo, "approve pw-idle", None);
    let second = support::git::git(repo, &["rev-parse", "HEAD"])
        .trim()
        .to_string();
    wait_for("a plan from stored facts", 30, &|| {
        observed("stored")
            .iter()
            .any(|(_, e)| e["commit"] == second.as_str())
    });
    // The event comes before the status commit: wait for that too.
    wait_for("the condition of the new commit", 30, &|| {
        show("status/groups/waiting.yaml").contains(&format!("observedCommit: {second}"))
    });
    let stored = observed("stored");
    let (_, e) = stored.last().unwrap();
    assert_eq!(
        (e["hosts"].as_u64(), e["toChange"].as_u64()),
        (Some(1), Some(1)),
        "{e}"
    );
    let condition = show("status/groups/waiting.yaml");
    assert!(
        condition.contains(&format!("observedCommit: {second}"))
            && condition.contains("reason: OutsideWindow")
            && condition.contains("1 host(s) to patch"),
        "{condition}"
    );
    let host = show("status/hosts/h4.yaml");
    assert!(
        host.contains("package: pw-idle:") && host.contains("available: 1.1-1"),
        "{host}"
    );
    // Later polls find nothing new: no more plans, no more scans, no login.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        observed("stored").len(),
        stored.len(),
        "planned again with nothing new"
    );
    assert_eq!(
        observed("scan").len(),
        scans.len(),
        "rescanned under a 1h interval"
    );
    assert_eq!(
        logins("h4"),
        logins_before,
        "the daemon logged in to plan a new commit"
    );
    assert_eq!(
        installed("h4", "pw-idle"),
        "1.0-1",
        "nothing may be installed outside the window"
    );
}

/// The Fleet's `apply.concurrency` bounds the hosts patched at once across
/// groups: with 1, two groups of two hosts take turns — no two hosts' work
/// overlaps — although each group's single wave would start both its hosts
/// together, and the groups run together (as the first test shows).
#[test]
fn apply_concurrency_bounds_the_hosts_patched_at_once_across_groups() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-bound", "1.1-1")]);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // Each host's work takes at least 2 s (a pre hook), so overlap shows.
    let slow = |name: &str, hosts: &[&str]| {
        group(name, hosts, "all").replace(
            "  hosts:\n",
            "  hooks:\n    pre:\n      - command: [sleep, '2']\n  hosts:\n",
        )
    };
    write_repo(
        dir.path(),
        &[
            "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {name: t}\nspec: {scan: {refreshAfter: 0s}, apply: {concurrency: 1}}\n",
            &slow("a", &["h1", "h2"]),
            &slow("b", &["h3", "h4"]),
            &baseline(&["pw-bound"]),
            "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: all}\nspec: {waves: [\"100%\"]}\n",
            policy::ALWAYS_OPEN_WINDOW,
        ],
    );
    let out = support::patchwave()
        .args(["apply", "--repo"])
        .arg(dir.path())
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Each host's work: from its first step's start to its last step's end.
    let mut spans: Vec<(String, jiff::Timestamp, jiff::Timestamp)> = Vec::new();
    for r in runs(state.path()) {
        for h in r["waves"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| w["hosts"].as_array().unwrap())
        {
            let steps = h["steps"].as_array().unwrap();
            let at = |s: &serde_json::Value| {
                s["startedAt"]
                    .as_str()
                    .unwrap()
                    .parse::<jiff::Timestamp>()
                    .unwrap()
            };
            let start = steps.iter().map(at).min().unwrap();
            let end = steps
                .iter()
                .map(|s| {
                    at(s) + jiff::SignedDuration::from_millis(s["durationMs"].as_i64().unwrap())
                })
                .max()
                .unwrap();
            spans.push((h["host"].as_str().unwrap().to_string(), start, end));
        }
    }
    assert_eq!(spans.len(), 4, "{spans:?}");
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            assert!(
                a.2 <= b.1 || b.2 <= a.1,
                "{} and {} were patched at the same time: {spans:?}",
                a.0,
                b.0
            );
        }
    }
    for h in HOSTS {
        assert_eq!(installed(h, "pw-bound"), "1.1-1", "{h}");
    }
}

/// Hosts from an Ansible inventory in the repository (`hostsFrom`) are
/// patched like written ones: reached at their `ansible_host` as their
/// `ansible_user`, and the labels an entry gives them pick the canary wave.
#[test]
fn hosts_from_an_ansible_inventory_are_patched_and_their_labels_pick_the_canary() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-inv", "1.1-1")]);
    let f = &w.fleet;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("inventory")).unwrap();
    fs::write(
        dir.path().join("inventory/hosts.ini"),
        format!(
            "[web]\nh1 ansible_host={} ansible_user=root\nh2 ansible_host={} ansible_user=root\n",
            f.host("h1").address,
            f.host("h2").address
        ),
    )
    .unwrap();
    let group = format!(
        "apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {{name: web}}
spec:
  baseline: b
  rollout: canary
  windows: [w]
  connection:
    identityFile: {id}
    knownHostsFile: {kh}
  hostsFrom:
    - {{ansibleInventory: inventory/hosts.ini, group: web, hosts: [h1]}}
    - {{ansibleInventory: inventory/hosts.ini, group: web, hosts: [h2], labels: {{canary: \"true\"}}}}
",
        id = f.identity().display(),
        kh = f.known_hosts().display(),
    );
    write_repo(
        dir.path(),
        &[
            FLEET,
            &group,
            &baseline(&["pw-inv"]),
            "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: canary}\nspec: {waves: [{selector: {matchLabels: {canary: \"true\"}}}, \"100%\"]}\n",
            policy::ALWAYS_OPEN_WINDOW,
        ],
    );
    let out = support::patchwave()
        .args(["apply", "--repo"])
        .arg(dir.path())
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for h in ["h1", "h2"] {
        assert_eq!(installed(h, "pw-inv"), "1.1-1", "{h}");
    }
    let run = &runs(state.path())[0];
    let wave_hosts = |i: usize| -> Vec<String> {
        run["waves"][i]["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["host"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(wave_hosts(0), ["h2"], "{run}");
    assert_eq!(wave_hosts(1), ["h1"], "{run}");
}
