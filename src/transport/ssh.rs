//! OpenSSH transport: one multiplexed master connection per host (the system
//! `ssh`, so the user's ssh_config, agent and ProxyJump all apply), strict
//! host-key checking, and every argument shell-quoted for the remote shell.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::AsyncWriteExt;

use super::output::{self, ReadError};
use super::{CommandOutput, RemoteCommand, Transport, TransportError};

/// How long a command that went past the output cap gets to end after its
/// pipes close (its next write fails) before patchwave stops waiting for it.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How to reach one host over ssh. Unset fields fall back to ssh_config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSettings {
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_file: Option<PathBuf>,
    /// `[user@]host[:port]`, as ProxyJump.
    pub jump_host: Option<String>,
    pub known_hosts_file: Option<PathBuf>,
    /// An ssh_config to use instead of the user's (`ssh -F`).
    pub config_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Windows hosts (OpenSSH server) run each command through PowerShell.
    pub platform: super::Platform,
}

impl SshSettings {
    pub fn new(address: impl Into<String>) -> Self {
        SshSettings {
            address: address.into(),
            port: None,
            user: None,
            identity_file: None,
            jump_host: None,
            known_hosts_file: None,
            config_file: None,
            connect_timeout: Duration::from_secs(10),
            platform: super::Platform::Unix,
        }
    }
}

pub struct SshTransport {
    name: String,
    session: Session,
    platform: super::Platform,
    max_output: u64,
}

impl std::fmt::Debug for SshTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTransport")
            .field("name", &self.name)
            .finish()
    }
}

impl SshTransport {
    /// The most a command may print on stdout (and on stderr) before it is
    /// stopped and fails; default [`output::DEFAULT_MAX_OUTPUT`].
    pub fn with_max_output(mut self, bytes: u64) -> SshTransport {
        self.max_output = bytes;
        self
    }

    /// Opens the master connection; fails fast on an unreachable host or a
    /// host key that does not match known_hosts.
    pub async fn connect(name: &str, s: &SshSettings) -> Result<SshTransport, TransportError> {
        if s.address.starts_with('-') || s.address.is_empty() {
            return Err(TransportError::Unreachable {
                host: name.to_string(),
                message: format!("`{}` is not a host address", s.address),
            });
        }
        let mut b = SessionBuilder::default();
        b.known_hosts_check(KnownHosts::Strict)
            .connect_timeout(s.connect_timeout)
            .server_alive_interval(Duration::from_secs(15))
            // Unix socket paths are short (108 bytes): keep the control directory short.
            .control_directory(std::env::temp_dir());
        if let Some(p) = s.port {
            b.port(p);
        }
        if let Some(u) = &s.user {
            b.user(u.clone());
        }
        if let Some(k) = &s.identity_file {
            b.keyfile(k);
        }
        if let Some(j) = &s.jump_host {
            b.jump_hosts([j]);
        }
        if let Some(kh) = &s.known_hosts_file {
            b.user_known_hosts_file(kh);
        }
        if let Some(cfg) = &s.config_file {
            b.config_file(cfg);
        }
        let connect = b.connect_mux(&s.address);
        // ConnectTimeout covers the TCP connect only; bound the whole handshake too.
        let bound = s.connect_timeout + Duration::from_secs(5);
        match tokio::time::timeout(bound, connect).await {
            Ok(Ok(session)) => Ok(SshTransport {
                name: name.to_string(),
                session,
                platform: s.platform,
                max_output: output::DEFAULT_MAX_OUTPUT,
            }),
            Ok(Err(e)) => match (classify_connect_error(name, &e), &s.jump_host) {
                (TransportError::Unreachable { host, message }, Some(j)) => {
                    use super::jump::{HopProblem, first_hop_problem};
                    let message = match first_hop_problem(j, s).await {
                        Some(HopProblem::Jump(why)) => {
                            format!("cannot reach the jump host {j}: {why} (then: {message})")
                        }
                        Some(HopProblem::Beyond(why)) => format!(
                            "the jump host {j} cannot connect on to {}: {why} (then: {message})",
                            s.address
                        ),
                        None => message,
                    };
                    Err(TransportError::Unreachable { host, message })
                }
                (other, _) => Err(other),
            },
            Err(_) => Err(TransportError::Unreachable {
                host: name.to_string(),
                message: format!("no ssh handshake within {bound:?}"),
            }),
        }
    }
}

/// Sorts an ssh failure into "wrong host key" or "cannot connect", keeping
/// ssh's own words (they name the file and line to fix).
fn classify_connect_error(host: &str, e: &openssh::Error) -> TransportError {
    let mut message = error_chain(e);
    if message.trim().is_empty() {
        message = "ssh failed without a message".into();
    }
    let key_problem = [
        "Host key verification failed",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "host key for",
        "No ED25519 host key is known",
        "No RSA host key is known",
        "No ECDSA host key is known",
    ]
    .iter()
    .any(|p| message.contains(p));
    if key_problem {
        TransportError::HostKey {
            host: host.to_string(),
            message: format!(
                "{}; the host's key is not the one in known_hosts. If the host was rebuilt, verify its new key out of band and update known_hosts",
                one_line(&message)
            ),
        }
    } else {
        TransportError::Unreachable {
            host: host.to_string(),
            message: one_line(&message),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = inner.source();
    }
    s
}

/// ssh's multi-line banners (the "@@@@" warnings) folded to their meaningful lines.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("@@@"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[async_trait]
impl Transport for SshTransport {
    fn host(&self) -> &str {
        &self.name
    }

    fn platform(&self) -> super::Platform {
        self.platform
    }

    async fn run(&self, cmd: &RemoteCommand) -> Result<CommandOutput, TransportError> {
        cmd.refuse_if_unsendable(&self.name)?;
        let io_err = |message: String| TransportError::Io {
            host: self.name.clone(),
            command: cmd.to_string(),
            message,
        };
        let windows_request;
        let (mut c, stdin_data) = if self.platform == super::Platform::Windows {
            // The runner script takes the command as data on stdin; its own
            // words need no quoting in any Windows shell.
            let (argv, request) = super::powershell::over_ssh(cmd);
            windows_request = request;
            let mut c = self.session.raw_command(argv[0].as_str());
            c.raw_args(&argv[1..]);
            (c, Some(&windows_request))
        } else {
            // `arg` shell-quotes every word for the remote shell.
            let argv = cmd.wrapped_argv();
            let mut c = self.session.command(argv[0].as_str());
            c.args(&argv[1..]);
            (c, cmd.stdin.as_ref())
        };
        c.stdin(if stdin_data.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let work = async {
            let mut child = c.spawn().await.map_err(|e| io_err(error_chain(&e)))?;
            let stdin = child.stdin().take();
            let streams = output::read_streams(
                child.stdout().take(),
                child.stderr().take(),
                self.max_output,
            );
            // Feed stdin while reading output: a large input must not wait on a full pipe.
            let mut feed = Box::pin(async {
                if let (Some(data), Some(mut stdin)) = (stdin_data, stdin) {
                    stdin.write_all(data).await?;
                    stdin.shutdown().await?;
                }
                Ok::<(), std::io::Error>(())
            });
            tokio::pin!(streams);
            let mut fed = None;
            let read = loop {
                tokio::select! {
                    r = &mut streams => break r,
                    f = &mut feed, if fed.is_none() => fed = Some(f),
                }
            };
            let (stdout, stderr) = match read {
                Ok(streams) => streams,
                Err(ReadError::Overflow(o)) => {
                    // Both pipes are closed now: the master's next write to
                    // them fails, ssh tells sshd to stop (eow@openssh.com),
                    // and the command's next write gets SIGPIPE. Its end is
                    // awaited briefly so the connection is left tidy; one
                    // that ignores SIGPIPE is left to its `timeout`.
                    drop(feed);
                    let _ = tokio::time::timeout(STOP_GRACE, child.wait()).await;
                    return Err(cmd.too_much_output(&self.name, o));
                }
                Err(ReadError::Io(e)) => return Err(io_err(e.to_string())),
            };
            let fed = match fed {
                Some(f) => f,
                None => feed.await,
            };
            let status = child.wait().await.map_err(|e| io_err(error_chain(&e)))?;
            // A command that exited on its own explains itself better than the
            // broken pipe its early exit caused.
            if status.code().is_none() {
                fed.map_err(|e| io_err(format!("writing stdin: {e}")))?;
            }
            Ok(std::process::Output {
                status,
                stdout,
                stderr,
            })
        };
        match tokio::time::timeout(cmd.transport_deadline(), work).await {
            Ok(Ok(out)) => cmd.outcome(&self.name, out),
            Ok(Err(e @ TransportError::OutputTooLarge { .. })) => Err(e),
            Ok(Err(e)) => {
                // A dead master means the host went away, not that the command failed.
                if self.session.check().await.is_err() {
                    return Err(TransportError::Unreachable {
                        host: self.name.clone(),
                        message: format!("connection lost while running `{cmd}`"),
                    });
                }
                Err(e)
            }
            Err(_) => Err(cmd.timed_out(&self.name)),
        }
    }
}
