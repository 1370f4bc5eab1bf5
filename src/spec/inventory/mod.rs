//! `hostsFrom`: a HostGroup's hosts read from an Ansible inventory or an
//! ssh_config kept in the fleet repository, when the repository is loaded.
//!
//! Each host read becomes an ordinary [`HostSpec`] (name, address, port,
//! user) appended to the group's `hosts`, with positions in the file it
//! came from, so `validate` checks it like a written host and reports it at
//! `inventory/hosts.ini:LINE:COL`. Nothing read here is ever run or put in
//! a shell string: addresses and users go through the same checks as the
//! YAML's. Problems are diagnostics; loading goes on.

pub mod ansible;
pub mod pattern;
pub mod ssh_config;

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use super::Repository;
use super::diagnostic::{Diagnostic, Origin};
use super::host_group::{HostSpec, HostsFromSpec};
use super::spanned::{Pos, Spanned};
use super::values::closest;

/// The connection settings an inventory gives a host; unset ones fall back
/// to the group's `connection` (then the user's ssh_config, then defaults).
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub host: Option<Spanned<String>>,
    pub port: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
}

impl Vars {
    /// Sets an Ansible variable if patchwave reads it (`ansible_ssh_*` are
    /// the older names Ansible still accepts); others are ignored.
    pub fn set_ansible(&mut self, key: &str, value: Spanned<String>) {
        match key {
            "ansible_host" | "ansible_ssh_host" => self.host = Some(value),
            "ansible_port" | "ansible_ssh_port" => self.port = Some(value),
            "ansible_user" | "ansible_ssh_user" => self.user = Some(value),
            _ => {}
        }
    }

    /// `over`'s values where it has them.
    pub fn overlay(&mut self, over: &Vars) {
        for (mine, theirs) in [
            (&mut self.host, &over.host),
            (&mut self.port, &over.port),
            (&mut self.user, &over.user),
        ] {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
    }
}

/// One host as a file gives it, settings resolved.
#[derive(Debug)]
pub struct Found {
    pub name: Spanned<String>,
    pub vars: Vars,
}

/// A file read once per load, however many groups name it.
enum Source {
    Ansible(ansible::Inventory),
    Ssh(ssh_config::SshConfig),
    /// Unreadable or a script: already reported.
    Broken,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Format {
    Ansible,
    SshConfig,
}

/// Whether an Ansible inventory is YAML (or JSON) rather than INI: by its
/// name (`.yaml`, `.yml`, `.json`), else by its first line that is not a
/// comment (`---`, `{`, or a lone `name:` as in `all:`), as Ansible tries
/// its YAML reader on any file.
pub fn is_yaml_inventory(path: &Path, text: &str) -> bool {
    let by_name = path
        .extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"));
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'));
    by_name
        || first.is_some_and(|l| {
            l == "---"
                || l.starts_with('{')
                || l.strip_suffix(':').is_some_and(|k| {
                    !k.is_empty()
                        && !k.contains(|c: char| c.is_whitespace() || c == ':' || c == '=')
                })
        })
}

/// Reads every group's `hostsFrom` and appends the hosts to its `hosts`.
pub(super) fn resolve(
    root: &Path,
    canonical_root: &Path,
    repo: &mut Repository,
    diags: &mut Vec<Diagnostic>,
) {
    let mut reader = Reader {
        root,
        canonical_root,
        cache: HashMap::new(),
        reported: HashSet::new(),
        diags,
    };
    for g in &mut repo.groups {
        let entries = std::mem::take(&mut g.spec.hosts_from);
        for e in &entries {
            let hosts = reader.entry(&g.origin, e);
            g.spec.hosts.extend(hosts);
        }
        g.spec.hosts_from = entries;
    }
}

/// A file as shown in diagnostics, and what it held.
type Read = (Arc<Path>, Source);

struct Reader<'a> {
    root: &'a Path,
    canonical_root: &'a Path,
    cache: HashMap<(PathBuf, Format), Rc<Read>>,
    /// Per-host problems already reported (a group variable shared by many hosts).
    reported: HashSet<(Arc<Path>, Pos, String)>,
    diags: &'a mut Vec<Diagnostic>,
}

impl Reader<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn entry(&mut self, o: &Origin, e: &Spanned<HostsFromSpec>) -> Vec<HostSpec> {
        let (path, format, what) = match (&e.ansible_inventory, &e.ssh_config) {
            (Some(p), None) => (p, Format::Ansible, "ansibleInventory"),
            (None, Some(p)) => (p, Format::SshConfig, "sshConfig"),
            _ => {
                self.push(
                    o.error(
                        e.pos,
                        "a hostsFrom entry needs exactly one of `ansibleInventory` or `sshConfig`",
                    )
                    .with_hint("write one entry per file"),
                );
                return Vec::new();
            }
        };
        if let (Format::SshConfig, Some(g)) = (format, &e.group) {
            self.push(
                o.error(
                    g.pos,
                    "`group` selects an Ansible inventory group; an ssh_config has none",
                )
                .with_hint("pick hosts by name with `hosts: [\"web-*\"]`"),
            );
        }
        let Some(rel) = self.relative(o, path, what) else {
            return Vec::new();
        };
        let Some(read) = self.read(o, path, &rel, format, what) else {
            return Vec::new();
        };
        let (shown, source) = &*read;
        // `hosts` globs: which hosts to keep, and which globs matched one.
        let mut matched = vec![false; e.hosts.len()];
        let mut keep = |name: &str| {
            let mut any = e.hosts.is_empty();
            for (i, glob) in e.hosts.iter().enumerate() {
                if pattern::glob_matches(glob, name) {
                    matched[i] = true;
                    any = true;
                }
            }
            any
        };
        let found: Vec<Found> = match source {
            Source::Broken => return Vec::new(),
            Source::Ansible(inv) => match inv.select(e.group.as_ref().map(|g| g.value.as_str())) {
                Some(f) => f.into_iter().filter(|f| keep(&f.name.value)).collect(),
                None => {
                    let g = e.group.as_ref().expect("only a named group can be missing");
                    let known = inv.group_names();
                    let hint = match closest(g, known.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if known.len() > 8 => {
                            format!("its groups include {}, …", known[..8].join(", "))
                        }
                        None => format!("its groups are {}", known.join(", ")),
                    };
                    let d = o
                        .error(
                            g.pos,
                            format!("group `{}` is not in {}", g.value, path.value),
                        )
                        .with_hint(hint);
                    self.push(d);
                    return Vec::new();
                }
            },
            Source::Ssh(cfg) => cfg.hosts(shown, &mut keep, self.diags),
        };
        let out: Vec<HostSpec> = found
            .into_iter()
            .map(|f| self.host(shown, format, f, e))
            .collect();
        for (glob, hit) in e.hosts.iter().zip(matched) {
            if !hit {
                self.push(
                    o.warning(
                        glob.pos,
                        format!("`{}` matches no host of {}", glob.value, path.value),
                    )
                    .with_hint("fix the pattern (`*` and `?` are wildcards), or remove it"),
                );
            }
        }
        out
    }

    /// The path relative to the repository, or an error when it could leave it.
    fn relative(&mut self, o: &Origin, p: &Spanned<String>, what: &str) -> Option<PathBuf> {
        let path = Path::new(&p.value);
        if p.value.trim().is_empty()
            || path.is_absolute()
            || path.components().any(|c| matches!(c, Component::ParentDir))
        {
            self.push(
                o.error(
                    p.pos,
                    format!("{what} `{}` must be a path inside the repository", p.value),
                )
                .with_hint("copy the file into the repository and write its path relative to the repository root, without `..`"),
            );
            return None;
        }
        Some(
            path.components()
                .filter(|c| !matches!(c, Component::CurDir))
                .collect(),
        )
    }

    /// The file, parsed once per load (its problems reported once).
    fn read(
        &mut self,
        o: &Origin,
        p: &Spanned<String>,
        rel: &Path,
        format: Format,
        what: &str,
    ) -> Option<Rc<Read>> {
        let key = (rel.to_path_buf(), format);
        if let Some(r) = self.cache.get(&key) {
            return Some(r.clone());
        }
        {
            let full = self.root.join(rel);
            let shown: Arc<Path> = Arc::from(super::load::shown_path(self.root, &full).as_path());
            if std::fs::symlink_metadata(&full).is_err() {
                self.push(
                    o.error(
                        p.pos,
                        format!("{what} `{}` does not exist in the repository", p.value),
                    )
                    .with_hint(
                        "commit the file, or fix the path (relative to the repository root)",
                    ),
                );
                return None;
            }
            if full.is_dir() {
                self.push(
                    o.error(p.pos, format!("{what} `{}` is a directory", p.value))
                        .with_hint("name one file; write one hostsFrom entry per file"),
                );
                return None;
            }
            let source = match super::load::read_repo_file(self.canonical_root, &full) {
                Err((message, hint)) => {
                    self.push(
                        o.error(p.pos, format!("{what} `{}`: {message}", p.value))
                            .with_hint(hint),
                    );
                    Source::Broken
                }
                Ok(bytes) => self.parse(&shown, &full, format, bytes),
            };
            let r = Rc::new((shown, source));
            self.cache.insert(key, r.clone());
            Some(r)
        }
    }

    fn parse(&mut self, shown: &Arc<Path>, full: &Path, format: Format, bytes: Vec<u8>) -> Source {
        let Ok(text) = String::from_utf8(bytes) else {
            self.push(
                Diagnostic::error(shown, Pos::new(1, 1), "file is not valid UTF-8")
                    .with_hint("save it as UTF-8"),
            );
            return Source::Broken;
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        if format != Format::SshConfig && text.starts_with("#!") {
            self.push(
                Diagnostic::error(shown, Pos::new(1, 1), "this inventory is a script; patchwave never runs it")
                    .with_hint("commit what it prints instead: `ansible-inventory -i SCRIPT --list --yaml > inventory/hosts.yaml`"),
            );
            return Source::Broken;
        }
        match format {
            Format::SshConfig => Source::Ssh(ssh_config::parse(shown, text, self.diags)),
            Format::Ansible => {
                let inv = if is_yaml_inventory(full, text) {
                    ansible::parse_yaml(shown, text, self.diags)
                } else {
                    ansible::parse_ini(shown, text, self.diags)
                };
                for dir in ["group_vars", "host_vars"] {
                    if full.parent().is_some_and(|p| p.join(dir).is_dir()) {
                        self.push(
                            Diagnostic::warning(
                                shown,
                                Pos::new(0, 0),
                                format!("`{dir}/` beside this inventory is not read: `ansible_host`, `ansible_port` and `ansible_user` set there do not apply"),
                            )
                            .with_hint("set them in the inventory file itself, or `connection.user`/`connection.port` on the group"),
                        );
                    }
                }
                Source::Ansible(inv)
            }
        }
    }

    /// A host read from a file as a HostSpec, its port parsed.
    fn host(&mut self, shown: &Arc<Path>, format: Format, f: Found, e: &HostsFromSpec) -> HostSpec {
        let port_word = match format {
            Format::SshConfig => "Port",
            Format::Ansible => "ansible_port",
        };
        let port = f
            .vars
            .port
            .and_then(|p| match p.value.trim().parse::<u32>() {
                Ok(n) => Some(Spanned::new(n, p.pos)),
                Err(_) => {
                    let message = format!("{port_word} `{}` is not a port number", p.value);
                    if self
                        .reported
                        .insert((shown.clone(), p.pos, message.clone()))
                    {
                        self.push(
                            Diagnostic::error(shown, p.pos, message)
                                .with_hint("write a number, 1-65535"),
                        );
                    }
                    None
                }
            });
        HostSpec {
            name: f.name,
            address: f.vars.host,
            port,
            user: f.vars.user,
            criticality: None,
            labels: e.labels.clone(),
            source: Some(shown.clone()),
        }
    }
}

/// A token of an inventory line and its byte offset in the text lexed.
#[derive(Debug)]
pub(crate) struct Token {
    pub text: String,
    pub byte: usize,
}

#[derive(Debug)]
pub(crate) struct Lexed {
    pub tokens: Vec<Token>,
}

/// Splits a line as a POSIX shell would split words (Ansible's INI reader
/// and ssh both do): whitespace separates, `'…'` and `"…"` quote, `\`
/// escapes, a `#` starting a word starts a comment. Nothing is expanded.
/// `Err`: the byte offset of an unclosed quote, and a message.
pub(crate) fn lex(line: &str) -> Result<Lexed, (usize, String)> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    let mut current: Option<Token> = None;
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                tokens.extend(current.take());
            }
            '#' if current.is_none() => break,
            '\'' | '"' => {
                let tok = current.get_or_insert(Token {
                    text: String::new(),
                    byte: i,
                });
                let mut closed = false;
                while let Some((_, q)) = chars.next() {
                    if q == c {
                        closed = true;
                        break;
                    }
                    if c == '"'
                        && q == '\\'
                        && let Some(&(_, n)) = chars.peek()
                        && matches!(n, '"' | '\\' | '$' | '`')
                    {
                        tok.text.push(n);
                        chars.next();
                        continue;
                    }
                    tok.text.push(q);
                }
                if !closed {
                    return Err((i, format!("unclosed quote `{c}`")));
                }
            }
            '\\' => {
                let tok = current.get_or_insert(Token {
                    text: String::new(),
                    byte: i,
                });
                if let Some((_, n)) = chars.next() {
                    tok.text.push(n);
                }
            }
            c => current
                .get_or_insert(Token {
                    text: String::new(),
                    byte: i,
                })
                .text
                .push(c),
        }
    }
    tokens.extend(current);
    Ok(Lexed { tokens })
}

/// A YAML error in an inventory file, at its position there.
pub(crate) fn yaml_problem(file: &Path, err: &serde_saphyr::Error, hint: &str) -> Diagnostic {
    let pos = err
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| {
            let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
            Pos::new(clamp(l.line()), clamp(l.column()))
        })
        .unwrap_or(Pos::new(1, 1));
    let message = super::load::strip_location_suffix(&err.to_string());
    let hint = if matches!(
        err.without_snippet(),
        serde_saphyr::Error::ExternalMessage { .. }
    ) {
        "YAML syntax: check the indentation, quotes and brackets here and on the lines above"
            .to_string()
    } else if message.starts_with("unknown field") {
        "an inventory group holds only `hosts`, `children` and `vars`".to_string()
    } else {
        hint.to_string()
    };
    Diagnostic::error(file, pos, message).with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<(String, usize)> {
        lex(line)
            .unwrap()
            .tokens
            .into_iter()
            .map(|t| (t.text, t.byte))
            .collect()
    }

    #[test]
    fn yaml_inventories_are_known_by_name_or_first_line() {
        let p = Path::new;
        assert!(is_yaml_inventory(p("hosts.YML"), "[web]\n"));
        assert!(is_yaml_inventory(p("hosts"), "# c\n\nall:\n  hosts:\n"));
        assert!(is_yaml_inventory(p("hosts"), "---\nall: {}\n"));
        assert!(!is_yaml_inventory(p("hosts"), "; c\nweb1:2222\n[web]\n"));
        assert!(!is_yaml_inventory(
            p("hosts.ini"),
            "[web]\nweb1 ansible_host=a\n"
        ));
        assert!(!is_yaml_inventory(p("hosts"), "web1 x=a:\n"));
    }

    #[test]
    fn lexing_is_shell_like_and_inert() {
        assert_eq!(
            words("web1 a=1  b=\"x y\" c='$(rm)' # note"),
            [
                ("web1".into(), 0),
                ("a=1".into(), 5),
                ("b=x y".into(), 10),
                ("c=$(rm)".into(), 18)
            ]
        );
        assert_eq!(
            words(r#"a\ b "q\"x""#),
            [("a b".into(), 0), ("q\"x".into(), 5)]
        );
        assert_eq!(words("x#y"), [("x#y".into(), 0)]);
        assert_eq!(lex("a 'b").unwrap_err().0, 2);
    }
}
