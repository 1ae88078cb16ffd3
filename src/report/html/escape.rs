//! How every value enters the page: the templates' escaper (templates/askama.toml names it for
//! `.html`), so no value can be markup, whatever a drive's XML or a blob name holds.

use std::fmt::{self, Write};

use crate::sanitize::escape_controls;

/// Escapes text for HTML content and attribute values: `&`, `<`, `>`, `"` and `'` as
/// entities, and control characters (line breaks, escape sequences, bidirectional overrides)
/// written visibly as `\n`, `\u{1b}`, as the console and the headless lines show them.
#[derive(Debug, Clone, Copy)]
pub struct PageText;

impl askama::filters::Escaper for PageText {
    fn write_escaped_str<W: Write>(&self, mut dest: W, text: &str) -> fmt::Result {
        for c in escape_controls(text).chars() {
            match c {
                '&' => dest.write_str("&amp;")?,
                '<' => dest.write_str("&lt;")?,
                '>' => dest.write_str("&gt;")?,
                '"' => dest.write_str("&quot;")?,
                '\'' => dest.write_str("&#39;")?,
                c => dest.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// `text` as the page shows it.
pub fn escape(text: &str) -> String {
    use askama::filters::Escaper as _;
    let mut out = String::with_capacity(text.len());
    // Writing into a String cannot fail.
    let _ = PageText.write_escaped_str(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_control_characters() {
        assert_eq!(
            escape(r#"\a<b>&"c"'d'"#),
            r"\a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;"
        );
        assert_eq!(escape("a\nb\u{1b}[2J\u{202e}c"), r"a\nb\u{1b}[2J\u{202e}c");
    }
}
