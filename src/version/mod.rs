//! Version ordering as each package manager defines it. The planner never
//! compares versions as strings: "1.10" is newer than "1.9", "1.0~rc1" older
//! than "1.0", and an epoch outranks everything after it.

pub mod deb;
pub mod rpm;

use std::cmp::Ordering;

use crate::facts::PackageManager;

/// Compares two versions the way `pm` would.
pub fn compare(pm: PackageManager, a: &str, b: &str) -> Ordering {
    match pm {
        PackageManager::Apt => deb::compare(a, b),
        // zypper and dnf share rpm's ordering; apk's is close enough to rpm's
        // segment rules for the versions it is given here.
        PackageManager::Dnf | PackageManager::Zypper | PackageManager::Apk => {
            rpm::compare_evr(a, b)
        }
        // Update revisions are numbers; "" (not installed) is older than any.
        PackageManager::WindowsUpdate => {
            let n = |v: &str| v.parse::<u64>().ok();
            match (n(a), n(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => Ordering::Greater,
                (None, Some(_)) => Ordering::Less,
                (None, None) => a.cmp(b),
            }
        }
    }
}
