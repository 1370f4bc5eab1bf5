//! The Fleet's vulnerability data on real apt hosts: updates of packages
//! built from `openssl` and `sudo` are rated by the Debian Security
//! Tracker's entries for their source package, flagged from CISA's KEV
//! catalog, approved (or not) by `severities` and `knownExploited` rules, and
//! installed by `apply` exactly as approved.
//!
//! The data is the real excerpt under testdata/vuln/. The test hosts run
//! bookworm, and the excerpt has no bookworm entries for these two source
//! packages, so the test's tracker file is the excerpt's `openssl` and
//! `sudo` records with their real `buster` entries relabelled `bookworm`
//! (versions, urgencies and fixes unchanged); the KEV catalog is used as is.

mod support;

use std::fs;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};

use serde_json::Value;
use support::aptrepo::{AptRepo, Deb, MAIN, SECURITY};
use support::fleet::{Base, Fleet};
use support::http::FileServer;
use support::policy;

/// (package, source package, installed, candidate): each candidate is the
/// first version that fixes one real tracker entry of its source.
const PACKAGES: [(&str, &str, &str, &str); 4] = [
    // CVE-2008-0166, urgency high.
    ("pw-ssl-old", "openssl", "0.9.8g-8", "0.9.8g-9"),
    // CVE-2018-0737, urgency low.
    ("pw-ssl-low", "openssl", "1.1.0h-2", "1.1.0h-3"),
    // CVE-2021-3156 ("Baron Samedit"), in the KEV catalog.
    ("pw-sudo", "sudo", "1.8.27-1+deb10u2", "1.8.27-1+deb10u3"),
    // CVE-2014-0160 ("Heartbleed"), in the KEV catalog; no rule approves it
    // (every rule excludes it), so it stays missing whatever a test applies.
    ("pw-ssl-hb", "openssl", "1.0.1f-1", "1.0.1g-1"),
];

struct World {
    fleet: Fleet,
    _apt_dir: tempfile::TempDir,
    _server: FileServer,
}

static WORLD: OnceLock<World> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn deb(name: &str, source: &str, version: &str) -> Deb {
    let mut d = Deb::new(name, version);
    d.source = Some(source.to_string());
    d
}

/// Two apt hosts holding the installed versions, offered the candidates.
fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let fleet = Fleet::start(Base::Apt, 18, 2);
        let apt_dir = tempfile::tempdir().unwrap();
        let apt = AptRepo::new(apt_dir.path());
        let old: Vec<Deb> = PACKAGES
            .iter()
            .map(|(n, s, installed, _)| deb(n, s, installed))
            .collect();
        apt.publish(MAIN, &old);
        let server = FileServer::start(apt_dir.path());
        let sources = AptRepo::sources_list(&server.url());
        let pins: Vec<String> = PACKAGES
            .iter()
            .map(|(n, _, installed, _)| format!("{n}={installed}"))
            .collect();
        for h in fleet.hosts.iter().map(|h| h.name.clone()) {
            fleet.write(&h, "/etc/apt/sources.list", &sources);
            fleet.ssh_ok(&h, &["apt-get", "update", "-q"]);
            let mut argv = vec![
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-q",
            ];
            argv.extend(pins.iter().map(String::as_str));
            fleet.ssh_ok(&h, &argv);
        }
        let new: Vec<Deb> = PACKAGES
            .iter()
            .map(|(n, s, _, candidate)| deb(n, s, candidate))
            .collect();
        apt.publish(SECURITY, &new);
        World {
            fleet,
            _apt_dir: apt_dir,
            _server: server,
        }
    })
}

fn testdata(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/vuln")
            .join(name),
    )
    .unwrap()
}

/// The excerpt's openssl and sudo records, their buster entries as bookworm's.
fn tracker_for_bookworm() -> Vec<u8> {
    let real: Value = serde_json::from_slice(&testdata("debian-tracker.json")).unwrap();
    let mut out = serde_json::Map::new();
    for source in ["openssl", "sudo"] {
        let mut issues = serde_json::Map::new();
        for (id, issue) in real[source].as_object().unwrap() {
            let Some(buster) = issue["releases"].get("buster") else {
                continue;
            };
            let mut issue = issue.clone();
            issue["releases"] = serde_json::json!({ "bookworm": buster });
            issues.insert(id.clone(), issue);
        }
        out.insert(source.to_string(), Value::Object(issues));
    }
    serde_json::to_vec(&out).unwrap()
}

const BASELINE: &str = "apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {name: b}
spec:
  approvalRules:
    - {name: kev, knownExploited: true, approveAfterDays: 0, excludePackages: [pw-ssl-hb]}
    - {name: severe, severities: [critical, important], approveAfterDays: 0, excludePackages: [pw-ssl-hb]}
---
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {name: r}
spec: {waves: [\"100%\"]}
";

/// A fleet repository with the given vulnerability sources (`(name, format, file)`).
fn repo(dir: &Path, sources: &[(&str, &str, &str)]) {
    repo_with(dir, sources, "", BASELINE);
}

/// The same, with more Fleet settings (`fleet_extra`, indented under
/// `spec:`) and another baseline and rollout.
fn repo_with(dir: &Path, sources: &[(&str, &str, &str)], fleet_extra: &str, baseline: &str) {
    let w = world();
    let fleet = if sources.is_empty() && fleet_extra.is_empty() {
        String::new()
    } else {
        let list: String = sources
            .iter()
            .map(|(n, f, file)| format!("      - {{name: {n}, format: {f}, file: {file}}}\n"))
            .collect();
        let vulns = if list.is_empty() {
            String::new()
        } else {
            format!("  vulnerabilities:\n    sources:\n{list}")
        };
        format!(
            "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {{name: fleet}}\nspec:\n{vulns}{fleet_extra}---\n"
        )
    };
    let yaml = format!(
        "{fleet}{}",
        policy::stream(&[
            &policy::fleet_group("apt-hosts", &w.fleet),
            baseline,
            policy::ALWAYS_OPEN_WINDOW,
        ])
    );
    fs::write(dir.join("fleet.yaml"), yaml).unwrap();
    fs::create_dir_all(dir.join("vuln")).unwrap();
    fs::write(dir.join("vuln/debian.json"), tracker_for_bookworm()).unwrap();
    fs::write(dir.join("vuln/kev.json"), testdata("kev.json")).unwrap();
}

const BOTH: [(&str, &str, &str); 2] = [
    ("debian", "debianTracker", "vuln/debian.json"),
    ("kev", "cisaKev", "vuln/kev.json"),
];

fn run(args: &[&str], dir: &Path, state: &Path) -> (Option<i32>, String, String) {
    let mut cmd = support::patchwave();
    cmd.args(args).arg("--repo").arg(dir);
    // `validate` reads only the repository.
    if args[0] != "validate" {
        cmd.arg("--state-dir").arg(state);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn plan(dir: &Path, state: &Path) -> (Value, String) {
    let (code, out, err) = run(&["plan", "-o", "json"], dir, state);
    assert!(matches!(code, Some(0 | 2)), "{out}\n{err}");
    let plan: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    support::output_schema::assert_valid("Plan", &plan);
    (plan, err)
}

/// Every change planned or withheld for `host`, by package name.
fn changes<'a>(plan: &'a Value, host: &str) -> Vec<&'a Value> {
    let g = &plan["groups"][0];
    let hosts = g["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["hosts"].as_array().unwrap())
        .chain(g["unchanged"].as_array().unwrap());
    hosts
        .filter(|h| h["host"] == host)
        .flat_map(|h| {
            h["install"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(h["withheld"].as_array().into_iter().flatten())
        })
        .collect()
}

fn change<'a>(plan: &'a Value, host: &str, name: &str) -> &'a Value {
    changes(plan, host)
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not planned on {host}: {plan}"))
}

#[test]
fn tracker_and_kev_rate_debian_updates_and_rules_approve_by_them() {
    let _s = serial();
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();

    // Without vulnerability data, apt rates nothing: no rule approves.
    repo(dir.path(), &[]);
    let (before, _) = plan(dir.path(), state.path());
    for (name, ..) in PACKAGES {
        let c = change(&before, "h1", name);
        assert_eq!(c["severity"], "unspecified", "{c}");
        assert_eq!(c["decision"]["state"], "NOT_APPLICABLE", "{c}");
    }

    repo(dir.path(), &BOTH);
    let (code, _, err) = run(&["validate"], dir.path(), state.path());
    assert_eq!(code, Some(0), "{err}");
    let (after, warnings) = plan(dir.path(), state.path());
    assert!(!warnings.contains("vulnerability source"), "{warnings}");
    for host in ["h1", "h2"] {
        // The high-urgency fix: important, approved by the severities rule.
        let high = change(&after, host, "pw-ssl-old");
        assert_eq!(high["severity"], "important", "{high}");
        assert_eq!(high["severitySource"], "debian", "{high}");
        assert_eq!(high["decision"]["state"], "APPROVED", "{high}");
        assert_eq!(high["decision"]["basis"]["rule"], "severe", "{high}");
        assert_eq!(high["cves"], serde_json::json!(["CVE-2008-0166"]), "{high}");
        let v = &high["vulnerabilities"][0];
        assert_eq!(
            (&v["id"], &v["source"], &v["urgency"], &v["fixedVersion"]),
            (
                &Value::from("CVE-2008-0166"),
                &Value::from("debian"),
                &Value::from("high"),
                &Value::from("0.9.8g-9")
            ),
            "{high}"
        );
        // The low-urgency fix of the same source package: low, not approved.
        let low = change(&after, host, "pw-ssl-low");
        assert_eq!(low["severity"], "low", "{low}");
        assert_eq!(low["cves"], serde_json::json!(["CVE-2018-0737"]), "{low}");
        assert_eq!(low["decision"]["state"], "NOT_APPLICABLE", "{low}");
        assert_eq!(low["decision"]["withheld"], "noMatchingRule", "{low}");
        // The KEV fix: known exploited, critical, approved by the KEV rule.
        let kev = change(&after, host, "pw-sudo");
        assert_eq!(kev["knownExploited"], true, "{kev}");
        assert_eq!(kev["severity"], "critical", "{kev}");
        assert_eq!(kev["cves"], serde_json::json!(["CVE-2021-3156"]), "{kev}");
        assert_eq!(kev["decision"]["state"], "APPROVED", "{kev}");
        assert_eq!(kev["decision"]["basis"]["rule"], "kev", "{kev}");
        // Known exploited and critical, but no rule approves it here.
        let hb = change(&after, host, "pw-ssl-hb");
        assert_eq!(hb["cves"], serde_json::json!(["CVE-2014-0160"]), "{hb}");
        assert_eq!(
            (&hb["severity"], &hb["knownExploited"]),
            (&Value::from("critical"), &Value::from(true)),
            "{hb}"
        );
        assert_eq!(hb["decision"]["state"], "NOT_APPLICABLE", "{hb}");
        // No deadlines declared, none shown.
        assert!(hb.get("deadline").is_none(), "{hb}");
    }

    // Applied, the hosts get exactly the approved fixes.
    let (code, out, err) = run(&["apply", "--no-status"], dir.path(), state.path());
    assert_eq!(code, Some(0), "{out}\n{err}");
    for host in ["h1", "h2"] {
        let version = |p: &str| {
            w.fleet
                .ssh_ok(host, &["dpkg-query", "-W", "-f", "${Version}", p])
                .trim()
                .to_string()
        };
        assert_eq!(version("pw-ssl-old"), "0.9.8g-9", "{host}");
        assert_eq!(version("pw-sudo"), "1.8.27-1+deb10u3", "{host}");
        assert_eq!(version("pw-ssl-low"), "1.1.0h-2", "{host}");
        assert_eq!(version("pw-ssl-hb"), "1.0.1f-1", "{host}");
    }
}

#[test]
fn broken_vulnerability_data_is_a_warning_naming_the_source() {
    let _s = serial();
    world();
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    repo(dir.path(), &BOTH);
    // Truncated (a download cut short).
    let whole = tracker_for_bookworm();
    fs::write(
        dir.path().join("vuln/debian.json"),
        &whole[..whole.len() / 2],
    )
    .unwrap();
    let (plan_doc, stderr) = plan(dir.path(), state.path());
    let warnings = plan_doc["warnings"].to_string();
    assert!(
        warnings.contains("vulnerability source `debian` (vuln/debian.json) is left out")
            && warnings.contains("ends early"),
        "{warnings}\n{stderr}"
    );
    // Without the tracker, the openssl fix is unrated again (pw-ssl-low:
    // no test installs it, whichever test runs first).
    let low = change(&plan_doc, "h1", "pw-ssl-low");
    assert_eq!(low["severity"], "unspecified", "{low}");
    // The wrong dataset for the format.
    fs::write(dir.path().join("vuln/debian.json"), testdata("kev.json")).unwrap();
    let (plan_doc, _) = plan(dir.path(), state.path());
    let warnings = plan_doc["warnings"].to_string();
    assert!(
        warnings.contains("`debian`") && warnings.contains("another shape"),
        "{warnings}"
    );
    // A source whose file is missing is a validation error at its line.
    fs::remove_file(dir.path().join("vuln/kev.json")).unwrap();
    let (code, out, _) = run(&["validate"], dir.path(), state.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("fleet.yaml:") && out.contains("vuln/kev.json"),
        "{out}"
    );
}

/// A baseline that approves nothing: an apply here installs nothing, so
/// this test leaves the hosts as the others expect them.
const APPROVES_NOTHING: &str = "apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {name: b}
spec:
  approvalRules:
    - {name: never, packages: [nothing-is-called-this]}
---
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {name: r}
spec: {waves: [\"100%\"]}
";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_critical_patch_past_its_30_day_deadline_is_overdue_in_plan_report_and_metrics() {
    let _s = serial();
    world();
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    repo_with(
        dir.path(),
        &BOTH,
        "  deadlines: {countFrom: detection, critical: 30}\n",
        APPROVES_NOTHING,
    );
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "deadlines"]);
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date();
    let in_31_days = today
        .checked_add(jiff::ToSpan::days(31))
        .unwrap()
        .to_string();

    // Today (the first sighting): due in 30 days, not overdue. The
    // important openssl fix has no deadline (none set for important).
    let (now, _) = plan(dir.path(), state.path());
    let hb = change(&now, "h1", "pw-ssl-hb");
    let due = today
        .checked_add(jiff::ToSpan::days(30))
        .unwrap()
        .to_string();
    assert_eq!(hb["deadline"]["dueBy"], due.as_str(), "{hb}");
    assert_eq!(hb["deadline"]["since"], today.to_string().as_str(), "{hb}");
    assert_eq!(hb["deadline"]["overdue"], false, "{hb}");
    assert!(change(&now, "h1", "pw-ssl-old").get("deadline").is_none());
    assert!(
        now["summary"].get("overdue").is_none(),
        "{}",
        now["summary"]
    );

    // 31 days later: overdue, counted, and said so in the text plan.
    let (code, out, err) = run(
        &["plan", "-o", "json", "--at", &in_31_days],
        dir.path(),
        state.path(),
    );
    assert!(matches!(code, Some(0 | 2)), "{err}");
    let later: Value = serde_json::from_str(&out).unwrap();
    support::output_schema::assert_valid("Plan", &later);
    for host in ["h1", "h2"] {
        let hb = change(&later, host, "pw-ssl-hb");
        assert_eq!(hb["deadline"]["overdue"], true, "{hb}");
        assert_eq!(hb["deadline"]["dueBy"], due.as_str(), "{hb}");
    }
    // pw-ssl-hb on both hosts, and pw-sudo (critical too) where no other
    // test has installed it yet: the count is whatever the plan lists.
    let overdue_critical = ["h1", "h2"]
        .iter()
        .flat_map(|h| changes(&later, h))
        .filter(|c| c["deadline"]["overdue"] == true && c["severity"] == "critical")
        .count();
    assert!(overdue_critical >= 2, "{later}");
    assert_eq!(
        later["summary"]["overdue"]["critical"], overdue_critical,
        "{}",
        later["summary"]
    );
    let (_, text, _) = run(&["plan", "--at", &in_31_days], dir.path(), state.path());
    assert!(text.contains(&format!("OVERDUE: due by {due}")), "{text}");

    // An apply (which installs nothing here) commits the hosts' status;
    // the report as of 31 days later lists the overdue patch per host.
    let (code, out, err) = run(&["apply"], dir.path(), state.path());
    assert_eq!(code, Some(0), "{out}\n{err}");
    // The host's status names the CVE and its deadline.
    let status = git(
        dir.path(),
        &["show", "patchwave/status:status/hosts/h1.yaml"],
    );
    assert!(
        status.contains("CVE-2014-0160") && status.contains(&format!("dueBy: \"{due}\"")),
        "{status}"
    );
    let (code, out, err) = run(
        &["report", "-o", "json", "--at", &in_31_days],
        dir.path(),
        state.path(),
    );
    assert_eq!(code, Some(0), "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    support::output_schema::assert_valid("Report", &report);
    let overdue = report["overdue"].as_array().unwrap();
    assert_eq!(overdue.len(), overdue_critical, "{report}");
    let heartbleed: Vec<(&str, i64)> = overdue
        .iter()
        .filter(|r| r["package"] == "pw-ssl-hb:all")
        .map(|r| {
            (
                r["host"].as_str().unwrap(),
                r["daysOverdue"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(heartbleed, [("h1", 1), ("h2", 1)], "{report}");
    let (_, md, _) = run(
        &["report", "-o", "markdown", "--at", &in_31_days],
        dir.path(),
        state.path(),
    );
    assert!(
        md.contains("## Overdue patches") && md.contains("| h1 | apt-hosts | pw-ssl-hb:all |"),
        "{md}"
    );
    // Today, the same status has nothing overdue.
    let (_, out, _) = run(&["report", "-o", "json"], dir.path(), state.path());
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&report["deadlines"], &report["overdue"]),
        (&Value::from(true), &serde_json::json!([])),
        "{report}"
    );

    // The daemon's metrics, from the same status branch, at both times.
    let hosts = patchwave::daemon::metrics::hosts_on_status_branch(dir.path(), "patchwave/status")
        .expect("the status branch");
    let mut metrics = patchwave::daemon::metrics::Metrics::default();
    metrics.set_hosts(&hosts);
    let at = |d: &str| -> jiff::Timestamp { format!("{d}T12:00:00Z").parse().unwrap() };
    let later = metrics.render_at(at(&in_31_days));
    assert!(
        later.contains(&format!(
            "patchwave_overdue_patches{{severity=\"critical\"}} {overdue_critical}"
        )),
        "{later}"
    );
    assert!(
        !later.contains("patchwave_next_deadline_seconds "),
        "{later}"
    );
    let now = metrics.render_at(at(&today.to_string()));
    assert!(
        now.contains("patchwave_overdue_patches{severity=\"critical\"} 0"),
        "{now}"
    );
    // Due by the end of day 30: 30.5 days from noon today.
    assert!(
        now.contains(&format!(
            "patchwave_next_deadline_seconds {}",
            30 * 86_400 + 43_200
        )),
        "{now}"
    );
}

/// Puts a package back at a version when dropped (even when the test fails),
/// so the tests sharing the hosts find them as they expect.
struct PinBack<'a> {
    host: &'a str,
    pin: String,
}

impl Drop for PinBack<'_> {
    fn drop(&mut self) {
        world().fleet.ssh_ok(
            self.host,
            &[
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-q",
                "--allow-downgrades",
                &self.pin,
            ],
        );
    }
}

#[test]
fn cves_lists_exactly_the_exposed_hosts_with_first_seen_dates() {
    let _s = serial();
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    repo(dir.path(), &BOTH);
    // h2 gets the Heartbleed fix; h1 keeps the vulnerable version.
    let _back = PinBack {
        host: "h2",
        pin: "pw-ssl-hb=1.0.1f-1".into(),
    };
    w.fleet.ssh_ok("h2", &["apt-get", "update", "-q"]);
    w.fleet.ssh_ok(
        "h2",
        &[
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "-q",
            "pw-ssl-hb=1.0.1g-1",
        ],
    );
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let (code, out, err) = run(
        &["cves", "--cve", "CVE-2014-0160", "-o", "json"],
        dir.path(),
        state.path(),
    );
    assert_eq!(code, Some(0), "{err}");
    let view: Value = serde_json::from_str(&out).unwrap();
    support::output_schema::assert_valid("Cves", &view);
    let cves = view["cves"].as_array().unwrap();
    assert_eq!(cves.len(), 1, "{view}");
    let hb = &cves[0];
    assert_eq!(hb["id"], "CVE-2014-0160", "{hb}");
    assert_eq!(
        (&hb["severity"], &hb["knownExploited"]),
        (&Value::from("critical"), &Value::from(true)),
        "{hb}"
    );
    assert_eq!(hb["sources"], serde_json::json!(["debian"]), "{hb}");
    let exposed: Vec<(&str, &str, &str, &str)> = hb["exposed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["host"].as_str().unwrap(),
                e["package"].as_str().unwrap(),
                e["fixedBy"].as_str().unwrap(),
                e["firstSeen"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        exposed,
        [("h1", "pw-ssl-hb:all", "1.0.1g-1", today.as_str())],
        "{view}"
    );
    // No rule approves it here, so no window will install it.
    let e = &hb["exposed"][0];
    assert_eq!(e["decision"], "NOT_APPLICABLE", "{e}");
    assert!(e.get("nextWindow").is_none(), "{e}");
    // An approved fix names the window that installs it: open now.
    let (_, out, _) = run(
        &["cves", "--cve", "CVE-2008-0166", "-o", "json"],
        dir.path(),
        state.path(),
    );
    let view: Value = serde_json::from_str(&out).unwrap();
    support::output_schema::assert_valid("Cves", &view);
    assert!(!view["cves"].as_array().unwrap().is_empty(), "{view}");
    for e in view["cves"][0]["exposed"].as_array().into_iter().flatten() {
        assert_eq!(e["decision"], "APPROVED", "{e}");
        assert!(e["nextWindow"].is_string(), "{e}");
    }
    // A CVE in the data that no host is offered a fix for lists nobody.
    let (_, out, _) = run(
        &["cves", "--cve", "CVE-2016-5195", "-o", "json"],
        dir.path(),
        state.path(),
    );
    let none: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(none["cves"], serde_json::json!([]), "{none}");
    // Text, per CVE and per host.
    let (_, text, _) = run(
        &["cves", "--cve", "CVE-2014-0160"],
        dir.path(),
        state.path(),
    );
    assert!(
        text.starts_with("CVE-2014-0160 critical, known exploited (debian): 1 host\n")
            && text.contains(&format!("h1 (apt-hosts): pw-ssl-hb:all 1.0.1f-1 → 1.0.1g-1, first seen {today}, NOT_APPLICABLE, no window will install it")),
        "{text}"
    );
    let (_, by_host, _) = run(&["cves", "--by-host"], dir.path(), state.path());
    assert!(
        by_host
            .lines()
            .any(|l| l.starts_with("h1 (apt-hosts): ") && l.contains("CVE-2014-0160"))
            && !by_host
                .lines()
                .any(|l| l.starts_with("h2 (apt-hosts): ") && l.contains("CVE-2014-0160")),
        "{by_host}"
    );
}

/// Ubuntu's OSV records rate an Ubuntu host's update (from facts: the test
/// fleet has no Ubuntu host): the real UBUNTU-CVE-2021-3449 record says
/// openssl 1.1.1f-1ubuntu2.3 fixes it on 20.04, priority high.
#[test]
fn ubuntu_osv_records_rate_an_ubuntu_update() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("vuln")).unwrap();
    // As `jq -s` makes it: an array of records.
    let mut records = b"[".to_vec();
    for (i, name) in ["UBUNTU-CVE-2021-3449.json", "USN-6188-1.json"]
        .iter()
        .enumerate()
    {
        if i > 0 {
            records.push(b',');
        }
        records.extend(testdata(&format!("ubuntu-osv/{name}")));
    }
    records.push(b']');
    fs::write(dir.path().join("vuln/ubuntu.json"), records).unwrap();
    fs::write(
        dir.path().join("fleet.yaml"),
        policy::stream(&[
            "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {name: f}\nspec:\n  vulnerabilities:\n    sources:\n      - {name: ubuntu, format: ubuntuOsv, file: vuln/ubuntu.json}\n",
            "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {name: focal}\nspec:\n  baseline: b\n  rollout: r\n  windows: [w]\n  hosts: [{name: u1, address: 127.0.9.96}]\n",
            "apiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {name: b}\nspec:\n  approvalRules:\n    - {name: severe, severities: [critical, important]}\n",
            "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: r}\nspec: {waves: [\"100%\"]}\n",
            policy::ALWAYS_OPEN_WINDOW,
        ]),
    )
    .unwrap();
    let update = |name: &str, installed: &str, candidate: &str| {
        serde_json::json!({"name": name, "arch": "amd64", "installedVersion": installed,
            "candidateVersion": candidate, "repository": "Ubuntu:20.04/focal-security",
            "classification": "security", "severity": "unspecified", "source": "openssl"})
    };
    let facts = serde_json::json!({"version": 1, "hosts": [{
        "host": "u1", "group": "focal", "address": "127.0.9.96", "transport": "ssh",
        "scannedAt": "2026-12-02T09:00:00Z", "durationMs": 5, "state": "scanned",
        "facts": {"os": {"id": "ubuntu", "idLike": ["debian"], "versionId": "20.04"},
            "packageManager": "apt", "kernel": "5.4.0", "bootId": "b", "rebootRequired": false,
            "installed": [
                {"name": "libssl1.1", "arch": "amd64", "version": "1.1.1f-1ubuntu2.2", "source": "openssl"},
                {"name": "openssl", "arch": "amd64", "version": "1.1.1f-1ubuntu2.3"}],
            "updates": [update("libssl1.1", "1.1.1f-1ubuntu2.2", "1.1.1f-1ubuntu2.3")]}
    }]});
    let facts_path = dir.path().join("facts.json");
    fs::write(&facts_path, facts.to_string()).unwrap();
    let (code, out, err) = run(
        &[
            "plan",
            "-o",
            "json",
            "--facts",
            facts_path.to_str().unwrap(),
        ],
        dir.path(),
        state.path(),
    );
    assert_eq!(code, Some(2), "{out}\n{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    support::output_schema::assert_valid("Plan", &plan);
    let c = change(&plan, "u1", "libssl1.1");
    assert_eq!(c["cves"], serde_json::json!(["CVE-2021-3449"]), "{c}");
    assert_eq!(
        (&c["severity"], &c["severitySource"]),
        (&Value::from("important"), &Value::from("ubuntu")),
        "{c}"
    );
    assert_eq!(c["vulnerabilities"][0]["urgency"], "high", "{c}");
    assert_eq!(
        c["vulnerabilities"][0]["fixedVersion"], "1.1.1f-1ubuntu2.3",
        "{c}"
    );
    assert_eq!(c["decision"]["basis"]["rule"], "severe", "{c}");
    // The record's CVSS v3 vector scores 5.9 (NVD's figure for it too).
    assert_eq!(c["vulnerabilities"][0]["cvss"], 5.9, "{c}");

    // A CVSS threshold approves it at 5.5, and not at 6.0; a rule naming
    // its CVE approves it, one naming another CVE does not.
    let yaml = fs::read_to_string(dir.path().join("fleet.yaml")).unwrap();
    for (rule, approved) in [
        ("{name: cvss, minCvss: 5.5}", true),
        ("{name: cvss, minCvss: 6.0}", false),
        ("{name: cvss, cves: [CVE-2021-3449]}", true),
        ("{name: cvss, cves: [CVE-2023-2650]}", false),
    ] {
        let with_rule = yaml.replace("{name: severe, severities: [critical, important]}", rule);
        assert_ne!(with_rule, yaml);
        fs::write(dir.path().join("fleet.yaml"), &with_rule).unwrap();
        let (code, out, err) = run(
            &[
                "plan",
                "-o",
                "json",
                "--facts",
                facts_path.to_str().unwrap(),
            ],
            dir.path(),
            state.path(),
        );
        assert!(matches!(code, Some(0 | 2)), "{err}");
        let plan: Value = serde_json::from_str(&out).unwrap();
        support::output_schema::assert_valid("Plan", &plan);
        let c = change(&plan, "u1", "libssl1.1");
        if approved {
            assert_eq!(c["decision"]["basis"]["rule"], "cvss", "{rule}: {c}");
        } else {
            assert_eq!(c["decision"]["state"], "NOT_APPLICABLE", "{rule}: {c}");
        }
    }
    // Out of range is refused at its line.
    fs::write(
        dir.path().join("fleet.yaml"),
        yaml.replace(
            "{name: severe, severities: [critical, important]}",
            "{name: cvss, minCvss: 11}",
        ),
    )
    .unwrap();
    let (code, out, _) = run(&["validate"], dir.path(), state.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("fleet.yaml:") && out.contains("0.0 to 10.0"),
        "{out}"
    );
    // Without a source that gives scores, such a rule is a warning.
    fs::write(
        dir.path().join("fleet.yaml"),
        yaml.replace(
            "{name: severe, severities: [critical, important]}",
            "{name: cvss, minCvss: 7}",
        )
        .replace("format: ubuntuOsv", "format: debianTracker")
        .replace("vuln/ubuntu.json", "vuln/debian.json"),
    )
    .unwrap();
    fs::write(
        dir.path().join("vuln/debian.json"),
        testdata("debian-tracker.json"),
    )
    .unwrap();
    let (code, out, _) = run(&["validate"], dir.path(), state.path());
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(
            "rule `cvss` asks for a CVSS score, but no vulnerability source of the Fleet gives one"
        ),
        "{out}"
    );
}
