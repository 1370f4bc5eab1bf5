//! Holds real output against the published output schemas
//! (`output-schema/*.json`), closed for the test: a property the schema does
//! not declare fails, so a field printed but never published is caught.

use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

/// Panics, naming every violation, unless `doc` is a valid `kind` document
/// (Plan, Facts, Validation, Event, Report).
pub fn assert_valid(kind: &str, doc: &Value) {
    let validator = validator(kind);
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{kind} output does not match output-schema/{kind}.json:\n{}\n--- document:\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(doc).unwrap()
    );
}

/// The schema file as committed, closed: every object schema that is not
/// one branch of a combination gets `unevaluatedProperties: false` (which,
/// unlike `additionalProperties`, sees properties its branches declare).
pub fn closed_schema(kind: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("output-schema")
        .join(format!("{kind}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut schema: Value = serde_json::from_str(&text).unwrap();
    close(&mut schema, false);
    schema
}

fn validator(kind: &str) -> &'static jsonschema::Validator {
    static CACHE: OnceLock<std::sync::Mutex<Vec<(String, &'static jsonschema::Validator)>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap();
    if let Some((_, v)) = cache.iter().find(|(k, _)| k == kind) {
        return v;
    }
    let v: &'static jsonschema::Validator = Box::leak(Box::new(
        jsonschema::validator_for(&closed_schema(kind)).unwrap(),
    ));
    cache.push((kind.to_string(), v));
    v
}

fn close(schema: &mut Value, is_branch: bool) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let combines = ["allOf", "anyOf", "oneOf"]
        .iter()
        .any(|k| obj.contains_key(*k));
    if !is_branch && (obj.contains_key("properties") || combines) {
        obj.entry("unevaluatedProperties")
            .or_insert(Value::Bool(false));
    }
    for (key, value) in obj.iter_mut() {
        match key.as_str() {
            "allOf" | "anyOf" | "oneOf" => {
                for branch in value.as_array_mut().into_iter().flatten() {
                    close(branch, true);
                }
            }
            "properties" | "$defs" | "patternProperties" => {
                for sub in value
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|m| m.values_mut())
                {
                    close(sub, false);
                }
            }
            "items" | "additionalProperties" | "not" | "if" | "then" | "else" => {
                close(value, false)
            }
            _ => {}
        }
    }
}
