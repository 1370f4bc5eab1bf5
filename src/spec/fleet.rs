//! `Fleet`: settings for the whole repository (at most one document).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::spanned::Spanned;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FleetSpec {
    /// Branch that receives status commits; never the desired-state branch. Default `patchwave/status`.
    #[serde(default)]
    pub status_branch: Option<Spanned<String>>,
    /// IANA zone in which approval days are counted (`approveAfterDays`,
    /// `until` dates). Default `UTC`.
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    #[serde(default)]
    pub scan: Option<ScanSettings>,
    #[serde(default)]
    pub apply: Option<ApplySettings>,
    /// Desired-state commits must be signed by an allowed key before anything is applied.
    #[serde(default)]
    pub verification: Option<VerificationSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScanSettings {
    /// Hosts scanned at once. Default 64.
    #[serde(default)]
    pub concurrency: Option<Spanned<u32>>,
    /// Per host, e.g. `2m`. Default 2m.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Refresh package metadata when older than this, e.g. `6h`. Default 6h.
    #[serde(default)]
    pub refresh_after: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApplySettings {
    /// Hosts patched at once across all groups. Default 16.
    #[serde(default)]
    pub concurrency: Option<Spanned<u32>>,
    /// How long a rebooting host may take to come back, e.g. `10m`. Default 10m.
    #[serde(default)]
    pub reboot_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureFormat {
    #[default]
    Ssh,
    Openpgp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerificationSpec {
    /// Refuse unsigned or wrongly signed desired-state commits. Default true.
    #[serde(default = "default_true")]
    pub require_signed_commits: bool,
    /// Which signatures are verified: `ssh` (ssh-keygen) or `openpgp` (gpgv). Default ssh.
    #[serde(default)]
    pub format: SignatureFormat,
    /// Allowed signers, inside this repository: for `ssh` a file in git's `gpg.ssh.allowedSignersFile` format; for `openpgp` a file of ASCII-armored public keys, or a directory of `*.asc` files.
    pub allowed_signers: Spanned<String>,
}

fn default_true() -> bool {
    true
}
