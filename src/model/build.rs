//! Merging the manifest and the copy log into one `Drive`.

use std::collections::HashMap;

use crate::format::copylog::{AnyCopyLog, LogBlob, LogRange, LogSideFile};
use crate::format::drive_path::claim_key;
use crate::format::manifest::{Manifest, ManifestBlob};
use crate::format::status::BlobStatus;

use super::{Blob, Component, ComponentKind, Drive, LogStatus, Logs};
use crate::sanitize::escape_controls;

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
        "the verbose log lists {file_path:?} with Size {verbose_log} but the manifest says {manifest}"
    )]
    SizeMismatch {
        file_path: String,
        manifest: u64,
        verbose_log: u64,
    },
    #[error(
        "the verbose log's files add up to {} bytes, more than any export drive holds \
         (32 TiB at most): is it the right log?",
        if *total == u64::MAX { "more than 18446744073709551615".to_string() } else { total.to_string() }
    )]
    TooLarge { total: u64 },
}

impl Drive {
    /// Builds the drive from a manifest, the logs (a copy log of any generation, a 2021
    /// verbose log), or both.
    pub fn build(manifest: Option<Manifest>, logs: Option<Logs>) -> Result<Self, ModelError> {
        let logs = logs.unwrap_or_default();
        let (copy_log, copy_log_2021) = match logs.copy_log {
            Some(AnyCopyLog::DriveLog(log)) => (Some(log), None),
            Some(AnyCopyLog::V2021(log)) => (None, Some(log)),
            None => (None, None),
        };
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
            // A 2021 log's DriveId is a GUID, not the serial number the manifest names: the
            // two are not compared.
            (None, None) => match (&copy_log_2021, &logs.verbose_log) {
                (Some(log), _) => log.summary.drive_id.clone(),
                (None, Some(_)) => logs.drive_id.clone().unwrap_or_default(),
                (None, None) => return Err(ModelError::NothingToCheck),
            },
        };
        let has_manifest = manifest.is_some();
        let mut blobs: Vec<Blob> = manifest
            .map(|m| m.blobs.into_iter().map(blob_from_manifest).collect())
            .unwrap_or_default();
        if let Some(log) = copy_log {
            // A copy-log entry is the manifest's entry when both name the same blob and their
            // FilePaths are one file on NTFS; anything else is an entry of its own (and two
            // entries on one file are refused below).
            let identity = |blob_path: &str, file_path: &str| {
                claim_key(file_path)
                    .ok()
                    .map(|key| (blob_path.to_string(), key))
            };
            let by_identity: HashMap<(String, String), usize> = blobs
                .iter()
                .enumerate()
                .filter_map(|(index, blob)| {
                    identity(&blob.blob_path, &blob.file_path).map(|key| (key, index))
                })
                .collect();
            for log_blob in log.blobs {
                let found = identity(&log_blob.blob_path, &log_blob.file_path)
                    .and_then(|key| by_identity.get(&key))
                    .copied();
                match found {
                    Some(index) => merge_log_blob(&mut blobs[index], log_blob, &mut warnings)?,
                    None => {
                        if has_manifest && log_blob.needs_repair() {
                            warnings.push(format!(
                                "the copy log lists {} ({}), which the manifest does not",
                                log_blob.file_path, log_blob.blob_path
                            ));
                        }
                        blobs.push(blob_from_log(log_blob));
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
        Ok(drive)
    }
}

fn blob_from_manifest(blob: ManifestBlob) -> Blob {
    let kind = ComponentKind::from(blob.kind);
    let mut components: Vec<Component> = blob
        .ranges
        .into_iter()
        .map(|range| Component {
            kind,
            offset: range.offset,
            length: range.length,
            expected_md5: Some(range.hash),
            block_id: range.id,
            copy_log_status: None,
        })
        .collect();
    // The file's length is a component of its own: bytes missing at the end of a sparse page
    // blob, or bytes past the end of any blob, are found even where no range looks.
    components.push(Component {
        kind: ComponentKind::File,
        offset: 0,
        length: blob.length,
        expected_md5: None,
        block_id: None,
        copy_log_status: None,
    });
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
        refusal: None,
        components,
        export: None,
    }
}

fn side_component(kind: ComponentKind, hash: Option<crate::format::Md5>) -> Component {
    Component {
        kind,
        offset: 0,
        length: 0,
        expected_md5: hash,
        block_id: None,
        copy_log_status: None,
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
    blob.last_modified = log.last_modified;
    if blob.snapshot.is_none() {
        blob.snapshot = log.snapshot;
    }
    for range in &log.ranges {
        if !mark_covering_components(&mut blob.components, range) && !range.status.is_completed() {
            warnings.push(format!(
                "the copy log reports bytes {}..{} of {} {}, but no range of the manifest holds \
                 them; there is nothing to check or rewrite there",
                range.offset,
                range.offset.saturating_add(range.length),
                escape_controls(&blob.file_path),
                range.status.as_str()
            ));
        }
    }
    merge_side(blob, ComponentKind::Properties, log.properties);
    merge_side(blob, ComponentKind::Metadata, log.metadata);
    if is_whole_file_failure(&log.status)
        && let Some(file) = blob
            .components
            .iter_mut()
            .find(|c| c.kind == ComponentKind::File)
    {
        file.copy_log_status = Some(LogStatus::Blob(log.status.clone()));
    }
    blob.copy_log_status = Some(log.status);
    Ok(())
}

/// Gives the copy log's status for `range` to the manifest's data components it overlaps: the
/// one it names exactly, or (a range that does not line up with the manifest's blocks) every
/// component it touches, so that each is downloaded and checked against its own hash. A range
/// is never a component of its own in a manifest blob: its bytes would have no hash. Returns
/// whether any component was touched.
fn mark_covering_components(components: &mut [Component], range: &LogRange) -> bool {
    let data_end = components
        .partition_point(|c| matches!(c.kind, ComponentKind::Block | ComponentKind::Page));
    let data = &mut components[..data_end];
    let end = range.offset.saturating_add(range.length);
    // Data components are sorted by offset and do not overlap (the manifest's checks).
    let first = data.partition_point(|c| c.offset + c.length <= range.offset);
    let mut touched = false;
    for component in data[first..].iter_mut().take_while(|c| c.offset < end) {
        touched = true;
        let exact = component.offset == range.offset && component.length == range.length;
        // A failure wins over a completion another range reported for the same bytes.
        let failed = !range.status.is_completed();
        if exact || failed || component.copy_log_status.is_none() {
            component.copy_log_status = Some(LogStatus::Range(range.status.clone()));
        }
        if exact && component.block_id.is_none() {
            component.block_id = range.id.clone().map(String::into_boxed_str);
        }
    }
    touched
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
    let status = LogStatus::File(side.status);
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

fn blob_from_log(log: LogBlob) -> Blob {
    let kind = log
        .kind
        .map(ComponentKind::from)
        .unwrap_or(ComponentKind::Block);
    let mut components: Vec<Component> = log
        .ranges
        .into_iter()
        .map(|range| Component {
            kind,
            offset: range.offset,
            length: range.length,
            expected_md5: range.hash,
            block_id: range.id.map(String::into_boxed_str),
            copy_log_status: Some(LogStatus::Range(range.status)),
        })
        .collect();
    let length = log.length.unwrap_or(0);
    if components.is_empty() && is_whole_file_failure(&log.status) {
        components.push(Component {
            kind: ComponentKind::File,
            offset: 0,
            length,
            expected_md5: None,
            block_id: None,
            copy_log_status: Some(LogStatus::Blob(log.status.clone())),
        });
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
        refusal: None,
        components,
        export: None,
    };
    merge_side(&mut blob, ComponentKind::Properties, log.properties);
    merge_side(&mut blob, ComponentKind::Metadata, log.metadata);
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
            Some(LogStatus::Range(RangeStatus::Failed))
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
                Some(LogStatus::Range(RangeStatus::Failed))
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
}
