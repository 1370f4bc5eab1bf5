//! Terminal styling, decided once: colour only on a TTY and without NO_COLOR.

use std::io::IsTerminal;

#[derive(Debug, Clone, Copy)]
pub struct Style {
    colour: bool,
}

impl Style {
    pub fn for_stdout() -> Style {
        Style {
            colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    pub fn is_colour(&self) -> bool {
        self.colour
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    pub fn red(&self, s: &str) -> String {
        self.paint("31;1", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33;1", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

/// Text from a host, made safe for a terminal: control characters (escape
/// sequences a compromised host could send) are shown escaped, not obeyed.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .replace('\n', " / ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        assert_eq!(
            super::printable("ok\u{1b}[2Jx\nnext"),
            "ok\\u{1b}[2Jx / next"
        );
    }
}
