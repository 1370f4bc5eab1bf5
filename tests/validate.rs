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
        assert!(
            !d["hint"].as_str().unwrap_or_default().is_empty(),
            "no hint: {d}"
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

fn example_copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/fleet"), tmp.path());
    tmp
}

#[test]
fn other_tools_yaml_is_left_alone() {
    let tmp = example_copy();
    let p = tmp.path();
    // A compose file, an Ansible playbook (a list), and a Helm template that is
    // not YAML until rendered.
    fs::write(
        p.join("docker-compose.yml"),
        "services:\n  web:\n    image: nginx\n",
    )
    .unwrap();
    fs::write(p.join("playbook.yml"), "- hosts: all\n  tasks: []\n").unwrap();
    fs::create_dir_all(p.join("chart/templates")).unwrap();
    fs::write(
        p.join("chart/templates/svc.yaml"),
        "{{- if .Values.x }}\nkind: Service\n  bad: [\n",
    )
    .unwrap();
    let checked = spec::check(p).unwrap();
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let warnings: Vec<_> = checked.diagnostics.iter().collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].file.ends_with("chart/templates/svc.yaml"));
}

#[test]
fn end_markers_and_directives_keep_every_document() {
    let tmp = example_copy();
    let a = fs::read_to_string(tmp.path().join("rollouts/db-serial.yaml")).unwrap();
    let b = fs::read_to_string(tmp.path().join("rollouts/web-canary.yaml")).unwrap();
    fs::remove_file(tmp.path().join("rollouts/db-serial.yaml")).unwrap();
    fs::remove_file(tmp.path().join("rollouts/web-canary.yaml")).unwrap();
    fs::write(
        tmp.path().join("rollouts/both.yaml"),
        format!("{a}...\n%YAML 1.2\n---\n{b}"),
    )
    .unwrap();
    let checked = spec::check(tmp.path()).unwrap();
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    assert_eq!(checked.repo.rollouts.len(), 3);
}

#[test]
fn symlinks_out_of_the_repository_fifos_and_huge_files_are_refused() {
    let tmp = example_copy();
    let p = tmp.path();
    std::os::unix::fs::symlink("/etc/hostname", p.join("outside.yaml")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", p.join("zero.yaml")).unwrap();
    let fifo = p.join("fifo.yaml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    fs::write(p.join("huge.yaml"), vec![b'#'; 5 * 1024 * 1024]).unwrap();
    // A symlink to a file inside the repository is read.
    std::os::unix::fs::symlink("fleet.yaml", p.join("alias.yml")).unwrap();
    let checked = spec::check(p).unwrap();
    let msgs: Vec<(String, String)> = checked
        .errors()
        .map(|d| {
            (
                d.file.file_name().unwrap().to_string_lossy().into_owned(),
                d.message.clone(),
            )
        })
        .collect();
    let has =
        |file: &str, prefix: &str| msgs.iter().any(|(f, m)| f == file && m.starts_with(prefix));
    assert!(has("fifo.yaml", "not a regular file"), "{msgs:?}");
    assert!(
        has(
            "huge.yaml",
            "file is 5242880 bytes, over the 4194304-byte limit"
        ),
        "{msgs:?}"
    );
    assert!(
        has("outside.yaml", "symlink points outside the repository"),
        "{msgs:?}"
    );
    assert!(
        has("zero.yaml", "symlink points outside the repository"),
        "{msgs:?}"
    );
    // alias.yml (read first) repeats the Fleet, so fleet.yaml is the second one:
    // which proves the link was read.
    assert!(
        has("fleet.yaml", "a repository holds at most one Fleet"),
        "{msgs:?}"
    );
    assert!(has("fleet.yaml", "duplicate Fleet `acme`"), "{msgs:?}");
    assert_eq!(msgs.len(), 6, "{msgs:?}");
}

#[test]
fn a_resource_that_fails_to_parse_is_reported_once_not_at_every_reference() {
    let tmp = example_copy();
    let p = tmp.path().join("baselines/production.yaml");
    let text = fs::read_to_string(&p)
        .unwrap()
        .replace("  reboot: ifRequired", "  rebot: ifRequired");
    fs::write(&p, text).unwrap();
    let checked = spec::check(tmp.path()).unwrap();
    let errors: Vec<_> = checked.errors().collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.starts_with("unknown field `rebot`"));
    assert_eq!(errors[0].hint.as_deref(), Some("did you mean `reboot`?"));
}

#[test]
fn the_same_machine_under_two_spellings_is_one_address() {
    let tmp = example_copy();
    let p = tmp.path().join("groups/staging.yaml");
    let text = fs::read_to_string(&p).unwrap().replace(
        "    - name: stg-db-1\n      address: 10.20.9.12",
        "    - name: stg-db-1\n      address: 10.20.9.11\n      port: 22",
    );
    fs::write(&p, text).unwrap();
    let checked = spec::check(tmp.path()).unwrap();
    let errors: Vec<_> = checked.errors().collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].message,
        "address `10.20.9.11` of host `stg-db-1` is already used by host `stg-web-1`"
    );
}

#[test]
fn overlapping_openings_and_zero_concurrency_are_warned_about() {
    let tmp = example_copy();
    let w = tmp.path().join("windows/staging-weekly.yaml");
    let text = fs::read_to_string(&w)
        .unwrap()
        .replace("duration: 8h", "duration: 8d");
    fs::write(&w, text.replace("cutoff: 1h", "cutoff: 1d")).unwrap();
    let r = tmp.path().join("rollouts/staging-all-at-once.yaml");
    let text = fs::read_to_string(&r)
        .unwrap()
        .replace("maxConcurrency: \"100%\"", "maxConcurrency: \"10%\"");
    fs::write(&r, text).unwrap();
    let checked = spec::check(tmp.path()).unwrap();
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let mut warnings: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    warnings.sort();
    assert_eq!(
        warnings,
        vec![
            "duration `8d` is longer than the time between openings of `0 9 * * WED`: they overlap",
            "maxConcurrency 10% of group `staging`'s 2 hosts rounds down to 0",
        ]
    );
}

#[test]
fn output_to_a_closed_pipe_is_not_a_crash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_patchwave"))
        .args([
            "windows",
            "--repo",
            "examples/fleet",
            "--count",
            "5000",
            "--from",
            "2026-01-01",
        ])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_fleet_timezone_must_be_a_real_zone() {
    let tmp = example_copy();
    let p = tmp.path().join("fleet.yaml");
    let text = fs::read_to_string(&p)
        .unwrap()
        .replace("timezone: Europe/Berlin", "timezone: Europe/Berln");
    fs::write(&p, text).unwrap();
    let checked = spec::check(tmp.path()).unwrap();
    let errors: Vec<_> = checked.errors().collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].message, "unknown timezone `Europe/Berln`");
    assert_eq!(
        errors[0].hint.as_deref(),
        Some("did you mean `Europe/Berlin`?")
    );
    assert_eq!((errors[0].line, errors[0].col), (9, 13));
}

/// A tab in a resource's YAML is reported at the tab itself (the parser
/// stops elsewhere: past it, or at a scalar that starts on the line above),
/// and the resource the broken file defines is not then reported missing
/// where another file refers to it.
#[test]
fn a_tab_is_reported_where_it_is_and_nothing_else_follows_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let group = "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {name: g}\nspec: {baseline: b, rollout: db-serial, windows: [w], hosts: [{name: h1, address: 127.0.0.1}]}\n---\napiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {name: b}\nspec: {}\n---\napiVersion: patchwave.dev/v1\nkind: MaintenanceWindow\nmetadata: {name: w}\nspec: {schedule: \"0 1 * * *\", duration: 1h}\n";
    fs::write(dir.path().join("g.yaml"), group).unwrap();
    let cases = [
        // A tab that indents a list item (block style metadata).
        (
            "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata:\n  name: db-serial\nspec:\n  waves:\n\t- 1\n",
            "db-serial.yaml:7:1: error: tabs disallowed",
        ),
        // A tab after the spaces of the line below a plain scalar (flow metadata).
        (
            "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: db-serial}\nspec:\n  waves: [1]\n  soak: 10m\n \tmaxErrors: 0\n",
            "db-serial.yaml:7:2: error: while scanning a plain scalar, found a tab",
        ),
    ];
    for (text, want) in cases {
        fs::write(dir.path().join("db-serial.yaml"), text).unwrap();
        let out = patchwave(&["validate", "--repo", dir.path().to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains(want), "{want}: {stdout}");
        assert!(stdout.contains(": 1 error, 0 warnings"), "{stdout}");
        assert!(!stdout.contains("unknown RolloutPolicy"), "{stdout}");
    }
}

/// `patchwave validate --repo .` run in `dir`, so paths read `groups/…`.
fn validate_in(dir: &Path, format: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_patchwave"))
        .args(["validate", "--repo", ".", "--format", format])
        .current_dir(dir)
        .output()
        .expect("run patchwave");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The `file:line:col: error: message` lines and the hints under them.
fn error_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.contains(": error: ") || l.starts_with("  hint: "))
        .collect()
}

/// Issue 17: serde stops at a document's first error; validate does not.
/// Three mistakes in one HostGroup come out in one run, each where it is
/// written, with what to do; nothing follows from the group not loading
/// (a baseline promotes from its stage, a window only it uses); and once
/// they are fixed, nothing is reported.
#[test]
fn every_schema_problem_of_a_document_is_reported_in_one_run() {
    let tmp = example_copy();
    let p = tmp.path().join("groups/staging.yaml");
    let good = fs::read_to_string(&p).unwrap();
    let bad = good.replace("  criticality: low", "  critcality: low").replace(
        "  hosts:\n    - name: stg-web-1\n      address: 10.20.9.11\n    - name: stg-db-1\n      address: 10.20.9.12\n",
        "  hosts: stg-web-1\n  transport: sssh\n",
    );
    fs::write(&p, &bad).unwrap();
    let line_of = |needle: &str| bad.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert_eq!(
        (line_of("critcality"), line_of("hosts:"), line_of("sssh")),
        (11, 17, 18)
    );

    let (code, stdout) = validate_in(tmp.path(), "text");
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(
        error_lines(&stdout),
        vec![
            "groups/staging.yaml:11:3: error: unknown field `critcality`, expected one of hosts, hostsFrom, baseline, windows, rollout, stage, criticality, suspend, transport, os, connection, healthChecks, hooks",
            "  hint: did you mean `criticality`?",
            "groups/staging.yaml:17:10: error: hosts must be a list, not the text `stg-web-1`",
            "  hint: write a list: one `- item` per line below it, or `[a, b]`",
            "groups/staging.yaml:18:14: error: unknown variant `sssh`, expected one of ssh, winrm, local",
            "  hint: did you mean `ssh`?",
        ],
        "{stdout}"
    );
    assert!(stdout.contains(": 3 errors, 0 warnings"), "{stdout}");

    // The JSON output carries the same three, each with its position and hint.
    let (code, stdout) = validate_in(tmp.path(), "json");
    assert_eq!(code, Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["errors"], 3);
    let got: Vec<(u64, u64, &str, &str)> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["file"], "groups/staging.yaml");
            assert_eq!(d["severity"], "error");
            (
                d["line"].as_u64().unwrap(),
                d["col"].as_u64().unwrap(),
                d["message"].as_str().unwrap(),
                d["hint"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        (got[0].0, got[0].1, got[0].3),
        (11, 3, "did you mean `criticality`?")
    );
    assert_eq!((got[1].0, got[1].1), (17, 10));
    assert_eq!(
        (got[2].0, got[2].1, got[2].2),
        (
            18,
            14,
            "unknown variant `sssh`, expected one of ssh, winrm, local"
        )
    );

    fs::write(&p, &good).unwrap();
    let (code, stdout) = validate_in(tmp.path(), "text");
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains(": 0 errors, 0 warnings"), "{stdout}");
}

/// Two documents of one file, two mistakes in each: all four, at their
/// positions in the file, whichever one serde would have stopped at.
#[test]
fn problems_of_every_document_of_a_file_are_reported() {
    let tmp = example_copy();
    let dir = tmp.path().join("rollouts");
    let a = fs::read_to_string(dir.join("db-serial.yaml"))
        .unwrap()
        .replace("  soak: 20m", "  sok: 20m")
        .replace("  onFailure: halt", "  onFailure: stop");
    let b = fs::read_to_string(dir.join("web-canary.yaml"))
        .unwrap()
        .replace("      soak: 30m", "      soke: 30m")
        .replace("  maxErrors: 1", "  maxErrors: [1]");
    fs::remove_file(dir.join("db-serial.yaml")).unwrap();
    fs::remove_file(dir.join("web-canary.yaml")).unwrap();
    let both = format!("{a}---\n{b}");
    fs::write(dir.join("all.yaml"), &both).unwrap();
    let line_of = |needle: &str| both.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert_eq!(
        [
            line_of("sok:"),
            line_of("stop"),
            line_of("soke:"),
            line_of("[1]")
        ],
        [9, 12, 25, 30]
    );

    let (code, stdout) = validate_in(tmp.path(), "text");
    assert_eq!(code, Some(1), "{stdout}");
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(
        errors,
        vec![
            "rollouts/all.yaml:9:3: error: unknown field `sok`, expected one of waves, soak, maxConcurrency, maxErrors, onFailure, rollbackWholeWave, oneAtATime",
            "rollouts/all.yaml:12:14: error: unknown variant `stop`, expected one of halt, rollback, continue",
            "rollouts/all.yaml:25:7: error: unknown field `soke`, expected one of size, selector, soak",
            "rollouts/all.yaml:30:14: error: maxErrors must be a whole number or a string, not a list",
        ],
        "{stdout}"
    );
    assert!(stdout.contains(": 4 errors, 0 warnings"), "{stdout}");
}

/// A document YAML cannot parse gives its syntax error and nothing else:
/// not the misspelt key above the error, and nothing where other files
/// refer to the group (its stage, its window).
#[test]
fn a_syntax_error_is_reported_alone() {
    let tmp = example_copy();
    let p = tmp.path().join("groups/staging.yaml");
    let text = fs::read_to_string(&p)
        .unwrap()
        .replace("  criticality: low", "  critcality: low")
        .replace("  windows: [staging-weekly]", "  windows: [staging-weekly");
    fs::write(&p, text).unwrap();
    let (code, stdout) = validate_in(tmp.path(), "text");
    assert_eq!(code, Some(1), "{stdout}");
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(errors.len(), 1, "{stdout}");
    assert!(errors[0].starts_with("groups/staging.yaml:14:"), "{stdout}");
    assert!(
        stdout.contains("hint: YAML syntax: check the indentation"),
        "{stdout}"
    );
    assert!(stdout.contains(": 1 error, 0 warnings"), "{stdout}");
}

/// Empty documents, anchors, aliases, merge keys and documents that are
/// not resources: no crash, the resource after the empty documents is
/// read, and a typo in an anchored mapping is one error however often the
/// anchor is used.
#[test]
fn odd_yaml_is_checked_without_trouble() {
    let tmp = example_copy();
    let text = "---\n---\n# an empty document above, and this comment\n---\napiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: odd}\nspec:\n  waves:\n    - &canary {selector: {matchLabels: {canary: \"true\"}}, sok: 5m}\n    - *canary\n    - <<: *canary\n      size: \"100%\"\n  maxErors: 1\n---\n- a list\n--- just a string\n...\n";
    fs::write(tmp.path().join("rollouts/odd.yaml"), text).unwrap();
    let (code, stdout) = validate_in(tmp.path(), "text");
    assert_eq!(code, Some(1), "{stdout}");
    let sok = text.lines().nth(9).unwrap().find("sok").unwrap() + 1;
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(errors.len(), 2, "{stdout}");
    assert!(
        errors[0].starts_with(&format!(
            "rollouts/odd.yaml:10:{sok}: error: unknown field `sok`"
        )),
        "{stdout}"
    );
    assert!(
        errors[1].starts_with("rollouts/odd.yaml:14:3: error: unknown field `maxErors`"),
        "{stdout}"
    );
}

/// A resource whose envelope has the wrong shape (`metadata: 5`) was once
/// taken for a document that is not a resource and skipped without a word.
/// Now its problems are reported; its name cannot be read, so where it is
/// named it is unknown.
#[test]
fn a_malformed_envelope_is_an_error_not_a_skipped_document() {
    let tmp = example_copy();
    let p = tmp.path().join("rollouts/db-serial.yaml");
    let text = fs::read_to_string(&p)
        .unwrap()
        .replace("metadata:\n  name: db-serial\n", "metadata: db-serial\n")
        .replace("  soak: 20m", "  sok: 20m");
    fs::write(&p, text).unwrap();
    let (code, stdout) = validate_in(tmp.path(), "text");
    assert_eq!(code, Some(1), "{stdout}");
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(
        errors,
        vec![
            "groups/db-prod.yaml:15:12: error: unknown RolloutPolicy `db-serial`",
            "rollouts/db-serial.yaml:5:11: error: metadata must be a mapping, not the text `db-serial`",
            "rollouts/db-serial.yaml:8:3: error: unknown field `sok`, expected one of maxConcurrency, maxErrors, onFailure, oneAtATime, rollbackWholeWave, soak, waves",
        ],
        "{stdout}"
    );
}
