//! The package manager commands that change a host: install exactly the
//! planned versions, and go back to the recorded ones. Every name and version
//! is one argument (never shell text); each was checked against the package
//! manager's grammar when it was scanned.

use std::time::Duration;

use super::transaction::Resolved;
use crate::facts::PackageManager;
use crate::transport::{CommandOutput, RemoteCommand};

/// How long apt waits for the dpkg lock (unattended-upgrades may hold it):
/// waited for, with a bound, never fought.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

/// One package at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageVersion {
    pub name: String,
    pub arch: String,
    pub version: String,
}

/// Which way the versions move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The planned, newer versions.
    Upgrade,
    /// Back to the recorded before-versions (rollback).
    Downgrade,
}

/// The command that installs exactly `pkgs` at their versions.
pub fn install_command(
    pm: PackageManager,
    pkgs: &[PackageVersion],
    direction: Direction,
    timeout: Duration,
) -> Option<RemoteCommand> {
    if pkgs.is_empty() {
        return None;
    }
    let cmd = match pm {
        PackageManager::Apt => {
            let mut c = RemoteCommand::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .env("NEEDRESTART_MODE", "a")
                .env("APT_LISTCHANGES_FRONTEND", "none")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                // Keep locally changed configuration files; take the new ones where untouched.
                .args([
                    "-o",
                    "Dpkg::Options::=--force-confdef",
                    "-o",
                    "Dpkg::Options::=--force-confold",
                ])
                .args([
                    "-o".to_string(),
                    format!("DPkg::Lock::Timeout={}", LOCK_WAIT.as_secs()),
                ]);
            c = match direction {
                Direction::Upgrade => c.arg("--only-upgrade"),
                Direction::Downgrade => c.arg("--allow-downgrades"),
            };
            // apt treats `all` packages as native: naming `:all` would not resolve.
            c.args(pkgs.iter().map(|p| match p.arch.as_str() {
                "all" | "" => format!("{}={}", p.name, p.version),
                arch => format!("{}:{arch}={}", p.name, p.version),
            }))
        }
        PackageManager::Dnf => {
            let verb = match direction {
                Direction::Upgrade => "install",
                Direction::Downgrade => "downgrade",
            };
            RemoteCommand::new("dnf").args([verb, "-y", "-q"]).args(
                pkgs.iter()
                    .map(|p| format!("{}-{}.{}", p.name, p.version, p.arch)),
            )
        }
        PackageManager::Zypper => {
            let mut c = RemoteCommand::new("zypper")
                .env("ZYPP_LOCK_TIMEOUT", LOCK_WAIT.as_secs().to_string())
                .args(["--non-interactive", "install", "--no-recommends"]);
            if direction == Direction::Downgrade {
                c = c.arg("--oldpackage");
            }
            c.args(
                pkgs.iter()
                    .map(|p| format!("{}.{}={}", p.name, p.arch, p.version)),
            )
        }
        PackageManager::Apk => return None,
        // Windows updates are not uninstalled by patchwave (a snapshot hook
        // is the way back); an upgrade installs exactly the planned KBs.
        PackageManager::WindowsUpdate => match direction {
            Direction::Upgrade => {
                let kbs: Vec<&str> = pkgs.iter().map(|p| p.name.as_str()).collect();
                crate::os::windows::install_command(&kbs)?
            }
            Direction::Downgrade => return None,
        },
    };
    Some(cmd.timeout(timeout))
}

/// The install `install` would run, resolved by the package manager without
/// changing anything (same arguments): apt's simulation, dnf's
/// `--assumeno`, zypper's `--dry-run`. `None` where there is no such thing.
pub fn resolve_command(pm: PackageManager, install: &RemoteCommand) -> Option<RemoteCommand> {
    match pm {
        PackageManager::Apt => Some(crate::os::apt::resolve_command(install)),
        PackageManager::Dnf => Some(crate::os::dnf::resolve_command(install)),
        PackageManager::Zypper => Some(crate::os::zypper::resolve_command(install)),
        PackageManager::Apk | PackageManager::WindowsUpdate => None,
    }
}

/// What the resolved install would put on the host, or why it cannot be
/// known (the package manager's own words).
pub fn parse_resolved(pm: PackageManager, out: &CommandOutput) -> Result<Vec<Resolved>, String> {
    let said = out.stdout_str();
    let parsed = match pm {
        // dnf answers no, and so always exits 1: its table says what it resolved.
        PackageManager::Dnf => crate::os::dnf::parse_resolved(&said),
        _ if !out.success() => Err(String::new()),
        PackageManager::Apt => crate::os::apt::parse_resolved(&said),
        PackageManager::Zypper => crate::os::zypper::parse_resolved(&said),
        PackageManager::Apk | PackageManager::WindowsUpdate => Ok(Vec::new()),
    };
    parsed.map_err(|why| {
        let mut text = last_lines(&format!("{said}\n{}", out.stderr_tail()), 4);
        if !why.is_empty() {
            text = format!("{why}: {text}");
        }
        format!(
            "{} could not resolve the install (exit {}): {text}",
            pm.as_str(),
            out.status.map_or("a signal".into(), |c| c.to_string())
        )
    })
}

/// A read-only check that the package database has no unfinished work
/// (half-configured packages would make any install fail, or finish someone
/// else's interrupted change): `dpkg --audit` on apt hosts.
pub fn audit_command(pm: PackageManager) -> Option<RemoteCommand> {
    match pm {
        PackageManager::Apt => Some(
            RemoteCommand::new("dpkg")
                .arg("--audit")
                .timeout(Duration::from_secs(60)),
        ),
        _ => None,
    }
}

/// Why an install failed, for the run record: the package manager's lock,
/// or its own words.
pub fn failure_reason(pm: PackageManager, out: &CommandOutput) -> String {
    let tail = out.stderr_tail();
    let all = format!("{}\n{}", out.stdout_str(), tail);
    let locked = match pm {
        PackageManager::Apt => {
            all.contains("Could not get lock") || all.contains("is held by process")
        }
        PackageManager::Zypper => out.status == Some(7),
        PackageManager::Dnf => all.contains("Waiting for process with pid"),
        PackageManager::Apk => false,
        PackageManager::WindowsUpdate => {
            return format!(
                "Windows Update: {}",
                crate::os::windows::install_failure(&out.stdout_str(), &tail)
            );
        }
    };
    if locked {
        format!(
            "the package manager's lock is held by another process (waited {}s); \
             it is left alone — try again when it is done: {}",
            LOCK_WAIT.as_secs(),
            last_lines(&all, 3)
        )
    } else {
        format!(
            "{} exited with {}: {}",
            pm.as_str(),
            out.status.map_or("a signal".into(), |c| c.to_string()),
            last_lines(&all, 8)
        )
    }
}

/// The last `n` non-empty lines, joined: what a person needs from a long log.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pv(name: &str, version: &str) -> PackageVersion {
        PackageVersion {
            name: name.into(),
            arch: "amd64".into(),
            version: version.into(),
        }
    }

    #[test]
    fn commands_name_exact_versions_one_argument_each() {
        let t = Duration::from_secs(600);
        let apt = install_command(
            PackageManager::Apt,
            &[
                pv("openssl", "3.0.17-1~deb12u2"),
                pv("bad name; rm -rf /", "1"),
            ],
            Direction::Upgrade,
            t,
        )
        .unwrap();
        let argv = apt.wrapped_argv();
        assert!(
            argv.contains(&"DEBIAN_FRONTEND=noninteractive".to_string()),
            "{argv:?}"
        );
        assert!(argv.contains(&"--only-upgrade".to_string()));
        assert!(argv.contains(&"openssl:amd64=3.0.17-1~deb12u2".to_string()));
        assert!(
            argv.contains(&"bad name; rm -rf /:amd64=1".to_string()),
            "one argument, never split"
        );
        assert!(argv.contains(&"DPkg::Lock::Timeout=120".to_string()));

        let down = install_command(
            PackageManager::Apt,
            &[pv("vim", "2:9.0-1")],
            Direction::Downgrade,
            t,
        )
        .unwrap()
        .wrapped_argv();
        assert!(
            down.contains(&"--allow-downgrades".to_string())
                && !down.contains(&"--only-upgrade".to_string())
        );

        let dnf = install_command(
            PackageManager::Dnf,
            &[pv("bash", "5.1.8-9.el9")],
            Direction::Downgrade,
            t,
        )
        .unwrap()
        .wrapped_argv();
        assert!(
            dnf.contains(&"downgrade".to_string())
                && dnf.contains(&"bash-5.1.8-9.el9.amd64".to_string())
        );

        let zy = install_command(
            PackageManager::Zypper,
            &[pv("bash", "5.2-1.1")],
            Direction::Downgrade,
            t,
        )
        .unwrap()
        .wrapped_argv();
        assert!(
            zy.contains(&"--oldpackage".to_string())
                && zy.contains(&"bash.amd64=5.2-1.1".to_string())
        );
        assert!(install_command(PackageManager::Apt, &[], Direction::Upgrade, t).is_none());
        let mut all = pv("tzdata", "2025b-0+deb12u2");
        all.arch = "all".into();
        let argv = install_command(PackageManager::Apt, &[all], Direction::Upgrade, t)
            .unwrap()
            .wrapped_argv();
        assert!(
            argv.contains(&"tzdata=2025b-0+deb12u2".to_string()),
            "{argv:?}"
        );
    }

    #[test]
    fn a_held_lock_is_reported_as_such() {
        let out = CommandOutput {
            status: Some(100),
            stdout: vec![],
            stderr: b"E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)\n".to_vec(),
        };
        let r = failure_reason(PackageManager::Apt, &out);
        assert!(
            r.starts_with("the package manager's lock is held by another process (waited 120s)"),
            "{r}"
        );
        assert!(r.contains("4242"), "{r}");
    }
}
