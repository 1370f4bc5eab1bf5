//! The resolve step. A baseline's `rejected[]` with `rejectedAction: block`
//! promises a package is never installed, not even as another package's
//! dependency; the planner only sees the packages it plans, the package
//! manager adds their dependencies. So before anything changes, the package
//! manager resolves the exact install (the same arguments, without changing
//! anything), and a transaction that would install or upgrade a blocked
//! package refuses the host, naming it and the planned package that pulls it
//! in. The transaction goes into the run record: it is also what the repair
//! rule (`super::repair`) later reads to know what an interrupted install
//! was putting on the host.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::Date;

use super::safety::InstallSafety;
use crate::facts::{PackageKey, PackageManager, PackageVersions};
use crate::os::install::{self, Direction, PackageVersion};
use crate::os::transaction::Resolved;
use crate::plan::baseline::CompiledBaseline;
use crate::transport::{RemoteCommand, Transport};

/// How the step's output starts; the list that follows is read back by the
/// repair rule.
const RECORD_PREFIX: &str = "transaction: ";

/// A package of the transaction the baseline blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub package: Resolved,
    /// The `rejected[]` entry's reason.
    pub reason: String,
}

/// The packages of `resolved` that `baseline` blocks on `today` (pure).
pub fn blocked_in(
    baseline: &CompiledBaseline,
    pm: PackageManager,
    resolved: &[Resolved],
    today: Date,
) -> Vec<Blocked> {
    resolved
        .iter()
        .filter_map(|r| {
            baseline
                .blocks(&r.name, &r.version, pm, today)
                .map(|reason| Blocked {
                    package: r.clone(),
                    reason: reason.to_string(),
                })
        })
        .collect()
}

/// The step's output: every package of the transaction as `name:arch=version`
/// (the same keys as the run record's versions), dependencies marked.
pub fn record(planned: &PackageVersions, resolved: &[Resolved]) -> String {
    let keys: Vec<String> = resolved
        .iter()
        .map(|r| format!("{}:{}={}", r.name, r.arch, r.version))
        .collect();
    let deps = resolved
        .iter()
        .filter(|r| !planned.contains_key(&PackageKey::new(&r.name, &r.arch)))
        .count();
    format!(
        "{RECORD_PREFIX}{} ({} package(s), {deps} of them dependencies)",
        keys.join(" "),
        resolved.len()
    )
}

/// The `name:arch` keys a resolve step's output lists ([`record`]); `None`
/// when it is not such an output.
pub fn parse_record(output: &str) -> Option<BTreeSet<PackageKey>> {
    let list = output.lines().next()?.strip_prefix(RECORD_PREFIX)?;
    Some(
        list.split(' ')
            .take_while(|w| !w.starts_with('('))
            .filter_map(|w| w.split_once('=').map(|(key, _)| PackageKey::parse(key)))
            .collect(),
    )
}

async fn resolve_once(
    t: &dyn Transport,
    pm: PackageManager,
    install: &RemoteCommand,
) -> Result<Vec<Resolved>, String> {
    let Some(cmd) = install::resolve_command(pm, install) else {
        return Ok(Vec::new());
    };
    let out = t.run(&cmd).await.map_err(|e| format!("`{cmd}`: {e}"))?;
    install::parse_resolved(pm, &out).map_err(|e| format!("`{cmd}`: {e}"))
}

/// The planned packages whose own install brings `blocked` in: each is
/// resolved alone (only when something is blocked, so the common case costs
/// one resolve). Empty when only the planned packages together bring it.
async fn pulled_in_by(
    t: &dyn Transport,
    pm: PackageManager,
    planned: &[PackageVersion],
    blocked: &Resolved,
    timeout: std::time::Duration,
) -> Result<Vec<String>, String> {
    if let [only] = planned {
        return Ok(vec![format!("{} {}", only.name, only.version)]);
    }
    let mut by = Vec::new();
    for p in planned {
        let Some(cmd) =
            install::install_command(pm, std::slice::from_ref(p), Direction::Upgrade, timeout)
        else {
            continue;
        };
        if resolve_once(t, pm, &cmd).await?.contains(blocked) {
            by.push(format!("{} {}", p.name, p.version));
        }
    }
    Ok(by)
}

/// Resolves `install` on the host and refuses it when the transaction holds
/// a blocked package. `Ok` carries the step's output ([`record`]).
pub async fn check(
    t: &dyn Transport,
    pm: PackageManager,
    install: &RemoteCommand,
    planned: &PackageVersions,
    safety: &InstallSafety,
) -> Result<((), String), String> {
    let resolved = resolve_once(t, pm, install).await?;
    let mut said = record(planned, &resolved);
    let Some(baseline) = safety.baseline.as_deref() else {
        return Ok(((), said));
    };
    let today = Timestamp::now().to_zoned(safety.tz.clone()).date();
    let blocked = blocked_in(baseline, pm, &resolved, today);
    if blocked.is_empty() {
        return Ok(((), said));
    }
    let pkgs = super::host::packages(planned);
    let mut why = Vec::new();
    for b in &blocked {
        let by = pulled_in_by(t, pm, &pkgs, &b.package, install.timeout).await?;
        let by = if by.is_empty() {
            "the planned packages together".to_string()
        } else {
            by.join(", ")
        };
        why.push(format!(
            "{} {} is blocked by baseline `{}` ({}) and would be installed as a dependency of {by}",
            b.package.name, b.package.version, baseline.name, b.reason
        ));
    }
    said = format!(
        "{}; nothing was changed. To go on: narrow or remove that `rejected[]` entry, set `rejectedAction: allowAsDependency`, or reject the version that pulls it in. {said}",
        why.join("; ")
    );
    Err(said)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_lists_the_transaction_and_reads_back() {
        let planned: PackageVersions = [(PackageKey::parse("pw-app:all"), "2.0-1".to_string())]
            .into_iter()
            .collect();
        let resolved = [
            Resolved::new("pw-blocked", "all", "1:1.0-1"),
            Resolved::new("pw-app", "all", "2.0-1"),
        ];
        let out = record(&planned, &resolved);
        assert_eq!(
            out,
            "transaction: pw-blocked:all=1:1.0-1 pw-app:all=2.0-1 (2 package(s), 1 of them dependencies)"
        );
        assert_eq!(
            parse_record(&out).unwrap(),
            [
                PackageKey::parse("pw-app:all"),
                PackageKey::parse("pw-blocked:all")
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(
            parse_record(&record(&planned, &[])).unwrap(),
            BTreeSet::new()
        );
        assert_eq!(parse_record("3 check(s) passed"), None);
    }
}
