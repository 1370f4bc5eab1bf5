//! An HTTP server on 127.0.0.1 serving one dataset the way a real feed does
//! (ETag, Last-Modified, `304 Not Modified` to a conditional request that
//! matches), or broken on purpose (a body cut off mid-transfer), counting
//! every request; [`DataServer::stop`] closes its port, so its URL becomes
//! unreachable. Loopback only.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the dataset is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serve {
    /// Whole, with an ETag and Last-Modified; 304 when the request's
    /// `If-None-Match` names the ETag.
    Whole { body: Vec<u8>, etag: String },
    /// A `Content-Length` of `advertised` bytes, but only `body` sent before
    /// the connection closes (a transfer cut short).
    CutOff { body: Vec<u8>, advertised: usize },
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    /// The status answered.
    pub status: u16,
}

pub struct DataServer {
    pub port: u16,
    serve: Arc<Mutex<Serve>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stopped: Arc<AtomicBool>,
}

/// The Last-Modified every response carries.
pub const LAST_MODIFIED: &str = "Tue, 01 Dec 2026 10:00:00 GMT";

impl DataServer {
    pub fn start(serve: Serve) -> DataServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let server = DataServer {
            port,
            serve: Arc::new(Mutex::new(serve)),
            seen: Arc::default(),
            stopped: Arc::default(),
        };
        let (serve, seen, stopped) = (
            server.serve.clone(),
            server.seen.clone(),
            server.stopped.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    // Dropping the listener closes the port.
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (serve, seen) = (serve.clone(), seen.clone());
                std::thread::spawn(move || {
                    let _ = answer(conn, &serve, &seen);
                });
            }
        });
        server
    }

    /// The dataset's URL (any path serves it).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    pub fn set(&self, serve: Serve) {
        *self.serve.lock().unwrap() = serve;
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Closes the port: connections to it are refused from now on.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which sees the flag and drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "port {} still open",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One request per connection (`Connection: close`).
fn answer(conn: TcpStream, serve: &Mutex<Serve>, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    let mut request = String::new();
    if reader.read_line(&mut request)? == 0 {
        return Ok(());
    }
    let mut if_none_match = None;
    let mut if_modified_since = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            let value = Some(value.trim().to_string());
            match name.trim().to_ascii_lowercase().as_str() {
                "if-none-match" => if_none_match = value,
                "if-modified-since" => if_modified_since = value,
                _ => {}
            }
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let serve = serve.lock().unwrap().clone();
    let not_modified = matches!(&serve, Serve::Whole { etag, .. } if if_none_match.as_deref() == Some(etag.as_str()));
    // Recorded before answering: the client may be gone the moment it has
    // its answer.
    seen.lock().unwrap().push(Seen {
        path,
        if_none_match,
        if_modified_since,
        status: if not_modified { 304 } else { 200 },
    });
    match &serve {
        Serve::Whole { etag, .. } if not_modified => write!(
            out,
            "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nLast-Modified: {LAST_MODIFIED}\r\nConnection: close\r\n\r\n"
        )?,
        Serve::Whole { body, etag } => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/json\r\nETag: {etag}\r\nLast-Modified: {LAST_MODIFIED}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            out.write_all(body)?;
        }
        Serve::CutOff { body, advertised } => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {advertised}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
            )?;
            out.write_all(body)?;
        }
    }
    out.flush()
}
