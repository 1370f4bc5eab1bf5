//! CISA's Known Exploited Vulnerabilities catalog
//! (<https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json>).

use std::collections::HashMap;

use jiff::civil::Date;
use serde::Deserialize;

/// What the catalog says about one CVE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevEntry {
    /// When CISA added it: BOD 22-01 deadlines count from here.
    pub date_added: Option<Date>,
    /// The remediation date CISA set for federal agencies.
    pub due_date: Option<Date>,
}

/// A parsed catalog.
#[derive(Debug, Default)]
pub struct Catalog {
    pub entries: HashMap<Box<str>, KevEntry>,
    /// As the catalog names its version (`2025.10.15`).
    pub version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    catalog_version: Option<String>,
    vulnerabilities: Vec<Vulnerability>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vulnerability {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(default)]
    date_added: Option<String>,
    #[serde(default)]
    due_date: Option<String>,
}

pub fn parse(bytes: &[u8]) -> Result<Catalog, String> {
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| super::json_problem(&e))?;
    let date = |d: Option<String>| d.and_then(|d| d.parse::<Date>().ok());
    let mut entries = HashMap::new();
    for v in doc.vulnerabilities {
        if !v.cve_id.starts_with("CVE-") {
            return Err(format!("`{}` is not a CVE id", v.cve_id));
        }
        entries.insert(
            v.cve_id.into_boxed_str(),
            KevEntry {
                date_added: date(v.date_added),
                due_date: date(v.due_date),
            },
        );
    }
    Ok(Catalog {
        entries,
        version: doc.catalog_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_excerpt_lists_its_cves_with_dates() {
        let c = parse(include_bytes!("../../testdata/vuln/kev.json")).unwrap();
        assert_eq!(c.entries.len(), 11);
        assert_eq!(c.version.as_deref(), Some("2025.10.15"));
        let heartbleed = &c.entries["CVE-2014-0160"];
        assert_eq!(heartbleed.date_added, Some(jiff::civil::date(2022, 5, 4)));
        assert_eq!(heartbleed.due_date, Some(jiff::civil::date(2022, 5, 25)));
    }

    #[test]
    fn the_tracker_is_not_a_catalog() {
        let e = parse(include_bytes!("../../testdata/vuln/debian-tracker.json")).unwrap_err();
        assert!(e.contains("another shape"), "{e}");
    }
}
