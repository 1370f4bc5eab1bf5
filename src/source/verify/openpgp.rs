//! OpenPGP commit signatures, checked by GnuPG's `gpgv` (the verifier apt
//! uses) against a keyring built from the armored public keys committed at
//! the allowed signers path: a file, or a directory of `*.asc` files (see
//! [`crate::spec::openpgp_keys`]). gpgv trusts exactly the keys in the keyring
//! it is given; it runs with an empty throwaway home directory, never the
//! user's keyring, and is judged by its `--status-fd` lines only (never its
//! prose, which is localised).
//!
//! An expired or revoked key is refused even though gpgv calls the signature
//! good (and exits 0): such a key no longer speaks for its owner, and the
//! signature's date, which could say it was made in time, is the signer's
//! own claim.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use git2::{ObjectType, Repository, Tree};

use super::{GitError, Signers, blob_at, err};
use crate::spec::openpgp_keys::{self, PublicKeys};

/// Bound on one gpgv run over one small commit.
const GPGV_TIMEOUT: Duration = Duration::from_secs(30);

/// gpgv's ERRSIG reason code for "no public key".
const ERRSIG_NO_PUBLIC_KEY: &str = "9";

/// Verifies an armored OpenPGP `signature` over `payload` against the keys at
/// the allowed signers path in `tree`; the signer and gpgv's account.
pub(super) fn verify(
    repo: &Repository,
    tree: &Tree,
    signers: &Signers,
    signature: &str,
    payload: &[u8],
) -> Result<(String, String), GitError> {
    let keys = allowed_keys(repo, tree, signers)?;
    let tmp = tempfile::tempdir().map_err(|e| err(e.to_string()))?;
    // gpgv looks a relative --keyring up in its home directory.
    let dir = std::path::absolute(tmp.path()).map_err(|e| err(e.to_string()))?;
    let keyring = dir.join("allowed-signers.gpg");
    let sig = dir.join("commit.sig");
    let data = dir.join("commit.payload");
    for (path, bytes) in [
        (&keyring, keys.keyring.as_slice()),
        (&sig, signature.as_bytes()),
        (&data, payload),
    ] {
        std::fs::write(path, bytes).map_err(|e| err(format!("{}: {e}", path.display())))?;
    }
    let run = gpgv(&dir, &keyring, &sig, &data).map_err(|e| signers.refuse(e))?;
    judge(&run, signers)
}

/// git's file mode for a symbolic link.
const SYMLINK_MODE: i32 = 0o120_000;

/// The public keys at the allowed signers path in `tree`: the file's, or
/// those of every `*.asc` file directly in that directory.
fn allowed_keys(repo: &Repository, tree: &Tree, signers: &Signers) -> Result<PublicKeys, GitError> {
    let entry = tree.get_path(signers.path).map_err(|_| signers.missing())?;
    let files = if entry.kind() == Some(ObjectType::Tree) {
        key_files_in(repo, &repo.find_tree(entry.id())?, signers)?
    } else {
        refuse_symlink(entry.filemode(), signers.path, signers)?;
        let bytes = blob_at(repo, tree, signers.path).ok_or_else(|| signers.missing())?;
        vec![(signers.path.to_path_buf(), bytes)]
    };
    if files.is_empty() {
        return Err(signers.refuse(format_args!(
            "the allowed signers {} hold no *.asc file; add each signer's key as <name>.asc (`gpg --armor --export <fingerprint>`)",
            signers.describe()
        )));
    }
    let mut keys = PublicKeys::default();
    for (path, bytes) in files {
        let parsed = openpgp_keys::parse_armored(&bytes).map_err(|e| {
            signers.refuse(format_args!(
                "the allowed signers `{}` as of commit {} {e}",
                path.display(),
                signers.as_of
            ))
        })?;
        keys.extend(parsed);
    }
    Ok(keys)
}

/// The `*.asc` files directly in an allowed-signers directory, with their contents.
fn key_files_in(
    repo: &Repository,
    dir: &Tree,
    signers: &Signers,
) -> Result<Vec<(PathBuf, Vec<u8>)>, GitError> {
    let mut files = Vec::new();
    for e in dir.iter() {
        let Some(name) = e.name().ok().filter(|n| openpgp_keys::is_key_file_name(n)) else {
            continue;
        };
        let path = signers.path.join(name);
        refuse_symlink(e.filemode(), &path, signers)?;
        if e.kind() == Some(ObjectType::Blob) {
            files.push((path, repo.find_blob(e.id())?.content().to_vec()));
        }
    }
    Ok(files)
}

/// A committed symlink holds a path, not a key (and `validate` refuses one).
fn refuse_symlink(mode: i32, path: &Path, signers: &Signers) -> Result<(), GitError> {
    if mode != SYMLINK_MODE {
        return Ok(());
    }
    Err(signers.refuse(format_args!(
        "the allowed signers `{}` as of commit {} is a symbolic link; commit the key file itself",
        path.display(),
        signers.as_of
    )))
}

/// What gpgv said: its status lines, its prose (for errors), its exit status.
struct GpgvRun {
    status: String,
    stderr: String,
    success: bool,
}

/// Runs `gpgv` on the files in `dir` (also its home directory: empty of
/// keys, so nothing but `keyring` is trusted), in the C locale.
fn gpgv(dir: &Path, keyring: &Path, sig: &Path, data: &Path) -> Result<GpgvRun, String> {
    let status_file = dir.join("gpgv.status");
    let stderr_file = dir.join("gpgv.stderr");
    let create = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut child = Command::new("gpgv")
        .arg("--homedir")
        .arg(dir)
        .args(["--status-fd", "1", "--keyring"])
        .arg(keyring)
        .arg(sig)
        .arg(data)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(create(&status_file)?)
        .stderr(create(&stderr_file)?)
        .spawn()
        .map_err(|e| {
            format!("cannot run gpgv to check the OpenPGP signature (install gpgv or gnupg): {e}")
        })?;
    let exit = wait_bounded(&mut child, GPGV_TIMEOUT)?;
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Ok(GpgvRun {
        status: read(&status_file),
        stderr: read(&stderr_file),
        success: exit.success(),
    })
}

/// Waits for `child` at most `limit`; past it, kills it (by its handle).
fn wait_bounded(child: &mut Child, limit: Duration) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("gpgv: {e}"))? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "gpgv did not finish within {} s; the signature was not checked",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The status lines that decide, for one signature.
#[derive(Debug, Default)]
struct Status<'a> {
    /// NEWSIG lines: one per signature found.
    signatures: usize,
    /// GOODSIG's user ID (escaped as gpgv prints it).
    good: Option<&'a str>,
    /// VALIDSIG's fields: signing key fingerprint, date, …, primary key fingerprint.
    valid: Option<Vec<&'a str>>,
    /// BADSIG's key ID.
    bad: Option<&'a str>,
    /// ERRSIG's fields: key ID, algorithms, class, time, reason code, fingerprint.
    error: Option<Vec<&'a str>>,
    /// EXPKEYSIG's and REVKEYSIG's user IDs.
    expired_key: Option<&'a str>,
    revoked_key: Option<&'a str>,
    expired_signature: bool,
}

impl<'a> Status<'a> {
    fn parse(text: &'a str) -> Status<'a> {
        let mut s = Status::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("[GNUPG:] ") else {
                continue;
            };
            let (keyword, args) = rest.split_once(' ').unwrap_or((rest, ""));
            // Key ID, then the user ID (which may hold spaces).
            let uid = || args.split_once(' ').map_or("", |(_, uid)| uid);
            match keyword {
                "NEWSIG" => s.signatures += 1,
                "GOODSIG" => s.good = Some(uid()),
                "VALIDSIG" => s.valid = Some(args.split(' ').collect()),
                "BADSIG" => s.bad = Some(args.split(' ').next().unwrap_or("")),
                "ERRSIG" => s.error = Some(args.split(' ').collect()),
                "EXPKEYSIG" => s.expired_key = Some(uid()),
                "REVKEYSIG" => s.revoked_key = Some(uid()),
                "EXPSIG" => s.expired_signature = true,
                _ => {}
            }
        }
        s
    }

    /// VALIDSIG's primary key fingerprint (its last field), else the signing key's.
    fn primary_fingerprint(&self) -> Option<&'a str> {
        let v = self.valid.as_ref()?;
        v.get(9).or(v.first()).copied()
    }

    /// "User <mail> (FINGERPRINT)" for the key behind a status line's user ID.
    fn key(&self, uid: &str) -> String {
        let uid = unescape(uid);
        match self.primary_fingerprint() {
            Some(fpr) => format!("{uid} ({fpr})"),
            None => uid,
        }
    }
}

/// gpgv's verdict on the commit, from its status lines (and exit status).
fn judge(run: &GpgvRun, signers: &Signers) -> Result<(String, String), GitError> {
    let short = &signers.commit;
    let s = Status::parse(&run.status);
    if s.signatures > 1 {
        return Err(err(format!(
            "commit {short} carries {} OpenPGP signatures; patchwave verifies commits signed once",
            s.signatures
        )));
    }
    if let Some(key_id) = s.bad {
        return Err(err(format!(
            "commit {short}: the signature does not verify (BADSIG, key {key_id}): the commit is not what was signed"
        )));
    }
    if let Some(fields) = &s.error {
        return Err(error_signature(fields, signers));
    }
    if let Some(uid) = s.revoked_key {
        return Err(err(format!(
            "commit {short} is signed by {}, whose key is revoked in the allowed signers ({}); a revoked key is never trusted: sign with another allowed key",
            s.key(uid),
            signers.describe()
        )));
    }
    if let Some(uid) = s.expired_key {
        return Err(err(format!(
            "commit {short} is signed by {}, whose key has expired in the allowed signers ({}); an expired key is not trusted: extend it (`gpg --quick-set-expire`) and commit the re-exported key, signed by another allowed key",
            s.key(uid),
            signers.describe()
        )));
    }
    if s.expired_signature {
        return Err(err(format!(
            "commit {short}: the signature has expired (it was made with an expiry time); sign the commit again"
        )));
    }
    match (s.good, &s.valid, run.success) {
        (Some(uid), Some(valid), true) => Ok((
            s.key(uid),
            format!(
                "gpgv: good signature by key {}, made {}",
                valid.first().copied().unwrap_or("?"),
                valid.get(1).copied().unwrap_or("?")
            ),
        )),
        _ => Err(err(format!(
            "commit {short}: gpgv could not check the OpenPGP signature: {}",
            last_lines(&run.stderr)
        ))),
    }
}

/// The refusal for an ERRSIG line: the key is not allowed, or the signature
/// cannot be checked at all.
fn error_signature(fields: &[&str], signers: &Signers) -> GitError {
    let key_id = fields.first().copied().unwrap_or("?");
    let code = fields.get(5).copied().unwrap_or("?");
    let key = fields
        .get(6)
        .copied()
        .filter(|f| *f != "-")
        .unwrap_or(key_id);
    if code == ERRSIG_NO_PUBLIC_KEY {
        signers.not_allowed(&format!(": OpenPGP key {key}"))
    } else {
        signers.refuse(format_args!(
            "gpgv cannot check the signature by OpenPGP key {key} (ERRSIG reason {code}; 4 is an unsupported algorithm)"
        ))
    }
}

/// A status line's user ID: gpgv escapes bytes as `%XX`; control characters
/// are replaced so a user ID cannot forge lines of patchwave's output.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out)
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// The last few lines of gpgv's prose, for an error that has nothing better.
fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    if tail.is_empty() {
        "it gave no reason".into()
    } else {
        tail.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "Alice <alice@example.com> (BB5648187D1F842C922BED6BE7BADEE0147D8877)";

    /// gpgv's captured status output (testdata/gpgv/README.md), judged.
    fn judged(file: &str, success: bool) -> Result<(String, String), String> {
        let status = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/gpgv")
                .join(file),
        )
        .unwrap();
        let run = GpgvRun {
            status,
            stderr: "gpgv: some prose\n".into(),
            success,
        };
        let signers = Signers {
            commit: "fedcba987654".into(),
            path: Path::new(".patchwave/openpgp"),
            as_of: "0123456789ab".into(),
        };
        judge(&run, &signers).map_err(|e| e.0)
    }

    #[test]
    fn a_good_signature_names_the_user_id_and_primary_fingerprint() {
        let (signer, detail) = judged("good.status", true).unwrap();
        assert_eq!(signer, ALICE);
        assert_eq!(
            detail,
            "gpgv: good signature by key BB5648187D1F842C922BED6BE7BADEE0147D8877, made 2026-12-02"
        );
        // The same lines with a failing exit status are not trusted.
        let e = judged("good.status", false).unwrap_err();
        assert_eq!(
            e,
            "commit fedcba987654: gpgv could not check the OpenPGP signature: gpgv: some prose"
        );
    }

    #[test]
    fn expired_and_revoked_keys_are_refused_though_gpgv_exits_0() {
        for file in ["expired-key.status", "expired-key-signed-before.status"] {
            let e = judged(file, true).unwrap_err();
            assert!(e.contains("whose key has expired in the allowed signers (`.patchwave/openpgp` as of commit 0123456789ab)"), "{file}: {e}");
        }
        let e = judged("expired-key.status", true).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "commit fedcba987654 is signed by {ALICE}, whose key has expired"
            )),
            "{e}"
        );
        let e = judged("revoked-key.status", true).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "commit fedcba987654 is signed by {ALICE}, whose key is revoked"
            )),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_signatures_are_refused() {
        let e = judged("no-public-key.status", false).unwrap_err();
        assert_eq!(
            e,
            "commit fedcba987654 is signed by a key that is not in the allowed signers (`.patchwave/openpgp` as of commit 0123456789ab): OpenPGP key BB5648187D1F842C922BED6BE7BADEE0147D8877; sign it with an allowed key (a new key is trusted once a commit adding it is signed by an allowed one)"
        );
        let e = judged("bad.status", false).unwrap_err();
        assert!(
            e.contains("does not verify (BADSIG, key E7BADEE0147D8877)"),
            "{e}"
        );
    }

    #[test]
    fn two_signatures_or_none_are_refused() {
        let good = include_str!("../../../testdata/gpgv/good.status");
        let signers = Signers {
            commit: "c".into(),
            path: Path::new("k.asc"),
            as_of: "0123456789ab".into(),
        };
        let run = |status: String| GpgvRun {
            status,
            stderr: "gpgv: no signature found\n".into(),
            success: true,
        };
        let e = judge(&run(good.repeat(2)), &signers).unwrap_err();
        assert!(e.0.contains("carries 2 OpenPGP signatures"), "{e}");
        let e = judge(&run("[GNUPG:] NODATA 1\n".into()), &signers).unwrap_err();
        assert!(
            e.0.ends_with("could not check the OpenPGP signature: gpgv: no signature found"),
            "{e}"
        );
    }

    #[test]
    fn user_ids_are_unescaped_without_control_characters() {
        assert_eq!(
            unescape("J%C3%BCrgen <j@example.com>"),
            "Jürgen <j@example.com>"
        );
        assert_eq!(unescape("evil%0Aerror: x"), "evil\u{FFFD}error: x");
        assert_eq!(unescape("100% sure%"), "100% sure%");
    }
}
