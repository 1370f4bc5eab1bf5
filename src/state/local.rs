//! Run state in local files: `first-seen.json`, `hosts/<host>.json`, and a
//! `lock` file that serialises writers (one machine; replicas will use etcd).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::record::{CheckResult, FirstSeen, HostRecord, STATE_VERSION};
use super::{FailedInstalls, Fence, GroupLease, InstallAttempt, RunState, StateError};
use crate::blocking::blocking;
use crate::facts::{HostScan, PackageKey};
use crate::plan::host::FailedInstall;
use crate::rollout::record::{RUN_VERSION, RunRecord};
use crate::spec::values::check_host_name;

mod vuln;

/// Run state kept under one directory.
#[derive(Debug, Clone)]
pub struct LocalState {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FirstSeenFile {
    version: u32,
    seen: Vec<Sighting>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Sighting {
    package: String,
    version: String,
    first_seen: Timestamp,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FailedInstallsFile {
    version: u32,
    failed: Vec<FailedRow>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FailedRow {
    host: String,
    package: PackageKey,
    version: String,
    at: Timestamp,
    error: String,
}

/// `scans/<host>.json`: the host's latest scan, whole.
#[derive(Serialize, Deserialize)]
struct LastScanFile {
    version: u32,
    scan: HostScan,
}

impl LocalState {
    pub fn new(dir: impl Into<PathBuf>) -> LocalState {
        LocalState { dir: dir.into() }
    }

    /// `$PATCHWAVE_STATE_DIR`, else `$XDG_STATE_HOME/patchwave/<fleet>`, else
    /// `~/.local/state/patchwave/<fleet>`: one directory per fleet, so two
    /// fleets with a host of the same name never share its record.
    pub fn default_dir(fleet: &str) -> Result<PathBuf, StateError> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(d) = env("PATCHWAVE_STATE_DIR") {
            return Ok(d);
        }
        let base = env("XDG_STATE_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".local/state")))
            .ok_or_else(|| {
                StateError("neither XDG_STATE_HOME nor HOME is set; pass --state-dir".into())
            })?;
        Ok(base.join("patchwave").join(fleet))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn first_seen_path(&self) -> PathBuf {
        self.dir.join("first-seen.json")
    }

    fn run_path(&self, id: &str) -> Result<PathBuf, StateError> {
        check_host_name(id).map_err(|_| StateError(format!("`{id}` is not a run id")))?;
        Ok(self.dir.join("runs").join(format!("{id}.json")))
    }

    fn token_path(&self, group: &str) -> Result<PathBuf, StateError> {
        check_host_name(group).map_err(|_| StateError(format!("`{group}` is not a group name")))?;
        Ok(self.dir.join("groups").join(format!("{group}.token")))
    }

    /// The newest lease token granted on `group` (0: never leased).
    fn lease_token(&self, group: &str) -> Result<Fence, StateError> {
        Ok(Fence(
            self.read::<u64>(&self.token_path(group)?)?.unwrap_or(0),
        ))
    }

    fn open_run_path(&self, group: &str) -> Result<PathBuf, StateError> {
        check_host_name(group).map_err(|_| StateError(format!("`{group}` is not a group name")))?;
        Ok(self.dir.join("groups").join(format!("{group}.open-run")))
    }

    fn scan_path(&self, host: &str) -> Result<PathBuf, StateError> {
        check_host_name(host).map_err(|e| StateError(format!("run state: {e}")))?;
        Ok(self.dir.join("scans").join(format!("{host}.json")))
    }

    fn failed_path(&self) -> PathBuf {
        self.dir.join("failed-installs.json")
    }

    fn host_path(&self, host: &str) -> Result<PathBuf, StateError> {
        check_host_name(host).map_err(|e| StateError(format!("run state: {e}")))?;
        Ok(self.dir.join("hosts").join(format!("{host}.json")))
    }

    /// Holds the writer lock until dropped (the lock is released with the file).
    fn lock(&self) -> Result<File, StateError> {
        std::fs::create_dir_all(self.dir.join("hosts")).map_err(|e| {
            StateError(format!(
                "cannot create the run state directory {}: {e}; pass --state-dir to use another",
                self.dir.display()
            ))
        })?;
        let path = self.dir.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StateError(format!("cannot open {}: {e}", path.display())))?;
        f.lock()
            .map_err(|e| StateError(format!("cannot lock {}: {e}", path.display())))?;
        Ok(f)
    }

    fn read<T: for<'de> Deserialize<'de>>(&self, path: &Path) -> Result<Option<T>, StateError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError(format!("cannot read {}: {e}", path.display()))),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            let full = e.to_string();
            let what = full.split(" at line ").next().unwrap_or(&full);
            StateError(format!(
                "{}:{}:{}: damaged run state: {what}; move the file aside and scan again \
                 (the dates it held restart from the next scan)",
                path.display(),
                e.line(),
                e.column()
            ))
        })
    }

    /// Writes through a temporary file and a rename, so readers never see half a record.
    fn write<T: Serialize>(&self, path: &Path, value: &T) -> Result<(), StateError> {
        let fail =
            |e: &dyn std::fmt::Display| StateError(format!("cannot write {}: {e}", path.display()));
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(|e| fail(&e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| fail(&e))?;
        serde_json::to_writer_pretty(&mut tmp, value).map_err(|e| fail(&e))?;
        tmp.write_all(b"\n").map_err(|e| fail(&e))?;
        tmp.as_file().sync_all().map_err(|e| fail(&e))?;
        tmp.persist(path).map_err(|e| fail(&e.error))?;
        Ok(())
    }

    fn write_first_seen(&self, fs: &FirstSeen) -> Result<(), StateError> {
        let file = FirstSeenFile {
            version: STATE_VERSION,
            seen: fs
                .0
                .iter()
                .map(|((package, version), t)| Sighting {
                    package: package.clone(),
                    version: version.clone(),
                    first_seen: *t,
                })
                .collect(),
        };
        self.write(&self.first_seen_path(), &file)
    }

    fn check_version(path: &Path, version: u32) -> Result<(), StateError> {
        if version == STATE_VERSION {
            Ok(())
        } else {
            Err(StateError(format!(
                "{}: run state version {version} is not {STATE_VERSION}; \
                 it was written by another patchwave release",
                path.display()
            )))
        }
    }
}

/// The store's work, done on the calling thread; [`RunState`] runs it off
/// the async threads.
impl LocalState {
    fn first_seen_blocking(&self) -> Result<FirstSeen, StateError> {
        let path = self.first_seen_path();
        let Some(file) = self.read::<FirstSeenFile>(&path)? else {
            return Ok(FirstSeen::default());
        };
        Self::check_version(&path, file.version)?;
        let mut map = BTreeMap::new();
        for s in file.seen {
            map.insert((s.package, s.version), s.first_seen);
        }
        Ok(FirstSeen(map))
    }

    fn host_blocking(&self, host: &str) -> Result<Option<HostRecord>, StateError> {
        let path = self.host_path(host)?;
        let record = self.read::<HostRecord>(&path)?;
        if let Some(r) = &record {
            Self::check_version(&path, r.version)?;
            if r.host != host {
                return Err(StateError(format!(
                    "{}: holds the record of `{}`, not `{host}`; move it aside",
                    path.display(),
                    r.host
                )));
            }
        }
        Ok(record)
    }

    fn record_scan_blocking(&self, scans: &[HostScan]) -> Result<(), StateError> {
        let _lock = self.lock()?;
        let mut first_seen = self.first_seen_blocking()?;
        let mut changed = false;
        for s in scans {
            changed |= first_seen.observe(s);
        }
        if changed {
            self.write_first_seen(&first_seen)?;
        }
        for s in scans {
            let previous = self.host_blocking(&s.host)?;
            if let Some(next) = HostRecord::after_scan(previous.as_ref(), s) {
                self.write(&self.host_path(&s.host)?, &next)?;
            }
            let path = self.scan_path(&s.host)?;
            let newer = self
                .read::<LastScanFile>(&path)?
                .is_none_or(|old| old.scan.scanned_at < s.scanned_at);
            if newer {
                let file = LastScanFile {
                    version: STATE_VERSION,
                    scan: s.clone(),
                };
                self.write(&path, &file)?;
            }
        }
        Ok(())
    }

    fn last_scans_blocking(&self, hosts: &[&str]) -> Result<Vec<HostScan>, StateError> {
        let mut out = Vec::new();
        for h in hosts {
            let path = self.scan_path(h)?;
            if let Some(file) = self.read::<LastScanFile>(&path)? {
                Self::check_version(&path, file.version)?;
                out.push(file.scan);
            }
        }
        Ok(out)
    }

    fn failed_installs_blocking(&self) -> Result<FailedInstalls, StateError> {
        let path = self.failed_path();
        let Some(file) = self.read::<FailedInstallsFile>(&path)? else {
            return Ok(FailedInstalls::new());
        };
        Self::check_version(&path, file.version)?;
        Ok(file
            .failed
            .into_iter()
            .map(|r| {
                (
                    (r.host, r.package),
                    FailedInstall {
                        version: r.version,
                        at: r.at,
                        error: r.error,
                    },
                )
            })
            .collect())
    }

    fn record_install_blocking(&self, attempt: &InstallAttempt<'_>) -> Result<(), StateError> {
        let _lock = self.lock()?;
        let mut failed = self.failed_installs_blocking()?;
        attempt.apply_to(&mut failed);
        let file = FailedInstallsFile {
            version: STATE_VERSION,
            failed: failed
                .into_iter()
                .map(|((host, package), f)| FailedRow {
                    host,
                    package,
                    version: f.version,
                    at: f.at,
                    error: f.error,
                })
                .collect(),
        };
        self.write(&self.failed_path(), &file)
    }

    fn save_run_blocking(&self, run: &RunRecord, fence: Fence) -> Result<(), StateError> {
        let path = self.run_path(&run.id)?;
        let open = self.open_run_path(&run.group)?;
        // Checked and written under the store's lock: a lease granted
        // meanwhile cannot slip between the check and the write.
        let _lock = self.lock()?;
        let newest = self.lease_token(&run.group)?;
        if newest > fence {
            return Err(StateError(format!(
                "group `{}`: a newer lease (token {}) was granted since this writer's (token {}); it stops writing",
                run.group, newest.0, fence.0
            )));
        }
        for dir in [path.parent(), open.parent()].into_iter().flatten() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StateError(format!("cannot create {}: {e}", dir.display())))?;
        }
        self.write(&path, run)?;
        if run.kind != crate::rollout::record::RunKind::Apply {
            return Ok(());
        }
        if run.is_open() {
            self.write(&open, &run.id)
        } else {
            match std::fs::remove_file(&open) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(StateError(format!("cannot remove {}: {e}", open.display())))
                }
                _ => Ok(()),
            }
        }
    }

    fn load_run_blocking(&self, id: &str) -> Result<Option<RunRecord>, StateError> {
        let path = self.run_path(id)?;
        let run = self.read::<RunRecord>(&path)?;
        if let Some(r) = &run
            && r.version != RUN_VERSION
        {
            return Err(StateError(format!(
                "{}: run record version {} is not {RUN_VERSION}",
                path.display(),
                r.version
            )));
        }
        Ok(run)
    }

    fn open_run_blocking(&self, group: &str) -> Result<Option<RunRecord>, StateError> {
        let Some(id) = self.read::<String>(&self.open_run_path(group)?)? else {
            return Ok(None);
        };
        Ok(self.load_run_blocking(&id)?.filter(|r| r.is_open()))
    }

    fn recent_runs_blocking(&self, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let dir = self.dir.join("runs");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StateError(format!("cannot read {}: {e}", dir.display()))),
        };
        let mut runs = Vec::new();
        for e in entries.flatten() {
            let path = e.path();
            // Records only: a killed writer may leave a temporary file.
            if path.extension().is_some_and(|x| x == "json")
                && let Some(r) = self.read::<RunRecord>(&path)?
            {
                runs.push(r);
            }
        }
        runs.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(a.id.cmp(&b.id)));
        runs.truncate(limit);
        Ok(runs)
    }

    fn lease_group_blocking(&self, group: &str) -> Result<GroupLease, StateError> {
        let path = self.dir.join("groups").join(format!("{group}.lock"));
        check_host_name(group).map_err(|_| StateError(format!("`{group}` is not a group name")))?;
        std::fs::create_dir_all(self.dir.join("groups"))
            .map_err(|e| StateError(format!("cannot create {}: {e}", self.dir.display())))?;
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StateError(format!("cannot open {}: {e}", path.display())))?;
        match f.try_lock() {
            Ok(()) => {
                // A token newer than every earlier lease's (monotonic, kept
                // in groups/<group>.token).
                let _lock = self.lock()?;
                let token = Fence(self.lease_token(group)?.0 + 1);
                self.write(&self.token_path(group)?, &token.0)?;
                Ok(GroupLease::new(group, token, f))
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(StateError(format!(
                "another apply is running on group `{group}` (it holds {}); wait for it to finish",
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(StateError(format!("cannot lock {}: {e}", path.display())))
            }
        }
    }

    fn record_health_blocking(
        &self,
        host: &str,
        at: Timestamp,
        checks: &[CheckResult],
    ) -> Result<(), StateError> {
        let _lock = self.lock()?;
        let Some(record) = self.host_blocking(host)? else {
            return Err(StateError(format!(
                "no run state for host `{host}`: scan it before recording its health"
            )));
        };
        let next = record.after_health(at, checks);
        self.write(&self.host_path(host)?, &next)
    }
}

#[async_trait::async_trait]
impl RunState for LocalState {
    async fn first_seen(&self) -> Result<FirstSeen, StateError> {
        blocking(|| self.first_seen_blocking())
    }

    async fn host(&self, host: &str) -> Result<Option<HostRecord>, StateError> {
        blocking(|| self.host_blocking(host))
    }

    async fn record_scan(&self, scans: &[HostScan]) -> Result<(), StateError> {
        blocking(|| self.record_scan_blocking(scans))
    }

    async fn last_scans(&self, hosts: &[&str]) -> Result<Vec<HostScan>, StateError> {
        blocking(|| self.last_scans_blocking(hosts))
    }

    async fn record_health(
        &self,
        host: &str,
        at: Timestamp,
        checks: &[CheckResult],
    ) -> Result<(), StateError> {
        blocking(|| self.record_health_blocking(host, at, checks))
    }

    async fn failed_installs(&self) -> Result<FailedInstalls, StateError> {
        blocking(|| self.failed_installs_blocking())
    }

    async fn record_install(&self, attempt: &InstallAttempt<'_>) -> Result<(), StateError> {
        blocking(|| self.record_install_blocking(attempt))
    }

    async fn save_run(&self, run: &RunRecord, fence: Fence) -> Result<(), StateError> {
        blocking(|| self.save_run_blocking(run, fence))
    }

    async fn load_run(&self, id: &str) -> Result<Option<RunRecord>, StateError> {
        blocking(|| self.load_run_blocking(id))
    }

    async fn open_run(&self, group: &str) -> Result<Option<RunRecord>, StateError> {
        blocking(|| self.open_run_blocking(group))
    }

    async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        blocking(|| self.recent_runs_blocking(limit))
    }

    async fn lease_group(&self, group: &str) -> Result<GroupLease, StateError> {
        blocking(|| self.lease_group_blocking(group))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fixture::scan;

    #[test]
    fn records_survive_a_reload_and_an_empty_store_reads_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalState::new(dir.path().join("state"));
        assert_eq!(store.first_seen_blocking().unwrap(), FirstSeen::default());
        assert_eq!(store.host_blocking("h1").unwrap(), None);
        assert!(
            !dir.path().join("state").exists(),
            "reading creates nothing"
        );
        store
            .record_scan_blocking(&[scan(
                "h1",
                "2026-11-01T10:00:00Z",
                &[("vim", "1")],
                &[("vim", "2")],
            )])
            .unwrap();
        store
            .record_health_blocking(
                "h1",
                "2026-11-01T11:00:00Z".parse().unwrap(),
                &crate::state::record::tests::checks(true),
            )
            .unwrap();
        let again = LocalState::new(dir.path().join("state"));
        assert_eq!(
            again.first_seen_blocking().unwrap().0[&("vim".into(), "2".into())],
            "2026-11-01T10:00:00Z".parse::<Timestamp>().unwrap()
        );
        let h = again.host_blocking("h1").unwrap().unwrap();
        assert_eq!(h.installed[&"vim:amd64".into()].version, "1");
        // The latest scan is kept whole; an older one never replaces it.
        let last = again.last_scans_blocking(&["h1", "h2"]).unwrap();
        assert_eq!(last.len(), 1, "h2 was never scanned");
        assert_eq!(last[0].scanned_at, "2026-11-01T10:00:00Z".parse().unwrap());
        again
            .record_scan_blocking(&[scan("h1", "2026-10-01T10:00:00Z", &[("vim", "0")], &[])])
            .unwrap();
        let last = again.last_scans_blocking(&["h1"]).unwrap();
        assert_eq!(last[0].scanned_at, "2026-11-01T10:00:00Z".parse().unwrap());
        assert!(h.health.unwrap().healthy);
        // A failed install is remembered until the package installs.
        let vim = "vim:amd64".into();
        let attempt = |outcome| InstallAttempt {
            host: "h1",
            package: &vim,
            version: "2",
            at: "2026-11-02T22:00:00Z".parse().unwrap(),
            outcome,
        };
        again
            .record_install_blocking(&attempt(Err("dpkg: error")))
            .unwrap();
        let failed = again.failed_installs_blocking().unwrap();
        assert_eq!(
            failed[&("h1".into(), "vim:amd64".into())].error,
            "dpkg: error"
        );
        again.record_install_blocking(&attempt(Ok(()))).unwrap();
        assert!(again.failed_installs_blocking().unwrap().is_empty());
        let err = again
            .record_health_blocking(
                "h9",
                "2026-11-01T11:00:00Z".parse().unwrap(),
                &crate::state::record::tests::checks(true),
            )
            .unwrap_err();
        assert!(err.0.contains("scan it before"), "{err}");
    }

    #[test]
    fn two_writers_at_once_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalState::new(dir.path());
        std::thread::scope(|s| {
            for w in 0..2 {
                let store = &store;
                s.spawn(move || {
                    for i in 0..25 {
                        let host = format!("h{w}");
                        let at = format!("2026-11-01T10:{i:02}:00Z");
                        store
                            .record_scan_blocking(&[{
                                let pkg = format!("p{w}-{i}");
                                scan(&host, &at, &[(pkg.as_str(), "1")], &[(pkg.as_str(), "2")])
                            }])
                            .unwrap();
                    }
                });
            }
        });
        let fs = store.first_seen_blocking().unwrap();
        assert_eq!(fs.0.len(), 50, "every writer's sightings are kept");
        assert_eq!(
            store.host_blocking("h0").unwrap().unwrap().installed.len(),
            1
        );
        assert_eq!(
            store.host_blocking("h1").unwrap().unwrap().installed[&"p1-24:amd64".into()].version,
            "1"
        );
    }

    #[test]
    fn damaged_or_foreign_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalState::new(dir.path());
        std::fs::write(
            dir.path().join("first-seen.json"),
            "{\"version\": 1,\n  \"seen\": [x]}",
        )
        .unwrap();
        let err = store.first_seen_blocking().unwrap_err().0;
        assert!(
            err.contains("first-seen.json:2:12: damaged run state: expected value;"),
            "{err}"
        );
        assert!(err.contains("move the file aside"), "{err}");
        std::fs::write(
            dir.path().join("first-seen.json"),
            "{\"version\": 7, \"seen\": []}",
        )
        .unwrap();
        let err = store.first_seen_blocking().unwrap_err().0;
        assert!(err.contains("run state version 7 is not 1"), "{err}");
        let err = store.host_blocking("../etc/passwd").unwrap_err().0;
        assert!(err.contains("not a valid host name"), "{err}");
    }

    /// One holder per group; every lease's token is newer than the last,
    /// and a writer whose lease was superseded can no longer save its run.
    /// A released lease, taken again. A process another test thread starts
    /// at that moment holds a copy of the lock's descriptor until it execs
    /// (the lock is `flock`): that is waited out, bounded.
    fn lease_when_free(store: &LocalState, group: &str) -> GroupLease {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match store.lease_group_blocking(group) {
                Ok(l) => return l,
                Err(e) if std::time::Instant::now() < deadline => {
                    assert!(e.0.contains("another apply is running"), "{e}");
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn leases_are_exclusive_and_fence_out_a_superseded_writer() {
        use crate::rollout::record::{RunKind, RunRecord};
        let dir = tempfile::tempdir().unwrap();
        let store = LocalState::new(dir.path());
        let run = RunRecord::start(
            RunKind::Apply,
            "r1".into(),
            "web",
            "2026-12-02T00:00:00Z".parse().unwrap(),
            "t".into(),
        );
        let first = store.lease_group_blocking("web").unwrap();
        assert_eq!(first.token, Fence(1));
        let busy = store.lease_group_blocking("web").err().unwrap();
        assert!(busy.0.contains("another apply is running"), "{busy}");
        store.save_run_blocking(&run, first.token).unwrap();
        let stale = first.token;
        drop(first);
        // Another holder takes the group: the first one is fenced out.
        let second = lease_when_free(&store, "web");
        assert_eq!(second.token, Fence(2));
        let err = store.save_run_blocking(&run, stale).unwrap_err();
        assert!(
            err.0
                .contains("a newer lease (token 2) was granted since this writer's (token 1)"),
            "{err}"
        );
        store.save_run_blocking(&run, second.token).unwrap();
        // Tokens survive the process: a new store on the same files goes on counting.
        drop(second);
        assert_eq!(
            lease_when_free(&LocalState::new(dir.path()), "web").token,
            Fence(3)
        );
        assert_eq!(
            store.lease_group_blocking("db").unwrap().token,
            Fence(1),
            "per group"
        );
    }
}
