//! The reader: walks the drive file by file, each front to back in large sequential reads,
//! and hands the components each read holds to the hashing threads.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::crc::{CrcFile, PieceResult};
use super::findings::{length_check, read_error, refused, reported, unhashed};
use super::hashing::{Check, HashJob, Part, verdict};
use super::side_file::{SideFile, SideFileError, read_side_file};
use super::{Control, Finding, MAX_BUFFERED, VerifySink, WINDOW_BYTES, WINDOW_PARTS};
use crate::format::Md5;
use crate::md5::Md5Stream;
use crate::model::{Blob, Component, ComponentId, ComponentKind, ComponentStatus, Drive};
use crate::rooted::{FileIdentity, RootedDir};
use crate::sanitize::escape_controls;

pub(super) struct Reader<'a> {
    pub(super) root: &'a RootedDir,
    /// See [`super::VerifyOptions::downloaded`].
    pub(super) downloaded: &'a HashMap<ComponentId, Md5>,
    pub(super) control: &'a Control,
    pub(super) report: &'a dyn VerifySink,
    pub(super) job_tx: Sender<HashJob>,
    pub(super) buffer_tx: Sender<Vec<u8>>,
    pub(super) buffer_rx: Receiver<Vec<u8>>,
}

impl Reader<'_> {
    pub(super) fn run(&self, drive: &Drive, only: Option<&[ComponentId]>) {
        let mut wanted: Option<Vec<Vec<u32>>> = only.map(|ids| {
            let mut per_blob = vec![Vec::new(); drive.blobs.len()];
            for id in ids {
                if let Some(list) = per_blob.get_mut(id.blob as usize) {
                    list.push(id.component);
                }
            }
            per_blob
        });
        for (blob_index, blob) in drive.blobs.iter().enumerate() {
            let selected: Vec<u32> = match wanted.as_mut() {
                Some(per_blob) => {
                    let mut list = std::mem::take(&mut per_blob[blob_index]);
                    list.sort_unstable();
                    list.dedup();
                    list
                }
                None => (0..blob.components.len() as u32).collect(),
            };
            if selected.is_empty() {
                continue;
            }
            self.report.started(blob_index as u32, &selected);
            if !self.verify_blob(blob_index as u32, blob, &selected) {
                return;
            }
        }
    }

    /// Verifies the selected components of one blob; false once cancelled.
    pub(super) fn verify_blob(&self, blob_index: u32, blob: &Blob, selected: &[u32]) -> bool {
        let id = |component: u32| ComponentId {
            blob: blob_index,
            component,
        };
        if let Some(reason) = &blob.refusal {
            for &c in selected {
                self.emit(Finding::new(
                    id(c),
                    ComponentStatus::Failed,
                    Some(reason.clone()),
                ));
            }
            return true;
        }
        if let Some((status, reason)) = blob.export.as_deref().and_then(|e| e.reported_only(blob)) {
            // Nothing a download can bring: the copy log's word is the verdict, and the drive
            // is not looked at (a name ending in a slash is no file's name).
            for &c in selected {
                self.emit(Finding::new(id(c), status, Some(reason.clone())));
            }
            return true;
        }
        let (side, data): (Vec<u32>, Vec<u32>) = selected
            .iter()
            .partition(|&&c| blob.components[c as usize].kind.is_side_file());
        if !data.is_empty() {
            match self.open_data_file(blob) {
                Err(finding) => {
                    for &c in &data {
                        self.emit(Finding {
                            id: id(c),
                            ..(*finding).clone()
                        });
                    }
                }
                Ok((file, identity)) => {
                    if !self.verify_data(blob_index, blob, &data, file, identity) {
                        return false;
                    }
                }
            }
        }
        for &c in &side {
            if !self.control.proceed() {
                return false;
            }
            self.verify_side_file(id(c), blob, &blob.components[c as usize]);
        }
        true
    }

    /// The blob's data file, or the verdict every data component gets without it (the id is
    /// filled in by the caller).
    pub(super) fn open_data_file(&self, blob: &Blob) -> Result<(File, FileIdentity), Box<Finding>> {
        let placeholder = ComponentId {
            blob: 0,
            component: 0,
        };
        let located = self
            .root
            .locate_file_path(&blob.file_path)
            .map_err(|error| refused(placeholder, &error))?;
        if !located.exists() {
            return Err(Box::new(Finding::new(
                placeholder,
                ComponentStatus::Missing,
                Some(format!(
                    "the file {} is not on the drive{}",
                    escape_controls(&blob.file_path),
                    reported(blob)
                )),
            )));
        }
        let file = located
            .open_read()
            .map_err(|error| refused(placeholder, &error))?;
        let identity = FileIdentity::of(&file).map_err(|error| {
            Box::new(Finding::new(
                placeholder,
                ComponentStatus::Corrupt,
                Some(format!(
                    "cannot read {}: {error}",
                    escape_controls(&blob.file_path)
                )),
            ))
        })?;
        Ok((file, identity))
    }

    pub(super) fn verify_data(
        &self,
        blob_index: u32,
        blob: &Blob,
        data: &[u32],
        mut file: File,
        identity: FileIdentity,
    ) -> bool {
        let id = |component: u32| ComponentId {
            blob: blob_index,
            component,
        };
        // Read front to back: a wider readahead on cold data (advice only; may be refused).
        #[cfg(target_os = "linux")]
        let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Sequential);
        let on = Some(identity);
        let file_length = identity.length;
        let mut position = 0u64;
        let mut window = Window::default();
        let (by_crc, data): (Vec<u32>, Vec<u32>) = data.iter().partition(|&&c| {
            matches!(
                blob.components[c as usize].kind,
                ComponentKind::Chunk | ComponentKind::Crc64
            )
        });
        for &c in &data {
            if !self.control.proceed() {
                return false;
            }
            let component = &blob.components[c as usize];
            if component.kind == ComponentKind::File {
                let finding = match self.downloaded.get(&id(c)) {
                    Some(&recorded) if blob.is_sole_whole_file(component) => {
                        position = u64::MAX;
                        let whole = (0, file_length);
                        let hashed = self.as_written(id(c), component, &mut file, whole, recorded);
                        let Some(finding) = hashed else {
                            return false;
                        };
                        finding
                    }
                    _ => length_check(id(c), blob, component, file_length),
                };
                self.emit(finding.on(on));
                continue;
            }
            let end = component.offset + component.length;
            // Bytes the file does not reach are missing, whether or not a hash would check them.
            if end > file_length {
                self.emit(
                    Finding::new(
                        id(c),
                        ComponentStatus::Missing,
                        Some(format!(
                            "the file is {file_length} bytes long, shorter than this {}'s end at byte {end}",
                            component.kind.as_str()
                        )),
                    )
                    .on(on),
                );
                continue;
            }
            let expected = match (component.expected_md5, self.downloaded.get(&id(c))) {
                (Some(expected), _) => expected,
                (None, None) => {
                    self.emit(unhashed(id(c), component).on(on));
                    continue;
                }
                // Hashed on their own: usually a copy log's few failures.
                (None, Some(&written)) => {
                    if !self.flush(&mut file, &mut position, &mut window, blob) {
                        return false;
                    }
                    position = u64::MAX;
                    let range = (component.offset, component.length);
                    let hashed = self.as_written(id(c), component, &mut file, range, written);
                    let Some(finding) = hashed else {
                        return false;
                    };
                    self.emit(finding.on(on));
                    continue;
                }
            };
            if component.length <= MAX_BUFFERED {
                if !window.accepts(component.offset, component.length)
                    && !self.flush(&mut file, &mut position, &mut window, blob)
                {
                    return false;
                }
                let check = Check::Md5 {
                    id: id(c),
                    expected,
                    in_manifest: blob.in_manifest,
                };
                window.push(check, component.offset, component.length, on);
                continue;
            }
            if !self.flush(&mut file, &mut position, &mut window, blob) {
                return false;
            }
            let streamed = seek_to(&mut file, &mut position, component.offset)
                .and_then(|()| self.stream_hash(&mut file, component.length));
            match streamed {
                Ok(None) => return false,
                Ok(Some(actual)) => {
                    position = end;
                    let expected = (expected, blob.in_manifest);
                    self.emit(verdict(id(c), expected, actual, component.length).on(on));
                }
                Err(error) => {
                    // The position is unknown after a failed read: seek before the next one.
                    position = u64::MAX;
                    self.emit(read_error(id(c), component, &error));
                }
            }
        }
        if !self.flush(&mut file, &mut position, &mut window, blob) {
            return false;
        }
        by_crc.is_empty() || self.verify_crc(blob_index, blob, &by_crc, &mut file, identity)
    }

    /// Reads every piece of a file checked by CRC-64 and hands them to the hashers, which
    /// give the verdicts once the last is in; false once cancelled.
    pub(super) fn verify_crc(
        &self,
        blob_index: u32,
        blob: &Blob,
        selected: &[u32],
        file: &mut File,
        identity: FileIdentity,
    ) -> bool {
        let Some(crc_file) = CrcFile::new(blob_index, blob, selected, identity.length, identity)
        else {
            for &c in selected {
                let id = ComponentId {
                    blob: blob_index,
                    component: c,
                };
                self.emit(unhashed(id, &blob.components[c as usize]));
            }
            return true;
        };
        let crc_file = Arc::new(crc_file);
        crc_file.verdicts_now(&mut |finding| self.emit(finding));
        let mut position = u64::MAX;
        let mut window = Window::default();
        for (index, piece) in crc_file.pieces().iter().enumerate() {
            if !self.control.proceed() {
                return false;
            }
            if piece.end() > crc_file.file_length() {
                crc_file.record(index, PieceResult::Missing, &mut |finding| {
                    self.emit(finding)
                });
                continue;
            }
            if !window.accepts(piece.offset, piece.length)
                && !self.flush(file, &mut position, &mut window, blob)
            {
                return false;
            }
            let check = Check::Crc {
                file: Arc::clone(&crc_file),
                piece: index,
            };
            window.push(check, piece.offset, piece.length, Some(identity));
        }
        self.flush(file, &mut position, &mut window, blob)
    }

    /// Reads the window's bytes in one sequential read and hands its components to the
    /// hashers; false once they are gone. A failed read is retried component by component,
    /// so that only the components it touches are reported unreadable.
    pub(super) fn flush(
        &self,
        file: &mut File,
        position: &mut u64,
        window: &mut Window,
        blob: &Blob,
    ) -> bool {
        if window.parts.is_empty() {
            return true;
        }
        // The pool and the hashers outlive the reader unless a hasher panicked.
        let Ok(mut buffer) = self.buffer_rx.recv() else {
            return false;
        };
        let length = (window.end - window.start) as usize;
        if buffer.len() < length {
            buffer.resize(length, 0);
        }
        let mut parts = std::mem::take(&mut window.parts);
        let read = seek_to(file, position, window.start)
            .and_then(|()| file.read_exact(&mut buffer[..length]));
        match read {
            Ok(()) => *position = window.end,
            Err(_) => {
                *position = u64::MAX;
                parts.retain(|part| {
                    let offset = window.start + part.bytes.start as u64;
                    let read = seek_to(file, position, offset)
                        .and_then(|()| file.read_exact(&mut buffer[part.bytes.clone()]));
                    match read {
                        Ok(()) => {
                            *position = offset + part.bytes.len() as u64;
                            true
                        }
                        Err(error) => {
                            *position = u64::MAX;
                            self.unreadable(&part.check, blob, &error);
                            false
                        }
                    }
                });
            }
        }
        let job = HashJob {
            buffer,
            parts,
            pool: Some(self.buffer_tx.clone()),
        };
        self.job_tx.send(job).is_ok()
    }

    pub(super) fn verify_side_file(&self, id: ComponentId, blob: &Blob, component: &Component) {
        let Some(file_path) = blob.component_file_path(component) else {
            self.emit(unhashed(id, component));
            return;
        };
        // What a repair wrote, when the repair file recorded it: a side file no manifest hash
        // checks is proven by it too.
        let written = self.downloaded.get(&id).copied();
        if component.expected_md5.is_none() && written.is_none() {
            self.emit(unhashed(id, component));
            return;
        }
        match read_side_file(self.root, file_path, component.kind) {
            Ok(SideFile::Missing) => self.emit(Finding::new(
                id,
                ComponentStatus::Missing,
                Some(format!(
                    "the file {} is not on the drive",
                    escape_controls(file_path)
                )),
            )),
            Ok(SideFile::Read { bytes, identity }) if let Some(written) = written => {
                // Regenerated by a repair (small: hashed here), proven by what was written.
                let md5 = Md5::of(&bytes);
                let finding = match component.expected_md5 {
                    Some(expected) if md5 == expected => {
                        Finding::new(id, ComponentStatus::Verified, None)
                    }
                    // What the repair called it: regenerated (a warning), not the manifest's.
                    Some(expected) if md5 == written => Finding::new(
                        id,
                        ComponentStatus::Regenerated,
                        Some(format!(
                            "regenerated by a repair from the blob's current properties: it \
                             is what was written then (MD5 {md5}), not the {}'s {expected}",
                            blob.hash_source()
                        )),
                    ),
                    _ => as_written_verdict(id, component, Ok(md5), written),
                };
                self.emit(
                    Finding {
                        actual_md5: Some(md5),
                        ..finding
                    }
                    .on(Some(identity)),
                );
            }
            Ok(SideFile::Read { bytes, identity }) => {
                let Some(expected) = component.expected_md5 else {
                    // Not reached: without a hash, only what was written checks the file.
                    self.emit(unhashed(id, component));
                    return;
                };
                let job = HashJob {
                    parts: vec![Part {
                        check: Check::Md5 {
                            id,
                            expected,
                            in_manifest: blob.in_manifest,
                        },
                        bytes: 0..bytes.len(),
                        identity: Some(identity),
                    }],
                    buffer: bytes,
                    pool: None,
                };
                // Only a hasher's panic closes the channel; the run then ends unfinished.
                let _ = self.job_tx.send(job);
            }
            Err(SideFileError::Refused(error)) => self.emit(refused(id, &error)),
            Err(SideFileError::Read(error)) => self.emit(read_error(id, component, &error)),
        }
    }

    /// The verdict on what an earlier repair wrote unchecked ([`as_written_verdict`]): the
    /// `(offset, length)` bytes of `file` read front to back (a whole file, or a range);
    /// `None` when the run is cancelled meanwhile (a file may be huge).
    fn as_written(
        &self,
        id: ComponentId,
        component: &Component,
        file: &mut File,
        (offset, length): (u64, u64),
        recorded: Md5,
    ) -> Option<Finding> {
        let hashed = file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.stream_hash(file, length))
            .transpose()?;
        Some(as_written_verdict(id, component, hashed, recorded))
    }

    /// The MD5 of the next `length` bytes of `file`, read a MiB at a time; `Ok(None)` when the
    /// run is cancelled meanwhile (a component or file may be huge).
    fn stream_hash(&self, file: &mut File, length: u64) -> io::Result<Option<Md5>> {
        let mut hasher = Md5Stream::new();
        let mut chunk = vec![0u8; 1024 * 1024];
        let mut left = length;
        while left > 0 {
            if !self.control.proceed() {
                return Ok(None);
            }
            let take = left.min(chunk.len() as u64) as usize;
            file.read_exact(&mut chunk[..take])?;
            hasher.update(&chunk[..take]);
            left -= take as u64;
        }
        Ok(Some(hasher.finish()))
    }

    pub(super) fn emit(&self, finding: Finding) {
        self.report.finding(finding);
    }

    /// A part the drive could not read.
    pub(super) fn unreadable(&self, check: &Check, blob: &Blob, error: &io::Error) {
        match check {
            Check::Md5 { id, .. } => {
                let component = &blob.components[id.component as usize];
                self.emit(read_error(*id, component, error));
            }
            Check::Crc { file, piece } => {
                let unreadable = PieceResult::Unreadable(error.to_string());
                file.record(*piece, unreadable, &mut |finding| self.emit(finding));
            }
        }
    }
}

/// Consecutive components of one file that one read covers.
#[derive(Debug, Default)]
pub(super) struct Window {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) parts: Vec<Part>,
}

impl Window {
    /// Whether `[offset, offset + length)` continues this window without making it too large.
    pub(super) fn accepts(&self, offset: u64, length: u64) -> bool {
        self.parts.is_empty()
            || (offset == self.end
                && self.end + length - self.start <= WINDOW_BYTES
                && self.parts.len() < WINDOW_PARTS)
    }

    pub(super) fn push(
        &mut self,
        check: Check,
        offset: u64,
        length: u64,
        identity: Option<FileIdentity>,
    ) {
        if self.parts.is_empty() {
            self.start = offset;
            self.end = offset;
        }
        let from = (self.end - self.start) as usize;
        self.end += length;
        self.parts.push(Part {
            check,
            bytes: from..from + length as usize,
            identity,
        });
    }
}

/// A file known only from the copy log, which an earlier repair downloaded whole, or a range
/// of one that a repair wrote: right when all of it still hashes to the MD5 recorded then (the
/// length alone proves nothing).
fn as_written_verdict(
    id: ComponentId,
    component: &Component,
    hashed: io::Result<Md5>,
    recorded: Md5,
) -> Finding {
    let md5 = match hashed {
        Ok(md5) => md5,
        Err(error) => return read_error(id, component, &error),
    };
    // The MD5 goes with the verdict: a rerun records it again, for the next check.
    let finding = if md5 == recorded {
        Finding::new(id, ComponentStatus::Verified, None)
    } else {
        Finding::new(
            id,
            ComponentStatus::Corrupt,
            Some(format!(
                "{} hashes to {md5}, not to the MD5 {recorded} the repair file recorded when \
                 it was written: it changed since",
                match component.kind {
                    ComponentKind::File => "the file".to_string(),
                    kind => format!("this {}", kind.as_str()),
                }
            )),
        )
    };
    Finding {
        actual_md5: Some(md5),
        ..finding
    }
}

/// Seeks unless the file is already there (`u64::MAX`: unknown after a failed read).
pub(super) fn seek_to(file: &mut File, position: &mut u64, offset: u64) -> io::Result<()> {
    if *position != offset {
        file.seek(SeekFrom::Start(offset))?;
        *position = offset;
    }
    Ok(())
}
