//! Version ordering checked against the real tools on random versions:
//! `dpkg --compare-versions` for Debian, rpm's own `rpm.vercmp` for RPM.

use std::cmp::Ordering;
use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use patchwave::version::{deb, rpm};

fn deb_version() -> impl Strategy<Value = String> {
    (
        prop::option::of(0u8..3),
        "[0-9][0-9a-z.+~]{0,6}",
        prop::option::of("[0-9a-z.+~]{1,5}"),
    )
        .prop_map(|(e, up, rev)| {
            let mut v = String::new();
            if let Some(e) = e {
                v.push_str(&format!("{e}:"));
            }
            v.push_str(&up);
            if let Some(r) = rev {
                v.push('-');
                v.push_str(&r);
            }
            v
        })
}

/// dpkg's answer for many pairs at once (one process).
fn dpkg_answers(pairs: &[(String, String)]) -> Vec<Ordering> {
    let mut child = Command::new("sh")
        .args([
            "-c",
            "while read -r a b; do if dpkg --compare-versions \"$a\" lt \"$b\"; then echo lt; elif dpkg --compare-versions \"$a\" eq \"$b\"; then echo eq; else echo gt; fi; done",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = pairs.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| match l {
            "lt" => Ordering::Less,
            "eq" => Ordering::Equal,
            _ => Ordering::Greater,
        })
        .collect()
}

/// rpm's answer for many pairs at once (one lua script).
fn rpm_answers(pairs: &[(String, String)]) -> Vec<Ordering> {
    let calls: String = pairs
        .iter()
        .map(|(a, b)| format!("print(rpm.vercmp(\"{a}\", \"{b}\") .. \" \") "))
        .collect();
    let out = Command::new("rpm")
        .arg("--eval")
        .arg(format!("%{{lua: {calls}}}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(|n| {
            n.parse::<i32>()
                .unwrap_or_else(|_| panic!("rpm printed {n:?} for {pairs:?}"))
                .cmp(&0)
        })
        .collect()
}

#[test]
fn debian_ordering_matches_dpkg() {
    let mut runner = TestRunner::new(Config::default());
    let pairs: Vec<(String, String)> = (0..400)
        .map(|_| {
            let a = deb_version().new_tree(&mut runner).unwrap().current();
            // Half the pairs share a prefix, so the interesting tails get compared.
            let b = if a.len() > 2 && a.len().is_multiple_of(2) {
                format!(
                    "{}{}",
                    &a[..a.len() - 1],
                    deb_version()
                        .new_tree(&mut runner)
                        .unwrap()
                        .current()
                        .replace(':', "")
                )
            } else {
                deb_version().new_tree(&mut runner).unwrap().current()
            };
            (a, b)
        })
        .filter(|(a, b)| {
            !b.contains("::")
                && b.matches(':').count() <= 1
                && a.matches(':').count() <= 1
                && !b.starts_with(':')
        })
        .collect();
    let want = dpkg_answers(&pairs);
    assert_eq!(want.len(), pairs.len());
    for ((a, b), w) in pairs.iter().zip(want) {
        assert_eq!(deb::compare(a, b), w, "deb {a} vs {b}");
    }
}

#[test]
fn rpm_ordering_matches_rpm() {
    let mut runner = TestRunner::new(Config::default());
    let s = "[0-9a-zA-Z._~^]{1,8}";
    let pairs: Vec<(String, String)> = (0..400)
        .map(|_| {
            let a = s.new_tree(&mut runner).unwrap().current();
            let b = if a.len().is_multiple_of(2) {
                format!(
                    "{}{}",
                    &a[..a.len() / 2],
                    s.new_tree(&mut runner).unwrap().current()
                )
            } else {
                s.new_tree(&mut runner).unwrap().current()
            };
            (a, b)
        })
        .collect();
    let want = rpm_answers(&pairs);
    assert_eq!(want.len(), pairs.len());
    for ((a, b), w) in pairs.iter().zip(want) {
        assert_eq!(rpm::vercmp(a, b), w, "rpm {a} vs {b}");
    }
}
