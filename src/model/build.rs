//! Merging the manifest and the copy log into one `Drive`.

use std::collections::HashMap;

use crate::format::copylog::{AnyCopyLog, LogBlob, LogSideFile};
use crate::format::manifest::{Manifest, ManifestBlob};
use crate::format::status::BlobStatus;

use super::{Blob, Component, ComponentKind, Drive, LogStatus, Logs};

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
        let mut drive = Drive {
            drive_id,
            blobs,
            has_manifest,
            warnings,
        };
        super::v2021::merge(&mut drive, copy_log_2021, logs.verbose_log)?;
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
    // Where the ranges do not reach the end of the file (an empty blob, a sparse page
    // blob), the file's existence and length are checked as a component of their own.
    let covered = components.last().map_or(0, |c| c.offset + c.length);
    if components.is_empty() || covered < blob.length {
        components.push(Component {
            kind: ComponentKind::File,
            offset: 0,
            length: blob.length,
            expected_md5: None,
            block_id: None,
            copy_log_status: None,
        });
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
    let mut added = false;
    for range in log.ranges {
        let kind = log
            .kind
            .map(ComponentKind::from)
            .unwrap_or(ComponentKind::Block);
        let existing = blob.components.iter_mut().find(|c| {
            !c.kind.is_side_file() && c.offset == range.offset && c.length == range.length
        });
        match existing {
            Some(component) => {
                component.copy_log_status = Some(LogStatus::Range(range.status));
                if component.block_id.is_none() {
                    component.block_id = range.id.map(String::into_boxed_str);
                }
            }
            None => {
                added = true;
                blob.components.push(Component {
                    kind,
                    offset: range.offset,
                    length: range.length,
                    expected_md5: range.hash,
                    block_id: range.id.map(String::into_boxed_str),
                    copy_log_status: Some(LogStatus::Range(range.status)),
                });
            }
        }
    }
    merge_side(blob, ComponentKind::Properties, log.properties);
    merge_side(blob, ComponentKind::Metadata, log.metadata);
    if added {
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

fn sort_components(components: &mut [Component]) {
    components.sort_by_key(|c| (c.kind.rank(), c.offset));
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
        assert_eq!(a.components.len(), 3);
        assert_eq!(a.components[0].copy_log_status, None);
        assert_eq!(
            a.components[1].copy_log_status,
            Some(LogStatus::Range(RangeStatus::Failed))
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
