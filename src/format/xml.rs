//! A small streaming walker over quick-xml shared by the manifest, copy-log, verbose-log and
//! properties/metadata parsers: it reads UTF-8 (with or without a byte-order mark) and UTF-16
//! with a byte-order mark, refuses DTDs, resolves the predefined entities only, tracks the
//! element path for error messages and turns byte offsets into line:column.

use std::borrow::Cow;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::text_guard::{self, TextGuard};
use super::utf16::{self, Encoding, Utf16Decoder};

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::md5::shorten;

/// Deeper nesting than any real manifest has: a guard against hostile input.
const MAX_DEPTH: usize = 64;

/// A parse failure, naming the file, the position and the element.
#[derive(Debug, thiserror::Error)]
pub struct FormatError {
    /// The file as the user named it (or `<input>` for in-memory text).
    pub file: String,
    /// 1-based line; 0 when the position is unknown (e.g. an I/O error before reading).
    pub line: u64,
    /// 1-based column in characters.
    pub column: u64,
    /// The element path, e.g. `DriveManifest/Drive/BlobList/Blob[2]/BlockList/Block[17]`.
    pub element: String,
    /// What is wrong.
    #[source]
    pub kind: FormatErrorKind,
}

impl fmt::Display for FormatError {
    /// Control characters escaped: element names and values come from a hostile file and must
    /// not reach the terminal as escape sequences.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.file.clone();
        if self.line > 0 {
            text.push_str(&format!(":{}:{}", self.line, self.column));
        }
        if !self.element.is_empty() {
            text.push_str(&format!(": in <{}>", self.element));
        }
        text.push_str(&format!(": {}", self.kind));
        f.write_str(&crate::sanitize::escape_controls(&text))
    }
}

/// The kinds of format errors.
#[derive(Debug, thiserror::Error)]
pub enum FormatErrorKind {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not well-formed XML: {0}")]
    Syntax(String),
    #[error(
        "a DOCTYPE declaration is refused: the formats use none, and entities can expand without bound"
    )]
    Doctype,
    #[error("undefined entity &{0}; (only the five predefined XML entities are allowed)")]
    UndefinedEntity(String),
    #[error("elements are nested more than {MAX_DEPTH} deep")]
    TooDeep,
    #[error("the root element is <{found}>, expected <{expected}>{hint}")]
    WrongRoot {
        found: String,
        expected: &'static str,
        hint: &'static str,
    },
    /// A top-level element of a sequence document (2021 logs) that does not belong there.
    #[error("{0}")]
    WrongElement(String),
    #[error(
        "this is a 2021-08-01 `CopyLog` (ErroredEntity/CopyLog Summary format), not a DriveLog: \
         read it as a copy log of any generation (AnyCopyLog)"
    )]
    UnsupportedCopyLog,
    #[error(
        "the file looks like UTF-16 ({0}) without a byte-order mark: save it as UTF-8, or as \
         UTF-16 with a byte-order mark (\"Unicode\" in Notepad)"
    )]
    Utf16WithoutBom(&'static str),
    #[error("the file is {0}-compressed, not XML: decompress it first, then give the XML file")]
    Compressed(&'static str),
    #[error(
        "the document is empty (as a copy or download cut short leaves it): copy or fetch it \
         again"
    )]
    Empty,
    #[error("{0}")]
    Invalid(String),
}

/// Receives the document's elements in order.
pub(crate) trait Handler {
    /// An element opened (also called for `<Empty/>` elements, followed by `close`).
    fn open(&mut self, path: &ElementPath, element: &BytesStart<'_>)
    -> Result<(), FormatErrorKind>;
    /// An element closed; `text` is its own text content, entities resolved, not trimmed.
    fn close(&mut self, path: &ElementPath, text: &str) -> Result<(), FormatErrorKind>;
    /// The document ended well-formed: a last chance to say something is missing.
    fn end(&mut self) -> Result<(), FormatErrorKind> {
        Ok(())
    }
}

/// The stack of open elements with their sibling indexes, for error messages and matching.
#[derive(Default)]
pub(crate) struct ElementPath {
    frames: Vec<Frame>,
    /// Counts of top-level names, for documents that are a sequence of elements.
    root_counts: Vec<(String, usize)>,
}

struct Frame {
    name: String,
    /// 1-based index among same-named siblings.
    index: usize,
    /// Counts of child names seen so far (few distinct names per element, so a Vec).
    child_counts: Vec<(String, usize)>,
}

impl ElementPath {
    pub(crate) fn depth(&self) -> usize {
        self.frames.len()
    }

    /// The name of the element at `depth` (0 = root).
    pub(crate) fn name_at(&self, depth: usize) -> Option<&str> {
        self.frames.get(depth).map(|frame| frame.name.as_str())
    }

    /// The current element's name.
    pub(crate) fn current(&self) -> &str {
        self.frames.last().map_or("", |frame| frame.name.as_str())
    }

    /// The parent of the current element.
    pub(crate) fn parent(&self) -> &str {
        let len = self.frames.len();
        if len < 2 {
            return "";
        }
        &self.frames[len - 2].name
    }

    /// True when the open elements are exactly `names`, root first.
    pub(crate) fn is(&self, names: &[&str]) -> bool {
        self.frames.len() == names.len()
            && self
                .frames
                .iter()
                .zip(names)
                .all(|(frame, name)| frame.name == *name)
    }

    fn push(&mut self, name: &str) {
        let counts = match self.frames.last_mut() {
            Some(parent) => &mut parent.child_counts,
            None => &mut self.root_counts,
        };
        let index = match counts.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => {
                *count += 1;
                *count
            }
            None => {
                counts.push((name.to_string(), 1));
                1
            }
        };
        self.frames.push(Frame {
            name: name.to_string(),
            index,
            child_counts: Vec::new(),
        });
    }

    fn pop(&mut self) {
        self.frames.pop();
    }
}

impl fmt::Display for ElementPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (depth, frame) in self.frames.iter().enumerate() {
            if depth > 0 {
                f.write_str("/")?;
            }
            f.write_str(&frame.name)?;
            if frame.index > 1 || is_list_item(&frame.name) {
                write!(f, "[{}]", frame.index)?;
            }
        }
        Ok(())
    }
}

/// Elements that repeat: always shown with their index so a message can be followed.
fn is_list_item(name: &str) -> bool {
    matches!(
        name,
        "Blob" | "Block" | "PageRange" | "BlobList" | "ErroredEntity" | "File"
    )
}

/// Where the input comes from, so that an error's byte offset can become line:column.
pub(crate) enum Origin<'a> {
    File(&'a Path),
    Text(&'a str),
    /// Raw bytes in any of the accepted encodings (fuzzing, tests).
    Bytes(&'a [u8]),
}

impl Origin<'_> {
    pub(crate) fn name(&self) -> String {
        match self {
            Origin::File(path) => path.display().to_string(),
            Origin::Text(_) | Origin::Bytes(_) => "<input>".to_string(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset into the UTF-8 text the
    /// reader saw (after a UTF-8 byte-order mark, or decoded from UTF-16); (0, 0) if unknown.
    fn locate(&self, offset: u64, encoding: Encoding) -> (u64, u64) {
        let take = offset.saturating_add(encoding.utf8_bom_length()) as usize;
        let raw: Box<dyn Read + '_> = match self {
            Origin::Text(text) => Box::new(text.as_bytes()),
            Origin::Bytes(bytes) => Box::new(*bytes),
            Origin::File(path) => match std::fs::File::open(path) {
                Ok(file) => Box::new(BufReader::new(file)),
                Err(_) => return (0, 0),
            },
        };
        let mut raw = BufReader::new(raw);
        match encoding {
            Encoding::Utf16 { big_endian } => {
                // Consuming needs the bytes in the buffer first.
                if raw.fill_buf().is_err() {
                    return (0, 0);
                }
                raw.consume(utf16::BOM_LENGTH);
                let decoded = BufReader::new(Utf16Decoder::new(raw, big_endian))
                    .bytes()
                    .take(take);
                line_column(decoded.map_while(Result::ok))
            }
            Encoding::Utf8 { .. } => line_column(raw.bytes().take(take).map_while(Result::ok)),
        }
    }

    /// Where the first byte that is not UTF-8 is, if any, among the first `within` bytes (a
    /// device or a pipe may never end).
    fn first_invalid_utf8(&self, within: u64) -> Option<u64> {
        match self {
            Origin::Text(_) => None,
            Origin::Bytes(bytes) => first_invalid_utf8_in(bytes.take(within)),
            Origin::File(path) => {
                first_invalid_utf8_in(std::fs::File::open(path).ok()?.take(within))
            }
        }
    }
}

/// Where the first byte of `input` that is not UTF-8 is (a sequence cut off by the end
/// included), read piece by piece.
fn first_invalid_utf8_in(mut input: impl Read) -> Option<u64> {
    let mut buffer = vec![0u8; 64 * 1024];
    // Bytes of a sequence begun at the end of the last piece, moved to the front.
    let mut carried = 0;
    // Where `buffer[0]` is in the input.
    let mut offset = 0u64;
    loop {
        let read = input.read(&mut buffer[carried..]).ok()?;
        let filled = carried + read;
        let valid = match std::str::from_utf8(&buffer[..filled]) {
            Ok(_) if read == 0 => return None,
            Ok(_) => filled,
            Err(error) if error.error_len().is_some() || read == 0 => {
                return Some(offset + error.valid_up_to() as u64);
            }
            Err(error) => error.valid_up_to(),
        };
        buffer.copy_within(valid..filled, 0);
        carried = filled - valid;
        offset += valid as u64;
    }
}

fn line_column(bytes: impl Iterator<Item = u8>) -> (u64, u64) {
    let (mut line, mut column) = (1u64, 1u64);
    let mut bytes = bytes.peekable();
    // A byte-order mark is not a character of the first line.
    if bytes.peek() == Some(&0xEF) {
        let bom: Vec<u8> = bytes.by_ref().take(3).collect();
        if bom != [0xEF, 0xBB, 0xBF] {
            column += bom.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64;
        }
    }
    for byte in bytes {
        if byte == b'\n' {
            line += 1;
            column = 1;
        } else if byte & 0xC0 != 0x80 {
            // Count characters, not UTF-8 continuation bytes.
            column += 1;
        }
    }
    (line, column)
}

/// Walks the whole document, calling `handler` for each element.
pub(crate) fn walk<R: BufRead>(
    input: R,
    origin: Origin<'_>,
    handler: &mut impl Handler,
) -> Result<(), FormatError> {
    walk_with(input, origin, Roots::One, handler)
}

/// [`walk`] for a document that is a sequence of top-level elements with no single root,
/// as the 2021-08-01 copy and verbose logs are.
pub(crate) fn walk_sequence<R: BufRead>(
    input: R,
    origin: Origin<'_>,
    handler: &mut impl Handler,
) -> Result<(), FormatError> {
    walk_with(input, origin, Roots::Many, handler)
}

/// The name of a document's first element, or `None` when the document is not
/// well-formed up to it (the parser that reads it then says what is wrong).
pub(crate) fn root_element(path: &Path) -> Option<String> {
    /// Stops the walk at the first element.
    struct First(Option<String>);
    impl Handler for First {
        fn open(&mut self, path: &ElementPath, _: &BytesStart<'_>) -> Result<(), FormatErrorKind> {
            self.0 = Some(path.current().to_string());
            Err(FormatErrorKind::Empty)
        }
        fn close(&mut self, _: &ElementPath, _: &str) -> Result<(), FormatErrorKind> {
            Ok(())
        }
    }
    let mut first = First(None);
    let _ = walk_with(
        open(path).ok()?,
        Origin::File(path),
        Roots::Many,
        &mut first,
    );
    first.0
}

/// Whether a document has one root element or is a sequence of them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Roots {
    One,
    Many,
}

fn walk_with<R: BufRead>(
    mut input: R,
    origin: Origin<'_>,
    roots: Roots,
    handler: &mut impl Handler,
) -> Result<(), FormatError> {
    let encoding = match input.fill_buf() {
        Ok(start) => utf16::sniff(start),
        Err(error) => Err(FormatErrorKind::Io(error)),
    };
    let encoding = encoding.map_err(|kind| {
        let (line, column) = match kind {
            FormatErrorKind::Io(_) => (0, 0),
            _ => (1, 1),
        };
        FormatError {
            file: origin.name(),
            line,
            column,
            element: String::new(),
            kind,
        }
    })?;
    match encoding {
        Encoding::Utf16 { big_endian } => {
            input.consume(utf16::BOM_LENGTH);
            let decoded = BufReader::with_capacity(64 * 1024, Utf16Decoder::new(input, big_endian));
            walk_utf8(decoded, &origin, encoding, roots, handler)
        }
        Encoding::Utf8 { .. } => walk_utf8(input, &origin, encoding, roots, handler),
    }
}

/// [`walk`] over UTF-8 (decoded from UTF-16 when `encoding` says so).
fn walk_utf8<R: BufRead>(
    input: R,
    origin: &Origin<'_>,
    encoding: Encoding,
    roots: Roots,
    handler: &mut impl Handler,
) -> Result<(), FormatError> {
    let mut reader = Reader::from_reader(TextGuard::new(input));
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::with_capacity(4096);
    let mut path = ElementPath::default();
    let mut text = String::new();
    let mut seen_root = false;
    loop {
        let event_start = reader.buffer_position();
        let fail = |kind: FormatErrorKind, offset: u64, path: &ElementPath| {
            let (line, column) = origin.locate(offset, encoding);
            FormatError {
                file: origin.name(),
                line,
                column,
                element: path.to_string(),
                kind,
            }
        };
        buf.clear();
        reader.get_mut().event_starts();
        let event = match reader.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(error) => {
                let mut position = reader.error_position();
                let kind = match error {
                    quick_xml::Error::Io(io) => {
                        if let Some(bad) = utf16::decode_error(&io) {
                            position = bad.offset;
                            FormatErrorKind::Syntax(format!(
                                "the file is not valid UTF-16 here: {}",
                                bad.reason
                            ))
                        } else if let Some(refused) = text_guard::refused(&io) {
                            // The guard counts the byte-order mark the reader skips.
                            position = refused.offset.saturating_sub(encoding.utf8_bom_length());
                            FormatErrorKind::Syntax(refused.reason.to_string())
                        } else {
                            FormatErrorKind::Io(std::io::Error::new(io.kind(), io.to_string()))
                        }
                    }
                    quick_xml::Error::Encoding(_) => {
                        // The decoder's index is within one event: find the byte itself.
                        // The byte is in the event just read.
                        let within = reader.get_ref().consumed() + 4;
                        if let Some(absolute) = origin.first_invalid_utf8(within) {
                            position = absolute.saturating_sub(encoding.utf8_bom_length());
                        }
                        FormatErrorKind::Syntax("the file is not valid UTF-8 here".into())
                    }
                    other => FormatErrorKind::Syntax(shorten(&other.to_string(), 200)),
                };
                return Err(fail(kind, position, &path));
            }
        };
        let result = match event {
            Event::Start(element) | Event::Empty(element) if path.depth() >= MAX_DEPTH => {
                let _ = element;
                Err(FormatErrorKind::TooDeep)
            }
            Event::Start(element) => {
                if path.depth() == 0 && seen_root && roots == Roots::One {
                    return Err(fail(
                        FormatErrorKind::Syntax("more than one root element".into()),
                        event_start,
                        &path,
                    ));
                }
                seen_root = true;
                text.clear();
                let name = element_name(&element);
                path.push(&name);
                handler.open(&path, &element)
            }
            Event::Empty(element) => {
                if path.depth() == 0 && seen_root && roots == Roots::One {
                    return Err(fail(
                        FormatErrorKind::Syntax("more than one root element".into()),
                        event_start,
                        &path,
                    ));
                }
                seen_root = true;
                text.clear();
                let name = element_name(&element);
                path.push(&name);
                let result = handler
                    .open(&path, &element)
                    .and_then(|()| handler.close(&path, ""));
                if let Err(kind) = result {
                    return Err(fail(kind, event_start, &path));
                }
                path.pop();
                Ok(())
            }
            Event::End(_) => {
                let result = handler.close(&path, &text);
                text.clear();
                if let Err(kind) = result {
                    return Err(fail(kind, event_start, &path));
                }
                path.pop();
                Ok(())
            }
            Event::Text(content) => {
                if path.depth() == 0 && !content.trim().is_empty() {
                    Err(text_outside(roots))
                } else {
                    text.push_str(&content.xml10_content());
                    Ok(())
                }
            }
            Event::CData(_) | Event::GeneralRef(_) if path.depth() == 0 => Err(text_outside(roots)),
            Event::CData(content) => {
                text.push_str(&content);
                Ok(())
            }
            Event::GeneralRef(reference) => resolve_reference(&reference).map(|c| text.push(c)),
            Event::DocType(_) => Err(FormatErrorKind::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => Ok(()),
            Event::Eof => {
                if !seen_root {
                    return Err(fail(FormatErrorKind::Empty, event_start, &path));
                }
                if path.depth() > 0 {
                    return Err(fail(
                        FormatErrorKind::Syntax(format!(
                            "the document ends inside <{}>",
                            path.current()
                        )),
                        event_start,
                        &path,
                    ));
                }
                return handler.end().map_err(|kind| fail(kind, event_start, &path));
            }
        };
        if let Err(kind) = result {
            return Err(fail(kind, event_start, &path));
        }
    }
}

fn text_outside(roots: Roots) -> FormatErrorKind {
    FormatErrorKind::Syntax(match roots {
        Roots::One => "text outside the root element".into(),
        Roots::Many => "text outside any element".into(),
    })
}

fn element_name(element: &BytesStart<'_>) -> String {
    element.name().as_ref().to_string()
}

fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<char, FormatErrorKind> {
    if let Ok(Some(c)) = reference.resolve_char_ref() {
        return Ok(c);
    }
    let name: &str = reference;
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(FormatErrorKind::UndefinedEntity(shorten(other, 40))),
    }
}

/// The value of attribute `name` (exact, then case-insensitive), entities resolved.
pub(crate) fn attribute<'a>(
    element: &'a BytesStart<'_>,
    name: &str,
) -> Result<Option<Cow<'a, str>>, FormatErrorKind> {
    let [value] = attributes(element, [name])?;
    Ok(value)
}

/// Several attributes in one pass over the element, with `attribute`'s matching rules (an
/// exact name wins, else the first case-insensitive match).
///
/// A value with nothing to resolve or normalise (no `&`, tab or line break) is borrowed from
/// the element: a manifest's million blocks then cost no allocation per attribute.
pub(crate) fn attributes<'a, const N: usize>(
    element: &'a BytesStart<'_>,
    names: [&str; N],
) -> Result<[Option<Cow<'a, str>>; N], FormatErrorKind> {
    let mut found: [Option<Cow<'a, str>>; N] = std::array::from_fn(|_| None);
    let mut exact = [false; N];
    for attribute in element.attributes() {
        let attribute =
            attribute.map_err(|error| FormatErrorKind::Syntax(shorten(&error.to_string(), 200)))?;
        let key: &str = attribute.key.as_ref();
        for (index, name) in names.iter().enumerate() {
            let is_exact = key == *name;
            if exact[index]
                || !(is_exact || (found[index].is_none() && key.eq_ignore_ascii_case(name)))
            {
                continue;
            }
            if let Cow::Borrowed(raw) = attribute.value
                && !raw.contains(['&', '\t', '\n', '\r'])
            {
                found[index] = Some(Cow::Borrowed(raw));
                exact[index] = is_exact;
                continue;
            }
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|error| match error {
                    quick_xml::Error::Escape(
                        quick_xml::escape::EscapeError::UnrecognizedEntity(_, entity),
                    ) => FormatErrorKind::UndefinedEntity(shorten(&entity, 40)),
                    other => FormatErrorKind::Syntax(shorten(&other.to_string(), 200)),
                })?;
            found[index] = Some(Cow::Owned(value.into_owned()));
            exact[index] = is_exact;
        }
    }
    Ok(found)
}

/// The longest path a drive's documents can name: NTFS allows 32,767 UTF-16 units.
pub(crate) const LONGEST_PATH: usize = 32_767;

/// `path` (of element or attribute `what`), refused when longer than any NTFS path: every
/// message and report line would repeat it.
pub(crate) fn checked_path(what: &str, path: String) -> Result<String, FormatErrorKind> {
    let units = path.encode_utf16().count();
    if units > LONGEST_PATH {
        return Err(FormatErrorKind::Invalid(format!(
            "{what} is {units} characters long, more than any NTFS path ({LONGEST_PATH})"
        )));
    }
    Ok(path)
}

/// Sets `slot` to `value`, refusing a second `<element>` in one entry: a document that names
/// one fact twice (a second `FilePath`, `Length`, `DriveId`) is not taken at its last word.
pub(crate) fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    element: &str,
) -> Result<(), FormatErrorKind> {
    if slot.is_some() {
        return Err(FormatErrorKind::Invalid(format!(
            "a second <{element}> where one belongs"
        )));
    }
    *slot = Some(value);
    Ok(())
}

/// Parses a non-negative integer attribute or element text.
pub(crate) fn parse_u64(what: &str, text: &str) -> Result<u64, FormatErrorKind> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(FormatErrorKind::Invalid(format!("{what} is empty")));
    }
    trimmed.parse::<u64>().map_err(|_| {
        let reason = if trimmed.bytes().all(|b| b.is_ascii_digit()) {
            "is too large"
        } else {
            "is not a whole non-negative number"
        };
        FormatErrorKind::Invalid(format!("{what} {:?} {reason}", shorten(trimmed, 40)))
    })
}

/// A blob's `Length`: at most 2^63 − 1, the largest offset a file can have (and the largest
/// length the repair file can record).
pub(crate) fn parse_blob_length(text: &str) -> Result<u64, FormatErrorKind> {
    let length = parse_u64("Length", text)?;
    if length > i64::MAX as u64 {
        return Err(FormatErrorKind::Invalid(format!(
            "Length {length} is more than any file can hold (at most {} bytes)",
            i64::MAX
        )));
    }
    Ok(length)
}

/// A required attribute.
pub(crate) fn required_attribute<'a>(
    element: &'a BytesStart<'_>,
    name: &str,
) -> Result<Cow<'a, str>, FormatErrorKind> {
    attribute(element, name)?
        .ok_or_else(|| FormatErrorKind::Invalid(format!("the attribute {name} is missing")))
}

/// Opens a file for one of the parsers, with a buffer large enough for fast streaming.
pub(crate) fn open(path: &Path) -> Result<BufReader<std::fs::File>, FormatError> {
    std::fs::File::open(path)
        .map(|file| BufReader::with_capacity(256 * 1024, file))
        .map_err(|error| FormatError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            element: String::new(),
            kind: FormatErrorKind::Io(error),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first byte that is not UTF-8 is found piece by piece (a sequence split between
    /// pieces is whole), within a bound: a device that never ends is not read for ever.
    #[test]
    fn the_first_invalid_utf8_byte_is_found_within_a_bound() {
        let mut text = "é".repeat(40_000).into_bytes();
        assert_eq!(first_invalid_utf8_in(&text[..]), None);
        text.push(0xC3);
        assert_eq!(
            first_invalid_utf8_in(&text[..]),
            Some(80_000),
            "cut off by the end"
        );
        text.extend(b"(");
        assert_eq!(first_invalid_utf8_in(&text[..]), Some(80_000));
        let endless = std::io::repeat(b'a');
        assert_eq!(first_invalid_utf8_in(endless.take(1 << 20)), None);
        let origin = Origin::File(std::path::Path::new("/dev/zero"));
        assert_eq!(origin.first_invalid_utf8(1 << 20), None);
    }

    struct Collect(Vec<String>);
    impl Handler for Collect {
        fn open(&mut self, _: &ElementPath, _: &BytesStart<'_>) -> Result<(), FormatErrorKind> {
            Ok(())
        }
        fn close(&mut self, path: &ElementPath, text: &str) -> Result<(), FormatErrorKind> {
            self.0.push(format!("{path}={text}"));
            Ok(())
        }
    }

    fn run(text: &str) -> Result<Vec<String>, FormatError> {
        let mut collect = Collect(Vec::new());
        walk(text.as_bytes(), Origin::Text(text), &mut collect).map(|()| collect.0)
    }

    #[test]
    fn resolves_predefined_and_character_entities() {
        let out = run("<a><b>x &amp; &lt;y&gt; &#65;&#x42;</b></a>").unwrap();
        assert_eq!(out[0], "a/b=x & <y> AB");
    }

    /// Plain values are borrowed; entities and whitespace still resolve as the XML spec says.
    #[test]
    fn attribute_values_resolve_entities_and_normalise_whitespace() {
        let element = BytesStart::from_content(
            "Block Offset=\"8\" Id=\"a&amp;b&#65;\" Hash=\"x\ty\" id=\"lower\"",
            5,
        );
        let [offset, id, hash, missing] =
            attributes(&element, ["Offset", "Id", "Hash", "Status"]).unwrap();
        assert!(matches!(offset, Some(Cow::Borrowed("8"))));
        assert_eq!(id.as_deref(), Some("a&bA"), "the exact name wins over `id`");
        assert_eq!(hash.as_deref(), Some("x y"));
        assert_eq!(missing, None);
        let bad = BytesStart::from_content("Block Id=\"&lol;\"", 5);
        assert!(matches!(
            attributes(&bad, ["Id"]),
            Err(FormatErrorKind::UndefinedEntity(ref e)) if e == "lol"
        ));
    }

    #[test]
    fn refuses_doctype_with_position() {
        let text = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">]>\n<a/>";
        let error = run(text).unwrap_err();
        assert!(matches!(error.kind, FormatErrorKind::Doctype));
        assert_eq!(error.line, 2);
        assert_eq!(error.column, 1);
    }

    #[test]
    fn refuses_undefined_entity() {
        let error = run("<a>&lol9;</a>").unwrap_err();
        assert!(matches!(error.kind, FormatErrorKind::UndefinedEntity(ref e) if e == "lol9"));
    }

    #[test]
    fn reports_mismatched_end_tag_with_line() {
        let error = run("<a>\n  <b></c>\n</a>").unwrap_err();
        assert!(matches!(error.kind, FormatErrorKind::Syntax(_)));
        assert_eq!(error.line, 2);
        assert!(error.to_string().starts_with("<input>:2:"), "{error}");
    }

    #[test]
    fn refuses_deep_nesting_and_empty_input() {
        let deep = "<a>".repeat(100);
        assert!(matches!(
            run(&deep).unwrap_err().kind,
            FormatErrorKind::TooDeep
        ));
        assert!(matches!(
            run("  ").unwrap_err().kind,
            FormatErrorKind::Empty
        ));
        assert!(matches!(
            run("<a>").unwrap_err().kind,
            FormatErrorKind::Syntax(_)
        ));
    }

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mut bytes = if big_endian {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for unit in text.encode_utf16() {
            bytes.extend(if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        bytes
    }

    fn run_bytes(bytes: &[u8]) -> Result<Vec<String>, FormatError> {
        let mut collect = Collect(Vec::new());
        walk(bytes, Origin::Bytes(bytes), &mut collect).map(|()| collect.0)
    }

    #[test]
    fn reads_utf16_with_a_byte_order_mark_in_both_byte_orders() {
        let text = "<?xml version=\"1.0\" encoding=\"utf-16\"?>\r\n<a><b>Zürich 🦀 &amp;</b></a>";
        for big_endian in [false, true] {
            let out = run_bytes(&utf16(text, big_endian)).unwrap();
            assert_eq!(out[0], "a/b=Zürich 🦀 &", "big-endian {big_endian}");
        }
    }

    #[test]
    fn positions_in_utf16_count_characters_of_the_decoded_text() {
        let text = "<a>\n  <ü>🦀</c>\n</a>";
        for big_endian in [false, true] {
            let error = run_bytes(&utf16(text, big_endian)).unwrap_err();
            assert!(matches!(error.kind, FormatErrorKind::Syntax(_)), "{error}");
            assert_eq!((error.line, error.column), (2, 7), "{error}");
        }
        // An unpaired surrogate: an error where it is, not a replacement character.
        let mut bytes = utf16("<a>\n xy", false);
        bytes.extend_from_slice(&0xDC00u16.to_le_bytes());
        bytes.extend_from_slice(&utf16("</a>", false)[2..]);
        let error = run_bytes(&bytes).unwrap_err();
        assert_eq!((error.line, error.column), (2, 4), "{error}");
        assert!(
            error.to_string().contains(
                "the file is not valid UTF-16 here: a low surrogate without its high half"
            ),
            "{error}"
        );
    }

    #[test]
    fn utf16_without_a_byte_order_mark_is_named_as_such() {
        let bytes: Vec<u8> = utf16("<a/>", false)[2..].to_vec();
        let error = run_bytes(&bytes).unwrap_err();
        assert_eq!((error.line, error.column), (1, 1));
        assert_eq!(
            error.to_string(),
            "<input>:1:1: the file looks like UTF-16 (little-endian) without a byte-order mark: \
             save it as UTF-8, or as UTF-16 with a byte-order mark (\"Unicode\" in Notepad)"
        );
        let bytes: Vec<u8> = utf16("<a/>", true)[2..].to_vec();
        assert!(matches!(
            run_bytes(&bytes).unwrap_err().kind,
            FormatErrorKind::Utf16WithoutBom("big-endian")
        ));
    }

    #[test]
    fn element_path_indexes_list_items() {
        let out = run("<R><D><L><Blob/><Blob><Block/><Block/></Blob></L></D></R>").unwrap();
        assert!(
            out.contains(&"R/D/L/Blob[2]/Block[2]=".to_string()),
            "{out:?}"
        );
    }
}
