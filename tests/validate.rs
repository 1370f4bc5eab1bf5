//! `patchwave validate` on the example repository and on the deliberately
//! broken files of testdata/invalid/ (each names its expected error on line 1).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use patchwave::spec::{self, Severity};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn patchwave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchwave"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run patchwave")
}

#[test]
fn example_fleet_validates_clean() {
    let out = patchwave(&["validate", "--repo", "examples/fleet"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 errors, 0 warnings"), "{stdout}");
    let checked = spec::check(&root().join("examples/fleet")).unwrap();
    assert_eq!(checked.repo.groups.len(), 3);
    assert_eq!(checked.repo.baselines.len(), 2);
    assert_eq!(checked.repo.rollouts.len(), 3);
    assert_eq!(checked.repo.windows.len(), 4);
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
}

/// `(file, "LINE:COL: message")` from each broken file's first line.
fn expectations() -> Vec<(String, String)> {
    let dir = root().join("testdata/invalid");
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap_or_default();
        if let Some(expect) = first.strip_prefix("# expect-error: ") {
            let name = format!(
                "testdata/invalid/{}",
                path.file_name().unwrap().to_string_lossy()
            );
            out.push((name, expect.to_string()));
        } else {
            assert_eq!(
                path.file_name().unwrap(),
                "common.yaml",
                "{} has no expect-error line",
                path.display()
            );
        }
    }
    out.sort();
    out
}

#[test]
fn every_broken_file_gives_exactly_its_one_error() {
    let expected = expectations();
    assert!(expected.len() >= 45, "only {} broken files", expected.len());
    let out = patchwave(&["validate", "--repo", "testdata/invalid"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let error_lines: Vec<&str> = stdout.lines().filter(|l| l.contains(": error: ")).collect();
    for (file, expect) in &expected {
        let (pos, message) = expect.split_once(": ").unwrap();
        let want = format!("{file}:{pos}: error: {message}");
        let got: Vec<&&str> = error_lines
            .iter()
            .filter(|l| l.starts_with(&format!("{file}:")))
            .collect();
        assert_eq!(got.len(), 1, "{file}: expected one error, got {got:?}");
        assert_eq!(*got[0], want, "{file}");
    }
    assert_eq!(
        error_lines.len(),
        expected.len(),
        "errors outside the broken files:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} errors", expected.len())),
        "{stdout}"
    );
}

#[test]
fn json_format_reports_every_diagnostic_with_position_and_hint() {
    let out = patchwave(&["validate", "--repo", "testdata/invalid", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], 1);
    let diags = doc["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), expectations().len());
    for d in diags {
        assert_eq!(d["severity"], "error");
        assert!(
            d["line"].as_u64().unwrap() >= 1 && d["col"].as_u64().unwrap() >= 1,
            "{d}"
        );
    }
    let unknown_key = diags
        .iter()
        .find(|d| d["file"] == "testdata/invalid/unknown-key.yaml")
        .unwrap();
    assert_eq!(unknown_key["hint"], "did you mean `baseline`?");
}

#[test]
fn github_format_annotates_files() {
    let out = patchwave(&[
        "validate",
        "--repo",
        "testdata/invalid",
        "--format",
        "github",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.starts_with(
            "::error file=testdata/invalid/bad-port.yaml,line=13,col=13,title=patchwave validate::port `70000` is out of range"
        )),
        "{stdout}"
    );
}

#[test]
fn missing_repository_is_a_clear_error() {
    let out = patchwave(&["validate", "--repo", "does/not/exist"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read fleet repository does/not/exist"),
        "{stderr}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn status_hidden_and_foreign_documents_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/fleet"), tmp.path());
    let junk = "apiVersion: patchwave.dev/v1\nkind: Nonsense\n";
    for dir in ["status", ".github", "nested/.hidden"] {
        fs::create_dir_all(tmp.path().join(dir)).unwrap();
        fs::write(tmp.path().join(dir).join("x.yaml"), junk).unwrap();
    }
    // A Kubernetes manifest and a comment-only document live happily beside the policy.
    fs::write(
        tmp.path().join("k8s.yaml"),
        "# just a comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
    )
    .unwrap();
    let checked = spec::check(tmp.path()).unwrap();
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    // A nested status/ directory is not run state: it is read.
    fs::create_dir_all(tmp.path().join("nested/status")).unwrap();
    fs::write(tmp.path().join("nested/status/x.yaml"), junk).unwrap();
    let checked = spec::check(tmp.path()).unwrap();
    assert_eq!(checked.errors().count(), 1, "{:?}", checked.diagnostics);
}

#[test]
fn multi_document_files_keep_line_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/fleet"), tmp.path());
    let a = fs::read_to_string(tmp.path().join("rollouts/db-serial.yaml")).unwrap();
    let b = fs::read_to_string(tmp.path().join("rollouts/web-canary.yaml")).unwrap();
    fs::remove_file(tmp.path().join("rollouts/db-serial.yaml")).unwrap();
    fs::remove_file(tmp.path().join("rollouts/web-canary.yaml")).unwrap();
    let b = b.replace("maxErrors: 1", "maxErrors: \"101%\"");
    fs::write(tmp.path().join("rollouts/all.yaml"), format!("{a}---\n{b}")).unwrap();
    let checked = spec::check(tmp.path()).unwrap();
    let errors: Vec<_> = checked.errors().collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let line = format!("{a}---\n{b}")
        .lines()
        .position(|l| l.contains("101%"))
        .unwrap()
        + 1;
    assert_eq!(errors[0].line as usize, line);
    assert_eq!(errors[0].message, "maxErrors 101% is over 100%");
}

#[test]
fn allowed_signers_must_exist_in_the_repository() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/fleet"), tmp.path());
    fs::remove_file(tmp.path().join(".patchwave/allowed_signers")).unwrap();
    let checked = spec::check(tmp.path()).unwrap();
    let errors: Vec<_> = checked.errors().collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].file.ends_with("fleet.yaml"));
    assert_eq!(
        errors[0].message,
        "verification.allowedSigners `.patchwave/allowed_signers` does not exist in the repository"
    );
}

#[test]
fn warnings_do_not_fail_validation() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/fleet"), tmp.path());
    let p = tmp.path().join("windows/staging-weekly.yaml");
    let text = fs::read_to_string(&p)
        .unwrap()
        .replace("0 9 * * WED", "0 9 8-14 * WED");
    fs::write(&p, text).unwrap();
    let checked = spec::check(tmp.path()).unwrap();
    assert!(!checked.has_errors());
    let w: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].message.contains("fires when EITHER matches"),
        "{}",
        w[0].message
    );
    let out = patchwave(&["validate", "--repo", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
}
