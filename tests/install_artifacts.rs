//! What an install ships besides the binary, checked from the binary itself:
//! `--version` names the commit it was built from (build.rs), the shell
//! completions parse and complete the commands, the manual pages render
//! without warnings and refer only to pages that exist. The .deb is checked by
//! packaging/build-deb.sh and installed into a test host by
//! tests/install_deb.rs.
//!
//! Needs git, bash, zsh and groff (`.ci/run` installs them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// build.rs itself, so the commit lookup is tested on repositories made here
/// (no checkout, a vendored subdirectory, a packed ref, a worktree).
#[allow(dead_code)]
#[path = "../build.rs"]
mod build_script;

/// Every command, as a user types it.
const COMMANDS: [&str; 14] = [
    "init",
    "validate",
    "schema",
    "windows",
    "scan",
    "plan",
    "cves",
    "propose",
    "apply",
    "rollback",
    "report",
    "daemon",
    "completions",
    "man",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn patchwave(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_patchwave"))
        .args(args)
        .output()
        .unwrap();
    ok(out, &format!("patchwave {}", args.join(" ")))
}

/// git in `dir`, free of the user's configuration; stdout, trimmed.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "safe.directory=*"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        // 23:30 at UTC-5 is the next day in UTC, the date build.rs reports.
        .env("GIT_COMMITTER_DATE", "2026-03-04T23:30:00-05:00")
        .env("GIT_AUTHOR_DATE", "2026-03-04T23:30:00-05:00")
        .output()
        .unwrap();
    ok(out, &format!("git {}", args.join(" ")))
        .trim()
        .to_owned()
}

/// A repository laid out like this one, with one commit on `main`.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[package]\n").unwrap();
    std::fs::write(dir.path().join("README.md"), "# x\n").unwrap();
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "one"]);
    dir
}

fn assert_watch_exists(c: &build_script::Checkout) {
    for p in &c.watch {
        // A missing path would make cargo rerun the build script, and
        // rebuild the crate, on every build.
        assert!(p.exists(), "watched path {} does not exist", p.display());
    }
}

#[test]
fn version_names_the_commit_of_head() {
    let version = patchwave(&["--version"]);
    assert_eq!(patchwave(&["-V"]), version);
    let pkg = env!("CARGO_PKG_VERSION");
    let dir = root();
    // The oracle, from git directly: this checkout's HEAD, its date in UTC,
    // and whether what the binary is built from differs from it.
    let top = Command::new("git")
        .args(["-c", "safe.directory=*", "rev-parse", "--show-toplevel"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let in_checkout = top.status.success()
        && Path::new(String::from_utf8_lossy(&top.stdout).trim())
            .canonicalize()
            .unwrap()
            == dir.canonicalize().unwrap();
    if !in_checkout {
        // Built from a crate tarball or an export: the version alone.
        assert_eq!(version, format!("patchwave {pkg}\n"));
        return;
    }
    let short = git(&dir, &["rev-parse", "--short", "HEAD"]);
    let date = Command::new("git")
        .args(["-c", "safe.directory=*", "show", "-s", "--format=%cd"])
        .args(["--date=format-local:%Y-%m-%d", "HEAD"])
        .env("TZ", "UTC")
        .current_dir(&dir)
        .output()
        .unwrap();
    let date = ok(date, "git show").trim().to_owned();
    let status = git(
        &dir,
        &[
            "status",
            "--porcelain",
            "--",
            "src",
            "build.rs",
            "Cargo.toml",
            "Cargo.lock",
        ],
    );
    let clean = format!("patchwave {pkg} ({short} {date})\n");
    if status.is_empty() {
        assert_eq!(version, clean);
    } else {
        // Sources edited now may postdate the binary (an edit while the
        // suite runs): it was built from HEAD, clean or with those edits.
        let dirty = format!("patchwave {pkg} ({short}-dirty {date})\n");
        assert!(version == dirty || version == clean, "{version}");
    }
}

#[test]
fn the_commit_is_read_from_the_checkout_and_its_own_top_level_only() {
    let none = tempfile::tempdir().unwrap();
    assert!(
        build_script::describe(none.path()).is_none(),
        "not a checkout"
    );

    let dir = repo();
    let c = build_script::describe(dir.path()).unwrap();
    assert_eq!(c.commit, git(dir.path(), &["rev-parse", "--short", "HEAD"]));
    assert_eq!(c.date, "2026-03-05", "the committer date in UTC");
    assert!(!c.dirty);
    assert_eq!(c.label(), format!("{} 2026-03-05", c.commit));
    assert_watch_exists(&c);
    let head = git(dir.path(), &["rev-parse", "--git-path", "HEAD"]);
    let branch = git(dir.path(), &["rev-parse", "--git-path", "refs/heads/main"]);
    let expected: Vec<PathBuf> = vec![dir.path().join(head), dir.path().join(branch)];
    assert_eq!(c.watch, expected);

    // A crate unpacked inside another repository (vendored) is not that
    // repository's commit.
    let vendored = dir.path().join("vendor/patchwave");
    std::fs::create_dir_all(&vendored).unwrap();
    assert!(build_script::describe(&vendored).is_none());
}

#[test]
fn dirty_means_the_build_inputs_differ_from_the_commit() {
    let dir = repo();
    std::fs::write(dir.path().join("README.md"), "# changed\n").unwrap();
    let c = build_script::describe(dir.path()).unwrap();
    assert!(!c.dirty, "README.md is not built into the binary");

    std::fs::write(dir.path().join("src/main.rs"), "fn main() { }\n").unwrap();
    let c = build_script::describe(dir.path()).unwrap();
    assert!(c.dirty);
    assert!(c.label().contains("-dirty "), "{}", c.label());

    git(dir.path(), &["checkout", "-q", "--", "src"]);
    std::fs::write(dir.path().join("src/new.rs"), "\n").unwrap();
    assert!(
        build_script::describe(dir.path()).unwrap().dirty,
        "untracked"
    );
}

#[test]
fn packed_detached_and_worktree_refs_are_watched_where_they_exist() {
    let dir = repo();
    // Packed: no loose ref until the next commit writes one, so packed-refs
    // and the directory the loose ref will appear in are watched.
    git(dir.path(), &["pack-refs", "--all"]);
    let loose = dir.path().join(".git/refs/heads/main");
    assert!(!loose.exists());
    let c = build_script::describe(dir.path()).unwrap();
    assert_watch_exists(&c);
    assert!(c.watch.contains(&dir.path().join(".git/packed-refs")));
    assert!(c.watch.contains(&dir.path().join(".git/refs/heads")));

    // Detached: HEAD holds the commit itself.
    let commit = git(dir.path(), &["rev-parse", "HEAD"]);
    git(dir.path(), &["checkout", "-q", "--detach", &commit]);
    let c = build_script::describe(dir.path()).unwrap();
    assert_eq!(c.watch, vec![dir.path().join(".git/HEAD")]);

    // A worktree: its own HEAD, the shared ref.
    git(dir.path(), &["checkout", "-q", "main"]);
    let wt_dir = tempfile::tempdir().unwrap();
    let wt = wt_dir.path().join("wt");
    git(
        dir.path(),
        &["worktree", "add", "-q", "-b", "side2", wt.to_str().unwrap()],
    );
    let c = build_script::describe(&wt).unwrap();
    assert_watch_exists(&c);
    assert_eq!(
        c.commit,
        git(dir.path(), &["rev-parse", "--short", "side2"])
    );
    let git_dir = dir.path().join(".git").canonicalize().unwrap();
    let watched: Vec<PathBuf> = c.watch.iter().map(|p| p.canonicalize().unwrap()).collect();
    assert_eq!(
        watched,
        vec![
            git_dir.join("worktrees/wt/HEAD"),
            git_dir.join("refs/heads/side2"),
            git_dir.join("packed-refs"),
        ]
    );
}

/// Completes the command line `$2` with the completion `$1` registers for
/// `patchwave`, as bash does on TAB; prints the candidates, one a line.
const COMPLETE: &str = r#"source "$1"
spec=$(complete -p patchwave) || exit 3
fn=$(printf '%s\n' "$spec" | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
read -r -a COMP_WORDS <<< "$2"
[[ "$2" == *' ' ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}
"$fn" patchwave "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}""#;

#[test]
fn bash_completion_parses_and_completes_the_commands() {
    let script = patchwave(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("patchwave.bash");
    std::fs::write(&file, &script).unwrap();
    ok(
        Command::new("bash").arg("-n").arg(&file).output().unwrap(),
        "bash -n",
    );
    // Ask the completion bash registered for `patchwave`, as bash would.
    let complete = |line: &str| -> BTreeSet<String> {
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", COMPLETE, "complete"])
            .arg(&file)
            .arg(line)
            .output()
            .unwrap();
        ok(out, &format!("completing `{line}`"))
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let commands = complete("patchwave ");
    for c in COMMANDS {
        assert!(commands.contains(c), "`{c}` not completed: {commands:?}");
    }
    let one = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(complete("patchwave pl"), one(&["plan"]));
    assert!(complete("patchwave plan --fo").contains("--format"));
    let shells: BTreeSet<String> = complete("patchwave completions ")
        .into_iter()
        .filter(|w| !w.starts_with('-'))
        .collect();
    assert_eq!(
        shells,
        one(&["bash", "elvish", "fish", "powershell", "zsh"])
    );
}

/// How the completion script for `shell` offers the command `c` (a bare name
/// would also match `man` inside `command`).
fn offer(shell: &str, c: &str) -> String {
    match shell {
        "zsh" => format!("\n'{c}:"),
        "fish" => format!("-a \"{c}\" -d "),
        "powershell" => format!("[CompletionResult]::new('{c}', '{c}', "),
        "elvish" => format!("cand {c} '"),
        _ => unreachable!("{shell}"),
    }
}

#[test]
fn zsh_fish_powershell_and_elvish_completions_name_every_command() {
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let script = patchwave(&["completions", shell]);
        for c in COMMANDS {
            let offer = offer(shell, c);
            assert!(script.contains(&offer), "{shell}: no `{offer}`");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("_patchwave");
    std::fs::write(&file, patchwave(&["completions", "zsh"])).unwrap();
    ok(
        Command::new("zsh").arg("-n").arg(&file).output().unwrap(),
        "zsh -n",
    );
}

/// Renders a page with groff as `man` does (-k: UTF-8 input through
/// preconv), every warning on; the text, or a failure naming the warnings.
fn render(page: &Path) -> String {
    let out = Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-P", "-cbou"])
        .arg(page)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = ok(out, &format!("groff {}", page.display()));
    // Plain text (-cbou: no escapes, no overstrike): groff's hyphens as `-`,
    // justified and wrapped lines as single spaces.
    let text = text.replace(['\u{2010}', '\u{2212}'], "-");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_manual_renders_and_refers_only_to_pages_it_ships() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("printed.1");
    std::fs::write(&top, patchwave(&["man"])).unwrap();
    let text = render(&top);
    let name = format!(
        "NAME patchwave - {} SYNOPSIS",
        env!("CARGO_PKG_DESCRIPTION")
    );
    assert!(text.contains(&name), "{text}");
    // The footer: the version, and the date of the commit `--version` names.
    let version = patchwave(&["--version"]);
    let date = version
        .trim()
        .strip_suffix(')')
        .and_then(|v| v.rsplit(' ').next())
        .unwrap_or("");
    let footer = ["patchwave", env!("CARGO_PKG_VERSION"), date, "patchwave(1)"]
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(text.ends_with(&footer), "footer `{footer}` missing: {text}");

    let out = dir.path().join("man");
    patchwave(&["man", "--out-dir", out.to_str().unwrap()]);
    let written: BTreeSet<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut expected: BTreeSet<String> = COMMANDS
        .iter()
        .map(|c| format!("patchwave-{c}.1"))
        .collect();
    expected.insert("patchwave.1".into());
    assert_eq!(written, expected);
    assert_eq!(
        std::fs::read_to_string(out.join("patchwave.1")).unwrap(),
        std::fs::read_to_string(&top).unwrap(),
        "`man` prints the page `man --out-dir` writes"
    );

    // patchwave(1) lists every command's page, and every one exists.
    let top_text = render(&out.join("patchwave.1"));
    for c in COMMANDS {
        assert!(top_text.contains(&format!("patchwave-{c}(1)")), "{c}");
    }
    for page in &written {
        let text = render(&out.join(page));
        assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{page}");
    }
    let plan = render(&out.join("patchwave-plan.1"));
    assert!(
        plan.contains("--format") && plan.contains("--facts"),
        "{plan}"
    );
}
