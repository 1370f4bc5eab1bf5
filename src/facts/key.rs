//! The key a package goes by in plans, run records, run state and status:
//! its name and architecture. Written `name:arch` (`name:` where the OS has
//! no architecture) — the text form is what run state and the status branch
//! store, so records written before this type existed still read back.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A package's name and architecture. Ordered as its text form, so maps
/// keyed by it list packages in the order they always did.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PackageKey {
    pub name: String,
    pub arch: String,
}

/// Package → version (a host's installed versions, a run's plan).
pub type PackageVersions = BTreeMap<PackageKey, String>;

impl PackageKey {
    pub fn new(name: impl Into<String>, arch: impl Into<String>) -> PackageKey {
        PackageKey {
            name: name.into(),
            arch: arch.into(),
        }
    }

    /// Reads `name:arch`. Package names never contain `:` (dpkg, rpm and
    /// Windows update ids alike), so the last `:` separates; text without
    /// one is a name with no architecture.
    pub fn parse(text: &str) -> PackageKey {
        match text.rsplit_once(':') {
            Some((name, arch)) => PackageKey::new(name, arch),
            None => PackageKey::new(text, ""),
        }
    }

    fn text_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        self.name
            .bytes()
            .chain(std::iter::once(b':'))
            .chain(self.arch.bytes())
    }
}

impl From<&str> for PackageKey {
    fn from(text: &str) -> PackageKey {
        PackageKey::parse(text)
    }
}

impl Ord for PackageKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text_bytes().cmp(other.text_bytes())
    }
}

impl PartialOrd for PackageKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for PackageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.arch)
    }
}

impl Serialize for PackageKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PackageKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(PackageKey::parse(&text))
    }
}

impl schemars::JsonSchema for PackageKey {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PackageKey".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A package as `name:arch` (`name:` where the OS has no architecture)."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_orders_as_text() {
        for text in ["openssl:amd64", "KB5034441:", "pw-app:all"] {
            let k = PackageKey::parse(text);
            assert_eq!(k.to_string(), text);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(serde_json::from_str::<PackageKey>(&json).unwrap(), k);
        }
        assert_eq!(PackageKey::parse("bare"), PackageKey::new("bare", ""));
        // `foo-bar:x` sorts before `foo:x` as text ('-' < ':'), not after
        // it as (name, arch) tuples would.
        let mut keys = [PackageKey::new("foo", "x"), PackageKey::new("foo-bar", "x")];
        keys.sort();
        assert_eq!(keys[0].name, "foo-bar");
        let mut map = PackageVersions::new();
        map.insert(PackageKey::new("libc6", "amd64"), "2.36-9".into());
        assert_eq!(
            serde_json::to_string(&map).unwrap(),
            r#"{"libc6:amd64":"2.36-9"}"#
        );
    }
}
