//! The last good copy of each vulnerability source, kept in run state: what
//! [`super::load`] falls back on when a download or a file breaks, and what
//! spares a download while a copy is younger than its `refreshAfter`. The
//! loader defines what it needs; run state implements it
//! (`vuln/` in the local store).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::spec::fleet::VulnerabilityFormat;

/// Where a source's data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DataOrigin {
    /// A file in the fleet repository.
    File,
    /// Downloaded from a URL.
    Url,
}

/// Which cached copy: a source as the Fleet declares it. A renamed source,
/// another format, a moved file or a new URL starts afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    pub name: String,
    pub format: VulnerabilityFormat,
    pub origin: DataOrigin,
    /// The repository path or the URL.
    pub location: String,
}

impl CacheKey {
    /// A file name for the key: its readable part (the name, cut to safe
    /// characters) and a hash of the whole key.
    pub fn file_stem(&self) -> String {
        use sha2::Digest;
        let origin = match self.origin {
            DataOrigin::File => "file",
            DataOrigin::Url => "url",
        };
        let format = self.format.as_str();
        let mut h = sha2::Sha256::new();
        for part in [self.name.as_str(), format, origin, self.location.as_str()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let readable: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        format!("{readable}-{}", &hex::encode(h.finalize())[..16])
    }
}

/// What is known about a cached copy (`vuln/<key>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CopyMeta {
    pub version: u32,
    pub name: String,
    pub format: VulnerabilityFormat,
    pub origin: DataOrigin,
    pub location: String,
    /// Of the data: it names the data file, and is checked when read.
    pub sha256: String,
    pub size: u64,
    /// When these bytes were downloaded (or first read from the repository).
    pub fetched_at: Timestamp,
    /// When the origin last confirmed them: a download, a 304, a read of
    /// the same file. The data's age counts from here.
    pub checked_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// The last attempt that failed, when it came after `checked_at`: a
    /// failing server is not asked again at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<Timestamp>,
    /// What went wrong then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Version of [`CopyMeta`].
pub const CACHE_VERSION: u32 = 1;

/// A cached copy, read back.
#[derive(Debug)]
pub struct CachedCopy {
    pub meta: CopyMeta,
    pub bytes: Vec<u8>,
}

/// The store of last good copies. Blocking: callers on async threads use
/// [`crate::blocking::blocking`].
pub trait SourceCache: Send + Sync {
    /// Held while a source is checked, fetched and stored, so two runs (the
    /// daemon's groups) never download the same source at once; the second
    /// finds the first's copy.
    fn lock(&self, key: &CacheKey) -> Result<Box<dyn Send>, String>;
    /// The copy's metadata, without reading the data.
    fn meta(&self, key: &CacheKey) -> Result<Option<CopyMeta>, String>;
    /// The copy, its data checked against its hash.
    fn read(&self, key: &CacheKey) -> Result<Option<CachedCopy>, String>;
    /// Stores data that parsed, with its metadata, replacing the last copy
    /// atomically (a reader sees the old copy or the new one).
    fn store(&self, key: &CacheKey, meta: &CopyMeta, bytes: &[u8]) -> Result<(), String>;
    /// Updates the metadata of the copy in place (a 304, a failure), the
    /// data unchanged.
    fn touch(&self, key: &CacheKey, meta: &CopyMeta) -> Result<(), String>;
}

/// No cache (tests, callers without run state): every source is read or
/// downloaded every time, and a broken one is left out.
pub struct NoCache;

impl SourceCache for NoCache {
    fn lock(&self, _: &CacheKey) -> Result<Box<dyn Send>, String> {
        Ok(Box::new(()))
    }
    fn meta(&self, _: &CacheKey) -> Result<Option<CopyMeta>, String> {
        Ok(None)
    }
    fn read(&self, _: &CacheKey) -> Result<Option<CachedCopy>, String> {
        Ok(None)
    }
    fn store(&self, _: &CacheKey, _: &CopyMeta, _: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn touch(&self, _: &CacheKey, _: &CopyMeta) -> Result<(), String> {
        Ok(())
    }
}

/// The sha256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
