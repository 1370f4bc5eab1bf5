//! The desired state: resource kinds as users write them, loading with
//! `file:line:col` spans, validation, and JSON Schema.
//!
//! These types mirror the YAML exactly (`deny_unknown_fields`, so typos never
//! pass silently). Runtime structures — window calendars, and later plans —
//! are built from them after validation.

pub mod baseline;
mod calendar;
pub mod common;
pub mod diagnostic;
pub mod emergency;
pub mod fleet;
pub mod host_group;
pub mod inventory;
pub mod kind;
pub mod load;
pub mod openpgp_keys;
pub mod parsed;
pub mod resource;
pub mod rollout;
pub mod schema;
mod schema_check;
pub mod spanned;
mod validate;
pub mod validation;
pub mod values;
pub mod window;

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

pub use diagnostic::{Diagnostic, Origin, Severity};
pub use kind::Kind;
pub use resource::{API_VERSION, Metadata, Resource};
pub use spanned::{Pos, Spanned};

use baseline::{PatchApprovalsSpec, PatchBaselineSpec};
use emergency::EmergencyChangeSpec;
use fleet::FleetSpec;
use host_group::{HostGroupSpec, HostSpec};
use rollout::RolloutPolicySpec;
use window::MaintenanceWindowSpec;

/// Every patchwave resource read from a repository, in file order.
#[derive(Debug, Clone, Default)]
pub struct Repository {
    /// YAML files read.
    pub files: usize,
    /// At most one is valid; more are reported.
    pub fleets: Vec<Resource<FleetSpec>>,
    pub groups: Vec<Resource<HostGroupSpec>>,
    pub baselines: Vec<Resource<PatchBaselineSpec>>,
    pub approvals: Vec<Resource<PatchApprovalsSpec>>,
    pub windows: Vec<Resource<MaintenanceWindowSpec>>,
    pub rollouts: Vec<Resource<RolloutPolicySpec>>,
    pub emergencies: Vec<Resource<EmergencyChangeSpec>>,
    /// Resources whose document did not parse (already reported), by kind and
    /// name, so references to them are not reported a second time.
    pub unparsed: Vec<(Kind, String)>,
    /// What the HostGroups whose document did not parse say, as far as
    /// their YAML can be read, for the same reason.
    pub unparsed_groups: UnparsedGroups,
}

/// Stages, windows and hosts named by HostGroups that did not parse: a
/// baseline promoting from such a stage, a window only such a group uses,
/// an EmergencyChange naming such a host are not reported as well.
#[derive(Debug, Clone, Default)]
pub struct UnparsedGroups {
    pub stages: BTreeSet<String>,
    pub windows: BTreeSet<String>,
    pub hosts: BTreeSet<String>,
    /// A HostGroup is not even YAML (a syntax error): any stage, window or
    /// host may be one of its.
    pub unreadable: bool,
}

impl Repository {
    pub fn resource_count(&self) -> usize {
        self.fleets.len()
            + self.groups.len()
            + self.baselines.len()
            + self.approvals.len()
            + self.windows.len()
            + self.rollouts.len()
            + self.emergencies.len()
    }

    pub fn group(&self, name: &str) -> Option<&Resource<HostGroupSpec>> {
        self.groups.iter().find(|g| g.name() == name)
    }

    /// Names of every resource of a kind, including ones whose document did not parse.
    pub fn names(&self, kind: Kind) -> Vec<&str> {
        fn of<S>(rs: &[Resource<S>]) -> Vec<&str> {
            rs.iter().map(|r| r.name()).collect()
        }
        let mut names = match kind {
            Kind::Fleet => of(&self.fleets),
            Kind::HostGroup => of(&self.groups),
            Kind::PatchBaseline => of(&self.baselines),
            Kind::PatchApprovals => of(&self.approvals),
            Kind::MaintenanceWindow => of(&self.windows),
            Kind::RolloutPolicy => of(&self.rollouts),
            Kind::EmergencyChange => of(&self.emergencies),
        };
        names.extend(
            self.unparsed
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, n)| n.as_str()),
        );
        names
    }

    /// The zone in which approval days are counted: the Fleet's, else UTC.
    /// The branch status is written to: the Fleet's `statusBranch`, else `patchwave/status`.
    pub fn status_branch(&self) -> String {
        self.fleets
            .first()
            .and_then(|f| f.spec.status_branch.as_ref())
            .map_or_else(|| "patchwave/status".to_string(), |b| b.value.clone())
    }

    pub fn approval_timezone(&self) -> jiff::tz::TimeZone {
        self.fleets
            .first()
            .and_then(|f| f.spec.timezone.as_ref())
            .and_then(|tz| window::resolve_timezone(tz).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC)
    }

    pub fn window(&self, name: &str) -> Option<&Resource<MaintenanceWindowSpec>> {
        self.windows.iter().find(|w| w.name() == name)
    }

    /// Every host with the group it belongs to.
    pub fn hosts(&self) -> impl Iterator<Item = (&Resource<HostGroupSpec>, &HostSpec)> {
        self.groups
            .iter()
            .flat_map(|g| g.spec.hosts.iter().map(move |h| (g, h)))
    }
}

/// A repository and everything wrong with it.
#[derive(Debug, Clone)]
pub struct Checked {
    pub repo: Repository,
    /// Errors first, then warnings; each group in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

/// Loads and validates the repository at `root`: the whole of `patchwave validate`.
/// Only an unreadable `root` is an `Err`.
pub fn check(root: &Path) -> io::Result<Checked> {
    let (repo, mut diagnostics) = load::load(root)?;
    diagnostics.extend(validate::validate(&repo, root));
    // A wrong `--repo` must not pass as "0 errors": a repository with no
    // resource at all (and no file that failed to load) is an error.
    if repo.resource_count() == 0 && !diagnostics.iter().any(Diagnostic::is_error) {
        diagnostics.push(
            Diagnostic::error(
                Path::new("."),
                Pos::new(0, 0),
                format!(
                    "no patchwave resource (apiVersion: patchwave.dev/v1) in any *.yaml under {}",
                    root.display()
                ),
            )
            .with_hint("pass --repo with the fleet repository's directory"),
        );
    }
    diagnostics.sort_by(|a, b| {
        (a.severity, &a.file, a.line, a.col).cmp(&(b.severity, &b.file, b.line, b.col))
    });
    diagnostics.dedup();
    Ok(Checked { repo, diagnostics })
}
