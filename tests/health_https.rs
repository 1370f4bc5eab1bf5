//! Health probes over HTTPS: the certificate is checked against the CA
//! bundle given (else the system's roots), and the status comes back as the
//! service answered it, redirects not followed.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use patchwave::rollout::health::http_get_status_trusting;

/// Answers each connection with `answer` over TLS (certificates in `dir`).
fn serve(dir: &std::path::Path, answer: &'static str, connections: usize) -> u16 {
    let config: Arc<rustls::ServerConfig> = support::tls::server_config(dir);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for _ in 0..connections {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 2048];
            let _ = tls.read(&mut buf);
            let _ = tls.write_all(answer.as_bytes());
            let _ = tls.flush();
        }
    });
    port
}

#[tokio::test]
async fn https_probes_check_the_certificate_and_report_the_status() {
    let tmp = tempfile::tempdir().unwrap();
    let port = serve(
        tmp.path(),
        "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
        2,
    );
    let url = format!("https://127.0.0.1:{port}/healthz");
    let ca = tmp.path().join("ca.pem");
    assert_eq!(http_get_status_trusting(&url, Some(&ca)).await, Ok(204));
    // Not signed by a CA the system trusts: refused, with the reason.
    let err = http_get_status_trusting(&url, None).await.unwrap_err();
    assert!(err.starts_with(&format!("GET {url}:")), "{err}");
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );

    let other = tmp.path().join("r");
    std::fs::create_dir(&other).unwrap();
    let redirect = serve(
        &other,
        "HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:1/\r\nConnection: close\r\n\r\n",
        1,
    );
    let ca = tmp.path().join("r/ca.pem");
    assert_eq!(
        http_get_status_trusting(&format!("https://127.0.0.1:{redirect}/"), Some(&ca)).await,
        Ok(302),
        "a redirect is the answer, not followed"
    );
}
