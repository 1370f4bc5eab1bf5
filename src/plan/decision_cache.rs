//! Decisions shared between hosts. A baseline's decision on an update depends
//! only on the update, the package manager, the host's release (vulnerability
//! data is per release) and the day the host's facts were scanned (history,
//! `now` and the data are the same for the whole plan), and fleets run
//! the same packages, scanned together: 10,000 hosts offered the same 50
//! updates need 50 decisions, not 500,000.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use jiff::civil::Date;

use super::host::PatchDecision;
use crate::facts::{AvailableUpdate, PackageManager};

const SHARDS: usize = 16;

type Bucket = Vec<(
    PackageManager,
    Option<Date>,
    AvailableUpdate,
    Option<Box<str>>,
    Arc<PatchDecision>,
)>;

/// One group's decisions by update; safe to share between planning threads.
pub struct DecisionCache {
    hasher: foldhash::fast::FixedState,
    shards: Vec<Mutex<foldhash::HashMap<u64, Bucket>>>,
}

impl Default for DecisionCache {
    fn default() -> Self {
        DecisionCache {
            hasher: foldhash::fast::FixedState::default(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl DecisionCache {
    /// The decision on `u`, made by `decide` the first time it is asked for.
    pub fn get_or_insert(
        &self,
        pm: PackageManager,
        seen: Option<Date>,
        u: &AvailableUpdate,
        release: Option<&str>,
        decide: impl FnOnce() -> PatchDecision,
    ) -> Arc<PatchDecision> {
        let mut h = self.hasher.build_hasher();
        pm.hash(&mut h);
        seen.hash(&mut h);
        u.name.hash(&mut h);
        u.arch.hash(&mut h);
        u.installed_version.hash(&mut h);
        u.candidate_version.hash(&mut h);
        release.hash(&mut h);
        let key = h.finish();
        let shard = &self.shards[(key as usize) % SHARDS];
        if let Some(found) = lock(shard).get(&key).and_then(|b| {
            b.iter().find(|(p, day, x, r, _)| {
                *p == pm && *day == seen && x == u && r.as_deref() == release
            })
        }) {
            return found.4.clone();
        }
        // Decided outside the lock; another thread may decide the same
        // update meanwhile, and both decisions are equal.
        let d = Arc::new(decide());
        lock(shard).entry(key).or_default().push((
            pm,
            seen,
            u.clone(),
            release.map(Box::from),
            d.clone(),
        ));
        d
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a half-written entry behind.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::baseline::{Decision, DecisionState};
    use crate::spec::baseline::{Classification, Severity};

    fn update(repository: &str) -> AvailableUpdate {
        AvailableUpdate {
            source: None,
            name: "openssl".into(),
            arch: "amd64".into(),
            installed_version: "1".into(),
            candidate_version: "2".into(),
            repository: repository.into(),
            classification: Classification::Security,
            severity: Severity::Important,
            advisory: None,
            cves: vec![],
            release_date: None,
            held_back: false,
            requires_reboot: false,
        }
    }

    fn decision(reason: &str) -> PatchDecision {
        PatchDecision {
            name: "openssl".into(),
            arch: "amd64".into(),
            from: "1".into(),
            to: "2".into(),
            classification: Classification::Security,
            severity: Severity::Important,
            advisory: None,
            cves: vec![],
            severity_source: None,
            known_exploited: false,
            vulnerabilities: vec![],
            requires_reboot: false,
            deadline: None,
            decision: Decision {
                state: DecisionState::Approved,
                reason: reason.into(),
                basis: crate::plan::baseline::Basis::Rule { rule: "r".into() },
                withheld: None,
                promotion: None,
                approved_on: None,
                compliance_level: Severity::Important,
            },
        }
    }

    #[test]
    fn equal_updates_share_a_decision_and_different_ones_do_not() {
        let cache = DecisionCache::default();
        let a = cache.get_or_insert(PackageManager::Apt, None, &update("security"), None, || {
            decision("a")
        });
        let again =
            cache.get_or_insert(PackageManager::Apt, None, &update("security"), None, || {
                panic!("decided twice")
            });
        assert!(Arc::ptr_eq(&a, &again));
        // Same hash inputs (name, arch, versions), another repository: its own decision.
        let other = cache.get_or_insert(PackageManager::Apt, None, &update("main"), None, || {
            decision("b")
        });
        assert_eq!(other.decision.reason, "b");
        let rpm = cache.get_or_insert(PackageManager::Dnf, None, &update("security"), None, || {
            decision("c")
        });
        assert_eq!(rpm.decision.reason, "c");
        // Facts scanned on another day: first sightings may differ, so its own decision.
        let day = Some(jiff::civil::date(2026, 11, 17));
        let older =
            cache.get_or_insert(PackageManager::Apt, day, &update("security"), None, || {
                decision("d")
            });
        assert_eq!(older.decision.reason, "d");
    }
}
