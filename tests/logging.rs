//! Logs go to stderr through `tracing`: warnings by default, and exactly
//! what `PATCHWAVE_LOG` asks for when it is set (README "Logs").

mod support;

/// A fleet of this machine (`transport: local`), scanned without touching
/// the package lists: every command it runs is a debug event.
fn local_fleet(dir: &std::path::Path) {
    std::fs::write(
        dir.join("fleet.yaml"),
        support::policy::stream(&[
            "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {name: g}\nspec:\n  baseline: b\n  rollout: r\n  windows: [w]\n  transport: local\n  hosts: [{name: this-machine, address: localhost}]\n",
            support::policy::BASELINE_AND_ROLLOUT,
            support::policy::ALWAYS_OPEN_WINDOW,
        ]),
    )
    .unwrap();
}

fn scan_stderr(dir: &std::path::Path, state: &std::path::Path, log: Option<&str>) -> String {
    let mut cmd = support::patchwave();
    cmd.args(["scan", "--refresh", "never", "--repo"])
        .arg(dir)
        .arg("--state-dir")
        .arg(state)
        .env_remove("PATCHWAVE_LOG")
        .env("NO_COLOR", "1");
    if let Some(filter) = log {
        cmd.env("PATCHWAVE_LOG", filter);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn patchwave_log_sets_the_filter_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    local_fleet(dir.path());
    let quiet = scan_stderr(dir.path(), state.path(), None);
    assert!(!quiet.contains("DEBUG"), "{quiet}");
    let debug = scan_stderr(dir.path(), state.path(), Some("patchwave=debug"));
    assert!(
        debug.contains("DEBUG")
            && debug.contains("command finished")
            && debug.contains("host=\"this-machine\""),
        "{debug}"
    );
    // A filter for another target shows none of patchwave's debug events.
    let other = scan_stderr(dir.path(), state.path(), Some("hyper=debug"));
    assert!(!other.contains("command finished"), "{other}");
}
