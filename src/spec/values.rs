//! Parsers for the small languages inside YAML strings: durations, dates,
//! names, addresses, globs, version constraints and command templates.
//!
//! Each returns a message that completes "`<value>` …" so callers can wrap it
//! in a `file:line:col` diagnostic. None of them panics on any input.

use std::time::Duration;

use jiff::civil::Date;
use jiff::{Span, SpanRelativeTo, Timestamp, Unit};

/// Parses `4h`, `1h30m`, `15d`, `2w` or ISO 8601 (`PT4H`). Months and years are
/// refused: their length varies, and a window length must be predictable.
pub fn parse_span(text: &str) -> Result<Span, String> {
    let span: Span = text.trim().parse().map_err(|_| {
        format!("`{text}` is not a duration; write e.g. `30s`, `15m`, `4h`, `1h30m` or `3d`")
    })?;
    if span.is_negative() {
        return Err(format!(
            "`{text}` is negative; durations must be zero or more"
        ));
    }
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(format!(
            "`{text}` uses months or years, whose length varies; write days instead (e.g. `30d`)"
        ));
    }
    Ok(span)
}

/// The length of a span in seconds, counting a day as 24 hours and a week as 7
/// days: exact for timeouts, and a fair comparison for windows (DST aside).
pub fn span_seconds(span: Span) -> i64 {
    span.total((Unit::Second, SpanRelativeTo::days_are_24_hours()))
        .map(|s| s as i64)
        .unwrap_or(i64::MAX)
}

/// A timeout or interval as a std `Duration`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let span = parse_span(text)?;
    Ok(Duration::from_secs(span_seconds(span).max(0) as u64))
}

/// `3d 4h`, `5h 12m`, `40m`: an age a reader takes in at a glance (never negative).
pub fn human_age(d: jiff::SignedDuration) -> String {
    let mins = d.as_secs().max(0) / 60;
    let (days, hours, mins) = (mins / 1440, mins / 60 % 24, mins % 60);
    match (days, hours) {
        (0, 0) => format!("{mins}m"),
        (0, h) => format!("{h}h {mins}m"),
        (d, h) => format!("{d}d {h}h"),
    }
}

/// A calendar date, `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<Date, String> {
    text.trim()
        .parse::<Date>()
        .map_err(|_| format!("`{text}` is not a date; write YYYY-MM-DD, e.g. 2026-12-31"))
}

/// An instant with an explicit offset, RFC 3339 (`2026-12-11T18:00:00Z`).
pub fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    text.trim().parse::<Timestamp>().map_err(|_| {
        format!("`{text}` is not an RFC 3339 instant; write e.g. 2026-12-11T18:00:00Z or 2026-12-11T19:00:00+01:00")
    })
}

/// Resource names: like Kubernetes names, because they become file names,
/// metric labels and branch names.
pub fn check_resource_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid name; use 1-63 lowercase letters, digits and `-`, starting and ending with a letter or digit"
        ))
    }
}

/// Host names become `status/hosts/<name>.yaml`: no separators, no dot-files.
pub fn check_host_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid host name; use letters, digits, `.`, `_` and `-`, starting with a letter or digit"
        ))
    }
}

/// A DNS name or an IP address. Refusing a leading `-` matters: ssh would read it as an option.
pub fn check_address(addr: &str) -> Result<(), String> {
    if addr.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let ok = !addr.is_empty()
        && addr.len() <= 253
        && addr.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{addr}` is not a DNS name or IP address; write a bare name or IP without scheme, spaces or a leading `-`, and put a port in `port:`"
        ))
    }
}

/// Login user names as POSIX and Windows accept them, without option-like forms.
pub fn check_user(user: &str) -> Result<(), String> {
    let ok = !user.is_empty()
        && user.len() <= 64
        && !user.starts_with('-')
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'\\' | b'$'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{user}` is not a valid user name; use letters, digits, `.`, `_`, `-` (and `DOMAIN\\user` for Windows)"
        ))
    }
}

/// User names OpenSSH will see: no `$`, `\\` or other characters a shell
/// would act on, because OpenSSH builds a shell command for ProxyJump.
pub fn check_ssh_user(user: &str) -> Result<(), String> {
    let ok = !user.is_empty()
        && user.len() <= 64
        && !user.starts_with('-')
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{user}` is not a valid ssh user name; use letters, digits, `.`, `_` and `-`"
        ))
    }
}

/// `[user@]host[:port]`, as OpenSSH's ProxyJump takes it.
pub fn check_jump_host(jump: &str) -> Result<(), String> {
    let (user, rest) = match jump.split_once('@') {
        Some((u, r)) => (Some(u), r),
        None => (None, jump),
    };
    if let Some(u) = user {
        check_ssh_user(u).map_err(|_| {
            format!("`{jump}`: user `{u}` is not a valid user name; write `[user@]host[:port]`")
        })?;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (rest, None),
    };
    check_address(host)
        .map_err(|_| format!("`{jump}` is not a jump host; write `[user@]host[:port]`"))?;
    if let Some(p) = port {
        check_port_text(p)
            .map_err(|_| format!("`{jump}`: port `{p}` is out of range; use 1-65535"))?;
    }
    Ok(())
}

fn check_port_text(p: &str) -> Result<u16, ()> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(()),
    }
}

/// TCP port range.
pub fn check_port(port: u32) -> Result<(), String> {
    if (1..=65535).contains(&port) {
        Ok(())
    } else {
        Err(format!("`{port}` is out of range; use 1-65535"))
    }
}

/// Label keys: `[prefix/]name` as Kubernetes, so selectors read the same.
pub fn check_label_key(key: &str) -> Result<(), String> {
    let name = key.rsplit_once('/').map_or(key, |(_, n)| n);
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{key}` is not a valid label key; use letters, digits, `.`, `_`, `-`, optionally after `prefix/`"
        ))
    }
}

/// Package name globs (`openssl*`, `linux-image-*`, `KB5034441`).
pub fn check_package_glob(glob: &str) -> Result<(), String> {
    let chars_ok = !glob.is_empty()
        && !glob.starts_with('-')
        && glob
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+_-:*?[]!".contains(&b));
    if !chars_ok {
        return Err(format!(
            "`{glob}` is not a package name or glob; use letters, digits, `.+_-:` and the wildcards `*`, `?`, `[...]`"
        ));
    }
    globset::Glob::new(glob).map(|_| ()).map_err(|e| {
        format!(
            "`{glob}` is not a valid glob: {}; check its brackets and wildcards",
            e.kind()
        )
    })
}

/// An exact package name (no wildcards), as in approval lockfiles.
pub fn check_package_name(name: &str) -> Result<(), String> {
    if name.bytes().any(|b| b"*?[]!".contains(&b)) {
        return Err(format!(
            "`{name}` contains a wildcard; exact approvals name one package"
        ));
    }
    check_package_glob(name)
}

/// Repository/origin globs: origins contain spaces in some distributions, so
/// spaces are allowed, control characters are not.
pub fn check_repository_glob(glob: &str) -> Result<(), String> {
    if glob.trim().is_empty() || glob.chars().any(char::is_control) {
        return Err(format!(
            "`{glob}` is not a repository glob; write an origin or suite, e.g. `*-security`"
        ));
    }
    globset::Glob::new(glob).map(|_| ()).map_err(|e| {
        format!(
            "`{glob}` is not a valid glob: {}; check its brackets and wildcards",
            e.kind()
        )
    })
}

/// A version as package managers print them: Debian (`1:2.3~rc1-4+deb12u1`),
/// RPM (`2:1.0-3.el9`, `^` snapshots), Windows (`10.0.19041.1`).
pub fn check_version(version: &str) -> Result<(), String> {
    let ok = !version.is_empty()
        && version.len() <= 256
        && version.as_bytes()[0].is_ascii_alphanumeric()
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~:_^-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{version}` is not a package version; versions start with a letter or digit and use letters, digits and `.+~:_^-`"
        ))
    }
}

/// A comparison in a version constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// `*`, an exact version, or comma-separated comparisons (`>= 3.0.15, < 3.1`).
/// Comparison itself is the package manager's (see the planner); this is syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionConstraint {
    Any,
    All(Vec<(VersionOp, String)>),
}

pub fn parse_version_constraint(text: &str) -> Result<VersionConstraint, String> {
    let t = text.trim();
    if t == "*" || t.is_empty() {
        return Ok(VersionConstraint::Any);
    }
    let mut terms = Vec::new();
    for part in t.split(',') {
        let p = part.trim();
        let (op, rest) = [
            (">=", VersionOp::Ge),
            ("<=", VersionOp::Le),
            ("==", VersionOp::Eq),
            ("!=", VersionOp::Ne),
            (">", VersionOp::Gt),
            ("<", VersionOp::Lt),
            ("=", VersionOp::Eq),
        ]
        .iter()
        .find_map(|(sym, op)| p.strip_prefix(sym).map(|r| (*op, r.trim())))
        .unwrap_or((VersionOp::Eq, p));
        if rest.is_empty() {
            return Err(format!(
                "`{text}`: a comparison is missing its version; write e.g. `>= 3.0.15, < 3.1`"
            ));
        }
        check_version(rest).map_err(|e| format!("in constraint `{text}`: {e}"))?;
        terms.push((op, rest.to_string()));
    }
    Ok(VersionConstraint::All(terms))
}

/// Compiles a minijinja template to catch syntax errors at validation time,
/// not halfway through a rollout.
pub fn check_template(text: &str) -> Result<(), String> {
    let env = minijinja::Environment::new();
    env.template_from_str(text).map(|_| ()).map_err(|e| {
        format!(
            "template `{text}` does not parse: {}; templates use {{{{ … }}}} for values and {{% … %}} for logic",
            e.detail().unwrap_or("syntax error")
        )
    })
}

/// Git branch names (`git check-ref-format --branch` rules that matter).
pub fn check_branch_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.starts_with('-')
        || name.starts_with('/')
        || name.ends_with('/')
        || name.ends_with(".lock")
        || name.ends_with('.')
        || name.contains("..")
        || name.contains("//")
        || name.contains("@{")
        || name
            .bytes()
            .any(|b| b <= b' ' || b"~^:?*[\\\x7f".contains(&b));
    if bad {
        Err(format!(
            "`{name}` is not a valid git branch name; see `git check-ref-format --branch`"
        ))
    } else {
        Ok(())
    }
}

/// A URL patchwave downloads data from: `http://` or `https://`, a host,
/// no credentials (the URL is shown in plans, warnings and run state), no
/// spaces or control characters.
pub fn check_http_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("`{url}` is not an http:// or https:// URL; write e.g. https://security-tracker.debian.org/tracker/data/json")
        })?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{url}` contains spaces or control characters; escape them (%20)"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!(
            "`{url}` carries credentials; the URL is shown in plans and run state, so serve the data without them"
        ));
    }
    let host = authority
        .strip_prefix('[')
        .and_then(|a| a.split(']').next())
        .unwrap_or_else(|| authority.split(':').next().unwrap_or(""));
    if host.is_empty() {
        return Err(format!(
            "`{url}` names no host; write e.g. https://example.com/data.json"
        ));
    }
    Ok(())
}

/// Levenshtein distance, for "did you mean" hints.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a small edit distance, for "did you mean `…`?".
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if word.chars().count() < 3 {
        return None;
    }
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_are_http_with_a_host_and_no_credentials() {
        for ok in [
            "https://security-tracker.debian.org/tracker/data/json",
            "http://127.0.0.1:8080/kev.json",
            "http://[::1]:80/x",
        ] {
            assert_eq!(check_http_url(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("ftp://example.com/x", "not an http"),
            ("file:///etc/passwd", "not an http"),
            ("example.com/x", "not an http"),
            ("https:///x", "no host"),
            ("http://:80/x", "no host"),
            ("https://user:pw@example.com/x", "credentials"),
            ("https://example.com/a b", "spaces"),
        ] {
            let e = check_http_url(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn spans_accept_friendly_and_iso_forms() {
        assert_eq!(span_seconds(parse_span("1h30m").unwrap()), 5400);
        assert_eq!(span_seconds(parse_span("PT4H").unwrap()), 14400);
        assert_eq!(span_seconds(parse_span("2w").unwrap()), 14 * 86400);
        assert!(parse_span("-1h").unwrap_err().contains("negative"));
        assert!(parse_span("1mo").unwrap_err().contains("months"));
        assert!(parse_span("10").unwrap_err().contains("not a duration"));
        assert!(parse_span("").is_err());
    }

    #[test]
    fn addresses_refuse_option_like_and_url_forms() {
        for ok in ["10.0.0.1", "::1", "web-1.example.com", "db_2"] {
            assert!(check_address(ok).is_ok(), "{ok}");
        }
        for bad in ["-oProxyCommand=x", "a b", "ssh://x", "x:22", "", "a..b"] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jump_hosts() {
        assert!(check_jump_host("ops@bastion.example.com:2222").is_ok());
        assert!(check_jump_host("bastion").is_ok());
        assert!(check_jump_host("-J@x").is_err());
        assert!(check_jump_host("bastion:0").is_err());
    }

    #[test]
    fn constraints() {
        assert_eq!(
            parse_version_constraint("*").unwrap(),
            VersionConstraint::Any
        );
        assert_eq!(
            parse_version_constraint(">= 3.0.15, < 3.1").unwrap(),
            VersionConstraint::All(vec![
                (VersionOp::Ge, "3.0.15".into()),
                (VersionOp::Lt, "3.1".into())
            ])
        );
        assert_eq!(
            parse_version_constraint("1:2.3~rc1-4+deb12u1").unwrap(),
            VersionConstraint::All(vec![(VersionOp::Eq, "1:2.3~rc1-4+deb12u1".into())])
        );
        assert!(parse_version_constraint(">=").is_err());
        assert!(parse_version_constraint("1.0; rm -rf /").is_err());
    }

    #[test]
    fn names_and_globs() {
        assert!(check_resource_name("web-prod").is_ok());
        assert!(check_resource_name("Web").is_err());
        assert!(check_host_name("../etc").is_err());
        assert!(check_host_name("web-1.example.com").is_ok());
        assert!(check_package_glob("linux-image-*").is_ok());
        assert!(check_package_glob("lib[").is_err());
        assert!(check_package_name("openssl*").is_err());
        assert!(check_branch_name("patchwave/status").is_ok());
        assert!(check_branch_name("bad..name").is_err());
    }

    #[test]
    fn closest_suggests_small_typos_only() {
        let kinds = ["HostGroup", "PatchBaseline", "MaintenanceWindow"];
        assert_eq!(closest("Hostgroup", kinds), Some("HostGroup"));
        assert_eq!(closest("Banana", kinds), None);
    }
}
