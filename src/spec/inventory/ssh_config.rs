//! OpenSSH client configuration files, read as ssh reads them for the
//! three things patchwave needs. Every `Host` name without wildcards is a
//! host; its `HostName`, `Port` and `User` are the first values given by
//! the blocks that match it, in file order (settings before the first
//! `Host`, and wildcard blocks such as `Host *.prod`, count too; patterns
//! match with case counted, as ssh's do), with `%h` in `HostName` standing
//! for the name. `Include` is refused (the hosts must be in files this
//! repository reviews, each named by its own `hostsFrom` entry); `Match`
//! blocks are not evaluated (a warning).

use std::path::Path;

use super::pattern::{is_glob, ssh_pattern_matches};
use super::{Found, Lexed, Vars, lex};
use crate::spec::diagnostic::Diagnostic;
use crate::spec::spanned::{Pos, Spanned};

/// Keywords that change how ssh reaches a host but that patchwave does not
/// take from the file, with what to do instead.
const NOT_TAKEN: &[(&str, &str, &str)] = &[
    (
        "proxyjump",
        "ProxyJump",
        "set `connection.jumpHost` on the group",
    ),
    (
        "proxycommand",
        "ProxyCommand",
        "patchwave never runs a ProxyCommand from the repository; set `connection.jumpHost` on the group",
    ),
    (
        "identityfile",
        "IdentityFile",
        "set `connection.identityFile` on the group",
    ),
    (
        "userknownhostsfile",
        "UserKnownHostsFile",
        "set `connection.knownHostsFile` on the group",
    ),
];

#[derive(Debug)]
struct Block {
    /// `None`: the settings before the first `Host`, for every host.
    patterns: Option<Vec<(String, bool)>>,
    /// A `Match` block: not evaluated, applies to no host.
    is_match: bool,
    vars: Vars,
    /// Keywords of [`NOT_TAKEN`] written here: (index, position).
    not_taken: Vec<(usize, Pos)>,
}

impl Block {
    fn applies_to(&self, host: &str) -> bool {
        if self.is_match {
            return false;
        }
        match &self.patterns {
            None => true,
            Some(ps) => {
                ps.iter()
                    .any(|(p, neg)| !neg && ssh_pattern_matches(p, host))
                    && !ps
                        .iter()
                        .any(|(p, neg)| *neg && ssh_pattern_matches(p, host))
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct SshConfig {
    blocks: Vec<Block>,
    /// Concrete `Host` names, each once, in file order.
    hosts: Vec<Spanned<String>>,
}

/// Reads an ssh_config; problems go to `diags` at `file:line:col`.
pub fn parse(file: &Path, text: &str, diags: &mut Vec<Diagnostic>) -> SshConfig {
    let mut cfg = SshConfig {
        blocks: vec![Block {
            patterns: None,
            is_match: false,
            vars: Vars::default(),
            not_taken: Vec::new(),
        }],
        hosts: Vec::new(),
    };
    for (n, raw) in text.lines().enumerate() {
        let line_no = n as u32 + 1;
        let at = |byte: usize| Pos::new(line_no, raw[..byte].chars().count() as u32 + 1);
        let indent = raw.len() - raw.trim_start().len();
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let kw_end = line
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(line.len());
        let keyword = &line[..kw_end];
        let mut rest = line[kw_end..].trim_start();
        if let Some(r) = rest.strip_prefix('=') {
            rest = r.trim_start();
        }
        let rest_byte = indent + (line.len() - rest.len());
        let tokens = match lex(rest) {
            Ok(Lexed { tokens }) => tokens,
            Err((byte, why)) => {
                diags.push(
                    Diagnostic::error(file, at(rest_byte + byte), why).with_hint("close the quote"),
                );
                continue;
            }
        };
        let kw_pos = at(indent);
        let lower = keyword.to_ascii_lowercase();
        match lower.as_str() {
            "host" => {
                if tokens.is_empty() {
                    diags.push(
                        Diagnostic::error(
                            file,
                            kw_pos,
                            "`Host` needs at least one name or pattern",
                        )
                        .with_hint("write e.g. `Host web-1` or `Host *.example.com`"),
                    );
                }
                let mut patterns = Vec::new();
                for t in &tokens {
                    let (pattern, negated) = match t.text.strip_prefix('!') {
                        Some(p) => (p.to_string(), true),
                        None => (t.text.clone(), false),
                    };
                    if !negated
                        && !is_glob(&pattern)
                        && !cfg.hosts.iter().any(|h| h.value == pattern)
                    {
                        cfg.hosts
                            .push(Spanned::new(pattern.clone(), at(rest_byte + t.byte)));
                    }
                    patterns.push((pattern, negated));
                }
                cfg.blocks.push(Block {
                    patterns: Some(patterns),
                    is_match: false,
                    vars: Vars::default(),
                    not_taken: Vec::new(),
                });
            }
            "match" => {
                diags.push(
                    Diagnostic::warning(
                        file,
                        kw_pos,
                        "`Match` blocks are not evaluated: their settings apply to no host",
                    )
                    .with_hint("write the settings under `Host` lines if the hosts need them"),
                );
                cfg.blocks.push(Block {
                    patterns: None,
                    is_match: true,
                    vars: Vars::default(),
                    not_taken: Vec::new(),
                });
            }
            "include" => {
                diags.push(
                    Diagnostic::error(file, kw_pos, "`Include` is not followed")
                        .with_hint("copy the included `Host` entries into this file, or name the included file in a second `hostsFrom` entry"),
                );
            }
            "hostname" | "port" | "user" => {
                let block = cfg.blocks.last_mut().expect("the global block is first");
                let [value] = tokens.as_slice() else {
                    diags.push(
                        Diagnostic::error(
                            file,
                            kw_pos,
                            format!("`{keyword}` takes exactly one value"),
                        )
                        .with_hint("write e.g. `HostName 192.0.2.10`, `Port 2222`, `User deploy`"),
                    );
                    continue;
                };
                let slot = match lower.as_str() {
                    "hostname" => &mut block.vars.host,
                    "port" => &mut block.vars.port,
                    _ => &mut block.vars.user,
                };
                // ssh keeps the first value it reads.
                if slot.is_none() {
                    *slot = Some(Spanned::new(value.text.clone(), at(rest_byte + value.byte)));
                }
            }
            _ => {
                if let Some(i) = NOT_TAKEN.iter().position(|(k, _, _)| *k == lower) {
                    let block = cfg.blocks.last_mut().expect("the global block is first");
                    block.not_taken.push((i, kw_pos));
                }
            }
        }
    }
    cfg
}

impl SshConfig {
    /// Every concrete host `keep` keeps, with its settings resolved (first
    /// value wins over the matching blocks in file order). Warns where a
    /// matching block sets a connection keyword patchwave does not take.
    pub fn hosts(
        &self,
        file: &Path,
        keep: &mut dyn FnMut(&str) -> bool,
        diags: &mut Vec<Diagnostic>,
    ) -> Vec<Found> {
        let mut out = Vec::new();
        for name in self.hosts.iter().filter(|h| keep(&h.value)) {
            let mut vars = Vars::default();
            for b in self.blocks.iter().filter(|b| b.applies_to(&name.value)) {
                for (mine, theirs) in [
                    (&mut vars.host, &b.vars.host),
                    (&mut vars.port, &b.vars.port),
                    (&mut vars.user, &b.vars.user),
                ] {
                    if mine.is_none() {
                        mine.clone_from(theirs);
                    }
                }
                for &(i, pos) in &b.not_taken {
                    let (_, shown, hint) = NOT_TAKEN[i];
                    diags.push(
                        Diagnostic::warning(
                            file,
                            pos,
                            format!("`{shown}` is not used: patchwave takes only HostName, Port and User from an ssh_config"),
                        )
                        .with_hint(hint),
                    );
                }
            }
            if let Some(h) = &mut vars.host {
                match expand_tokens(&h.value, &name.value) {
                    Ok(v) => h.value = v,
                    Err(e) => {
                        diags.push(
                            Diagnostic::error(file, h.pos, format!("HostName `{}` {e}", h.value))
                                .with_hint(
                                    "write the address, or use only `%h` (the Host name) and `%%`",
                                ),
                        );
                        vars.host = None;
                    }
                }
            }
            out.push(Found {
                name: name.clone(),
                vars,
            });
        }
        out
    }
}

/// `%h` → the host's name, `%%` → `%`; other tokens are refused.
fn expand_tokens(text: &str, host: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(host),
            Some('%') => out.push('%'),
            Some(t) => return Err(format!("uses `%{t}`, which patchwave does not expand")),
            None => return Err("ends in a lone `%`".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, address, port, user) of each host.
    type Row = (String, String, String, String);

    fn resolve(text: &str) -> (Vec<Row>, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let cfg = parse(Path::new("c"), text, &mut diags);
        let hosts = cfg
            .hosts(Path::new("c"), &mut |_| true, &mut diags)
            .into_iter()
            .map(|f| {
                let s = |o: Option<Spanned<String>>| o.map(|x| x.value).unwrap_or_default();
                (f.name.value, s(f.vars.host), s(f.vars.port), s(f.vars.user))
            })
            .collect();
        (hosts, diags)
    }

    #[test]
    fn first_value_wins_and_wildcards_are_not_hosts() {
        let (hosts, diags) = resolve(
            "\
User global
Host web-1 web-2
  HostName=%h.example.com
  Port 2222
Host *.internal !db.internal
  Port 2200
Host db.internal app.internal
  HostName \"10.0.0.5\"  # the db
Host *
  User later
  Port 22
",
        );
        assert!(diags.is_empty(), "{diags:?}");
        let s = |a: &str, b: &str, c: &str, d: &str| {
            (a.to_string(), b.to_string(), c.to_string(), d.to_string())
        };
        assert_eq!(
            hosts,
            [
                s("web-1", "web-1.example.com", "2222", "global"),
                s("web-2", "web-2.example.com", "2222", "global"),
                s("db.internal", "10.0.0.5", "22", "global"),
                s("app.internal", "10.0.0.5", "2200", "global"),
            ]
        );
    }

    #[test]
    fn host_patterns_count_case_as_ssh_does() {
        // As `ssh -F this -G NAME` gives them (OpenSSH 9.2): `Host web*` is
        // not for `Web1` (port 22), nor `Host WEB1` for `web1` (2200), nor
        // `Host Web1 web1` for `WEB1` (no HostName).
        let (hosts, diags) = resolve(
            "\
Host Web1 web1
  HostName %h.example.com
Host web*
  Port 2200
Host WEB1
  Port 2300
Host *
  User web
",
        );
        assert!(diags.is_empty(), "{diags:?}");
        let s = |a: &str, b: &str, c: &str, d: &str| {
            (a.to_string(), b.to_string(), c.to_string(), d.to_string())
        };
        assert_eq!(
            hosts,
            [
                s("Web1", "Web1.example.com", "", "web"),
                s("web1", "web1.example.com", "2200", "web"),
                s("WEB1", "", "2300", "web"),
            ]
        );
    }

    #[test]
    fn problems_and_warnings_are_placed() {
        let (hosts, diags) = resolve(
            "\
Host a
  IdentityFile ~/.ssh/a
  HostName %r.x
Include other
Match host b
Host
Port 1 2
Host \"unclosed
",
        );
        assert_eq!(hosts.len(), 1);
        let got: Vec<String> = diags
            .iter()
            .map(|d| format!("{}:{} {:?} {}", d.line, d.col, d.severity, d.message))
            .collect();
        for want in [
            "2:3 Warning `IdentityFile` is not used",
            "3:12 Error HostName `%r.x` uses `%r`",
            "4:1 Error `Include` is not followed",
            "5:1 Warning `Match` blocks are not evaluated",
            "6:1 Error `Host` needs at least one",
            "7:1 Error `Port` takes exactly one value",
            "8:6 Error unclosed",
        ] {
            assert!(
                got.iter().any(|g| g.starts_with(want)),
                "missing {want}: {got:?}"
            );
        }
    }
}
