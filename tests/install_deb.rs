//! The Debian package installs into a real Debian 12 test host (issue 17):
//! built as a release builds it (packaging/build-deb.sh: cargo-deb with the
//! package's own metadata, then the script's checks of what the .deb holds),
//! installed with `apt-get install ./patchwave_….deb`, which resolves its
//! Depends from what the host has, and then `patchwave --version` runs there
//! and names the version and commit the binary built here names; every file
//! the package declares (Cargo.toml `[package.metadata.deb]` assets) is at
//! its path with what it should hold, the bash completion completes there,
//! and the package purges cleanly.
//!
//! The .deb is built with the `deb-test` profile: the release profile except
//! optimisation (no LTO, opt-level 0; see Cargo.toml). Measured on 2 busy
//! cores, a clean fat-LTO release build takes 293 s and the `deb-test` one
//! 116 s, and the package holds the same files with the same control fields
//! but the binary and Installed-Size (compared by hand with
//! `dpkg-deb --field` and `--contents` on both). What this test is about
//! (cargo-deb, the metadata, dpkg-shlibdeps' Depends, installing and
//! running) does not depend on the optimisation; `bash packaging/build-deb.sh`
//! still builds and checks the release one.
//!
//! Needs root (the test fleet), cargo-deb at the version the release
//! workflow pins (`.ci/run` installs it), dpkg-dev, bash, zsh and groff.
//! Fleet subnet 16.

mod support;

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::fleet::{Base, Fleet};

/// build.rs itself: what a build of this checkout names in `--version`.
#[allow(dead_code)]
#[path = "../build.rs"]
mod build_script;

const SUBNET: u8 = 16;
/// The Cargo profile the .deb is built with (see the top of this file).
const PROFILE: &str = "deb-test";
/// The bound on building the .deb (a clean build of the profile's
/// dependencies included; about 2 minutes on 2 busy cores).
const BUILD_LIMIT: Duration = Duration::from_secs(30 * 60);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The cargo-deb version the release workflow installs
/// (`CARGO_DEB_VERSION` in .github/workflows/release.yml).
fn pinned_cargo_deb() -> String {
    let wf = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    wf.lines()
        .find_map(|l| l.trim().strip_prefix("CARGO_DEB_VERSION:"))
        .map(|v| v.trim().trim_matches('"').to_string())
        .expect("CARGO_DEB_VERSION in .github/workflows/release.yml")
}

/// Fails, saying how to install it, unless cargo-deb is there at the
/// version the release uses: this test is never skipped for want of it.
fn require_cargo_deb() {
    let pin = pinned_cargo_deb();
    let install = format!(
        "install it with `cargo install cargo-deb --locked --version {pin}` (the version \
         .github/workflows/release.yml builds releases with; `.ci/run` installs it)"
    );
    let out = cargo()
        .args(["deb", "--version"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    assert!(
        out.status.success(),
        "cargo-deb is not installed (`cargo deb --version`: {}); {install}",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .next()
            .unwrap_or("")
    );
    let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        got,
        format!("cargo-deb {pin}"),
        "this is not the cargo-deb releases are built with; {install}"
    );
}

/// Runs packaging/build-deb.sh for [`PROFILE`], bounded by [`BUILD_LIMIT`];
/// the .deb it prints last.
fn build_deb() -> PathBuf {
    let logs = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let start = Instant::now();
    let mut child = Command::new("bash")
        .arg(root().join("packaging/build-deb.sh"))
        .args(["--profile", PROFILE])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        // Its own process group, so a build past the bound is stopped whole
        // (the script, cargo and rustc), by that group's id.
        .process_group(0)
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > BUILD_LIMIT {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!(
                "packaging/build-deb.sh took over {BUILD_LIMIT:?}; stopped. stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        status.success(),
        "packaging/build-deb.sh --profile {PROFILE} failed ({status}):\n{stderr}"
    );
    eprintln!(
        "build-deb.sh --profile {PROFILE}: {:.0?}; {}",
        start.elapsed(),
        stderr.lines().last().unwrap_or("")
    );
    PathBuf::from(stdout.lines().last().expect("build-deb.sh prints the .deb"))
}

/// The package's declared assets from `[package.metadata.deb]`: (source in
/// the repository, path installed, without the leading `/`).
fn declared_assets() -> Vec<(String, String)> {
    let out = cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(root().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo metadata: {}", text(&out));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let package = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "patchwave")
        .unwrap();
    package["metadata"]["deb"]["assets"]
        .as_array()
        .expect("[package.metadata.deb] assets")
        .iter()
        .map(|a| {
            let src = a[0].as_str().unwrap().to_string();
            let dest = a[1].as_str().unwrap();
            // cargo-deb: a destination ending in `/` is a directory.
            let dest = match dest.strip_suffix('/') {
                Some(dir) => format!("{dir}/{}", src.rsplit('/').next().unwrap()),
                None => dest.to_string(),
            };
            (src, dest)
        })
        .collect()
}

/// Runs `argv` on the host; its output, whatever the status.
fn on(fleet: &Fleet, argv: &[&str]) -> Output {
    fleet.ssh("h1", argv)
}

/// Runs `argv` on the host, asserting success; its stdout.
fn on_ok(fleet: &Fleet, argv: &[&str]) -> String {
    let out = on(fleet, argv);
    assert!(
        out.status.success(),
        "on the host: {argv:?}\n{}",
        text(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Completes the command line `$2` with the completion the file `$1`
/// registers for `patchwave`, as bash does on TAB (the host has bash but not
/// the bash-completion package, which would load the file by the command's
/// name from the same directory); prints the candidates, one a line.
const COMPLETE: &str = r#"source "$1"
spec=$(complete -p patchwave) || exit 3
fn=$(printf '%s\n' "$spec" | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
read -r -a COMP_WORDS <<< "$2"
[[ "$2" == *' ' ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}
"$fn" patchwave "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}""#;

/// Writes the pages the installed binary makes to a fresh directory and
/// compares each with the installed one under `$1` (gzipped, as `man`
/// reads it); prints each page's name, or fails naming the one that differs.
/// (The host, a minbase system, has no man-db to run `man patchwave`; these
/// are the files it reads, and build-deb.sh renders every page with groff.)
const SAME_PAGES: &str = r#"set -eu
d=$(mktemp -d)
patchwave man --out-dir "$d" >/dev/null
for p in "$d"/*.1; do
    n=${p##*/}
    zcat -- "$1/$n.gz" | cmp -s - "$p" || { echo "$1/$n.gz is not what patchwave man writes" >&2; exit 1; }
    echo "$n"
done
rm -r -- "$d""#;

/// Prints each argument that is a regular file (`-e`: that exists).
const EXISTING: &str = r#"t=$1; shift
for p; do if [ "$t" "$p" ]; then printf '%s\n' "$p"; fi; done"#;

/// Those of `paths` that exist on the host (`test` `-f`: as regular files).
fn existing(fleet: &Fleet, test: &str, paths: &[&str]) -> BTreeSet<String> {
    let mut argv = vec!["sh", "-c", EXISTING, "sh", test];
    argv.extend(paths);
    on_ok(fleet, &argv).lines().map(str::to_owned).collect()
}

/// Build, install, run, check, purge: one test, as one install is.
#[test]
fn the_deb_installs_into_a_test_host_and_runs_there() {
    require_cargo_deb();
    let deb = build_deb();
    let version = env!("CARGO_PKG_VERSION");
    let arch = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .unwrap();
    let arch = String::from_utf8(arch.stdout).unwrap().trim().to_string();
    let file_name = format!("patchwave_{version}-1_{arch}.deb");
    assert_eq!(
        deb.file_name().unwrap().to_str().unwrap(),
        file_name,
        "{}",
        deb.display()
    );

    let fleet = Fleet::start(Base::Apt, SUBNET, 1);
    let f = &fleet;
    // Not there before.
    assert!(!on(f, &["dpkg-query", "-W", "patchwave"]).status.success());
    assert!(
        !on(f, &["test", "-e", "/usr/bin/patchwave"])
            .status
            .success()
    );

    // apt on the host may use only what the host has: no package source (its
    // base lists deb.debian.org) and no package lists left, so it knows of
    // nothing to download. (`--no-download` would say so too, but apt then
    // refuses a .deb given by path: "Pathname to install is not absolute".)
    // A Depends the host cannot satisfy fails the install, naming it.
    f.write("h1", "/etc/apt/sources.list", "");
    assert_eq!(on_ok(f, &["ls", "-A", "/etc/apt/sources.list.d"]), "");
    on_ok(f, &["apt-get", "update", "-q"]);
    let lists = on_ok(f, &["ls", "-A", "/var/lib/apt/lists"]);
    assert!(
        !lists.contains("Packages"),
        "package lists remain on the host: {lists}"
    );
    let remote = format!("/root/{file_name}");
    f.upload("h1", &deb, &remote);
    let out = on(
        f,
        &[
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "install",
            "-y",
            "-q",
            &remote,
        ],
    );
    assert!(
        out.status.success(),
        "apt-get install {file_name} on the test host failed (Depends: {}):\n{}",
        String::from_utf8_lossy(
            &Command::new("dpkg-deb")
                .args(["--field"])
                .arg(&deb)
                .arg("Depends")
                .output()
                .unwrap()
                .stdout
        )
        .trim(),
        text(&out)
    );
    assert_eq!(
        on_ok(
            f,
            &[
                "dpkg-query",
                "-W",
                "-f",
                "${db:Status-Abbrev}${Version}",
                "patchwave"
            ]
        ),
        format!("ii {version}-1")
    );

    // It runs there, found on the PATH, and names what a build of this
    // checkout names: the version and, in a git checkout, the commit, its
    // date and whether the sources differ from it (build.rs's description of
    // the checkout, which cargo ran for the package too); the commit is also
    // checked against git itself. (Not compared with the test's own
    // CARGO_BIN_EXE_patchwave: that is <target dir>/debug/patchwave, which
    // another checkout sharing the target directory may have rebuilt since.)
    assert_eq!(
        on_ok(f, &["sh", "-c", "command -v patchwave"]).trim(),
        "/usr/bin/patchwave"
    );
    let there = on_ok(f, &["patchwave", "--version"]);
    let checkout = build_script::describe(&root());
    let want = match &checkout {
        Some(c) => format!("patchwave {version} ({})\n", c.label()),
        None => format!("patchwave {version}\n"),
    };
    assert_eq!(there, want, "`patchwave --version` on the host");
    if checkout.is_some() {
        let commit = Command::new("git")
            .args(["-c", "safe.directory=*", "rev-parse", "--short", "HEAD"])
            .current_dir(root())
            .output()
            .unwrap();
        let commit = String::from_utf8(commit.stdout).unwrap();
        assert!(
            there.starts_with(&format!("patchwave {version} ({}", commit.trim())),
            "`patchwave --version` on the host does not name commit {}: {there}",
            commit.trim()
        );
    }

    // Every declared file is where the package says, holding what it should:
    // the completions and manual pages what the installed binary writes, the
    // documents what the repository holds. Nothing else is installed but
    // the copyright file cargo-deb writes.
    let assets = declared_assets();
    let mut expected: BTreeSet<String> = BTreeSet::new();
    let mut pages_dir = None;
    for (src, dest) in &assets {
        let path = format!("/{dest}");
        if let Some(dir) = path.strip_suffix("/*.1.gz") {
            pages_dir = Some(dir.to_string());
            continue;
        }
        expected.insert(path.clone());
        let shell = match src.rsplit('/').next().unwrap() {
            "patchwave" => continue, // the binary, run above
            "patchwave.bash" => Some("bash"),
            "_patchwave" => Some("zsh"),
            "patchwave.fish" => Some("fish"),
            _ => None,
        };
        let installed = on_ok(f, &["cat", "--", &path]);
        let want = match shell {
            Some(sh) => on_ok(f, &["patchwave", "completions", sh]),
            None => std::fs::read_to_string(root().join(src)).unwrap(),
        };
        assert!(installed == want, "{path} on the host is not {src}");
    }
    let pages_dir = pages_dir.expect("the package declares the manual pages");
    let pages: Vec<String> = on_ok(f, &["sh", "-c", SAME_PAGES, "sh", &pages_dir])
        .lines()
        .map(|p| format!("{pages_dir}/{p}.gz"))
        .collect();
    assert!(
        pages.contains(&format!("{pages_dir}/patchwave.1.gz"))
            && pages.contains(&format!("{pages_dir}/patchwave-plan.1.gz")),
        "{pages:?}"
    );
    expected.extend(pages);
    expected.insert("/usr/share/doc/patchwave/copyright".into());
    let listed = on_ok(f, &["dpkg", "-L", "patchwave"]);
    let files = existing(f, "-f", &listed.lines().collect::<Vec<_>>());
    assert_eq!(files, expected, "installed files vs declared ones");
    for must in [
        "/usr/share/man/man1/patchwave.1.gz",
        "/usr/share/bash-completion/completions/patchwave",
    ] {
        assert!(files.contains(must), "{must} not installed: {files:?}");
    }
    // dpkg's own record of the files matches what is on disk.
    let verify = on(f, &["dpkg", "--verify", "patchwave"]);
    assert!(
        verify.status.success() && verify.stdout.is_empty(),
        "{}",
        text(&verify)
    );

    // The bash completion, where bash-completion looks for `patchwave`'s,
    // completes the installed binary's commands.
    let complete = |line: &str| -> BTreeSet<String> {
        on_ok(
            f,
            &[
                "bash",
                "--norc",
                "--noprofile",
                "-c",
                COMPLETE,
                "complete",
                "/usr/share/bash-completion/completions/patchwave",
                line,
            ],
        )
        .lines()
        .map(str::to_owned)
        .collect()
    };
    assert_eq!(
        complete("patchwave pl"),
        BTreeSet::from(["plan".to_string()])
    );
    assert!(complete("patchwave ").is_superset(&BTreeSet::from([
        "apply".to_string(),
        "scan".to_string(),
        "man".to_string()
    ])));

    // And it goes away cleanly.
    on_ok(f, &["dpkg", "--purge", "patchwave"]);
    assert!(!on(f, &["dpkg-query", "-W", "patchwave"]).status.success());
    let paths: Vec<&str> = files.iter().map(String::as_str).collect();
    let left = existing(f, "-e", &paths);
    assert!(left.is_empty(), "left after purge: {left:?}");
}
