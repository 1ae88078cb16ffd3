//! Repair: re-download what the copy log says failed, then verify everything against the
//! manifest and re-download whatever does not match.
//!
//! Every write follows one protocol: the repair file records the intent, the bytes (already
//! checked against the manifest hash) are written in place, the file is synced, the bytes
//! are read back and hashed, and only then the repair file records the component as done.
//! A crash leaves either the old bytes or verified new bytes, and the repair file knows
//! which components to look at again.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{Notify, Semaphore, mpsc};

use super::verify::{self, Control, Finding, VerifyOptions};
use super::{
    Activity, Command, EngineHandle, Event, OpenRun, Run, RunMode, ToDispatcher, Work, WorkRequest,
    WorkerMessage, dispatch,
};
use crate::format::Md5;
use crate::format::drive_path;
use crate::format::side_files::{MetadataFile, PropertiesFile};
use crate::journal::{Done, EntryState, JournalError, RepairFile};
use crate::model::{Blob, Component, ComponentId, ComponentKind, ComponentStatus, Drive};
use crate::source::{BlobProperties, BlobRef, BlobSource, ReadConditions, SourceError};

/// Tuning for a repair.
#[derive(Debug, Clone)]
pub struct RepairOptions {
    /// Downloads in flight at once.
    pub concurrency: usize,
    /// Adjacent damaged components are fetched together up to this many bytes per request.
    pub max_request_bytes: u64,
    pub verify: VerifyOptions,
    /// Keep the run open after its plan for retries, new credentials and verifying again
    /// (the console); a refusal of the credentials then waits for new ones instead of
    /// ending the run.
    pub stay_open: bool,
}

impl Default for RepairOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            max_request_bytes: 8 * 1024 * 1024,
            verify: VerifyOptions::default(),
            stay_open: false,
        }
    }
}

/// A single component larger than this is not held in memory to be checked before writing.
const MAX_COMPONENT_IN_MEMORY: u64 = 256 * 1024 * 1024;
/// Verified components are recorded in batches: losing a batch only means hashing again.
const VERIFIED_BATCH: usize = 512;

/// Starts a repair. Must be called inside a tokio runtime.
pub fn start_repair(
    drive: Arc<Drive>,
    target: PathBuf,
    source: Arc<dyn BlobSource>,
    repair_file: RepairFile,
    options: RepairOptions,
) -> EngineHandle {
    let (command_tx, command_rx) = mpsc::unbounded_channel::<Command>();
    let (event_tx, event_rx) = mpsc::channel::<Event>(1024);
    let control = Arc::new(Control::default());
    let (messages_tx, messages) = mpsc::channel::<WorkerMessage>(4096);
    let source_text = source.describe();
    let sources = Arc::new(SourceSlot::new(source));
    let repair_file_text = repair_file.path().to_string();
    let target_text = target.display().to_string();
    let (open, requests) = if options.stay_open {
        let (requests_tx, requests_rx) = mpsc::unbounded_channel();
        let open = OpenRun {
            requests: requests_tx,
            sources: Arc::clone(&sources),
        };
        (Some(open), Some(requests_rx))
    } else {
        (None, None)
    };
    let repairer = Arc::new(Repairer {
        drive: Arc::clone(&drive),
        target,
        sources,
        refused_generation: AtomicU64::new(u64::MAX),
        journal: Mutex::new(repair_file),
        options,
        control: Arc::clone(&control),
        out: messages_tx,
        conditions: Mutex::new(HashMap::new()),
    });
    let worker = tokio::spawn(async move { repairer.run(requests).await });
    let run = Run {
        drive,
        mode: RunMode::Repair,
        target: target_text,
        source: Some(source_text),
        repair_file: Some(repair_file_text),
        control,
        open,
    };
    tokio::spawn(dispatch(run, worker, messages, command_rx, event_tx));
    EngineHandle {
        commands: command_tx,
        events: event_rx,
    }
}

/// The source downloads read from, replaceable while the run goes on (new credentials).
pub(crate) struct SourceSlot {
    /// A generation number with the source, so a download knows whether the source it was
    /// refused by is still the current one.
    current: Mutex<(u64, Arc<dyn BlobSource>)>,
    changed: Notify,
}

impl SourceSlot {
    fn new(source: Arc<dyn BlobSource>) -> Self {
        Self {
            current: Mutex::new((0, source)),
            changed: Notify::new(),
        }
    }

    fn get(&self) -> (u64, Arc<dyn BlobSource>) {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        (current.0, Arc::clone(&current.1))
    }

    pub(crate) fn replace(&self, source: Arc<dyn BlobSource>) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        *current = (current.0 + 1, source);
        drop(current);
        self.changed.notify_waiters();
    }

    /// Waits until a source newer than `generation` is set; false if the run is cancelled
    /// first.
    async fn wait_past(&self, generation: u64, control: &Control) -> bool {
        loop {
            if self
                .current
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .0
                != generation
            {
                return true;
            }
            if control.cancel.load(Ordering::Relaxed) {
                return false;
            }
            // The timeout covers a replacement between the check and the wait.
            let _ = tokio::time::timeout(Duration::from_millis(200), self.changed.notified()).await;
        }
    }
}

/// Pieces of one whole-file download in flight at once.
const WHOLE_FILE_STREAMS: usize = 4;

/// Why a piece of a whole-file download did not land.
enum PieceError {
    Stopped,
    Source(SourceError),
    Write(String),
}

/// How a download job ended.
enum JobEnd {
    /// Its components have verdicts (or the run was stopped).
    Settled,
    /// The source refused the credentials; the components have no verdict.
    Refused(String),
}

struct Repairer {
    drive: Arc<Drive>,
    target: PathBuf,
    sources: Arc<SourceSlot>,
    /// The source generation whose refusal was last reported (one report per refusal).
    refused_generation: AtomicU64,
    journal: Mutex<RepairFile>,
    options: RepairOptions,
    control: Arc<Control>,
    out: mpsc::Sender<WorkerMessage>,
    /// Per blob: the export-time state reads are pinned to.
    conditions: Mutex<HashMap<u32, ReadConditions>>,
}

/// One download: adjacent data components of one blob, a side file, or a whole file.
#[derive(Debug, Clone, PartialEq)]
enum Job {
    Ranges {
        blob: u32,
        components: Vec<u32>,
    },
    SideFile {
        blob: u32,
        component: u32,
    },
    WholeFile {
        blob: u32,
        component: u32,
    },
    /// A manifest blob's file brought to its length (its ranges are jobs of their own).
    Length {
        blob: u32,
        component: u32,
    },
}

impl Repairer {
    /// Both passes, then (kept open) whatever is asked; false when the run stopped before
    /// the end.
    async fn run(self: Arc<Self>, requests: Option<mpsc::UnboundedReceiver<WorkRequest>>) -> bool {
        let (finished, earlier) = match self.resume_state() {
            Ok(state) => state,
            Err(error) => {
                self.warn(format!("cannot read the repair file: {error}"))
                    .await;
                return false;
            }
        };
        if !earlier.is_empty() {
            let count = |status| earlier.iter().filter(|f| f.status == status).count() as u64;
            let resumed = WorkerMessage::Resumed {
                components: earlier.len() as u64,
                repaired: count(ComponentStatus::Repaired),
                verified: count(ComponentStatus::Verified),
            };
            for finding in earlier {
                self.emit(finding).await;
            }
            let _ = self.out.send(resumed).await;
        }
        // Pass 1: what the copy log says failed (and anything in flight without a hash).
        let copy_log_set: Vec<ComponentId> = self
            .drive
            .components()
            .filter(|(id, blob, component)| {
                !finished.contains(id) && needs_copy_log_repair(blob, component)
            })
            .map(|(id, _, _)| id)
            .collect();
        self.plan(Work::Download, &copy_log_set).await;
        self.repair(&copy_log_set).await;
        if self.cancelled() {
            return false;
        }
        // Pass 2: verify everything not yet settled; repair what does not verify.
        let repaired: HashSet<ComponentId> = copy_log_set.into_iter().collect();
        let to_verify: Vec<ComponentId> = self
            .drive
            .components()
            .map(|(id, _, _)| id)
            .filter(|id| !finished.contains(id) && !repaired.contains(id))
            .collect();
        self.plan(Work::Verify, &to_verify).await;
        let damaged = Arc::clone(&self).verify(to_verify).await;
        if !self.cancelled() {
            self.plan(Work::Download, &damaged).await;
            self.repair(&damaged).await;
        }
        if let Some(mut requests) = requests {
            while !self.cancelled() {
                let _ = self.out.send(WorkerMessage::Idle).await;
                match requests.recv().await {
                    // Everything asked was done: a cancel that comes now leaves nothing
                    // undone, so the run ends complete.
                    None | Some(WorkRequest::Finish) => return true,
                    Some(WorkRequest::Retry(ids)) => {
                        let ids = self.known(ids);
                        self.plan(Work::Download, &ids).await;
                        self.repair(&ids).await;
                    }
                    Some(WorkRequest::Verify(ids)) => {
                        let ids = self.known(ids);
                        self.plan(Work::Verify, &ids).await;
                        let damaged = Arc::clone(&self).verify(ids).await;
                        self.plan(Work::Download, &damaged).await;
                        self.repair(&damaged).await;
                    }
                }
            }
        }
        !self.cancelled()
    }

    /// Tells the progress meter what a kind of work now has to do on top of its plan.
    async fn plan(&self, work: Work, ids: &[ComponentId]) {
        if ids.is_empty() {
            return;
        }
        let bytes = ids
            .iter()
            .map(|id| {
                let (blob, component) = self.lookup(*id);
                blob.data_bytes_of(component)
            })
            .sum();
        let message = WorkerMessage::Planned {
            work,
            components: ids.len() as u64,
            bytes,
        };
        let _ = self.out.send(message).await;
    }

    /// The ids that name components of this drive, each once.
    fn known(&self, mut ids: Vec<ComponentId>) -> Vec<ComponentId> {
        ids.retain(|id| {
            self.drive
                .blobs
                .get(id.blob as usize)
                .is_some_and(|blob| (id.component as usize) < blob.components.len())
        });
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn cancelled(&self) -> bool {
        self.control.cancel.load(Ordering::Relaxed)
    }

    async fn warn(&self, message: String) {
        let _ = self.out.send(WorkerMessage::Warning(message)).await;
    }

    async fn emit(&self, finding: Finding) {
        let _ = self.out.send(WorkerMessage::Finding(finding)).await;
    }

    /// Components the repair file says are finished, with their verdicts to announce again
    /// so that the events (and reports) are complete. Failed components are tried again.
    fn resume_state(&self) -> Result<(HashSet<ComponentId>, Vec<Finding>), JournalError> {
        let entries = self
            .journal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries()?;
        let mut finished = HashSet::new();
        let mut earlier = Vec::new();
        for entry in entries {
            let known = (entry.id.blob as usize) < self.drive.blobs.len()
                && (entry.id.component as usize)
                    < self.drive.blobs[entry.id.blob as usize].components.len();
            if !known {
                continue;
            }
            if let EntryState::Done(status) = entry.state
                && status != ComponentStatus::Failed
            {
                finished.insert(entry.id);
                earlier.push(Finding {
                    id: entry.id,
                    status,
                    actual_md5: entry.actual_md5,
                    storage_md5: None,
                    reason: entry.reason,
                    bytes: 0,
                });
            }
        }
        Ok((finished, earlier))
    }

    /// Verifies `ids` on the drive; returns the damaged ones (corrupt or missing).
    async fn verify(self: Arc<Self>, ids: Vec<ComponentId>) -> Vec<ComponentId> {
        if ids.is_empty() {
            return Vec::new();
        }
        let this = Arc::clone(&self);
        let result = tokio::task::spawn_blocking(move || {
            let damaged = Mutex::new(Vec::new());
            let pending = Mutex::new(Vec::<Done>::new());
            let flush = |batch: &mut Vec<Done>| {
                if batch.is_empty() {
                    return;
                }
                let rows: Vec<(&Done, &str, &Component)> = batch
                    .iter()
                    .map(|done| {
                        let (blob, component) = this.lookup(done.id);
                        (done, file_path_of(blob, component), component)
                    })
                    .collect();
                if let Err(error) = this
                    .journal
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record_done(rows)
                {
                    let _ = this
                        .out
                        .blocking_send(WorkerMessage::Warning(format!("{error}")));
                }
                batch.clear();
            };
            let findings = |finding: Finding| {
                if matches!(
                    finding.status,
                    ComponentStatus::Corrupt | ComponentStatus::Missing
                ) {
                    damaged
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(finding.id);
                } else {
                    let mut batch = pending.lock().unwrap_or_else(PoisonError::into_inner);
                    batch.push(Done {
                        id: finding.id,
                        status: finding.status,
                        actual_md5: finding.actual_md5,
                        reason: finding.reason.clone(),
                    });
                    if batch.len() >= VERIFIED_BATCH {
                        flush(&mut batch);
                    }
                }
                let _ = this.out.blocking_send(WorkerMessage::Finding(finding));
            };
            let report = ToDispatcher {
                findings,
                messages: &this.out,
            };
            verify::verify(
                &this.drive,
                &this.target,
                Some(&ids),
                &this.options.verify,
                &this.control,
                &report,
            );
            flush(&mut pending.lock().unwrap_or_else(PoisonError::into_inner));
            let mut damaged = damaged.into_inner().unwrap_or_else(PoisonError::into_inner);
            damaged.sort_unstable();
            damaged
        })
        .await;
        result.unwrap_or_default()
    }

    fn lookup(&self, id: ComponentId) -> (&Blob, &Component) {
        let blob = &self.drive.blobs[id.blob as usize];
        (blob, &blob.components[id.component as usize])
    }

    /// Repairs `ids`, at most `concurrency` downloads at a time.
    async fn repair(self: &Arc<Self>, ids: &[ComponentId]) {
        let jobs = plan_jobs(&self.drive, ids, self.options.max_request_bytes);
        for job in &jobs {
            self.working(job, Activity::Queued).await;
        }
        let semaphore = Arc::new(Semaphore::new(self.options.concurrency.max(1)));
        let mut running = tokio::task::JoinSet::new();
        for job in jobs {
            // The semaphore is never closed.
            let Ok(permit) = Arc::clone(&semaphore).acquire_owned().await else {
                break;
            };
            while self.control.pause.load(Ordering::Relaxed) && !self.cancelled() {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            if self.cancelled() {
                break;
            }
            let this = Arc::clone(self);
            running.spawn(async move {
                this.run_job(job).await;
                drop(permit);
            });
        }
        while running.join_next().await.is_some() {}
    }

    async fn working(&self, job: &Job, activity: Activity) {
        let (blob, components) = match job {
            Job::Ranges { blob, components } => (*blob, components.clone()),
            Job::SideFile { blob, component }
            | Job::WholeFile { blob, component }
            | Job::Length { blob, component } => (*blob, vec![*component]),
        };
        let message = WorkerMessage::Working {
            blob,
            components,
            activity,
        };
        let _ = self.out.send(message).await;
    }

    /// Runs one job; when the credentials are refused, either stops the run or (kept open)
    /// waits for new ones and runs the job again.
    async fn run_job(&self, job: Job) {
        self.working(&job, Activity::Downloading).await;
        loop {
            let (generation, source) = self.sources.get();
            let source = source.as_ref();
            let ended = match &job {
                Job::Ranges { blob, components } => {
                    self.repair_ranges(source, *blob, components).await
                }
                Job::SideFile { blob, component } => {
                    self.regenerate_side_file(source, *blob, *component).await
                }
                Job::WholeFile { blob, component } => {
                    self.download_whole_file(source, *blob, *component).await
                }
                Job::Length { blob, component } => self.restore_length(*blob, *component).await,
            };
            let JobEnd::Refused(message) = ended else {
                return;
            };
            if self.refused_generation.swap(generation, Ordering::Relaxed) != generation {
                let _ = self
                    .out
                    .send(WorkerMessage::CredentialsRefused(message))
                    .await;
            }
            if !self.options.stay_open || !self.sources.wait_past(generation, &self.control).await {
                return;
            }
        }
    }

    /// Turns a source error into the component's verdict; a refusal of the credentials
    /// leaves the components unsettled (a rerun, or new credentials, picks them up).
    async fn source_failed(&self, ids: &[ComponentId], error: SourceError) -> JobEnd {
        if let SourceError::Auth { .. } = error {
            return JobEnd::Refused(error.to_string());
        }
        let reason = match &error {
            SourceError::Changed { .. } => {
                "blob changed since export: the storage no longer holds the exported version"
                    .to_string()
            }
            other => other.to_string(),
        };
        self.fail(ids, reason).await
    }

    async fn fail(&self, ids: &[ComponentId], reason: String) -> JobEnd {
        let done: Vec<Done> = ids
            .iter()
            .map(|&id| Done {
                id,
                status: ComponentStatus::Failed,
                actual_md5: None,
                reason: Some(reason.clone()),
            })
            .collect();
        self.settle(done, 0, &[]).await;
        JobEnd::Settled
    }

    /// Records verdicts in the repair file, then reports them, each with the MD5 of the
    /// bytes the source gave for it when known (`storage`, in the same order, may be empty).
    async fn settle(&self, done: Vec<Done>, bytes_each: u64, storage: &[Option<Md5>]) {
        let rows: Vec<(&Done, &str, &Component)> = done
            .iter()
            .map(|d| {
                let (blob, component) = self.lookup(d.id);
                (d, file_path_of(blob, component), component)
            })
            .collect();
        let recorded = self
            .journal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record_done(rows);
        if let Err(error) = recorded {
            self.warn(error.to_string()).await;
        }
        for (index, d) in done.into_iter().enumerate() {
            let bytes = if bytes_each == 0 {
                0
            } else {
                self.lookup(d.id).1.length
            };
            self.emit(Finding {
                id: d.id,
                status: d.status,
                actual_md5: d.actual_md5,
                storage_md5: storage.get(index).copied().flatten(),
                reason: d.reason,
                bytes,
            })
            .await;
        }
    }

    /// The repair file cannot be written: nothing more may be written to the drive.
    async fn journal_failed(&self, error: JournalError) -> JobEnd {
        self.warn(error.to_string()).await;
        self.control.cancel.store(true, Ordering::Relaxed);
        JobEnd::Settled
    }

    fn record_intent(&self, ids: &[ComponentId]) -> Result<(), JournalError> {
        let rows: Vec<(ComponentId, &str, &Component)> = ids
            .iter()
            .map(|&id| {
                let (blob, component) = self.lookup(id);
                (id, file_path_of(blob, component), component)
            })
            .collect();
        self.journal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record_intent(rows)
    }

    fn blob_ref(&self, blob: &Blob) -> Result<BlobRef, SourceError> {
        BlobRef::parse(&blob.blob_path, blob.snapshot.as_deref())
    }

    /// Reads are pinned to the export: a snapshot needs nothing (it cannot change); a base
    /// blob must be unmodified since the copy log's LastModified and carry the ETag of the
    /// drive's (verified) properties file.
    fn conditions(&self, blob_index: u32) -> ReadConditions {
        let mut cache = self
            .conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache
            .entry(blob_index)
            .or_insert_with(|| {
                let blob = &self.drive.blobs[blob_index as usize];
                if blob.snapshot.is_some() {
                    return ReadConditions::default();
                }
                ReadConditions {
                    if_unmodified_since: blob.last_modified.as_deref().and_then(parse_timestamp),
                    if_match: self.export_etag(blob),
                }
            })
            .clone()
    }

    /// The ETag in the drive's properties file, trusted only when the file verifies.
    fn export_etag(&self, blob: &Blob) -> Option<String> {
        let component = blob
            .components
            .iter()
            .find(|c| c.kind == ComponentKind::Properties)?;
        let path = drive_path::resolve(&self.target, blob.properties_path.as_deref()?).ok()?;
        let bytes = std::fs::read(&path.path).ok()?;
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

    async fn repair_ranges(
        &self,
        source: &dyn BlobSource,
        blob_index: u32,
        components: &[u32],
    ) -> JobEnd {
        let blob = &self.drive.blobs[blob_index as usize];
        let ids: Vec<ComponentId> = components
            .iter()
            .map(|&component| ComponentId {
                blob: blob_index,
                component,
            })
            .collect();
        let (Some(&first), Some(&last)) = (components.first(), components.last()) else {
            return JobEnd::Settled;
        };
        let first = &blob.components[first as usize];
        let last = &blob.components[last as usize];
        let start = first.offset;
        let end = last.offset + last.length;
        if end - start > MAX_COMPONENT_IN_MEMORY.max(self.options.max_request_bytes) {
            return self
                .fail(
                    &ids,
                    format!(
                        "a {}-byte component is too large to check in memory before writing",
                        end - start
                    ),
                )
                .await;
        }
        let source_blob = match self.blob_ref(blob) {
            Ok(source_blob) => source_blob,
            Err(error) => return self.source_failed(&ids, error).await,
        };
        let conditions = self.conditions(blob_index);
        let bytes = match source
            .read_range(&source_blob, start, end - start, &conditions)
            .await
        {
            Ok(bytes) => bytes,
            Err(error) => return self.source_failed(&ids, error).await,
        };
        // Split per component; bytes that fail the manifest hash are never written.
        let mut writes = Vec::new();
        let mut refused = Vec::new();
        let mut refused_storage = Vec::new();
        for &id in &ids {
            let component = self.lookup(id).1;
            let at = (component.offset - start) as usize;
            let part = bytes.slice(at..at + component.length as usize);
            let actual = Md5::of(&part);
            match component.expected_md5 {
                Some(expected) if expected != actual => {
                    // Nothing is written: what the drive holds is what was read before.
                    refused.push(Done {
                        id,
                        status: ComponentStatus::Failed,
                        actual_md5: None,
                        reason: Some(format!(
                            "the storage's bytes hash to {actual}, not the manifest's {expected}: \
                             the blob probably changed since export; nothing was written"
                        )),
                    });
                    refused_storage.push(Some(actual));
                }
                _ => writes.push((id, part, actual)),
            }
        }
        if !refused.is_empty() {
            self.settle(refused, 0, &refused_storage).await;
        }
        if !writes.is_empty() {
            self.write_parts(blob_index, writes).await;
        }
        JobEnd::Settled
    }

    /// The write protocol for data parts of one file.
    async fn write_parts(&self, blob_index: u32, writes: Vec<(ComponentId, Bytes, Md5)>) {
        let blob = &self.drive.blobs[blob_index as usize];
        let ids: Vec<ComponentId> = writes.iter().map(|(id, _, _)| *id).collect();
        if let Err(error) = self.record_intent(&ids) {
            self.journal_failed(error).await;
            return;
        }
        let target = self.target.clone();
        let file_path = blob.file_path.clone();
        let length = blob.length;
        let parts: Vec<(u64, Bytes, Md5)> = writes
            .iter()
            .map(|(id, bytes, md5)| (self.lookup(*id).1.offset, bytes.clone(), *md5))
            .collect();
        let written = tokio::task::spawn_blocking(move || {
            write_in_place(&target, &file_path, length, &parts)
        })
        .await
        .unwrap_or_else(|error| Err(io::Error::other(error.to_string())));
        let done: Vec<Done> = match written {
            Ok(read_back) => writes
                .iter()
                .zip(read_back)
                .map(|((id, _, downloaded), on_disk)| {
                    let component = self.lookup(*id).1;
                    if on_disk == *downloaded {
                        Done {
                            id: *id,
                            status: ComponentStatus::Repaired,
                            actual_md5: Some(on_disk),
                            reason: component.expected_md5.is_none().then(|| {
                                "written from storage; no manifest hash to check it against"
                                    .to_string()
                            }),
                        }
                    } else {
                        Done {
                            id: *id,
                            status: ComponentStatus::Failed,
                            actual_md5: Some(on_disk),
                            reason: Some(format!(
                                "the drive gave back different bytes after writing (MD5 {on_disk}): \
                                 the drive may be failing"
                            )),
                        }
                    }
                })
                .collect(),
            Err(error) => writes
                .iter()
                .map(|(id, _, _)| Done {
                    id: *id,
                    status: ComponentStatus::Failed,
                    actual_md5: None,
                    reason: Some(format!("cannot write {}: {error}", blob.file_path)),
                })
                .collect(),
        };
        let storage: Vec<Option<Md5>> = writes.iter().map(|(_, _, md5)| Some(*md5)).collect();
        self.settle(done, 1, &storage).await;
    }

    async fn download_whole_file(
        &self,
        source: &dyn BlobSource,
        blob_index: u32,
        component_index: u32,
    ) -> JobEnd {
        let blob = &self.drive.blobs[blob_index as usize];
        let id = ComponentId {
            blob: blob_index,
            component: component_index,
        };
        let source_blob = match self.blob_ref(blob) {
            Ok(source_blob) => source_blob,
            Err(error) => return self.source_failed(&[id], error).await,
        };
        if let Err(error) = self.record_intent(&[id]) {
            return self.journal_failed(error).await;
        }
        let conditions = self.conditions(blob_index);
        // Pieces of a large file are fetched side by side: one stream is far slower than
        // what the storage gives several.
        let chunk = self.options.max_request_bytes.max(1);
        let pieces: Vec<(u64, u64)> = if blob.length == 0 {
            vec![(0, 0)]
        } else {
            (0..blob.length.div_ceil(chunk))
                .map(|i| (i * chunk, chunk.min(blob.length - i * chunk)))
                .collect()
        };
        let parallel = self.options.concurrency.clamp(1, WHOLE_FILE_STREAMS);
        let mut written = futures::stream::iter(pieces)
            .map(|(offset, length)| {
                self.download_piece(source, &source_blob, &conditions, blob, offset, length)
            })
            .buffer_unordered(parallel);
        while let Some(result) = written.next().await {
            match result {
                Ok(()) => {}
                // Left in flight: a rerun (or a retry) fetches it again.
                Err(PieceError::Stopped) => return JobEnd::Settled,
                Err(PieceError::Source(error)) => return self.source_failed(&[id], error).await,
                Err(PieceError::Write(reason)) => return self.fail(&[id], reason).await,
            }
        }
        let done = Done {
            id,
            status: ComponentStatus::Repaired,
            actual_md5: None,
            reason: Some("downloaded whole; no manifest hash to check it against".into()),
        };
        self.settle(vec![done], 1, &[]).await;
        JobEnd::Settled
    }

    /// One piece of a whole-file download: fetched, written, synced and read back.
    async fn download_piece(
        &self,
        source: &dyn BlobSource,
        source_blob: &BlobRef,
        conditions: &ReadConditions,
        blob: &Blob,
        offset: u64,
        length: u64,
    ) -> Result<(), PieceError> {
        if self.cancelled() {
            return Err(PieceError::Stopped);
        }
        let bytes = source
            .read_range(source_blob, offset, length, conditions)
            .await
            .map_err(PieceError::Source)?;
        let md5 = Md5::of(&bytes);
        let target = self.target.clone();
        let file_path = blob.file_path.clone();
        let total = blob.length;
        let written = tokio::task::spawn_blocking(move || {
            write_in_place(&target, &file_path, total, &[(offset, bytes, md5)])
        })
        .await
        .unwrap_or_else(|error| Err(io::Error::other(error.to_string())));
        match written {
            Ok(read_back) if read_back == [md5] => Ok(()),
            Ok(_) => Err(PieceError::Write(
                "the drive gave back different bytes after writing".into(),
            )),
            Err(error) => Err(PieceError::Write(format!(
                "cannot write {}: {error}",
                blob.file_path
            ))),
        }
    }

    /// Creates a missing file, or extends a short one, to the blob's length; bytes outside
    /// the listed ranges are undefined in an export, so nothing is downloaded for them.
    async fn restore_length(&self, blob_index: u32, component_index: u32) -> JobEnd {
        let blob = &self.drive.blobs[blob_index as usize];
        let id = ComponentId {
            blob: blob_index,
            component: component_index,
        };
        if let Err(error) = self.record_intent(&[id]) {
            return self.journal_failed(error).await;
        }
        let target = self.target.clone();
        let file_path = blob.file_path.clone();
        let length = blob.length;
        let result = tokio::task::spawn_blocking(move || {
            let file = open_for_repair(&target, &file_path, length)?;
            file.sync_all()?;
            file.metadata().map(|m| m.len())
        })
        .await
        .unwrap_or_else(|error| Err(io::Error::other(error.to_string())));
        let (status, reason) = match result {
            Ok(actual) if actual == length => (ComponentStatus::Repaired, None),
            Ok(actual) => (
                ComponentStatus::Failed,
                Some(format!(
                    "the file is {actual} bytes, longer than the blob's Length {length}; it is not shrunk"
                )),
            ),
            Err(error) => (
                ComponentStatus::Failed,
                Some(format!("cannot write {}: {error}", blob.file_path)),
            ),
        };
        let done = Done {
            id,
            status,
            actual_md5: None,
            reason,
        };
        self.settle(vec![done], 0, &[]).await;
        JobEnd::Settled
    }

    async fn regenerate_side_file(
        &self,
        source: &dyn BlobSource,
        blob_index: u32,
        component_index: u32,
    ) -> JobEnd {
        let blob = &self.drive.blobs[blob_index as usize];
        let id = ComponentId {
            blob: blob_index,
            component: component_index,
        };
        let component = self.lookup(id).1;
        let Some(file_path) = blob.component_file_path(component).map(str::to_string) else {
            return self
                .fail(
                    &[id],
                    format!(
                        "neither the manifest nor the copy log names the {} file, so it cannot be rewritten",
                        component.kind.as_str()
                    ),
                )
                .await;
        };
        let source_blob = match self.blob_ref(blob) {
            Ok(source_blob) => source_blob,
            Err(error) => return self.source_failed(&[id], error).await,
        };
        let conditions = self.conditions(blob_index);
        let properties = match source.properties(&source_blob, &conditions).await {
            Ok(properties) => properties,
            Err(error) => return self.source_failed(&[id], error).await,
        };
        let text = match component.kind {
            ComponentKind::Properties => properties_file(&properties).to_xml(),
            _ => match (MetadataFile {
                entries: properties.metadata.clone(),
            })
            .to_xml()
            {
                Ok(text) => text,
                Err(error) => return self.fail(&[id], error.to_string()).await,
            },
        };
        let bytes = text.into_bytes();
        let actual = Md5::of(&bytes);
        if let Err(error) = self.record_intent(&[id]) {
            return self.journal_failed(error).await;
        }
        let target = self.target.clone();
        let path_for_write = file_path.clone();
        let written =
            tokio::task::spawn_blocking(move || replace_file(&target, &path_for_write, &bytes))
                .await
                .unwrap_or_else(|error| Err(io::Error::other(error.to_string())));
        let done = match written {
            Ok(on_disk) if on_disk != actual => Done {
                id,
                status: ComponentStatus::Failed,
                actual_md5: Some(on_disk),
                reason: Some("the drive gave back different bytes after writing".into()),
            },
            Ok(_) => match component.expected_md5 {
                Some(expected) if expected != actual => Done {
                    id,
                    status: ComponentStatus::Regenerated,
                    actual_md5: Some(actual),
                    reason: Some(format!(
                        "rewritten from the blob's current {}; its MD5 {actual} differs from the \
                         manifest's {expected} (the service's exact layout is not documented)",
                        component.kind.as_str()
                    )),
                },
                _ => Done {
                    id,
                    status: ComponentStatus::Repaired,
                    actual_md5: Some(actual),
                    reason: None,
                },
            },
            Err(error) => Done {
                id,
                status: ComponentStatus::Failed,
                actual_md5: None,
                reason: Some(format!("cannot write {file_path}: {error}")),
            },
        };
        self.settle(vec![done], 0, &[Some(actual)]).await;
        JobEnd::Settled
    }
}

/// The file a component lives in (drive-relative).
fn file_path_of<'a>(blob: &'a Blob, component: &Component) -> &'a str {
    blob.component_file_path(component)
        .unwrap_or(&blob.file_path)
}

/// Whether the copy log says this component must be downloaded again.
fn needs_copy_log_repair(blob: &Blob, component: &Component) -> bool {
    if let Some(status) = &component.copy_log_status
        && !status.is_completed()
    {
        return true;
    }
    // A blob-level failure with no ranges listed: the whole file is suspect.
    let whole_file_failed = blob
        .copy_log_status
        .as_ref()
        .is_some_and(crate::model::is_whole_file_failure);
    whole_file_failed && !component.kind.is_side_file()
}

/// Groups components into downloads: contiguous data components of one blob are coalesced
/// up to `max_request` bytes; side files and whole files are jobs of their own.
fn plan_jobs(drive: &Drive, ids: &[ComponentId], max_request: u64) -> Vec<Job> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable_by_key(|id| {
        let component = drive.component(*id);
        (
            id.blob,
            component.kind.is_side_file(),
            component.offset,
            id.component,
        )
    });
    let mut jobs = Vec::new();
    let mut current: Option<(u32, Vec<u32>, u64, u64)> = None; // blob, components, start, end
    for id in sorted {
        let component = drive.component(id);
        if !matches!(component.kind, ComponentKind::Block | ComponentKind::Page)
            && let Some((blob, components, _, _)) = current.take()
        {
            jobs.push(Job::Ranges { blob, components });
        }
        match component.kind {
            ComponentKind::Properties | ComponentKind::Metadata => {
                jobs.push(Job::SideFile {
                    blob: id.blob,
                    component: id.component,
                });
                continue;
            }
            ComponentKind::File => {
                let (blob, component) = (id.blob, id.component);
                jobs.push(if drive.blobs[blob as usize].in_manifest {
                    Job::Length { blob, component }
                } else {
                    Job::WholeFile { blob, component }
                });
                continue;
            }
            ComponentKind::Block | ComponentKind::Page => {}
        }
        let end = component.offset + component.length;
        if let Some((blob, components, start, current_end)) = current.as_mut()
            && *blob == id.blob
            && *current_end == component.offset
            && end - *start <= max_request
        {
            components.push(id.component);
            *current_end = end;
            continue;
        }
        if let Some((blob, components, _, _)) = current.take() {
            jobs.push(Job::Ranges { blob, components });
        }
        current = Some((id.blob, vec![id.component], component.offset, end));
    }
    if let Some((blob, components, _, _)) = current {
        jobs.push(Job::Ranges { blob, components });
    }
    jobs
}

/// Parses the copy log's LastModified (ISO-8601 UTC in every sample).
fn parse_timestamp(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339).ok()
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

/// Opens (creating directories and the file, sized to `length`, when missing) the drive
/// file for `file_path`, refusing anything that resolves outside the target.
fn open_for_repair(target: &Path, file_path: &str, length: u64) -> io::Result<File> {
    let resolved = drive_path::resolve(target, file_path).map_err(io::Error::other)?;
    if !resolved.exists
        && let Some(parent) = resolved.path.parent()
    {
        std::fs::create_dir_all(parent)?;
        // Directories just created must not have become links out of the target.
        drive_path::resolve(target, file_path).map_err(io::Error::other)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&resolved.path)?;
    let metadata = file.metadata()?;
    if metadata.is_dir() {
        return Err(io::Error::other("it is a directory, not a file"));
    }
    // Never shrink a longer file: only a missing or short file is brought to its length.
    if metadata.len() < length {
        file.set_len(length)?;
    }
    Ok(file)
}

/// Writes each part at its offset, syncs, reads every part back and returns its MD5.
fn write_in_place(
    target: &Path,
    file_path: &str,
    length: u64,
    parts: &[(u64, Bytes, Md5)],
) -> io::Result<Vec<Md5>> {
    let file = open_for_repair(target, file_path, length)?;
    for (offset, bytes, _) in parts {
        write_all_at(&file, bytes, *offset)?;
    }
    // The data and the length it needs; the timestamps can wait.
    file.sync_data()?;
    let mut read_back = Vec::with_capacity(parts.len());
    let mut buffer = Vec::new();
    for (offset, bytes, md5) in parts {
        buffer.resize(bytes.len(), 0);
        read_exact_at(&file, &mut buffer, *offset)?;
        // Bytes equal to the written ones have the MD5 already computed; only different
        // bytes are hashed again (an MD5 pass per write was a third of a repair's CPU).
        read_back.push(if buffer[..] == bytes[..] {
            *md5
        } else {
            Md5::of(&buffer)
        });
    }
    Ok(read_back)
}

/// Replaces a small file whole: a temporary beside it, synced, renamed over it.
fn replace_file(target: &Path, file_path: &str, bytes: &[u8]) -> io::Result<Md5> {
    let resolved = drive_path::resolve(target, file_path).map_err(io::Error::other)?;
    let parent = resolved
        .path
        .parent()
        .ok_or_else(|| io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(parent)?;
    drive_path::resolve(target, file_path).map_err(io::Error::other)?;
    let name = resolved
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = parent.join(format!(".{name}.export-repair.tmp"));
    let result = (|| {
        std::fs::write(&temporary, bytes)?;
        File::open(&temporary)?.sync_all()?;
        std::fs::rename(&temporary, &resolved.path)?;
        if let Ok(directory) = File::open(parent) {
            let _ = directory.sync_all();
        }
        Ok(Md5::of(&std::fs::read(&resolved.path)?))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(unix)]
fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(unix)]
fn read_exact_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buffer, offset)
}

#[cfg(windows)]
fn write_all_at(file: &File, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = std::os::windows::fs::FileExt::seek_write(file, bytes, offset)?;
        bytes = &bytes[written..];
        offset += written as u64;
    }
    Ok(())
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buffer: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buffer.is_empty() {
        let read = std::os::windows::fs::FileExt::seek_read(file, buffer, offset)?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buffer = &mut buffer[read..];
        offset += read as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::manifest::Manifest;

    fn drive() -> Drive {
        let manifest = Manifest::parse_str(
            r#"<DriveManifest><Drive><DriveId>D</DriveId><BlobList>
<Blob><BlobPath>c/a</BlobPath><FilePath>\c\a</FilePath><Length>40</Length><BlockList>
<Block Offset="0" Length="10" Hash="00000000000000000000000000000000"/>
<Block Offset="10" Length="10" Hash="00000000000000000000000000000000"/>
<Block Offset="20" Length="10" Hash="00000000000000000000000000000000"/>
<Block Offset="30" Length="10" Hash="00000000000000000000000000000000"/></BlockList>
<PropertiesPath Hash="00000000000000000000000000000000">\c\a.properties</PropertiesPath></Blob>
</BlobList></Drive></DriveManifest>"#,
        )
        .unwrap();
        Drive::build(Some(manifest), None).unwrap()
    }

    fn id(component: u32) -> ComponentId {
        ComponentId { blob: 0, component }
    }

    #[test]
    fn coalesces_adjacent_ranges_up_to_the_request_size() {
        let drive = drive();
        let jobs = plan_jobs(&drive, &[id(4), id(3), id(0), id(1)], 20);
        assert_eq!(
            jobs,
            [
                Job::Ranges {
                    blob: 0,
                    components: vec![0, 1]
                },
                Job::Ranges {
                    blob: 0,
                    components: vec![3]
                },
                Job::SideFile {
                    blob: 0,
                    component: 4
                },
            ]
        );
        let jobs = plan_jobs(&drive, &[id(0), id(1), id(2)], 20);
        assert_eq!(jobs.len(), 2, "{jobs:?}");
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

    #[test]
    fn never_shrinks_a_longer_file_and_creates_missing_ones_at_full_length() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("long"), vec![7u8; 100]).unwrap();
        let md5 = Md5::of(b"abc");
        let read = write_in_place(
            dir.path(),
            r"\long",
            50,
            &[(10, Bytes::from_static(b"abc"), md5)],
        )
        .unwrap();
        assert_eq!(read, [md5]);
        assert_eq!(
            std::fs::metadata(dir.path().join("long")).unwrap().len(),
            100
        );
        write_in_place(
            dir.path(),
            r"\new\dir\file",
            1000,
            &[(0, Bytes::from_static(b"abc"), md5)],
        )
        .unwrap();
        let created = std::fs::read(dir.path().join("new/dir/file")).unwrap();
        assert_eq!(created.len(), 1000);
        assert_eq!(&created[..3], b"abc");
    }
}
