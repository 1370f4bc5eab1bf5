//! `patchwave init` writes a fleet repository that validates as written;
//! with `--local` it plans this machine with no other host; it never
//! overwrites a file.

mod support;

use std::path::Path;
use std::process::Output;

fn run(args: &[&str]) -> Output {
    support::patchwave()
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_local_fleet_validates_and_plans_this_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("My Fleet");
    let d = dir.to_str().unwrap();
    let out = run(&["init", d, "--local"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("wrote fleet `my-fleet`"), "{said}");
    assert!(said.contains("0 errors, 0 warnings"), "{said}");
    let written = files(&dir);
    for f in [
        "fleet.yaml",
        "groups/this-machine.yaml",
        "baselines/default.yaml",
        "windows/weekly.yaml",
        "rollouts/canary.yaml",
        ".patchwave/allowed_signers",
        ".github/workflows/patchwave-plan.yml",
        ".github/workflows/patchwave-apply.yml",
        ".patchwave/schema/HostGroup.json",
    ] {
        assert!(written.contains(&f.to_string()), "{f} missing: {written:?}");
    }
    // Schema references resolve from each file, wherever the repository is.
    for f in written.iter().filter(|f| f.ends_with(".yaml")) {
        let first = std::fs::read_to_string(dir.join(f)).unwrap();
        let target = first
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# yaml-language-server: $schema="))
            .unwrap_or_else(|| panic!("{f} has no schema reference"));
        let path = dir.join(f).parent().unwrap().join(target);
        assert!(path.exists(), "{f}: {} does not exist", path.display());
    }
    let v = run(&["validate", "--repo", d]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    // This machine, scanned without touching its package lists, then planned.
    let state = tmp.path().join("state");
    let s = state.to_str().unwrap();
    let scan = run(&[
        "scan",
        "--repo",
        d,
        "--state-dir",
        s,
        "--refresh",
        "never",
        "--format",
        "json",
    ]);
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan));
    let facts = tmp.path().join("facts.json");
    std::fs::write(&facts, &scan.stdout).unwrap();
    let plan = run(&[
        "plan",
        "--repo",
        d,
        "--state-dir",
        s,
        "--facts",
        facts.to_str().unwrap(),
    ]);
    // 0: nothing to change, 2: changes; either way this machine was planned.
    assert!(
        matches!(plan.status.code(), Some(0) | Some(2)),
        "{}",
        text(&plan)
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let shown = patchwave_host_name(host.trim());
    assert!(text(&plan).contains(&shown), "{shown}: {}", text(&plan));
    assert!(!text(&plan).contains("not in the facts"), "{}", text(&plan));
}

/// The name `init --local` gives this machine.
fn patchwave_host_name(raw: &str) -> String {
    let ok = !raw.is_empty()
        && raw.len() <= 253
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && raw.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        raw.to_string()
    } else {
        "this-machine".into()
    }
}

#[test]
fn a_fleet_of_ssh_hosts_validates_with_its_empty_group_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let out = run(&["init", d, "--name", "prod"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("0 errors"), "{said}");
    assert!(said.contains("groups/servers.yaml"), "{said}");
    let fleet = std::fs::read_to_string(tmp.path().join("fleet.yaml")).unwrap();
    assert!(fleet.contains("name: prod"), "{fleet}");
}

#[test]
fn existing_files_are_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("fleet.yaml"), "mine\n").unwrap();
    let before = files(tmp.path());
    let out = run(&["init", tmp.path().to_str().unwrap(), "--local"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("already holds fleet.yaml; nothing was written"),
        "{said}"
    );
    assert_eq!(files(tmp.path()), before);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("fleet.yaml")).unwrap(),
        "mine\n"
    );
    let bad = run(&[
        "init",
        tmp.path().join("x").to_str().unwrap(),
        "--name",
        "Bad Name",
    ]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("--name"), "{}", text(&bad));
}
