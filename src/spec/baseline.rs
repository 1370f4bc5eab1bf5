//! `PatchBaseline`: which patches are approved for the groups that use it, and
//! `PatchApprovals`: the reviewed lockfile of exact versions `propose` writes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::spanned::Spanned;

/// What kind of change a patch is, as the operating system labels it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    Security,
    Bugfix,
    Enhancement,
    Other,
}

/// Vendor severity; `unspecified` where the OS publishes none.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Important,
    Moderate,
    Low,
    Unspecified,
}

/// What happens to a rejected package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RejectedAction {
    /// Never installed, not even as another package's dependency.
    #[default]
    Block,
    /// Not installed on its own, but allowed when an approved package needs it.
    AllowAsDependency,
}

/// When a host reboots after patching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RebootPolicy {
    /// When the OS says a reboot is required (kernel, libc, …).
    #[default]
    IfRequired,
    /// Never; patches that need one stay INSTALLED_PENDING_REBOOT.
    Never,
    /// After every run that changed something.
    Always,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchBaselineSpec {
    #[serde(default)]
    pub description: Option<String>,
    /// Rules that approve patches automatically; a patch matching any rule is approved.
    #[serde(default)]
    pub approval_rules: Vec<ApprovalRule>,
    /// Explicitly approved packages; beat the rules.
    #[serde(default)]
    pub approved: Vec<PackageRule>,
    /// Explicitly rejected packages; beat everything.
    #[serde(default)]
    pub rejected: Vec<PackageRule>,
    #[serde(default)]
    pub rejected_action: RejectedAction,
    /// Approve a version here only after it ran healthy on an earlier stage.
    #[serde(default)]
    pub promotion: Option<PromotionSpec>,
    #[serde(default)]
    pub reboot: RebootPolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApprovalRule {
    /// Shown in plans as the reason a patch was approved.
    pub name: Spanned<String>,
    /// Classifications this rule approves; empty means all.
    #[serde(default)]
    pub classifications: Vec<Classification>,
    /// Severities this rule approves; empty means all.
    #[serde(default)]
    pub severities: Vec<Severity>,
    /// Package name globs (`openssl*`, `linux-image-*`); empty means all.
    #[serde(default)]
    pub packages: Vec<Spanned<crate::spec::parsed::PackageGlob>>,
    /// Package name globs this rule never approves.
    #[serde(default)]
    pub exclude_packages: Vec<Spanned<crate::spec::parsed::PackageGlob>>,
    /// Repository/origin globs (`*-security`, `Debian-Security`); empty means all.
    #[serde(default)]
    pub repositories: Vec<Spanned<crate::spec::parsed::RepositoryGlob>>,
    /// Approve this many days after the release date (or first sighting when the OS gives none).
    #[serde(default)]
    pub approve_after_days: Option<Spanned<i64>>,
    /// Approve only patches released on or before this date (`YYYY-MM-DD`).
    #[serde(default)]
    pub approve_until_date: Option<Spanned<crate::spec::parsed::DateText>>,
    /// Severity reported for hosts missing a patch this rule approved. Default: the patch's own severity.
    #[serde(default)]
    pub compliance_level: Option<Severity>,
    /// `true`: only updates that fix a CVE in CISA's Known Exploited
    /// Vulnerabilities catalog (a `cisaKev` source of the Fleet).
    #[serde(default)]
    pub known_exploited: Option<Spanned<bool>>,
    /// Only updates that fix one of these CVEs (`CVE-2024-3094`), by the OS's
    /// advisory or the Fleet's vulnerability data.
    #[serde(default)]
    pub cves: Vec<Spanned<String>>,
    /// Only updates that fix a CVE with a CVSS v3 base score at least this
    /// (0.0–10.0), from vulnerability data that gives one (Ubuntu's OSV).
    #[serde(default)]
    pub min_cvss: Option<Spanned<CvssThreshold>>,
}

/// A CVSS base score a rule asks for, 0.0 to 10.0, kept in tenths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(with = "f64")]
#[serde(into = "f64")]
pub struct CvssThreshold(pub u8);

impl From<CvssThreshold> for f64 {
    fn from(t: CvssThreshold) -> f64 {
        f64::from(t.0) / 10.0
    }
}

impl<'de> Deserialize<'de> for CvssThreshold {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if !(0.0..=10.0).contains(&v) {
            return Err(serde::de::Error::custom(format!(
                "minCvss {v} is out of range; a CVSS score is 0.0 to 10.0"
            )));
        }
        Ok(CvssThreshold((v * 10.0).round() as u8))
    }
}

/// A package (glob) and a version constraint, approved or rejected explicitly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackageRule {
    /// Package name glob or KB id (`openssl`, `linux-image-*`, `KB5034441`).
    pub package: Spanned<crate::spec::parsed::PackageGlob>,
    /// `*` (default), an exact version, or comparisons: `>= 3.0.15, < 3.1`.
    #[serde(default)]
    pub version: Option<Spanned<crate::spec::parsed::ConstraintText>>,
    /// Why; shown in plans and reports.
    pub reason: Spanned<String>,
    /// The entry lapses after this date (`YYYY-MM-DD`).
    #[serde(default)]
    pub until: Option<Spanned<crate::spec::parsed::DateText>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromotionSpec {
    /// The stage a version must have run on first.
    pub from: Spanned<String>,
    /// For how long, e.g. `3d`.
    pub after: Spanned<crate::spec::parsed::DurationText>,
    /// Every host of that stage must also have passed its health checks. Default true.
    #[serde(default = "default_true")]
    pub require_healthy: bool,
}

fn default_true() -> bool {
    true
}

/// Exact versions approved by review: merging the pull request that adds them approves them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchApprovalsSpec {
    /// The PatchBaseline these approvals extend.
    pub baseline: Spanned<String>,
    #[serde(default)]
    pub approvals: Vec<ExactApproval>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExactApproval {
    pub package: Spanned<String>,
    /// The exact version, as the package manager prints it (`1:3.0.15-1~deb12u1`).
    pub version: Spanned<String>,
    /// Architecture, when the approval is for one only.
    #[serde(default)]
    pub arch: Option<Spanned<String>>,
}
