//! Reads every patchwave document under a repository directory.
//!
//! Each `*.yaml`/`*.yml` file (hidden directories and the top-level `status/`
//! skipped) may hold several `---`-separated documents. A document whose
//! `apiVersion` belongs to another API group, or that has neither
//! `apiVersion` nor `kind` (a CI file, a compose file), is not patchwave's and
//! is skipped; everything else must parse strictly. Problems become
//! diagnostics and loading goes on, so `validate` reports them all at once.
//! Last, each HostGroup's `hostsFrom` files are read (see [`super::inventory`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Repository;
use super::diagnostic::{Diagnostic, Origin, Severity};
use super::kind::Kind;
use super::resource::{API_GROUP, API_VERSION, Document, Resource};
use super::schema_check;
use super::spanned::{Pos, Spanned, file_pos, with_line_offset};
use super::values::closest;

/// Directories never read: run state written back by patchwave.
const SKIPPED_TOP_LEVEL_DIRS: &[&str] = &["status"];

/// Larger files are refused: policy files are small, and a huge one is a
/// mistake (or a pull request trying to stall CI).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

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
    let canonical_root = fs::canonicalize(root)?;
    let mut files = Vec::new();
    collect_yaml_files(root, root, &mut files)?;
    let mut repo = Repository::default();
    let mut diags = Vec::new();
    for path in files {
        let shown: Arc<Path> = Arc::from(shown_path(root, &path).as_path());
        match read_policy_file(&canonical_root, &path) {
            Ok(text) => load_file(&shown, &text, &mut repo, &mut diags),
            Err((message, hint)) => {
                diags.push(Diagnostic::error(&shown, Pos::new(1, 1), message).with_hint(hint))
            }
        }
        repo.files += 1;
    }
    super::inventory::resolve(root, &canonical_root, &mut repo, &mut diags);
    Ok((repo, diags))
}

/// The path as the user would type it from where they ran patchwave:
/// `--repo .` gives `groups/web.yaml`, `--repo fleet` gives `fleet/groups/web.yaml`.
pub(super) fn shown_path(root: &Path, path: &Path) -> PathBuf {
    if root == Path::new(".") {
        path.strip_prefix(root).unwrap_or(path).to_path_buf()
    } else {
        path.to_path_buf()
    }
}

/// Reads one policy file: [`read_repo_file`], as UTF-8.
fn read_policy_file(canonical_root: &Path, path: &Path) -> Result<String, (String, String)> {
    let bytes = read_repo_file(canonical_root, path)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        (
            "file is not valid UTF-8".to_string(),
            "save it as UTF-8".to_string(),
        )
    })?;
    // A byte-order mark is legal YAML; drop it so column numbers stay right.
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// Reads one file, refusing what is not a regular file inside the repository
/// (a symlink to /dev/zero, a FIFO, a file elsewhere) or is too big; the
/// error is a message and a hint.
pub(super) fn read_repo_file(
    canonical_root: &Path,
    path: &Path,
) -> Result<Vec<u8>, (String, String)> {
    let unreadable = |e: io::Error| {
        (
            format!("cannot read file: {e}"),
            "check that it exists and is readable".to_string(),
        )
    };
    let real = fs::canonicalize(path).map_err(unreadable)?;
    if !real.starts_with(canonical_root) {
        return Err((
            format!(
                "symlink points outside the repository, to {}",
                real.display()
            ),
            "policy must live in the repository; copy the file in instead of linking it".into(),
        ));
    }
    let meta = fs::metadata(&real).map_err(unreadable)?;
    if !meta.is_file() {
        return Err((
            "not a regular file".into(),
            "only regular files (or symlinks to them inside the repository) are read".into(),
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err((
            format!(
                "file is {} bytes, over the {MAX_FILE_BYTES}-byte limit",
                meta.len()
            ),
            "split it into several files".into(),
        ));
    }
    fs::read(&real).map_err(unreadable)
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
        // walked (no loops); a symlinked file is checked when it is read.
        let ft = entry.file_type()?;
        if ft.is_dir() {
            if dir == root && SKIPPED_TOP_LEVEL_DIRS.contains(&name.as_ref()) {
                continue;
            }
            collect_yaml_files(root, &path, out)?;
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
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

/// How a line takes part in separating documents.
#[derive(Debug, PartialEq, Eq)]
enum LineRole {
    /// `---`: starts a document (content may follow on the same line).
    Start,
    /// `...`: ends the current document.
    End,
    /// `%YAML`/`%TAG`: belongs to the next document.
    Directive,
    /// Blank or comment.
    Filler,
    Content,
}

fn line_role(line: &str) -> LineRole {
    let bare = line.trim_end_matches(['\n', '\r']);
    let marker = |m: &str| {
        bare == m
            || bare
                .strip_prefix(m)
                .is_some_and(|rest| rest.starts_with([' ', '\t']))
    };
    if marker("---") {
        LineRole::Start
    } else if marker("...") {
        LineRole::End
    } else if bare.starts_with('%') {
        LineRole::Directive
    } else if bare.trim().is_empty() || bare.trim_start().starts_with('#') {
        LineRole::Filler
    } else {
        LineRole::Content
    }
}

/// Whether a `---` line carries a node after the marker (`--- {a: 1}`).
fn marker_has_content(line: &str) -> bool {
    let rest = line.trim_end().get(3..).unwrap_or("").trim();
    !rest.is_empty() && !rest.starts_with('#')
}

/// Splits a YAML stream into its non-empty documents. Markers at column 0
/// cannot occur inside any YAML scalar, so a line-based split is exact.
fn split_documents(text: &str) -> Vec<DocText<'_>> {
    let mut docs = Vec::new();
    let (mut start, mut start_line, mut has_content) = (0usize, 0usize, false);
    // Whether the text from `start` already holds a `---`: a second one
    // before any content ends an empty document, which is left out (else
    // the parser would read only that empty one, and the resource after
    // it would silently not be read).
    let mut started = false;
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let role = line_role(line);
        if matches!(role, LineRole::Start | LineRole::Directive) && has_content {
            docs.push(DocText {
                first_line: start_line,
                text: &text[start..offset],
            });
            (start, start_line, has_content, started) = (offset, i, false, false);
        } else if role == LineRole::Start && started {
            (start, start_line) = (offset, i);
        }
        offset += line.len();
        match role {
            LineRole::End => {
                if has_content {
                    docs.push(DocText {
                        first_line: start_line,
                        text: &text[start..offset],
                    });
                }
                (start, start_line, has_content, started) = (offset, i + 1, false, false);
            }
            LineRole::Content => has_content = true,
            LineRole::Start => {
                started = true;
                has_content |= marker_has_content(line);
            }
            LineRole::Directive | LineRole::Filler => {}
        }
    }
    if has_content {
        docs.push(DocText {
            first_line: start_line,
            text: &text[start..],
        });
    }
    docs
}

/// Parses one document; positions come out as positions in the whole file,
/// without re-reading the documents above it.
fn parse_at<T: DeserializeOwned>(doc: &DocText<'_>) -> Result<T, serde_saphyr::Error> {
    let mut opts = serde_saphyr::Options::default();
    opts.with_snippet = false;
    with_line_offset(doc.first_line as u32, || {
        serde_saphyr::from_str_with_options(doc.text, opts)
    })
}

/// Only the envelope, to learn the kind (and name) before parsing strictly.
#[derive(Deserialize)]
struct Header {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<Spanned<String>>,
    #[serde(default)]
    kind: Option<Spanned<String>>,
    #[serde(default)]
    metadata: Option<HeaderMetadata>,
}

#[derive(Deserialize)]
struct HeaderMetadata {
    #[serde(default)]
    name: Option<String>,
}

/// What a document is when its envelope does not deserialize as [`Header`].
enum Envelope {
    /// A list or a scalar: not a resource.
    NotAResource,
    /// A mapping whose `apiVersion` and `kind` (if any) are strings: its
    /// header, read from its YAML.
    Header(Header),
    /// A syntax error, or an `apiVersion` or `kind` that is not a string.
    Unreadable,
}

fn envelope_of(doc: &DocText<'_>, err: &serde_saphyr::Error) -> Envelope {
    if is_syntax_error(err) {
        return Envelope::Unreadable;
    }
    let Ok(node) = parse_at::<schema_check::Node>(doc) else {
        return if is_not_a_mapping(err) {
            Envelope::NotAResource
        } else {
            Envelope::Unreadable
        };
    };
    if !node.is_mapping() {
        return Envelope::NotAResource;
    }
    let text = |key: &str| match node.get(key) {
        None => Ok(None),
        Some(n) => n
            .as_str()
            .map(|s| Some(Spanned::new(s.to_string(), n.pos())))
            .ok_or(()),
    };
    let (Ok(api_version), Ok(kind)) = (text("apiVersion"), text("kind")) else {
        return Envelope::Unreadable;
    };
    let name = node
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(schema_check::Node::as_str)
        .map(str::to_string);
    Envelope::Header(Header {
        api_version,
        kind,
        metadata: Some(HeaderMetadata { name }),
    })
}

/// For a file that is not patchwave's and whose YAML does not parse.
const FOREIGN_FILE_HINT: &str =
    "skipped: this file never mentions patchwave.dev, so it is not checked further";

/// The resources one file's text holds (as it was in some commit), without
/// validation: enough to ask whether a resource was there.
pub fn load_text(file: &Path, text: &str) -> Repository {
    let mut repo = Repository::default();
    load_file(&Arc::from(file), text, &mut repo, &mut Vec::new());
    repo
}

fn load_file(file: &Arc<Path>, text: &str, repo: &mut Repository, diags: &mut Vec<Diagnostic>) {
    // A file that never names our API group is someone else's (a CI config,
    // a Helm template): its YAML problems are worth a warning, not a failure.
    let ours = text.contains(API_GROUP);
    for doc in split_documents(text) {
        let header: Header = match parse_at(&doc) {
            Ok(h) => h,
            Err(e) => match envelope_of(&doc, &e) {
                // Not a mapping (a list, a scalar): not a patchwave resource.
                Envelope::NotAResource => continue,
                // A resource whose envelope has the wrong shape (`metadata:
                // 5`): checked below like any other, so that is reported
                // with its other problems.
                Envelope::Header(h) => h,
                Envelope::Unreadable => {
                    let d = yaml_error(file, &doc, &e, first_content_pos(&doc));
                    // References to the resource it holds are not reported
                    // missing on top of its syntax error.
                    if ours && let Some(identity) = salvage_identity(doc.text) {
                        repo.unparsed_groups.unreadable |= identity.0 == Kind::HostGroup;
                        repo.unparsed.push(identity);
                    }
                    diags.push(if ours {
                        d
                    } else {
                        Diagnostic {
                            severity: Severity::Warning,
                            ..d
                        }
                        .with_hint(FOREIGN_FILE_HINT)
                    });
                    continue;
                }
            },
        };
        let Some(api_version) = header.api_version else {
            if let Some(kind) = header.kind
                && Kind::parse(&kind.value).is_some()
            {
                diags.push(
                    Diagnostic::error(file, kind.pos, "document has a `kind` but no `apiVersion`")
                        .with_hint(format!("add `apiVersion: {API_VERSION}` above `kind:`")),
                );
            }
            // Otherwise someone else's document.
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
                Diagnostic::error(file, api_version.pos, "document has no `kind`")
                    .with_hint(format!("add `kind:` with one of {}", Kind::list())),
            );
            continue;
        };
        let Some(kind) = Kind::parse(&kind_text.value) else {
            let hint = match closest(&kind_text.value, Kind::ALL.iter().map(|k| k.as_str())) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("kinds are {}", Kind::list()),
            };
            diags.push(
                Diagnostic::error(
                    file,
                    kind_text.pos,
                    format!("unknown kind `{}`", kind_text.value),
                )
                .with_hint(hint),
            );
            continue;
        };
        let origin = Origin {
            file: file.clone(),
            pos: kind_text.pos,
        };
        let parsed = match kind {
            Kind::Fleet => push(kind, &doc, origin, &mut repo.fleets, diags),
            Kind::HostGroup => push(kind, &doc, origin, &mut repo.groups, diags),
            Kind::PatchBaseline => push(kind, &doc, origin, &mut repo.baselines, diags),
            Kind::PatchApprovals => push(kind, &doc, origin, &mut repo.approvals, diags),
            Kind::MaintenanceWindow => push(kind, &doc, origin, &mut repo.windows, diags),
            Kind::RolloutPolicy => push(kind, &doc, origin, &mut repo.rollouts, diags),
            Kind::EmergencyChange => push(kind, &doc, origin, &mut repo.emergencies, diags),
        };
        // Its errors are reported; references to it must not be reported again.
        if let Err(node) = parsed {
            if let Some(name) = header.metadata.and_then(|m| m.name) {
                repo.unparsed.push((kind, name));
            }
            if kind == Kind::HostGroup {
                match node.as_ref().map(|n| n.get("spec")) {
                    Some(Some(spec)) => note_unparsed_group(spec, &mut repo.unparsed_groups),
                    Some(None) => {}
                    None => repo.unparsed_groups.unreadable = true,
                }
            }
        }
    }
}

/// The stage, windows and host names a HostGroup that did not parse gives,
/// where they are written as they should be.
fn note_unparsed_group(spec: &schema_check::Node, into: &mut super::UnparsedGroups) {
    let text = |n: &schema_check::Node| n.as_str().map(str::to_string);
    into.stages.extend(spec.get("stage").and_then(text));
    into.windows.extend(
        spec.get("windows")
            .into_iter()
            .flat_map(|w| w.items())
            .filter_map(text),
    );
    into.hosts.extend(
        spec.get("hosts")
            .into_iter()
            .flat_map(|h| h.items())
            .filter_map(|h| h.get("name").and_then(text)),
    );
}

/// Parses a document strictly as `S`, a `kind` document. When it does not
/// parse: a diagnostic for each of its problems, and the document as plain
/// YAML where it can be read so.
fn push<S: DeserializeOwned>(
    kind: Kind,
    doc: &DocText<'_>,
    origin: Origin,
    into: &mut Vec<Resource<S>>,
    diags: &mut Vec<Diagnostic>,
) -> Result<(), Option<schema_check::Node>> {
    match parse_at::<Document<S>>(doc) {
        Ok(d) => {
            into.push(Resource {
                origin,
                metadata: d.metadata,
                spec: d.spec,
            });
            Ok(())
        }
        Err(e) => {
            let first = yaml_error(&origin.file, doc, &e, origin.pos);
            // A syntax error stays alone: nothing after it reads reliably.
            if is_syntax_error(&e) {
                diags.push(first);
                return Err(None);
            }
            // Every problem, not only the first one serde stops at: the
            // document is read again as plain YAML and checked against its
            // kind's schema.
            match parse_at::<schema_check::Node>(doc) {
                Ok(node) => {
                    let problems = schema_check::check(kind, &node, doc.text);
                    diags.extend(schema_check::merge(first, &problems, &origin.file));
                    Err(Some(node))
                }
                Err(_) => {
                    diags.push(first);
                    Err(None)
                }
            }
        }
    }
}

/// The kind and name of a document YAML cannot parse, read from its lines:
/// `kind:` at the top level and `name:` in `metadata` (block or flow
/// style). `None` when either cannot be found that way.
fn salvage_identity(text: &str) -> Option<(Kind, String)> {
    let unquote = |v: &str| v.trim().trim_matches(['"', '\'']).to_string();
    let mut kind = None;
    let mut name = None;
    let mut in_metadata = false;
    for line in text.lines() {
        let top = !line.starts_with([' ', '\t']);
        let t = line.trim();
        if top {
            in_metadata = false;
            if let Some(v) = t.strip_prefix("kind:") {
                kind = Kind::parse(&unquote(v.split('#').next().unwrap_or("")));
            } else if let Some(v) = t.strip_prefix("metadata:") {
                let v = v.trim();
                in_metadata = v.is_empty();
                if let Some(inner) = v.strip_prefix('{').and_then(|v| v.split('}').next()) {
                    name = inner
                        .split(',')
                        .find_map(|kv| kv.trim().strip_prefix("name:"))
                        .map(unquote);
                }
            }
        } else if in_metadata
            && name.is_none()
            && let Some(v) = t.strip_prefix("name:")
        {
            name = Some(unquote(v.split('#').next().unwrap_or("")));
        }
    }
    Some((kind?, name.filter(|n| !n.is_empty())?))
}

/// Position of the document's first content line.
fn first_content_pos(doc: &DocText<'_>) -> Pos {
    for (i, l) in doc.text.lines().enumerate() {
        if line_role(l) == LineRole::Content {
            let col = l.len() - l.trim_start().len() + 1;
            return Pos::new((doc.first_line + i + 1) as u32, col as u32);
        }
    }
    Pos::new(doc.first_line as u32 + 1, 1)
}

/// The document is well-formed YAML but not a mapping, so it cannot be a resource.
fn is_not_a_mapping(e: &serde_saphyr::Error) -> bool {
    !is_syntax_error(e) && {
        let m = e.to_string();
        m.starts_with("expected mapping") || m.starts_with("invalid type")
    }
}

/// Scanner and parser errors, as opposed to a well-formed value of the wrong shape.
fn is_syntax_error(e: &serde_saphyr::Error) -> bool {
    matches!(
        e.without_snippet(),
        serde_saphyr::Error::ExternalMessage { .. }
    )
}

/// Turns a YAML/serde error into a diagnostic with its own position and a hint.
fn yaml_error(
    file: &Path,
    doc: &DocText<'_>,
    err: &serde_saphyr::Error,
    fallback: Pos,
) -> Diagnostic {
    let first_line = doc.first_line;
    let pos = err
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| with_line_offset(first_line as u32, || file_pos(l.line(), l.column())))
        .unwrap_or(fallback);
    let message = strip_location_suffix(&err.to_string());
    let pos = if message.contains("tab") {
        tab_near(doc, pos).unwrap_or(pos)
    } else {
        pos
    };
    let hint = if is_syntax_error(err) {
        "YAML syntax: check the indentation, quotes and brackets here and on the lines above"
            .to_string()
    } else {
        hint_for(&message)
    };
    Diagnostic::error(file, pos, message).with_hint(hint)
}

/// The tab a tab error is about. The parser reports where it was, which
/// can be past the tab, or the start of a plain scalar whose next line holds
/// it: the reported line first, then the two below, then the two above.
fn tab_near(doc: &DocText<'_>, pos: Pos) -> Option<Pos> {
    let index = (pos.line as usize).checked_sub(doc.first_line + 1)?;
    let lines: Vec<&str> = doc.text.lines().collect();
    [
        Some(index),
        index.checked_add(1),
        index.checked_add(2),
        index.checked_sub(1),
        index.checked_sub(2),
    ]
    .into_iter()
    .flatten()
    .find_map(|i| {
        let col = lines.get(i)?.find('\t')?;
        Some(Pos::new((doc.first_line + i + 1) as u32, col as u32 + 1))
    })
}

/// serde-saphyr appends " at line N, column M"; the diagnostic carries the position itself.
pub(super) fn strip_location_suffix(msg: &str) -> String {
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

/// The word and the list of "unknown field `word`, expected one of a, b".
fn word_and_expected(rest: &str) -> (&str, Vec<&str>) {
    let word = rest.split('`').next().unwrap_or_default();
    let expected = rest
        .split_once("expected ")
        .map(|(_, list)| {
            list.trim_start_matches("one of ")
                .split(',')
                .map(|s| s.trim().trim_matches('`'))
                .collect()
        })
        .unwrap_or_default();
    (word, expected)
}

/// A hint for a type-level error (unknown or missing field, wrong value).
pub(super) fn hint_for(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = word_and_expected(rest);
        if SECRET_FIELDS.contains(&field.to_ascii_lowercase().as_str()) {
            return "patchwave never reads secrets from the repository; reference them with `credentialRef: {username, env | file}`".into();
        }
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
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, expected) = word_and_expected(rest);
        if let Some(s) = closest(value, expected.iter().copied()) {
            return format!("did you mean `{s}`?");
        }
        return "use one of the listed values".into();
    }
    if message.starts_with("invalid u32") || message.starts_with("invalid i64") {
        return "write a whole number in range, without quotes or leading zeros".into();
    }
    "check the value against `patchwave schema`".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<(usize, &str)> {
        split_documents(text)
            .into_iter()
            .map(|d| (d.first_line, d.text))
            .collect()
    }

    #[test]
    fn split_keeps_line_numbers_and_markers_with_content() {
        assert_eq!(
            split("a: 1\n---\nb: 2\n--- {c: 3}\n"),
            vec![(0, "a: 1\n"), (1, "---\nb: 2\n"), (3, "--- {c: 3}\n")]
        );
    }

    #[test]
    fn leading_marker_and_comments_do_not_make_empty_documents() {
        assert_eq!(split("# c\n---\na: 1\n"), vec![(0, "# c\n---\na: 1\n")]);
        assert!(split("--- # only a comment\n").is_empty());
        assert!(split("---\n...\n").is_empty());
        assert!(split("").is_empty());
    }

    #[test]
    fn empty_documents_before_a_resource_are_left_out() {
        assert_eq!(
            split("---\n---\n# c\n---\na: 1\n"),
            vec![(3, "---\na: 1\n")]
        );
        assert_eq!(
            split("# c\n---\n---\na: 1\n---\n---\nb: 2\n"),
            vec![(2, "---\na: 1\n"), (5, "---\nb: 2\n")]
        );
        assert_eq!(
            split("%YAML 1.2\n---\n---\na: 1\n"),
            vec![(2, "---\na: 1\n")]
        );
    }

    #[test]
    fn end_markers_and_directives_separate_documents() {
        assert_eq!(
            split("a: 1\n...\nb: 2\n"),
            vec![(0, "a: 1\n...\n"), (2, "b: 2\n")]
        );
        assert_eq!(
            split("a: 1\n%YAML 1.2\n---\nb: 2\n"),
            vec![(0, "a: 1\n"), (1, "%YAML 1.2\n---\nb: 2\n")]
        );
    }

    #[test]
    fn dashes_inside_a_line_are_not_markers() {
        assert_eq!(split("a: '---'\nb: ----\n").len(), 1);
    }

    #[test]
    fn location_suffix_is_stripped() {
        assert_eq!(
            strip_location_suffix("unknown field `x`, expected `y` at line 3, column 1"),
            "unknown field `x`, expected `y`"
        );
    }

    /// serde's verdict on a `kind` document.
    fn typed(kind: Kind, doc: &DocText<'_>) -> Result<(), serde_saphyr::Error> {
        use super::super::{baseline, emergency, fleet, host_group, rollout, window};
        match kind {
            Kind::Fleet => parse_at::<Document<fleet::FleetSpec>>(doc).map(drop),
            Kind::HostGroup => parse_at::<Document<host_group::HostGroupSpec>>(doc).map(drop),
            Kind::PatchBaseline => parse_at::<Document<baseline::PatchBaselineSpec>>(doc).map(drop),
            Kind::PatchApprovals => {
                parse_at::<Document<baseline::PatchApprovalsSpec>>(doc).map(drop)
            }
            Kind::MaintenanceWindow => {
                parse_at::<Document<window::MaintenanceWindowSpec>>(doc).map(drop)
            }
            Kind::RolloutPolicy => parse_at::<Document<rollout::RolloutPolicySpec>>(doc).map(drop),
            Kind::EmergencyChange => {
                parse_at::<Document<emergency::EmergencyChangeSpec>>(doc).map(drop)
            }
        }
    }

    /// Compares the schema walk with serde on one document: nothing in a
    /// document serde takes, and serde's own error among the problems of one
    /// it refuses. `None` when the document is not a resource of a known
    /// kind or not readable as plain YAML.
    fn disagreement(text: &str) -> Option<String> {
        let doc = DocText {
            first_line: 0,
            text,
        };
        let header = parse_at::<Header>(&doc).ok()?;
        let kind = Kind::parse(&header.kind?.value)?;
        if header.api_version?.value != API_VERSION {
            return None;
        }
        let node = parse_at::<schema_check::Node>(&doc).ok()?;
        let problems = schema_check::check(kind, &node, text);
        match typed(kind, &doc) {
            Ok(()) if problems.is_empty() => None,
            Ok(()) => Some(format!("serde takes it, the walk says {problems:?}")),
            Err(e) if is_syntax_error(&e) => None,
            Err(e) => {
                let first = yaml_error(Path::new("x.yaml"), &doc, &e, Pos::new(1, 1));
                (!schema_check::explains(&problems, &first))
                    .then(|| format!("serde says {first:?}, the walk {problems:?}"))
            }
        }
    }

    /// Every document of the example fleet and of testdata/invalid, and
    /// variants of each line of the example's (a key misspelt or left out,
    /// the value replaced by a list, a mapping, a number, a quoted number,
    /// `yes`, nothing, …): the walk agrees with serde on each.
    #[test]
    fn schema_walk_agrees_with_serde() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut compared = 0;
        let mut failures = Vec::new();
        for dir in ["examples/fleet", "testdata/invalid"] {
            let mut files = Vec::new();
            collect_yaml_files(&root.join(dir), &root.join(dir), &mut files).unwrap();
            for path in files {
                let text = fs::read_to_string(&path).unwrap();
                for doc in split_documents(&text) {
                    let mut variants = vec![doc.text.to_string()];
                    if dir == "examples/fleet" {
                        variants.extend(line_variants(doc.text));
                    }
                    for v in variants {
                        compared += 1;
                        if let Some(d) = disagreement(&v) {
                            failures.push(format!("{}:\n{v}\n{d}", path.display()));
                        }
                    }
                }
            }
        }
        assert!(compared > 1000, "only {compared} documents");
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    fn line_variants(text: &str) -> Vec<String> {
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let body = line.trim_start().trim_start_matches("- ");
            let indent = &line[..line.len() - body.len()];
            let Some((key, _)) = body.split_once(':') else {
                continue;
            };
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
                continue;
            }
            let mut with = |new: String| {
                let mut l = lines.clone();
                l[i] = &new;
                out.push(l.join("\n") + "\n");
            };
            with(format!("{indent}{key}x:{}", &body[key.len() + 1..]));
            with(format!("{indent}# {key} left out"));
            for value in [
                "[1]", "{a: 1}", "7", "\"7\"", "yes", "", "-1", "1.5", "\"x\"",
            ] {
                with(format!("{indent}{key}: {value}"));
            }
        }
        out
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
