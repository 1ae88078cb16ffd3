//! The length of a file only the copy log describes, by ranges. Nothing holds a hash of its
//! bytes: those the copy log does not list are the drive's, as the export wrote them, and
//! when the file is cut short, the storage's, read pinned to the exported version as its ranges
//! are. Its length is the copy log's `Length`, which the storage's must match (else they are not
//! one version and nothing changes). Bytes nobody vouched for (zeros) are never written.

use super::commit::{Written, failed, file_end_and_range, past_end_reason, write_parts};
use super::fetch::{MAX_COMPONENT_IN_MEMORY, Part, Vouched};
use super::{JobEnd, Repairer, Stop, is_unpinned, locked, pinned_to};
use crate::engine::Work;
use crate::format::Md5;
use crate::journal::Done;
use crate::md5::Md5Stream;
use crate::model::{Blob, Component, ComponentId, ComponentKind, ComponentStatus};
use crate::rooted::{FileIdentity, RootedError};
use crate::sanitize::escape_controls;
use crate::source::BlobSource;

const UNPINNED: &str = "the copy log gives no usable LastModified: nothing pins the storage's \
    length, or bytes it would add to the file, to the exported version; nothing was changed. \
    Pass a manifest that lists the file (--manifest) to check it";

const NO_HASH: &str = "pinned to the export; the copy log lists no hash to check it against";

/// Ranges reaching past the end of a short file only the copy log lists (from `file_end`):
/// their download waits for the file's missing end, which brings them (`bring_to_length`).
pub(super) struct AwaitingEnd {
    /// Each range, with the byte it starts at.
    pub ranges: Vec<(ComponentId, u64)>,
    pub file_end: u64,
}

impl AwaitingEnd {
    pub(super) fn ids(&self) -> impl Iterator<Item = ComponentId> + '_ {
        self.ranges.iter().map(|&(id, _)| id)
    }

    /// The ranges' verdicts when no missing end came for them: as the write would have been
    /// refused.
    pub(super) fn past_end(&self) -> Vec<Done> {
        (self.ranges.iter())
            .map(|&(id, offset)| failed(id, past_end_reason(self.file_end, offset)))
            .collect()
    }

    /// The same but only the ranges `keep` accepts.
    fn only(&self, keep: impl Fn(&ComponentId) -> bool) -> Self {
        Self {
            ranges: (self.ranges.iter().copied())
                .filter(|(id, _)| keep(id))
                .collect(),
            ..*self
        }
    }

    /// The ranges' verdicts when the missing end was not downloaded, `why`.
    pub(super) fn not_brought(&self, why: &str) -> impl Iterator<Item = Done> {
        self.ranges.iter().map(move |&(id, offset)| {
            failed(
                id,
                format!(
                    "{}: it comes with the file's missing end, which was not downloaded: {why}",
                    file_end_and_range(self.file_end, offset)
                ),
            )
        })
    }
}

impl Repairer {
    /// Brings a file only the copy log lists by ranges to its length, once the storage agrees
    /// with it: bytes past the end are cut once its ranges are right; a missing end is
    /// downloaded in order, from where the file ends or the first range it cuts short starts
    /// (so that no byte is left unwritten before another, and that range is checked whole),
    /// and settles the ranges it covers, those that waited for it among them.
    /// Nothing changes unless the reads are pinned to the export.
    pub(super) async fn restore_logged_length(
        &self,
        source: &dyn BlobSource,
        blob_index: u32,
        component_index: u32,
    ) -> JobEnd {
        let waiting = locked(&self.awaiting_end)
            .remove(&blob_index)
            .unwrap_or_default();
        let ended = self
            .bring_to_length(source, blob_index, component_index, &waiting)
            .await;
        if matches!(ended, JobEnd::Refused(..)) {
            // Tried again with new credentials: those the part written so far did not settle
            // still wait.
            let settled = locked(&self.verdicts);
            let still: Vec<AwaitingEnd> = waiting
                .iter()
                .map(|awaiting| {
                    awaiting.only(|id| settled.get(id) != Some(&ComponentStatus::Repaired))
                })
                .filter(|awaiting| !awaiting.ranges.is_empty())
                .collect();
            drop(settled);
            locked(&self.awaiting_end)
                .entry(blob_index)
                .or_default()
                .extend(still);
        }
        ended
    }

    async fn bring_to_length(
        &self,
        source: &dyn BlobSource,
        blob_index: u32,
        component_index: u32,
        waiting: &[AwaitingEnd],
    ) -> JobEnd {
        let blob = &self.drive.blobs[blob_index as usize];
        let id = ComponentId {
            blob: blob_index,
            component: component_index,
        };
        let with_waiting: Vec<ComponentId> = std::iter::once(id)
            .chain(waiting.iter().flat_map(AwaitingEnd::ids))
            .collect();
        // The file's verdict, and those of the ranges that waited for its missing end.
        let refused = |reason: String| {
            let not_brought = waiting
                .iter()
                .flat_map(|awaiting| awaiting.not_brought(&reason));
            let mut done: Vec<Done> = not_brought.collect();
            done.insert(0, failed(id, reason));
            done
        };
        let source_blob = match self.blob_ref(blob) {
            Ok(source_blob) => source_blob,
            Err(error) => return self.source_failed(&with_waiting, error).await,
        };
        if let Some(refusal) = self.logged_length_refusal(blob_index) {
            return self.settle(refused(refusal)).await;
        }
        let conditions = self.conditions(blob_index);
        let properties = match self.properties(source, &source_blob, &conditions).await {
            Ok(properties) => properties,
            Err(stop) => return self.stopped(&with_waiting, stop).await,
        };
        let length = properties.content_length;
        if length != blob.length {
            // Not one version: the ranges, and the bytes the drive holds, are laid out by the
            // copy log's Length; neither may be cut or extended to another.
            return self
                .settle(refused(not_one_version(length, blob.length)))
                .await;
        }
        let file_path = blob.file_path.clone();
        let end = self
            .on_drive(
                &[id],
                move |root| file_end(root, &file_path),
                |_, reason| Err(reason),
            )
            .await;
        const GREW: &str = "the file changed during the run (it is no longer that short); a \
            rerun repairs the range";
        let start = match end {
            Ok(end) if end < length => end,
            Ok(_) => {
                // Inside the commit: the intent is recorded before the length changes.
                let set = async {
                    let mut done = vec![self.set_length(id).await];
                    done.extend(
                        waiting
                            .iter()
                            .flat_map(|awaiting| awaiting.not_brought(GREW)),
                    );
                    Written::Done(done)
                };
                return self.commit(&with_waiting, set).await;
            }
            Err(reason) => {
                let reason = format!("cannot read {}: {reason}", escape_controls(&blob.file_path));
                return self.settle(refused(reason)).await;
            }
        };
        // The ranges the missing end holds, whole or in part: written with it, from where the
        // first of them starts (the drive's bytes of a range cut short are rewritten with the
        // rest, so that it is checked whole).
        let covered: Vec<ComponentId> = missing_end_ranges(blob, start)
            .map(|index| ComponentId {
                blob: blob_index,
                component: index as u32,
            })
            .collect();
        let from = missing_end_start(blob, start);
        // A range the copy log gives a hash for is read whole before any of it is written.
        let most = MAX_COMPONENT_IN_MEMORY.max(self.options.max_request_bytes);
        if let Some(large) = (covered.iter().map(|&range| self.drive.component(range)))
            .find(|range| range.expected_md5.is_some() && range.length > most)
        {
            let reason = format!(
                "the {}-byte range at byte {} is too large to check in memory before writing; \
                 nothing was written",
                large.length, large.offset
            );
            return self.settle(refused(reason)).await;
        }
        let ids: Vec<ComponentId> = std::iter::once(id).chain(covered.iter().copied()).collect();
        let pinned = pinned_to(&conditions, &properties);
        let write = async {
            let chunk = self.options.max_request_bytes.max(1);
            let mut at = from;
            let mut identity = None;
            // Each covered range's MD5 as written: what a later check compares it with, and
            // for a range the copy log gives a hash, what is checked before it is written.
            let mut hashes: Vec<RangeHash> = covered
                .iter()
                .map(|&range| RangeHash::new(range, self.drive.component(range)))
                .collect();
            let mut failure = None;
            // The bytes no covered range holds join the download's totals (the ranges' are
            // planned with them), once: an attempt after new credentials tells again what
            // the earlier ones wrote, which its start counted out.
            let planned_from = locked(&self.planned_ends).get(&id).copied();
            match planned_from {
                None => {
                    locked(&self.planned_ends).insert(id, start);
                    let unlisted = unlisted_bytes(blob, start, length);
                    self.plan_bytes(Work::Download, unlisted).await;
                }
                Some(planned) => {
                    let told = unlisted_bytes(blob, planned, start);
                    self.transferred(id, told).await;
                }
            }
            while at < length {
                let size = piece_size(at, chunk.min(length - at), &hashes);
                // Bytes outside the listed ranges have no hash: each request is checked
                // against the storage's MD5 of it.
                let read = async {
                    let room = self.room_for(size).await?;
                    let bytes = self
                        .read_range_checked(source, &source_blob, at, size, &pinned)
                        .await?;
                    Ok::<_, Stop>((room, bytes))
                };
                let (room, bytes) = match read.await {
                    Ok((room, (bytes, check))) => match check.damage() {
                        None => (room, bytes),
                        Some(damage) => {
                            failure = Some(damage);
                            break;
                        }
                    },
                    Err(Stop::Source(error)) if at > from => {
                        if error.refused_credentials().is_none() {
                            failure = Some(escape_controls(&error.to_string()).into_owned());
                            break;
                        }
                        // New credentials are awaited, then the job goes on from where the
                        // file ends: the ranges written so far keep what they were written
                        // with.
                        let written = range_verdicts(&covered, hashes, at, identity, "");
                        let _ = self.settle(written).await;
                        return Written::Stopped(Stop::Source(error));
                    }
                    Err(stop) => return Written::Stopped(stop),
                };
                let facts = self.facts(blob_index);
                let (written, hashed) = self
                    .on_drive(
                        &[id],
                        move |root| {
                            for hash in &mut hashes {
                                hash.take(at, &bytes);
                            }
                            if let Some(wrong) = hashes.iter().find_map(RangeHash::mismatch) {
                                return (Err(wrong), hashes);
                            }
                            let vouched = match facts.has_hashes {
                                true => Vouched::Hash,
                                false => Vouched::Pin,
                            };
                            let part = Part {
                                id,
                                offset: at,
                                md5: Md5::of(&bytes),
                                pieces: vec![bytes],
                                vouched,
                            };
                            let done = write_parts(root, &facts, std::slice::from_ref(&part));
                            drop(room);
                            (Ok(done), hashes)
                        },
                        |_, reason| (Err(reason), Vec::new()),
                    )
                    .await;
                hashes = hashed;
                match written.map(|done| done.into_iter().next()) {
                    Ok(Some(done)) if done.status == ComponentStatus::Repaired => {
                        identity = done.identity;
                        for (component, bytes) in written_for(id, at, size, &hashes) {
                            self.transferred(component, bytes).await;
                        }
                        at += size;
                    }
                    Ok(other) => {
                        failure = Some(other.and_then(|done| done.reason).unwrap_or_default());
                        break;
                    }
                    Err(reason) => {
                        failure = Some(reason);
                        break;
                    }
                }
            }
            let not_written = match &failure {
                Some(reason) => format!(
                    "the file's missing end, which holds it, was not written whole: {reason}"
                ),
                None => String::new(),
            };
            let file = match failure {
                None => Done {
                    id,
                    status: ComponentStatus::Repaired,
                    actual_md5: None,
                    storage_md5: None,
                    reason: Some(format!(
                        "the file ended at byte {start}: its missing end ({start}..{at}) was \
                         downloaded{}, {NO_HASH}",
                        if from < start {
                            format!(" with the range it cut short, from byte {from}")
                        } else {
                            String::new()
                        }
                    )),
                    identity,
                },
                Some(reason) if at == from => failed(
                    id,
                    format!("the file ends at byte {start}; its missing end: {reason}"),
                ),
                Some(reason) => failed(
                    id,
                    format!(
                        "the file ended at byte {start}; its missing end was written from byte \
                         {from} up to byte {at} ({NO_HASH}), then: {reason}; a rerun tries again \
                         from where the file ends"
                    ),
                ),
            };
            let mut verdicts = vec![file];
            verdicts.extend(range_verdicts(&covered, hashes, at, identity, &not_written));
            // Ranges that waited for a missing end that, the file having grown since, does not
            // hold them.
            verdicts.extend(waiting.iter().flat_map(|awaiting| {
                let left = awaiting.only(|id| !covered.contains(id));
                left.not_brought(GREW).collect::<Vec<_>>()
            }));
            Written::Done(verdicts)
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
}

/// The verdicts of the ranges a missing end `covered`, written up to `at`: repaired, with the
/// MD5 they were written with, when written whole; otherwise failed saying why (`not_written`,
/// or none while the download waits to go on).
fn range_verdicts(
    covered: &[ComponentId],
    hashes: Vec<RangeHash>,
    at: u64,
    identity: Option<FileIdentity>,
    not_written: &str,
) -> Vec<Done> {
    let mut hashes: std::collections::HashMap<ComponentId, RangeHash> =
        hashes.into_iter().map(|hash| (hash.id, hash)).collect();
    covered
        .iter()
        .filter_map(|&range| match hashes.remove(&range) {
            Some(RangeHash {
                end,
                expected,
                md5: Some(md5),
                ..
            }) if end <= at => Some(Done {
                id: range,
                status: ComponentStatus::Repaired,
                actual_md5: Some(md5),
                storage_md5: Some(md5),
                reason: Some(match expected {
                    Some(_) => "written with the file's missing end, checked against the copy \
                                log's MD5"
                        .to_string(),
                    None => format!("written with the file's missing end, {NO_HASH}"),
                }),
                identity,
            }),
            // Still to come: no verdict yet.
            Some(_) if not_written.is_empty() => None,
            Some(RangeHash {
                expected: Some(expected),
                md5: Some(md5),
                ..
            }) if md5 != expected => Some(Done {
                actual_md5: None,
                storage_md5: Some(md5),
                ..failed(range, not_written.to_string())
            }),
            _ => Some(failed(range, not_written.to_string())),
        })
        .collect()
}

/// Which components the `size` bytes written at `at` were for: the covered ranges they
/// overlap, the rest the file's (`id`).
fn written_for(
    id: ComponentId,
    at: u64,
    size: u64,
    hashes: &[RangeHash],
) -> Vec<(ComponentId, u64)> {
    let end = at + size;
    let mut written: Vec<(ComponentId, u64)> = hashes
        .iter()
        .map(|hash| {
            (
                hash.id,
                hash.end.min(end).saturating_sub(hash.offset.max(at)),
            )
        })
        .filter(|&(_, bytes)| bytes > 0)
        .collect();
    let in_ranges: u64 = written.iter().map(|&(_, bytes)| bytes).sum();
    if size > in_ranges {
        written.push((id, size - in_ranges));
    }
    written
}

/// The bytes of `[from, to)` that no range of the missing end from `from` holds: what that
/// missing end tells for the file itself up to `to` (all of it: up to the file's length).
fn unlisted_bytes(blob: &Blob, from: u64, to: u64) -> u64 {
    let in_ranges: u64 = missing_end_ranges(blob, from)
        .map(|index| &blob.components[index])
        .map(|c| {
            c.offset
                .saturating_add(c.length)
                .min(to)
                .saturating_sub(c.offset.max(from))
        })
        .sum();
    to.saturating_sub(from).saturating_sub(in_ranges)
}

/// Whether a range holds bytes of a missing end from `start` (and lies within the file's
/// `length`).
fn reaches_into(range: &Component, start: u64, length: u64) -> bool {
    let end = range.offset.saturating_add(range.length);
    end > start && end <= length
}

/// The ranges (by index) of a file only the copy log lists that hold bytes of its missing end
/// from `file_end`, whole or in part.
fn missing_end_ranges(blob: &Blob, file_end: u64) -> impl Iterator<Item = usize> + '_ {
    (blob.components.iter().enumerate())
        .filter(|(_, c)| matches!(c.kind, ComponentKind::Block | ComponentKind::Page))
        .filter(move |(_, c)| reaches_into(c, file_end, blob.length))
        .map(|(index, _)| index)
}

/// Where the download of a missing end from `file_end` starts: there, or where the first range
/// it cuts short starts (so that the range is written, and checked, whole).
pub(super) fn missing_end_start(blob: &Blob, file_end: u64) -> u64 {
    missing_end_ranges(blob, file_end)
        .map(|index| blob.components[index].offset)
        .fold(file_end, u64::min)
}

/// Of a job's ranges (in order, one after another) of a file that ends at `file_end`, how many
/// lie within it: the rest reach past its end.
pub(super) fn within_end(blob: &Blob, components: &[u32], file_end: u64) -> usize {
    (components.iter())
        .position(|&index| {
            let range = &blob.components[index as usize];
            range.offset.saturating_add(range.length) > file_end
        })
        .unwrap_or(components.len())
}

/// How much of the missing end to read next from `at`: `most`, cut so that a range the copy
/// log gives a hash for is read whole in one piece (checked before any of it is written).
fn piece_size(at: u64, most: u64, hashes: &[RangeHash]) -> u64 {
    let end = at + most;
    match hashes
        .iter()
        .find(|hash| hash.expected.is_some() && hash.offset < end && hash.end > end)
    {
        Some(hash) if hash.offset > at => hash.offset - at,
        Some(hash) => hash.end - at,
        None => most,
    }
}

/// A covered range's MD5, taken from the pieces of the missing end as they pass.
struct RangeHash {
    id: ComponentId,
    offset: u64,
    end: u64,
    /// The copy log's MD5 for it, if it gives one.
    expected: Option<Md5>,
    hashing: Md5Stream,
    /// Once all of it has passed.
    md5: Option<Md5>,
}

impl RangeHash {
    fn new(id: ComponentId, component: &Component) -> Self {
        Self {
            id,
            offset: component.offset,
            end: component.offset + component.length,
            expected: component.expected_md5,
            hashing: Md5Stream::new(),
            md5: None,
        }
    }

    /// Takes the range's bytes out of a piece of the file at `at`.
    fn take(&mut self, at: u64, piece: &[u8]) {
        let piece_end = at + piece.len() as u64;
        let (from, to) = (self.offset.max(at), self.end.min(piece_end));
        if self.md5.is_some() || from >= to {
            return;
        }
        self.hashing
            .update(&piece[(from - at) as usize..(to - at) as usize]);
        if self.end <= piece_end {
            let done = std::mem::take(&mut self.hashing);
            self.md5 = Some(done.finish());
        }
    }

    /// Why the range may not be written: its bytes are not the copy log's.
    fn mismatch(&self) -> Option<String> {
        match (self.expected, self.md5) {
            (Some(expected), Some(md5)) if md5 != expected => Some(format!(
                "the storage's bytes {}..{} hash to {md5}, not to the copy log's MD5 {expected}: \
                 the blob probably changed since export; nothing of them was written",
                self.offset, self.end
            )),
            _ => None,
        }
    }
}

/// Where a file ends on the drive: 0 when it is not there.
pub(super) fn file_end(root: &crate::rooted::RootedDir, file_path: &str) -> Result<u64, String> {
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

/// Why nothing is written for a file whose storage's blob is not as long as the copy log's
/// `Length` says.
pub(super) fn not_one_version(stored: u64, logged: u64) -> String {
    format!(
        "the storage's blob is {stored} bytes, but the copy log's Length is {logged}: they do \
         not describe one version of the blob; nothing was changed (check that the copy log is \
         this export's and that the storage still holds the exported blob)"
    )
}
