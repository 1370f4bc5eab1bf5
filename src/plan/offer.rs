//! An update as the planner judges it: what the host offers, with what the
//! fleet's vulnerability data adds (the CVEs it fixes, their severity,
//! known exploitation).

use crate::facts::AvailableUpdate;
use crate::spec::baseline::Severity;
use crate::vuln::Assessment;

#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    pub update: &'a AvailableUpdate,
    pub vuln: Option<&'a Assessment>,
}

impl<'a> Offer<'a> {
    /// An update the vulnerability data says nothing about.
    pub fn plain(update: &'a AvailableUpdate) -> Offer<'a> {
        Offer { update, vuln: None }
    }

    /// The OS's own severity where it publishes one (dnf updateinfo,
    /// zypper, MSRC); else the vulnerability data's; else unspecified.
    pub fn severity(&self) -> Severity {
        match (self.update.severity, self.vuln.and_then(|v| v.severity)) {
            (Severity::Unspecified, Some(s)) => s,
            (own, _) => own,
        }
    }

    /// Where [`Offer::severity`] comes from: `os`, the source's name, or none.
    pub fn severity_source(&self) -> Option<String> {
        if self.update.severity != Severity::Unspecified {
            return Some("os".into());
        }
        let v = self.vuln?;
        let s = v.severity.filter(|s| *s != Severity::Unspecified)?;
        v.cves
            .iter()
            .find(|c| c.severity == s)
            .map(|c| c.source.clone())
    }

    /// The highest CVSS base score of the CVEs it fixes, in tenths.
    pub fn cvss(&self) -> Option<u8> {
        self.vuln.and_then(|v| v.cvss)
    }

    pub fn known_exploited(&self) -> bool {
        self.vuln.is_some_and(|v| v.known_exploited)
    }

    /// Every CVE the update fixes: the OS's advisory's, then the data's.
    pub fn cve_ids(&self) -> Vec<String> {
        let mut ids = self.update.cves.clone();
        for c in self.vuln.map(|v| v.cves.as_slice()).unwrap_or_default() {
            if !ids.contains(&c.id) {
                ids.push(c.id.clone());
            }
        }
        ids
    }

    pub fn fixes(&self, cve: &str) -> bool {
        self.update.cves.iter().any(|c| c == cve)
            || self
                .vuln
                .is_some_and(|v| v.cves.iter().any(|c| c.id == cve))
    }
}
