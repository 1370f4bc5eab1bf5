//! `patchwave plan` against real apt hosts: a security update approved, a
//! normal one pending until its date, a rejected one blocked (exit 2); once
//! the hosts are patched by hand, nothing is left to do (exit 0).

mod support;

use std::fs;
use std::process::Command;

use support::aptrepo::{AptRepo, Deb, MAIN, SECURITY};
use support::fleet::{Base, Fleet};
use support::http::FileServer;
use support::policy;

fn plan(repo: &std::path::Path, now: &str) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_patchwave"))
        .args(["plan", "--format", "json", "--now", now, "--repo"])
        .arg(repo)
        .output()
        .unwrap();
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

    let (code, doc) = plan(repo.path(), "2026-12-02T09:30:00Z");
    assert_eq!(code, Some(2), "{doc}");
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
        assert_eq!(by("pw-alpha")["decision"]["approvedOn"], "2026-12-09");
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
    let (code, doc) = plan(repo.path(), "2026-12-02T09:30:00Z");
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["summary"]["hostsToChange"], 0);
    drop(server);
}
