//! What goes into the engine (`Command`) and what comes out (`Event`). Events are plain data:
//! serialisable, no references, so the console, the headless reporter, the report writers and
//! the NDJSON stream all consume the same facts.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::verify::Finding;
use crate::format::Md5;
use crate::format::crc64::as_text;
use crate::model::{ComponentId, ComponentKind, ComponentStatus, Drive, Outcome};
use crate::source::{BlobSource, CredentialKind};

/// Requests into a running engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Stop starting new work; work in flight finishes.
    Pause,
    Resume,
    /// Finish what is in flight, record it, and end the run as interrupted.
    Cancel,
    /// Download these components again, whatever their state (a repair run kept open).
    Retry(Vec<ComponentId>),
    /// Verify these components again and repair what does not verify (a repair run kept open).
    Verify(Vec<ComponentId>),
    /// Read from this source from now on (new credentials); downloads waiting because the
    /// old credentials were refused start again.
    UseSource(SourceHandle),
    /// End a run kept open once its work is done.
    Finish,
}

/// A source to switch to, comparable by identity so that `Command` stays plain data.
#[derive(Clone)]
pub struct SourceHandle(pub Arc<dyn BlobSource>);

impl std::fmt::Debug for SourceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SourceHandle({})", self.0.describe())
    }
}

impl PartialEq for SourceHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SourceHandle {}

/// Work a component is waiting for or going through (before its verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// Planned for download.
    Queued,
    Verifying,
    Downloading,
}

/// The two kinds of work a run plans and measures separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// Reading components from the drive and hashing them.
    Verify,
    /// Fetching components from the source and writing them to the drive.
    Download,
}

/// What kind of run this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    Verify,
    Repair,
}

/// Facts out of the engine, in the order they happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        mode: RunMode,
        drive_id: String,
        blobs: usize,
        components: usize,
        bytes: u64,
        #[serde(with = "time::serde::rfc3339")]
        started: OffsetDateTime,
        /// The drive's root being verified or repaired.
        #[serde(default)]
        target: String,
        /// Where downloads come from (an endpoint and how it is signed in, or a local
        /// mirror); none for a verification.
        #[serde(default)]
        source: Option<String>,
        /// The repair file; none for a verification.
        #[serde(default)]
        repair_file: Option<String>,
    },
    /// Something the user should know that is not a component's failure.
    Warning {
        message: String,
    },
    /// The storage refused the credentials (wrong or rotated key, expired SAS, an Entra ID
    /// identity without a data role): the run stops; what was done is recorded and a rerun
    /// with new credentials (or the role given) resumes.
    CredentialsRefused {
        message: String,
        /// A key or SAS, or an Entra ID sign-in.
        #[serde(default)]
        credentials: CredentialKind,
    },
    /// Downloads read from a new source from now on (new credentials were given).
    SourceChanged {
        source: String,
    },
    /// A rerun read its repair file: `components` verdicts were taken from it (their files
    /// unchanged since; they come just before as `component` events), `repaired` and
    /// `verified` of them so; `checked_again` recorded components are verified or tried again.
    Resumed {
        components: u64,
        repaired: u64,
        verified: u64,
        #[serde(default)]
        checked_again: u64,
    },
    /// Work was planned: its components and bytes join that work's totals.
    Planned {
        work: Work,
        components: u64,
        bytes: u64,
    },
    /// Components of one blob started (or are queued for) some work.
    Working {
        blob: u32,
        components: Vec<u32>,
        activity: Activity,
    },
    /// The storage gave the length of a file only the copy log lists, and it is not the
    /// copy log's `Length` (which may lie): every count of bytes takes it from here.
    StorageLength {
        id: ComponentId,
        length: u64,
    },
    /// Bytes of a component's download that came before its verdict (a range's as they
    /// arrive; a whole file's or a missing end's as written): they count as done from here.
    Transferred {
        id: ComponentId,
        bytes: u64,
    },
    /// A component planned for download needs none: the drive holds the bytes whose CRC-64 the
    /// repair file recorded for the blob's (a chunk of an interrupted chunk-wise repair). Its
    /// bytes leave the download's total; a `Working` downloading brings them back, should it
    /// be downloaded after all.
    DownloadUnneeded {
        id: ComponentId,
    },
    /// Part of a whole download needs no request: `bytes` of it lie in the pages the storage
    /// lists as empty (they read as zeros, and stay holes in the file). They leave the
    /// download's total now; a `Working` downloading of the component brings them back.
    EmptyPages {
        id: ComponentId,
        bytes: u64,
    },
    /// The storage could not be reached for these components (their downloads failed after
    /// every retry, after their verdicts came): a rerun resumes them. A later verdict of one
    /// takes it out.
    StorageUnreachable {
        components: Vec<ComponentId>,
        message: String,
    },
    /// A download waits seconds or more before it asks the storage again (a throttled storage
    /// may ask for minutes): what failed and when it tries again. Said, not kept in reports.
    WaitingForStorage {
        message: String,
    },
    /// A component reached a verdict.
    Component(ComponentEvent),
    /// Throttled to at most ten a second.
    Progress(Progress),
    /// The run was told to stop (a cancel, a quit, a signal): nothing new starts; the work in
    /// flight finishes, then `run_finished` comes.
    Stopping,
    /// No new work starts until `continued`; work in flight finishes.
    Paused,
    Continued,
    /// A run kept open has done everything asked of it and waits for commands
    /// (`Retry`, `Verify`, `UseSource`, `Finish`).
    Idle {
        outcome: Outcome,
        totals: Totals,
        /// Seconds the engine has worked so far (not paused, not waiting).
        #[serde(default)]
        active_seconds: f64,
    },
    /// A dry run's plan, after its verification: what a repair would download and from
    /// where. Nothing was downloaded or written.
    WouldDownload(DownloadPlan),
    RunFinished {
        outcome: Outcome,
        totals: Totals,
        #[serde(with = "time::serde::rfc3339")]
        finished: OffsetDateTime,
        /// The run was cancelled or interrupted before every component was looked at.
        interrupted: bool,
        /// The repair file could not be read or written, which stopped the run (nothing more
        /// was written to the drive after it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repair_file_error: Option<String>,
        /// Seconds the engine worked (not paused, not waiting for the technician).
        #[serde(default)]
        active_seconds: f64,
    },
}

/// What a repair would download: each request, with the drive file it is for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DownloadPlan {
    /// Where the bytes would come from (the source's description, without secrets).
    pub source: String,
    pub downloads: Vec<PlannedDownload>,
}

/// One request a repair would make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedDownload {
    pub what: PlannedKind,
    /// The file on the drive it is for (drive path, `\`-separated).
    pub file_path: String,
    /// The blob it reads: `<container>/<name>`, `?snapshot=…` for a snapshot.
    pub blob: String,
    /// The bytes it reads: a range of the blob, or the whole blob (its length as the copy log
    /// gives it); none for a properties or metadata file or a length.
    pub offset: u64,
    pub length: u64,
    /// Why a repair would refuse it before reading anything (a component too large to check
    /// in memory, bytes nothing could let be written); absent when it would be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// Kinds of [`PlannedDownload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlannedKind {
    /// Adjacent blocks or page ranges in one ranged read.
    Range,
    /// A blob known only from the copy log, read whole.
    WholeFile,
    /// A properties or metadata file regenerated from the blob's properties.
    SideFile,
    /// A file brought to its length (extended, or truncated once the rest is right): no read.
    Length,
    /// The missing end of a file only the copy log lists, cut short: its bytes from where it
    /// ends (or from where the first range it cuts short starts) to its `Length`, read pinned
    /// to the export once the storage's length agrees; the ranges in it come with it.
    MissingEnd,
    /// A file checked by CRC-64 (drives from 2021 on): the whole blob read chunk by chunk,
    /// only the chunks that differ written.
    Chunks,
}

impl DownloadPlan {
    /// Requests that read bytes (ranges and whole files), less those a repair would refuse.
    pub fn reads(&self) -> impl Iterator<Item = &PlannedDownload> {
        self.downloads.iter().filter(|d| {
            d.refused.is_none()
                && matches!(
                    d.what,
                    PlannedKind::Range
                        | PlannedKind::WholeFile
                        | PlannedKind::Chunks
                        | PlannedKind::MissingEnd
                )
        })
    }

    /// The bytes those requests read.
    pub fn bytes(&self) -> u64 {
        self.reads().map(|d| d.length).fold(0, u64::saturating_add)
    }

    /// The drive files the plan touches, each once.
    pub fn files(&self) -> usize {
        let mut files: Vec<&str> = self
            .downloads
            .iter()
            .filter(|d| d.refused.is_none())
            .map(|d| d.file_path.as_str())
            .collect();
        files.sort_unstable();
        files.dedup();
        files.len()
    }
}

/// A component's verdict, with enough context to be read on its own (NDJSON consumers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentEvent {
    pub id: ComponentId,
    pub file_path: String,
    pub kind: ComponentKind,
    pub offset: u64,
    pub length: u64,
    pub status: ComponentStatus,
    /// What the manifest says the bytes hash to.
    pub expected_md5: Option<Md5>,
    /// What the bytes on the drive hash to (read, or read back after writing).
    pub drive_md5: Option<Md5>,
    /// What the bytes the source gave hash to.
    #[serde(default)]
    pub storage_md5: Option<Md5>,
    /// Files checked by CRC-64 (drives from 2021 on), each a decimal string: the verbose
    /// log's CRC-64 of the whole file (the whole-file check only) …
    #[serde(default, skip_serializing_if = "Option::is_none", with = "as_text")]
    pub expected_crc64: Option<u64>,
    /// … the CRC-64 of the bytes on the drive (a chunk's, or the whole file's) …
    #[serde(default, skip_serializing_if = "Option::is_none", with = "as_text")]
    pub drive_crc64: Option<u64>,
    /// … and of the bytes the source gave for the same range.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "as_text")]
    pub storage_crc64: Option<u64>,
    pub reason: Option<String>,
    /// Bytes read from the drive or downloaded to reach this verdict.
    #[serde(default)]
    pub bytes: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// How a rerun's resumption is described to the user, the same words everywhere.
pub fn resumed_text(components: u64, repaired: u64, verified: u64, checked_again: u64) -> String {
    // The rest of what is taken: verdicts that are neither damage nor checked.
    let others = match components.saturating_sub(repaired + verified) {
        0 => String::new(),
        others => format!(", {others} skipped or regenerated"),
    };
    format!(
        "resuming from the repair file: {components} verdicts taken from it ({repaired} \
         repaired, {verified} verified{others}; their files unchanged since), {checked_again} \
         recorded components checked again"
    )
}

impl ComponentEvent {
    /// A finding on a component of `drive`, with the component's own facts filled in.
    pub fn new(drive: &Drive, finding: Finding, at: OffsetDateTime) -> Self {
        let blob = &drive.blobs[finding.id.blob as usize];
        let component = drive.component(finding.id);
        Self {
            id: finding.id,
            file_path: blob
                .component_file_path(component)
                .unwrap_or(&blob.file_path)
                .to_string(),
            kind: component.kind,
            offset: component.offset,
            length: finding
                .proven_file_length(drive)
                .unwrap_or(component.length),
            status: finding.status,
            expected_md5: component.expected_md5,
            drive_md5: finding.actual_md5,
            storage_md5: finding.storage_md5,
            expected_crc64: blob.expected_crc64(component),
            drive_crc64: finding.crc64.drive,
            storage_crc64: finding.crc64.storage,
            reason: finding.reason,
            bytes: finding.bytes,
            at,
        }
    }
}

/// How far the run is: verification and downloads, each measured on its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub verify: Progression,
    pub download: Progression,
    /// Seconds the engine has worked so far (not paused, not waiting).
    pub active_seconds: f64,
}

/// One kind of work: what was planned, what is done, how fast it goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progression {
    pub components_done: u64,
    pub components_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Over the last few seconds; none while paused or before it can be measured.
    pub bytes_per_second: Option<u64>,
    pub eta_seconds: Option<u64>,
}

impl Progression {
    /// Every planned component has its verdict.
    pub fn is_complete(&self) -> bool {
        self.components_done >= self.components_total
    }

    /// What the share done is measured in: bytes, or components while the plan has no bytes
    /// (a file the copy log lists without a length, before the storage tells it).
    fn measure(&self) -> (u64, u64) {
        match self.bytes_total {
            0 => (self.components_done, self.components_total),
            total => (self.bytes_done, total),
        }
    }

    /// The share done, 0 to 1 (0 for a plan of nothing), for a bar.
    pub fn fraction_done(&self) -> f64 {
        match self.measure() {
            (_, 0) => 0.0,
            (done, total) => (done as f64 / total as f64).min(1.0),
        }
    }

    /// The share done in whole percent, rounded down: 100 only once all of it is done.
    pub fn percent_done(&self) -> u64 {
        let (done, total) = self.measure();
        // Widened: a copy log may claim a length near u64::MAX.
        (u128::from(done) * 100)
            .checked_div(u128::from(total))
            .map_or(0, |percent| percent.min(100) as u64)
    }
}

/// Components and bytes by status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub components: u64,
    pub bytes: u64,
    pub by_status: BTreeMap<ComponentStatus, Tally>,
}

/// A count of components and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub components: u64,
    pub bytes: u64,
}

impl Totals {
    pub fn add(&mut self, status: ComponentStatus, bytes: u64) {
        self.components += 1;
        self.bytes = self.bytes.saturating_add(bytes);
        let tally = self.by_status.entry(status).or_default();
        tally.components += 1;
        tally.bytes = tally.bytes.saturating_add(bytes);
    }

    pub fn count(&self, status: ComponentStatus) -> u64 {
        self.by_status.get(&status).map_or(0, |t| t.components)
    }

    /// Components that are still damaged.
    pub fn damaged(&self) -> u64 {
        ComponentStatus::ALL
            .iter()
            .filter(|s| s.is_damage())
            .map(|s| self.count(*s))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verdicts taken that are neither repaired nor verified are counted too: the numbers
    /// add up to those taken.
    ///
    /// Seen failing: "4 verdicts taken from it (0 repaired, 2 verified; …)".
    #[test]
    fn a_resumption_accounts_for_every_verdict_taken() {
        assert_eq!(
            resumed_text(4, 0, 2, 1),
            "resuming from the repair file: 4 verdicts taken from it (0 repaired, 2 verified, \
             2 skipped or regenerated; their files unchanged since), 1 recorded components \
             checked again"
        );
        assert!(resumed_text(3, 1, 2, 0).contains("(1 repaired, 2 verified; their"));
    }

    /// Every kind of event, one after the other: the match is exhaustive, so a new kind does
    /// not compile until it takes its place in the chain (and then must be documented).
    fn after(event: Option<&Event>) -> Option<Event> {
        let at = OffsetDateTime::UNIX_EPOCH;
        Some(match event {
            None => Event::RunStarted {
                mode: RunMode::Repair,
                drive_id: "D".into(),
                blobs: 1,
                components: 1,
                bytes: 1,
                started: at,
                target: "/mnt/drive".into(),
                source: Some("local mirror /mnt/mirror".into()),
                repair_file: Some("D.rep".into()),
            },
            Some(Event::RunStarted { .. }) => Event::Warning {
                message: "w".into(),
            },
            Some(Event::Warning { .. }) => Event::CredentialsRefused {
                message: "403".into(),
                credentials: CredentialKind::EntraId,
            },
            Some(Event::CredentialsRefused { .. }) => Event::SourceChanged {
                source: "Azure http://127.0.0.1:1/a (account key)".into(),
            },
            Some(Event::SourceChanged { .. }) => Event::Resumed {
                components: 2,
                repaired: 1,
                verified: 1,
                checked_again: 1,
            },
            Some(Event::Resumed { .. }) => Event::Planned {
                work: Work::Verify,
                components: 1,
                bytes: 1,
            },
            Some(Event::Planned { .. }) => Event::Working {
                blob: 0,
                components: vec![0],
                activity: Activity::Queued,
            },
            Some(Event::Working { .. }) => Event::StorageLength {
                id: ComponentId {
                    blob: 0,
                    component: 0,
                },
                length: 5,
            },
            Some(Event::StorageLength { .. }) => Event::Transferred {
                id: ComponentId {
                    blob: 0,
                    component: 0,
                },
                bytes: 3,
            },
            Some(Event::Transferred { .. }) => Event::DownloadUnneeded {
                id: ComponentId {
                    blob: 0,
                    component: 0,
                },
            },
            Some(Event::DownloadUnneeded { .. }) => Event::EmptyPages {
                id: ComponentId {
                    blob: 0,
                    component: 0,
                },
                bytes: 2,
            },
            Some(Event::EmptyPages { .. }) => Event::StorageUnreachable {
                components: vec![ComponentId {
                    blob: 0,
                    component: 0,
                }],
                message: "storage unavailable after 6 attempts".into(),
            },
            Some(Event::StorageUnreachable { .. }) => Event::WaitingForStorage {
                message: "read c/a [0, 4): HTTP 503; trying again in 3 s (attempt 3 of 6)".into(),
            },
            Some(Event::WaitingForStorage { .. }) => Event::Component(ComponentEvent {
                id: ComponentId {
                    blob: 0,
                    component: 0,
                },
                file_path: "\\c\\a".into(),
                kind: ComponentKind::Block,
                offset: 0,
                length: 1,
                status: ComponentStatus::Verified,
                expected_md5: None,
                drive_md5: None,
                storage_md5: None,
                expected_crc64: Some(16_033_727_819_182_370_206),
                drive_crc64: Some(1),
                storage_crc64: None,
                reason: None,
                bytes: 1,
                at,
            }),
            Some(Event::Component(_)) => Event::Progress(Progress::default()),
            Some(Event::Progress(_)) => Event::Stopping,
            Some(Event::Stopping) => Event::Paused,
            Some(Event::Paused) => Event::Continued,
            Some(Event::Continued) => Event::Idle {
                outcome: Outcome::Clean,
                totals: Totals::default(),
                active_seconds: 0.5,
            },
            Some(Event::Idle { .. }) => Event::WouldDownload(DownloadPlan {
                source: "Azure https://a.blob.core.windows.net (Entra ID: Azure CLI)".into(),
                downloads: vec![PlannedDownload {
                    what: PlannedKind::Range,
                    file_path: "\\c\\a".into(),
                    blob: "c/a".into(),
                    offset: 0,
                    length: 1,
                    refused: Some("too large".into()),
                }],
            }),
            Some(Event::WouldDownload(_)) => Event::RunFinished {
                outcome: Outcome::Clean,
                totals: Totals::default(),
                finished: at,
                interrupted: false,
                repair_file_error: Some("disk full".into()),
                active_seconds: 0.5,
            },
            Some(Event::RunFinished { .. }) => return None,
        })
    }

    /// docs/events.md documents every kind of event under the name the stream uses, and
    /// each reads back as it was written.
    #[test]
    fn every_event_kind_is_documented_and_reads_back() {
        let doc = include_str!("../../docs/events.md");
        let mut event = after(None);
        let mut kinds = 0;
        while let Some(current) = event {
            let json = serde_json::to_value(&current).unwrap();
            let name = json["event"].as_str().unwrap();
            assert!(
                doc.contains(&format!("| `{name}` |")),
                "{name} is not in docs/events.md"
            );
            let back: Event = serde_json::from_value(json).unwrap();
            assert_eq!(back, current);
            kinds += 1;
            event = after(Some(&current));
        }
        assert_eq!(kinds, 21);
    }
}
