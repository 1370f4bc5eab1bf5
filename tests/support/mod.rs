//! Shared helpers for integration tests. Each test binary includes this with
//! `mod support;` and uses only what it needs.
#![allow(dead_code)]

pub mod aptrepo;
pub mod aptworld;
pub mod daemon;
pub mod dataserver;
pub mod fleet;
pub mod git;
pub mod githttp;
pub mod http;
pub mod output_schema;
pub mod policy;
pub mod rpmrepo;
pub mod tls;
pub mod windows_host;
pub mod winrm_replay;

/// The patchwave binary, with run state kept in a directory private to this
/// test binary (never the user's ~/.local/state).
pub fn patchwave() -> std::process::Command {
    static STATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = STATE.get_or_init(|| tempfile::tempdir().unwrap());
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_patchwave"));
    c.env("PATCHWAVE_STATE_DIR", dir.path());
    c
}

/// The run state directory [`patchwave`] uses.
pub fn state_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(
        patchwave()
            .get_envs()
            .find(|(k, _)| *k == "PATCHWAVE_STATE_DIR")
            .and_then(|(_, v)| v)
            .unwrap(),
    )
}
