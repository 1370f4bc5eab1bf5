//! JSON Schema for every resource kind, generated from the Rust types so
//! editors and the loader can never disagree. Committed under `policy-schema/`.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::baseline::{PatchApprovalsSpec, PatchBaselineSpec};
use super::emergency::EmergencyChangeSpec;
use super::fleet::FleetSpec;
use super::host_group::HostGroupSpec;
use super::kind::Kind;
use super::resource::{API_VERSION, Document};
use super::rollout::RolloutPolicySpec;
use super::window::MaintenanceWindowSpec;

/// Where the committed schemas are published, for `$id`.
pub const SCHEMA_BASE: &str = "https://patchwave.dev/schema/v1/";
/// The combined schema (any kind), for files that mix kinds.
pub const ALL_FILE: &str = "all.json";

/// The schema of one kind's documents.
pub fn kind_schema(kind: Kind) -> Value {
    match kind {
        Kind::Fleet => document::<FleetSpec>(kind),
        Kind::HostGroup => document::<HostGroupSpec>(kind),
        Kind::PatchBaseline => document::<PatchBaselineSpec>(kind),
        Kind::PatchApprovals => document::<PatchApprovalsSpec>(kind),
        Kind::MaintenanceWindow => document::<MaintenanceWindowSpec>(kind),
        Kind::RolloutPolicy => document::<RolloutPolicySpec>(kind),
        Kind::EmergencyChange => document::<EmergencyChangeSpec>(kind),
    }
}

fn document<S: JsonSchema>(kind: Kind) -> Value {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Document<S>>();
    let mut v = schema.to_value();
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "$id".into(),
            json!(format!("{SCHEMA_BASE}{}", kind.schema_file())),
        );
        obj.insert("title".into(), json!(kind.as_str()));
        obj.insert(
            "description".into(),
            json!(format!("A patchwave {kind} resource ({API_VERSION}).")),
        );
        if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("apiVersion".into(), json!({"const": API_VERSION}));
            props.insert("kind".into(), json!({"const": kind.as_str()}));
        }
    }
    v
}

/// One schema accepting a document of any kind (chosen by `kind`).
pub fn combined_schema() -> Value {
    let mut defs = Map::new();
    let mut one_of = Vec::new();
    for kind in Kind::ALL {
        let mut s = kind_schema(kind);
        if let Some(obj) = s.as_object_mut() {
            if let Some(Value::Object(inner)) = obj.remove("$defs") {
                defs.extend(inner);
            }
            obj.remove("$schema");
            obj.remove("$id");
        }
        one_of.push(json!({"$ref": format!("#/$defs/{}", kind.as_str())}));
        defs.insert(kind.as_str().into(), s);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{SCHEMA_BASE}{ALL_FILE}"),
        "title": "patchwave resource",
        "description": format!("Any patchwave resource ({API_VERSION}); `kind` selects which."),
        "oneOf": one_of,
        "$defs": defs,
    })
}

/// Every file of `policy-schema/`: (file name, pretty JSON with a final newline).
pub fn schema_files() -> Vec<(String, String)> {
    let render = |v: &Value| format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default());
    let mut files: Vec<(String, String)> = Kind::ALL
        .iter()
        .map(|k| (k.schema_file(), render(&kind_schema(*k))))
        .collect();
    files.push((ALL_FILE.to_string(), render(&combined_schema())));
    files
}
