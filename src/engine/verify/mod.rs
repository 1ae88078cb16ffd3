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
//!
//! Files of drives from 2021 on are checked by CRC-64 beside the MD5s (`crc`): their pieces
//! travel in the same windows, and a hashing thread takes a piece's CRC-64 instead of giving
//! it a lane.

mod crc;
mod findings;
mod hashing;
mod reader;
mod side_file;

use hashing::{HashJob, hash_worker};
use reader::Reader;
pub(crate) use side_file::{SideFile, read_side_file};

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::bounded;
use tokio_util::sync::CancellationToken;

use crate::format::Md5;
use crate::md5::Md5Path;
use crate::model::{ComponentId, ComponentStatus, Drive};
use crate::rooted::{FileIdentity, RootedDir};
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
    /// Files an earlier repair downloaded whole that nothing else describes (known only from
    /// the copy log), with the MD5 the repair file recorded for them: checked against it.
    pub downloaded: Arc<HashMap<ComponentId, Md5>>,
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
        Self {
            hash_threads,
            downloaded: Arc::default(),
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
    /// What the bytes on the drive hash to.
    pub actual_md5: Option<Md5>,
    /// What the bytes the source gave hash to (repairs only).
    pub storage_md5: Option<Md5>,
    /// CRC-64s of the drive's and the source's bytes (files checked by CRC-64).
    pub crc64: Crc64s,
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
            crc64: Crc64s::default(),
            reason: entry.reason,
            bytes: 0,
            identity: entry.identity,
        }
    }

    /// The length of a file only the copy log lists, as a verdict that proved its bytes
    /// (repaired, or verified) found it: the storage's, whatever `Length` the copy log claims.
    pub(crate) fn proven_file_length(&self, drive: &Drive) -> Option<u64> {
        let blob = &drive.blobs[self.id.blob as usize];
        let whole_file = blob.is_sole_whole_file(drive.component(self.id));
        match (self.status, &self.identity) {
            (ComponentStatus::Repaired | ComponentStatus::Verified, Some(identity))
                if whole_file =>
            {
                Some(identity.length)
            }
            _ => None,
        }
    }

    pub(crate) fn new(id: ComponentId, status: ComponentStatus, reason: Option<String>) -> Self {
        Self {
            id,
            status,
            actual_md5: None,
            storage_md5: None,
            crc64: Crc64s::default(),
            reason,
            bytes: 0,
            identity: None,
        }
    }

    pub(crate) fn on(mut self, identity: Option<FileIdentity>) -> Self {
        self.identity = identity;
        self
    }
}

/// CRC-64s a verdict was reached with (files of drives from 2021 on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Crc64s {
    /// Of the bytes on the drive (a chunk's, or the whole file's).
    pub drive: Option<u64>,
    /// Of the bytes the source gave for the same range (repairs only).
    pub storage: Option<u64>,
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
            let all: Vec<ComponentId>;
            let ids = match only {
                Some(ids) => ids,
                None => {
                    all = drive.components().map(|(id, _, _)| id).collect();
                    &all
                }
            };
            for &id in ids {
                report.finding(Finding::new(
                    id,
                    ComponentStatus::Failed,
                    Some(reason.clone()),
                ));
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
            downloaded: &options.downloaded,
            control,
            report,
            job_tx,
            buffer_tx,
            buffer_rx,
        };
        reader.run(drive, only);
    });
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use crossbeam_channel::Sender;

    use super::hashing::{Check, Part};
    use super::reader::Window;
    use super::*;
    use crate::model::{Blob, Component, ComponentKind};
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
            length_given: true,
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
            downloaded: &HashMap::new(),
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
            assert!(window.accepts(component.offset, component.length));
            let check = Check::Md5 {
                id,
                expected: component.expected_md5.unwrap(),
                in_manifest: true,
            };
            window.push(check, component.offset, component.length, None);
        }
        let mut file = File::open(&path).unwrap();
        let mut position = 0;
        assert!(reader.flush(&mut file, &mut position, &mut window, &blob));

        let job = job_rx.try_recv().unwrap();
        let component = |part: &Part| match part.check {
            Check::Md5 { id, .. } => id.component,
            Check::Crc { .. } => unreachable!("no CRC piece in this window"),
        };
        let read: Vec<u32> = job.parts.iter().map(component).collect();
        assert_eq!(read, [0, 1, 2], "the blocks before the end are read again");
        for part in &job.parts {
            let expected = &data[component(part) as usize * 1024..][..1024];
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

    /// A file an earlier repair downloaded whole is hashed from front to back, however large:
    /// cancelling the run stops that read within a MiB, with no verdict for the file.
    #[test]
    fn hashing_a_downloaded_file_stops_when_the_run_is_cancelled() {
        const LENGTH: u64 = 16 << 30;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.bin");
        // Sparse: 16 GiB of zeros that take no room.
        File::create(&path).unwrap().set_len(LENGTH).unwrap();
        let id = ComponentId {
            blob: 0,
            component: 0,
        };
        let blob = Blob {
            blob_path: "c/huge.bin".into(),
            file_path: "\\c\\huge.bin".into(),
            snapshot: None,
            length: LENGTH,
            length_given: true,
            last_modified: None,
            kind: None,
            in_manifest: false,
            copy_log_status: None,
            metadata_path: None,
            properties_path: None,
            refusal: None,
            components: vec![Component {
                kind: ComponentKind::File,
                offset: 0,
                length: LENGTH,
                expected_md5: None,
                block_id: None,
                copy_log_status: None,
            }],
            export: None,
            block_ids: Default::default(),
        };
        let findings = Mutex::new(Vec::new());
        let sink = |finding: Finding| findings.lock().unwrap().push(finding);
        let (job_tx, _job_rx) = bounded(1);
        let (buffer_tx, buffer_rx) = bounded(1);
        let control = Control::default();
        let root = RootedDir::open(dir.path()).unwrap();
        let downloaded = HashMap::from([(id, Md5::of(b"recorded"))]);
        let reader = Reader {
            root: &root,
            downloaded: &downloaded,
            control: &control,
            report: &sink,
            job_tx,
            buffer_tx,
            buffer_rx,
        };
        let file = File::open(&path).unwrap();
        let identity = FileIdentity::of(&file).unwrap();
        let went_on = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                control.cancel();
            });
            reader.verify_data(0, &blob, &[0], file, identity)
        });
        assert!(!went_on, "the reader stops");
        assert!(findings.into_inner().unwrap().is_empty(), "no verdict");
    }

    #[test]
    fn a_window_takes_contiguous_components_up_to_its_size() {
        let mut window = Window::default();
        let md5 = |component| Check::Md5 {
            id: ComponentId { blob: 0, component },
            expected: Md5::of(b""),
            in_manifest: true,
        };
        const MIB: u64 = 1024 * 1024;
        window.push(md5(0), 0, 3 * MIB, None);
        assert!(window.accepts(3 * MIB, 3 * MIB));
        assert!(
            !window.accepts(4 * MIB, 3 * MIB),
            "a gap starts a new window"
        );
        window.push(md5(1), 3 * MIB, 3 * MIB, None);
        assert!(
            !window.accepts(6 * MIB, 3 * MIB),
            "9 MiB is over the window's size"
        );
        assert_eq!(window.parts[1].bytes, 3 * 1024 * 1024..6 * 1024 * 1024);
    }
}
