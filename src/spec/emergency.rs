//! `EmergencyChange`: a committed, expiring permission to patch outside windows.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::baseline::ExactApproval;
use super::spanned::Spanned;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EmergencyChangeSpec {
    /// Why; recorded with every run it allows. Its commit and pull request are the audit trail.
    pub reason: Spanned<String>,
    /// RFC 3339 instant after which it no longer applies, e.g. `2026-12-11T18:00:00Z`.
    pub expires: Spanned<crate::spec::parsed::InstantText>,
    /// Groups it covers.
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    /// Hosts it covers (in addition to the groups).
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    /// The covered hosts may start outside their maintenance windows until it expires.
    #[serde(default)]
    pub allow_outside_window: bool,
    /// With `allowOutsideWindow`: also through a change freeze (deny window).
    #[serde(default)]
    pub break_freeze: bool,
    /// Extra exact versions approved for the covered hosts (they skip the
    /// baseline's promotion wait; a `rejected` entry still wins).
    #[serde(default)]
    pub approvals: Vec<ExactApproval>,
}
