//! Verification: hash every component of the drive against its expected MD5.
//!
//! One reader walks the drive file by file, each file front to back (a spinning disk sees
//! one sequential stream), and hands each component's bytes to a pool of hashing threads,
//! so MD5 work uses every core. Buffers come from a fixed pool: memory stays bounded
//! whatever the file sizes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::format::Md5;
use crate::format::drive_path;
use crate::format::md5::Md5Stream;
use crate::model::{Blob, Component, ComponentId, ComponentKind, ComponentStatus, Drive};

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

/// Pause and cancel flags shared with the dispatcher.
#[derive(Debug, Default)]
pub struct Control {
    pub cancel: AtomicBool,
    pub pause: AtomicBool,
}

impl Control {
    /// Blocks while paused; false once cancelled.
    fn proceed(&self) -> bool {
        while self.pause.load(Ordering::Relaxed) && !self.cancel.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        !self.cancel.load(Ordering::Relaxed)
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
}

impl Finding {
    fn new(id: ComponentId, status: ComponentStatus, reason: Option<String>) -> Self {
        Self {
            id,
            status,
            actual_md5: None,
            storage_md5: None,
            reason,
            bytes: 0,
        }
    }
}

struct HashJob {
    id: ComponentId,
    expected: Md5,
    buffer: Vec<u8>,
    /// Whether the buffer goes back to the pool afterwards.
    pooled: bool,
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
            target,
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
        report.finding(verdict(job.id, job.expected, actual, bytes));
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
        storage_md5: None,
        reason,
        bytes,
    }
}

struct Reader<'a> {
    target: &'a Path,
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
        let (side, data): (Vec<u32>, Vec<u32>) = selected
            .iter()
            .partition(|&&c| blob.components[c as usize].kind.is_side_file());
        if !data.is_empty() {
            match drive_path::resolve(self.target, &blob.file_path) {
                Err(error) => {
                    for &c in &data {
                        self.emit(refused(id(c), &error));
                    }
                }
                Ok(resolved) if !resolved.exists => {
                    for &c in &data {
                        let component = &blob.components[c as usize];
                        self.emit(Finding::new(
                            id(c),
                            ComponentStatus::Missing,
                            Some(format!(
                                "the file {} is not on the drive",
                                blob.component_file_path(component).unwrap_or_default()
                            )),
                        ));
                    }
                }
                Ok(resolved) => {
                    if !self.verify_data(blob_index, blob, &data, &resolved.path) {
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

    fn verify_data(&self, blob_index: u32, blob: &Blob, data: &[u32], path: &Path) -> bool {
        let id = |component: u32| ComponentId {
            blob: blob_index,
            component,
        };
        let opened = File::open(path).and_then(|file| {
            let metadata = file.metadata()?;
            if metadata.is_dir() {
                return Err(io::Error::other("it is a directory, not a file"));
            }
            Ok((file, metadata.len()))
        });
        let (mut file, file_length) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                for &c in data {
                    self.emit(Finding::new(
                        id(c),
                        ComponentStatus::Corrupt,
                        Some(format!("cannot open {}: {error}", path.display())),
                    ));
                }
                return true;
            }
        };
        let mut position = 0u64;
        for &c in data {
            if !self.control.proceed() {
                return false;
            }
            let component = &blob.components[c as usize];
            if component.kind == ComponentKind::File {
                self.emit(length_check(id(c), blob, component, file_length));
                continue;
            }
            let Some(expected) = component.expected_md5 else {
                self.emit(unhashed(id(c), component));
                continue;
            };
            let end = component.offset + component.length;
            if end > file_length {
                self.emit(Finding::new(
                    id(c),
                    ComponentStatus::Missing,
                    Some(format!(
                        "the file is {file_length} bytes long, shorter than this {}'s end at byte {end}",
                        component.kind.as_str()
                    )),
                ));
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
                stream_hash(&mut file, component.length)
                    .map(|actual| self.emit(verdict(id(c), expected, actual, component.length)))
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
        let resolved = match drive_path::resolve(self.target, file_path) {
            Ok(resolved) => resolved,
            Err(error) => return self.emit(refused(id, &error)),
        };
        if !resolved.exists {
            return self.emit(Finding::new(
                id,
                ComponentStatus::Missing,
                Some(format!("the file {file_path} is not on the drive")),
            ));
        }
        let read = File::open(&resolved.path).and_then(|file| {
            let length = file.metadata()?.len();
            if length > MAX_SIDE_FILE {
                return Err(io::Error::other(format!(
                    "it is {length} bytes, too large for a {} file",
                    component.kind.as_str()
                )));
            }
            let mut bytes = Vec::with_capacity(length as usize);
            file.take(MAX_SIDE_FILE).read_to_end(&mut bytes)?;
            Ok(bytes)
        });
        match read {
            Ok(bytes) => {
                let job = HashJob {
                    id,
                    expected,
                    buffer: bytes,
                    pooled: false,
                };
                // Only a hasher's panic closes the channel; the run then ends unfinished.
                let _ = self.job_tx.send(job);
            }
            Err(error) => self.emit(read_error(id, component, &error)),
        }
    }

    fn emit(&self, finding: Finding) {
        self.report.finding(finding);
    }
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

/// A whole-file component: the copy log's word if it reports a failure, else the length.
fn length_check(id: ComponentId, blob: &Blob, component: &Component, file_length: u64) -> Finding {
    if component
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
                "the file is {file_length} bytes long, longer than the blob's Length {}",
                blob.length
            )),
        ),
    }
}

fn refused(id: ComponentId, error: &drive_path::DrivePathError) -> Finding {
    Finding::new(
        id,
        ComponentStatus::Failed,
        Some(format!("refused: {error}")),
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
