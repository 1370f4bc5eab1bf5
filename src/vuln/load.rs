//! Reads the Fleet's vulnerability sources: files in the repository, or
//! downloads (conditional, bounded) refreshed after `refreshAfter`. The last
//! copy of each source that parsed is kept in run state ([`SourceCache`]);
//! when a source breaks — a file that no longer parses, a download that is
//! truncated, has another shape or cannot be made — the plan goes on with
//! that last good copy and a warning naming the source, what is wrong and
//! how old the copy is; with no good copy the source is left out, and the
//! warning says so. Never a silent gap.
//!
//! Blocking (files, ureq): the async engine calls it through
//! [`crate::blocking::blocking`]. The planner only ever sees the result.

use std::path::Path;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::cache::{
    CACHE_VERSION, CacheKey, CachedCopy, CopyMeta, DataOrigin, NoCache, SourceCache, sha256_hex,
};
use super::fetch::{self, FetchError, Fetched, Validators};
use super::{DataState, VulnIndex, VulnerabilityData, debian, kev, osv};
use crate::spec::Repository;
use crate::spec::fleet::{VulnerabilityFormat, VulnerabilitySource};
use crate::spec::values::human_age;

/// After a failed download, the server is asked again no sooner than this
/// (or the source's `refreshAfter`, if shorter): a daemon planning every
/// group every few minutes does not download 70 MB each time while the
/// server serves something broken.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(300);

/// The index (carrying what was used of each source, for the plan), and a
/// warning for each source that is broken, stale or left out. `now` is the
/// wall clock (not a plan's `--at`): it decides what is due for download.
pub fn load(
    root: &Path,
    repo: &Repository,
    cache: &dyn SourceCache,
    now: Timestamp,
) -> (VulnIndex, Vec<String>) {
    load_with(root, repo, cache, now, &|url, v| fetch::fetch(url, v))
}

/// How a download is made (tests give their own).
type Fetcher<'a> = &'a dyn Fn(&str, &Validators) -> Result<Fetched, FetchError>;

fn load_with(
    root: &Path,
    repo: &Repository,
    cache: &dyn SourceCache,
    now: Timestamp,
    fetcher: Fetcher<'_>,
) -> (VulnIndex, Vec<String>) {
    let mut index = VulnIndex::default();
    let mut warnings = Vec::new();
    let sources = repo
        .fleets
        .first()
        .and_then(|f| f.spec.vulnerabilities.as_ref())
        .map(|v| v.sources.as_slice())
        .unwrap_or_default();
    for src in sources {
        let Some(key) = key(src) else {
            // Neither or both of file/url: `validate` refuses it; only a
            // caller that skipped validation gets here.
            warnings.push(format!(
                "vulnerability source `{}` is left out: it needs exactly one of `file` and `url` (run `patchwave validate`)",
                src.name.value
            ));
            continue;
        };
        // Held until the source is done; without it (run state cannot be
        // written) the source is read or downloaded as if nothing were kept.
        let (_held, cache) = match cache.lock(&key) {
            Ok(g) => (Some(g), cache),
            Err(e) => {
                warnings.push(format!(
                    "vulnerability source `{}` ({}): no copy of it can be kept in run state: {e}",
                    key.name, key.location
                ));
                (None, &NoCache as &dyn SourceCache)
            }
        };
        let mut run = SourceRun {
            src,
            key: &key,
            cache,
            now,
            warnings: &mut warnings,
        };
        let got = match key.origin {
            DataOrigin::File => run.file(root),
            DataOrigin::Url => run.url(fetcher),
        };
        let used = run.finish(got, &mut index);
        index.data.push(used);
    }
    (index, warnings)
}

fn key(src: &VulnerabilitySource) -> Option<CacheKey> {
    let (origin, location) = match (&src.file, &src.url) {
        (Some(f), None) => (DataOrigin::File, f.value.clone()),
        (None, Some(u)) => (DataOrigin::Url, u.value.clone()),
        _ => return None,
    };
    Some(CacheKey {
        name: src.name.value.clone(),
        format: src.format.value,
        origin,
        location,
    })
}

/// A dataset, parsed.
enum Parsed {
    Debian(debian::Tracker),
    Ubuntu(osv::Records),
    Kev(kev::Catalog),
}

fn parse(format: VulnerabilityFormat, bytes: &[u8]) -> Result<Parsed, String> {
    match format {
        VulnerabilityFormat::DebianTracker => debian::parse(bytes).map(Parsed::Debian),
        VulnerabilityFormat::CisaKev => kev::parse(bytes).map(Parsed::Kev),
        VulnerabilityFormat::UbuntuOsv => osv::parse(bytes).map(Parsed::Ubuntu),
    }
}

/// Data to use from one source: how it was got, and its copy's metadata
/// (`None` where a source is left out).
struct Got {
    parsed: Parsed,
    state: DataState,
    meta: CopyMeta,
}

struct SourceRun<'a> {
    src: &'a VulnerabilitySource,
    key: &'a CacheKey,
    cache: &'a dyn SourceCache,
    now: Timestamp,
    warnings: &'a mut Vec<String>,
}

impl SourceRun<'_> {
    fn name(&self) -> &str {
        &self.src.name.value
    }

    fn format(&self) -> VulnerabilityFormat {
        self.src.format.value
    }

    /// `` `debian` (https://…) ``: the source as a reader finds it in the Fleet.
    fn label(&self) -> String {
        format!(
            "vulnerability source `{}` ({})",
            self.name(),
            self.key.location
        )
    }

    /// `maxAge` as the Fleet writes it, or the default.
    fn max_age_text(&self) -> String {
        self.src.max_age.as_ref().map_or_else(
            || human_age(signed(crate::spec::fleet::VULN_MAX_AGE)),
            |d| d.value.text().to_string(),
        )
    }

    fn cache_problem(&mut self, e: &str) {
        let label = self.label();
        self.warnings.push(format!(
            "{label}: its last good copy in run state cannot be used or kept: {e}"
        ));
    }

    /// The cached copy, if there is one that is whole; damage is a warning.
    fn cached(&mut self) -> Option<CachedCopy> {
        match self.cache.read(self.key) {
            Ok(c) => c,
            Err(e) => {
                self.cache_problem(&e);
                None
            }
        }
    }

    fn new_meta(&self, bytes: &[u8], validators: Validators) -> CopyMeta {
        CopyMeta {
            version: CACHE_VERSION,
            name: self.name().to_string(),
            format: self.format(),
            origin: self.key.origin,
            location: self.key.location.clone(),
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
            fetched_at: self.now,
            checked_at: self.now,
            etag: validators.etag,
            last_modified: validators.last_modified,
            failed_at: None,
            failure: None,
        }
    }

    fn store(&mut self, meta: &CopyMeta, bytes: &[u8]) {
        if let Err(e) = self.cache.store(self.key, meta, bytes) {
            self.cache_problem(&e);
        }
    }

    fn touch(&mut self, meta: &CopyMeta) {
        if let Err(e) = self.cache.touch(self.key, meta) {
            self.cache_problem(&e);
        }
    }

    /// A file in the repository, read every run; when it parses it becomes
    /// the last good copy.
    fn file(&mut self, root: &Path) -> Option<Got> {
        let read = std::fs::read(root.join(&self.key.location))
            .map_err(|e| format!("cannot read it: {e}"))
            .and_then(|bytes| parse(self.format(), &bytes).map(|p| (p, bytes)));
        match read {
            Ok((parsed, bytes)) => {
                let sha = sha256_hex(&bytes);
                let meta = match self.cache.meta(self.key) {
                    Ok(Some(mut m)) if m.sha256 == sha => {
                        m.checked_at = self.now;
                        m.failed_at = None;
                        m.failure = None;
                        self.touch(&m);
                        m
                    }
                    other => {
                        if let Err(e) = other {
                            self.cache_problem(&e);
                        }
                        let m = self.new_meta(&bytes, Validators::default());
                        self.store(&m, &bytes);
                        m
                    }
                };
                Some(Got {
                    parsed,
                    state: DataState::Fresh,
                    meta,
                })
            }
            Err(problem) => self.fall_back(&problem),
        }
    }

    /// A download, made when the cached copy was last checked longer ago
    /// than `refreshAfter` (conditionally, when there is one).
    fn url(&mut self, fetcher: Fetcher<'_>) -> Option<Got> {
        let meta = match self.cache.meta(self.key) {
            Ok(m) => m,
            Err(e) => {
                self.cache_problem(&e);
                None
            }
        };
        let refresh = self.src.refresh_after();
        if let Some(m) = &meta {
            let age = self.now.duration_since(m.checked_at);
            if age < signed(refresh) {
                // Young enough: no request at all.
                if let Some(copy) = self.cached()
                    && let Ok(parsed) = parse(self.format(), &copy.bytes)
                {
                    return Some(Got {
                        parsed,
                        state: DataState::Cached,
                        meta: copy.meta,
                    });
                }
            } else if let (Some(failed_at), Some(failure)) = (m.failed_at, &m.failure) {
                // It failed lately: not asked again before the back-off ends.
                let retry = signed(refresh.min(RETRY_AFTER_FAILURE));
                if self.now.duration_since(failed_at) < retry {
                    let problem = format!(
                        "the last attempt, at {}, failed ({failure}); the next is due after {}",
                        shown(failed_at),
                        shown(failed_at.saturating_add(retry).unwrap_or(failed_at))
                    );
                    return self.fall_back(&problem);
                }
            }
        }
        let copy = self.cached();
        let mut copy = copy.and_then(|c| match parse(self.format(), &c.bytes) {
            Ok(p) => Some((c, p)),
            // Written by a patchwave that read it differently: not a copy
            // to fall back on, nor to ask the server about.
            Err(_) => None,
        });
        let validators = copy
            .as_ref()
            .map_or_else(Validators::default, |(c, _)| Validators {
                etag: c.meta.etag.clone(),
                last_modified: c.meta.last_modified.clone(),
            });
        let url = self.key.location.clone();
        let problem = match fetcher(&url, &validators) {
            Ok(Fetched::NotModified) => match copy.take() {
                Some((mut c, parsed)) => {
                    c.meta.checked_at = self.now;
                    c.meta.failed_at = None;
                    c.meta.failure = None;
                    self.touch(&c.meta);
                    return Some(Got {
                        parsed,
                        state: DataState::Fresh,
                        meta: c.meta,
                    });
                }
                None => "the server answered 304 Not Modified to an unconditional request".into(),
            },
            Ok(Fetched::Body { bytes, validators }) => match parse(self.format(), &bytes) {
                Ok(parsed) => {
                    let meta = self.new_meta(&bytes, validators);
                    self.store(&meta, &bytes);
                    return Some(Got {
                        parsed,
                        state: DataState::Fresh,
                        meta,
                    });
                }
                Err(e) => format!("the downloaded data is not usable: {e}"),
            },
            Err(e) => e.to_string(),
        };
        if let Some((c, _)) = &copy {
            let mut m = c.meta.clone();
            m.failed_at = Some(self.now);
            m.failure = Some(problem.clone());
            self.touch(&m);
        }
        self.fall_back_to(&problem, copy)
    }

    /// The last good copy, after `problem`; or the source left out.
    fn fall_back(&mut self, problem: &str) -> Option<Got> {
        let copy = self
            .cached()
            .and_then(|c| parse(self.format(), &c.bytes).ok().map(|p| (c, p)));
        self.fall_back_to(problem, copy)
    }

    fn fall_back_to(&mut self, problem: &str, copy: Option<(CachedCopy, Parsed)>) -> Option<Got> {
        let label = self.label();
        match copy {
            Some((c, parsed)) => {
                let age = self.now.duration_since(c.meta.checked_at);
                let stale = age > signed(self.src.max_age());
                self.warnings.push(format!(
                    "{label}: {problem}; using its last good copy from run state, {} old (last {} {}){}",
                    human_age(age),
                    match c.meta.origin {
                        DataOrigin::Url => "downloaded or confirmed at",
                        DataOrigin::File => "read from the repository at",
                    },
                    shown(c.meta.checked_at),
                    if stale {
                        format!(", older than its maxAge ({})", self.max_age_text())
                    } else {
                        String::new()
                    }
                ));
                Some(Got {
                    parsed,
                    state: DataState::LastGood,
                    meta: c.meta,
                })
            }
            None => {
                self.warnings.push(format!(
                    "{label} is left out: {problem}; there is no last good copy in run state; updates it would rate keep the OS's severity"
                ));
                None
            }
        }
    }

    /// Adds what was got to the index, warns when it is older than
    /// `maxAge` (a fallback's warning already says so), and says what was
    /// used, for the plan.
    fn finish(self, got: Option<Got>, index: &mut VulnIndex) -> VulnerabilityData {
        let mut data = VulnerabilityData {
            name: self.name().to_string(),
            format: self.format(),
            origin: self.key.origin,
            location: self.key.location.clone(),
            state: DataState::LeftOut,
            fetched_at: None,
            checked_at: None,
            sha256: None,
            stale: false,
        };
        let Some(Got {
            parsed,
            state,
            meta,
        }) = got
        else {
            return data;
        };
        let age = self.now.duration_since(meta.checked_at);
        data.stale = age > signed(self.src.max_age());
        if data.stale && state != DataState::LastGood {
            self.warnings.push(format!(
                "{}: its data is {} old (last checked at {}), older than its maxAge ({}); it is used",
                self.label(),
                human_age(age),
                shown(meta.checked_at),
                self.max_age_text()
            ));
        }
        data.state = state;
        data.fetched_at = Some(meta.fetched_at);
        data.checked_at = Some(meta.checked_at);
        data.sha256 = Some(meta.sha256);
        match parsed {
            Parsed::Debian(t) => index.add_debian(self.name(), t),
            Parsed::Kev(c) => index.add_kev(self.name(), c),
            Parsed::Ubuntu(r) => index.add_ubuntu(self.name(), r),
        }
        data
    }
}

/// An instant in a warning, to the second.
fn shown(t: Timestamp) -> Timestamp {
    t.round(jiff::Unit::Second).unwrap_or(t)
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Run state in memory.
    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, (CopyMeta, Vec<u8>)>>);

    impl SourceCache for Memory {
        fn lock(&self, _: &CacheKey) -> Result<Box<dyn Send>, String> {
            Ok(Box::new(()))
        }
        fn meta(&self, k: &CacheKey) -> Result<Option<CopyMeta>, String> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .get(&k.file_stem())
                .map(|c| c.0.clone()))
        }
        fn read(&self, k: &CacheKey) -> Result<Option<CachedCopy>, String> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .get(&k.file_stem())
                .map(|(meta, bytes)| CachedCopy {
                    meta: meta.clone(),
                    bytes: bytes.clone(),
                }))
        }
        fn store(&self, k: &CacheKey, meta: &CopyMeta, bytes: &[u8]) -> Result<(), String> {
            self.0
                .lock()
                .unwrap()
                .insert(k.file_stem(), (meta.clone(), bytes.to_vec()));
            Ok(())
        }
        fn touch(&self, k: &CacheKey, meta: &CopyMeta) -> Result<(), String> {
            if let Some(c) = self.0.lock().unwrap().get_mut(&k.file_stem()) {
                c.0 = meta.clone();
            }
            Ok(())
        }
    }

    const KEV: &[u8] = include_bytes!("../../testdata/vuln/kev.json");
    const TRACKER: &[u8] = include_bytes!("../../testdata/vuln/debian-tracker.json");

    fn repo(dir: &Path, sources: &str) -> Repository {
        let yaml = format!(
            "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {{name: f}}\nspec:\n  vulnerabilities:\n    sources:\n{sources}"
        );
        std::fs::write(dir.join("fleet.yaml"), yaml).unwrap();
        let (repo, diags) = crate::spec::load::load(dir).unwrap();
        assert!(diags.is_empty(), "{diags:?}");
        repo
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_file_that_breaks_falls_back_to_its_last_good_copy() {
        let dir = tempfile::tempdir().unwrap();
        let r = repo(
            dir.path(),
            "      - {name: kev, format: cisaKev, file: kev.json, maxAge: 1d}\n",
        );
        let cache = Memory::default();
        let no_fetch: Fetcher<'_> = &|_, _| panic!("a file source downloads nothing");
        std::fs::write(dir.path().join("kev.json"), KEV).unwrap();
        let (index, warnings) =
            load_with(dir.path(), &r, &cache, t("2026-12-01T10:00:00Z"), no_fetch);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(index.kev("CVE-2014-0160").is_some());
        assert_eq!(index.data()[0].state, DataState::Fresh);

        // A commit breaks it: the copy read on Dec 1st is used, with its age.
        std::fs::write(dir.path().join("kev.json"), &KEV[..KEV.len() / 2]).unwrap();
        let (index, warnings) =
            load_with(dir.path(), &r, &cache, t("2026-12-01T13:00:00Z"), no_fetch);
        assert!(index.kev("CVE-2014-0160").is_some());
        let d = &index.data()[0];
        assert_eq!((d.state, d.stale), (DataState::LastGood, false));
        assert_eq!(d.checked_at, Some(t("2026-12-01T10:00:00Z")));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let w = &warnings[0];
        assert!(
            w.starts_with("vulnerability source `kev` (kev.json): the JSON ends early")
                && w.contains("using its last good copy from run state, 3h 0m old")
                && w.contains("read from the repository at 2026-12-01T10:00:00Z"),
            "{w}"
        );
        // Two days on, the copy is older than maxAge: still used, and said.
        let (index, warnings) =
            load_with(dir.path(), &r, &cache, t("2026-12-03T10:00:01Z"), no_fetch);
        assert!(index.data()[0].stale);
        assert!(
            warnings[0].contains("older than its maxAge (1d)"),
            "{warnings:?}"
        );

        // Without a good copy the source is left out, and that is said.
        let (index, warnings) = load_with(
            dir.path(),
            &r,
            &Memory::default(),
            t("2026-12-01T13:00:00Z"),
            no_fetch,
        );
        assert!(index.kev("CVE-2014-0160").is_none());
        assert_eq!(index.data()[0].state, DataState::LeftOut);
        assert!(
            warnings[0].starts_with(
                "vulnerability source `kev` (kev.json) is left out: the JSON ends early"
            ) && warnings[0].contains("no last good copy"),
            "{warnings:?}"
        );
    }

    #[test]
    fn downloads_are_made_when_due_conditionally_and_a_failure_is_not_retried_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let r = repo(
            dir.path(),
            "      - {name: debian, format: debianTracker, url: \"http://127.0.0.1:9/t.json\", refreshAfter: 1h}\n",
        );
        let cache = Memory::default();
        let asked: Mutex<Vec<Validators>> = Mutex::default();
        let answer: Mutex<Option<Result<Fetched, FetchError>>> = Mutex::default();
        let fetcher = |url: &str, v: &Validators| {
            assert_eq!(url, "http://127.0.0.1:9/t.json");
            asked.lock().unwrap().push(v.clone());
            answer
                .lock()
                .unwrap()
                .take()
                .expect("an unexpected request")
        };
        let set = |a: Result<Fetched, FetchError>| *answer.lock().unwrap() = Some(a);
        let body = |bytes: &[u8]| Fetched::Body {
            bytes: bytes.to_vec(),
            validators: Validators {
                etag: Some("\"v1\"".into()),
                last_modified: None,
            },
        };
        let load = |at: &str| load_with(dir.path(), &r, &cache, t(at), &fetcher);

        set(Ok(body(TRACKER)));
        let (index, warnings) = load("2026-12-01T10:00:00Z");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(index.data()[0].state, DataState::Fresh);
        assert_eq!(asked.lock().unwrap()[0], Validators::default());

        // Within refreshAfter: no request.
        let (index, _) = load("2026-12-01T10:59:00Z");
        assert_eq!(index.data()[0].state, DataState::Cached);
        assert_eq!(asked.lock().unwrap().len(), 1);

        // Due: a conditional request; 304 keeps the copy, checked now.
        set(Ok(Fetched::NotModified));
        let (index, warnings) = load("2026-12-01T11:00:00Z");
        assert!(warnings.is_empty(), "{warnings:?}");
        let d = &index.data()[0];
        assert_eq!(d.state, DataState::Fresh);
        assert_eq!(d.fetched_at, Some(t("2026-12-01T10:00:00Z")));
        assert_eq!(d.checked_at, Some(t("2026-12-01T11:00:00Z")));
        assert_eq!(asked.lock().unwrap()[1].etag.as_deref(), Some("\"v1\""));

        // Due again, and the server is down: the copy, with its age.
        set(Err(FetchError::Unreachable("connection refused".into())));
        let (index, warnings) = load("2026-12-01T12:30:00Z");
        assert_eq!(index.data()[0].state, DataState::LastGood);
        assert!(
            warnings[0].contains("it is unreachable: connection refused; using its last good copy from run state, 1h 30m old"),
            "{warnings:?}"
        );
        // A minute later nothing is asked (the back-off), and it is still said.
        let (index, warnings) = load("2026-12-01T12:31:00Z");
        assert_eq!(asked.lock().unwrap().len(), 3);
        assert_eq!(index.data()[0].state, DataState::LastGood);
        assert!(
            warnings[0].contains("failed (it is unreachable: connection refused)"),
            "{warnings:?}"
        );
        // After the back-off, asked again: another shape is not stored.
        set(Ok(body(KEV)));
        let (index, warnings) = load("2026-12-01T12:36:00Z");
        assert_eq!(asked.lock().unwrap().len(), 4);
        assert_eq!(index.data()[0].state, DataState::LastGood);
        assert!(
            warnings[0].contains("the downloaded data is not usable: it has another shape"),
            "{warnings:?}"
        );
        set(Ok(Fetched::NotModified));
        let (index, warnings) = load("2026-12-01T12:42:00Z");
        assert!(
            warnings.is_empty(),
            "the tracker copy was kept: {warnings:?}"
        );
        assert_eq!(index.data()[0].state, DataState::Fresh);
    }
}
