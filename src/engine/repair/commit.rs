//! The one write protocol every repair goes through:
//!
//! 1. the bytes are checked before anything is written (the manifest's MD5 per component, the
//!    blob's Content-MD5 and length for a whole file);
//! 2. the repair file records the intent, durably;
//! 3. the bytes are written (in place for ranges; into a temporary beside the file, renamed
//!    over it, for whole files and side files), synced, and read back;
//! 4. folders that gained an entry are synced;
//! 5. the repair file records the verdict, with the file's identity.
//!
//! A crash at any point leaves either the old bytes or verified new bytes, and the repair file
//! knows which components to look at again. Every open goes through the rooted drive handle.

use std::future::Future;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use super::fetch::Part;
use super::{JobEnd, Repairer, Stop};
use crate::engine::verify::Crc64s;
use crate::format::Md5;
use crate::format::md5::Md5Stream;
use crate::journal::Done;
use crate::model::{ComponentId, ComponentKind, ComponentStatus};
use crate::rooted::{FileIdentity, RootedDir, RootedError, Temporary};
use crate::sanitize::escape_controls;

/// What a write step ends with.
pub(super) enum Written {
    /// Verdicts for the components (repaired, or failed with what was and was not written).
    Done(Vec<Done>),
    /// The run stopped, or the source failed, before anything was written.
    Stopped(Stop),
}

impl Repairer {
    /// Steps 2–5 around `write`, which writes, syncs and reads back (step 3 and 4).
    pub(super) async fn commit(
        &self,
        ids: &[ComponentId],
        write: impl Future<Output = Written>,
    ) -> JobEnd {
        self.commit_with(ids, write, |_| Crc64s::default()).await
    }

    /// [`Self::commit`], each verdict told with the CRC-64s it was reached with.
    pub(super) async fn commit_with(
        &self,
        ids: &[ComponentId],
        write: impl Future<Output = Written>,
        crc64: impl Fn(ComponentId) -> Crc64s,
    ) -> JobEnd {
        if let Err(error) = self.journal.intent(ids.to_vec()).await {
            return self.journal_failed(error).await;
        }
        self.commit_recorded(ids, write, crc64).await
    }

    /// Step 2 while `meanwhile` runs (a download: the repair file's syncs are then off the
    /// critical path); its result once both are done, or the job's end when the intent
    /// cannot be recorded. Nothing may be written before this returns.
    pub(super) async fn recording_intent<T>(
        &self,
        ids: &[ComponentId],
        meanwhile: impl Future<Output = T>,
    ) -> Result<T, JobEnd> {
        let (intent, result) = tokio::join!(self.journal.intent(ids.to_vec()), meanwhile);
        match intent {
            Ok(()) => Ok(result),
            Err(error) => Err(self.journal_failed(error).await),
        }
    }

    /// Steps 3–5, for components whose intent is already recorded.
    async fn commit_recorded(
        &self,
        ids: &[ComponentId],
        write: impl Future<Output = Written>,
        crc64: impl Fn(ComponentId) -> Crc64s,
    ) -> JobEnd {
        match write.await {
            Written::Done(done) => self.settle_with(done, crc64).await,
            Written::Stopped(stop) => self.stopped(ids, stop).await,
        }
    }

    /// Runs a blocking write on the rooted drive handle.
    pub(super) async fn on_drive<T: Send + 'static>(
        &self,
        ids: &[ComponentId],
        write: impl FnOnce(&RootedDir) -> T + Send + 'static,
        lost: impl FnOnce(Vec<ComponentId>, String) -> T,
    ) -> T {
        let root = Arc::clone(&self.root);
        match tokio::task::spawn_blocking(move || write(&root)).await {
            Ok(result) => result,
            Err(error) => lost(
                ids.to_vec(),
                format!("the write stopped unexpectedly: {error}"),
            ),
        }
    }

    /// Writes checked parts of one blob's file in place, their intent already recorded
    /// ([`Self::recording_intent`]); their `room` is given back as soon as they are read back.
    pub(super) async fn commit_parts(
        &self,
        blob_index: u32,
        parts: Vec<Part>,
        room: OwnedSemaphorePermit,
    ) -> JobEnd {
        let ids: Vec<ComponentId> = parts.iter().map(|part| part.id).collect();
        let blob = self.facts(blob_index);
        let write = self.on_drive(
            &ids,
            move |root| {
                let done = write_parts(root, &blob, &parts);
                drop((parts, room));
                done
            },
            |ids, reason| failed_all(&ids, reason),
        );
        let written = async { Written::Done(write.await) };
        self.commit_recorded(&ids, written, |_| Crc64s::default())
            .await
    }
}

/// A blob's facts a blocking write needs, without its components.
pub(super) struct BlobFacts {
    pub file_path: String,
    pub length: u64,
    pub has_hashes: bool,
    /// The file (device, inode) this run last saw at the path, when it saw one: a file
    /// there now that is another was never verified, and is not written.
    pub seen_as: Option<(u64, u64)>,
}

impl Repairer {
    /// The facts of a blob a blocking write needs, with the file this run last saw there.
    pub(super) fn facts(&self, blob_index: u32) -> BlobFacts {
        let blob = &self.drive.blobs[blob_index as usize];
        BlobFacts {
            file_path: blob.file_path.clone(),
            length: blob.length,
            has_hashes: blob.in_manifest,
            seen_as: super::locked(&self.files_seen).get(&blob_index).copied(),
        }
    }
}

/// Why the file at the blob's path (`found`: device and inode, none when there is none) is not
/// to be written (said of it): it is not the one this run saw there, whose other parts it
/// checked.
fn not_the_file_seen(blob: &BlobFacts, found: Option<(u64, u64)>) -> Option<&'static str> {
    let seen = blob.seen_as?;
    (found != Some(seen)).then_some(match found {
        Some(_) => {
            "was replaced since it was verified (by another program?): its other parts were \
             checked on the file that was there; nothing was written (a rerun verifies it again)"
        }
        None => {
            "was removed since it was verified (by another program?): its other parts were \
             checked on the file that was there; nothing was written (a rerun verifies it again)"
        }
    })
}

/// Why a file written in place is not called repaired (said of it): it left its path meanwhile.
pub(super) const MOVED_WHILE_WRITTEN: &str = "was moved or replaced while it was written (by \
     another program?): the bytes went to the file it was, which is not at its path in the \
     target now; a rerun checks it again";

fn identity_of(file: &std::fs::File) -> Option<(u64, u64)> {
    FileIdentity::of(file)
        .ok()
        .map(|identity| (identity.device, identity.inode))
}

pub(super) fn failed(id: ComponentId, reason: String) -> Done {
    Done {
        id,
        status: ComponentStatus::Failed,
        actual_md5: None,
        storage_md5: None,
        reason: Some(reason),
        identity: None,
    }
}

pub(super) fn failed_all(ids: &[ComponentId], reason: String) -> Vec<Done> {
    ids.iter().map(|&id| failed(id, reason.clone())).collect()
}

/// Writes each part at its offset (creating the file and its folders, at a manifest blob's
/// length, when missing), syncs, reads every part back, syncs new folders.
pub(super) fn write_parts(root: &RootedDir, blob: &BlobFacts, parts: &[Part]) -> Vec<Done> {
    let ids: Vec<ComponentId> = parts.iter().map(|part| part.id).collect();
    let path = escape_controls(&blob.file_path).into_owned();
    let nothing_written =
        |error: &dyn std::fmt::Display| failed_all(&ids, cannot_write(&path, error));
    // A file only the copy log lists never gets bytes nobody vouched for: a range past its end
    // (or past the start of a missing one, which is then not created) waits for the end of
    // the file (`tail`).
    let past_end = |end: u64| {
        let first = parts.first().map_or(0, |part| part.offset);
        (!blob.has_hashes && first > end).then(|| failed_all(&ids, past_end_reason(end, first)))
    };
    let located = match root.locate_file_path(&blob.file_path) {
        Ok(located) => located,
        Err(error) => return nothing_written(&escape_controls(&error.to_string())),
    };
    if !located.exists()
        && let Some(refused) = past_end(0)
    {
        return refused;
    }
    // Before the open, which would make a file where the one seen was removed; after it, the
    // file opened.
    if let Some(why) = not_the_file_seen(blob, located.device_and_inode()) {
        return failed_all(&ids, format!("{path} {why}"));
    }
    let opened = match located.open_or_create() {
        Ok(opened) => opened,
        Err(error) => return nothing_written(&escape_controls(&error.to_string())),
    };
    let file = &opened.file;
    if let Some(why) = not_the_file_seen(blob, identity_of(file)) {
        return failed_all(&ids, format!("{path} {why}"));
    }
    // Never shrink a longer file here (bytes past the end are the length check's, once the
    // rest verifies). A manifest blob's missing or short file is brought to its length: every
    // byte has a hash that zeros fail.
    let end = match file.metadata() {
        Ok(metadata) => metadata.len(),
        Err(error) => return nothing_written(&error),
    };
    if let Some(refused) = past_end(end) {
        return refused;
    }
    if blob.has_hashes
        && end < blob.length
        && let Err(error) = file.set_len(blob.length)
    {
        return nothing_written(&error);
    }
    for (index, part) in parts.iter().enumerate() {
        if let Err(error) = write_pieces(file, part) {
            let range = |p: &Part| format!("{}..{}", p.offset, p.offset + p.len());
            return parts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let what = if i < index {
                        format!("bytes {} were written but not synced", range(p))
                    } else if i == index {
                        format!("bytes {} may be partly written", range(p))
                    } else {
                        format!("bytes {} were not written", range(p))
                    };
                    failed(
                        p.id,
                        format!("cannot write {path}: {error}; {what}; a rerun checks them again"),
                    )
                })
                .collect();
        }
    }
    // The data and the length it needs; the timestamps can wait.
    let synced = file.sync_data().and_then(|()| opened.sync_new_entries());
    if let Err(error) = synced {
        return failed_all(
            &ids,
            format!(
                "cannot sync {path}: {error}; the bytes were written but may not be on the disk; \
                 a rerun checks them again"
            ),
        );
    }
    if !located.still_holds(&opened) {
        return failed_all(&ids, format!("{path} {MOVED_WHILE_WRITTEN}"));
    }
    let identity = FileIdentity::of(file).ok();
    parts
        .iter()
        .map(|part| {
            let read_back = match read_back(file, part) {
                Ok(read_back) => read_back,
                Err(error) => {
                    return failed(
                        part.id,
                        format!("cannot read {path} back after writing: {error}"),
                    );
                }
            };
            if read_back != part.md5 {
                return Done {
                    id: part.id,
                    status: ComponentStatus::Failed,
                    actual_md5: Some(read_back),
                    storage_md5: Some(part.md5),
                    reason: Some(format!(
                        "the drive gave back different bytes after writing (MD5 {read_back}): \
                         the drive may be failing"
                    )),
                    identity,
                };
            }
            Done {
                id: part.id,
                status: ComponentStatus::Repaired,
                actual_md5: Some(read_back),
                storage_md5: Some(part.md5),
                reason: part.vouched.reason(),
                identity,
            }
        })
        .collect()
}

/// Why a write of `path` did not happen: `error`, saying that nothing was written (once: some
/// errors say it themselves).
pub(super) fn cannot_write(path: &str, error: &dyn std::fmt::Display) -> String {
    let error = error.to_string();
    if error.contains("nothing was written") {
        format!("cannot write {path}: {error}")
    } else {
        format!("cannot write {path}: {error}; nothing was written")
    }
}

/// Why a range at `first` of a file only the copy log lists, which ends at `end`, is not
/// written now.
pub(super) fn past_end_reason(end: u64, first: u64) -> String {
    if first < end {
        return format!(
            "{}: nothing past it is written before the storage's length is known to agree with \
             the copy log's; nothing was written (a repair brings the range with the file's \
             missing end when the copy log gives its Length)",
            file_end_and_range(end, first)
        );
    }
    format!(
        "{}: the bytes between are missing too, and writing past them would leave zeros nobody \
         vouched for; nothing was written (a repair brings them with the file's missing end \
         when the copy log gives its Length)",
        file_end_and_range(end, first)
    )
}

/// Where a file cut short ends, against a range that reaches past it from `first`.
pub(super) fn file_end_and_range(end: u64, first: u64) -> String {
    if first < end {
        format!("the file ends at byte {end}, inside this range (from byte {first})")
    } else {
        format!("the file ends at byte {end}, before this range at byte {first}")
    }
}

/// Writes a part's pieces one after the other from its offset.
fn write_pieces(file: &std::fs::File, part: &Part) -> std::io::Result<()> {
    let mut at = part.offset;
    for piece in &part.pieces {
        file.write_all_at(piece, at)?;
        at += piece.len() as u64;
    }
    Ok(())
}

/// Bytes read back at a time: small enough to stay in the CPU's cache while they are compared.
const READ_BACK: usize = 256 * 1024;

thread_local! {
    /// The buffer each thread reads the drive back with (after a write, or to hash a range),
    /// kept between reads.
    static READ_BACK_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What the drive gives back for `part`: its MD5, which is the part's own when every byte is
/// the one written (compared window by window, not hashed again: an MD5 per write was a third
/// of a repair's CPU); different bytes are hashed.
fn read_back(file: &std::fs::File, part: &Part) -> std::io::Result<Md5> {
    READ_BACK_BUFFER.with_borrow_mut(|buffer| {
        buffer.resize(READ_BACK, 0);
        let (offset, length) = (part.offset, part.len());
        let mut written = WrittenBytes::new(&part.pieces);
        if read_windows(file, offset, length, buffer, |read| written.next_is(read))? {
            return Ok(part.md5);
        }
        hash_range(file, offset, length, buffer)
    })
}

/// The MD5 of `[offset, offset + length)` of `file`, read a buffer at a time.
fn hash_range(
    file: &std::fs::File,
    offset: u64,
    length: u64,
    buffer: &mut [u8],
) -> std::io::Result<Md5> {
    let mut hasher = Md5Stream::new();
    read_windows(file, offset, length, buffer, |read| {
        hasher.update(read);
        true
    })?;
    Ok(hasher.finish())
}

/// Reads `[offset, offset + length)` of `file` a buffer at a time, handing each window to
/// `each` until it says to stop; whether every window was handed over.
fn read_windows(
    file: &std::fs::File,
    offset: u64,
    length: u64,
    buffer: &mut [u8],
    mut each: impl FnMut(&[u8]) -> bool,
) -> std::io::Result<bool> {
    let (mut at, end) = (offset, offset + length);
    while at < end {
        let take = (end - at).min(buffer.len() as u64) as usize;
        let read = &mut buffer[..take];
        file.read_exact_at(read, at)?;
        if !each(read) {
            return Ok(false);
        }
        at += take as u64;
    }
    Ok(true)
}

/// The bytes written, read in order across their pieces.
struct WrittenBytes<'a> {
    pieces: std::slice::Iter<'a, bytes::Bytes>,
    current: &'a [u8],
}

impl<'a> WrittenBytes<'a> {
    fn new(pieces: &'a [bytes::Bytes]) -> Self {
        Self {
            pieces: pieces.iter(),
            current: &[],
        }
    }

    /// Whether the next `bytes.len()` bytes written are `bytes`.
    fn next_is(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            if self.current.is_empty() {
                match self.pieces.next() {
                    Some(piece) => self.current = piece,
                    None => return false,
                }
                continue;
            }
            let n = self.current.len().min(bytes.len());
            if self.current[..n] != bytes[..n] {
                return false;
            }
            self.current = &self.current[n..];
            bytes = &bytes[n..];
        }
        true
    }
}

/// Replaces a side file whole with `bytes`; its verdict against `expected` (and whose MD5
/// that is: "manifest", "copy log").
pub(super) fn write_side_file(
    root: &RootedDir,
    id: ComponentId,
    kind: ComponentKind,
    file_path: &str,
    bytes: &[u8],
    (expected, whose): (Option<Md5>, &str),
) -> Done {
    let path = escape_controls(file_path).into_owned();
    let actual = Md5::of(bytes);
    let written = root.locate_file_path(file_path).and_then(|located| {
        let read_back = located.replace_with(bytes)?;
        let identity = located
            .open_read()
            .ok()
            .and_then(|file| FileIdentity::of(&file).ok());
        Ok((read_back, identity))
    });
    match written {
        Err(error) => failed(
            id,
            format!(
                "cannot write {path}: {}; the old file is unchanged",
                escape_controls(&error.to_string())
            ),
        ),
        Ok((read_back, identity)) if read_back != bytes => Done {
            id,
            status: ComponentStatus::Failed,
            actual_md5: Some(Md5::of(&read_back)),
            storage_md5: Some(actual),
            reason: Some("the drive gave back different bytes after writing".into()),
            identity,
        },
        Ok((_, identity)) => match expected {
            Some(expected) if expected != actual => Done {
                id,
                status: ComponentStatus::Regenerated,
                actual_md5: Some(actual),
                storage_md5: Some(actual),
                reason: Some(format!(
                    "rewritten from the blob's current {}; its MD5 {actual} differs from the \
                     {whose}'s {expected} (the service's exact layout is not documented)",
                    kind.as_str()
                )),
                identity,
            },
            _ => Done {
                id,
                status: ComponentStatus::Repaired,
                actual_md5: Some(actual),
                storage_md5: Some(actual),
                reason: None,
                identity,
            },
        },
    }
}

/// Brings a manifest blob's file to its length, only when `may_change` (every block and page
/// of the file is right): extends a short file (bytes no range lists are zeros in a page
/// blob) or truncates bytes past the end. A file whose blocks could not be repaired is left
/// as it is, not created or padded with bytes nobody checked. A length already right is
/// verified, not repaired, unless the run `mended` the file (found the length wrong, or wrote
/// its blocks).
pub(super) fn write_length(
    root: &RootedDir,
    id: ComponentId,
    blob: &BlobFacts,
    may_change: Result<(), String>,
    mended: bool,
) -> Done {
    let path = escape_controls(&blob.file_path).into_owned();
    // The length before and after, the file's identity, and whether the file was mended.
    let result = (|| -> Result<(u64, u64, Option<FileIdentity>, bool), String> {
        let located = root
            .locate_file_path(&blob.file_path)
            .map_err(|error| escape_controls(&error.to_string()).into_owned())?;
        if !located.exists() {
            may_change.clone().map_err(|why| {
                format!("the file is not on the drive; not created because {why}")
            })?;
        }
        let seen = |found| not_the_file_seen(blob, found).map(|why| format!("the file {why}"));
        seen(located.device_and_inode()).map_or(Ok(()), Err)?;
        let opened = located
            .open_or_create()
            .map_err(|error| escape_controls(&error.to_string()).into_owned())?;
        let file = &opened.file;
        seen(identity_of(file)).map_or(Ok(()), Err)?;
        let before = file.metadata().map_err(|e| e.to_string())?.len();
        if before != blob.length {
            may_change.map_err(|why| {
                let what = if before > blob.length {
                    "bytes past the end: "
                } else {
                    ""
                };
                format!(
                    "{what}the file is {before} bytes, the blob's Length is {}; not changed \
                     because {why}",
                    blob.length
                )
            })?;
        }
        let changed = mended || opened.created || before != blob.length;
        if before != blob.length {
            file.set_len(blob.length).map_err(|e| e.to_string())?;
        }
        file.sync_all()
            .and_then(|()| opened.sync_new_entries())
            .map_err(|e| e.to_string())?;
        if !located.still_holds(&opened) {
            return Err(format!("the file {MOVED_WHILE_WRITTEN}"));
        }
        let after = file.metadata().map_err(|e| e.to_string())?.len();
        Ok((before, after, FileIdentity::of(file).ok(), changed))
    })();
    match result {
        // Nothing to repair: the copy log's word against a file that has its length.
        Ok((_, after, identity, false)) if after == blob.length => Done {
            id,
            status: ComponentStatus::Verified,
            actual_md5: None,
            storage_md5: None,
            reason: Some("the file already has the blob's Length; nothing was changed".into()),
            identity,
        },
        Ok((before, after, identity, true)) if after == blob.length => Done {
            id,
            status: ComponentStatus::Repaired,
            actual_md5: None,
            storage_md5: None,
            reason: (before > after).then(|| {
                format!(
                    "{} bytes past the end were cut (the file was {before} bytes)",
                    before - after
                )
            }),
            identity,
        },
        Ok((_, after, identity, _)) => Done {
            id,
            status: ComponentStatus::Failed,
            actual_md5: None,
            storage_md5: None,
            reason: Some(format!(
                "the file is {after} bytes after the change, not the blob's Length {}",
                blob.length
            )),
            identity,
        },
        Err(reason) if reason.starts_with("bytes past the end") => failed(id, reason),
        Err(reason) => failed(id, format!("cannot change the length of {path}: {reason}")),
    }
}

/// A whole file being downloaded into a temporary beside its final name.
pub(super) struct WholeFile {
    temporary: Temporary,
}

/// Whether the drive already holds what `component` of `blob` must be: its bytes hash to the
/// manifest's MD5 (a data range, or a properties or metadata file); with that MD5 and the
/// file's identity. Nothing without an expected MD5 is right by this.
pub(super) fn right_on_drive(
    root: &RootedDir,
    blob: &crate::model::Blob,
    component: &crate::model::Component,
) -> Option<(Md5, FileIdentity)> {
    let expected = component.expected_md5?;
    let path = blob.component_file_path(component)?;
    let (md5, identity) = match component.kind {
        ComponentKind::Block | ComponentKind::Page => {
            let file = root.locate_file_path(path).ok()?.open_read().ok()?;
            let identity = FileIdentity::of(&file).ok()?;
            if identity.length < component.offset.checked_add(component.length)? {
                return None;
            }
            let (offset, length) = (component.offset, component.length);
            let md5 = READ_BACK_BUFFER.with_borrow_mut(|buffer| {
                buffer.resize(READ_BACK, 0);
                hash_range(&file, offset, length, buffer)
            });
            (md5.ok()?, identity)
        }
        ComponentKind::Properties | ComponentKind::Metadata => {
            match crate::engine::verify::read_side_file(root, path, component.kind).ok()? {
                crate::engine::verify::SideFile::Read { bytes, identity } => {
                    (Md5::of(&bytes), identity)
                }
                crate::engine::verify::SideFile::Missing => return None,
            }
        }
        _ => return None,
    };
    (md5 == expected).then_some((md5, identity))
}

impl WholeFile {
    pub(super) fn create(root: &RootedDir, file_path: &str) -> Result<Self, RootedError> {
        let located = root.locate_file_path(file_path)?;
        if located.exists() {
            // Refuse what the final rename must not replace: a folder, a link, a FIFO.
            match located.open_read() {
                Ok(_) => {}
                Err(error @ RootedError::NotAFile { .. }) => return Err(error),
                Err(error @ RootedError::Symlink { .. }) => return Err(error),
                Err(_) => {}
            }
        }
        Ok(Self {
            temporary: located.temporary()?,
        })
    }

    pub(super) fn write_at(&self, bytes: &[u8], offset: u64) -> std::io::Result<()> {
        self.temporary.file.write_all_at(bytes, offset)
    }

    pub(super) fn set_len(&self, length: u64) -> std::io::Result<()> {
        self.temporary.file.set_len(length)
    }

    /// Checks the temporary's length and MD5 (when the blob has a Content-MD5), then renames it
    /// into place; the temporary is removed when anything fails.
    pub(super) fn finish(
        self,
        length: u64,
        content_md5: Option<Md5>,
    ) -> Result<(Md5, Option<FileIdentity>), String> {
        let file = &self.temporary.file;
        file.sync_all()
            .map_err(|e| format!("cannot sync the download: {e}"))?;
        let on_disk = file.metadata().map_err(|e| e.to_string())?.len();
        if on_disk != length {
            return Err(format!(
                "the download is {on_disk} bytes, not the blob's {length}; nothing was written"
            ));
        }
        let md5 = Md5Stream::of_reader(file)
            .map_err(|e| format!("cannot read the download back: {e}"))?;
        if let Some(expected) = content_md5
            && expected != md5
        {
            return Err(format!(
                "the downloaded bytes hash to {md5}, not the blob's Content-MD5 {expected}; \
                 nothing was written"
            ));
        }
        let file = self
            .temporary
            .commit()
            .map_err(|e| escape_controls(&e.to_string()).into_owned())?;
        Ok((md5, FileIdentity::of(&file).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::repair::fetch::Vouched;
    use bytes::Bytes;

    fn facts(length: u64) -> BlobFacts {
        BlobFacts {
            file_path: r"\long".into(),
            length,
            has_hashes: true,
            seen_as: None,
        }
    }

    fn part(offset: u64, bytes: &'static [u8]) -> Part {
        Part {
            id: ComponentId {
                blob: 0,
                component: 0,
            },
            offset,
            pieces: vec![Bytes::from_static(bytes)],
            md5: Md5::of(bytes),
            vouched: Vouched::Hash,
        }
    }

    /// A part as it arrives: in pieces cut anywhere, with boundaries that match neither the
    /// read-back windows nor each other.
    fn pieces_of(data: &[u8], cuts: &[usize]) -> Vec<Bytes> {
        let mut pieces = Vec::new();
        let mut rest = Bytes::copy_from_slice(data);
        for &cut in cuts {
            pieces.push(rest.split_to(cut.min(rest.len())));
        }
        pieces.push(rest);
        pieces
    }

    /// A file that is not the one this run verified (another program put a new file at its
    /// path meanwhile) is not written: its other blocks were checked on the file replaced.
    ///
    /// Seen failing: the block was written into the new file and the run said REPAIRED while
    /// the new file's other blocks, never checked, were corrupt.
    #[test]
    fn a_file_replaced_since_it_was_verified_is_not_written() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        let root = RootedDir::open(dir.path()).unwrap();
        let path = dir.path().join("long");
        std::fs::write(&path, b"0123456789").unwrap();
        let verified = std::fs::metadata(&path).unwrap();
        // Another file, made while the first is there (so that it cannot take its inode).
        let replaced = dir.path().join("other");
        std::fs::write(&replaced, b"ABCDEFGHIJ").unwrap();
        std::fs::rename(&replaced, &path).unwrap();
        assert_ne!(std::fs::metadata(&path).unwrap().ino(), verified.ino());
        let blob = BlobFacts {
            seen_as: Some((verified.dev(), verified.ino())),
            ..facts(10)
        };
        let done = write_parts(&root, &blob, &[part(2, b"xy")]);
        assert_eq!(done[0].status, ComponentStatus::Failed, "{done:?}");
        let reason = done[0].reason.as_deref().unwrap();
        assert!(
            reason.contains("replaced since it was verified"),
            "{reason}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"ABCDEFGHIJ");
        let done = write_length(&root, done[0].id, &blob, Ok(()), true);
        assert_eq!(done.status, ComponentStatus::Failed, "{done:?}");
        // The file it verified is written.
        let now = std::fs::metadata(&path).unwrap();
        let blob = BlobFacts {
            seen_as: Some((now.dev(), now.ino())),
            ..facts(10)
        };
        let done = write_parts(&root, &blob, &[part(2, b"xy")]);
        assert_eq!(done[0].status, ComponentStatus::Repaired, "{done:?}");
    }

    /// Seen failing with the phrase appended to any error: a hard-linked file's reason said
    /// "nothing was written (copy the file to break the link, then rerun); nothing was
    /// written".
    #[test]
    fn a_reason_says_nothing_was_written_once() {
        let linked = crate::rooted::RootedError::HardLinked {
            path: "a".into(),
            links: 2,
        };
        let reason = cannot_write(r"\c\a", &linked);
        assert_eq!(reason.matches("nothing was written").count(), 1, "{reason}");
        let reason = cannot_write(r"\c\a", &"disk full");
        assert!(
            reason.ends_with("disk full; nothing was written"),
            "{reason}"
        );
    }

    #[test]
    fn pieces_are_written_in_order_and_read_back_across_windows() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootedDir::open(dir.path()).unwrap();
        let data = crate::demo::pseudo_random_bytes(5, 3 * READ_BACK + 4097);
        let part = Part {
            id: ComponentId {
                blob: 0,
                component: 0,
            },
            offset: 1000,
            pieces: pieces_of(&data, &[1, READ_BACK - 2, 70_001, READ_BACK, 3]),
            md5: Md5::of(&data),
            vouched: Vouched::Hash,
        };
        let done = write_parts(&root, &facts(1000 + data.len() as u64), &[part]);
        assert_eq!(done[0].status, ComponentStatus::Repaired, "{done:?}");
        assert_eq!(done[0].actual_md5, Some(Md5::of(&data)));
        let written = std::fs::read(dir.path().join("long")).unwrap();
        assert_eq!(&written[..1000], &[0u8; 1000][..]);
        assert!(written[1000..] == data[..], "the pieces, end to end");
    }

    /// The read-back answers the part's own MD5 only when every byte read equals the one
    /// written; any other byte, in any window, is hashed as it is on the drive.
    #[test]
    fn the_read_back_tells_any_byte_that_differs() {
        let dir = tempfile::tempdir().unwrap();
        let data = crate::demo::pseudo_random_bytes(6, 2 * READ_BACK + 100);
        // A digest no bytes here have: it comes back only when the bytes are compared equal.
        let written = Md5([0x5a; 16]);
        let part = Part {
            id: ComponentId {
                blob: 0,
                component: 0,
            },
            offset: 10,
            pieces: pieces_of(&data, &[READ_BACK + 1, 99]),
            md5: written,
            vouched: Vouched::Hash,
        };
        let path = dir.path().join("f");
        let mut on_disk = vec![0u8; 10];
        on_disk.extend_from_slice(&data);
        std::fs::write(&path, &on_disk).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        assert_eq!(read_back(&file, &part).unwrap(), written);
        for at in [0, READ_BACK, READ_BACK + 1, data.len() - 1] {
            let mut other = on_disk.clone();
            other[10 + at] ^= 1;
            std::fs::write(&path, &other).unwrap();
            let file = std::fs::File::open(&path).unwrap();
            assert_eq!(
                read_back(&file, &part).unwrap(),
                Md5::of(&other[10..]),
                "byte {at} differs"
            );
        }
        std::fs::write(&path, &on_disk[..on_disk.len() - 1]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        assert!(read_back(&file, &part).is_err(), "a short file is an error");
    }

    #[test]
    fn never_shrinks_a_longer_file_and_creates_missing_ones_at_full_length() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("long"), vec![7u8; 100]).unwrap();
        let root = RootedDir::open(dir.path()).unwrap();
        let done = write_parts(&root, &facts(50), &[part(10, b"abc")]);
        assert_eq!(done[0].status, ComponentStatus::Repaired, "{done:?}");
        assert_eq!(
            std::fs::metadata(dir.path().join("long")).unwrap().len(),
            100
        );
        let new = BlobFacts {
            file_path: r"\new\dir\file".into(),
            ..facts(1000)
        };
        let done = write_parts(&root, &new, &[part(0, b"abc")]);
        assert_eq!(done[0].status, ComponentStatus::Repaired, "{done:?}");
        let created = std::fs::read(dir.path().join("new/dir/file")).unwrap();
        assert_eq!(created.len(), 1000);
        assert_eq!(&created[..3], b"abc");
    }

    #[test]
    fn truncates_bytes_past_the_end_only_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("long"), vec![7u8; 100]).unwrap();
        let root = RootedDir::open(dir.path()).unwrap();
        let id = ComponentId {
            blob: 0,
            component: 0,
        };
        let done = write_length(
            &root,
            id,
            &facts(50),
            Err("block 0 is still corrupt".into()),
            false,
        );
        assert_eq!(done.status, ComponentStatus::Failed);
        assert!(
            done.reason
                .as_deref()
                .unwrap()
                .contains("bytes past the end: the file is 100 bytes, the blob's Length is 50; not changed because block 0"),
            "{done:?}"
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("long")).unwrap().len(),
            100
        );
        let done = write_length(&root, id, &facts(50), Ok(()), false);
        assert_eq!(done.status, ComponentStatus::Repaired, "{done:?}");
        assert_eq!(
            std::fs::read(dir.path().join("long")).unwrap(),
            vec![7u8; 50]
        );
    }

    /// A file whose blocks could not be repaired is neither created nor padded: bytes nobody
    /// checked are not written.
    #[test]
    fn neither_creates_nor_extends_while_blocks_are_not_right() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootedDir::open(dir.path()).unwrap();
        let id = ComponentId {
            blob: 0,
            component: 0,
        };
        let not_right = || Err("the block at byte 0 is failed".to_string());
        let mut absent = facts(50);
        absent.file_path = "\\absent".into();
        let done = write_length(&root, id, &absent, not_right(), false);
        assert_eq!(done.status, ComponentStatus::Failed);
        assert!(
            done.reason
                .as_deref()
                .unwrap()
                .contains("not on the drive; not created because"),
            "{done:?}"
        );
        assert!(!dir.path().join("absent").exists());
        std::fs::write(dir.path().join("long"), vec![7u8; 10]).unwrap();
        let done = write_length(&root, id, &facts(50), not_right(), false);
        assert_eq!(done.status, ComponentStatus::Failed, "{done:?}");
        assert_eq!(
            std::fs::read(dir.path().join("long")).unwrap(),
            vec![7u8; 10]
        );
    }
}
