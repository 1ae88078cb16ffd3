//! The storage's length of a file only the copy log lists, once a repair asked for it: a later
//! `report --repair-file` gives the file that length, as the run's report did (the copy log's
//! `Length` may lie, and a 2021 copy log gives none), also when its download then failed.
//!
//! A table of its own, added to older repair files when opened: an older version of the tool
//! ignores it.

use rusqlite::{OptionalExtension, params};

use super::{JournalError, RepairFile};
use crate::format::drive_path::claim_key;
use crate::model::Drive;

const STORAGE_LENGTH_TABLE: &str = "CREATE TABLE IF NOT EXISTS storage_length (
                 file_key TEXT PRIMARY KEY,
                 length INTEGER NOT NULL
             ) WITHOUT ROWID;";

impl RepairFile {
    /// Adds the storage-length table to a repair file that lacks it.
    pub(super) fn ensure_storage_length_table(&self) -> Result<(), JournalError> {
        self.connection
            .execute_batch(STORAGE_LENGTH_TABLE)
            .map_err(self.sqlite())
    }

    /// Records the storage's length of `blob`'s file.
    pub fn record_storage_length(
        &mut self,
        drive: &Drive,
        blob: u32,
        length: u64,
    ) -> Result<(), JournalError> {
        let Some(file_key) = file_key(drive, blob) else {
            return Ok(());
        };
        self.connection
            .execute(
                "INSERT OR REPLACE INTO storage_length (file_key, length) VALUES (?1, ?2)",
                params![file_key, length as i64],
            )
            .map(drop)
            .map_err(self.sqlite())
    }

    /// The storage's length of `blob`'s file, if a repair recorded it (a value that does not
    /// read back as a length, from a foreign edit, is none).
    pub fn storage_length(&self, drive: &Drive, blob: u32) -> Result<Option<u64>, JournalError> {
        let Some(file_key) = file_key(drive, blob) else {
            return Ok(None);
        };
        if !self.has_table("storage_length")? {
            return Ok(None);
        }
        let length: Option<i64> = self
            .connection
            .query_row(
                "SELECT length FROM storage_length WHERE file_key = ?1",
                [file_key],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.sqlite())?;
        Ok(length.and_then(|length| u64::try_from(length).ok()))
    }
}

fn file_key(drive: &Drive, blob: u32) -> Option<String> {
    claim_key(&drive.blobs.get(blob as usize)?.file_path).ok()
}
