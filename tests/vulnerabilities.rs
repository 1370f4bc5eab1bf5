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
const PACKAGES: [(&str, &str, &str, &str); 3] = [
    // CVE-2008-0166, urgency high.
    ("pw-ssl-old", "openssl", "0.9.8g-8", "0.9.8g-9"),
    // CVE-2018-0737, urgency low.
    ("pw-ssl-low", "openssl", "1.1.0h-2", "1.1.0h-3"),
    // CVE-2021-3156 ("Baron Samedit"), in the KEV catalog.
    ("pw-sudo", "sudo", "1.8.27-1+deb10u2", "1.8.27-1+deb10u3"),
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
    - {name: kev, knownExploited: true, approveAfterDays: 0}
    - {name: severe, severities: [critical, important], approveAfterDays: 0}
---
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {name: r}
spec: {waves: [\"100%\"]}
";

/// A fleet repository with the given vulnerability sources (`(name, format, file)`).
fn repo(dir: &Path, sources: &[(&str, &str, &str)]) {
    let w = world();
    let fleet = if sources.is_empty() {
        String::new()
    } else {
        let list: String = sources
            .iter()
            .map(|(n, f, file)| format!("      - {{name: {n}, format: {f}, file: {file}}}\n"))
            .collect();
        format!(
            "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {{name: fleet}}\nspec:\n  vulnerabilities:\n    sources:\n{list}---\n"
        )
    };
    let yaml = format!(
        "{fleet}{}",
        policy::stream(&[
            &policy::fleet_group("apt-hosts", &w.fleet),
            BASELINE,
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
