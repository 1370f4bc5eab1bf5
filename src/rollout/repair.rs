//! Repairing patchwave's own interrupted install. A host whose processes die
//! while dpkg unpacks (power loss, OOM kill, reboot) is left with unfinished
//! packages, and every later install refuses to run on it. patchwave repairs
//! such a host itself only when the unfinished work is provably its own:
//!
//! 1. **The journal.** Among the run records, the newest run in which this
//!    host has any step recorded is an `apply` run, and in that host's entry
//!    the last `resolve` step succeeded and was followed by nothing but a
//!    failed `install` step, or by no step at all while the host was still in
//!    progress (patchwave itself was killed) or failed at the install. That
//!    resolve step lists the transaction the install was putting on the
//!    host: the planned packages and their dependencies.
//! 2. **The package database.** dpkg lists at least one unfinished package
//!    (half-installed, unpacked, half-configured, or flagged
//!    reinst-required), and every one of them is in that transaction.
//!
//!    On dnf hosts the database's half is `dnf check --duplicates`: rpm
//!    killed between installing the new version and erasing the old one
//!    leaves both in its database, and every duplicate must be in that
//!    transaction.
//!
//! Then the `repair` step runs `dpkg --configure -a` (it finishes dpkg's
//! interrupted journal and configures what was unpacked), and packages still
//! half-installed or flagged for reinstallation must be planned now: the
//! install that follows (after the same resolve check) installs them again
//! at their planned versions. On dnf hosts it runs `dnf remove --duplicates`
//! (the newest copy is installed again, the older erased). Anything else — no
//! journal entry, a package the transaction did not hold, a half-installed
//! package no longer planned — is refused, with the command to run.
//!
//! zypper hosts are not checked or repaired (see README, "Applying, exactly").

use std::collections::BTreeSet;

use super::host::{HostJob, HostSettings, Stepper};
use super::record::{HostOutcome, RunKind, RunRecord, Step};
use super::resolve::parse_record;
use crate::os::install::{self, last_lines};
use std::time::Duration;

use crate::facts::{PackageKey, PackageManager, PackageVersions};
use crate::os::transaction::Unfinished;
use crate::os::{apt, dnf};
use crate::transport::{CommandOutput, RemoteCommand, Transport};

/// An install of patchwave's that the journal shows interrupted on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The run it belongs to.
    pub run: String,
    /// `name:arch` of every package its transaction was putting on the host.
    pub packages: BTreeSet<PackageKey>,
}

/// The journal's half of the rule (pure): what the newest run that touched
/// `host` was installing there when it was interrupted, if it was.
pub fn interrupted_install(runs: &[RunRecord], host: &str) -> Option<Interrupted> {
    let (run, entry) = runs
        .iter()
        .filter_map(|r| r.host(host).filter(|h| !h.steps.is_empty()).map(|h| (r, h)))
        .max_by(|a, b| a.0.started_at.cmp(&b.0.started_at))?;
    if run.kind != RunKind::Apply {
        return None;
    }
    let at = entry.steps.iter().rposition(|s| s.step == Step::Resolve)?;
    let resolve = &entry.steps[at];
    let cut_short = match &entry.steps[at + 1..] {
        [] => matches!(
            entry.outcome,
            HostOutcome::InProgress
                | HostOutcome::Failed {
                    step: Step::Install,
                    ..
                }
        ),
        [install] => install.step == Step::Install && !install.ok,
        _ => false,
    };
    (resolve.ok && cut_short).then(|| {
        Some(Interrupted {
            run: run.id.clone(),
            packages: parse_record(&resolve.output)?,
        })
    })?
}

/// The database's half of the rule (pure): `Ok` when every unfinished
/// package is one the interrupted transaction held; `Err` says why not.
pub fn is_ours<'a>(
    unfinished: &[Unfinished],
    journal: Option<&'a Interrupted>,
) -> Result<&'a Interrupted, String> {
    let Some(i) = journal else {
        return Err(
            "patchwave's journal shows no install of its own interrupted on this host".into(),
        );
    };
    if unfinished.is_empty() {
        return Err("dpkg lists no half-installed, unpacked or half-configured package".into());
    }
    let foreign: Vec<String> = unfinished
        .iter()
        .filter(|u| !i.packages.contains(&PackageKey::new(&u.name, &u.arch)))
        .map(|u| format!("{} ({})", u.name, u.state))
        .collect();
    if foreign.is_empty() {
        Ok(i)
    } else {
        Err(format!(
            "{} {} not part of the install run {} was making",
            foreign.join(", "),
            if foreign.len() == 1 { "was" } else { "were" },
            i.run
        ))
    }
}

/// After `dpkg --configure -a`: the packages only a new install can finish
/// must all be planned now, or the repair stops (pure).
pub fn left_for_install(
    left: &[Unfinished],
    planned: &PackageVersions,
) -> Result<Vec<String>, String> {
    let mut again = Vec::new();
    for u in left {
        match planned.get(&PackageKey::new(&u.name, &u.arch)) {
            Some(v) if u.needs_reinstall => again.push(format!("{} {v}", u.name)),
            _ => {
                return Err(format!(
                    "{} is still {} after `dpkg --configure -a` and this run does not plan it; \
                     install it again by hand (`apt-get install --reinstall {}`)",
                    u.name, u.state, u.name
                ));
            }
        }
    }
    Ok(again)
}

/// What a host's package database shows of interrupted work.
struct Leftovers {
    /// The checking tool's own words, for a refusal.
    said: String,
    found: Vec<Unfinished>,
}

async fn run_read(t: &dyn Transport, cmd: &RemoteCommand) -> Result<CommandOutput, String> {
    t.run(cmd).await.map_err(|e| format!("`{cmd}`: {e}"))
}

/// dpkg's unfinished packages.
async fn dpkg_unfinished(t: &dyn Transport, timeout: Duration) -> Result<Vec<Unfinished>, String> {
    let cmd = apt::installed_command().timeout(timeout);
    let out = run_read(t, &cmd).await?;
    if !out.success() {
        return Err(format!("`{cmd}` failed: {}", out.stderr_tail()));
    }
    Ok(apt::parse_unfinished(&out.stdout_str()))
}

/// Interrupted work in the package database (`dpkg --audit` on apt hosts,
/// `dnf check --duplicates` on dnf hosts); `None` when there is none, or
/// nothing to check it with.
async fn leftovers(
    t: &dyn Transport,
    pm: PackageManager,
    timeout: Duration,
) -> Result<Option<Leftovers>, String> {
    match pm {
        PackageManager::Apt => {
            let Some(audit) = install::audit_command(pm) else {
                return Ok(None);
            };
            let said = run_read(t, &audit).await?.stdout_str();
            if said.trim().is_empty() {
                return Ok(None);
            }
            let found = dpkg_unfinished(t, timeout).await?;
            Ok(Some(Leftovers { said, found }))
        }
        PackageManager::Dnf => {
            let cmd = dnf::check_duplicates_command().timeout(timeout);
            let out = run_read(t, &cmd).await?;
            if out.success() {
                return Ok(None);
            }
            let said = out.stdout_str();
            let found = dnf::parse_duplicates(&said);
            if found.is_empty() {
                return Err(format!(
                    "`{cmd}` failed: {}",
                    last_lines(&format!("{said}\n{}", out.stderr_tail()), 4)
                ));
            }
            Ok(Some(Leftovers { said, found }))
        }
        _ => Ok(None),
    }
}

/// The refusal of work that is not provably patchwave's, with what to run.
fn refusal(pm: PackageManager, said: &str, why: &str) -> String {
    let said = last_lines(said, 4);
    match pm {
        PackageManager::Dnf => format!(
            "the rpm database holds packages twice, as an interrupted transaction leaves them \
             (`dnf check --duplicates`): {said}; {why}; repair it first (`dnf remove --duplicates`)"
        ),
        _ => format!(
            "the package database has unfinished work from before (`dpkg --audit`): {said}; {why}; \
             repair it first (`dpkg --configure -a`, or reinstall the package)"
        ),
    }
}

/// Before the install: unfinished work in the package database is repaired
/// when it is patchwave's own (a `repair` step), and fails the host at the
/// install step otherwise, as it always has on apt hosts.
pub(super) async fn before_install(
    t: &dyn Transport,
    job: &HostJob,
    settings: &HostSettings,
    s: &Stepper<'_>,
) -> Result<(), (Step, String)> {
    let fail = |e: String| s.run(Step::Install, async move { Err::<((), String), _>(e) });
    let pm = job.package_manager;
    let left = match leftovers(t, pm, settings.scan.os.command_timeout).await {
        Ok(None) => return Ok(()),
        Ok(Some(l)) => l,
        Err(e) => return fail(e).await,
    };
    let journal = settings.safety.interrupted.get(&job.target.host);
    match is_ours(&left.found, journal) {
        Err(why) => fail(refusal(pm, &left.said, &why)).await,
        Ok(i) => {
            s.run(Step::Repair, repair(t, job, settings, i, &left.found))
                .await
        }
    }
}

/// Runs one repair command; its last lines, or why it failed.
async fn repair_with(
    t: &dyn Transport,
    cmd: RemoteCommand,
    interrupted: &Interrupted,
    listed: &str,
) -> Result<String, String> {
    let out = run_read(t, &cmd).await?;
    let said = last_lines(&format!("{}\n{}", out.stdout_str(), out.stderr_tail()), 3);
    if out.success() {
        Ok(if said.is_empty() { "done".into() } else { said })
    } else {
        Err(format!(
            "repairing the install run {} left unfinished ({listed}): `{cmd}` exited with {}: {said}",
            interrupted.run,
            out.status.map_or("a signal".into(), |c| c.to_string()),
        ))
    }
}

async fn repair(
    t: &dyn Transport,
    job: &HostJob,
    settings: &HostSettings,
    interrupted: &Interrupted,
    found: &[Unfinished],
) -> Result<((), String), String> {
    let listed: Vec<String> = found
        .iter()
        .map(|u| format!("{} {} ({})", u.name, u.version, u.state))
        .collect();
    let listed = listed.join(", ");
    let timeout = settings.scan.os.command_timeout;
    let head = format!(
        "run {} was interrupted installing on this host ({listed})",
        interrupted.run
    );
    match job.package_manager {
        PackageManager::Dnf => {
            let cmd = dnf::remove_duplicates_command().timeout(settings.install_timeout);
            let said = repair_with(t, cmd, interrupted, &listed).await?;
            if let Some(still) = leftovers(t, PackageManager::Dnf, timeout).await? {
                return Err(format!(
                    "`dnf remove --duplicates` left duplicates: {}",
                    last_lines(&still.said, 4)
                ));
            }
            Ok(((), format!("{head}; `dnf remove --duplicates`: {said}")))
        }
        _ => {
            let cmd = apt::configure_pending_command().timeout(settings.install_timeout);
            let said = repair_with(t, cmd, interrupted, &listed).await?;
            let left = dpkg_unfinished(t, timeout).await?;
            let again = left_for_install(&left, &job.planned)?;
            let mut said = format!("{head}; `dpkg --configure -a`: {said}");
            if !again.is_empty() {
                said.push_str(&format!(
                    "; installed again at the planned version by the install that follows: {}",
                    again.join(", ")
                ));
            }
            Ok(((), said))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::record::{HostRun, StepRecord, WaveRun};

    fn step(step: Step, ok: bool, output: &str) -> StepRecord {
        StepRecord {
            step,
            started_at: "2026-12-02T10:00:00Z".parse().unwrap(),
            duration_ms: 1,
            ok,
            output: output.into(),
        }
    }

    const RESOLVED: &str =
        "transaction: pw-blocked:all=1.0-1 pw-app:all=2.0-1 (2 package(s), 1 of them dependencies)";

    fn run(
        id: &str,
        at: &str,
        kind: RunKind,
        outcome: HostOutcome,
        steps: Vec<StepRecord>,
    ) -> RunRecord {
        RunRecord {
            waves: vec![WaveRun {
                number: 1,
                hosts: vec![HostRun {
                    host: "h1".into(),
                    outcome,
                    before: Default::default(),
                    planned: Default::default(),
                    after: Default::default(),
                    steps,
                }],
            }],
            ..RunRecord::start(kind, id.into(), "g", at.parse().unwrap(), "t".into())
        }
    }

    fn failed_install() -> HostOutcome {
        HostOutcome::Failed {
            step: Step::Install,
            error: "connection closed".into(),
        }
    }

    fn unfinished(name: &str, state: &str, reinstall: bool) -> Unfinished {
        Unfinished {
            name: name.into(),
            arch: "all".into(),
            version: "1.0-1".into(),
            state: state.into(),
            needs_reinstall: reinstall,
        }
    }

    #[test]
    fn the_journal_shows_an_install_cut_short() {
        let t = "2026-12-02T10:00:00Z";
        let connect = || step(Step::Connect, true, "");
        let resolve = || step(Step::Resolve, true, RESOLVED);
        let cases: Vec<(&str, RunRecord, bool)> = vec![
            (
                "the install failed (the connection dropped)",
                run(
                    "r1",
                    t,
                    RunKind::Apply,
                    failed_install(),
                    vec![connect(), resolve(), step(Step::Install, false, "closed")],
                ),
                true,
            ),
            (
                "patchwave was killed during the install",
                run(
                    "r1",
                    t,
                    RunKind::Apply,
                    HostOutcome::InProgress,
                    vec![connect(), resolve()],
                ),
                true,
            ),
            (
                "the install finished",
                run(
                    "r1",
                    t,
                    RunKind::Apply,
                    HostOutcome::Patched,
                    vec![connect(), resolve(), step(Step::Install, true, "")],
                ),
                false,
            ),
            (
                "the resolve step refused the host",
                run(
                    "r1",
                    t,
                    RunKind::Apply,
                    HostOutcome::Failed {
                        step: Step::Resolve,
                        error: "blocked".into(),
                    },
                    vec![connect(), step(Step::Resolve, false, "blocked")],
                ),
                false,
            ),
            (
                "a failed install that was rolled back",
                run(
                    "r1",
                    t,
                    RunKind::Apply,
                    HostOutcome::RolledBack {
                        step: Step::Install,
                        error: "x".into(),
                    },
                    vec![
                        connect(),
                        resolve(),
                        step(Step::Install, false, "x"),
                        step(Step::Rollback, true, ""),
                    ],
                ),
                false,
            ),
            (
                "killed before the install (no resolve recorded)",
                run(
                    "r1",
                    t,
                    RunKind::Apply,
                    HostOutcome::InProgress,
                    vec![connect()],
                ),
                false,
            ),
            (
                "a rollback run",
                run(
                    "r1",
                    t,
                    RunKind::Rollback,
                    HostOutcome::InProgress,
                    vec![connect(), resolve()],
                ),
                false,
            ),
        ];
        for (what, r, want) in cases {
            let got = interrupted_install(&[r], "h1");
            assert_eq!(got.is_some(), want, "{what}");
            if let Some(i) = got {
                assert_eq!(i.run, "r1");
                assert_eq!(
                    i.packages,
                    [
                        PackageKey::parse("pw-app:all"),
                        PackageKey::parse("pw-blocked:all")
                    ]
                    .into_iter()
                    .collect()
                );
            }
        }
        assert_eq!(interrupted_install(&[], "h1"), None);
    }

    #[test]
    fn only_the_newest_run_that_touched_the_host_counts() {
        let cut = run(
            "old",
            "2026-12-01T10:00:00Z",
            RunKind::Apply,
            failed_install(),
            vec![
                step(Step::Resolve, true, RESOLVED),
                step(Step::Install, false, "closed"),
            ],
        );
        let later = run(
            "new",
            "2026-12-02T10:00:00Z",
            RunKind::Apply,
            HostOutcome::Patched,
            vec![
                step(Step::Resolve, true, RESOLVED),
                step(Step::Install, true, ""),
            ],
        );
        // A later run that only listed the host (no step) did not touch it.
        let untouched = run(
            "pending",
            "2026-12-03T10:00:00Z",
            RunKind::Apply,
            HostOutcome::Skipped {
                reason: "halted".into(),
            },
            vec![],
        );
        assert_eq!(interrupted_install(&[cut.clone(), later], "h1"), None);
        assert_eq!(
            interrupted_install(&[untouched, cut], "h1").map(|i| i.run),
            Some("old".to_string())
        );
    }

    #[test]
    fn only_unfinished_packages_of_that_transaction_are_ours() {
        let i = Interrupted {
            run: "r1".into(),
            packages: ["pw-app:all".into(), "pw-blocked:all".into()]
                .into_iter()
                .collect(),
        };
        let ours = [
            unfinished("pw-app", "half-installed, reinst-required", true),
            unfinished("pw-blocked", "unpacked", false),
        ];
        assert_eq!(is_ours(&ours, Some(&i)), Ok(&i));
        let err = is_ours(&ours, None).unwrap_err();
        assert!(err.contains("no install of its own"), "{err}");
        let err = is_ours(
            &[
                unfinished("pw-app", "unpacked", false),
                unfinished("vim", "half-configured", false),
            ],
            Some(&i),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "vim (half-configured) was not part of the install run r1 was making"
        );
        assert!(is_ours(&[], Some(&i)).is_err());
    }

    #[test]
    fn half_installed_packages_must_be_planned_to_be_installed_again() {
        let planned: PackageVersions = [(PackageKey::parse("pw-app:all"), "2.0-1".to_string())]
            .into_iter()
            .collect();
        assert_eq!(
            left_for_install(
                &[unfinished(
                    "pw-app",
                    "half-installed, reinst-required",
                    true
                )],
                &planned
            ),
            Ok(vec!["pw-app 2.0-1".to_string()])
        );
        assert_eq!(left_for_install(&[], &planned), Ok(vec![]));
        let err = left_for_install(&[unfinished("pw-lib", "half-installed", true)], &planned)
            .unwrap_err();
        assert!(err.contains("apt-get install --reinstall pw-lib"), "{err}");
        // Still unpacked after configuring: dpkg could not finish it; not for an install to hide.
        assert!(left_for_install(&[unfinished("pw-app", "unpacked", false)], &planned).is_err());
    }
}
