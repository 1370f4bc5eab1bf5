//! Package managers: what is installed, what updates exist, whether a
//! reboot is pending. One module per package manager; commands are argument
//! vectors or constant scripts, and every parser is tested on output captured
//! from the real tool (testdata/os/).

pub mod apt;
pub mod detect;
pub mod dnf;
pub mod install;
pub mod names;
pub mod reboot;
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
        // Valid UTF-8 (the usual case) becomes a String in place: a large
        // output is not copied.
        Ok(String::from_utf8(out.stdout)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    } else {
        Err(ScanError::Failed(format!(
            "{}: `{cmd}` exited with {}: {}",
            t.host(),
            out.status.map_or("a signal".to_string(), |c| c.to_string()),
            out.stderr_tail()
        )))
    }
}

/// The most entries patchwave takes into any one list from one command's
/// output (installed packages, updates, advisories, CVEs, …). A real host
/// lists thousands; all of Debian 12's main archive is 63,440 packages. A
/// host claiming more is broken or compromised, and believing it would cost
/// memory many times the size of its output.
pub const MAX_ENTRIES: usize = 100_000;

/// A list read from a host went past [`MAX_ENTRIES`]; `.0` names what it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany(pub &'static str);

impl std::fmt::Display for TooMany {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {MAX_ENTRIES} {}", self.0)
    }
}

/// Adds to a list read from a host, refusing past [`MAX_ENTRIES`].
pub(crate) fn push_entry<T>(list: &mut Vec<T>, item: T, what: &'static str) -> Result<(), TooMany> {
    room(list.len(), what)?;
    list.push(item);
    Ok(())
}

/// Whether a collection of `len` entries read from a host may take one more.
pub(crate) fn room(len: usize, what: &'static str) -> Result<(), TooMany> {
    if len >= MAX_ENTRIES {
        Err(TooMany(what))
    } else {
        Ok(())
    }
}

/// The scan error for a command whose output listed too much.
pub(crate) fn too_many(t: &dyn Transport, cmd: &RemoteCommand, e: TooMany) -> ScanError {
    ScanError::Failed(format!(
        "{}: `{}` listed {e}; patchwave reads no more than that from one command (no real host has so many: a broken or compromised host?)",
        t.host(),
        cmd.program
    ))
}

/// Lines of remote output that failed validation, as reported: the first
/// [`Rejected::KEPT`], each cut to [`Rejected::WIDTH`] bytes, then a count
/// of the rest. A host that answers with garbage gets a short report, not
/// a copy of the garbage line by line.
#[derive(Debug, Default)]
pub struct Rejected {
    lines: Vec<String>,
    more: usize,
}

impl Rejected {
    pub const KEPT: usize = 100;
    pub const WIDTH: usize = 200;

    pub fn push(&mut self, line: &str) {
        if self.lines.len() >= Self::KEPT {
            self.more += 1;
            return;
        }
        let mut end = line.len().min(Self::WIDTH);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let mut kept = line[..end].to_string();
        if end < line.len() {
            kept.push_str(&format!("… ({} bytes)", line.len()));
        }
        self.lines.push(kept);
    }

    pub fn into_lines(self) -> Vec<String> {
        let mut lines = self.lines;
        if self.more > 0 {
            lines.push(format!("… and {} more rejected lines", self.more));
        }
        lines
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_lines_are_reported_briefly() {
        let mut r = Rejected::default();
        let long = format!("é{}", "x".repeat(300));
        r.push(&long);
        for i in 0..1000 {
            r.push(&format!("junk {i}"));
        }
        let lines = r.into_lines();
        assert_eq!(lines.len(), Rejected::KEPT + 1);
        assert!(
            lines[0].starts_with('é') && lines[0].ends_with("… (302 bytes)"),
            "{}",
            lines[0]
        );
        assert!(lines[0].len() < Rejected::WIDTH + 20);
        assert_eq!(lines[1], "junk 0");
        assert_eq!(lines[Rejected::KEPT], "… and 901 more rejected lines");
        assert!(Rejected::default().into_lines().is_empty());
    }

    #[test]
    fn lists_from_hosts_stop_at_the_bound() {
        let mut v = Vec::new();
        for i in 0..MAX_ENTRIES {
            push_entry(&mut v, i, "things").unwrap();
        }
        let e = push_entry(&mut v, 0, "things").unwrap_err();
        assert_eq!(e.to_string(), format!("more than {MAX_ENTRIES} things"));
        assert_eq!(v.len(), MAX_ENTRIES);
    }
}
