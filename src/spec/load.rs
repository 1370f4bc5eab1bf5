//! Reads every patchwave document under a repository directory.
//!
//! Each `*.yaml`/`*.yml` file (hidden directories and the top-level `status/`
//! skipped) may hold several `---`-separated documents. A document whose
//! `apiVersion` belongs to another API group (a Kubernetes manifest, a CI file)
//! is not patchwave's and is skipped; everything else must parse strictly.
//! Problems become diagnostics and loading goes on, so `validate` reports them
//! all at once.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Repository;
use super::diagnostic::{Diagnostic, Origin};
use super::kind::Kind;
use super::resource::{API_GROUP, API_VERSION, Document, Resource};
use super::spanned::{Pos, Spanned};
use super::values::closest;

/// Directories never read: run state written back by patchwave, and VCS/CI dot-dirs.
const SKIPPED_TOP_LEVEL_DIRS: &[&str] = &["status"];

/// Loads the repository at `root`. Only an unreadable `root` is an `Err`;
/// problems inside files are returned as diagnostics.
pub fn load(root: &Path) -> io::Result<(Repository, Vec<Diagnostic>)> {
    let meta = fs::metadata(root)?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a directory", root.display()),
        ));
    }
    let mut files = Vec::new();
    collect_yaml_files(root, root, &mut files)?;
    let mut repo = Repository::default();
    let mut diags = Vec::new();
    for path in files {
        let shown: Arc<Path> = Arc::from(path.as_path());
        match fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => load_file(&shown, &text, &mut repo, &mut diags),
                Err(_) => diags.push(
                    Diagnostic::error(&shown, Pos::new(1, 1), "file is not valid UTF-8")
                        .with_hint("save it as UTF-8"),
                ),
            },
            Err(e) => diags.push(Diagnostic::error(
                &shown,
                Pos::new(1, 1),
                format!("cannot read file: {e}"),
            )),
        }
        repo.files += 1;
    }
    Ok((repo, diags))
}

/// Sorted, so diagnostics and plans come out in the same order on every machine.
fn collect_yaml_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // file_type() does not follow symlinks: a symlinked directory is never
        // walked (no loops), a symlinked file is read.
        let ft = entry.file_type()?;
        if ft.is_dir() {
            if dir == root && SKIPPED_TOP_LEVEL_DIRS.contains(&name.as_ref()) {
                continue;
            }
            collect_yaml_files(root, &path, out)?;
        } else if (ft.is_file() || ft.is_symlink())
            && (name.ends_with(".yaml") || name.ends_with(".yml"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// One document's text, with the 0-based line it starts on in its file.
struct DocText<'a> {
    first_line: usize,
    text: &'a str,
}

/// Splits a YAML stream at `---` lines. Document markers at column 0 cannot
/// occur inside any YAML scalar, so a line-based split is exact.
fn split_documents(text: &str) -> Vec<DocText<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 0usize;
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if is_marker && offset > start {
            docs.push(DocText {
                first_line: start_line,
                text: &text[start..offset],
            });
            start = offset;
            start_line = i;
        }
        offset += line.len();
    }
    docs.push(DocText {
        first_line: start_line,
        text: &text[start..],
    });
    docs
}

/// True when a document holds no node: only blank lines, comments and markers.
fn is_empty_document(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// Parses with line numbers relative to the whole file: the document is
/// preceded by as many newlines as lines before it.
fn parse_at<T: DeserializeOwned>(doc: &DocText<'_>) -> Result<T, serde_saphyr::Error> {
    let mut padded = String::with_capacity(doc.first_line + doc.text.len());
    padded.extend(std::iter::repeat_n('\n', doc.first_line));
    padded.push_str(doc.text);
    let mut opts = serde_saphyr::Options::default();
    opts.with_snippet = false;
    serde_saphyr::from_str_with_options(&padded, opts)
}

/// Only the envelope, to learn the kind before parsing strictly.
#[derive(Deserialize)]
struct Header {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<Spanned<String>>,
    #[serde(default)]
    kind: Option<Spanned<String>>,
}

fn load_file(file: &Arc<Path>, text: &str, repo: &mut Repository, diags: &mut Vec<Diagnostic>) {
    for doc in split_documents(text) {
        if is_empty_document(doc.text) {
            continue;
        }
        let doc_pos = first_content_pos(&doc);
        let header: Header = match parse_at(&doc) {
            Ok(h) => h,
            Err(e) => {
                diags.push(yaml_error(file, &e, doc_pos));
                continue;
            }
        };
        let Some(api_version) = header.api_version else {
            diags.push(
                Diagnostic::error(file, doc_pos, "document has no `apiVersion`").with_hint(
                    format!("start the document with `apiVersion: {API_VERSION}` and a `kind`"),
                ),
            );
            continue;
        };
        let group = api_version.value.split('/').next().unwrap_or_default();
        if group != API_GROUP {
            // Someone else's document (a Kubernetes manifest, say): not ours to judge.
            continue;
        }
        if api_version.value != API_VERSION {
            diags.push(
                Diagnostic::error(
                    file,
                    api_version.pos,
                    format!("unsupported apiVersion `{}`", api_version.value),
                )
                .with_hint(format!("this patchwave understands `{API_VERSION}`")),
            );
            continue;
        }
        let Some(kind_text) = header.kind else {
            diags.push(
                Diagnostic::error(file, doc_pos, "document has no `kind`")
                    .with_hint(format!("add `kind:` with one of {}", Kind::list())),
            );
            continue;
        };
        let Some(kind) = Kind::parse(&kind_text.value) else {
            let mut d = Diagnostic::error(
                file,
                kind_text.pos,
                format!("unknown kind `{}`", kind_text.value),
            );
            d = match closest(&kind_text.value, Kind::ALL.iter().map(|k| k.as_str())) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => d.with_hint(format!("kinds are {}", Kind::list())),
            };
            diags.push(d);
            continue;
        };
        let origin = Origin {
            file: file.clone(),
            pos: kind_text.pos,
        };
        match kind {
            Kind::Fleet => push(&doc, origin, &mut repo.fleets, diags),
            Kind::HostGroup => push(&doc, origin, &mut repo.groups, diags),
            Kind::PatchBaseline => push(&doc, origin, &mut repo.baselines, diags),
            Kind::PatchApprovals => push(&doc, origin, &mut repo.approvals, diags),
            Kind::MaintenanceWindow => push(&doc, origin, &mut repo.windows, diags),
            Kind::RolloutPolicy => push(&doc, origin, &mut repo.rollouts, diags),
            Kind::EmergencyChange => push(&doc, origin, &mut repo.emergencies, diags),
        }
    }
}

fn push<S: DeserializeOwned>(
    doc: &DocText<'_>,
    origin: Origin,
    into: &mut Vec<Resource<S>>,
    diags: &mut Vec<Diagnostic>,
) {
    match parse_at::<Document<S>>(doc) {
        Ok(d) => into.push(Resource {
            origin,
            metadata: d.metadata,
            spec: d.spec,
        }),
        Err(e) => diags.push(yaml_error(&origin.file, &e, origin.pos)),
    }
}

/// Position of the document's first non-blank, non-comment line.
fn first_content_pos(doc: &DocText<'_>) -> Pos {
    for (i, l) in doc.text.lines().enumerate() {
        let t = l.trim();
        if !(t.is_empty() || t.starts_with('#') || t == "---") {
            let col = l.len() - l.trim_start().len() + 1;
            return Pos::new((doc.first_line + i + 1) as u32, col as u32);
        }
    }
    Pos::new(doc.first_line as u32 + 1, 1)
}

/// Turns a YAML/serde error into a diagnostic with its own position and a hint.
fn yaml_error(file: &Path, err: &serde_saphyr::Error, fallback: Pos) -> Diagnostic {
    let pos = err
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| Pos::new(l.line() as u32, l.column() as u32))
        .unwrap_or(fallback);
    let message = strip_location_suffix(&err.to_string());
    let hint = hint_for(&message);
    Diagnostic::error(file, pos, message).with_hint(hint)
}

/// serde-saphyr appends " at line N, column M"; the diagnostic carries the position itself.
fn strip_location_suffix(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or_default();
    match first.rfind(" at line ") {
        Some(i) if first[i..].contains(", column ") => first[..i].to_string(),
        _ => first.to_string(),
    }
}

/// Fields that would hold a secret: the hint says where secrets belong instead.
const SECRET_FIELDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "privatekey",
    "apikey",
];

fn hint_for(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        if SECRET_FIELDS.contains(&field.to_ascii_lowercase().as_str()) {
            return "patchwave never reads secrets from the repository; reference them with `credentialRef: {username, env | file}`".into();
        }
        let expected: Vec<&str> = rest
            .split_once("expected ")
            .map(|(_, list)| {
                list.trim_start_matches("one of ")
                    .split(',')
                    .map(|s| s.trim().trim_matches('`'))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(s) = closest(field, expected.iter().copied()) {
            return format!("did you mean `{s}`?");
        }
        return "remove it or fix its spelling; `patchwave schema` lists every field".into();
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return format!("add `{field}:`; `patchwave schema` describes it");
    }
    if message.starts_with("duplicate mapping key") {
        return "remove one of the two entries".into();
    }
    if message.starts_with("unknown variant") {
        return "use one of the listed values".into();
    }
    if ["expected", "invalid", "cannot", "unexpected value"]
        .iter()
        .any(|w| message.contains(w))
    {
        return "check the value's type against `patchwave schema`".into();
    }
    "YAML syntax: check the indentation, quotes and brackets here and on the lines above".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_line_numbers_and_markers_with_content() {
        let text = "a: 1\n---\nb: 2\n--- {c: 3}\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 3);
        assert_eq!((docs[0].first_line, docs[0].text), (0, "a: 1\n"));
        assert_eq!((docs[1].first_line, docs[1].text), (1, "---\nb: 2\n"));
        assert_eq!((docs[2].first_line, docs[2].text), (3, "--- {c: 3}\n"));
    }

    #[test]
    fn leading_marker_does_not_make_an_empty_document() {
        let docs = split_documents("---\na: 1\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].first_line, 0);
    }

    #[test]
    fn dashes_inside_a_line_are_not_markers() {
        assert_eq!(split_documents("a: '---'\nb: ----\n").len(), 1);
    }

    #[test]
    fn location_suffix_is_stripped() {
        assert_eq!(
            strip_location_suffix("unknown field `x`, expected `y` at line 3, column 1"),
            "unknown field `x`, expected `y`"
        );
    }

    #[test]
    fn hints() {
        assert_eq!(
            hint_for("unknown field `baselin`, expected one of hosts, baseline, windows"),
            "did you mean `baseline`?"
        );
        assert!(hint_for("unknown field `password`, expected one of a").contains("credentialRef"));
    }
}
