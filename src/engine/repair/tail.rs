//! The length of a file only the copy log describes, by ranges. Nothing holds a hash of its
//! bytes: those the copy log does not list are the drive's, as the export wrote them, and
//! when the file is cut short, the storage's, read pinned to the exported version as its ranges
//! are. Its length is the storage's, whatever the copy log's `Length` claims. Bytes nobody
//! vouched for (zeros) are never written.

use super::commit::{Written, failed, write_parts};
use super::fetch::Part;
use super::{JobEnd, Repairer, Stop, copy_log_note, is_unpinned};
use crate::format::Md5;
use crate::journal::Done;
use crate::md5::Md5Stream;
use crate::model::{Component, ComponentId, ComponentKind, ComponentStatus};
use crate::rooted::{FileIdentity, RootedError};
use crate::sanitize::escape_controls;
use crate::source::{BlobSource, ReadConditions};

const UNPINNED: &str = "the copy log gives no usable LastModified: nothing pins the storage's \
    length, or bytes it would add to the file, to the exported version; nothing was changed. \
    Pass the drive's manifest (--manifest) to check the file";

const NO_HASH: &str = "pinned to the export; the copy log lists no hash to check it against";

impl Repairer {
    /// Brings a file only the copy log lists by ranges to the storage's length: bytes past
    /// the end are cut once its ranges are right; a missing end is downloaded, in order from
    /// where the file ends (so that no byte is left unwritten before another), and settles
    /// the ranges it covers. Nothing changes unless the reads are pinned to the export.
    pub(super) async fn restore_logged_length(
        &self,
        source: &dyn BlobSource,
        blob_index: u32,
        component_index: u32,
    ) -> JobEnd {
        let blob = &self.drive.blobs[blob_index as usize];
        let id = ComponentId {
            blob: blob_index,
            component: component_index,
        };
        let source_blob = match self.blob_ref(blob) {
            Ok(source_blob) => source_blob,
            Err(error) => return self.source_failed(&[id], error).await,
        };
        if let Some(refusal) = self.logged_length_refusal(blob_index) {
            return self.settle(vec![failed(id, refusal)]).await;
        }
        let conditions = self.conditions(blob_index);
        let properties = match self.properties(source, &source_blob, &conditions).await {
            Ok(properties) => properties,
            Err(stop) => return self.stopped(&[id], stop).await,
        };
        let length = properties.content_length;
        self.learn_storage_length(id, length).await;
        let note = copy_log_note(blob, length);
        let file_path = blob.file_path.clone();
        let end = self
            .on_drive(
                &[id],
                move |root| file_end(root, &file_path),
                |_, reason| Err(reason),
            )
            .await;
        let start = match end {
            Ok(end) if end < length => end,
            Ok(_) => {
                // Inside the commit: the intent is recorded before the length changes.
                let set = async {
                    let mut done = self.set_length(id, length).await;
                    if !note.is_empty() {
                        let reason = done
                            .reason
                            .get_or_insert_with(|| "the file has the storage's length".into());
                        reason.push_str(&note);
                    }
                    Written::Done(vec![done])
                };
                return self.commit(&[id], set).await;
            }
            Err(reason) => {
                let reason = format!("cannot read {}: {reason}", escape_controls(&blob.file_path));
                return self.settle(vec![failed(id, reason)]).await;
            }
        };
        // The ranges the missing end holds: written with it.
        let covered: Vec<ComponentId> = blob
            .components
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.kind, ComponentKind::Block | ComponentKind::Page))
            .filter(|(_, c)| c.offset >= start && c.offset.saturating_add(c.length) <= length)
            .map(|(index, _)| ComponentId {
                blob: blob_index,
                component: index as u32,
            })
            .collect();
        let ids: Vec<ComponentId> = std::iter::once(id).chain(covered.iter().copied()).collect();
        let pinned = ReadConditions {
            if_unmodified_since: conditions.if_unmodified_since,
            if_match: properties.etag.clone().or(conditions.if_match),
        };
        let write = async {
            let chunk = self.options.max_request_bytes.max(1);
            let mut at = start;
            let mut identity = None;
            // Each covered range's MD5 as written: what a later check compares it with.
            let mut hashes: Vec<RangeHash> = covered
                .iter()
                .map(|&range| RangeHash::new(range, self.drive.component(range)))
                .collect();
            let mut failure = None;
            while at < length {
                let size = chunk.min(length - at);
                let read = async {
                    let room = self.room_for(size).await?;
                    let bytes = self
                        .read_range(source, &source_blob, at, size, &pinned)
                        .await?;
                    Ok::<_, Stop>((room, bytes))
                };
                let (room, bytes) = match read.await {
                    Ok(read) => read,
                    // A refusal of the credentials waits for new ones; the job then goes on
                    // from where the file ends.
                    Err(Stop::Source(error))
                        if at > start && error.refused_credentials().is_none() =>
                    {
                        failure = Some(escape_controls(&error.to_string()).into_owned());
                        break;
                    }
                    Err(stop) => return Written::Stopped(stop),
                };
                let facts = blob.clone_facts();
                let (written, hashed) = self
                    .on_drive(
                        &[id],
                        move |root| {
                            for hash in &mut hashes {
                                hash.take(at, &bytes);
                            }
                            let part = Part {
                                id,
                                offset: at,
                                md5: Md5::of(&bytes),
                                pieces: vec![bytes],
                            };
                            let done = write_parts(root, &facts, std::slice::from_ref(&part));
                            drop(room);
                            (done, hashes)
                        },
                        |ids, reason| (vec![failed(ids[0], reason)], Vec::new()),
                    )
                    .await;
                hashes = hashed;
                match written.into_iter().next() {
                    Some(done) if done.status == ComponentStatus::Repaired => {
                        identity = done.identity;
                        at += size;
                    }
                    other => {
                        failure = Some(other.and_then(|done| done.reason).unwrap_or_default());
                        break;
                    }
                }
            }
            let end = Ended { at, identity };
            let ended = failure.map_or(Ok(note), Err);
            Written::Done(self.tail_verdicts(id, start, end, ended, &covered, hashes))
        };
        self.commit(&ids, write).await
    }

    /// Why the length of a file only the copy log lists may not be changed, if it may not:
    /// nothing pins the storage's to the export. None for a manifest blob's.
    pub(super) fn logged_length_refusal(&self, blob_index: u32) -> Option<String> {
        let blob = &self.drive.blobs[blob_index as usize];
        (!blob.in_manifest && is_unpinned(blob, &self.conditions(blob_index)))
            .then(|| UNPINNED.to_string())
    }

    /// The verdicts of a missing end downloaded from `start` to where it `ended`: the file's
    /// (repaired, or failed with the reason) and those of the ranges it `covered`: repaired,
    /// with the MD5s they were written with (`hashes`), when written whole; failed otherwise.
    fn tail_verdicts(
        &self,
        id: ComponentId,
        start: u64,
        end: Ended,
        ended: Result<String, String>,
        covered: &[ComponentId],
        hashes: Vec<RangeHash>,
    ) -> Vec<Done> {
        let Ended { at, identity } = end;
        let mut hashes: std::collections::HashMap<ComponentId, RangeHash> =
            hashes.into_iter().map(|hash| (hash.id, hash)).collect();
        let not_written = match &ended {
            Ok(_) => String::new(),
            Err(reason) => {
                format!("the file's missing end, which holds it, was not written whole: {reason}")
            }
        };
        let file = match ended {
            Ok(note) => Done {
                id,
                status: ComponentStatus::Repaired,
                actual_md5: None,
                storage_md5: None,
                reason: Some(format!(
                    "the file ended at byte {start}: its missing end ({start}..{at}) was \
                     downloaded, {NO_HASH}{note}"
                )),
                identity,
            },
            Err(reason) => failed(
                id,
                format!(
                    "the file ended at byte {start}; its missing end was written up to byte \
                     {at} ({NO_HASH}), then: {reason}; a rerun goes on from there"
                ),
            ),
        };
        let ranges = covered.iter().map(|&range| match hashes.remove(&range) {
            Some(hash) if hash.end <= at => {
                let md5 = hash.hash.finish();
                Done {
                    id: range,
                    status: ComponentStatus::Repaired,
                    actual_md5: Some(md5),
                    storage_md5: Some(md5),
                    reason: Some(format!("written with the file's missing end, {NO_HASH}")),
                    identity,
                }
            }
            _ => failed(range, not_written.clone()),
        });
        std::iter::once(file).chain(ranges).collect()
    }
}

/// Where a missing end's download stopped: the byte it reached, the file's identity then.
struct Ended {
    at: u64,
    identity: Option<FileIdentity>,
}

/// A covered range's MD5, taken from the pieces of the missing end as they pass.
struct RangeHash {
    id: ComponentId,
    offset: u64,
    end: u64,
    hash: Md5Stream,
}

impl RangeHash {
    fn new(id: ComponentId, component: &Component) -> Self {
        Self {
            id,
            offset: component.offset,
            end: component.offset + component.length,
            hash: Md5Stream::new(),
        }
    }

    /// Takes the range's bytes out of a piece of the file at `at`.
    fn take(&mut self, at: u64, piece: &[u8]) {
        let from = self.offset.max(at);
        let to = self.end.min(at + piece.len() as u64);
        if from < to {
            self.hash
                .update(&piece[(from - at) as usize..(to - at) as usize]);
        }
    }
}

/// Where a file ends on the drive: 0 when it is not there.
fn file_end(root: &crate::rooted::RootedDir, file_path: &str) -> Result<u64, String> {
    let located = root
        .locate_file_path(file_path)
        .map_err(|error| error.to_string())?;
    if !located.exists() {
        return Ok(0);
    }
    let file = located
        .open_read()
        .map_err(|error: RootedError| error.to_string())?;
    file.metadata()
        .map(|metadata| metadata.len())
        .map_err(|error| error.to_string())
}
