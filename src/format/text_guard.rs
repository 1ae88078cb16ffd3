//! What the XML reader is refused before it buffers it: the reader keeps each event (a text
//! run, a tag, a comment) whole until it ends, so a file of NUL bytes (what a cut-short,
//! preallocated download leaves), a tag that never closes or an endless stream (`/dev/zero`,
//! `yes '<'`) would fill memory before any error.

use std::io::{self, BufRead, Read};

/// The longest event (text, tag, comment) a drive's documents can hold: their longest text is
/// a path (at most 32,767 UTF-16 units, some 100 KB of UTF-8).
pub(crate) const LONGEST_EVENT: u64 = 64 * 1024 * 1024;

/// Why the text was refused, and where: `offset` counts the bytes the reader saw before it.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub(crate) struct Refused {
    pub(crate) offset: u64,
    pub(crate) reason: &'static str,
}

/// The refusal behind an I/O error the reader passed on, if it is one.
pub(crate) fn refused(error: &io::Error) -> Option<&Refused> {
    error.get_ref()?.downcast_ref::<Refused>()
}

/// Hands bytes on as `inner` gives them, refusing a NUL and an event longer than
/// [`LONGEST_EVENT`] as soon as either arrives.
pub(crate) struct TextGuard<R> {
    inner: R,
    /// Bytes consumed before the current buffer.
    consumed: u64,
    /// Bytes of the current buffer already looked at.
    looked_at: usize,
    /// Where the event being read began.
    event_start: u64,
}

impl<R: BufRead> TextGuard<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            consumed: 0,
            looked_at: 0,
            event_start: 0,
        }
    }

    /// Bytes the reader took so far.
    pub(crate) fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The reader begins an event at the next byte: it may be [`LONGEST_EVENT`] long.
    pub(crate) fn event_starts(&mut self) {
        self.event_start = self.consumed;
    }
}

impl<R: BufRead> Read for TextGuard<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for TextGuard<R> {
    /// Hands on the bytes before a refused one; the refusal comes when the reader reaches it,
    /// so that its error names the element the reader is in.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let buffer = self.inner.fill_buf()?;
        for (index, &byte) in buffer.iter().enumerate().skip(self.looked_at) {
            let in_event = self.consumed + index as u64 - self.event_start;
            let refusal = match byte {
                0 => Some("a NUL byte, which no XML document holds"),
                // A `<` right after text as long as it may be begins the next event (looked at
                // before the reader says so).
                b'<' if in_event == LONGEST_EVENT => None,
                _ if in_event >= LONGEST_EVENT => Some(
                    "more than 64 MiB of one text, tag or comment (a tag never closed?), which \
                     no drive document holds",
                ),
                _ => None,
            };
            if let Some(reason) = refusal {
                if index > 0 {
                    self.looked_at = index;
                    return Ok(&buffer[..index]);
                }
                let offset = self.consumed;
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    Refused { offset, reason },
                ));
            }
        }
        self.looked_at = buffer.len();
        Ok(buffer)
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
        self.consumed += amount as u64;
        self.looked_at = self.looked_at.saturating_sub(amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        // A small buffer, so that runs and offsets cross buffers.
        TextGuard::new(io::BufReader::with_capacity(7, bytes)).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn markup_passes_unchanged() {
        let text = "<a>\n  <b x=\"1\">text</b>\n</a>\n".repeat(50);
        assert_eq!(read_all(text.as_bytes()).unwrap(), text.as_bytes());
    }

    #[test]
    fn a_nul_is_refused_where_it_is() {
        let error = read_all(b"<a>0123456789\0</a>").unwrap_err();
        let refusal = refused(&error).unwrap();
        assert_eq!(refusal.offset, 13);
        assert!(refusal.reason.contains("NUL"), "{refusal}");
    }

    /// Reads `bytes` through the guard as the XML reader does: a new event at a `<` in text
    /// and after a `>`.
    fn read_events(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut guard = TextGuard::new(io::BufReader::with_capacity(7, bytes));
        let mut out = Vec::new();
        let mut in_tag = false;
        loop {
            let Some(&byte) = guard.fill_buf()?.first() else {
                return Ok(out);
            };
            if byte == b'<' && !in_tag {
                guard.event_starts();
                in_tag = true;
            }
            out.push(byte);
            guard.consume(1);
            if byte == b'>' {
                guard.event_starts();
                in_tag = false;
            }
        }
    }

    #[test]
    fn an_event_is_refused_after_the_longest_a_document_holds() {
        let mut long = b"<a>".to_vec();
        long.extend(std::iter::repeat_n(b'x', LONGEST_EVENT as usize));
        long.extend(b"</a>");
        long.extend(std::iter::repeat_n(b'y', 100));
        assert_eq!(read_events(&long).unwrap(), long);
        long.insert(3, b'z');
        let error = read_events(&long).unwrap_err();
        assert_eq!(refused(&error).unwrap().offset, 3 + LONGEST_EVENT);
        // A tag that never closes, whatever it holds (`<` included).
        let unclosed: Vec<u8> = b"<a>"
            .iter()
            .chain(b"<\n".iter().cycle().take(LONGEST_EVENT as usize + 2))
            .copied()
            .collect();
        let error = read_events(&unclosed).unwrap_err();
        let refusal = refused(&error).unwrap();
        assert_eq!(
            refusal.offset,
            3 + LONGEST_EVENT + 1,
            "the first byte past, not a `<`"
        );
        assert!(refusal.reason.contains("a tag never closed?"), "{refusal}");
        let only_opened = vec![b'<'; LONGEST_EVENT as usize + 2];
        let error = read_events(&only_opened).unwrap_err();
        assert_eq!(refused(&error).unwrap().offset, LONGEST_EVENT + 1);
    }
}
