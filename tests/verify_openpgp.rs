//! Signed desired state with OpenPGP: keys made by real GnuPG in throwaway
//! homes, commits signed by real git (`gpg.format=openpgp`), checked through
//! the real `patchwave apply` (which runs `gpgv`). The rules are the SSH
//! ones: trust comes from the parent commit (or a remote's last good one);
//! an unsigned commit, another key, a commit adding its own key, a signature
//! of the other format, and an expired or revoked key are refused, naming
//! the commit.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::git::{git, run};

/// A throwaway GnuPG home holding secret keys; its agent is stopped on drop.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Gpg {
        Gpg {
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// A home whose clock reads 2020-01-01: keys made here with an expiry
    /// are long expired today, yet can still sign here.
    fn in_2020() -> Gpg {
        let gpg = Gpg::new();
        fs::write(
            gpg.home.path().join("gpg.conf"),
            "faked-system-time 20200101T000000!\n",
        )
        .unwrap();
        gpg
    }

    /// Runs gpg in batch mode in this home; its stdout.
    fn gpg(&self, args: &[&str]) -> String {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--no-tty"])
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A new signing key without a passphrase; its fingerprint.
    fn new_key(&self, uid: &str, algorithm: &str, expire: &str) -> String {
        self.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            algorithm,
            "sign",
            expire,
        ]);
        let listing = self.gpg(&["--with-colons", "--list-keys", "--", uid]);
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_string())
            .unwrap()
    }

    /// `gpg --armor --export`: what a signer commits.
    fn armored(&self, fpr: &str) -> String {
        self.gpg(&["--armor", "--export", fpr])
    }

    /// `fpr`'s public key as it is after its owner revokes it: the
    /// revocation certificate gpg made with the key, imported into a copy.
    fn revoked(&self, fpr: &str) -> String {
        let copy = Gpg::new();
        let public = copy.home.path().join("key.asc");
        fs::write(&public, self.armored(fpr)).unwrap();
        copy.gpg(&["--import", public.to_str().unwrap()]);
        // gpg prefixes the certificate's BEGIN line with `:` against accidents.
        let stored = self.home.path().join(format!("openpgp-revocs.d/{fpr}.rev"));
        let certificate = fs::read_to_string(stored).unwrap().replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        );
        let revocation = copy.home.path().join("revocation.asc");
        fs::write(&revocation, certificate).unwrap();
        copy.gpg(&["--import", revocation.to_str().unwrap()]);
        copy.armored(fpr)
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        // The agent gpg started for this home (found through the home, not by name).
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .status();
    }
}

/// A signer: the home holding the secret key, and the key's fingerprint.
type Signer<'a> = (&'a Gpg, &'a str);

/// Commits everything in `repo`, signed by `signer` (OpenPGP, as a person
/// with `gpg.format=openpgp` does) when given; the commit's hash.
fn commit(repo: &Path, message: &str, signer: Option<Signer>) -> String {
    git(repo, &["add", "-A"]);
    match signer {
        None => {
            git(repo, &["commit", "-q", "-m", message]);
        }
        Some((gpg, fpr)) => {
            let key = format!("user.signingkey={fpr}");
            let out = Command::new("git")
                .current_dir(repo)
                .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
                .args([
                    "-c",
                    "gpg.format=openpgp",
                    "-c",
                    &key,
                    "-c",
                    "gpg.program=gpg",
                ])
                .args(["commit", "-q", "-S", "-m", message])
                .env("GNUPGHOME", gpg.home.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "git commit -S: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    git(repo, &["rev-parse", "HEAD"]).trim().to_string()
}

/// A fleet repository (not yet committed) that requires `format` signatures
/// from the signers at `signers`: one group whose host listens nowhere
/// (port 1), so an accepted apply runs to its end touching no machine.
fn fleet_files(dir: &Path, format: &str, signers: &str) {
    fs::create_dir_all(dir.join(".patchwave")).unwrap();
    let fleet = format!(
        "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {{name: pgp}}\nspec:\n  verification:\n    requireSignedCommits: true\n    format: {format}\n    allowedSigners: {signers}\n"
    );
    fs::write(
        dir.join("fleet.yaml"),
        support::policy::stream(&[
            &fleet,
            "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {name: g}\nspec:\n  baseline: b\n  rollout: r\n  windows: [w]\n  connection: {user: root, port: 1}\n  hosts:\n    - {name: nowhere, address: 127.0.0.1}\n",
            support::policy::BASELINE_AND_ROLLOUT,
            support::policy::ALWAYS_OPEN_WINDOW,
        ]),
    )
    .unwrap();
}

/// `fleet_files` in a new git repository.
fn fleet_repo(tmp: &Path, format: &str, signers: &str) -> PathBuf {
    let repo = tmp.join("fleet");
    fs::create_dir(&repo).unwrap();
    fleet_files(&repo, format, signers);
    run(&repo, "git", &["init", "-q", "-b", "main"]);
    repo
}

const KEYS: &str = ".patchwave/allowed_signers.asc";

/// apply's exit status when the desired state was accepted and the run went
/// through, but its one host (listening nowhere) was not reached.
const NOT_REACHED: i32 = 4;

/// `patchwave apply` on `repo` (a directory or URL); exit code and all it said.
fn apply(repo: &str, state: &Path) -> (Option<i32>, String) {
    let out = support::patchwave()
        .args(["apply", "--no-status", "--repo", repo, "--branch", "main"])
        .arg("--state-dir")
        .arg(state)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), said)
}

fn apply_local(repo: &Path, state: &Path) -> (Option<i32>, String) {
    apply(repo.to_str().unwrap(), state)
}

/// Applies `repo` and expects it refused before any host is scanned, for `why`.
fn assert_refused(repo: &Path, why: &str) {
    let state = tempfile::tempdir().unwrap();
    let (code, said) = apply_local(repo, state.path());
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!("error: refusing to apply: {why}")),
        "expected `{why}` in:\n{said}"
    );
    assert!(!state.path().join("runs").exists(), "nothing was run");
    assert!(
        !state.path().join("first-seen.json").exists(),
        "nothing was scanned"
    );
}

/// Applies `repo` and expects its HEAD verified as signed by `signer`.
fn assert_applied(repo: &Path, signer: &str) {
    let state = tempfile::tempdir().unwrap();
    let (code, said) = apply_local(repo, state.path());
    let head = git(repo, &["rev-parse", "HEAD"]);
    assert_eq!(code, Some(NOT_REACHED), "{said}");
    assert!(
        said.contains(&format!(
            "desired state {} verified: signed by {signer}\n",
            &head[..12]
        )),
        "{said}"
    );
    assert!(
        said.contains("host nowhere: unreachable, not patched"),
        "{said}"
    );
    assert!(
        said.contains(
            "error: 1 targeted host could not be reached or scanned and was not patched: nowhere"
        ),
        "{said}"
    );
}

fn short(commit: &str) -> &str {
    &commit[..12]
}

#[test]
fn only_commits_signed_by_a_key_allowed_in_the_parent_are_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let gpg = Gpg::new();
    let alice = gpg.new_key("Alice <alice@example.com>", "ed25519", "never");
    let mallory = gpg.new_key("Mallory <mallory@example.com>", "ed25519", "never");
    let alice_is = format!("Alice <alice@example.com> ({alice})");
    let repo = fleet_repo(tmp.path(), "openpgp", KEYS);
    fs::write(repo.join(KEYS), gpg.armored(&alice)).unwrap();
    // A root commit is trusted by its own keys.
    commit(&repo, "fleet, signed by alice", Some((&gpg, &alice)));
    assert_applied(&repo, &alice_is);

    fs::write(repo.join("notes.yaml"), "# unsigned change\n").unwrap();
    let unsigned = commit(&repo, "unsigned", None);
    assert_refused(
        &repo,
        &format!(
            "commit {} is not signed; sign desired-state commits (`git commit -S` with gpg.format=openpgp)",
            short(&unsigned)
        ),
    );

    fs::write(repo.join("notes.yaml"), "# mallory's change\n").unwrap();
    let parent = unsigned;
    let by_mallory = commit(&repo, "mallory", Some((&gpg, &mallory)));
    assert_refused(
        &repo,
        &format!(
            "commit {} is signed by a key that is not in the allowed signers (`{KEYS}` as of commit {}): OpenPGP key {mallory}",
            short(&by_mallory),
            short(&parent)
        ),
    );

    // Mallory adds her own key in the commit she signs: the keys come from
    // the parent, which does not hold hers.
    let mut keys = fs::read_to_string(repo.join(KEYS)).unwrap();
    keys.push_str(&gpg.armored(&mallory));
    fs::write(repo.join(KEYS), keys).unwrap();
    let adds_herself = commit(&repo, "mallory adds her key", Some((&gpg, &mallory)));
    assert_refused(
        &repo,
        &format!(
            "commit {} is signed by a key that is not in the allowed signers (`{KEYS}` as of commit {}): OpenPGP key {mallory}",
            short(&adds_herself),
            short(&by_mallory)
        ),
    );

    // Alice signs on top of it; from then on Mallory's key is allowed.
    fs::write(repo.join("notes.yaml"), "# alice reviewed\n").unwrap();
    commit(&repo, "alice", Some((&gpg, &alice)));
    assert_applied(&repo, &alice_is);
    fs::write(repo.join("notes.yaml"), "# mallory, now allowed\n").unwrap();
    commit(&repo, "mallory, allowed", Some((&gpg, &mallory)));
    assert_applied(&repo, &format!("Mallory <mallory@example.com> ({mallory})"));

    // Uncommitted changes are not covered by the signature.
    fs::write(repo.join("notes.yaml"), "# tampered\n").unwrap();
    assert_refused(
        &repo,
        "the work tree has changes the signature does not cover (notes.yaml)",
    );
}

#[test]
fn the_fleets_format_decides_which_signatures_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let gpg = Gpg::new();
    let alice = gpg.new_key("Alice <alice@example.com>", "ed25519", "never");
    let (ssh_key, ssh_public) = support::git::ssh_key(tmp.path(), "alice-ssh");

    // format: openpgp, an SSH-signed commit (its key is in an SSH allowed
    // signers file in the repository too, which format: openpgp never reads).
    let repo = fleet_repo(tmp.path(), "openpgp", KEYS);
    fs::write(repo.join(KEYS), gpg.armored(&alice)).unwrap();
    fs::write(
        repo.join(".patchwave/allowed_signers"),
        format!("alice@example.com namespaces=\"git\" {ssh_public}\n"),
    )
    .unwrap();
    support::git::commit(&repo, "signed with ssh", Some(&ssh_key));
    let head = git(&repo, &["rev-parse", "HEAD"]);
    assert_refused(
        &repo,
        &format!(
            "commit {} has an SSH signature, but the Fleet's verification.format is openpgp; sign it with gpg.format=openpgp",
            short(&head)
        ),
    );

    // format: ssh, an OpenPGP-signed commit by a key in the armored file.
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    let repo = fleet_repo(&other, "ssh", ".patchwave/allowed_signers");
    fs::write(
        repo.join(".patchwave/allowed_signers"),
        format!("alice@example.com namespaces=\"git\" {ssh_public}\n"),
    )
    .unwrap();
    fs::write(repo.join(KEYS), gpg.armored(&alice)).unwrap();
    let head = commit(&repo, "signed with openpgp", Some((&gpg, &alice)));
    assert_refused(
        &repo,
        &format!(
            "commit {} has an OpenPGP signature, but the Fleet's verification.format is ssh; sign it with gpg.format=ssh",
            short(&head)
        ),
    );
    // The SSH signature is still accepted there.
    fs::write(repo.join("notes.yaml"), "# ssh\n").unwrap();
    support::git::commit(&repo, "signed with ssh", Some(&ssh_key));
    assert_applied(&repo, "alice@example.com");
}

#[test]
fn expired_and_revoked_keys_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let gpg = Gpg::new();
    let bob = gpg.new_key("Bob <bob@example.com>", "ed25519", "never");
    let alice = gpg.new_key("Alice <alice@example.com>", "ed25519", "never");
    // Carol's key expired at the end of 2020; her home still signs as of 2020.
    let past = Gpg::in_2020();
    let carol = past.new_key("Carol <carol@example.com>", "ed25519", "1y");
    let repo = fleet_repo(tmp.path(), "openpgp", KEYS);
    let keys =
        |alice_key: &str| format!("{}{alice_key}{}", gpg.armored(&bob), past.armored(&carol));
    fs::write(repo.join(KEYS), keys(&gpg.armored(&alice))).unwrap();
    let root = commit(&repo, "keys, signed by bob", Some((&gpg, &bob)));
    assert_applied(&repo, &format!("Bob <bob@example.com> ({bob})"));

    fs::write(repo.join("notes.yaml"), "# carol\n").unwrap();
    let by_carol = commit(&repo, "carol", Some((&past, &carol)));
    assert_refused(
        &repo,
        &format!(
            "commit {} is signed by Carol <carol@example.com> ({carol}), whose key has expired in the allowed signers (`{KEYS}` as of commit {}); an expired key is not trusted",
            short(&by_carol),
            short(&root)
        ),
    );

    // Alice revokes her key; Bob commits the revoked key, then Alice signs.
    fs::write(repo.join(KEYS), keys(&gpg.revoked(&alice))).unwrap();
    let revocation = commit(&repo, "alice's key is revoked", Some((&gpg, &bob)));
    assert_applied(&repo, &format!("Bob <bob@example.com> ({bob})"));
    fs::write(repo.join("notes.yaml"), "# alice\n").unwrap();
    let by_alice = commit(&repo, "alice", Some((&gpg, &alice)));
    assert_refused(
        &repo,
        &format!(
            "commit {} is signed by Alice <alice@example.com> ({alice}), whose key is revoked in the allowed signers (`{KEYS}` as of commit {}); a revoked key is never trusted",
            short(&by_alice),
            short(&revocation)
        ),
    );
}

/// The signers as a directory of `*.asc` files, one of them a forge's
/// web-flow key (GitHub signs web merges with an RSA key): merges signed by
/// it are applied like any other signer's commits.
#[test]
fn a_directory_of_keys_holds_the_signers_and_a_forge_key_is_one_of_them() {
    let tmp = tempfile::tempdir().unwrap();
    let gpg = Gpg::new();
    let alice = gpg.new_key("Alice <alice@example.com>", "ed25519", "never");
    let forge = Gpg::new();
    let web_flow = forge.new_key("GitHub <noreply@github.com>", "rsa2048", "never");
    let mallory = gpg.new_key("Mallory <mallory@example.com>", "ed25519", "never");
    let repo = fleet_repo(tmp.path(), "openpgp", ".patchwave/openpgp");
    let dir = repo.join(".patchwave/openpgp");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("alice.asc"), gpg.armored(&alice)).unwrap();
    fs::write(dir.join("github-web-flow.asc"), forge.armored(&web_flow)).unwrap();
    // Only *.asc files are keys: a key under another name is not read.
    fs::write(dir.join("mallory.gpg"), gpg.armored(&mallory)).unwrap();
    commit(&repo, "keys, signed by alice", Some((&gpg, &alice)));
    assert_applied(&repo, &format!("Alice <alice@example.com> ({alice})"));

    fs::write(repo.join("notes.yaml"), "# merged on github.com\n").unwrap();
    commit(&repo, "Merge pull request #1", Some((&forge, &web_flow)));
    assert_applied(&repo, &format!("GitHub <noreply@github.com> ({web_flow})"));

    fs::write(repo.join("notes.yaml"), "# mallory\n").unwrap();
    let by_mallory = commit(&repo, "mallory", Some((&gpg, &mallory)));
    assert_refused(
        &repo,
        &format!(
            "commit {} is signed by a key that is not in the allowed signers (`.patchwave/openpgp` as of commit",
            short(&by_mallory)
        ),
    );

    // A committed link holds a path, not a key: refused where the keys are
    // read (validate refuses it in the commit that adds it; here the next
    // commit removes it, and its parent's keys are read).
    std::os::unix::fs::symlink("alice.asc", dir.join("link.asc")).unwrap();
    let linked = commit(&repo, "a link", Some((&gpg, &alice)));
    fs::remove_file(dir.join("link.asc")).unwrap();
    let unlinked = commit(&repo, "no link", Some((&gpg, &alice)));
    assert_refused(
        &repo,
        &format!(
            "commit {}: the allowed signers `.patchwave/openpgp/link.asc` as of commit {} is a symbolic link; commit the key file itself",
            short(&unlinked),
            short(&linked)
        ),
    );
}

/// A remote source (file://) verifies OpenPGP signatures when it syncs:
/// trust comes from the last good commit, and a refused commit leaves
/// apply working from that one.
#[test]
fn a_remote_source_verifies_openpgp_signatures_against_the_last_good_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let gpg = Gpg::new();
    let alice = gpg.new_key("Alice <alice@example.com>", "ed25519", "never");
    let mallory = gpg.new_key("Mallory <mallory@example.com>", "ed25519", "never");
    let bare = tmp.path().join("fleet.git");
    run(
        tmp.path(),
        "git",
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    let url = format!("file://{}", bare.display());
    let work = tmp.path().join("work");
    run(
        tmp.path(),
        "git",
        &["clone", "-q", &url, work.to_str().unwrap()],
    );
    run(&work, "git", &["checkout", "-q", "-b", "main"]);
    let push = |message: &str, signer: Option<Signer>| {
        let id = commit(&work, message, signer);
        git(&work, &["push", "-q", "origin", "main"]);
        id
    };
    let state = tmp.path().join("state");
    fleet_files(&work, "openpgp", KEYS);
    fs::write(work.join(KEYS), gpg.armored(&alice)).unwrap();
    let good = push("fleet, signed by alice", Some((&gpg, &alice)));
    let (code, said) = apply(&url, &state);
    assert_eq!(code, Some(NOT_REACHED), "{said}");
    assert!(
        said.contains(&format!(
            "desired state {} verified: signed by Alice <alice@example.com> ({alice})",
            short(&good)
        )),
        "{said}"
    );

    fs::write(work.join("notes.yaml"), "# unsigned\n").unwrap();
    let unsigned = push("unsigned", None);
    let (code, said) = apply(&url, &state);
    assert_eq!(code, Some(NOT_REACHED), "{said}");
    assert!(
        said.contains(&format!(
            "warning: commit {0} refused: commit {0} is not signed; sign desired-state commits (`git commit -S` with gpg.format=openpgp); working from the last good commit {1}",
            short(&unsigned),
            short(&good)
        )),
        "{said}"
    );

    // Mallory adds her key (unsigned), then signs with it: the keys are the
    // last good commit's.
    let mut keys = fs::read_to_string(work.join(KEYS)).unwrap();
    keys.push_str(&gpg.armored(&mallory));
    fs::write(work.join(KEYS), keys).unwrap();
    push("add mallory", None);
    fs::write(work.join("notes.yaml"), "# mallory\n").unwrap();
    let by_mallory = push("mallory", Some((&gpg, &mallory)));
    let (code, said) = apply(&url, &state);
    assert_eq!(code, Some(NOT_REACHED), "{said}");
    assert!(
        said.contains(&format!(
            "warning: commit {0} refused: commit {0} is signed by a key that is not in the allowed signers (`{KEYS}` as of commit {1}): OpenPGP key {mallory}; sign it with an allowed key (a new key is trusted once a commit adding it is signed by an allowed one); working from the last good commit {1}",
            short(&by_mallory),
            short(&good)
        )),
        "{said}"
    );

    // Alice signs on top: taken.
    fs::write(work.join("notes.yaml"), "# alice reviewed\n").unwrap();
    let reviewed = push("alice", Some((&gpg, &alice)));
    let (code, said) = apply(&url, &state);
    assert_eq!(code, Some(NOT_REACHED), "{said}");
    assert!(
        said.contains(&format!(
            "desired state {} verified: signed by Alice <alice@example.com> ({alice})",
            short(&reviewed)
        )),
        "{said}"
    );
    assert!(!said.contains("warning:"), "{said}");
}

/// `validate` reads the OpenPGP allowed signers as verification will: they
/// must exist and be armored public keys.
#[test]
fn validate_checks_the_openpgp_allowed_signers() {
    let tmp = tempfile::tempdir().unwrap();
    let gpg = Gpg::new();
    let alice = gpg.new_key("Alice <alice@example.com>", "ed25519", "never");
    let repo = tmp.path().join("fleet");
    fleet_files(&repo, "openpgp", KEYS);
    let validate = || {
        let out = support::patchwave()
            .args(["validate", "--repo"])
            .arg(&repo)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), said)
    };
    let (code, said) = validate();
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "verification.allowedSigners `{KEYS}` does not exist in the repository"
        )),
        "{said}"
    );

    fs::write(repo.join(KEYS), "alice@example.com ssh-ed25519 AAAAC3Nza\n").unwrap();
    let (code, said) = validate();
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "verification.allowedSigners `{KEYS}` holds no ASCII-armored OpenPGP public key"
        )),
        "{said}"
    );

    let secret = gpg.gpg(&["--armor", "--export-secret-keys", &alice]);
    fs::write(repo.join(KEYS), secret).unwrap();
    let (code, said) = validate();
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "verification.allowedSigners `{KEYS}` line 1: holds a PRIVATE key"
        )),
        "{said}"
    );

    // A linked key: git stores the link (a path), and the link may point
    // out of the reviewed repository.
    let outside = tmp.path().join("outside.asc");
    fs::write(&outside, gpg.armored(&alice)).unwrap();
    fs::remove_file(repo.join(KEYS)).unwrap();
    std::os::unix::fs::symlink(&outside, repo.join(KEYS)).unwrap();
    let (code, said) = validate();
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "verification.allowedSigners `{KEYS}` is a symbolic link"
        )),
        "{said}"
    );

    fs::remove_file(repo.join(KEYS)).unwrap();
    fs::write(repo.join(KEYS), gpg.armored(&alice)).unwrap();
    let (code, said) = validate();
    assert_eq!(code, Some(0), "{said}");

    // A directory: its *.asc files are read; others are pointed out.
    fleet_files(&repo, "openpgp", ".patchwave/openpgp");
    let dir = repo.join(".patchwave/openpgp");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("web-flow.gpg"), gpg.armored(&alice)).unwrap();
    let (code, said) = validate();
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("verification.allowedSigners `.patchwave/openpgp` holds no *.asc file"),
        "{said}"
    );
    assert!(
        said.contains("`.patchwave/openpgp/web-flow.gpg` is not read (only *.asc files are keys)"),
        "{said}"
    );
    fs::rename(dir.join("web-flow.gpg"), dir.join("web-flow.asc")).unwrap();
    fs::write(dir.join("README.md"), "One armored key per signer.\n").unwrap();
    let (code, said) = validate();
    assert_eq!(code, Some(0), "{said}");
    assert!(!said.contains("is not read"), "{said}");
    std::os::unix::fs::symlink("web-flow.asc", dir.join("alias.asc")).unwrap();
    let (code, said) = validate();
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(
            "verification.allowedSigners `.patchwave/openpgp/alias.asc` is a symbolic link"
        ),
        "{said}"
    );
}
