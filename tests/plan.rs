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

fn golden(name: &str, got: &str) {
    let path = root().join("testdata/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
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
    let context = PlanContext {
        repo: &checked.repo,
        history: &history,
        calendar: &calendar,
        now: "2026-12-02T09:30:00Z".parse().unwrap(),
        tz: &tz,
        only_group: None,
        only_host: None,
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
