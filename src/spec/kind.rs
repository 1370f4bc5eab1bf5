//! The resource kinds a fleet repository may hold.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Fleet,
    HostGroup,
    PatchBaseline,
    PatchApprovals,
    MaintenanceWindow,
    RolloutPolicy,
    EmergencyChange,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Fleet,
        Kind::HostGroup,
        Kind::PatchBaseline,
        Kind::PatchApprovals,
        Kind::MaintenanceWindow,
        Kind::RolloutPolicy,
        Kind::EmergencyChange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Fleet => "Fleet",
            Kind::HostGroup => "HostGroup",
            Kind::PatchBaseline => "PatchBaseline",
            Kind::PatchApprovals => "PatchApprovals",
            Kind::MaintenanceWindow => "MaintenanceWindow",
            Kind::RolloutPolicy => "RolloutPolicy",
            Kind::EmergencyChange => "EmergencyChange",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// "`Fleet`, `HostGroup`, …" for hints.
    pub fn list() -> String {
        Kind::ALL
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// File name stem of the kind's schema under `policy-schema/`.
    pub fn schema_file(self) -> String {
        format!("{}.json", self.as_str())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
