//! The machine patchwave runs on: for the quickstart and for running on a host itself.

use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::output::{self, ReadError};
use super::{CommandOutput, RemoteCommand, Transport, TransportError};

/// How long a command that went past the output cap gets to end once it is
/// told to (SIGTERM to its `timeout` wrapper, which passes it on to the
/// whole command and kills it 5 s later) before it is killed outright.
const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct LocalTransport {
    name: String,
    max_output: u64,
}

impl LocalTransport {
    pub fn new(name: impl Into<String>) -> Self {
        LocalTransport {
            name: name.into(),
            max_output: output::DEFAULT_MAX_OUTPUT,
        }
    }

    /// The most a command may print on stdout (and on stderr) before it is
    /// stopped and fails; default [`output::DEFAULT_MAX_OUTPUT`].
    pub fn with_max_output(mut self, bytes: u64) -> Self {
        self.max_output = bytes;
        self
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Asks the `timeout` wrapper to end its command, as it does when time runs out.
fn terminate(child: &tokio::process::Child) {
    const SIGTERM: i32 = 15;
    // `id` is `None` once the child is reaped, so the pid cannot have been reused.
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        unsafe {
            libc_kill(pid, SIGTERM);
        }
    }
}

#[async_trait]
impl Transport for LocalTransport {
    fn host(&self) -> &str {
        &self.name
    }

    async fn run(&self, cmd: &RemoteCommand) -> Result<CommandOutput, TransportError> {
        cmd.refuse_if_unsendable(&self.name)?;
        // The same wrapper as remote commands: `timeout` ends the whole command
        // (shell scripts' children included) when its time is up.
        let argv = cmd.wrapped_argv();
        let mut c = tokio::process::Command::new(&argv[0]);
        c.args(&argv[1..])
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let io_err = |e: std::io::Error| TransportError::Io {
            host: self.name.clone(),
            command: cmd.to_string(),
            message: e.to_string(),
        };
        let mut child = c.spawn().map_err(io_err)?;
        if let (Some(data), Some(mut stdin)) = (&cmd.stdin, child.stdin.take()) {
            let data = data.clone();
            tokio::spawn(async move {
                let _ = stdin.write_all(&data).await;
            });
        }
        let work = async {
            let streams =
                output::read_streams(child.stdout.take(), child.stderr.take(), self.max_output)
                    .await;
            match streams {
                Ok((stdout, stderr)) => {
                    let status = child.wait().await.map_err(io_err)?;
                    cmd.outcome(
                        &self.name,
                        std::process::Output {
                            status,
                            stdout,
                            stderr,
                        },
                    )
                }
                Err(ReadError::Overflow(o)) => {
                    terminate(&child);
                    if tokio::time::timeout(STOP_GRACE, child.wait())
                        .await
                        .is_err()
                    {
                        let _ = child.start_kill();
                    }
                    Err(cmd.too_much_output(&self.name, o))
                }
                Err(ReadError::Io(e)) => Err(io_err(e)),
            }
        };
        match tokio::time::timeout(cmd.transport_deadline(), work).await {
            Ok(r) => r,
            Err(_) => Err(cmd.timed_out(&self.name)),
        }
    }
}
