//! Checks beyond types: names, references, ranges, and the small languages
//! inside strings. Each check adds diagnostics and moves on, so one run
//! reports every problem.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::baseline::{PackageRule, PatchBaselineSpec};
use super::common::{CommandSpec, CountOrPercent};
use super::diagnostic::{Diagnostic, Origin};
use super::fleet::{SignatureFormat, VulnerabilityFormat};
use super::host_group::{
    ConnectionSpec, HostGroupSpec, OsFamily, TransportKind, WinrmAuth, WinrmScheme,
};
use super::openpgp_keys;
use super::parsed::{DurationText, Grammar, Parsed};
use super::resource::{Metadata, Resource};
use super::rollout::RolloutPolicySpec;
use super::spanned::{Pos, Spanned};
use super::values::{self, closest};
use super::window::WindowKind;
use super::{Kind, Repository};
use crate::schedule::WindowSchedule;

/// A parsed field's verdict, as [`Validator::check`] takes it.
fn parse_result<G: Grammar>(p: &Parsed<G>) -> Result<(), String> {
    p.checked().map(|_| ()).map_err(String::from)
}

/// Longest `approveAfterDays` accepted: ten years is already a policy of "never".
const MAX_APPROVE_AFTER_DAYS: i64 = 3650;
/// Upper bound on concurrency settings: beyond this, file descriptors run out first.
const MAX_CONCURRENCY: u32 = 4096;

pub fn validate(repo: &Repository, root: &Path) -> Vec<Diagnostic> {
    let mut v = Validator {
        repo,
        root,
        out: Vec::new(),
    };
    v.names();
    v.fleet();
    v.groups();
    v.hosts();
    v.baselines();
    v.approvals();
    v.windows();
    v.rollouts();
    v.emergencies();
    v.out
}

struct Validator<'a> {
    repo: &'a Repository,
    root: &'a Path,
    out: Vec<Diagnostic>,
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Verification reads the committed link (a path), never what it points to.
fn symlinked_key(o: &Origin, p: &Spanned<String>, shown: &str) -> Diagnostic {
    o.error(
        p.pos,
        format!("verification.allowedSigners `{shown}` is a symbolic link"),
    )
    .with_hint("commit the key file itself: signature checks read what git stores, not what a link points to")
}

/// Every resource's metadata with its kind, for checks common to all kinds.
fn all_metadata(repo: &Repository) -> Vec<(Kind, &Origin, &Metadata)> {
    fn each<S>(kind: Kind, rs: &[Resource<S>]) -> impl Iterator<Item = (Kind, &Origin, &Metadata)> {
        rs.iter().map(move |r| (kind, &r.origin, &r.metadata))
    }
    each(Kind::Fleet, &repo.fleets)
        .chain(each(Kind::HostGroup, &repo.groups))
        .chain(each(Kind::PatchBaseline, &repo.baselines))
        .chain(each(Kind::PatchApprovals, &repo.approvals))
        .chain(each(Kind::MaintenanceWindow, &repo.windows))
        .chain(each(Kind::RolloutPolicy, &repo.rollouts))
        .chain(each(Kind::EmergencyChange, &repo.emergencies))
        .collect()
}

impl Validator<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }

    /// Reports `Err` from a value check at `pos`, with `what` naming the field.
    /// Reports `Err` from a value check at `pos`, `what` naming the field. The
    /// check's message reads "problem; what to do": the second half is the hint.
    fn check(&mut self, o: &Origin, pos: Pos, what: &str, r: Result<(), String>) {
        if let Err(e) = r {
            self.push(o.error_hinted(pos, &format!("{what} {e}")));
        }
    }

    fn duration(&mut self, o: &Origin, d: &Option<Spanned<DurationText>>, what: &str) {
        if let Some(d) = d {
            let r = d.checked().map(|_| ()).map_err(String::from);
            self.check(o, d.pos, what, r);
        }
    }

    fn positive_duration(&mut self, o: &Origin, d: &Option<Spanned<DurationText>>, what: &str) {
        if let Some(d) = d {
            match d.checked() {
                Ok(s) if s.is_zero() => self.push(
                    o.error(
                        d.pos,
                        format!("{what} `{}` must be longer than zero", d.value),
                    )
                    .with_hint("write a positive duration, e.g. `30s` or `5m`"),
                ),
                Ok(_) => {}
                Err(e) => self.push(o.error_hinted(d.pos, &format!("{what} {e}"))),
            }
        }
    }

    fn names(&mut self) {
        let mut seen: HashMap<(Kind, &str), (&Origin, Pos)> = HashMap::new();
        for (kind, origin, meta) in all_metadata(self.repo) {
            let name = &meta.name;
            if let Err(e) = values::check_resource_name(name) {
                self.push(origin.error_hinted(name.pos, &format!("metadata.name {e}")));
            }
            for key in meta.labels.keys() {
                if let Err(e) = values::check_label_key(key) {
                    self.push(
                        origin
                            .error(name.pos, format!("metadata.labels: {e}"))
                            .with_hint(
                                "use letters, digits, `.`, `_`, `-`, optionally after `prefix/`",
                            ),
                    );
                }
            }
            match seen.get(&(kind, name.value.as_str())) {
                Some((first, pos)) => {
                    let d = origin
                        .error(name.pos, format!("duplicate {kind} `{}`", name.value))
                        .with_hint(format!(
                            "first defined at {}; names are unique per kind",
                            first.at(*pos)
                        ));
                    self.push(d);
                }
                None => {
                    seen.insert((kind, name.value.as_str()), (origin, name.pos));
                }
            }
        }
        if let [first, rest @ ..] = self.repo.fleets.as_slice() {
            for extra in rest {
                let d = extra
                    .origin
                    .error(extra.origin.pos, "a repository holds at most one Fleet")
                    .with_hint(format!(
                        "merge it into the Fleet at {}",
                        first.origin.at(first.origin.pos)
                    ));
                self.push(d);
            }
        }
    }

    fn fleet(&mut self) {
        for f in &self.repo.fleets {
            let o = &f.origin;
            let s = &f.spec;
            if let Some(b) = &s.status_branch {
                self.check(o, b.pos, "statusBranch", values::check_branch_name(b));
            }
            if let Some(tz) = &s.timezone
                && let Err(hint) = super::window::resolve_timezone(tz)
            {
                self.push(
                    o.error(tz.pos, format!("unknown timezone `{}`", tz.value))
                        .with_hint(hint),
                );
            }
            if let Some(scan) = &s.scan {
                self.concurrency(o, &scan.concurrency, "scan.concurrency");
                self.positive_duration(o, &scan.timeout, "scan.timeout");
                self.duration(o, &scan.refresh_after, "scan.refreshAfter");
                self.positive_duration(o, &scan.interval, "scan.interval");
                self.max_output(o, &scan.max_output);
            }
            if let Some(apply) = &s.apply {
                self.concurrency(o, &apply.concurrency, "apply.concurrency");
                self.positive_duration(o, &apply.reboot_timeout, "apply.rebootTimeout");
            }
            if let Some(v) = &s.vulnerabilities {
                self.vulnerability_sources(o, v);
            }
            if let Some(d) = &s.deadlines {
                for (what, days) in [
                    ("critical", &d.critical),
                    ("important", &d.important),
                    ("moderate", &d.moderate),
                    ("low", &d.low),
                    ("knownExploited", &d.known_exploited),
                ] {
                    if let Some(days) = days
                        && days.value > MAX_DEADLINE_DAYS
                    {
                        self.push(
                            o.error(
                                days.pos,
                                format!("deadlines.{what} {} is out of range", days.value),
                            )
                            .with_hint(format!(
                                "use 0-{MAX_DEADLINE_DAYS} days (0: due the day it is found)"
                            )),
                        );
                    }
                }
            }
            if let Some(ver) = &s.verification {
                match ver.format {
                    SignatureFormat::Ssh => {
                        self.repo_file(o, &ver.allowed_signers, "verification.allowedSigners")
                    }
                    SignatureFormat::Openpgp => self.openpgp_keys(o, &ver.allowed_signers),
                }
            }
        }
    }

    /// Names unique, one source per format, every file in the repository.
    fn vulnerability_sources(&mut self, o: &Origin, v: &super::fleet::VulnerabilitySettings) {
        for (i, src) in v.sources.iter().enumerate() {
            let earlier = &v.sources[..i];
            if let Some(first) = earlier.iter().find(|e| e.name.value == src.name.value) {
                self.push(
                    o.error(
                        src.name.pos,
                        format!("vulnerability source `{}` is named twice", src.name.value),
                    )
                    .with_hint(format!(
                        "the first is at {}; rename one",
                        o.at(first.name.pos)
                    )),
                );
            }
            if let Some(first) = earlier.iter().find(|e| e.format.value == src.format.value) {
                self.push(
                    o.error(
                        src.format.pos,
                        format!(
                            "vulnerability sources `{}` and `{}` have the same format",
                            first.name.value, src.name.value
                        ),
                    )
                    .with_hint("keep one dataset per format"),
                );
            }
            match (&src.file, &src.url) {
                (Some(file), None) => {
                    self.repo_file(o, file, "vulnerabilities.sources[].file");
                    if let Some(r) = &src.refresh_after {
                        self.push(
                            o.error(
                                r.pos,
                                format!(
                                    "vulnerability source `{}`: refreshAfter applies to `url` sources only",
                                    src.name.value
                                ),
                            )
                            .with_hint("a file in the repository is read on every run; remove refreshAfter"),
                        );
                    }
                }
                (None, Some(url)) => {
                    self.check(
                        o,
                        url.pos,
                        "vulnerabilities.sources[].url",
                        values::check_http_url(&url.value),
                    );
                    self.duration(
                        o,
                        &src.refresh_after,
                        "vulnerabilities.sources[].refreshAfter",
                    );
                }
                (Some(_), Some(url)) => self.push(
                    o.error(
                        url.pos,
                        format!(
                            "vulnerability source `{}` has both `file` and `url`",
                            src.name.value
                        ),
                    )
                    .with_hint("keep one: a file in the repository, or a URL to download"),
                ),
                (None, None) => self.push(
                    o.error(
                        src.name.pos,
                        format!(
                            "vulnerability source `{}` has neither `file` nor `url`",
                            src.name.value
                        ),
                    )
                    .with_hint("add `file: <path in the repository>` or `url: https://…`"),
                ),
            }
            self.positive_duration(o, &src.max_age, "vulnerabilities.sources[].maxAge");
            if src.url.is_some()
                && let Some(r) = &src.refresh_after
                && src.refresh_after() > src.max_age()
            {
                self.push(
                    o.warning(
                        r.pos,
                        format!(
                            "vulnerability source `{}` is downloaded again only after it is older than its maxAge, so every plan in between warns that it is stale",
                            src.name.value
                        ),
                    )
                    .with_hint("make refreshAfter shorter than maxAge (defaults: 6h and 7d)"),
                );
            }
        }
    }

    fn concurrency(&mut self, o: &Origin, c: &Option<Spanned<u32>>, what: &str) {
        if let Some(c) = c
            && !(1..=MAX_CONCURRENCY).contains(&c.value)
        {
            self.push(
                o.error(c.pos, format!("{what} {} is out of range", c.value))
                    .with_hint(format!("use 1-{MAX_CONCURRENCY}")),
            );
        }
    }

    fn max_output(&mut self, o: &Origin, m: &Option<Spanned<String>>) {
        use super::fleet::{MAX_OUTPUT_RANGE, parse_size};
        let Some(m) = m else { return };
        match parse_size(&m.value) {
            Err(e) => self.push(o.error_hinted(m.pos, &format!("scan.maxOutput {e}"))),
            Ok(n) if !MAX_OUTPUT_RANGE.contains(&n) => self.push(
                o.error(
                    m.pos,
                    format!("scan.maxOutput `{}` is out of range", m.value),
                )
                .with_hint("use 1Ki-4Gi; the default is 64Mi"),
            ),
            Ok(_) => {}
        }
    }

    /// A path that must exist inside the repository (it is part of the reviewed policy).
    fn repo_file(&mut self, o: &Origin, p: &Spanned<String>, what: &str) {
        if let Some(path) = self.inside_repo(o, p, what)
            && !path.is_file()
        {
            self.missing(o, p, what);
        }
    }

    /// `p` joined to the repository root, or an error when it could leave it.
    fn inside_repo(&mut self, o: &Origin, p: &Spanned<String>, what: &str) -> Option<PathBuf> {
        let path = Path::new(&p.value);
        if path.is_absolute()
            || path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            self.push(
                o.error(
                    p.pos,
                    format!("{what} `{}` must be a path inside the repository", p.value),
                )
                .with_hint("write it relative to the repository root, without `..`"),
            );
            return None;
        }
        Some(self.root.join(path))
    }

    fn missing(&mut self, o: &Origin, p: &Spanned<String>, what: &str) {
        self.push(
            o.error(
                p.pos,
                format!("{what} `{}` does not exist in the repository", p.value),
            )
            .with_hint("commit the file, or fix the path (relative to the repository root)"),
        );
    }

    /// OpenPGP allowed signers: a file of armored public keys, or a directory
    /// whose `*.asc` files hold them; each must parse, as verification reads it.
    fn openpgp_keys(&mut self, o: &Origin, p: &Spanned<String>) {
        let what = "verification.allowedSigners";
        let Some(path) = self.inside_repo(o, p, what) else {
            return;
        };
        if !path.exists() {
            return self.missing(o, p, what);
        }
        if is_symlink(&path) {
            return self.push(symlinked_key(o, p, &p.value));
        }
        let (files, others) = match openpgp_keys::key_files_on_disk(&path) {
            Ok(found) => found,
            Err(e) => return self.push(o.error(p.pos, format!("{what} `{}`: {e}", p.value))),
        };
        if files.is_empty() {
            self.push(
                o.error(p.pos, format!("{what} `{}` holds no *.asc file", p.value))
                    .with_hint("add each signer's key as <name>.asc (`gpg --armor --export <fingerprint>`)"),
            );
        }
        // A key saved under another name (`curl -O …/web-flow.gpg`) would
        // silently not count.
        for other in others
            .iter()
            .filter(|f| openpgp_keys::looks_like_key_file(f))
        {
            let d = o
                .warning(
                    p.pos,
                    format!(
                        "{what}: `{}` is not read (only *.asc files are keys)",
                        self.shown(other)
                    ),
                )
                .with_hint("rename it to end in .asc if it is an armored public key");
            self.push(d);
        }
        let canonical_root = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.to_path_buf());
        for file in &files {
            self.openpgp_key_file(o, p, &canonical_root, file);
        }
    }

    /// One file of OpenPGP allowed signers: a regular file inside the
    /// repository, of armored public keys.
    fn openpgp_key_file(
        &mut self,
        o: &Origin,
        p: &Spanned<String>,
        canonical_root: &Path,
        file: &Path,
    ) {
        let what = "verification.allowedSigners";
        if is_symlink(file) {
            return self.push(symlinked_key(o, p, &self.shown(file)));
        }
        let d = match super::load::read_repo_file(canonical_root, file) {
            Err((message, hint)) => o
                .error(p.pos, format!("{what} `{}`: {message}", self.shown(file)))
                .with_hint(hint),
            Ok(bytes) => match openpgp_keys::parse_armored(&bytes) {
                Ok(_) => return,
                Err(e) => o.error(p.pos, format!("{what} `{}` {e}", self.shown(file))),
            },
        };
        self.push(d);
    }

    /// A path under the repository as written in it.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn groups(&mut self) {
        let baselines = self.repo.names(Kind::PatchBaseline);
        let rollouts = self.repo.names(Kind::RolloutPolicy);
        let windows = self.repo.names(Kind::MaintenanceWindow);
        for g in &self.repo.groups {
            let o = &g.origin;
            let s = &g.spec;
            self.reference(o, &s.baseline, Kind::PatchBaseline, &baselines);
            self.reference(o, &s.rollout, Kind::RolloutPolicy, &rollouts);
            let mut listed = BTreeSet::new();
            for w in &s.windows {
                if !listed.insert(w.value.as_str()) {
                    self.push(
                        o.error(w.pos, format!("window `{}` is listed twice", w.value))
                            .with_hint("remove the second entry"),
                    );
                    continue;
                }
                match self.repo.window(w) {
                    None => self.reference(o, w, Kind::MaintenanceWindow, &windows),
                    Some(win) if win.spec.kind == WindowKind::Deny => self.push(
                        o.error(w.pos, format!("`{}` is a deny window; `windows` lists allow windows", w.value))
                            .with_hint("deny windows apply to every group their `selector` matches; remove it from this list"),
                    ),
                    Some(_) => {}
                }
            }
            if s.windows.is_empty() && !s.suspend {
                self.push(
                    o.warning(g.metadata.name.pos, format!("group `{}` has no maintenance windows", g.name()))
                        .with_hint("it is patched only by `apply --emergency --reason` or an EmergencyChange; add `windows:`"),
                );
            }
            if let Some(stage) = &s.stage {
                self.check(o, stage.pos, "stage", values::check_resource_name(stage));
            }
            for entry in &s.hosts_from {
                for key in entry.labels.keys() {
                    if let Err(e) = values::check_label_key(key) {
                        self.push(o.error_hinted(entry.pos, &format!("hostsFrom labels: {e}")));
                    }
                }
            }
            self.connection(o, s);
            self.health_checks(o, s);
            for (what, cmds) in [
                ("hooks.pre", &s.hooks.pre),
                ("hooks.snapshot", &s.hooks.snapshot),
                ("hooks.post", &s.hooks.post),
            ] {
                for c in cmds {
                    self.command(o, c, what);
                }
            }
        }
    }

    /// A reference to another resource by name, with a "did you mean" hint.
    fn reference(&mut self, o: &Origin, r: &Spanned<String>, kind: Kind, known: &[&str]) {
        if known.contains(&r.value.as_str()) {
            return;
        }
        let hint = match closest(r, known.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if known.is_empty() => format!("no {kind} is defined; add one"),
            None => format!("{kind} names: {}", name_list(known)),
        };
        self.push(
            o.error(r.pos, format!("unknown {kind} `{}`", r.value))
                .with_hint(hint),
        );
    }

    fn connection(&mut self, o: &Origin, s: &HostGroupSpec) {
        let c: &ConnectionSpec = &s.connection;
        if let Some(u) = &c.user {
            self.check(
                o,
                u.pos,
                "connection.user",
                user_check(s.transport.value, u),
            );
        }
        if let Some(p) = &c.port {
            self.check(o, p.pos, "connection.port", values::check_port(p.value));
        }
        if let Some(j) = &c.jump_host {
            self.check(o, j.pos, "connection.jumpHost", values::check_jump_host(j));
        }
        // `~/...` and absolute paths live on the machine running patchwave.
        if let Some(k) = &c.known_hosts_file
            && Path::new(&k.value).is_relative()
            && !k.value.starts_with('~')
        {
            self.repo_file(o, k, "connection.knownHostsFile");
        }
        match (s.transport.value, &c.winrm) {
            (TransportKind::Winrm, None) => {
                let pos = s.transport.pos;
                self.push(
                    o.error(
                        pos,
                        "transport `winrm` needs `connection.winrm` with a `credentialRef`",
                    )
                    .with_hint(
                        "add connection.winrm.credentialRef: {username: ..., env: WINRM_PASSWORD}",
                    ),
                );
            }
            (TransportKind::Winrm, Some(w)) => {
                let cr = &w.credential_ref;
                if cr.env.is_some() == cr.file.is_some() {
                    self.push(
                        o.error(cr.pos, "credentialRef needs exactly one of `env` or `file`")
                            .with_hint(
                                "name the environment variable or the file that holds the password",
                            ),
                    );
                }
                if w.value.auth == WinrmAuth::Basic && w.value.scheme == WinrmScheme::Http {
                    self.push(
                        o.error(
                            w.pos,
                            "WinRM Basic authentication over http would send the password in the clear",
                        )
                        .with_hint("use `scheme: https`, or `auth: ntlm` (messages are sealed over http)"),
                    );
                }
                if w.value.auth == WinrmAuth::Kerberos {
                    self.push(
                        o.error(w.pos, "WinRM Kerberos authentication is not supported by this build")
                            .with_hint("use `auth: ntlm` (sealed over http, or over https) or `auth: basic` over https"),
                    );
                }
                if let Some(fp) = &w.cert_fingerprint {
                    let hex: String = fp.value.chars().filter(|c| *c != ':').collect();
                    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                        self.push(
                            o.error(
                                fp.pos,
                                format!(
                                    "certFingerprint `{}` is not a SHA-256 fingerprint",
                                    fp.value
                                ),
                            )
                            .with_hint("64 hex digits, `:` separators allowed"),
                        );
                    }
                }
            }
            (_, Some(w)) => {
                self.push(
                    o.error(
                        w.pos,
                        "`connection.winrm` is set but the transport is not `winrm`",
                    )
                    .with_hint("set `transport: winrm` or remove connection.winrm"),
                );
            }
            (_, None) => {}
        }
        if let Some(os) = &s.os {
            let clash = match (s.transport.value, os.value) {
                (TransportKind::Winrm, OsFamily::Linux) => {
                    Some("transport `winrm` reaches Windows hosts only")
                }
                (TransportKind::Local, OsFamily::Windows) => Some(
                    "transport `local` runs on the machine patchwave runs on, which is not Windows",
                ),
                _ => None,
            };
            if let Some(why) = clash {
                self.push(
                    o.error(os.pos, format!("`os: {}` does not fit: {why}", match os.value {
                        OsFamily::Linux => "linux",
                        OsFamily::Windows => "windows",
                    }))
                    .with_hint("for Windows use `transport: winrm`, or `transport: ssh` with `os: windows` (PowerShell over OpenSSH)"),
                );
            }
        }
        if s.transport.value == TransportKind::Local && s.hosts.len() > 1 {
            self.push(
                s.hosts[1]
                    .origin(o)
                    .error(
                        s.hosts[1].name.pos,
                        "transport `local` patches the machine patchwave runs on: one host only",
                    )
                    .with_hint("use `ssh` for other hosts"),
            );
        }
    }

    fn health_checks(&mut self, o: &Origin, s: &HostGroupSpec) {
        let mut names = BTreeSet::new();
        for hc in &s.health_checks {
            if !names.insert(hc.name.value.as_str()) {
                self.push(
                    o.error(
                        hc.name.pos,
                        format!("health check `{}` is defined twice", hc.name.value),
                    )
                    .with_hint("give each health check its own name"),
                );
            }
            match (&hc.command, &hc.http) {
                (Some(_), Some(_)) | (None, None) => self.push(
                    o.error(
                        hc.name.pos,
                        format!(
                            "health check `{}` needs exactly one of `command` or `http`",
                            hc.name.value
                        ),
                    )
                    .with_hint("split it into two health checks if you want both"),
                ),
                (Some(cmd), None) => self.argv(o, cmd, "healthChecks.command"),
                (None, Some(http)) => {
                    let url = http.url.value.trim();
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        self.push(
                            o.error(
                                http.url.pos,
                                format!(
                                    "http.url `{}` must start with http:// or https://",
                                    http.url.value
                                ),
                            )
                            .with_hint(
                                "probes are HTTP(S) URLs, e.g. http://{{ host.address }}/healthz",
                            ),
                        );
                    } else {
                        self.check(o, http.url.pos, "http.url", values::check_template(url));
                    }
                    if let Some(st) = &http.expect_status
                        && !(100..=599).contains(&st.value)
                    {
                        self.push(
                            o.error(
                                st.pos,
                                format!("expectStatus {} is not an HTTP status", st.value),
                            )
                            .with_hint("use 100-599"),
                        );
                    }
                }
            }
            self.positive_duration(o, &hc.timeout, "healthChecks.timeout");
            self.duration(o, &hc.interval, "healthChecks.interval");
            if let Some(r) = &hc.retries
                && r.value > 100
            {
                self.push(
                    o.error(r.pos, format!("retries {} is out of range", r.value))
                        .with_hint("use 0-100"),
                );
            }
        }
    }

    fn command(&mut self, o: &Origin, c: &CommandSpec, what: &str) {
        self.argv(o, &c.command, what);
        self.positive_duration(o, &c.timeout, &format!("{what}.timeout"));
    }

    fn argv(&mut self, o: &Origin, argv: &Spanned<Vec<Spanned<String>>>, what: &str) {
        if argv.value.first().is_none_or(|a| a.value.trim().is_empty()) {
            self.push(
                o.error(argv.pos, format!("{what}: the command is empty"))
                    .with_hint("give the program and its arguments as a list, e.g. [systemctl, is-active, nginx]"),
            );
        }
        for arg in &argv.value {
            self.check(o, arg.pos, what, values::check_template(arg));
        }
    }

    /// Every host, written or read from `hostsFrom`: each is checked and
    /// reported in the file it came from.
    fn hosts(&mut self) {
        let mut by_name: HashMap<&str, (&str, Origin, Pos)> = HashMap::new();
        let mut by_addr: HashMap<(String, u32), (&str, Origin, Pos)> = HashMap::new();
        for g in &self.repo.groups {
            if g.spec.hosts.is_empty() {
                let hint = if g.spec.hosts_from.is_empty() {
                    "add hosts, or delete the group"
                } else {
                    "its hostsFrom files give it none: check them, or add hosts"
                };
                self.push(
                    g.origin
                        .warning(
                            g.metadata.name.pos,
                            format!("group `{}` has no hosts", g.name()),
                        )
                        .with_hint(hint),
                );
            }
            for h in &g.spec.hosts {
                let o = &h.origin(&g.origin);
                let name = h.name.value.as_str();
                if let Err(e) = values::check_host_name(name) {
                    self.push(o.error_hinted(h.name.pos, &format!("host {e}")));
                }
                match by_name.get(name) {
                    Some((grp, first, pos)) if *grp == g.name() => {
                        let d = o
                            .error(
                                h.name.pos,
                                format!("duplicate host `{name}` in group `{grp}`"),
                            )
                            .with_hint(format!("first listed at {}", first.at(*pos)));
                        self.push(d);
                    }
                    Some((grp, first, pos)) => {
                        let d = o
                            .error(
                                h.name.pos,
                                format!(
                                    "host `{name}` is in two groups, `{grp}` and `{}`",
                                    g.name()
                                ),
                            )
                            .with_hint(format!(
                                "a host belongs to exactly one group; also listed at {}",
                                first.at(*pos)
                            ));
                        self.push(d);
                    }
                    None => {
                        by_name.insert(name, (g.name(), o.clone(), h.name.pos));
                    }
                }
                let (addr, addr_pos) = match &h.address {
                    Some(a) => (a.value.as_str(), a.pos),
                    None => (name, h.name.pos),
                };
                if h.address.is_some() || values::check_host_name(name).is_ok() {
                    self.check(o, addr_pos, "address", values::check_address(addr));
                }
                if let Some(p) = &h.port {
                    self.check(o, p.pos, "port", values::check_port(p.value));
                }
                if let Some(u) = &h.user {
                    self.check(o, u.pos, "user", user_check(g.spec.transport.value, u));
                }
                // A hostsFrom entry's labels are checked once, at the entry.
                if h.source.is_none() {
                    for key in h.labels.keys() {
                        if let Err(e) = values::check_label_key(key) {
                            self.push(o.error(h.name.pos, format!("labels of host `{name}`: {e}")).with_hint("use letters, digits, `.`, `_`, `-`, optionally after `prefix/`"));
                        }
                    }
                }
                if g.spec.transport.value == TransportKind::Local {
                    continue;
                }
                let port = h
                    .port
                    .as_ref()
                    .or(g.spec.connection.port.as_ref())
                    .map(|p| p.value)
                    .unwrap_or_else(|| default_port(&g.spec));
                let key = (normalized_address(addr), port);
                match by_addr.get(&key) {
                    Some((other, first, pos)) if *other != name => {
                        let d = o
                            .error(addr_pos, format!("address `{addr}` of host `{name}` is already used by host `{other}`"))
                            .with_hint(format!("`{other}` is at {}; one machine is one host", first.at(*pos)));
                        self.push(d);
                    }
                    Some(_) => {}
                    None => {
                        by_addr.insert(key, (name, o.clone(), addr_pos));
                    }
                }
            }
        }
    }

    fn has_vulnerability_source(&self, format: VulnerabilityFormat) -> bool {
        self.repo
            .fleets
            .first()
            .and_then(|f| f.spec.vulnerabilities.as_ref())
            .is_some_and(|v| v.sources.iter().any(|s| s.format.value == format))
    }

    fn baselines(&mut self) {
        let stages: BTreeSet<&str> = self
            .repo
            .groups
            .iter()
            .filter_map(|g| g.spec.stage.as_ref().map(|s| s.value.as_str()))
            .chain(self.repo.unparsed_groups.stages.iter().map(String::as_str))
            .collect();
        for b in &self.repo.baselines {
            let o = &b.origin;
            let s: &PatchBaselineSpec = &b.spec;
            let mut rule_names = BTreeSet::new();
            for r in &s.approval_rules {
                if !rule_names.insert(r.name.value.as_str()) {
                    self.push(
                        o.error(
                            r.name.pos,
                            format!("approval rule `{}` is defined twice", r.name.value),
                        )
                        .with_hint("give each rule its own name"),
                    );
                }
                for p in r.packages.iter().chain(&r.exclude_packages) {
                    self.check(o, p.pos, "package", parse_result(p));
                }
                for p in &r.repositories {
                    self.check(o, p.pos, "repository", parse_result(p));
                }
                for c in &r.cves {
                    if !is_cve_id(&c.value) {
                        self.push(
                            o.error(c.pos, format!("`{}` is not a CVE id", c.value))
                                .with_hint("write it as CVE-YYYY-NNNN, e.g. CVE-2024-3094"),
                        );
                    }
                }
                if let Some(k) = r.known_exploited.as_ref().filter(|k| k.value)
                    && !self.has_vulnerability_source(VulnerabilityFormat::CisaKev)
                {
                    self.push(
                        o.warning(
                            k.pos,
                            format!(
                                "rule `{}` approves only known exploited fixes, but the Fleet declares no KEV catalog: it approves nothing",
                                r.name.value
                            ),
                        )
                        .with_hint(
                            "add a `cisaKev` source under the Fleet's vulnerabilities.sources",
                        ),
                    );
                }
                if let Some(m) = &r.min_cvss
                    && !self.has_vulnerability_source(VulnerabilityFormat::UbuntuOsv)
                {
                    self.push(
                        o.warning(
                            m.pos,
                            format!(
                                "rule `{}` asks for a CVSS score, but no vulnerability source of the Fleet gives one: it approves nothing",
                                r.name.value
                            ),
                        )
                        .with_hint("add a `ubuntuOsv` source (its records carry CVSS vectors)"),
                    );
                }
                if let Some(days) = &r.approve_after_days
                    && !(0..=MAX_APPROVE_AFTER_DAYS).contains(&days.value)
                {
                    self.push(
                        o.error(
                            days.pos,
                            format!("approveAfterDays {} is out of range", days.value),
                        )
                        .with_hint(format!("use 0-{MAX_APPROVE_AFTER_DAYS}")),
                    );
                }
                if let Some(until) = &r.approve_until_date {
                    if r.approve_after_days.is_some() {
                        self.push(
                            o.error(
                                until.pos,
                                "approveUntilDate and approveAfterDays are exclusive",
                            )
                            .with_hint(
                                "keep one: a delay after release, or a release-date cut-off",
                            ),
                        );
                    }
                    self.check(o, until.pos, "approveUntilDate", parse_result(until));
                }
            }
            for (what, rules) in [("approved", &s.approved), ("rejected", &s.rejected)] {
                for r in rules {
                    self.package_rule(o, r, what);
                }
            }
            if let Some(p) = &s.promotion {
                if !stages.contains(p.from.value.as_str()) && !self.repo.unparsed_groups.unreadable
                {
                    let hint = match closest(&p.from, stages.iter().copied()) {
                        Some(st) => format!("did you mean `{st}`?"),
                        None if stages.is_empty() => {
                            "no HostGroup sets `stage`; set it on the groups of the earlier stage"
                                .into()
                        }
                        None => format!(
                            "stages in use: {}",
                            stages.iter().copied().collect::<Vec<_>>().join(", ")
                        ),
                    };
                    self.push(
                        o.error(
                            p.from.pos,
                            format!("unknown stage `{}` in promotion.from", p.from.value),
                        )
                        .with_hint(hint),
                    );
                }
                for g in &self.repo.groups {
                    if g.spec.baseline.value == b.name()
                        && g.spec
                            .stage
                            .as_ref()
                            .is_some_and(|st| st.value == p.from.value)
                    {
                        let d = o
                            .error(p.from.pos, format!("baseline `{}` promotes from stage `{}`, which its own group `{}` is in", b.name(), p.from.value, g.name()))
                            .with_hint("a patch could never be approved: promote from an earlier stage");
                        self.push(d);
                    }
                }
                self.positive_duration(o, &Some(p.after.clone()), "promotion.after");
            }
        }
    }

    fn package_rule(&mut self, o: &Origin, r: &PackageRule, what: &str) {
        self.check(
            o,
            r.package.pos,
            &format!("{what}.package"),
            parse_result(&r.package),
        );
        if let Some(v) = &r.version {
            self.check(o, v.pos, &format!("{what}.version"), parse_result(v));
        }
        if r.reason.value.trim().is_empty() {
            self.push(
                o.error(
                    r.reason.pos,
                    format!("{what} entry for `{}` needs a reason", r.package.value),
                )
                .with_hint("say why, for the reviewers and the report"),
            );
        }
        if let Some(u) = &r.until {
            self.check(o, u.pos, &format!("{what}.until"), parse_result(u));
        }
    }

    fn approvals(&mut self) {
        let baselines = self.repo.names(Kind::PatchBaseline);
        let mut owners: BTreeMap<&str, &Origin> = BTreeMap::new();
        for a in &self.repo.approvals {
            let o = &a.origin;
            self.reference(o, &a.spec.baseline, Kind::PatchBaseline, &baselines);
            if let Some(first) = owners.insert(a.spec.baseline.value.as_str(), o) {
                let d = o
                    .error(
                        a.spec.baseline.pos,
                        format!(
                            "baseline `{}` already has a PatchApprovals",
                            a.spec.baseline.value
                        ),
                    )
                    .with_hint(format!("merge it into the one at {}", first.at(first.pos)));
                self.push(d);
            }
            let mut seen = BTreeSet::new();
            for e in &a.spec.approvals {
                self.check(
                    o,
                    e.package.pos,
                    "package",
                    values::check_package_name(&e.package),
                );
                self.check(
                    o,
                    e.version.pos,
                    "version",
                    values::check_version(&e.version),
                );
                let arch = e.arch.as_ref().map(|x| x.value.as_str()).unwrap_or("");
                if !seen.insert((e.package.value.as_str(), e.version.value.as_str(), arch)) {
                    self.push(
                        o.error(
                            e.package.pos,
                            format!(
                                "`{} {}` is approved twice",
                                e.package.value, e.version.value
                            ),
                        )
                        .with_hint("remove the duplicate entry"),
                    );
                }
            }
        }
    }

    fn windows(&mut self) {
        let used: BTreeSet<&str> = self
            .repo
            .groups
            .iter()
            .flat_map(|g| g.spec.windows.iter().map(|w| w.value.as_str()))
            .chain(self.repo.unparsed_groups.windows.iter().map(String::as_str))
            .collect();
        for w in &self.repo.windows {
            match WindowSchedule::from_spec(w) {
                Ok(sched) => {
                    if sched.overlaps_itself() {
                        self.push(
                            w.origin
                                .warning(w.spec.duration.pos, format!("duration `{}` is longer than the time between openings of `{}`: they overlap", w.spec.duration.value, w.spec.schedule.value))
                                .with_hint("shorten the duration or make the schedule less frequent"),
                        );
                    }
                    if sched.cron.day_fields_both_restricted() {
                        self.push(
                            w.origin
                                .warning(w.spec.schedule.pos, format!("schedule `{}` sets both day-of-month and day-of-week: it fires when EITHER matches", w.spec.schedule.value))
                                .with_hint("for \"the second Tuesday\" write `TUE#2` with day-of-month `*`"),
                        );
                    }
                }
                Err(diags) => self.out.extend(diags),
            }
            if w.spec.kind == WindowKind::Allow
                && !used.contains(w.name())
                && !self.repo.unparsed_groups.unreadable
            {
                self.push(
                    w.origin
                        .warning(
                            w.metadata.name.pos,
                            format!("window `{}` is not used by any group", w.name()),
                        )
                        .with_hint("list it in a HostGroup's `windows`, or delete it"),
                );
            }
        }
    }

    fn rollouts(&mut self) {
        for r in &self.repo.rollouts {
            let o = &r.origin;
            let s: &RolloutPolicySpec = &r.spec;
            if s.waves.is_empty() {
                self.push(
                    o.error(r.metadata.name.pos, "a rollout needs at least one wave")
                        .with_hint("e.g. waves: [1, \"50%\", \"100%\"]"),
                );
            }
            self.waves(r);
            self.duration(o, &s.soak, "soak");
            if let Some(mc) = &s.max_concurrency {
                match mc.value {
                    CountOrPercent::Count(0) | CountOrPercent::Percent(0) => {
                        self.push(
                            o.error(mc.pos, "maxConcurrency must be at least 1 host")
                                .with_hint("use a count >= 1 or a percentage 1%-100%"),
                        );
                    }
                    CountOrPercent::Percent(p) if p > 100 => {
                        self.push(
                            o.error(mc.pos, format!("maxConcurrency {p}% is over 100%"))
                                .with_hint("use 1%-100% or a count"),
                        );
                    }
                    _ => {}
                }
            }
            if let Some(me) = &s.max_errors
                && let CountOrPercent::Percent(p) = me.value
                && p > 100
            {
                self.push(
                    o.error(me.pos, format!("maxErrors {p}% is over 100%"))
                        .with_hint("use 0%-100% or a count"),
                );
            }
            for key in &s.one_at_a_time {
                self.check(o, key.pos, "oneAtATime", values::check_label_key(key));
            }
            if s.rollback_whole_wave && s.on_failure != super::rollout::OnFailure::Rollback {
                self.push(
                    o.warning(
                        r.metadata.name.pos,
                        "rollbackWholeWave has no effect unless onFailure is `rollback`",
                    )
                    .with_hint("set `onFailure: rollback`, or remove rollbackWholeWave"),
                );
            }
            self.selector_waves_match(r);
        }
    }

    /// Waves are cumulative and must end at 100%: one error per wave list
    /// at most for the ending, so a broken last wave is not reported twice.
    fn waves(&mut self, r: &Resource<RolloutPolicySpec>) {
        let o = &r.origin;
        let (mut last_count, mut last_percent) = (0u32, 0u32);
        let mut wave_error = false;
        for (i, w) in r.spec.waves.iter().enumerate() {
            let n = i + 1;
            self.duration(o, &w.value.soak, &format!("wave {n} soak"));
            let problem = match (&w.value.size, &w.value.selector) {
                (Some(_), Some(_)) | (None, None) => Some((
                    format!("wave {n} needs exactly one of `size` or `selector`"),
                    "write a size (`1`, `\"50%\"`) or `{selector: {matchLabels: {...}}}`"
                        .to_string(),
                )),
                (None, Some(sel)) if sel.match_labels.is_empty() => Some((
                    format!("wave {n}: the selector has no matchLabels"),
                    "an empty selector would select every host".into(),
                )),
                (None, Some(_)) => None,
                (Some(CountOrPercent::Count(0)), None) => Some((
                    format!("wave {n} has 0 hosts"),
                    "a wave patches at least one host".into(),
                )),
                (Some(CountOrPercent::Count(c)), None) if *c <= last_count => Some((
                    format!(
                        "wave {n} ({c}) is not larger than an earlier wave ({last_count}); wave sizes are cumulative"
                    ),
                    "write the total patched after each wave, e.g. [1, 5, \"100%\"]".into(),
                )),
                (Some(CountOrPercent::Percent(p)), None) if *p == 0 || *p > 100 => {
                    Some((format!("wave {n} is {p}%"), "use 1%-100%".into()))
                }
                (Some(CountOrPercent::Percent(p)), None) if *p <= last_percent => Some((
                    format!(
                        "wave {n} ({p}%) is not larger than an earlier wave ({last_percent}%); wave sizes are cumulative"
                    ),
                    "write the share patched after each wave, e.g. [\"10%\", \"50%\", \"100%\"]"
                        .into(),
                )),
                (Some(_), None) => None,
            };
            match w.value.size {
                Some(CountOrPercent::Count(c)) => last_count = last_count.max(c),
                Some(CountOrPercent::Percent(p)) => last_percent = last_percent.max(p),
                None => {}
            }
            if let Some((message, hint)) = problem {
                wave_error = true;
                self.push(o.error(w.pos, message).with_hint(hint));
            }
        }
        if let Some(last) = r.spec.waves.last()
            && last.value.size != Some(CountOrPercent::Percent(100))
            && !wave_error
        {
            self.push(
                o.error(
                    last.pos,
                    "the waves do not add up to every host: the last wave must be \"100%\"",
                )
                .with_hint("end with \"100%\" so no host is left unpatched"),
            );
        }
    }

    /// A canary selector that matches no host of a group using the policy
    /// silently skips the canary: worth a warning.
    fn selector_waves_match(&mut self, r: &Resource<RolloutPolicySpec>) {
        for g in self
            .repo
            .groups
            .iter()
            .filter(|g| g.spec.rollout.value == r.name())
        {
            let hosts = g.spec.hosts.len();
            if let Some(mc) = &r.spec.max_concurrency
                && let CountOrPercent::Percent(p) = mc.value
                && hosts > 0
                && mc.value.of(hosts) == 0
            {
                self.push(
                    r.origin
                        .warning(mc.pos, format!("maxConcurrency {p}% of group `{}`'s {hosts} hosts rounds down to 0", g.name()))
                        .with_hint("patchwave still patches one host at a time; write a count to say so"),
                );
            }
            for (i, w) in r.spec.waves.iter().enumerate() {
                if let Some(sel) = &w.value.selector
                    && !sel.match_labels.is_empty()
                    && !g.spec.hosts.iter().any(|h| sel.matches(&h.labels))
                {
                    self.push(
                        r.origin
                            .warning(
                                w.pos,
                                format!("wave {} selects no host of group `{}`", i + 1, g.name()),
                            )
                            .with_hint("label the canary hosts, or fix the selector"),
                    );
                }
            }
        }
    }

    fn emergencies(&mut self) {
        let groups = self.repo.names(Kind::HostGroup);
        let hosts: BTreeSet<&str> = self
            .repo
            .hosts()
            .map(|(_, h)| h.name.value.as_str())
            .chain(self.repo.unparsed_groups.hosts.iter().map(String::as_str))
            .collect();
        for e in &self.repo.emergencies {
            let o = &e.origin;
            let s = &e.spec;
            if s.reason.value.trim().is_empty() {
                self.push(
                    o.error(s.reason.pos, "an EmergencyChange needs a reason")
                        .with_hint("it is recorded with every run it allows"),
                );
            }
            match s.expires.checked() {
                Ok(&t) if t <= jiff::Timestamp::now() => self.push(
                    o.warning(
                        s.expires.pos,
                        format!(
                            "EmergencyChange `{}` expired at {t}; it has no effect",
                            e.name()
                        ),
                    )
                    .with_hint("delete it (its commit stays the audit trail), or move `expires`"),
                ),
                Ok(_) => {}
                Err(msg) => self.check(o, s.expires.pos, "expires", Err(msg.to_string())),
            }
            if !s.allow_outside_window && s.approvals.is_empty() {
                self.push(
                    o.warning(
                        e.metadata.name.pos,
                        "this EmergencyChange neither allows patching outside windows nor approves a version: it has no effect",
                    )
                    .with_hint("set `allowOutsideWindow: true`, or list `approvals`"),
                );
            }
            if s.break_freeze && !s.allow_outside_window {
                self.push(
                    o.error(
                        e.metadata.name.pos,
                        "`breakFreeze` needs `allowOutsideWindow: true`",
                    )
                    .with_hint("a freeze is broken only by a run outside the windows"),
                );
            }
            if s.groups.is_empty() && s.hosts.is_empty() {
                self.push(
                    o.error(
                        e.metadata.name.pos,
                        "an EmergencyChange must name `groups` or `hosts`",
                    )
                    .with_hint("list the groups or hosts it may patch"),
                );
            }
            for g in &s.groups {
                self.reference(o, g, Kind::HostGroup, &groups);
            }
            for h in &s.hosts {
                if !hosts.contains(h.value.as_str()) && !self.repo.unparsed_groups.unreadable {
                    self.push(
                        o.error(h.pos, format!("unknown host `{}`", h.value))
                            .with_hint("name a host listed in a HostGroup"),
                    );
                }
            }
            for a in &s.approvals {
                self.check(
                    o,
                    a.package.pos,
                    "package",
                    values::check_package_name(&a.package),
                );
                self.check(
                    o,
                    a.version.pos,
                    "version",
                    values::check_version(&a.version),
                );
            }
        }
    }
}

/// A short, sorted, de-duplicated list of names for hints.
fn name_list(names: &[&str]) -> String {
    const SHOWN: usize = 8;
    let set: BTreeSet<&str> = names.iter().copied().collect();
    let mut out: Vec<&str> = set.iter().copied().take(SHOWN).collect();
    if set.len() > SHOWN {
        out.push("…");
    }
    out.join(", ")
}

/// The port a transport uses when none is written, so `10.0.0.1` and
/// `10.0.0.1:22` are seen as the same machine.
fn default_port(g: &HostGroupSpec) -> u32 {
    match (g.transport.value, &g.connection.winrm) {
        (TransportKind::Winrm, Some(w)) if w.scheme == WinrmScheme::Http => 5985,
        (TransportKind::Winrm, _) => 5986,
        _ => 22,
    }
}

/// One spelling per address: IPs in canonical form, names in lowercase.
fn normalized_address(addr: &str) -> String {
    match addr.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => addr.trim_end_matches('.').to_ascii_lowercase(),
    }
}

/// Windows accounts may be `DOMAIN\\user`; ssh users must stay shell-inert.
/// (Windows over SSH too: a domain account goes in ssh_config's `User`.)
fn user_check(t: TransportKind, user: &str) -> Result<(), String> {
    match t {
        TransportKind::Winrm => values::check_user(user),
        TransportKind::Ssh | TransportKind::Local => values::check_ssh_user(user),
    }
}

/// The longest patch deadline, in days (ten years).
const MAX_DEADLINE_DAYS: u32 = 3650;

/// `CVE-YYYY-NNNN`, four or more digits after the year.
fn is_cve_id(s: &str) -> bool {
    let mut parts = s.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("CVE"), Some(year), Some(num), None)
            if year.len() == 4
                && year.bytes().all(|b| b.is_ascii_digit())
                && num.len() >= 4
                && num.bytes().all(|b| b.is_ascii_digit())
    )
}
