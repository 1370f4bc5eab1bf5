//! `patchwave plan` on the example repository from its bundled facts:
//! exit codes, and golden text and Markdown renderings.
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test --test plan`.

mod support;

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn plan(extra: &[&str]) -> (Option<i32>, String, String) {
    let out = support::patchwave()
        .args([
            "plan",
            "--repo",
            "examples/fleet",
            "--facts",
            "examples/facts.json",
            "--now",
            "2026-12-02T09:30:00Z",
        ])
        .args(extra)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The plan's commit line names the HEAD of this repository, which every
/// commit changes: the golden files say `<commit>` there.
fn without_commit(out: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for l in out.lines() {
        match l.split_once(" · as of ") {
            Some((c, rest)) if c.starts_with("commit ") => {
                lines.push(format!("commit <commit> · as of {rest}"))
            }
            _ => lines.push(l.to_string()),
        }
    }
    lines.join("\n") + if out.ends_with('\n') { "\n" } else { "" }
}

fn golden(name: &str, got: &str) {
    let got = without_commit(got);
    let path = root().join("testdata/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == got,
        "{} differs from the output; if the change is intended, run UPDATE_GOLDEN=1 cargo test --test plan\n--- got ---\n{got}",
        path.display()
    );
}

#[test]
fn text_plan_matches_golden_and_exits_2_for_changes() {
    let (code, out, err) = plan(&[]);
    assert_eq!(code, Some(2), "{err}");
    golden("plan.txt", &out);
    assert!(out.ends_with(
        "Plan: 2 hosts to change, 5 packages (5 unspecified), 2 reboots; 1 pending reboot, 1 rejected installed; 1 host unknown.\n"
    ));
    // Installed packages needing attention are shown on their hosts.
    assert!(out.contains("      ! postgresql-16 16.4-1.pgdg120+1  INSTALLED_REJECTED: rejected version installed: Major PostgreSQL upgrades"), "{out}");
    assert!(
        out.contains("      ! libc6 2.36-9+deb12u10  INSTALLED_PENDING_REBOOT"),
        "{out}"
    );
}

#[test]
fn markdown_plan_matches_golden() {
    let (code, out, err) = plan(&["--format", "markdown"]);
    assert_eq!(code, Some(2), "{err}");
    golden("plan.md", &out);
}

#[test]
fn json_plan_is_versioned_and_names_every_decision() {
    let (code, out, _) = plan(&["--format", "json"]);
    assert_eq!(code, Some(2));
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["version"], 1);
    let staging = doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "staging")
        .unwrap();
    assert_eq!(staging["window"]["state"], "open");
    let web = &staging["waves"][0]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "stg-web-1")
        .unwrap();
    let docker = web["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "docker-ce")
        .unwrap();
    assert_eq!(docker["decision"]["state"], "EXPLICIT_REJECTED");
    let prod = doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "db-prod")
        .unwrap();
    assert_eq!(prod["unknown"][0]["host"], "db-3");
}

/// Facts older than `scan.refreshAfter` (6h by default) at `--now` are
/// flagged in every format, and their age is in the JSON.
#[test]
fn stale_facts_are_flagged_in_every_format() {
    let run = |now: &str, format: &str| {
        let out = support::patchwave()
            .args([
                "plan",
                "--repo",
                "examples/fleet",
                "--facts",
                "examples/facts.json",
            ])
            .args(["--now", now, "--format", format])
            .current_dir(root())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stale = "stale facts: ";
    for format in ["text", "markdown", "json"] {
        let fresh = run("2026-12-02T09:30:00Z", format);
        assert!(!fresh.contains(stale), "{format}: {fresh}");
        let old = run("2026-12-05T12:00:00Z", format);
        assert!(old.contains(stale), "{format}: {old}");
        assert!(
            old.contains("was scanned at 2026-12-02T09:00:00Z, 3d 3h before this plan's time 2026-12-05T12:00:00Z, longer ago than scan.refreshAfter (6h 0m)"),
            "{format}: {old}"
        );
    }
    let doc: serde_json::Value =
        serde_json::from_str(&run("2026-12-05T12:00:00Z", "json")).unwrap();
    assert_eq!(doc["facts"]["oldestScan"], "2026-12-02T09:00:00Z");
}

#[test]
fn a_group_with_nothing_approved_exits_0() {
    let (code, out, _) = plan(&["--group", "web-prod"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Plan: 0 hosts to change"), "{out}");
}

#[test]
fn bad_facts_are_a_clear_error() {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), "{\"version\": 1, \"hosts\": [{\"host\": 3}]}").unwrap();
    let out = support::patchwave()
        .args(["plan", "--repo", "examples/fleet", "--facts"])
        .arg(tmp.path())
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":1:") && err.contains("not a facts document"),
        "{err}"
    );
    assert!(err.contains("patchwave scan --format json"), "{err}");
}

/// The CLI streams facts and plans batches of hosts in parallel; the result
/// must equal planning the parsed facts in one piece, in order.
#[test]
fn streamed_parallel_planning_equals_planning_in_one_piece() {
    use patchwave::facts::FleetFacts;
    use patchwave::plan::{History, PlanContext, PlanInput, plan_fleet};
    use patchwave::schedule::Calendar;

    let dir = tempfile::tempdir().unwrap();
    let n = 700; // more than two batches
    let mut yaml = String::from(
        "apiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {name: b}\nspec:\n  approvalRules:\n    - {name: sec, classifications: [security]}\n    - {name: rest, approveAfterDays: 7}\n---\napiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: r}\nspec: {waves: [1, \"10%\", \"100%\"]}\n---\napiVersion: patchwave.dev/v1\nkind: MaintenanceWindow\nmetadata: {name: w}\nspec: {schedule: \"0 22 * * SAT\", duration: 4h}\n---\napiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {name: g}\nspec:\n  baseline: b\n  rollout: r\n  windows: [w]\n  hosts:\n",
    );
    let mut hosts = Vec::new();
    for h in 0..n {
        yaml.push_str(&format!(
            "    - {{name: h{h}, address: 10.0.{}.{}}}\n",
            h / 250,
            h % 250 + 1
        ));
        let state = if h % 97 == 0 {
            serde_json::json!({"state": "unreachable", "error": format!("h{h}: down")})
        } else {
            let updates: Vec<_> = (0..(h % 5)).map(|p| serde_json::json!({
                "name": format!("p{p}"), "arch": "amd64", "installedVersion": "1.0-1",
                "candidateVersion": format!("1.{}-1", h % 3 + 1), "repository": "X-Security:s",
                "classification": if p % 2 == 0 { "security" } else { "bugfix" }, "severity": "important"
            })).collect();
            let installed: Vec<_> = (0..5).map(|p| serde_json::json!({"name": format!("p{p}"), "arch": "amd64", "version": "1.0-1"})).collect();
            serde_json::json!({"state": "scanned", "facts": {"os": {"id": "debian"}, "packageManager": "apt",
                "kernel": "k", "bootId": "b", "rebootRequired": h % 7 == 0, "installed": installed, "updates": updates}})
        };
        let mut host = serde_json::json!({"host": format!("h{h}"), "group": "g", "address": "a", "transport": "ssh",
            "scannedAt": "2026-12-01T00:00:00Z", "durationMs": 1});
        host.as_object_mut()
            .unwrap()
            .extend(state.as_object().unwrap().clone());
        hosts.push(host);
    }
    // Facts in reverse order: the plan must not depend on it.
    hosts.reverse();
    let facts_text =
        serde_json::to_string_pretty(&serde_json::json!({"version": 1, "hosts": hosts})).unwrap();
    std::fs::write(dir.path().join("fleet.yaml"), &yaml).unwrap();
    let facts_path = dir.path().join("facts.json");
    std::fs::write(&facts_path, &facts_text).unwrap();

    let out = support::patchwave()
        .args([
            "plan",
            "--format",
            "json",
            "--now",
            "2026-12-02T09:30:00Z",
            "--repo",
        ])
        .arg(dir.path())
        .arg("--facts")
        .arg(&facts_path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let streamed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let checked = patchwave::spec::check(dir.path()).unwrap();
    let facts: FleetFacts = serde_json::from_str(&facts_text).unwrap();
    let (history, tz) = (History::default(), jiff::tz::TimeZone::UTC);
    let calendar = Calendar::build(&checked.repo);
    let vulns = patchwave::vuln::VulnIndex::default();
    let context = PlanContext {
        repo: &checked.repo,
        history: &history,
        calendar: &calendar,
        now: "2026-12-02T09:30:00Z".parse().unwrap(),
        tz: &tz,
        only_group: None,
        only_host: None,
        vulns: &vulns,
    };
    let whole = plan_fleet(&PlanInput {
        context,
        facts: &facts,
    })
    .unwrap();
    assert_eq!(streamed, serde_json::to_value(&whole).unwrap());
    assert_eq!(whole.summary.hosts_unknown, 8);
    assert!(
        whole.groups[0].waves.len() == 3,
        "{:?}",
        whole.groups[0].waves.len()
    );
}

/// Errors deep in a large file (after several batches went through the
/// parallel pipeline) still name their line, and the command ends.
#[test]
fn errors_after_many_batches_name_their_line() {
    let host = |i: usize| {
        format!(
            "{{\"host\":\"x{i}\",\"group\":\"g\",\"address\":\"a\",\"transport\":\"ssh\",\"scannedAt\":\"2026-12-01T00:00:00Z\",\"durationMs\":1,\"state\":\"unreachable\",\"error\":\"down\"}}"
        )
    };
    for (tail, line, what) in [
        // Host 1001 (line 1002) has a bad value.
        ("{\"host\": 3}\n]}\n", 1002, "invalid type"),
        // The file stops in the middle of the list.
        ("{\"host\": \"cut", 1002, "unexpected end of input"),
    ] {
        let mut text = String::from("{\"version\": 1, \"hosts\": [\n");
        for i in 0..1000 {
            text.push_str(&host(i));
            text.push_str(",\n");
        }
        text.push_str(tail);
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), &text).unwrap();
        let out = support::patchwave()
            .args(["plan", "--repo", "examples/fleet", "--facts"])
            .arg(tmp.path())
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!(":{line}:")), "{err}");
        assert!(err.contains(what), "{err}");
    }
}

/// The example fleet as a git checkout of its own in `dir`.
fn example_checkout(dir: &std::path::Path) -> PathBuf {
    use support::git::{commit, git};
    let repo = dir.join("fleet");
    std::fs::create_dir(&repo).unwrap();
    support::git::run(
        &repo,
        "cp",
        &[
            "-r",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fleet/."),
            ".",
        ],
    );
    git(&repo, &["init", "-q", "-b", "main"]);
    commit(&repo, "fleet", None);
    repo
}

/// The decision state of `package` in the plan's first group (on `host`,
/// or the first host that has it).
fn decision_state(doc: &serde_json::Value, host: Option<&str>, package: &str) -> String {
    let g = &doc["groups"][0];
    g["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["hosts"].as_array().unwrap())
        .chain(g["unchanged"].as_array().unwrap())
        .filter(|h| host.is_none_or(|name| h["host"] == name))
        .flat_map(|h| {
            h["install"]
                .as_array()
                .unwrap()
                .iter()
                .chain(h["withheld"].as_array().unwrap())
        })
        .find(|p| p["name"] == package)
        .map(|p| p["decision"]["state"].as_str().unwrap().to_string())
        .unwrap()
}

/// A machine with no run state of its own (a CI runner) reads the first
/// sightings other runs recorded on the status branch.
#[test]
fn first_sightings_come_from_the_status_branch_too() {
    use support::git::git;
    let tmp = tempfile::tempdir().unwrap();
    let repo = example_checkout(tmp.path());
    let tzdata = |doc: &serde_json::Value| decision_state(doc, None, "tzdata");
    let plan = || {
        let out = support::patchwave()
            .args([
                "plan",
                "--format",
                "json",
                "--group",
                "staging",
                "--now",
                "2026-12-02T09:30:00Z",
                "--facts",
            ])
            .arg(root().join("examples/facts.json"))
            .arg("--repo")
            .arg(&repo)
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    // staging approves `other` updates 3 days after they were first seen:
    // seen "today" (no history), tzdata waits.
    assert_eq!(tzdata(&plan()), "PENDING_APPROVAL");
    git(&repo, &["checkout", "-q", "--orphan", "patchwave/status"]);
    git(&repo, &["rm", "-rqf", "--cached", "."]);
    std::fs::create_dir_all(repo.join("status")).unwrap();
    std::fs::write(
        repo.join("status/first-seen.yaml"),
        "- package: tzdata\n  version: 2025b-0+deb12u2\n  firstSeen: 2026-11-20T08:00:00Z\n",
    )
    .unwrap();
    git(&repo, &["add", "status"]);
    git(&repo, &["commit", "-q", "-m", "status"]);
    git(&repo, &["checkout", "-q", "-f", "main"]);
    assert_eq!(
        tzdata(&plan()),
        "APPROVED",
        "first seen 2026-11-20, per the status branch"
    );
}

/// A machine with no run state of its own judges `promotion` from the stage
/// hosts' records on the status branch (installed-since and health), the
/// way the machine that patched the stage would.
#[test]
fn stage_history_comes_from_the_status_branch_too() {
    use support::git::git;
    let tmp = tempfile::tempdir().unwrap();
    let repo = example_checkout(tmp.path());
    let openssl_on_web_1 = || {
        let out = support::patchwave()
            .args(["plan", "--format", "json", "--group", "web-prod"])
            .args(["--now", "2026-12-02T09:30:00Z", "--facts"])
            .arg(root().join("examples/facts.json"))
            .arg("--repo")
            .arg(&repo)
            .arg("--state-dir")
            .arg(tmp.path().join("empty-state"))
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        decision_state(&doc, Some("web-1"), "openssl")
    };
    // Production promotes from staging after 2 days installed and healthy.
    assert_eq!(openssl_on_web_1(), "PENDING_APPROVAL");
    git(&repo, &["checkout", "-q", "--orphan", "patchwave/status"]);
    git(&repo, &["rm", "-rqf", "--cached", "."]);
    std::fs::create_dir_all(repo.join("status/history")).unwrap();
    let record = |host: &str, healthy: bool| {
        format!(
            "version: 1\nhost: {host}\nlastScan: 2026-12-01T08:00:00Z\ninstalled:\n  openssl:amd64:\n    version: 3.0.17-1~deb12u2\n    since: 2026-11-20T08:00:00Z\nhealth:\n  healthy: {healthy}\n  since: 2026-11-20T09:00:00Z\n"
        )
    };
    let write = |db_healthy: bool| {
        for (host, healthy) in [("stg-web-1", true), ("stg-db-1", db_healthy)] {
            std::fs::write(
                repo.join(format!("status/history/{host}.yaml")),
                record(host, healthy),
            )
            .unwrap();
        }
        git(&repo, &["add", "status"]);
        git(&repo, &["commit", "-q", "-m", "status"]);
    };
    // One stage host unhealthy: still waiting.
    write(false);
    git(&repo, &["checkout", "-q", "-f", "main"]);
    assert_eq!(openssl_on_web_1(), "PENDING_APPROVAL");
    git(&repo, &["checkout", "-q", "-f", "patchwave/status"]);
    write(true);
    git(&repo, &["checkout", "-q", "-f", "main"]);
    assert_eq!(
        openssl_on_web_1(),
        "EXPLICIT_APPROVED",
        "installed and healthy on every staging host since 2026-11-20, per the status branch"
    );
}

// ---------------------------------------------------------------------------
// The Markdown plan at any size: grouped, within its budget, cut by its rule.

/// How a generated fleet's hosts differ.
#[derive(Clone, Copy)]
enum Shape {
    /// As a real fleet drifts: a few update sets shared by many hosts, every
    /// tenth host with an update of its own (so folding cannot fold
    /// everything), rejected updates with a non-ASCII reason installed on
    /// every fifth, unreachable hosts, hosts pending a reboot.
    Drifted,
    /// Every host the same: two updates, nothing else.
    Uniform,
}

/// A fleet of `hosts` hosts in `dir` (fleet.yaml, facts.json): groups of 50
/// hosts, waves `[1, 10%, 100%]`, times in America/New_York, every host
/// scanned at 2026-12-02T09:00:00Z. Returns the facts path.
fn generated_fleet(dir: &std::path::Path, hosts: usize, shape: Shape) -> PathBuf {
    use serde_json::json;
    use std::fmt::Write as _;
    let groups = hosts.div_ceil(50);
    let mut yaml = String::from(
        "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {name: gen}\nspec: {timezone: America/New_York}\n---\napiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {name: b}\nspec:\n  approvalRules:\n    - {name: sec, classifications: [security]}\n    - {name: rest, approveAfterDays: 7}\n  rejected:\n    - {package: \"legacy-*\", reason: \"nicht freigegeben — Größe ändert sich ✂ 🚫\"}\n---\napiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: r}\nspec: {waves: [1, \"10%\", \"100%\"]}\n---\napiVersion: patchwave.dev/v1\nkind: MaintenanceWindow\nmetadata: {name: w}\nspec: {schedule: \"0 22 * * SAT\", duration: 4h, timezone: America/New_York}\n",
    );
    for g in 0..groups {
        let _ = write!(
            yaml,
            "---\napiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {{name: group-{g}}}\nspec:\n  baseline: b\n  rollout: r\n  windows: [w]\n  hosts:\n"
        );
        for h in (g * 50)..((g + 1) * 50).min(hosts) {
            let _ = writeln!(
                yaml,
                "    - {{name: host-{h:05}, address: 10.{}.{}.{}}}",
                h / 65536,
                (h / 256) % 256,
                h % 256
            );
        }
    }
    std::fs::write(dir.join("fleet.yaml"), &yaml).unwrap();
    let drifted = matches!(shape, Shape::Drifted);
    let update = |name: &str, from: &str, to: &str, class: &str, severity: &str| {
        json!({"name": name, "arch": "amd64", "installedVersion": from, "candidateVersion": to,
            "repository": "Debian-Security:12/stable-security", "classification": class, "severity": severity})
    };
    let mut facts = Vec::new();
    for h in 0..hosts {
        let mut host = json!({"host": format!("host-{h:05}"), "group": format!("group-{}", h / 50),
            "address": "a", "transport": "ssh", "scannedAt": "2026-12-02T09:00:00Z", "durationMs": 1});
        let state = if drifted && h % 37 == 5 {
            json!({"state": "unreachable", "error": format!("host-{h:05}: cannot connect: ssh: connect to host 10.0.{}.{} port 22: Connection timed out", h / 256 % 256, h % 256)})
        } else {
            let mut installed: Vec<serde_json::Value> = (0..8)
                .map(|p| json!({"name": format!("pkg-{p}"), "arch": "amd64", "version": "1.0-1"}))
                .collect();
            let set = if drifted { h % 4 + 2 } else { 1 };
            let mut updates: Vec<serde_json::Value> = (0..=set)
                .map(|p| {
                    let class = if p % 2 == 0 || !drifted {
                        "security"
                    } else {
                        "bugfix"
                    };
                    update(
                        &format!("pkg-{p}"),
                        "1.0-1",
                        &format!("1.{}-1~deb12u1", p + 1),
                        class,
                        "important",
                    )
                })
                .collect();
            if drifted && h % 10 == 3 {
                installed.push(json!({"name": "drift", "arch": "amd64", "version": "0.9-1"}));
                updates.push(update(
                    "drift",
                    "0.9-1",
                    &format!("1.{h}-1"),
                    "security",
                    "critical",
                ));
            }
            if drifted && h % 5 == 0 {
                installed.push(json!({"name": "legacy-tool", "arch": "amd64", "version": "2.0-1"}));
                updates.push(update("legacy-tool", "2.0-1", "3.0-1", "bugfix", "low"));
            }
            let reboot = drifted && h % 23 == 0;
            json!({"state": "scanned", "facts": {"os": {"id": "debian"}, "packageManager": "apt",
                "kernel": "k", "bootId": "b", "rebootRequired": reboot,
                "rebootRequiredBy": if reboot { vec!["pkg-7"] } else { vec![] },
                "installed": installed, "updates": updates}})
        };
        host.as_object_mut()
            .unwrap()
            .extend(state.as_object().unwrap().clone());
        facts.push(host);
    }
    let path = dir.join("facts.json");
    std::fs::write(
        &path,
        serde_json::to_string(&json!({"version": 1, "hosts": facts})).unwrap(),
    )
    .unwrap();
    path
}

/// `patchwave plan` of the fleet in `dir` (as of 2026-12-02T09:30:00Z).
fn plan_dir(dir: &std::path::Path, facts: &std::path::Path, extra: &[&str]) -> String {
    let out = support::patchwave()
        .args(["plan", "--now", "2026-12-02T09:30:00Z", "--repo"])
        .arg(dir)
        .arg("--facts")
        .arg(facts)
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the plan is UTF-8")
}

/// An entry, as its summary says it, whether shown as a line or as details:
/// `~ group-0 · 12 hosts: … · wave 1 · 2 to install`.
fn entry_summaries(md: &str) -> Vec<String> {
    md.lines()
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix("<details><summary><code>") {
                let (marker, rest) = rest.split_once("</code> <b>")?;
                let (group, rest) = rest.split_once("</b>")?;
                Some(format!(
                    "{marker} {group}{}",
                    rest.strip_suffix("</summary>")?
                ))
            } else if let Some(rest) = l.strip_prefix("- `") {
                let (marker, rest) = rest.split_once("` **")?;
                let (group, rest) = rest.split_once("**")?;
                Some(format!("{marker} {group}{rest}"))
            } else {
                None
            }
        })
        .collect()
}

/// The hosts an entry summary names: `12 hosts: …` → 12.
fn entry_hosts(summary: &str) -> usize {
    let (_, rest) = summary.split_once(" · ").unwrap();
    let n = rest.split(" host").next().unwrap();
    n.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("{summary}"))
}

/// The number after `prefix` in `text`, thousands separators and all.
fn number_after(text: &str, prefix: &str) -> Option<usize> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

const CUT: &str = "This plan was cut to fit ";

/// Markdown that a cut left whole: every `<details>` closed, every table
/// row with its cells, a line never cut short.
fn assert_well_formed(md: &str) {
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count(),
        "{md}"
    );
    let mut open = false;
    for l in md.lines() {
        if l.starts_with("<details>") {
            assert!(!open, "nested details: {l}");
            open = true;
        }
        if l == "</details>" {
            assert!(open, "closed twice");
            open = false;
        }
        if l.starts_with('|') {
            assert!(l.ends_with('|'), "a row cut short: {l}");
            let cells = l.matches('|').count() - l.matches("\\|").count();
            assert_eq!(cells, 8, "{l}");
        }
    }
    assert!(!open, "a details block left open");
    assert!(md.ends_with("\n"), "{md}");
}

/// What a cut Markdown plan promises, against the whole one: within the
/// budget; the same head; its entries a prefix of the whole plan's, in
/// order; every host either in a shown entry or counted as not shown.
fn assert_cut_by_the_rule(cut: &str, whole: &str, budget: usize) {
    if whole.len() <= budget {
        assert_eq!(cut, whole, "what fits is not cut");
        return;
    }
    assert!(cut.len() <= budget, "{} > {budget}", cut.len());
    assert_well_formed(cut);
    assert!(cut.contains(CUT), "no cut notice");
    assert!(cut.contains("patchwave plan --format markdown --max-bytes 0"));
    assert!(cut.contains("`plan.json`"));
    let head = whole.split("\n| group |").next().unwrap();
    assert!(cut.starts_with(head), "the head is always shown:\n{cut}");
    let (shown, all) = (entry_summaries(cut), entry_summaries(whole));
    assert_eq!(
        shown[..],
        all[..shown.len()],
        "entries are cut from the end"
    );
    let shown_hosts: usize = shown.iter().map(|s| entry_hosts(s)).sum();
    let all_hosts: usize = all.iter().map(|s| entry_hosts(s)).sum();
    let hidden = number_after(cut, "… ").filter(|_| cut.contains(" more host"));
    assert_eq!(
        shown_hosts + hidden.unwrap_or(0),
        all_hosts,
        "every host is shown or counted"
    );
    if shown.len() < all.len() {
        assert_eq!(
            number_after(cut, " more hosts (").or(number_after(cut, " more host (")),
            Some(all.len() - shown.len()),
            "entries not shown are counted"
        );
    }
}

/// A 300-host and a 5,000-host fleet: the comment stays under GitHub's
/// 65,536 characters, says it was cut and how to get the rest, and the
/// cut follows its rule; `--max-bytes 0` gives the whole plan.
#[test]
fn a_large_fleets_markdown_fits_a_comment_and_says_it_was_cut() {
    for (hosts, groups) in [(300, 6), (5000, 100)] {
        let dir = tempfile::tempdir().unwrap();
        let facts = generated_fleet(dir.path(), hosts, Shape::Drifted);
        let md = plan_dir(dir.path(), &facts, &["--format", "markdown"]);
        let whole = plan_dir(
            dir.path(),
            &facts,
            &["--format", "markdown", "--max-bytes", "0"],
        );
        eprintln!(
            "{hosts} hosts: {} characters ({} bytes); whole {} characters\n{}",
            md.chars().count(),
            md.len(),
            whole.chars().count(),
            md.lines()
                .find(|l| l.contains(CUT))
                .unwrap_or("no cut notice")
        );
        assert!(md.chars().count() < 65_536 && md.len() <= 60_000);
        assert!(
            whole.len() > 60_000 && !whole.contains(CUT),
            "the whole plan is not cut"
        );
        assert!(
            md.contains("This plan was cut to fit 60,000 bytes:"),
            "{md}"
        );
        assert_cut_by_the_rule(&md, &whole, 60_000);
        assert_well_formed(&whole);
        // The summary counts every host, cut or not, and every group has its row.
        let unknown = (0..hosts).filter(|h| h % 37 == 5).count();
        assert!(
            md.contains(&format!("; {unknown} hosts unknown.**")),
            "{md}"
        );
        for g in 0..groups {
            assert!(md.contains(&format!("\n| group-{g} | ")), "group-{g}");
        }
    }
}

/// A small fleet's Markdown is whole: no cut notice, the same with and
/// without a limit, every host named.
#[test]
fn a_small_fleets_markdown_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let facts = generated_fleet(dir.path(), 40, Shape::Drifted);
    let md = plan_dir(dir.path(), &facts, &["--format", "markdown"]);
    assert!(!md.contains(CUT), "{md}");
    assert_eq!(
        md,
        plan_dir(
            dir.path(),
            &facts,
            &["--format", "markdown", "--max-bytes", "0"]
        )
    );
    assert_well_formed(&md);
    let hosts: usize = entry_summaries(&md).iter().map(|s| entry_hosts(s)).sum();
    assert_eq!(hosts, 40, "every host is in an entry");
    assert!(!md.contains("more rows not shown"));
}

/// Hosts with identical changes are one entry naming how many; one host
/// whose change differs is an entry of its own.
#[test]
fn identical_hosts_fold_into_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let facts = generated_fleet(dir.path(), 12, Shape::Uniform);
    let md = plan_dir(dir.path(), &facts, &["--format", "markdown"]);
    let entries = entry_summaries(&md);
    assert_eq!(
        entries,
        [
            "~ group-0 · 12 hosts: host-00000, host-00001, host-00002, … (+9 more) · waves 1–2 · 2 to install"
        ],
        "{md}"
    );
    // The shared change list is shown once, every host under its wave.
    assert_eq!(md.matches("| `~` | pkg-0 |").count(), 1, "{md}");
    assert_eq!(md.matches("| `~` | pkg-1 |").count(), 1, "{md}");
    assert!(
        md.contains("\nwave 1: host-00000 · wave 2: host-00001, host-00002, host-00003, host-00004, host-00005, host-00006, host-00007, host-00008, host-00009, host-00010, host-00011\n"),
        "{md}"
    );

    // host-00005 is offered another pkg-1: not the same change.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&facts).unwrap()).unwrap();
    doc["hosts"][5]["facts"]["updates"][1]["candidateVersion"] = "1.9-1".into();
    std::fs::write(&facts, doc.to_string()).unwrap();
    let md = plan_dir(dir.path(), &facts, &["--format", "markdown"]);
    let entries = entry_summaries(&md);
    assert_eq!(entries.len(), 2, "{md}");
    assert!(entries[0].contains("11 hosts: host-00000, host-00001, host-00002, … (+8 more)"));
    assert!(entries[1].contains("1 host: host-00005 · wave 2"), "{md}");
    assert!(
        md.contains("| `~` | pkg-1 | `1.0-1` | `1.9-1` | security |"),
        "{md}"
    );
}

/// The header says what was planned (the commit), as of when, from facts
/// how old, what the markers mean and the zone the times are in; the JSON
/// names the commit too.
#[test]
fn the_header_has_commit_time_facts_age_and_legend() {
    use support::git::git;
    let tmp = tempfile::tempdir().unwrap();
    let repo = example_checkout(tmp.path());
    let head = String::from_utf8(
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&repo)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    assert_eq!(head.len(), 40);
    let run = |repo: &std::path::Path, format: &str, now: &str| {
        let out = support::patchwave()
            .args(["plan", "--format", format, "--now", now, "--facts"])
            .arg(root().join("examples/facts.json"))
            .arg("--repo")
            .arg(repo)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let md = run(&repo, "markdown", "2026-12-02T09:30:00Z");
    let header = format!(
        "commit `{}` · as of 2026-12-02 10:30 CET · facts 30m old (scanned 2026-12-02 10:00 CET)",
        &head[..12]
    );
    assert!(md.contains(&format!("\n\n{header}\n\n")), "{md}");
    for marker in [
        "`~` installs now",
        "`=` withheld",
        "`!` needs attention",
        "`?` not planned",
        "times in Europe/Berlin",
    ] {
        assert!(md.contains(marker), "{marker}: {md}");
    }
    // The header and legend come before the groups.
    assert!(md.find(&header).unwrap() < md.find("| group |").unwrap());
    assert!(md.find("times in Europe/Berlin").unwrap() < md.find("| group |").unwrap());
    // The text plan says when and from what facts (not the commit: a remote
    // branch's plan reads as its local checkout's), and its legend; the
    // JSON names the whole commit.
    let text = run(&repo, "text", "2026-12-02T09:30:00Z");
    assert!(
        text.starts_with(
            "as of 2026-12-02 10:30 CET · facts 30m old (scanned 2026-12-02 10:00 CET)\n"
        ),
        "{text}"
    );
    assert!(text.contains("~ installs now, = withheld"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&run(&repo, "json", "2026-12-02T09:30:00Z")).unwrap();
    assert_eq!(json["commit"], head.as_str());
    // A later plan: older facts; a new commit: named.
    std::fs::write(repo.join("note.yaml"), "").unwrap();
    git(&repo, &["add", "note.yaml"]);
    git(&repo, &["commit", "-q", "-m", "note"]);
    let later = run(&repo, "markdown", "2026-12-05T12:00:00Z");
    assert!(
        later.contains(
            "· as of 2026-12-05 13:00 CET · facts 3d 3h old (scanned 2026-12-02 10:00 CET)"
        ),
        "{later}"
    );
    assert!(!later.contains(&head[..12]), "{later}");
    // Outside git: said so.
    let plain = tmp.path().join("plain");
    support::git::run(
        tmp.path(),
        "cp",
        &[
            "-r",
            &repo.join(".").display().to_string(),
            &plain.display().to_string(),
        ],
    );
    std::fs::remove_dir_all(plain.join(".git")).unwrap();
    let md = run(&plain, "markdown", "2026-12-02T09:30:00Z");
    assert!(
        md.contains("commit unknown (not a git checkout) · as of"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&run(&plain, "json", "2026-12-02T09:30:00Z")).unwrap();
    assert!(json.get("commit").is_none());
}

/// Times are shown in the Fleet's zone, named: the example fleet's
/// Europe/Berlin, a generated fleet's America/New_York.
#[test]
fn times_are_in_the_fleets_zone() {
    let (_, md, _) = plan(&["--format", "markdown"]);
    assert!(
        md.contains(
            "| db-prod | 0 | 0 | 0 | 0 | 0 | outside windows; next start 2026-12-10 22:00 CET |"
        ),
        "{md}"
    );
    assert!(
        md.contains("window open (staging-weekly) until 2026-12-02 16:00 CET"),
        "{md}"
    );
    let dir = tempfile::tempdir().unwrap();
    let facts = generated_fleet(dir.path(), 20, Shape::Uniform);
    for format in ["markdown", "text"] {
        let out = plan_dir(dir.path(), &facts, &["--format", format]);
        assert!(out.contains("next start 2026-12-05 22:00 EST"), "{out}");
        assert!(out.contains("as of 2026-12-02 04:30 EST"), "{out}");
        assert!(out.contains("times in America/New_York"), "{out}");
        assert!(!out.contains(":00Z") && !out.contains("UTC"), "{out}");
    }
}

/// At every budget the cut holds its promises (in-process, so many budgets
/// are cheap), also when one entry's details alone exceed the budget (a
/// host with 1,500 updates): then as many of its rows as fit are shown.
#[test]
fn every_budget_is_kept_by_the_rule() {
    use patchwave::facts::FleetFacts;
    use patchwave::plan::render::{MIN_MARKDOWN_BUDGET, RenderContext, markdown_within};
    use patchwave::plan::{History, PlanContext, PlanInput, plan_fleet};
    use patchwave::schedule::Calendar;

    let dir = tempfile::tempdir().unwrap();
    let facts_path = generated_fleet(dir.path(), 300, Shape::Drifted);
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&facts_path).unwrap()).unwrap();
    let checked = patchwave::spec::check(dir.path()).unwrap();
    let tz = checked.repo.approval_timezone();
    let (history, calendar) = (History::default(), Calendar::build(&checked.repo));
    let vulns = patchwave::vuln::VulnIndex::default();
    let render = |doc: &serde_json::Value, budgets: &mut dyn Iterator<Item = usize>| {
        let facts: FleetFacts = serde_json::from_value(doc.clone()).unwrap();
        let context = PlanContext {
            repo: &checked.repo,
            history: &history,
            calendar: &calendar,
            now: "2026-12-02T09:30:00Z".parse().unwrap(),
            tz: &tz,
            only_group: None,
            only_host: None,
            vulns: &vulns,
        };
        let plan = plan_fleet(&PlanInput {
            context,
            facts: &facts,
        })
        .unwrap();
        let ctx = RenderContext {
            commit: Some("0123456789abcdef0123456789abcdef01234567"),
            tz: &tz,
        };
        let whole = markdown_within(&plan, &ctx, None);
        let mut partial = 0;
        for budget in budgets {
            let cut = markdown_within(&plan, &ctx, Some(budget));
            assert_cut_by_the_rule(&cut, &whole, budget);
            partial += usize::from(cut.contains("more rows not shown"));
        }
        // Below the smallest budget, the smallest is kept.
        assert!(markdown_within(&plan, &ctx, Some(10)).len() <= MIN_MARKDOWN_BUDGET);
        partial
    };
    render(&doc, &mut (MIN_MARKDOWN_BUDGET..70_000).step_by(997));
    // host-00000 (wave 1, the first entry) is offered 1,500 updates.
    let updates = doc["hosts"][0]["facts"]["updates"].as_array_mut().unwrap();
    for p in 0..1500 {
        updates.push(serde_json::json!({"name": format!("bulk-{p}"), "arch": "amd64",
            "installedVersion": "1.0-1", "candidateVersion": "1.1-1", "repository": "Debian-Security:12/stable-security",
            "classification": "security", "severity": "important"}));
    }
    let installed = doc["hosts"][0]["facts"]["installed"]
        .as_array_mut()
        .unwrap();
    for p in 0..1500 {
        installed.push(
            serde_json::json!({"name": format!("bulk-{p}"), "arch": "amd64", "version": "1.0-1"}),
        );
    }
    let partial = render(&doc, &mut (MIN_MARKDOWN_BUDGET..200_000).step_by(4_999));
    assert!(partial > 10, "the big entry is shown in part: {partial}");
}

/// `--max-bytes` below the smallest budget is a usage error naming it.
#[test]
fn a_too_small_max_bytes_is_refused() {
    let (code, _, err) = plan(&["--format", "markdown", "--max-bytes", "100"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("8000"), "{err}");
}

/// `--at` takes a date or wall-clock time in the Fleet's timezone (the
/// example fleet's is Europe/Berlin) or an instant; `--now` is its old name
/// and plans the same.
#[test]
fn at_reads_times_in_the_fleets_zone_and_now_still_works() {
    let plan = |flag: &str, at: &str| -> serde_json::Value {
        let out = support::patchwave()
            .args([
                "plan",
                "--repo",
                "examples/fleet",
                "--facts",
                "examples/facts.json",
            ])
            .args([flag, at, "--format", "json"])
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0) | Some(2)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let by_instant = plan("--at", "2026-12-02T09:30:00Z");
    assert_eq!(by_instant["generatedAt"], "2026-12-02T09:30:00Z");
    // 10:30 in Berlin is 09:30 UTC: the same plan.
    assert_eq!(plan("--at", "2026-12-02T10:30"), by_instant);
    assert_eq!(plan("--now", "2026-12-02T09:30:00Z"), by_instant);
    // A date is midnight there.
    assert_eq!(
        plan("--at", "2026-12-03")["generatedAt"],
        "2026-12-02T23:00:00Z"
    );
    let out = support::patchwave()
        .args(["plan", "--repo", "examples/fleet", "--at", "next week"])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a time; write a date"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
