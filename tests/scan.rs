//! `patchwave scan` against real apt hosts of the test fleet, with a real
//! apt repository (a normal and a security suite) served over HTTP.

mod support;

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use support::aptrepo::{AptRepo, Deb, MAIN, SECURITY};
use support::fleet::{Base, Fleet};
use support::http::FileServer;
use support::policy;

/// Hosts h1-h3 have packages and updates; h4's sshd is stopped; h5 hangs
/// (its sshd is frozen: connections are accepted, never answered).
struct World {
    fleet: Fleet,
    repo_dir: tempfile::TempDir,
    _apt: tempfile::TempDir,
    _server: FileServer,
}

static WORLD: OnceLock<World> = OnceLock::new();

/// Tests share the hosts and refresh their package lists: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn world() -> &'static World {
    WORLD.get_or_init(|| {
        let fleet = Fleet::start(Base::Apt, 4, 5);
        let apt_dir = tempfile::tempdir().unwrap();
        let apt = AptRepo::new(apt_dir.path());
        // pw-alpha is built from a source of another name; pw-gamma from one
        // of another name and version (with an epoch); pw-beta from its own.
        let mut gamma = Deb::new("pw-gamma", "3.0-1");
        gamma.source = Some("pw-gamma-src (1:3.0-0)".into());
        apt.publish(
            MAIN,
            &[
                with_source(Deb::new("pw-alpha", "1.0-1")),
                Deb::new("pw-beta", "2.0-1"),
                gamma,
            ],
        );
        let server = FileServer::start(apt_dir.path());
        let sources = AptRepo::sources_list(&server.url());
        for h in ["h1", "h2", "h3"] {
            fleet.write(h, "/etc/apt/sources.list", &sources);
            fleet.ssh_ok(h, &["apt-get", "update", "-q"]);
            let mut pkgs = vec!["pw-alpha=1.0-1", "pw-beta=2.0-1"];
            if h == "h3" {
                pkgs.push("pw-gamma=3.0-1");
            }
            let mut argv = vec![
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-q",
            ];
            argv.extend(pkgs);
            fleet.ssh_ok(h, &argv);
        }
        // Newer versions appear: a normal update, and a security one whose
        // version has an epoch and a tilde.
        apt.publish(MAIN, &[with_source(Deb::new("pw-alpha", "1.1-1"))]);
        apt.publish(SECURITY, &[Deb::new("pw-beta", "2:2.1~rc1-1")]);
        fleet.ctl("stop-sshd", "h4");
        fleet.ctl("hang", "h5");

        let repo_dir = tempfile::tempdir().unwrap();
        write_fleet_repo(repo_dir.path(), &fleet);
        World {
            fleet,
            repo_dir,
            _apt: apt_dir,
            _server: server,
        }
    })
}

/// `deb` built from the source package `pw-src`.
fn with_source(mut deb: Deb) -> Deb {
    deb.source = Some("pw-src".into());
    deb
}

fn write_fleet_repo(dir: &Path, fleet: &Fleet) {
    let yaml = policy::stream(&[
        &policy::fleet_group("apt-hosts", fleet),
        policy::BASELINE_AND_ROLLOUT,
        policy::WEEKLY_WINDOW,
    ]);
    fs::write(dir.join("fleet.yaml"), yaml).unwrap();
}

fn scan(extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let w = world();
    let out = support::patchwave()
        .args(["scan", "--repo"])
        .arg(w.repo_dir.path())
        .args([
            "--format",
            "json",
            "--timeout",
            "20s",
            "--connect-timeout",
            "3s",
        ])
        .args(extra)
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    // Every scan these tests make is also held against the published schema.
    support::output_schema::assert_valid("Facts", &doc);
    (
        out.status.code(),
        doc,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn host<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == name)
        .unwrap()
}

/// `(name, installed, candidate, classification, severity, repository)` of a host's updates.
fn updates(h: &serde_json::Value) -> Vec<(String, String, String, String, String, String)> {
    h["facts"]["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let s = |k: &str| u[k].as_str().unwrap_or_default().to_string();
            (
                s("name"),
                s("installedVersion"),
                s("candidateVersion"),
                s("classification"),
                s("severity"),
                s("repository"),
            )
        })
        .collect()
}

#[test]
fn scan_reports_exactly_the_published_updates_and_the_dead_host() {
    let _serial = serial();
    world();
    let started = std::time::Instant::now();
    let (code, doc, stderr) = scan(&["--refresh", "always"]);
    let wall = started.elapsed().as_millis() as u64;
    // One host is down, so the scan as a whole is not clean.
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(doc["version"], 1);

    let expected = vec![
        (
            "pw-alpha".into(),
            "1.0-1".into(),
            "1.1-1".into(),
            "other".into(),
            "unspecified".into(),
            "PatchwaveTest:testfleet".into(),
        ),
        (
            "pw-beta".into(),
            "2.0-1".into(),
            "2:2.1~rc1-1".into(),
            "security".into(),
            "unspecified".into(),
            "PatchwaveTest-Security:testfleet-security".into(),
        ),
    ];
    for name in ["h1", "h2", "h3"] {
        let h = host(&doc, name);
        assert_eq!(h["state"], "scanned", "{h}");
        assert_eq!(h["facts"]["packageManager"], "apt");
        assert_eq!(h["facts"]["os"]["id"], "debian");
        assert_eq!(updates(h), expected, "{name}");
        let installed = h["facts"]["installed"].as_array().unwrap();
        let version_of = |p: &str| {
            installed
                .iter()
                .find(|i| i["name"] == p)
                .map(|i| i["version"].as_str().unwrap().to_string())
        };
        assert_eq!(version_of("pw-alpha").as_deref(), Some("1.0-1"));
        assert_eq!(version_of("pw-gamma").is_some(), name == "h3");
        assert!(installed.len() > 50, "a debootstrap base has many packages");
        assert_eq!(h["facts"]["rebootRequired"], false);
        assert!(
            h["facts"].get("rejectedLines").is_none(),
            "{}",
            h["facts"]["rejectedLines"]
        );
    }

    let dead = host(&doc, "h4");
    assert_eq!(dead["state"], "unreachable");
    assert!(
        dead["error"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{dead}"
    );
    assert!(dead["durationMs"].as_u64().unwrap() < 20_000, "{dead}");
    // The frozen host costs its own connect timeout (3 s here), nothing more, and
    // the others were scanned meanwhile.
    let hung = host(&doc, "h5");
    assert_eq!(hung["state"], "unreachable", "{hung}");
    assert!(
        hung["error"].as_str().unwrap().contains("timed out"),
        "{hung}"
    );
    assert!(hung["durationMs"].as_u64().unwrap() < 10_000, "{hung}");
    // Hosts were scanned side by side: the scan took less than their times added up.
    let total: u64 = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["durationMs"].as_u64().unwrap())
        .sum();
    assert!(
        wall < total,
        "scan took {wall} ms, hosts {total} ms in all: not parallel"
    );
}

#[test]
fn a_wrong_host_key_is_refused_with_a_clear_error() {
    let _serial = serial();
    let w = world();
    let kh = fs::read_to_string(w.fleet.known_hosts()).unwrap();
    let h1 = &w.fleet.host("h1").address;
    let h2 = &w.fleet.host("h2").address;
    let h2_key = kh
        .lines()
        .find(|l| l.starts_with(&format!("{h2} ")))
        .unwrap();
    let wrong = w.repo_dir.path().join("wrong_known_hosts");
    fs::write(&wrong, h2_key.replacen(h2.as_str(), h1, 1) + "\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_fleet_repo(dir.path(), &w.fleet);
    let yaml = fs::read_to_string(dir.path().join("fleet.yaml"))
        .unwrap()
        .replace(
            &w.fleet.known_hosts().display().to_string(),
            &wrong.display().to_string(),
        );
    fs::write(dir.path().join("fleet.yaml"), yaml).unwrap();
    let out = support::patchwave()
        .args(["scan", "--repo"])
        .arg(dir.path())
        .args(["--host", "h1", "--refresh", "never"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("apt-hosts/h1"), "{text}");
    assert!(
        text.contains("unreachable: h1: host key verification failed"),
        "{text}"
    );
    assert!(text.contains("known_hosts"), "{text}");
}

#[test]
fn text_output_summarises_the_fleet() {
    let _serial = serial();
    let w = world();
    let out = support::patchwave()
        .args(["scan", "--repo"])
        .arg(w.repo_dir.path())
        .args([
            "--refresh",
            "always",
            "--group",
            "apt-hosts",
            "--connect-timeout",
            "3s",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("    pw-beta 2.0-1 → 2:2.1~rc1-1  security  Unspecified  PatchwaveTest-Security:testfleet-security"), "{text}");
    assert!(
        text.contains(
            "5 hosts: 3 scanned, 2 unreachable, 0 failed; 6 updates available (3 security)"
        ),
        "{text}"
    );
}

/// The source package a binary comes from, by dpkg's `${Source}` field as
/// Debian documents it: empty for the binary's own name, else `name` or
/// `name (version)`; `None` when it is the binary's own.
fn expected_source<'a>(binary: &str, field: &'a str) -> Option<&'a str> {
    let name = field.split(" (").next().unwrap();
    (!name.is_empty() && name != binary).then_some(name)
}

#[test]
fn apt_scan_records_the_source_package_of_installed_packages_and_updates() {
    let _serial = serial();
    let w = world();
    let (code, doc, stderr) = scan(&["--host", "h1", "--refresh", "always"]);
    assert_eq!(code, Some(0), "{stderr}");
    let h = host(&doc, "h1");
    assert_eq!(h["state"], "scanned", "{h}");
    assert!(h["facts"].get("rejectedLines").is_none(), "{h}");
    let installed = h["facts"]["installed"].as_array().unwrap();
    let pkg = |n: &str| {
        installed
            .iter()
            .find(|p| p["name"] == n)
            .unwrap_or_else(|| panic!("{n} not installed: {h}"))
    };
    let update = |n: &str| {
        h["facts"]["updates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == n)
            .unwrap_or_else(|| panic!("no update for {n}: {h}"))
    };
    // A source of another name: on the installed package and on its update.
    assert_eq!(pkg("pw-alpha")["source"], "pw-src", "{h}");
    assert_eq!(update("pw-alpha")["source"], "pw-src", "{h}");
    // Its own source: no `source` at all.
    assert!(pkg("pw-beta").get("source").is_none(), "{h}");
    assert!(update("pw-beta").get("source").is_none(), "{h}");

    // What the host's own dpkg-query prints for `${Source}` (the debootstrap'd
    // bookworm base and the test packages), and what the scan made of it.
    let raw = w.fleet.ssh_ok(
        "h1",
        &[
            "dpkg-query",
            "-W",
            "-f",
            "${Package}\\t${Architecture}\\t${db:Status-Abbrev}\\t${Source}\\n",
        ],
    );
    let mut checked = 0;
    let (mut other_name, mut bin_nmu_own, mut bin_nmu_other) = (0, 0, 0);
    for line in raw.lines() {
        let [name, arch, status, field] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("dpkg-query printed `{line}`");
        };
        if status != "ii " {
            continue;
        }
        let scanned = installed
            .iter()
            .find(|p| p["name"] == name && p["arch"] == arch)
            .unwrap_or_else(|| panic!("{name}:{arch} is installed but not in the scan: {h}"));
        let expected = expected_source(name, field);
        assert_eq!(scanned["source"].as_str(), expected, "`{line}`: {scanned}");
        checked += 1;
        match (field.contains(" ("), expected.is_some()) {
            (false, true) => other_name += 1,
            (true, false) => bin_nmu_own += 1,
            (true, true) => bin_nmu_other += 1,
            (false, false) => {}
        }
    }
    assert_eq!(checked, installed.len());
    assert!(
        other_name > 20 && bin_nmu_own > 0 && bin_nmu_other > 0,
        "the base has every shape of `${{Source}}`: {other_name} names, {bin_nmu_own} binNMUs \
         of an own source, {bin_nmu_other} of another:\n{raw}"
    );
    assert!(raw.contains("\nlibc6\tamd64\tii \tglibc\n"), "{raw}");
    assert_eq!(pkg("libc6")["source"], "glibc");

    // A source of another name and version (with an epoch), on h3.
    let (code, doc, stderr) = scan(&["--host", "h3", "--refresh", "never"]);
    assert_eq!(code, Some(0), "{stderr}");
    let h3 = host(&doc, "h3");
    let gamma = h3["facts"]["installed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pw-gamma")
        .unwrap_or_else(|| panic!("{h3}"));
    assert_eq!(gamma["source"], "pw-gamma-src", "{gamma}");
    assert_eq!(
        w.fleet
            .ssh_ok("h3", &["dpkg-query", "-W", "-f", "${Source}", "pw-gamma"]),
        "pw-gamma-src (1:3.0-0)"
    );
}

/// An RPM host (dnf) with its own repository and advisories.
struct RpmWorld {
    fleet: Fleet,
    repo_dir: tempfile::TempDir,
    _rpm: tempfile::TempDir,
    _server: FileServer,
}

static RPM_WORLD: OnceLock<RpmWorld> = OnceLock::new();

fn rpm_world() -> &'static RpmWorld {
    use support::rpmrepo::{Advisory, Rpm, RpmRepo};
    RPM_WORLD.get_or_init(|| {
        // h1 is a dnf host, h2 a zypper host, on the same repository.
        let fleet = Fleet::start(Base::Rpm, 5, 2);
        let dir = tempfile::tempdir().unwrap();
        let mut repo = RpmRepo::new(dir.path());
        let mut gamma = Rpm::new("pw-gamma", "1.0", "1");
        gamma.epoch = Some(3);
        // pw-alpha is built from a source of another name (`pw-src`).
        let alpha = |v: &str| Rpm { source: Some("pw-src".into()), ..Rpm::new("pw-alpha", v, "1") };
        repo.publish(&[alpha("1.0"), Rpm::new("pw-beta", "2.0", "1"), gamma], &[]);
        let server = FileServer::start(dir.path());
        // The base is Debian with dnf, zypper and rpm added: make each host look
        // like the family it stands for, with the rpm database where that family keeps it.
        let url = format!("{}/repo", server.url());
        for (h, os) in [
            ("h1", "ID=patchwave-rpmtest\nID_LIKE=\"rhel fedora\"\nVERSION_ID=9\nPRETTY_NAME=\"patchwave RPM test host\"\n"),
            ("h2", "ID=opensuse-leap\nID_LIKE=\"suse opensuse\"\nVERSION_ID=15.6\nPRETTY_NAME=\"patchwave zypper test host\"\n"),
        ] {
            fleet.write(h, "/etc/os-release", os);
            fleet.ssh_ok(h, &["mkdir", "-p", "/etc/yum.repos.d", "/etc/dnf/vars", "/etc/rpm"]);
            fleet.write(h, "/etc/rpm/macros", "%_dbpath /var/lib/rpm\n");
        }
        fleet.write("h1", "/etc/dnf/vars/releasever", "9\n");
        fleet.write("h1", "/etc/yum.repos.d/testfleet.repo", &RpmRepo::dnf_repo_file(&url));
        fleet.ssh_ok("h1", &["dnf", "-q", "-y", "install", "pw-alpha-1.0-1", "pw-beta-2.0-1", "pw-gamma-3:1.0-1"]);
        fleet.ssh_ok("h2", &["zypper", "--non-interactive", "addrepo", "--no-gpgcheck", &url, "testfleet"]);
        fleet.ssh_ok("h2", &["zypper", "--non-interactive", "install", "pw-alpha = 1.0-1", "pw-beta = 2.0-1"]);
        let mut gamma2 = Rpm::new("pw-gamma", "1.1", "1");
        gamma2.epoch = Some(3);
        repo.publish(
            &[alpha("1.1"), Rpm::new("pw-beta", "2.1", "1"), gamma2.clone()],
            &[
                Advisory {
                    id: "PWT-2026:0001".into(),
                    kind: "security".into(),
                    severity: Some("Important".into()),
                    issued: "2026-11-20 08:00:00".into(),
                    cves: vec!["CVE-2026-1234".into()],
                    package: Rpm::new("pw-beta", "2.1", "1"),
                },
                Advisory {
                    id: "PWT-2026:0002".into(),
                    kind: "bugfix".into(),
                    severity: None,
                    issued: "2026-11-18 12:00:00".into(),
                    cves: vec![],
                    package: Rpm::new("pw-alpha", "1.1", "1"),
                },
            ],
        );
        let repo_dir = tempfile::tempdir().unwrap();
        write_fleet_repo(repo_dir.path(), &fleet);
        RpmWorld { fleet, repo_dir, _rpm: dir, _server: server }
    })
}

/// Scans one RPM host with a fresh refresh; the scan must succeed.
fn scan_rpm_host(w: &RpmWorld, name: &str) -> serde_json::Value {
    let out = support::patchwave()
        .args(["scan", "--repo"])
        .arg(w.repo_dir.path())
        .args([
            "--host",
            name,
            "--format",
            "json",
            "--refresh",
            "always",
            "--timeout",
            "60s",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{doc}");
    support::output_schema::assert_valid("Facts", &doc);
    doc
}

#[test]
fn dnf_host_reports_advisory_type_severity_cves_and_dates() {
    let _serial = serial();
    let w = rpm_world();
    let doc = scan_rpm_host(w, "h1");
    let h = host(&doc, "h1");
    assert_eq!(h["facts"]["packageManager"], "dnf", "{h}");
    assert_eq!(h["facts"]["os"]["id"], "patchwave-rpmtest");
    let ups = h["facts"]["updates"].as_array().unwrap();
    let row = |n: &str| {
        ups.iter()
            .find(|u| u["name"] == n)
            .unwrap_or_else(|| panic!("no update for {n}: {h}"))
    };
    let beta = row("pw-beta");
    assert_eq!(beta["installedVersion"], "2.0-1");
    assert_eq!(beta["candidateVersion"], "2.1-1");
    assert_eq!(beta["classification"], "security");
    assert_eq!(beta["severity"], "important");
    assert_eq!(beta["advisory"], "PWT-2026:0001");
    assert_eq!(beta["cves"], serde_json::json!(["CVE-2026-1234"]));
    assert_eq!(beta["releaseDate"], "2026-11-20");
    assert_eq!(beta["repository"], "testfleet");
    let alpha = row("pw-alpha");
    assert_eq!(
        (alpha["classification"].as_str(), alpha["severity"].as_str()),
        (Some("bugfix"), Some("unspecified"))
    );
    assert_eq!(alpha["releaseDate"], "2026-11-18");
    // An update with no advisory at all: other, unspecified, no date.
    let gamma = row("pw-gamma");
    assert_eq!(
        (
            gamma["installedVersion"].as_str(),
            gamma["candidateVersion"].as_str()
        ),
        (Some("3:1.0-1"), Some("3:1.1-1"))
    );
    assert_eq!(
        (gamma["classification"].as_str(), gamma["severity"].as_str()),
        (Some("other"), Some("unspecified"))
    );
    assert!(gamma.get("releaseDate").is_none());
    assert_eq!(ups.len(), 3);
    assert_eq!(h["facts"]["rebootRequired"], false);
    assert_rpm_sources(w, h);
}

/// pw-alpha names its source rpm `pw-src` (the scan records it on the
/// installed package and its update); pw-beta's is its own (nothing recorded).
fn assert_rpm_sources(w: &RpmWorld, h: &serde_json::Value) {
    let name = h["host"].as_str().unwrap();
    let installed = |n: &str| {
        h["facts"]["installed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .unwrap_or_else(|| panic!("{n} not installed: {h}"))
    };
    let update = |n: &str| {
        h["facts"]["updates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == n)
            .unwrap_or_else(|| panic!("no update for {n}: {h}"))
    };
    assert_eq!(installed("pw-alpha")["source"], "pw-src", "{h}");
    assert_eq!(update("pw-alpha")["source"], "pw-src", "{h}");
    assert!(installed("pw-beta").get("source").is_none(), "{h}");
    assert!(update("pw-beta").get("source").is_none(), "{h}");
    assert!(h["facts"].get("rejectedLines").is_none(), "{h}");
    // What the host's rpm says.
    assert_eq!(
        w.fleet.ssh_ok(
            name,
            &["rpm", "-q", "--qf", "%{SOURCERPM} ", "pw-alpha", "pw-beta"]
        ),
        "pw-src-1.0-1.src.rpm pw-beta-2.0-1.src.rpm "
    );
}

#[test]
fn zypper_host_reports_patch_category_severity_and_cves() {
    let _serial = serial();
    let w = rpm_world();
    let doc = scan_rpm_host(w, "h2");
    let h = host(&doc, "h2");
    assert_eq!(h["facts"]["packageManager"], "zypper", "{h}");
    let ups = h["facts"]["updates"].as_array().unwrap();
    let row = |n: &str| {
        ups.iter()
            .find(|u| u["name"] == n)
            .unwrap_or_else(|| panic!("no update for {n}: {h}"))
    };
    let beta = row("pw-beta");
    assert_eq!(
        (
            beta["installedVersion"].as_str(),
            beta["candidateVersion"].as_str()
        ),
        (Some("2.0-1"), Some("2.1-1"))
    );
    assert_eq!(
        (beta["classification"].as_str(), beta["severity"].as_str()),
        (Some("security"), Some("important"))
    );
    assert_eq!(beta["advisory"], "PWT-2026:0001");
    assert_eq!(beta["cves"], serde_json::json!(["CVE-2026-1234"]));
    assert_eq!(beta["releaseDate"], "2026-11-20");
    let alpha = row("pw-alpha");
    assert_eq!(
        (alpha["classification"].as_str(), alpha["severity"].as_str()),
        (Some("bugfix"), Some("unspecified"))
    );
    assert_eq!(ups.len(), 2, "{h}");
    assert_rpm_sources(w, h);
}

#[test]
fn auto_refresh_refreshes_once_then_trusts_the_fresh_lists() {
    let _serial = serial();
    let w = world();
    let stamp = || {
        let out = w.fleet.ssh(
            "h1",
            &["stat", "-c", "%Y", "/var/lib/patchwave/apt-update-stamp"],
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    // Forget any earlier refresh, so `auto` must refresh now.
    w.fleet
        .ssh_ok("h1", &["rm", "-f", "/var/lib/patchwave/apt-update-stamp"]);
    let (code, doc, stderr) = scan(&["--host", "h1", "--refresh", "auto"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(host(&doc, "h1")["state"], "scanned");
    let first = stamp().expect("auto refreshed and left its stamp");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, _, stderr) = scan(&["--host", "h1", "--refresh", "auto"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stamp().as_deref(),
        Some(first.as_str()),
        "fresh lists must not be refreshed again"
    );
    let (code, _, _) = scan(&["--host", "h1", "--refresh", "always"]);
    assert_eq!(code, Some(0));
    assert_ne!(
        stamp().as_deref(),
        Some(first.as_str()),
        "`always` refreshes"
    );
}
