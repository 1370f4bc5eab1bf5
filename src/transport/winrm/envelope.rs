//! The WS-Management SOAP requests of a WinRS session (MS-WSMV): create a
//! shell, run a command in it, send stdin, receive output, signal, delete.
//! Built as text, every value escaped; the header carries what Windows'
//! own clients send (locale, envelope size, operation timeout, session).

use base64::Engine;

pub const SHELL_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
const SHELL_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

/// `&`, `<`, `>`, `"` and `'` as entities: safe in text and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// What every request of one session shares.
#[derive(Debug, Clone)]
pub struct Session {
    /// The endpoint, `http(s)://host:port/wsman`.
    pub to: String,
    /// `uuid:…`, the same for the whole session.
    pub session_id: String,
    pub max_envelope_size: u32,
    /// Seconds the service may hold a Receive before it answers TimedOut.
    pub operation_timeout_secs: u32,
}

impl Session {
    pub fn new(to: &str) -> Session {
        Session {
            to: to.to_string(),
            session_id: format!("uuid:{}", uuid::Uuid::new_v4().to_string().to_uppercase()),
            max_envelope_size: 153_600,
            operation_timeout_secs: 20,
        }
    }
}

/// A `wsman:Option`: name, value, and whether the service must honour it.
struct Opt<'a>(&'a str, &'a str, bool);

fn envelope(
    s: &Session,
    action: &str,
    shell_id: Option<&str>,
    options: &[Opt<'_>],
    body: &str,
) -> String {
    let message_id = format!("uuid:{}", uuid::Uuid::new_v4().to_string().to_uppercase());
    let mut h = String::with_capacity(1024 + body.len());
    h.push_str(concat!(
        r#"<s:Envelope xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell""#,
        r#" xmlns:s="http://www.w3.org/2003/05/soap-envelope""#,
        r#" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing""#,
        r#" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd""#,
        r#" xmlns:wsmv="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header>"#
    ));
    h.push_str(&format!(
        r#"<wsa:Action s:mustUnderstand="true">{}</wsa:Action>"#,
        escape(action)
    ));
    h.push_str(r#"<wsmv:DataLocale s:mustUnderstand="false" xml:lang="en-US" />"#);
    h.push_str(r#"<wsman:Locale s:mustUnderstand="false" xml:lang="en-US" />"#);
    h.push_str(&format!(
        r#"<wsman:MaxEnvelopeSize s:mustUnderstand="true">{}</wsman:MaxEnvelopeSize>"#,
        s.max_envelope_size
    ));
    h.push_str(&format!("<wsa:MessageID>{message_id}</wsa:MessageID>"));
    h.push_str(&format!(
        "<wsman:OperationTimeout>PT{}S</wsman:OperationTimeout>",
        s.operation_timeout_secs
    ));
    h.push_str(&format!(
        r#"<wsa:ReplyTo><wsa:Address s:mustUnderstand="true">{ANONYMOUS}</wsa:Address></wsa:ReplyTo>"#
    ));
    h.push_str(&format!(
        r#"<wsman:ResourceURI s:mustUnderstand="true">{SHELL_URI}</wsman:ResourceURI>"#
    ));
    h.push_str(&format!(
        r#"<wsmv:SessionId s:mustUnderstand="false">{}</wsmv:SessionId>"#,
        escape(&s.session_id)
    ));
    h.push_str(&format!("<wsa:To>{}</wsa:To>", escape(&s.to)));
    if !options.is_empty() {
        h.push_str(r#"<wsman:OptionSet s:mustUnderstand="true">"#);
        for Opt(name, value, must) in options {
            let must = if *must { r#" MustComply="true""# } else { "" };
            h.push_str(&format!(
                r#"<wsman:Option{must} Name="{}">{}</wsman:Option>"#,
                escape(name),
                escape(value)
            ));
        }
        h.push_str("</wsman:OptionSet>");
    }
    if let Some(id) = shell_id {
        h.push_str(&format!(
            r#"<wsman:SelectorSet><wsman:Selector Name="ShellId">{}</wsman:Selector></wsman:SelectorSet>"#,
            escape(id)
        ));
    }
    h.push_str("</s:Header>");
    if body.is_empty() {
        h.push_str("<s:Body />");
    } else {
        h.push_str("<s:Body>");
        h.push_str(body);
        h.push_str("</s:Body>");
    }
    h.push_str("</s:Envelope>");
    h
}

/// How the shell is created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellOptions {
    /// Output code page (65001: UTF-8).
    pub codepage: Option<u32>,
    /// Do not load the user's profile (faster, and nothing of it interferes).
    pub no_profile: bool,
    pub environment: Vec<(String, String)>,
}

pub fn create_shell(s: &Session, o: &ShellOptions) -> String {
    let codepage = o.codepage.map(|c| c.to_string());
    let mut options = Vec::new();
    if o.no_profile {
        options.push(Opt("WINRS_NOPROFILE", "TRUE", true));
    }
    if let Some(c) = &codepage {
        options.push(Opt("WINRS_CODEPAGE", c, false));
    }
    let mut body = String::from(
        "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>",
    );
    if !o.environment.is_empty() {
        body.push_str("<rsp:Environment>");
        for (k, v) in &o.environment {
            body.push_str(&format!(
                r#"<rsp:Variable Name="{}">{}</rsp:Variable>"#,
                escape(k),
                escape(v)
            ));
        }
        body.push_str("</rsp:Environment>");
    }
    body.push_str("</rsp:Shell>");
    envelope(s, &format!("{TRANSFER}/Create"), None, &options, &body)
}

/// Runs `program` with `arguments`, each sent as given (WinRS joins them
/// with spaces into the command line; quoting is the caller's). With
/// `skip_cmd_shell` the process starts directly, not under `cmd.exe /c`,
/// so no cmd metacharacter (`&`, `|`, `>`…) in an argument means anything.
pub fn command(
    s: &Session,
    shell_id: &str,
    program: &str,
    arguments: &[String],
    skip_cmd_shell: bool,
) -> String {
    let mut body = format!(
        "<rsp:CommandLine><rsp:Command>{}</rsp:Command>",
        escape(program)
    );
    for a in arguments {
        body.push_str(&format!("<rsp:Arguments>{}</rsp:Arguments>", escape(a)));
    }
    body.push_str("</rsp:CommandLine>");
    envelope(
        s,
        &format!("{SHELL_NS}/Command"),
        Some(shell_id),
        &[Opt(
            "WINRS_SKIP_CMD_SHELL",
            if skip_cmd_shell { "True" } else { "False" },
            false,
        )],
        &body,
    )
}

pub fn receive(s: &Session, shell_id: &str, command_id: &str) -> String {
    envelope(
        s,
        &format!("{SHELL_NS}/Receive"),
        Some(shell_id),
        &[Opt("WSMAN_CMDSHELL_OPTION_KEEPALIVE", "True", false)],
        &format!(
            r#"<rsp:Receive><rsp:DesiredStream CommandId="{}">stdout stderr</rsp:DesiredStream></rsp:Receive>"#,
            escape(command_id)
        ),
    )
}

/// A piece of stdin; `end` closes it.
pub fn send(s: &Session, shell_id: &str, command_id: &str, data: &[u8], end: bool) -> String {
    envelope(
        s,
        &format!("{SHELL_NS}/Send"),
        Some(shell_id),
        &[],
        &format!(
            r#"<rsp:Send><rsp:Stream CommandId="{}" End="{}" Name="stdin">{}</rsp:Stream></rsp:Send>"#,
            escape(command_id),
            if end { "True" } else { "False" },
            base64::engine::general_purpose::STANDARD.encode(data)
        ),
    )
}

/// `ctrl_c` after a command ends (lets the service free it), `terminate`
/// to stop one.
pub fn signal(s: &Session, shell_id: &str, command_id: &str, code: &str) -> String {
    envelope(
        s,
        &format!("{SHELL_NS}/Signal"),
        Some(shell_id),
        &[],
        &format!(
            r#"<rsp:Signal CommandId="{}"><rsp:Code>{SHELL_NS}/signal/{}</rsp:Code></rsp:Signal>"#,
            escape(command_id),
            escape(code)
        ),
    )
}

pub fn delete(s: &Session, shell_id: &str) -> String {
    envelope(s, &format!("{TRANSFER}/Delete"), Some(shell_id), &[], "")
}

/// The bytes of a `Send` envelope around `n` bytes of stdin: what is left
/// of MaxEnvelopeSize decides how much stdin one request can carry.
pub fn send_overhead(s: &Session) -> usize {
    send(
        s,
        "00000000-0000-0000-0000-000000000000",
        "00000000-0000-0000-0000-000000000000",
        &[],
        false,
    )
    .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_parse() {
        let s = Session::new("http://h:5985/wsman");
        let xml = command(
            &s,
            "S",
            "cmd.exe",
            &["/c echo a&b <c> \"d\" 'e'".into()],
            true,
        );
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let arg = doc
            .descendants()
            .find(|n| n.has_tag_name((SHELL_NS, "Arguments")))
            .unwrap();
        assert_eq!(arg.text(), Some("/c echo a&b <c> \"d\" 'e'"));
    }
}
