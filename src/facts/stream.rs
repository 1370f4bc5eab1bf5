//! Reading a facts document one host at a time, fast and in bounded memory.
//!
//! serde_json's reader-based parser is slow byte by byte, and parsing the
//! whole file at once holds it all in memory. Instead a small structural
//! scanner finds where each element of `hosts` begins and ends (tracking only
//! nesting and strings) and serde_json parses that slice on its own.

use std::io::Read;

use super::HostScan;

/// Why a facts document could not be read, with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct StreamError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

struct Scanner<R> {
    reader: R,
    buf: Vec<u8>,
    /// Start of unread data in `buf`.
    pos: usize,
    eof: bool,
    /// Position of `buf[0]` in the document, for error messages.
    line: usize,
    column: usize,
    /// A later point whose position is known (`buf` index, line, column), so
    /// positions are found without rescanning the buffer from its start.
    checkpoint: (usize, usize, usize),
}

const CHUNK: usize = 1 << 20;

impl<R: Read> Scanner<R> {
    /// Line and column of `buf[at]`, advancing the checkpoint (amortised
    /// linear, and vectorised: it runs for every host of a large file).
    fn position(&mut self, at: usize) -> (usize, usize) {
        let (from, mut line, mut column) = if at >= self.checkpoint.0 {
            self.checkpoint
        } else {
            (0, self.line, self.column)
        };
        let span = &self.buf[from..at.min(self.buf.len())];
        match memchr::memrchr(b'\n', span) {
            Some(last) => {
                line += memchr::memchr_iter(b'\n', span).count();
                column = span.len() - last;
            }
            None => column += span.len(),
        }
        self.checkpoint = (at.min(self.buf.len()), line, column);
        (line, column)
    }

    fn error(&mut self, at: usize, message: impl Into<String>) -> StreamError {
        let (line, column) = self.position(at);
        StreamError {
            line,
            column,
            message: message.into(),
        }
    }

    /// Makes sure `buf[pos + n]` exists, reading more when needed; false at end of input.
    fn fill(&mut self, n: usize) -> Result<bool, StreamError> {
        while self.pos + n >= self.buf.len() {
            if self.eof {
                return Ok(false);
            }
            // Drop what was consumed, keeping positions for messages.
            if self.pos > 0 {
                let (line, column) = self.position(self.pos);
                (self.line, self.column) = (line, column);
                self.buf.drain(..self.pos);
                self.pos = 0;
                self.checkpoint = (0, line, column);
            }
            let start = self.buf.len();
            self.buf.resize(start + CHUNK, 0);
            let read = self
                .reader
                .read(&mut self.buf[start..])
                .map_err(|e| StreamError {
                    line: self.line,
                    column: self.column,
                    message: format!("cannot read: {e}"),
                })?;
            self.buf.truncate(start + read);
            if read == 0 {
                self.eof = true;
            }
        }
        Ok(true)
    }

    fn skip_ws(&mut self) -> Result<(), StreamError> {
        loop {
            if !self.fill(0)? {
                return Ok(());
            }
            match self.buf[self.pos] {
                b' ' | b'\n' | b'\r' | b'\t' => self.pos += 1,
                _ => return Ok(()),
            }
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, StreamError> {
        self.skip_ws()?;
        Ok(if self.fill(0)? {
            Some(self.buf[self.pos])
        } else {
            None
        })
    }

    fn expect(&mut self, c: u8) -> Result<(), StreamError> {
        match self.peek()? {
            Some(b) if b == c => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.error(self.pos, format!("expected `{}`", c as char))),
        }
    }

    /// The length of the JSON value starting at `pos` (whitespace skipped).
    /// Scans the buffered bytes in a tight loop and reads more only at the
    /// end of the buffer: this loop is what makes large fleets fast.
    fn value_len(&mut self) -> Result<usize, StreamError> {
        self.skip_ws()?;
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        let mut i = 0usize;
        loop {
            let avail = &self.buf[self.pos..];
            while i < avail.len() {
                let b = avail[i];
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    } else {
                        // Most bytes are inside strings: jump to the next quote or escape.
                        match memchr::memchr2(b'"', b'\\', &avail[i..]) {
                            Some(skip) => i += skip,
                            None => i = avail.len(),
                        }
                        continue;
                    }
                } else {
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            if depth == 0 {
                                return Ok(i);
                            }
                            depth -= 1;
                            if depth == 0 {
                                return Ok(i + 1);
                            }
                        }
                        b',' | b' ' | b'\n' | b'\r' | b'\t' if depth == 0 => return Ok(i),
                        _ => {}
                    }
                }
                i += 1;
            }
            if !self.fill(i)? {
                return if depth == 0 && !in_string && i > 0 {
                    Ok(i)
                } else {
                    Err(self.error(self.pos + i, "unexpected end of input"))
                };
            }
        }
    }

    /// The next value, parsed as `T` from its own slice.
    fn parse<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, StreamError> {
        let len = self.value_len()?;
        let slice = &self.buf[self.pos..self.pos + len];
        match serde_json::from_slice(slice) {
            Ok(v) => {
                self.pos += len;
                Ok(v)
            }
            Err(e) => {
                let offset = offset_of(slice, &e);
                Err(self.error(self.pos + offset, e.to_string()))
            }
        }
    }
}

/// Reads `{"version": N, "hosts": [...]}` (keys in any order), handing each
/// host to `on_host` as soon as it is read. Returns the version.
pub fn for_each_host<R: Read>(
    reader: R,
    mut on_host: impl FnMut(HostScan),
) -> Result<u32, StreamError> {
    for_each_host_raw(reader, |raw| {
        on_host(raw.parse()?);
        Ok(())
    })
}

/// Byte offset, within the slice it parsed, of a serde_json error (which
/// counts lines and columns from the slice's start).
fn offset_of(slice: &[u8], e: &serde_json::Error) -> usize {
    slice
        .split(|&b| b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum::<usize>()
        + e.column().saturating_sub(1)
}

/// One host's JSON text, not yet parsed, with where it starts in the document.
#[derive(Debug, Clone)]
pub struct RawHost {
    pub json: Vec<u8>,
    pub line: usize,
    pub column: usize,
}

impl RawHost {
    /// Parses it; errors carry the position in the whole document.
    pub fn parse(&self) -> Result<HostScan, StreamError> {
        serde_json::from_slice(&self.json).map_err(|e| {
            let (mut line, mut column) = (self.line, self.column);
            let offset = offset_of(&self.json, &e);
            for &b in &self.json[..offset.min(self.json.len())] {
                if b == b'\n' {
                    line += 1;
                    column = 1;
                } else {
                    column += 1;
                }
            }
            StreamError {
                line,
                column,
                message: e.to_string(),
            }
        })
    }
}

/// Like [`for_each_host`], but hands over each host's text unparsed, so the
/// caller can parse (and plan) many hosts in parallel.
pub fn for_each_host_raw<R: Read>(
    reader: R,
    mut on_host: impl FnMut(RawHost) -> Result<(), StreamError>,
) -> Result<u32, StreamError> {
    let mut s = Scanner {
        reader,
        buf: Vec::with_capacity(CHUNK),
        pos: 0,
        eof: false,
        line: 1,
        column: 1,
        checkpoint: (0, 1, 1),
    };
    s.expect(b'{')?;
    let (mut version, mut hosts) = (None, false);
    if s.peek()? == Some(b'}') {
        s.pos += 1;
    } else {
        loop {
            let key: String = s.parse()?;
            s.expect(b':')?;
            match key.as_str() {
                "version" => version = Some(s.parse::<u32>()?),
                "hosts" => {
                    s.expect(b'[')?;
                    if s.peek()? == Some(b']') {
                        s.pos += 1;
                    } else {
                        loop {
                            let len = s.value_len()?;
                            let (line, column) = s.position(s.pos);
                            on_host(RawHost {
                                json: s.buf[s.pos..s.pos + len].to_vec(),
                                line,
                                column,
                            })?;
                            s.pos += len;
                            match s.peek()? {
                                Some(b',') => s.pos += 1,
                                Some(b']') => {
                                    s.pos += 1;
                                    break;
                                }
                                _ => {
                                    return Err(
                                        s.error(s.pos, "expected `,` or `]` in the hosts list")
                                    );
                                }
                            }
                        }
                    }
                    hosts = true;
                }
                _ => {
                    let len = s.value_len()?;
                    s.pos += len;
                }
            }
            match s.peek()? {
                Some(b',') => s.pos += 1,
                Some(b'}') => {
                    s.pos += 1;
                    break;
                }
                _ => return Err(s.error(s.pos, "expected `,` or `}`")),
            }
        }
    }
    if s.peek()?.is_some() {
        return Err(s.error(s.pos, "trailing characters after the document"));
    }
    if !hosts {
        return Err(s.error(s.pos, "missing field `hosts`"));
    }
    version.ok_or_else(|| s.error(s.pos, "missing field `version`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts_of(text: &str) -> Result<(u32, Vec<String>), StreamError> {
        let mut names = Vec::new();
        let v = for_each_host(text.as_bytes(), |h| names.push(h.host))?;
        Ok((v, names))
    }

    const HOST: &str = r#"{"host":"h\"1}","group":"g","address":"a","transport":"ssh","scannedAt":"2026-12-01T00:00:00Z","durationMs":1,"state":"unreachable","error":"x ] } , \\ y"}"#;

    #[test]
    fn reads_hosts_in_any_layout() {
        let doc = format!("{{\"version\":1,\"hosts\":[{HOST},{HOST}]}}");
        assert_eq!(hosts_of(&doc).unwrap(), (1, vec!["h\"1}".to_string(); 2]));
        let pretty = format!(
            "{{\n  \"extra\": {{\"a\": [1, 2]}},\n  \"hosts\" : [ {HOST} ] ,\n  \"version\" : 1\n}}\n"
        );
        assert_eq!(hosts_of(&pretty).unwrap().1.len(), 1);
        assert_eq!(
            hosts_of("{\"version\":1,\"hosts\":[]}").unwrap(),
            (1, vec![])
        );
    }

    #[test]
    fn the_whole_example_reads_as_serde_would() {
        let text = include_str!("../../examples/facts.json");
        let whole: crate::facts::FleetFacts = serde_json::from_str(text).unwrap();
        let mut streamed = Vec::new();
        let v = for_each_host(text.as_bytes(), |h| streamed.push(h)).unwrap();
        assert_eq!(v, whole.version);
        assert_eq!(streamed, whole.hosts);
    }

    #[test]
    fn errors_carry_document_positions() {
        let e = hosts_of("{\"version\":1,\n\"hosts\":[{\"host\": 3}]}").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("invalid type"), "{e}");
        assert!(hosts_of("{\"version\":1,\"hosts\":[").is_err());
        assert!(
            hosts_of("{\"hosts\":[]}")
                .unwrap_err()
                .message
                .contains("version")
        );
        assert!(hosts_of("[]").is_err());
        assert!(hosts_of("{\"version\":1,\"hosts\":[]} x").is_err());
    }
}
