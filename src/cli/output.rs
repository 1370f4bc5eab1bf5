//! Writing a command's output: all at once, and a closed pipe (`| head`) is
//! not an error — the reader has what it wanted.

use std::io::{self, Write};

/// Writes `text` to stdout; false only when writing failed for another reason.
pub fn print(text: &str) -> bool {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => true,
        Err(e) => {
            eprintln!("error: cannot write output: {e}");
            false
        }
    }
}
