//! Fields written in a small language inside a YAML string — durations
//! (`30s`, `1h30m`, `PT4H`), instants (`2026-12-11T18:00:00Z`), dates,
//! package and repository globs, version constraints — parsed once, when
//! the YAML is read. A text that does not parse still loads:
//! `validate` reports it at its position together with every other error,
//! and the engine only ever runs validated policy, so nothing downstream
//! parses again or guesses.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use globset::{Glob, GlobMatcher};
use jiff::Timestamp;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::values;

/// A language of such fields.
pub trait Grammar {
    type Value: Clone + fmt::Debug;
    /// `Err` completes "`<text>` …" (see [`values`]).
    fn parse(text: &str) -> Result<Self::Value, String>;
}

/// `4h`, `1h30m`, `15d`, `2w`, ISO 8601; whole seconds, days of 24 hours.
pub enum DurationGrammar {}
impl Grammar for DurationGrammar {
    type Value = Duration;
    fn parse(text: &str) -> Result<Duration, String> {
        values::parse_span(text).map(|s| Duration::from_secs(values::span_seconds(s).max(0) as u64))
    }
}

/// An RFC 3339 instant with an explicit offset.
pub enum InstantGrammar {}
impl Grammar for InstantGrammar {
    type Value = Timestamp;
    fn parse(text: &str) -> Result<Timestamp, String> {
        values::parse_timestamp(text)
    }
}

/// A calendar date, `YYYY-MM-DD`.
pub enum DateGrammar {}
impl Grammar for DateGrammar {
    type Value = jiff::civil::Date;
    fn parse(text: &str) -> Result<jiff::civil::Date, String> {
        values::parse_date(text)
    }
}

/// A package name or glob (`linux-image-*`).
pub enum PackageGlobGrammar {}
impl Grammar for PackageGlobGrammar {
    type Value = GlobMatcher;
    fn parse(text: &str) -> Result<GlobMatcher, String> {
        values::check_package_glob(text)?;
        matcher(text)
    }
}

/// A repository origin or suite glob (`*-security`).
pub enum RepositoryGlobGrammar {}
impl Grammar for RepositoryGlobGrammar {
    type Value = GlobMatcher;
    fn parse(text: &str) -> Result<GlobMatcher, String> {
        values::check_repository_glob(text)?;
        matcher(text)
    }
}

fn matcher(text: &str) -> Result<GlobMatcher, String> {
    Glob::new(text)
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("`{text}` is not a valid glob: {}", e.kind()))
}

/// `*`, an exact version, or comparisons (`>= 3.0.15, < 3.1`).
pub enum ConstraintGrammar {}
impl Grammar for ConstraintGrammar {
    type Value = values::VersionConstraint;
    fn parse(text: &str) -> Result<values::VersionConstraint, String> {
        values::parse_version_constraint(text)
    }
}

pub type DurationText = Parsed<DurationGrammar>;
pub type InstantText = Parsed<InstantGrammar>;
pub type DateText = Parsed<DateGrammar>;
pub type PackageGlob = Parsed<PackageGlobGrammar>;
pub type RepositoryGlob = Parsed<RepositoryGlobGrammar>;
pub type ConstraintText = Parsed<ConstraintGrammar>;

/// The text as written and what it parsed to (or why it did not).
pub struct Parsed<G: Grammar> {
    text: String,
    parsed: Result<G::Value, String>,
    grammar: PhantomData<G>,
}

impl<G: Grammar> Parsed<G> {
    pub fn parse(text: &str) -> Self {
        Parsed {
            text: text.to_string(),
            parsed: G::parse(text),
            grammar: PhantomData,
        }
    }

    /// As written, for plans and messages.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The value, or the message `validate` reports.
    pub fn checked(&self) -> Result<&G::Value, &str> {
        self.parsed.as_ref().map_err(String::as_str)
    }

    /// The value of a validated field. An invalid one (reachable only by
    /// skipping `validate`) is `None`: the caller's default applies.
    pub fn value(&self) -> Option<&G::Value> {
        self.parsed.as_ref().ok()
    }
}

impl<G: Grammar<Value: Copy>> Parsed<G> {
    /// [`Parsed::value`], copied.
    pub fn get(&self) -> Option<G::Value> {
        self.value().copied()
    }
}

impl DurationText {
    /// As a signed duration, for timestamp arithmetic.
    pub fn signed(&self) -> Option<jiff::SignedDuration> {
        self.get()
            .and_then(|d| jiff::SignedDuration::try_from(d).ok())
    }
}

impl<G: Grammar> Clone for Parsed<G> {
    fn clone(&self) -> Self {
        Parsed {
            text: self.text.clone(),
            parsed: self.parsed.clone(),
            grammar: PhantomData,
        }
    }
}

/// Equal when written alike (the parse follows from the text).
impl<G: Grammar> PartialEq for Parsed<G> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl<G: Grammar> Eq for Parsed<G> {}

impl<G: Grammar> fmt::Debug for Parsed<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({:?})", self.text, self.parsed)
    }
}

impl<G: Grammar> fmt::Display for Parsed<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de, G: Grammar> Deserialize<'de> for Parsed<G> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(d)?;
        Ok(Parsed::parse(&text))
    }
}

impl<G: Grammar> Serialize for Parsed<G> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// Editors see a string, as they always did.
impl<G: Grammar> JsonSchema for Parsed<G> {
    fn schema_name() -> Cow<'static, str> {
        "string".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_once_and_kept_as_written() {
        let d = DurationText::parse("1h30m");
        assert_eq!(d.get(), Some(Duration::from_secs(5400)));
        assert_eq!(d.text(), "1h30m");
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1h30m\"");
        let bad: DurationText = serde_json::from_str("\"soon\"").unwrap();
        assert_eq!(bad.get(), None);
        assert!(bad.checked().unwrap_err().contains("is not a duration"));
        assert_eq!(
            DurationText::parse("2d").get(),
            Some(Duration::from_secs(172_800))
        );
        let at = InstantText::parse("2026-12-11T19:00:00+01:00");
        assert_eq!(at.get(), Some("2026-12-11T18:00:00Z".parse().unwrap()));
        assert!(InstantText::parse("friday").get().is_none());
        assert!(
            PackageGlob::parse("linux-image-*")
                .value()
                .unwrap()
                .is_match("linux-image-amd64")
        );
        assert!(PackageGlob::parse("lib[").value().is_none());
        assert!(ConstraintText::parse(">= 3.0, < 3.1").value().is_some());
        assert_eq!(
            DateText::parse("2026-12-31").get(),
            Some(jiff::civil::date(2026, 12, 31))
        );
    }
}
