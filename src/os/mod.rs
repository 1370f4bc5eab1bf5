//! Package managers: what is installed, what updates exist, whether a
//! reboot is pending. One module per package manager; commands are argument
//! vectors or constant scripts, and every parser is tested on output captured
//! from the real tool (testdata/os/).

pub mod apt;
pub mod detect;
pub mod dnf;
pub mod names;
pub mod transaction;
pub mod windows;
pub mod zypper;

use std::time::Duration;

use crate::facts::{AvailableUpdate, HostFacts, InstalledPackage, PackageManager};
use crate::transport::{RemoteCommand, Transport, TransportError};

/// When to refresh package metadata before scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    Never,
    /// When the lists are older than this (the default: 6 hours).
    IfOlderThan(Duration),
    Always,
}

#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    pub refresh: Refresh,
    /// Bound on each read-only command.
    pub command_timeout: Duration,
    /// Bound on a metadata refresh (it downloads).
    pub refresh_timeout: Duration,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            refresh: Refresh::IfOlderThan(Duration::from_secs(6 * 3600)),
            command_timeout: Duration::from_secs(120),
            refresh_timeout: Duration::from_secs(300),
        }
    }
}

/// Why a host could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Failed(String),
}

impl From<TransportError> for ScanError {
    fn from(e: TransportError) -> Self {
        if e.is_unreachable() {
            ScanError::Unreachable(e.to_string())
        } else {
            ScanError::Failed(e.to_string())
        }
    }
}

/// Runs a command that must succeed; its stdout, or an error naming the
/// host, the command and its last lines of output.
pub(crate) async fn run_ok(t: &dyn Transport, cmd: &RemoteCommand) -> Result<String, ScanError> {
    let out = t.run(cmd).await?;
    if out.success() {
        Ok(out.stdout_str())
    } else {
        Err(ScanError::Failed(format!(
            "{}: `{cmd}` exited with {}: {}",
            t.host(),
            out.status.map_or("a signal".to_string(), |c| c.to_string()),
            out.stderr_tail()
        )))
    }
}

/// Scans one host over an open transport.
pub async fn scan_host(t: &dyn Transport, opts: &ScanOptions) -> Result<HostFacts, ScanError> {
    if t.platform() == crate::transport::Platform::Windows {
        return windows::scan_host(t, opts).await;
    }
    let probe = detect::parse_probe(
        &run_ok(t, &detect::probe_command().timeout(opts.command_timeout)).await?,
    )
    .map_err(|e| ScanError::Failed(format!("{}: {e}", t.host())))?;
    let pm = detect::package_manager(&probe)
        .map_err(|e| ScanError::Failed(format!("{}: {e}", t.host())))?;
    let scan = match pm {
        PackageManager::Apt => apt::scan(t, opts).await?,
        PackageManager::Dnf => dnf::scan(t, opts).await?,
        PackageManager::Zypper => zypper::scan(t, opts).await?,
        other => {
            return Err(ScanError::Failed(format!(
                "{}: scanning {} hosts is not supported by this build yet",
                t.host(),
                other.as_str()
            )));
        }
    };
    Ok(HostFacts {
        os: probe.os,
        package_manager: pm,
        kernel: probe.kernel,
        boot_id: probe.boot_id,
        installed: scan.installed,
        updates: scan.updates,
        reboot_required: scan.reboot_required,
        reboot_required_by: scan.reboot_required_by,
        rejected_lines: scan.rejected,
    })
}

/// The package part of a host's facts, as each adapter reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageScan {
    pub installed: Vec<InstalledPackage>,
    pub updates: Vec<AvailableUpdate>,
    pub reboot_required: bool,
    pub reboot_required_by: Vec<String>,
    /// Remote lines that failed validation.
    pub rejected: Vec<String>,
}
