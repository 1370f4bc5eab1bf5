//! `patchwave plan` on the example repository from its bundled facts:
//! exit codes, and golden text and Markdown renderings.
//! Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test --test plan`.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn plan(extra: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_patchwave"))
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
        "Plan: 2 hosts to change, 5 packages (5 unspecified), 2 reboots; 1 host unknown.\n"
    ));
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
    let out = Command::new(env!("CARGO_BIN_EXE_patchwave"))
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
