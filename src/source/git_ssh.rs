//! Git over SSH through the system's OpenSSH client, as the git command does:
//! `ssh host git-upload-pack '<path>'`, registered with libgit2 for `ssh://`
//! and scp-like remotes. libgit2's own SSH transport ignores ~/.ssh/config
//! and needs OpenSSL at build time; OpenSSH reads the user's config, agent,
//! keys and known_hosts exactly as `git fetch` would, and patchwave already
//! reaches hosts with it.
//!
//! Host keys are always checked (`StrictHostKeyChecking=yes`, never a
//! prompt: `BatchMode=yes`). Three environment variables point at files a
//! daemon or CI runner keeps outside the fleet repository:
//! `PATCHWAVE_GIT_SSH_KEY` (a private key, used alone),
//! `PATCHWAVE_GIT_KNOWN_HOSTS` (the known_hosts file) and
//! `PATCHWAVE_GIT_SSH_CONFIG` (an ssh_config used instead of ~/.ssh/config).

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};

/// An SSH remote, parsed from `ssh://[user@]host[:port]/path` or the
/// scp-like `[user@]host:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshUrl {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub path: String,
}

/// Where OpenSSH finds the key, known hosts and config for git remotes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshOptions {
    pub key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub config: Option<PathBuf>,
}

impl SshOptions {
    /// The options from `PATCHWAVE_GIT_SSH_KEY`, `PATCHWAVE_GIT_KNOWN_HOSTS`
    /// and `PATCHWAVE_GIT_SSH_CONFIG` (unset or empty: OpenSSH's defaults).
    pub fn from_env() -> SshOptions {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        SshOptions {
            key: path("PATCHWAVE_GIT_SSH_KEY"),
            known_hosts: path("PATCHWAVE_GIT_KNOWN_HOSTS"),
            config: path("PATCHWAVE_GIT_SSH_CONFIG"),
        }
    }
}

/// A host or user name that OpenSSH could take for an option, or that
/// carries whitespace or control characters, is refused.
fn plain_name(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s.starts_with('-') || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "the {what} `{s}` is not usable over SSH (empty, starting with `-`, or with spaces or control characters)"
        ));
    }
    Ok(())
}

impl SshUrl {
    /// Parses an SSH remote; `None` for URLs of other schemes.
    pub fn parse(url: &str) -> Option<Result<SshUrl, String>> {
        for scheme in ["ssh://", "git+ssh://", "ssh+git://"] {
            if let Some(rest) = url.strip_prefix(scheme) {
                return Some(Self::parse_ssh_scheme(rest));
            }
        }
        if url.contains("://") {
            return None;
        }
        // scp-like: the first colon comes before any slash.
        let colon = url.find(':')?;
        if url[..colon].contains('/') {
            return None;
        }
        let (authority, path) = (&url[..colon], &url[colon + 1..]);
        let (user, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h.to_string()),
            None => (None, authority.to_string()),
        };
        Some(Self::checked(SshUrl {
            user,
            host,
            port: None,
            path: path.to_string(),
        }))
    }

    fn parse_ssh_scheme(rest: &str) -> Result<SshUrl, String> {
        let slash = rest
            .find('/')
            .ok_or_else(|| format!("ssh://{rest} has no repository path"))?;
        let (authority, mut path) = (&rest[..slash], &rest[slash..]);
        // ssh://host/~user/repo names a path relative to a home directory.
        if path.starts_with("/~") {
            path = &path[1..];
        }
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
            // [::1]:2222
            let (h, after) = inner
                .split_once(']')
                .ok_or_else(|| format!("ssh://{rest}: unclosed `[` in the host"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let port = match port {
            None | Some("") => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("ssh://{rest}: `{p}` is not a port number"))?,
            ),
        };
        Self::checked(SshUrl {
            user,
            host,
            port,
            path: path.to_string(),
        })
    }

    fn checked(url: SshUrl) -> Result<SshUrl, String> {
        plain_name("host", &url.host)?;
        if let Some(user) = &url.user {
            plain_name("user", user)?;
        }
        if url.path.is_empty() || url.path.chars().any(|c| c.is_control()) {
            return Err(format!(
                "the repository path `{}` on {} is empty or has control characters",
                url.path.escape_debug(),
                url.host
            ));
        }
        Ok(url)
    }

    /// The command the remote side runs, its path quoted for the remote
    /// shell the way git quotes it (`'...'`, each `'` as `'\''`).
    pub fn remote_command(&self, program: &str) -> String {
        format!("{program} '{}'", self.path.replace('\'', r"'\''"))
    }

    /// The argument vector after `ssh`.
    pub fn ssh_args(&self, program: &str, opts: &SshOptions) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut opt = |a: &str, b: OsString| {
            args.push(a.into());
            args.push(b);
        };
        if let Some(config) = &opts.config {
            opt("-F", config.clone().into_os_string());
        }
        for o in [
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "ConnectTimeout=30",
            "ServerAliveInterval=15",
            "ServerAliveCountMax=4",
        ] {
            opt("-o", o.into());
        }
        if let Some(known) = &opts.known_hosts {
            let mut o = OsString::from("UserKnownHostsFile=\"");
            o.push(known);
            o.push("\"");
            opt("-o", o);
            opt("-o", "GlobalKnownHostsFile=/dev/null".into());
        }
        if let Some(key) = &opts.key {
            opt("-i", key.clone().into_os_string());
            opt("-o", "IdentitiesOnly=yes".into());
        }
        if let Some(port) = self.port {
            opt("-p", port.to_string().into());
        }
        if let Some(user) = &self.user {
            opt("-l", user.into());
        }
        args.push("--".into());
        args.push(self.host.clone().into());
        args.push(self.remote_command(program).into());
        args
    }
}

/// One `ssh` process speaking git's protocol on its stdin and stdout.
struct SshStream {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    stderr: Arc<Mutex<Vec<u8>>>,
    host: String,
}

/// Stderr kept from ssh, at most this much (the tail is what explains).
const STDERR_CAP: usize = 16 * 1024;

impl SshStream {
    fn spawn(url: &SshUrl, program: &str, opts: &SshOptions) -> io::Result<SshStream> {
        let mut child = Command::new("ssh")
            .args(url.ssh_args(program, opts))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| io::Error::other(format!("cannot run ssh (OpenSSH's client): {e}")))?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut kept = sink.lock().unwrap_or_else(|p| p.into_inner());
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > STDERR_CAP {
                    let cut = kept.len() - STDERR_CAP;
                    kept.drain(..cut);
                }
            }
        });
        Ok(SshStream {
            stdin: child.stdin.take(),
            stdout: child.stdout.take().expect("stdout is piped"),
            child,
            stderr,
            host: url.host.clone(),
        })
    }

    /// Why ssh ended, from its exit status and stderr, once it has ended
    /// (waits a moment for the stderr reader to catch up).
    fn failure(&mut self) -> Option<io::Error> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return None,
            }
        };
        if status.success() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
        let said = {
            let kept = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
            String::from_utf8_lossy(&kept).trim().to_string()
        };
        let hint = if said.contains("Host key verification failed")
            || said.contains("No ED25519 host key is known")
            || said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            "; the host's key is not in the known_hosts file: check its fingerprint, then add it \
             (`ssh-keyscan` into the file PATCHWAVE_GIT_KNOWN_HOSTS names, or ~/.ssh/known_hosts)"
        } else if said.contains("Permission denied") {
            "; no key was accepted: load one into ssh-agent or set PATCHWAVE_GIT_SSH_KEY"
        } else {
            ""
        };
        Some(io::Error::other(format!(
            "ssh to {} failed ({status}): {}{hint}",
            self.host,
            if said.is_empty() { "no message" } else { &said }
        )))
    }
}

impl Read for SshStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.stdout.read(buf) {
            Ok(0) => match self.failure() {
                Some(e) => Err(e),
                None => Ok(0),
            },
            other => other,
        }
    }
}

impl Write for SshStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        };
        match stdin.write(data) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(self.failure().unwrap_or(e)),
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.stdin.as_mut() {
            Some(s) => s.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for SshStream {
    /// Closes stdin and lets the remote side finish (a push's ref updates
    /// are done by the time libgit2 lets go), then makes sure ssh is gone.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct SshSubtransport {
    opts: SshOptions,
}

impl SmartSubtransport for SshSubtransport {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let parsed = match SshUrl::parse(url) {
            Some(Ok(u)) => u,
            Some(Err(e)) => return Err(git2::Error::from_str(&e)),
            None => {
                return Err(git2::Error::from_str(&format!(
                    "{} is not an SSH remote",
                    super::redact(url)
                )));
            }
        };
        let program = match action {
            Service::UploadPackLs | Service::UploadPack => "git-upload-pack",
            Service::ReceivePackLs | Service::ReceivePack => "git-receive-pack",
        };
        let stream = SshStream::spawn(&parsed, program, &self.opts)
            .map_err(|e| git2::Error::from_str(&e.to_string()))?;
        Ok(Box::new(stream))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

/// Registers the OpenSSH transport with libgit2 for every SSH spelling
/// (once per process; libgit2's transport table is process-wide). The
/// options are read from the environment at each connection.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // libgit2 adds the `://` (scp-like URLs are looked up as `ssh://`).
        for scheme in ["ssh", "git+ssh", "ssh+git"] {
            // SAFETY: `Once` serialises registration; libgit2 requires that
            // no transport is being created concurrently, and none is
            // before the first remote operation, which calls this first.
            let registered = unsafe {
                git2::transport::register(scheme, |remote| {
                    Transport::smart(
                        remote,
                        false,
                        SshSubtransport {
                            opts: SshOptions::from_env(),
                        },
                    )
                })
            };
            if let Err(e) = registered {
                eprintln!("patchwave: cannot register the SSH git transport for {scheme}: {e}");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> SshUrl {
        SshUrl::parse(s).unwrap().unwrap()
    }

    #[test]
    fn both_spellings_parse() {
        assert_eq!(
            url("ssh://git@example.org:2222/srv/fleet.git"),
            SshUrl {
                user: Some("git".into()),
                host: "example.org".into(),
                port: Some(2222),
                path: "/srv/fleet.git".into()
            }
        );
        assert_eq!(
            url("git@example.org:infra/fleet.git"),
            SshUrl {
                user: Some("git".into()),
                host: "example.org".into(),
                port: None,
                path: "infra/fleet.git".into()
            }
        );
        assert_eq!(url("ssh://[::1]:22/r").host, "::1");
        assert_eq!(url("ssh://h/~alice/r.git").path, "~alice/r.git");
        assert_eq!(url("git+ssh://h/r").host, "h");
        assert!(SshUrl::parse("https://example.org/r.git").is_none());
        assert!(SshUrl::parse("/srv/fleet.git").is_none());
        assert!(SshUrl::parse("./a:b").is_none());
    }

    #[test]
    fn option_like_or_odd_names_are_refused() {
        for bad in [
            "ssh://-oProxyCommand=x/r",
            "-oProxyCommand=x:r",
            "ssh://-l@h/r",
            "ssh://h:99999/r",
            "ssh://h/r\nx",
            "ssh://host",
            "a b:r",
        ] {
            assert!(
                matches!(SshUrl::parse(bad), Some(Err(_))),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn the_path_is_quoted_for_the_remote_shell() {
        let u = url("ssh://h/srv/it's; rm -rf ~.git");
        assert_eq!(
            u.remote_command("git-upload-pack"),
            r"git-upload-pack '/srv/it'\''s; rm -rf ~.git'"
        );
    }

    #[test]
    fn the_argv_checks_host_keys_and_ends_options_before_the_host() {
        let opts = SshOptions {
            key: Some("/k/id".into()),
            known_hosts: Some("/k/known hosts".into()),
            config: None,
        };
        let args: Vec<String> = url("ssh://git@h:2222/r.git")
            .ssh_args("git-receive-pack", &opts)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("-o BatchMode=yes -o StrictHostKeyChecking=yes"));
        assert!(joined.contains("-o UserKnownHostsFile=\"/k/known hosts\""));
        assert!(joined.contains("-i /k/id -o IdentitiesOnly=yes -p 2222 -l git"));
        assert_eq!(
            &args[args.len() - 3..],
            ["--", "h", "git-receive-pack '/r.git'"]
        );
    }
}
