//! Verification: hash every component of the drive against its expected MD5.
//!
//! One reader walks the drive file by file, each file front to back in large sequential
//! reads (a spinning disk sees one sequential stream), and hands the blocks each read holds
//! to a pool of hashing threads. Each hashing thread hashes many blocks at once, one per
//! SIMD lane (`md5::hash_many`), so MD5 keeps up with the page cache. Buffers come from a
//! fixed pool: memory stays bounded whatever the file sizes.
//!
//! Files are reached through the rooted drive handle: a link, a FIFO, a device or a folder at
//! a data path is refused unread, and an entry the model refused is never looked at.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use tokio_util::sync::CancellationToken;

use crate::format::Md5;
use crate::md5::{Md5Lanes, Md5Path, Md5Stream};
use crate::model::{Blob, Component, ComponentId, ComponentKind, ComponentStatus, Drive};
use crate::rooted::{FileIdentity, Located, RootedDir, RootedError};
use crate::sanitize::escape_controls;

/// Components above this size are hashed in a stream by the reader itself, so that a
/// single buffer never has to hold them.
const MAX_BUFFERED: u64 = 8 * 1024 * 1024;
/// One read covers consecutive components up to this many bytes (at least one component)
/// and this many components: enough to fill every lane, few enough that small blocks do not
/// fill a window's memory for nothing.
const WINDOW_BYTES: u64 = 8 * 1024 * 1024;
const WINDOW_PARTS: usize = 256;
/// Windows in flight: the reader's, the hashers' and those waiting between them. With
/// `WINDOW_BYTES` this bounds the verifier's buffers at 64 MiB.
const WINDOWS: usize = 8;
/// Properties and metadata files are small; anything this large is not one.
const MAX_SIDE_FILE: u64 = 64 * 1024 * 1024;

/// Tuning for a verification.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Hashing threads; see `default`.
    pub hash_threads: usize,
}

impl Default for VerifyOptions {
    /// One hashing thread per core; with SIMD lanes one fewer, since a core hashing a block
    /// per lane keeps up with the reader copying from the page cache on another.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hash_threads = if Md5Path::active().lanes() > 1 {
            cores.saturating_sub(1).max(1)
        } else {
            cores
        };
        Self { hash_threads }
    }
}

/// Pause and cancel, shared by the dispatcher, the verifier's threads and the downloads.
#[derive(Debug)]
pub struct Control {
    /// Cancelled once: every await on it (a download, a retry's backoff) ends at once.
    cancel: CancellationToken,
    paused: tokio::sync::watch::Sender<bool>,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            cancel: CancellationToken::new(),
            paused: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl Control {
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the run is cancelled.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// The token a source's retries stop on.
    pub fn token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    /// Waits while paused; false once cancelled.
    pub async fn proceed_async(&self) -> bool {
        let mut paused = self.paused.subscribe();
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            result = paused.wait_for(|paused| !*paused) => result.is_ok() && !self.is_cancelled(),
        }
    }

    /// Blocks while paused; false once cancelled.
    fn proceed(&self) -> bool {
        while *self.paused.borrow() && !self.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50));
        }
        !self.is_cancelled()
    }
}

/// One component's verdict from the verifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub id: ComponentId,
    pub status: ComponentStatus,
    /// What the bytes on the drive hash to.
    pub actual_md5: Option<Md5>,
    /// What the bytes the source gave hash to (repairs only).
    pub storage_md5: Option<Md5>,
    pub reason: Option<String>,
    /// Bytes read to reach the verdict (for progress).
    pub bytes: u64,
    /// The file the verdict was reached on, as it was then (for the repair file: a later run
    /// trusts the verdict only while the file is still this one).
    pub identity: Option<FileIdentity>,
}

impl Finding {
    /// A verdict as the repair file recorded it.
    pub(crate) fn recorded(entry: crate::journal::Entry, status: ComponentStatus) -> Self {
        Self {
            id: entry.id,
            status,
            actual_md5: entry.actual_md5,
            storage_md5: None,
            reason: entry.reason,
            bytes: 0,
            identity: entry.identity,
        }
    }

    pub(crate) fn new(id: ComponentId, status: ComponentStatus, reason: Option<String>) -> Self {
        Self {
            id,
            status,
            actual_md5: None,
            storage_md5: None,
            reason,
            bytes: 0,
            identity: None,
        }
    }

    fn on(mut self, identity: Option<FileIdentity>) -> Self {
        self.identity = identity;
        self
    }
}

/// Bytes read from one file and the components they hold, each hashed as its own message.
struct HashJob {
    buffer: Vec<u8>,
    parts: Vec<Part>,
    /// Where the buffer goes back once every part is hashed (none for a side file's).
    pool: Option<Sender<Vec<u8>>>,
}

impl Drop for HashJob {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            // The pool has room for every buffer; it is gone only when the run is over.
            let _ = pool.send(std::mem::take(&mut self.buffer));
        }
    }
}

/// One part of a job, as a message for the hashing lanes: the job's buffer returns to the
/// pool when its last part is hashed.
struct PartRef {
    job: Arc<HashJob>,
    index: usize,
}

impl PartRef {
    fn part(&self) -> &Part {
        &self.job.parts[self.index]
    }
}

impl AsRef<[u8]> for PartRef {
    fn as_ref(&self) -> &[u8] {
        &self.job.buffer[self.part().bytes.clone()]
    }
}

/// One component's bytes within a job's buffer.
#[derive(Debug, Clone)]
struct Part {
    id: ComponentId,
    expected: Md5,
    bytes: Range<usize>,
    /// The file the bytes were read from, as it was.
    identity: Option<FileIdentity>,
}

/// Where the verifier's results go (called from several threads). Any `Fn(Finding)` is one.
pub trait VerifySink: Sync {
    /// A component's verdict.
    fn finding(&self, finding: Finding);
    /// The reader is about to read these components of one blob.
    fn started(&self, _blob: u32, _components: &[u32]) {}
}

impl<F: Fn(Finding) + Sync> VerifySink for F {
    fn finding(&self, finding: Finding) {
        self(finding)
    }
}

/// Verifies `components` (all of the drive when `None`), reporting each verdict through
/// `report`. Returns when done or cancelled.
pub fn verify(
    drive: &Drive,
    target: &Path,
    only: Option<&[ComponentId]>,
    options: &VerifyOptions,
    control: &Control,
    report: &dyn VerifySink,
) {
    match RootedDir::open(target) {
        Ok(root) => verify_in(drive, &root, only, options, control, report),
        Err(error) => {
            let reason = format!(
                "cannot open the target {}: {error}",
                escape_controls(&target.display().to_string())
            );
            for (id, _, _) in drive.components() {
                if only.is_none_or(|ids| ids.contains(&id)) {
                    report.finding(Finding::new(
                        id,
                        ComponentStatus::Failed,
                        Some(reason.clone()),
                    ));
                }
            }
        }
    }
}

/// [`verify`] beneath an open target.
pub(crate) fn verify_in(
    drive: &Drive,
    root: &RootedDir,
    only: Option<&[ComponentId]>,
    options: &VerifyOptions,
    control: &Control,
    report: &dyn VerifySink,
) {
    let threads = options.hash_threads.max(1);
    let pool_size = WINDOWS.max(threads * 2 + 2);
    let (job_tx, job_rx) = bounded::<HashJob>(pool_size);
    let (buffer_tx, buffer_rx) = bounded::<Vec<u8>>(pool_size);
    for _ in 0..pool_size {
        // The channel was made with room for the whole pool.
        let _ = buffer_tx.send(Vec::new());
    }
    let path = Md5Path::active();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let job_rx = job_rx.clone();
            scope.spawn(move || hash_worker(&job_rx, report, path));
        }
        drop(job_rx);
        let reader = Reader {
            root,
            control,
            report,
            job_tx,
            buffer_tx,
            buffer_rx,
        };
        reader.run(drive, only);
    });
}

/// Bytes a lane hashes before the worker looks for new jobs: new blocks join free lanes
/// while the others are under way, so lanes stay busy without holding more buffers.
const LANE_STEP: usize = 256 * 1024;

/// Keeps every lane of `path` busy with the components of the jobs it receives, reporting
/// each verdict as its digest is ready.
fn hash_worker(jobs: &Receiver<HashJob>, report: &dyn VerifySink, path: Md5Path) {
    let mut lanes = Md5Lanes::new(path);
    let mut waiting: VecDeque<PartRef> = VecDeque::new();
    let mut done = Vec::new();
    loop {
        while lanes.has_room() {
            if let Some(part) = waiting.pop_front() {
                // A free lane takes it (checked by the loop).
                let _ = lanes.push(part);
                continue;
            }
            // Wait for work only when there is nothing to hash; a closed channel (the reader
            // is done) answers at once.
            let next = if lanes.is_empty() {
                jobs.recv().ok()
            } else {
                jobs.try_recv().ok()
            };
            let Some(job) = next else { break };
            let job = Arc::new(job);
            waiting.extend((0..job.parts.len()).map(|index| PartRef {
                job: Arc::clone(&job),
                index,
            }));
        }
        if lanes.is_empty() {
            return;
        }
        lanes.run(LANE_STEP, &mut done);
        for (part, actual) in done.drain(..) {
            let Part {
                id,
                expected,
                ref bytes,
                identity,
            } = *part.part();
            report.finding(verdict(id, expected, actual, bytes.len() as u64).on(identity));
        }
    }
}

fn verdict(id: ComponentId, expected: Md5, actual: Md5, bytes: u64) -> Finding {
    let (status, reason) = if actual == expected {
        (ComponentStatus::Verified, None)
    } else {
        (
            ComponentStatus::Corrupt,
            Some(format!("MD5 is {actual}, the manifest expects {expected}")),
        )
    };
    Finding {
        id,
        status,
        actual_md5: Some(actual),
        storage_md5: None,
        reason,
        bytes,
        identity: None,
    }
}

struct Reader<'a> {
    root: &'a RootedDir,
    control: &'a Control,
    report: &'a dyn VerifySink,
    job_tx: Sender<HashJob>,
    buffer_tx: Sender<Vec<u8>>,
    buffer_rx: Receiver<Vec<u8>>,
}

impl Reader<'_> {
    fn run(&self, drive: &Drive, only: Option<&[ComponentId]>) {
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
    fn verify_blob(&self, blob_index: u32, blob: &Blob, selected: &[u32]) -> bool {
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
        let (side, data): (Vec<u32>, Vec<u32>) = selected
            .iter()
            .partition(|&&c| blob.components[c as usize].kind.is_side_file());
        if !data.is_empty() {
            match self.open_data_file(blob) {
                Err(finding) => {
                    for &c in &data {
                        self.emit(Finding {
                            id: id(c),
                            ..finding.clone()
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
    fn open_data_file(&self, blob: &Blob) -> Result<(File, FileIdentity), Finding> {
        let placeholder = ComponentId {
            blob: 0,
            component: 0,
        };
        let located = self
            .root
            .locate_file_path(&blob.file_path)
            .map_err(|error| refused(placeholder, &error))?;
        if !located.exists() {
            return Err(Finding::new(
                placeholder,
                ComponentStatus::Missing,
                Some(format!(
                    "the file {} is not on the drive",
                    escape_controls(&blob.file_path)
                )),
            ));
        }
        let file = located
            .open_read()
            .map_err(|error| refused(placeholder, &error))?;
        let identity = FileIdentity::of(&file).map_err(|error| {
            Finding::new(
                placeholder,
                ComponentStatus::Corrupt,
                Some(format!(
                    "cannot read {}: {error}",
                    escape_controls(&blob.file_path)
                )),
            )
        })?;
        Ok((file, identity))
    }

    fn verify_data(
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
        for &c in data {
            if !self.control.proceed() {
                return false;
            }
            let component = &blob.components[c as usize];
            if component.kind == ComponentKind::File {
                self.emit(length_check(id(c), blob, component, file_length).on(on));
                continue;
            }
            let Some(expected) = component.expected_md5 else {
                self.emit(unhashed(id(c), component).on(on));
                continue;
            };
            let end = component.offset + component.length;
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
            if component.length <= MAX_BUFFERED {
                if !window.accepts(component)
                    && !self.flush(&mut file, &mut position, &mut window, blob)
                {
                    return false;
                }
                window.push(id(c), expected, component, on);
                continue;
            }
            if !self.flush(&mut file, &mut position, &mut window, blob) {
                return false;
            }
            let streamed = seek_to(&mut file, &mut position, component.offset)
                .and_then(|()| stream_hash(&mut file, component.length));
            match streamed {
                Ok(actual) => {
                    position = end;
                    self.emit(verdict(id(c), expected, actual, component.length).on(on));
                }
                Err(error) => {
                    // The position is unknown after a failed read: seek before the next one.
                    position = u64::MAX;
                    self.emit(read_error(id(c), component, &error));
                }
            }
        }
        self.flush(&mut file, &mut position, &mut window, blob)
    }

    /// Reads the window's bytes in one sequential read and hands its components to the
    /// hashers; false once they are gone. A failed read is retried component by component,
    /// so that only the components it touches are reported unreadable.
    fn flush(&self, file: &mut File, position: &mut u64, window: &mut Window, blob: &Blob) -> bool {
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
                            let component = &blob.components[part.id.component as usize];
                            self.emit(read_error(part.id, component, &error));
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

    fn verify_side_file(&self, id: ComponentId, blob: &Blob, component: &Component) {
        let Some(file_path) = blob.component_file_path(component) else {
            self.emit(unhashed(id, component));
            return;
        };
        let Some(expected) = component.expected_md5 else {
            self.emit(unhashed(id, component));
            return;
        };
        match read_side_file(self.root, file_path, component.kind) {
            Ok(SideFile::Missing) => self.emit(Finding::new(
                id,
                ComponentStatus::Missing,
                Some(format!(
                    "the file {} is not on the drive",
                    escape_controls(file_path)
                )),
            )),
            Ok(SideFile::Read { bytes, identity }) => {
                let job = HashJob {
                    parts: vec![Part {
                        id,
                        expected,
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

    fn emit(&self, finding: Finding) {
        self.report.finding(finding);
    }
}

/// A properties or metadata file as found on the drive.
pub(crate) enum SideFile {
    Missing,
    Read {
        bytes: Vec<u8>,
        identity: FileIdentity,
    },
}

/// Why a side file could not be read.
pub(crate) enum SideFileError {
    /// Its path cannot be used (a link, a FIFO, an unsafe name …).
    Refused(RootedError),
    Read(io::Error),
}

/// Reads a properties or metadata file, never more than [`MAX_SIDE_FILE`] bytes (a sparse
/// giant or a device node must not fill memory).
pub(crate) fn read_side_file(
    root: &RootedDir,
    file_path: &str,
    kind: ComponentKind,
) -> Result<SideFile, SideFileError> {
    let located: Located = root
        .locate_file_path(file_path)
        .map_err(SideFileError::Refused)?;
    if !located.exists() {
        return Ok(SideFile::Missing);
    }
    let file = located.open_read().map_err(SideFileError::Refused)?;
    let identity = FileIdentity::of(&file).map_err(SideFileError::Read)?;
    let too_large = || {
        SideFileError::Read(io::Error::other(format!(
            "it is over {MAX_SIDE_FILE} bytes, too large for a {} file",
            kind.as_str()
        )))
    };
    if identity.length > MAX_SIDE_FILE {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(identity.length as usize);
    file.take(MAX_SIDE_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(SideFileError::Read)?;
    if bytes.len() as u64 > MAX_SIDE_FILE {
        return Err(too_large());
    }
    Ok(SideFile::Read { bytes, identity })
}

/// Consecutive components of one file that one read covers.
#[derive(Debug, Default)]
struct Window {
    start: u64,
    end: u64,
    parts: Vec<Part>,
}

impl Window {
    /// Whether the component continues this window without making it too large.
    fn accepts(&self, component: &Component) -> bool {
        self.parts.is_empty()
            || (component.offset == self.end
                && self.end + component.length - self.start <= WINDOW_BYTES
                && self.parts.len() < WINDOW_PARTS)
    }

    fn push(
        &mut self,
        id: ComponentId,
        expected: Md5,
        component: &Component,
        identity: Option<FileIdentity>,
    ) {
        if self.parts.is_empty() {
            self.start = component.offset;
            self.end = component.offset;
        }
        let from = (self.end - self.start) as usize;
        self.end += component.length;
        self.parts.push(Part {
            id,
            expected,
            bytes: from..from + component.length as usize,
            identity,
        });
    }
}

/// Seeks unless the file is already there (`u64::MAX`: unknown after a failed read).
fn seek_to(file: &mut File, position: &mut u64, offset: u64) -> io::Result<()> {
    if *position != offset {
        file.seek(SeekFrom::Start(offset))?;
        *position = offset;
    }
    Ok(())
}

fn stream_hash(file: &mut File, length: u64) -> io::Result<Md5> {
    let mut hasher = Md5Stream::new();
    let mut chunk = vec![0u8; 1024 * 1024];
    let mut left = length;
    while left > 0 {
        let take = left.min(chunk.len() as u64) as usize;
        file.read_exact(&mut chunk[..take])?;
        hasher.update(&chunk[..take]);
        left -= take as u64;
    }
    Ok(hasher.finish())
}

fn read_error(id: ComponentId, component: &Component, error: &io::Error) -> Finding {
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

/// A whole-file component: its length; for a file known only from the copy log, whose bytes
/// nothing else checks, the copy log's word when it reports a failure.
fn length_check(id: ComponentId, blob: &Blob, component: &Component, file_length: u64) -> Finding {
    if !blob.in_manifest
        && component
            .copy_log_status
            .as_ref()
            .is_some_and(|status| !status.is_completed())
    {
        return unhashed(id, component);
    }
    match file_length.cmp(&blob.length) {
        std::cmp::Ordering::Equal => Finding::new(id, ComponentStatus::Verified, None),
        std::cmp::Ordering::Less => Finding::new(
            id,
            ComponentStatus::Missing,
            Some(format!(
                "the file is {file_length} bytes long, shorter than the blob's Length {}",
                blob.length
            )),
        ),
        std::cmp::Ordering::Greater => Finding::new(
            id,
            ComponentStatus::Corrupt,
            Some(format!(
                "bytes past the end: the file is {file_length} bytes long, {} more than the \
                 blob's Length {}",
                file_length - blob.length,
                blob.length
            )),
        ),
    }
}

fn refused(id: ComponentId, error: &RootedError) -> Finding {
    Finding::new(
        id,
        ComponentStatus::Failed,
        Some(escape_controls(&format!("refused: {error}")).into_owned()),
    )
}

/// A component with no expected hash: only the copy log's word is known.
fn unhashed(id: ComponentId, component: &Component) -> Finding {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn block(offset: u64, bytes: &[u8]) -> Component {
        Component {
            kind: ComponentKind::Block,
            offset,
            length: bytes.len() as u64,
            expected_md5: Some(Md5::of(bytes)),
            block_id: None,
            copy_log_status: None,
        }
    }

    /// A read that fails part-way through a window costs only the components it touches:
    /// the others are read again one by one and hashed.
    #[test]
    fn a_failed_window_read_is_narrowed_to_the_components_it_touches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.bin");
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 251) as u8).collect();
        // The file ends inside the fourth block, after the reader checked its length.
        std::fs::write(&path, &data[..3500]).unwrap();
        let components: Vec<Component> = data
            .chunks(1024)
            .enumerate()
            .map(|(i, bytes)| block(i as u64 * 1024, bytes))
            .collect();
        let blob = Blob {
            blob_path: "c/short.bin".into(),
            file_path: "\\c\\short.bin".into(),
            snapshot: None,
            length: 4096,
            last_modified: None,
            kind: None,
            in_manifest: true,
            copy_log_status: None,
            metadata_path: None,
            properties_path: None,
            refusal: None,
            components,
            export: None,
            block_ids: Default::default(),
        };
        let findings = Mutex::new(Vec::new());
        let sink = |finding: Finding| findings.lock().unwrap().push(finding);
        let (job_tx, job_rx) = bounded(1);
        let (buffer_tx, buffer_rx) = bounded(1);
        buffer_tx.send(Vec::new()).unwrap();
        let buffer_tx: Sender<Vec<u8>> = buffer_tx;
        let control = Control::default();
        let root = RootedDir::open(dir.path()).unwrap();
        let reader = Reader {
            root: &root,
            control: &control,
            report: &sink,
            job_tx,
            buffer_tx,
            buffer_rx,
        };
        let mut window = Window::default();
        for (c, component) in blob.components.iter().enumerate() {
            let id = ComponentId {
                blob: 0,
                component: c as u32,
            };
            assert!(window.accepts(component));
            window.push(id, component.expected_md5.unwrap(), component, None);
        }
        let mut file = File::open(&path).unwrap();
        let mut position = 0;
        assert!(reader.flush(&mut file, &mut position, &mut window, &blob));

        let job = job_rx.try_recv().unwrap();
        let read: Vec<u32> = job.parts.iter().map(|part| part.id.component).collect();
        assert_eq!(read, [0, 1, 2], "the blocks before the end are read again");
        for part in &job.parts {
            let expected = &data[part.id.component as usize * 1024..][..1024];
            assert_eq!(&job.buffer[part.bytes.clone()], expected);
        }
        let findings = findings.into_inner().unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].id.component, 3);
        assert_eq!(findings[0].status, ComponentStatus::Corrupt);
        let reason = findings[0].reason.as_deref().unwrap();
        assert!(
            reason.contains("read error in this block at byte 3072"),
            "{reason}"
        );
        assert!(window.parts.is_empty());
    }

    #[test]
    fn a_window_takes_contiguous_components_up_to_its_size() {
        let mut window = Window::default();
        let id = |component| ComponentId { blob: 0, component };
        let big = |offset| Component {
            length: 3 * 1024 * 1024,
            ..block(offset, b"")
        };
        let first = big(0);
        window.push(id(0), Md5::of(b""), &first, None);
        assert!(window.accepts(&big(3 * 1024 * 1024)));
        assert!(
            !window.accepts(&big(4 * 1024 * 1024)),
            "a gap starts a new window"
        );
        window.push(id(1), Md5::of(b""), &big(3 * 1024 * 1024), None);
        assert!(
            !window.accepts(&big(6 * 1024 * 1024)),
            "9 MiB is over the window's size"
        );
        assert_eq!(window.parts[1].bytes, 3 * 1024 * 1024..6 * 1024 * 1024);
    }
}
