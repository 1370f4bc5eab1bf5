//! What the README promises about staged promotion and EmergencyChange,
//! followed from the YAML a user writes to its effect on real apt hosts:
//!
//! - a staging group's health checks are recorded by `apply`, so a prod
//!   group promoting from it (`after: 20s`, `requireHealthy: true`) withholds
//!   a patch "until" a time, approves and installs it once that time has
//!   passed, and keeps it withheld (naming the host and check) while
//!   staging's check fails; a fresh clone with only the status branch agrees;
//! - an EmergencyChange lets `apply` and the daemon patch a group outside its
//!   windows, the run record names it (with the commit that added it), and
//!   once it has expired nothing is patched.
//!
//! The tests share one fleet (h1 staging, h2 prod, h3 and h4 the emergency
//! groups) and run one at a time; each has its own repository and run state.

mod support;

use support::daemon::Daemon;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use support::aptrepo::{Deb, MAIN, SECURITY};
use support::aptworld::AptWorld;
use support::git::{commit, git};
use support::policy;

/// Installed on every host at 1.0-1; each test moves its own.
const PACKAGES: [&str; 5] = ["pw-promo", "pw-sick", "pw-em", "pw-late", "pw-daemon"];

static WORLD: OnceLock<AptWorld> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn world() -> &'static AptWorld {
    WORLD.get_or_init(|| AptWorld::start(14, 4, &PACKAGES))
}

fn installed(host: &str, package: &str) -> String {
    world().installed(host, package)
}

/// A HostGroup of the given hosts of the test fleet, with `extra` spec keys.
fn group(name: &str, hosts: &[&str], baseline: &str, window: &str, extra: &str) -> String {
    let f = &world().fleet;
    let list: String = hosts
        .iter()
        .map(|h| format!("    - {{name: {h}, address: {}}}\n", f.host(h).address))
        .collect();
    format!(
        "apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {{name: {name}}}
spec:
  baseline: {baseline}
  rollout: r
  windows: [{window}]
{extra}  connection:
    user: root
    identityFile: {id}
    knownHostsFile: {kh}
  hosts:
{list}",
        id = f.identity().display(),
        kh = f.known_hosts().display(),
    )
}

/// A baseline approving security updates of `package` at once, with `extra`.
fn baseline(name: &str, package: &str, extra: &str) -> String {
    format!(
        "apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {{name: {name}}}
spec:
  approvalRules:
    - {{name: security, classifications: [security], packages: [{package}]}}
{extra}"
    )
}

const FLEET_AND_ROLLOUT: &str = "apiVersion: patchwave.dev/v1
kind: Fleet
metadata: {name: t}
spec: {scan: {refreshAfter: 0s}}
---
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {name: r}
spec: {waves: [\"100%\"]}
";

/// Writes `docs` as the fleet repository in `dir` and commits them.
fn commit_fleet(dir: &Path, docs: &[&str], message: &str) -> String {
    if !dir.join(".git").exists() {
        git(dir, &["init", "-q", "-b", "main"]);
    }
    fs::write(dir.join("fleet.yaml"), policy::stream(docs)).unwrap();
    commit(dir, message, None);
    git(dir, &["rev-parse", "HEAD"]).trim().to_string()
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn patchwave(args: &[&str], repo: &Path, state: &Path) -> Out {
    let out = support::patchwave()
        .args(args)
        .arg("--repo")
        .arg(repo)
        .arg("--state-dir")
        .arg(state)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `package`'s decision (state, reason) on the first host of `group`'s plan.
fn decision(repo: &Path, state: &Path, group: &str, package: &str) -> (String, String) {
    let out = patchwave(&["plan", "--group", group, "--format", "json"], repo, state);
    assert!(
        matches!(out.code, Some(0) | Some(2)),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let g = &doc["groups"][0];
    let hosts = g["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["hosts"].as_array().unwrap())
        .chain(g["unchanged"].as_array().unwrap());
    for h in hosts {
        for p in h["install"]
            .as_array()
            .unwrap()
            .iter()
            .chain(h["withheld"].as_array().unwrap())
        {
            if p["name"] == package {
                return (
                    p["decision"]["state"].as_str().unwrap().to_string(),
                    p["decision"]["reason"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    panic!("{package} is not in the plan of {group}: {}", out.stdout);
}

/// A clone of `repo` that has only what git carries: main and the status
/// branch, and no run state of its own (a CI runner).
fn fresh_clone(repo: &Path, into: &Path) -> PathBuf {
    let clone = into.join("clone");
    if !clone.exists() {
        git(
            into,
            &[
                "clone",
                "-q",
                repo.to_str().unwrap(),
                clone.to_str().unwrap(),
            ],
        );
    }
    git(
        &clone,
        &[
            "fetch",
            "-q",
            "-f",
            "origin",
            "patchwave/status:patchwave/status",
        ],
    );
    clone
}

/// The only run record of `state`.
fn the_run(state: &Path) -> serde_json::Value {
    let runs: Vec<PathBuf> = fs::read_dir(state.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    serde_json::from_slice(&fs::read(&runs[0]).unwrap()).unwrap()
}

/// The `until` instant in "waiting for promotion until <instant>: …".
fn promotion_instant(reason: &str) -> jiff::Timestamp {
    let rest = reason
        .split("waiting for promotion until ")
        .nth(1)
        .unwrap_or_else(|| panic!("no 'until' in: {reason}"));
    rest.split(':')
        .take(3)
        .collect::<Vec<_>>()
        .join(":")
        .parse()
        .unwrap_or_else(|e| panic!("not an instant in {reason}: {e}"))
}

/// staging (h1, a health check on a flag file) and prod (h2) promoting
/// from it after 20 s, both inside an always-open window.
fn staged_fleet(dir: &Path, package: &str) -> String {
    commit_fleet(
        dir,
        &[
            FLEET_AND_ROLLOUT,
            policy::ALWAYS_OPEN_WINDOW,
            &group(
                "staging",
                &["h1"],
                "stg",
                "w",
                "  stage: staging\n  healthChecks:\n    - {name: flag, command: [test, -e, /etc/pw-healthy], retries: 0}\n",
            ),
            &group("prod", &["h2"], "prod", "w", "  stage: prod\n"),
            &baseline("stg", package, ""),
            &baseline(
                "prod",
                package,
                "  promotion: {from: staging, after: 20s, requireHealthy: true}\n",
            ),
        ],
        "staged fleet",
    )
}

#[test]
fn prod_promotes_a_patch_once_it_ran_healthy_on_staging_for_20s() {
    let _s = serial();
    let w = world();
    w.fleet.ssh_ok("h1", &["touch", "/etc/pw-healthy"]);
    w.apt.publish(SECURITY, &[Deb::new("pw-promo", "1.1-1")]);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("fleet");
    fs::create_dir(&repo).unwrap();
    let (state, ci_state) = (tmp.path().join("state"), tmp.path().join("ci-state"));
    staged_fleet(&repo, "pw-promo");

    // Before staging ran it, prod waits.
    let (st, why) = decision(&repo, &state, "prod", "pw-promo");
    assert_eq!(st, "PENDING_APPROVAL", "{why}");
    assert!(
        why.contains("not yet installed and healthy on every host of stage `staging`"),
        "{why}"
    );

    let out = patchwave(&["apply", "--group", "staging"], &repo, &state);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(installed("h1", "pw-promo"), "1.1-1");
    // The health check's result is in run state and on the status branch.
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(state.join("hosts/h1.json")).unwrap()).unwrap();
    assert_eq!(record["health"]["healthy"], true, "{record}");
    assert_eq!(record["health"]["checks"][0]["name"], "flag", "{record}");
    let shared = git(&repo, &["show", "patchwave/status:status/history/h1.yaml"]);
    assert!(shared.contains("name: flag"), "{shared}");

    // Prod withholds it until 20 s after staging was healthy with it.
    let (st, why) = decision(&repo, &state, "prod", "pw-promo");
    assert_eq!(st, "PENDING_APPROVAL", "{why}");
    let ready = promotion_instant(&why);
    assert!(
        why.contains("installed and healthy on stage `staging` since"),
        "{why}"
    );
    // A CI runner with only a clone and the status branch says the same.
    let clone = fresh_clone(&repo, tmp.path());
    let (ci_st, ci_why) = decision(&clone, &ci_state, "prod", "pw-promo");
    assert_eq!(ci_st, "PENDING_APPROVAL", "{ci_why}");
    assert_eq!(promotion_instant(&ci_why), ready, "{ci_why}");
    let out = patchwave(&["apply", "--group", "prod"], &repo, &state);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(installed("h2", "pw-promo"), "1.0-1", "not promoted yet");

    // Once `after` has passed: approved, here and on the CI runner, and installed.
    let wait = ready.duration_since(jiff::Timestamp::now()).as_secs_f64() + 1.0;
    assert!(wait < 60.0, "the promotion instant {ready} is too far away");
    std::thread::sleep(Duration::from_secs_f64(wait.max(0.0)));
    let (st, why) = decision(&repo, &state, "prod", "pw-promo");
    assert_eq!(st, "APPROVED", "{why}");
    assert!(
        why.contains("promoted from stage `staging` (installed and healthy since"),
        "{why}"
    );
    let (ci_st, ci_why) = decision(&clone, &ci_state, "prod", "pw-promo");
    assert_eq!(
        (ci_st.as_str(), ci_why.as_str()),
        (st.as_str(), why.as_str())
    );
    let out = patchwave(&["apply", "--group", "prod"], &repo, &state);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(installed("h2", "pw-promo"), "1.1-1");
    // The report committed by a run of one group covers the whole fleet:
    // staging's host comes from its status document on the branch.
    let report = git(&repo, &["show", "patchwave/status:status/REPORT.md"]);
    for row in ["| staging |", "| prod |"] {
        assert!(
            report.contains(row),
            "{row} missing from the report:\n{report}"
        );
    }
}

#[test]
fn a_failing_staging_health_check_keeps_prod_waiting_and_names_it() {
    let _s = serial();
    let w = world();
    w.fleet.ssh_ok("h1", &["rm", "-f", "/etc/pw-healthy"]);
    w.apt.publish(SECURITY, &[Deb::new("pw-sick", "1.1-1")]);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("fleet");
    fs::create_dir(&repo).unwrap();
    let (state, ci_state) = (tmp.path().join("state"), tmp.path().join("ci-state"));
    staged_fleet(&repo, "pw-sick");

    let out = patchwave(&["apply", "--group", "staging"], &repo, &state);
    // Installed, then unhealthy: the one error exceeds maxErrors 0.
    assert_eq!(out.code, Some(3), "{}{}", out.stdout, out.stderr);
    assert_eq!(installed("h1", "pw-sick"), "1.1-1");
    // Longer than `after`: still withheld, with the host and check named.
    std::thread::sleep(Duration::from_secs(21));
    let want =
        "installed on every host of stage `staging` but not healthy (host h1: check `flag` failed";
    let (st, why) = decision(&repo, &state, "prod", "pw-sick");
    assert_eq!(st, "PENDING_APPROVAL", "{why}");
    assert!(why.contains(want), "{why}");
    let clone = fresh_clone(&repo, tmp.path());
    let (ci_st, ci_why) = decision(&clone, &ci_state, "prod", "pw-sick");
    assert_eq!(
        (ci_st.as_str(), ci_why.as_str()),
        (st.as_str(), why.as_str())
    );
    let out = patchwave(&["apply", "--group", "prod"], &repo, &state);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(installed("h2", "pw-sick"), "1.0-1");
}

/// The group `urgent` (h3), whose only window opens weeks from now, and
/// `emergency` documents added to it.
fn closed_fleet(dir: &Path, package: &str, emergency: &[&str], message: &str) -> String {
    let (later, _) = policy::later_window();
    let g = group("urgent", &["h3"], "b", "w", "");
    let b = baseline("b", package, "");
    let mut docs: Vec<&str> = vec![FLEET_AND_ROLLOUT, &later, &g, &b];
    docs.extend_from_slice(emergency);
    commit_fleet(dir, &docs, message)
}

fn emergency_change(name: &str, expires: jiff::Timestamp) -> String {
    format!(
        "apiVersion: patchwave.dev/v1
kind: EmergencyChange
metadata: {{name: {name}}}
spec:
  reason: CVE-2026-9999 is exploited in the wild
  expires: \"{expires}\"
  groups: [urgent]
  allowOutsideWindow: true
"
    )
}

#[test]
fn an_emergency_change_patches_outside_windows_until_it_expires() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-em", "1.1-1")]);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("fleet");
    fs::create_dir(&repo).unwrap();
    let state = tmp.path().join("state");
    closed_fleet(&repo, "pw-em", &[], "a fleet outside its window");
    let out = patchwave(&["apply"], &repo, &state);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("outside maintenance windows; nothing applied"),
        "{}",
        out.stdout
    );
    assert_eq!(installed("h3", "pw-em"), "1.0-1");

    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2);
    let added = closed_fleet(
        &repo,
        "pw-em",
        &[&emergency_change("cve-2026-9999", expires)],
        "emergency: CVE-2026-9999",
    );
    let plan = patchwave(&["plan"], &repo, &state);
    assert_eq!(plan.code, Some(2), "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains(&format!(
            "allowed by EmergencyChange cve-2026-9999 until {} (CVE-2026-9999 is exploited in the wild)",
            expires.strftime("%Y-%m-%d %H:%MZ")
        )),
        "{}",
        plan.stdout
    );
    let out = patchwave(&["apply"], &repo, &state);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(installed("h3", "pw-em"), "1.1-1");
    let run = the_run(&state);
    let e = &run["trigger"]["emergencyChanges"][0];
    assert_eq!(e["name"], "cve-2026-9999", "{run}");
    assert_eq!(e["reason"], "CVE-2026-9999 is exploited in the wild");
    assert_eq!(e["addedIn"], added.as_str(), "the commit that added it");
    // The run on the status branch says so too.
    let runs = git(
        &repo,
        &["ls-tree", "--name-only", "patchwave/status", "status/runs/"],
    );
    let file = runs.lines().next().unwrap().to_string();
    let shown = git(&repo, &["show", &format!("patchwave/status:{file}")]);
    assert!(shown.contains("cve-2026-9999"), "{shown}");

    // Expired: nothing is patched, and validate warns.
    w.apt.publish(SECURITY, &[Deb::new("pw-em", "1.2-1")]);
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    closed_fleet(
        &repo,
        "pw-em",
        &[&emergency_change("cve-2026-9999", past)],
        "emergency over",
    );
    let out = patchwave(&["apply"], &repo, &state);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("outside maintenance windows; nothing applied"),
        "{}",
        out.stdout
    );
    assert_eq!(installed("h3", "pw-em"), "1.1-1");
    let v = support::patchwave()
        .args(["validate", "--repo"])
        .arg(&repo)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(0), "{said}");
    assert!(
        said.contains("warning: EmergencyChange `cve-2026-9999` expired at"),
        "{said}"
    );
}

#[test]
fn the_daemon_honours_an_emergency_change_without_anyone_typing_now() {
    let _s = serial();
    let w = world();
    w.apt.publish(SECURITY, &[Deb::new("pw-daemon", "1.1-1")]);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("fleet");
    fs::create_dir(&repo).unwrap();
    let state = tmp.path().join("state");
    let (later, _) = policy::later_window();
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2);
    commit_fleet(
        &repo,
        &[
            FLEET_AND_ROLLOUT,
            &later,
            &group("urgent", &["h4"], "b", "w", ""),
            &baseline("b", "pw-daemon", ""),
            &emergency_change("hotfix", expires),
        ],
        "emergency for the daemon",
    );
    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let child = support::patchwave()
        .args(["daemon", "--interval", "1h", "--listen", &listen, "--repo"])
        .arg(&repo)
        .arg("--state-dir")
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _daemon = Daemon(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    while installed("h4", "pw-daemon") != "1.1-1" {
        assert!(
            Instant::now() < deadline,
            "the daemon did not patch h4 under the EmergencyChange"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Its run record names the EmergencyChange.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = fs::read_dir(state.join("runs")).ok().and_then(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .find_map(|e| {
                    let r: serde_json::Value =
                        serde_json::from_slice(&fs::read(e.path()).ok()?).ok()?;
                    (r["outcome"]["state"] == "succeeded").then_some(r)
                })
        });
        if let Some(r) = done {
            assert_eq!(r["trigger"]["emergencyChanges"][0]["name"], "hotfix", "{r}");
            break;
        }
        assert!(Instant::now() < deadline, "no finished run record");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `hosts`, `approvals` and `breakFreeze`, from the YAML to the hosts: a
/// change freeze is on for the group (h3, h4); an EmergencyChange naming
/// only h3 approves an exact version no rule approves. Without
/// `breakFreeze` nothing starts; with it, h3 is patched to that version
/// and h4 is left alone (not covered, and not approved for it).
#[test]
fn an_emergency_change_for_one_host_approves_a_version_and_breaks_a_freeze() {
    let _s = serial();
    let w = world();
    w.apt.publish(MAIN, &[Deb::new("pw-late", "1.1-1")]);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("fleet");
    fs::create_dir(&repo).unwrap();
    let state = tmp.path().join("state");
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2);
    let fleet = |break_freeze: bool| {
        let emergency = format!(
            "apiVersion: patchwave.dev/v1
kind: EmergencyChange
metadata: {{name: late-fix}}
spec:
  reason: a fix that cannot wait for the freeze
  expires: \"{expires}\"
  hosts: [h3]
  allowOutsideWindow: true
  breakFreeze: {break_freeze}
  approvals:
    - {{package: pw-late, version: 1.1-1}}
"
        );
        commit_fleet(
            &repo,
            &[
                FLEET_AND_ROLLOUT,
                policy::ALWAYS_OPEN_WINDOW,
                "apiVersion: patchwave.dev/v1\nkind: MaintenanceWindow\nmetadata: {name: freeze}\nspec: {kind: deny, schedule: \"0 0 * * *\", duration: 24h}\n",
                &group("pair", &["h3", "h4"], "b", "w", ""),
                // No rule approves pw-late.
                &baseline("b", "pw-nothing", ""),
                &emergency,
            ],
            &format!("emergency, breakFreeze {break_freeze}"),
        );
    };

    fleet(false);
    let out = patchwave(&["apply"], &repo, &state);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("frozen by `freeze`")
            && out
                .stdout
                .contains("an EmergencyChange covers it, but without `breakFreeze: true`"),
        "{}",
        out.stdout
    );
    assert_eq!(
        (installed("h3", "pw-late"), installed("h4", "pw-late")),
        ("1.0-1".into(), "1.0-1".into())
    );

    fleet(true);
    let (st, why) = decision(&repo, &state, "pair", "pw-late");
    assert_eq!(
        (st.as_str(), why.as_str()),
        (
            "EXPLICIT_APPROVED",
            "approved by EmergencyChange `late-fix`"
        )
    );
    let out = patchwave(&["apply"], &repo, &state);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(installed("h3", "pw-late"), "1.1-1");
    assert_eq!(installed("h4", "pw-late"), "1.0-1", "h4 is not covered");
    let run = the_run(&state);
    assert_eq!(run["trigger"]["freezeOverridden"], "freeze", "{run}");
    assert_eq!(
        run["trigger"]["emergencyChanges"][0]["name"], "late-fix",
        "{run}"
    );
    let hosts: Vec<&str> = run["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["hosts"].as_array().unwrap())
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["h3"], "only the covered host ran");
}
