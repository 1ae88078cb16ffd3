//! The storage's length of a file only the copy log lists, once a repair asked for it: a later
//! `report --repair-file` gives the file that length, as the run's report did (the copy log's
//! `Length` may lie, and a 2021 copy log gives none), also when its download then failed.
//!
//! A table of its own, added to older repair files when opened: an older version of the tool
//! ignores it.

use std::collections::HashMap;

use rusqlite::params;

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

    /// The storage's lengths recorded for files only the copy log lists, by blob (a value
    /// that does not read back as a length, from a foreign edit, is left out).
    pub fn storage_lengths(&self, drive: &Drive) -> Result<HashMap<u32, u64>, JournalError> {
        if !self.has_table("storage_length")? {
            return Ok(HashMap::new());
        }
        let by_key: HashMap<String, u32> = (0..drive.blobs.len() as u32)
            .filter(|&blob| !drive.blobs[blob as usize].in_manifest)
            .filter_map(|blob| Some((file_key(drive, blob)?, blob)))
            .collect();
        let mut statement = self
            .connection
            .prepare("SELECT file_key, length FROM storage_length")
            .map_err(self.sqlite())?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(self.sqlite())?;
        let mut lengths = HashMap::new();
        for (key, length) in rows.flatten() {
            if let (Some(&blob), Ok(length)) = (by_key.get(&key), u64::try_from(length)) {
                lengths.insert(blob, length);
            }
        }
        Ok(lengths)
    }
}

fn file_key(drive: &Drive, blob: u32) -> Option<String> {
    claim_key(&drive.blobs.get(blob as usize)?.file_path).ok()
}
