//! `MaintenanceWindow`: when patches may (allow) or must not (deny) be applied.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::LabelSelector;
use super::spanned::Spanned;

/// Allow windows open patching; deny windows (change freezes) close it and win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    #[default]
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MaintenanceWindowSpec {
    /// `allow` (default) or `deny`.
    #[serde(default)]
    pub kind: WindowKind,
    /// Five-field cron in the window's timezone: `0 22 * * TUE#2` (second Tuesday), `0 3 L * *`.
    pub schedule: Spanned<String>,
    /// Days added to each cron date, keeping the wall-clock time: Patch Tuesday + 2 is `TUE#2` with 2.
    #[serde(default)]
    pub offset_days: Option<Spanned<i64>>,
    /// IANA timezone, e.g. `Europe/Berlin`. Default `UTC`.
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    /// How long the window stays open: `4h`, `90m`, `15d`, counted on the local wall clock
    /// (22:00 + `6h` closes at 04:00 local time, also on the night clocks change).
    pub duration: Spanned<String>,
    /// No host is started this close to the end (elapsed time), e.g. `1h`. Default 0.
    #[serde(default)]
    pub cutoff: Option<Spanned<String>>,
    /// First date (inclusive, `YYYY-MM-DD`) on which the window may open.
    #[serde(default)]
    pub start_date: Option<Spanned<String>>,
    /// Last date (inclusive) on which the window may open.
    #[serde(default)]
    pub end_date: Option<Spanned<String>>,
    /// Deny windows only: groups whose labels match; omitted means every group.
    #[serde(default)]
    pub selector: Option<Spanned<LabelSelector>>,
}
