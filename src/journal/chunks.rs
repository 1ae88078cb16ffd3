//! The CRC-64 of each chunk of a blob, as the storage gave it for a chunk-wise repair, pinned
//! to the blob's ETag: facts about the exported version that stay true as long as the ETag is
//! the same. A rerun uses them to skip downloading every chunk the drive already holds (the
//! chunks an interrupted repair wrote, and those it found right), and still checks every
//! chunk's CRC against the verbose log's whole-file CRC-64 before anything is written.
//!
//! They live in a table of their own, added to older repair files when opened: an older
//! version of the tool ignores it.

use std::collections::HashMap;

use rusqlite::params;

use super::{JournalError, RepairFile, classify};
use crate::format::drive_path::claim_key;
use crate::model::{ComponentKind, Drive};

/// Chunk CRCs by file, range and ETag.
pub(super) const CHUNK_TABLE: &str = "CREATE TABLE IF NOT EXISTS chunk_crc (
                 file_key TEXT NOT NULL,
                 offset INTEGER NOT NULL,
                 length INTEGER NOT NULL,
                 etag TEXT NOT NULL,
                 crc64 TEXT NOT NULL,
                 PRIMARY KEY (file_key, offset, length, etag)
             ) WITHOUT ROWID;";

/// The file key and ETag a blob's chunk CRCs are kept under; none for a blob without an ETag
/// or a file path that has no NTFS name.
fn keys(drive: &Drive, blob: u32) -> Option<(String, String)> {
    let blob = drive.blobs.get(blob as usize)?;
    let etag = blob.export.as_deref()?.etag.clone()?;
    Some((claim_key(&blob.file_path).ok()?, etag))
}

impl RepairFile {
    /// Adds the chunk table to a repair file that lacks it (one made before chunk-wise
    /// repairs, or a new one).
    pub(super) fn ensure_chunk_table(&self) -> Result<(), JournalError> {
        if !self.has_table("chunk_crc")? {
            self.connection
                .execute_batch(CHUNK_TABLE)
                .map_err(self.sqlite())?;
        }
        Ok(())
    }

    /// Records the storage's CRC-64 of chunks of `blob` (component index, CRC).
    pub fn record_chunk_crcs(
        &mut self,
        drive: &Drive,
        blob: u32,
        crcs: &[(u32, u64)],
    ) -> Result<(), JournalError> {
        let Some((file_key, etag)) = keys(drive, blob) else {
            return Ok(());
        };
        let path = self.path.clone();
        let error = |source| classify(&path, source);
        let transaction = self.connection.transaction().map_err(error)?;
        {
            let mut statement = transaction
                .prepare_cached("INSERT OR REPLACE INTO chunk_crc VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(error)?;
            let components = &drive.blobs[blob as usize].components;
            for &(component, crc) in crcs {
                let Some(chunk) = components.get(component as usize) else {
                    continue;
                };
                statement
                    .execute(params![
                        file_key,
                        chunk.offset as i64,
                        chunk.length as i64,
                        etag,
                        crc.to_string()
                    ])
                    .map_err(error)?;
            }
        }
        transaction.commit().map_err(error)
    }

    /// The recorded CRC-64s of `blob`'s chunks under its current ETag, by component index.
    pub fn chunk_crcs(&self, drive: &Drive, blob: u32) -> Result<HashMap<u32, u64>, JournalError> {
        let Some((file_key, etag)) = keys(drive, blob) else {
            return Ok(HashMap::new());
        };
        // A file made before chunk-wise repairs, opened only to be read, has no such table.
        if !self.has_table("chunk_crc")? {
            return Ok(HashMap::new());
        }
        let by_range: HashMap<(i64, i64), u32> = drive.blobs[blob as usize]
            .components
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kind == ComponentKind::Chunk)
            .map(|(index, c)| ((c.offset as i64, c.length as i64), index as u32))
            .collect();
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT offset, length, crc64 FROM chunk_crc WHERE file_key = ?1 AND etag = ?2",
            )
            .map_err(self.sqlite())?;
        let rows = statement
            .query_map(params![file_key, etag], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(self.sqlite())?;
        let mut crcs = HashMap::new();
        for row in rows {
            // A row that does not read back (a foreign edit) is only a hint lost.
            let Ok((offset, length, crc)) = row else {
                continue;
            };
            if let (Some(&component), Ok(crc)) = (by_range.get(&(offset, length)), crc.parse()) {
                crcs.insert(component, crc);
            }
        }
        Ok(crcs)
    }
}
