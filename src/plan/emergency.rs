//! EmergencyChange resources at one instant: which are in force, what they
//! cover, and what they allow. Pure: the planner and `apply` ask the same
//! questions of the same commit and get the same answers.

use jiff::Timestamp;
use serde::Serialize;

use crate::spec::Repository;
use crate::spec::baseline::ExactApproval;

/// One EmergencyChange that has not expired at the plan's instant.
#[derive(Debug, Clone)]
pub struct Emergency<'a> {
    pub name: &'a str,
    pub reason: &'a str,
    pub expires: Timestamp,
    pub allow_outside_window: bool,
    pub break_freeze: bool,
    groups: Vec<&'a str>,
    hosts: Vec<&'a str>,
    pub approvals: &'a [ExactApproval],
    /// The file that holds it, relative to the repository (its commit is
    /// the audit trail).
    pub file: &'a std::path::Path,
}

impl Emergency<'_> {
    /// Whether it covers `host` of `group` (by the group or by the host).
    pub fn covers(&self, group: &str, host: &str) -> bool {
        self.groups.contains(&group) || self.hosts.contains(&host)
    }

    /// Whether it covers every host of `group`, not only some.
    pub fn covers_group(&self, group: &str) -> bool {
        self.groups.contains(&group)
    }
}

/// The EmergencyChanges in force at `now`, by name. An expired one (or one
/// whose `expires` does not parse, which validation refuses) has no effect.
pub fn in_force(repo: &Repository, now: Timestamp) -> Vec<Emergency<'_>> {
    let mut out: Vec<Emergency<'_>> = repo
        .emergencies
        .iter()
        .filter_map(|e| {
            let expires = e.spec.expires.get()?;
            (now < expires).then(|| Emergency {
                name: e.name(),
                reason: e.spec.reason.value.trim(),
                expires,
                allow_outside_window: e.spec.allow_outside_window,
                break_freeze: e.spec.break_freeze,
                groups: e.spec.groups.iter().map(|g| g.value.as_str()).collect(),
                hosts: e.spec.hosts.iter().map(|h| h.value.as_str()).collect(),
                approvals: &e.spec.approvals,
                file: &e.origin.file,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(b.name));
    out
}

/// A group's permission to start hosts outside its windows, as the plan
/// shows it ("allowed by EmergencyChange NAME until …").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyAllowance {
    pub name: String,
    pub reason: String,
    pub until: Timestamp,
    /// It also lets hosts start during a change freeze.
    pub break_freeze: bool,
    /// The hosts it covers, when it names hosts rather than the whole group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
}

/// The allowances to start outside windows that cover some of `hosts` of
/// `group` (`allowOutsideWindow` only), in name order.
pub fn allowances(
    in_force: &[Emergency<'_>],
    group: &str,
    hosts: &[&str],
) -> Vec<EmergencyAllowance> {
    in_force
        .iter()
        .filter(|e| e.allow_outside_window)
        .filter_map(|e| {
            let covered: Option<Vec<String>> = if e.covers_group(group) {
                None
            } else {
                let some: Vec<String> = hosts
                    .iter()
                    .filter(|h| e.covers(group, h))
                    .map(|h| h.to_string())
                    .collect();
                if some.is_empty() {
                    return None;
                }
                Some(some)
            };
            Some(EmergencyAllowance {
                name: e.name.to_string(),
                reason: e.reason.to_string(),
                until: e.expires,
                break_freeze: e.break_freeze,
                hosts: covered,
            })
        })
        .collect()
}

/// The allowances that let hosts start at `now`: not expired, and through
/// a freeze only with `breakFreeze`. The one rule `apply` and the daemon's
/// passes share.
pub fn usable(
    allowances: &[EmergencyAllowance],
    now: Timestamp,
    frozen: bool,
) -> Vec<&EmergencyAllowance> {
    allowances
        .iter()
        .filter(|a| now < a.until && (!frozen || a.break_freeze))
        .collect()
}

impl EmergencyAllowance {
    /// Whether it lets `host` start now, given whether a freeze is on.
    pub fn lets_start(&self, host: &str, frozen: bool) -> bool {
        (!frozen || self.break_freeze)
            && self
                .hosts
                .as_ref()
                .is_none_or(|h| h.iter().any(|x| x == host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(yaml: &str) -> crate::spec::Checked {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fleet.yaml"), yaml).unwrap();
        crate::spec::check(dir.path()).unwrap()
    }

    const BASE: &str = "apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {name: g}
spec: {baseline: b, rollout: r, hosts: [{name: h1, address: 127.0.0.1}, {name: h2, address: 127.0.0.2}]}
---
apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {name: b}
spec: {}
---
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {name: r}
spec: {waves: [\"100%\"]}
";

    /// Approvals apply to the hosts an EmergencyChange covers, and to no other.
    #[test]
    fn approvals_reach_only_the_covered_hosts() {
        use crate::facts::fixture::scan;
        use crate::plan::{PlanContext, Planner};
        let checked = repo(&format!(
            "{BASE}---
apiVersion: patchwave.dev/v1
kind: EmergencyChange
metadata: {{name: vim-fix}}
spec: {{reason: CVE-2026-2, expires: \"2099-01-01T00:00:00Z\", hosts: [h2], approvals: [{{package: vim, version: '2'}}]}}
"
        ));
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let history = crate::plan::History::default();
        let calendar = crate::schedule::Calendar::build(&checked.repo);
        let tz = jiff::tz::TimeZone::UTC;
        let vulns = crate::vuln::VulnIndex::default();
        let mut planner = Planner::new(PlanContext {
            repo: &checked.repo,
            history: &history,
            calendar: &calendar,
            now: "2026-12-02T00:00:00Z".parse().unwrap(),
            tz: &tz,
            only_group: None,
            only_host: None,
            vulns: &vulns,
        })
        .unwrap();
        for h in ["h1", "h2"] {
            planner.add(&scan(
                h,
                "2026-12-01T00:00:00Z",
                &[("vim", "1")],
                &[("vim", "2")],
            ));
        }
        let plan = planner.finish();
        let g = &plan.groups[0];
        let changing: Vec<&str> = g
            .waves
            .iter()
            .flat_map(|w| &w.hosts)
            .map(|h| h.host.as_str())
            .collect();
        assert_eq!(changing, ["h2"]);
        let h2 = &g.waves[0].hosts[0].desired.install[0];
        assert_eq!(h2.decision.reason, "approved by EmergencyChange `vim-fix`");
        let h1 = &g.unchanged[0];
        assert_eq!(h1.host, "h1");
        assert_eq!(
            h1.desired.withheld[0].decision.reason,
            "no approval rule matches"
        );
        assert!(
            g.emergency.is_empty(),
            "no allowOutsideWindow: no allowance"
        );
    }

    #[test]
    fn only_unexpired_changes_count_and_hosts_narrow_the_cover() {
        let checked = repo(&format!(
            "{BASE}---
apiVersion: patchwave.dev/v1
kind: EmergencyChange
metadata: {{name: cve-fix}}
spec: {{reason: CVE-2026-1, expires: \"2026-12-10T00:00:00Z\", hosts: [h2], allowOutsideWindow: true}}
---
apiVersion: patchwave.dev/v1
kind: EmergencyChange
metadata: {{name: old}}
spec: {{reason: past, expires: \"2026-11-01T00:00:00Z\", groups: [g], allowOutsideWindow: true}}
"
        ));
        let at = |t: &str| -> Timestamp { t.parse().unwrap() };
        let now = in_force(&checked.repo, at("2026-12-02T00:00:00Z"));
        assert_eq!(now.len(), 1);
        let a = allowances(&now, "g", &["h1", "h2"]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].name, "cve-fix");
        assert_eq!(a[0].hosts.as_deref(), Some(&["h2".to_string()][..]));
        assert!(a[0].lets_start("h2", false));
        assert!(!a[0].lets_start("h1", false), "h1 is not covered");
        assert!(
            !a[0].lets_start("h2", true),
            "no breakFreeze: a freeze wins"
        );
        // Expired: nothing in force.
        assert!(in_force(&checked.repo, at("2026-12-10T00:00:00Z")).is_empty());
        // Before `old` expired, it covered the whole group.
        let then = in_force(&checked.repo, at("2026-10-01T00:00:00Z"));
        let a = allowances(&then, "g", &["h1", "h2"]);
        assert_eq!(
            a.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
            ["cve-fix", "old"]
        );
        assert_eq!(a[1].hosts, None);
        assert!(a[1].lets_start("h1", false));
    }
}
