//! The Kubernetes-style envelope every document shares:
//! `apiVersion`, `kind`, `metadata`, `spec`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::diagnostic::Origin;
use super::spanned::Spanned;

/// The only API version this build understands.
pub const API_VERSION: &str = "patchwave.dev/v1";
/// The API group: documents with another group are not patchwave's and are skipped.
pub const API_GROUP: &str = "patchwave.dev";

/// Name, labels and annotations of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Unique among resources of the same kind; lowercase letters, digits and `-`.
    pub name: Spanned<String>,
    /// Free-form labels; deny windows and rollout waves select on them.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Free-form notes for people; patchwave ignores them.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A full resource document of one kind. `S` is the kind's spec type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Document<S> {
    /// Always `patchwave.dev/v1`.
    pub api_version: Spanned<String>,
    /// The resource kind.
    pub kind: Spanned<String>,
    pub metadata: Metadata,
    pub spec: S,
}

/// A loaded resource: its document and where it was read from.
#[derive(Debug, Clone)]
pub struct Resource<S> {
    pub origin: Origin,
    pub metadata: Metadata,
    pub spec: S,
}

impl<S> Resource<S> {
    pub fn name(&self) -> &str {
        &self.metadata.name.value
    }
}
