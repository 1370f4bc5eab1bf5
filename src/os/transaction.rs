//! Transactions seen from outside. Before one: what an install would do, as
//! the package manager resolved it without changing anything (apt's
//! simulation, dnf's `--assumeno`, zypper's `--dry-run`), dependencies
//! included, checked against the baseline's blocked packages. After one that
//! was cut short: the packages it left unfinished in the package database.

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

/// A package an interrupted transaction left unfinished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub name: String,
    pub arch: String,
    /// The version the database records for it (for an rpm duplicate, the
    /// older one).
    pub version: String,
    /// As the package manager says it: dpkg's `half-installed`, `unpacked`,
    /// `half-configured` (with `, reinst-required` when flagged); rpm's
    /// `duplicate of …`.
    pub state: String,
    /// Files half unpacked, or flagged: finishing the transaction cannot
    /// mend it, only installing it again can.
    pub needs_reinstall: bool,
}
