//! Vulnerability sources downloaded from a URL (issue 16): the real
//! `patchwave plan -o json --facts` downloads the Debian tracker from a
//! local HTTP server (127.0.0.1 only), keeps the last good copy in run
//! state, asks again only after `refreshAfter` and then conditionally (a
//! 304 keeps the copy), and when the source breaks — a truncated body, the
//! KEV catalog served where the tracker is declared, a transfer cut off, the
//! server gone — says so naming the source and its URL and plans with the
//! last good copy, its age in the warning; with no good copy the source is
//! left out, and that is said too. A file source that breaks in a new
//! commit falls back the same way. `validate` holds `file`/`url` to one.
//!
//! No hosts: the facts are a Debian 12 host's, written by the test, with a
//! package built from `openssl` offered 0.9.8g-8 → 0.9.8g-9 (the first
//! version that fixes CVE-2008-0166, urgency high, so `important`). The
//! excerpt under testdata/vuln/ has no bookworm entries for openssl, so the
//! served tracker is the excerpt's openssl record with its real `buster`
//! entries relabelled `bookworm` (versions, urgencies and fixes unchanged),
//! as tests/vulnerabilities.rs does.

mod support;

use std::fs;
use std::path::Path;

use serde_json::Value;
use support::dataserver::{DataServer, LAST_MODIFIED, Serve};

fn testdata(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/vuln")
            .join(name),
    )
    .unwrap()
}

/// The excerpt's openssl record, its buster entries as bookworm's.
fn tracker_for_bookworm() -> Vec<u8> {
    let real: Value = serde_json::from_slice(&testdata("debian-tracker.json")).unwrap();
    let mut issues = serde_json::Map::new();
    for (id, issue) in real["openssl"].as_object().unwrap() {
        let Some(buster) = issue["releases"].get("buster") else {
            continue;
        };
        let mut issue = issue.clone();
        issue["releases"] = serde_json::json!({ "bookworm": buster });
        issues.insert(id.clone(), issue);
    }
    serde_json::to_vec(&serde_json::json!({ "openssl": issues })).unwrap()
}

const POLICY: &str = "apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {name: web}
spec:
  baseline: b
  rollout: r
  windows: [w]
  hosts: [{name: web-1, address: 127.0.9.16}]
---
apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {name: b}
spec:
  approvalRules:
    - {name: severe, severities: [critical, important], approveAfterDays: 0}
---
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {name: r}
spec: {waves: [\"100%\"]}
---
apiVersion: patchwave.dev/v1
kind: MaintenanceWindow
metadata: {name: w}
spec: {schedule: \"0 0 * * *\", duration: 24h}
";

/// A fleet repository whose Fleet declares `source` (one flow mapping).
fn repo(dir: &Path, source: &str) {
    fs::write(
        dir.join("fleet.yaml"),
        format!(
            "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {{name: fleet}}\nspec:\n  vulnerabilities:\n    sources:\n      - {source}\n---\n{POLICY}"
        ),
    )
    .unwrap();
}

/// A facts file: web-1 runs Debian 12, scanned now, offered the openssl fix.
fn facts(dir: &Path) -> std::path::PathBuf {
    let doc = serde_json::json!({"version": 1, "hosts": [{
        "host": "web-1", "group": "web", "address": "127.0.9.16", "transport": "ssh",
        "scannedAt": jiff::Timestamp::now().to_string(), "durationMs": 5, "state": "scanned",
        "facts": {
            "os": {"id": "debian", "versionId": "12"}, "packageManager": "apt",
            "kernel": "6.1.0", "bootId": "b", "rebootRequired": false,
            "installed": [{"name": "pw-ssl", "arch": "amd64", "version": "0.9.8g-8", "source": "openssl"}],
            "updates": [{"name": "pw-ssl", "arch": "amd64", "installedVersion": "0.9.8g-8",
                "candidateVersion": "0.9.8g-9", "repository": "Debian-Security:12/stable-security",
                "classification": "security", "severity": "unspecified", "source": "openssl"}]
        }
    }]});
    support::output_schema::assert_valid("Facts", &doc);
    let path = dir.join("facts.json");
    fs::write(&path, doc.to_string()).unwrap();
    path
}

fn run(args: &[&str], dir: &Path, state: &Path) -> (Option<i32>, String, String) {
    let mut cmd = support::patchwave();
    cmd.args(args).arg("--repo").arg(dir);
    // Straight to the loopback server, whatever proxy the machine names.
    for var in [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ] {
        cmd.env_remove(var);
    }
    if args[0] != "validate" {
        cmd.arg("--state-dir")
            .arg(state)
            .arg("--facts")
            .arg(dir.join("facts.json"));
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `plan -o json --facts`, held against the published schema.
fn plan(dir: &Path, state: &Path) -> Value {
    let (code, out, err) = run(&["plan", "-o", "json"], dir, state);
    assert!(matches!(code, Some(0 | 2)), "{out}\n{err}");
    let plan: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    support::output_schema::assert_valid("Plan", &plan);
    plan
}

/// The openssl update as planned on web-1.
fn update(plan: &Value) -> &Value {
    let g = &plan["groups"][0];
    g["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["hosts"].as_array().unwrap())
        .chain(g["unchanged"].as_array().unwrap())
        .flat_map(|h| {
            h["install"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(h["withheld"].as_array().into_iter().flatten())
        })
        .find(|c| c["name"] == "pw-ssl")
        .unwrap_or_else(|| panic!("pw-ssl is not planned: {plan}"))
}

/// Rated from the tracker: important, CVE-2008-0166, approved by the rule.
fn assert_rated(plan: &Value) {
    let u = update(plan);
    assert_eq!(u["severity"], "important", "{u}");
    assert_eq!(u["severitySource"], "debian", "{u}");
    assert_eq!(u["cves"], serde_json::json!(["CVE-2008-0166"]), "{u}");
    assert_eq!(u["decision"]["state"], "APPROVED", "{u}");
}

/// The plan's one vulnerability source.
fn data(plan: &Value) -> &Value {
    let d = plan["vulnerabilityData"]
        .as_array()
        .unwrap_or_else(|| panic!("no vulnerabilityData: {plan}"));
    assert_eq!(d.len(), 1, "{plan}");
    &d[0]
}

fn warnings(plan: &Value) -> Vec<String> {
    plan["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

/// The one warning about the source, which must name it and `url`.
fn source_warning(plan: &Value, url: &str) -> String {
    let about: Vec<String> = warnings(plan)
        .into_iter()
        .filter(|w| w.contains("vulnerability source"))
        .collect();
    assert_eq!(about.len(), 1, "{about:?}");
    let w = about[0].clone();
    assert!(
        w.starts_with(&format!("vulnerability source `debian` ({url})")),
        "{w}"
    );
    w
}

fn whole(body: Vec<u8>, etag: &str) -> Serve {
    Serve::Whole {
        body,
        etag: format!("\"{etag}\""),
    }
}

#[test]
fn a_downloaded_source_is_cached_refreshed_conditionally_and_stands_in_when_broken() {
    let tracker = tracker_for_bookworm();
    let server = DataServer::start(whole(tracker.clone(), "v1"));
    let url = server.url("tracker/data/json");
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    facts(dir.path());
    let declare = |extra: &str| {
        repo(
            dir.path(),
            &format!("{{name: debian, format: debianTracker, url: \"{url}\"{extra}}}"),
        )
    };
    declare(", refreshAfter: 1h");
    let (code, out, _) = run(&["validate"], dir.path(), state.path());
    assert_eq!(code, Some(0), "{out}");

    // The first plan downloads it, unconditionally, and rates the update.
    let first = plan(dir.path(), state.path());
    assert_rated(&first);
    assert!(warnings(&first).is_empty(), "{first}");
    let d = data(&first);
    assert_eq!(
        (
            &d["name"],
            &d["format"],
            &d["origin"],
            &d["location"],
            &d["state"]
        ),
        (
            &Value::from("debian"),
            &Value::from("debianTracker"),
            &Value::from("url"),
            &Value::from(url.as_str()),
            &Value::from("fresh")
        ),
        "{d}"
    );
    let fetched_at = d["fetchedAt"].as_str().unwrap().to_string();
    assert_eq!(d["checkedAt"], d["fetchedAt"], "{d}");
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (&seen[0].if_none_match, &seen[0].if_modified_since),
        (&None, &None)
    );
    // Kept in run state: metadata and the bytes, whole.
    let vuln_dir = state.path().join("vuln");
    let meta_file = fs::read_dir(&vuln_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("the copy's metadata");
    let meta: Value = serde_json::from_slice(&fs::read(&meta_file).unwrap()).unwrap();
    assert_eq!(meta["location"], url.as_str(), "{meta}");
    assert_eq!(meta["etag"], "\"v1\"", "{meta}");
    assert_eq!(meta["lastModified"], LAST_MODIFIED, "{meta}");
    assert_eq!(meta["fetchedAt"], fetched_at.as_str(), "{meta}");
    assert_eq!(meta["size"], tracker.len(), "{meta}");

    // Within refreshAfter: no request; the copy in run state is used.
    let second = plan(dir.path(), state.path());
    assert_eq!(server.seen().len(), 1, "no request within refreshAfter");
    assert_rated(&second);
    assert!(warnings(&second).is_empty(), "{second}");
    assert_eq!(data(&second)["state"], "cached");
    assert_eq!(data(&second)["fetchedAt"], fetched_at.as_str());

    // Past refreshAfter (0s: due every run): a conditional request; the
    // server's 304 keeps the copy, confirmed now.
    declare(", refreshAfter: 0s");
    let third = plan(dir.path(), state.path());
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].if_none_match.as_deref(), Some("\"v1\""));
    assert_eq!(seen[1].if_modified_since.as_deref(), Some(LAST_MODIFIED));
    assert_eq!(seen[1].status, 304);
    assert_rated(&third);
    assert!(warnings(&third).is_empty(), "{third}");
    let d = data(&third);
    assert_eq!(d["state"], "fresh", "{d}");
    assert_eq!(d["fetchedAt"], fetched_at.as_str(), "the 304 kept the copy");
    let time = |v: &Value| v.as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    assert!(
        time(&d["checkedAt"]) > time(&d["fetchedAt"]),
        "the 304 refreshed its check time: {d}"
    );
    let confirmed = d["checkedAt"].as_str().unwrap().to_string();

    // Truncated (the file as served ends halfway): a warning naming the
    // source, its URL and what is wrong; the last good copy is used.
    server.set(whole(tracker[..tracker.len() / 2].to_vec(), "v2"));
    let cut = plan(dir.path(), state.path());
    assert_eq!(server.seen().len(), 3);
    let w = source_warning(&cut, &url);
    assert!(
        w.contains("the downloaded data is not usable: the JSON ends early")
            && w.contains("using its last good copy from run state, 0m old")
            && w.contains(&format!(
                "confirmed at {}",
                confirmed
                    .parse::<jiff::Timestamp>()
                    .unwrap()
                    .round(jiff::Unit::Second)
                    .unwrap()
            )),
        "{w}"
    );
    assert_rated(&cut);
    let d = data(&cut);
    assert_eq!(d["state"], "lastGood", "{d}");
    assert_eq!(d["checkedAt"], confirmed.as_str(), "{d}");

    // Another dataset where the tracker is declared: the same.
    server.set(whole(testdata("kev.json"), "v3"));
    let foreign = plan(dir.path(), state.path());
    assert_eq!(server.seen().len(), 4);
    let w = source_warning(&foreign, &url);
    assert!(
        w.contains("the downloaded data is not usable: it has another shape")
            && w.contains("using its last good copy from run state"),
        "{w}"
    );
    assert_rated(&foreign);
    assert_eq!(data(&foreign)["state"], "lastGood");

    // A transfer cut off before its Content-Length: the same.
    server.set(Serve::CutOff {
        body: tracker[..1000].to_vec(),
        advertised: tracker.len(),
    });
    let cut_off = plan(dir.path(), state.path());
    assert_eq!(server.seen().len(), 5);
    let w = source_warning(&cut_off, &url);
    assert!(
        w.contains("the download failed: the body was cut off")
            && w.contains("using its last good copy from run state"),
        "{w}"
    );
    assert_rated(&cut_off);

    // The server gone: unreachable, the same; and past a 1s maxAge the copy
    // is stale, still used, and said so (in the plan's text too).
    server.stop();
    declare(", refreshAfter: 0s, maxAge: 1s");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let down = plan(dir.path(), state.path());
    let w = source_warning(&down, &url);
    assert!(
        w.contains("it is unreachable:")
            && w.contains("using its last good copy from run state")
            && w.contains("older than its maxAge (1s)"),
        "{w}"
    );
    assert_rated(&down);
    let d = data(&down);
    assert_eq!(
        (&d["state"], &d["stale"]),
        (&Value::from("lastGood"), &Value::from(true)),
        "{d}"
    );
    let (_, text, _) = run(&["plan"], dir.path(), state.path());
    let line = text
        .lines()
        .find(|l| l.starts_with("vulnerability data debian"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.starts_with(&format!(
            "vulnerability data debian (debianTracker, url {url}): "
        )) && line.contains("LAST GOOD COPY")
            && line.ends_with("older than its maxAge"),
        "{line}"
    );
    let (_, markdown, _) = run(&["plan", "-o", "markdown"], dir.path(), state.path());
    assert!(
        markdown.contains(&format!(
            "- **!** vulnerability data debian (debianTracker, url `{url}`): "
        )) && markdown.contains("LAST GOOD COPY"),
        "{markdown}"
    );

    // A state directory without a good copy, the server down: left out,
    // said so; the update is unrated.
    let empty = tempfile::tempdir().unwrap();
    let bare = plan(dir.path(), empty.path());
    let w = source_warning(&bare, &url);
    assert!(
        w.contains("is left out: it is unreachable:") && w.contains("no last good copy"),
        "{w}"
    );
    let u = update(&bare);
    assert_eq!(u["severity"], "unspecified", "{u}");
    assert_eq!(u["decision"]["state"], "NOT_APPLICABLE", "{u}");
    let d = data(&bare);
    assert_eq!(d["state"], "leftOut", "{d}");
    assert!(d.get("fetchedAt").is_none(), "{d}");
}

#[test]
fn a_file_source_that_breaks_in_a_new_commit_falls_back_to_its_last_good_copy() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    facts(dir.path());
    repo(
        dir.path(),
        "{name: debian, format: debianTracker, file: vuln/debian.json}",
    );
    fs::create_dir_all(dir.path().join("vuln")).unwrap();
    let tracker = tracker_for_bookworm();
    fs::write(dir.path().join("vuln/debian.json"), &tracker).unwrap();
    let good = plan(dir.path(), state.path());
    assert_rated(&good);
    assert!(warnings(&good).is_empty(), "{good}");
    let d = data(&good);
    assert_eq!(
        (&d["origin"], &d["state"]),
        (&Value::from("file"), &Value::from("fresh")),
        "{d}"
    );

    fs::write(
        dir.path().join("vuln/debian.json"),
        &tracker[..tracker.len() / 2],
    )
    .unwrap();
    let broken = plan(dir.path(), state.path());
    let w = source_warning(&broken, "vuln/debian.json");
    assert!(
        w.contains("the JSON ends early")
            && w.contains("using its last good copy from run state")
            && w.contains("read from the repository at"),
        "{w}"
    );
    assert_rated(&broken);
    assert_eq!(data(&broken)["state"], "lastGood");
}

#[test]
fn validate_holds_a_source_to_one_of_file_and_url_and_urls_to_http() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("unused");
    let check = |source: &str, want: &str| {
        repo(dir.path(), source);
        let (code, out, err) = run(&["validate"], dir.path(), &state);
        assert_eq!(code, Some(1), "{source}: {out}{err}");
        assert!(
            out.lines().any(|l| l.contains(want)),
            "{source}: want {want}:\n{out}"
        );
    };
    fs::create_dir_all(dir.path().join("vuln")).unwrap();
    fs::write(dir.path().join("vuln/kev.json"), testdata("kev.json")).unwrap();
    // The source's line is 7; columns are the field's value.
    check(
        "{name: kev, format: cisaKev, file: vuln/kev.json, url: \"https://example.com/kev.json\"}",
        "fleet.yaml:7:64: error: vulnerability source `kev` has both `file` and `url`",
    );
    check(
        "{name: kev, format: cisaKev}",
        "fleet.yaml:7:16: error: vulnerability source `kev` has neither `file` nor `url`",
    );
    check(
        "{name: kev, format: cisaKev, url: \"ftp://example.com/kev.json\"}",
        "fleet.yaml:7:43: error: vulnerabilities.sources[].url `ftp://example.com/kev.json` is not an http:// or https:// URL",
    );
    check(
        "{name: kev, format: cisaKev, url: \"https://u:p@example.com/kev.json\"}",
        "carries credentials",
    );
    check(
        "{name: kev, format: cisaKev, file: vuln/kev.json, refreshAfter: 1h}",
        "refreshAfter applies to `url` sources only",
    );
    check(
        "{name: kev, format: cisaKev, url: \"https://example.com/kev.json\", maxAge: 0s}",
        "maxAge `0s` must be longer than zero",
    );
    // A copy refreshed only after it is stale: valid, with a warning.
    repo(
        dir.path(),
        "{name: kev, format: cisaKev, url: \"https://example.com/kev.json\", refreshAfter: 8d}",
    );
    let (code, out, _) = run(&["validate"], dir.path(), &state);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("fleet.yaml:7:89: warning: vulnerability source `kev` is downloaded again only after it is older than its maxAge"),
        "{out}"
    );
    // And what is right validates clean.
    repo(
        dir.path(),
        "{name: kev, format: cisaKev, url: \"https://example.com/kev.json\", refreshAfter: 6h, maxAge: 7d}",
    );
    let (code, out, _) = run(&["validate"], dir.path(), &state);
    assert_eq!(code, Some(0), "{out}");
}
