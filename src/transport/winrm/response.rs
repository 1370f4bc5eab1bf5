//! Reading WS-Management answers: the shell and command ids, output
//! streams (base64) with the exit code once the command is done, and SOAP
//! faults (a Receive that found nothing within OperationTimeout is the
//! `w:TimedOut` fault, which only means "ask again").

use base64::Engine;
use roxmltree::{Document, Node};

const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
const SHELL_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
const WSMAN_FAULT: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";
const DONE: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done";

/// A SOAP fault from the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The subcode (`w:TimedOut`, `w:InvalidSelectors`, …) without its prefix.
    pub subcode: String,
    /// The WSManFault code (a Windows error number), when given.
    pub code: Option<String>,
    /// The service's own words.
    pub message: String,
}

impl Fault {
    pub fn is_timeout(&self) -> bool {
        self.subcode == "TimedOut"
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(c) = &self.code {
            write!(f, " (WS-Management fault {}, code {c})", self.subcode)?;
        } else if !self.subcode.is_empty() {
            write!(f, " (WS-Management fault {})", self.subcode)?;
        }
        Ok(())
    }
}

fn parse(xml: &str) -> Result<Document<'_>, String> {
    Document::parse(xml).map_err(|e| format!("the answer is not XML: {e}"))
}

fn find<'a, 'i>(doc: &'a Document<'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    doc.descendants().find(|n| n.has_tag_name((ns, name)))
}

/// Collapses runs of whitespace (fault texts come padded and wrapped).
fn tidy(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The fault in `xml`, if it is one.
pub fn fault(xml: &str) -> Option<Fault> {
    let doc = Document::parse(xml).ok()?;
    let f = find(&doc, SOAP, "Fault")?;
    let subcode = f
        .descendants()
        .filter(|n| n.has_tag_name((SOAP, "Subcode")))
        .filter_map(|n| n.children().find(|c| c.has_tag_name((SOAP, "Value"))))
        .filter_map(|v| v.text())
        .next_back()
        .map(|v| v.rsplit(':').next().unwrap_or(v).trim().to_string())
        .unwrap_or_default();
    let wsman = f
        .descendants()
        .find(|n| n.has_tag_name((WSMAN_FAULT, "WSManFault")));
    let message = wsman
        .and_then(|w| {
            w.descendants()
                .find(|n| n.has_tag_name((WSMAN_FAULT, "Message")))
        })
        .map(|m| m.descendants().filter_map(|t| t.text()).collect::<String>())
        .filter(|m| !m.trim().is_empty())
        .or_else(|| {
            f.descendants()
                .find(|n| n.has_tag_name((SOAP, "Text")))
                .and_then(|t| t.text())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "the service reported a fault without a message".into());
    Some(Fault {
        subcode,
        code: wsman.and_then(|w| w.attribute("Code")).map(str::to_string),
        message: tidy(&message),
    })
}

/// The id of the shell a Create made.
pub fn shell_id(xml: &str) -> Result<String, String> {
    let doc = parse(xml)?;
    find(&doc, SHELL_NS, "ShellId")
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
        .or_else(|| {
            doc.descendants()
                .find(|n| {
                    n.tag_name().name() == "Selector" && n.attribute("Name") == Some("ShellId")
                })
                .and_then(|n| n.text())
                .map(|t| t.trim().to_string())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the Create answer names no ShellId".to_string())
}

/// The id of the command a Command started.
pub fn command_id(xml: &str) -> Result<String, String> {
    let doc = parse(xml)?;
    find(&doc, SHELL_NS, "CommandId")
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the Command answer names no CommandId".to_string())
}

/// What one Receive brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The exit code, once the command is done.
    pub exit_code: Option<i32>,
    pub done: bool,
}

pub fn received(xml: &str) -> Result<Received, String> {
    let doc = parse(xml)?;
    let mut r = Received::default();
    for s in doc
        .descendants()
        .filter(|n| n.has_tag_name((SHELL_NS, "Stream")))
    {
        let text: String = s
            .text()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if text.is_empty() {
            continue;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| {
                format!(
                    "a {} stream is not base64: {e}",
                    s.attribute("Name").unwrap_or("?")
                )
            })?;
        match s.attribute("Name") {
            Some("stdout") => r.stdout.extend_from_slice(&bytes),
            Some("stderr") => r.stderr.extend_from_slice(&bytes),
            _ => {}
        }
    }
    if let Some(state) = find(&doc, SHELL_NS, "CommandState") {
        r.done = state.attribute("State") == Some(DONE);
        r.exit_code = state
            .children()
            .find(|c| c.has_tag_name((SHELL_NS, "ExitCode")))
            .and_then(|c| c.text())
            .and_then(|t| t.trim().parse::<i64>().ok())
            // Windows exit codes are DWORDs; NTSTATUS values print negative as i32.
            .map(|c| c as i32);
    }
    Ok(r)
}
