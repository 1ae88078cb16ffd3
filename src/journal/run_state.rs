//! Whether the last repair over the file stopped short: set when a run starts (so that a run
//! killed outright is seen as such), cleared when one ends with nothing left undone. What a
//! later `report --repair-file` says of the run comes from here and from the verdicts, as
//! the run's own report did.
//!
//! A table of its own, added to older repair files when opened: an older version of the tool
//! ignores it.

use rusqlite::OptionalExtension;

use super::{JournalError, RepairFile};

const RUN_STATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS run_state (
                 id INTEGER PRIMARY KEY CHECK (id = 0),
                 stopped_short INTEGER NOT NULL
             );";

impl RepairFile {
    /// Adds the run-state table to a repair file that lacks it.
    pub(super) fn ensure_run_state_table(&self) -> Result<(), JournalError> {
        self.connection
            .execute_batch(RUN_STATE_TABLE)
            .map_err(self.sqlite())
    }

    /// Records whether the run stopped short (left something unchecked or damaged that a
    /// rerun would see to).
    pub fn record_stopped_short(&mut self, stopped_short: bool) -> Result<(), JournalError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO run_state (id, stopped_short) VALUES (0, ?1)",
                [stopped_short],
            )
            .map(drop)
            .map_err(self.sqlite())
    }

    /// Whether the last run stopped short; `None` when no run recorded it (a file of an
    /// older version).
    pub fn stopped_short(&self) -> Result<Option<bool>, JournalError> {
        if !self.has_table("run_state")? {
            return Ok(None);
        }
        self.connection
            .query_row(
                "SELECT stopped_short FROM run_state WHERE id = 0",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.sqlite())
    }
}
