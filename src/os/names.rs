//! Grammars for package names, versions and architectures read from hosts.
//!
//! Remote output is untrusted: a name or version is used in a later command
//! (install, downgrade) only if it matches its package manager's grammar, and
//! even then only as a quoted argument.

/// Debian policy §5.6.1: lowercase letters, digits, `+ - .`; at least two
/// characters; starts with a letter or digit.
pub fn is_deb_name(s: &str) -> bool {
    s.len() >= 2
        && s.len() <= 128
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

/// Debian policy §5.6.12: `[epoch:]upstream[-revision]`, upstream starting with a digit.
pub fn is_deb_version(s: &str) -> bool {
    if s.is_empty() || s.len() > 256 {
        return false;
    }
    let rest = match s.split_once(':') {
        Some((epoch, rest)) => {
            if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            rest
        }
        None => s,
    };
    !rest.is_empty()
        && rest.as_bytes()[0].is_ascii_digit()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~-:".contains(&b))
}

/// Architecture names (`amd64`, `all`, `x86_64`, `noarch`, `i686`).
pub fn is_arch(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// RPM names: letters, digits and `. _ + -`, not starting with `-`.
pub fn is_rpm_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

/// RPM version or release: letters, digits and `. _ + ~ ^` (no `-`, which separates them).
pub fn is_rpm_version_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+~^".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_grammar() {
        for ok in [
            "libc6",
            "g++-12",
            "linux-image-6.1.0-25-amd64",
            "python3.11",
        ] {
            assert!(is_deb_name(ok), "{ok}");
        }
        for bad in ["a", "-x", "Libc", "a b", "x;y", ""] {
            assert!(!is_deb_name(bad), "{bad}");
        }
        for ok in [
            "1.0-1",
            "2:2.1~rc1-1",
            "12.4+deb12u7",
            "1:9.2p1-2+deb12u3",
            "0.0~git20230101",
        ] {
            assert!(is_deb_version(ok), "{ok}");
        }
        for bad in ["", "a1.0", ":1.0", "x:1.0", "1.0 1", "1.0;rm", "$(x)"] {
            assert!(!is_deb_version(bad), "{bad}");
        }
    }

    #[test]
    fn rpm_grammar() {
        assert!(is_rpm_name("openssl-libs"));
        assert!(is_rpm_name("perl-Net-SSLeay"));
        assert!(!is_rpm_name("-e"));
        assert!(is_rpm_version_part("3.0.7"));
        assert!(is_rpm_version_part("27.el9_4^20240101"));
        assert!(!is_rpm_version_part("1.0-1"));
    }
}
