//! The copy log (`DriveLog`, formats.md §2): the service's account of what it wrote to the
//! drive. Classic (2014-11-01, unversioned) and 2018-10-01 logs are read here; the 2021-08-01
//! `CopyLog` has a reader of its own ([`v2021`]), and [`AnyCopyLog`] picks the right one.

mod any;
pub mod v2021;

pub use any::AnyCopyLog;

use std::io::BufRead;
use std::path::Path;

use quick_xml::events::BytesStart;
use serde::Serialize;

use super::manifest::{RangeKind, RangeLike, check_ranges};
use super::md5::{Md5, shorten};
use super::status::{BlobStatus, DriveStatus, FileStatus, RangeStatus};
use super::xml::{
    self, ElementPath, FormatError, FormatErrorKind, Handler, Origin, attribute, checked_path,
    parse_blob_length, parse_u64, required_attribute, set_once,
};

/// A parsed copy log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyLog {
    pub version: Option<String>,
    pub drive_id: String,
    pub blobs: Vec<LogBlob>,
    /// The closing drive status; absent in a truncated log.
    pub status: Option<DriveStatus>,
}

/// One `Blob` entry of the log: a blob (or exported file) and how its copy went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogBlob {
    pub status: BlobStatus,
    pub blob_path: String,
    pub file_path: String,
    pub snapshot: Option<String>,
    pub length: Option<u64>,
    /// As written (ISO-8601 UTC in every sample).
    pub last_modified: Option<String>,
    pub kind: Option<RangeKind>,
    pub ranges: Vec<LogRange>,
    pub metadata: Option<LogSideFile>,
    pub properties: Option<LogSideFile>,
}

/// A block or page range of the log; unlike the manifest, `Hash` and `Id` are optional.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRange {
    pub offset: u64,
    pub length: u64,
    pub id: Option<String>,
    pub hash: Option<Md5>,
    pub status: RangeStatus,
}

impl RangeLike for LogRange {
    fn offset(&self) -> u64 {
        self.offset
    }
    fn length(&self) -> u64 {
        self.length
    }
}

/// A `Metadata` or `Properties` element of the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogSideFile {
    pub status: FileStatus,
    pub path: Option<String>,
    pub hash: Option<Md5>,
}

impl CopyLog {
    /// Reads a copy log file (verbose or error log).
    pub fn from_file(path: &Path) -> Result<Self, FormatError> {
        Self::from_reader(xml::open(path)?, Origin::File(path))
    }

    /// Reads a copy log from text (tests, fuzzing).
    pub fn parse_str(text: &str) -> Result<Self, FormatError> {
        Self::from_reader(text.as_bytes(), Origin::Text(text))
    }

    /// Reads a copy log file, handing each range to `sink` as soon as it is read (once its
    /// blob's BlobPath and FilePath are known): a verbose log of millions of blocks is never held whole.
    /// The ranges `sink` keeps (or that come before their FilePath) stay in the result.
    pub fn stream_file(path: &Path, sink: &mut dyn RangeSink) -> Result<Self, FormatError> {
        Self::read(xml::open(path)?, Origin::File(path), Some(sink))
    }

    fn from_reader(input: impl BufRead, origin: Origin<'_>) -> Result<Self, FormatError> {
        Self::read(input, origin, None)
    }

    fn read(
        input: impl BufRead,
        origin: Origin<'_>,
        sink: Option<&mut dyn RangeSink>,
    ) -> Result<Self, FormatError> {
        let mut builder = Builder {
            sink,
            ..Builder::default()
        };
        xml::walk(input, origin, &mut builder)?;
        Ok(CopyLog {
            version: builder.version,
            drive_id: builder.drive_id.unwrap_or_default(),
            blobs: builder.blobs,
            status: builder.status,
        })
    }

    /// Blobs that need work: every one whose status is not `Completed`, or that lists a range
    /// or side file that is not `Completed`.
    pub fn failed_blobs(&self) -> impl Iterator<Item = &LogBlob> {
        self.blobs.iter().filter(|blob| blob.needs_repair())
    }
}

impl CopyLog {
    /// The log in the service's DriveLog layout (schema order: Length before LastModified).
    pub fn to_xml(&self) -> String {
        use std::fmt::Write as _;
        let e = |text: &str| quick_xml::escape::escape(text).into_owned();
        let hash = |hash: &Option<Md5>| hash.map(|h| format!(" Hash=\"{h}\"")).unwrap_or_default();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = match &self.version {
            Some(version) => writeln!(out, "<DriveLog Version=\"{}\">", e(version)),
            None => writeln!(out, "<DriveLog>"),
        };
        let _ = writeln!(out, "  <DriveId>{}</DriveId>", e(&self.drive_id));
        for blob in &self.blobs {
            let _ = writeln!(out, "  <Blob Status=\"{}\">", e(blob.status.as_str()));
            let _ = writeln!(out, "    <BlobPath>{}</BlobPath>", e(&blob.blob_path));
            let _ = writeln!(out, "    <FilePath>{}</FilePath>", e(&blob.file_path));
            if let Some(snapshot) = &blob.snapshot {
                let _ = writeln!(out, "    <Snapshot>{}</Snapshot>", e(snapshot));
            }
            if let Some(length) = blob.length {
                let _ = writeln!(out, "    <Length>{length}</Length>");
            }
            if let Some(last_modified) = &blob.last_modified {
                let _ = writeln!(out, "    <LastModified>{}</LastModified>", e(last_modified));
            }
            if let Some(kind) = blob.kind {
                let _ = writeln!(out, "    <{}>", kind.list_element());
                for range in &blob.ranges {
                    let id = range
                        .id
                        .as_deref()
                        .map(|id| format!(" Id=\"{}\"", e(id)))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "      <{} Offset=\"{}\" Length=\"{}\"{id}{} Status=\"{}\" />",
                        kind.element(),
                        range.offset,
                        range.length,
                        hash(&range.hash),
                        e(range.status.as_str())
                    );
                }
                let _ = writeln!(out, "    </{}>", kind.list_element());
            }
            for (element, side) in [
                ("Metadata", &blob.metadata),
                ("Properties", &blob.properties),
            ] {
                let Some(side) = side else { continue };
                match &side.path {
                    Some(path) => {
                        let _ = writeln!(
                            out,
                            "    <{element} Status=\"{}\">\n      <Path{}>{}</Path>\n    </{element}>",
                            e(side.status.as_str()),
                            hash(&side.hash),
                            e(path)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "    <{element} Status=\"{}\" />",
                            e(side.status.as_str())
                        );
                    }
                }
            }
            out.push_str("  </Blob>\n");
        }
        if let Some(status) = &self.status {
            let _ = writeln!(out, "  <Status>{}</Status>", e(status.as_str()));
        }
        out.push_str("</DriveLog>\n");
        out
    }
}

impl LogBlob {
    /// Whether anything of this entry is not `Completed`.
    pub fn needs_repair(&self) -> bool {
        !self.status.is_completed()
            || self.ranges.iter().any(|r| !r.status.is_completed())
            || [&self.metadata, &self.properties]
                .into_iter()
                .flatten()
                .any(|side| !side.status.is_completed())
    }
}

/// Takes a copy log's ranges as they are read (see `CopyLog::stream_file`). The log's own
/// checks (order, overlap, within Length) still run when the blob's element closes.
pub trait RangeSink {
    /// A range of the blob with this BlobPath and FilePath: `None` takes it, `Some(range)`
    /// gives it back to be kept with its blob.
    fn range(
        &mut self,
        blob_path: &str,
        file_path: &str,
        kind: RangeKind,
        range: LogRange,
    ) -> Option<LogRange>;
}

/// Where a range handed to the sink was, for the log's checks at the blob's end.
struct Span {
    offset: u64,
    length: u64,
}

impl RangeLike for Span {
    fn offset(&self) -> u64 {
        self.offset
    }
    fn length(&self) -> u64 {
        self.length
    }
}

#[derive(Default)]
struct Builder<'s> {
    sink: Option<&'s mut dyn RangeSink>,
    version: Option<String>,
    drive_id: Option<String>,
    status: Option<DriveStatus>,
    blobs: Vec<LogBlob>,
    blob: Option<BlobBuilder>,
    side: Option<LogSideFile>,
}

#[derive(Default)]
struct BlobBuilder {
    status: Option<BlobStatus>,
    blob_path: Option<String>,
    file_path: Option<String>,
    snapshot: Option<String>,
    length: Option<u64>,
    last_modified: Option<String>,
    kind: Option<RangeKind>,
    ranges: Vec<LogRange>,
    /// Every range when some went to a sink (theirs are not in `ranges`).
    streamed: Vec<Span>,
    metadata: Option<LogSideFile>,
    properties: Option<LogSideFile>,
}

fn invalid(message: impl Into<String>) -> FormatErrorKind {
    FormatErrorKind::Invalid(message.into())
}

fn optional_hash(element: &BytesStart<'_>) -> Result<Option<Md5>, FormatErrorKind> {
    parse_hash(attribute(element, "Hash")?)
}

fn parse_hash(value: Option<impl AsRef<str>>) -> Result<Option<Md5>, FormatErrorKind> {
    match value {
        Some(value) if !value.as_ref().trim().is_empty() => Md5::parse_hex(value.as_ref())
            .map(Some)
            .map_err(|error| invalid(format!("Hash {error}"))),
        _ => Ok(None),
    }
}

fn status_attribute(element: &BytesStart<'_>) -> Result<String, FormatErrorKind> {
    Ok(required_attribute(element, "Status")?.trim().to_string())
}

/// Root names of the 2021-08-01 log generation.
fn is_2021_copy_log(root: &str) -> bool {
    matches!(
        root,
        "CopyLog" | "ErroredEntity" | "ErroredEntities" | "File" | "VerboseLog"
    )
}

impl Handler for Builder<'_> {
    fn open(
        &mut self,
        path: &ElementPath,
        element: &BytesStart<'_>,
    ) -> Result<(), FormatErrorKind> {
        let depth = path.depth();
        let name = path.current();
        if depth == 1 {
            return match name {
                "DriveLog" => {
                    self.version = attribute(element, "Version")?.map(|v| v.trim().to_string());
                    Ok(())
                }
                root if is_2021_copy_log(root) => Err(FormatErrorKind::UnsupportedCopyLog),
                other => Err(FormatErrorKind::WrongRoot {
                    found: shorten(other, 40),
                    expected: "DriveLog",
                    hint: if other == "DriveManifest" {
                        " (this looks like a drive manifest: pass it with --manifest)"
                    } else {
                        ""
                    },
                }),
            };
        }
        if path.name_at(1) != Some("Blob") {
            return Ok(());
        }
        match (depth, name) {
            (2, "Blob") => {
                self.blob = Some(BlobBuilder {
                    status: Some(BlobStatus::parse(&status_attribute(element)?)),
                    ..BlobBuilder::default()
                });
            }
            (3, list @ ("BlockList" | "PageRangeList")) => {
                let kind = if list == "BlockList" {
                    RangeKind::Block
                } else {
                    RangeKind::Page
                };
                // Depth-2 `Blob` opened it; the reader checks the nesting.
                let Some(blob) = self.blob.as_mut() else {
                    return Ok(());
                };
                if blob.kind.is_some_and(|existing| existing != kind) {
                    return Err(invalid(
                        "a Blob has both a BlockList and a PageRangeList; it must have one",
                    ));
                }
                blob.kind = Some(kind);
            }
            (4, range @ ("Block" | "PageRange"))
                if path.parent() == RangeKind::from_element(range).list_element() =>
            {
                // One pass over the attributes: a verbose log has one element per block.
                let [offset, length, id, hash, status] =
                    xml::attributes(element, ["Offset", "Length", "Id", "Hash", "Status"])?;
                let required = |value: Option<_>, name: &str| {
                    value.ok_or_else(|| invalid(format!("the attribute {name} is missing")))
                };
                let offset = parse_u64("Offset", &required(offset, "Offset")?)?;
                let length = parse_u64("Length", &required(length, "Length")?)?;
                let id = id
                    .map(|id| id.trim().to_string())
                    .filter(|id| !id.is_empty());
                let hash = parse_hash(hash)?;
                let status = RangeStatus::parse(&required(status, "Status")?);
                // Depth-2 `Blob` opened it; the reader checks the nesting.
                let Some(blob) = self.blob.as_mut() else {
                    return Ok(());
                };
                let range = LogRange {
                    offset,
                    length,
                    id,
                    hash,
                    status,
                };
                let kept = match (
                    self.sink.as_mut(),
                    &blob.blob_path,
                    &blob.file_path,
                    blob.kind,
                ) {
                    (Some(sink), Some(blob_path), Some(file_path), Some(kind)) => {
                        sink.range(blob_path, file_path, kind, range)
                    }
                    _ => Some(range),
                };
                match kept {
                    None => blob.streamed.push(Span { offset, length }),
                    Some(range) => {
                        if !blob.streamed.is_empty() {
                            blob.streamed.push(Span { offset, length });
                        }
                        blob.ranges.push(range);
                    }
                }
            }
            (3, "Metadata" | "Properties") => {
                self.side = Some(LogSideFile {
                    status: FileStatus::parse(&status_attribute(element)?),
                    path: None,
                    hash: None,
                });
            }
            (4, "Path") if matches!(path.parent(), "Metadata" | "Properties") => {
                let hash = optional_hash(element)?;
                if let Some(side) = self.side.as_mut() {
                    side.hash = hash;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self, path: &ElementPath, text: &str) -> Result<(), FormatErrorKind> {
        let depth = path.depth();
        match (depth, path.current()) {
            (2, "DriveId") => {
                let id = text.trim();
                if id.is_empty() {
                    return Err(invalid("DriveId is empty"));
                }
                return set_once(&mut self.drive_id, id.to_string(), "DriveId");
            }
            (2, "Status") => {
                self.status = Some(DriveStatus::parse(text));
                return Ok(());
            }
            (1, _) if self.drive_id.is_none() => {
                return Err(invalid("the DriveLog has no DriveId"));
            }
            _ => {}
        }
        if path.name_at(1) != Some("Blob") {
            return Ok(());
        }
        let Some(blob) = self.blob.as_mut() else {
            return Ok(());
        };
        let value = || text.trim().to_string();
        match (depth, path.current()) {
            (3, "BlobPath") => {
                set_once(
                    &mut blob.blob_path,
                    checked_path("BlobPath", value())?,
                    "BlobPath",
                )?;
            }
            (3, "FilePath") => {
                set_once(
                    &mut blob.file_path,
                    checked_path("FilePath", value())?,
                    "FilePath",
                )?;
            }
            (3, "Snapshot") => blob.snapshot = Some(value()).filter(|s| !s.is_empty()),
            (3, "Length") => set_once(&mut blob.length, parse_blob_length(text)?, "Length")?,
            (3, "LastModified") => blob.last_modified = Some(value()).filter(|s| !s.is_empty()),
            (4, "Path") if matches!(path.parent(), "Metadata" | "Properties") => {
                if let Some(side) = self.side.as_mut() {
                    let logged = checked_path("Path", value())?;
                    if !logged.is_empty() {
                        set_once(&mut side.path, logged, "Path")?;
                    }
                }
            }
            (3, side @ ("Metadata" | "Properties")) => {
                let Some(file) = self.side.take() else {
                    return Ok(());
                };
                if side == "Metadata" {
                    set_once(&mut blob.metadata, file, side)?;
                } else {
                    set_once(&mut blob.properties, file, side)?;
                }
            }
            (2, "Blob") => {
                if let Some(blob) = self.blob.take() {
                    self.blobs.push(finish_blob(blob)?);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl RangeKind {
    fn from_element(element: &str) -> Self {
        if element == "Block" {
            RangeKind::Block
        } else {
            RangeKind::Page
        }
    }
}

fn finish_blob(blob: BlobBuilder) -> Result<LogBlob, FormatErrorKind> {
    let blob_path = blob
        .blob_path
        .filter(|p| !p.is_empty())
        .ok_or_else(|| invalid("the Blob has no BlobPath"))?;
    let file_path = blob
        .file_path
        .filter(|p| !p.is_empty())
        .ok_or_else(|| invalid(format!("the Blob {blob_path:?} has no FilePath")))?;
    let mut ranges = blob.ranges;
    if let Some(kind) = blob.kind {
        let length = blob.length.unwrap_or(u64::MAX);
        let mut streamed = blob.streamed;
        check_ranges(kind, length, &mut streamed)
            .and_then(|()| check_ranges(kind, length, &mut ranges))
            .map_err(|error| match error {
                FormatErrorKind::Invalid(message) => {
                    invalid(format!("Blob {blob_path:?}: {message}"))
                }
                other => other,
            })?;
    }
    Ok(LogBlob {
        status: blob.status.unwrap_or(BlobStatus::Completed),
        blob_path,
        file_path,
        snapshot: blob.snapshot,
        length: blob.length,
        last_modified: blob.last_modified,
        kind: blob.kind,
        ranges,
        metadata: blob.metadata,
        properties: blob.properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The copy log of the RepairExport article, as published.
    pub(crate) const SAMPLE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<DriveLog>
  <DriveId>9WM35C2V</DriveId>
  <Blob Status="CompletedWithErrors">
    <BlobPath>pictures/wild/desert.jpg</BlobPath>
    <FilePath>\pictures\wild\desert.jpg</FilePath>
    <LastModified>2012-09-18T23:47:08Z</LastModified>
    <Length>163840</Length>
    <BlockList>
      <Block Offset="65536" Length="65536" Id="AQAAAA==" Status="Failed" />
    </BlockList>
  </Blob>
  <Status>CompletedWithErrors</Status>
</DriveLog>
"#;

    #[test]
    fn the_sample_copy_log_parses_to_the_right_values() {
        let log = CopyLog::parse_str(SAMPLE).unwrap();
        assert_eq!(log.version, None);
        assert_eq!(log.drive_id, "9WM35C2V");
        assert_eq!(log.status, Some(DriveStatus::CompletedWithErrors));
        assert_eq!(log.blobs.len(), 1);
        let desert = &log.blobs[0];
        assert_eq!(desert.status, BlobStatus::CompletedWithErrors);
        assert_eq!(desert.blob_path, "pictures/wild/desert.jpg");
        assert_eq!(desert.file_path, r"\pictures\wild\desert.jpg");
        assert_eq!(
            desert.last_modified.as_deref(),
            Some("2012-09-18T23:47:08Z")
        );
        assert_eq!(desert.length, Some(163840));
        assert_eq!(desert.kind, Some(RangeKind::Block));
        assert_eq!(
            desert.ranges,
            [LogRange {
                offset: 65536,
                length: 65536,
                id: Some("AQAAAA==".into()),
                hash: None,
                status: RangeStatus::Failed,
            }]
        );
        assert!(desert.needs_repair());
    }

    #[test]
    fn reads_the_properties_failure_and_verbose_samples() {
        let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<DriveLog Version="2014-11-01">
  <DriveId>WD-WMATV123456</DriveId>
  <Blob Status="CompletedWithErrors">
    <BlobPath>pictures/wild/canyon.jpg</BlobPath>
    <FilePath>\pictures\wild\canyon.jpg</FilePath>
    <LastModified>2012-09-18T23:47:08Z</LastModified>
    <Length>163840</Length>
    <BlockList />
    <Properties Status="Failed" />
  </Blob>
  <Blob Status="Completed">
    <BlobPath>pictures/animals/koala.jpg</BlobPath>
    <FilePath>\animals\koala.jpg</FilePath>
    <Length>163840</Length>
    <PageRangeList>
      <PageRange Offset="0" Length="65536" Hash=" 9C8AE14A77DF8ACE1D6FEC0C9A3FA8B4" Status="Completed" />
    </PageRangeList>
    <Properties Status="Completed">
      <Path Hash="19AC3D83E2F7E9AA6F43E3DEAB2E4E6A">\animals\koala.jpg.properties</Path>
    </Properties>
  </Blob>
  <Status>CompletedWithErrors</Status>
</DriveLog>"#;
        let log = CopyLog::parse_str(text).unwrap();
        assert_eq!(log.version.as_deref(), Some("2014-11-01"));
        let canyon = &log.blobs[0];
        assert!(canyon.ranges.is_empty());
        assert_eq!(
            canyon.properties.as_ref().unwrap().status,
            FileStatus::Failed
        );
        assert!(canyon.needs_repair());
        let koala = &log.blobs[1];
        assert!(!koala.needs_repair());
        assert_eq!(
            koala.ranges[0].hash.unwrap().to_string(),
            "9C8AE14A77DF8ACE1D6FEC0C9A3FA8B4"
        );
        let properties = koala.properties.as_ref().unwrap();
        assert_eq!(
            properties.path.as_deref(),
            Some(r"\animals\koala.jpg.properties")
        );
        assert!(properties.hash.is_some());
        assert_eq!(log.failed_blobs().count(), 1);
    }

    #[test]
    fn writes_what_it_reads() {
        let log = CopyLog::parse_str(SAMPLE).unwrap();
        assert_eq!(CopyLog::parse_str(&log.to_xml()).unwrap(), log);
    }

    #[test]
    fn reads_the_2018_variant_and_ignores_its_extras() {
        let text = r#"<DriveLog Version="2018-10-01">
  <DriveId>184020D95632</DriveId>
  <Blob Status="BlobRequestFailed">
    <BlobPath>pageblob/vhd1.vhd</BlobPath>
    <FilePath>\PageBlob\vhd1.vhd</FilePath>
    <Length>1073742336</Length>
    <PageRangeList>
      <PageRange Offset="0" Length="4194304" Status="Completed" />
      <PageRange Offset="4194304" Length="512" Status="BlobRequestFailed" />
    </PageRangeList>
  </Blob>
  <Summary><ValidationErrors><Error Code="x">1</Error></ValidationErrors></Summary>
  <Status>CompletedWithErrors</Status>
</DriveLog>"#;
        let log = CopyLog::parse_str(text).unwrap();
        assert_eq!(
            log.blobs[0].ranges[1].status,
            RangeStatus::BlobRequestFailed
        );
        assert_eq!(log.blobs[0].ranges[1].hash, None);
        assert_eq!(log.blobs[0].status, BlobStatus::BlobRequestFailed);
    }

    #[test]
    fn refuses_the_2021_copy_log_with_a_clear_message() {
        let text = r#"<ErroredEntity CloudFormat="BlockBlob" Path="c/x"><Category>UploadErrorWin32</Category></ErroredEntity>"#;
        let error = CopyLog::parse_str(text).unwrap_err();
        assert!(matches!(error.kind, FormatErrorKind::UnsupportedCopyLog));
        assert!(error.to_string().contains("not a DriveLog"), "{error}");
        let summary =
            r#"<CopyLog Summary="Summary"><DriveLogVersion>2021-08-01</DriveLogVersion></CopyLog>"#;
        assert!(matches!(
            CopyLog::parse_str(summary).unwrap_err().kind,
            FormatErrorKind::UnsupportedCopyLog
        ));
    }

    #[test]
    fn keeps_unknown_codes_and_refuses_missing_status() {
        let text = SAMPLE.replace(r#"Status="Failed""#, r#"Status="Exploded""#);
        let log = CopyLog::parse_str(&text).unwrap();
        assert_eq!(
            log.blobs[0].ranges[0].status,
            RangeStatus::Other("Exploded".into())
        );
        let text = SAMPLE.replace(r#" Status="Failed""#, "");
        let error = CopyLog::parse_str(&text).unwrap_err();
        assert!(
            error.to_string().contains("attribute Status is missing"),
            "{error}"
        );
        assert!(
            error.to_string().contains("Blob[1]/BlockList/Block[1]"),
            "{error}"
        );
    }

    /// A `Length` no file can have (past 2^63 − 1, the largest file offset; nor can the
    /// repair file record it) is refused where it is written, in the copy log and in the
    /// manifest alike; the largest possible one is read.
    #[test]
    fn a_blob_length_past_the_largest_file_is_refused_where_it_is_written() {
        let log = |length: u64| {
            format!(
                r#"<DriveLog><DriveId>D</DriveId>
<Blob Status="FileNotFound"><BlobPath>c/a</BlobPath><FilePath>\c\a</FilePath><Length>{length}</Length></Blob>
<Status>CompletedWithErrors</Status></DriveLog>"#
            )
        };
        let manifest = |length: u64| {
            format!(
                r#"<DriveManifest><Drive><DriveId>D</DriveId><BlobList>
<Blob><BlobPath>c/a</BlobPath><FilePath>\c\a</FilePath><Length>{length}</Length><BlockList></BlockList></Blob>
</BlobList></Drive></DriveManifest>"#
            )
        };
        let largest = i64::MAX as u64;
        assert!(CopyLog::parse_str(&log(largest)).is_ok());
        assert!(crate::format::manifest::Manifest::parse_str(&manifest(largest)).is_ok());
        let error = CopyLog::parse_str(&log(largest + 1))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("2:105: in <DriveLog/Blob[1]/Length>")
                && error.contains("Length 9223372036854775808 is more than any file can hold"),
            "{error}"
        );
        let error = crate::format::manifest::Manifest::parse_str(&manifest(u64::MAX))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("Length 18446744073709551615 is more than any file can hold"),
            "{error}"
        );
    }
}
