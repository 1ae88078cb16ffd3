//! Properties and metadata files (formats.md §3): read, and written the way a repair
//! regenerates them (UTF-8 without BOM, the documented elements in the documented order).

use std::io::BufRead;
use std::path::Path;

use quick_xml::events::BytesStart;
use serde::Serialize;

use super::xml::{self, ElementPath, FormatError, FormatErrorKind, Handler, Origin};

/// A blob's properties file. Values are kept as written (dates are not reformatted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PropertiesFile {
    pub last_modified: Option<String>,
    pub etag: Option<String>,
    pub content_length: Option<String>,
    pub content_type: Option<String>,
    pub content_md5: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
}

/// A blob's metadata file: name/value pairs in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MetadataFile {
    pub entries: Vec<(String, String)>,
}

const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

impl PropertiesFile {
    /// The elements in the documented order, with their values.
    fn fields(&self) -> [(&'static str, &Option<String>); 8] {
        [
            ("Last-Modified", &self.last_modified),
            ("Etag", &self.etag),
            ("Content-Length", &self.content_length),
            ("Content-Type", &self.content_type),
            ("Content-MD5", &self.content_md5),
            ("Content-Encoding", &self.content_encoding),
            ("Content-Language", &self.content_language),
            ("Cache-Control", &self.cache_control),
        ]
    }

    fn field_mut(&mut self, element: &str) -> Option<&mut Option<String>> {
        Some(match element {
            "Last-Modified" => &mut self.last_modified,
            "Etag" | "ETag" => &mut self.etag,
            "Content-Length" => &mut self.content_length,
            "Content-Type" => &mut self.content_type,
            "Content-MD5" => &mut self.content_md5,
            "Content-Encoding" => &mut self.content_encoding,
            "Content-Language" => &mut self.content_language,
            "Cache-Control" => &mut self.cache_control,
            _ => return None,
        })
    }

    /// Reads a properties file.
    pub fn from_file(path: &Path) -> Result<Self, FormatError> {
        Self::from_reader(xml::open(path)?, Origin::File(path))
    }

    /// Reads a properties file from text.
    pub fn parse_str(text: &str) -> Result<Self, FormatError> {
        Self::from_reader(text.as_bytes(), Origin::Text(text))
    }

    fn from_reader(input: impl BufRead, origin: Origin<'_>) -> Result<Self, FormatError> {
        let mut reader = PropertiesReader::default();
        xml::walk(input, origin, &mut reader)?;
        Ok(reader.0)
    }

    /// The file's bytes: absent properties are left out.
    pub fn to_xml(&self) -> String {
        let mut out = String::from(DECLARATION);
        out.push_str("<Properties>\n");
        for (name, value) in self.fields() {
            if let Some(value) = value {
                out.push_str(&format!("  <{name}>{}</{name}>\n", escape(value)));
            }
        }
        out.push_str("</Properties>\n");
        out
    }
}

#[derive(Default)]
struct PropertiesReader(PropertiesFile);

impl Handler for PropertiesReader {
    fn open(&mut self, path: &ElementPath, _: &BytesStart<'_>) -> Result<(), FormatErrorKind> {
        if path.depth() == 1 && path.current() != "Properties" {
            return Err(FormatErrorKind::WrongRoot {
                found: super::md5::shorten(path.current(), 40),
                expected: "Properties",
                hint: "",
            });
        }
        Ok(())
    }

    fn close(&mut self, path: &ElementPath, text: &str) -> Result<(), FormatErrorKind> {
        if path.depth() == 2 {
            // Unknown properties are tolerated: newer services may write more.
            if let Some(field) = self.0.field_mut(path.current()) {
                *field = Some(text.trim().to_string());
            }
        }
        Ok(())
    }
}

impl MetadataFile {
    /// Reads a metadata file.
    pub fn from_file(path: &Path) -> Result<Self, FormatError> {
        Self::from_reader(xml::open(path)?, Origin::File(path))
    }

    /// Reads a metadata file from text.
    pub fn parse_str(text: &str) -> Result<Self, FormatError> {
        Self::from_reader(text.as_bytes(), Origin::Text(text))
    }

    fn from_reader(input: impl BufRead, origin: Origin<'_>) -> Result<Self, FormatError> {
        let mut reader = MetadataReader::default();
        xml::walk(input, origin, &mut reader)?;
        Ok(reader.0)
    }

    /// The file's bytes. Names that are not XML names cannot be written in this format.
    pub fn to_xml(&self) -> Result<String, InvalidMetadataName> {
        let mut out = String::from(DECLARATION);
        out.push_str("<Metadata>\n");
        for (name, value) in &self.entries {
            if !is_xml_name(name) {
                return Err(InvalidMetadataName(name.clone()));
            }
            out.push_str(&format!("  <{name}>{}</{name}>\n", escape(value)));
        }
        out.push_str("</Metadata>\n");
        Ok(out)
    }
}

/// A metadata name that cannot be an element name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("metadata name {0:?} cannot be written as an XML element name")]
pub struct InvalidMetadataName(pub String);

#[derive(Default)]
struct MetadataReader(MetadataFile);

impl Handler for MetadataReader {
    fn open(&mut self, path: &ElementPath, _: &BytesStart<'_>) -> Result<(), FormatErrorKind> {
        if path.depth() == 1 && path.current() != "Metadata" {
            return Err(FormatErrorKind::WrongRoot {
                found: super::md5::shorten(path.current(), 40),
                expected: "Metadata",
                hint: "",
            });
        }
        if path.depth() > 2 {
            return Err(FormatErrorKind::Invalid(
                "metadata values are text; nested elements are not allowed".into(),
            ));
        }
        Ok(())
    }

    fn close(&mut self, path: &ElementPath, text: &str) -> Result<(), FormatErrorKind> {
        if path.depth() == 2 {
            self.0
                .entries
                .push((path.current().to_string(), text.to_string()));
        }
        Ok(())
    }
}

/// The first character of `text` no XML 1.0 document can hold, escaped or not (C0 controls
/// but tab, line feed and carriage return; U+FFFE, U+FFFF).
pub fn first_unwritable_char(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
    })
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// Azure metadata names are C# identifiers; accept exactly those, which are XML names.
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && !name.to_ascii_lowercase().starts_with("xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_no_xml_file_can_hold_are_found() {
        assert_eq!(first_unwritable_char("a\tb\nc\rd é ✓"), None);
        assert_eq!(first_unwritable_char("a\u{1}b\u{1b}c"), Some('\u{1}'));
        assert_eq!(first_unwritable_char("\u{ffff}"), Some('\u{ffff}'));
    }

    #[test]
    fn reads_the_documented_properties_sample_despite_its_layout() {
        let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<Properties>
    <Last-Modified>Sat, 12 Oct 2013 19:13:40 GMT</Last-Modified>
    <Etag>0x8D0958BDC8C6A1F</Etag>
    <Content-Length>10884</Content-Length>
    <Content-Type>image/jpeg</Content-Type>
    <Content-MD5>Q2hlY2sgSW50ZWdyaXR5IQ==</Content-MD5>
    <Cache-Control>no-cache</Cache-Control>
    <x-ms-unknown>kept out</x-ms-unknown>
</Properties>"#;
        let properties = PropertiesFile::parse_str(text).unwrap();
        assert_eq!(properties.etag.as_deref(), Some("0x8D0958BDC8C6A1F"));
        assert_eq!(properties.content_length.as_deref(), Some("10884"));
        assert_eq!(
            properties.content_md5.as_deref(),
            Some("Q2hlY2sgSW50ZWdyaXR5IQ==")
        );
        assert_eq!(properties.content_encoding, None);
    }

    #[test]
    fn properties_round_trip_in_documented_order() {
        let properties = PropertiesFile {
            last_modified: Some("Tue, 18 Sep 2012 23:47:08 GMT".into()),
            etag: Some("\"0x1\"".into()),
            content_length: Some("3".into()),
            content_type: Some("text/plain; charset=<utf-8>".into()),
            cache_control: Some("max-age=1".into()),
            ..PropertiesFile::default()
        };
        let xml = properties.to_xml();
        assert!(xml.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Properties>\n  <Last-Modified>"
        ));
        assert!(xml.find("<Etag>").unwrap() < xml.find("<Content-Length>").unwrap());
        assert!(xml.contains("charset=&lt;utf-8&gt;"));
        assert_eq!(PropertiesFile::parse_str(&xml).unwrap(), properties);
    }

    #[test]
    fn metadata_round_trips_and_refuses_bad_names() {
        let metadata = MetadataFile {
            entries: vec![
                (
                    "UploadMethod".into(),
                    "Windows Azure Import/Export service".into(),
                ),
                ("DataSetName".into(), "täst & <more>".into()),
            ],
        };
        let xml = metadata.to_xml().unwrap();
        assert_eq!(MetadataFile::parse_str(&xml).unwrap(), metadata);
        let bad = MetadataFile {
            entries: vec![("1abc".into(), "x".into())],
        };
        assert!(bad.to_xml().is_err());
        assert!(MetadataFile::parse_str("<Metadata><a><b/></a></Metadata>").is_err());
        assert!(MetadataFile::parse_str("<Properties/>").is_err());
    }
}
