//! `vuln/`: the last good copy of each vulnerability source. Per source
//! (a key of its name, origin and location): `<key>.json`, the metadata
//! (when fetched and last confirmed, ETag, Last-Modified, sha256), and
//! `<key>.<sha256 prefix>.data`, the bytes as downloaded or read. A new copy
//! is written beside the old one and the metadata switched to it (each file
//! replaced atomically), so a reader finds the old copy or the new one,
//! whole; the data is checked against its hash when read. `<key>.lock` is
//! held while a source is checked and downloaded.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use super::LocalState;
use crate::vuln::cache::{CACHE_VERSION, CacheKey, CachedCopy, CopyMeta, SourceCache, sha256_hex};

impl LocalState {
    fn vuln_dir(&self) -> PathBuf {
        self.dir.join("vuln")
    }

    fn vuln_meta_path(&self, key: &CacheKey) -> PathBuf {
        self.vuln_dir().join(format!("{}.json", key.file_stem()))
    }

    fn vuln_data_path(&self, key: &CacheKey, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..16).unwrap_or(sha256);
        self.vuln_dir()
            .join(format!("{}.{prefix}.data", key.file_stem()))
    }
}

impl SourceCache for LocalState {
    fn lock(&self, key: &CacheKey) -> Result<Box<dyn Send>, String> {
        let dir = self.vuln_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join(format!("{}.lock", key.file_stem()));
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        f.lock()
            .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
        Ok(Box::new(f))
    }

    fn meta(&self, key: &CacheKey) -> Result<Option<CopyMeta>, String> {
        let path = self.vuln_meta_path(key);
        let Some(meta) = self.read::<CopyMeta>(&path).map_err(|e| e.0)? else {
            return Ok(None);
        };
        if meta.version != CACHE_VERSION {
            return Err(format!(
                "{}: version {} is not {CACHE_VERSION}; it was written by another patchwave release (remove it)",
                path.display(),
                meta.version
            ));
        }
        if meta.name != key.name
            || meta.format != key.format
            || meta.origin != key.origin
            || meta.location != key.location
        {
            return Err(format!(
                "{}: holds the copy of `{}` ({}), not this source's; remove it",
                path.display(),
                meta.name,
                meta.location
            ));
        }
        Ok(Some(meta))
    }

    fn read(&self, key: &CacheKey) -> Result<Option<CachedCopy>, String> {
        let Some(meta) = self.meta(key)? else {
            return Ok(None);
        };
        let path = self.vuln_data_path(key, &meta.sha256);
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if sha256_hex(&bytes) != meta.sha256 {
            return Err(format!(
                "{} is damaged: its sha256 is not the one recorded; remove it",
                path.display()
            ));
        }
        Ok(Some(CachedCopy { meta, bytes }))
    }

    fn store(&self, key: &CacheKey, meta: &CopyMeta, bytes: &[u8]) -> Result<(), String> {
        let dir = self.vuln_dir();
        let path = self.vuln_data_path(key, &meta.sha256);
        let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
        std::fs::create_dir_all(&dir).map_err(|e| fail(&e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| fail(&e))?;
        tmp.write_all(bytes).map_err(|e| fail(&e))?;
        tmp.as_file().sync_all().map_err(|e| fail(&e))?;
        tmp.persist(&path).map_err(|e| fail(&e.error))?;
        self.touch(key, meta)?;
        // Earlier copies of this source are no longer named by its metadata.
        let stem = format!("{}.", key.file_stem());
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(&stem) && name.ends_with(".data") && e.path() != path {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    fn touch(&self, key: &CacheKey, meta: &CopyMeta) -> Result<(), String> {
        self.write(&self.vuln_meta_path(key), meta).map_err(|e| e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::fleet::VulnerabilityFormat;
    use crate::vuln::DataOrigin;

    fn meta(key: &CacheKey, bytes: &[u8]) -> CopyMeta {
        CopyMeta {
            version: CACHE_VERSION,
            name: key.name.clone(),
            format: key.format,
            origin: key.origin,
            location: key.location.clone(),
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
            fetched_at: "2026-12-01T10:00:00Z".parse().unwrap(),
            checked_at: "2026-12-01T10:00:00Z".parse().unwrap(),
            etag: Some("\"e1\"".into()),
            last_modified: None,
            failed_at: None,
            failure: None,
        }
    }

    #[test]
    fn copies_are_replaced_whole_and_checked_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalState::new(dir.path());
        // (LocalState's own `read` and `lock` are another store's.)
        let store: &dyn SourceCache = &local;
        let key = CacheKey {
            name: "kev".into(),
            format: VulnerabilityFormat::CisaKev,
            origin: DataOrigin::Url,
            location: "https://example.com/kev.json".into(),
        };
        assert!(store.read(&key).unwrap().is_none());
        assert!(!dir.path().join("vuln").exists(), "reading creates nothing");
        let _held = store.lock(&key).unwrap();
        store.store(&key, &meta(&key, b"one"), b"one").unwrap();
        store.store(&key, &meta(&key, b"two"), b"two").unwrap();
        let copy = store.read(&key).unwrap().unwrap();
        assert_eq!(copy.bytes, b"two");
        assert_eq!(copy.meta.etag.as_deref(), Some("\"e1\""));
        let data: Vec<_> = std::fs::read_dir(dir.path().join("vuln"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".data"))
            .collect();
        assert_eq!(data.len(), 1, "the older copy is removed");

        // Another source's key finds nothing; a damaged copy is an error.
        let other = CacheKey {
            location: "https://example.com/other.json".into(),
            ..key.clone()
        };
        assert!(store.read(&other).unwrap().is_none());
        std::fs::write(data[0].path(), b"twx").unwrap();
        let e = store.read(&key).unwrap_err();
        assert!(e.contains("is damaged"), "{e}");
    }
}
