//! patchwave: a GitOps patch reconciler.
//!
//! A fleet's patch policy lives in git as YAML; patchwave reads it, works out
//! what every host should have, and applies it in waves inside maintenance
//! windows. Data flows one way, and the modules follow it:
//!
//! `spec` (load + validate the desired state) → `schedule` (when windows are
//! open) → `transport` + `os` + `scan` (facts from hosts, into `facts`) →
//! `plan` (pure: baselines, versions via `version`, waves; history from
//! `state`) → `rollout` (waves, budget, health, rollback; run records in
//! `state`) → `status` (host documents, report) committed by `source`, which
//! also fetches and verifies the desired state. `daemon` runs it all on its
//! own; `propose` turns offered versions into a reviewable lockfile.
//!
//! The binary (`src/main.rs`) only parses arguments and calls [`cli::run`].

pub mod blocking;
pub mod cli;
pub mod csv;
pub mod daemon;
pub mod exit;
pub mod facts;
pub mod init;
pub mod os;
pub mod output_schema;
pub mod plan;
pub mod propose;
pub mod reconcile;
pub mod rollout;
pub mod scan;
pub mod schedule;
pub mod source;
pub mod spec;
pub mod state;
pub mod status;
pub mod tls_roots;
pub mod transport;
pub mod version;
pub mod vuln;

pub use exit::Exit;
