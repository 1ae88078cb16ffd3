//! Merging the manifest and the copy log into one `Drive`.
//!
//! A blob's ranges are sorted by offset (the manifest's parser makes sure), so each of a copy
//! log's ranges finds its component by binary search, and a range that straddles one is
//! caught on the way. `Drive::read` merges the log's ranges as the log is read, so that a
//! verbose log of millions of blocks is never held whole.

use std::collections::HashMap;
use std::path::Path;

use crate::format::FormatError;
use crate::format::copylog::{CopyLog, LogBlob, LogRange, LogSideFile, RangeSink};
use crate::format::manifest::{Manifest, ManifestBlob, RangeKind};
use crate::format::status::BlobStatus;

use super::{Blob, BlockIds, Component, ComponentKind, Drive, LogStatus};

/// Inputs that cannot make a drive.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "neither a manifest nor a copy log was given: there is nothing to check the drive against"
    )]
    NothingToCheck,
    #[error("the copy log lists {file_path:?} with Length {log} but the manifest says {manifest}")]
    LengthMismatch {
        file_path: String,
        manifest: u64,
        log: u64,
    },
    #[error(
        "the copy log lists a range of {file_path:?} at Offset {log_offset} with Length \
         {log_length}, which straddles another range of the file (Offset {manifest_offset}, \
         Length {manifest_length}): is the copy log of the same export as the manifest?"
    )]
    RangeMismatch {
        file_path: String,
        log_offset: u64,
        log_length: u64,
        manifest_offset: u64,
        manifest_length: u64,
    },
    /// A copy log read as a stream could not be read or merged (`Drive::read`).
    #[error(transparent)]
    Format(#[from] FormatError),
}

impl Drive {
    /// Builds the drive from a manifest, a copy log, or both.
    pub fn build(
        manifest: Option<Manifest>,
        copy_log: Option<CopyLog>,
    ) -> Result<Self, ModelError> {
        let (manifest_id, blobs) = from_manifest(manifest);
        Self::assemble(manifest_id, blobs, copy_log)
    }

    /// Builds the drive from a manifest and a copy log file, merging each of the log's
    /// ranges into its blob as it is read: a verbose log of millions of blocks is never held
    /// whole. The log's own errors come first, as `Drive::build`'s do.
    pub fn read(manifest: Option<Manifest>, copy_log: Option<&Path>) -> Result<Self, ModelError> {
        let (manifest_id, mut blobs) = from_manifest(manifest);
        let log = match copy_log {
            Some(path) => {
                let mut merge = StreamMerge::new(&mut blobs);
                let log = CopyLog::stream_file(path, &mut merge)?;
                merge.finish()?;
                Some(log)
            }
            None => None,
        };
        Self::assemble(manifest_id, blobs, log)
    }

    fn assemble(
        manifest_id: Option<String>,
        mut blobs: Vec<Blob>,
        copy_log: Option<CopyLog>,
    ) -> Result<Self, ModelError> {
        let mut warnings = Vec::new();
        let drive_id = match (manifest_id.clone(), &copy_log) {
            (Some(manifest_id), Some(log)) => {
                if manifest_id != log.drive_id {
                    warnings.push(format!(
                        "the manifest is for drive {manifest_id} but the copy log for drive {}; \
                         using the manifest's (check you have the right copy log)",
                        log.drive_id
                    ));
                }
                manifest_id
            }
            (Some(manifest_id), None) => manifest_id,
            (None, Some(log)) => log.drive_id.clone(),
            (None, None) => return Err(ModelError::NothingToCheck),
        };
        let has_manifest = manifest_id.is_some();
        if let Some(log) = copy_log {
            let mut paths = PathIndex::new(&blobs);
            for log_blob in log.blobs {
                match paths.find(&log_blob.file_path) {
                    Some(index) => merge_log_blob(&mut blobs[index], log_blob)?,
                    None => {
                        if has_manifest && log_blob.needs_repair() {
                            warnings.push(format!(
                                "the copy log lists {} ({}), which the manifest does not",
                                log_blob.file_path, log_blob.blob_path
                            ));
                        }
                        paths.insert(&log_blob.file_path, blobs.len());
                        blobs.push(blob_from_log(log_blob));
                    }
                }
            }
        }
        Ok(Drive {
            drive_id,
            blobs,
            has_manifest,
            warnings,
        })
    }
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

/// Blobs by FilePath: exactly, else ignoring case (as Windows does).
struct PathIndex {
    exact: HashMap<String, usize>,
    lower: HashMap<String, usize>,
}

impl PathIndex {
    fn new(blobs: &[Blob]) -> Self {
        let mut index = Self {
            exact: HashMap::with_capacity(blobs.len()),
            lower: HashMap::with_capacity(blobs.len()),
        };
        for (at, blob) in blobs.iter().enumerate() {
            index.exact.insert(blob.file_path.clone(), at);
            index.lower.insert(blob.file_path.to_lowercase(), at);
        }
        index
    }

    fn find(&self, file_path: &str) -> Option<usize> {
        self.exact
            .get(file_path)
            .or_else(|| self.lower.get(&file_path.to_lowercase()))
            .copied()
    }

    fn insert(&mut self, file_path: &str, at: usize) {
        self.exact.insert(file_path.to_string(), at);
    }
}

/// Merges a copy log's ranges into the manifest's blobs while the log is read.
struct StreamMerge<'b> {
    blobs: &'b mut [Blob],
    paths: PathIndex,
    /// The FilePath of the last range, its blob, and where that blob's ranges end.
    current: Option<(String, Option<(usize, usize)>)>,
    /// Components for log ranges in the gaps between the manifest's, by blob.
    added: Vec<(usize, Component)>,
    /// The first range that contradicts the manifest.
    failed: Option<ModelError>,
}

impl<'b> StreamMerge<'b> {
    fn new(blobs: &'b mut [Blob]) -> Self {
        let paths = PathIndex::new(blobs);
        Self {
            blobs,
            paths,
            current: None,
            added: Vec::new(),
            failed: None,
        }
    }

    /// Files the components of gap ranges among their blobs' ranges.
    fn finish(mut self) -> Result<(), ModelError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        self.added.sort_by_key(|(blob, _)| *blob);
        let mut added = self.added.into_iter().peekable();
        while let Some(&(blob, _)) = added.peek() {
            let mut components = Vec::new();
            while let Some((_, component)) = added.next_if(|(b, _)| *b == blob) {
                components.push(component);
            }
            insert_components(&mut self.blobs[blob], components)?;
        }
        Ok(())
    }
}

impl RangeSink for StreamMerge<'_> {
    fn range(&mut self, file_path: &str, kind: RangeKind, range: LogRange) -> Option<LogRange> {
        if self
            .current
            .as_ref()
            .is_none_or(|(path, _)| path != file_path)
        {
            let found = self
                .paths
                .find(file_path)
                .map(|at| (at, ranges_end(&self.blobs[at])));
            self.current = Some((file_path.to_string(), found));
        }
        // A blob the manifest does not list: the range stays with the log's blob.
        let Some((_, Some((at, ranges_end)))) = self.current else {
            return Some(range);
        };
        // After the first contradiction the drive will not be built: the rest of the log
        // is only read for its own errors, which come first.
        if self.failed.is_none() {
            match merge_range(&mut self.blobs[at], ranges_end, kind.into(), range) {
                Ok(Some(component)) => self.added.push((at, component)),
                Ok(None) => {}
                Err(error) => self.failed = Some(error),
            }
        }
        None
    }
}

/// How many of a blob's components are its ranges (they lead, sorted by offset).
fn ranges_end(blob: &Blob) -> usize {
    blob.components
        .iter()
        .position(|c| !matches!(c.kind, ComponentKind::Block | ComponentKind::Page))
        .unwrap_or(blob.components.len())
}

/// Merges one copy-log range into a blob whose first `ranges_end` components are its sorted
/// ranges, found by binary search: the component it names takes its status (and block ID);
/// a range in a gap becomes a component of its own (returned); a range that straddles a
/// component is refused.
fn merge_range(
    blob: &mut Blob,
    ranges_end: usize,
    kind: ComponentKind,
    range: LogRange,
) -> Result<Option<Component>, ModelError> {
    let ranges = &blob.components[..ranges_end];
    let end = range.offset.saturating_add(range.length);
    // The first component that does not end before the range (one that starts where the
    // range does counts even when empty).
    let mut at =
        ranges.partition_point(|c| c.offset + c.length <= range.offset && c.offset != range.offset);
    while let Some(c) = ranges.get(at)
        && c.length == 0
        && c.offset == range.offset
        && range.length > 0
    {
        at += 1;
    }
    match blob.components[..ranges_end].get_mut(at) {
        Some(component) if component.offset == range.offset && component.length == range.length => {
            component.copy_log_status = Some(LogStatus::range(&range.status));
            if component.block_id.is_none() {
                component.block_id = range.id.and_then(|id| blob.block_ids.add(&id));
            }
            Ok(None)
        }
        Some(component) if component.offset < end => Err(ModelError::RangeMismatch {
            file_path: blob.file_path.clone(),
            log_offset: range.offset,
            log_length: range.length,
            manifest_offset: component.offset,
            manifest_length: component.length,
        }),
        // In a gap between the blob's ranges (or past them): a component of its own.
        _ => Ok(Some(log_component(kind, range, &mut blob.block_ids))),
    }
}

/// Adds components for gap ranges and sorts the blob's components again; ranges that now
/// overlap (two log ranges in one gap) are refused.
fn insert_components(blob: &mut Blob, added: Vec<Component>) -> Result<(), ModelError> {
    if added.is_empty() {
        return Ok(());
    }
    blob.components.extend(added);
    sort_components(&mut blob.components);
    let ranges = &blob.components[..ranges_end(blob)];
    for pair in ranges.windows(2) {
        if pair[0].offset + pair[0].length > pair[1].offset {
            return Err(ModelError::RangeMismatch {
                file_path: blob.file_path.clone(),
                log_offset: pair[1].offset,
                log_length: pair[1].length,
                manifest_offset: pair[0].offset,
                manifest_length: pair[0].length,
            });
        }
    }
    Ok(())
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
    // Where the ranges do not reach the end of the file (an empty blob, a sparse page
    // blob), the file's existence and length are checked as a component of their own.
    let covered = components.last().map_or(0, |c| c.offset + c.length);
    if components.is_empty() || covered < blob.length {
        components.push(whole_file(blob.length, None));
    }
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
        last_modified: None,
        kind: Some(blob.kind),
        in_manifest: true,
        copy_log_status: None,
        metadata_path: blob.metadata.map(|side| side.path),
        properties_path: blob.properties.map(|side| side.path),
        components,
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

/// The existence and length check of a file whose ranges are unknown or do not cover it.
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

/// A component for a copy-log range the manifest does not list.
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

fn merge_log_blob(blob: &mut Blob, log: LogBlob) -> Result<(), ModelError> {
    if let Some(length) = log.length
        && length != blob.length
    {
        return Err(ModelError::LengthMismatch {
            file_path: blob.file_path.clone(),
            manifest: blob.length,
            log: length,
        });
    }
    blob.last_modified = log.last_modified;
    if blob.snapshot.is_none() {
        blob.snapshot = log.snapshot;
    }
    let kind = log
        .kind
        .map(ComponentKind::from)
        .unwrap_or(ComponentKind::Block);
    let ranges_end = ranges_end(blob);
    let mut added = Vec::new();
    for range in log.ranges {
        added.extend(merge_range(blob, ranges_end, kind, range)?);
    }
    merge_side(blob, ComponentKind::Properties, log.properties);
    merge_side(blob, ComponentKind::Metadata, log.metadata);
    insert_components(blob, added)?;
    blob.copy_log_status = Some(log.status);
    Ok(())
}

fn merge_side(blob: &mut Blob, kind: ComponentKind, side: Option<LogSideFile>) {
    let Some(side) = side else { return };
    let path_slot = match kind {
        ComponentKind::Properties => &mut blob.properties_path,
        _ => &mut blob.metadata_path,
    };
    if path_slot.is_none() {
        *path_slot = side.path.clone();
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

fn sort_components(components: &mut [Component]) {
    components.sort_by_key(|c| (c.kind.rank(), c.offset));
}

fn blob_from_log(log: LogBlob) -> Blob {
    let kind = log
        .kind
        .map(ComponentKind::from)
        .unwrap_or(ComponentKind::Block);
    let mut block_ids = BlockIds::default();
    let mut components: Vec<Component> = log
        .ranges
        .into_iter()
        .map(|range| log_component(kind, range, &mut block_ids))
        .collect();
    let length = log.length.unwrap_or(0);
    if components.is_empty() && is_whole_file_failure(&log.status) {
        components.push(whole_file(length, Some(LogStatus::blob(&log.status))));
    }
    let mut blob = Blob {
        blob_path: log.blob_path,
        file_path: log.file_path,
        snapshot: log.snapshot,
        length,
        last_modified: log.last_modified,
        kind: log.kind,
        in_manifest: false,
        copy_log_status: Some(log.status),
        metadata_path: None,
        properties_path: None,
        components,
        block_ids,
    };
    merge_side(&mut blob, ComponentKind::Properties, log.properties);
    merge_side(&mut blob, ComponentKind::Metadata, log.metadata);
    blob
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn merges_copy_log_statuses_by_file_offset_and_length() {
        let drive = Drive::build(
            Some(Manifest::parse_str(MANIFEST).unwrap()),
            Some(CopyLog::parse_str(LOG).unwrap()),
        )
        .unwrap();
        assert_eq!(drive.drive_id, "D1");
        assert!(drive.warnings[0].contains("drive D1 but the copy log for drive D2"));
        let a = &drive.blobs[0];
        assert_eq!(a.last_modified.as_deref(), Some("2012-09-18T23:47:08Z"));
        assert_eq!(a.components.len(), 3);
        assert_eq!(a.components[0].copy_log_status, None);
        assert_eq!(
            a.components[1].copy_log_status,
            Some(LogStatus::range(&RangeStatus::Failed))
        );
        assert_eq!(a.components[2].kind, ComponentKind::Properties);
        assert!(
            !a.components[2]
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
        assert_eq!(drive.component_count(), 4);
        assert!(drive.warnings.iter().any(|w| w.contains("gone.bin")));
    }

    #[test]
    fn refuses_contradicting_lengths_and_nothing_at_all() {
        let log = LOG.replace("<Length>8</Length>", "<Length>9</Length>");
        let error = Drive::build(
            Some(Manifest::parse_str(MANIFEST).unwrap()),
            Some(CopyLog::parse_str(&log).unwrap()),
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

    fn manifest_of_three_blocks() -> Manifest {
        Manifest::parse_str(
            &MANIFEST
                .replace(
                    r#"<Block Offset="4" Length="4" Hash="00000000000000000000000000000002"/>"#,
                    r#"<Block Offset="4" Length="2" Hash="00000000000000000000000000000002"/>
<Block Offset="6" Length="2" Hash="00000000000000000000000000000004"/>"#,
                )
                .replace("<Length>8</Length>", "<Length>12</Length>"),
        )
        .unwrap()
    }

    fn log_with_ranges(ranges: &str) -> CopyLog {
        CopyLog::parse_str(&format!(
            r#"<DriveLog><DriveId>D1</DriveId>
<Blob Status="CompletedWithErrors"><BlobPath>c/a.bin</BlobPath><FilePath>\c\a.bin</FilePath>
<Length>12</Length><BlockList>{ranges}</BlockList></Blob></DriveLog>"#
        ))
        .unwrap()
    }

    #[test]
    fn a_verbose_log_meets_the_manifest_range_by_range_and_fills_its_gaps() {
        let log = log_with_ranges(
            r#"<Block Offset="0" Length="4" Id="QQ==" Status="Completed"/>
<Block Offset="6" Length="2" Status="Failed"/>
<Block Offset="8" Length="4" Id="Qg==" Status="Failed"/>"#,
        );
        let drive = Drive::build(Some(manifest_of_three_blocks()), Some(log)).unwrap();
        let a = &drive.blobs[0];
        let facts: Vec<_> = a
            .components
            .iter()
            .map(|c| {
                (
                    c.kind,
                    c.offset,
                    c.length,
                    c.copy_log_status.map(|s| s.as_str()),
                )
            })
            .collect();
        assert_eq!(
            facts,
            [
                (ComponentKind::Block, 0, 4, Some("Completed")),
                (ComponentKind::Block, 4, 2, None),
                (ComponentKind::Block, 6, 2, Some("Failed")),
                (ComponentKind::Block, 8, 4, Some("Failed")),
                (ComponentKind::File, 0, 12, None),
                (ComponentKind::Properties, 0, 0, None),
            ]
        );
        assert_eq!(a.block_id(&a.components[0]), Some("QQ=="));
        assert_eq!(a.block_id(&a.components[3]), Some("Qg=="));
        assert_eq!(a.components[3].expected_md5, None);
    }

    #[test]
    fn a_log_range_that_straddles_manifest_ranges_is_refused() {
        for straddling in [
            r#"<Block Offset="2" Length="4" Status="Failed"/>"#,
            r#"<Block Offset="4" Length="4" Status="Failed"/>"#,
            r#"<Block Offset="0" Length="2" Status="Failed"/>"#,
            r#"<Block Offset="5" Length="0" Status="Failed"/>"#,
        ] {
            let log = log_with_ranges(straddling);
            let error = Drive::build(Some(manifest_of_three_blocks()), Some(log)).unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, ModelError::RangeMismatch { .. })
                    && message.contains(r#"a range of "\\c\\a.bin" at Offset"#)
                    && message.contains("of the same export as the manifest?"),
                "{straddling}: {message}"
            );
        }
    }

    /// What `Drive::read` builds from a copy log file equals what `Drive::build` builds from
    /// the parsed log, and a contradicting range is refused at its line.
    #[test]
    fn a_streamed_copy_log_builds_the_same_drive() {
        let dir = tempfile::tempdir().unwrap();
        let logs = [
            LOG.to_string(),
            // Ranges out of order, a gap range, a log-only blob with ranges.
            r#"<DriveLog><DriveId>D1</DriveId>
<Blob Status="CompletedWithErrors"><BlobPath>c/a.bin</BlobPath><FilePath>\c\a.bin</FilePath>
<Length>12</Length><BlockList><Block Offset="8" Length="4" Id="Qg==" Status="Failed"/>
<Block Offset="0" Length="4" Id="QQ==" Status="Completed"/>
<Block Offset="6" Length="2" Status="Failed"/></BlockList></Blob>
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
            let built =
                Drive::build(Some(manifest()), Some(CopyLog::parse_str(log).unwrap())).unwrap();
            let read = Drive::read(Some(manifest()), Some(&path)).unwrap();
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
        let error = Drive::read(Some(manifest_of_three_blocks()), Some(&straddling)).unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, ModelError::RangeMismatch { .. })
                && message.contains("straddles another range of the file (Offset 0, Length 4)"),
            "{message}"
        );
        let past_end = dir.path().join("past_end.xml");
        let past = log_with_ranges(r#"<Block Offset="8" Length="4" Status="Failed"/>"#).to_xml();
        std::fs::write(&past_end, past.replace(r#"Offset="8""#, r#"Offset="12""#)).unwrap();
        let error = Drive::read(Some(manifest_of_three_blocks()), Some(&past_end)).unwrap_err();
        assert!(
            matches!(error, ModelError::Format(ref e) if e.line > 1)
                && error
                    .to_string()
                    .contains("ends at byte 16, beyond the blob's Length 12"),
            "{error}"
        );
    }
}
