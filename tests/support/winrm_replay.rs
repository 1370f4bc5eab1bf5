//! A WinRM endpoint that replays transcripts recorded against a real
//! Windows host (../shared/vectors/winrm-pypsrp): each request patchwave
//! sends is compared with the recorded one semantically (namespaces by URI
//! not prefix, attributes unordered, header elements unordered, UUIDs and
//! `wsa:To` normalised), and the recorded answer goes back. A request that
//! deviates is answered with HTTP 500 and its XML diff is kept for the test
//! to show. HTTPS with Basic authentication (user `vagrant`, password
//! `vagrant`, as recorded).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;

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
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Replay {
    /// Serves `messages` in order on 127.0.0.1 over TLS; certificates in `dir`.
    pub fn start(messages: Vec<Message>, dir: &Path) -> Replay {
        let config = super::tls::server_config(dir);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let deviations = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(Mutex::new(0));
        let total = messages.len();
        let expected_auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
        );
        let thread = {
            let (stop, deviations, answered) = (stop.clone(), deviations.clone(), answered.clone());
            std::thread::spawn(move || {
                let mut next = 0usize;
                // Bounded: the server gives up after 60 s without a client.
                for _ in 0..6000 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok((tcp, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    tcp.set_nonblocking(false).unwrap();
                    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                    let mut tls = BufReader::new(rustls::StreamOwned::new(conn, tcp));
                    // One client connection, many requests (keep-alive).
                    while let Some((auth, body)) = read_request(&mut tls) {
                        let (status, answer) = if auth.as_deref() != Some(expected_auth.as_str()) {
                            (401, String::new())
                        } else if next >= messages.len() {
                            deviations
                                .lock()
                                .unwrap()
                                .push(format!("a request after the transcript ended:\n{body}"));
                            (500, String::new())
                        } else {
                            let m = &messages[next];
                            next += 1;
                            match xml_diff(&m.request, &body) {
                                None => {
                                    *answered.lock().unwrap() += 1;
                                    (m.status, m.response.clone())
                                }
                                Some(diff) => {
                                    deviations.lock().unwrap().push(diff);
                                    (500, String::new())
                                }
                            }
                        };
                        let w = tls.get_mut();
                        let head = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n{}\r\n",
                            answer.len(),
                            if status == 401 {
                                "WWW-Authenticate: Basic realm=\"WSMAN\"\r\n"
                            } else {
                                ""
                            }
                        );
                        if w.write_all(head.as_bytes()).is_err()
                            || w.write_all(answer.as_bytes()).is_err()
                            || w.flush().is_err()
                        {
                            break;
                        }
                    }
                }
            })
        };
        Replay {
            port,
            dir: dir.to_path_buf(),
            deviations,
            answered,
            total,
            stop,
            thread: Some(thread),
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

impl Drop for Replay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A POST's Authorization header and body; `None` when the client left.
fn read_request(r: &mut impl BufRead) -> Option<(Option<String>, String)> {
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
    r.read_exact(&mut body).ok()?;
    Some((header("authorization"), String::from_utf8(body).ok()?))
}
