//! Small value types shared by several resource kinds.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::spanned::Spanned;

/// A host count (`3`) or a percentage of the group's hosts (`"25%"`), as AWS rate controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountOrPercent {
    Count(u32),
    Percent(u32),
}

impl CountOrPercent {
    /// Resolves against a number of hosts; percentages round down, as AWS and PRODUCT.md say.
    pub fn of(self, hosts: usize) -> usize {
        match self {
            CountOrPercent::Count(n) => n as usize,
            CountOrPercent::Percent(p) => hosts * p as usize / 100,
        }
    }
}

impl fmt::Display for CountOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CountOrPercent::Count(n) => write!(f, "{n}"),
            CountOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for CountOrPercent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            CountOrPercent::Count(n) => serializer.serialize_u32(*n),
            CountOrPercent::Percent(_) => serializer.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for CountOrPercent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CountOrPercentVisitor)
    }
}

struct CountOrPercentVisitor;

impl Visitor<'_> for CountOrPercentVisitor {
    type Value = CountOrPercent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a host count like 2 or a percentage like \"25%\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        u32::try_from(v)
            .map(CountOrPercent::Count)
            .map_err(|_| E::custom(format!("count {v} is too large")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        if v < 0 {
            return Err(E::custom(format!(
                "count {v} is negative; use 0 or a positive number"
            )));
        }
        self.visit_u64(v as u64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let t = v.trim();
        if let Some(num) = t.strip_suffix('%') {
            return num.trim().parse::<u32>().map(CountOrPercent::Percent).map_err(|_| {
                E::custom(format!(
                    "`{v}` is not a percentage; write a whole number followed by %, like \"25%\""
                ))
            });
        }
        t.parse::<u32>().map(CountOrPercent::Count).map_err(|_| {
            E::custom(format!(
                "`{v}` is neither a host count nor a percentage; write 2 or \"25%\""
            ))
        })
    }
}

impl JsonSchema for CountOrPercent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CountOrPercent".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A host count (integer) or a percentage of the group's hosts (\"25%\"); percentages round down.",
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]+%$"}
            ]
        })
    }
}

/// How much harm an outage of a host does; orders rollouts (least critical first)
/// and, with patch severity, sets priority.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Criticality {
    Low,
    Medium,
    High,
    Critical,
}

/// Selects resources or hosts by their labels; every entry must match.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
}

impl LabelSelector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k).is_some_and(|have| have == v))
    }
}

/// A command run on a host: an argument vector, never a shell string. Each
/// argument is a minijinja template rendered separately, so data from hosts or
/// YAML can never change how the command is split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommandSpec {
    /// Program and arguments, e.g. `[systemctl, is-active, nginx]`.
    pub command: Spanned<Vec<Spanned<String>>>,
    /// How long it may run, e.g. `30s`, `5m`. Default 5m.
    #[serde(default)]
    pub timeout: Option<Spanned<crate::spec::parsed::DurationText>>,
}
