//! Vulnerability data the Fleet declares (`spec.vulnerabilities`): the
//! Debian Security Tracker and CISA's Known Exploited Vulnerabilities
//! catalog, compiled into one index that the planner asks, per offered
//! update, which CVEs it fixes, how severe they are and whether one is
//! exploited in the wild. Loading is I/O ([`load`]: files in the
//! repository or downloads, with the last good copy of each kept in run
//! state through [`cache::SourceCache`]); assessing is pure.

pub mod cache;
pub mod cvss;
pub mod debian;
pub mod fetch;
pub mod kev;
pub mod load;
pub mod osv;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::Serialize;

use crate::facts::{AvailableUpdate, OsInfo, PackageManager};
use crate::spec::baseline::Severity;
use crate::spec::fleet::VulnerabilityFormat;
use crate::version;

pub use cache::DataOrigin;
pub use debian::{TrackerEntry, Urgency};
pub use kev::KevEntry;

/// What a plan was made with from one vulnerability source, and how old it
/// is (the plan's `vulnerabilityData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VulnerabilityData {
    /// The Fleet's name of the source.
    pub name: String,
    pub format: VulnerabilityFormat,
    /// `file` (in the fleet repository) or `url` (downloaded).
    pub origin: DataOrigin,
    /// The file's path in the repository, or the URL.
    pub location: String,
    /// How this run got the data.
    pub state: DataState,
    /// When the data used was downloaded (or first read from the repository).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<Timestamp>,
    /// When its origin last confirmed it (a download, a `304 Not Modified`,
    /// a read of the file): the data's age counts from here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<Timestamp>,
    /// Of the data used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Older than the source's `maxAge` (the plan's warnings say so); still used.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// How a run got a source's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DataState {
    /// Read from the repository, downloaded, or confirmed unchanged by the
    /// server (`304`) in this run.
    Fresh,
    /// The copy in run state, checked more recently than `refreshAfter`:
    /// nothing was asked.
    Cached,
    /// The source failed in this run (the plan's warnings say how); its
    /// last good copy from run state is used.
    LastGood,
    /// The source failed and there is no good copy: none of its data is used.
    LeftOut,
}

impl DataState {
    /// Whether the copy in run state stood in for the source.
    pub fn from_cache(self) -> bool {
        matches!(self, DataState::Cached | DataState::LastGood)
    }
}

/// One CVE an update fixes, with what the data says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CveFinding {
    pub id: String,
    /// The Fleet's name of the source that lists it (`vulnerabilities.sources[].name`).
    pub source: String,
    /// The severity patchwave gives it (see README "Vulnerability data").
    pub severity: Severity,
    /// The tracker's urgency for this release and source package, or
    /// Ubuntu's priority, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgency: Option<String>,
    /// The tracker says no security advisory (DSA/DLA) will ship for it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_dsa: bool,
    /// The first version that fixes it (in the release's version order).
    pub fixed_version: String,
    /// Listed in CISA's Known Exploited Vulnerabilities catalog.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub known_exploited: bool,
    /// The CVSS v3 base score (0.0–10.0), where the source gives a vector.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "tenths")]
    #[schemars(with = "Option<f64>")]
    pub cvss: Option<u8>,
}

/// A score kept in tenths, written as the number it is (59 as 5.9).
fn tenths<S: serde::Serializer>(t: &Option<u8>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_f64(f64::from(*t) / 10.0),
        None => s.serialize_none(),
    }
}

/// What the data says about one offered update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assessment {
    /// The CVEs the candidate fixes, most severe first.
    pub cves: Vec<CveFinding>,
    /// The highest severity among them; `None` when it fixes none.
    pub severity: Option<Severity>,
    pub known_exploited: bool,
    /// The highest CVSS base score among them, in tenths.
    pub cvss: Option<u8>,
}

/// (release, source package, installed version, candidate version).
type AssessmentKey = (String, String, String, String);

/// The compiled vulnerability data of a fleet; empty when it declares none.
#[derive(Debug, Default)]
pub struct VulnIndex {
    /// Release codename → source package → the tracker's entries.
    debian: HashMap<Box<str>, HashMap<Box<str>, Vec<TrackerEntry>>>,
    debian_source: String,
    /// Ubuntu release (`22.04`) → source package → its OSV records' fixes.
    ubuntu: HashMap<Box<str>, HashMap<Box<str>, Vec<osv::OsvEntry>>>,
    ubuntu_source: String,
    /// CVE id → its catalog entry.
    kev: HashMap<Box<str>, KevEntry>,
    kev_source: String,
    /// Assessments by (release, source package, installed, candidate):
    /// fleets run the same versions, so each is computed once.
    cache: Mutex<HashMap<AssessmentKey, Arc<Assessment>>>,
    /// What was used of each declared source, in the Fleet's order.
    data: Vec<VulnerabilityData>,
}

impl VulnIndex {
    /// What was used of each declared source (the plan lists it).
    pub fn data(&self) -> &[VulnerabilityData] {
        &self.data
    }

    pub fn is_empty(&self) -> bool {
        self.debian.is_empty() && self.ubuntu.is_empty() && self.kev.is_empty()
    }

    /// Adds Ubuntu's OSV records, named as the Fleet names them.
    pub fn add_ubuntu(&mut self, name: &str, data: osv::Records) {
        self.ubuntu = data.entries;
        self.ubuntu_source = name.to_string();
    }

    /// Adds a Debian Security Tracker dataset, named as the Fleet names it.
    pub fn add_debian(&mut self, name: &str, data: debian::Tracker) {
        self.debian = data.entries;
        self.debian_source = name.to_string();
    }

    /// Adds the KEV catalog, named as the Fleet names it.
    pub fn add_kev(&mut self, name: &str, catalog: kev::Catalog) {
        self.kev = catalog.entries;
        self.kev_source = name.to_string();
    }

    /// The KEV entry of a CVE, if the catalog lists it.
    pub fn kev(&self, cve: &str) -> Option<&KevEntry> {
        self.kev.get(cve)
    }

    /// What the data says about `u` on a host running `os`; `None` when it
    /// has nothing for that release and source package.
    pub fn assess(
        &self,
        os: &OsInfo,
        pm: PackageManager,
        u: &AvailableUpdate,
    ) -> Option<Arc<Assessment>> {
        if pm != PackageManager::Apt {
            return None;
        }
        let ubuntu = os.id == "ubuntu";
        let release = release(os)?;
        let source = u.source_name();
        let key = (
            release.to_string(),
            source.to_string(),
            u.installed_version.clone(),
            u.candidate_version.clone(),
        );
        let found = if ubuntu {
            self.ubuntu
                .get(release)?
                .get(source)
                .map(|e| (None, Some(e)))
        } else {
            self.debian
                .get(release)?
                .get(source)
                .map(|e| (Some(e), None))
        }?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = cache.get(&key) {
            return Some(found.clone());
        }
        let assessed = Arc::new(match found {
            (Some(debian), _) => self.assess_debian(release, debian, u),
            (_, Some(ubuntu)) => self.assess_ubuntu(ubuntu, u),
            _ => Assessment::default(),
        });
        cache.insert(key, assessed.clone());
        Some(assessed)
    }

    /// Ubuntu's records: a fix is the first fixed version above the
    /// installed one, at or below the candidate; its severity Ubuntu's
    /// priority, critical when known exploited.
    fn assess_ubuntu(&self, entries: &[osv::OsvEntry], u: &AvailableUpdate) -> Assessment {
        let cmp = |a: &str, b: &str| version::compare(PackageManager::Apt, a, b);
        let cves = entries
            .iter()
            .filter_map(|e| {
                let fixed = e.fixed_version.as_deref()?;
                if cmp(&u.installed_version, fixed).is_ge()
                    || cmp(&u.candidate_version, fixed).is_lt()
                {
                    return None;
                }
                let known_exploited = self.kev.contains_key(e.cve.as_ref());
                Some(CveFinding {
                    id: e.cve.to_string(),
                    source: self.ubuntu_source.clone(),
                    severity: if known_exploited {
                        Severity::Critical
                    } else {
                        osv::severity(&e.priority)
                    },
                    urgency: (!e.priority.is_empty()).then(|| e.priority.to_string()),
                    no_dsa: false,
                    fixed_version: fixed.to_string(),
                    known_exploited,
                    cvss: e.cvss,
                })
            })
            .collect();
        finish(cves)
    }

    fn assess_debian(
        &self,
        release: &str,
        entries: &[TrackerEntry],
        u: &AvailableUpdate,
    ) -> Assessment {
        let cmp = |a: &str, b: &str| version::compare(PackageManager::Apt, a, b);
        let cves: Vec<CveFinding> = entries
            .iter()
            .filter_map(|e| {
                let fixed = e.fixed_version.as_deref()?;
                // "0": never affected in this release.
                if fixed == "0"
                    || cmp(&u.installed_version, fixed).is_ge()
                    || cmp(&u.candidate_version, fixed).is_lt()
                {
                    return None;
                }
                let known_exploited = self.kev.contains_key(e.cve.as_ref());
                Some(CveFinding {
                    id: e.cve.to_string(),
                    source: self.debian_source.clone(),
                    severity: debian::severity(release, e, known_exploited),
                    urgency: Some(e.urgency.to_string()),
                    no_dsa: e.no_dsa,
                    fixed_version: fixed.to_string(),
                    known_exploited,
                    cvss: None,
                })
            })
            .collect();
        finish(cves)
    }
}

/// An assessment of the CVEs an update fixes: most severe first.
fn finish(mut cves: Vec<CveFinding>) -> Assessment {
    cves.sort_by(|a, b| a.severity.cmp(&b.severity).then_with(|| a.id.cmp(&b.id)));
    Assessment {
        severity: cves.iter().map(|c| c.severity).min(),
        known_exploited: cves.iter().any(|c| c.known_exploited),
        cvss: cves.iter().filter_map(|c| c.cvss).max(),
        cves,
    }
}

/// A JSON error as a reader can act on it: where, and whether the file
/// ended early (a download cut short) or has another shape.
pub(crate) fn json_problem(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "the JSON ends early (truncated?)",
        Category::Syntax => "it is not valid JSON",
        Category::Data => "it has another shape",
        Category::Io => "it cannot be read",
    };
    format!("{what}: {e}")
}

/// The release vulnerability data is keyed by for a host: Ubuntu's version
/// (`22.04`), or Debian's codename (`bookworm`, see [`debian_release`]).
pub fn release(os: &OsInfo) -> Option<&str> {
    if os.id == "ubuntu" {
        return (!os.version_id.is_empty()).then_some(os.version_id.as_str());
    }
    debian_release(os)
}

/// The tracker's release name of a Debian host, from os-release's
/// `VERSION_ID` (a host without one runs testing or unstable: `sid`).
pub fn debian_release(os: &OsInfo) -> Option<&'static str> {
    if os.id != "debian" {
        return None;
    }
    let major = os.version_id.split('.').next().unwrap_or("");
    Some(match major {
        "" => "sid",
        "8" => "jessie",
        "9" => "stretch",
        "10" => "buster",
        "11" => "bullseye",
        "12" => "bookworm",
        "13" => "trixie",
        "14" => "forky",
        "15" => "duke",
        _ => return None,
    })
}
