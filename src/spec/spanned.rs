//! A value with the line and column it was read from.
//!
//! Wraps `serde_saphyr::Spanned` so the rest of patchwave does not depend on the
//! YAML library, and so the JSON Schema of a spanned field is the schema of its
//! value (editors must not see the span).

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 1-based line and column in a YAML file; `0:0` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub const fn new(line: u32, col: u32) -> Self {
        Pos { line, col }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A deserialized value together with where it was written.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub pos: Pos,
}

impl<T> Spanned<T> {
    pub fn new(value: T, pos: Pos) -> Self {
        Spanned { value, pos }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// The value a field takes when it is not written (position unknown).
impl<T: Default> Default for Spanned<T> {
    fn default() -> Self {
        Spanned::new(T::default(), Pos::default())
    }
}

/// Spans never take part in equality: two specs that say the same thing are equal.
impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<T: Eq> Eq for Spanned<T> {}

thread_local! {
    /// Lines before the document being parsed, in its file. The loader parses
    /// each document of a multi-document file on its own and sets this, so
    /// positions are file positions without re-parsing the lines above.
    static LINE_OFFSET: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f` with positions shifted down by `lines` (the document's first line).
pub(crate) fn with_line_offset<R>(lines: u32, f: impl FnOnce() -> R) -> R {
    let before = LINE_OFFSET.with(|c| c.replace(lines));
    let r = f();
    LINE_OFFSET.with(|c| c.set(before));
    r
}

/// A parser position (1-based; 0 = unknown) as a file position.
pub(crate) fn file_pos(line: u64, col: u64) -> Pos {
    let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    if line == 0 {
        return Pos::new(0, 0);
    }
    let offset = LINE_OFFSET.with(Cell::get);
    Pos::new(clamp(line).saturating_add(offset), clamp(col))
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let inner = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        let loc = inner.referenced;
        Ok(Spanned {
            value: inner.value,
            pos: file_pos(loc.line(), loc.column()),
        })
    }
}

impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
    fn inline_schema() -> bool {
        T::inline_schema()
    }
}
