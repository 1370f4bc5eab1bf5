//! The second look at a document serde refused.
//!
//! serde stops at a document's first error, so three typos in one file took
//! three runs of `validate` to find. When a document does not deserialize,
//! the loader reads it again as plain YAML (every node with its position,
//! [`Node`]) and walks it against its kind's JSON Schema
//! ([`super::schema::kind_schema`], generated from the very types serde
//! fills), collecting every problem: unknown fields, missing fields, values
//! of the wrong type, enum values that do not exist. [`merge`] then joins
//! them with serde's own error without reporting anything twice.
//!
//! The walk follows the loader's YAML rules, not JSON's: any scalar is a
//! string, a quoted `"22"` is a number, `yes` is true (the scalar checks ask
//! serde-saphyr itself), and the two hand-written types whose schema is only
//! an approximation (`CountOrPercent`, `Wave`) are judged by their own
//! deserializers. So it reports nothing serde would accept. It runs only on
//! documents that already failed: a valid repository never pays for it.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use serde::de::{DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize as _};
use serde_json::Value;

use super::common::CountOrPercent;
use super::diagnostic::Diagnostic;
use super::kind::Kind;
use super::load::{hint_for, strip_location_suffix};
use super::rollout::WaveSpec;
use super::schema::kind_schema;
use super::spanned::{Pos, file_pos};

/// A YAML node as written, with the position where its value is defined: for
/// an alias or a merged entry, in the anchored node, so a typo there is one
/// problem however often it is used.
#[derive(Debug)]
pub(super) struct Node {
    pos: Pos,
    /// Byte range of the node's text in the document, when known: how a
    /// plain scalar was spelt (`yes`, `0x10`).
    raw: Option<Range<usize>>,
    value: Yaml,
}

#[derive(Debug)]
enum Yaml {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key, as text (a plain `y` or `1` is the key `y` or `1`).
#[derive(Debug)]
struct Key {
    pos: Pos,
    name: String,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<Yaml>::deserialize(d)?;
        let at = s.defined;
        let span = at.span();
        let raw = match (span.byte_offset(), span.byte_len()) {
            (Some(start), Some(len)) => usize::try_from(start)
                .ok()
                .zip(usize::try_from(len).ok())
                .map(|(s, l)| s..s.saturating_add(l)),
            _ => None,
        };
        Ok(Node {
            pos: file_pos(at.line(), at.column()),
            raw,
            value: s.value,
        })
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<String>::deserialize(d)?;
        Ok(Key {
            pos: file_pos(s.defined.line(), s.defined.column()),
            name: s.value,
        })
    }
}

impl<'de> Deserialize<'de> for Yaml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(YamlVisitor)
    }
}

struct YamlVisitor;

impl<'de> Visitor<'de> for YamlVisitor {
    type Value = Yaml;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }

    fn visit_none<E>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Yaml, D::Error> {
        Yaml::deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Yaml, D::Error> {
        Yaml::deserialize(d)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Yaml, E> {
        Ok(Yaml::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Yaml, E> {
        Ok(Yaml::Int(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Yaml, E> {
        Ok(Yaml::Int(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Yaml, E> {
        Ok(Yaml::Int(v))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Yaml, E> {
        Ok(i128::try_from(v).map_or(Yaml::Float(v as f64), Yaml::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Yaml, E> {
        Ok(Yaml::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Yaml, E> {
        Ok(Yaml::Str(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Yaml, E> {
        Ok(Yaml::Str(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Yaml, E> {
        Ok(Yaml::Str(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Yaml, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Yaml::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Yaml, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Yaml::Map(entries))
    }
}

/// What a problem is about, to recognise serde's error among them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum What {
    UnknownField(String),
    MissingField(String),
    /// A value: its type, its range, an enum value that does not exist.
    Value,
}

impl What {
    /// What serde's error message is about.
    fn of_message(message: &str) -> What {
        let quoted = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
                .map(str::to_string)
        };
        if let Some(f) = quoted("unknown field `") {
            What::UnknownField(f)
        } else if let Some(f) = quoted("missing field `") {
            What::MissingField(f)
        } else {
            What::Value
        }
    }
}

/// One problem the walk found.
#[derive(Debug, Clone)]
pub(super) struct Problem {
    pub pos: Pos,
    pub message: String,
    pub hint: String,
    what: What,
    /// Positions serde may give for the same problem: the one above; for a
    /// value, its key's (where serde puts errors of hand-written
    /// deserializers) and, for a list or mapping, its items' and keys'
    /// (where serde reads `{a: 1}` as the enum value `a`); for a missing
    /// field, the mapping's and each of its keys' (serde names the last key).
    anchors: Vec<Pos>,
    /// About a list or a mapping written where a value should be.
    container: bool,
}

impl Problem {
    fn new(pos: Pos, what: What, message: String, hint: String) -> Problem {
        Problem {
            pos,
            message,
            hint,
            what,
            anchors: vec![pos],
            container: false,
        }
    }

    /// serde's error is about this same problem.
    fn is_twin_of(&self, d: &Diagnostic) -> bool {
        self.what == What::of_message(&d.message) && self.anchors.contains(&Pos::new(d.line, d.col))
    }

    fn diagnostic(&self, file: &Path) -> Diagnostic {
        Diagnostic::error(file, self.pos, self.message.clone()).with_hint(self.hint.clone())
    }
}

/// Every problem of a document of `kind`, `text` being the document's text
/// (spans in `doc` are byte offsets into it).
pub(super) fn check(kind: Kind, doc: &Node, text: &str) -> Vec<Problem> {
    let root = schema_of(kind);
    let mut walker = Walker {
        root,
        text,
        problems: Vec::new(),
    };
    walker.walk(root, doc, &mut Vec::new());
    walker.problems
}

/// Whether one of `problems` is the problem serde's error `d` is about.
#[cfg(test)]
pub(super) fn explains(problems: &[Problem], d: &Diagnostic) -> bool {
    problems.iter().any(|p| p.is_twin_of(d))
}

/// serde's error `first` and the walk's `problems` as diagnostics, each
/// problem once. serde's wording is kept, except where it speaks the
/// parser's language ("expected sequence start") and the walk says the
/// same thing in the user's.
pub(super) fn merge(first: Diagnostic, problems: &[Problem], file: &Path) -> Vec<Diagnostic> {
    let mut out = Vec::with_capacity(problems.len() + 1);
    match problems.iter().find(|p| p.is_twin_of(&first)) {
        // The walk's words, where serde's name parser events, Rust types, or
        // read a mapping as an enum value (`unknown variant `a``).
        Some(twin)
            if is_parser_wording(&first.message)
                || (twin.container && first.message.starts_with("unknown variant")) =>
        {
            out.push(twin.diagnostic(file))
        }
        // serde's words at the walk's position: the value itself, where
        // serde may name its key.
        Some(twin) => out.push(Diagnostic {
            line: twin.pos.line,
            col: twin.pos.col,
            ..first.clone()
        }),
        None => out.push(first.clone()),
    }
    for p in problems {
        let d = p.diagnostic(file);
        // Twins of serde's error (an aliased node is walked once per use)
        // and repeats are left out.
        if !p.is_twin_of(&first) && !out.iter().any(|o| same_place_and_words(o, &d)) {
            out.push(d);
        }
    }
    out
}

fn same_place_and_words(a: &Diagnostic, b: &Diagnostic) -> bool {
    (a.line, a.col, &a.message) == (b.line, b.col, &b.message)
}

/// Messages serde-saphyr gives for a value of the wrong type, which name
/// parser events or Rust types rather than what to write.
fn is_parser_wording(message: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "expected string scalar",
        "expected sequence start",
        "expected mapping start",
        "externally tagged enum expected",
        "cannot deserialize null",
    ];
    const SCALARS: &[&str] = &[
        "boolean",
        "floating point",
        "u8",
        "u16",
        "u32",
        "u64",
        "u128",
        "i8",
        "i16",
        "i32",
        "i64",
        "i128",
    ];
    PREFIXES.iter().any(|p| message.starts_with(p))
        || message
            .strip_prefix("invalid ")
            .is_some_and(|ty| SCALARS.contains(&ty))
        || (message.starts_with("invalid type: ") && message.contains(", expected struct "))
}

/// The schema of each kind, generated once.
fn schema_of(kind: Kind) -> &'static Value {
    static SCHEMAS: OnceLock<Vec<(Kind, Value)>> = OnceLock::new();
    let all = SCHEMAS.get_or_init(|| Kind::ALL.iter().map(|k| (*k, kind_schema(*k))).collect());
    all.iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, s)| s)
        .unwrap_or(&Value::Bool(true))
}

/// Where a node is, from the document's root.
#[derive(Debug, Clone)]
enum Seg {
    /// A key and where it is written.
    Key(String, Pos),
    Index(usize),
}

/// How a path reads in a message: `hosts.port`, `item 2 of waves` (indices
/// of enclosing lists are left out: the position says which).
fn label(path: &[Seg]) -> String {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k, _) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    let keys = match keys.split_first() {
        Some((&"spec", rest)) if !rest.is_empty() => rest.join("."),
        _ => keys.join("."),
    };
    match path.last() {
        Some(Seg::Index(i)) if keys.is_empty() => format!("item {}", i + 1),
        Some(Seg::Index(i)) => format!("item {} of {keys}", i + 1),
        _ if keys.is_empty() => "the document".to_string(),
        _ => keys,
    }
}

/// Checks a scalar with a type's own deserializer; `Err` is its message.
type Oracle = fn(&str) -> Result<(), String>;

/// Types whose deserializer accepts more (or less) than their schema says.
fn oracle(def: &str) -> Option<Oracle> {
    match def {
        "CountOrPercent" => Some(accepts::<CountOrPercent>),
        "Wave" => Some(accepts::<WaveSpec>),
        _ => None,
    }
}

/// Deserializes one YAML scalar as `T`, as the loader would.
fn accepts<T: DeserializeOwned>(yaml: &str) -> Result<(), String> {
    let mut opts = serde_saphyr::Options::default();
    opts.with_snippet = false;
    serde_saphyr::from_str_with_options::<T>(yaml, opts)
        .map(|_| ())
        .map_err(|e| strip_location_suffix(&e.to_string()))
}

struct Walker<'a> {
    root: &'a Value,
    text: &'a str,
    problems: Vec<Problem>,
}

impl<'a> Walker<'a> {
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let name = reference.strip_prefix("#/$defs/")?;
        self.root.get("$defs")?.get(name)
    }

    fn walk(&mut self, schema: &'a Value, node: &Node, path: &mut Vec<Seg>) {
        let Some(obj) = schema.as_object() else {
            return;
        };
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            let def = reference.strip_prefix("#/$defs/").unwrap_or_default();
            if let Some(check) = oracle(def)
                && node.is_scalar()
            {
                if let Err(message) = check(&self.scalar_yaml(node)) {
                    let hint = hint_for(&message);
                    self.value_problem(node, path, message, hint);
                }
                return;
            }
            if let Some(target) = self.resolve(reference) {
                self.walk(target, node, path);
            }
            return;
        }
        if let Some(branches) = obj
            .get("anyOf")
            .or_else(|| obj.get("oneOf"))
            .and_then(Value::as_array)
        {
            self.branches(branches, node, path);
            return;
        }
        let allowed: Vec<&Value> = match (obj.get("const"), obj.get("enum")) {
            (Some(c), _) => vec![c],
            (None, Some(Value::Array(values))) => values.iter().collect(),
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !matches!(node.value, Yaml::Null) {
            self.one_of_values(&allowed, node, path);
            return;
        }
        if let Some(types) = obj.get("type") {
            let types: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !types.is_empty() && !self.has_type(obj, &types, node, path) {
                return;
            }
        }
        match &node.value {
            Yaml::Map(entries) => self.mapping(obj, node, entries, path),
            Yaml::Seq(items) => {
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        path.push(Seg::Index(i));
                        self.walk(item_schema, item, path);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }

    /// `anyOf`/`oneOf`: fine when one branch takes the node. Otherwise the
    /// problems of the one branch of the node's shape (a mapping where a
    /// mapping or null is allowed), or one problem naming what is allowed.
    fn branches(&mut self, branches: &'a [Value], node: &Node, path: &mut Vec<Seg>) {
        let mut fitting = Vec::new();
        for branch in branches {
            let mut sub = Walker {
                root: self.root,
                text: self.text,
                problems: Vec::new(),
            };
            sub.walk(branch, node, path);
            if sub.problems.is_empty() {
                return;
            }
            if self.shapes(branch).iter().any(|s| node.fits(s)) {
                fitting.push(sub.problems);
            }
        }
        if fitting.len() == 1 {
            self.problems.extend(fitting.remove(0));
            return;
        }
        let values: Option<Vec<&Value>> = branches.iter().map(|b| self.constant(b)).collect();
        match values {
            Some(values) if node.is_scalar() && !matches!(node.value, Yaml::Null) => {
                self.one_of_values(&values, node, path)
            }
            _ => {
                let mut shapes: Vec<&str> = branches.iter().flat_map(|b| self.shapes(b)).collect();
                shapes.dedup();
                self.wrong_type(&shapes, node, path);
            }
        }
    }

    /// The value of a `const` branch (after `$ref`), as enums are written.
    fn constant(&self, schema: &'a Value) -> Option<&'a Value> {
        let schema = match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve(r)?,
            None => schema,
        };
        schema.get("const")
    }

    /// The JSON types a schema admits (`any` when it does not say).
    fn shapes(&self, schema: &'a Value) -> Vec<&'a str> {
        if let Some(target) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| self.resolve(r))
        {
            return self.shapes(target);
        }
        if let Some(branches) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
        {
            return branches.iter().flat_map(|b| self.shapes(b)).collect();
        }
        match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ if schema.get("const").is_some() || schema.get("enum").is_some() => vec!["string"],
            _ => vec!["any"],
        }
    }

    /// An enum: the node's text must be one of `allowed`.
    fn one_of_values(&mut self, allowed: &[&Value], node: &Node, path: &[Seg]) {
        let names: Vec<String> = allowed
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        let Some(text) = self.scalar_text(node) else {
            self.wrong_type(&["string"], node, path);
            return;
        };
        if names.contains(&text) {
            return;
        }
        let message = format!(
            "unknown variant `{text}`, expected one of {}",
            names.join(", ")
        );
        let hint = hint_for(&message);
        self.value_problem(node, path, message, hint);
    }

    /// Whether the node is of one of `types`; a problem when it is not.
    fn has_type(
        &mut self,
        schema: &serde_json::Map<String, Value>,
        types: &[&str],
        node: &Node,
        path: &[Seg],
    ) -> bool {
        let fits = match &node.value {
            Yaml::Null => types.contains(&"null"),
            Yaml::Map(_) => types.contains(&"object"),
            Yaml::Seq(_) => types.contains(&"array"),
            _ => {
                if types.contains(&"string") {
                    true
                } else if types.contains(&"integer") {
                    return self.integer(schema, node, path);
                } else if types.contains(&"number") {
                    accepts::<f64>(&self.scalar_yaml(node)).is_ok()
                } else if types.contains(&"boolean") {
                    accepts::<bool>(&self.scalar_yaml(node)).is_ok()
                } else {
                    false
                }
            }
        };
        if !fits {
            self.wrong_type(types, node, path);
        }
        fits
    }

    /// A whole number in the range of its format (`uint32`) and bounds.
    fn integer(
        &mut self,
        schema: &serde_json::Map<String, Value>,
        node: &Node,
        path: &[Seg],
    ) -> bool {
        let value = match &node.value {
            Yaml::Int(i) => Some(*i),
            Yaml::Str(_) => {
                let mut opts = serde_saphyr::Options::default();
                opts.with_snippet = false;
                serde_saphyr::from_str_with_options::<i128>(&self.scalar_yaml(node), opts).ok()
            }
            _ => None,
        };
        let Some(value) = value else {
            self.wrong_type(&["integer"], node, path);
            return false;
        };
        let (mut lo, mut hi) = match schema.get("format").and_then(Value::as_str) {
            Some("uint8") => (0, u8::MAX.into()),
            Some("uint16") => (0, u16::MAX.into()),
            Some("uint32") => (0, u32::MAX.into()),
            Some("uint64" | "uint") => (0, u64::MAX.into()),
            Some("int8") => (i8::MIN.into(), i8::MAX.into()),
            Some("int16") => (i16::MIN.into(), i16::MAX.into()),
            Some("int32") => (i32::MIN.into(), i32::MAX.into()),
            Some("int64" | "int") => (i64::MIN.into(), i64::MAX.into()),
            _ => (i128::MIN, i128::MAX),
        };
        if let Some(min) = schema.get("minimum").and_then(Value::as_i64) {
            lo = lo.max(min.into());
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_i64) {
            hi = hi.min(max.into());
        }
        if (lo..=hi).contains(&value) {
            return true;
        }
        let message = format!("{} `{value}` is out of range", label(path));
        let hint = format!("write a whole number from {lo} to {hi}");
        self.value_problem(node, path, message, hint);
        false
    }

    fn wrong_type(&mut self, types: &[&str], node: &Node, path: &[Seg]) {
        let wanted: Vec<&str> = types
            .iter()
            .filter(|t| **t != "null" && **t != "any")
            .map(|t| match *t {
                "object" => "a mapping",
                "array" => "a list",
                "integer" => "a whole number",
                "number" => "a number",
                "boolean" => "true or false",
                _ => "a string",
            })
            .fold(Vec::new(), |mut acc, w| {
                if !acc.contains(&w) {
                    acc.push(w);
                }
                acc
            });
        let wanted = match wanted.as_slice() {
            [] => "something else".to_string(),
            [one] => one.to_string(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
        };
        let what = label(path);
        let message = match &node.value {
            Yaml::Null => format!("{what} is empty; it must be {wanted}"),
            _ => format!("{what} must be {wanted}, not {}", self.describe(node)),
        };
        let hint = if types.contains(&"array") {
            "write a list: one `- item` per line below it, or `[a, b]`"
        } else if types.contains(&"object") {
            "write `key: value` lines indented below it, or `{key: value}`"
        } else if matches!(node.value, Yaml::Null) {
            "write a value after the colon"
        } else if !node.is_scalar() {
            "write a single value here, not a list or a mapping; quote it if it starts with `[`, `{`, `*`, `&` or `!`"
        } else if types.contains(&"integer") {
            "write a whole number in range, without quotes or leading zeros"
        } else if types.contains(&"boolean") {
            "write `true` or `false`"
        } else {
            "check the value against `patchwave schema`"
        };
        self.value_problem(node, path, message, hint.to_string());
    }

    /// A problem with the value `node` at `path`.
    fn value_problem(&mut self, node: &Node, path: &[Seg], message: String, hint: String) {
        let mut p = Problem::new(node.pos, What::Value, message, hint);
        if let Some(Seg::Key(_, at)) = path.last() {
            p.anchors.push(*at);
        }
        match &node.value {
            Yaml::Map(entries) => p.anchors.extend(entries.iter().map(|(k, _)| k.pos)),
            Yaml::Seq(items) => p.anchors.extend(items.iter().map(|i| i.pos)),
            _ => {}
        }
        p.container = !node.is_scalar();
        self.problems.push(p);
    }

    /// A mapping: known keys are walked, unknown ones and missing required
    /// ones are problems.
    fn mapping(
        &mut self,
        schema: &'a serde_json::Map<String, Value>,
        node: &Node,
        entries: &[(Key, Node)],
        path: &mut Vec<Seg>,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let extra = schema.get("additionalProperties");
        for (key, value) in entries {
            if let Some(prop) = properties.and_then(|p| p.get(&key.name)) {
                path.push(Seg::Key(key.name.clone(), key.pos));
                self.walk(prop, value, path);
                path.pop();
                continue;
            }
            match extra {
                Some(Value::Bool(false)) => {
                    let fields: Vec<&str> = properties
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    let message = format!(
                        "unknown field `{}`, expected one of {}",
                        key.name,
                        fields.join(", ")
                    );
                    let hint = hint_for(&message);
                    self.problems.push(Problem::new(
                        key.pos,
                        What::UnknownField(key.name.clone()),
                        message,
                        hint,
                    ));
                }
                Some(extra @ Value::Object(_)) => {
                    path.push(Seg::Key(key.name.clone(), key.pos));
                    self.walk(extra, value, path);
                    path.pop();
                }
                _ => {}
            }
        }
        let required = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect::<Vec<_>>())
            .unwrap_or_default();
        // serde names the mapping's last key (or the mapping, when empty).
        let at = entries.last().map_or(node.pos, |(k, _)| k.pos);
        let mut anchors = vec![node.pos];
        anchors.extend(entries.iter().map(|(k, _)| k.pos));
        for field in required {
            if entries.iter().any(|(k, _)| k.name == field) {
                continue;
            }
            let message = format!("missing field `{field}`");
            let hint = hint_for(&message);
            let mut p = Problem::new(at, What::MissingField(field.to_string()), message, hint);
            p.anchors = anchors.clone();
            self.problems.push(p);
        }
    }

    /// A plain scalar as it was written, when its span says so.
    fn raw(&self, node: &Node) -> Option<&'a str> {
        let raw = self.text.get(node.raw.clone()?)?.trim();
        let plain = !raw.is_empty()
            && !raw.contains('\n')
            && !raw.starts_with(['*', '&', '!', '"', '\'', '|', '>']);
        plain.then_some(raw)
    }

    /// The node's text as an enum value, or `None` for a list or mapping.
    fn scalar_text(&self, node: &Node) -> Option<String> {
        Some(match &node.value {
            Yaml::Str(s) => s.clone(),
            Yaml::Seq(_) | Yaml::Map(_) => return None,
            Yaml::Null => self.raw(node).unwrap_or("null").to_string(),
            Yaml::Bool(b) => self.raw(node).map_or_else(|| b.to_string(), str::to_string),
            Yaml::Int(i) => self.raw(node).map_or_else(|| i.to_string(), str::to_string),
            Yaml::Float(f) => self.raw(node).map_or_else(|| f.to_string(), str::to_string),
        })
    }

    /// The node as a one-scalar YAML document: a string quoted (as it was a
    /// string), anything else as it was written.
    fn scalar_yaml(&self, node: &Node) -> String {
        match &node.value {
            Yaml::Str(s) => {
                let mut out = Vec::new();
                let mut ser = serde_json::Serializer::new(&mut out);
                match s.serialize(&mut ser) {
                    Ok(()) => String::from_utf8(out).unwrap_or_default(),
                    Err(_) => String::new(),
                }
            }
            _ => self.scalar_text(node).unwrap_or_default(),
        }
    }

    /// "the text `web-1`", "a list", … for messages.
    fn describe(&self, node: &Node) -> String {
        let text = |s: String| {
            let short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                format!("{short}…")
            } else {
                short
            }
        };
        match &node.value {
            Yaml::Null => "nothing".to_string(),
            Yaml::Seq(_) => "a list".to_string(),
            Yaml::Map(_) => "a mapping".to_string(),
            Yaml::Str(s) => format!("the text `{}`", text(s.clone())),
            Yaml::Bool(_) => format!("`{}`", text(self.scalar_text(node).unwrap_or_default())),
            Yaml::Int(_) | Yaml::Float(_) => format!(
                "the number `{}`",
                text(self.scalar_text(node).unwrap_or_default())
            ),
        }
    }
}

impl Node {
    pub(super) fn pos(&self) -> Pos {
        self.pos
    }

    pub(super) fn is_mapping(&self) -> bool {
        matches!(self.value, Yaml::Map(_))
    }

    /// The value of `key`, in a mapping.
    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Yaml::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The items of a list (none for anything else).
    pub(super) fn items(&self) -> &[Node] {
        match &self.value {
            Yaml::Seq(items) => items,
            _ => &[],
        }
    }

    /// The text of a string scalar.
    pub(super) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }

    fn is_scalar(&self) -> bool {
        !matches!(self.value, Yaml::Seq(_) | Yaml::Map(_))
    }

    /// Whether a node of this shape could be of JSON type `shape`.
    fn fits(&self, shape: &str) -> bool {
        match (&self.value, shape) {
            (_, "any") => true,
            (Yaml::Null, t) => t == "null",
            (Yaml::Map(_), t) => t == "object",
            (Yaml::Seq(_), t) => t == "array",
            (_, t) => matches!(t, "string" | "integer" | "number" | "boolean"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::spanned::with_line_offset;

    fn node(text: &str) -> Node {
        let mut opts = serde_saphyr::Options::default();
        opts.with_snippet = false;
        with_line_offset(0, || serde_saphyr::from_str_with_options(text, opts)).unwrap()
    }

    fn problems(kind: Kind, text: &str) -> Vec<(u32, u32, String)> {
        check(kind, &node(text), text)
            .into_iter()
            .map(|p| (p.pos.line, p.pos.col, p.message))
            .collect()
    }

    const GROUP_HEAD: &str = "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {name: g}\n";

    #[test]
    fn every_problem_of_a_document_at_its_position() {
        let text = format!(
            "{GROUP_HEAD}spec:\n  baseline: b\n  rollout: r\n  critcality: high\n  hosts: web-1\n  transport: sssh\n"
        );
        let got = problems(Kind::HostGroup, &text);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!((got[0].0, got[0].1), (7, 3));
        assert!(
            got[0]
                .2
                .starts_with("unknown field `critcality`, expected one of "),
            "{got:?}"
        );
        assert_eq!(
            got[1],
            (
                8,
                10,
                "hosts must be a list, not the text `web-1`".to_string()
            )
        );
        assert_eq!(
            got[2],
            (
                9,
                14,
                "unknown variant `sssh`, expected one of ssh, winrm, local".to_string()
            )
        );
    }

    #[test]
    fn a_valid_document_has_no_problems() {
        let text = format!(
            "{GROUP_HEAD}spec:\n  baseline: b\n  rollout: r\n  criticality: high\n  transport: \"ssh\"\n  suspend: yes\n  connection: {{port: \"22\", winrm: {{credentialRef: {{username: u, env: E}}}}}}\n  hosts:\n    - {{name: 1, port: 0x16, labels: {{canary: true, 1: 2}}}}\n  healthChecks:\n    - name: x\n      retries: 3\n      command: [a, 1]\n"
        );
        assert_eq!(problems(Kind::HostGroup, &text), vec![]);
        let rollout = "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: r}\nspec:\n  waves: [1, \"50%\", {selector: {matchLabels: {a: b}}, soak: 1h}, {size: 100%}]\n  maxErrors: \"10%\"\n  maxConcurrency: 2\n  onFailure: rollback\n";
        assert_eq!(problems(Kind::RolloutPolicy, rollout), vec![]);
    }

    #[test]
    fn missing_fields_are_named_where_serde_names_them() {
        let text = format!("{GROUP_HEAD}spec:\n  windows: [w]\n  hosts: []\n");
        assert_eq!(
            problems(Kind::HostGroup, &text),
            vec![
                (6, 3, "missing field `baseline`".to_string()),
                (6, 3, "missing field `rollout`".to_string()),
            ]
        );
    }

    #[test]
    fn numbers_and_waves_follow_their_own_rules() {
        let text = "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: r}\nspec:\n  waves: [1, abc, {size: 1, sise: 2}, 1.5]\n  maxErrors: lots\n  oneAtATime: {a: b}\n";
        let got = problems(Kind::RolloutPolicy, text);
        let messages: Vec<&str> = got.iter().map(|g| g.2.as_str()).collect();
        assert_eq!(got.len(), 5, "{got:?}");
        assert!(messages[0].contains("`abc` is neither a host count nor a percentage"));
        assert!(messages[1].starts_with("unknown field `sise`"));
        assert!(messages[2].starts_with("invalid type: floating point `1.5`"));
        assert!(messages[3].contains("`lots` is neither"));
        assert_eq!(messages[4], "oneAtATime must be a list, not a mapping");
        let port = format!(
            "{GROUP_HEAD}spec:\n  baseline: b\n  rollout: r\n  connection: {{port: -1}}\n  hosts: [{{name: h, port: x}}]\n"
        );
        assert_eq!(
            problems(Kind::HostGroup, &port),
            vec![
                (7, 22, "connection.port `-1` is out of range".to_string()),
                (
                    8,
                    27,
                    "hosts.port must be a whole number, not the text `x`".to_string()
                ),
            ]
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys_are_walked_without_trouble() {
        let text = format!(
            "{GROUP_HEAD}spec:\n  baseline: b\n  rollout: r\n  hosts:\n    - &h {{name: a, prot: 1}}\n    - *h\n    - <<: *h\n      name: c\n"
        );
        let found = check(Kind::HostGroup, &node(&text), &text);
        assert!(
            found
                .iter()
                .all(|p| p.message.starts_with("unknown field `prot`")),
            "{found:?}"
        );
        // The typo is where the anchor is, however often it is used.
        let file = Path::new("g.yaml");
        let serde = Diagnostic::error(
            file,
            Pos::new(8, 20),
            "unknown field `prot`, expected one of a",
        );
        let merged = merge(serde, &found, file);
        assert_eq!(merged.len(), 1, "{merged:?}");
    }

    #[test]
    fn serde_twin_is_reported_once_in_the_better_words() {
        let file = Path::new("g.yaml");
        let text = format!("{GROUP_HEAD}spec:\n  baseline: b\n  rollout: r\n  hosts: web-1\n");
        let found = check(Kind::HostGroup, &node(&text), &text);
        let serde = Diagnostic::error(file, Pos::new(7, 10), "expected sequence start");
        let merged = merge(serde, &found, file);
        assert_eq!(merged.len(), 1, "{merged:?}");
        assert_eq!(
            merged[0].message,
            "hosts must be a list, not the text `web-1`"
        );
        let text = format!("{GROUP_HEAD}spec:\n  baseline: b\n  rollout: r\n  baselin: b\n");
        let found = check(Kind::HostGroup, &node(&text), &text);
        let serde = Diagnostic::error(
            file,
            Pos::new(7, 3),
            "unknown field `baselin`, expected one of hosts, baseline",
        );
        let merged = merge(serde.clone(), &found, file);
        assert_eq!(merged, vec![serde]);
    }
}
