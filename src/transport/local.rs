//! The machine patchwave runs on: for the quickstart and for running on a host itself.

use std::process::Stdio;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::{CommandOutput, RemoteCommand, Transport, TransportError};

#[derive(Debug, Clone)]
pub struct LocalTransport {
    name: String,
}

impl LocalTransport {
    pub fn new(name: impl Into<String>) -> Self {
        LocalTransport { name: name.into() }
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
        match tokio::time::timeout(cmd.transport_deadline(), child.wait_with_output()).await {
            Ok(Ok(out)) => cmd.outcome(&self.name, out),
            Ok(Err(e)) => Err(io_err(e)),
            Err(_) => Err(cmd.timed_out(&self.name)),
        }
    }
}
