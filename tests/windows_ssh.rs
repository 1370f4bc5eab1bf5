//! A Windows group reached with PowerShell over SSH (`transport: ssh`,
//! `os: windows`): every command goes through patchwave's runner script
//! (`powershell.exe -EncodedCommand`, the command as JSON on stdin). No
//! Windows host runs here, so the SSH server is a real test host (sshd in
//! its own namespaces) whose `powershell.exe` is a stand-in: it accepts only
//! the runner script, reads the request, and answers patchwave's own
//! scripts with the Windows Update documents of testdata/os/windows. What
//! this proves: the SSH path, the runner's command line and request, the KB
//! list sent, and the reboot flow. What it cannot: PowerShell itself.

mod support;

use std::path::Path;

use patchwave::os::windows::{BOOT_ID_SCRIPT, INSTALL_SCRIPT, SCAN_SCRIPT};
use patchwave::transport::powershell::{RUN_SCRIPT, encoded_args};
use support::fleet::{Base, Fleet};

/// The stand-in: a Bash script, keyed on the exact base64 of each script.
const FAKE_POWERSHELL: &str = r#"#!/bin/bash
# Test double of Windows PowerShell for tests/windows_ssh.rs.
state=/var/lib/fakewin
enc=""; prev=""
for a in "$@"; do [ "$prev" = "-EncodedCommand" ] && enc=$a; prev=$a; done
if [ "$enc" != "$(cat $state/run.b64)" ]; then
    echo "not patchwave's runner script: $*" >>$state/problems; exit 1
fi
IFS= read -r req
printf '%s\n' "$req" >>$state/requests
has() { grep -qF -- "$1" <<<"$req"; }
phase=$(cat $state/phase)
if has '"program":"powershell.exe"'; then
    if has "$(cat $state/scan.b64)"; then cat "$state/scan-$phase.json"; exit 0; fi
    if has "$(cat $state/install.b64)"; then
        echo "install $(grep -o '"PATCHWAVE_KBS":"[^"]*"' <<<"$req")" >>$state/log
        echo after >$state/phase
        cat $state/install-ok.json; exit 0
    fi
    if has "$(cat $state/boot.b64)"; then
        if [ "$phase" = rebooted ]; then printf 2024-10-15T22:41:09Z; else printf 2024-10-01T03:12:44Z; fi
        exit 0
    fi
    echo "an unknown script" >>$state/problems; exit 1
fi
if has '"program":"shutdown.exe"'; then
    echo "reboot $(grep -o '"commandLine":"[^"]*' <<<"$req")" >>$state/log
    [ "$phase" = after ] && echo rebooted >$state/phase
    exit 0
fi
echo "an unexpected program: $req" >>$state/problems
exit 1
"#;

fn b64_of(script: &str) -> String {
    encoded_args(script).pop().unwrap()
}

fn testdata(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/os/windows")
            .join(name),
    )
    .unwrap()
}

#[test]
fn powershell_over_ssh_scans_plans_and_patches() {
    let fleet = Fleet::start(Base::Apt, 10, 1);
    fleet.ssh_ok("h1", &["mkdir", "-p", "/var/lib/fakewin"]);
    for (file, text) in [
        ("run.b64", b64_of(RUN_SCRIPT)),
        ("scan.b64", b64_of(SCAN_SCRIPT)),
        ("install.b64", b64_of(INSTALL_SCRIPT)),
        ("boot.b64", b64_of(BOOT_ID_SCRIPT)),
        ("phase", "before".into()),
        ("scan-before.json", testdata("scan-before.json")),
        ("scan-after.json", testdata("scan-after.json")),
        ("scan-rebooted.json", testdata("scan-rebooted.json")),
        ("install-ok.json", testdata("install-ok.json")),
    ] {
        fleet.write("h1", &format!("/var/lib/fakewin/{file}"), &text);
    }
    fleet.write("h1", "/usr/local/bin/powershell.exe", FAKE_POWERSHELL);
    fleet.ssh_ok("h1", &["chmod", "755", "/usr/local/bin/powershell.exe"]);

    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("fleet.yaml"),
        support::policy::stream(&[
            "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {name: winssh}\nspec: {}\n",
            &support::policy::fleet_group("win", &fleet)
                .replace("  baseline: b\n", "  baseline: b\n  os: windows\n"),
            support::windows_host::POLICY,
            support::policy::ALWAYS_OPEN_WINDOW,
        ]),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = support::patchwave()
            .args(args)
            .arg("--repo")
            .arg(tmp.path())
            .arg("--state-dir")
            .arg(tmp.path().join("state"))
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let host_file = |name: &str| {
        String::from_utf8_lossy(
            &fleet
                .ssh("h1", &["cat", &format!("/var/lib/fakewin/{name}")])
                .stdout,
        )
        .into_owned()
    };

    let (code, out) = run(&["scan", "--format", "json"]);
    assert_eq!(code, Some(0), "{out}\nproblems: {}", host_file("problems"));
    let facts: serde_json::Value = serde_json::from_str(&out).unwrap();
    let h = &facts["hosts"][0];
    assert_eq!(h["transport"], "ssh", "{h}");
    assert_eq!(h["facts"]["packageManager"], "windows-update", "{h}");
    assert_eq!(h["facts"]["updates"].as_array().unwrap().len(), 3);

    let (code, out) = run(&["apply"]);
    assert_eq!(code, Some(0), "{out}\nproblems: {}", host_file("problems"));
    assert_eq!(
        host_file("problems"),
        "",
        "the stand-in saw nothing unexpected"
    );
    let log = host_file("log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[0], r#"install "PATCHWAVE_KBS":"KB5044025,KB5044281""#,
        "{log}"
    );
    assert!(
        lines[1].starts_with(r#"reboot "commandLine":"/r /t 5"#),
        "{log}"
    );
    assert_eq!(lines.len(), 2, "{log}");
    assert_eq!(host_file("phase").trim(), "rebooted");
}
