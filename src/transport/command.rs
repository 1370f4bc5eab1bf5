//! A command to run on a host, and what came back.

use std::fmt;
use std::time::Duration;

/// Default bound on any single command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A program and its arguments, never a shell string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCommand {
    pub program: String,
    pub args: Vec<String>,
    /// Set for the command only; `LC_ALL=C` is always set so output parses the same everywhere.
    pub env: Vec<(String, String)>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl RemoteCommand {
    pub fn new(program: impl Into<String>) -> Self {
        RemoteCommand {
            program: program.into(),
            args: Vec::new(),
            env: vec![("LC_ALL".into(), "C".into())],
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    pub fn stdin(mut self, data: Vec<u8>) -> Self {
        self.stdin = Some(data);
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The argument vector actually executed on the host: `env` sets the
    /// variables and coreutils `timeout` ends the command (and, 5 s later,
    /// kills it) when its time is up, so an abandoned command never lingers
    /// holding a package manager's lock. The prefix is constant; the
    /// command's own words follow unchanged.
    pub fn wrapped_argv(&self) -> Vec<String> {
        let mut argv = vec!["env".to_string()];
        argv.extend(self.env.iter().map(|(k, v)| format!("{k}={v}")));
        argv.extend([
            "timeout".to_string(),
            "-k".to_string(),
            "5".to_string(),
            format!("{}s", self.timeout.as_secs().max(1)),
            self.program.clone(),
        ]);
        argv.extend(self.args.iter().cloned());
        argv
    }

    /// Exit status of coreutils `timeout` when it had to stop the command.
    pub const TIMED_OUT_STATUS: i32 = 124;

    /// The transport's own bound: the remote `timeout` plus its kill grace
    /// and some slack, so the remote side normally reports first.
    pub fn transport_deadline(&self) -> std::time::Duration {
        self.timeout + std::time::Duration::from_secs(10)
    }

    /// Why this command must not be sent, if it must not: NUL bytes cannot be
    /// passed as arguments, and environment names must be plain identifiers.
    pub fn problem(&self) -> Option<String> {
        if self.program.is_empty() {
            return Some("empty program".into());
        }
        if std::iter::once(&self.program)
            .chain(&self.args)
            .chain(self.env.iter().map(|(_, v)| v))
            .any(|s| s.contains('\0'))
        {
            return Some("an argument contains a NUL byte".into());
        }
        for (k, _) in &self.env {
            let ok = !k.is_empty()
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !k.as_bytes()[0].is_ascii_digit();
            if !ok {
                return Some(format!("`{k}` is not an environment variable name"));
            }
        }
        None
    }
}

/// For logs and messages: the words, shown unambiguously but never run.
impl fmt::Display for RemoteCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program)?;
        for a in &self.args {
            if a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
                && !a.is_empty()
            {
                write!(f, " {a}")?;
            } else {
                write!(f, " {a:?}")?;
            }
        }
        Ok(())
    }
}

/// What a finished command returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandOutput {
    /// Exit code; `None` when the command was killed by a signal.
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The last lines of stderr (or stdout when stderr is empty), for error messages.
    pub fn stderr_tail(&self) -> String {
        let src = if self.stderr.iter().any(|b| !b.is_ascii_whitespace()) {
            &self.stderr
        } else {
            &self.stdout
        };
        let text = String::from_utf8_lossy(src);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let c = RemoteCommand::new("apt-get").args(["install", "-y", "pkg=1.0-1", "a b", "$(x)"]);
        assert_eq!(
            c.to_string(),
            r#"apt-get install -y pkg=1.0-1 "a b" "$(x)""#
        );
    }

    #[test]
    fn the_executed_argv_bounds_the_command_on_the_host() {
        let c = RemoteCommand::new("apt-get")
            .arg("update")
            .timeout(Duration::from_secs(90));
        assert_eq!(
            c.wrapped_argv(),
            [
                "env", "LC_ALL=C", "timeout", "-k", "5", "90s", "apt-get", "update"
            ]
        );
    }

    #[test]
    fn problems_are_found_before_sending() {
        assert!(RemoteCommand::new("x").arg("a\0b").problem().is_some());
        assert!(RemoteCommand::new("x").env("A-B", "1").problem().is_some());
        assert!(RemoteCommand::new("x").env("A_B", "1").problem().is_none());
        assert!(RemoteCommand::new("").problem().is_some());
    }

    #[test]
    fn stderr_tail_falls_back_to_stdout() {
        let o = CommandOutput {
            status: Some(1),
            stdout: b"1\n2\n3\n4\n5\n6\n".to_vec(),
            stderr: b"\n".to_vec(),
        };
        assert_eq!(o.stderr_tail(), "2\n3\n4\n5\n6");
    }
}
