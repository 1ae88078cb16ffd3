//! What goes into the engine (`Command`) and what comes out (`Event`). Events are plain data:
//! serialisable, no references, so the console, the headless reporter, the report writers and
//! the NDJSON stream all consume the same facts.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::format::Md5;
use crate::model::{ComponentId, ComponentKind, ComponentStatus, Drive, Outcome};
use crate::source::BlobSource;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// Planned for download.
    Queued,
    Verifying,
    Downloading,
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
    },
    /// Something the user should know that is not a component's failure.
    Warning { message: String },
    /// The storage refused the credentials (wrong or rotated key, expired SAS): the run
    /// stops; what was done is recorded and a rerun with new credentials resumes.
    CredentialsRefused { message: String },
    /// Components of one blob started (or are queued for) some work.
    Working {
        blob: u32,
        components: Vec<u32>,
        activity: Activity,
    },
    /// A component reached a verdict.
    Component(ComponentEvent),
    /// Throttled to at most ten a second.
    Progress(Progress),
    /// A rerun resumed from its repair file: `taken` verdicts were taken from it (their files
    /// unchanged since), `checked_again` recorded components are verified again.
    Resumed { taken: u64, checked_again: u64 },
    /// A run kept open has done everything asked of it and waits for commands
    /// (`Retry`, `Verify`, `UseSource`, `Finish`).
    Idle { outcome: Outcome, totals: Totals },
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
    },
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
    pub expected_md5: Option<Md5>,
    pub actual_md5: Option<Md5>,
    pub reason: Option<String>,
}

/// How a resumed run's rerun is described to the user, the same words everywhere.
pub fn resumed_text(taken: u64, checked_again: u64) -> String {
    format!(
        "resuming from the repair file: {taken} verdicts taken from it (their files unchanged \
         since), {checked_again} recorded components checked again"
    )
}

impl ComponentEvent {
    /// A verdict on component `id` of `drive`, with the component's own facts filled in.
    pub fn new(
        drive: &Drive,
        id: ComponentId,
        status: ComponentStatus,
        actual_md5: Option<Md5>,
        reason: Option<String>,
    ) -> Self {
        let blob = &drive.blobs[id.blob as usize];
        let component = drive.component(id);
        Self {
            id,
            file_path: blob
                .component_file_path(component)
                .unwrap_or(&blob.file_path)
                .to_string(),
            kind: component.kind,
            offset: component.offset,
            length: component.length,
            status,
            expected_md5: component.expected_md5,
            actual_md5,
            reason,
        }
    }
}

/// How far the run is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub components_done: u64,
    pub components_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Over the last few seconds.
    pub bytes_per_second: u64,
    pub eta_seconds: Option<u64>,
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
        self.bytes += bytes;
        let tally = self.by_status.entry(status).or_default();
        tally.components += 1;
        tally.bytes += bytes;
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

    /// docs/events.md documents every kind of event, under the name the stream uses.
    #[test]
    fn every_event_kind_is_documented() {
        let doc = include_str!("../../docs/events.md");
        let at = OffsetDateTime::UNIX_EPOCH;
        let id = ComponentId {
            blob: 0,
            component: 0,
        };
        let events = [
            Event::RunStarted {
                mode: RunMode::Repair,
                drive_id: "D".into(),
                blobs: 1,
                components: 1,
                bytes: 1,
                started: at,
            },
            Event::Warning {
                message: String::new(),
            },
            Event::CredentialsRefused {
                message: String::new(),
            },
            Event::Working {
                blob: 0,
                components: vec![0],
                activity: Activity::Queued,
            },
            Event::Component(ComponentEvent {
                id,
                file_path: String::new(),
                kind: ComponentKind::Block,
                offset: 0,
                length: 1,
                status: ComponentStatus::Verified,
                expected_md5: None,
                actual_md5: None,
                reason: None,
            }),
            Event::Progress(Progress::default()),
            Event::Idle {
                outcome: Outcome::Clean,
                totals: Totals::default(),
            },
            Event::Resumed {
                taken: 1,
                checked_again: 0,
            },
            Event::RunFinished {
                outcome: Outcome::Clean,
                totals: Totals::default(),
                finished: at,
                interrupted: false,
                repair_file_error: None,
            },
        ];
        // Exhaustive: a new kind of event does not compile until it is named here, given a
        // sample above and documented.
        let kind = |event: &Event| match event {
            Event::RunStarted { .. } => "run_started",
            Event::Warning { .. } => "warning",
            Event::CredentialsRefused { .. } => "credentials_refused",
            Event::Working { .. } => "working",
            Event::Component(_) => "component",
            Event::Progress(_) => "progress",
            Event::Resumed { .. } => "resumed",
            Event::Idle { .. } => "idle",
            Event::RunFinished { .. } => "run_finished",
        };
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            let name = json["event"].as_str().unwrap();
            assert_eq!(name, kind(&event));
            assert!(
                doc.contains(&format!("| `{name}` |")),
                "{name} is not in docs/events.md"
            );
        }
    }
}
