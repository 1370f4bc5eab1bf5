//! Downloading a vulnerability source: one `GET`, conditional when a copy
//! is cached (`If-None-Match` from its ETag, `If-Modified-Since` from its
//! Last-Modified), bounded in time and size. Blocking (ureq): async callers
//! run it through [`crate::blocking::blocking`].

use std::io::Read;
use std::time::Duration;

/// The most a source may take, decoded: the real Debian tracker JSON is
/// about 70 MB, the KEV catalog about 1.5 MB; this leaves room to grow
/// while bounding what a wrong or hostile server can make patchwave hold.
pub const MAX_BODY: u64 = 512 << 20;

/// Connecting (DNS, TCP, TLS) may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Waiting for the response head, and for each read of the body.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// The whole download, body included: 512 MiB in 10 minutes is under
/// 1 MB/s; 70 MB at that rate takes about a minute.
const GLOBAL_TIMEOUT: Duration = Duration::from_secs(600);

/// The environment variable naming a PEM bundle of CAs to trust for
/// `https://` sources (a private mirror), else the system's roots.
pub const CA_BUNDLE_VAR: &str = "PATCHWAVE_VULN_CA_BUNDLE";

/// What the cached copy's server said about it, for a conditional request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// A download's outcome.
#[derive(Debug)]
pub enum Fetched {
    /// 304: the cached copy is current.
    NotModified,
    /// 200: the body, with the validators for the next request.
    Body {
        bytes: Vec<u8>,
        validators: Validators,
    },
}

/// Why a download failed, said as a warning finishes "… (URL) …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// No answer: connection refused, name not found, timeout, TLS.
    Unreachable(String),
    /// An answer that is not the data (404, 500, …).
    Status(u16, String),
    /// The body did not arrive whole (cut off, too large).
    Body(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Unreachable(e) => write!(f, "it is unreachable: {e}"),
            FetchError::Status(code, reason) => {
                write!(f, "the server answered HTTP {code} {reason}")
            }
            FetchError::Body(e) => write!(f, "the download failed: {e}"),
        }
    }
}

/// `GET url`, conditionally when `cached` has validators.
pub fn fetch(url: &str, cached: &Validators) -> Result<Fetched, FetchError> {
    fetch_with(url, cached, MAX_BODY)
}

/// [`fetch`] with another size bound (tests).
pub fn fetch_with(url: &str, cached: &Validators, max_body: u64) -> Result<Fetched, FetchError> {
    let roots = crate::tls_roots::roots_for(CA_BUNDLE_VAR).map_err(FetchError::Unreachable)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .http_status_as_error(false)
        // A redirect never leaves https for plain http.
        .https_only(url.starts_with("https://"))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(READ_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .timeout_global(Some(GLOBAL_TIMEOUT))
        .user_agent(concat!("patchwave/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(etag) = &cached.etag {
        request = request.header("If-None-Match", etag);
    }
    if let Some(lm) = &cached.last_modified {
        request = request.header("If-Modified-Since", lm);
    }
    let mut response = request.call().map_err(|e| match e {
        ureq::Error::StatusCode(code) => FetchError::Status(code, String::new()),
        other => FetchError::Unreachable(other.to_string()),
    })?;
    let status = response.status();
    if status == 304 && !cached.is_empty() {
        return Ok(Fetched::NotModified);
    }
    if status != 200 {
        return Err(FetchError::Status(
            status.as_u16(),
            status.canonical_reason().unwrap_or("").to_string(),
        ));
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let validators = Validators {
        etag: header("etag"),
        last_modified: header("last-modified"),
    };
    let mut bytes = Vec::new();
    response
        .body_mut()
        .with_config()
        .limit(max_body)
        .reader()
        .read_to_end(&mut bytes)
        .map_err(|e| match ureq::Error::from(e) {
            ureq::Error::BodyExceedsLimit(_) => FetchError::Body(format!(
                "it is larger than {}, the most patchwave downloads",
                size_words(max_body)
            )),
            other => FetchError::Body(format!(
                "the body was cut off after {} bytes: {other}",
                bytes.len()
            )),
        })?;
    Ok(Fetched::Body { bytes, validators })
}

/// `512 MiB`, or bytes below a MiB.
fn size_words(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A one-shot HTTP server on loopback answering `head` then `body`.
    fn serve(head: &'static str, body: Vec<u8>) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            }
        });
        format!("http://{addr}/data.json")
    }

    #[test]
    fn a_body_past_the_bound_and_unexpected_answers_are_errors() {
        let big = vec![b'x'; 2048];
        let url = serve(
            "HTTP/1.1 200 OK\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n",
            big.clone(),
        );
        let e = fetch_with(&url, &Validators::default(), 1024).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the download failed: it is larger than 1024 bytes, the most patchwave downloads"
        );
        let url = serve(
            "HTTP/1.1 200 OK\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n",
            big,
        );
        match fetch_with(&url, &Validators::default(), 4096).unwrap() {
            Fetched::Body { bytes, validators } => {
                assert_eq!(bytes.len(), 2048);
                assert_eq!(validators, Validators::default());
            }
            other => panic!("{other:?}"),
        }
        let url = serve(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            vec![],
        );
        let e = fetch(&url, &Validators::default()).unwrap_err();
        assert_eq!(e, FetchError::Status(404, "Not Found".into()));
        // A 304 to a request that was not conditional is no copy to keep.
        let url = serve(
            "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n",
            vec![],
        );
        let e = fetch(&url, &Validators::default()).unwrap_err();
        assert_eq!(e, FetchError::Status(304, "Not Modified".into()));
        let e = fetch("http://127.0.0.1:1/x.json", &Validators::default()).unwrap_err();
        assert!(matches!(e, FetchError::Unreachable(_)), "{e:?}");
    }
}
