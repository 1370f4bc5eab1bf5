//! Why a connection through a jump host failed. ssh prints the jump host's
//! own failure (a name that does not resolve, nothing listening, a refused
//! key) on the stderr of the proxy it starts, which the master connection
//! does not keep: what is left is the target's handshake error
//! (`kex_exchange_identification: Connection closed by remote host`). After
//! such a failure, patchwave makes the first hop again on its own — `ssh -W
//! target:port jump`, exactly what ProxyJump runs, as argv (no shell) — and
//! reports what ssh says about it.

use std::ffi::OsString;
use std::process::Stdio;
use std::time::Duration;

use super::ssh::SshSettings;

/// `ssh`'s arguments for the first hop to `jump` (`[user@]host[:port]`).
pub fn probe_args(jump: &str, s: &SshSettings) -> Vec<OsString> {
    let (user, hostport) = match jump.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, jump),
    };
    // `host:port`, but not an IPv6 address (which has several colons).
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.parse::<u16>().is_ok() => (h, Some(p)),
        _ => (hostport, None),
    };
    let target = match s.address.contains(':') {
        true => format!("[{}]:{}", s.address, s.port.unwrap_or(22)),
        false => format!("{}:{}", s.address, s.port.unwrap_or(22)),
    };
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |x: &str| a.push(x.into());
    push("-o");
    push("BatchMode=yes");
    push("-o");
    push("StrictHostKeyChecking=yes");
    push("-o");
    push(&format!(
        "ConnectTimeout={}",
        s.connect_timeout.as_secs().max(1)
    ));
    if let Some(kh) = &s.known_hosts_file {
        push("-o");
        push(&format!("UserKnownHostsFile={}", kh.display()));
    }
    if let Some(cfg) = &s.config_file {
        push("-F");
        a.push(cfg.as_os_str().to_owned());
    }
    let mut push = |x: &str| a.push(x.into());
    if let Some(p) = port {
        push("-p");
        push(p);
    }
    if let Some(u) = user {
        push("-l");
        push(u);
    }
    push("-W");
    push(&target);
    push("--");
    push(host);
    a
}

/// Where a connection through a jump host failed, in ssh's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HopProblem {
    /// The jump host itself: unresolvable, unreachable, refused the login.
    Jump(String),
    /// The jump host could not open the connection on to the target.
    Beyond(String),
}

/// What ssh says when the first hop through `jump` is made on its own;
/// `None` when it worked (the failure is in the target's own handshake) or
/// ssh said nothing.
pub async fn first_hop_problem(jump: &str, s: &SshSettings) -> Option<HopProblem> {
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.args(probe_args(jump, s))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let bound = s.connect_timeout + Duration::from_secs(5);
    let out = tokio::time::timeout(bound, cmd.output()).await.ok()?.ok()?;
    let said: Vec<&str> = std::str::from_utf8(&out.stderr)
        .ok()?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if said.is_empty() {
        return None;
    }
    // ssh -W reports a failed onward connection as a channel that could
    // not be opened: the jump host was reached.
    let beyond = said
        .iter()
        .any(|l| l.starts_with("channel ") || l.contains("stdio forwarding failed"));
    match (beyond, out.status.success()) {
        (true, _) => Some(HopProblem::Beyond(said.join(" "))),
        (false, false) => Some(HopProblem::Jump(said.join(" "))),
        (false, true) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_hop_is_argv_with_the_jump_hosts_own_user_and_port() {
        let mut s = SshSettings::new("10.0.0.5");
        s.port = Some(2222);
        s.known_hosts_file = Some("/k h".into());
        let a: Vec<String> = probe_args("ops@bastion.example.com:2200", &s)
            .into_iter()
            .map(|x| x.into_string().unwrap())
            .collect();
        let tail = &a[a.len() - 8..];
        assert_eq!(
            tail,
            [
                "-p",
                "2200",
                "-l",
                "ops",
                "-W",
                "10.0.0.5:2222",
                "--",
                "bastion.example.com"
            ]
        );
        assert!(a.contains(&"UserKnownHostsFile=/k h".to_string()));
        let s6 = SshSettings::new("fd00::5");
        let a: Vec<String> = probe_args("fd00::1", &s6)
            .into_iter()
            .map(|x| x.into_string().unwrap())
            .collect();
        assert_eq!(&a[a.len() - 4..], ["-W", "[fd00::5]:22", "--", "fd00::1"]);
    }
}
