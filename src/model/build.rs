//! Merging the manifest and the logs into one `Drive`.
//!
//! A copy-log entry is the manifest's entry when both name the same blob and their FilePaths
//! are one file on NTFS. A blob's ranges are sorted by offset (the manifest's parser makes
//! sure), so each of a copy log's ranges finds the components it touches by binary search.
//! `Drive::read` merges a DriveLog's ranges as the log is read, so that a verbose log of
//! millions of blocks is never held whole.

use std::collections::HashMap;
use std::path::Path;

use crate::format::FormatError;
use crate::format::copylog::{AnyCopyLog, CopyLog, LogBlob, LogRange, LogSideFile, RangeSink};
use crate::format::drive_path::claim_key;
use crate::format::manifest::{Manifest, ManifestBlob, RangeKind};
use crate::format::status::BlobStatus;

use super::{Blob, BlockIds, Component, ComponentKind, Drive, LogStatus, Logs};
use crate::sanitize::escape_controls;

/// Inputs that cannot make a drive.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "neither a manifest nor a copy log was given: there is nothing to check the drive against"
    )]
    NothingToCheck,
    #[error(
        "the copy log lists \"{}\" with Length {log} but the manifest says {manifest}",
        escape_controls(file_path)
    )]
    LengthMismatch {
        file_path: String,
        manifest: u64,
        log: u64,
    },
    #[error(
        "the copy log lists \"{}\" as {log} of {}, but the manifest as {manifest}: they \
         describe different blobs (check that the copy log is this export's)",
        escape_controls(file_path),
        escape_controls(blob_path)
    )]
    SnapshotMismatch {
        file_path: String,
        blob_path: String,
        manifest: String,
        log: String,
    },
    #[error(
        "the verbose log lists \"{}\" with Size {verbose_log} but the manifest says {manifest}",
        escape_controls(file_path)
    )]
    SizeMismatch {
        file_path: String,
        manifest: u64,
        verbose_log: u64,
    },
    #[error(
        "the files and ranges listed add up to more than 2^64 - 1 bytes in all at \"{}\" \
         (the {listed_by}'s), more than any drive holds: check that the {listed_by} is this \
         drive's and whole",
        escape_controls(file_path)
    )]
    PastAnyDrive {
        file_path: String,
        listed_by: &'static str,
    },
    /// A copy log read as a stream could not be read (`Drive::read`).
    #[error(transparent)]
    Format(#[from] FormatError),
}

impl Drive {
    /// Builds the drive from a manifest, the logs (a copy log of any generation, a 2021
    /// verbose log), or both.
    pub fn build(manifest: Option<Manifest>, logs: Option<Logs>) -> Result<Self, ModelError> {
        let (manifest_id, blobs) = from_manifest(manifest);
        Self::assemble(manifest_id, blobs, logs.unwrap_or_default(), Vec::new())
    }

    /// [`Self::build`] with a DriveLog copy log file (v1 or 2018-10-01) merged into the
    /// manifest's blobs range by range as it is read: its ranges are never held whole. The
    /// log's own errors come first, as `build`'s do.
    pub fn read(
        manifest: Option<Manifest>,
        copy_log: &Path,
        logs: Logs,
    ) -> Result<Self, ModelError> {
        let (manifest_id, mut blobs) = from_manifest(manifest);
        let mut warnings = Vec::new();
        let log = {
            let mut merge = StreamMerge::new(&mut blobs, &mut warnings);
            CopyLog::stream_file(copy_log, &mut merge)?
        };
        let logs = Logs {
            copy_log: Some(log.into()),
            ..logs
        };
        Self::assemble(manifest_id, blobs, logs, warnings)
    }

    fn assemble(
        manifest_id: Option<String>,
        mut blobs: Vec<Blob>,
        logs: Logs,
        mut warnings: Vec<String>,
    ) -> Result<Self, ModelError> {
        let (copy_log, copy_log_2021) = match logs.copy_log {
            Some(AnyCopyLog::DriveLog(log)) => (Some(log), None),
            Some(AnyCopyLog::V2021(log)) => (None, Some(log)),
            None => (None, None),
        };
        let drive_id = match (&manifest_id, &copy_log) {
            (Some(manifest_id), Some(log)) => {
                if *manifest_id != log.drive_id {
                    warnings.insert(
                        0,
                        format!(
                            "the manifest is for drive {manifest_id} but the copy log for drive \
                             {}; using the manifest's (check you have the right copy log)",
                            log.drive_id
                        ),
                    );
                }
                manifest_id.clone()
            }
            (Some(manifest_id), None) => manifest_id.clone(),
            (None, Some(log)) => log.drive_id.clone(),
            // A 2021 log's DriveId is a GUID, not the serial number the manifest names: the
            // two are not compared.
            (None, None) => match (&copy_log_2021, &logs.verbose_log) {
                (Some(log), _) => log.summary.drive_id.clone(),
                (None, Some(_)) => logs.drive_id.clone().unwrap_or_default(),
                (None, None) => return Err(ModelError::NothingToCheck),
            },
        };
        let has_manifest = manifest_id.is_some();
        if let Some(log) = copy_log {
            let by_identity = EntryIndex::new(&blobs);
            for log_blob in log.blobs {
                match by_identity.find(&log_blob.blob_path, &log_blob.file_path) {
                    Some(index) => merge_log_blob(&mut blobs[index], log_blob, &mut warnings)?,
                    None => {
                        if has_manifest && log_blob.needs_repair() {
                            warnings.push(format!(
                                "the copy log lists {} ({}), which the manifest does not",
                                escape_controls(&log_blob.file_path),
                                escape_controls(&log_blob.blob_path)
                            ));
                        }
                        blobs.push(blob_from_log(log_blob, &mut warnings));
                    }
                }
            }
        }
        let mut drive = Drive {
            drive_id,
            blobs,
            has_manifest,
            warnings,
        };
        super::v2021::merge(&mut drive, copy_log_2021, logs.verbose_log)?;
        super::claims::refuse_shared_claims(&mut drive.blobs);
        check_total(&drive)?;
        Ok(drive)
    }
}

/// The bytes every count sums fit in 64 bits: lengths past that are no drive's.
fn check_total(drive: &Drive) -> Result<(), ModelError> {
    let mut total = 0u64;
    for blob in &drive.blobs {
        for component in &blob.components {
            total = total
                .checked_add(blob.data_bytes_of(component))
                .ok_or_else(|| ModelError::PastAnyDrive {
                    file_path: blob.file_path.clone(),
                    listed_by: if blob.in_manifest {
                        "manifest"
                    } else if blob.export.is_some() {
                        "verbose log"
                    } else {
                        "copy log"
                    },
                })?;
        }
    }
    Ok(())
}

fn from_manifest(manifest: Option<Manifest>) -> (Option<String>, Vec<Blob>) {
    match manifest {
        Some(manifest) => (
            Some(manifest.drive_id),
            manifest.blobs.into_iter().map(blob_from_manifest).collect(),
        ),
        None => (None, Vec::new()),
    }
}

/// The manifest's entries by what they are: the blob, and the file as NTFS names it.
struct EntryIndex(HashMap<(String, String), usize>);

impl EntryIndex {
    fn new(blobs: &[Blob]) -> Self {
        Self(
            blobs
                .iter()
                .enumerate()
                .filter_map(|(index, blob)| {
                    Some((identity(&blob.blob_path, &blob.file_path)?, index))
                })
                .collect(),
        )
    }

    fn find(&self, blob_path: &str, file_path: &str) -> Option<usize> {
        self.0.get(&identity(blob_path, file_path)?).copied()
    }
}

fn identity(blob_path: &str, file_path: &str) -> Option<(String, String)> {
    claim_key(file_path)
        .ok()
        .map(|key| (blob_path.to_string(), key))
}

/// Merges a DriveLog's ranges into the manifest's blobs while the log is read.
struct StreamMerge<'b> {
    blobs: &'b mut [Blob],
    warnings: &'b mut Vec<String>,
    entries: EntryIndex,
    /// The entry of the last range (BlobPath, FilePath) and its blob, if the manifest has it.
    current: Option<(String, String, Option<usize>)>,
}

impl<'b> StreamMerge<'b> {
    fn new(blobs: &'b mut [Blob], warnings: &'b mut Vec<String>) -> Self {
        let entries = EntryIndex::new(blobs);
        Self {
            blobs,
            warnings,
            entries,
            current: None,
        }
    }
}

impl RangeSink for StreamMerge<'_> {
    fn range(
        &mut self,
        blob_path: &str,
        file_path: &str,
        _kind: RangeKind,
        range: LogRange,
    ) -> Option<LogRange> {
        let same = self
            .current
            .as_ref()
            .is_some_and(|(b, f, _)| b == blob_path && f == file_path);
        if !same {
            let found = self.entries.find(blob_path, file_path);
            self.current = Some((blob_path.to_string(), file_path.to_string(), found));
        }
        // A blob the manifest does not list: the range stays with the log's blob.
        let Some((_, _, Some(at))) = self.current else {
            return Some(range);
        };
        merge_range(&mut self.blobs[at], &range, self.warnings);
        None
    }
}

fn blob_from_manifest(blob: ManifestBlob) -> Blob {
    let kind = ComponentKind::from(blob.kind);
    let mut block_ids = BlockIds::default();
    // In place: a component is no larger than a manifest range, so the ranges' memory
    // becomes the components'.
    let mut components: Vec<Component> = blob
        .ranges
        .into_iter()
        .map(|range| Component {
            offset: range.offset,
            length: range.length,
            expected_md5: Some(range.hash),
            kind,
            copy_log_status: None,
            block_id: range.id.and_then(|id| block_ids.add(&id)),
        })
        .collect();
    block_ids.shrink_to_fit();
    // The file's length is a component of its own: bytes missing at the end of a sparse page
    // blob, or bytes past the end of any blob, are found even where no range looks.
    components.push(whole_file(blob.length, None));
    for (side_kind, side) in [
        (ComponentKind::Properties, &blob.properties),
        (ComponentKind::Metadata, &blob.metadata),
    ] {
        if let Some(side) = side {
            components.push(side_component(side_kind, Some(side.hash)));
        }
    }
    Blob {
        blob_path: blob.blob_path,
        file_path: blob.file_path,
        snapshot: blob.snapshot,
        length: blob.length,
        length_given: true,
        last_modified: None,
        kind: Some(blob.kind),
        in_manifest: true,
        copy_log_status: None,
        metadata_path: blob.metadata.map(|side| side.path),
        properties_path: blob.properties.map(|side| side.path),
        refusal: None,
        components,
        export: None,
        block_ids,
    }
}

fn side_component(kind: ComponentKind, hash: Option<crate::format::Md5>) -> Component {
    Component {
        offset: 0,
        length: 0,
        expected_md5: hash,
        kind,
        copy_log_status: None,
        block_id: None,
    }
}

/// The existence and length check of a file.
fn whole_file(length: u64, status: Option<LogStatus>) -> Component {
    Component {
        offset: 0,
        length,
        expected_md5: None,
        kind: ComponentKind::File,
        copy_log_status: status,
        block_id: None,
    }
}

/// A component for a range of a file the manifest does not describe.
fn log_component(kind: ComponentKind, range: LogRange, block_ids: &mut BlockIds) -> Component {
    Component {
        offset: range.offset,
        length: range.length,
        expected_md5: range.hash,
        kind,
        copy_log_status: Some(LogStatus::range(&range.status)),
        block_id: range.id.and_then(|id| block_ids.add(&id)),
    }
}

/// Blob statuses that say the service wrote nothing usable of the file.
pub(crate) fn is_whole_file_failure(status: &BlobStatus) -> bool {
    !matches!(
        status,
        BlobStatus::Completed | BlobStatus::CompletedWithErrors
    )
}

fn merge_log_blob(
    blob: &mut Blob,
    log: LogBlob,
    warnings: &mut Vec<String>,
) -> Result<(), ModelError> {
    if let Some(length) = log.length
        && length != blob.length
    {
        return Err(ModelError::LengthMismatch {
            file_path: blob.file_path.clone(),
            manifest: blob.length,
            log: length,
        });
    }
    if log.snapshot.is_some() && log.snapshot != blob.snapshot {
        let describe = |snapshot: &Option<String>| match snapshot {
            Some(snapshot) => format!("snapshot {snapshot}"),
            None => "the base blob".to_string(),
        };
        return Err(ModelError::SnapshotMismatch {
            file_path: blob.file_path.clone(),
            blob_path: blob.blob_path.clone(),
            manifest: describe(&blob.snapshot),
            log: describe(&log.snapshot),
        });
    }
    blob.last_modified = log.last_modified;
    for range in &log.ranges {
        merge_range(blob, range, warnings);
    }
    merge_side(blob, ComponentKind::Properties, log.properties, warnings);
    merge_side(blob, ComponentKind::Metadata, log.metadata, warnings);
    if is_whole_file_failure(&log.status)
        && let Some(file) = blob
            .components
            .iter_mut()
            .find(|c| c.kind == ComponentKind::File)
    {
        file.copy_log_status = Some(LogStatus::blob(&log.status));
    }
    blob.copy_log_status = Some(log.status);
    Ok(())
}

/// Gives the copy log's status for `range` to the manifest's data components it overlaps,
/// found by binary search: the one it names exactly, or (a range that does not line up with
/// the manifest's blocks) every component it touches, so that each is downloaded and checked
/// against its own hash. A range is never a component of its own in a manifest blob: its
/// bytes would have no hash. A failed range that touches none is a warning.
fn merge_range(blob: &mut Blob, range: &LogRange, warnings: &mut Vec<String>) {
    let data_end = blob
        .components
        .partition_point(|c| matches!(c.kind, ComponentKind::Block | ComponentKind::Page));
    let end = range.offset.saturating_add(range.length);
    // Data components are sorted by offset and do not overlap (the manifest's checks).
    let first =
        blob.components[..data_end].partition_point(|c| c.offset + c.length <= range.offset);
    let failed = !range.status.is_completed();
    let status = LogStatus::range(&range.status);
    let mut touched = false;
    for index in first..data_end {
        let component = &blob.components[index];
        if component.offset >= end {
            break;
        }
        touched = true;
        let exact = component.offset == range.offset && component.length == range.length;
        let needs_id = exact && component.block_id.is_none();
        // A failure wins over a completion another range reported for the same bytes.
        if exact || failed || component.copy_log_status.is_none() {
            blob.components[index].copy_log_status = Some(status);
        }
        if needs_id && let Some(id) = &range.id {
            blob.components[index].block_id = blob.block_ids.add(id);
        }
    }
    if !touched && failed {
        warnings.push(format!(
            "the copy log reports bytes {}..{end} of {} {}, but no range of the manifest holds \
             them; there is nothing to check or rewrite there",
            range.offset,
            escape_controls(&blob.file_path),
            range.status.as_str()
        ));
    }
}

/// Whether two `FilePath`s name one file on the drive (an unsafe one only itself).
fn same_file(a: &str, b: &str) -> bool {
    match (claim_key(a), claim_key(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn merge_side(
    blob: &mut Blob,
    kind: ComponentKind,
    side: Option<LogSideFile>,
    warnings: &mut Vec<String>,
) {
    let Some(side) = side else { return };
    let path_slot = match kind {
        ComponentKind::Properties => &mut blob.properties_path,
        _ => &mut blob.metadata_path,
    };
    match (&*path_slot, &side.path) {
        (None, _) => *path_slot = side.path.clone(),
        // Another file than the manifest's: what the copy log says of it is not said of the
        // manifest's, which is checked as the manifest describes it; and said so.
        (Some(listed), Some(logged)) if !same_file(listed, logged) => {
            warnings.push(format!(
                "the copy log names {} as the {} file of {}, the manifest {}: the manifest's is \
                 the one checked, and the copy log's word on the other is not taken for it",
                escape_controls(logged),
                kind.as_str(),
                escape_controls(&blob.file_path),
                escape_controls(listed)
            ));
            return;
        }
        _ => {}
    }
    let status = LogStatus::file(&side.status);
    match blob.components.iter_mut().find(|c| c.kind == kind) {
        Some(component) => component.copy_log_status = Some(status),
        None if path_slot.is_some() => {
            let mut component = side_component(kind, side.hash);
            component.copy_log_status = Some(status);
            blob.components.push(component);
        }
        // A failed side file whose path nobody names cannot be checked or rewritten:
        // keep the failure on the blob so it is reported.
        None => {
            let mut component = side_component(kind, None);
            component.copy_log_status = Some(status);
            blob.components.push(component);
        }
    }
}

fn blob_from_log(log: LogBlob, warnings: &mut Vec<String>) -> Blob {
    let kind = log
        .kind
        .map(ComponentKind::from)
        .unwrap_or(ComponentKind::Block);
    let mut block_ids = BlockIds::default();
    let listed_ranges = !log.ranges.is_empty();
    let (ranges, empty): (Vec<LogRange>, Vec<LogRange>) =
        log.ranges.into_iter().partition(|range| range.length > 0);
    if let Some(range) = empty.first() {
        // Nothing to check or write: not a component (it would count as one repaired).
        warnings.push(format!(
            "the copy log lists {} range(s) of 0 bytes in {} (the first at Offset {}, {}); \
             there is nothing to check or rewrite there",
            empty.len(),
            escape_controls(&log.file_path),
            range.offset,
            range.status.as_str()
        ));
    }
    let mut components: Vec<Component> = ranges
        .into_iter()
        .map(|range| log_component(kind, range, &mut block_ids))
        .collect();
    let length = log.length.unwrap_or(0);
    if !listed_ranges && is_whole_file_failure(&log.status) {
        components.push(whole_file(length, Some(LogStatus::blob(&log.status))));
    } else if log.length.is_some() {
        // As a manifest blob's, the file's length is a component of its own: a file cut short
        // or with bytes past the end is found, whatever its ranges say (or with none listed).
        components.push(whole_file(length, None));
    }
    let mut blob = Blob {
        blob_path: log.blob_path,
        file_path: log.file_path,
        snapshot: log.snapshot,
        length,
        length_given: log.length.is_some(),
        last_modified: log.last_modified,
        kind: log.kind,
        in_manifest: false,
        copy_log_status: Some(log.status),
        metadata_path: None,
        properties_path: None,
        refusal: None,
        components,
        export: None,
        block_ids,
    };
    merge_side(
        &mut blob,
        ComponentKind::Properties,
        log.properties,
        warnings,
    );
    merge_side(&mut blob, ComponentKind::Metadata, log.metadata, warnings);
    blob
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::copylog::CopyLog;
    use crate::format::status::RangeStatus;

    const MANIFEST: &str = r#"<DriveManifest Version="2014-11-01"><Drive><DriveId>D1</DriveId><BlobList>
<Blob><BlobPath>c/a.bin</BlobPath><FilePath>\c\a.bin</FilePath><Length>8</Length>
<BlockList><Block Offset="0" Length="4" Hash="00000000000000000000000000000001"/>
<Block Offset="4" Length="4" Hash="00000000000000000000000000000002"/></BlockList>
<PropertiesPath Hash="00000000000000000000000000000003">\c\a.bin.properties</PropertiesPath></Blob>
</BlobList></Drive></DriveManifest>"#;

    const LOG: &str = r#"<DriveLog><DriveId>D2</DriveId>
<Blob Status="CompletedWithErrors"><BlobPath>c/a.bin</BlobPath><FilePath>\C\A.bin</FilePath>
<LastModified>2012-09-18T23:47:08Z</LastModified><Length>8</Length>
<BlockList><Block Offset="4" Length="4" Status="Failed"/></BlockList><Properties Status="Failed"/></Blob>
<Blob Status="FileNotFound"><BlobPath>c/gone.bin</BlobPath><FilePath>\c\gone.bin</FilePath><Length>30310</Length></Blob>
<Status>CompletedWithErrors</Status></DriveLog>"#;

    /// A copy log naming another properties file than the manifest's for the same blob: the
    /// manifest's is checked, and a warning says so (seen failing: the copy log's path was
    /// dropped without a word). The same file written otherwise (case, separators) is no news.
    #[test]
    fn a_copy_log_side_file_path_other_than_the_manifest_s_is_a_warning() {
        let with_path = |path: &str| {
            format!(
                r#"<DriveLog><DriveId>D1</DriveId>
<Blob Status="CompletedWithErrors"><BlobPath>c/a.bin</BlobPath><FilePath>\c\a.bin</FilePath><Length>8</Length>
<Properties Status="Failed"><Path>{path}</Path></Properties></Blob>
<Status>CompletedWithErrors</Status></DriveLog>"#
            )
        };
        let build = |log: &str| {
            Drive::build(
                Some(Manifest::parse_str(MANIFEST).unwrap()),
                Some(CopyLog::parse_str(log).unwrap().into()),
            )
            .unwrap()
        };
        let drive = build(&with_path(r"\c\other.properties"));
        assert_eq!(
            drive.blobs[0].properties_path.as_deref(),
            Some(r"\c\a.bin.properties")
        );
        // The copy log's "Failed" was of the other file.
        let properties = (drive.blobs[0].components.iter())
            .find(|c| c.kind == ComponentKind::Properties)
            .unwrap();
        assert_eq!(properties.copy_log_status, None);
        assert!(
            drive
                .warnings
                .iter()
                .any(|w| w.contains(r"\c\other.properties")
                    && w.contains("the manifest's is the one checked")),
            "{:?}",
            drive.warnings
        );
        let drive = build(&with_path(r"\C\A.BIN.properties"));
        assert!(
            !drive.warnings.iter().any(|w| w.contains("properties file")),
            "{:?}",
            drive.warnings
        );
    }

    /// An unsafe path of a properties file (here the copy log's `<Properties><Path>`) is
    /// refused naming what it is the path of (seen failing: "FilePath \"..\\outside…\" is
    /// unsafe", the entry's FilePath being safe).
    #[test]
    fn an_unsafe_side_file_path_is_named_as_such() {
        let log = r#"<DriveLog><DriveId>D1</DriveId>
<Blob Status="CompletedWithErrors"><BlobPath>c/x.bin</BlobPath><FilePath>\c\x.bin</FilePath><Length>16</Length>
<BlockList><Block Offset="4" Length="4" Status="Failed"/></BlockList><Properties Status="Failed"><Path>..\..\outside\p.xml</Path></Properties></Blob>
<Status>CompletedWithErrors</Status></DriveLog>"#;
        let drive = Drive::build(None, Some(CopyLog::parse_str(log).unwrap().into())).unwrap();
        let refusal = drive.blobs[0].refusal.as_deref().unwrap();
        assert!(
            refusal.contains(r#"its properties file path "..\\..\\outside\\p.xml" is unsafe"#),
            "{refusal}"
        );
        assert!(!refusal.contains("FilePath"), "{refusal}");
    }

    /// A file only the copy log describes, by ranges or none, has its length checked too; a
    /// range of 0 bytes is no component (a warning says so).
    ///
    /// Seen failing with ranges taken as they came: no length component, and the empty range
    /// one component of 0 bytes (which a repair counted as repaired); and with an empty list,
    /// no component at all (a file cut short was "verified").
    #[test]
    fn a_copy_log_only_file_listed_by_ranges_has_a_length_and_no_empty_range() {
        let log = r#"<DriveLog><DriveId>D1</DriveId>
<Blob Status="CompletedWithErrors"><BlobPath>c/x.bin</BlobPath><FilePath>\c\x.bin</FilePath><Length>16</Length>
<BlockList><Block Offset="4" Length="4" Status="Failed"/><Block Offset="16" Length="0" Status="Failed"/></BlockList></Blob>
<Blob Status="CompletedWithErrors"><BlobPath>c/y.bin</BlobPath><FilePath>\c\y.bin</FilePath><Length>8</Length>
<BlockList><Block Offset="8" Length="0" Status="Failed"/></BlockList></Blob>
<Blob Status="CompletedWithErrors"><BlobPath>c/z.bin</BlobPath><FilePath>\c\z.bin</FilePath><Length>64</Length><BlockList></BlockList></Blob>
<Status>CompletedWithErrors</Status></DriveLog>"#;
        let drive = Drive::build(None, Some(CopyLog::parse_str(log).unwrap().into())).unwrap();
        let kinds = |blob: &Blob| {
            blob.components
                .iter()
                .map(|c| (c.kind, c.offset, c.length))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(&drive.blobs[0]),
            [(ComponentKind::Block, 4, 4), (ComponentKind::File, 0, 16)]
        );
        assert_eq!(kinds(&drive.blobs[1]), [(ComponentKind::File, 0, 8)]);
        // No range listed at all: the length still.
        assert_eq!(kinds(&drive.blobs[2]), [(ComponentKind::File, 0, 64)]);
        assert!(
            drive
                .warnings
                .iter()
                .any(|w| w.contains("1 range(s) of 0 bytes") && w.contains(r"\c\x.bin")),
            "{:?}",
            drive.warnings
        );
    }

    #[test]
    fn merges_copy_log_statuses_by_file_offset_and_length() {
        let drive = Drive::build(
            Some(Manifest::parse_str(MANIFEST).unwrap()),
            Some(CopyLog::parse_str(LOG).unwrap().into()),
        )
        .unwrap();
        assert_eq!(drive.drive_id, "D1");
        assert!(drive.warnings[0].contains("drive D1 but the copy log for drive D2"));
        let a = &drive.blobs[0];
        assert_eq!(a.last_modified.as_deref(), Some("2012-09-18T23:47:08Z"));
        assert_eq!(a.components.len(), 4);
        assert_eq!(a.components[0].copy_log_status, None);
        assert_eq!(
            a.components[1].copy_log_status,
            Some(LogStatus::range(&RangeStatus::Failed))
        );
        assert_eq!(a.components[2].kind, ComponentKind::File);
        assert_eq!(a.components[3].kind, ComponentKind::Properties);
        assert!(
            !a.components[3]
                .copy_log_status
                .as_ref()
                .unwrap()
                .is_completed()
        );

        let gone = &drive.blobs[1];
        assert!(!gone.in_manifest);
        assert_eq!(gone.components.len(), 1);
        assert_eq!(gone.components[0].kind, ComponentKind::File);
        assert_eq!(gone.components[0].length, 30310);
        assert_eq!(drive.component_count(), 5);
        assert!(drive.warnings.iter().any(|w| w.contains("gone.bin")));
    }

    /// Two 4-byte blocks; the copy log fails bytes 2..6, which line up with neither.
    #[test]
    fn a_copy_log_range_across_blocks_marks_each_block_it_touches() {
        let log = LOG.replace(
            r#"<Block Offset="4" Length="4" Status="Failed"/>"#,
            r#"<Block Offset="2" Length="4" Status="Failed"/>"#,
        );
        let drive = Drive::build(
            Some(Manifest::parse_str(MANIFEST).unwrap()),
            Some(CopyLog::parse_str(&log).unwrap().into()),
        )
        .unwrap();
        let a = &drive.blobs[0];
        assert_eq!(a.components.len(), 4, "no unhashed component is added");
        for block in &a.components[..2] {
            assert_eq!(
                block.copy_log_status,
                Some(LogStatus::range(&RangeStatus::Failed))
            );
            assert!(block.expected_md5.is_some());
        }
    }

    #[test]
    fn entries_that_land_on_one_file_are_both_refused() {
        let twins = MANIFEST.replace(
            "</BlobList>",
            r#"<Blob><BlobPath>c/A.BIN</BlobPath><FilePath>/C/A.BIN</FilePath><Length>0</Length></Blob>
<Blob><BlobPath>c/p</BlobPath><FilePath>\c\p</FilePath><Length>0</Length>
<PropertiesPath Hash="00000000000000000000000000000003">\c\p2</PropertiesPath></Blob>
<Blob><BlobPath>c/p2</BlobPath><FilePath>\c\p2</FilePath><Length>0</Length></Blob>
<Blob><BlobPath>c/ok</BlobPath><FilePath>\c\ok</FilePath><Length>0</Length></Blob>
</BlobList>"#,
        );
        let drive = Drive::build(Some(Manifest::parse_str(&twins).unwrap()), None).unwrap();
        let refusal = |i: usize| drive.blobs[i].refusal.as_deref().unwrap_or_default();
        for i in [0, 1] {
            assert!(refusal(i).contains(r#"\c\a.bin"#), "{}", refusal(i));
            assert!(refusal(i).contains("/C/A.BIN"), "{}", refusal(i));
        }
        for i in [2, 3] {
            assert!(
                refusal(i).contains(r#"properties file "\c\p2""#),
                "{}",
                refusal(i)
            );
            assert!(
                refusal(i).contains(r#"data file "\c\p2""#),
                "{}",
                refusal(i)
            );
        }
        assert_eq!(drive.blobs[4].refusal, None);
    }

    #[test]
    fn refuses_contradicting_lengths_and_nothing_at_all() {
        let log = LOG.replace("<Length>8</Length>", "<Length>9</Length>");
        let error = Drive::build(
            Some(Manifest::parse_str(MANIFEST).unwrap()),
            Some(CopyLog::parse_str(&log).unwrap().into()),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("Length 9 but the manifest says 8")
        );
        assert!(matches!(
            Drive::build(None, None),
            Err(ModelError::NothingToCheck)
        ));
    }

    /// Blocks of 4, 2 and 2 bytes.
    fn manifest_of_three_blocks() -> Manifest {
        Manifest::parse_str(&MANIFEST.replace(
            r#"<Block Offset="4" Length="4" Hash="00000000000000000000000000000002"/>"#,
            r#"<Block Offset="4" Length="2" Hash="00000000000000000000000000000002"/>
<Block Offset="6" Length="2" Hash="00000000000000000000000000000004"/>"#,
        ))
        .unwrap()
    }

    fn log_with_ranges(ranges: &str) -> CopyLog {
        CopyLog::parse_str(&format!(
            r#"<DriveLog><DriveId>D1</DriveId>
<Blob Status="CompletedWithErrors"><BlobPath>c/a.bin</BlobPath><FilePath>\c\a.bin</FilePath>
<Length>8</Length><BlockList>{ranges}</BlockList></Blob></DriveLog>"#
        ))
        .unwrap()
    }

    /// What `Drive::read` builds from a copy log file equals what `Drive::build` builds from
    /// the parsed log; a range past the blob's end is refused at its line.
    #[test]
    fn a_streamed_copy_log_builds_the_same_drive() {
        let dir = tempfile::tempdir().unwrap();
        let logs = [
            LOG.to_string(),
            // Ranges out of order, a gap range, a log-only blob with ranges.
            r#"<DriveLog><DriveId>D1</DriveId>
<Blob Status="CompletedWithErrors"><BlobPath>c/a.bin</BlobPath><FilePath>\c\a.bin</FilePath>
<Length>8</Length><BlockList><Block Offset="6" Length="2" Id="Qg==" Status="Failed"/>
<Block Offset="0" Length="4" Id="QQ==" Status="Completed"/>
<Block Offset="4" Length="2" Status="Failed"/></BlockList></Blob>
<Blob Status="CompletedWithErrors"><BlobPath>c/b.bin</BlobPath><FilePath>\c\b.bin</FilePath>
<Length>8</Length><BlockList><Block Offset="0" Length="8" Status="Failed"/></BlockList></Blob>
</DriveLog>"#
                .to_string(),
        ];
        for (n, log) in logs.iter().enumerate() {
            let manifest = || {
                if n == 0 {
                    Manifest::parse_str(MANIFEST).unwrap()
                } else {
                    manifest_of_three_blocks()
                }
            };
            let path = dir.path().join(format!("log{n}.xml"));
            std::fs::write(&path, log).unwrap();
            let built = Drive::build(
                Some(manifest()),
                Some(CopyLog::parse_str(log).unwrap().into()),
            )
            .unwrap();
            let read = Drive::read(Some(manifest()), &path, Logs::default()).unwrap();
            assert_eq!(read.drive_id, built.drive_id);
            assert_eq!(read.warnings, built.warnings);
            assert_eq!(read.blobs.len(), built.blobs.len());
            for (a, b) in read.blobs.iter().zip(&built.blobs) {
                // Block IDs may sit elsewhere in the blob's string: compare them as text.
                let facts = |blob: &Blob| -> Vec<Component> {
                    blob.components
                        .iter()
                        .map(|c| Component {
                            block_id: None,
                            ..c.clone()
                        })
                        .collect()
                };
                assert_eq!(facts(a), facts(b), "{}", a.file_path);
                let ids = |blob: &Blob| -> Vec<Option<String>> {
                    blob.components
                        .iter()
                        .map(|c| blob.block_id(c).map(str::to_string))
                        .collect()
                };
                assert_eq!(ids(a), ids(b));
                assert_eq!(a.copy_log_status, b.copy_log_status);
            }
        }

        let straddling = dir.path().join("straddling.xml");
        std::fs::write(
            &straddling,
            log_with_ranges(r#"<Block Offset="2" Length="4" Status="Failed"/>"#).to_xml(),
        )
        .unwrap();
        let read = Drive::read(
            Some(manifest_of_three_blocks()),
            &straddling,
            Logs::default(),
        )
        .unwrap();
        let statuses: Vec<_> = read.blobs[0]
            .components
            .iter()
            .map(|c| c.copy_log_status.map(|s| s.as_str()))
            .collect();
        assert_eq!(statuses[..3], [Some("Failed"), Some("Failed"), None]);
        let past_end = dir.path().join("past_end.xml");
        let past = log_with_ranges(r#"<Block Offset="4" Length="4" Status="Failed"/>"#).to_xml();
        std::fs::write(&past_end, past.replace(r#"Offset="4""#, r#"Offset="12""#)).unwrap();
        let error =
            Drive::read(Some(manifest_of_three_blocks()), &past_end, Logs::default()).unwrap_err();
        assert!(
            matches!(error, ModelError::Format(ref e) if e.line > 1)
                && error
                    .to_string()
                    .contains("ends at byte 16, beyond the blob's Length 8"),
            "{error}"
        );
    }
}
