//! Text from strangers (peer ids, file names, owners, error details) made safe to print on a
//! terminal or into a log line: control characters are shown as escapes, so an ESC sequence in
//! a file name cannot move the cursor, recolour or retitle the operator's terminal.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;

/// `text` with every control character (C0, DEL, C1) and the Unicode line and paragraph
/// separators and bidirectional overrides written as `\x1b` / `\u{202e}` style escapes, and
/// backslashes doubled so escapes cannot be faked. Borrowed when nothing needs escaping.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x100 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// A log writer that escapes each formatted line before it reaches `W`, so strangers' text in
/// any log line (whoever wrote the `tracing` call) cannot carry control sequences. The line's
/// own final newline is kept; colours must be off (`with_ansi(false)`), since their escapes
/// would be escaped too.
pub struct EscapingWriter<W>(pub W);

impl<W: io::Write> io::Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, newline) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (&*text, ""),
        };
        let line = format!("{}{newline}", escape(body));
        self.0.write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::{escape, EscapingWriter};
    use std::io::Write;

    fn check(input: &str, expected: &str) {
        assert_eq!(escape(input), expected, "{input:?}");
    }

    #[test]
    fn control_characters_are_escaped() {
        check("notes.txt", "notes.txt");
        check("café ✓", "café ✓");
        check("\x1b[2J\x1b]0;pwned\x07", "\\x1b[2J\\x1b]0;pwned\\x07");
        check("a\nb\rc\td", "a\\x0ab\\x0dc\\x09d");
        check("\u{9b}31m", "\\x9b31m");
        check("evil\u{202e}txt.exe", "evil\\u{202e}txt.exe");
        check("\\x1b", "\\\\x1b");
        check("\x7f", "\\x7f");
    }

    #[test]
    fn log_lines_are_escaped_but_keep_their_newline() {
        let mut out = EscapingWriter(Vec::new());
        out.write_all(b"INFO got \x1b[31mred\x1b[0m.txt\nfrom x\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "INFO got \\x1b[31mred\\x1b[0m.txt\\x0afrom x\n"
        );
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(escape("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
