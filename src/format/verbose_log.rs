//! The 2021-08-01 verbose log (formats.md §2.6): a sequence of
//! `<File CloudFormat="…" ETag="0x…" Path="<container>/<blob>" Size="…" crc64="…"></File>`,
//! one per file the service exported successfully, with no root and no summary. `crc64` is
//! decimal and is Azure Storage's CRC-64 (see [`super::crc64`]); `Path` is raw.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use quick_xml::events::BytesStart;
use serde::Serialize;

use super::copylog::v2021::wrong_element;
use super::md5::shorten;
use super::status::CloudFormat;
use super::xml::{
    self, ElementPath, FormatError, FormatErrorKind, Handler, Origin, attributes, parse_u64,
};

/// More than any export drive holds (the largest disks hold about 27 TiB): a verbose log whose
/// files add up to more is refused where it does so, rather than cut into millions of chunks
/// (at most 4 Mi chunks, some 350 MB of components; hostile input must not exhaust memory).
pub const MAX_TOTAL_SIZE: u64 = 32 << 40;

/// A parsed verbose log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerboseLog {
    pub files: Vec<VerboseFile>,
}

/// One exported file: what the service wrote and how to check it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerboseFile {
    /// `<container>/<blob>` as the service wrote it.
    pub path: String,
    pub cloud_format: CloudFormat,
    /// The blob's ETag at export time, without quotes; absent in import logs.
    pub etag: Option<String>,
    /// Bytes in the file.
    pub size: u64,
    /// CRC-64/NVME of the whole file.
    pub crc64: u64,
}

impl VerboseLog {
    pub fn from_file(path: &Path) -> Result<Self, FormatError> {
        Self::from_reader(xml::open(path)?, Origin::File(path))
    }

    pub fn parse_str(text: &str) -> Result<Self, FormatError> {
        Self::from_reader(text.as_bytes(), Origin::Text(text))
    }

    /// Reads bytes in any accepted encoding (UTF-8, UTF-16 with a byte-order mark).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        Self::from_reader(bytes, Origin::Bytes(bytes))
    }

    fn from_reader(input: impl BufRead, origin: Origin<'_>) -> Result<Self, FormatError> {
        let mut builder = Builder::default();
        xml::walk_sequence(input, origin, &mut builder)?;
        Ok(VerboseLog {
            files: builder.files,
        })
    }
}

#[derive(Default)]
struct Builder {
    files: Vec<VerboseFile>,
    /// Path → 1-based index of the `File` that listed it.
    seen: HashMap<String, usize>,
    /// The sizes of the files so far.
    total: u64,
}

impl Handler for Builder {
    fn open(
        &mut self,
        path: &ElementPath,
        element: &BytesStart<'_>,
    ) -> Result<(), FormatErrorKind> {
        if path.depth() != 1 {
            return Ok(());
        }
        if path.current() != "File" {
            return Err(wrong_element(
                path.current(),
                "a 2021 verbose log holds <File> elements",
            ));
        }
        let [file_path, cloud_format, etag, size, crc64] =
            attributes(element, ["Path", "CloudFormat", "ETag", "Size", "crc64"])?;
        let missing =
            |name: &str| FormatErrorKind::Invalid(format!("the attribute {name} is missing"));
        let file_path = xml::checked_path(
            "Path",
            file_path.ok_or_else(|| missing("Path"))?.into_owned(),
        )?;
        if file_path.trim().is_empty() {
            return Err(FormatErrorKind::Invalid(
                "the attribute Path is empty".into(),
            ));
        }
        let cloud_format = cloud_format
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| missing("CloudFormat"))?;
        let size = parse_u64("Size", &size.ok_or_else(|| missing("Size"))?)?;
        let crc64 = parse_u64("crc64", &crc64.ok_or_else(|| missing("crc64"))?)?;
        self.total = self
            .total
            .checked_add(size)
            .filter(|&total| total <= MAX_TOTAL_SIZE)
            .ok_or_else(|| {
                FormatErrorKind::Invalid(format!(
                    "Size {size} brings the files listed to more than any export drive holds \
                     (32 TiB): is it the right log?"
                ))
            })?;
        let index = self.files.len() + 1;
        if let Some(first) = self.seen.insert(file_path.clone(), index) {
            return Err(FormatErrorKind::Invalid(format!(
                "the Path {:?} is listed twice (first by File[{first}])",
                shorten(&file_path, 200)
            )));
        }
        self.files.push(VerboseFile {
            path: file_path,
            cloud_format: CloudFormat::parse(&cloud_format),
            etag: etag
                .map(|etag| etag.trim().trim_matches('"').to_string())
                .filter(|etag| !etag.is_empty()),
            size,
            crc64,
        });
        Ok(())
    }

    fn close(&mut self, _: &ElementPath, _: &str) -> Result<(), FormatErrorKind> {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The export verbose log of Microsoft's "Review copy logs" page (2022), as published.
    pub(crate) const SAMPLE: &str = r#"<File CloudFormat="BlockBlob" ETag="0x8D804D87F976907" Path="export-blobs/movie/sc%3Aifi/block.blob" Size="4096" crc64="16033727819182370206">
</File><File CloudFormat="BlockBlob" ETag="0x8D804D889880CC6" Path="export-blobs/movie/sc#Aifi/block.blob" Size="4096" crc64="16033727819182370206">
</File><File CloudFormat="BlockBlob" ETag="0x8D804D8F1BC81C0" Path="export-blobs/@GMT-2001.03.30-14.44.00/block.blob" Size="4096" crc64="16033727819182370206">
</File>
"#;

    #[test]
    fn the_export_sample_parses_with_raw_paths() {
        let log = VerboseLog::parse_str(SAMPLE).unwrap();
        assert_eq!(log.files.len(), 3);
        assert_eq!(
            log.files[0],
            VerboseFile {
                path: "export-blobs/movie/sc%3Aifi/block.blob".into(),
                cloud_format: CloudFormat::BlockBlob,
                etag: Some("0x8D804D87F976907".into()),
                size: 4096,
                crc64: 16_033_727_819_182_370_206,
            }
        );
        assert_eq!(log.files[1].path, "export-blobs/movie/sc#Aifi/block.blob");
        assert_eq!(
            log.files[2].path,
            "export-blobs/@GMT-2001.03.30-14.44.00/block.blob"
        );
    }

    #[test]
    fn reads_the_import_sample_without_etags() {
        let text = r#"<File CloudFormat="PageBlob" Path="tesdirf631630d/file_size0.txt" Size="0" crc64="0">
</File><File CloudFormat="AzureFile" Path="e579954d\file1.block" Size="1024" crc64="1410470866535975213">
</File>"#;
        let log = VerboseLog::parse_str(text).unwrap();
        assert_eq!(log.files[0].etag, None);
        assert_eq!(log.files[0].cloud_format, CloudFormat::PageBlob);
        assert_eq!(log.files[1].cloud_format, CloudFormat::AzureFile);
        assert_eq!(log.files[1].crc64, 1_410_470_866_535_975_213);
    }

    #[test]
    fn files_adding_up_to_more_than_any_drive_are_refused_where_they_do() {
        let twenty_tib = 20u64 << 40;
        let text = format!(
            "<File CloudFormat=\"PageBlob\" Path=\"c/a\" Size=\"{twenty_tib}\" crc64=\"0\"/>\n\
             <File CloudFormat=\"PageBlob\" Path=\"c/b\" Size=\"{twenty_tib}\" crc64=\"0\"/>"
        );
        assert_eq!(
            error(&text),
            format!(
                "<input>:2:1: in <File[2]>: Size {twenty_tib} brings the files listed to more \
                 than any export drive holds (32 TiB): is it the right log?"
            )
        );
    }

    fn error(text: &str) -> String {
        VerboseLog::parse_str(text).unwrap_err().to_string()
    }

    #[test]
    fn names_what_is_wrong_and_where() {
        let file = r#"<File CloudFormat="BlockBlob" Path="c/a" Size="4" crc64="1"/>"#;
        assert_eq!(
            error(&format!(
                "{file}\n{}",
                file.replace("c/a", "c/b").replace("\"1\"", "\"0x1F\"")
            )),
            "<input>:2:1: in <File[2]>: crc64 \"0x1F\" is not a whole non-negative number"
        );
        assert_eq!(
            error(&format!("{file}\n  {file}")),
            "<input>:2:3: in <File[2]>: the Path \"c/a\" is listed twice (first by File[1])"
        );
        assert!(error(&file.replace(" Size=\"4\"", "")).ends_with("the attribute Size is missing"));
        assert!(
            error(&file.replace(" crc64=\"1\"", "")).ends_with("the attribute crc64 is missing")
        );
        assert!(error(&file.replace("c/a", " ")).ends_with("the attribute Path is empty"));
        assert!(
            error(&file.replace(" CloudFormat=\"BlockBlob\"", ""))
                .ends_with("the attribute CloudFormat is missing")
        );
        assert!(
            error(&file.replace("\"1\"", "\"18446744073709551616\""))
                .ends_with("crc64 \"18446744073709551616\" is too large")
        );
        let e = error("<ErroredEntity Path=\"c/a\"/>");
        assert!(
            e.contains(
                "<ErroredEntity> does not belong here: a 2021 verbose log holds <File> elements"
            ),
            "{e}"
        );
        assert!(e.contains("pass it with --copy-log"), "{e}");
        assert!(error("").ends_with(
            "the document is empty (as a copy or download cut short leaves it): copy or fetch it \
             again"
        ));
        assert!(
            error(&format!("{file}\n----------CUT----------\n{file}"))
                .contains("not well-formed XML: text outside any element")
        );
    }
}
