//! The 2021-08-01 copy log (formats.md §2.6): a sequence of `ErroredEntity` elements, one per
//! file (or container) the service could not export, then one `CopyLog Summary="Summary"`
//! with the drive's figures. No single root, an optional XML declaration, no ranges and no
//! hashes. `Path` is `<container>/<blob>` written raw, not percent-encoded.

use std::io::BufRead;
use std::path::Path;

use quick_xml::events::BytesStart;
use serde::Serialize;

use crate::format::md5::shorten;
use crate::format::status::{CloudFormat, ErrorCategory};
use crate::format::xml::{
    self, ElementPath, FormatError, FormatErrorKind, Handler, Origin, attribute, parse_u64,
    required_attribute,
};

/// The version the summary's `DriveLogVersion` names.
pub const VERSION: &str = "2021-08-01";

/// A parsed 2021-08-01 copy log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyLog2021 {
    /// Every `ErroredEntity`, in the log's order.
    pub entities: Vec<ErroredEntity>,
    pub summary: Summary,
}

/// One file (or container) the service could not export as it was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErroredEntity {
    /// `<container>/<blob>` as the service wrote it (a container's name alone for
    /// container-level entries).
    pub path: String,
    /// Absent in the import samples of container entries.
    pub cloud_format: Option<CloudFormat>,
    pub category: ErrorCategory,
    /// The blob's ETag at export time, without quotes (`0x8D804D8840B92C9`).
    pub etag: Option<String>,
    /// Win32 or HTTP code as written (`267`, `123`, `1`).
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// `File` or `Container` in the samples.
    pub entity_type: Option<String>,
}

/// `CopyLog Summary="Summary"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `DriveLogVersion` (`2021-08-01`).
    pub version: String,
    /// `DriveId`: a GUID in every sample, not the drive's serial number.
    pub drive_id: String,
    /// `Status` (`Succeeded`, `Failed`, …) as written.
    pub status: Option<String>,
    pub total_files: Option<u64>,
    pub files_errored: Option<u64>,
    /// `Summary/ValidationErrors/*` (`None` when there were none).
    pub validation_errors: Vec<CategoryCount>,
    /// `Summary/CopyErrors/*`.
    pub copy_errors: Vec<CategoryCount>,
}

/// One category of the summary: its element name, `Count` and `Description`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryCount {
    pub category: String,
    pub count: u64,
    pub description: Option<String>,
}

impl CopyLog2021 {
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
        let name = origin.name();
        let mut builder = Builder::default();
        xml::walk_sequence(input, origin, &mut builder)?;
        // `Builder::end` refuses a log without a summary; this only keeps the types honest.
        let summary = builder.finished.ok_or_else(|| FormatError {
            file: name,
            line: 0,
            column: 0,
            element: String::new(),
            kind: missing_summary(),
        })?;
        Ok(CopyLog2021 {
            entities: builder.entities,
            summary,
        })
    }
}

#[derive(Default)]
struct Builder {
    entities: Vec<ErroredEntity>,
    entity: Option<EntityBuilder>,
    summary: Option<SummaryBuilder>,
    finished: Option<Summary>,
    /// Where the summary's category counts go while one of its lists is open.
    counts: Option<Vec<CategoryCount>>,
}

#[derive(Default)]
struct EntityBuilder {
    path: String,
    cloud_format: Option<CloudFormat>,
    category: Option<ErrorCategory>,
    etag: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    entity_type: Option<String>,
    /// Which of `ENTITY_FACTS` it had.
    seen: u8,
}

/// An ErroredEntity's children that state one fact each.
const ENTITY_FACTS: [&str; 5] = ["Category", "ETag", "ErrorCode", "ErrorMessage", "Type"];
/// The summary's.
const SUMMARY_FACTS: [&str; 5] = [
    "DriveLogVersion",
    "DriveId",
    "Status",
    "TotalFiles_Blobs",
    "FilesErrored",
];

/// Refuses a second `<child>` where `facts` name it (`seen` keeps which came): a log that
/// states one fact twice (two Categories decide two different repairs) is not taken at its
/// last word.
fn once(seen: &mut u8, facts: &[&str], child: &str) -> Result<(), FormatErrorKind> {
    let Some(index) = facts.iter().position(|fact| *fact == child) else {
        return Ok(());
    };
    let bit = 1 << index;
    if *seen & bit != 0 {
        return Err(invalid(format!("a second <{child}> where one belongs")));
    }
    *seen |= bit;
    Ok(())
}

#[derive(Default)]
struct SummaryBuilder {
    version: Option<String>,
    drive_id: Option<String>,
    status: Option<String>,
    total_files: Option<u64>,
    files_errored: Option<u64>,
    validation_errors: Vec<CategoryCount>,
    copy_errors: Vec<CategoryCount>,
    /// Which of `SUMMARY_FACTS` it had.
    seen: u8,
}

fn invalid(message: impl Into<String>) -> FormatErrorKind {
    FormatErrorKind::Invalid(message.into())
}

/// Text content, trimmed; `None` when blank.
fn text_value(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// A top-level element that does not belong in a 2021 log, and what it probably is.
pub(crate) fn wrong_element(found: &str, expected: &'static str) -> FormatErrorKind {
    let hint = match found {
        "DriveManifest" => " (this looks like a drive manifest: pass it with --manifest)",
        "DriveLog" => " (a DriveLog is a copy log of its own: pass it alone with --copy-log)",
        "File" => " (this looks like a 2021 verbose log: pass it with --verbose-log)",
        "ErroredEntity" | "CopyLog" => {
            " (this looks like a 2021-08-01 copy log: pass it with --copy-log)"
        }
        _ => "",
    };
    FormatErrorKind::WrongElement(format!(
        "<{}> does not belong here: {expected}{hint}",
        shorten(found, 40)
    ))
}

impl Handler for Builder {
    fn open(
        &mut self,
        path: &ElementPath,
        element: &BytesStart<'_>,
    ) -> Result<(), FormatErrorKind> {
        match (path.depth(), path.current()) {
            (1, "ErroredEntity") => {
                if self.finished.is_some() {
                    return Err(invalid(
                        "an ErroredEntity after the CopyLog summary (two logs joined together?)",
                    ));
                }
                let entity_path = required_attribute(element, "Path")?;
                if entity_path.trim().is_empty() {
                    return Err(invalid("the attribute Path is empty"));
                }
                self.entity = Some(EntityBuilder {
                    path: xml::checked_path("Path", entity_path.into_owned())?,
                    cloud_format: attribute(element, "CloudFormat")?
                        .filter(|value| !value.trim().is_empty())
                        .map(|value| CloudFormat::parse(&value)),
                    ..EntityBuilder::default()
                });
            }
            (1, "CopyLog") => {
                if self.finished.is_some() {
                    return Err(invalid("a second CopyLog summary"));
                }
                self.summary = Some(SummaryBuilder::default());
            }
            (1, other) => {
                return Err(wrong_element(
                    other,
                    "a 2021-08-01 copy log holds <ErroredEntity> elements and one <CopyLog> summary",
                ));
            }
            (4, name) if self.counts.is_some() => {
                let count = CategoryCount {
                    category: shorten(name, 80),
                    count: parse_u64("Count", &required_attribute(element, "Count")?)?,
                    description: attribute(element, "Description")?
                        .and_then(|value| text_value(&value)),
                };
                self.counts.get_or_insert_default().push(count);
            }
            (3, "ValidationErrors" | "CopyErrors") if path.parent() == "Summary" => {
                self.counts = Some(Vec::new());
            }
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self, path: &ElementPath, text: &str) -> Result<(), FormatErrorKind> {
        match (path.depth(), path.name_at(0), path.current()) {
            (1, _, "ErroredEntity") => {
                if let Some(entity) = self.entity.take() {
                    self.entities.push(finish_entity(entity)?);
                }
            }
            (2, Some("ErroredEntity"), child) => {
                let Some(entity) = self.entity.as_mut() else {
                    return Ok(());
                };
                once(&mut entity.seen, &ENTITY_FACTS, child)?;
                let value = text_value(text);
                match child {
                    "Category" => {
                        entity.category = Some(ErrorCategory::parse(
                            &value.ok_or_else(|| invalid("Category is empty"))?,
                        ));
                    }
                    "ETag" => entity.etag = value.map(|etag| etag.trim_matches('"').to_string()),
                    "ErrorCode" => entity.error_code = value,
                    "ErrorMessage" => entity.error_message = value,
                    "Type" => entity.entity_type = value,
                    _ => {}
                }
            }
            (1, _, "CopyLog") => {
                if let Some(summary) = self.summary.take() {
                    self.finished = Some(finish_summary(summary)?);
                }
            }
            (3, _, list @ ("ValidationErrors" | "CopyErrors")) if path.parent() == "Summary" => {
                let counts = self.counts.take().unwrap_or_default();
                if let Some(summary) = self.summary.as_mut() {
                    if list == "ValidationErrors" {
                        summary.validation_errors = counts;
                    } else {
                        summary.copy_errors = counts;
                    }
                }
            }
            (2, Some("CopyLog"), child) => {
                let Some(summary) = self.summary.as_mut() else {
                    return Ok(());
                };
                once(&mut summary.seen, &SUMMARY_FACTS, child)?;
                match child {
                    "DriveLogVersion" => summary.version = text_value(text),
                    "DriveId" => summary.drive_id = text_value(text),
                    "Status" => summary.status = text_value(text),
                    "TotalFiles_Blobs" => {
                        summary.total_files = Some(parse_u64("TotalFiles_Blobs", text)?);
                    }
                    "FilesErrored" => {
                        summary.files_errored = Some(parse_u64("FilesErrored", text)?);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), FormatErrorKind> {
        match self.finished {
            Some(_) => Ok(()),
            None => Err(missing_summary()),
        }
    }
}

fn missing_summary() -> FormatErrorKind {
    invalid("the copy log ends without its `CopyLog Summary` (is the file cut short?)")
}

fn finish_entity(entity: EntityBuilder) -> Result<ErroredEntity, FormatErrorKind> {
    let category = entity.category.ok_or_else(|| {
        invalid(format!(
            "the ErroredEntity {:?} has no Category",
            shorten(&entity.path, 200)
        ))
    })?;
    Ok(ErroredEntity {
        path: entity.path,
        cloud_format: entity.cloud_format,
        category,
        etag: entity.etag,
        error_code: entity.error_code,
        error_message: entity.error_message,
        entity_type: entity.entity_type,
    })
}

fn finish_summary(summary: SummaryBuilder) -> Result<Summary, FormatErrorKind> {
    let version = summary
        .version
        .ok_or_else(|| invalid("the CopyLog summary has no DriveLogVersion"))?;
    let drive_id = summary
        .drive_id
        .ok_or_else(|| invalid("the CopyLog summary has no DriveId"))?;
    Ok(Summary {
        version,
        drive_id,
        status: summary.status,
        total_files: summary.total_files,
        files_errored: summary.files_errored,
        validation_errors: summary.validation_errors,
        copy_errors: summary.copy_errors,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The export copy log of Microsoft's "Review copy logs" page (2022), as published.
    pub(crate) const SAMPLE: &str = r#"<ErroredEntity CloudFormat="BlockBlob" Path="export-ut-invaliddirblobpath/movie/sc:Aifi/block.blob">
  <Category>UploadErrorWin32</Category>
  <ETag>0x8D804D8840B92C9</ETag>
  <ErrorCode>267</ErrorCode>
  <ErrorMessage>File Create failed</ErrorMessage>
  <Type>File</Type>
</ErroredEntity><ErroredEntity CloudFormat="BlockBlob" Path="export-ut-invaliddirblobpath/movie/sc-Aifi/block.blob">
  <Category>UploadErrorWin32</Category>
  <ETag>0x8D804D8AD026B2A</ETag>
  <ErrorCode>123</ErrorCode>
  <ErrorMessage>File Create failed</ErrorMessage>
  <Type>File</Type>
</ErroredEntity><ErroredEntity CloudFormat="BlockBlob" Path="export-ut-invaliddirblobpath/movie/sc*Aifi/block.blob">
  <Category>UploadErrorWin32</Category>
  <ETag>0x8D804D8A858F705</ETag>
  <ErrorCode>123</ErrorCode>
  <ErrorMessage>File Create failed</ErrorMessage>
  <Type>File</Type>
</ErroredEntity><CopyLog Summary="Summary">
  <DriveLogVersion>2021-08-01</DriveLogVersion>
  <DriveId>cb57dbe8-0b67-45e0-ad40-a08fb5305c60</DriveId>
  <Status>Failed</Status>
  <TotalFiles_Blobs>9</TotalFiles_Blobs>
  <FilesErrored>6</FilesErrored>
  <Summary>
    <ValidationErrors>
      <None Count="3" />
    </ValidationErrors>
    <CopyErrors>
      <UploadErrorWin32 Count="3" Description="File Create failed because of UploadErrorWin32 exception" />
    </CopyErrors>
  </Summary>
</CopyLog>
"#;

    #[test]
    fn the_export_sample_parses_to_the_right_values() {
        let log = CopyLog2021::parse_str(SAMPLE).unwrap();
        assert_eq!(log.entities.len(), 3);
        let first = &log.entities[0];
        assert_eq!(
            first.path,
            "export-ut-invaliddirblobpath/movie/sc:Aifi/block.blob"
        );
        assert_eq!(first.cloud_format, Some(CloudFormat::BlockBlob));
        assert_eq!(first.category, ErrorCategory::UploadErrorWin32);
        assert_eq!(first.etag.as_deref(), Some("0x8D804D8840B92C9"));
        assert_eq!(first.error_code.as_deref(), Some("267"));
        assert_eq!(first.error_message.as_deref(), Some("File Create failed"));
        assert_eq!(first.entity_type.as_deref(), Some("File"));
        assert_eq!(
            log.entities[2].path,
            "export-ut-invaliddirblobpath/movie/sc*Aifi/block.blob"
        );
        let summary = &log.summary;
        assert_eq!(summary.version, VERSION);
        assert_eq!(summary.drive_id, "cb57dbe8-0b67-45e0-ad40-a08fb5305c60");
        assert_eq!(summary.status.as_deref(), Some("Failed"));
        assert_eq!(
            (summary.total_files, summary.files_errored),
            (Some(9), Some(6))
        );
        assert_eq!(
            summary.validation_errors,
            [CategoryCount {
                category: "None".into(),
                count: 3,
                description: None
            }]
        );
        assert_eq!(summary.copy_errors[0].category, "UploadErrorWin32");
        assert_eq!(summary.copy_errors[0].count, 3);
        assert!(
            summary.copy_errors[0]
                .description
                .as_deref()
                .unwrap()
                .starts_with("File Create failed because")
        );
    }

    #[test]
    fn reads_the_import_sample_with_container_entries_and_a_declaration() {
        let text = r#"<?xml version="1.0" encoding="utf-8"?>
<ErroredEntity Path="CV">
  <Category>ContainerRenamed</Category>
  <ErrorCode>1</ErrorCode>
  <ErrorMessage>The original container/share/Blob has been renamed to: DataBox-6bcae46f-04c8-4385-8442-3a28b962c930 :from: CV :because either name has invalid character(s) or length is not supported</ErrorMessage>
  <Type>Container</Type>
</ErroredEntity>
<CopyLog Summary="Summary">
  <DriveLogVersion>2021-08-01</DriveLogVersion>
  <DriveId>72a1914a-7fb2-4e34-a135-5c7176c3ee41</DriveId>
  <Status>Failed</Status>
  <TotalFiles_Blobs>60</TotalFiles_Blobs>
  <FilesErrored>0</FilesErrored>
</CopyLog>"#;
        let log = CopyLog2021::parse_str(text).unwrap();
        assert_eq!(log.entities[0].cloud_format, None);
        assert_eq!(log.entities[0].category, ErrorCategory::ContainerRenamed);
        assert_eq!(log.entities[0].entity_type.as_deref(), Some("Container"));
        assert!(log.summary.copy_errors.is_empty());
    }

    fn error(text: &str) -> String {
        CopyLog2021::parse_str(text).unwrap_err().to_string()
    }

    #[test]
    fn names_what_is_wrong_and_where() {
        let summary = "<CopyLog Summary=\"Summary\"><DriveLogVersion>2021-08-01</DriveLogVersion><DriveId>D</DriveId></CopyLog>";
        assert_eq!(
            error(&format!(
                "<ErroredEntity Path=\"c/a\"><ETag>0x1</ETag></ErroredEntity>\n{summary}"
            )),
            "<input>:1:43: in <ErroredEntity[1]>: the ErroredEntity \"c/a\" has no Category"
        );
        assert_eq!(
            error(&format!("{summary}\n<ErroredEntity Path=\"c/b\">")),
            "<input>:2:1: in <ErroredEntity[1]>: an ErroredEntity after the CopyLog summary (two logs joined together?)"
        );
        assert_eq!(
            error("<ErroredEntity Path=\"c/a\"><Category>X</Category></ErroredEntity>\n"),
            "<input>:2:1: the copy log ends without its `CopyLog Summary` (is the file cut short?)"
        );
        assert!(
            error(&summary.replace("<DriveId>D</DriveId>", ""))
                .ends_with("the CopyLog summary has no DriveId")
        );
        assert!(
            error(&summary.replace("<DriveLogVersion>2021-08-01</DriveLogVersion>", ""))
                .ends_with("the CopyLog summary has no DriveLogVersion")
        );
        let e = error(&summary.replace("<DriveId>", "<FilesErrored>-1</FilesErrored><DriveId>"));
        assert!(
            e.contains("in <CopyLog/FilesErrored>: FilesErrored \"-1\" is not a whole"),
            "{e}"
        );
        let e = error(&format!(
            "<ErroredEntity><Category>X</Category></ErroredEntity>{summary}"
        ));
        assert!(
            e.contains("1:1: in <ErroredEntity[1]>: the attribute Path is missing"),
            "{e}"
        );
        let e = error(&format!(
            "<ErroredEntity Path=\"a\"><Category>X</Category></ErroredEntity><ErroredEntity Path=\"b\"><Category/></ErroredEntity>{summary}"
        ));
        assert!(
            e.contains("in <ErroredEntity[2]/Category>: Category is empty"),
            "{e}"
        );
        let e = error(&format!(
            "{summary}<File Path=\"c/a\" Size=\"1\" crc64=\"0\"/>"
        ));
        assert!(e.contains("pass it with --verbose-log"), "{e}");
        // One fact stated twice decides nothing: two Categories ask for two different repairs.
        for (twice, element) in [
            (
                "<Category>A</Category><Category>BlobRenamed</Category>",
                "Category",
            ),
            ("<Category>A</Category><ETag>0x1</ETag><ETag/>", "ETag"),
            (
                "<Category>A</Category><Type>File</Type><Type>Dir</Type>",
                "Type",
            ),
        ] {
            let e = error(&format!(
                "<ErroredEntity Path=\"a\">{twice}</ErroredEntity>{summary}"
            ));
            assert!(
                e.contains(&format!(
                    "in <ErroredEntity[1]/{element}[2]>: a second <{element}> where one belongs"
                )),
                "{e}"
            );
        }
        for (first, second, element) in [
            ("<DriveId>D</DriveId>", "<DriveId>E</DriveId>", "DriveId"),
            (
                "<DriveId>",
                "<Status>A</Status><Status>B</Status>",
                "Status",
            ),
            (
                "<DriveId>",
                "<FilesErrored>1</FilesErrored><FilesErrored>0</FilesErrored>",
                "FilesErrored",
            ),
        ] {
            let e = error(&summary.replace(first, &format!("{second}{first}")));
            assert!(
                e.contains(&format!(
                    "/{element}[2]>: a second <{element}> where one belongs"
                )),
                "{e}"
            );
        }
        let e = error(&format!("{summary}{summary}"));
        assert!(e.ends_with("a second CopyLog summary"), "{e}");
        let e = error(&format!("junk {summary}"));
        assert!(
            e.contains("1:1: not well-formed XML: text outside any element"),
            "{e}"
        );
    }
}
