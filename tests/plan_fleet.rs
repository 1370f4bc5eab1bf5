//! `patchwave plan` against real apt hosts: a security update approved, a
//! normal one pending until its date, a rejected one blocked (exit 2); once
//! the hosts are patched by hand, nothing is left to do (exit 0). The pending
//! update's age counts from the first sighting the scan recorded in run state.

mod support;

use std::fs;

use support::aptrepo::{AptRepo, Deb, MAIN, SECURITY};
use support::fleet::{Base, Fleet};
use support::http::FileServer;
use support::policy;

/// Plans (scanning the hosts) with run state in `state`, as of `now` or the real clock.
fn plan(
    repo: &std::path::Path,
    state: &std::path::Path,
    now: Option<&str>,
) -> (Option<i32>, serde_json::Value) {
    let mut cmd = support::patchwave();
    cmd.args(["plan", "--format", "json", "--repo"])
        .arg(repo)
        .arg("--state-dir")
        .arg(state);
    if let Some(now) = now {
        cmd.args(["--now", now]);
    }
    let out = cmd.output().unwrap();
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), doc)
}

#[test]
fn plan_against_real_hosts_then_patch_by_hand() {
    let fleet = Fleet::start(Base::Apt, 6, 2);
    let apt_dir = tempfile::tempdir().unwrap();
    let apt = AptRepo::new(apt_dir.path());
    apt.publish(
        MAIN,
        &[
            Deb::new("pw-alpha", "1.0-1"),
            Deb::new("pw-beta", "2.0-1"),
            Deb::new("pw-gamma", "3.0-1"),
        ],
    );
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
                "pw-alpha=1.0-1",
                "pw-beta=2.0-1",
                "pw-gamma=3.0-1",
            ],
        );
    }
    apt.publish(
        MAIN,
        &[Deb::new("pw-alpha", "1.1-1"), Deb::new("pw-gamma", "3.1-1")],
    );
    apt.publish(SECURITY, &[Deb::new("pw-beta", "2.1-1")]);

    let repo = tempfile::tempdir().unwrap();
    fs::write(
        repo.path().join("fleet.yaml"),
        format!(
            "apiVersion: patchwave.dev/v1
kind: Fleet
metadata: {{name: t}}
spec: {{scan: {{refreshAfter: 0s}}}}
---
{group}---
apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {{name: b}}
spec:
  approvalRules:
    - {{name: security-now, classifications: [security]}}
    - {{name: others-after-a-week, classifications: [other], approveAfterDays: 7}}
  rejected:
    - {{package: pw-gamma, reason: breaks the test app}}
---
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {{name: r}}
spec: {{waves: [1, \"100%\"]}}
---
{window}",
            group = policy::fleet_group("apt-hosts", &fleet),
            window = policy::WEEKLY_WINDOW,
        ),
    )
    .unwrap();

    let state = tempfile::tempdir().unwrap();
    let before = jiff::Timestamp::now();
    let (code, doc) = plan(repo.path(), state.path(), None);
    assert_eq!(code, Some(2), "{doc}");
    // The scan recorded when it first saw pw-alpha 1.1-1; approval counts 7 days from that day (UTC).
    let first_seen = recorded_first_seen(state.path(), "pw-alpha", "1.1-1");
    assert!(before <= first_seen && first_seen <= jiff::Timestamp::now());
    let approved_on = first_seen
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::ToSpan::days(7))
        .unwrap()
        .to_string();
    let g = &doc["groups"][0];
    // Two waves: the canary host, then the rest.
    assert_eq!(g["waves"].as_array().unwrap().len(), 2, "{g}");
    for w in g["waves"].as_array().unwrap() {
        let h = &w["hosts"][0];
        let install: Vec<&str> = h["install"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(install, ["pw-beta"], "{h}");
        assert_eq!(h["install"][0]["decision"]["state"], "APPROVED");
        let withheld = h["withheld"].as_array().unwrap();
        let by = |n: &str| withheld.iter().find(|p| p["name"] == n).unwrap();
        assert_eq!(by("pw-alpha")["decision"]["state"], "PENDING_APPROVAL");
        assert_eq!(
            by("pw-alpha")["decision"]["approvedOn"],
            approved_on.as_str()
        );
        assert_eq!(by("pw-gamma")["decision"]["state"], "EXPLICIT_REJECTED");
    }

    // Patch the approved update by hand: nothing is left to do now.
    for h in ["h1", "h2"] {
        fleet.ssh_ok(
            h,
            &[
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-q",
                "pw-beta",
            ],
        );
    }
    let (code, doc) = plan(repo.path(), state.path(), None);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["summary"]["hostsToChange"], 0);
    // Each host's record shows the version installed by hand.
    for h in ["h1", "h2"] {
        let rec: serde_json::Value = serde_json::from_slice(
            &fs::read(state.path().join(format!("hosts/{h}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(rec["installed"]["pw-beta:all"]["version"], "2.1-1", "{rec}");
    }

    // Eight days on, pw-alpha is approved: the rescan kept the first sighting.
    let later = (first_seen + jiff::SignedDuration::from_hours(8 * 24)).to_string();
    let (code, doc) = plan(repo.path(), state.path(), Some(&later));
    assert_eq!(code, Some(2), "{doc}");
    let install = &doc["groups"][0]["waves"][0]["hosts"][0]["install"];
    assert_eq!(install[0]["name"], "pw-alpha", "{doc}");
    assert_eq!(install[0]["decision"]["state"], "APPROVED");
    assert_eq!(
        recorded_first_seen(state.path(), "pw-alpha", "1.1-1"),
        first_seen
    );

    // Today pw-alpha waits for its rule; a reviewer fast-tracks it with
    // propose (scanning the hosts), and the lockfile approves it at once.
    let propose = |extra: &[&str]| {
        support::patchwave()
            .args(["propose", "--no-commit", "--repo"])
            .arg(repo.path())
            .arg("--state-dir")
            .arg(state.path())
            .args(extra)
            .output()
            .unwrap()
    };
    let out = propose(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = propose(&["--include-pending"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("+ pw-alpha 1.1-1  other, unspecified  (2 hosts)"),
        "{said}"
    );
    assert!(
        !said.contains("pw-gamma"),
        "a rejected package is never proposed: {said}"
    );
    let (code, doc) = plan(repo.path(), state.path(), None);
    assert_eq!(code, Some(2), "{doc}");
    let install = &doc["groups"][0]["waves"][0]["hosts"][0]["install"];
    assert_eq!(install[0]["name"], "pw-alpha", "{doc}");
    assert_eq!(install[0]["decision"]["state"], "EXPLICIT_APPROVED");
    drop(server);
}

/// The first sighting of `package` `version` in the run state's first-seen file.
fn recorded_first_seen(state: &std::path::Path, package: &str, version: &str) -> jiff::Timestamp {
    let doc: serde_json::Value =
        serde_json::from_slice(&fs::read(state.join("first-seen.json")).unwrap()).unwrap();
    let row = doc["seen"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["package"] == package && r["version"] == version)
        .unwrap_or_else(|| panic!("{package} {version} not recorded: {doc}"));
    row["firstSeen"].as_str().unwrap().parse().unwrap()
}
