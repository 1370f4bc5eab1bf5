//! How patchwave runs commands on hosts: one trait, several transports.
//!
//! A command is always a program and an argument vector. Transports that
//! must go through a remote shell (ssh) quote every argument, so data from a
//! host or a YAML file can never change how a command is split or run.

mod command;
mod jump;
mod local;
pub mod output;
pub mod powershell;
mod ssh;
pub mod winrm;

use std::time::Duration;

use async_trait::async_trait;

pub use command::{CommandOutput, RemoteCommand};
pub use local::LocalTransport;
pub use output::{DEFAULT_MAX_OUTPUT, STDERR_TAIL, Stream};
pub use ssh::{SshSettings, SshTransport};

/// Why a command could not be run (as opposed to running and failing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The host could not be reached or refused the login.
    #[error("{host}: cannot connect: {message}")]
    Unreachable { host: String, message: String },
    /// The host presented a key that does not match known_hosts.
    #[error("{host}: host key verification failed: {message}")]
    HostKey { host: String, message: String },
    /// The command did not finish in time; it was abandoned.
    #[error("{host}: `{command}` did not finish within {after:?}")]
    Timeout {
        host: String,
        command: String,
        after: Duration,
    },
    /// The command was refused before it was sent (e.g. a NUL byte or bad env name).
    #[error("{host}: refusing to run `{command}`: {reason}")]
    Invalid {
        host: String,
        command: String,
        reason: String,
    },
    /// The connection broke while the command ran.
    #[error("{host}: `{command}` failed: {message}")]
    Io {
        host: String,
        command: String,
        message: String,
    },
    /// The command sent more than the cap on one stream; reading stopped
    /// there and the command was ended.
    #[error(
        "{host}: `{program}` sent more than {} on {stream}, so patchwave stopped reading and ended it (a broken or compromised host can do this). If this host really prints that much, raise the Fleet's `scan.maxOutput` (now {})",
        output::format_size(*limit),
        output::format_size(*limit)
    )]
    OutputTooLarge {
        host: String,
        /// The program, without its arguments.
        program: String,
        stream: Stream,
        limit: u64,
    },
}

impl TransportError {
    /// A connection-level failure: the host, not the command, is the problem.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            TransportError::Unreachable { .. } | TransportError::HostKey { .. }
        )
    }
}

impl RemoteCommand {
    /// Refuses a command that cannot be sent as written (see [`RemoteCommand::problem`]).
    pub fn refuse_if_unsendable(&self, host: &str) -> Result<(), TransportError> {
        match self.problem() {
            Some(reason) => Err(TransportError::Invalid {
                host: host.to_string(),
                command: self.to_string(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// This command's output went past the cap on `host`.
    pub fn too_much_output(&self, host: &str, o: output::Overflow) -> TransportError {
        tracing::warn!(host, program = %self.program, limit = o.limit, "output past the cap; command ended");
        TransportError::OutputTooLarge {
            host: host.to_string(),
            program: self.program.clone(),
            stream: o.stream,
            limit: o.limit,
        }
    }

    /// This command, out of time on `host`.
    pub fn timed_out(&self, host: &str) -> TransportError {
        tracing::warn!(host, program = %self.program, after = ?self.timeout, "command timed out");
        TransportError::Timeout {
            host: host.to_string(),
            command: self.to_string(),
            after: self.timeout,
        }
    }

    /// A finished process as the transport reports it: the `timeout`
    /// wrapper's status means the command ran out of time.
    pub fn outcome(
        &self,
        host: &str,
        out: std::process::Output,
    ) -> Result<CommandOutput, TransportError> {
        if out.status.code() == Some(Self::TIMED_OUT_STATUS) {
            return Err(self.timed_out(host));
        }
        tracing::debug!(
            host,
            program = %self.program,
            status = ?out.status.code(),
            stdout_bytes = out.stdout.len(),
            "command finished"
        );
        Ok(CommandOutput {
            status: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

/// What kind of system is at the other end: which commands make sense there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Linux and friends: POSIX shell, coreutils.
    Unix,
    /// Windows: PowerShell.
    Windows,
}

/// A way to run commands on one host. Implementations reuse one connection
/// for every command to their host and are safe to share between tasks.
#[async_trait]
pub trait Transport: Send + Sync {
    /// The host's name, for messages.
    fn host(&self) -> &str;

    /// The kind of system this transport reaches.
    fn platform(&self) -> Platform {
        Platform::Unix
    }

    /// Runs a command to completion (or its timeout) and returns its output;
    /// a non-zero exit status is an `Ok` output, not an error.
    async fn run(&self, cmd: &RemoteCommand) -> Result<CommandOutput, TransportError>;

    /// Writes `contents` to the absolute `path` on the host with the given
    /// mode, atomically (a fresh temporary file beside it, then a rename).
    async fn write_file(
        &self,
        path: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), TransportError> {
        if !path.starts_with('/') {
            return Err(TransportError::Invalid {
                host: self.host().to_string(),
                command: format!("write {path}"),
                reason: "the path must be absolute".into(),
            });
        }
        // The script is constant; path and mode arrive as positional arguments.
        // mktemp never follows a planted symlink; `--` keeps a path from being an option.
        let cmd = RemoteCommand::new("sh")
            .args([
                "-c",
                "t=$(mktemp \"$1.XXXXXX\") && cat > \"$t\" && chmod -- \"$2\" \"$t\" && mv -f -- \"$t\" \"$1\" || { rm -f -- \"$t\"; exit 1; }",
                "sh",
                path,
                &format!("{mode:o}"),
            ])
            .stdin(contents.to_vec());
        let out = self.run(&cmd).await?;
        if out.success() {
            Ok(())
        } else {
            Err(TransportError::Io {
                host: self.host().to_string(),
                command: format!("write {path}"),
                message: out.stderr_tail(),
            })
        }
    }

    /// Ends the connection. Dropping also ends it; this lets callers wait.
    async fn close(&self) {}
}
