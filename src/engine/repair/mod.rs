//! Repair: re-download what the copy log says failed, then verify everything against the
//! manifest and re-download whatever does not match.
//!
//! `plan` groups components into downloads, `fetch` gets their bytes pinned to the export and
//! checked (`hasher` hashes them on SIMD lanes as they arrive), `commit` is the one write
//! protocol, `chunks` repairs files checked by CRC-64 chunk by chunk, `resume` decides what a
//! rerun may take from the repair file, `sources` holds the source new credentials replace.

mod chunks;
mod commit;
mod fetch;
mod hasher;
mod plan;
mod resume;
mod sources;
mod tail;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc};

use super::verify::{self, Control, Finding, VerifyOptions};
use super::{
    Activity, Command, EngineHandle, Event, OpenRun, Run, RunMode, ToDispatcher, Work, WorkRequest,
    WorkerMessage, dispatch,
};
use crate::format::Md5;
use crate::format::side_files::MetadataFile;
use crate::journal::{Done, JournalError, JournalWriter, RepairFile};
use crate::md5::Md5Path;
use crate::model::{Blob, ComponentId, ComponentKind, ComponentStatus, Drive};
use crate::rooted::RootedDir;
use crate::sanitize::escape_controls;
use crate::source::{BlobSource, CredentialKind, ReadConditions, SourceError};

use commit::{WholeFile, Written, failed, failed_all, write_length, write_side_file};
use fetch::{InTransit, MAX_COMPONENT_IN_MEMORY, Part, Vouched, buffer_units};
pub use fetch::{STOP_GRACE, properties_file};
use hasher::Hasher;
use plan::{
    Job, component_ids, download_plan, job_file_path, needs_copy_log_repair, plan_jobs,
    with_chunk_sets,
};
pub(crate) use sources::SourceSlot;

/// Why a copy-log range without a hash (and no manifest) is not written when nothing pins the
/// read to the exported version.
const UNCHECKED_AND_UNPINNED: &str = "nothing checks these bytes (no manifest hash; the copy \
    log gives none) and nothing pins them to the exported version (the copy log gives no \
    usable LastModified): written into the file they could mix two versions of the blob; \
    nothing was written. Pass a manifest that lists the file (--manifest) to check them";

/// Whether nothing pins a read of `blob` to its exported version (no snapshot, no
/// Last-Modified, no ETag). Bytes that fail the manifest hash are never written; nor are bytes
/// nothing checks (a copy-log range without a hash) when nothing pins them either: they could
/// mix two versions of the blob in one file.
fn is_unpinned(blob: &Blob, conditions: &ReadConditions) -> bool {
    blob.snapshot.is_none()
        && conditions.if_unmodified_since.is_none()
        && conditions.if_match.is_none()
}

/// Tuning for a repair.
#[derive(Debug, Clone)]
pub struct RepairOptions {
    /// Downloads in flight at once.
    pub concurrency: usize,
    /// Adjacent damaged components are fetched together up to this many bytes per request.
    pub max_request_bytes: u64,
    /// Downloaded bytes held in memory at once, whatever the number of downloads: a request
    /// waits for room before it starts (one larger than this waits for all of it).
    pub max_buffered_bytes: u64,
    pub verify: VerifyOptions,
    /// Keep the run open after its plan for retries, new credentials and verifying again
    /// (the console); a refusal of the credentials then waits for new ones instead of
    /// ending the run.
    pub stay_open: bool,
    /// Verify and plan, then stop: the plan is the `WouldDownload` event. Nothing is
    /// downloaded and nothing on the drive changes (the caller gives a repair file that is
    /// not written back).
    pub dry_run: bool,
}

impl Default for RepairOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            // Fewer, larger requests: Azurite took a quarter to a third less CPU serving a
            // blob in 16 MiB ranges than in 8 MiB ones (BENCHMARKS.md).
            max_request_bytes: 16 * 1024 * 1024,
            // As many downloads as `concurrency` allows at the largest request size.
            max_buffered_bytes: 128 * 1024 * 1024,
            verify: VerifyOptions::default(),
            stay_open: false,
            dry_run: false,
        }
    }
}

/// Verified components are recorded in batches: losing a batch only means hashing again.
const VERIFIED_BATCH: usize = 512;
/// Pieces of one whole-file download in flight at once.
const WHOLE_FILE_STREAMS: usize = 4;

/// Starts a repair. Must be called inside a tokio runtime.
pub fn start_repair(
    drive: Arc<Drive>,
    target: std::path::PathBuf,
    source: Arc<dyn BlobSource>,
    repair_file: RepairFile,
    options: RepairOptions,
) -> EngineHandle {
    let (command_tx, command_rx) = mpsc::unbounded_channel::<Command>();
    let (event_tx, event_rx) = mpsc::channel::<Event>(1024);
    let control = Arc::new(Control::default());
    let (messages_tx, messages) = mpsc::channel::<WorkerMessage>(4096);
    let source_text = source.describe();
    let repair_file_text = repair_file.path().to_string();
    let target_text = target.display().to_string();
    let sources = Arc::new(SourceSlot::new(source));
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
    let run = Run {
        drive: Arc::clone(&drive),
        mode: RunMode::Repair,
        target: target_text,
        source: Some(source_text),
        repair_file: Some(repair_file_text),
        control: Arc::clone(&control),
        open,
    };
    let worker = tokio::spawn(async move {
        let prepared = prepare(&drive, &target, repair_file);
        let (root, journal, recorded, hasher) = match prepared {
            Ok(prepared) => prepared,
            Err(message) => {
                let _ = messages_tx
                    .send(WorkerMessage::RepairFileFailed(message))
                    .await;
                return false;
            }
        };
        let buffers = Arc::new(Semaphore::new(
            buffer_units(options.max_buffered_bytes) as usize
        ));
        let repairer = Arc::new(Repairer {
            drive,
            root: Arc::new(root),
            sources,
            refused_generation: AtomicU64::new(u64::MAX),
            journal,
            options,
            control,
            out: messages_tx,
            conditions: Mutex::new(HashMap::new()),
            verdicts: Mutex::new(HashMap::new()),
            repaired: Mutex::new(HashSet::new()),
            storage_lengths: Mutex::new(HashMap::new()),
            earlier: Mutex::new(HashMap::new()),
            written_md5s: Mutex::new(HashMap::new()),
            awaiting_end: Mutex::new(HashMap::new()),
            planned_ends: Mutex::new(HashMap::new()),
            files_seen: Mutex::new(HashMap::new()),
            drive_md5s: Mutex::new(HashMap::new()),
            hasher,
            wait_told: Arc::new(Mutex::new(None)),
            buffers,
        });
        // Stopped short until it ends otherwise: a run killed outright leaves it so.
        let started =
            repairer.options.dry_run || repairer.journal.stopped_short(true).await.is_ok();
        let completed = Arc::clone(&repairer).run(recorded, requests).await;
        if started && !repairer.options.dry_run {
            let stopped_short = !completed && repairer.left_undone();
            let _ = repairer.journal.stopped_short(stopped_short).await;
        }
        repairer.journal.close().await;
        completed
    });
    tokio::spawn(dispatch(run, worker, messages, command_rx, event_tx));
    EngineHandle {
        commands: command_tx,
        events: event_rx,
    }
}

/// What the repair file holds from earlier runs.
struct Recorded {
    entries: Vec<crate::journal::Entry>,
    /// The storage's lengths of files only the copy log lists, by their whole-file component.
    storage_lengths: Vec<(ComponentId, u64)>,
}

/// Opens the target and hands the repair file to its writer, after reading what it holds;
/// starts the thread that hashes downloads.
fn prepare(
    drive: &Arc<Drive>,
    target: &std::path::Path,
    repair_file: RepairFile,
) -> Result<(RootedDir, JournalWriter, Recorded, Hasher), String> {
    let root = RootedDir::open(target).map_err(|error| {
        format!(
            "cannot open the target {}: {error}",
            escape_controls(&target.display().to_string())
        )
    })?;
    let entries = repair_file
        .entries(drive)
        .map_err(|error| error.to_string())?;
    let storage_lengths = (repair_file.storage_lengths(drive))
        .map_err(|error| error.to_string())?
        .into_iter()
        .filter_map(|(blob, length)| Some((drive.sole_whole_file(blob)?, length)))
        .collect();
    let recorded = Recorded {
        entries,
        storage_lengths,
    };
    let path = repair_file.path().to_string();
    let journal = JournalWriter::spawn(repair_file, Arc::clone(drive))
        .map_err(|error| format!("repair file {path}: cannot start its writer: {error}"))?;
    let hasher = Hasher::spawn(Md5Path::active())
        .map_err(|error| format!("cannot start the thread that hashes downloads: {error}"))?;
    Ok((root, journal, recorded, hasher))
}

pub(crate) fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a download ended before its bytes could be written.
pub(crate) enum Stop {
    /// The run was cancelled: the components stay in flight for a rerun.
    Cancelled,
    Source(SourceError),
}

/// How a download job ended.
enum JobEnd {
    /// Its components have verdicts (or the run was stopped).
    Settled,
    /// The source refused the credentials; the components have no verdict.
    Refused(String, CredentialKind),
}

pub(crate) struct Repairer {
    drive: Arc<Drive>,
    root: Arc<RootedDir>,
    sources: Arc<SourceSlot>,
    /// The source generation whose refusal was last reported (one report per refusal).
    refused_generation: AtomicU64,
    journal: JournalWriter,
    options: RepairOptions,
    control: Arc<Control>,
    out: mpsc::Sender<WorkerMessage>,
    /// Per blob: the export-time state reads are pinned to.
    conditions: Mutex<HashMap<u32, ReadConditions>>,
    /// The latest verdict of every component that has one (a length is truncated only once the
    /// rest of its file is right).
    verdicts: Mutex<HashMap<ComponentId, ComponentStatus>>,
    /// Components this run repaired or took over as repaired: a later look that finds nothing
    /// wrong keeps them repaired ([`ComponentStatus::after_repair`]).
    repaired: Mutex<HashSet<ComponentId>>,
    /// The storage's lengths of files only the copy log lists, once known (what later work
    /// on them plans with, whatever the copy log's `Length` claims).
    storage_lengths: Mutex<HashMap<ComponentId, u64>>,
    /// Earlier runs' repairs whose files changed since: verified again, and kept as repairs
    /// when the drive still holds what they wrote.
    earlier: Mutex<HashMap<ComponentId, resume::Earlier>>,
    /// What this run and earlier ones wrote with nothing but the storage to check it
    /// (copy-log ranges without a hash, files downloaded whole), as written: what verifying
    /// them again compares them with.
    written_md5s: Mutex<HashMap<ComponentId, Md5>>,
    /// Per blob only the copy log lists: ranges past the end of its short file, which wait for
    /// the missing end (its length job) to bring them instead of failing first.
    awaiting_end: Mutex<HashMap<u32, Vec<tail::AwaitingEnd>>>,
    /// Per file only the copy log lists: where its missing end started when its bytes were
    /// planned (an attempt after new credentials plans none again).
    planned_ends: Mutex<HashMap<ComponentId, u64>>,
    /// Per blob: the data file (device, inode) its latest verdict was reached on; a file at
    /// the path that is another is not written (`commit::BlobFacts::seen_as`).
    files_seen: Mutex<HashMap<u32, (u64, u64)>>,
    /// Per blob: the MD5 of the drive's file, hashed once when a side file needs it to tell
    /// the export's version of an unpinned blob from another (`fetch::another_version`).
    drive_md5s: fetch::DriveMd5s,
    /// Hashes downloaded components while they arrive.
    hasher: Hasher,
    /// When a wait for the storage was last told (see `until_given_up`).
    wait_told: Arc<Mutex<Option<std::time::Instant>>>,
    /// Room for downloaded bytes in memory, in KiB (`max_buffered_bytes`).
    buffers: Arc<Semaphore>,
}

impl Repairer {
    /// Both passes, then (kept open) whatever is asked; false when the run stopped before
    /// the end.
    async fn run(
        self: Arc<Self>,
        recorded: Recorded,
        requests: Option<mpsc::UnboundedReceiver<WorkRequest>>,
    ) -> bool {
        // What an earlier run learned holds until the storage is asked again (it may be gone).
        for (id, length) in recorded.storage_lengths {
            self.know_storage_length(id, length).await;
        }
        let resumed = Arc::clone(&self).resume(recorded.entries).await;
        *locked(&self.earlier) = resumed.earlier;
        *locked(&self.written_md5s) = resumed.written_md5s;
        let finished: HashSet<ComponentId> =
            resumed.taken.iter().map(|finding| finding.id).collect();
        if resumed.recorded > 0 {
            let count = |status| {
                let taken = resumed.taken.iter();
                taken.filter(|finding| finding.status == status).count() as u64
            };
            let message = WorkerMessage::Resumed {
                components: resumed.taken.len() as u64,
                repaired: count(ComponentStatus::Repaired),
                verified: count(ComponentStatus::Verified),
                checked_again: resumed.recorded - resumed.taken.len() as u64,
            };
            for finding in resumed.taken {
                self.emit(finding).await;
            }
            let _ = self.out.send(message).await;
        }
        // Pass 1: what the copy log says failed; downloads run while pass 2 verifies the rest
        // (a 403 that parks them does not hold verification up).
        let copy_log_set: Vec<ComponentId> = self
            .drive
            .components()
            .filter(|(id, blob, component)| {
                !finished.contains(id)
                    && !resumed.verify_first.contains(id)
                    && needs_copy_log_repair(blob, component)
            })
            .map(|(id, _, _)| id)
            .collect();
        if self.options.dry_run {
            return self.dry_run(&finished, copy_log_set).await;
        }
        self.plan(Work::Download, &copy_log_set).await;
        let pass_one = {
            let this = Arc::clone(&self);
            let ids = copy_log_set.clone();
            tokio::spawn(async move { this.repair(&ids).await })
        };
        // Pass 2: verify everything not yet settled; repair what does not verify.
        let in_pass_one: HashSet<ComponentId> = copy_log_set.into_iter().collect();
        let to_verify: Vec<ComponentId> = self
            .drive
            .components()
            .map(|(id, _, _)| id)
            .filter(|id| !finished.contains(id) && !in_pass_one.contains(id))
            .collect();
        self.plan(Work::Verify, &to_verify).await;
        let damaged = Arc::clone(&self).verify(to_verify).await;
        let mut lengths = pass_one.await.unwrap_or_default();
        if !self.cancelled() {
            self.plan(Work::Download, &damaged).await;
            lengths.extend(self.repair(&damaged).await);
        }
        self.run_deferred(lengths).await;
        if let Some(mut requests) = requests {
            while !self.cancelled() {
                let _ = self.out.send(WorkerMessage::Idle).await;
                let ids = match requests.recv().await {
                    // Everything asked was done: a cancel that comes now leaves nothing
                    // undone, so the run ends complete.
                    None | Some(WorkRequest::Finish) => return true,
                    Some(WorkRequest::Retry(ids)) => {
                        let ids = with_chunk_sets(&self.drive, self.known(ids));
                        self.plan(Work::Download, &ids).await;
                        ids
                    }
                    Some(WorkRequest::Verify(ids)) => {
                        let ids = self.known(ids);
                        self.plan(Work::Verify, &ids).await;
                        let damaged = Arc::clone(&self).verify(ids).await;
                        self.plan(Work::Download, &damaged).await;
                        damaged
                    }
                };
                let lengths = self.repair(&ids).await;
                self.run_deferred(lengths).await;
            }
        }
        !self.cancelled()
    }

    /// Verifies what the repair file does not settle, then says what a repair would download:
    /// the copy log's failures and whatever does not verify.
    async fn dry_run(
        self: Arc<Self>,
        finished: &HashSet<ComponentId>,
        copy_log_set: Vec<ComponentId>,
    ) -> bool {
        let to_verify: Vec<ComponentId> = self
            .drive
            .components()
            .map(|(id, _, _)| id)
            .filter(|id| !finished.contains(id))
            .collect();
        self.plan(Work::Verify, &to_verify).await;
        let mut planned = Arc::clone(&self).verify(to_verify).await;
        if self.cancelled() {
            return false;
        }
        planned.extend(copy_log_set);
        planned.sort_unstable();
        planned.dedup();
        let jobs = plan_jobs(&self.drive, &planned, self.options.max_request_bytes);
        // What the drive would refuse before anything is read: a directory or a FIFO where
        // a file goes, a link on the way. And where the files only the copy log lists end.
        let paths: Vec<String> = jobs
            .iter()
            .map(|job| job_file_path(&self.drive, job).to_string())
            .collect();
        let logged_only: Vec<(u32, String)> = (jobs.iter().map(Job::blob))
            .filter(|&blob| !self.drive.blobs[blob as usize].in_manifest)
            .map(|blob| (blob, self.drive.blobs[blob as usize].file_path.clone()))
            .collect();
        let root = Arc::clone(&self.root);
        let (unwritable, file_ends): (HashMap<String, String>, HashMap<u32, u64>) =
            tokio::task::spawn_blocking(move || {
                let unwritable = (paths.into_iter())
                    .filter_map(|path| unwritable(&root, &path).map(|why| (path, why)))
                    .collect();
                let file_ends = (logged_only.into_iter())
                    .filter_map(|(blob, path)| Some((blob, tail::file_end(&root, &path).ok()?)))
                    .collect();
                (unwritable, file_ends)
            })
            .await
            .unwrap_or_default();
        let missing_end = |blob: u32| {
            let drive_blob = &self.drive.blobs[blob as usize];
            let file_end = *file_ends.get(&blob)?;
            (file_end < drive_blob.copy_log_length()?)
                .then(|| tail::missing_end_start(drive_blob, file_end))
        };
        // As a repair goes: ranges past the end of such a file come with its missing end, or
        // without one (no Length) are refused.
        let jobs: Vec<Job> = (jobs.into_iter())
            .flat_map(|job| match job {
                Job::Ranges { blob, components } if file_ends.contains_key(&blob) => {
                    let drive_blob = &self.drive.blobs[blob as usize];
                    let within = tail::within_end(drive_blob, &components, file_ends[&blob]);
                    let (inside, beyond) = components.split_at(within);
                    let beyond = match missing_end(blob) {
                        Some(_) => &[][..],
                        None => beyond,
                    };
                    [inside, beyond]
                        .into_iter()
                        .filter(|part| !part.is_empty())
                        .map(|part| Job::Ranges {
                            blob,
                            components: part.to_vec(),
                        })
                        .collect::<Vec<_>>()
                }
                other => vec![other],
            })
            .collect();
        // A part past the end that no missing end brings: refused as the write would be.
        let past_end = |blob: u32, components: &[u32]| {
            let file_end = *file_ends.get(&blob)?;
            let first = &self.drive.blobs[blob as usize].components[*components.first()? as usize];
            (first.offset.saturating_add(first.length) > file_end)
                .then(|| commit::past_end_reason(file_end, first.offset))
        };
        let source = self.sources.get().source.describe();
        let plan = download_plan(&self.drive, &jobs, source, missing_end, |job| {
            let blob = &self.drive.blobs[job.blob() as usize];
            if let Err(error) = self.blob_ref(blob) {
                return Some(escape_controls(&error.to_string()).into_owned());
            }
            if let Some(why) = unwritable.get(job_file_path(&self.drive, job)) {
                return Some(why.clone());
            }
            match job {
                Job::Ranges { blob, components } => past_end(*blob, components)
                    .or_else(|| self.range_refusal(*blob, components, &self.conditions(*blob))),
                Job::Length { blob, .. } => self.logged_length_refusal(*blob),
                _ => None,
            }
        });
        let _ = self.out.send(WorkerMessage::WouldDownload(plan)).await;
        true
    }

    /// Tells the progress meter that `bytes` of a long download were written for `id`.
    async fn transferred(&self, id: ComponentId, bytes: u64) {
        let _ = self
            .out
            .send(WorkerMessage::Transferred { id, bytes })
            .await;
    }

    /// Tells the progress meter that a kind of work has `bytes` more to do, in components
    /// already planned.
    async fn plan_bytes(&self, work: Work, bytes: u64) {
        if bytes > 0 {
            let planned = WorkerMessage::Planned {
                work,
                components: 0,
                bytes,
            };
            let _ = self.out.send(planned).await;
        }
    }

    /// Tells the progress meter what a kind of work now has to do on top of its plan.
    async fn plan(&self, work: Work, ids: &[ComponentId]) {
        if ids.is_empty() {
            return;
        }
        let bytes = {
            let storage_lengths = locked(&self.storage_lengths);
            ids.iter()
                .map(|id| {
                    let blob = &self.drive.blobs[id.blob as usize];
                    let component = self.drive.component(*id);
                    match storage_lengths.get(id) {
                        Some(&length) if blob.counts_data(component) => length,
                        _ => blob.data_bytes_of(component),
                    }
                })
                .fold(0u64, u64::saturating_add)
        };
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
        self.control.is_cancelled()
    }

    /// Whether a component has no verdict, or one a rerun would see to: what makes a stop an
    /// interruption (as the run's ledger reckons it: a component skipped for want of a hash
    /// is skipped by every run).
    fn left_undone(&self) -> bool {
        let verdicts = locked(&self.verdicts);
        self.drive
            .components()
            .any(|(id, _, _)| verdicts.get(&id).is_none_or(|status| status.is_damage()))
    }

    /// Keeps a verdict, and the data file it was reached on.
    fn note(&self, finding: &Finding) {
        locked(&self.verdicts).insert(finding.id, finding.status);
        if finding.status == ComponentStatus::Repaired {
            locked(&self.repaired).insert(finding.id);
        }
        if let Some(identity) = &finding.identity
            && !self.drive.component(finding.id).kind.is_side_file()
        {
            let file = (identity.device, identity.inode);
            locked(&self.files_seen).insert(finding.id.blob, file);
        }
    }

    async fn emit(&self, finding: Finding) {
        self.note(&finding);
        if let Some(length) = finding.proven_file_length(&self.drive) {
            locked(&self.storage_lengths).insert(finding.id, length);
        }
        let _ = self.out.send(WorkerMessage::Finding(finding)).await;
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
                if let Err(error) = this.journal.done_blocking(std::mem::take(batch)) {
                    this.repair_file_failed_blocking(error);
                }
            };
            let findings = |finding: Finding| {
                let finding = match locked(&this.earlier).remove(&finding.id) {
                    Some(earlier) => earlier.confirm(finding),
                    None => finding,
                };
                if matches!(
                    finding.status,
                    ComponentStatus::Corrupt | ComponentStatus::Missing
                ) {
                    locked(&damaged).push(finding.id);
                }
                // A repair this run made (or took over), looked at again and found nothing
                // wrong, stays a repair in the repair file, as in the ledger: what `report
                // --repair-file` and a rerun read.
                let status = match locked(&this.repaired).contains(&finding.id) {
                    true => finding.status.after_repair(),
                    false => finding.status,
                };
                let confirmed = status != finding.status;
                let reason = match confirmed {
                    true => None,
                    false => finding.reason.clone(),
                };
                // Damage found is recorded too: a run stopped before repairing it leaves a
                // repair file that says what was found, as the run's report does.
                let mut batch = locked(&pending);
                batch.push(Done {
                    id: finding.id,
                    status,
                    actual_md5: finding.actual_md5,
                    storage_md5: None,
                    reason,
                    identity: finding.identity,
                });
                if batch.len() >= VERIFIED_BATCH {
                    flush(&mut batch);
                }
                this.note(&finding);
                if confirmed {
                    locked(&this.verdicts).insert(finding.id, status);
                }
                let _ = this.out.blocking_send(WorkerMessage::Finding(finding));
            };
            let report = ToDispatcher {
                findings,
                messages: &this.out,
            };
            // What was written unchecked is checked against what was written.
            let options = VerifyOptions {
                downloaded: Arc::new(locked(&this.written_md5s).clone()),
                ..this.options.verify.clone()
            };
            verify::verify_in(
                &this.drive,
                &this.root,
                Some(&ids),
                &options,
                &this.control,
                &report,
            );
            flush(&mut locked(&pending));
            let damaged = damaged.into_inner().unwrap_or_else(PoisonError::into_inner);
            // A file repaired chunk by chunk is repaired whole: its chunks join its check.
            with_chunk_sets(&this.drive, damaged)
        })
        .await;
        result.unwrap_or_default()
    }

    /// Repairs `ids`, at most `concurrency` downloads at a time; returns the deferred jobs
    /// (lengths, side files, rechecks), which run once everything else of the plan is settled.
    async fn repair(self: &Arc<Self>, ids: &[ComponentId]) -> Vec<Job> {
        let refused: Vec<Done> = ids
            .iter()
            .filter_map(|&id| {
                let reason = self.drive.blobs[id.blob as usize].refusal.clone()?;
                Some(failed(id, reason))
            })
            .collect();
        if !refused.is_empty() {
            self.settle(refused).await;
        }
        let jobs = plan_jobs(&self.drive, ids, self.options.max_request_bytes);
        for job in &jobs {
            self.working(job, Activity::Queued).await;
        }
        let (lengths, downloads): (Vec<Job>, Vec<Job>) =
            jobs.into_iter().partition(Job::is_deferred);
        self.run_jobs(downloads).await;
        lengths
    }

    /// Why ranges waiting for a missing end no length job came for fail.
    const NO_LENGTH_JOB: &'static str = "the file's length was not looked at in this run (an \
        earlier run settled it, or it was not retried); a rerun brings the range";

    /// The deferred jobs: lengths, then the whole-file checks that read the files they set and
    /// the side files. Once the run is stopped, only what its writes made right is told.
    async fn run_deferred(self: &Arc<Self>, deferred: Vec<Job>) {
        let (lengths, rechecks): (Vec<Job>, Vec<Job>) = deferred
            .into_iter()
            .partition(|job| matches!(job, Job::Length { .. }));
        if !self.cancelled() {
            self.run_jobs(lengths.clone()).await;
        }
        if self.cancelled() {
            self.lengths_made_right(&lengths).await;
            return;
        }
        // Ranges whose missing end no length job came for (their file's length was settled
        // by an earlier run) fail as the write would have.
        if !self.cancelled() {
            let left: Vec<Done> = std::mem::take(&mut *locked(&self.awaiting_end))
                .into_values()
                .flatten()
                .flat_map(|awaiting| {
                    awaiting
                        .not_brought(Self::NO_LENGTH_JOB)
                        .collect::<Vec<_>>()
                })
                .collect();
            if !left.is_empty() {
                self.settle(left).await;
            }
        }
        self.run_jobs(rechecks).await;
    }

    /// Runs jobs side by side, at most `concurrency` at a time. A job that panics settles its
    /// components as failed with the panic's message.
    async fn run_jobs(self: &Arc<Self>, jobs: Vec<Job>) {
        let semaphore = Arc::new(Semaphore::new(self.options.concurrency.max(1)));
        let mut running = tokio::task::JoinSet::new();
        let mut owners: HashMap<tokio::task::Id, Vec<ComponentId>> = HashMap::new();
        for job in jobs {
            if self.cancelled() {
                break;
            }
            // A job's task starts once it has its turn: a task takes the room of the largest
            // repair it might run (about 13 KB), and a drive of many damaged files had one
            // for each of them, waiting, from the start.
            let permit = tokio::select! {
                _ = self.control.cancelled() => break,
                permit = Arc::clone(&semaphore).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            while let Some(joined) = running.try_join_next_with_id() {
                self.settle_panic(joined, &mut owners).await;
            }
            let ids = job.ids();
            let this = Arc::clone(self);
            let handle = running.spawn(async move {
                if !this.control.proceed_async().await {
                    return;
                }
                this.run_job(job).await;
                drop(permit);
            });
            owners.insert(handle.id(), ids);
        }
        while let Some(joined) = running.join_next_with_id().await {
            self.settle_panic(joined, &mut owners).await;
        }
    }

    /// A job's task that panicked: its components fail with the panic's message.
    async fn settle_panic(
        &self,
        joined: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
        owners: &mut HashMap<tokio::task::Id, Vec<ComponentId>>,
    ) {
        let id = match &joined {
            Ok((id, ())) => *id,
            Err(error) => error.id(),
        };
        let ids = owners.remove(&id).unwrap_or_default();
        if let Err(error) = joined
            && error.is_panic()
        {
            let message = panic_message(error.into_panic());
            self.settle(failed_all(
                &ids,
                format!("the repair of this component stopped on an internal error: {message}"),
            ))
            .await;
        }
    }

    async fn working(&self, job: &Job, activity: Activity) {
        self.tell_activity(job.blob(), job.components(), activity)
            .await;
    }

    /// Tells what `components` of `blob` are going through.
    async fn tell_activity(&self, blob: u32, components: Vec<u32>, activity: Activity) {
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
        loop {
            // Each attempt starts its downloads again (bytes told by an earlier one are not
            // counted twice). A file repaired chunk by chunk tells each chunk as it is read.
            let starting = match job {
                Job::Chunks { .. } => Activity::Queued,
                _ => Activity::Downloading,
            };
            self.working(&job, starting).await;
            let current = self.sources.get();
            let source = current.source.as_ref();
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
                Job::Length { blob, component } => {
                    self.restore_length(source, *blob, *component).await
                }
                Job::Chunks { blob, components } => {
                    self.repair_chunks(source, *blob, components).await
                }
                Job::Recheck { blob, component } => self.recheck_crc(*blob, *component).await,
            };
            let JobEnd::Refused(message, credentials) = ended else {
                return;
            };
            let generation = current.generation;
            if self.refused_generation.swap(generation, Ordering::Relaxed) != generation {
                let _ = self
                    .out
                    .send(WorkerMessage::CredentialsRefused(message, credentials))
                    .await;
            }
            // Waiting for new credentials is not downloading (nor work for the clock).
            self.working(&job, Activity::Queued).await;
            if !self.options.stay_open || !self.sources.wait_past(generation, &self.control).await {
                return;
            }
        }
    }

    /// A download that ended before writing: cancelled (left in flight) or a source error.
    async fn stopped(&self, ids: &[ComponentId], stop: Stop) -> JobEnd {
        match stop {
            Stop::Cancelled => JobEnd::Settled,
            Stop::Source(error) => self.source_failed(ids, error).await,
        }
    }

    /// Turns a source error into the component's verdict; a refusal of the credentials
    /// leaves the components unsettled (a rerun, or new credentials, picks them up).
    async fn source_failed(&self, ids: &[ComponentId], error: SourceError) -> JobEnd {
        if let Some(credentials) = error.refused_credentials() {
            return JobEnd::Refused(error.to_string(), credentials);
        }
        // A blob that no longer holds bytes the export had is another blob now.
        let shorter_than_exported = |end: u64| {
            ids.first()
                .and_then(|id| self.drive.blobs[id.blob as usize].exported_length())
                .is_some_and(|exported| end <= exported)
        };
        let pinned = ids.first().is_some_and(|id| {
            !is_unpinned(
                &self.drive.blobs[id.blob as usize],
                &self.conditions(id.blob),
            )
        });
        let reason = match &error {
            SourceError::Changed { .. } if pinned => {
                "blob changed since export: the storage refused the read pinned to the exported \
                 version (its ETag or Last-Modified moved on: its data changed, or only its \
                 properties or metadata, which nothing here can tell apart); nothing was written"
                    .to_string()
            }
            // Nothing pinned the read to the export; the rest of a broken body is pinned to the
            // version its start came from.
            SourceError::Changed { .. } => "blob changed while it was downloaded: the storage \
                 refused the rest of a read pinned to the version it began with; nothing was \
                 written"
                .to_string(),
            SourceError::OutOfRange { end, .. } if shorter_than_exported(*end) => format!(
                "blob changed since export: {}, which the export had; nothing was written",
                escape_controls(&error.to_string())
            ),
            other => format!(
                "{}; nothing was written",
                escape_controls(&other.to_string())
            ),
        };
        let (ended, still_failed) = self.settle_unwritten(failed_all(ids, reason)).await;
        // Not the drive's damage, nor the blob's: the storage was out of reach.
        if let SourceError::Transient { .. } = &error
            && !still_failed.is_empty()
        {
            let message = WorkerMessage::StorageUnreachable {
                components: still_failed,
                message: escape_controls(&error.to_string()).into_owned(),
            };
            let _ = self.out.send(message).await;
        }
        ended
    }

    /// Settles failures of downloads that wrote nothing: one of a component this run has not
    /// looked at on the drive (the copy log reports it failed) is verified instead when the
    /// drive's bytes match the manifest's MD5 (they are right, whatever the storage could not
    /// give). Returns the components still failed.
    async fn settle_unwritten(&self, done: Vec<Done>) -> (JobEnd, Vec<ComponentId>) {
        let done = self.right_after_all(done).await;
        let failed = done
            .iter()
            .filter(|d| d.status == ComponentStatus::Failed)
            .map(|d| d.id)
            .collect();
        (self.settle(done).await, failed)
    }

    /// `done`, with the failures [`Self::settle_unwritten`] finds right on the drive verified.
    async fn right_after_all(&self, done: Vec<Done>) -> Vec<Done> {
        let unseen: Vec<ComponentId> = {
            let verdicts = locked(&self.verdicts);
            done.iter()
                .filter(|d| d.status == ComponentStatus::Failed && !verdicts.contains_key(&d.id))
                .filter(|d| {
                    // A refused entry is neither read nor written.
                    let blob = &self.drive.blobs[d.id.blob as usize];
                    blob.refusal.is_none() && self.drive.component(d.id).expected_md5.is_some()
                })
                .map(|d| d.id)
                .collect()
        };
        if unseen.is_empty() {
            return done;
        }
        let drive = Arc::clone(&self.drive);
        let looked_at = unseen.clone();
        let right = self
            .on_drive(
                &unseen,
                move |root| {
                    looked_at
                        .into_iter()
                        .filter_map(|id| {
                            let blob = &drive.blobs[id.blob as usize];
                            let found = commit::right_on_drive(root, blob, drive.component(id));
                            found.map(|found| (id, found))
                        })
                        .collect::<HashMap<_, _>>()
                },
                |_, _| HashMap::new(),
            )
            .await;
        done.into_iter()
            .map(|d| match right.get(&d.id) {
                Some(&(md5, identity)) => Done {
                    status: ComponentStatus::Verified,
                    actual_md5: Some(md5),
                    storage_md5: None,
                    reason: Some(format!(
                        "the copy log reports it failed, but the drive's bytes match the \
                         manifest's MD5; its download failed ({})",
                        d.reason.as_deref().unwrap_or("no reason given")
                    )),
                    identity: Some(identity),
                    id: d.id,
                },
                None => d,
            })
            .collect()
    }

    /// Records verdicts in the repair file, then reports them.
    async fn settle(&self, done: Vec<Done>) -> JobEnd {
        self.settle_with(done, |_| verify::Crc64s::default()).await
    }

    /// [`Self::settle`], each verdict told with the CRC-64s it was reached with.
    async fn settle_with(
        &self,
        done: Vec<Done>,
        crc64: impl Fn(ComponentId) -> verify::Crc64s,
    ) -> JobEnd {
        if let Err(error) = self.journal.done(done.clone()).await {
            return self.journal_failed(error).await;
        }
        self.remember_written(&done);
        for d in done {
            let mut finding = Finding {
                id: d.id,
                status: d.status,
                actual_md5: d.actual_md5,
                storage_md5: d.storage_md5,
                crc64: crc64(d.id),
                reason: d.reason,
                bytes: 0,
                identity: d.identity,
            };
            // Bytes moved: what a repair wrote (for progress); nothing for a failure. A file
            // only the copy log names is as long as the storage's blob, whatever Length the
            // copy log claims.
            if finding.status == ComponentStatus::Repaired {
                let blob = &self.drive.blobs[d.id.blob as usize];
                finding.bytes = finding
                    .proven_file_length(&self.drive)
                    .unwrap_or_else(|| blob.data_bytes_of(self.drive.component(d.id)));
            }
            self.emit(finding).await;
        }
        JobEnd::Settled
    }

    /// The repair file cannot be written: nothing more may be written to the drive.
    async fn journal_failed(&self, error: JournalError) -> JobEnd {
        self.control.cancel();
        let _ = self
            .out
            .send(WorkerMessage::RepairFileFailed(error.to_string()))
            .await;
        JobEnd::Settled
    }

    fn repair_file_failed_blocking(&self, error: JournalError) {
        self.control.cancel();
        let _ = self
            .out
            .blocking_send(WorkerMessage::RepairFileFailed(error.to_string()));
    }

    /// Of a job's ranges (in order, one after another) of a file only the copy log lists, those
    /// within the file as the drive holds it. The others reach past its end: nothing is
    /// downloaded for them here (nor written before the storage's length is known to agree with
    /// the copy log's); they wait for the file's missing end, which its length job (run once
    /// every download is settled) brings from where the first of them starts, or says why not.
    async fn within_file_end<'a>(&self, blob_index: u32, components: &'a [u32]) -> &'a [u32] {
        let blob = &self.drive.blobs[blob_index as usize];
        let file_path = blob.file_path.clone();
        let ids = component_ids(blob_index, components);
        let file_end = self
            .on_drive(
                &ids,
                move |root| tail::file_end(root, &file_path).ok(),
                |_, _| None,
            )
            .await;
        let Some(file_end) = file_end else {
            return components;
        };
        let (within, beyond) = components.split_at(tail::within_end(blob, components, file_end));
        let Some(&last) = beyond.last() else {
            return within;
        };
        let last = &blob.components[last as usize];
        let end = last.offset + last.length;
        let awaiting = tail::AwaitingEnd {
            ranges: (component_ids(blob_index, beyond).into_iter())
                .map(|id| (id, self.drive.component(id).offset))
                .collect(),
            file_end,
        };
        if blob
            .copy_log_length()
            .is_some_and(|length| end <= length && file_end < length)
        {
            locked(&self.awaiting_end)
                .entry(blob_index)
                .or_default()
                .push(awaiting);
            let _ = self
                .out
                .send(WorkerMessage::Working {
                    blob: blob_index,
                    components: beyond.to_vec(),
                    activity: Activity::Queued,
                })
                .await;
        } else {
            self.settle(awaiting.past_end()).await;
        }
        within
    }

    async fn repair_ranges(
        &self,
        source: &dyn BlobSource,
        blob_index: u32,
        components: &[u32],
    ) -> JobEnd {
        let blob = &self.drive.blobs[blob_index as usize];
        let conditions = self.conditions(blob_index);
        // Ranges past the end of a file only the copy log lists wait for its length job,
        // which judges them; those within it are judged here.
        let components = if blob.in_manifest {
            components
        } else {
            self.within_file_end(blob_index, components).await
        };
        let ids = component_ids(blob_index, components);
        if let Some(reason) = self.range_refusal(blob_index, components, &conditions) {
            return self.settle(failed_all(&ids, reason)).await;
        }
        let (Some(&first), Some(&last)) = (components.first(), components.last()) else {
            return JobEnd::Settled;
        };
        let start = blob.components[first as usize].offset;
        let last = &blob.components[last as usize];
        let end = last.offset + last.length;
        let source_blob = match self.blob_ref(blob) {
            Ok(source_blob) => source_blob,
            Err(error) => return self.source_failed(&ids, error).await,
        };
        // A file only the copy log lists: its ranges are laid out by the copy log's Length,
        // which the storage's blob must have, or they are not one version of it.
        if let Some(logged) = blob.copy_log_length() {
            let stored = match self.properties(source, &source_blob, &conditions).await {
                Ok(properties) => properties.content_length,
                Err(stop) => return self.stopped(&ids, stop).await,
            };
            if stored != logged {
                let reason = tail::not_one_version(stored, logged);
                return self.settle(failed_all(&ids, reason)).await;
            }
        }
        let unpinned = is_unpinned(blob, &conditions);
        let room = match self.room_for(end - start).await {
            Ok(room) => room,
            Err(stop) => return self.stopped(&ids, stop).await,
        };
        if self.cancelled() {
            // Cancelled while waiting for room: no intent for a download that never starts.
            return JobEnd::Settled;
        }
        let lengths: Vec<u64> = ids
            .iter()
            .map(|&id| self.drive.component(id).length)
            .collect();
        // Bytes no hash checks are asked for one component at a time, each with the storage's
        // own MD5 of it: bytes damaged on the way are then not written.
        let hashless = ids
            .iter()
            .any(|&id| self.drive.component(id).expected_md5.is_none());
        let download = async {
            if hashless {
                let ids_lengths = (&ids[..], &lengths[..]);
                self.read_hashed_one_by_one(source, &source_blob, ids_lengths, &conditions)
                    .await
            } else {
                let read =
                    self.read_hashed(source, &source_blob, start, (&ids, &lengths), &conditions);
                let mut received = read.await?;
                // Bytes not the manifest's may have been damaged on the way: each such component
                // is read once more on its own (its first bytes let go before), the others kept.
                for (index, &id) in ids.iter().enumerate() {
                    let component = self.drive.component(id);
                    if component.expected_md5 == Some(received[index].md5) {
                        continue;
                    }
                    received[index].pieces = Vec::new();
                    // Its bytes count from nothing again in the progress.
                    self.tell_activity(id.blob, vec![id.component], Activity::Downloading)
                        .await;
                    let span = (id, component.offset, component.length);
                    let read = self.read_alone(source, &source_blob, span, &conditions);
                    received[index] = read.await?.0;
                }
                let unchecked = |received| (received, InTransit::Unchecked);
                Ok(received.into_iter().map(unchecked).collect())
            }
        };
        let received = match self.recording_intent(&ids, download).await {
            Ok(Ok(received)) => received,
            Ok(Err(stop)) => return self.stopped(&ids, stop).await,
            Err(end) => return end,
        };
        let mut writes = Vec::new();
        let mut refused = Vec::new();
        // A component with a hash that differs was read again, unless the job went one by one
        // (for components without a hash), which reads each once.
        let (reads, damaged) = match hashless {
            true => ("", "damaged on the way"),
            false => (", read twice", "damaged on the way both times"),
        };
        let hashes = blob.hash_source();
        for (&id, (received, in_transit)) in ids.iter().zip(received) {
            let component = self.drive.component(id);
            let actual = received.md5;
            let refusal = match (component.expected_md5, in_transit) {
                (Some(expected), _) if expected != actual && unpinned => Some(format!(
                    "the storage's bytes hash to {actual}, not the {hashes}'s {expected}{reads}: \
                     the blob probably changed since export; nothing was written"
                )),
                (Some(expected), _) if expected != actual => Some(format!(
                    "the storage's bytes hash to {actual}, not the {hashes}'s {expected}{reads}, \
                     pinned to the exported version: they were {damaged}, or the {hashes} is \
                     wrong; nothing was written (a rerun reads them again)"
                )),
                (None, InTransit::Differs { .. }) => in_transit.damage().map(|damage| {
                    format!("{damage}; nothing was written (a rerun downloads them again)")
                }),
                (None, _) if unpinned => Some(UNCHECKED_AND_UNPINNED.to_string()),
                _ => None,
            };
            match refusal {
                Some(reason) => refused.push(Done {
                    id,
                    status: ComponentStatus::Failed,
                    actual_md5: None,
                    storage_md5: Some(actual),
                    reason: Some(reason),
                    identity: None,
                }),
                None => writes.push(Part {
                    id,
                    offset: component.offset,
                    pieces: received.pieces,
                    md5: actual,
                    vouched: match (component.expected_md5, in_transit) {
                        (Some(_), _) => Vouched::Hash,
                        (None, InTransit::Matched) => Vouched::StorageMd5,
                        (None, _) => Vouched::Pin,
                    },
                }),
            }
        }
        if !refused.is_empty() {
            self.settle_unwritten(refused).await;
        }
        if !writes.is_empty() {
            self.commit_parts(blob_index, writes, room).await;
        }
        JobEnd::Settled
    }

    /// Why a range job is refused before anything is read, if it is: a span too large to
    /// check in memory before writing, or bytes nothing could let be written (no hash, and
    /// nothing pinning the read to the exported version).
    fn range_refusal(
        &self,
        blob_index: u32,
        components: &[u32],
        conditions: &ReadConditions,
    ) -> Option<String> {
        let blob = &self.drive.blobs[blob_index as usize];
        let (&first, &last) = (components.first()?, components.last()?);
        let start = blob.components[first as usize].offset;
        let last = &blob.components[last as usize];
        let span = last.offset + last.length - start;
        if span > MAX_COMPONENT_IN_MEMORY.max(self.options.max_request_bytes) {
            return Some(format!(
                "a {span}-byte component is too large to check in memory before writing; \
                 nothing was written"
            ));
        }
        let unchecked = components
            .iter()
            .all(|&index| blob.components[index as usize].expected_md5.is_none());
        (unchecked && is_unpinned(blob, conditions)).then(|| UNCHECKED_AND_UNPINNED.to_string())
    }

    /// Keeps what was written unchecked (see `written_md5s`), and side files regenerated
    /// (whose MD5 is not the manifest's), for verifying them again: what the verifier compares
    /// them with, as `verify --repair-file` does.
    fn remember_written(&self, done: &[Done]) {
        let mut written = locked(&self.written_md5s);
        for d in done {
            let blob = &self.drive.blobs[d.id.blob as usize];
            let unchecked = d.status == ComponentStatus::Repaired
                && blob.written_unchecked(self.drive.component(d.id));
            if (unchecked || d.status == ComponentStatus::Regenerated)
                && let Some(md5) = d.actual_md5
            {
                written.insert(d.id, md5);
            }
        }
    }

    /// Keeps the storage's length of a file only the copy log lists, as
    /// [`Self::know_storage_length`] does, and records it in the repair file.
    async fn learn_storage_length(&self, id: ComponentId, length: u64) {
        // A manifest blob's length is the manifest's (a download refuses any other).
        if !self.drive.blobs[id.blob as usize].in_manifest {
            // For a later report or run (replacing what an earlier run learned); losing it
            // loses no repair.
            let _ = self.journal.storage_length(id.blob, length).await;
        }
        self.know_storage_length(id, length).await;
    }

    /// Keeps the storage's length of a file only the copy log lists (what later plans use)
    /// and tells it when it is news to the ledger.
    async fn know_storage_length(&self, id: ComponentId, length: u64) {
        let before = locked(&self.storage_lengths).insert(id, length);
        let blob = &self.drive.blobs[id.blob as usize];
        // Told when it is not what the copy log says, or no longer what was known (a length
        // an earlier run recorded, then another from the storage).
        let news = Some(length) != blob.copy_log_length() || before.is_some_and(|b| b != length);
        if !blob.in_manifest && news {
            let _ = self
                .out
                .send(WorkerMessage::StorageLength { id, length })
                .await;
        }
    }

    async fn download_whole_file(
        &self,
        source: &dyn BlobSource,
        blob_index: u32,
        component_index: u32,
    ) -> JobEnd {
        let blob = &self.drive.blobs[blob_index as usize];
        let ids = [ComponentId {
            blob: blob_index,
            component: component_index,
        }];
        let source_blob = match self.blob_ref(blob) {
            Ok(source_blob) => source_blob,
            Err(error) => return self.source_failed(&ids, error).await,
        };
        // The file's length and identity come from the storage, pinned to the export's
        // Last-Modified when the copy log gives it: never from the copy log's Length alone.
        let conditions = self.conditions(blob_index);
        let properties = match self.properties(source, &source_blob, &conditions).await {
            Ok(properties) => properties,
            Err(stop) => return self.stopped(&ids, stop).await,
        };
        let length = properties.content_length;
        if blob.in_manifest && length != blob.length {
            let reason = format!(
                "the storage's blob is {length} bytes, but the manifest's Length is {}: it is \
                 not the exported version; nothing was written",
                blob.length
            );
            return self.settle(failed_all(&ids, reason)).await;
        }
        self.learn_storage_length(ids[0], length).await;
        let no_export_etag = conditions.if_match.is_none();
        let pinned = pinned_to(&conditions, &properties);
        let content_md5 = properties.content_md5.as_deref().and_then(Md5::from_base64);
        let mut copy_log_note = copy_log_note(blob, length);
        // A 2021 entry is pinned by its ETag alone, a v1 one by its LastModified: without
        // it, any version would do.
        if blob.export.is_some() && no_export_etag {
            copy_log_note.push_str(
                "; the copy log gives no ETag: this is the blob's current version, which \
                 nothing proves to be the exported one",
            );
        } else if blob.export.is_none()
            && blob.snapshot.is_none()
            && no_export_etag
            && conditions.if_unmodified_since.is_none()
        {
            copy_log_note.push_str(
                "; the copy log gives no usable LastModified: this is the blob's current \
                 version, which nothing proves to be the exported one",
            );
        }
        // A page blob's empty pages (a disk image's free space) are not asked for: they read
        // as zeros, which the new file's holes already are. A list the storage cannot give (a
        // fragmented disk's may time out) only costs the zeros: the whole blob is read then; a
        // blob changed or gone, refused credentials or a stop end the job as a read would.
        let data = match properties.page_blob {
            true => match self
                .page_ranges(source, &source_blob, length, &pinned)
                .await
            {
                Ok(ranges) => ranges,
                Err(Stop::Source(error)) if !ends_a_read(&error) => {
                    tracing::warn!(
                        "{}: no page list ({}); reading the whole blob",
                        escape_controls(&blob.file_path),
                        escape_controls(&error.to_string())
                    );
                    None
                }
                Err(stop) => return self.stopped(&ids, stop).await,
            },
            false => None,
        };
        let spans = plan::spans_to_read(data, length);
        let empty = length - spans.iter().map(|span| span.end - span.start).sum::<u64>();
        if empty > 0 {
            copy_log_note.push_str(&format!(
                "; {empty} bytes in pages the storage lists as empty were not downloaded (they \
                 read as zeros)"
            ));
        }
        let file_path = blob.file_path.clone();
        let write = async {
            let created = self
                .on_drive(
                    &ids,
                    move |root| {
                        WholeFile::create(root, &file_path).and_then(|file| {
                            file.set_len(length)
                                .map(|()| file)
                                .map_err(|e| crate::rooted::RootedError::io(&file_path, e))
                        })
                    },
                    |_, reason| {
                        Err(crate::rooted::RootedError::io(
                            "",
                            std::io::Error::other(reason),
                        ))
                    },
                )
                .await;
            let file = match created {
                Ok(file) => Arc::new(file),
                Err(error) => {
                    return Written::Done(failed_all(
                        &ids,
                        commit::cannot_write(
                            &escape_controls(&blob.file_path),
                            &escape_controls(&error.to_string()),
                        ),
                    ));
                }
            };
            if empty > 0 {
                let _ = self
                    .out
                    .send(WorkerMessage::EmptyPages {
                        id: ids[0],
                        bytes: empty,
                    })
                    .await;
            }
            // Pieces are fetched side by side (one stream is far slower than what the storage
            // gives several), at most a few in memory at once whatever the length.
            let chunk = self.options.max_request_bytes.max(1);
            let pieces: Vec<(u64, u64)> = spans
                .iter()
                .flat_map(|span| {
                    (span.start..span.end)
                        .step_by(usize::try_from(chunk).unwrap_or(usize::MAX))
                        .map(move |offset| (offset, chunk.min(span.end - offset)))
                })
                .collect();
            let parallel = self.options.concurrency.clamp(1, WHOLE_FILE_STREAMS);
            let mut written = futures::stream::iter(pieces)
                .map(|(offset, size)| {
                    let file = Arc::clone(&file);
                    let (source_blob, pinned) = (&source_blob, &pinned);
                    async move {
                        let _room = self.room_for(size).await.map_err(Err)?;
                        // Without a Content-MD5, each piece is checked against the storage's
                        // MD5 of it.
                        let (bytes, check) = if content_md5.is_none() {
                            let read =
                                self.read_range_checked(source, source_blob, offset, size, pinned);
                            read.await.map_err(Err)?
                        } else {
                            let read = self.read_range(source, source_blob, offset, size, pinned);
                            (read.await.map_err(Err)?, InTransit::Unchecked)
                        };
                        if let Some(damage) = check.damage() {
                            return Err(Ok(damage));
                        }
                        // Zeros stay holes: the new file reads as zeros wherever nothing is
                        // written.
                        let write = move || match bytes.iter().all(|&byte| byte == 0) {
                            true => Ok(()),
                            false => file.write_at(&bytes, offset),
                        };
                        tokio::task::spawn_blocking(write)
                            .await
                            .map_err(|e| Ok(e.to_string()))?
                            .map_err(|e| Ok(e.to_string()))?;
                        Ok((size, check))
                    }
                })
                .buffer_unordered(parallel);
            let mut in_transit = InTransit::Matched;
            while let Some(piece) = written.next().await {
                match piece {
                    Ok((size, check)) => {
                        in_transit = in_transit.and(check);
                        self.transferred(ids[0], size).await;
                    }
                    Err(Err(stop)) => return Written::Stopped(stop),
                    Err(Ok(reason)) => {
                        return Written::Done(failed_all(
                            &ids,
                            format!(
                                "cannot write the download of {}: {reason}; nothing was written",
                                escape_controls(&blob.file_path)
                            ),
                        ));
                    }
                }
            }
            drop(written);
            let Ok(file) = Arc::try_unwrap(file) else {
                return Written::Done(failed_all(&ids, "the download is still in use".into()));
            };
            let finished = tokio::task::spawn_blocking(move || file.finish(length, content_md5))
                .await
                .unwrap_or_else(|error| Err(error.to_string()));
            Written::Done(match finished {
                Ok((md5, identity)) => vec![Done {
                    id: ids[0],
                    status: ComponentStatus::Repaired,
                    actual_md5: Some(md5),
                    storage_md5: Some(md5),
                    reason: Some(match content_md5 {
                        Some(_) => format!(
                            "downloaded whole and checked against the blob's Content-MD5{copy_log_note}"
                        ),
                        None if in_transit == InTransit::Matched => {
                            format!(
                                "downloaded whole ({length} bytes, one version of the blob), \
                                 each piece checked against the MD5 the storage sent with it; \
                                 the blob has no Content-MD5{copy_log_note}"
                            )
                        }
                        None => format!(
                            "downloaded whole ({length} bytes, one version of the blob); the blob \
                             has no Content-MD5 to check it against{copy_log_note}"
                        ),
                    }),
                    identity,
                }],
                Err(reason) => failed_all(&ids, reason),
            })
        };
        self.commit(&ids, write).await
    }

    /// Brings a file to its blob's length: a manifest blob's extended when short, truncated
    /// once its other components are right; one only the copy log lists once the storage
    /// agrees ([`Self::restore_logged_length`]).
    async fn restore_length(
        &self,
        source: &dyn BlobSource,
        blob_index: u32,
        component_index: u32,
    ) -> JobEnd {
        let blob = &self.drive.blobs[blob_index as usize];
        if !blob.in_manifest {
            return self
                .restore_logged_length(source, blob_index, component_index)
                .await;
        }
        let id = ComponentId {
            blob: blob_index,
            component: component_index,
        };
        // The manifest may lie about the length: no file is cut or extended to a Length the
        // storage does not confirm. Asked only once the file's ranges are right (until then
        // its length does not change) and when the file has another length.
        if self.ranges_not_right(id).0.is_empty()
            && self.length_on_drive(id).await != Some(blob.length)
            && let Err(end) = self.confirm_length(source, id).await
        {
            return end;
        }
        // Inside the commit: the intent is recorded before the length changes.
        let set = async { Written::Done(vec![self.set_length(id).await]) };
        self.commit(&[id], set).await
    }

    /// The length of the file of `id`'s blob on the drive, if it is there to be read.
    async fn length_on_drive(&self, id: ComponentId) -> Option<u64> {
        let file_path = self.drive.blobs[id.blob as usize].file_path.clone();
        self.on_drive(
            &[id],
            move |root| {
                let file = root.locate_file_path(&file_path).ok()?.open_read().ok()?;
                file.metadata().ok().map(|found| found.len())
            },
            |_, _| None,
        )
        .await
    }

    /// Whether the storage's blob of `id` has the manifest's Length; the job's end (the
    /// length failed, or the run's stop) when it has not or cannot say.
    async fn confirm_length(&self, source: &dyn BlobSource, id: ComponentId) -> Result<(), JobEnd> {
        let blob = &self.drive.blobs[id.blob as usize];
        let source_blob = match self.blob_ref(blob) {
            Ok(source_blob) => source_blob,
            Err(error) => return Err(self.source_failed(&[id], error).await),
        };
        let conditions = self.conditions(id.blob);
        let stored = match self.properties(source, &source_blob, &conditions).await {
            Ok(properties) => properties.content_length,
            Err(stop) => return Err(self.stopped(&[id], stop).await),
        };
        if stored == blob.length {
            return Ok(());
        }
        let reason = format!(
            "the storage's blob is {stored} bytes, but the manifest's Length is {}: the file's \
             length was left as it is (the manifest is wrong, or the blob is not the exported \
             version)",
            blob.length
        );
        Err(self.settle(failed_all(&[id], reason)).await)
    }

    /// A stopped run's last word on the lengths of manifest files it left damaged: one its
    /// writes made right (a missing file its first block brought back at its length) is told
    /// so, nothing changed; a length still wrong keeps its verdict for the rerun.
    async fn lengths_made_right(&self, lengths: &[Job]) {
        let mut made_right = Vec::new();
        for job in lengths {
            let &Job::Length { blob, component } = job else {
                continue;
            };
            let id = ComponentId { blob, component };
            let damaged = locked(&self.verdicts)
                .get(&id)
                .is_some_and(|status| status.is_damage());
            if self.drive.blobs[blob as usize].in_manifest && damaged {
                let checked = self
                    .set_length_unless(id, Some("the run was stopped"))
                    .await;
                if checked.status.is_right() {
                    made_right.push(checked);
                }
            }
        }
        if !made_right.is_empty() {
            self.settle(made_right).await;
        }
    }

    /// Sets a file's length to its blob's once every range of the file is right (bytes past
    /// the end are cut only then); a right length is verified, or repaired when this run
    /// found it wrong or wrote the file's ranges.
    async fn set_length(&self, id: ComponentId) -> Done {
        self.set_length_unless(id, None).await
    }

    /// What of `id`'s file is not right yet (its ranges' verdicts), and whether this run found
    /// the length wrong or wrote the file's ranges (which makes a right length a repair).
    fn ranges_not_right(&self, id: ComponentId) -> (Vec<String>, bool) {
        let blob = &self.drive.blobs[id.blob as usize];
        let verdicts = locked(&self.verdicts);
        let sibling = |index: usize| ComponentId {
            blob: id.blob,
            component: index as u32,
        };
        let mended = verdicts.get(&id).is_some_and(|status| status.is_damage())
            || (0..blob.components.len())
                .any(|index| verdicts.get(&sibling(index)) == Some(&ComponentStatus::Repaired));
        // A range of a file only the copy log lists has no hash: unchecked ("skipped") is as
        // good as it gets.
        let not_right = blob
            .components
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.kind, ComponentKind::Block | ComponentKind::Page))
            .filter_map(|(index, c)| match verdicts.get(&sibling(index)) {
                Some(ComponentStatus::Verified | ComponentStatus::Repaired) => None,
                Some(ComponentStatus::Skipped) if !blob.in_manifest => None,
                Some(status) => Some(format!(
                    "the {} at byte {} is {}",
                    c.kind.as_str(),
                    c.offset,
                    status.as_str()
                )),
                None => Some(format!(
                    "the {} at byte {} is not verified",
                    c.kind.as_str(),
                    c.offset
                )),
            })
            .collect();
        (not_right, mended)
    }

    /// [`Self::set_length`], changing nothing when `held_back` says why not.
    async fn set_length_unless(&self, id: ComponentId, held_back: Option<&str>) -> Done {
        let (not_right, mended) = self.ranges_not_right(id);
        let may_change = match not_right.as_slice() {
            _ if let Some(why) = held_back => Err(why.to_string()),
            [] => Ok(()),
            [one] => Err(format!("{one}; a rerun sets it once that is repaired")),
            [first, rest @ ..] => Err(format!(
                "{first} (and {} more); a rerun sets it once they are repaired",
                rest.len()
            )),
        };
        let facts = self.facts(id.blob);
        self.on_drive(
            &[id],
            move |root| write_length(root, id, &facts, may_change, mended),
            |ids, reason| failed(ids[0], reason),
        )
        .await
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
        let component = self.drive.component(id);
        let Some(file_path) = blob.component_file_path(component).map(str::to_string) else {
            return self
                .settle(vec![failed(
                    id,
                    format!(
                        "neither the manifest nor the copy log names the {} file, so it cannot be rewritten",
                        component.kind.as_str()
                    ),
                )])
                .await;
        };
        let source_blob = match self.blob_ref(blob) {
            Ok(source_blob) => source_blob,
            Err(error) => return self.source_failed(&[id], error).await,
        };
        let conditions = self.conditions(blob_index);
        let properties = match self.properties(source, &source_blob, &conditions).await {
            Ok(properties) => properties,
            Err(stop) => return self.stopped(&[id], stop).await,
        };
        // Another version of the blob gives its own properties; unpinned (no LastModified, no
        // ETag to trust), its length tells it apart.
        if let Some(exported) = blob.exported_length()
            && properties.content_length != exported
        {
            let reason = format!(
                "blob changed since export: the storage holds {} bytes, the export {exported}; \
                 nothing was written",
                properties.content_length
            );
            return self.settle_unwritten(vec![failed(id, reason)]).await.0;
        }
        let text = match component.kind {
            ComponentKind::Properties => properties_file(&properties).to_xml(),
            _ => match (MetadataFile {
                entries: properties.metadata.clone(),
            })
            .to_xml()
            {
                Ok(text) => text,
                Err(error) => {
                    let reason = format!("{error}; nothing was written");
                    return self.settle_unwritten(vec![failed(id, reason)]).await.0;
                }
            },
        };
        let (kind, expected) = (component.kind, component.expected_md5);
        let exported_bytes = expected == Some(Md5::of(text.as_bytes()));
        // (Unless they are the exported file's very bytes: the manifest's MD5 says so.)
        if !exported_bytes && let Some(c) = crate::format::side_files::first_unwritable_char(&text)
        {
            let reason = format!(
                "the storage's {} hold the character U+{:04X}, which no XML file can hold: no {} \
                 file can say it; nothing was written",
                match component.kind {
                    ComponentKind::Properties => "properties",
                    _ => "metadata",
                },
                u32::from(c),
                component.kind.as_str()
            );
            return self.settle_unwritten(vec![failed(id, reason)]).await.0;
        }
        if !exported_bytes
            && let Some(reason) = self
                .another_version(blob_index, &properties, &conditions)
                .await
        {
            return self.settle_unwritten(vec![failed(id, reason)]).await.0;
        }
        let whose = blob.hash_source();
        let ids = [id];
        let write = self.on_drive(
            &ids,
            move |root| {
                vec![write_side_file(
                    root,
                    id,
                    kind,
                    &file_path,
                    text.as_bytes(),
                    (expected, whose),
                )]
            },
            |ids, reason| failed_all(&ids, reason),
        );
        self.commit(&ids, async { Written::Done(write.await) })
            .await
    }
}

/// Reads of a blob pinned to the version whose properties were read (its ETag), besides the
/// export's conditions.
/// Whether a source error would end any read of the blob (not only the one that met it).
fn ends_a_read(error: &SourceError) -> bool {
    error.refused_credentials().is_some()
        || matches!(
            error,
            SourceError::Changed { .. } | SourceError::NotFound { .. } | SourceError::Stopped
        )
}

fn pinned_to(
    conditions: &ReadConditions,
    properties: &crate::source::BlobProperties,
) -> ReadConditions {
    ReadConditions {
        if_unmodified_since: conditions.if_unmodified_since,
        if_match: properties.etag.clone().or(conditions.if_match.clone()),
    }
}

/// Why a drive file cannot be written, if the drive says so before anything is read (a
/// directory, a FIFO or a device where it goes, a link on the way).
fn unwritable(root: &RootedDir, file_path: &str) -> Option<String> {
    let cannot = |error: crate::rooted::RootedError| {
        format!(
            "cannot write {}: {}",
            escape_controls(file_path),
            escape_controls(&error.to_string())
        )
    };
    match root.locate_file_path(file_path) {
        Err(error) => Some(cannot(error)),
        Ok(located) if located.exists() => located.open_read().err().map(cannot),
        Ok(_) => None,
    }
}

/// What the copy log claimed of a file's length, when the storage's differs: ` (the copy log
/// said N bytes; the storage's M were taken)`.
fn copy_log_note(blob: &Blob, length: u64) -> String {
    match blob.copy_log_length() {
        Some(listed) if listed != length => {
            format!(" (the copy log said {listed} bytes; the storage's {length} were taken)")
        }
        _ => String::new(),
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
