//! The ledger of a run: the one fold of the engine's events that the console, the headless
//! reporter, the `report` command and every report format read. Whatever it says (a
//! component's state and history, the counts by status, the progress of verification and of
//! downloads, whether the run is paused, waiting, finished or interrupted, how long it
//! worked), every view says the same, because none of them folds the events itself.
//!
//! A component keeps its history: found corrupt, downloaded, repaired, then verified again
//! stays "repaired" (verified again at …); only damage found after a repair replaces it.

mod fold;
mod history;
pub mod human;
mod state;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use time::OffsetDateTime;

use crate::engine::{Activity, CredentialKind, Progression, RunMode, Tally, Totals};
use crate::model::{ComponentId, ComponentKind, ComponentStatus, Drive, FileVerdict, Outcome};

pub use history::{Details, Step};
pub use state::ComponentState;

/// Facts about the run from its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts {
    pub mode: RunMode,
    pub started: OffsetDateTime,
    pub target: String,
    /// Where downloads come from now (a new source replaces the first).
    pub source: Option<String>,
    pub repair_file: Option<String>,
}

/// What an earlier run recorded in the repair file and this one took over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Verdicts taken (their files unchanged since), of which repaired and verified.
    pub components: u64,
    pub repaired: u64,
    pub verified: u64,
    /// Recorded components verified or tried again (their files changed, or they failed).
    pub checked_again: u64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending {
    pub at: OffsetDateTime,
    /// It stopped before every component was looked at (cancelled, a refusal, a failure).
    pub interrupted: bool,
}

/// Where the run stands, most telling first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No event yet.
    Starting,
    Working,
    /// Told to stop: nothing new starts; work in flight finishes, then the run ends.
    Stopping,
    /// No new work starts; work in flight finishes.
    Paused,
    /// The storage refused the credentials; downloads wait for new ones.
    AwaitingCredentials,
    /// A run kept open did all it was asked and waits for the technician.
    Idle,
    Finished {
        outcome: Outcome,
        interrupted: bool,
    },
}

/// One component's compact record (a million of them must stay small).
#[derive(Debug, Clone, Copy, Default)]
struct Record {
    /// The verdict every view shows: the latest one, except that a repaired component
    /// verified again (or skipped) stays repaired.
    status: Option<ComponentStatus>,
    activity: Option<Activity>,
    /// Repaired at some point of this ledger's history.
    repaired: bool,
    /// Downloads started for it.
    downloads: u16,
    /// Its latest verdict is a download that failed.
    failed_download: bool,
}

/// Per blob: counts by shown verdict and by work under way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobTally {
    pub components: u32,
    by_status: [u32; 7],
    by_activity: [u32; 3],
}

impl BlobTally {
    pub fn count(&self, status: ComponentStatus) -> u32 {
        self.by_status[status_index(status)]
    }

    /// Components with a verdict.
    pub fn settled(&self) -> u32 {
        self.by_status.iter().sum()
    }

    /// Components still damaged (corrupt, missing, failed).
    pub fn damaged(&self) -> u32 {
        ComponentStatus::ALL
            .iter()
            .filter(|s| s.is_damage())
            .map(|s| self.count(*s))
            .sum()
    }

    pub fn repaired(&self) -> u32 {
        self.count(ComponentStatus::Repaired)
    }

    /// Side files written again whose MD5 still differs from the manifest's (a warning).
    pub fn regenerated(&self) -> u32 {
        self.count(ComponentStatus::Regenerated)
    }

    /// The work under way in it, the most advanced first.
    pub fn busy(&self) -> Option<Activity> {
        [Activity::Downloading, Activity::Verifying, Activity::Queued]
            .into_iter()
            .find(|a| self.by_activity[activity_index(*a)] > 0)
    }

    /// What the blob's row shows: work under way; else damage as soon as it is found; else
    /// unchecked until every component has its verdict; else the worst verdict.
    pub fn state(&self) -> ComponentState {
        if let Some(activity) = self.busy() {
            return ComponentState::of(Some(activity), None);
        }
        let worst = ComponentStatus::ALL
            .iter()
            .filter(|s| self.count(**s) > 0)
            .map(|s| ComponentState::Done(*s))
            .fold(
                ComponentState::Done(ComponentStatus::Verified),
                ComponentState::worse,
            );
        if worst.is_damage() || self.settled() == self.components {
            worst
        } else {
            ComponentState::Unchecked
        }
    }

    /// The file's verdict in a report: unchecked when nothing is found wrong and some
    /// component has no verdict, or none could be checked (each skipped).
    pub fn verdict(&self) -> FileVerdict {
        let verdict = FileVerdict::of(
            ComponentStatus::ALL
                .into_iter()
                .filter(|s| self.count(*s) > 0),
        );
        let nothing_checked =
            self.components > 0 && self.count(ComponentStatus::Skipped) == self.components;
        match verdict {
            FileVerdict::Verified | FileVerdict::Repaired if self.settled() < self.components => {
                FileVerdict::Unchecked
            }
            FileVerdict::Verified if nothing_checked => FileVerdict::Unchecked,
            verdict => verdict,
        }
    }
}

fn status_index(status: ComponentStatus) -> usize {
    ComponentStatus::ALL
        .iter()
        .position(|s| *s == status)
        .unwrap_or_default()
}

fn activity_index(activity: Activity) -> usize {
    match activity {
        Activity::Queued => 0,
        Activity::Verifying => 1,
        Activity::Downloading => 2,
    }
}

/// The ledger of one run over one drive.
pub struct Ledger {
    drive: Arc<Drive>,
    /// Index of each blob's first component in `records`.
    blob_start: Vec<usize>,
    records: Vec<Record>,
    /// Reasons, hashes and history of components that have more than "verified", and where
    /// each component's are (a map: no bytes added to every record).
    details: Vec<Details>,
    details_of: HashMap<ComponentId, usize>,
    reasons: history::Reasons,
    /// False for a ledger that only counts (the dispatcher's): it keeps no details.
    keeps_details: bool,
    /// Lengths the storage gave for files only the copy log lists, where they differ from
    /// the copy log's `Length` (which may lie): every count of bytes takes these.
    storage_lengths: HashMap<ComponentId, u64>,
    /// Bytes of downloads under way already counted as done, by component.
    in_transit: HashMap<ComponentId, u64>,
    /// Components planned for download whose bytes left the total because they need none.
    unneeded: HashSet<ComponentId>,
    /// Bytes of downloads under way that left the total as empty pages, by component.
    empty_pages: HashMap<ComponentId, u64>,
    blobs: Vec<BlobTally>,
    /// Components and bytes by shown verdict; the rest have none yet.
    by_status: [Tally; 7],
    unsettled: Tally,
    run: Option<RunFacts>,
    verify: Progression,
    download: Progression,
    /// Components whose latest verdict is a download that failed (not damage a check found,
    /// nor an entry refused before anything was downloaded).
    failed_downloads: u64,
    /// Components whose latest verdict is a download that failed because the storage could not
    /// be reached: what a rerun resumes.
    unreachable: HashSet<ComponentId>,
    /// Components under way, by activity.
    by_activity: [u64; 3],
    active_seconds: f64,
    bytes_moved: u64,
    paused: bool,
    idle: bool,
    /// Told to stop: the run ends once the work in flight is done.
    stopping: bool,
    /// What the storage refused, while downloads wait for other credentials.
    awaiting_credentials: Option<CredentialKind>,
    ending: Option<Ending>,
    /// Why the repair file stopped the run, when it did.
    repair_file_error: Option<String>,
    warnings: Vec<String>,
    resumed: Option<Resumed>,
}

impl Ledger {
    /// A ledger that counts, tells progress and outcome, but keeps no reasons, hashes or
    /// histories (the dispatcher's, beside the one its events feed).
    pub fn counting(drive: Arc<Drive>) -> Self {
        Self {
            keeps_details: false,
            ..Self::new(drive)
        }
    }

    pub fn new(drive: Arc<Drive>) -> Self {
        let mut blob_start = Vec::with_capacity(drive.blobs.len());
        let mut next = 0;
        let mut unsettled = Tally::default();
        let blobs = drive
            .blobs
            .iter()
            .map(|blob| {
                blob_start.push(next);
                next += blob.components.len();
                for component in &blob.components {
                    unsettled.components += 1;
                    // Saturating: a hostile copy log's lengths may add up past 2^64.
                    unsettled.bytes = unsettled
                        .bytes
                        .saturating_add(blob.data_bytes_of(component));
                }
                BlobTally {
                    components: blob.components.len() as u32,
                    ..BlobTally::default()
                }
            })
            .collect();
        Self {
            drive,
            blob_start,
            records: vec![Record::default(); next],
            details: Vec::new(),
            details_of: HashMap::new(),
            reasons: history::Reasons::default(),
            keeps_details: true,
            storage_lengths: HashMap::new(),
            in_transit: HashMap::new(),
            unneeded: HashSet::new(),
            empty_pages: HashMap::new(),
            blobs,
            by_status: [Tally::default(); 7],
            unsettled,
            run: None,
            verify: Progression::default(),
            download: Progression::default(),
            failed_downloads: 0,
            unreachable: HashSet::new(),
            by_activity: [0; 3],
            active_seconds: 0.0,
            bytes_moved: 0,
            paused: false,
            idle: false,
            stopping: false,
            awaiting_credentials: None,
            ending: None,
            repair_file_error: None,
            warnings: Vec::new(),
            resumed: None,
        }
    }

    pub fn drive(&self) -> &Arc<Drive> {
        &self.drive
    }

    fn index(&self, id: ComponentId) -> Option<usize> {
        let start = *self.blob_start.get(id.blob as usize)?;
        let blob = self.blobs[id.blob as usize];
        (id.component < blob.components).then_some(start + id.component as usize)
    }

    /// The verdict every view shows for a component (none yet: not reached).
    pub fn status(&self, id: ComponentId) -> Option<ComponentStatus> {
        self.index(id).and_then(|i| self.records[i].status)
    }

    /// Work under way, else the verdict.
    pub fn state(&self, id: ComponentId) -> ComponentState {
        self.index(id).map_or(ComponentState::Unchecked, |i| {
            let record = self.records[i];
            ComponentState::of(record.activity, record.status)
        })
    }

    /// A component's length: the drive's description of it, or for a file only the copy log
    /// lists, the length the storage gave once it did.
    pub fn length(&self, id: ComponentId) -> u64 {
        match self.storage_lengths.get(&id) {
            Some(&length) => length,
            None => self.drive.component(id).length,
        }
    }

    /// Whether [`Self::file_length`] is known: a document gave it, or the storage did.
    pub fn file_length_known(&self, blob: usize) -> bool {
        self.drive.blobs[blob].length_given || self.storage_file_length(blob).is_some()
    }

    /// A file's length, as [`Ledger::length`] knows its whole-file component.
    pub fn file_length(&self, blob: usize) -> u64 {
        let described = &self.drive.blobs[blob];
        if described.in_manifest {
            return described.length;
        }
        self.storage_file_length(blob).unwrap_or(described.length)
    }

    /// The length the storage gave for a file only the copy log lists, when it gave one.
    fn storage_file_length(&self, blob: usize) -> Option<u64> {
        if self.storage_lengths.is_empty() {
            return None;
        }
        let component = self.drive.blobs[blob]
            .components
            .iter()
            .position(|c| c.kind == ComponentKind::File)?;
        self.storage_lengths
            .get(&ComponentId {
                blob: blob as u32,
                component: component as u32,
            })
            .copied()
    }

    /// The bytes a component stands for in the totals, with the length the storage gave.
    fn data_bytes(&self, id: ComponentId) -> u64 {
        let blob = &self.drive.blobs[id.blob as usize];
        if blob.counts_data(self.drive.component(id)) {
            self.length(id)
        } else {
            0
        }
    }

    /// Downloads started for a component in this run.
    pub fn downloads(&self, id: ComponentId) -> u16 {
        self.index(id).map_or(0, |i| self.records[i].downloads)
    }

    /// Reasons, hashes and history, for components that have more than "verified".
    pub fn details(&self, id: ComponentId) -> Option<&Details> {
        let kept = self.details_of.get(&id)?;
        self.details.get(*kept)
    }

    pub fn blob(&self, blob: usize) -> &BlobTally {
        &self.blobs[blob]
    }

    pub fn blobs(&self) -> &[BlobTally] {
        &self.blobs
    }

    pub fn run(&self) -> Option<&RunFacts> {
        self.run.as_ref()
    }

    pub fn mode(&self) -> Option<RunMode> {
        self.run.as_ref().map(|run| run.mode)
    }

    pub fn verify(&self) -> &Progression {
        &self.verify
    }

    pub fn download(&self) -> &Progression {
        &self.download
    }

    /// Whether the run verified or downloaded anything itself: a rerun may take every verdict
    /// from its repair file and end within a millisecond, its times saying nothing.
    pub fn did_work(&self) -> bool {
        self.verify.components_total > 0 || self.download.components_total > 0
    }

    /// Seconds the engine worked: not paused, not waiting for the technician.
    pub fn active_seconds(&self) -> f64 {
        self.active_seconds
    }

    /// Wall time from start to finish (or to `now` while it runs).
    pub fn wall_seconds(&self, now: OffsetDateTime) -> f64 {
        match &self.run {
            Some(run) => {
                let end = self.ending.map_or(now, |ending| ending.at);
                (end - run.started).as_seconds_f64().max(0.0)
            }
            None => 0.0,
        }
    }

    /// Bytes read from the drive or downloaded, re-reads included.
    pub fn bytes_moved(&self) -> u64 {
        self.bytes_moved
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    pub fn idle(&self) -> bool {
        self.idle
    }

    /// Components whose latest verdict is a download that failed.
    pub fn failed_downloads(&self) -> u64 {
        self.failed_downloads
    }

    /// Components whose latest verdict is a download that failed because the storage could not
    /// be reached.
    pub fn unreachable(&self) -> u64 {
        self.unreachable.len() as u64
    }

    /// Components being downloaded (and written) now.
    pub fn downloading(&self) -> u64 {
        self.by_activity[activity_index(Activity::Downloading)]
    }

    pub fn awaiting_credentials(&self) -> bool {
        self.awaiting_credentials.is_some()
    }

    /// What the storage refused (a key or SAS, or an Entra ID identity), while downloads wait
    /// for other credentials.
    pub fn refused_credentials(&self) -> Option<CredentialKind> {
        self.awaiting_credentials
    }

    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    /// Why the repair file stopped the run (nothing more was written after it), if it did.
    pub fn repair_file_error(&self) -> Option<&str> {
        self.repair_file_error.as_deref()
    }

    pub fn finished(&self) -> bool {
        self.ending.is_some()
    }

    pub fn interrupted(&self) -> bool {
        self.ending.is_some_and(|ending| ending.interrupted)
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn resumed(&self) -> Option<Resumed> {
        self.resumed
    }

    /// Whether the run was told to stop and has not ended yet.
    pub fn stopping(&self) -> bool {
        self.stopping && self.ending.is_none()
    }

    pub fn phase(&self) -> Phase {
        if self.ending.is_some() {
            return Phase::Finished {
                outcome: self.outcome(),
                interrupted: self.interrupted(),
            };
        }
        // Stopping outranks the rest (nothing new starts); then waiting for credentials, which
        // needs the technician, paused or not.
        if self.run.is_none() {
            Phase::Starting
        } else if self.stopping {
            Phase::Stopping
        } else if self.awaiting_credentials.is_some() {
            Phase::AwaitingCredentials
        } else if self.paused {
            Phase::Paused
        } else if self.idle {
            Phase::Idle
        } else {
            Phase::Working
        }
    }

    /// Components with the shown verdict `status`.
    pub fn count(&self, status: ComponentStatus) -> u64 {
        self.by_status[status_index(status)].components
    }

    /// Components still damaged (corrupt, missing, failed).
    pub fn damaged(&self) -> u64 {
        ComponentStatus::ALL
            .iter()
            .filter(|s| s.is_damage())
            .map(|s| self.count(*s))
            .sum()
    }

    /// Components without a verdict yet.
    pub fn unsettled(&self) -> u64 {
        self.unsettled.components
    }

    /// Components and bytes by status; components never reached count as skipped.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for status in ComponentStatus::ALL {
            let mut tally = self.by_status[status_index(status)];
            if status == ComponentStatus::Skipped {
                tally.components += self.unsettled.components;
                tally.bytes = tally.bytes.saturating_add(self.unsettled.bytes);
            }
            totals.components += tally.components;
            totals.bytes = totals.bytes.saturating_add(tally.bytes);
            if tally.components > 0 {
                totals.by_status.insert(status, tally);
            }
        }
        totals
    }

    /// The run's verdict so far: incomplete while some component has no verdict and nothing
    /// is found wrong.
    pub fn outcome(&self) -> Outcome {
        match Outcome::of(
            ComponentStatus::ALL
                .into_iter()
                .filter(|s| self.count(*s) > 0),
        ) {
            Outcome::Clean | Outcome::Repaired if self.unsettled.components > 0 => {
                Outcome::Incomplete
            }
            outcome => outcome,
        }
    }

    /// Damaged components in drive order.
    pub fn damaged_components(&self) -> impl Iterator<Item = ComponentId> + '_ {
        self.components_where(ComponentStatus::is_damage)
    }

    /// Components whose shown verdict satisfies `keep`, in drive order.
    pub fn components_where<'a>(
        &'a self,
        keep: impl Fn(ComponentStatus) -> bool + Copy + 'a,
    ) -> impl Iterator<Item = ComponentId> + 'a {
        self.blobs.iter().enumerate().flat_map(move |(b, tally)| {
            let start = self.blob_start[b];
            (0..tally.components).filter_map(move |c| {
                self.records[start + c as usize]
                    .status
                    .filter(|s| keep(*s))
                    .map(|_| ComponentId {
                        blob: b as u32,
                        component: c,
                    })
            })
        })
    }
}

#[cfg(test)]
mod tests;
