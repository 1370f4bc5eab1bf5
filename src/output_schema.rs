//! JSON Schemas of what patchwave prints for machines: the plan, the facts
//! (`scan`), `validate`'s findings, the events of `apply` and the daemon,
//! the compliance report and the CVE view. Generated from the types that serialise that
//! output, so they cannot drift from it; committed under `output-schema/`
//! and held against real output by tests/output_schema.rs.
//!
//! Schemas describe the serialised form (schemars' serialize contract) and
//! leave objects open, so that adding a field within a document version
//! breaks no consumer.

use schemars::JsonSchema;
use schemars::generate::{Contract, SchemaSettings};
use serde_json::{Value, json};

use crate::facts::FleetFacts;
use crate::plan::Plan;
use crate::plan::exposure::CveView;
use crate::reconcile::event::Event;
use crate::spec::schema::SCHEMA_BASE;
use crate::spec::validation::ValidationReport;
use crate::status::report::Report;

/// A machine-readable output of patchwave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// `plan --format json`.
    Plan,
    /// `scan --format json`, which `plan --facts` reads back.
    Facts,
    /// `validate --format json`.
    Validation,
    /// One line of `apply --format json` (and of the daemon's event log).
    Event,
    /// `report --format json`.
    Report,
    /// `cves --format json`.
    Cves,
}

impl OutputKind {
    pub const ALL: [OutputKind; 6] = [
        OutputKind::Plan,
        OutputKind::Facts,
        OutputKind::Validation,
        OutputKind::Event,
        OutputKind::Report,
        OutputKind::Cves,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Plan => "Plan",
            OutputKind::Facts => "Facts",
            OutputKind::Validation => "Validation",
            OutputKind::Event => "Event",
            OutputKind::Report => "Report",
            OutputKind::Cves => "Cves",
        }
    }

    /// The kind a user names, in any case; the command's name works too
    /// (`scan` for Facts, `validate` for Validation, `events`).
    pub fn parse(name: &str) -> Option<OutputKind> {
        let lower = name.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "scan" => "facts",
            "validate" => "validation",
            "events" => "event",
            other => other,
        };
        OutputKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(alias))
    }

    /// The committed file's name under `output-schema/`.
    pub fn file_name(self) -> String {
        format!("{}.json", self.as_str())
    }

    fn what(self) -> &'static str {
        match self {
            OutputKind::Plan => "The plan, as `patchwave plan --format json` prints it.",
            OutputKind::Facts => {
                "The facts of a scan, as `patchwave scan --format json` prints them and `plan --facts` reads them."
            }
            OutputKind::Validation => "What `patchwave validate --format json` found.",
            OutputKind::Event => {
                "One line of `patchwave apply --format json` (JSON lines): an event with the fields every event carries (ts, level, run, group, host, state)."
            }
            OutputKind::Report => {
                "The compliance report, as `patchwave report --format json` prints it."
            }
            OutputKind::Cves => {
                "The CVE view of a plan, as `patchwave cves --format json` prints it."
            }
        }
    }
}

/// The JSON Schema of one output.
pub fn output_schema(kind: OutputKind) -> Value {
    let mut v = match kind {
        OutputKind::Plan => root::<Plan>(),
        OutputKind::Facts => root::<FleetFacts>(),
        OutputKind::Validation => root::<ValidationReport<'static>>(),
        OutputKind::Event => event_line(root::<Event>()),
        OutputKind::Report => root::<Report>(),
        OutputKind::Cves => root::<CveView>(),
    };
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "$id".into(),
            json!(format!("{SCHEMA_BASE}output/{}", kind.file_name())),
        );
        obj.insert("title".into(), json!(kind.as_str()));
        obj.insert("description".into(), json!(kind.what()));
    }
    v
}

/// Every output schema with its file name, as `output-schema/` holds them.
pub fn output_schema_files() -> Vec<(String, String)> {
    OutputKind::ALL
        .into_iter()
        .map(|k| {
            let text = serde_json::to_string_pretty(&output_schema(k)).unwrap_or_default();
            (k.file_name(), format!("{text}\n"))
        })
        .collect()
}

fn root<T: JsonSchema>() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.contract = Contract::Serialize;
    settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// An event line is the event plus the fields `apply` adds to every line:
/// the event's own schema, and those beside it.
fn event_line(event: Value) -> Value {
    let mut event = event;
    let (schema, defs) = match event.as_object_mut() {
        Some(obj) => (obj.remove("$schema"), obj.remove("$defs")),
        None => (None, None),
    };
    let text_or_null = json!({"type": ["string", "null"]});
    json!({
        "$schema": schema.unwrap_or_else(|| json!("https://json-schema.org/draft/2020-12/schema")),
        "allOf": [
            event,
            {
                "type": "object",
                "properties": {
                    "ts": {"type": "string", "format": "date-time", "description": "When the event was printed."},
                    "level": {"enum": ["info", "warn", "error"]},
                    "run": text_or_null,
                    "group": text_or_null,
                    "host": text_or_null,
                    "state": text_or_null,
                },
                "required": ["ts", "level", "run", "group", "host", "state"],
            }
        ],
        "$defs": defs.unwrap_or_else(|| json!({})),
    })
}
