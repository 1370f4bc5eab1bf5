//! Status written back to git: per-host documents, run records and the
//! compliance report, as files of the status branch (`status/…`). Building
//! them is pure; `source` commits them.

pub mod condition;
pub mod host;
pub mod report;

use std::collections::BTreeMap;

pub use host::{HostStatus, LastRun, host_status};

use crate::rollout::record::RunRecord;

/// The status files of some hosts and runs, path → content.
pub fn files(
    hosts: &[HostStatus],
    runs: &[&RunRecord],
    report: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for h in hosts {
        out.insert(
            format!("status/hosts/{}.yaml", h.host),
            serde_saphyr::to_string(h).map_err(|e| format!("host {}: {e}", h.host))?,
        );
    }
    for r in runs {
        out.insert(
            format!("status/runs/{}.yaml", r.id),
            serde_saphyr::to_string(r).map_err(|e| format!("run {}: {e}", r.id))?,
        );
    }
    out.insert("status/REPORT.md".into(), report.to_string());
    Ok(out)
}
