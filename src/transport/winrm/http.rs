//! One persistent HTTP/1.1 connection to a WinRM listener, over TCP or TLS.
//! Persistent on purpose: NTLM authenticates a connection, not a request,
//! so the handshake and every message after it must share one socket.
//! TLS is rustls; the host's certificate is checked against a CA bundle, the
//! system's roots, or a pinned SHA-256 fingerprint.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::Digest;

/// How the host's certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's bundle (/etc/ssl/certs/ca-certificates.crt).
    System,
    /// A PEM bundle of the CAs that sign the hosts' certificates.
    CaBundle(PathBuf),
    /// Exactly this certificate (SHA-256 of its DER), whoever signed it.
    Pinned([u8; 32]),
}

/// Where the listener is.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// `None`: plain HTTP.
    pub tls: Option<Trust>,
    pub connect_timeout: Duration,
    /// Longest wait for an answer (above the WS-Man OperationTimeout).
    pub read_timeout: Duration,
}

impl Endpoint {
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}/wsman", self.port)
    }
}

/// An answer: status, headers (names lower-cased), body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header that may repeat (`www-authenticate`).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Accepts exactly one certificate, by fingerprint; signatures are still
/// checked, so the peer must hold that certificate's key.
#[derive(Debug)]
struct PinnedCert {
    sha256: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = sha2::Sha256::digest(end_entity.as_ref()).into();
        if got == self.sha256 {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the certificate's SHA-256 fingerprint is {}, not the pinned {}",
                hex::encode(got),
                hex::encode(self.sha256)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn pem_certificates(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read the CA bundle {}: {e}", path.display()))?
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(format!(
            "the CA bundle {} holds no PEM certificates",
            path.display()
        ));
    }
    Ok(certs)
}

fn tls_config(trust: &Trust) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let config = match trust {
        Trust::Pinned(sha256) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedCert {
                sha256: *sha256,
                provider,
            }))
            .with_no_client_auth(),
        Trust::System | Trust::CaBundle(_) => {
            let path = match trust {
                Trust::CaBundle(p) => p.clone(),
                _ => PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            };
            let mut roots = rustls::RootCertStore::empty();
            for c in pem_certificates(&path)? {
                roots
                    .add(c)
                    .map_err(|e| format!("{}: a certificate is unusable: {e}", path.display()))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// A connection that reconnects when the server closed it between requests.
pub struct Connection {
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    stream: Option<BufReader<Stream>>,
}

/// Why an HTTP exchange failed before any answer arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// No connection (refused, unreachable, TLS handshake or certificate).
    Connect(String),
    /// The connection broke or timed out mid-exchange.
    Io(String),
}

impl Connection {
    pub fn new(endpoint: Endpoint) -> Result<Connection, String> {
        let tls = endpoint.tls.as_ref().map(tls_config).transpose()?;
        Ok(Connection {
            endpoint,
            tls,
            stream: None,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Whether the next request opens a new connection (NTLM must then
    /// authenticate again).
    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    pub fn close(&mut self) {
        self.stream = None;
    }

    fn open(&mut self) -> Result<(), HttpError> {
        let e = &self.endpoint;
        let addrs: Vec<_> = (e.host.as_str(), e.port)
            .to_socket_addrs()
            .map_err(|err| HttpError::Connect(format!("cannot resolve {}: {err}", e.host)))?
            .collect();
        let mut last = format!("{} has no address", e.host);
        let mut tcp = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, e.connect_timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(err) => last = format!("cannot connect to {a}: {err}"),
            }
        }
        let tcp = tcp.ok_or(HttpError::Connect(last))?;
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(e.read_timeout))
            .and_then(|_| tcp.set_write_timeout(Some(e.read_timeout)))
            .map_err(|err| HttpError::Connect(err.to_string()))?;
        let stream = match &self.tls {
            None => Stream::Plain(tcp),
            Some(config) => {
                let name = ServerName::try_from(e.host.clone())
                    .map_err(|err| HttpError::Connect(format!("{}: {err}", e.host)))?;
                let conn = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|err| HttpError::Connect(format!("TLS: {err}")))?;
                let mut s = rustls::StreamOwned::new(conn, tcp);
                // Handshake now, so certificate problems are connect errors.
                while s.conn.is_handshaking() {
                    s.conn
                        .complete_io(&mut s.sock)
                        .map_err(|err| HttpError::Connect(format!("TLS handshake: {err}")))?;
                }
                Stream::Tls(Box::new(s))
            }
        };
        self.stream = Some(BufReader::new(stream));
        Ok(())
    }

    /// POSTs `body` to /wsman with the given extra headers. A connection the
    /// server closed while idle is reopened once (`reopened` tells the caller).
    pub fn post(
        &mut self,
        content_type: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<(Response, bool), HttpError> {
        let mut reopened = false;
        if self.stream.is_none() {
            self.open()?;
            reopened = true;
        }
        match self.exchange(content_type, headers, body) {
            Ok(r) => Ok((r, reopened)),
            // The server closed the idle keep-alive connection before this
            // request reached it: sending it again cannot run it twice.
            Err((_, Unanswered::NeverArrived)) if !reopened => {
                self.stream = None;
                self.open()?;
                self.exchange(content_type, headers, body)
                    .map(|r| (r, true))
                    .map_err(|(e, _)| e)
            }
            Err((e, _)) => Err(e),
        }
    }

    fn exchange(
        &mut self,
        content_type: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<Response, (HttpError, Unanswered)> {
        let e = &self.endpoint;
        let mut head = format!(
            "POST /wsman HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: patchwave/{}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: Keep-Alive\r\n",
            if e.host.contains(':') {
                format!("[{}]", e.host)
            } else {
                e.host.clone()
            },
            e.port,
            env!("CARGO_PKG_VERSION"),
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let stream = self.stream.as_mut().expect("opened");
        let unsent = |err: io::Error| (HttpError::Io(err.to_string()), Unanswered::NeverArrived);
        let w = stream.get_mut();
        let sent = w
            .write_all(head.as_bytes())
            .and_then(|_| w.write_all(body))
            .and_then(|_| w.flush())
            .map_err(unsent);
        if let Err(e) = sent {
            self.stream = None;
            return Err(e);
        }
        let response = read_response(stream).map_err(|err| {
            let why = if err.kind() == io::ErrorKind::NotConnected {
                Unanswered::NeverArrived
            } else {
                Unanswered::MayHaveRun
            };
            (HttpError::Io(err.to_string()), why)
        });
        match &response {
            Ok(r)
                if r.header("connection")
                    .is_some_and(|c| c.eq_ignore_ascii_case("close")) =>
            {
                self.stream = None
            }
            Err(_) => self.stream = None,
            Ok(_) => {}
        }
        response
    }
}

/// Whether a request that got no answer may have been acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unanswered {
    /// The connection was closed before the request got there.
    NeverArrived,
    /// It may have run (a timeout, or the answer was cut off).
    MayHaveRun,
}

/// The longest header block and body accepted from a host.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 64 * 1024 * 1024;

fn read_line(r: &mut impl BufRead, budget: &mut usize) -> io::Result<String> {
    let mut line = Vec::new();
    let n = r.take(*budget as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the connection closed before an answer",
        ));
    }
    if n > *budget {
        return Err(io::Error::other("the answer's headers are too long"));
    }
    *budget -= n;
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}

fn read_response(r: &mut impl BufRead) -> io::Result<Response> {
    let mut budget = MAX_HEAD;
    // Closed with nothing said: an idle connection the server had dropped.
    let status_line = read_line(r, &mut budget).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => {
            io::Error::new(io::ErrorKind::NotConnected, e.to_string())
        }
        _ => e,
    })?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| io::Error::other(format!("not an HTTP answer: {status_line:.80}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, &mut budget)?;
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let size_line = read_line(r, &mut budget)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| io::Error::other("a bad chunk size"))?;
            if size == 0 {
                // Trailers, then the blank line.
                while !read_line(r, &mut budget)?.is_empty() {}
                break;
            }
            if size > MAX_BODY - body.len() {
                return Err(io::Error::other("the answer is too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            read_line(r, &mut budget)?;
        }
    } else if let Some(len) = get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| io::Error::other("a bad Content-Length"))?;
        if len > MAX_BODY {
            return Err(io::Error::other("the answer is too large"));
        }
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    } else if status != 204 && status != 304 && !(100..200).contains(&status) {
        r.take(MAX_BODY as u64).read_to_end(&mut body)?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_and_sized_answers_are_read() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = read_response(&mut &raw[..]).unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), r.header("x-a")),
            (200, &b"abcde"[..], Some("1"))
        );
        let raw = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 2\r\n\r\nhi";
        let r = read_response(&mut &raw[..]).unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.body, b"hi");
        assert_eq!(
            r.headers_named("www-authenticate").collect::<Vec<_>>(),
            ["Negotiate", "Basic realm=\"x\""]
        );
        assert!(read_response(&mut &b"SSH-2.0-OpenSSH\r\n"[..]).is_err());
        assert!(read_response(&mut &b""[..]).is_err());
    }
}
