//! The result of `validate`, as `validate --format json` prints it.

use serde::Serialize;

use super::diagnostic::Diagnostic;

/// Version of the validation JSON document.
pub const VALIDATION_VERSION: u32 = 1;

/// What `validate` found in a fleet repository.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport<'a> {
    pub version: u32,
    /// The repository as given (a URL without its credentials).
    pub repo: &'a str,
    /// YAML files read.
    pub files: usize,
    /// Resources found in them.
    pub resources: usize,
    pub errors: usize,
    pub warnings: usize,
    /// Every finding, errors and warnings, in file order.
    pub diagnostics: &'a [Diagnostic],
}
