//! WinRM as a [`Transport`]: each command runs in a shell of its own (its
//! environment set at creation, UTF-8 output, no user profile), started
//! directly rather than under `cmd.exe`, each argument quoted the way
//! Windows programs split their command line. The password is read from
//! the reference the fleet repository names (an environment variable or a
//! file) and never appears in a message.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::client::{Auth, Output, WinrmClient, WinrmError};
use super::envelope::ShellOptions;
use super::http::{Endpoint, Trust};
use crate::transport::{CommandOutput, RemoteCommand, Transport, TransportError};

/// Where the password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Env(String),
    File(PathBuf),
}

impl PasswordSource {
    /// The password, or why it cannot be had (naming the reference only).
    pub fn read(&self) -> Result<String, String> {
        match self {
            PasswordSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(v),
                _ => Err(format!(
                    "the environment variable {name} (the credentialRef) is not set"
                )),
            },
            PasswordSource::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| {
                    format!(
                        "cannot read the password file {} (the credentialRef): {e}",
                        path.display()
                    )
                }),
        }
    }
}

/// How patchwave authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    Basic,
    Ntlm,
}

/// Everything needed to reach one Windows host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinrmSettings {
    pub address: String,
    pub port: u16,
    /// `None`: plain HTTP (NTLM seals every message).
    pub tls: Option<Trust>,
    pub auth: AuthKind,
    pub user: String,
    pub password: PasswordSource,
    pub connect_timeout: Duration,
}

/// One argument as `CommandLineToArgvW` (and the C runtime) reads it back.
pub fn quote_arg(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '\n', '\x0b', '"']) {
        return arg.to_string();
    }
    let mut out = String::from('"');
    let mut backslashes = 0usize;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.push_str(&"\\".repeat(backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.push_str(&"\\".repeat(backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.push_str(&"\\".repeat(backslashes * 2));
    out.push('"');
    out
}

/// Every shell: UTF-8 output, no user profile, the command's environment.
fn shell_options(environment: Vec<(String, String)>) -> ShellOptions {
    ShellOptions {
        codepage: Some(65001),
        no_profile: true,
        environment,
    }
}

pub struct WinrmTransport {
    host: String,
    client: Arc<Mutex<WinrmClient>>,
}

/// `command` is the command as shown; `program` names it in an output-cap error.
fn transport_error(host: &str, command: &str, program: &str, e: WinrmError) -> TransportError {
    match e {
        WinrmError::OutputTooLarge { overflow, .. } => TransportError::OutputTooLarge {
            host: host.to_string(),
            program: program.to_string(),
            stream: overflow.stream,
            limit: overflow.limit,
        },
        WinrmError::Connect { message, .. } => TransportError::Unreachable {
            host: host.to_string(),
            message,
        },
        e @ (WinrmError::Auth { .. } | WinrmError::Refused { .. }) => {
            let text = e.to_string();
            TransportError::Unreachable {
                host: host.to_string(),
                message: text
                    .strip_prefix(&format!("{host}: "))
                    .unwrap_or(&text)
                    .to_string(),
            }
        }
        WinrmError::Timeout { after, .. } => TransportError::Timeout {
            host: host.to_string(),
            command: command.to_string(),
            after,
        },
        e @ (WinrmError::Fault { .. } | WinrmError::Protocol { .. }) => TransportError::Io {
            host: host.to_string(),
            command: command.to_string(),
            message: e.to_string(),
        },
    }
}

impl WinrmTransport {
    /// Connects and authenticates (a shell is opened and closed, so a wrong
    /// password or certificate shows here, not in the middle of a scan).
    pub async fn connect(host: &str, s: &WinrmSettings) -> Result<WinrmTransport, TransportError> {
        let unreachable = |message: String| TransportError::Unreachable {
            host: host.to_string(),
            message,
        };
        let password = s.password.read().map_err(unreachable)?;
        let auth = match s.auth {
            AuthKind::Basic => Auth::Basic {
                user: s.user.clone(),
                password,
            },
            AuthKind::Ntlm => Auth::ntlm(&s.user, &password),
        };
        let endpoint = Endpoint {
            host: s.address.clone(),
            port: s.port,
            tls: s.tls.clone(),
            connect_timeout: s.connect_timeout,
            read_timeout: Duration::from_secs(90),
        };
        let mut client = WinrmClient::new(host, endpoint, auth)
            .map_err(|e| transport_error(host, "connect", "connect", e))?;
        client.skip_cmd_shell = true;
        let client = Arc::new(Mutex::new(client));
        let probe = client.clone();
        let name = host.to_string();
        tokio::task::spawn_blocking(move || {
            let mut c = probe.lock().unwrap_or_else(|p| p.into_inner());
            let shell = c.open_shell(&shell_options(Vec::new()))?;
            c.close_shell(&shell)
        })
        .await
        .map_err(|e| unreachable(format!("the connection task failed: {e}")))?
        .map_err(|e| transport_error(&name, "connect", "connect", e))?;
        Ok(WinrmTransport {
            host: host.to_string(),
            client,
        })
    }

    /// The most a command may send on stdout (and on stderr) before it is
    /// terminated and fails; default [`crate::transport::DEFAULT_MAX_OUTPUT`].
    pub fn with_max_output(self, bytes: u64) -> WinrmTransport {
        self.client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .max_output = bytes;
        self
    }
}

#[async_trait]
impl Transport for WinrmTransport {
    fn host(&self) -> &str {
        &self.host
    }

    fn platform(&self) -> crate::transport::Platform {
        crate::transport::Platform::Windows
    }

    async fn run(&self, cmd: &RemoteCommand) -> Result<CommandOutput, TransportError> {
        cmd.refuse_if_unsendable(&self.host)?;
        let client = self.client.clone();
        let cmd = cmd.clone();
        let host = self.host.clone();
        let shown = cmd.to_string();
        let program = cmd.program.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<Output, WinrmError> {
            let mut c = client.lock().unwrap_or_else(|p| p.into_inner());
            // LC_ALL means nothing on Windows; the rest is the command's.
            let env = cmd.env.iter().filter(|(k, _)| k != "LC_ALL").cloned();
            let shell = c.open_shell(&shell_options(env.collect()))?;
            let args: Vec<String> = cmd.args.iter().map(|a| quote_arg(a)).collect();
            let out = c.run(
                &shell,
                &cmd.program,
                &args,
                cmd.stdin.as_deref(),
                cmd.timeout,
            );
            // The shell goes either way; a failure to delete it is not the command's.
            let _ = c.close_shell(&shell);
            out
        })
        .await
        .map_err(|e| TransportError::Io {
            host: host.clone(),
            command: shown.clone(),
            message: format!("the command task failed: {e}"),
        })?;
        let out = result.map_err(|e| transport_error(&host, &shown, &program, e))?;
        Ok(CommandOutput {
            status: out.exit_code,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    async fn write_file(
        &self,
        path: &str,
        _contents: &[u8],
        _mode: u32,
    ) -> Result<(), TransportError> {
        Err(TransportError::Invalid {
            host: self.host.clone(),
            command: format!("write {path}"),
            reason: "writing files over WinRM is not supported".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_survive_windows_command_line_splitting() {
        assert_eq!(quote_arg("KB5044281"), "KB5044281");
        assert_eq!(quote_arg(""), "\"\"");
        assert_eq!(quote_arg("a b"), "\"a b\"");
        assert_eq!(quote_arg(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(quote_arg(r"C:\dir with space\"), r#""C:\dir with space\\""#);
        assert_eq!(quote_arg(r#"a\"b"#), r#""a\\\"b""#);
        assert_eq!(quote_arg("a&b|c"), "a&b|c", "no cmd.exe in between");
    }

    #[test]
    fn a_missing_password_names_the_reference_not_a_value() {
        let e = PasswordSource::Env("PATCHWAVE_TEST_SURELY_UNSET_VAR".into())
            .read()
            .unwrap_err();
        assert!(e.contains("PATCHWAVE_TEST_SURELY_UNSET_VAR"), "{e}");
        let e = PasswordSource::File("/nonexistent/pw".into())
            .read()
            .unwrap_err();
        assert!(e.contains("/nonexistent/pw"), "{e}");
    }
}
