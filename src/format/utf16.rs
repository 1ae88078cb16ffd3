//! Telling the text encodings apart, and UTF-16 decoded to UTF-8 as a stream: Windows tools
//! write manifests and logs as UTF-16 ("Unicode") with a byte-order mark. The decoder is
//! strict: an unpaired surrogate or a dangling byte is an error with its position, never a
//! replacement character that would silently change a path.

use std::io::{self, BufRead, Read};

/// Bytes of a UTF-16 byte-order mark.
pub(crate) const BOM_LENGTH: usize = 2;

/// How a document's bytes encode its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf8 { bom: bool },
    Utf16 { big_endian: bool },
}

impl Encoding {
    /// The UTF-8 byte-order mark's length: quick-xml skips it, so its positions start after it.
    pub(crate) fn utf8_bom_length(self) -> u64 {
        match self {
            Encoding::Utf8 { bom: true } => 3,
            _ => 0,
        }
    }
}

/// The encoding of a document from its first bytes. UTF-16 is recognised by its
/// byte-order mark; UTF-16 text without one (ASCII characters with a zero byte beside each)
/// is refused with a message that says so, since it would otherwise fail as "not UTF-8".
pub(crate) fn sniff(start: &[u8]) -> Result<Encoding, super::FormatErrorKind> {
    match start {
        [0xEF, 0xBB, 0xBF, ..] => Ok(Encoding::Utf8 { bom: true }),
        [0xFF, 0xFE, ..] => Ok(Encoding::Utf16 { big_endian: false }),
        [0xFE, 0xFF, ..] => Ok(Encoding::Utf16 { big_endian: true }),
        [a, 0, b, 0, ..] if is_text(*a) && is_text(*b) => {
            Err(super::FormatErrorKind::Utf16WithoutBom("little-endian"))
        }
        [0, a, 0, b, ..] if is_text(*a) && is_text(*b) => {
            Err(super::FormatErrorKind::Utf16WithoutBom("big-endian"))
        }
        [0x1F, 0x8B, ..] => Err(super::FormatErrorKind::Compressed("gzip")),
        [b'P', b'K', 3, 4, ..] => Err(super::FormatErrorKind::Compressed("zip")),
        _ => Ok(Encoding::Utf8 { bom: false }),
    }
}

/// A printable ASCII character or white space: how an XML document starts.
fn is_text(byte: u8) -> bool {
    byte.is_ascii_graphic() || matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// Why the UTF-16 could not be decoded, and where: `offset` counts the UTF-8 bytes decoded
/// before the fault.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub(crate) struct DecodeError {
    pub(crate) offset: u64,
    pub(crate) reason: &'static str,
}

/// The decoding fault behind an I/O error the reader passed on, if it is one.
pub(crate) fn decode_error(error: &io::Error) -> Option<&DecodeError> {
    error.get_ref()?.downcast_ref::<DecodeError>()
}

/// UTF-16 bytes (after the byte-order mark) read as UTF-8.
pub(crate) struct Utf16Decoder<R> {
    inner: R,
    big_endian: bool,
    /// Decoded bytes not yet handed out, from `start`.
    out: Vec<u8>,
    start: usize,
    /// A byte of a code unit whose other byte is in the next read.
    odd_byte: Option<u8>,
    /// A high surrogate waiting for its low half.
    high: Option<u16>,
    /// UTF-8 bytes decoded so far, handed out or not.
    decoded: u64,
    /// A fault met after some good text: reported once that text is handed out.
    fault: Option<io::Error>,
}

impl<R: BufRead> Utf16Decoder<R> {
    pub(crate) fn new(inner: R, big_endian: bool) -> Self {
        Self {
            inner,
            big_endian,
            out: Vec::new(),
            start: 0,
            odd_byte: None,
            high: None,
            decoded: 0,
            fault: None,
        }
    }

    fn fail(&self, reason: &'static str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            DecodeError {
                offset: self.decoded,
                reason,
            },
        )
    }

    fn push(&mut self, c: char) {
        let mut utf8 = [0u8; 4];
        let encoded = c.encode_utf8(&mut utf8);
        self.out.extend_from_slice(encoded.as_bytes());
        self.decoded += encoded.len() as u64;
    }

    fn unit(&self, pair: [u8; 2]) -> u16 {
        if self.big_endian {
            u16::from_be_bytes(pair)
        } else {
            u16::from_le_bytes(pair)
        }
    }

    /// Decodes the next code unit.
    fn decode_unit(&mut self, unit: u16) -> io::Result<()> {
        match (self.high.take(), unit) {
            (Some(high), 0xDC00..=0xDFFF) => {
                let code =
                    0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                match char::from_u32(code) {
                    Some(c) => self.push(c),
                    None => return Err(self.fail("a surrogate pair that is no character")),
                }
            }
            (Some(_), _) => return Err(self.fail("a high surrogate without its low half")),
            (None, 0xD800..=0xDBFF) => self.high = Some(unit),
            (None, 0xDC00..=0xDFFF) => {
                return Err(self.fail("a low surrogate without its high half"));
            }
            (None, _) => match char::from_u32(u32::from(unit)) {
                Some(c) => self.push(c),
                None => return Err(self.fail("a code unit that is no character")),
            },
        }
        Ok(())
    }

    /// Decodes the next block of input into `out`; false at the end of the input. The text
    /// before a fault is handed out first, so a reader sees everything up to the fault.
    fn refill(&mut self) -> io::Result<bool> {
        self.out.clear();
        self.start = 0;
        if let Some(fault) = self.fault.take() {
            return Err(fault);
        }
        match self.decode_block() {
            Err(fault) if !self.out.is_empty() => {
                self.fault = Some(fault);
                Ok(true)
            }
            result => result,
        }
    }

    fn decode_block(&mut self) -> io::Result<bool> {
        let raw = self.inner.fill_buf()?;
        if raw.is_empty() {
            if self.odd_byte.is_some() {
                return Err(self.fail("the file ends in the middle of a character"));
            }
            if self.high.is_some() {
                return Err(self.fail("a high surrogate without its low half"));
            }
            return Ok(false);
        }
        let raw = raw.to_vec();
        self.inner.consume(raw.len());
        let mut bytes = raw.as_slice();
        if let Some(first) = self.odd_byte.take() {
            let unit = self.unit([first, bytes[0]]);
            self.decode_unit(unit)?;
            bytes = &bytes[1..];
        }
        let mut pairs = bytes.chunks_exact(2);
        for pair in pairs.by_ref() {
            let unit = self.unit([pair[0], pair[1]]);
            self.decode_unit(unit)?;
        }
        self.odd_byte = pairs.remainder().first().copied();
        Ok(true)
    }
}

impl<R: BufRead> Read for Utf16Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.start == self.out.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let available = &self.out[self.start..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str, big_endian: bool) -> Vec<u8> {
        text.encode_utf16()
            .flat_map(|unit| {
                if big_endian {
                    unit.to_be_bytes()
                } else {
                    unit.to_le_bytes()
                }
            })
            .collect()
    }

    fn decode(bytes: &[u8], big_endian: bool) -> io::Result<String> {
        let mut out = String::new();
        // One byte at a time through a tiny buffer: units and surrogate pairs split across reads.
        let inner = io::BufReader::with_capacity(1, bytes);
        Utf16Decoder::new(inner, big_endian).read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn decodes_both_byte_orders_with_pairs_split_across_reads() {
        let text = "<a>Zürich 🦀 \\c\\ö.bin</a>";
        assert_eq!(decode(&encode(text, false), false).unwrap(), text);
        assert_eq!(decode(&encode(text, true), true).unwrap(), text);
    }

    #[test]
    fn refuses_broken_utf16_with_the_offset() {
        let mut bytes = encode("ab", false);
        bytes.extend_from_slice(&0xDC00u16.to_le_bytes());
        let error = decode(&bytes, false).unwrap_err();
        let bad = decode_error(&error).unwrap();
        assert_eq!(
            (bad.offset, bad.reason),
            (2, "a low surrogate without its high half")
        );
        let mut bytes = encode("abc", false);
        bytes.push(b'd');
        let error = decode(&bytes, false).unwrap_err();
        assert_eq!(decode_error(&error).unwrap().offset, 3);
        let mut bytes = encode("a", true);
        bytes.extend_from_slice(&0xD83Eu16.to_be_bytes());
        bytes.extend_from_slice(&encode("b", true));
        let error = decode(&bytes, true).unwrap_err();
        assert_eq!(
            decode_error(&error).unwrap().reason,
            "a high surrogate without its low half"
        );
    }

    #[test]
    fn sniffs_byte_order_marks_and_bomless_utf16() {
        use super::super::FormatErrorKind::Utf16WithoutBom;
        assert_eq!(sniff(b"<a/>").unwrap(), Encoding::Utf8 { bom: false });
        assert_eq!(
            sniff(b"\xEF\xBB\xBF<").unwrap(),
            Encoding::Utf8 { bom: true }
        );
        assert_eq!(
            sniff(b"\xFF\xFE<\0").unwrap(),
            Encoding::Utf16 { big_endian: false }
        );
        assert_eq!(
            sniff(b"\xFE\xFF\0<").unwrap(),
            Encoding::Utf16 { big_endian: true }
        );
        assert!(matches!(
            sniff(b"<\0?\0"),
            Err(Utf16WithoutBom("little-endian"))
        ));
        assert!(matches!(
            sniff(b"\0<\0?"),
            Err(Utf16WithoutBom("big-endian"))
        ));
        assert_eq!(sniff(b"").unwrap(), Encoding::Utf8 { bom: false });
        // Compressed (a log kept gzipped, or zipped): said so, not "a NUL byte" at 1:3.
        assert!(matches!(
            sniff(b"\x1F\x8B\x08\0\0"),
            Err(super::super::FormatErrorKind::Compressed("gzip"))
        ));
        assert!(matches!(
            sniff(b"PK\x03\x04\x14"),
            Err(super::super::FormatErrorKind::Compressed("zip"))
        ));
        // Control bytes are not text: binary junk stays "not UTF-8" / "text outside".
        assert_eq!(
            sniff(b"\0\x01binary").unwrap(),
            Encoding::Utf8 { bom: false }
        );
    }
}
