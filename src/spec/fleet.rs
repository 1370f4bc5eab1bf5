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
    /// Vulnerability data that rates updates the OS does not rate (Debian):
    /// which CVEs an update fixes, their severity, known exploitation.
    #[serde(default)]
    pub vulnerabilities: Option<VulnerabilitySettings>,
    /// How many days a patch may be missing, by severity and for known
    /// exploited vulnerabilities (PCI DSS, FedRAMP, CISA BOD 22-01).
    #[serde(default)]
    pub deadlines: Option<DeadlineSpec>,
}

/// Patch deadlines: days per severity, counted from the patch's release or
/// from its first detection. A severity without days has no deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeadlineSpec {
    /// `detection` (default; FedRAMP counts so): from when patchwave first
    /// saw the version offered; `release` (PCI DSS 6.3.3): from the OS's
    /// release date, or the first detection where the OS publishes none.
    #[serde(default)]
    pub count_from: CountFrom,
    #[serde(default)]
    pub critical: Option<Spanned<u32>>,
    #[serde(default)]
    pub important: Option<Spanned<u32>>,
    #[serde(default)]
    pub moderate: Option<Spanned<u32>>,
    #[serde(default)]
    pub low: Option<Spanned<u32>>,
    /// Days for a patch fixing a CVE of CISA's KEV catalog (BOD 22-01: 14),
    /// when shorter than its severity's.
    #[serde(default)]
    pub known_exploited: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CountFrom {
    #[default]
    Detection,
    Release,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VulnerabilitySettings {
    /// The datasets, at most one of each format.
    pub sources: Vec<VulnerabilitySource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VulnerabilitySource {
    /// Names the source in plans, status and messages, e.g. `debian`.
    pub name: Spanned<String>,
    /// `debianTracker` (the Debian Security Tracker's `tracker/data/json`),
    /// `ubuntuOsv` (Ubuntu's OSV records: one, or a JSON array of them) or
    /// `cisaKev` (CISA's Known Exploited Vulnerabilities catalog JSON).
    pub format: Spanned<VulnerabilityFormat>,
    /// The dataset, a file in this repository (reviewed like the policy).
    /// Exactly one of `file` and `url`.
    #[serde(default)]
    pub file: Option<Spanned<String>>,
    /// Or downloaded from this `http://` or `https://` URL; the last good
    /// copy is kept in run state and used when a download fails.
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// `url` only: ask the server again (conditionally: `If-None-Match`,
    /// `If-Modified-Since`) when the copy was last checked longer ago than
    /// this, e.g. `6h`; `0s` asks every run. Default 6h.
    #[serde(default)]
    pub refresh_after: Option<Spanned<crate::spec::parsed::DurationText>>,
    /// Data older than this (since it was last downloaded, confirmed
    /// unchanged, or read from the repository) is a warning; it is still
    /// used. Default 7d.
    #[serde(default)]
    pub max_age: Option<Spanned<crate::spec::parsed::DurationText>>,
}

/// `refreshAfter` when a `url` source leaves it out.
pub const VULN_REFRESH_AFTER: std::time::Duration = std::time::Duration::from_secs(6 * 3600);
/// `maxAge` when a source leaves it out.
pub const VULN_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 86400);

impl VulnerabilitySource {
    /// How long a downloaded copy is used before the server is asked again.
    pub fn refresh_after(&self) -> std::time::Duration {
        self.refresh_after
            .as_ref()
            .and_then(|d| d.value.get())
            .unwrap_or(VULN_REFRESH_AFTER)
    }

    /// How old data may be before a plan warns.
    pub fn max_age(&self) -> std::time::Duration {
        self.max_age
            .as_ref()
            .and_then(|d| d.value.get())
            .unwrap_or(VULN_MAX_AGE)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum VulnerabilityFormat {
    DebianTracker,
    CisaKev,
    /// Ubuntu's OSV records (one, or a JSON array of them).
    UbuntuOsv,
}

impl VulnerabilityFormat {
    /// As the Fleet writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            VulnerabilityFormat::DebianTracker => "debianTracker",
            VulnerabilityFormat::CisaKev => "cisaKev",
            VulnerabilityFormat::UbuntuOsv => "ubuntuOsv",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScanSettings {
    /// Hosts scanned at once. Default 64.
    #[serde(default)]
    pub concurrency: Option<Spanned<u32>>,
    /// Per host, e.g. `2m`. Default 2m.
    #[serde(default)]
    pub timeout: Option<Spanned<crate::spec::parsed::DurationText>>,
    /// Refresh package metadata when older than this, e.g. `6h`. Default 6h.
    #[serde(default)]
    pub refresh_after: Option<Spanned<crate::spec::parsed::DurationText>>,
    /// The daemon rescans each group's hosts this often, e.g. `6h`, even
    /// while their windows are closed, so status, the report and metrics
    /// stay current. Unset: hosts are scanned only when an apply starts.
    #[serde(default)]
    pub interval: Option<Spanned<crate::spec::parsed::DurationText>>,
    /// The most any one command on a host (scan, install, hook) may print,
    /// e.g. `256Mi`; past it the command is stopped and the host fails.
    /// Bytes, or with a suffix `Ki`, `Mi`, `Gi` (or `k`, `M`, `G`), from 1Ki
    /// to 4Gi. Default 64Mi.
    #[serde(default)]
    pub max_output: Option<Spanned<String>>,
}

/// Smallest and largest `scan.maxOutput`.
pub const MAX_OUTPUT_RANGE: std::ops::RangeInclusive<u64> = 1024..=(4 << 30);

/// A size as Kubernetes writes quantities: digits, then optionally `Ki`,
/// `Mi`, `Gi` (powers of 1024) or `k`, `M`, `G` (powers of 1000).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (number, suffix) = t.split_at(digits);
    let unit: u64 = match suffix {
        "" => 1,
        "k" => 1000,
        "M" => 1000 * 1000,
        "G" => 1000 * 1000 * 1000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => {
            return Err(format!(
                "`{text}` is not a size; write bytes or a number with Ki, Mi or Gi, e.g. `256Mi`"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| {
            format!(
                "`{text}` is not a size; write bytes or a number with Ki, Mi or Gi, e.g. `256Mi`"
            )
        })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApplySettings {
    /// Hosts patched at once across all groups. Default 16.
    #[serde(default)]
    pub concurrency: Option<Spanned<u32>>,
    /// How long a rebooting host may take to come back, e.g. `10m`. Default 10m.
    #[serde(default)]
    pub reboot_timeout: Option<Spanned<crate::spec::parsed::DurationText>>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_quantities() {
        assert_eq!(parse_size("256Mi"), Ok(256 << 20));
        assert_eq!(parse_size("1Gi"), Ok(1 << 30));
        assert_eq!(parse_size("512Ki"), Ok(512 << 10));
        assert_eq!(parse_size("100M"), Ok(100_000_000));
        assert_eq!(parse_size("2k"), Ok(2000));
        assert_eq!(parse_size("65536"), Ok(65536));
        for bad in [
            "",
            "Mi",
            "1.5Gi",
            "-1Mi",
            "64MB",
            "64 Mi",
            "lots",
            "99999999999999999999Gi",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
