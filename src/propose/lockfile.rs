//! The PatchApprovals lockfile as text: existing entries keep the comments
//! written above them, new ones get the classification, severity, advisories
//! and why they are proposed as comments; entries are sorted and the output
//! is stable, so a pull request shows only what changed.

use std::collections::BTreeMap;

use jiff::civil::Date;

use super::Candidate;
use crate::spec::baseline::PatchApprovalsSpec;
use crate::spec::resource::{Document, Metadata};

/// One approved exact version, with the comment lines above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub package: String,
    pub version: String,
    pub arch: Option<String>,
    /// Without the leading `#`.
    pub comments: Vec<String>,
}

/// The header written above a new lockfile.
pub const NEW_FILE_HEADER: &str =
    "Exact versions approved by review (written by `patchwave propose`; merge to approve).";

/// Longest comment line written; advisories and CVE lists come from hosts.
const MAX_COMMENT: usize = 150;

/// The entries of an existing lockfile, each with the comment lines directly
/// above its first line (`lines` is the file's text, positions are 1-based).
pub fn existing_entries(text: &str, spec: &PatchApprovalsSpec) -> Vec<Entry> {
    let lines: Vec<&str> = text.lines().collect();
    spec.approvals
        .iter()
        .map(|a| {
            let mut comments = Vec::new();
            let mut i = (a.package.pos.line as usize).saturating_sub(1);
            // The entry may start with `- ` on the package line or the line
            // before (`-` then `package:` below it, or flow style).
            if lines
                .get(i)
                .is_some_and(|l| !l.trim_start().starts_with('-'))
                && i > 0
                && lines[i - 1].trim() == "-"
            {
                i -= 1;
            }
            while i > 0 {
                let above = lines[i - 1].trim_start();
                match above.strip_prefix('#') {
                    Some(c) => comments.push(c.strip_prefix(' ').unwrap_or(c).to_string()),
                    None => break,
                }
                i -= 1;
            }
            comments.reverse();
            Entry {
                package: a.package.value.clone(),
                version: a.version.value.clone(),
                arch: a.arch.as_ref().map(|x| x.value.clone()),
                comments,
            }
        })
        .collect()
}

/// The leading comment lines of a file (its header), without `#`.
pub fn header_comments(text: &str) -> Vec<String> {
    text.lines()
        .map_while(|l| l.trim_start().strip_prefix('#'))
        .map(|c| c.strip_prefix(' ').unwrap_or(c).to_string())
        .collect()
}

/// The comment lines for a new entry.
pub fn comments_for(c: &Candidate, today: Date) -> Vec<String> {
    let mut first = format!(
        "{}, {}",
        lower(&format!("{:?}", c.classification)),
        lower(&format!("{:?}", c.severity))
    );
    let refs: Vec<&str> = c
        .advisories
        .iter()
        .chain(c.cves.iter())
        .map(String::as_str)
        .collect();
    if !refs.is_empty() {
        first.push_str(" — ");
        first.push_str(&refs.join(", "));
    }
    vec![
        clean(&first),
        clean(&format!(
            "proposed {today}, offered to {} host{}: {}",
            c.hosts,
            if c.hosts == 1 { "" } else { "s" },
            c.why
        )),
    ]
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// Comment text from hosts, made safe for one YAML comment line.
fn clean(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(MAX_COMMENT) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Existing entries plus new ones, deduplicated, sorted by package, version, arch.
pub fn merge(existing: Vec<Entry>, new: Vec<Entry>) -> Vec<Entry> {
    let mut by_key: BTreeMap<(String, String, Option<String>), Entry> = BTreeMap::new();
    for e in existing.into_iter().chain(new) {
        by_key
            .entry((e.package.clone(), e.version.clone(), e.arch.clone()))
            .or_insert(e);
    }
    by_key.into_values().collect()
}

/// A YAML scalar that reads back as exactly this string: plain when that is
/// unambiguous, otherwise double-quoted (a JSON string is valid YAML).
fn scalar(s: &str) -> String {
    const SPECIAL: &[&str] = &[
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
    ];
    let plain = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c))
        && !SPECIAL.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

/// The whole lockfile.
pub fn render(header: &[String], metadata: &Metadata, baseline: &str, entries: &[Entry]) -> String {
    let mut out = String::new();
    for h in header {
        push_comment(&mut out, "", h);
    }
    out.push_str("apiVersion: patchwave.dev/v1\nkind: PatchApprovals\nmetadata:\n");
    out.push_str(&format!("  name: {}\n", scalar(&metadata.name.value)));
    for (key, map) in [
        ("labels", &metadata.labels),
        ("annotations", &metadata.annotations),
    ] {
        if !map.is_empty() {
            out.push_str(&format!("  {key}:\n"));
            for (k, v) in map {
                out.push_str(&format!("    {}: {}\n", quoted(k), quoted(v)));
            }
        }
    }
    out.push_str(&format!("spec:\n  baseline: {}\n", scalar(baseline)));
    if entries.is_empty() {
        out.push_str("  approvals: []\n");
        return out;
    }
    out.push_str("  approvals:\n");
    for e in entries {
        for c in &e.comments {
            push_comment(&mut out, "    ", c);
        }
        out.push_str(&format!("    - package: {}\n", scalar(&e.package)));
        out.push_str(&format!("      version: {}\n", quoted(&e.version)));
        if let Some(a) = &e.arch {
            out.push_str(&format!("      arch: {}\n", scalar(a)));
        }
    }
    out
}

fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn push_comment(out: &mut String, indent: &str, c: &str) {
    let c = clean(c);
    if c.is_empty() {
        out.push_str(&format!("{indent}#\n"));
    } else {
        out.push_str(&format!("{indent}# {c}\n"));
    }
}

/// Reads rendered text back and checks it holds exactly `entries`: the
/// lockfile is never written unless patchwave itself can load it again.
pub fn check_round_trip(text: &str, entries: &[Entry]) -> Result<(), String> {
    let doc: Document<PatchApprovalsSpec> = serde_saphyr::from_str(text)
        .map_err(|e| format!("the proposed lockfile does not parse: {e}"))?;
    let got: Vec<(String, String, Option<String>)> = doc
        .spec
        .approvals
        .iter()
        .map(|a| {
            (
                a.package.value.clone(),
                a.version.value.clone(),
                a.arch.as_ref().map(|x| x.value.clone()),
            )
        })
        .collect();
    let want: Vec<(String, String, Option<String>)> = entries
        .iter()
        .map(|e| (e.package.clone(), e.version.clone(), e.arch.clone()))
        .collect();
    if got == want {
        Ok(())
    } else {
        Err("the proposed lockfile does not read back as written".into())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::spec::Spanned;
    use crate::spec::baseline::{Classification, Severity};

    fn parse(text: &str) -> Document<PatchApprovalsSpec> {
        serde_saphyr::from_str(text).unwrap()
    }

    const EXISTING: &str = "# yaml-language-server: $schema=x.json
# Header line two.
apiVersion: patchwave.dev/v1
kind: PatchApprovals
metadata:
  name: prod-approvals
  labels: {team: infra}
spec:
  baseline: prod
  approvals:
    # kernel point release
    # second comment line
    - package: linux-image-amd64
      version: \"6.1.158-1\"
    - {package: zlib1g, version: \"1:1.2.13.dfsg-1\"}
    -
      # inside the entry
      package: bash
      version: 5.2.15-2
";

    #[test]
    fn existing_entries_keep_their_comments_and_the_header_survives() {
        let doc = parse(EXISTING);
        let e = existing_entries(EXISTING, &doc.spec);
        assert_eq!(e[0].package, "linux-image-amd64");
        assert_eq!(
            e[0].comments,
            ["kernel point release", "second comment line"]
        );
        assert_eq!(e[1].package, "zlib1g");
        assert!(e[1].comments.is_empty());
        assert_eq!(e[2].package, "bash");
        assert_eq!(e[2].comments, ["inside the entry"]);
        assert_eq!(
            header_comments(EXISTING),
            ["yaml-language-server: $schema=x.json", "Header line two."]
        );
        let merged = merge(
            e,
            vec![Entry {
                package: "apt".into(),
                version: "2.6.1".into(),
                arch: None,
                comments: vec!["new".into()],
            }],
        );
        let names: Vec<&str> = merged.iter().map(|e| e.package.as_str()).collect();
        assert_eq!(names, ["apt", "bash", "linux-image-amd64", "zlib1g"]);
        let text = render(&header_comments(EXISTING), &doc.metadata, "prod", &merged);
        check_round_trip(&text, &merged).unwrap();
        let again = parse(&text);
        assert_eq!(again.metadata.labels["team"], "infra");
        // Rendering what was rendered is a fixed point: no churn in pull requests.
        let reread = existing_entries(&text, &again.spec);
        assert_eq!(
            render(&header_comments(&text), &again.metadata, "prod", &reread),
            text
        );
    }

    #[test]
    fn host_text_cannot_escape_its_comment() {
        let c = Candidate {
            package: "openssl".into(),
            version: "3.0.15-1".into(),
            classification: Classification::Security,
            severity: Severity::Important,
            advisories: BTreeSet::from(
                ["DSA-1\n    - package: evil\n      version: 1".to_string()],
            ),
            cves: BTreeSet::from(["CVE-2024-1".to_string()]),
            hosts: 1,
            why: "no approval rule matches".into(),
        };
        let comments = comments_for(&c, "2026-11-23".parse().unwrap());
        assert_eq!(comments.len(), 2);
        assert!(comments.iter().all(|c| !c.contains('\n')));
        let entries = vec![Entry {
            package: c.package.clone(),
            version: c.version.clone(),
            arch: None,
            comments,
        }];
        let meta = Metadata {
            name: Spanned::new("a".to_string(), Default::default()),
            labels: Default::default(),
            annotations: Default::default(),
        };
        let text = render(&[], &meta, "b", &entries);
        check_round_trip(&text, &entries).unwrap();
        assert_eq!(parse(&text).spec.approvals.len(), 1, "{text}");
    }

    proptest! {
        /// Whatever names and versions hosts report, the lockfile reads back exactly.
        #[test]
        fn any_entries_round_trip(
            rows in prop::collection::vec(("[ -~]{1,20}", "[ -~]{1,20}", prop::option::of("[a-z0-9_]{1,8}"), "[ -~\\n]{0,30}"), 0..6)
        ) {
            let entries = merge(vec![], rows.into_iter().map(|(p, v, a, c)| Entry {
                package: p, version: v, arch: a, comments: vec![c],
            }).collect());
            let meta = Metadata {
                name: Spanned::new("a".to_string(), Default::default()),
                labels: Default::default(),
                annotations: Default::default(),
            };
            let text = render(&["h".to_string()], &meta, "b", &entries);
            prop_assert!(check_round_trip(&text, &entries).is_ok(), "{}", text);
        }
    }
}
