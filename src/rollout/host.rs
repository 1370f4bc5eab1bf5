//! One host's part of a rollout, step by step: pre hook → snapshot hook →
//! install exactly the planned versions → reboot per policy → rescan to
//! verify → health checks → post hook. Each step is reported as it ends, so
//! the run record (the journal) always says how far the host got.

use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::health;
use super::health::CheckResult;
use super::record::{HostOutcome, Step, StepRecord};
use super::safety::InstallSafety;
use super::template::{Scope, render_argv};
use super::{repair, resolve};
use crate::facts::{HostFacts, PackageKey, PackageManager, PackageVersions};
use crate::os::install::{self, Direction, PackageVersion};
use crate::os::{self, Refresh, ScanOptions};
use crate::scan::{FleetScanOptions, ScanTarget, connect};
use crate::spec::baseline::RebootPolicy;
use crate::spec::common::CommandSpec;
use crate::spec::host_group::{HealthCheckSpec, HooksSpec};
use crate::transport::{RemoteCommand, Transport};

/// Bound on a hook that sets none.
const HOOK_TIMEOUT: Duration = Duration::from_secs(300);

/// How hosts are changed: the same for every host of a group.
#[derive(Debug, Clone)]
pub struct HostSettings {
    pub scan: FleetScanOptions,
    pub install_timeout: Duration,
    pub reboot_timeout: Duration,
    pub reboot: RebootPolicy,
    pub hooks: HooksSpec,
    pub health: Vec<HealthCheckSpec>,
    /// Blocked packages, and installs the journal shows interrupted.
    pub safety: InstallSafety,
}

impl HostSettings {
    /// With what the journal (read now, before this apply changes it) shows
    /// patchwave was installing on each host when it was interrupted.
    pub async fn with_journal(mut self, state: &dyn super::journal::RunJournal) -> HostSettings {
        self.safety = self.safety.with_journal(state).await;
        self
    }
}

/// One host's work.
#[derive(Debug, Clone)]
pub struct HostJob {
    pub target: ScanTarget,
    pub package_manager: PackageManager,
    /// Version now and version planned.
    pub before: PackageVersions,
    pub planned: PackageVersions,
    pub scope: Scope,
}

/// How the host ended, and what a rescan found.
#[derive(Debug, Clone)]
pub struct HostResult {
    pub outcome: HostOutcome,
    pub after: PackageVersions,
}

/// Reports each step as it ends.
#[async_trait::async_trait]
pub trait StepSink: Send + Sync {
    async fn step(&self, host: &str, record: StepRecord);
    /// The host's health checks ran at `at` (none configured: the host was
    /// patched and verified); promotion of a later stage reads this.
    async fn health(&self, _host: &str, _at: Timestamp, _checks: &[CheckResult]) {}
}

pub(super) struct Stepper<'a> {
    host: &'a str,
    sink: &'a dyn StepSink,
}

impl Stepper<'_> {
    /// Runs one step, timing and reporting it. `Err` carries the failure.
    pub(super) async fn run<T>(
        &self,
        step: Step,
        work: impl std::future::Future<Output = Result<(T, String), String>>,
    ) -> Result<T, (Step, String)> {
        let started_at = Timestamp::now();
        let t = Instant::now();
        let r = tracing::Instrument::instrument(
            work,
            tracing::info_span!("step", step = step.as_str()),
        )
        .await;
        let (ok, output) = match &r {
            Ok((_, out)) => (true, out.clone()),
            Err(e) => (false, e.clone()),
        };
        let ms = t.elapsed().as_millis() as u64;
        if ok {
            tracing::info!(host = self.host, step = step.as_str(), ms, "step done");
        } else {
            tracing::warn!(host = self.host, step = step.as_str(), ms, error = %output, "step failed");
        }
        self.sink
            .step(
                self.host,
                StepRecord {
                    step,
                    started_at,
                    duration_ms: t.elapsed().as_millis() as u64,
                    ok,
                    output,
                },
            )
            .await;
        r.map(|(v, _)| v).map_err(|e| (step, e))
    }
}

pub(super) fn packages(map: &PackageVersions) -> Vec<PackageVersion> {
    map.iter()
        .map(|(key, version)| PackageVersion {
            name: key.name.clone(),
            arch: key.arch.clone(),
            version: version.clone(),
        })
        .collect()
}

/// Runs hooks in order; the first failure stops.
async fn hooks(
    t: &dyn Transport,
    list: &[CommandSpec],
    scope: &Scope,
) -> Result<((), String), String> {
    let mut said = Vec::new();
    for h in list {
        let argv: Vec<String> = h.command.value.iter().map(|a| a.value.clone()).collect();
        let argv = render_argv(&argv, scope)?;
        let Some((program, args)) = argv.split_first() else {
            return Err("empty hook command".into());
        };
        let timeout = h
            .timeout
            .as_ref()
            .and_then(|d| d.get())
            .unwrap_or(HOOK_TIMEOUT);
        let cmd = RemoteCommand::new(program.clone())
            .args(args.iter().cloned())
            .timeout(timeout);
        let out = t.run(&cmd).await.map_err(|e| e.to_string())?;
        let text = install::last_lines(&format!("{}\n{}", out.stdout_str(), out.stderr_tail()), 5);
        if !out.success() {
            return Err(format!(
                "`{}` exited with {}: {text}",
                argv.join(" "),
                out.status.map_or("a signal".into(), |c| c.to_string())
            ));
        }
        said.push(text);
    }
    Ok(((), said.join(" / ")))
}

/// A rescan, read from the package database only (no refresh).
async fn rescan(t: &dyn Transport, settings: &HostSettings) -> Result<HostFacts, String> {
    let opts = ScanOptions {
        refresh: Refresh::Never,
        ..settings.scan.os
    };
    os::scan_host(t, &opts).await.map_err(|e| match e {
        os::ScanError::Unreachable(m) | os::ScanError::Failed(m) => m,
    })
}

/// The installed version of each package of `keys`. A Windows
/// update that is no longer offered is installed, whether or not Windows
/// lists it among its hotfixes (Defender definitions and the removal tool
/// never appear there).
fn versions_of(facts: &HostFacts, keys: &PackageVersions) -> PackageVersions {
    let mut found: PackageVersions = facts
        .installed_versions()
        .into_iter()
        .filter(|(k, _)| keys.contains_key(k))
        .collect();
    if facts.package_manager == crate::facts::PackageManager::WindowsUpdate {
        for k in keys.keys() {
            let offered = facts
                .updates
                .iter()
                .any(|u| u.name == k.name && u.arch == k.arch);
            if !offered {
                found.entry(k.clone()).or_insert_with(|| "installed".into());
            }
        }
    }
    found
}

/// Which planned packages are not at their planned version. A Windows
/// update is where it should be once its KB is installed at all (Windows
/// reports installed updates without their revision).
fn mismatches(
    pm: crate::facts::PackageManager,
    after: &PackageVersions,
    want: &PackageVersions,
) -> Vec<String> {
    let reached = |k: &PackageKey, v: &String| match pm {
        crate::facts::PackageManager::WindowsUpdate => after.contains_key(k) != v.is_empty(),
        _ => after.get(k) == Some(v),
    };
    want.iter()
        .filter(|(k, v)| !reached(k, v))
        .map(|(k, v)| {
            format!(
                "{k} is at {}, planned {v}",
                after.get(k).map_or("(not installed)", String::as_str)
            )
        })
        .collect()
}

/// Reboots and waits (bounded) for the host to come back with a new boot id.
async fn reboot_and_wait(
    job: &HostJob,
    t: &dyn Transport,
    old_boot: &str,
    settings: &HostSettings,
) -> Result<(Box<dyn Transport>, String), String> {
    let cmd = crate::os::reboot::reboot_command(t.platform());
    let boot_id = crate::os::reboot::boot_id_command(t.platform());
    // The connection may drop as the host goes down: that is expected.
    let _ = t.run(&cmd).await;
    let started = Instant::now();
    let deadline = started + settings.reboot_timeout;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok(Ok(t)) = tokio::time::timeout(
            Duration::from_secs(10),
            connect(&job.target, &settings.scan),
        )
        .await
        else {
            continue;
        };
        let boot = t.run(&boot_id).await;
        match boot {
            Ok(out) if out.success() && out.stdout_str().trim() != old_boot.trim() => {
                return Ok((t, format!("back after {:.0?}", started.elapsed())));
            }
            _ => t.close().await,
        }
    }
    Err(format!(
        "the host did not come back within {:?} after the reboot",
        settings.reboot_timeout
    ))
}

/// Patches one host. Never panics on host input; every failure is an outcome.
pub async fn patch(job: &HostJob, settings: &HostSettings, sink: &dyn StepSink) -> HostResult {
    let s = Stepper {
        host: &job.target.host,
        sink,
    };
    let mut after = PackageVersions::new();
    let outcome = match steps(job, settings, &s, &mut after).await {
        Ok(()) => HostOutcome::Patched,
        Err((step, error)) => HostOutcome::Failed { step, error },
    };
    HostResult { outcome, after }
}

async fn steps(
    job: &HostJob,
    settings: &HostSettings,
    s: &Stepper<'_>,
    after: &mut PackageVersions,
) -> Result<(), (Step, String)> {
    let mut t = s
        .run(Step::Connect, async {
            connect(&job.target, &settings.scan)
                .await
                .map(|t| (t, String::new()))
                .map_err(|e| match e {
                    os::ScanError::Unreachable(m) | os::ScanError::Failed(m) => m,
                })
        })
        .await?;
    let result = work(job, settings, s, after, &mut t).await;
    t.close().await;
    result
}

async fn work(
    job: &HostJob,
    settings: &HostSettings,
    s: &Stepper<'_>,
    after: &mut PackageVersions,
    t: &mut Box<dyn Transport>,
) -> Result<(), (Step, String)> {
    {
        if !settings.hooks.pre.is_empty() {
            s.run(
                Step::Pre,
                hooks(t.as_ref(), &settings.hooks.pre, &job.scope),
            )
            .await?;
        }
        if !settings.hooks.snapshot.is_empty() {
            s.run(
                Step::Snapshot,
                hooks(t.as_ref(), &settings.hooks.snapshot, &job.scope),
            )
            .await?;
        }
        let Some(cmd) = install::install_command(
            job.package_manager,
            &packages(&job.planned),
            Direction::Upgrade,
            settings.install_timeout,
        ) else {
            let why = format!(
                "{} hosts cannot be patched yet",
                job.package_manager.as_str()
            );
            return s.run(Step::Install, async { Err(why) }).await;
        };
        // Unfinished work in the package database: repaired when it is
        // patchwave's own interrupted install, refused otherwise.
        repair::before_install(t.as_ref(), job, settings, s).await?;
        // Nothing is installed that the baseline blocks, dependencies included.
        if install::resolve_command(job.package_manager, &cmd).is_some() {
            s.run(
                Step::Resolve,
                resolve::check(
                    t.as_ref(),
                    job.package_manager,
                    &cmd,
                    &job.planned,
                    &settings.safety,
                ),
            )
            .await?;
        }
        s.run(Step::Install, async {
            let out = t.run(&cmd).await.map_err(|e| e.to_string())?;
            if out.success() {
                Ok(((), install::last_lines(&out.stdout_str(), 3)))
            } else {
                Err(install::failure_reason(job.package_manager, &out))
            }
        })
        .await?;
        let facts = s
            .run(Step::Verify, async {
                let f = rescan(t.as_ref(), settings).await?;
                let found = versions_of(&f, &job.planned);
                let wrong = mismatches(job.package_manager, &found, &job.planned);
                if wrong.is_empty() {
                    Ok((
                        f,
                        format!("{} package(s) at the planned versions", found.len()),
                    ))
                } else {
                    Err(wrong.join("; "))
                }
            })
            .await?;
        *after = versions_of(&facts, &job.planned);
        let reboot = match settings.reboot {
            RebootPolicy::Never => false,
            RebootPolicy::Always => true,
            RebootPolicy::IfRequired => facts.reboot_required,
        };
        if reboot {
            let fresh = s
                .run(
                    Step::Reboot,
                    reboot_and_wait(job, t.as_ref(), &facts.boot_id, settings),
                )
                .await?;
            std::mem::replace(t, fresh).close().await;
            let facts = s
                .run(Step::Verify, async {
                    let f = rescan(t.as_ref(), settings).await?;
                    let wrong = mismatches(
                        job.package_manager,
                        &versions_of(&f, &job.planned),
                        &job.planned,
                    );
                    if wrong.is_empty() {
                        Ok((f, "after the reboot".to_string()))
                    } else {
                        Err(wrong.join("; "))
                    }
                })
                .await?;
            *after = versions_of(&facts, &job.planned);
        }
        if settings.health.is_empty() {
            s.sink.health(s.host, Timestamp::now(), &[]).await;
        } else {
            s.run(Step::Health, async {
                let results = health::run_all(&settings.health, t.as_ref(), &job.scope).await;
                s.sink.health(s.host, Timestamp::now(), &results).await;
                health::verdict(&results).map(|said| ((), said))
            })
            .await?;
        }
        if !settings.hooks.post.is_empty() {
            s.run(
                Step::Post,
                hooks(t.as_ref(), &settings.hooks.post, &job.scope),
            )
            .await?;
        }
        Ok(())
    }
}

/// Puts a host back on its before-versions (onFailure: rollback, or
/// `patchwave rollback`), then verifies them.
pub async fn roll_back(
    job: &HostJob,
    settings: &HostSettings,
    sink: &dyn StepSink,
) -> Result<PackageVersions, String> {
    let s = Stepper {
        host: &job.target.host,
        sink,
    };
    s.run(Step::Rollback, async {
        let t = connect(&job.target, &settings.scan)
            .await
            .map_err(|e| match e {
                os::ScanError::Unreachable(m) | os::ScanError::Failed(m) => m,
            })?;
        let r = async {
            let cmd = install::install_command(
                job.package_manager,
                &packages(&job.before),
                Direction::Downgrade,
                settings.install_timeout,
            )
            .ok_or(match job.package_manager {
                crate::facts::PackageManager::WindowsUpdate => {
                    "patchwave does not uninstall Windows updates; uninstall the KB with wusa.exe /uninstall, or restore the snapshot the snapshot hook took"
                }
                _ => "nothing to roll back",
            })?;
            let out = t.run(&cmd).await.map_err(|e| e.to_string())?;
            if !out.success() {
                return Err(install::failure_reason(job.package_manager, &out));
            }
            let f = rescan(t.as_ref(), settings).await?;
            let found = versions_of(&f, &job.before);
            let wrong = mismatches(job.package_manager, &found, &job.before);
            if wrong.is_empty() {
                Ok((found, "back on the before-versions".to_string()))
            } else {
                Err(format!("rollback incomplete: {}", wrong.join("; ")))
            }
        }
        .await;
        t.close().await;
        r
    })
    .await
    .map_err(|(_, e)| e)
}

/// The group's health checks on one host, on a fresh connection (the soak
/// between waves repeats them on every host patched so far), reported to
/// `sink`; `Err` names the first failure.
pub async fn check_health(
    job: &HostJob,
    settings: &HostSettings,
    sink: &dyn StepSink,
) -> Result<(), String> {
    let results = match connect(&job.target, &settings.scan).await {
        Ok(t) => {
            let r = health::run_all(&settings.health, t.as_ref(), &job.scope).await;
            t.close().await;
            r
        }
        Err(os::ScanError::Unreachable(m) | os::ScanError::Failed(m)) => vec![CheckResult {
            name: "connect".into(),
            ok: false,
            error: Some(m),
        }],
    };
    sink.health(&job.target.host, Timestamp::now(), &results)
        .await;
    health::verdict(&results).map(|_| ())
}
