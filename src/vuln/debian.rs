//! The Debian Security Tracker's JSON
//! (<https://security-tracker.debian.org/tracker/data/json>): per source
//! package and issue, per release, whether and in which version it is fixed,
//! its urgency, and whether a security advisory will ship for it.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::spec::baseline::Severity;

/// One issue of one source package in one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerEntry {
    pub cve: Box<str>,
    /// The first fixed version; `None` while the issue is open, `"0"` when
    /// the release was never affected.
    pub fixed_version: Option<Box<str>>,
    /// As the tracker writes it (`high`, `low**`, `not yet assigned`, …).
    pub urgency: String,
    /// The tracker judged it not worth a DSA/DLA (`nodsa`).
    pub no_dsa: bool,
}

/// The tracker's urgency, read leniently (`**` marks an urgency the
/// tracker took from elsewhere; it ranks the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    High,
    Medium,
    Low,
    Unimportant,
    /// `not yet assigned`, `end-of-life` or anything else.
    Unassigned,
}

impl Urgency {
    pub fn parse(text: &str) -> Urgency {
        match text.trim_end_matches('*') {
            "high" => Urgency::High,
            "medium" => Urgency::Medium,
            "low" => Urgency::Low,
            "unimportant" => Urgency::Unimportant,
            _ => Urgency::Unassigned,
        }
    }
}

/// The severity patchwave gives an issue the candidate fixes: a known
/// exploited one is critical; else the urgency (high → important, medium →
/// moderate, low and unimportant → low); an unassigned urgency ranks by the
/// advisory: important when a stable release gets a DSA/DLA for it, low when
/// the tracker says `nodsa`, unspecified in unstable (which has none).
pub fn severity(release: &str, e: &TrackerEntry, known_exploited: bool) -> Severity {
    if known_exploited {
        return Severity::Critical;
    }
    match Urgency::parse(&e.urgency) {
        Urgency::High => Severity::Important,
        Urgency::Medium => Severity::Moderate,
        Urgency::Low | Urgency::Unimportant => Severity::Low,
        Urgency::Unassigned if e.no_dsa => Severity::Low,
        Urgency::Unassigned if release == "sid" => Severity::Unspecified,
        Urgency::Unassigned => Severity::Important,
    }
}

/// A parsed tracker dataset.
#[derive(Debug, Default)]
pub struct Tracker {
    /// (release, source package) → its issues there.
    pub entries: HashMap<(Box<str>, Box<str>), Vec<TrackerEntry>>,
    /// Issues read (a CVE counted once per source package).
    pub issues: usize,
}

/// Only what is read; other fields (description, scope, debianbug,
/// repositories, nodsa_reason) are skipped without being kept.
#[derive(Deserialize)]
struct Issue {
    releases: HashMap<String, Release>,
}

#[derive(Deserialize)]
struct Release {
    status: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    nodsa: Option<IgnoredAny>,
}

/// Parses the tracker's JSON. Issues without a CVE id (`TEMP-…`) are left
/// out: nothing downstream can name them.
pub fn parse(bytes: &[u8]) -> Result<Tracker, String> {
    let doc: HashMap<String, HashMap<String, Issue>> =
        serde_json::from_slice(bytes).map_err(|e| describe(&e))?;
    let mut tracker = Tracker::default();
    for (source, issues) in doc {
        for (id, issue) in issues {
            if !id.starts_with("CVE-") {
                continue;
            }
            tracker.issues += 1;
            for (release, r) in issue.releases {
                let fixed_version = match r.status.as_str() {
                    "resolved" => r.fixed_version.map(String::into_boxed_str),
                    _ => None,
                };
                tracker
                    .entries
                    .entry((release.into_boxed_str(), source.as_str().into()))
                    .or_default()
                    .push(TrackerEntry {
                        cve: id.as_str().into(),
                        fixed_version,
                        urgency: r.urgency.unwrap_or_default(),
                        no_dsa: r.nodsa.is_some(),
                    });
            }
        }
    }
    if tracker.issues == 0 {
        return Err("it lists no CVE (is it the tracker's JSON, `tracker/data/json`?)".into());
    }
    Ok(tracker)
}

/// A JSON error as a reader can act on it: where, and whether the file
/// ended early (a download cut short) or has another shape.
pub(crate) fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "the JSON ends early (truncated?)",
        Category::Syntax => "it is not valid JSON",
        Category::Data => "it has another shape",
        Category::Io => "it cannot be read",
    };
    format!("{what}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &[u8] = include_bytes!("../../testdata/vuln/debian-tracker.json");

    #[test]
    fn the_real_excerpt_parses_per_release_and_source() {
        let t = parse(REAL).unwrap();
        assert_eq!(t.issues, 22);
        let buster = &t.entries[&("buster".into(), "openssl".into())];
        let heartbleed_era = buster.iter().find(|e| &*e.cve == "CVE-2021-3449").unwrap();
        assert_eq!(
            heartbleed_era.fixed_version.as_deref(),
            Some("1.1.1d-0+deb10u6")
        );
        // Open issues have no fixed version, even if one were written.
        let open = &t.entries[&("bookworm".into(), "apparmor".into())];
        let e = open.iter().find(|e| &*e.cve == "CVE-2016-1585").unwrap();
        assert_eq!(e.fixed_version, None);
        assert_eq!(e.urgency, "unimportant");
    }

    #[test]
    fn urgency_and_advisory_give_the_severity() {
        let e = |urgency: &str, no_dsa: bool| TrackerEntry {
            cve: "CVE-1".into(),
            fixed_version: Some("1".into()),
            urgency: urgency.into(),
            no_dsa,
        };
        assert_eq!(
            severity("bookworm", &e("high", false), false),
            Severity::Important
        );
        assert_eq!(
            severity("bookworm", &e("high**", true), false),
            Severity::Important
        );
        assert_eq!(
            severity("bookworm", &e("medium", false), false),
            Severity::Moderate
        );
        assert_eq!(severity("bookworm", &e("low", false), false), Severity::Low);
        assert_eq!(
            severity("bookworm", &e("not yet assigned", false), false),
            Severity::Important
        );
        assert_eq!(
            severity("bookworm", &e("not yet assigned", true), false),
            Severity::Low
        );
        assert_eq!(
            severity("sid", &e("not yet assigned", false), false),
            Severity::Unspecified
        );
        assert_eq!(severity("sid", &e("low", true), true), Severity::Critical);
    }

    #[test]
    fn truncated_and_foreign_json_say_what_is_wrong() {
        let cut = parse(&REAL[..REAL.len() / 2]).unwrap_err();
        assert!(cut.contains("ends early"), "{cut}");
        let kev = include_bytes!("../../testdata/vuln/kev.json");
        let other = parse(kev).unwrap_err();
        assert!(other.contains("another shape"), "{other}");
        let empty = parse(b"{}").unwrap_err();
        assert!(empty.contains("no CVE"), "{empty}");
    }
}
