//! A Windows group end to end — `scan`, `plan`, `apply` — against a
//! WinRM endpoint that answers in the envelopes a real Windows host sent
//! (recorded transcripts) and runs nothing: patchwave's PowerShell scripts
//! get the Windows Update documents of testdata/os/windows. NTLM with
//! message sealing over HTTP, as the group's connection says. Verified
//! against recorded protocol, not a live Windows host (none runs here).

mod support;

use std::path::Path;

use support::windows_host::{Phase, WindowsHost};
use support::winrm_replay::{Mode, PASSWORD, USER, serve_winrm};

const PASSWORD_VAR: &str = "PATCHWAVE_TEST_WINRM_PASSWORD";

fn repo(dir: &Path, port: u16) {
    std::fs::write(
        dir.join("fleet.yaml"),
        support::policy::stream(&[
            "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {name: windows}\nspec: {}\n",
            &format!(
                "apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {{name: win}}
spec:
  baseline: b
  rollout: r
  windows: [w]
  transport: winrm
  connection:
    port: {port}
    winrm:
      scheme: http
      auth: ntlm
      credentialRef: {{username: {USER}, env: {PASSWORD_VAR}}}
  hosts:
    - {{name: win-1, address: 127.0.0.1}}
"
            ),
            support::windows_host::POLICY,
            support::policy::ALWAYS_OPEN_WINDOW,
        ]),
    )
    .unwrap();
}

fn patchwave(dir: &Path, args: &[&str], password: &str) -> (Option<i32>, String, String) {
    let out = support::patchwave()
        .args(args)
        .arg("--repo")
        .arg(dir)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env(PASSWORD_VAR, password)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn scan_plan_and_apply_a_windows_group() {
    let tmp = tempfile::tempdir().unwrap();
    let host = WindowsHost::new();
    let seen = host.seen.clone();
    let endpoint = serve_winrm(Box::new(host), tmp.path(), Mode::HttpNtlm);
    let dir = tmp.path().join("fleet");
    std::fs::create_dir(&dir).unwrap();
    repo(&dir, endpoint.port);

    let out = support::patchwave()
        .args(["validate", "--repo"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // scan: the facts in the common model.
    let (code, out, err) = patchwave(&dir, &["scan", "--format", "json"], PASSWORD);
    assert_eq!(code, Some(0), "{out}{err}");
    let facts: serde_json::Value = serde_json::from_str(&out).unwrap();
    let h = &facts["hosts"][0];
    assert_eq!(h["state"], "scanned", "{h}");
    assert_eq!(h["transport"], "winrm");
    assert_eq!(h["facts"]["packageManager"], "windows-update");
    assert_eq!(
        h["facts"]["os"]["prettyName"],
        "Microsoft Windows Server 2022 Standard"
    );
    let offered: Vec<(&str, &str, &str)> = h["facts"]["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap(),
                u["classification"].as_str().unwrap(),
                u["severity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        offered,
        [
            ("KB2267602", "other", "unspecified"),
            ("KB5044025", "security", "important"),
            ("KB5044281", "security", "critical"),
        ]
    );

    // plan: the KBs by MSRC severity, the approved ones to install.
    let (code, out, err) = patchwave(&dir, &["plan", "--format", "json"], PASSWORD);
    assert_eq!(code, Some(2), "changes: {out}{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let host_plan = &plan["groups"][0]["waves"][0]["hosts"][0];
    let install: Vec<(&str, &str)> = host_plan["install"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["severity"].as_str().unwrap()))
        .collect();
    assert_eq!(
        install,
        [("KB5044025", "important"), ("KB5044281", "critical")]
    );
    let withheld: Vec<(&str, &str)> = host_plan["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["decision"]["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(withheld, [("KB2267602", "EXPLICIT_REJECTED")]);
    assert_eq!(
        host_plan["rebootExpected"], true,
        "KB5044281 always needs a restart: {host_plan}"
    );
    let (_, text, _) = patchwave(&dir, &["plan"], PASSWORD);
    assert!(
        text.contains(
            "~ KB5044281 (not installed) → 200  security critical 2024-10 Cumulative Update"
        ),
        "{text}"
    );
    assert!(text.contains("1 reboot"), "{text}");

    // apply: exactly the approved KBs, then the reboot the host asks for.
    let (code, out, err) = patchwave(&dir, &["apply"], PASSWORD);
    assert_eq!(code, Some(0), "{out}{err}");
    let seen = seen.lock().unwrap();
    assert!(seen.problems.is_empty(), "{:?}", seen.problems);
    assert_eq!(
        seen.installs,
        ["KB5044025,KB5044281"],
        "{:?}",
        seen.commands
    );
    assert_eq!(seen.reboots, 1, "{:?}", seen.commands);
    assert_eq!(seen.phase, Phase::Rebooted);
    assert!(
        seen.commands
            .iter()
            .any(|c| c.starts_with("shutdown.exe /r")),
        "{:?}",
        seen.commands
    );
    assert!(out.contains("win-1"), "{out}");
}

#[test]
fn a_wrong_password_names_the_host_never_the_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = serve_winrm(Box::new(WindowsHost::new()), tmp.path(), Mode::HttpNtlm);
    let dir = tmp.path().join("fleet");
    std::fs::create_dir(&dir).unwrap();
    repo(&dir, endpoint.port);
    let secret = "Sup3r-Secret-Wr0ng";
    let (_, out, err) = patchwave(&dir, &["scan", "--format", "json"], secret);
    let all = format!("{out}{err}");
    assert!(!all.contains(secret), "{all}");
    let facts: serde_json::Value = serde_json::from_str(&out).unwrap();
    let h = &facts["hosts"][0];
    assert_eq!(h["state"], "unreachable", "{h}");
    let error = h["error"].as_str().unwrap();
    assert!(
        error.starts_with("win-1: cannot connect: authentication failed for user `vagrant`"),
        "{error}"
    );
    let _ = PASSWORD;
}
