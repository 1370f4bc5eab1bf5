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
        if let Ok(files) =
            crate::source::read_status_files(&src.git_dir, &repo.status_branch(), "status/hosts")
        {
            let hosts: Vec<HostStatus> = files
                .iter()
                .filter_map(|(_, t)| serde_saphyr::from_str(t).ok())
                .collect();
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
        for h in hosts {
            *self
                .hosts_by_compliance
                .entry(h.compliance.clone())
                .or_default() += 1;
            for m in &h.missing {
                let sev = serde_json::to_value(m.severity)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                *self.missing_by_severity.entry(sev).or_default() += 1;
            }
        }
    }

    pub fn render(&self) -> String {
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
