//! Merging the manifest and the copy log into one `Drive`.
//!
//! Both lists of ranges are sorted by offset (the parsers make sure), so a copy log's ranges
//! meet a blob's components in one merge pass: linear in the blob's size, whatever the
//! number of ranges, and any range that straddles a manifest component is caught on the way.

use std::collections::HashMap;

use crate::format::copylog::{CopyLog, LogBlob, LogRange, LogSideFile};
use crate::format::manifest::{Manifest, ManifestBlob};
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
         {log_length}, which straddles the manifest's range at Offset {manifest_offset} with \
         Length {manifest_length}: the copy log and the manifest are not of the same export"
    )]
    RangeMismatch {
        file_path: String,
        log_offset: u64,
        log_length: u64,
        manifest_offset: u64,
        manifest_length: u64,
    },
}

impl Drive {
    /// Builds the drive from a manifest, a copy log, or both.
    pub fn build(
        manifest: Option<Manifest>,
        copy_log: Option<CopyLog>,
    ) -> Result<Self, ModelError> {
        let mut warnings = Vec::new();
        let drive_id = match (&manifest, &copy_log) {
            (Some(manifest), Some(log)) => {
                if manifest.drive_id != log.drive_id {
                    warnings.push(format!(
                        "the manifest is for drive {} but the copy log for drive {}; \
                         using the manifest's (check you have the right copy log)",
                        manifest.drive_id, log.drive_id
                    ));
                }
                manifest.drive_id.clone()
            }
            (Some(manifest), None) => manifest.drive_id.clone(),
            (None, Some(log)) => log.drive_id.clone(),
            (None, None) => return Err(ModelError::NothingToCheck),
        };
        let has_manifest = manifest.is_some();
        let mut blobs: Vec<Blob> = manifest
            .map(|m| m.blobs.into_iter().map(blob_from_manifest).collect())
            .unwrap_or_default();
        if let Some(log) = copy_log {
            let mut by_path: HashMap<String, usize> = blobs
                .iter()
                .enumerate()
                .map(|(index, blob)| (blob.file_path.clone(), index))
                .collect();
            let by_lower: HashMap<String, usize> = blobs
                .iter()
                .enumerate()
                .map(|(index, blob)| (blob.file_path.to_lowercase(), index))
                .collect();
            for log_blob in log.blobs {
                let found = by_path
                    .get(&log_blob.file_path)
                    .or_else(|| by_lower.get(&log_blob.file_path.to_lowercase()))
                    .copied();
                match found {
                    Some(index) => merge_log_blob(&mut blobs[index], log_blob)?,
                    None => {
                        if has_manifest && log_blob.needs_repair() {
                            warnings.push(format!(
                                "the copy log lists {} ({}), which the manifest does not",
                                log_blob.file_path, log_blob.blob_path
                            ));
                        }
                        by_path.insert(log_blob.file_path.clone(), blobs.len());
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
    // The blob's ranges lead its components, sorted by offset; so do the log's ranges.
    let ranges_end = blob
        .components
        .iter()
        .position(|c| !matches!(c.kind, ComponentKind::Block | ComponentKind::Page))
        .unwrap_or(blob.components.len());
    let mut added = Vec::new();
    let mut next = 0;
    for range in log.ranges {
        let same = |c: &Component| c.offset == range.offset && c.length == range.length;
        // Components that end before this range (and are not it) are behind the merge.
        while let Some(c) = blob.components[..ranges_end].get(next)
            && c.offset + c.length <= range.offset
            && !same(c)
        {
            next += 1;
        }
        match blob.components[..ranges_end].get_mut(next) {
            Some(component) if same(component) => {
                component.copy_log_status = Some(LogStatus::range(&range.status));
                if component.block_id.is_none() {
                    component.block_id = range.id.and_then(|id| blob.block_ids.add(&id));
                }
                next += 1;
            }
            Some(component) if component.offset < range.offset.saturating_add(range.length) => {
                return Err(ModelError::RangeMismatch {
                    file_path: blob.file_path.clone(),
                    log_offset: range.offset,
                    log_length: range.length,
                    manifest_offset: component.offset,
                    manifest_length: component.length,
                });
            }
            // In a gap between the manifest's ranges (or past them): a component of its own.
            _ => added.push(log_component(kind, range, &mut blob.block_ids)),
        }
    }
    merge_side(blob, ComponentKind::Properties, log.properties);
    merge_side(blob, ComponentKind::Metadata, log.metadata);
    if !added.is_empty() {
        blob.components.extend(added);
        sort_components(&mut blob.components);
    }
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
                    && message.contains("not of the same export"),
                "{straddling}: {message}"
            );
        }
    }
}
