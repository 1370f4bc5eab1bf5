//! The Debian Security Tracker's JSON
//! (<https://security-tracker.debian.org/tracker/data/json>): per source
//! package and issue, per release, whether and in which version it is fixed,
//! its urgency, and whether a security advisory will ship for it.

use std::collections::HashMap;

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::spec::baseline::Severity;

/// One issue of one source package in one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerEntry {
    /// Shared by the issue's entries in every release.
    pub cve: Arc<str>,
    /// The first fixed version; `None` while the issue is open, `"0"` when
    /// the release was never affected.
    pub fixed_version: Option<Box<str>>,
    /// As the tracker writes it (`high`, `low**`, `not yet assigned`, …);
    /// one shared copy per distinct text.
    pub urgency: Arc<str>,
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
    /// Release → source package → its issues there.
    pub entries: HashMap<Box<str>, HashMap<Box<str>, Vec<TrackerEntry>>>,
    /// Issues read (a CVE counted once per source package).
    pub issues: usize,
    /// One copy of each distinct urgency text.
    urgencies: HashMap<Box<str>, Arc<str>>,
}

impl Tracker {
    fn urgency(&mut self, text: &str) -> Arc<str> {
        if let Some(u) = self.urgencies.get(text) {
            return u.clone();
        }
        let u: Arc<str> = text.into();
        self.urgencies.insert(text.into(), u.clone());
        u
    }

    fn push(&mut self, release: &str, source: &str, entry: TrackerEntry) {
        let by_source = match self.entries.get_mut(release) {
            Some(m) => m,
            None => self.entries.entry(release.into()).or_default(),
        };
        match by_source.get_mut(source) {
            Some(v) => v.push(entry),
            None => {
                by_source.insert(source.into(), vec![entry]);
            }
        }
    }
}

/// One release's entry, as the JSON has it; only what is read (other
/// fields — repositories, nodsa_reason — are skipped without being kept).
#[derive(Deserialize)]
struct Release<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(default, borrow)]
    fixed_version: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    urgency: Option<Cow<'a, str>>,
    #[serde(default)]
    nodsa: Option<IgnoredAny>,
}

/// Parses the tracker's JSON, streaming: entries go straight into the
/// index, nothing else (descriptions, the document's maps) is kept, so the
/// real dataset (~90 MB) costs little more than its index. Issues without
/// a CVE id (`TEMP-…`) are left out: nothing downstream can name them.
pub fn parse(bytes: &[u8]) -> Result<Tracker, String> {
    let mut tracker = Tracker::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Sources(&mut tracker)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| super::json_problem(&e))?;
    if tracker.issues == 0 {
        return Err("it lists no CVE (is it the tracker's JSON, `tracker/data/json`?)".into());
    }
    Ok(tracker)
}

/// `{ source: { issue: { releases: { release: {…} }, … } } }`, level by level.
struct Sources<'t>(&'t mut Tracker);
struct Issues<'t, 's>(&'t mut Tracker, &'s str);
struct Issue<'t, 's>(&'t mut Tracker, &'s str, Arc<str>);
struct Releases<'t, 's>(&'t mut Tracker, &'s str, Arc<str>);

/// A map's key, borrowed from the input where it has no escapes.
fn key<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Cow<'de, str>>, A::Error> {
    map.next_key::<Borrowed<'de>>().map(|k| k.map(|k| k.0))
}

struct Borrowed<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Borrowed<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wrap<'a>(#[serde(borrow)] Cow<'a, str>);
        Wrap::deserialize(d).map(|w| Borrowed(w.0))
    }
}

macro_rules! map_seed {
    ($ty:ident, $what:literal, |$self:ident, $map:ident| $body:block) => {
        impl<'de> DeserializeSeed<'de> for $ty<'_, '_> {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_map(self)
            }
        }
        impl<'de> Visitor<'de> for $ty<'_, '_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($what)
            }
            fn visit_map<A: MapAccess<'de>>($self, mut $map: A) -> Result<(), A::Error> $body
        }
    };
}

impl<'de> DeserializeSeed<'de> for Sources<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Sources<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of source packages")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(source) = key(&mut map)? {
            map.next_value_seed(Issues(self.0, &source))?;
        }
        Ok(())
    }
}

map_seed!(Issues, "a map of issues", |self, map| {
    while let Some(id) = key(&mut map)? {
        if id.starts_with("CVE-") {
            self.0.issues += 1;
            map.next_value_seed(Issue(self.0, self.1, Arc::from(id.as_ref())))?;
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(())
});

map_seed!(Issue, "an issue", |self, map| {
    let Issue(tracker, source, cve) = self;
    while let Some(field) = key(&mut map)? {
        if field == "releases" {
            map.next_value_seed(Releases(tracker, source, cve.clone()))?;
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(())
});

map_seed!(Releases, "a map of releases", |self, map| {
    let Releases(tracker, source, cve) = self;
    while let Some(release) = key(&mut map)? {
        let r: Release<'de> = map.next_value()?;
        let fixed_version = match r.status.as_ref() {
            "resolved" => r.fixed_version.map(|v| v.as_ref().into()),
            _ => None,
        };
        let urgency = tracker.urgency(r.urgency.as_deref().unwrap_or(""));
        tracker.push(
            &release,
            source,
            TrackerEntry {
                cve: cve.clone(),
                fixed_version,
                urgency,
                no_dsa: r.nodsa.is_some(),
            },
        );
    }
    Ok(())
});

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &[u8] = include_bytes!("../../testdata/vuln/debian-tracker.json");

    #[test]
    fn the_real_excerpt_parses_per_release_and_source() {
        let t = parse(REAL).unwrap();
        assert_eq!(t.issues, 22);
        let buster = &t.entries["buster"]["openssl"];
        let heartbleed_era = buster.iter().find(|e| &*e.cve == "CVE-2021-3449").unwrap();
        assert_eq!(
            heartbleed_era.fixed_version.as_deref(),
            Some("1.1.1d-0+deb10u6")
        );
        // Open issues have no fixed version, even if one were written.
        let open = &t.entries["bookworm"]["apparmor"];
        let e = open.iter().find(|e| &*e.cve == "CVE-2016-1585").unwrap();
        assert_eq!(e.fixed_version, None);
        assert_eq!(&*e.urgency, "unimportant");
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
