//! Verification: hash every component of the drive against its expected MD5.
//!
//! One reader walks the drive file by file, each file front to back (a spinning disk sees
//! one sequential stream), and hands each component's bytes to a pool of hashing threads,
//! so MD5 work uses every core. Buffers come from a fixed pool: memory stays bounded
//! whatever the file sizes.
//!
//! Files are reached through the rooted drive handle: a link, a FIFO, a device or a folder at
//! a data path is refused unread, and an entry the model refused is never looked at.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use tokio_util::sync::CancellationToken;

use crate::format::Md5;
use crate::format::md5::Md5Stream;
use crate::model::{Blob, Component, ComponentId, ComponentKind, ComponentStatus, Drive};
use crate::rooted::{FileIdentity, Located, RootedDir, RootedError};
use crate::sanitize::escape_controls;

/// Components above this size are hashed in a stream by the reader itself, so that a
/// single buffer never has to hold them.
const MAX_BUFFERED: u64 = 8 * 1024 * 1024;
/// Properties and metadata files are small; anything this large is not one.
const MAX_SIDE_FILE: u64 = 64 * 1024 * 1024;

/// Tuning for a verification.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Hashing threads; defaults to the number of cores.
    pub hash_threads: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            hash_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
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
    pub actual_md5: Option<Md5>,
    pub reason: Option<String>,
    /// Bytes read to reach the verdict (for progress).
    pub bytes: u64,
    /// The file the verdict was reached on, as it was then (for the repair file: a later run
    /// trusts the verdict only while the file is still this one).
    pub identity: Option<FileIdentity>,
}

impl Finding {
    pub(crate) fn new(id: ComponentId, status: ComponentStatus, reason: Option<String>) -> Self {
        Self {
            id,
            status,
            actual_md5: None,
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

struct HashJob {
    id: ComponentId,
    expected: Md5,
    buffer: Vec<u8>,
    /// Whether the buffer goes back to the pool afterwards.
    pooled: bool,
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
    let pool_size = threads * 2 + 2;
    let (job_tx, job_rx) = bounded::<HashJob>(threads * 2);
    let (buffer_tx, buffer_rx) = bounded::<Vec<u8>>(pool_size);
    for _ in 0..pool_size {
        // The channel was made with room for the whole pool.
        let _ = buffer_tx.send(Vec::new());
    }
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let job_rx = job_rx.clone();
            let buffer_tx = buffer_tx.clone();
            scope.spawn(move || hash_worker(&job_rx, &buffer_tx, report));
        }
        drop(job_rx);
        let reader = Reader {
            root,
            control,
            report,
            job_tx,
            buffer_rx,
        };
        reader.run(drive, only);
    });
}

fn hash_worker(jobs: &Receiver<HashJob>, pool: &Sender<Vec<u8>>, report: &dyn VerifySink) {
    for job in jobs {
        let actual = Md5::of(&job.buffer);
        let bytes = job.buffer.len() as u64;
        report.finding(verdict(job.id, job.expected, actual, bytes).on(job.identity));
        if job.pooled {
            let _ = pool.send(job.buffer);
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
        let on = Some(identity);
        let file_length = identity.length;
        let mut position = 0u64;
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
            if position != component.offset {
                if let Err(error) = file.seek(SeekFrom::Start(component.offset)) {
                    self.emit(read_error(id(c), component, &error));
                    continue;
                }
                position = component.offset;
            }
            let result = if component.length > MAX_BUFFERED {
                stream_hash(&mut file, component.length).map(|actual| {
                    self.emit(verdict(id(c), expected, actual, component.length).on(on))
                })
            } else {
                // The pool and the hashers outlive the reader unless a hasher panicked.
                let Ok(mut buffer) = self.buffer_rx.recv() else {
                    return false;
                };
                buffer.resize(component.length as usize, 0);
                match file.read_exact(&mut buffer) {
                    Ok(()) => {
                        let job = HashJob {
                            id: id(c),
                            expected,
                            buffer,
                            pooled: true,
                            identity: on,
                        };
                        if self.job_tx.send(job).is_err() {
                            return false;
                        }
                        Ok(())
                    }
                    Err(error) => Err(error),
                }
            };
            match result {
                Ok(()) => position += component.length,
                Err(error) => {
                    // The position is unknown after a failed read: seek before the next one.
                    position = u64::MAX;
                    self.emit(read_error(id(c), component, &error));
                }
            }
        }
        true
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
                    id,
                    expected,
                    buffer: bytes,
                    pooled: false,
                    identity: Some(identity),
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
