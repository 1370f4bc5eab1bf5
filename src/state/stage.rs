//! The planner's history derived from stored records: first sightings,
//! and per stage and version since when every host has had it installed
//! (and healthy). Pure; it lives with the records so the planner never
//! imports run state.

use std::collections::BTreeMap;

use crate::plan::History;
use crate::plan::history::StageRecord;

use super::{FirstSeen, HostRecord};

impl History {
    /// Derives the planner's view from stored records. `stages` gives each
    /// stage's hosts with their records (`None`: never scanned). A stage has a
    /// record for a version only when every one of its hosts has it installed;
    /// it has been healthy since the latest of the installs and health changes.
    pub fn from_records<'r>(
        first_seen: FirstSeen,
        stages: impl IntoIterator<Item = (&'r str, Vec<Option<&'r HostRecord>>)>,
    ) -> History {
        let mut stage_healthy_since = BTreeMap::new();
        for (stage, hosts) in stages {
            let Some(hosts) = hosts.into_iter().collect::<Option<Vec<_>>>() else {
                continue;
            };
            let Some(first) = hosts.first() else {
                continue;
            };
            let all_healthy_since = hosts
                .iter()
                .map(|h| h.health.as_ref().filter(|x| x.healthy).map(|x| x.since))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.into_iter().max());
            let unhealthy = hosts.iter().find_map(|h| match &h.health {
                None => Some(format!("host {}: no health check has run", h.host)),
                Some(x) if !x.healthy => Some(format!(
                    "host {}: {} at {}",
                    h.host,
                    x.failure().unwrap_or_else(|| "unhealthy".to_string()),
                    x.checked_at.unwrap_or(x.since)
                )),
                Some(_) => None,
            });
            for (key, installed) in &first.installed {
                let package = key.name.as_str();
                let Some(installed_since) = hosts
                    .iter()
                    .map(|h| h.installed_since(package, &installed.version))
                    .collect::<Option<Vec<_>>>()
                    .and_then(|v| v.into_iter().max())
                else {
                    continue;
                };
                let healthy_since = all_healthy_since
                    .map(|h| h.map_or(installed_since, |h| h.max(installed_since)));
                stage_healthy_since.insert(
                    (
                        stage.to_string(),
                        package.to_string(),
                        installed.version.clone(),
                    ),
                    StageRecord {
                        installed_since,
                        healthy_since,
                        unhealthy: unhealthy.clone(),
                    },
                );
            }
        }
        History {
            first_seen: first_seen.0,
            stage_healthy_since,
            failed_installs: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Health, InstalledSince, STATE_VERSION};
    use jiff::Timestamp;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn host(name: &str, pkgs: &[(&str, &str, &str)], healthy_since: Option<&str>) -> HostRecord {
        HostRecord {
            version: STATE_VERSION,
            host: name.into(),
            last_scan: t("2026-11-10T00:00:00Z"),
            installed: pkgs
                .iter()
                .map(|(n, v, since)| {
                    (
                        crate::facts::PackageKey::new(*n, "amd64"),
                        InstalledSince {
                            version: v.to_string(),
                            since: t(since),
                        },
                    )
                })
                .collect(),
            health: healthy_since.map(|s| Health {
                healthy: true,
                since: t(s),
                checked_at: Some(t(s)),
                checks: vec![],
            }),
        }
    }

    #[test]
    fn a_stage_record_needs_every_host_and_takes_the_latest_dates() {
        let a = host(
            "a",
            &[
                ("openssl", "3.0.15-1", "2026-11-01T00:00:00Z"),
                ("vim", "2", "2026-11-01T00:00:00Z"),
            ],
            Some("2026-10-01T00:00:00Z"),
        );
        let b = host(
            "b",
            &[
                ("openssl", "3.0.15-1", "2026-11-03T00:00:00Z"),
                ("vim", "1", "2026-10-01T00:00:00Z"),
            ],
            Some("2026-11-05T00:00:00Z"),
        );
        let h = History::from_records(
            FirstSeen::default(),
            [("staging", vec![Some(&a), Some(&b)])],
        );
        assert_eq!(
            h.stage_record("staging", "openssl", "3.0.15-1"),
            Some(&StageRecord {
                installed_since: t("2026-11-03T00:00:00Z"),
                healthy_since: Some(t("2026-11-05T00:00:00Z")),
                unhealthy: None,
            })
        );
        // vim differs between the hosts: no stage record for either version.
        assert_eq!(h.stage_record("staging", "vim", "2"), None);
        assert_eq!(h.stage_record("staging", "vim", "1"), None);

        // One unhealthy host: installed, but not healthy.
        let mut sick = b.clone();
        sick.health = Some(Health {
            healthy: false,
            since: t("2026-11-06T00:00:00Z"),
            checked_at: Some(t("2026-11-06T00:00:00Z")),
            checks: vec![crate::state::CheckResult {
                name: "http-up".into(),
                ok: false,
                error: Some("GET http://b/: status 503, expected 200".into()),
            }],
        });
        let h = History::from_records(
            FirstSeen::default(),
            [("staging", vec![Some(&a), Some(&sick)])],
        );
        let r = h.stage_record("staging", "openssl", "3.0.15-1").unwrap();
        assert_eq!(r.healthy_since, None);
        assert_eq!(
            r.unhealthy.as_deref(),
            Some(
                "host b: check `http-up` failed: GET http://b/: status 503, expected 200 at 2026-11-06T00:00:00Z"
            )
        );
        // A host never scanned: no record at all.
        let h = History::from_records(FirstSeen::default(), [("staging", vec![Some(&a), None])]);
        assert_eq!(h.stage_record("staging", "openssl", "3.0.15-1"), None);
    }
}
