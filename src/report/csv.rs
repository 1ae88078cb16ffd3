//! The CSV report: one row per component, RFC 4180 (CRLF line ends; a field holding a comma
//! or a quote is quoted, its quotes doubled), UTF-8 without a byte-order mark. Control
//! characters are written as visible escapes (`\n`, `\u{1b}`), as in every report. A field a
//! spreadsheet would take for a formula (it begins with `=`, `+`, `-` or `@`) is written with a
//! `'` before it, as OWASP's advice on CSV injection asks.

use std::io::{self, Write};

use super::Report;

/// The header row, in column order.
pub const COLUMNS: [&str; 14] = [
    "file_path",
    "blob_path",
    "kind",
    "offset",
    "length",
    "status",
    "expected_md5",
    "drive_md5",
    "storage_md5",
    "verified_again",
    "reason",
    "expected_crc64",
    "drive_crc64",
    "storage_crc64",
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
            let md5 = |m: Option<crate::format::Md5>| m.map(|m| m.to_string()).unwrap_or_default();
            let actual = md5(component.actual_md5);
            let storage = md5(component.storage_md5);
            let crc = |c: Option<u64>| c.map(|c| c.to_string()).unwrap_or_default();
            let (expected_crc, drive_crc, storage_crc) = (
                crc(component.expected_crc64),
                crc(component.actual_crc64),
                crc(component.storage_crc64),
            );
            let verified_again = component
                .verified_again
                .and_then(|at| {
                    at.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
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
                    storage.as_str(),
                    verified_again.as_str(),
                    component.reason.as_deref().unwrap_or_default(),
                    expected_crc.as_str(),
                    drive_crc.as_str(),
                    storage_crc.as_str(),
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
    let field = crate::sanitize::escape_controls(field);
    let field = field.as_ref();
    let guarded;
    let field = if field.starts_with(['=', '+', '-', '@']) {
        guarded = format!("'{field}");
        guarded.as_str()
    } else {
        field
    };
    if field.contains([',', '"']) {
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
        assert_eq!(field("a\nb"), "a\\nb", "line breaks are escaped, not kept");
        assert_eq!(field(""), "");
    }

    /// Seen failing with names written as they are: a raw ESC reached the CSV (the console
    /// and the HTML report escape it).
    #[test]
    fn control_characters_are_escaped_as_in_every_report() {
        assert_eq!(field("\\c\\a\u{1b}[31mRED.bin"), "\\c\\a\\u{1b}[31mRED.bin");
        assert_eq!(field("left\u{202e}right"), "left\\u{202e}right");
    }

    #[test]
    fn a_field_a_spreadsheet_would_run_is_text() {
        assert_eq!(
            field("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(field("+1"), "'+1");
        assert_eq!(field("-2"), "'-2");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("\tcmd"), "\\tcmd", "no tab is left to run");
        assert_eq!(field("a=b"), "a=b");
        assert_eq!(field("\\c\\-x"), "\\c\\-x");
    }
}
