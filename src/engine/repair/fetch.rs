//! Getting bytes from the source, pinned to the export, checked before anything is written.
//!
//! Every read is conditional on the blob's export-time state (a snapshot cannot change; a base
//! blob must be unmodified since the copy log's `LastModified` and carry the ETag of the
//! drive's verified properties file). Once the run is cancelled no request starts and no
//! retry waits; a read under way gets [`STOP_GRACE`] to finish (its bytes are then written),
//! after which it is given up and left for the rerun.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, oneshot};

use super::hasher::{HashStream, Hasher};
use super::{Repairer, Stop};
use crate::engine::verify::{SideFile, read_side_file};
use crate::format::Md5;
use crate::format::md5::Md5Stream;
use crate::format::side_files::PropertiesFile;
use crate::model::{Blob, ComponentId, ComponentKind, ComponentStatus};
use crate::sanitize::escape_controls;
use crate::source::{
    BlobProperties, BlobRef, BlobSource, RANGE_MD5_LIMIT, ReadConditions, SourceError,
    retrying_until,
};

/// Per blob, the MD5 of the drive's file once hashed, or why it could not be.
pub(super) type DriveMd5s =
    std::sync::Mutex<std::collections::HashMap<u32, Arc<OnceCell<Result<Md5, String>>>>>;

/// The MD5 of the first `length` bytes of the drive's file, read through the rooted handle in
/// pieces (a large file must not hold a stop up); it must be the file this run verified
/// (`seen`: device and inode).
fn drive_file_md5(
    root: &crate::rooted::RootedDir,
    file_path: &str,
    length: u64,
    seen: Option<(u64, u64)>,
    control: &crate::engine::verify::Control,
) -> Result<Md5, String> {
    use std::io::Read as _;
    let file = root
        .locate_file_path(file_path)
        .and_then(|located| located.open_read())
        .map_err(|error| error.to_string())?;
    let identity = crate::rooted::FileIdentity::of(&file).map_err(|error| error.to_string())?;
    if seen.is_some_and(|seen| seen != (identity.device, identity.inode)) {
        return Err("the file was replaced since it was verified".into());
    }
    let reader = StopsOnCancel {
        inner: file.take(length),
        control,
    };
    Md5Stream::of_reader(reader).map_err(|error| error.to_string())
}

/// A reader that fails once the run is cancelled: a file of gigabytes hashed piece by piece
/// does not hold a stop up.
struct StopsOnCancel<'a, R> {
    inner: R,
    control: &'a crate::engine::verify::Control,
}

impl<R: std::io::Read> std::io::Read for StopsOnCancel<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.control.is_cancelled() {
            return Err(std::io::Error::other("the run was stopped"));
        }
        self.inner.read(buffer)
    }
}

/// At most one wait for the storage is told in this long.
const WAIT_TOLD_EVERY: Duration = Duration::from_secs(5);

/// A single component larger than this is not held in memory to be checked before writing
/// (a manifest's blocks and page ranges are at most 4 MiB).
pub(super) const MAX_COMPONENT_IN_MEMORY: u64 = 256 * 1024 * 1024;

/// How long a read under way when the run is stopped may take to finish: a download nearly
/// done is written, one that stalled (or would take minutes) does not hold the stop up.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// Downloaded bytes of one component with their MD5, already compared with the manifest's:
/// the receive buffers themselves, in order, never copied into one.
pub(crate) struct Part {
    pub id: ComponentId,
    pub offset: u64,
    pub pieces: Vec<Bytes>,
    pub md5: Md5,
    pub vouched: Vouched,
}

/// What vouched for a part's bytes before they were written (besides the pin to the exported
/// version): said with its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vouched {
    /// Its hash (the manifest's, or the copy log's).
    Hash,
    /// No hash of its own; the MD5 the storage sent with its bytes.
    StorageMd5,
    /// Nothing but the pin.
    Pin,
}

impl Vouched {
    /// What a repaired verdict says of the bytes, when more than "they match their hash".
    pub(crate) fn reason(self) -> Option<String> {
        match self {
            Vouched::Hash => None,
            Vouched::StorageMd5 => Some(
                "written from storage pinned to the export, checked against the MD5 the storage \
                 sent with it; the copy log lists no hash of its own"
                    .to_string(),
            ),
            Vouched::Pin => Some(
                "written from storage pinned to the export; the copy log lists no hash to check \
                 it against"
                    .to_string(),
            ),
        }
    }
}

impl Part {
    pub(crate) fn len(&self) -> u64 {
        self.pieces.iter().map(|piece| piece.len() as u64).sum()
    }
}

/// What the storage's own MD5s (`x-ms-range-get-content-md5`) said of a component's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InTransit {
    /// Every request's bytes hash to the MD5 the storage sent with them.
    Matched,
    /// Some request came without one (a range the storage does not hash, a mirror).
    Unchecked,
    /// A request's bytes hash to `got`, the storage sent `sent`: damaged on the way.
    Differs { sent: Md5, got: Md5 },
}

impl InTransit {
    /// What one request's bytes (hashing to `got`) say, with the MD5 the storage `sent`.
    fn of(sent: Option<Md5>, got: Md5) -> Self {
        match sent {
            Some(sent) if sent != got => InTransit::Differs { sent, got },
            Some(_) => InTransit::Matched,
            None => InTransit::Unchecked,
        }
    }

    /// This and the next request's verdict: damage stands, "matched" only if both are.
    pub(super) fn and(self, next: Self) -> Self {
        match (self, next) {
            (InTransit::Differs { .. }, _) => self,
            (_, InTransit::Differs { .. }) => next,
            (InTransit::Matched, InTransit::Matched) => InTransit::Matched,
            _ => InTransit::Unchecked,
        }
    }

    /// Why the bytes are not written, when they were damaged on the way.
    pub(super) fn damage(self) -> Option<String> {
        match self {
            InTransit::Differs { sent, got } => Some(format!(
                "the bytes received hash to {got}, but the storage sent {sent} as their MD5: \
                 they were damaged on the way"
            )),
            _ => None,
        }
    }
}

/// One component's downloaded bytes, in the pieces they arrived in, and their MD5.
pub(super) struct Received {
    pub pieces: Vec<Bytes>,
    pub md5: Md5,
}

impl Repairer {
    pub(super) fn blob_ref(&self, blob: &Blob) -> Result<BlobRef, SourceError> {
        BlobRef::parse(&blob.blob_path, blob.snapshot.as_deref())
    }

    /// Reads are pinned to the export: a snapshot needs nothing (it cannot change); a base
    /// blob must be unmodified since the copy log's LastModified and carry the ETag of the
    /// drive's (verified) properties file, or else the one the 2021 logs give.
    pub(super) fn conditions(&self, blob_index: u32) -> ReadConditions {
        let mut cache = super::locked(&self.conditions);
        cache
            .entry(blob_index)
            .or_insert_with(|| {
                let blob = &self.drive.blobs[blob_index as usize];
                if blob.snapshot.is_some() {
                    return ReadConditions::default();
                }
                ReadConditions {
                    if_unmodified_since: blob.last_modified.as_deref().and_then(parse_timestamp),
                    if_match: self
                        .export_etag(blob)
                        .or_else(|| blob.export.as_deref().and_then(|e| e.etag.clone())),
                }
            })
            .clone()
    }

    /// The ETag in the drive's properties file, trusted only when the file verifies (read
    /// through the rooted handle, never more than a side file's limit).
    fn export_etag(&self, blob: &Blob) -> Option<String> {
        let component = blob
            .components
            .iter()
            .find(|c| c.kind == ComponentKind::Properties)?;
        let path = blob.properties_path.as_deref()?;
        let Ok(SideFile::Read { bytes, .. }) =
            read_side_file(&self.root, path, ComponentKind::Properties)
        else {
            return None;
        };
        if component.expected_md5 != Some(Md5::of(&bytes)) {
            return None;
        }
        let properties = PropertiesFile::parse_str(std::str::from_utf8(&bytes).ok()?).ok()?;
        let etag = properties.etag?.trim().to_string();
        Some(if etag.starts_with('"') {
            etag
        } else {
            format!("\"{etag}\"")
        })
    }

    /// Why the blob is another version than the export's, when its properties say so though
    /// nothing pins reads to the export (no snapshot, no LastModified, no ETag to trust): a
    /// Content-MD5 that is not the MD5 of the drive's file, every block of which is right.
    /// Asked only where the manifest's MD5 will not prove what is written (a side file
    /// rewritten from these properties); the file is hashed once per blob.
    pub(super) async fn another_version(
        &self,
        blob_index: u32,
        properties: &BlobProperties,
        conditions: &ReadConditions,
    ) -> Option<String> {
        let blob = &self.drive.blobs[blob_index as usize];
        let pinned = blob.snapshot.is_some()
            || conditions.if_match.is_some()
            || conditions.if_unmodified_since.is_some();
        let storage = properties
            .content_md5
            .as_deref()
            .and_then(Md5::from_base64)?;
        if pinned {
            return None;
        }
        match self.blocks_right(blob_index) {
            // Nothing proves the file is the exported blob's: it cannot tell the version.
            None => return None,
            Some(true) => {}
            Some(false) => {
                return Some(
                    "cannot tell whether the blob is still the exported version: nothing pins the \
                 read to it, and its Content-MD5 can be compared only with the drive's file \
                 once every block of it is right; nothing was written (a rerun rewrites it once \
                 they are)"
                        .into(),
                );
            }
        }
        let cell = Arc::clone(
            super::locked(&self.drive_md5s)
                .entry(blob_index)
                .or_default(),
        );
        let root = Arc::clone(&self.root);
        let control = Arc::clone(&self.control);
        let seen = super::locked(&self.files_seen).get(&blob_index).copied();
        let (file_path, length) = (blob.file_path.clone(), properties.content_length);
        let hashed = cell
            .get_or_init(|| async move {
                tokio::task::spawn_blocking(move || {
                    drive_file_md5(&root, &file_path, length, seen, &control)
                })
                .await
                .unwrap_or_else(|error| Err(error.to_string()))
            })
            .await;
        match hashed {
            Ok(drive) if *drive == storage => None,
            Ok(drive) => Some(format!(
                "blob changed since export: its Content-MD5 {storage} is not the MD5 {drive} \
                 of the drive's file, whose every block matches the {}; nothing was written",
                blob.hash_source()
            )),
            Err(why) => Some(format!(
                "cannot tell whether the blob is still the exported version (nothing pins the \
                 read to it, and the drive's file cannot be compared with its Content-MD5: \
                 {why}); nothing was written"
            )),
        }
    }

    /// Whether the manifest's blocks prove the blob's file now: every block right (and so no
    /// job writing it), or the file empty. None where nothing can prove it: a file the
    /// manifest does not describe (a copy log's ranges do not cover it), of a page blob
    /// (bytes between ranges are not checked), without blocks though not empty, or with a
    /// block nothing could check (skipped).
    fn blocks_right(&self, blob_index: u32) -> Option<bool> {
        let blob = &self.drive.blobs[blob_index as usize];
        if !blob.in_manifest {
            return None;
        }
        let verdicts = super::locked(&self.verdicts);
        let (mut blocks, mut right) = (0usize, true);
        for (index, component) in blob.components.iter().enumerate() {
            let id = ComponentId {
                blob: blob_index,
                component: index as u32,
            };
            match component.kind {
                ComponentKind::Page => return None,
                ComponentKind::Block => {
                    blocks += 1;
                    match verdicts.get(&id) {
                        Some(ComponentStatus::Skipped) => return None,
                        status => right &= status.is_some_and(|status| status.is_right()),
                    }
                }
                _ => {}
            }
        }
        if blocks == 0 && blob.length > 0 {
            return None;
        }
        Some(right)
    }

    /// `[offset, offset + length)` of the blob, or the run's stop (see the module's note).
    pub(super) async fn read_range(
        &self,
        source: &dyn BlobSource,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<Bytes, Stop> {
        if self.cancelled() {
            return Err(Stop::Cancelled);
        }
        let read = source.read_range(blob, offset, length, conditions);
        self.until_given_up(read).await
    }

    /// [`Self::read_range`] of one component (`id`), its bytes told to the progress as they
    /// arrive (see [`Progress`]), the rest once all are here.
    pub(super) async fn read_range_told(
        &self,
        source: &dyn BlobSource,
        blob: &BlobRef,
        (offset, length): (u64, u64),
        conditions: &ReadConditions,
        id: ComponentId,
    ) -> Result<Bytes, Stop> {
        if self.cancelled() {
            return Err(Stop::Cancelled);
        }
        let ids = [id];
        let mut progress = Progress::new(&ids, &self.out);
        let mut received = bytes::BytesMut::with_capacity(usize::try_from(length).unwrap_or(0));
        let mut sink = |piece: Bytes| {
            progress.received(0, piece.len() as u64, false);
            received.extend_from_slice(&piece);
        };
        let read = source.read_range_to(blob, offset, length, conditions, &mut sink);
        self.until_given_up(read).await?;
        self.transferred(id, progress.untold).await;
        Ok(received.freeze())
    }

    /// [`Self::read_range`] in requests of at most [`RANGE_MD5_LIMIT`] bytes, each checked
    /// against the MD5 the storage sends with it (for bytes nothing else checks): the bytes,
    /// and what the check found (it stops at the first request damaged on the way).
    pub(super) async fn read_range_checked(
        &self,
        source: &dyn BlobSource,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<(Bytes, InTransit), Stop> {
        if !source.sends_range_md5() {
            // Nothing to check against: one read, into the source's own buffer.
            let bytes = self
                .read_range(source, blob, offset, length, conditions)
                .await?;
            return Ok((bytes, InTransit::Unchecked));
        }
        if self.cancelled() {
            return Err(Stop::Cancelled);
        }
        let mut out = bytes::BytesMut::with_capacity(usize::try_from(length).unwrap_or(0));
        let mut check = InTransit::Matched;
        let end = offset + length;
        let mut at = offset;
        while at < end && check.damage().is_none() {
            // No request starts once the run is stopped.
            if self.cancelled() {
                return Err(Stop::Cancelled);
            }
            let take = (end - at).min(RANGE_MD5_LIMIT);
            let mut pieces = Vec::new();
            let mut sink = |piece| pieces.push(piece);
            let read = source.read_range_with_md5_to(blob, at, take, conditions, &mut sink);
            let sent = self.until_given_up(read).await?;
            let mut hasher = Md5Stream::new();
            for piece in &pieces {
                out.extend_from_slice(piece);
                hasher.update(piece);
            }
            check = check.and(InTransit::of(sent, hasher.finish()));
            at += take;
        }
        Ok((out.freeze(), check))
    }

    /// `[offset, offset + Σ lengths)` of the blob, whose consecutive spans are the
    /// components `ids` (of `lengths` bytes): each component's bytes are hashed while they
    /// arrive, beside those of the other downloads (`hasher`), and told to the progress meter
    /// as they come. Returns each component's bytes and MD5, or the run's stop (as
    /// [`Self::read_range`]).
    pub(super) async fn read_hashed(
        &self,
        source: &dyn BlobSource,
        blob: &BlobRef,
        offset: u64,
        (ids, lengths): (&[ComponentId], &[u64]),
        conditions: &ReadConditions,
    ) -> Result<Vec<Received>, Stop> {
        self.read_hashed_asking(source, blob, offset, (ids, lengths), conditions, false)
            .await
            .map(|(received, _)| received)
    }

    /// [`Self::read_hashed`] of components no hash checks, each in requests of at most
    /// [`RANGE_MD5_LIMIT`] bytes with the storage's MD5 of each: what that check found.
    pub(super) async fn read_hashed_one_by_one(
        &self,
        source: &dyn BlobSource,
        blob: &BlobRef,
        (ids, lengths): (&[ComponentId], &[u64]),
        conditions: &ReadConditions,
    ) -> Result<Vec<(Received, InTransit)>, Stop> {
        // A source that sends no MD5 is read a component a request: nothing to split for.
        let most = match source.sends_range_md5() {
            true => RANGE_MD5_LIMIT,
            false => u64::MAX,
        };
        let mut all = Vec::with_capacity(ids.len());
        for (&id, &length) in ids.iter().zip(lengths) {
            let start = self.drive.component(id).offset;
            let mut pieces = Vec::new();
            let mut md5s = Vec::new();
            let mut check = InTransit::Matched;
            let mut at = start;
            while at < start + length {
                let take = (start + length - at).min(most);
                let read = self.read_alone(source, blob, (id, at, take), conditions);
                let (received, sent) = read.await?;
                check = check.and(InTransit::of(sent, received.md5));
                md5s.push(received.md5);
                pieces.extend(received.pieces);
                at += take;
            }
            if md5s.is_empty() {
                check = InTransit::Unchecked;
            }
            // One request: its MD5 is the component's; several: hashed whole here (rare).
            let md5 = match md5s.as_slice() {
                [one] => *one,
                _ => {
                    let mut hasher = Md5Stream::new();
                    for piece in &pieces {
                        hasher.update(piece);
                    }
                    hasher.finish()
                }
            };
            all.push((Received { pieces, md5 }, check));
        }
        Ok(all)
    }

    /// `[offset, offset + length)` of the blob (bytes of `id`) read and hashed on its own, told
    /// to the progress as they arrive, with the storage's MD5 of it when it sends one. Hashed
    /// here, not in the lanes: one stream alone would wait there for company that does not
    /// come (40 ms a read, one read after another).
    pub(super) async fn read_alone(
        &self,
        source: &dyn BlobSource,
        blob: &BlobRef,
        (id, offset, length): (ComponentId, u64, u64),
        conditions: &ReadConditions,
    ) -> Result<(Received, Option<Md5>), Stop> {
        if self.cancelled() {
            return Err(Stop::Cancelled);
        }
        let ids = [id];
        let mut progress = Progress::new(&ids, &self.out);
        let mut pieces = Vec::new();
        let mut hasher = Md5Stream::new();
        let mut sink = |chunk: Bytes| {
            progress.received(0, chunk.len() as u64, false);
            hasher.update(&chunk);
            pieces.push(chunk);
        };
        let read = source.read_range_with_md5_to(blob, offset, length, conditions, &mut sink);
        let sent = self.until_given_up(read).await?;
        let md5 = hasher.finish();
        Ok((Received { pieces, md5 }, sent))
    }

    /// [`Self::read_hashed`], with the storage's MD5 of the range when `ask_md5` and it sends
    /// one.
    async fn read_hashed_asking(
        &self,
        source: &dyn BlobSource,
        blob: &BlobRef,
        offset: u64,
        (ids, lengths): (&[ComponentId], &[u64]),
        conditions: &ReadConditions,
        ask_md5: bool,
    ) -> Result<(Vec<Received>, Option<Md5>), Stop> {
        if self.cancelled() {
            return Err(Stop::Cancelled);
        }
        let mut split = Split::new(&self.hasher, lengths);
        split.progress = Some(Progress::new(ids, &self.out));
        let total = lengths.iter().sum();
        let mut sink = |chunk| split.take(chunk);
        let storage_md5 = if ask_md5 {
            let read = source.read_range_with_md5_to(blob, offset, total, conditions, &mut sink);
            self.until_given_up(read).await?
        } else {
            let read = source.read_range_to(blob, offset, total, conditions, &mut sink);
            self.until_given_up(read).await?;
            None
        };
        let received = split.finish(blob).await.map_err(Stop::Source)?;
        Ok((received, storage_md5))
    }

    /// `read`, its retries ending once the run is cancelled, or the run's stop when it is still
    /// under way [`STOP_GRACE`] after that (dropped: nothing of it is written).
    async fn until_given_up<T>(
        &self,
        read: impl Future<Output = Result<T, SourceError>>,
    ) -> Result<T, Stop> {
        let given_up = async {
            self.control.cancelled().await;
            tokio::time::sleep(STOP_GRACE).await;
        };
        // A long wait before the storage is asked again is said, not only logged: a throttled
        // storage may ask for minutes. One in a few seconds for the whole run: many downloads
        // waiting at once would flood the output.
        let out = self.out.clone();
        let last_told = Arc::clone(&self.wait_told);
        let notice: crate::source::RetryNotice = Arc::new(move |message: String| {
            let mut told = super::locked(&last_told);
            if told.is_some_and(|at| at.elapsed() < WAIT_TOLD_EVERY) {
                return;
            }
            *told = Some(std::time::Instant::now());
            let message = escape_controls(&message).into_owned();
            let _ = out.try_send(super::WorkerMessage::WaitingForStorage(message));
        });
        tokio::select! {
            biased;
            read = retrying_until(self.control.token(), Some(notice), read) => stopped_on(read),
            () = given_up => Err(Stop::Cancelled),
        }
    }

    /// Waits for room to hold `bytes` downloaded bytes (`max_buffered_bytes`); the room is
    /// given back when the permit is dropped. The run's stop when it is cancelled first.
    pub(super) async fn room_for(&self, bytes: u64) -> Result<OwnedSemaphorePermit, Stop> {
        let units = buffer_units(bytes).min(buffer_units(self.options.max_buffered_bytes));
        let buffers = Arc::clone(&self.buffers);
        tokio::select! {
            _ = self.control.cancelled() => Err(Stop::Cancelled),
            room = buffers.acquire_many_owned(units) => room.map_err(|_| Stop::Cancelled),
        }
    }

    /// Where the page blob holds data, when the source can tell, or the run's stop (as
    /// [`Self::read_range`]).
    pub(super) async fn page_ranges(
        &self,
        source: &dyn BlobSource,
        blob: &BlobRef,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<Option<Vec<std::ops::Range<u64>>>, Stop> {
        if self.cancelled() {
            return Err(Stop::Cancelled);
        }
        let read = source.page_ranges(blob, length, conditions);
        self.until_given_up(read).await
    }

    /// The blob's properties, or the run's stop (as [`Self::read_range`]).
    pub(super) async fn properties(
        &self,
        source: &dyn BlobSource,
        blob: &BlobRef,
        conditions: &ReadConditions,
    ) -> Result<BlobProperties, Stop> {
        if self.cancelled() {
            return Err(Stop::Cancelled);
        }
        let read = source.properties(blob, conditions);
        self.until_given_up(read).await
    }
}

/// A range's bytes cut into its components as they arrive, each component's on its way to the
/// hashing thread.
struct Split<'a> {
    hasher: &'a Hasher,
    parts: Vec<Receiving>,
    /// The component the next byte belongs to.
    current: usize,
    progress: Option<Progress<'a>>,
}

/// Bytes received, told to the progress meter at most four times a second per download (so
/// that a slow download moves the progress, and its rate, before its verdict, and a fast one
/// does not flood the event stream); a component's last bytes are its verdict's to count.
struct Progress<'a> {
    ids: &'a [ComponentId],
    out: &'a tokio::sync::mpsc::Sender<super::WorkerMessage>,
    /// Received for the current component and not told yet.
    untold: u64,
    told_at: std::time::Instant,
}

impl<'a> Progress<'a> {
    const TELL_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

    fn new(
        ids: &'a [ComponentId],
        out: &'a tokio::sync::mpsc::Sender<super::WorkerMessage>,
    ) -> Self {
        Self {
            ids,
            out,
            untold: 0,
            told_at: std::time::Instant::now(),
        }
    }

    fn received(&mut self, component: usize, bytes: u64, component_done: bool) {
        if component_done {
            self.untold = 0;
            return;
        }
        self.untold += bytes;
        if self.told_at.elapsed() < Self::TELL_EVERY {
            return;
        }
        let Some(&id) = self.ids.get(component) else {
            return;
        };
        // Never waits: when the channel is full the bytes are told later, or by the verdict.
        let told = self.out.try_send(super::WorkerMessage::Transferred {
            id,
            bytes: self.untold,
        });
        if told.is_ok() {
            self.untold = 0;
            self.told_at = std::time::Instant::now();
        }
    }
}

struct Receiving {
    length: u64,
    received: u64,
    pieces: Vec<Bytes>,
    /// Open from the first byte to the last.
    stream: Option<HashStream>,
    digest: Option<oneshot::Receiver<Md5>>,
}

impl<'a> Split<'a> {
    fn new(hasher: &'a Hasher, lengths: &[u64]) -> Self {
        let parts = lengths
            .iter()
            .map(|&length| Receiving {
                length,
                received: 0,
                pieces: Vec::new(),
                stream: None,
                digest: None,
            })
            .collect();
        Self {
            hasher,
            parts,
            current: 0,
            progress: None,
        }
    }

    fn take(&mut self, mut chunk: Bytes) {
        while !chunk.is_empty() {
            // Bytes past the last component: the source never hands them on.
            let Some(part) = self.parts.get_mut(self.current) else {
                return;
            };
            let left = part.length - part.received;
            if left == 0 {
                self.current += 1;
                continue;
            }
            let piece =
                chunk.split_to(chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX)));
            if part.digest.is_none() {
                let (stream, digest) = self.hasher.stream();
                part.stream = Some(stream);
                part.digest = Some(digest);
            }
            if let Some(stream) = &part.stream {
                stream.push(piece.clone());
            }
            let length = piece.len() as u64;
            part.received += length;
            part.pieces.push(piece);
            let complete = part.received == part.length;
            if complete && let Some(stream) = part.stream.take() {
                stream.close();
            }
            if let Some(progress) = &mut self.progress {
                progress.received(self.current, length, complete);
            }
        }
    }

    /// Every component's bytes and MD5, once the read has handed all of them on.
    async fn finish(self, blob: &BlobRef) -> Result<Vec<Received>, SourceError> {
        let mut received = Vec::with_capacity(self.parts.len());
        for part in self.parts {
            if part.received != part.length {
                return Err(SourceError::Protocol {
                    blob: blob.to_string(),
                    message: format!(
                        "{} of a component's {} bytes came",
                        part.received, part.length
                    ),
                });
            }
            let digest = match part.digest {
                Some(digest) => digest.await.ok(),
                None => None,
            };
            // Without a digest from the lanes (no bytes, or the hashing thread is gone), the
            // bytes are hashed here: none is written unhashed.
            let md5 = digest.unwrap_or_else(|| {
                let mut hasher = Md5Stream::new();
                for piece in &part.pieces {
                    hasher.update(piece);
                }
                hasher.finish()
            });
            received.push(Received {
                pieces: part.pieces,
                md5,
            });
        }
        Ok(received)
    }
}

/// `bytes` in the units of the buffer budget (KiB), at least one.
pub(super) fn buffer_units(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024))
        .unwrap_or(u32::MAX)
        .max(1)
}

fn stopped_on<T>(read: Result<T, SourceError>) -> Result<T, Stop> {
    read.map_err(|error| match error {
        SourceError::Stopped => Stop::Cancelled,
        other => Stop::Source(other),
    })
}

/// A copy log's LastModified: RFC 3339 as Microsoft's samples write it, or an HTTP date as
/// the blob's properties give it.
fn parse_timestamp(text: &str) -> Option<time::OffsetDateTime> {
    crate::source::mirror::parse_time(text)
}

/// The properties file from Get Blob Properties, in the documented element set.
pub fn properties_file(properties: &BlobProperties) -> PropertiesFile {
    PropertiesFile {
        last_modified: properties.last_modified.and_then(|at| {
            at.format(&time::format_description::well_known::Rfc2822)
                .ok()
                .map(|text| text.replace("+0000", "GMT"))
        }),
        etag: properties
            .etag
            .as_ref()
            .map(|etag| etag.trim_matches('"').to_string()),
        content_length: Some(properties.content_length.to_string()),
        content_type: properties.content_type.clone(),
        content_md5: properties.content_md5.clone(),
        content_encoding: properties.content_encoding.clone(),
        content_language: properties.content_language.clone(),
        cache_control: properties.cache_control.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seen failing with RFC 3339 only: an HTTP-date LastModified pinned nothing ("no usable
    /// LastModified").
    #[test]
    fn a_last_modified_reads_in_either_form() {
        let at = Some(time::macros::datetime!(2012-09-18 23:47:08 UTC));
        assert_eq!(parse_timestamp("2012-09-18T23:47:08Z"), at);
        assert_eq!(parse_timestamp(" Tue, 18 Sep 2012 23:47:08 GMT "), at);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn properties_file_uses_the_documented_forms() {
        let properties = BlobProperties {
            last_modified: Some(time::macros::datetime!(2012-09-18 23:47:08 UTC)),
            etag: Some("\"0x8CF63E6A2C1F2C5\"".into()),
            content_length: 10884,
            content_type: Some("image/jpeg".into()),
            ..BlobProperties::default()
        };
        let file = properties_file(&properties);
        assert_eq!(
            file.last_modified.as_deref(),
            Some("Tue, 18 Sep 2012 23:47:08 GMT")
        );
        assert_eq!(file.etag.as_deref(), Some("0x8CF63E6A2C1F2C5"));
        assert_eq!(file.content_length.as_deref(), Some("10884"));
    }
}
