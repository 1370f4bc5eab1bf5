//! Scanning a fleet: every host at once (up to a limit), one connection per
//! host, each host bounded by its own timeout, so a dead or hung host never
//! holds up the others.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::Semaphore;

use crate::facts::{FACTS_VERSION, FleetFacts, HostScan, ScanState};
use crate::os::{self, ScanError, ScanOptions};
use crate::spec::Repository;
use crate::spec::host_group::TransportKind;
use crate::transport::winrm::{AuthKind, PasswordSource, WinrmSettings, WinrmTransport};
use crate::transport::{LocalTransport, SshSettings, SshTransport, Transport};

/// Default number of hosts scanned at once.
pub const DEFAULT_CONCURRENCY: usize = 64;
/// Default bound on one host's whole scan.
pub const DEFAULT_HOST_TIMEOUT: Duration = Duration::from_secs(120);

/// One host to scan, with everything needed to reach it.
#[derive(Debug, Clone)]
pub struct ScanTarget {
    pub host: String,
    pub group: String,
    pub address: String,
    pub transport: TransportKind,
    pub ssh: SshSettings,
    /// For `transport: winrm`: the settings, or why the repository's
    /// don't make a usable set (reported when the host is reached).
    pub winrm: Option<Result<WinrmSettings, String>>,
}

/// The hosts of the repository, optionally narrowed to a group or a host.
/// Relative known_hosts paths are inside the repository; `~` is the user's home.
pub fn targets(
    repo: &Repository,
    root: &Path,
    group: Option<&str>,
    host: Option<&str>,
) -> Vec<ScanTarget> {
    repo.hosts()
        .filter(|(g, h)| {
            group.is_none_or(|x| g.name() == x) && host.is_none_or(|x| h.name.value == x)
        })
        .map(|(g, h)| {
            let c = &g.spec.connection;
            let address = h
                .address
                .as_ref()
                .map_or_else(|| h.name.value.clone(), |a| a.value.clone());
            let mut ssh = SshSettings::new(address.clone());
            ssh.port = h
                .port
                .as_ref()
                .or(c.port.as_ref())
                .and_then(|p| u16::try_from(p.value).ok());
            ssh.user = h.user.as_ref().or(c.user.as_ref()).map(|u| u.value.clone());
            ssh.identity_file = c.identity_file.as_ref().map(|p| expand_home(&p.value));
            ssh.jump_host = c.jump_host.as_ref().map(|j| j.value.clone());
            if g.spec.os_family() == crate::spec::host_group::OsFamily::Windows {
                ssh.platform = crate::transport::Platform::Windows;
            }
            ssh.known_hosts_file = c
                .known_hosts_file
                .as_ref()
                .map(|k| repo_path(&k.value, root));
            let winrm = (g.spec.transport.value == TransportKind::Winrm).then(|| {
                winrm_settings(
                    c,
                    &address,
                    h.port.as_ref().and_then(|p| u16::try_from(p.value).ok()),
                    root,
                )
            });
            ScanTarget {
                host: h.name.value.clone(),
                group: g.name().to_string(),
                address,
                transport: g.spec.transport.value,
                ssh,
                winrm,
            }
        })
        .collect()
}

/// A path from the repository: relative ones are inside it, `~` is home.
fn repo_path(p: &str, root: &Path) -> PathBuf {
    if p.starts_with('~') || Path::new(p).is_absolute() {
        expand_home(p)
    } else {
        root.join(p)
    }
}

/// WinRM settings from a group's connection (validated by `validate`; what
/// still cannot work is an error for the host).
fn winrm_settings(
    c: &crate::spec::host_group::ConnectionSpec,
    address: &str,
    host_port: Option<u16>,
    root: &Path,
) -> Result<WinrmSettings, String> {
    use crate::spec::host_group::{WinrmAuth, WinrmScheme};
    use crate::transport::winrm::http::Trust;
    let w = &c
        .winrm
        .as_ref()
        .ok_or("transport `winrm` needs connection.winrm")?
        .value;
    let tls = match w.scheme {
        WinrmScheme::Http => None,
        WinrmScheme::Https => Some(match (&w.cert_fingerprint, &w.ca_bundle) {
            (Some(fp), _) => {
                let hex: String = fp.value.chars().filter(|c| *c != ':').collect();
                let bytes = hex::decode(&hex)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| {
                        format!(
                            "certFingerprint `{}` is not a SHA-256 fingerprint",
                            fp.value
                        )
                    })?;
                Trust::Pinned(bytes)
            }
            (None, Some(ca)) => Trust::CaBundle(repo_path(&ca.value, root)),
            (None, None) => Trust::System,
        }),
    };
    let auth = match w.auth {
        WinrmAuth::Ntlm => AuthKind::Ntlm,
        WinrmAuth::Basic => AuthKind::Basic,
        WinrmAuth::Kerberos => {
            return Err("WinRM Kerberos authentication is not supported by this build; use ntlm (sealed over http, or over https) or basic over https".into());
        }
    };
    let cr = &w.credential_ref.value;
    let password = match (&cr.env, &cr.file) {
        (Some(e), _) => PasswordSource::Env(e.clone()),
        (None, Some(f)) => PasswordSource::File(repo_path(f, root)),
        (None, None) => return Err("credentialRef names neither `env` nor `file`".into()),
    };
    let default_port = match w.scheme {
        WinrmScheme::Https => 5986,
        WinrmScheme::Http => 5985,
    };
    Ok(WinrmSettings {
        address: address.to_string(),
        port: host_port
            .or_else(|| c.port.as_ref().and_then(|p| u16::try_from(p.value).ok()))
            .unwrap_or(default_port),
        tls,
        auth,
        user: cr.username.clone(),
        password,
        connect_timeout: Duration::from_secs(10),
    })
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// How the fleet is scanned.
#[derive(Debug, Clone)]
pub struct FleetScanOptions {
    pub concurrency: usize,
    pub host_timeout: Duration,
    pub connect_timeout: Duration,
    pub os: ScanOptions,
    /// An ssh_config for every connection (tests, or a dedicated config).
    pub ssh_config: Option<PathBuf>,
    /// The most one command may print (Fleet `scan.maxOutput`); it bounds
    /// every command on the connections made here, not only the scan's.
    pub max_output: u64,
}

impl Default for FleetScanOptions {
    fn default() -> Self {
        FleetScanOptions {
            concurrency: DEFAULT_CONCURRENCY,
            host_timeout: DEFAULT_HOST_TIMEOUT,
            connect_timeout: Duration::from_secs(10),
            os: ScanOptions::default(),
            ssh_config: None,
            max_output: crate::transport::DEFAULT_MAX_OUTPUT,
        }
    }
}

impl FleetScanOptions {
    /// Settings from the repository's Fleet resource, where it sets them.
    pub fn from_repo(repo: &Repository) -> FleetScanOptions {
        let mut o = FleetScanOptions::default();
        if let Some(scan) = repo.fleets.first().and_then(|f| f.spec.scan.as_ref()) {
            if let Some(c) = &scan.concurrency {
                o.concurrency = c.value.max(1) as usize;
            }
            if let Some(t) = scan.timeout.as_ref().and_then(|t| t.get()) {
                o.host_timeout = t;
            }
            if let Some(r) = scan.refresh_after.as_ref().and_then(|t| t.get()) {
                // `0s`: lists of any age are too old (ages are whole seconds).
                o.os.refresh = if r.is_zero() {
                    os::Refresh::Always
                } else {
                    os::Refresh::IfOlderThan(r)
                };
            }
            // Validated (range included) by `validate`, which runs first.
            if let Some(m) = scan
                .max_output
                .as_ref()
                .and_then(|m| crate::spec::fleet::parse_size(m).ok())
            {
                o.max_output = m;
            }
        }
        o
    }
}

/// Scans every target; `progress` is called as each host finishes.
pub async fn scan_fleet(
    targets: Vec<ScanTarget>,
    opts: &FleetScanOptions,
    progress: impl Fn(&HostScan) + Send + Sync + 'static,
) -> FleetFacts {
    let limit = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let progress = Arc::new(progress);
    let mut tasks = tokio::task::JoinSet::new();
    let mut by_task = std::collections::HashMap::new();
    for t in targets {
        let limit = limit.clone();
        let opts = opts.clone();
        let progress = progress.clone();
        let target = t.clone();
        let handle = tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let result = scan_one(&t, &opts).await;
            progress(&result);
            result
        });
        by_task.insert(handle.id(), target);
    }
    let mut hosts = Vec::new();
    while let Some(r) = tasks.join_next_with_id().await {
        match r {
            Ok((_, scan)) => hosts.push(scan),
            // A scan that panicked is still a host in the report, never a silent gap.
            Err(e) => {
                if let Some(t) = by_task.get(&e.id()) {
                    hosts.push(HostScan {
                        host: t.host.clone(),
                        group: t.group.clone(),
                        address: t.address.clone(),
                        transport: transport_name(t.transport),
                        scanned_at: Timestamp::now(),
                        duration_ms: 0,
                        state: ScanState::Failed {
                            error: format!(
                                "{}: the scan crashed ({e}); please report this as a bug",
                                t.host
                            ),
                        },
                    });
                }
            }
        }
    }
    hosts.sort_by(|a, b| (&a.group, &a.host).cmp(&(&b.group, &b.host)));
    FleetFacts {
        version: FACTS_VERSION,
        hosts,
    }
}

fn transport_name(t: TransportKind) -> String {
    format!("{t:?}").to_lowercase()
}

/// A connection to one target, as the scan settings say.
pub async fn connect(
    t: &ScanTarget,
    opts: &FleetScanOptions,
) -> Result<Box<dyn Transport>, ScanError> {
    Ok(match t.transport {
        TransportKind::Ssh => {
            let mut s = t.ssh.clone();
            s.connect_timeout = opts.connect_timeout;
            s.config_file = opts.ssh_config.clone();
            Box::new(
                SshTransport::connect(&t.host, &s)
                    .await?
                    .with_max_output(opts.max_output),
            )
        }
        TransportKind::Local => {
            Box::new(LocalTransport::new(&t.host).with_max_output(opts.max_output))
        }
        TransportKind::Winrm => {
            let mut s = match &t.winrm {
                Some(Ok(s)) => s.clone(),
                Some(Err(e)) => return Err(ScanError::Failed(format!("{}: {e}", t.host))),
                None => {
                    return Err(ScanError::Failed(format!("{}: no WinRM settings", t.host)));
                }
            };
            s.connect_timeout = opts.connect_timeout;
            Box::new(
                WinrmTransport::connect(&t.host, &s)
                    .await?
                    .with_max_output(opts.max_output),
            )
        }
    })
}

/// One host, start to finish, within its timeout.
async fn scan_one(t: &ScanTarget, opts: &FleetScanOptions) -> HostScan {
    let scanned_at = Timestamp::now();
    let started = Instant::now();
    let connected = std::sync::atomic::AtomicBool::new(false);
    // No single command may outlive the host's own budget.
    let mut os_opts = opts.os;
    os_opts.command_timeout = os_opts.command_timeout.min(opts.host_timeout);
    os_opts.refresh_timeout = os_opts.refresh_timeout.min(opts.host_timeout);
    let work = async {
        let transport = connect(t, opts).await?;
        connected.store(true, std::sync::atomic::Ordering::Relaxed);
        let facts = os::scan_host(transport.as_ref(), &os_opts).await;
        transport.close().await;
        facts
    };
    let state = match tokio::time::timeout(opts.host_timeout, work).await {
        Ok(Ok(facts)) => ScanState::Scanned {
            facts: Box::new(facts),
        },
        Ok(Err(ScanError::Unreachable(error))) => ScanState::Unreachable { error },
        Ok(Err(ScanError::Failed(error))) => ScanState::Failed { error },
        Err(_) if connected.load(std::sync::atomic::Ordering::Relaxed) => ScanState::Failed {
            error: format!(
                "{}: the scan did not finish within {:?} (host timeout)",
                t.host, opts.host_timeout
            ),
        },
        Err(_) => ScanState::Unreachable {
            error: format!(
                "{}: no answer within {:?} (host timeout)",
                t.host, opts.host_timeout
            ),
        },
    };
    HostScan {
        host: t.host.clone(),
        group: t.group.clone(),
        address: t.address.clone(),
        transport: transport_name(t.transport),
        scanned_at,
        duration_ms: started.elapsed().as_millis() as u64,
        state,
    }
}
