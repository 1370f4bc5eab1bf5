//! Host name patterns: Ansible's ranges (`web[01:03]`, `db-[a:c]`,
//! `n[0:10:5]`) and the `*`/`?` globs of ssh_config `Host` lines and of
//! `hostsFrom.hosts`.

/// More hosts than this from one range is a typo (`[1:100000]`), not a fleet.
pub const MAX_RANGE_HOSTS: usize = 10_000;

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Expands every `[begin:end]` or `[begin:end:step]` in `pattern`, as
/// Ansible does: numbers keep the width of a zero-padded begin (`[01:10]`),
/// single letters count through a-z then A-Z. A pattern without `[` is
/// itself. The error completes "host range `pattern` …".
pub fn expand_range(pattern: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    expand_into(pattern, &mut out)?;
    Ok(out)
}

fn expand_into(pattern: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some(open) = pattern.find('[') else {
        out.push(pattern.to_string());
        return Ok(());
    };
    let (head, rest) = (&pattern[..open], &pattern[open + 1..]);
    let Some(close) = rest.find(']') else {
        return Err("has a `[` without its `]`; write ranges as [01:20], [1:20:2] or [a:f]".into());
    };
    let (range, tail) = (&rest[..close], &rest[close + 1..]);
    let bounds: Vec<&str> = range.split(':').collect();
    let (begin, end, step) = match bounds.as_slice() {
        [b, e] => (*b, *e, "1"),
        [b, e, s] => (*b, *e, *s),
        _ => {
            return Err(
                "must be [begin:end] or [begin:end:step]; write ranges as [01:20], [1:20:2] or [a:f]"
                    .into(),
            );
        }
    };
    let begin = if begin.is_empty() { "0" } else { begin };
    if end.is_empty() {
        return Err("has no end value; write ranges as [01:20], [1:20:2] or [a:f]".into());
    }
    let step: usize = match step.parse() {
        Ok(s) if s > 0 => s,
        _ => {
            return Err(format!(
                "has step `{step}`, which is not a positive whole number; write e.g. [1:20:2]"
            ));
        }
    };
    let width = if begin.len() > 1 && begin.starts_with('0') {
        if begin.len() != end.len() {
            return Err(
                "has begin and end of different widths; zero-padded ranges need both the same width, e.g. [01:20]"
                    .into(),
            );
        }
        begin.len()
    } else {
        0
    };
    let letter = |s: &str| (s.len() == 1).then(|| LETTERS.find(s)).flatten();
    let items: Vec<String> = match (letter(begin), letter(end)) {
        (Some(b), Some(e)) => {
            if b > e {
                return Err("counts down; write the smaller end first, e.g. [a:f]".into());
            }
            LETTERS[b..=e]
                .chars()
                .step_by(step)
                .map(String::from)
                .collect()
        }
        _ => {
            let (Ok(b), Ok(e)) = (begin.parse::<u64>(), end.parse::<u64>()) else {
                return Err(
                    "is neither a number range nor a letter range; write ranges as [01:20], [1:20:2] or [a:f]"
                        .into(),
                );
            };
            if b > e {
                return Err("counts down; write the smaller end first, e.g. [1:20]".into());
            }
            if (e - b) / step as u64 >= MAX_RANGE_HOSTS as u64 {
                return Err(format!(
                    "expands to more than {MAX_RANGE_HOSTS} hosts; split the group or fix the range"
                ));
            }
            (b..=e)
                .step_by(step)
                .map(|n| format!("{n:0width$}"))
                .collect()
        }
    };
    for item in items {
        expand_into(&format!("{head}{item}{tail}"), out)?;
        if out.len() > MAX_RANGE_HOSTS {
            return Err(format!(
                "expands to more than {MAX_RANGE_HOSTS} hosts; split the group or fix the range"
            ));
        }
    }
    Ok(())
}

/// Whether a name is a pattern (`*`, `?`) rather than one host.
pub fn is_glob(name: &str) -> bool {
    name.contains(['*', '?'])
}

/// A `hostsFrom.hosts` glob: `*` (any run of characters) and `?` (one
/// character), ASCII case ignored.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    wildcard_matches(pattern, name, true)
}

/// An ssh_config `Host` pattern: `*` and `?`, with case counted, as ssh
/// matches a pattern against the name it was given (OpenSSH's
/// `match_pattern`: `Host WEB1` does not apply to `ssh web1`, nor `Host web*`
/// to `ssh WEB1`; checked with `ssh -G`, OpenSSH 9.2).
pub fn ssh_pattern_matches(pattern: &str, name: &str) -> bool {
    wildcard_matches(pattern, name, false)
}

fn wildcard_matches(pattern: &str, name: &str, ignore_case: bool) -> bool {
    let fold = |c: char| {
        if ignore_case {
            c.to_ascii_lowercase()
        } else {
            c
        }
    };
    let p: Vec<char> = pattern.chars().map(fold).collect();
    let n: Vec<char> = name.chars().map(fold).collect();
    // Greedy with one backtrack point: linear, no recursion.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_as_ansible_does() {
        assert_eq!(expand_range("web").unwrap(), ["web"]);
        assert_eq!(
            expand_range("web[01:03].example.com").unwrap(),
            [
                "web01.example.com",
                "web02.example.com",
                "web03.example.com"
            ]
        );
        assert_eq!(expand_range("n[1:10:4]").unwrap(), ["n1", "n5", "n9"]);
        assert_eq!(expand_range("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert_eq!(expand_range("x[:1]").unwrap(), ["x0", "x1"]);
        assert_eq!(
            expand_range("r[1:2]-[a:b]").unwrap(),
            ["r1-a", "r1-b", "r2-a", "r2-b"]
        );
        assert_eq!(expand_range("w[8:10]").unwrap(), ["w8", "w9", "w10"]);
    }

    #[test]
    fn bad_ranges_say_why() {
        for (p, want) in [
            ("web[01:3]", "different widths"),
            ("web[3:1]", "counts down"),
            ("web[1:]", "no end"),
            ("web[1:3", "without its `]`"),
            ("web[1:2:0]", "step `0`"),
            ("web[1-3]", "[begin:end]"),
            ("web[x:3]", "neither"),
            ("web[0:99999999]", "more than"),
            ("a[0:200]b[0:200]", "more than"),
        ] {
            let e = expand_range(p).unwrap_err();
            assert!(e.contains(want), "{p}: {e}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_matches("web-*", "web-1"));
        assert!(glob_matches("WEB-?", "web-1"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("*.example.*", "a.example.com"));
        assert!(!glob_matches("web-?", "web-10"));
        assert!(!glob_matches("web-*", "db-1"));
        assert!(glob_matches("a*b*c", "aXbYbZc"));
        assert!(!glob_matches("a*b*c", "aXbYbZ"));
        assert!(is_glob("web-*") && !is_glob("web-1"));
    }

    #[test]
    fn ssh_patterns_count_case() {
        assert!(ssh_pattern_matches("web-*", "web-1"));
        assert!(ssh_pattern_matches("W?B*", "WEB1"));
        assert!(!ssh_pattern_matches("WEB-?", "web-1"));
        assert!(!ssh_pattern_matches("web*", "Web1"));
        assert!(!ssh_pattern_matches("Web1", "web1"));
        assert!(ssh_pattern_matches("*", "Web1"));
    }
}
