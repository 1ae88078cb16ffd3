//! Rows of the repair file: the drive recorded once, intents and verdicts per component, and
//! reading them back by identity.

use std::collections::HashMap;
use std::str::FromStr;

use rusqlite::{OptionalExtension, ToSql, params};

use super::{
    Binding, Done, Entry, EntryState, JournalError, RepairFile, SCHEMA_VERSION, classify, now,
    now_ns, parse_status,
};
use crate::format::Md5;
use crate::format::drive_path::claim_key;
use crate::model::{Blob, Component, ComponentId, ComponentKind, ComponentStatus, Drive};
use crate::rooted::FileIdentity;

/// How the key of a refused entry's component begins.
const REFUSED_KEY: &str = "\0refused ";

/// What identifies a component across runs and versions of the tool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    file_key: String,
    kind: &'static str,
    offset: i64,
    length: i64,
}

impl Key {
    fn of(id: ComponentId, blob: &Blob, component: &Component) -> Self {
        let file_path = blob
            .component_file_path(component)
            .unwrap_or(&blob.file_path);
        // An unsafe path has no NTFS name; its text keeps it apart from every other. A refused
        // entry (one of two that name one file) is kept apart by its place in the inputs,
        // which the repair file's binding fixes: twins must not share rows.
        let file_key = match (&blob.refusal, claim_key(file_path)) {
            (Some(_), _) => format!("{REFUSED_KEY}{}\0{file_path}", id.blob),
            (None, Ok(key)) => key,
            (None, Err(_)) => format!("\0{file_path}"),
        };
        Self {
            file_key,
            kind: component.kind.as_str(),
            offset: component.offset as i64,
            length: component.length as i64,
        }
    }
}

impl RepairFile {
    /// Records the drive itself (every blob and component), so that a report can be made
    /// from the repair file alone: when the file is created, and again when the drive it
    /// holds is numbered otherwise (made by another version of the tool, which models some
    /// entries with other components). Rows keep their verdicts and take this drive's
    /// numbers; rows of components it no longer has are dropped.
    pub fn record_drive(&mut self, drive: &Drive) -> Result<(), JournalError> {
        let path = self.path.clone();
        let error = |source| classify(&path, source);
        let transaction = self.connection.transaction().map_err(error)?;
        {
            // Every row is unclaimed (negative) until a component of this drive claims it.
            transaction
                .execute_batch("DELETE FROM blob; UPDATE component SET blob = -1 - blob;")
                .map_err(error)?;
            let mut blobs = transaction
                .prepare("INSERT INTO blob VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
                .map_err(error)?;
            let mut components = transaction
                .prepare(
                    "INSERT INTO component
                         (file_key, kind, offset, length, blob, component, file_path, expected_md5,
                          state, updated)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9)
                     ON CONFLICT (file_key, kind, offset, length) DO UPDATE SET
                         blob = excluded.blob, component = excluded.component,
                         file_path = excluded.file_path
                     WHERE component.blob < 0",
                )
                .map_err(error)?;
            let updated = now();
            for (index, blob) in drive.blobs.iter().enumerate() {
                blobs
                    .execute(params![
                        index as i64,
                        blob.blob_path,
                        blob.file_path,
                        blob.snapshot,
                        blob.length as i64,
                        blob.properties_path,
                        blob.metadata_path,
                        blob.in_manifest,
                        blob.export.as_deref().map(super::export::to_json),
                    ])
                    .map_err(error)?;
                for c in 0..blob.components.len() {
                    let id = ComponentId {
                        blob: index as u32,
                        component: c as u32,
                    };
                    insert(&mut components, drive, id, &[&updated]).map_err(error)?;
                }
            }
            transaction
                .execute("DELETE FROM component WHERE blob < 0", [])
                .map_err(error)?;
        }
        transaction.commit().map_err(error)
    }

    /// Whether the file holds this drive numbered as this version models it: every component
    /// row where this drive has the component (else `record_drive` numbers them again).
    pub fn holds_drive(&self, drive: &Drive) -> Result<bool, JournalError> {
        let blobs: i64 = self
            .connection
            .query_row("SELECT count(*) FROM blob", [], |row| row.get(0))
            .map_err(self.sqlite())?;
        if blobs != drive.blobs.len() as i64 {
            return Ok(false);
        }
        // A file made before the blobs' export records were kept (schema 4 or before) takes
        // them when the drive is recorded again.
        let records: i64 = self
            .connection
            .query_row("SELECT count(export) FROM blob", [], |row| row.get(0))
            .map_err(self.sqlite())?;
        if records != drive.blobs.iter().filter(|b| b.export.is_some()).count() as i64 {
            return Ok(false);
        }
        let mut statement = self
            .connection
            .prepare(
                "SELECT blob, component, kind, offset, length FROM component
                 ORDER BY blob, component",
            )
            .map_err(self.sqlite())?;
        let mut rows = statement.query([]).map_err(self.sqlite())?;
        let mut components = drive.components();
        loop {
            let row = rows.next().map_err(self.sqlite())?;
            let (row, component) = match (row, components.next()) {
                (None, None) => return Ok(true),
                (Some(row), Some(component)) => (row, component),
                _ => return Ok(false),
            };
            let (id, _, component) = component;
            let recorded = (|| -> rusqlite::Result<_> {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                ))
            })()
            .map_err(self.sqlite())?;
            let current = (
                i64::from(id.blob),
                i64::from(id.component),
                component.kind.as_str().to_string(),
                component.offset as i64,
                component.length as i64,
            );
            if recorded != current {
                return Ok(false);
            }
        }
    }

    /// Records that these components are about to be written: durable before the write.
    pub fn record_intent(
        &mut self,
        drive: &Drive,
        ids: &[ComponentId],
    ) -> Result<(), JournalError> {
        self.stamp(
            drive,
            ids,
            "INSERT INTO component
                 (file_key, kind, offset, length, blob, component, file_path, expected_md5,
                  state, attempts, updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'in_flight', 1, ?9)
             ON CONFLICT (file_key, kind, offset, length) DO UPDATE SET
                 expected_md5 = excluded.expected_md5, state = 'in_flight',
                 attempts = attempts + 1, updated = excluded.updated",
        )
    }

    /// Takes back the verdicts of components a run looks at again (damage found or a repair
    /// that failed, or a verdict whose file changed since): until it gives them new ones no
    /// report takes them, as the run's own report has none (a report made from the file then
    /// says what the run's said). What they record stays, for the run after.
    pub fn record_reopened(
        &mut self,
        drive: &Drive,
        ids: &[ComponentId],
    ) -> Result<(), JournalError> {
        self.stamp(
            drive,
            ids,
            "UPDATE component SET state = 'reopened', updated = ?9
             WHERE file_key = ?1 AND kind = ?2 AND offset = ?3 AND length = ?4
               AND state = 'done'",
        )
    }

    /// Runs `sql` for each of `ids`, in one transaction, durable when it returns: its
    /// parameters are the component's identity and facts (see [`insert`]), then the time (?9).
    fn stamp(&mut self, drive: &Drive, ids: &[ComponentId], sql: &str) -> Result<(), JournalError> {
        let path = self.path.clone();
        let error = |source| classify(&path, source);
        let transaction = self.connection.transaction().map_err(error)?;
        {
            let mut statement = transaction.prepare_cached(sql).map_err(error)?;
            let updated = now();
            for &id in ids {
                insert(&mut statement, drive, id, &[&updated]).map_err(error)?;
            }
        }
        transaction.commit().map_err(error)
    }

    /// Records finished components (verified, repaired, failed, …) with their file's identity.
    pub fn record_done(&mut self, drive: &Drive, done: &[Done]) -> Result<(), JournalError> {
        let path = self.path.clone();
        let error = |source| classify(&path, source);
        let transaction = self.connection.transaction().map_err(error)?;
        {
            let mut statement = transaction
                .prepare_cached(
                    "INSERT INTO component
                         (file_key, kind, offset, length, blob, component, file_path, expected_md5,
                          state, status, actual_md5, reason, updated, recorded_ns,
                          file_length, file_modified_ns, file_inode, file_device, file_changed_ns,
                          written_md5)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'done', ?9, ?10, ?11, ?12, ?13,
                             ?14, ?15, ?16, ?17, ?18, ?19)
                     ON CONFLICT (file_key, kind, offset, length) DO UPDATE SET
                         expected_md5 = excluded.expected_md5, state = 'done',
                         status = excluded.status, actual_md5 = excluded.actual_md5,
                         reason = excluded.reason, updated = excluded.updated,
                         recorded_ns = excluded.recorded_ns, file_length = excluded.file_length,
                         file_modified_ns = excluded.file_modified_ns,
                         file_inode = excluded.file_inode, file_device = excluded.file_device,
                         file_changed_ns = excluded.file_changed_ns,
                         written_md5 = coalesce(excluded.written_md5, component.written_md5)",
                )
                .map_err(error)?;
            let updated = now();
            let recorded_ns = now_ns();
            for done in done {
                let identity = done.identity;
                // What was written, for a component nothing else holds a hash of: its MD5 as
                // repaired or verified.
                let written = matches!(
                    done.status,
                    ComponentStatus::Repaired | ComponentStatus::Verified
                ) && {
                    let blob = &drive.blobs[done.id.blob as usize];
                    blob.written_unchecked(drive.component(done.id))
                };
                let written_md5 = done.actual_md5.filter(|_| written).map(|m| m.to_string());
                insert(
                    &mut statement,
                    drive,
                    done.id,
                    &[
                        &done.status.as_str(),
                        &done.actual_md5.map(|m| m.to_string()),
                        &done.reason,
                        &updated,
                        &recorded_ns,
                        &identity.map(|i| i.length as i64),
                        &identity.map(|i| i.modified_ns),
                        &identity.map(|i| i.inode as i64),
                        &identity.map(|i| i.device as i64),
                        &identity.and_then(|i| i.changed_ns),
                        &written_md5,
                    ],
                )
                .map_err(error)?;
            }
        }
        transaction.commit().map_err(error)
    }

    /// The recorded components that are components of `drive` (same file, kind, offset,
    /// length and expected hash); rows of anything else are not this drive's and are left out.
    pub fn entries(&self, drive: &Drive) -> Result<Vec<Entry>, JournalError> {
        let mut by_key: HashMap<Key, ComponentId> = HashMap::new();
        for (id, blob, component) in drive.components() {
            by_key.insert(Key::of(id, blob, component), id);
        }
        // A file of schema 2 (read for a report) has no change times: its identities then
        // hold none, which no file's identity now equals.
        let version = self.schema_version()?;
        let changed_ns = if version >= 3 {
            "file_changed_ns"
        } else {
            "NULL"
        };
        // Before schema 4, what was written is what a repaired or verified verdict recorded.
        let written_md5 = if version >= 4 {
            "written_md5"
        } else {
            "CASE WHEN state = 'done' AND status IN ('repaired', 'verified') THEN actual_md5 END"
        };
        let mut statement = self
            .connection
            .prepare(&format!(
                "SELECT file_key, kind, offset, length, expected_md5, state, status, actual_md5,
                        reason, attempts, recorded_ns, file_length, file_modified_ns,
                        file_inode, file_device, {changed_ns}, {written_md5}
                 FROM component WHERE state != 'pending'"
            ))
            .map_err(self.sqlite())?;
        let mut rows = statement.query([]).map_err(self.sqlite())?;
        let mut entries = Vec::new();
        while let Some(row) = rows.next().map_err(self.sqlite())? {
            let read = |row: &rusqlite::Row<'_>| -> rusqlite::Result<Option<Entry>> {
                let kind: String = row.get(1)?;
                let Some(kind) = ComponentKind::parse(&kind) else {
                    return Ok(None);
                };
                let key = Key {
                    file_key: row.get(0)?,
                    kind: kind.as_str(),
                    offset: row.get(2)?,
                    length: row.get(3)?,
                };
                let Some(&id) = by_key.get(&key) else {
                    return Ok(None);
                };
                let expected: Option<String> = row.get(4)?;
                let expected = expected.and_then(|e| Md5::from_str(&e).ok());
                if expected != drive.component(id).expected_md5 {
                    return Ok(None);
                }
                let state: String = row.get(5)?;
                let status: Option<String> = row.get(6)?;
                let state = match (state.as_str(), status.as_deref().map(parse_status)) {
                    ("done", Some(Some(status))) => EntryState::Done(status),
                    ("reopened", Some(Some(status))) => EntryState::Reopened(status),
                    // An intent keeps the status recorded before it.
                    (_, status) => EntryState::InFlight {
                        found: status.flatten(),
                    },
                };
                let actual: Option<String> = row.get(7)?;
                let identity = match (
                    row.get::<_, Option<i64>>(11)?,
                    row.get::<_, Option<i64>>(12)?,
                    row.get::<_, Option<i64>>(13)?,
                    row.get::<_, Option<i64>>(14)?,
                ) {
                    (Some(length), Some(modified_ns), Some(inode), Some(device)) => {
                        Some(FileIdentity {
                            length: length as u64,
                            modified_ns,
                            inode: inode as u64,
                            device: device as u64,
                            changed_ns: row.get(15)?,
                        })
                    }
                    _ => None,
                };
                Ok(Some(Entry {
                    id,
                    state,
                    actual_md5: actual.and_then(|a| Md5::from_str(&a).ok()),
                    reason: row.get(8)?,
                    attempts: row.get(9)?,
                    identity,
                    recorded_ns: row.get(10)?,
                    written_md5: row
                        .get::<_, Option<String>>(16)?
                        .and_then(|md5| Md5::from_str(&md5).ok()),
                }))
            };
            if let Some(entry) = read(row).map_err(self.sqlite())? {
                entries.push(entry);
            }
        }
        entries.sort_by_key(|entry| entry.id);
        Ok(entries)
    }

    /// The drive as recorded by `record_drive`, and what the file binds it to.
    pub fn stored_drive(&self) -> Result<(Drive, Binding), JournalError> {
        let not_ours = |reason: String| JournalError::NotARepairFile {
            path: self.path.clone(),
            reason,
        };
        let verbose_log = column_or_null(&self.connection, "binding", "verbose_log_md5");
        let binding: Binding = self
            .connection
            .query_row(
                &format!("SELECT drive_id, manifest_md5, copy_log_md5, {verbose_log} FROM binding"),
                [],
                |row| {
                    let md5 = |text: Option<String>| text.and_then(|t| Md5::from_str(&t).ok());
                    Ok(Binding {
                        drive_id: row.get(0)?,
                        manifest_md5: md5(row.get(1)?),
                        copy_log_md5: md5(row.get(2)?),
                        verbose_log_md5: md5(row.get(3)?),
                    })
                },
            )
            .optional()
            .map_err(self.sqlite())?
            .ok_or_else(|| not_ours("it records no drive".into()))?;
        let mut blobs: Vec<Blob> = Vec::new();
        {
            // A file of schema 4 or before has no export records.
            let export = column_or_null(&self.connection, "blob", "export");
            let mut statement = self
                .connection
                .prepare(&format!(
                    "SELECT blob, blob_path, file_path, snapshot, length, properties_path,
                            metadata_path, in_manifest, {export}
                     FROM blob ORDER BY blob"
                ))
                .map_err(self.sqlite())?;
            let mut rows = statement.query([]).map_err(self.sqlite())?;
            while let Some(row) = rows.next().map_err(self.sqlite())? {
                let index: i64 = row.get(0).map_err(self.sqlite())?;
                if index != blobs.len() as i64 {
                    return Err(not_ours(format!(
                        "its blobs are numbered with a gap at {} (found {index})",
                        blobs.len()
                    )));
                }
                let blob = (|| -> rusqlite::Result<Blob> {
                    Ok(Blob {
                        blob_path: row.get(1)?,
                        file_path: row.get(2)?,
                        snapshot: row.get(3)?,
                        length: row.get::<_, i64>(4)?.max(0) as u64,
                        // Not recorded: a length of 0 outside the manifest is taken as none.
                        length_given: row.get::<_, bool>(7)? || row.get::<_, i64>(4)? > 0,
                        last_modified: None,
                        kind: None,
                        in_manifest: row.get(7)?,
                        copy_log_status: None,
                        properties_path: row.get(5)?,
                        metadata_path: row.get(6)?,
                        refusal: None,
                        components: Vec::new(),
                        // A record that cannot be read is left out (the report lacks it).
                        export: row
                            .get::<_, Option<String>>(8)
                            .ok()
                            .flatten()
                            .as_deref()
                            .and_then(super::export::from_json)
                            .map(Box::new),
                        block_ids: Default::default(),
                    })
                })()
                .map_err(self.sqlite())?;
                blobs.push(blob);
            }
        }
        if blobs.is_empty() {
            return Err(not_ours(
                "it records no blobs (the run that made it stopped before it recorded the drive, \
                 or it was made by an older version or for an empty drive): rerun the repair \
                 with it"
                    .into(),
            ));
        }
        let mut statement = self
            .connection
            .prepare(
                "SELECT blob, component, kind, offset, length, expected_md5, file_key
                 FROM component ORDER BY blob, component",
            )
            .map_err(self.sqlite())?;
        let mut rows = statement.query([]).map_err(self.sqlite())?;
        while let Some(row) = rows.next().map_err(self.sqlite())? {
            let (blob_index, component, kind, offset, length, expected, file_key) =
                (|| -> rusqlite::Result<_> {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, i64>(4)?,
                        row.get::<_, Option<String>>(5)?,
                        row.get::<_, String>(6)?,
                    ))
                })()
                .map_err(self.sqlite())?;
            let (Some(blob), Some(kind)) = (
                usize::try_from(blob_index)
                    .ok()
                    .and_then(|b| blobs.get_mut(b)),
                ComponentKind::parse(&kind),
            ) else {
                return Err(not_ours(format!(
                    "it records a component of no recorded blob (blob {blob_index}, kind {kind:?})"
                )));
            };
            // Reports index the drive by these numbers: a row missing or added since the
            // drive was recorded would put verdicts on the wrong components.
            if component != blob.components.len() as i64 {
                return Err(not_ours(format!(
                    "the components of its blob {blob_index} are numbered with a gap or a \
                     duplicate at {} (found {component}): a row is missing or stray",
                    blob.components.len()
                )));
            }
            if offset < 0 || length < 0 {
                return Err(not_ours(format!(
                    "it records a component at offset {offset} with length {length}"
                )));
            }
            // A range of the file reaching past its end: its bytes would be claimed in reports.
            let ranged = matches!(
                kind,
                ComponentKind::Block | ComponentKind::Page | ComponentKind::Chunk
            );
            if ranged
                && blob.length_given
                && (offset as u64).saturating_add(length as u64) > blob.length
            {
                return Err(not_ours(format!(
                    "it records a {} of blob {blob_index} at offset {offset} with length {length}, \
                     past the blob's end ({} bytes), which no run writes; start over with a new \
                     repair file",
                    kind.as_str(),
                    blob.length
                )));
            }
            // Its rows are keyed as a refused entry's (`Key::of`): so must its components be.
            if file_key.starts_with(REFUSED_KEY) {
                blob.refusal
                    .get_or_insert_with(|| "refused by the run that recorded it".into());
            }
            blob.components.push(Component {
                kind,
                offset: offset as u64,
                length: length as u64,
                expected_md5: expected.and_then(|e| Md5::from_str(&e).ok()),
                block_id: None,
                copy_log_status: None,
            });
        }
        let drive = Drive {
            drive_id: binding.drive_id.clone(),
            blobs,
            has_manifest: binding.manifest_md5.is_some(),
            warnings: Vec::new(),
        };
        Ok((drive, binding))
    }

    /// Converts a file of schema 2 or 3: the component rows gain the columns they lack. Schema
    /// 3: file identities gain a change time, unknown for the verdicts already recorded (which
    /// no file's identity then equals: checked again once). Schema 4: what was written is kept
    /// apart from the verdicts (the MD5 of a repaired or verified component, as its verdict
    /// recorded it).
    pub(super) fn add_columns(&mut self) -> Result<(), JournalError> {
        let path = self.path.clone();
        let error = |source| classify(&path, source);
        let transaction = self.connection.transaction().map_err(error)?;
        let has = |column: &str| has_column(&transaction, "component", column);
        let mut batch = String::new();
        if !has_column(&transaction, "blob", "export").map_err(error)? {
            batch.push_str("ALTER TABLE blob ADD COLUMN export TEXT;");
        }
        if !has("file_changed_ns").map_err(error)? {
            batch.push_str("ALTER TABLE component ADD COLUMN file_changed_ns INTEGER;");
        }
        if !has("written_md5").map_err(error)? {
            batch.push_str(
                "ALTER TABLE component ADD COLUMN written_md5 TEXT;
                 UPDATE component SET written_md5 = actual_md5
                     WHERE state = 'done' AND status IN ('repaired', 'verified');",
            );
        }
        batch.push_str(&format!("PRAGMA user_version = {SCHEMA_VERSION};"));
        transaction.execute_batch(&batch).map_err(error)?;
        transaction.commit().map_err(error)
    }

    /// Converts a file of schema 1 (rows keyed by position) to identity keys, in one
    /// transaction. Verdicts keep their state but carry no file identity, so each is checked
    /// again once.
    pub(super) fn migrate_from_position_keys(&mut self) -> Result<(), JournalError> {
        let path = self.path.clone();
        let error = |source| classify(&path, source);
        let transaction = self.connection.transaction().map_err(error)?;
        {
            transaction
                .execute_batch(&format!(
                    "ALTER TABLE blob ADD COLUMN in_manifest INTEGER NOT NULL DEFAULT 1;
                     ALTER TABLE blob ADD COLUMN export TEXT;
                     ALTER TABLE component RENAME TO component_v1;
                     {}",
                    super::COMPONENT_TABLE
                ))
                .map_err(error)?;
            let mut read = transaction
                .prepare(
                    "SELECT blob, component, file_path, kind, offset, length, expected_md5, state,
                            status, actual_md5, reason, attempts, updated FROM component_v1",
                )
                .map_err(error)?;
            let mut write = transaction
                .prepare(
                    "INSERT OR REPLACE INTO component
                         (file_key, kind, offset, length, blob, component, file_path, expected_md5,
                          state, status, actual_md5, reason, attempts, updated)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )
                .map_err(error)?;
            let mut rows = read.query([]).map_err(error)?;
            while let Some(row) = rows.next().map_err(error)? {
                let file_path: String = row.get(2).map_err(error)?;
                let file_key = claim_key(&file_path).unwrap_or_else(|_| format!("\0{file_path}"));
                let values: Vec<rusqlite::types::Value> = (0..13)
                    .map(|i| row.get(i))
                    .collect::<rusqlite::Result<_>>()
                    .map_err(error)?;
                let [blob, component, file_path, kind, offset, length, rest @ ..] =
                    values.as_slice()
                else {
                    continue;
                };
                let mut parameters: Vec<&dyn ToSql> =
                    vec![&file_key, kind, offset, length, blob, component, file_path];
                parameters.extend(rest.iter().map(|v| v as &dyn ToSql));
                write.execute(parameters.as_slice()).map_err(error)?;
            }
            transaction
                .execute_batch(&format!(
                    "DROP TABLE component_v1; PRAGMA user_version = {SCHEMA_VERSION};"
                ))
                .map_err(error)?;
        }
        transaction.commit().map_err(error)
    }
}

/// Runs a component statement whose first eight parameters are the component's identity and
/// facts (`file_key, kind, offset, length, blob, component, file_path, expected_md5`; an
/// UPDATE may use only some of them), followed by `rest`.
fn insert(
    statement: &mut rusqlite::Statement<'_>,
    drive: &Drive,
    id: ComponentId,
    rest: &[&dyn ToSql],
) -> rusqlite::Result<usize> {
    let blob = &drive.blobs[id.blob as usize];
    let component = &blob.components[id.component as usize];
    let key = Key::of(id, blob, component);
    let file_path = blob
        .component_file_path(component)
        .unwrap_or(&blob.file_path);
    let expected_md5 = component.expected_md5.map(|m| m.to_string());
    let (blob_index, component_index) = (i64::from(id.blob), i64::from(id.component));
    let mut values: Vec<&dyn ToSql> = vec![
        &key.file_key,
        &key.kind,
        &key.offset,
        &key.length,
        &blob_index,
        &component_index,
        &file_path,
        &expected_md5,
    ];
    values.extend_from_slice(rest);
    statement.execute(values.as_slice())
}

/// Whether `table` has `column` (files of older schemas lack some).
pub(super) fn has_column(
    connection: &rusqlite::Connection,
    table: &str,
    column: &str,
) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |row| row.get(0),
    )
}

/// `column` to select from `table`, or `NULL` where a file of an older schema lacks it.
fn column_or_null(
    connection: &rusqlite::Connection,
    table: &str,
    column: &'static str,
) -> &'static str {
    match has_column(connection, table, column) {
        Ok(true) => column,
        _ => "NULL",
    }
}
