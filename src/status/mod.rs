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

/// `status/first-seen.yaml`: when each version was first seen offered, so a
/// machine with no run state of its own (a CI runner, another replica)
/// counts `approveAfterDays` from the same dates.
pub mod first_seen {
    use std::collections::BTreeMap;

    use jiff::Timestamp;
    use serde::{Deserialize, Serialize};

    pub const PATH: &str = "status/first-seen.yaml";

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Row {
        package: String,
        version: String,
        first_seen: Timestamp,
    }

    pub fn render(seen: &BTreeMap<(String, String), Timestamp>) -> Result<String, String> {
        let rows: Vec<Row> = seen
            .iter()
            .map(|((package, version), t)| Row {
                package: package.clone(),
                version: version.clone(),
                first_seen: *t,
            })
            .collect();
        serde_saphyr::to_string(&rows).map_err(|e| e.to_string())
    }

    /// Merges the file into `seen`: the earlier date wins.
    pub fn merge(
        text: &str,
        seen: &mut BTreeMap<(String, String), Timestamp>,
    ) -> Result<(), String> {
        let rows: Vec<Row> = serde_saphyr::from_str(text)
            .map_err(|e| format!("{PATH} on the status branch: {e}"))?;
        for r in rows {
            let slot = seen.entry((r.package, r.version)).or_insert(r.first_seen);
            if r.first_seen < *slot {
                *slot = r.first_seen;
            }
        }
        Ok(())
    }
}

/// `status/history/<host>.yaml`: a stage host's record (installed-since
/// dates and health), so a machine with no run state of its own judges
/// `promotion` (soak time, health) as the machine that patched the stage did.
pub mod host_history {
    use crate::state::HostRecord;

    pub const DIR: &str = "status/history";

    pub fn path(host: &str) -> String {
        format!("{DIR}/{host}.yaml")
    }

    pub fn render(record: &HostRecord) -> Result<String, String> {
        let body =
            serde_saphyr::to_string(record).map_err(|e| format!("host {}: {e}", record.host))?;
        Ok(format!(
            "# patchwave run state for {}: when each version was installed, and health.\n{body}",
            record.host
        ))
    }

    /// The record in `text` (read from `path` on the status branch).
    pub fn parse(path: &str, text: &str) -> Result<HostRecord, String> {
        serde_saphyr::from_str(text).map_err(|e| format!("{path} on the status branch: {e}"))
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::facts::fixture::scan;

        #[test]
        fn a_record_survives_the_status_branch() {
            let record = HostRecord::after_scan(
                None,
                &scan(
                    "stg-web-1",
                    "2026-11-20T08:00:00Z",
                    &[("openssl", "3.0.17-1~deb12u2")],
                    &[],
                ),
            )
            .unwrap();
            let text = render(&record).unwrap();
            assert!(
                text.starts_with("# patchwave run state for stg-web-1"),
                "{text}"
            );
            assert_eq!(parse(&path("stg-web-1"), &text).unwrap(), record);
            let err = parse(&path("x"), "version: 1\nhost: [\n").unwrap_err();
            assert!(
                err.starts_with("status/history/x.yaml on the status branch:"),
                "{err}"
            );
        }
    }
}
