//! The hashing threads: each keeps every SIMD lane busy with the components of the windows
//! the reader sends, and takes the CRC-64 of pieces of files checked by CRC-64.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::crc::{CrcFile, PieceResult};
use super::{Finding, VerifySink};
use crate::format::{Crc64, Md5};
use crate::md5::{Md5Lanes, Md5Path};
use crate::model::{ComponentId, ComponentStatus};
use crate::rooted::FileIdentity;

/// Bytes read from one file and the components they hold, each hashed as its own message.
pub(super) struct HashJob {
    pub(super) buffer: Vec<u8>,
    pub(super) parts: Vec<Part>,
    /// Where the buffer goes back once every part is hashed (none for a side file's).
    pub(super) pool: Option<Sender<Vec<u8>>>,
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
pub(super) struct PartRef {
    pub(super) job: Arc<HashJob>,
    pub(super) index: usize,
}

impl PartRef {
    pub(super) fn part(&self) -> &Part {
        &self.job.parts[self.index]
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.job.buffer[self.part().bytes.clone()]
    }
}

impl AsRef<[u8]> for PartRef {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

/// One component's (or CRC piece's) bytes within a job's buffer.
#[derive(Debug, Clone)]
pub(super) struct Part {
    pub(super) check: Check,
    pub(super) bytes: Range<usize>,
    /// The file the bytes were read from, as it was.
    pub(super) identity: Option<FileIdentity>,
}

/// What a part's bytes are checked against.
#[derive(Debug, Clone)]
pub(super) enum Check {
    /// A component's expected MD5 (one SIMD lane), the manifest's or, for a file only the
    /// copy log lists, the copy log's.
    Md5 {
        id: ComponentId,
        expected: Md5,
        in_manifest: bool,
    },
    /// A piece of a file checked by CRC-64.
    Crc { file: Arc<CrcFile>, piece: usize },
}

/// Bytes a lane hashes before the worker looks for new jobs: new blocks join free lanes
/// while the others are under way, so lanes stay busy without holding more buffers.
pub(super) const LANE_STEP: usize = 256 * 1024;

/// Keeps every lane of `path` busy with the components of the jobs it receives, reporting
/// each verdict as its digest is ready.
pub(super) fn hash_worker(jobs: &Receiver<HashJob>, report: &dyn VerifySink, path: Md5Path) {
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
            for index in 0..job.parts.len() {
                let part = PartRef {
                    job: Arc::clone(&job),
                    index,
                };
                if let Check::Crc { file, piece } = &part.part().check {
                    // A CRC-64 runs at memory speed on its own: no lane needed.
                    let crc = Crc64::of(part.bytes());
                    file.record(*piece, PieceResult::Crc(crc), &mut |finding| {
                        report.finding(finding)
                    });
                } else {
                    waiting.push_back(part);
                }
            }
        }
        if lanes.is_empty() {
            return;
        }
        lanes.run(LANE_STEP, &mut done);
        for (part, actual) in done.drain(..) {
            let Part {
                ref check,
                ref bytes,
                identity,
            } = *part.part();
            if let Check::Md5 {
                id,
                expected,
                in_manifest,
            } = *check
            {
                let finding = verdict(id, (expected, in_manifest), actual, bytes.len() as u64);
                report.finding(finding.on(identity));
            }
        }
    }
}

/// The verdict on bytes that hash to `actual`, against the `expected` MD5 (and whether the
/// manifest, not the copy log, gives it).
pub(super) fn verdict(
    id: ComponentId,
    (expected, in_manifest): (Md5, bool),
    actual: Md5,
    bytes: u64,
) -> Finding {
    let (status, reason) = if actual == expected {
        (ComponentStatus::Verified, None)
    } else {
        (
            ComponentStatus::Corrupt,
            Some(crate::model::md5_differs(actual, expected, in_manifest)),
        )
    };
    Finding {
        actual_md5: Some(actual),
        bytes,
        ..Finding::new(id, status, reason)
    }
}
