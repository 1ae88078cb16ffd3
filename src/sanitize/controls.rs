//! Control characters in names from the drive's XML (a `&#10;` in a FilePath) must not forge
//! a line, move the cursor or colour a terminal: every human-readable output escapes them.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with each control character written as a visible escape: `\n`, `\r`, `\t`, or
/// `\u{…}` (C0, DEL, C1, and the bidirectional overrides that reorder what a reader sees).
/// Text without any is returned as it is.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_line_breaks_escape_sequences_and_bidi_overrides() {
        assert_eq!(escape_controls(r"\c\plain.bin"), r"\c\plain.bin");
        assert!(matches!(escape_controls("plain"), Cow::Borrowed(_)));
        assert_eq!(escape_controls("a\nREPAIRED b\r\tc"), r"a\nREPAIRED b\r\tc");
        assert_eq!(escape_controls("\u{1b}[31mred"), r"\u{1b}[31mred");
        assert_eq!(escape_controls("x\u{202e}gpj.exe"), r"x\u{202e}gpj.exe");
        assert_eq!(escape_controls("caf\u{e9}"), "caf\u{e9}");
    }
}
