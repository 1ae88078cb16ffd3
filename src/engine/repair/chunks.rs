//! Chunk-wise repair of a file checked by CRC-64 (drives from 2021 on).
//!
//! A chunk has no expected value of its own: the verbose log gives only the whole file's
//! `Size` and CRC-64. So no byte is written before the whole file is proven:
//!
//! 1. every chunk of the blob is read, pinned to the verbose log's ETag (`If-Match`), and its
//!    CRC-64 compared with the same range of the drive's file; the storage's CRC of each chunk
//!    is recorded in the repair file, and the chunks that differ (or that the drive lacks) are
//!    staged in a temporary beside the file, never in the file;
//! 2. the chunks' CRCs are combined into the blob's whole-file CRC-64, which must be the
//!    verbose log's: only then is each chunk's CRC an expected value this run holds;
//! 3. the differing chunks go through the commit protocol (intent in the repair file, written
//!    in place from the staging file, synced, read back and checked against their CRC, verdict
//!    recorded); a file that is missing, or whose every chunk differs, is the staging file
//!    renamed into place. The file is brought to the verbose log's `Size`, and the whole-file
//!    check is repaired only when the file's chunks combine to the verbose log's CRC-64.
//!
//! A blob changed since the export fails the first read (412): nothing is written and a
//! missing file is not created. A rerun of an interrupted repair takes the recorded chunk
//! CRCs (under the same ETag) as hints: a chunk the drive already holds is not downloaded
//! again, and the combined check still stands before any write (a run whose hints do not
//! combine to the verbose log's CRC compares every chunk again).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::sync::{Arc, Mutex};

use futures::StreamExt;

use super::commit::{MOVED_WHILE_WRITTEN, Written, failed, failed_all};
use super::plan::component_ids;
use super::{JobEnd, Repairer, Stop, WHOLE_FILE_STREAMS, locked};
use crate::engine::Activity;
use crate::engine::WorkerMessage;
use crate::engine::verify::Crc64s;
use crate::format::Crc64;
use crate::journal::Done;
use crate::model::v2021::WholeFileCheck;
use crate::model::{ComponentId, ComponentKind, ComponentStatus};
use crate::rooted::{FileIdentity, RootedDir, Temporary};
use crate::sanitize::escape_controls;
use crate::source::{BlobRef, BlobSource, ReadConditions};

/// How much of a file is read at once to take a CRC.
const READ_PIECE: usize = 1024 * 1024;

/// One chunk of the file: its component and range.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    component: u32,
    offset: u64,
    length: u64,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// What comparing a chunk with the blob found.
#[derive(Debug, Clone, Copy)]
enum Compared {
    /// The drive holds the blob's bytes (CRC-64 of both); `downloaded` when the blob was read
    /// to know it (otherwise a recorded CRC said so).
    Same { crc: u64, downloaded: bool },
    /// The blob's bytes (CRC `storage`) differ from the drive's (`drive`, none when the drive
    /// cannot give them): staged beside the file.
    Differs { storage: u64, drive: Option<u64> },
}

impl Compared {
    fn storage(&self) -> u64 {
        match *self {
            Compared::Same { crc, .. } => crc,
            Compared::Differs { storage, .. } => storage,
        }
    }

    fn known_by_hint(&self) -> bool {
        matches!(
            self,
            Compared::Same {
                downloaded: false,
                ..
            }
        )
    }
}

/// Why comparing stopped.
enum Halt {
    Stop(Stop),
    /// The staging file could not be written (or the repair file could not record).
    Local(String),
}

/// The drive's file as it was when the repair started: none when it is not there.
struct DriveFile {
    file: File,
    length: u64,
    /// Which file it was when opened: the one whose chunks are compared.
    identity: FileIdentity,
}

/// The differing chunks' bytes, written beside the file as they arrive, before the whole
/// file's CRC-64 says they may go into it. Made on the first differing chunk, so a blob that
/// changed since the export (whose first read fails) leaves nothing behind; removed unless
/// renamed into place.
struct Staging {
    root: Arc<RootedDir>,
    file_path: String,
    temporary: Mutex<Option<Temporary>>,
}

impl Staging {
    fn write(&self, bytes: &[u8], offset: u64) -> Result<(), String> {
        let mut temporary = locked(&self.temporary);
        if temporary.is_none() {
            let made = self
                .root
                .locate_file_path(&self.file_path)
                .and_then(|located| located.temporary())
                .map_err(|error| escape_controls(&error.to_string()).into_owned())?;
            *temporary = Some(made);
        }
        match temporary.as_ref() {
            Some(staged) => staged
                .file
                .write_all_at(bytes, offset)
                .map_err(|error| error.to_string()),
            None => Err("no staging file".into()),
        }
    }

    fn take(&self) -> Option<Temporary> {
        locked(&self.temporary).take()
    }
}

/// The CRC-64 of `length` bytes of `file` from `offset`.
fn crc_at(file: &File, offset: u64, length: u64) -> io::Result<u64> {
    let mut crc = Crc64::new();
    let mut buffer = vec![0u8; READ_PIECE.min(length as usize)];
    let mut done = 0u64;
    while done < length {
        let take = (length - done).min(buffer.len() as u64) as usize;
        file.read_exact_at(&mut buffer[..take], offset + done)?;
        crc.update(&buffer[..take]);
        done += take as u64;
    }
    Ok(crc.value())
}

/// Opens the blob's file for reading: none when it is not there; refused when it is not a
/// plain file (a link, a FIFO, a folder).
fn open_drive_file(root: &RootedDir, file_path: &str) -> Result<Option<DriveFile>, String> {
    let text = |error: &dyn std::fmt::Display| escape_controls(&error.to_string()).into_owned();
    let located = root
        .locate_file_path(file_path)
        .map_err(|error| text(&error))?;
    if !located.exists() {
        return Ok(None);
    }
    let file = located.open_read().map_err(|error| text(&error))?;
    let identity = FileIdentity::of(&file).map_err(|error| text(&error))?;
    Ok(Some(DriveFile {
        file,
        length: identity.length,
        identity,
    }))
}

/// What a chunk-wise repair works from, the same for each of its chunks.
struct Pinned<'a> {
    source: &'a dyn BlobSource,
    blob: BlobRef,
    conditions: ReadConditions,
    drive: Option<Arc<DriveFile>>,
    staging: Arc<Staging>,
}

impl Repairer {
    /// Repairs a file checked by CRC-64 chunk by chunk (see the module's documentation);
    /// `components` are all its chunks and its whole-file check.
    pub(super) async fn repair_chunks(
        &self,
        source: &dyn BlobSource,
        blob_index: u32,
        components: &[u32],
    ) -> JobEnd {
        let blob = &self.drive.blobs[blob_index as usize];
        let ids = component_ids(blob_index, components);
        let record = blob.export.as_deref();
        let (Some(check), Some(etag)) = (
            record.and_then(|r| r.check),
            record.and_then(|r| r.etag.clone()),
        ) else {
            return self
                .settle(failed_all(
                    &ids,
                    "the verbose log gives no ETag for this file, so no download can be pinned \
                     to the exported version; nothing was written"
                        .into(),
                ))
                .await;
        };
        let source_blob = match self.blob_ref(blob) {
            Ok(source_blob) => source_blob,
            Err(error) => return self.source_failed(&ids, error).await,
        };
        let file_path = blob.file_path.clone();
        let opened = {
            let file_path = file_path.clone();
            self.on_drive(
                &ids,
                move |root| open_drive_file(root, &file_path),
                |_, reason| Err(reason),
            )
            .await
        };
        let drive = match opened {
            Ok(drive) => drive.map(Arc::new),
            Err(reason) => {
                return self
                    .settle(failed_all(
                        &ids,
                        format!(
                            "cannot read {}: {reason}; nothing was written",
                            escape_controls(&file_path)
                        ),
                    ))
                    .await;
            }
        };
        let known = match self.journal.known_chunk_crcs(blob_index).await {
            Ok(known) => known,
            Err(error) => return self.journal_failed(error).await,
        };
        let chunks: Vec<Chunk> = components
            .iter()
            .filter_map(|&component| {
                let c = &blob.components[component as usize];
                (c.kind == ComponentKind::Chunk).then_some(Chunk {
                    component,
                    offset: c.offset,
                    length: c.length,
                })
            })
            .collect();
        let pinned = Pinned {
            source,
            blob: source_blob,
            conditions: ReadConditions {
                if_unmodified_since: None,
                if_match: Some(etag.clone()),
            },
            drive,
            staging: Arc::new(Staging {
                root: Arc::clone(&self.root),
                file_path: file_path.clone(),
                temporary: Mutex::new(None),
            }),
        };
        // The blob under that ETag must be as long as the verbose log says: a shorter Size
        // with the CRC of the blob's first bytes would otherwise cut good bytes off the file,
        // and a Size of 0 (no chunk to read) would make a file for a blob that is not there.
        let properties = match self
            .properties(source, &pinned.blob, &pinned.conditions)
            .await
        {
            Ok(properties) => properties,
            Err(stop) => return self.stopped(&ids, stop).await,
        };
        if properties.content_length != check.size {
            return self
                .settle(failed_all(
                    &ids,
                    format!(
                        "the blob (ETag {}) is {} bytes long, not the verbose log's Size {}: \
                         they do not describe one version; nothing was written",
                        escape_controls(&etag),
                        properties.content_length,
                        check.size
                    ),
                ))
                .await;
        }
        // Compare, and check that the blob's chunks make the exported file; hints that do not
        // combine to it are dropped and every chunk compared again.
        let mut hints = known;
        let compared = loop {
            let compared = match self.compare_all(blob_index, &chunks, &hints, &pinned).await {
                Ok(compared) => compared,
                Err(Halt::Stop(stop)) => return self.stopped(&ids, stop).await,
                Err(Halt::Local(reason)) => {
                    return self
                        .settle(failed_all(
                            &ids,
                            format!("{reason}; nothing was written to the file"),
                        ))
                        .await;
                }
            };
            let combined = combine(&chunks, compared.iter().map(Compared::storage));
            if combined == check.crc64 {
                break compared;
            }
            if compared.iter().any(Compared::known_by_hint) {
                hints = HashMap::new();
                continue;
            }
            return self
                .settle(failed_all(
                    &ids,
                    format!(
                        "the blob's bytes (ETag {etag}) have CRC-64 {combined}, not the verbose \
                         log's {}: they are not the exported file; nothing was written",
                        check.crc64
                    ),
                ))
                .await;
        };
        let plan = WritePlan {
            ids,
            chunks,
            compared,
            whole: components
                .iter()
                .copied()
                .find(|&c| blob.components[c as usize].kind == ComponentKind::Crc64),
            check,
            blob: blob_index,
            file_path,
            etag,
        };
        let drive = pinned.drive.clone();
        let staging = Arc::clone(&pinned.staging);
        drop(pinned);
        // What the drive holds where the write may have gone (unknown until it is read back;
        // a write that stops unexpectedly leaves it so).
        let crcs = Arc::new(Mutex::new(plan.crcs(&HashMap::new(), None)));
        let ids = plan.ids.clone();
        let write = async {
            let told = Arc::clone(&crcs);
            let written = self
                .on_drive(
                    &ids,
                    move |root| {
                        let (done, now) = plan.write(root, drive.as_deref(), &staging);
                        *locked(&told) = now;
                        done
                    },
                    |ids, reason| failed_all(&ids, reason),
                )
                .await;
            Written::Done(written)
        };
        self.commit_with(&ids, write, |id| {
            locked(&crcs).get(&id).copied().unwrap_or_default()
        })
        .await
    }

    /// Compares every chunk with the blob, a few at a time; the storage's CRC of each chunk
    /// read is recorded in the repair file as soon as it is known.
    async fn compare_all(
        &self,
        blob_index: u32,
        chunks: &[Chunk],
        hints: &HashMap<u32, u64>,
        pinned: &Pinned<'_>,
    ) -> Result<Vec<Compared>, Halt> {
        let parallel = self.options.concurrency.clamp(1, WHOLE_FILE_STREAMS);
        let mut results: Vec<Option<Compared>> = vec![None; chunks.len()];
        let mut compared = futures::stream::iter(chunks.iter().copied().enumerate())
            .map(|(index, chunk)| async move {
                let result = self
                    .compare_chunk(blob_index, chunk, hints.get(&chunk.component), pinned)
                    .await;
                (index, result)
            })
            .buffer_unordered(parallel);
        while let Some((index, result)) = compared.next().await {
            results[index] = Some(result?);
        }
        Ok(results.into_iter().flatten().collect())
    }

    async fn compare_chunk(
        &self,
        blob_index: u32,
        chunk: Chunk,
        hint: Option<&u64>,
        pinned: &Pinned<'_>,
    ) -> Result<Compared, Halt> {
        let drive_crc = match &pinned.drive {
            Some(drive) if drive.length >= chunk.end() => {
                let drive = Arc::clone(drive);
                tokio::task::spawn_blocking(move || {
                    crc_at(&drive.file, chunk.offset, chunk.length).ok()
                })
                .await
                .ok()
                .flatten()
            }
            _ => None,
        };
        let id = ComponentId {
            blob: blob_index,
            component: chunk.component,
        };
        if let (Some(&hint), Some(drive_crc)) = (hint, drive_crc)
            && hint == drive_crc
        {
            // Out of the download's total now: the time left counts only what is read.
            let _ = self.out.send(WorkerMessage::DownloadUnneeded(id)).await;
            return Ok(Compared::Same {
                crc: drive_crc,
                downloaded: false,
            });
        }
        // A pause holds the chunks not read yet: a large file is one job, which would otherwise
        // go on reading for as long as the file takes.
        if !self.control.proceed_async().await {
            return Err(Halt::Stop(Stop::Cancelled));
        }
        self.tell_activity(blob_index, vec![chunk.component], Activity::Downloading)
            .await;
        // Told as it arrives: a chunk is 8 MiB, minutes on a slow link.
        let bytes = self
            .read_range_told(
                pinned.source,
                &pinned.blob,
                (chunk.offset, chunk.length),
                &pinned.conditions,
                id,
            )
            .await
            .map_err(Halt::Stop)?;
        let staging = Arc::clone(&pinned.staging);
        let staged = tokio::task::spawn_blocking(move || {
            let storage = Crc64::of(&bytes);
            if drive_crc == Some(storage) {
                return Ok(Compared::Same {
                    crc: storage,
                    downloaded: true,
                });
            }
            staging
                .write(&bytes, chunk.offset)
                .map(|()| Compared::Differs {
                    storage,
                    drive: drive_crc,
                })
                .map_err(|error| {
                    format!(
                        "cannot stage the blob's bytes beside {}: {error}",
                        escape_controls(&staging.file_path)
                    )
                })
        })
        .await
        .map_err(|error| Halt::Local(error.to_string()))?
        .map_err(Halt::Local)?;
        self.journal
            .chunk_crcs(blob_index, vec![(chunk.component, staged.storage())])
            .await
            .map_err(|error| Halt::Local(error.to_string()))?;
        // Read: it waits for the file's other chunks and the write, downloading no more (a
        // pause stops the clock once the reads in flight are done).
        self.tell_activity(blob_index, vec![chunk.component], Activity::Queued)
            .await;
        Ok(staged)
    }

    /// Checks the whole-file CRC-64 of a file whose manifest blocks are its repair units,
    /// once they are repaired: nothing is written.
    pub(super) async fn recheck_crc(&self, blob_index: u32, component: u32) -> JobEnd {
        let blob = &self.drive.blobs[blob_index as usize];
        let id = ComponentId {
            blob: blob_index,
            component,
        };
        let Some(check) = blob.export.as_deref().and_then(|record| record.check) else {
            return JobEnd::Settled;
        };
        let file_path = blob.file_path.clone();
        let read = self
            .on_drive(
                &[id],
                move |root| -> Result<Option<(u64, u64, FileIdentity)>, String> {
                    let Some(drive) = open_drive_file(root, &file_path)? else {
                        return Ok(None);
                    };
                    let crc = crc_at(&drive.file, 0, drive.length.min(check.size))
                        .map_err(|e| e.to_string())?;
                    Ok(Some((drive.length, crc, drive.identity)))
                },
                |_, reason| Err(reason),
            )
            .await;
        let WholeFileCheck { size, crc64 } = check;
        let drive_crc = match &read {
            Ok(Some((_, crc, _))) => Some(*crc),
            _ => None,
        };
        let done = match read {
            Ok(Some((length, crc, identity))) if length == size && crc == crc64 => Done {
                id,
                status: ComponentStatus::Repaired,
                actual_md5: None,
                storage_md5: None,
                reason: Some(
                    "checked again once the file's blocks were repaired: its CRC-64 is the \
                     verbose log's"
                        .into(),
                ),
                identity: Some(identity),
            },
            Ok(Some((length, crc, identity))) => Done {
                identity: Some(identity),
                ..failed(
                    id,
                    format!(
                        "after the repair of its blocks the file is {length} bytes with CRC-64 \
                         {crc}, not the verbose log's Size {size} and CRC-64 {crc64}: the \
                         manifest and the verbose log do not describe the same bytes"
                    ),
                )
            },
            Ok(None) => failed(
                id,
                "the file is still not on the drive after the repair of its blocks".into(),
            ),
            Err(reason) => failed(id, format!("cannot read the file again: {reason}")),
        };
        self.settle_with(vec![done], |_| Crc64s {
            drive: drive_crc,
            storage: None,
        })
        .await
    }
}

/// The whole file's CRC-64 from its chunks' CRCs, in order.
fn combine(chunks: &[Chunk], crcs: impl Iterator<Item = u64>) -> u64 {
    chunks.iter().zip(crcs).fold(0, |whole, (chunk, crc)| {
        Crc64::combine(whole, crc, chunk.length)
    })
}

/// What a chunk-wise repair writes, once the blob's chunks are proven.
struct WritePlan {
    ids: Vec<ComponentId>,
    chunks: Vec<Chunk>,
    compared: Vec<Compared>,
    whole: Option<u32>,
    check: WholeFileCheck,
    blob: u32,
    file_path: String,
    etag: String,
}

impl WritePlan {
    fn id(&self, component: u32) -> ComponentId {
        ComponentId {
            blob: self.blob,
            component,
        }
    }

    /// The CRC-64s each verdict is told with: the storage's, and the drive's where known (a
    /// chunk found right as compared; one written as `read_back` gave it; the whole file's
    /// as combined from them, `whole`, when every written chunk was read back).
    fn crcs(
        &self,
        read_back: &HashMap<u32, u64>,
        whole: Option<u64>,
    ) -> HashMap<ComponentId, Crc64s> {
        let mut crcs: HashMap<ComponentId, Crc64s> = self
            .chunks
            .iter()
            .zip(&self.compared)
            .map(|(chunk, compared)| {
                let drive = match compared {
                    Compared::Same { crc, .. } => Some(*crc),
                    Compared::Differs { .. } => read_back.get(&chunk.component).copied(),
                };
                let crcs = Crc64s {
                    drive,
                    storage: Some(compared.storage()),
                };
                (self.id(chunk.component), crcs)
            })
            .collect();
        if let Some(component) = self.whole {
            crcs.insert(
                self.id(component),
                Crc64s {
                    drive: whole,
                    storage: Some(self.check.crc64),
                },
            );
        }
        crcs
    }

    /// Writes the differing chunks (in place, or the staging file renamed into place), brings
    /// the file to its size, reads every written chunk back; the verdicts.
    fn write(
        &self,
        root: &RootedDir,
        drive: Option<&DriveFile>,
        staging: &Staging,
    ) -> (Vec<Done>, HashMap<ComponentId, Crc64s>) {
        let path = escape_controls(&self.file_path).into_owned();
        let differing: Vec<(Chunk, u64)> = self
            .chunks
            .iter()
            .zip(&self.compared)
            .filter_map(|(chunk, compared)| match compared {
                Compared::Differs { storage, .. } => Some((*chunk, *storage)),
                Compared::Same { .. } => None,
            })
            .collect();
        let whole_file = drive.is_none() || differing.len() == self.chunks.len();
        let written = match drive {
            Some(drive) if !whole_file => self.write_in_place(root, drive, staging, &differing),
            _ => self.replace(staging, &differing),
        };
        let (identity, read_back) = match written {
            Ok(written) => written,
            Err(reason) => {
                let done = failed_all(
                    &self.ids,
                    format!("cannot write {path}: {reason}; a rerun compares its chunks again"),
                );
                // Some chunks may have been written: what the drive holds there is not known.
                return (done, self.crcs(&HashMap::new(), None));
            }
        };
        let mut done = Vec::new();
        let mut right = true;
        for (chunk, compared) in self.chunks.iter().zip(&self.compared) {
            let id = self.id(chunk.component);
            let storage = compared.storage();
            let verdict = match (compared, read_back.get(&chunk.component)) {
                (Compared::Same { .. }, _) => (ComponentStatus::Verified, None),
                (Compared::Differs { drive, .. }, Some(&back)) if back == storage => (
                    ComponentStatus::Repaired,
                    Some(format!(
                        "differed from the blob ({}, the blob's CRC-64 is {storage}); written \
                         from the blob pinned to ETag {}, checked with the whole file's CRC-64",
                        drive.map_or_else(
                            || "not on the drive".to_string(),
                            |crc| format!("CRC-64 {crc} on the drive")
                        ),
                        self.etag
                    )),
                ),
                (Compared::Differs { .. }, back) => {
                    right = false;
                    (
                        ComponentStatus::Failed,
                        Some(match back {
                            Some(back) => format!(
                                "the drive gave back different bytes after writing (CRC-64 \
                                 {back}, not {storage}): the drive may be failing"
                            ),
                            None => "the chunk could not be read back after writing".into(),
                        }),
                    )
                }
            };
            done.push(Done {
                id,
                status: verdict.0,
                actual_md5: None,
                storage_md5: None,
                reason: verdict.1,
                identity,
            });
        }
        // The file as it is now, chunk by chunk (read back where written), must have the
        // verbose log's CRC-64 before it is called repaired.
        let now = combine(
            &self.chunks,
            self.chunks
                .iter()
                .zip(&self.compared)
                .map(|(chunk, compared)| match compared {
                    Compared::Same { crc, .. } => *crc,
                    Compared::Differs { storage, .. } => {
                        read_back.get(&chunk.component).copied().unwrap_or(!storage)
                    }
                }),
        );
        if let Some(whole) = self.whole {
            let (status, reason) = if right && now == self.check.crc64 {
                (
                    ComponentStatus::Repaired,
                    format!(
                        "repaired chunk by chunk: {} of {} chunks differed from the blob and \
                         were written; the file is {} bytes with the verbose log's CRC-64 {}",
                        differing.len(),
                        self.chunks.len(),
                        self.check.size,
                        self.check.crc64
                    ),
                )
            } else if right {
                (
                    ComponentStatus::Failed,
                    format!(
                        "the file's chunks combine to CRC-64 {now}, not the verbose log's {}",
                        self.check.crc64
                    ),
                )
            } else {
                (
                    ComponentStatus::Failed,
                    "a chunk written did not read back as written".to_string(),
                )
            };
            done.push(Done {
                id: self.id(whole),
                status,
                actual_md5: None,
                storage_md5: None,
                reason: Some(reason),
                identity,
            });
        }
        let all_read_back = differing
            .iter()
            .all(|(chunk, _)| read_back.contains_key(&chunk.component));
        let crcs = self.crcs(&read_back, all_read_back.then_some(now));
        (done, crcs)
    }

    /// The staging file holds every chunk: checked, sized and renamed over the file.
    fn replace(
        &self,
        staging: &Staging,
        differing: &[(Chunk, u64)],
    ) -> Result<(Option<FileIdentity>, HashMap<u32, u64>), String> {
        let temporary = match staging.take() {
            Some(temporary) => temporary,
            // An empty file: nothing was staged.
            None => self.empty_staging(staging)?,
        };
        temporary
            .file
            .set_len(self.check.size)
            .map_err(|e| e.to_string())?;
        temporary.file.sync_all().map_err(|e| e.to_string())?;
        let read_back = read_back(&temporary.file, differing);
        let all_right = differing
            .iter()
            .all(|(chunk, storage)| read_back.get(&chunk.component) == Some(storage));
        if !all_right {
            return Err(
                "the staged chunks did not read back as written; nothing was written".into(),
            );
        }
        let file = temporary
            .commit()
            .map_err(|e| escape_controls(&e.to_string()).into_owned())?;
        Ok((FileIdentity::of(&file).ok(), read_back))
    }

    fn empty_staging(&self, staging: &Staging) -> Result<Temporary, String> {
        staging
            .root
            .locate_file_path(&self.file_path)
            .and_then(|located| located.temporary())
            .map_err(|e| escape_controls(&e.to_string()).into_owned())
    }

    /// Copies the staged chunks into the file at their offsets, sets its size, syncs. The file
    /// must still be the one whose chunks were compared, and each staged chunk must still have
    /// the blob's CRC-64 before a byte of it goes into the file.
    fn write_in_place(
        &self,
        root: &RootedDir,
        compared: &DriveFile,
        staging: &Staging,
        differing: &[(Chunk, u64)],
    ) -> Result<(Option<FileIdentity>, HashMap<u32, u64>), String> {
        let text = |error: &dyn std::fmt::Display| escape_controls(&error.to_string()).into_owned();
        let located = root
            .locate_file_path(&self.file_path)
            .map_err(|e| text(&e))?;
        let opened = located.open_or_create().map_err(|e| text(&e))?;
        let file = &opened.file;
        if FileIdentity::of(file).ok() != Some(compared.identity) {
            return Err(
                "the file changed while its chunks were compared; nothing was written".into(),
            );
        }
        let staged = staging.take();
        if !differing.is_empty() {
            let Some(staged) = &staged else {
                return Err("the staged chunks are gone".into());
            };
            let mut buffer = Vec::new();
            for &(chunk, storage) in differing {
                buffer.resize(chunk.length as usize, 0);
                staged
                    .file
                    .read_exact_at(&mut buffer, chunk.offset)
                    .map_err(|e| text(&e))?;
                if Crc64::of(&buffer) != storage {
                    return Err(format!(
                        "the chunk at byte {} did not read back from the staging file as \
                         downloaded; chunks before it were written",
                        chunk.offset
                    ));
                }
                file.write_all_at(&buffer, chunk.offset)
                    .map_err(|e| text(&e))?;
            }
        }
        // Every chunk is the blob's now: bytes past the end go, a short file is complete.
        if file.metadata().map_err(|e| text(&e))?.len() != self.check.size {
            file.set_len(self.check.size).map_err(|e| text(&e))?;
        }
        file.sync_all()
            .and_then(|()| opened.sync_new_entries())
            .map_err(|e| text(&e))?;
        if !located.still_holds(&opened) {
            return Err(format!("the file {MOVED_WHILE_WRITTEN}"));
        }
        Ok((FileIdentity::of(file).ok(), read_back(file, differing)))
    }
}

/// The CRC-64 of each written chunk as the drive gives it back.
fn read_back(file: &File, chunks: &[(Chunk, u64)]) -> HashMap<u32, u64> {
    chunks
        .iter()
        .filter_map(|(chunk, _)| {
            crc_at(file, chunk.offset, chunk.length)
                .ok()
                .map(|crc| (chunk.component, crc))
        })
        .collect()
}
