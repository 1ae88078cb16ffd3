//! The CSV report: one row per component, RFC 4180 (CRLF line ends; a field holding a comma,
//! a quote, CR or LF is quoted, its quotes doubled), UTF-8 without a byte-order mark.

use std::io::{self, Write};

use super::Report;

/// The header row, in column order.
pub const COLUMNS: [&str; 9] = [
    "file_path",
    "blob_path",
    "kind",
    "offset",
    "length",
    "status",
    "expected_md5",
    "actual_md5",
    "reason",
];

/// Writes the header and one row per component, in report order. `file_path` is the file
/// the component lives in: the blob's file, or a properties/metadata file's own path.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    write_row(out, COLUMNS.iter().copied())?;
    for file in &report.files {
        for component in &file.components {
            let offset = component.offset.to_string();
            let length = component.length.to_string();
            let expected = component
                .expected_md5
                .map(|m| m.to_string())
                .unwrap_or_default();
            let actual = component
                .actual_md5
                .map(|m| m.to_string())
                .unwrap_or_default();
            write_row(
                out,
                [
                    component.file_path.as_deref().unwrap_or(&file.file_path),
                    file.blob_path.as_str(),
                    component.kind.as_str(),
                    offset.as_str(),
                    length.as_str(),
                    component.status.as_str(),
                    expected.as_str(),
                    actual.as_str(),
                    component.reason.as_deref().unwrap_or_default(),
                ],
            )?;
        }
    }
    Ok(())
}

fn write_row<'a>(out: &mut dyn Write, fields: impl IntoIterator<Item = &'a str>) -> io::Result<()> {
    for (index, field) in fields.into_iter().enumerate() {
        if index > 0 {
            out.write_all(b",")?;
        }
        write_field(out, field)?;
    }
    out.write_all(b"\r\n")
}

fn write_field(out: &mut dyn Write, field: &str) -> io::Result<()> {
    if field.contains([',', '"', '\r', '\n']) {
        out.write_all(b"\"")?;
        out.write_all(field.replace('"', "\"\"").as_bytes())?;
        out.write_all(b"\"")
    } else {
        out.write_all(field.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(text: &str) -> String {
        let mut out = Vec::new();
        write_field(&mut out, text).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn quotes_only_what_rfc_4180_requires() {
        assert_eq!(field(r"\c\plain name.bin"), r"\c\plain name.bin");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\r\nlines"), "\"two\r\nlines\"");
        assert_eq!(field(""), "");
    }
}
