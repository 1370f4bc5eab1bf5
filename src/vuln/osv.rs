//! Ubuntu's vulnerability records in OSV form (canonical/ubuntu-security-
//! notices, `osv/cve/**/UBUNTU-CVE-*.json` and `osv/usn/USN-*.json`): per
//! Ubuntu release (`Ubuntu:22.04:LTS`) and source package, the version that
//! fixes it and Ubuntu's priority. The file is one record, or a JSON array
//! of them (`jq -s . osv/cve/*/*.json > ubuntu.json`).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::spec::baseline::Severity;

/// One record's fix for one source package in one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsvEntry {
    pub cve: Arc<str>,
    /// The first fixed version; `None` while unfixed.
    pub fixed_version: Option<Box<str>>,
    /// Ubuntu's priority (`high`, `medium`, …) as written; empty when none.
    pub priority: Arc<str>,
    /// The record's CVSS v3 base score, in tenths, when it has a vector.
    pub cvss: Option<u8>,
}

/// Parsed records: Ubuntu release (`22.04`) → source package → entries.
#[derive(Debug, Default)]
pub struct Records {
    pub entries: HashMap<Box<str>, HashMap<Box<str>, Vec<OsvEntry>>>,
    pub records: usize,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Document {
    Many(Vec<Record>),
    One(Box<Record>),
}

#[derive(Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    upstream: Vec<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    severity: Vec<SeverityScore>,
    affected: Vec<Affected>,
}

#[derive(Deserialize)]
struct SeverityScore {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct Affected {
    package: Package,
    #[serde(default)]
    ranges: Vec<Range>,
}

#[derive(Deserialize)]
struct Package {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct Range {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<HashMap<String, String>>,
}

/// Ubuntu's priority as a severity: critical, high → important, medium →
/// moderate, low and negligible → low.
pub fn severity(priority: &str) -> Severity {
    match priority {
        "critical" => Severity::Critical,
        "high" => Severity::Important,
        "medium" => Severity::Moderate,
        "low" | "negligible" => Severity::Low,
        _ => Severity::Unspecified,
    }
}

/// The release an ecosystem names, for the public archive only
/// (`Ubuntu:22.04:LTS` → `22.04`; `Ubuntu:Pro:…` is Ubuntu Pro's, left out).
fn release(ecosystem: &str) -> Option<&str> {
    let rest = ecosystem.strip_prefix("Ubuntu:")?;
    let version = rest.split(':').next()?;
    version
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.')
        .then_some(version)
        .filter(|v| !v.is_empty())
}

/// The CVE a record is about: a `CVE-` id of its upstream or aliases, or its
/// own id without `UBUNTU-`.
fn cve_of(r: &Record) -> Option<String> {
    r.upstream
        .iter()
        .chain(&r.aliases)
        .map(|id| id.strip_prefix("UBUNTU-").unwrap_or(id))
        .chain(std::iter::once(
            r.id.strip_prefix("UBUNTU-").unwrap_or(&r.id),
        ))
        .find(|id| id.starts_with("CVE-"))
        .map(String::from)
}

pub fn parse(bytes: &[u8]) -> Result<Records, String> {
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            super::json_problem(&e)
        } else {
            format!("it has another shape: not OSV records (one, or an array): {e}")
        }
    })?;
    let records = match doc {
        Document::Many(v) => v,
        Document::One(r) => vec![*r],
    };
    let mut out = Records::default();
    let mut priorities: HashMap<String, Arc<str>> = HashMap::new();
    for r in &records {
        let Some(cve) = cve_of(r) else { continue };
        out.records += 1;
        let cve: Arc<str> = cve.into();
        let priority = r
            .severity
            .iter()
            .find(|s| s.kind == "Ubuntu")
            .map_or("", |s| s.score.as_str());
        let priority = priorities
            .entry(priority.to_string())
            .or_insert_with(|| priority.into())
            .clone();
        let cvss = r
            .severity
            .iter()
            .filter(|s| s.kind == "CVSS_V3")
            .find_map(|s| super::cvss::base_score(&s.score));
        for a in &r.affected {
            let Some(release) = release(&a.package.ecosystem) else {
                continue;
            };
            let fixed_version = a
                .ranges
                .iter()
                .filter(|g| g.kind == "ECOSYSTEM")
                .flat_map(|g| &g.events)
                .find_map(|e| e.get("fixed"))
                .map(|v| v.as_str().into());
            out.entries
                .entry(release.into())
                .or_default()
                .entry(a.package.name.as_str().into())
                .or_default()
                .push(OsvEntry {
                    cve: cve.clone(),
                    fixed_version,
                    priority: priority.clone(),
                    cvss,
                });
        }
    }
    if out.records == 0 {
        return Err("it holds no OSV record about a CVE".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/vuln/ubuntu-osv")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn a_real_record_gives_the_fix_per_release_and_ubuntu_priority() {
        let r = parse(&record("UBUNTU-CVE-2021-3449.json")).unwrap();
        assert_eq!(r.records, 1);
        let focal = &r.entries["20.04"]["openssl"];
        assert_eq!(&*focal[0].cve, "CVE-2021-3449");
        assert_eq!(&*focal[0].priority, "high");
        assert_eq!(focal[0].cvss, Some(59));
        assert!(focal[0].fixed_version.is_some());
        // Ubuntu Pro's ecosystems are not the public archive's.
        assert!(r.entries.keys().all(|k| !k.contains("Pro")));
        assert_eq!(severity("high"), Severity::Important);
    }

    #[test]
    fn an_array_of_records_and_a_usn_parse() {
        let mut all = b"[".to_vec();
        all.extend(record("UBUNTU-CVE-2021-3156.json"));
        all.push(b',');
        all.extend(record("USN-6188-1.json"));
        all.push(b']');
        let r = parse(&all).unwrap();
        assert_eq!(r.records, 2);
        let e = parse(b"{\"vulnerabilities\": []}").unwrap_err();
        assert!(e.contains("another shape"), "{e}");
        let cut = parse(&record("USN-6188-1.json")[..100]).unwrap_err();
        assert!(cut.contains("ends early"), "{cut}");
    }
}
