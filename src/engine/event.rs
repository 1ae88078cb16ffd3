//! What goes into the engine (`Command`) and what comes out (`Event`). Events are plain data:
//! serialisable, no references, so the console, the headless reporter, the report writers and
//! the NDJSON stream all consume the same facts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::format::Md5;
use crate::model::{ComponentId, ComponentKind, ComponentStatus, Outcome};

/// Requests into a running engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Stop starting new work; work in flight finishes.
    Pause,
    Resume,
    /// Finish what is in flight, record it, and end the run as interrupted.
    Cancel,
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
    /// A component reached a verdict.
    Component(ComponentEvent),
    /// Throttled to at most ten a second.
    Progress(Progress),
    RunFinished {
        outcome: Outcome,
        totals: Totals,
        #[serde(with = "time::serde::rfc3339")]
        finished: OffsetDateTime,
        /// The run was cancelled or interrupted before every component was looked at.
        interrupted: bool,
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
