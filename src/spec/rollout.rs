//! `RolloutPolicy`: how a group's hosts are patched in waves.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::common::{CountOrPercent, LabelSelector};
use super::spanned::Spanned;

/// What the rollout does once errors exceed `maxErrors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Start no new host; running hosts finish.
    #[default]
    Halt,
    /// Halt, then return failed hosts to their recorded before-versions.
    Rollback,
    /// Keep going; failures are only reported.
    Continue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutPolicySpec {
    /// The first wave is the canary. Sizes are cumulative (`[1, "50%", "100%"]`: one host,
    /// then up to half, then the rest); a selector wave takes the hosts whose labels match.
    pub waves: Vec<Spanned<WaveSpec>>,
    /// Default wait between waves, with health checks repeating, e.g. `15m`. Default 0.
    #[serde(default)]
    pub soak: Option<Spanned<crate::spec::parsed::DurationText>>,
    /// Hosts patched at the same time. Default 1.
    #[serde(default)]
    pub max_concurrency: Option<Spanned<CountOrPercent>>,
    /// Errors tolerated over the whole rollout; it halts when errors exceed this. Default 0.
    #[serde(default)]
    pub max_errors: Option<Spanned<CountOrPercent>>,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// With `onFailure: rollback`, also roll back the healthy hosts of the failing wave.
    #[serde(default)]
    pub rollback_whole_wave: bool,
    /// Label keys: hosts sharing a value of one of these labels (a quorum cluster) are never
    /// down together.
    #[serde(default)]
    pub one_at_a_time: Vec<Spanned<String>>,
}

/// One wave: a size (`1`, `"50%"`) or `{size|selector, soak}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaveSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<CountOrPercent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<Spanned<crate::spec::parsed::DurationText>>,
}

/// The mapping form of a wave, parsed strictly.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "WaveMapping")]
struct WaveMap {
    /// Cumulative hosts patched once this wave is done (`1`, `"50%"`).
    #[serde(default)]
    size: Option<CountOrPercent>,
    /// Instead of a size: the hosts whose labels match (e.g. the canaries).
    #[serde(default)]
    selector: Option<LabelSelector>,
    /// Overrides the policy's soak after this wave, e.g. `30m`.
    #[serde(default)]
    soak: Option<Spanned<crate::spec::parsed::DurationText>>,
}

impl JsonSchema for WaveSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Wave".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let size = generator.subschema_for::<CountOrPercent>();
        let map = generator.subschema_for::<WaveMap>();
        schemars::json_schema!({
            "description": "A wave: a cumulative host count (1), a cumulative percentage (\"50%\"), or {size|selector, soak}.",
            "oneOf": [size, map]
        })
    }
}

impl<'de> Deserialize<'de> for WaveSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WaveVisitor)
    }
}

struct WaveVisitor;

impl WaveVisitor {
    fn sized(size: CountOrPercent) -> WaveSpec {
        WaveSpec {
            size: Some(size),
            selector: None,
            soak: None,
        }
    }
}

impl<'de> Visitor<'de> for WaveVisitor {
    type Value = WaveSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a wave: a host count, a percentage like \"50%\", or {size|selector, soak}")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<WaveSpec, E> {
        CountOrPercent::deserialize(de::value::U64Deserializer::<E>::new(v)).map(Self::sized)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<WaveSpec, E> {
        CountOrPercent::deserialize(de::value::I64Deserializer::<E>::new(v)).map(Self::sized)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<WaveSpec, E> {
        CountOrPercent::deserialize(de::value::StrDeserializer::<E>::new(v)).map(Self::sized)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<WaveSpec, A::Error> {
        let m = WaveMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(WaveSpec {
            size: m.size,
            selector: m.selector,
            soak: m.soak,
        })
    }
}
