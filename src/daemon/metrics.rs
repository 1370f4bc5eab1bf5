//! What `/metrics` says, in Prometheus text format: hosts by compliance
//! state, missing patches by severity, runs by outcome, reconcile duration,
//! the last successful sync, and whether the newest commit was refused.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::status::HostStatus;

/// The daemon's numbers, updated after each reconcile.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub hosts_by_compliance: BTreeMap<String, usize>,
    pub missing_by_severity: BTreeMap<String, usize>,
    pub runs_by_outcome: BTreeMap<String, usize>,
    pub reconciles_by_result: BTreeMap<String, u64>,
    pub last_reconcile_seconds: f64,
    pub last_successful_sync: Option<i64>,
    /// The newest commit was refused (invalid or unverified).
    pub source_refused: bool,
    pub desired_commit: Option<String>,
    /// Every patch deadline of the hosts: (severity, when it passes).
    pub deadlines: Vec<(String, jiff::Timestamp)>,
}

/// The host documents of a status branch (`None`: unreadable); a document
/// that does not parse is skipped.
pub fn hosts_on_status_branch(git_dir: &std::path::Path, branch: &str) -> Option<Vec<HostStatus>> {
    let files = crate::source::read_status_files(git_dir, branch, "status/hosts").ok()?;
    Some(
        files
            .iter()
            .filter_map(|(_, t)| serde_saphyr::from_str(t).ok())
            .collect(),
    )
}

/// A severity as the status and the plan spell it (`critical`).
fn severity_word(s: crate::spec::baseline::Severity) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Everything but the reconcile counters, from the desired state's
    /// status branch and the recent runs of run state (`None`: unreadable;
    /// the last counts stay). Blocking (git): call it off the async threads.
    pub fn observe(
        &mut self,
        desired: &super::desired::Desired,
        runs: Option<&[crate::rollout::record::RunRecord]>,
    ) {
        let src = &desired.source;
        self.last_successful_sync = Some(jiff::Timestamp::now().as_second());
        self.source_refused = src.refused.is_some();
        self.desired_commit = src.commit.clone();
        let repo = &desired.checked.repo;
        if let Some(hosts) = hosts_on_status_branch(&src.git_dir, &repo.status_branch()) {
            self.set_hosts(&hosts);
        }
        if let Some(runs) = runs {
            self.runs_by_outcome.clear();
            for r in runs {
                let word = serde_json::to_value(&r.outcome)
                    .ok()
                    .and_then(|v| v["state"].as_str().map(String::from))
                    .unwrap_or_default();
                *self.runs_by_outcome.entry(word).or_default() += 1;
            }
        }
    }

    /// Host and patch counts from the status documents.
    pub fn set_hosts(&mut self, hosts: &[HostStatus]) {
        self.hosts_by_compliance = ["compliant", "nonCompliant", "unknown"]
            .iter()
            .map(|s| (s.to_string(), 0))
            .collect();
        self.missing_by_severity.clear();
        self.deadlines.clear();
        for h in hosts {
            for d in &h.deadlines {
                self.deadlines
                    .push((severity_word(d.severity), d.passes_at));
            }
            *self
                .hosts_by_compliance
                .entry(h.compliance.clone())
                .or_default() += 1;
            for m in &h.missing {
                *self
                    .missing_by_severity
                    .entry(severity_word(m.severity))
                    .or_default() += 1;
            }
        }
    }

    pub fn render(&self) -> String {
        self.render_at(jiff::Timestamp::now())
    }

    /// The metrics as of `now` (deadlines pass while the daemon idles).
    pub fn render_at(&self, now: jiff::Timestamp) -> String {
        let mut out = String::new();
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut out,
            "patchwave_hosts",
            "gauge",
            "Hosts by compliance state.",
        );
        for (state, n) in &self.hosts_by_compliance {
            let _ = writeln!(out, "patchwave_hosts{{state=\"{}\"}} {n}", label(state));
        }
        family(
            &mut out,
            "patchwave_missing_patches",
            "gauge",
            "Approved patches not installed, by severity.",
        );
        for (sev, n) in &self.missing_by_severity {
            let _ = writeln!(
                out,
                "patchwave_missing_patches{{severity=\"{}\"}} {n}",
                label(sev)
            );
        }
        if !self.deadlines.is_empty() {
            family(
                &mut out,
                "patchwave_overdue_patches",
                "gauge",
                "Patches past their deadline (the Fleet's `deadlines`), by severity.",
            );
            let mut overdue: BTreeMap<&str, usize> = BTreeMap::new();
            for (sev, passes_at) in &self.deadlines {
                let n = overdue.entry(sev.as_str()).or_default();
                if *passes_at <= now {
                    *n += 1;
                }
            }
            for (sev, n) in overdue {
                let _ = writeln!(
                    out,
                    "patchwave_overdue_patches{{severity=\"{}\"}} {n}",
                    label(sev)
                );
            }
            if let Some(next) = self
                .deadlines
                .iter()
                .map(|(_, t)| *t)
                .filter(|t| *t > now)
                .min()
            {
                family(
                    &mut out,
                    "patchwave_next_deadline_seconds",
                    "gauge",
                    "Seconds until the nearest patch deadline that has not passed.",
                );
                let _ = writeln!(
                    out,
                    "patchwave_next_deadline_seconds {}",
                    next.duration_since(now).as_secs()
                );
            }
        }
        family(
            &mut out,
            "patchwave_runs",
            "gauge",
            "Recent runs by outcome.",
        );
        for (o, n) in &self.runs_by_outcome {
            let _ = writeln!(out, "patchwave_runs{{outcome=\"{}\"}} {n}", label(o));
        }
        family(
            &mut out,
            "patchwave_reconciles_total",
            "counter",
            "Reconciles by result.",
        );
        for (r, n) in &self.reconciles_by_result {
            let _ = writeln!(out, "patchwave_reconciles_total{{result=\"{r}\"}} {n}");
        }
        family(
            &mut out,
            "patchwave_reconcile_duration_seconds",
            "gauge",
            "Duration of the last reconcile.",
        );
        let _ = writeln!(
            out,
            "patchwave_reconcile_duration_seconds {:.3}",
            self.last_reconcile_seconds
        );
        family(
            &mut out,
            "patchwave_last_successful_sync_timestamp_seconds",
            "gauge",
            "When the desired state was last synced without error.",
        );
        let _ = writeln!(
            out,
            "patchwave_last_successful_sync_timestamp_seconds {}",
            self.last_successful_sync.unwrap_or(0)
        );
        family(
            &mut out,
            "patchwave_source_refused",
            "gauge",
            "1 when the newest desired-state commit was refused (invalid or unverified).",
        );
        let _ = writeln!(
            out,
            "patchwave_source_refused {}",
            u8::from(self.source_refused)
        );
        if let Some(c) = &self.desired_commit {
            family(
                &mut out,
                "patchwave_desired_commit_info",
                "gauge",
                "The desired-state commit patchwave works from.",
            );
            let _ = writeln!(
                out,
                "patchwave_desired_commit_info{{commit=\"{}\"}} 1",
                label(c)
            );
        }
        out
    }
}
