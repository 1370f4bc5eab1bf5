//! Debian version ordering (Debian Policy §5.6.12, as dpkg implements it):
//! `[epoch:]upstream[-revision]`; epochs compare as numbers; upstream and
//! revision compare by alternating non-digit and digit runs, where `~` sorts
//! before anything (even the end of the string) and letters before other
//! characters.

use std::cmp::Ordering;

/// The parts of a Debian version. A missing epoch is 0 and a missing revision
/// compares as "0", as dpkg does.
fn split(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((up, rev)) => (epoch, up, rev),
        None => (epoch, rest, "0"),
    }
}

/// Sort weight of one character in a non-digit run.
fn weight(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp` on one part (upstream or revision).
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() || j < b.len() {
        // Non-digit run.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        // Digit run, compared as a number (leading zeros ignored).
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (si, sj) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (na, nb) = (&a[si..i], &b[sj..j]);
        let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Compares two Debian versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| compare_part(ua, ub))
        .then_with(|| compare_part(ra, rb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn table() {
        // (a, b, a compared to b), checked against `dpkg --compare-versions`.
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0-1", "1.0-1", Equal),
            ("1.0", "1.0-0", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1.9", "1.10", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("1:1.0", "2.0", Greater),
            ("1:2.1~rc1-1", "2.0-1", Greater),
            ("2:2.1~rc1-1", "1:9.9", Greater),
            ("0:1.0", "1.0", Equal),
            ("1.01", "1.1", Equal),
            ("3.0.11-1~deb12u1", "3.0.11-1~deb12u2", Less),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("12.4+deb12u5", "12.4+deb12u7", Less),
            ("1.2.3-4ubuntu0.1", "1.2.3-4", Greater),
            ("7.88.1-10+deb12u8", "7.88.1-10+deb12u12", Less),
            ("1.0-1.1", "1.0-1", Greater),
            ("a", "b", Less),
            ("", "", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn the_revision_is_split_at_the_last_hyphen() {
        assert_eq!(split("1.0-beta-2"), (0, "1.0-beta", "2"));
        assert_eq!(split("2:1.0"), (2, "1.0", "0"));
        // Not an epoch: kept in the upstream part.
        assert_eq!(split("x:1.0").0, 0);
    }
}
