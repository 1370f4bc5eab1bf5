//! A WinRM endpoint that replays transcripts recorded against a real
//! Windows host (../shared/vectors/winrm-pypsrp): each request patchwave
//! sends is compared with the recorded one semantically (namespaces by URI
//! not prefix, attributes unordered, header elements unordered, UUIDs and
//! `wsa:To` normalised), and the recorded answer goes back. A request that
//! deviates is answered with HTTP 500 and its XML diff is kept for the test
//! to show. Clients authenticate as user `vagrant`, password `vagrant` (as
//! recorded): HTTPS with Basic, or plain HTTP with NTLM and sealing.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use patchwave::transport::winrm::ntlm::{self, Sealer, Side};
use patchwave::transport::winrm::ntlm_auth::{self, parse_authenticate};
use patchwave::transport::winrm::sealed::{unwrap, wrap};

pub const USER: &str = "vagrant";
pub const PASSWORD: &str = "vagrant";

/// One recorded exchange.
#[derive(Debug, Clone)]
pub struct Message {
    pub request: String,
    pub response: String,
    /// The recorded answer came with this HTTP status (500 for faults).
    pub status: u16,
}

pub fn transcript(name: &str) -> Vec<Message> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/vectors/winrm-pypsrp")
        .join(format!("{name}.yml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert!(
                m.get("overrides").is_none(),
                "{name}: overrides are not supported by this replayer"
            );
            Message {
                request: m["request"].as_str().unwrap().to_string(),
                response: m["response"].as_str().unwrap().to_string(),
                status: m["transport_error"]["code"].as_u64().unwrap_or(200) as u16,
            }
        })
        .collect()
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (any case) as zeros.
fn normalise_uuids(s: &str) -> String {
    let b = s.as_bytes();
    let shape = [8, 4, 4, 4, 12];
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    'outer: while i < b.len() {
        let mut j = i;
        for (k, n) in shape.iter().enumerate() {
            if j + n > b.len() || !b[j..j + n].iter().all(u8::is_ascii_hexdigit) {
                out.push(s[i..].chars().next().unwrap());
                i += s[i..].chars().next().unwrap().len_utf8();
                continue 'outer;
            }
            j += n;
            if k < 4 {
                if b.get(j) != Some(&b'-') {
                    out.push(s[i..].chars().next().unwrap());
                    i += s[i..].chars().next().unwrap().len_utf8();
                    continue 'outer;
                }
                j += 1;
            }
        }
        out.push_str("00000000-0000-0000-0000-000000000000");
        i = j;
    }
    out
}

const XMLNS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// One element as indented canonical lines.
fn canonical(node: roxmltree::Node, depth: usize, out: &mut Vec<String>) {
    let name = node.tag_name();
    let qname = format!("{{{}}}{}", name.namespace().unwrap_or(""), name.name());
    let mut attrs: Vec<String> = node
        .attributes()
        .map(|a| {
            let ns = match a.namespace() {
                Some(XMLNS_XML) => "xml:".to_string(),
                Some(ns) => format!("{{{ns}}}"),
                None => String::new(),
            };
            format!("{ns}{}=\"{}\"", a.name(), normalise_uuids(a.value()))
        })
        .collect();
    attrs.sort();
    let text: String = node
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect::<String>()
        .trim()
        .to_string();
    let is_to = name.name() == "To"
        && name.namespace() == Some("http://schemas.xmlsoap.org/ws/2004/08/addressing");
    let text = if is_to {
        "<endpoint>".to_string()
    } else {
        normalise_uuids(&text)
    };
    let pad = "  ".repeat(depth);
    let mut line = format!("{pad}<{qname}");
    for a in &attrs {
        line.push(' ');
        line.push_str(a);
    }
    line.push('>');
    if !text.is_empty() {
        line.push_str(&text);
    }
    out.push(line);
    let mut children: Vec<Vec<String>> = node
        .children()
        .filter(|c| c.is_element())
        .map(|c| {
            let mut lines = Vec::new();
            canonical(c, depth + 1, &mut lines);
            lines
        })
        .collect();
    // The header is a set of blocks; the body keeps its order.
    if name.name() == "Header" {
        children.sort();
    }
    for c in children {
        out.extend(c);
    }
}

pub fn canonical_xml(xml: &str) -> Result<String, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let mut lines = Vec::new();
    canonical(doc.root_element(), 0, &mut lines);
    Ok(lines.join("\n") + "\n")
}

/// `None` when `sent` means what `recorded` says; else a readable diff.
pub fn xml_diff(recorded: &str, sent: &str) -> Option<String> {
    let want = canonical_xml(recorded).unwrap();
    let got = match canonical_xml(sent) {
        Ok(g) => g,
        Err(e) => return Some(format!("the request is {e}:\n{sent}")),
    };
    if want == got {
        return None;
    }
    Some(
        similar::TextDiff::from_lines(&want, &got)
            .unified_diff()
            .header("recorded request", "patchwave's request")
            .to_string(),
    )
}

pub struct Replay {
    pub port: u16,
    pub dir: PathBuf,
    /// Diffs of requests that did not match.
    pub deviations: Arc<Mutex<Vec<String>>>,
    /// How many recorded messages were answered.
    pub answered: Arc<Mutex<usize>>,
    pub total: usize,
    _endpoint: WinrmEndpoint,
}

/// A WinRM listener on 127.0.0.1 that hands requests to a [`Responder`].
pub struct WinrmEndpoint {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Serves WinRM on 127.0.0.1 (TLS certificates, when `mode` needs them, in `dir`).
pub fn serve_winrm(responder: Box<dyn Responder>, dir: &Path, mode: Mode) -> WinrmEndpoint {
    let responder = Arc::new(Mutex::new(responder));
    let config = super::tls::server_config(dir);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // Bounded: the server gives up after 120 s without a client.
            for _ in 0..12_000 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok((tcp, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                tcp.set_nonblocking(false).unwrap();
                tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let stream: Box<dyn Duplex> = match mode {
                    Mode::TlsBasic => Box::new(rustls::StreamOwned::new(
                        rustls::ServerConnection::new(config.clone()).unwrap(),
                        tcp,
                    )),
                    Mode::HttpNtlm => Box::new(tcp),
                };
                // A connection per thread, as a real listener serves them:
                // a client's idle connection never holds up its next one.
                let responder = responder.clone();
                std::thread::spawn(move || serve(BufReader::new(stream), mode, &responder));
            }
        })
    };
    WinrmEndpoint {
        port,
        stop,
        thread: Some(thread),
    }
}

impl Drop for WinrmEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How clients authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// HTTPS (a test CA in the replay's directory) with HTTP Basic.
    TlsBasic,
    /// Plain HTTP, NTLM, every message sealed (`multipart/encrypted`).
    HttpNtlm,
}

/// The transcript's position and what went wrong, shared by connections.
struct Script {
    messages: Vec<Message>,
    next: usize,
    deviations: Arc<Mutex<Vec<String>>>,
    answered: Arc<Mutex<usize>>,
}

/// What answers the SOAP requests a WinRM endpoint receives (after
/// authentication and unsealing).
pub trait Responder: Send {
    /// HTTP status and SOAP body for one request.
    fn answer(&mut self, soap: &str) -> (u16, String);
    /// Something went wrong below SOAP (a body that would not unseal).
    fn problem(&mut self, what: String);
}

impl Responder for Script {
    fn problem(&mut self, what: String) {
        self.deviations.lock().unwrap().push(what);
    }

    /// The recorded answer to `soap`, or HTTP 500 (and a kept diff).
    fn answer(&mut self, soap: &str) -> (u16, String) {
        let Some(m) = self.messages.get(self.next) else {
            self.deviations
                .lock()
                .unwrap()
                .push(format!("a request after the transcript ended:\n{soap}"));
            return (500, String::new());
        };
        self.next += 1;
        match xml_diff(&m.request, soap) {
            None => {
                *self.answered.lock().unwrap() += 1;
                (m.status, m.response.clone())
            }
            Some(diff) => {
                self.deviations.lock().unwrap().push(diff);
                (500, String::new())
            }
        }
    }
}

trait Duplex: std::io::Read + Write + Send {}
impl<T: std::io::Read + Write + Send> Duplex for T {}

impl Replay {
    /// Serves `messages` in order on 127.0.0.1 (HTTPS + Basic); certificates in `dir`.
    pub fn start(messages: Vec<Message>, dir: &Path) -> Replay {
        Replay::start_with(messages, dir, Mode::TlsBasic)
    }

    pub fn start_with(messages: Vec<Message>, dir: &Path, mode: Mode) -> Replay {
        let deviations = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(Mutex::new(0));
        let total = messages.len();
        let script = Script {
            messages,
            next: 0,
            deviations: deviations.clone(),
            answered: answered.clone(),
        };
        let endpoint = serve_winrm(Box::new(script), dir, mode);
        Replay {
            port: endpoint.port,
            dir: dir.to_path_buf(),
            deviations,
            answered,
            total,
            _endpoint: endpoint,
        }
    }

    /// Panics with every deviation's diff, or when messages were left over.
    pub fn assert_complete(&self) {
        let deviations = self.deviations.lock().unwrap();
        assert!(deviations.is_empty(), "{}", deviations.join("\n"));
        assert_eq!(
            *self.answered.lock().unwrap(),
            self.total,
            "every recorded message was used"
        );
    }
}

/// One client connection, many requests (keep-alive).
fn serve(mut conn: BufReader<Box<dyn Duplex>>, mode: Mode, responder: &Mutex<Box<dyn Responder>>) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let basic = format!("Basic {}", b64.encode(format!("{USER}:{PASSWORD}")));
    let mut ntlm = NtlmServer::default();
    while let Some((auth, body)) = read_request(&mut conn) {
        let reply: (u16, Vec<(&str, String)>, Vec<u8>) = match mode {
            Mode::TlsBasic if auth.as_deref() != Some(basic.as_str()) => (
                401,
                vec![("WWW-Authenticate", "Basic realm=\"WSMAN\"".into())],
                Vec::new(),
            ),
            Mode::TlsBasic => {
                let (status, answer) = responder
                    .lock()
                    .unwrap()
                    .answer(&String::from_utf8_lossy(&body));
                (
                    status,
                    vec![("Content-Type", "application/soap+xml;charset=UTF-8".into())],
                    answer.into_bytes(),
                )
            }
            Mode::HttpNtlm => {
                ntlm.handle(auth.as_deref(), &body, responder.lock().unwrap().as_mut())
            }
        };
        let (status, headers, answer) = reply;
        let mut head = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n",
            answer.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let w = conn.get_mut();
        if w.write_all(head.as_bytes()).is_err()
            || w.write_all(&answer).is_err()
            || w.flush().is_err()
        {
            return;
        }
    }
}

/// The server side of NTLM for one connection: challenge, check the
/// client's proof (password `vagrant`) and MIC, then seal.
#[derive(Default)]
struct NtlmServer {
    negotiate: Vec<u8>,
    challenge: Vec<u8>,
    server_challenge: [u8; 8],
    sealers: Option<(Sealer, Sealer)>,
}

const SEALED: &str = "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"";

impl NtlmServer {
    fn handle(
        &mut self,
        auth: Option<&str>,
        body: &[u8],
        script: &mut dyn Responder,
    ) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let refuse = || (401, vec![], Vec::new());
        if let Some(token) = auth.and_then(|a| a.strip_prefix("Negotiate ")) {
            let Ok(token) = b64.decode(token) else {
                return refuse();
            };
            match token.get(8) {
                Some(1) => {
                    self.negotiate = token;
                    self.server_challenge = *b"\x01\x23\x45\x67\x89\xab\xcd\xef";
                    self.challenge = challenge_message(&self.server_challenge);
                    self.sealers = None;
                    return (
                        401,
                        vec![(
                            "WWW-Authenticate",
                            format!("Negotiate {}", b64.encode(&self.challenge)),
                        )],
                        Vec::new(),
                    );
                }
                Some(3) => match self.verify(&token) {
                    Some(s) => self.sealers = Some(s),
                    None => return refuse(),
                },
                _ => return refuse(),
            }
        }
        let Some((incoming, outgoing)) = self.sealers.as_mut() else {
            return refuse();
        };
        let soap = match unwrap(incoming, body) {
            Ok(s) => s,
            Err(e) => {
                script.problem(format!("unsealing failed: {e}"));
                return (500, vec![], Vec::new());
            }
        };
        let (status, answer) = script.answer(&String::from_utf8_lossy(&soap));
        (
            status,
            vec![("Content-Type", SEALED.into())],
            wrap(outgoing, answer.as_bytes()),
        )
    }

    /// The sealers (client→server, server→client) when the proof and MIC hold.
    fn verify(&self, authenticate: &[u8]) -> Option<(Sealer, Sealer)> {
        let f = parse_authenticate(authenticate).ok()?;
        let blob = f.nt_response.get(16..)?;
        let time = u64::from_le_bytes(blob.get(8..16)?.try_into().ok()?);
        let client_challenge: [u8; 8] = blob.get(16..24)?.try_into().ok()?;
        let target_info = blob.get(28..blob.len().checked_sub(4)?)?;
        let key = ntlm::ntowf_v2(PASSWORD, &f.user, &f.domain);
        let expected = ntlm::ntlmv2_response(
            &key,
            &self.server_challenge,
            &client_challenge,
            time,
            target_info,
        );
        if expected.nt_response != f.nt_response {
            return None;
        }
        let encrypted: [u8; 16] = f.encrypted_session_key.as_slice().try_into().ok()?;
        // RC4 is its own inverse: the same call unwraps the key.
        let exported = ntlm::encrypt_session_key(&expected.session_base_key, &encrypted);
        let mut zeroed = authenticate.to_vec();
        zeroed[72..88].fill(0);
        if ntlm::mic(&exported, &[&self.negotiate, &self.challenge, &zeroed]) != f.mic {
            return None;
        }
        Some((
            Sealer::new(&exported, Side::Client),
            Sealer::new(&exported, Side::Server),
        ))
    }
}

/// A CHALLENGE granting everything patchwave asks for, with the target
/// info a Windows server sends (names and a timestamp).
fn challenge_message(server_challenge: &[u8; 8]) -> Vec<u8> {
    let utf16 = |s: &str| {
        s.encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>()
    };
    let mut info = Vec::new();
    for (id, value) in [
        (2u16, utf16("VAGRANT")),
        (1, utf16("SERVER2016")),
        (7, ntlm_auth::filetime_now().to_le_bytes().to_vec()),
    ] {
        info.extend_from_slice(&id.to_le_bytes());
        info.extend_from_slice(&(value.len() as u16).to_le_bytes());
        info.extend_from_slice(&value);
    }
    info.extend_from_slice(&[0; 4]);
    let mut m = Vec::new();
    m.extend_from_slice(b"NTLMSSP\0");
    m.extend_from_slice(&2u32.to_le_bytes());
    m.extend_from_slice(&[0, 0, 0, 0, 56, 0, 0, 0]); // empty target name
    m.extend_from_slice(&ntlm_auth::CLIENT_FLAGS.to_le_bytes());
    m.extend_from_slice(server_challenge);
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&(info.len() as u16).to_le_bytes());
    m.extend_from_slice(&(info.len() as u16).to_le_bytes());
    m.extend_from_slice(&56u32.to_le_bytes());
    m.extend_from_slice(&[10, 0, 0x39, 0x38, 0, 0, 0, 15]);
    m.extend_from_slice(&info);
    m
}

/// A POST's Authorization header and body; `None` when the client left.
fn read_request(r: &mut impl BufRead) -> Option<(Option<String>, Vec<u8>)> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push(line.trim_end().to_string());
        if head.len() > 100 {
            return None;
        }
    }
    let header = |name: &str| {
        head.iter().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    std::io::Read::read_exact(r, &mut body).ok()?;
    Some((header("authorization"), body))
}
