//! `patchwave daemon` as a process: health and readiness, metrics, webhooks
//! that authenticate (401/400 trigger nothing; a good one triggers a
//! reconcile), and SIGTERM ending it cleanly.

mod support;

use support::daemon::Daemon;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};

/// One HTTP/1.1 request; the status code and body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded) until `check` holds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

fn metric(addr: &str, line_start: &str) -> Option<String> {
    let (_, body) = http(addr, "GET", "/metrics", &[], b"");
    body.lines()
        .find(|l| l.starts_with(line_start))
        .map(String::from)
}

#[test]
fn health_metrics_webhooks_and_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("fleet");
    std::fs::create_dir(&repo).unwrap();
    // One host nobody listens for (loopback, refused at once).
    std::fs::write(
        repo.join("fleet.yaml"),
        support::policy::stream(&[
            "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {name: g}\nspec:\n  baseline: b\n  rollout: r\n  windows: [w]\n  hosts: [{name: h1, address: 127.0.9.99}]\n",
            support::policy::BASELINE_AND_ROLLOUT,
            support::policy::ALWAYS_OPEN_WINDOW,
        ]),
    )
    .unwrap();
    std::fs::write(tmp.path().join("secret"), "s3cret\n").unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let child = support::patchwave()
        .args(["daemon", "--interval", "1h", "--listen", &addr, "--repo"])
        .arg(&repo)
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .arg("--github-secret-file")
        .arg(tmp.path().join("secret"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut daemon = Daemon(child);
    eventually("the daemon to listen", || TcpStream::connect(&addr).is_ok());
    assert_eq!(http(&addr, "GET", "/healthz", &[], b"").0, 200);
    eventually("the first reconcile", || {
        http(&addr, "GET", "/readyz", &[], b"").0 == 200
    });
    assert_eq!(
        metric(&addr, "patchwave_reconciles_total").as_deref(),
        Some("patchwave_reconciles_total{result=\"incomplete\"} 1")
    );
    assert!(metric(&addr, "patchwave_last_successful_sync_timestamp_seconds").is_some());

    let body = br#"{"ref":"refs/heads/main"}"#;
    let sign = |secret: &[u8]| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    // Unauthenticated and malformed calls are refused and trigger nothing.
    assert_eq!(http(&addr, "POST", "/hooks/github", &[], body).0, 401);
    assert_eq!(
        http(
            &addr,
            "POST",
            "/hooks/github",
            &[("X-Hub-Signature-256", sign(b"wrong"))],
            body
        )
        .0,
        401
    );
    assert_eq!(
        http(
            &addr,
            "POST",
            "/hooks/github",
            &[("X-Hub-Signature-256", "md5=1".into())],
            body
        )
        .0,
        400
    );
    assert_eq!(
        http(
            &addr,
            "POST",
            "/hooks/gitlab",
            &[("X-Gitlab-Token", "s3cret".into())],
            body
        )
        .0,
        404
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        metric(&addr, "patchwave_reconciles_total").as_deref(),
        Some("patchwave_reconciles_total{result=\"incomplete\"} 1"),
        "a refused webhook must not trigger a reconcile"
    );
    // A signed one does.
    let (code, said) = http(
        &addr,
        "POST",
        "/hooks/github",
        &[("X-Hub-Signature-256", sign(b"s3cret"))],
        body,
    );
    assert_eq!(code, 202, "{said}");
    eventually("the triggered reconcile", || {
        metric(&addr, "patchwave_reconciles_total").as_deref()
            == Some("patchwave_reconciles_total{result=\"incomplete\"} 2")
    });

    // SIGTERM: a clean exit.
    let pid = daemon.0.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = daemon.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0));
}
