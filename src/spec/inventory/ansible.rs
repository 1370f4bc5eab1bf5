//! Ansible inventories, INI and YAML, read as Ansible reads them for the
//! three things patchwave needs: which hosts are in which groups, and each
//! host's `ansible_host`, `ansible_port` and `ansible_user` (host variables
//! over group variables, a child group's over its parent's). Every other
//! variable is ignored; `group_vars/` and `host_vars/` directories are not
//! read (the caller warns when they exist).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::pattern::expand_range;
use super::{Found, Lexed, Token, Vars, lex, yaml_problem};
use crate::spec::diagnostic::Diagnostic;
use crate::spec::spanned::{Pos, Spanned};

/// The groups Ansible always has.
const ALL: &str = "all";
const UNGROUPED: &str = "ungrouped";

#[derive(Debug)]
struct Host {
    name: Spanned<String>,
    vars: Vars,
    /// Groups that list this host themselves.
    groups: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Group {
    /// Declared by a section or a YAML key (not only named as a child or in `:vars`).
    defined: bool,
    hosts: Vec<usize>,
    children: Vec<Spanned<String>>,
    vars: Vars,
    /// Where `[name:vars]` / `[name:children]` first named it, for "undefined group".
    first_named: Option<(Pos, &'static str)>,
}

/// An inventory: hosts in the order they are first defined, and groups.
#[derive(Debug, Default)]
pub struct Inventory {
    hosts: Vec<Host>,
    index: HashMap<String, usize>,
    groups: BTreeMap<String, Group>,
}

impl Inventory {
    fn group(&mut self, name: &str) -> &mut Group {
        self.groups.entry(name.to_string()).or_default()
    }

    fn define(&mut self, name: &str) {
        self.group(name).defined = true;
    }

    fn add_host(&mut self, name: Spanned<String>, group: &str) -> usize {
        let i = match self.index.get(&name.value) {
            Some(&i) => i,
            None => {
                self.index.insert(name.value.clone(), self.hosts.len());
                self.hosts.push(Host {
                    name,
                    vars: Vars::default(),
                    groups: BTreeSet::new(),
                });
                self.hosts.len() - 1
            }
        };
        if self.hosts[i].groups.insert(group.to_string()) {
            self.group(group).hosts.push(i);
        }
        i
    }

    /// Every group a selection may name, for hints.
    pub fn group_names(&self) -> Vec<&str> {
        let mut names: BTreeSet<&str> = self
            .groups
            .iter()
            .filter(|(_, g)| g.defined)
            .map(|(n, _)| n.as_str())
            .collect();
        names.extend([ALL, UNGROUPED]);
        names.into_iter().collect()
    }

    fn is_ungrouped(&self, h: &Host) -> bool {
        h.groups.iter().all(|g| g == ALL || g == UNGROUPED)
    }

    /// The hosts of `group` and of its children (every host for `None`
    /// or `all`), in inventory order; `None` when there is no such group.
    pub fn select(&self, group: Option<&str>) -> Option<Vec<Found>> {
        let picked: Vec<usize> = match group {
            None | Some(ALL) => (0..self.hosts.len()).collect(),
            Some(UNGROUPED) => (0..self.hosts.len())
                .filter(|&i| self.is_ungrouped(&self.hosts[i]))
                .collect(),
            Some(name) => {
                if !self.groups.get(name).is_some_and(|g| g.defined) {
                    return None;
                }
                let mut seen = BTreeSet::new();
                let mut hosts = BTreeSet::new();
                let mut stack = vec![name.to_string()];
                while let Some(g) = stack.pop() {
                    if !seen.insert(g.clone()) {
                        continue;
                    }
                    if let Some(grp) = self.groups.get(&g) {
                        hosts.extend(grp.hosts.iter().copied());
                        stack.extend(grp.children.iter().map(|c| c.value.clone()));
                    }
                }
                hosts.into_iter().collect()
            }
        };
        Some(picked.into_iter().map(|i| self.found(i)).collect())
    }

    /// A host with its variables resolved as Ansible resolves them: `all`,
    /// then groups by depth (a child over its parent; at equal depth by
    /// name, the later name winning), then the host's own.
    fn found(&self, i: usize) -> Found {
        let host = &self.hosts[i];
        let parents = self.parents();
        let mut groups: BTreeSet<&str> = BTreeSet::new();
        let mut stack: Vec<&str> = host.groups.iter().map(String::as_str).collect();
        while let Some(g) = stack.pop() {
            if groups.insert(g) {
                stack.extend(parents.get(g).into_iter().flatten().copied());
            }
        }
        groups.insert(ALL);
        if self.is_ungrouped(host) {
            groups.insert(UNGROUPED);
        } else {
            groups.remove(UNGROUPED);
        }
        let mut memo = HashMap::new();
        let mut ordered: Vec<(usize, &str)> = groups
            .into_iter()
            .map(|g| (depth(g, &parents, &mut memo, 0), g))
            .collect();
        ordered.sort();
        let mut vars = Vars::default();
        for (_, g) in ordered {
            if let Some(grp) = self.groups.get(g) {
                vars.overlay(&grp.vars);
            }
        }
        vars.overlay(&host.vars);
        Found {
            name: host.name.clone(),
            vars,
        }
    }

    fn parents(&self) -> HashMap<&str, Vec<&str>> {
        let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
        for (name, g) in &self.groups {
            for c in &g.children {
                parents.entry(c.value.as_str()).or_default().push(name);
            }
        }
        parents
    }

    /// Undefined groups, and children that make a loop (the edge is
    /// dropped, so the rest can still be read).
    fn finish(&mut self, file: &Path, format: &str, diags: &mut Vec<Diagnostic>) {
        for (name, g) in &self.groups {
            if let (false, Some((pos, section))) = (g.defined, g.first_named)
                && name != ALL
                && name != UNGROUPED
            {
                let hint = format!(
                    "declare it with a `[{name}]` section (it may be empty), or fix the name"
                );
                let hint = if format == "yaml" {
                    format!("declare `{name}:` as a group, or fix the name")
                } else {
                    hint
                };
                diags.push(
                    Diagnostic::error(
                        file,
                        pos,
                        format!("{section} names undefined group `{name}`"),
                    )
                    .with_hint(hint),
                );
            }
        }
        let names: Vec<String> = self.groups.keys().cloned().collect();
        for name in names {
            let mut path = vec![name.clone()];
            self.drop_loops(file, &mut path, diags);
        }
    }

    fn drop_loops(&mut self, file: &Path, path: &mut Vec<String>, diags: &mut Vec<Diagnostic>) {
        let me = path.last().cloned().unwrap_or_default();
        let children = self
            .groups
            .get(&me)
            .map(|g| g.children.clone())
            .unwrap_or_default();
        for c in children {
            if path.contains(&c.value) {
                diags.push(
                    Diagnostic::error(
                        file,
                        c.pos,
                        format!(
                            "group `{}` is its own descendant: {} -> {}",
                            c.value,
                            path.join(" -> "),
                            c.value
                        ),
                    )
                    .with_hint("children must not loop back; remove one of these entries"),
                );
                if let Some(g) = self.groups.get_mut(&me) {
                    g.children.retain(|x| x.value != c.value);
                }
            } else if path.len() < 64 {
                path.push(c.value.clone());
                self.drop_loops(file, path, diags);
                path.pop();
            }
        }
    }
}

fn depth<'a>(
    g: &'a str,
    parents: &HashMap<&'a str, Vec<&'a str>>,
    memo: &mut HashMap<&'a str, usize>,
    guard: usize,
) -> usize {
    if g == ALL {
        return 0;
    }
    if let Some(&d) = memo.get(g) {
        return d;
    }
    let d = match parents.get(g) {
        Some(ps) if guard < 64 => {
            1 + ps
                .iter()
                .filter(|p| **p != ALL)
                .map(|p| depth(p, parents, memo, guard + 1))
                .max()
                .unwrap_or(0)
        }
        _ => 1,
    };
    memo.insert(g, d);
    d
}

/// `name`, `name:port` or `[v6]:port`, then ranges expanded: the hosts one
/// inventory entry defines, each at the entry's position.
fn host_pattern(
    file: &Path,
    token: &str,
    pos: Pos,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(Spanned<String>, Option<Spanned<String>>)> {
    let (name, port) = split_port(token);
    let names = match expand_range(name) {
        Ok(n) => n,
        Err(e) => {
            diags.push(
                Diagnostic::error(
                    file,
                    pos,
                    format!("host range `{name}` {}", before_hint(&e)),
                )
                .with_hint(after_hint(&e)),
            );
            return Vec::new();
        }
    };
    names
        .into_iter()
        .map(|n| {
            (
                Spanned::new(n, pos),
                port.map(|p| Spanned::new(p.to_string(), pos)),
            )
        })
        .collect()
}

fn before_hint(text: &str) -> &str {
    text.rsplit_once("; ").map_or(text, |(m, _)| m)
}

fn after_hint(text: &str) -> &str {
    text.rsplit_once("; ").map_or("", |(_, h)| h)
}

/// Splits `host:port` (a single `:` outside brackets, digits after it) and
/// `[v6]:port`; anything else (a bare IPv6 address) is all name.
fn split_port(token: &str) -> (&str, Option<&str>) {
    if let Some(inner) = token.strip_prefix('[')
        && let Some((addr, port)) = inner.split_once("]:")
        && addr.parse::<std::net::Ipv6Addr>().is_ok()
    {
        return (addr, Some(port));
    }
    let mut depth = 0i32;
    let mut colons = Vec::new();
    for (i, c) in token.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => colons.push(i),
            _ => {}
        }
    }
    match colons.as_slice() {
        [i] if token[i + 1..].bytes().all(|b| b.is_ascii_digit()) && *i + 1 < token.len() => {
            (&token[..*i], Some(&token[i + 1..]))
        }
        _ => (token, None),
    }
}

/// Section kinds of an INI inventory.
#[derive(Clone)]
enum Section {
    Hosts(String),
    Vars(String),
    Children(String),
}

/// Reads an INI inventory; problems go to `diags` at `file:line:col`.
pub fn parse_ini(file: &Path, text: &str, diags: &mut Vec<Diagnostic>) -> Inventory {
    let mut inv = Inventory::default();
    inv.define(ALL);
    inv.define(UNGROUPED);
    let mut section = Section::Hosts(UNGROUPED.into());
    for (n, raw) in text.lines().enumerate() {
        let line_no = n as u32 + 1;
        let indent = raw.len() - raw.trim_start().len();
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let col = |byte: usize| raw[..byte].chars().count() as u32 + 1;
        let at = |byte: usize| Pos::new(line_no, col(byte));
        if line.starts_with('[') {
            match parse_section(line) {
                Ok((name, kind)) => {
                    let pos = at(indent + 1);
                    section = match kind {
                        None => {
                            inv.define(&name);
                            Section::Hosts(name)
                        }
                        Some("children") => {
                            inv.define(&name);
                            Section::Children(name)
                        }
                        Some("vars") => {
                            let g = inv.group(&name);
                            if g.first_named.is_none() {
                                g.first_named = Some((pos, "a [name:vars] section"));
                            }
                            Section::Vars(name)
                        }
                        Some(other) => {
                            diags.push(
                                Diagnostic::error(
                                    file,
                                    pos,
                                    format!(
                                        "section `[{name}:{other}]` has unknown type `{other}`"
                                    ),
                                )
                                .with_hint(
                                    "sections are [group], [group:vars] and [group:children]",
                                ),
                            );
                            // Skip its lines rather than read them as hosts.
                            Section::Vars(String::new())
                        }
                    };
                }
                Err(why) => diags.push(
                    Diagnostic::error(file, at(indent), format!("invalid section `{line}`: {why}"))
                        .with_hint(
                            "write [group], [group:vars] or [group:children], without spaces",
                        ),
                ),
            }
            continue;
        }
        match section.clone() {
            Section::Vars(group) if group.is_empty() => {}
            Section::Vars(group) => {
                let key = line
                    .find('=')
                    .map(|eq| (eq, line[..eq].trim()))
                    .filter(|(_, k)| !k.is_empty() && !k.contains(char::is_whitespace));
                let Some((eq, key)) = key else {
                    diags.push(
                        Diagnostic::error(
                            file,
                            at(indent),
                            format!("expected `name=value` in [{group}:vars], got `{line}`"),
                        )
                        .with_hint("group variables are written one per line as `name=value`"),
                    );
                    continue;
                };
                let value_text = &line[eq + 1..];
                let value_byte =
                    indent + eq + 1 + (value_text.len() - value_text.trim_start().len());
                let value = match lex(value_text.trim()) {
                    Ok(Lexed { tokens, .. }) => tokens
                        .into_iter()
                        .next()
                        .map(|t| t.text)
                        .unwrap_or_default(),
                    Err((_, why)) => {
                        diags.push(
                            Diagnostic::error(
                                file,
                                at(value_byte),
                                format!("variable `{key}`: {why}"),
                            )
                            .with_hint("close the quote"),
                        );
                        continue;
                    }
                };
                inv.group(&group)
                    .vars
                    .set_ansible(key, Spanned::new(value, at(value_byte)));
            }
            Section::Children(group) => {
                let child = line.split('#').next().unwrap_or("").trim();
                if child.is_empty()
                    || child.contains(char::is_whitespace)
                    || child.contains([':', ']'])
                {
                    diags.push(
                        Diagnostic::error(
                            file,
                            at(indent),
                            format!("expected one group name in [{group}:children], got `{line}`"),
                        )
                        .with_hint("list one child group per line"),
                    );
                    continue;
                }
                let pos = at(indent);
                let c = inv.group(child);
                if c.first_named.is_none() {
                    c.first_named = Some((pos, "a [name:children] section"));
                }
                let parent = inv.group(&group);
                if !parent.children.iter().any(|c| c.value == child) {
                    parent.children.push(Spanned::new(child.to_string(), pos));
                }
            }
            Section::Hosts(group) => {
                let Lexed { tokens } = match lex(line) {
                    Ok(l) => l,
                    Err((byte, why)) => {
                        diags.push(
                            Diagnostic::error(file, at(indent + byte), why)
                                .with_hint("close the quote"),
                        );
                        continue;
                    }
                };
                let Some((first, rest)) = tokens.split_first() else {
                    continue;
                };
                let mut vars = Vec::new();
                let mut bad = false;
                for Token { text, byte } in rest {
                    match text.split_once('=') {
                        Some((k, v)) if !k.is_empty() => vars.push((
                            k.to_string(),
                            Spanned::new(v.to_string(), at(indent + byte + k.len() + 1)),
                        )),
                        _ => {
                            diags.push(
                                Diagnostic::error(
                                    file,
                                    at(indent + byte),
                                    format!("expected `name=value` after host `{}`, got `{text}`", first.text),
                                )
                                .with_hint("host variables are written `name=value` (no spaces around `=`); quote values with spaces"),
                            );
                            bad = true;
                        }
                    }
                }
                if bad {
                    continue;
                }
                let pos = at(indent + first.byte);
                for (name, port) in host_pattern(file, &first.text, pos, diags) {
                    let i = inv.add_host(name, &group);
                    if let Some(p) = port {
                        inv.hosts[i].vars.port = Some(p);
                    }
                    for (k, v) in &vars {
                        inv.hosts[i].vars.set_ansible(k, v.clone());
                    }
                }
            }
        }
    }
    inv.finish(file, "ini", diags);
    inv
}

/// `[name]` or `[name:kind]`, a comment allowed after it.
fn parse_section(line: &str) -> Result<(String, Option<&str>), &'static str> {
    let Some(close) = line.find(']') else {
        return Err("no closing `]`");
    };
    let after = line[close + 1..].trim();
    if !(after.is_empty() || after.starts_with('#') || after.starts_with(';')) {
        return Err("text after the `]`");
    }
    let inner = &line[1..close];
    let (name, kind) = match inner.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (inner, None),
    };
    if name.is_empty() || name.contains(char::is_whitespace) || name.contains('[') {
        return Err("the group name is empty or has spaces");
    }
    if kind.is_some_and(|k| k.is_empty() || k.contains(char::is_whitespace)) {
        return Err("the section type is empty or has spaces");
    }
    Ok((name.to_string(), kind))
}

/// Reads a YAML (or JSON) inventory: groups at the top level, each with
/// `hosts`, `children` and `vars`.
pub fn parse_yaml(file: &Path, text: &str, diags: &mut Vec<Diagnostic>) -> Inventory {
    let mut inv = Inventory::default();
    inv.define(ALL);
    inv.define(UNGROUPED);
    let mut opts = serde_saphyr::Options::default();
    opts.with_snippet = false;
    let top: Option<Entries<Option<YamlGroup>>> =
        match serde_saphyr::from_str_with_options(text, opts) {
            Ok(t) => t,
            Err(e) => {
                diags.push(yaml_problem(
                    file,
                    &e,
                    "an Ansible YAML inventory maps group names to `hosts`, `children` and `vars`",
                ));
                return inv;
            }
        };
    for (name, group) in top.map(|t| t.0).unwrap_or_default() {
        add_yaml_group(&mut inv, file, &name, group, diags);
    }
    inv.finish(file, "yaml", diags);
    inv
}

fn add_yaml_group(
    inv: &mut Inventory,
    file: &Path,
    name: &Spanned<String>,
    group: Option<YamlGroup>,
    diags: &mut Vec<Diagnostic>,
) {
    inv.define(name);
    let Some(group) = group else { return };
    for (pattern, vars) in group.hosts.map(|h| h.0).unwrap_or_default() {
        for (host, port) in host_pattern(file, &pattern.value, pattern.pos, diags) {
            let i = inv.add_host(host, name);
            if let Some(p) = port {
                inv.hosts[i].vars.port = Some(p);
            }
            if let Some(v) = &vars {
                inv.hosts[i].vars.overlay(&v.0);
            }
        }
    }
    if let Some(v) = &group.vars {
        inv.group(name).vars.overlay(&v.0);
    }
    for (child, sub) in group.children.map(|c| c.0).unwrap_or_default() {
        let parent = inv.group(name);
        if !parent.children.iter().any(|c| c.value == child.value) {
            parent.children.push(child.clone());
        }
        add_yaml_group(inv, file, &child, sub, diags);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlGroup {
    #[serde(default)]
    hosts: Option<Entries<Option<YamlVars>>>,
    #[serde(default)]
    children: Option<Entries<Option<YamlGroup>>>,
    #[serde(default)]
    vars: Option<YamlVars>,
}

/// A mapping with its keys' positions, in file order.
struct Entries<V>(Vec<(Spanned<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = Entries<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of names (a list is not an inventory mapping)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Spanned<KeyText>>()? {
                    out.push((Spanned::new(k.value.0, k.pos), map.next_value()?));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V_(std::marker::PhantomData))
    }
}

/// A mapping key as text (`10.0.0.1`, `web1`, or a number).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Scalar::deserialize(d).map(|s| KeyText(s.0.unwrap_or_default()))
    }
}

/// The variables of a host or group: the three patchwave reads, the rest skipped.
struct YamlVars(Vars);

impl<'de> Deserialize<'de> for YamlVars {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_;
        impl<'de> Visitor<'de> for V_ {
            type Value = YamlVars;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of variables")
            }
            fn visit_unit<E: de::Error>(self) -> Result<YamlVars, E> {
                Ok(YamlVars(Vars::default()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YamlVars, A::Error> {
                let mut vars = Vars::default();
                while let Some(k) = map.next_key::<KeyText>()? {
                    let k = k.0;
                    if matches!(
                        k.as_str(),
                        "ansible_host"
                            | "ansible_ssh_host"
                            | "ansible_port"
                            | "ansible_ssh_port"
                            | "ansible_user"
                            | "ansible_ssh_user"
                    ) {
                        let v: Spanned<Scalar> = map.next_value()?;
                        if let Some(text) = v.value.0 {
                            vars.set_ansible(&k, Spanned::new(text, v.pos));
                        }
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(YamlVars(vars))
            }
        }
        d.deserialize_map(V_)
    }
}

/// A scalar as text; null is `None`.
struct Scalar(Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_;
        impl Visitor<'_> for V_ {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
        }
        d.deserialize_any(V_)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(inv: &Inventory, g: Option<&str>) -> Vec<String> {
        inv.select(g)
            .unwrap()
            .into_iter()
            .map(|f| f.name.value)
            .collect()
    }

    #[test]
    fn ports_split_only_where_unambiguous() {
        assert_eq!(split_port("web:2222"), ("web", Some("2222")));
        assert_eq!(split_port("web[1:3]:22"), ("web[1:3]", Some("22")));
        assert_eq!(split_port("web[1:3]"), ("web[1:3]", None));
        assert_eq!(split_port("2001:db8::1"), ("2001:db8::1", None));
        assert_eq!(split_port("[2001:db8::1]:22"), ("2001:db8::1", Some("22")));
        assert_eq!(split_port("web:"), ("web:", None));
    }

    #[test]
    fn ini_groups_children_vars_and_precedence() {
        let text = "\
top1 ansible_host=10.0.0.1
[web]
web[1:2] ansible_user=alice
[db]
db1:2200
[prod:children]
web
db
[prod:vars]
ansible_user=prod
ansible_port = 2022
[db:vars]
ansible_user=\"dbadmin\" # trailing comment
[all:vars]
ansible_user=everyone
";
        let mut diags = Vec::new();
        let inv = parse_ini(Path::new("h.ini"), text, &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(names(&inv, None), ["top1", "web1", "web2", "db1"]);
        assert_eq!(names(&inv, Some("prod")), ["web1", "web2", "db1"]);
        assert_eq!(names(&inv, Some("ungrouped")), ["top1"]);
        assert!(inv.select(Some("nope")).is_none());
        let all = inv.select(None).unwrap();
        let v = |i: usize| {
            let f = &all[i].vars;
            (
                f.host.as_ref().map(|x| x.value.clone()),
                f.port.as_ref().map(|x| x.value.clone()),
                f.user.as_ref().map(|x| x.value.clone()),
            )
        };
        assert_eq!(
            v(0),
            (Some("10.0.0.1".into()), None, Some("everyone".into()))
        );
        // host var over child group over parent group over all
        assert_eq!(v(1), (None, Some("2022".into()), Some("alice".into())));
        assert_eq!(v(3), (None, Some("2200".into()), Some("dbadmin".into())));
        assert_eq!(all[3].name.pos, Pos::new(5, 1));
        assert_eq!(all[3].vars.user.as_ref().unwrap().pos, Pos::new(13, 14));
        assert_eq!(all[1].vars.user.as_ref().unwrap().pos, Pos::new(3, 23));
    }

    #[test]
    fn ini_problems_are_placed() {
        let text = "\
[web]
  web1 ansible_user
[web:kids]
[bad group]
[web:children]
missing
[ghost:vars]
x=1
[a:children]
b
[b:children]
a
";
        let mut diags = Vec::new();
        parse_ini(Path::new("h.ini"), text, &mut diags);
        let got: Vec<String> = diags
            .iter()
            .map(|d| format!("{}:{} {}", d.line, d.col, d.message))
            .collect();
        let want = [
            "2:8 expected `name=value` after host `web1`, got `ansible_user`",
            "3:2 section `[web:kids]` has unknown type `kids`",
            "4:1 invalid section `[bad group]`: the group name is empty or has spaces",
            "7:2 a [name:vars] section names undefined group `ghost`",
            "6:1 a [name:children] section names undefined group `missing`",
        ];
        for w in want {
            assert!(got.iter().any(|g| g == w), "missing {w}: {got:?}");
        }
        assert!(
            got.iter().any(|g| g.contains("is its own descendant")),
            "{got:?}"
        );
    }

    #[test]
    fn yaml_inventory() {
        let text = "\
all:
  hosts:
    mail.example.com:
  vars:
    ansible_user: root
  children:
    webservers:
      hosts:
        web[01:02].example.com:
          ansible_port: 2222
        foo.example.com:
          ansible_host: 192.0.2.5
          other: [1, 2, {a: b}]
      vars:
        ansible_user: deploy
    dbservers:
      hosts:
        db.example.com:2200:
";
        let mut diags = Vec::new();
        let inv = parse_yaml(Path::new("h.yaml"), text, &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            names(&inv, Some("webservers")),
            ["web01.example.com", "web02.example.com", "foo.example.com"]
        );
        let all = inv.select(None).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all[0].vars.user.as_ref().unwrap().value, "root");
        assert_eq!(all[1].vars.user.as_ref().unwrap().value, "deploy");
        assert_eq!(all[1].vars.port.as_ref().unwrap().value, "2222");
        assert_eq!(all[1].vars.port.as_ref().unwrap().pos, Pos::new(10, 25));
        assert_eq!(all[3].vars.host.as_ref().unwrap().value, "192.0.2.5");
        assert_eq!(all[4].vars.port.as_ref().unwrap().value, "2200");
        assert_eq!(all[3].name.pos, Pos::new(11, 9));
    }

    #[test]
    fn yaml_problems_are_placed() {
        let mut diags = Vec::new();
        parse_yaml(
            Path::new("h.yaml"),
            "all:\n  children:\n    web:\n      host:\n        a:\n",
            &mut diags,
        );
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!((diags[0].line, diags[0].col), (4, 7), "{diags:?}");
        assert!(
            diags[0].message.contains("unknown field `host`"),
            "{diags:?}"
        );
        let mut diags = Vec::new();
        parse_yaml(
            Path::new("h.yaml"),
            "all:\n  hosts:\n    - a\n    - b\n",
            &mut diags,
        );
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].line, 3, "{diags:?}");
    }
}
