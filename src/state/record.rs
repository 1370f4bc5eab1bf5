//! The records patchwave keeps between runs, and how a scan updates them.
//! Pure functions: a store (local files today, etcd or the status branch
//! later) only loads and saves these values.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::facts::{HostScan, PackageKey, ScanState};
pub use crate::rollout::health::CheckResult;

/// Format version of stored records.
pub const STATE_VERSION: u32 = 1;

/// When patchwave first saw each `(package, version)` offered on any host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirstSeen(pub BTreeMap<(String, String), Timestamp>);

impl FirstSeen {
    /// Adds the sightings of one scan. A date only ever moves earlier, so
    /// replaying an old facts file cannot make a patch younger or older than
    /// what was first observed.
    pub fn observe(&mut self, scan: &HostScan) -> bool {
        let ScanState::Scanned { facts } = &scan.state else {
            return false;
        };
        let mut changed = false;
        for u in &facts.updates {
            let key = (u.name.clone(), u.candidate_version.clone());
            match self.0.get_mut(&key) {
                Some(t) if *t <= scan.scanned_at => {}
                Some(t) => {
                    *t = scan.scanned_at;
                    changed = true;
                }
                None => {
                    self.0.insert(key, scan.scanned_at);
                    changed = true;
                }
            }
        }
        changed
    }
}

/// One installed package version and since when patchwave has seen it installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstalledSince {
    pub version: String,
    /// The first scan that saw this version installed (it may have been
    /// installed earlier; patchwave cannot know, so it never claims more).
    pub since: Timestamp,
}

/// A host's health as its checks last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub healthy: bool,
    /// Since when the host has been in this state without interruption.
    pub since: Timestamp,
    /// When the checks last ran (`since` is when this state began).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<Timestamp>,
    /// Each check's result at `checked_at`; empty when the group has no
    /// checks (a host patchwave patched and verified counts as healthy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
}

impl Health {
    /// The first failing check, as "check `name` failed: why", for a
    /// promotion that waits on this host.
    pub fn failure(&self) -> Option<String> {
        self.checks.iter().find(|c| !c.ok).map(|c| {
            format!(
                "check `{}` failed{}",
                c.name,
                c.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )
        })
    }
}

/// What patchwave remembers about one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostRecord {
    pub version: u32,
    pub host: String,
    pub last_scan: Timestamp,
    /// The installed version of each package and since when.
    pub installed: BTreeMap<PackageKey, InstalledSince>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

impl HostRecord {
    /// The record after a scan, or `None` when the scan changes nothing (an
    /// unreachable host, or a scan older than the record).
    pub fn after_scan(previous: Option<&HostRecord>, scan: &HostScan) -> Option<HostRecord> {
        let ScanState::Scanned { facts } = &scan.state else {
            return None;
        };
        if previous.is_some_and(|p| p.last_scan >= scan.scanned_at) {
            return None;
        }
        let installed = facts
            .installed
            .iter()
            .map(|p| {
                let key = p.key();
                let since = previous
                    .and_then(|r| r.installed.get(&key))
                    .filter(|old| old.version == p.version)
                    .map_or(scan.scanned_at, |old| old.since);
                (
                    key,
                    InstalledSince {
                        version: p.version.clone(),
                        since,
                    },
                )
            })
            .collect();
        Some(HostRecord {
            version: STATE_VERSION,
            host: scan.host.clone(),
            last_scan: scan.scanned_at,
            installed,
            health: previous.and_then(|p| p.health.clone()),
        })
    }

    /// The record after the health checks ran at `at` (healthy when every
    /// check passed): the `since` of an unchanged state is kept, so a host
    /// healthy for days stays healthy since then; the checks are the latest.
    pub fn after_health(mut self, at: Timestamp, checks: &[CheckResult]) -> HostRecord {
        let healthy = checks.iter().all(|c| c.ok);
        let since = match &self.health {
            Some(h) if h.healthy == healthy && h.since <= at => h.since,
            _ => at,
        };
        self.health = Some(Health {
            healthy,
            since,
            checked_at: Some(at),
            checks: checks.to_vec(),
        });
        self
    }

    /// This record joined with another machine's record of the same host:
    /// the versions of the later scan, each with the earliest `since` either
    /// machine saw for that same version, and the health that changed last
    /// (a machine that runs no health checks has none, so the other's counts).
    pub fn merged_with(&self, other: &HostRecord) -> HostRecord {
        let (newer, older) = if other.last_scan > self.last_scan {
            (other, self)
        } else {
            (self, other)
        };
        let installed = newer
            .installed
            .iter()
            .map(|(k, v)| {
                let since = older
                    .installed
                    .get(k)
                    .filter(|o| o.version == v.version)
                    .map_or(v.since, |o| o.since.min(v.since));
                (
                    k.clone(),
                    InstalledSince {
                        version: v.version.clone(),
                        since,
                    },
                )
            })
            .collect();
        // The health checked last wins (then the one that changed last).
        let health = match (&newer.health, &older.health) {
            (Some(a), Some(b)) => Some(if (b.checked_at, b.since) > (a.checked_at, a.since) {
                b.clone()
            } else {
                a.clone()
            }),
            (a, b) => a.clone().or(b.clone()),
        };
        HostRecord {
            version: STATE_VERSION,
            host: newer.host.clone(),
            last_scan: newer.last_scan,
            installed,
            health,
        }
    }

    /// Since when this host has had `version` of `package` installed (any architecture).
    pub fn installed_since(&self, package: &str, version: &str) -> Option<Timestamp> {
        // Keys order as `name:arch` text: one name's architectures are adjacent.
        self.installed
            .range(PackageKey::new(package, "")..)
            .take_while(|(k, _)| k.name == package)
            .filter(|(_, v)| v.version == version)
            .map(|(_, v)| v.since)
            .min()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::facts::fixture::scan;

    /// One check named `up`, passing or failing.
    pub(crate) fn checks(ok: bool) -> Vec<CheckResult> {
        vec![CheckResult {
            name: "up".into(),
            ok,
            error: (!ok).then(|| "exit 1".into()),
        }]
    }

    #[test]
    fn records_from_two_machines_keep_the_earliest_install_and_the_latest_health() {
        let at = |t: &str| -> Timestamp { t.parse().unwrap() };
        let patcher = HostRecord::after_scan(
            None,
            &scan(
                "stg-1",
                "2026-11-20T08:00:00Z",
                &[("openssl", "3.0.17"), ("bash", "5.2")],
                &[],
            ),
        )
        .unwrap()
        .after_health(at("2026-11-20T09:00:00Z"), &checks(true));
        // A CI runner scanned later: same openssl, a newer bash, no health.
        let runner = HostRecord::after_scan(
            None,
            &scan(
                "stg-1",
                "2026-12-01T08:00:00Z",
                &[("openssl", "3.0.17"), ("bash", "5.3")],
                &[],
            ),
        )
        .unwrap();
        for merged in [runner.merged_with(&patcher), patcher.merged_with(&runner)] {
            assert_eq!(merged.last_scan, at("2026-12-01T08:00:00Z"));
            assert_eq!(
                merged.installed_since("openssl", "3.0.17"),
                Some(at("2026-11-20T08:00:00Z"))
            );
            assert_eq!(
                merged.installed_since("bash", "5.3"),
                Some(at("2026-12-01T08:00:00Z"))
            );
            assert_eq!(merged.installed_since("bash", "5.2"), None);
            assert_eq!(merged.health.map(|h| h.healthy), Some(true));
        }
        // The health that changed last wins.
        let sick = patcher
            .clone()
            .after_health(at("2026-11-25T00:00:00Z"), &checks(false));
        assert_eq!(
            runner.merged_with(&sick).health.map(|h| h.healthy),
            Some(false)
        );
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn first_seen_only_moves_earlier() {
        let mut fs = FirstSeen::default();
        assert!(fs.observe(&scan("h1", "2026-11-02T00:00:00Z", &[], &[("vim", "2")])));
        assert!(!fs.observe(&scan("h1", "2026-11-05T00:00:00Z", &[], &[("vim", "2")])));
        assert_eq!(fs.0[&("vim".into(), "2".into())], t("2026-11-02T00:00:00Z"));
        // An older facts file replayed later: the earlier sighting wins.
        assert!(fs.observe(&scan("h1", "2026-11-01T00:00:00Z", &[], &[("vim", "2")])));
        assert_eq!(fs.0[&("vim".into(), "2".into())], t("2026-11-01T00:00:00Z"));
        let unreachable = HostScan {
            state: ScanState::Unreachable { error: "x".into() },
            ..scan("h1", "2026-10-01T00:00:00Z", &[], &[])
        };
        assert!(!fs.observe(&unreachable));
    }

    #[test]
    fn installed_since_survives_rescans_and_resets_on_change() {
        let r1 = HostRecord::after_scan(
            None,
            &scan("h1", "2026-11-01T00:00:00Z", &[("vim", "1")], &[]),
        )
        .unwrap();
        let r2 = HostRecord::after_scan(
            Some(&r1),
            &scan("h1", "2026-11-03T00:00:00Z", &[("vim", "1")], &[]),
        )
        .unwrap();
        assert_eq!(
            r2.installed_since("vim", "1"),
            Some(t("2026-11-01T00:00:00Z"))
        );
        let r3 = HostRecord::after_scan(
            Some(&r2),
            &scan("h1", "2026-11-04T00:00:00Z", &[("vim", "2")], &[]),
        )
        .unwrap();
        assert_eq!(
            r3.installed_since("vim", "2"),
            Some(t("2026-11-04T00:00:00Z"))
        );
        assert_eq!(r3.installed_since("vim", "1"), None);
        assert_eq!(r3.installed_since("vi", "2"), None, "no prefix confusion");
        // A scan older than the record changes nothing.
        assert!(
            HostRecord::after_scan(
                Some(&r3),
                &scan("h1", "2026-11-02T00:00:00Z", &[("vim", "9")], &[])
            )
            .is_none()
        );
    }

    #[test]
    fn health_keeps_its_since_while_unchanged() {
        let r =
            HostRecord::after_scan(None, &scan("h1", "2026-11-01T00:00:00Z", &[], &[])).unwrap();
        let r = r.after_health(t("2026-11-01T01:00:00Z"), &checks(true));
        let r = r.after_health(t("2026-11-02T01:00:00Z"), &checks(true));
        assert_eq!(
            r.health,
            Some(Health {
                healthy: true,
                since: t("2026-11-01T01:00:00Z"),
                checked_at: Some(t("2026-11-02T01:00:00Z")),
                checks: checks(true),
            })
        );
        let r = r.after_health(t("2026-11-03T01:00:00Z"), &checks(false));
        assert_eq!(r.health.as_ref().unwrap().since, t("2026-11-03T01:00:00Z"));
        assert_eq!(
            r.health.as_ref().unwrap().failure().as_deref(),
            Some("check `up` failed: exit 1")
        );
        // A scan keeps the health record.
        let r = HostRecord::after_scan(Some(&r), &scan("h1", "2026-11-04T00:00:00Z", &[], &[]))
            .unwrap();
        assert!(!r.health.unwrap().healthy);
    }
}
