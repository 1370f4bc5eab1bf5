//! `patchwave apply` and `rollback` on real RPM hosts: h1 runs dnf, h2
//! zypper, both on one test repository with a security advisory. The exact
//! versions go in, and come back out.

mod support;

use std::fs;

use support::fleet::{Base, Fleet};
use support::http::FileServer;
use support::policy;
use support::rpmrepo::{Advisory, Rpm, RpmRepo};

fn rpm_version(fleet: &Fleet, host: &str) -> String {
    fleet
        .ssh_ok(
            host,
            &["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}", "pw-alpha"],
        )
        .trim()
        .to_string()
}

#[test]
fn dnf_and_zypper_hosts_are_patched_to_the_exact_version_and_rolled_back() {
    let fleet = Fleet::start(Base::Rpm, 8, 2);
    let dir = tempfile::tempdir().unwrap();
    let mut repo = RpmRepo::new(dir.path());
    repo.publish(&[Rpm::new("pw-alpha", "1.0", "1")], &[]);
    let server = FileServer::start(dir.path());
    let url = format!("{}/repo", server.url());
    for (h, os) in [
        (
            "h1",
            "ID=patchwave-rpmtest\nID_LIKE=\"rhel fedora\"\nVERSION_ID=9\n",
        ),
        (
            "h2",
            "ID=opensuse-leap\nID_LIKE=\"suse opensuse\"\nVERSION_ID=15.6\n",
        ),
    ] {
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
    fleet.write("h1", "/etc/dnf/vars/releasever", "9\n");
    fleet.write(
        "h1",
        "/etc/yum.repos.d/testfleet.repo",
        &RpmRepo::dnf_repo_file(&url),
    );
    fleet.ssh_ok("h1", &["dnf", "-q", "-y", "install", "pw-alpha-1.0-1"]);
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
        &["zypper", "--non-interactive", "install", "pw-alpha = 1.0-1"],
    );
    // A newer build with a security advisory.
    repo.publish(
        &[Rpm::new("pw-alpha", "1.1", "1")],
        &[Advisory {
            id: "PWT-2026:0100".into(),
            kind: "security".into(),
            severity: Some("Important".into()),
            issued: "2026-11-20 08:00:00".into(),
            cves: vec!["CVE-2026-4242".into()],
            package: Rpm::new("pw-alpha", "1.1", "1"),
        }],
    );

    let repo_dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let yaml = policy::stream(&[
        "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {name: t}\nspec: {scan: {refreshAfter: 0s}}\n",
        &policy::fleet_group("rpm-hosts", &fleet),
        "apiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {name: b}\nspec:\n  approvalRules:\n    - {name: security, classifications: [security]}\n",
        "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: r}\nspec: {waves: [\"100%\"]}\n",
        policy::ALWAYS_OPEN_WINDOW,
    ]);
    fs::write(repo_dir.path().join("fleet.yaml"), yaml).unwrap();

    let out = support::patchwave()
        .args(["apply", "--repo"])
        .arg(repo_dir.path())
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("2 patched, 0 failed"), "{said}");
    assert_eq!(rpm_version(&fleet, "h1"), "1.1-1");
    assert_eq!(rpm_version(&fleet, "h2"), "1.1-1");

    let run_id = said
        .lines()
        .find_map(|l| {
            l.split("run ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
        })
        .unwrap()
        .to_string();
    let back = support::patchwave()
        .args(["rollback", "--repo"])
        .arg(repo_dir.path())
        .arg("--state-dir")
        .arg(state.path())
        .args([
            "--run",
            &run_id,
            "--reason",
            "test rollback on dnf and zypper",
        ])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&back.stdout),
        String::from_utf8_lossy(&back.stderr)
    );
    assert_eq!(back.status.code(), Some(0), "{said}");
    assert_eq!(rpm_version(&fleet, "h1"), "1.0-1", "dnf downgrade");
    assert_eq!(
        rpm_version(&fleet, "h2"),
        "1.0-1",
        "zypper install --oldpackage"
    );
    drop(server);
}
