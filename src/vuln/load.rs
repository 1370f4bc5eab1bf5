//! Reads the Fleet's vulnerability sources from the repository. A source
//! that cannot be read or parsed is a warning naming it and its file; the
//! plan goes on without that source (and says so), never silently.

use std::path::Path;

use super::{VulnIndex, debian, kev};
use crate::spec::Repository;
use crate::spec::fleet::VulnerabilityFormat;

/// The index, and a warning for each source left out.
pub fn load(root: &Path, repo: &Repository) -> (VulnIndex, Vec<String>) {
    let mut index = VulnIndex::default();
    let mut warnings = Vec::new();
    let sources = repo
        .fleets
        .first()
        .and_then(|f| f.spec.vulnerabilities.as_ref())
        .map(|v| v.sources.as_slice())
        .unwrap_or_default();
    for src in sources {
        let name = &src.name.value;
        let file = &src.file.value;
        let read = std::fs::read(root.join(file)).map_err(|e| format!("cannot read it: {e}"));
        let added = read.and_then(|bytes| match src.format.value {
            VulnerabilityFormat::DebianTracker => {
                debian::parse(&bytes).map(|t| index.add_debian(name, t))
            }
            VulnerabilityFormat::CisaKev => kev::parse(&bytes).map(|c| index.add_kev(name, c)),
        });
        if let Err(e) = added {
            warnings.push(format!(
                "vulnerability source `{name}` ({file}) is left out: {e}; updates it would rate keep the OS's severity"
            ));
        }
    }
    (index, warnings)
}
