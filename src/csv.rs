//! CSV for spreadsheets (RFC 4180), safe to open: a field that a
//! spreadsheet would run as a formula (leading `=`, `+`, `-`, `@`) is
//! prefixed with `'`.

/// One field, quoted when it holds a comma, quote or line break.
pub fn field(f: &str) -> String {
    let f = match f.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{f}"),
        _ => f.to_string(),
    };
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f
    }
}

/// One row of fields, ending in a newline.
pub fn row<S: AsRef<str>>(fields: &[S]) -> String {
    let line: Vec<String> = fields.iter().map(|f| field(f.as_ref())).collect();
    line.join(",") + "\n"
}
