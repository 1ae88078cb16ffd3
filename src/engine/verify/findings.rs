//! Verdicts reached without hashing: read errors, lengths, refused paths, components with
//! nothing to hash.

use std::io;

use super::Finding;
use crate::model::v2021::RepairAction;
use crate::model::{Blob, Component, ComponentId, ComponentStatus};
use crate::rooted::RootedError;
use crate::sanitize::escape_controls;

pub(super) fn read_error(id: ComponentId, component: &Component, error: &io::Error) -> Finding {
    Finding::new(
        id,
        ComponentStatus::Corrupt,
        Some(format!(
            "read error in this {} at byte {}: {error}",
            component.kind.as_str(),
            component.offset
        )),
    )
}

/// How a file that only the copy log names is proven once a repair has downloaded it.
const AFTER_A_REPAIR: &str = "; once a repair has downloaded it, `verify --repair-file FILE` \
                              checks it against the MD5 recorded then";

/// A whole-file component: its length; for a file known only from the copy log, whose bytes
/// nothing else checks, the copy log's word when it reports a failure.
pub(super) fn length_check(
    id: ComponentId,
    blob: &Blob,
    component: &Component,
    file_length: u64,
) -> Finding {
    if let Some(error) = blob.export.as_deref().and_then(|e| e.error.as_ref())
        && !blob.in_manifest
        && error.action == RepairAction::DownloadWhole
    {
        // The 2021 copy log names no size and no checksum: nothing proves such a file right.
        return Finding::new(
            id,
            ComponentStatus::Corrupt,
            Some(format!(
                "{}; nothing on the drive proves the file right (the copy log lists no size or \
                 checksum for it){AFTER_A_REPAIR}",
                error.describe()
            )),
        );
    }
    if (!blob.in_manifest || blob.is_sole_whole_file(component))
        && component
            .copy_log_status
            .as_ref()
            .is_some_and(|status| !status.is_completed())
    {
        let mut finding = unhashed(id, component);
        if let Some(reason) = &mut finding.reason {
            reason.push_str(AFTER_A_REPAIR);
        }
        return finding;
    }
    let length = blob.length;
    match file_length.cmp(&length) {
        // Of a file only the copy log lists, nothing checks the bytes: the length is not them.
        std::cmp::Ordering::Equal if !blob.in_manifest && blob.is_sole_whole_file(component) => {
            Finding::new(
                id,
                ComponentStatus::Skipped,
                Some(format!(
                    "no hash to check this file against: only its length ({length} bytes, the \
                     copy log's Length) is right{AFTER_A_REPAIR}"
                )),
            )
        }
        std::cmp::Ordering::Equal => Finding::new(id, ComponentStatus::Verified, None),
        std::cmp::Ordering::Less => Finding::new(
            id,
            ComponentStatus::Missing,
            Some(format!(
                "the file is {file_length} bytes long, shorter than the blob's Length {length}"
            )),
        ),
        std::cmp::Ordering::Greater => Finding::new(
            id,
            ComponentStatus::Corrupt,
            Some(format!(
                "bytes past the end: the file is {file_length} bytes long, {} more than the \
                 blob's Length {length}",
                file_length - length,
            )),
        ),
    }
}

/// What the copy log reports about the file, to follow a verdict: ` (the copy log reports …)`.
pub(super) fn reported(blob: &Blob) -> String {
    blob.export
        .as_deref()
        .and_then(|record| record.error.as_ref())
        .map(|error| format!(" ({})", error.describe()))
        .unwrap_or_default()
}

pub(super) fn refused(id: ComponentId, error: &RootedError) -> Finding {
    Finding::new(
        id,
        ComponentStatus::Failed,
        Some(escape_controls(&format!("refused: {error}")).into_owned()),
    )
}

/// A component with no expected hash: only the copy log's word is known.
pub(super) fn unhashed(id: ComponentId, component: &Component) -> Finding {
    match &component.copy_log_status {
        Some(status) if !status.is_completed() => Finding::new(
            id,
            ComponentStatus::Corrupt,
            Some(format!(
                "the copy log reports {}; there is no manifest hash to check this {} against",
                status.as_str(),
                component.kind.as_str()
            )),
        ),
        _ => Finding::new(
            id,
            ComponentStatus::Skipped,
            Some(format!(
                "no hash to check this {} against",
                component.kind.as_str()
            )),
        ),
    }
}
