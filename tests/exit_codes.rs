//! One exit-code table for every command (README "Exit codes"): a usage
//! error is 1, never 2 ("the plan has changes"); an unknown `--group` or
//! `--host` is an error; a repository without a single resource is an
//! error; a run that could not reach a targeted host never reports success.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out: Output = support::patchwave()
        .args(args)
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

const EXAMPLE: [&str; 6] = [
    "--repo",
    "examples/fleet",
    "--facts",
    "examples/facts.json",
    "--now",
    "2026-12-02T09:30:00Z",
];

#[test]
fn a_usage_error_exits_1_and_help_exits_0() {
    let (code, _, err) = run(&["plan", "--fromat", "json"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--fromat"), "{err}");
    let (code, _, err) = run(&["frobnicate"]);
    assert_eq!(code, Some(1), "{err}");
    let (code, out, _) = run(&["plan", "--help"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("--fail-on-unknown"), "{out}");
    let (code, _, _) = run(&["--version"]);
    assert_eq!(code, Some(0));
}

#[test]
fn an_unknown_group_or_host_is_an_error_in_every_command() {
    let mut plan = vec!["plan"];
    plan.extend(EXAMPLE);
    for (extra, says) in [
        (
            vec!["--host", "nope"],
            "no host named `nope` in any HostGroup",
        ),
        (vec!["--group", "nope"], "no HostGroup named `nope`"),
        (
            vec!["--group", "web-prod", "--host", "db-1"],
            "host `db-1` is in group `db-prod`, not `web-prod`",
        ),
    ] {
        let mut args = plan.clone();
        args.extend(&extra);
        let (code, out, err) = run(&args);
        assert_eq!(code, Some(1), "plan {extra:?}: {out}{err}");
        assert!(err.contains(says), "plan {extra:?}: {err}");
        assert!(out.is_empty(), "nothing is planned: {out}");
        for cmd in ["scan", "apply"] {
            let mut args = vec![cmd, "--repo", "examples/fleet"];
            args.extend(&extra);
            let (code, _, err) = run(&args);
            assert_eq!(code, Some(1), "{cmd} {extra:?}: {err}");
            assert!(err.contains(says), "{cmd} {extra:?}: {err}");
        }
    }
    let (code, _, err) = run(&["windows", "--repo", "examples/fleet", "--group", "nope"]);
    assert_eq!(code, Some(1), "{err}");
}

#[test]
fn a_directory_without_resources_is_not_a_valid_repository() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.yaml"), "just: yaml\n").unwrap();
    for args in [
        vec!["validate", "--repo"],
        vec!["plan", "--facts", "examples/facts.json", "--repo"],
    ] {
        let mut args: Vec<&str> = args;
        let path = dir.path().to_str().unwrap();
        args.push(path);
        let (code, out, err) = run(&args);
        assert_eq!(code, Some(1), "{args:?}: {out}{err}");
        assert!(
            format!("{out}{err}").contains("no patchwave resource (apiVersion: patchwave.dev/v1)"),
            "{args:?}: {out}{err}"
        );
    }
}

#[test]
fn unknown_hosts_are_stated_and_can_fail_the_plan() {
    let mut args = vec!["plan"];
    args.extend(EXAMPLE);
    let (code, _, err) = run(&args);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("1 host could not be planned"), "{err}");
    args.push("--fail-on-unknown");
    for format in ["text", "json", "markdown"] {
        let mut a = args.clone();
        a.extend(["--format", format]);
        let (code, out, err) = run(&a);
        assert_eq!(code, Some(4), "{format}: {err}");
        let unknown = match format {
            "json" => {
                serde_json::from_str::<serde_json::Value>(&out).unwrap()["summary"]["hostsUnknown"]
                    .to_string()
            }
            _ => out.clone(),
        };
        assert!(
            unknown.contains('1') && (format == "json" || out.contains("1 host unknown")),
            "{format}: {out}"
        );
    }
}

fn unreachable_fleet(dir: &Path) {
    // Two hosts nobody listens for (loopback: refused at once).
    std::fs::write(
        dir.join("fleet.yaml"),
        support::policy::stream(&[
            "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {name: g}\nspec:\n  baseline: b\n  rollout: r\n  windows: [w]\n  hosts: [{name: h1, address: 127.0.9.97}, {name: h2, address: 127.0.9.98}]\n",
            support::policy::BASELINE_AND_ROLLOUT,
            support::policy::ALWAYS_OPEN_WINDOW,
        ]),
    )
    .unwrap();
}

#[test]
fn apply_with_every_host_unreachable_exits_4_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    unreachable_fleet(dir.path());
    let state = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let (code, out, err) = run(&[
        "apply",
        "--repo",
        path,
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(4), "{out}{err}");
    assert!(
        err.contains(
            "2 targeted hosts could not be reached or scanned and were not patched: h1, h2"
        ),
        "{err}"
    );
    for h in ["h1", "h2"] {
        assert!(
            out.contains(&format!("host {h}: unreachable, not patched")),
            "{out}"
        );
    }
}

/// `daemon --interval` under a second would poll without pause: refused
/// as a usage error (exit 1) that says why, before anything starts.
#[test]
fn a_daemon_interval_under_a_second_is_a_usage_error() {
    let (code, _, err) = run(&["daemon", "--interval", "500ms", "--repo", "examples/fleet"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("too short: poll at most once a second"),
        "{err}"
    );
}
