//! What an install would do, as the package manager resolved it without
//! changing anything (apt's simulation, dnf's `--assumeno`, zypper's
//! `--dry-run`): every package it would install or upgrade, dependencies
//! included. Checked against the baseline's blocked packages before the real
//! install runs.

/// One package the transaction would put on the host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Resolved {
    pub name: String,
    pub arch: String,
    /// In the package manager's own form (`E:V-R` for rpm, with the epoch
    /// only when it is not 0), as the planner compares versions.
    pub version: String,
}

impl Resolved {
    pub fn new(name: &str, arch: &str, version: &str) -> Resolved {
        Resolved {
            name: name.to_string(),
            arch: arch.to_string(),
            version: version.to_string(),
        }
    }
}
