//! The repair file (`/r:`): one SQLite database per drive that remembers which components
//! are done and which were in flight, so an interrupted repair resumes where it stopped.
//!
//! It is bound to the drive (DriveId and the MD5s of the manifest and copy log it was made
//! from) and refuses to serve another. It holds no secret. The rollback journal (not WAL)
//! and `synchronous=FULL` keep it safe on network shares; an exclusive lock keeps two runs
//! from sharing one file.

use std::path::Path;
use std::str::FromStr;

use rusqlite::{Connection, OpenFlags, OptionalExtension, ToSql, params};

use crate::format::Md5;
use crate::model::{Blob, Component, ComponentId, ComponentKind, ComponentStatus, Drive};

/// Bumped whenever the tables change in a way older versions cannot read.
const SCHEMA_VERSION: i64 = 1;
/// The `application_id` SQLite stores in the header: "ERPR".
const APPLICATION_ID: i64 = 0x4552_5052;

/// What a repair file is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub drive_id: String,
    pub manifest_md5: Option<Md5>,
    pub copy_log_md5: Option<Md5>,
}

/// Repair-file failures.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "the repair file {path} belongs to another drive or other inputs: its {what} is {recorded}, \
         but this run's is {current}; use the repair file made for this drive, or a new path to start over"
    )]
    OtherDrive {
        path: String,
        what: &'static str,
        recorded: String,
        current: String,
    },
    #[error("{path} is not an export-repair repair file ({reason})")]
    NotARepairFile { path: String, reason: String },
    #[error("the repair file {path} is in use by another run")]
    InUse { path: String },
    #[error("the repair file {path} was written by a newer export-repair (schema {found})")]
    NewerSchema { path: String, found: i64 },
    #[error("repair file {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
}

/// Where a component stands in the repair file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryState {
    /// A write was about to happen or happening: look at it again.
    InFlight,
    /// Finished with this status.
    Done(ComponentStatus),
}

/// One component's record.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: ComponentId,
    pub state: EntryState,
    pub actual_md5: Option<Md5>,
    pub reason: Option<String>,
    pub attempts: u32,
}

/// A finished component to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub id: ComponentId,
    pub status: ComponentStatus,
    pub actual_md5: Option<Md5>,
    pub reason: Option<String>,
}

/// An open repair file.
pub struct RepairFile {
    connection: Connection,
    path: String,
}

impl RepairFile {
    /// Opens the repair file at `path`, creating it when it does not exist. Returns whether
    /// an existing file was opened (a resumed repair).
    pub fn open_or_create(path: &Path, binding: &Binding) -> Result<(Self, bool), JournalError> {
        let display = path.display().to_string();
        let exists = path.exists();
        let flags = if exists {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let connection =
            Connection::open_with_flags(path, flags).map_err(|source| JournalError::Sqlite {
                path: display.clone(),
                source,
            })?;
        let mut file = RepairFile {
            connection,
            path: display,
        };
        file.configure()?;
        // A file killed while being created holds no schema yet: it is new, not foreign.
        let resumed = exists && !file.is_blank()?;
        if resumed {
            file.check_existing(binding)?;
        } else {
            file.create_tables(binding)?;
        }
        Ok((file, resumed))
    }

    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
        |source| classify(&self.path, source)
    }

    fn configure(&mut self) -> Result<(), JournalError> {
        // Another run holding the lock is not going to let go soon: say so at once.
        self.connection
            .busy_timeout(std::time::Duration::from_millis(200))
            .map_err(self.sqlite())?;
        // A rollback journal, not WAL: WAL needs shared memory, which network shares lack.
        self.connection
            .pragma_update(None, "journal_mode", "DELETE")
            .map_err(self.sqlite())?;
        self.connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(self.sqlite())?;
        self.connection
            .pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(self.sqlite())?;
        // Take the lock now, so a second run is refused at once rather than mid-repair.
        self.connection
            .execute_batch("BEGIN EXCLUSIVE; COMMIT;")
            .map_err(self.sqlite())
    }

    /// No id and no tables: an empty database (or an empty file).
    fn is_blank(&self) -> Result<bool, JournalError> {
        let application_id: i64 = self
            .connection
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .map_err(self.sqlite())?;
        let tables: i64 = self
            .connection
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .map_err(self.sqlite())?;
        Ok((application_id == 0 || application_id == APPLICATION_ID) && tables == 0)
    }

    fn create_tables(&mut self, binding: &Binding) -> Result<(), JournalError> {
        let sql = format!(
            "BEGIN;
             PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {SCHEMA_VERSION};
             CREATE TABLE binding (
                 drive_id TEXT NOT NULL,
                 manifest_md5 TEXT,
                 copy_log_md5 TEXT,
                 created TEXT NOT NULL,
                 tool_version TEXT NOT NULL
             );
                          CREATE TABLE blob (
                 blob INTEGER PRIMARY KEY,
                 blob_path TEXT NOT NULL,
                 file_path TEXT NOT NULL,
                 snapshot TEXT,
                 length INTEGER NOT NULL,
                 properties_path TEXT,
                 metadata_path TEXT
             );
             CREATE TABLE component (
                 blob INTEGER NOT NULL,
                 component INTEGER NOT NULL,
                 file_path TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 offset INTEGER NOT NULL,
                 length INTEGER NOT NULL,
                 expected_md5 TEXT,
                 state TEXT NOT NULL,
                 status TEXT,
                 actual_md5 TEXT,
                 reason TEXT,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 updated TEXT NOT NULL,
                 PRIMARY KEY (blob, component)
             ) WITHOUT ROWID;
             "
        );
        // One transaction: a file killed while being created is empty, never half made.
        self.connection.execute_batch(&sql).map_err(self.sqlite())?;
        self.connection
            .execute(
                "INSERT INTO binding VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    binding.drive_id,
                    binding.manifest_md5.map(|m| m.to_string()),
                    binding.copy_log_md5.map(|m| m.to_string()),
                    now(),
                    env!("CARGO_PKG_VERSION"),
                ],
            )
            .map_err(self.sqlite())?;
        self.connection
            .execute_batch("COMMIT;")
            .map_err(self.sqlite())
    }

    /// Whether the drive was recorded (a run killed right after creating the file has not).
    pub fn has_drive(&self) -> Result<bool, JournalError> {
        let blobs: i64 = self
            .connection
            .query_row("SELECT count(*) FROM blob", [], |row| row.get(0))
            .map_err(self.sqlite())?;
        Ok(blobs > 0)
    }

    fn check_existing(&self, binding: &Binding) -> Result<(), JournalError> {
        let not_ours = |reason: &str| JournalError::NotARepairFile {
            path: self.path.clone(),
            reason: reason.to_string(),
        };
        let application_id: i64 = self
            .connection
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .map_err(self.sqlite())?;
        if application_id != APPLICATION_ID {
            return Err(not_ours("it is an SQLite database of another program"));
        }
        let version: i64 = self
            .connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(self.sqlite())?;
        if version > SCHEMA_VERSION {
            return Err(JournalError::NewerSchema {
                path: self.path.clone(),
                found: version,
            });
        }
        let recorded: (String, Option<String>, Option<String>) = self
            .connection
            .query_row(
                "SELECT drive_id, manifest_md5, copy_log_md5 FROM binding",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .map_err(self.sqlite())?
            .ok_or_else(|| not_ours("it records no drive"))?;
        let text = |md5: Option<Md5>| md5.map_or_else(|| "(none)".to_string(), |m| m.to_string());
        let checks = [
            ("DriveId", recorded.0, binding.drive_id.clone()),
            (
                "manifest MD5",
                recorded.1.unwrap_or_else(|| "(none)".into()),
                text(binding.manifest_md5),
            ),
            (
                "copy log MD5",
                recorded.2.unwrap_or_else(|| "(none)".into()),
                text(binding.copy_log_md5),
            ),
        ];
        for (what, recorded, current) in checks {
            if !recorded.eq_ignore_ascii_case(&current) {
                return Err(JournalError::OtherDrive {
                    path: self.path.clone(),
                    what,
                    recorded,
                    current,
                });
            }
        }
        // Find out now, not at the first write of the repair, whether the file can be
        // written and its rows read.
        self.connection
            .execute("UPDATE binding SET tool_version = tool_version", [])
            .map_err(self.sqlite())?;
        self.entries()?;
        Ok(())
    }

    /// Every recorded component.
    pub fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT blob, component, state, status, actual_md5, reason, attempts
                 FROM component ORDER BY blob, component",
            )
            .map_err(self.sqlite())?;
        let rows = statement
            .query_map([], |row| {
                let state: String = row.get(2)?;
                let status: Option<String> = row.get(3)?;
                let actual: Option<String> = row.get(4)?;
                Ok((
                    ComponentId {
                        blob: row.get(0)?,
                        component: row.get(1)?,
                    },
                    state,
                    status,
                    actual,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, u32>(6)?,
                ))
            })
            .map_err(self.sqlite())?;
        let mut entries = Vec::new();
        for row in rows {
            let (id, state, status, actual, reason, attempts) = row.map_err(self.sqlite())?;
            let state = match (state.as_str(), status.as_deref().map(parse_status)) {
                // Recorded with the drive, never touched yet.
                ("pending", _) => continue,
                ("done", Some(Some(status))) => EntryState::Done(status),
                _ => EntryState::InFlight,
            };
            entries.push(Entry {
                id,
                state,
                actual_md5: actual.and_then(|a| Md5::from_str(&a).ok()),
                reason,
                attempts,
            });
        }
        Ok(entries)
    }

    /// Records the drive itself (every blob and component), so that a report can be made
    /// from the repair file alone. Done once, when the file is created.
    pub fn record_drive(&mut self, drive: &Drive) -> Result<(), JournalError> {
        let path = self.path.clone();
        let error = |source| classify(&path, source);
        let transaction = self.connection.transaction().map_err(error)?;
        {
            let mut blobs = transaction
                .prepare("INSERT INTO blob VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .map_err(error)?;
            let mut components = transaction
                .prepare(
                    "INSERT OR IGNORE INTO component
                         (blob, component, file_path, kind, offset, length, expected_md5, state, updated)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)",
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
                    ])
                    .map_err(error)?;
                for (c, component) in blob.components.iter().enumerate() {
                    let file_path = blob
                        .component_file_path(component)
                        .unwrap_or(&blob.file_path);
                    insert_component(
                        &mut components,
                        (index as i64, c as i64),
                        file_path,
                        component,
                        params![updated],
                    )
                    .map_err(error)?;
                }
            }
        }
        transaction.commit().map_err(error)
    }

    /// Opens an existing repair file only to read it (for reports); takes no lock.
    pub fn open_read_only(path: &Path) -> Result<Self, JournalError> {
        let display = path.display().to_string();
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| classify(&display, source))?;
        let file = RepairFile {
            connection,
            path: display,
        };
        let application_id: i64 = file
            .connection
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .map_err(file.sqlite())?;
        if application_id != APPLICATION_ID {
            return Err(JournalError::NotARepairFile {
                path: file.path.clone(),
                reason: "it is not an export-repair repair file".into(),
            });
        }
        Ok(file)
    }

    /// The drive as recorded by `record_drive`, and what the file binds it to.
    pub fn stored_drive(&self) -> Result<(Drive, Binding), JournalError> {
        let binding: Binding = self
            .connection
            .query_row(
                "SELECT drive_id, manifest_md5, copy_log_md5 FROM binding",
                [],
                |row| {
                    let md5 = |text: Option<String>| text.and_then(|t| Md5::from_str(&t).ok());
                    Ok(Binding {
                        drive_id: row.get(0)?,
                        manifest_md5: md5(row.get(1)?),
                        copy_log_md5: md5(row.get(2)?),
                    })
                },
            )
            .map_err(self.sqlite())?;
        let mut blobs: Vec<Blob> = Vec::new();
        {
            let mut statement = self
                .connection
                .prepare(
                    "SELECT blob_path, file_path, snapshot, length, properties_path, metadata_path
                     FROM blob ORDER BY blob",
                )
                .map_err(self.sqlite())?;
            let rows = statement
                .query_map([], |row| {
                    Ok(Blob {
                        blob_path: row.get(0)?,
                        file_path: row.get(1)?,
                        snapshot: row.get(2)?,
                        length: row.get::<_, i64>(3)? as u64,
                        last_modified: None,
                        kind: None,
                        in_manifest: true,
                        copy_log_status: None,
                        properties_path: row.get(4)?,
                        metadata_path: row.get(5)?,
                        components: Vec::new(),
                        block_ids: Default::default(),
                    })
                })
                .map_err(self.sqlite())?;
            for blob in rows {
                blobs.push(blob.map_err(self.sqlite())?);
            }
        }
        if blobs.is_empty() {
            return Err(JournalError::NotARepairFile {
                path: self.path.clone(),
                reason: "it records no blobs (made by an older version, or for an empty drive)"
                    .into(),
            });
        }
        let mut statement = self
            .connection
            .prepare(
                "SELECT blob, kind, offset, length, expected_md5 FROM component ORDER BY blob, component",
            )
            .map_err(self.sqlite())?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ))
            })
            .map_err(self.sqlite())?;
        for row in rows {
            let (blob, kind, offset, length, expected) = row.map_err(self.sqlite())?;
            let (Some(blob), Some(kind)) = (
                usize::try_from(blob).ok().and_then(|b| blobs.get_mut(b)),
                ComponentKind::parse(&kind),
            ) else {
                return Err(JournalError::NotARepairFile {
                    path: self.path.clone(),
                    reason: format!("it records an unknown component (blob {blob}, kind {kind:?})"),
                });
            };
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

    /// Records that these components are about to be written: durable before the write.
    pub fn record_intent<'a>(
        &mut self,
        components: impl IntoIterator<Item = (ComponentId, &'a str, &'a Component)>,
    ) -> Result<(), JournalError> {
        let path = self.path.clone();
        let error = |source| classify(&path, source);
        let transaction = self.connection.transaction().map_err(error)?;
        {
            let mut statement = transaction
                .prepare_cached(
                    "INSERT INTO component
                         (blob, component, file_path, kind, offset, length, expected_md5, state, attempts, updated)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'in_flight', 1, ?8)
                     ON CONFLICT (blob, component) DO UPDATE SET
                         state = 'in_flight', attempts = attempts + 1, updated = excluded.updated",
                )
                .map_err(error)?;
            let updated = now();
            for (id, file_path, component) in components {
                insert_component(
                    &mut statement,
                    (id.blob.into(), id.component.into()),
                    file_path,
                    component,
                    params![updated],
                )
                .map_err(error)?;
            }
        }
        transaction.commit().map_err(error)
    }

    /// Records finished components (verified, repaired, failed, …).
    pub fn record_done<'a>(
        &mut self,
        done: impl IntoIterator<Item = (&'a Done, &'a str, &'a Component)>,
    ) -> Result<(), JournalError> {
        let path = self.path.clone();
        let error = |source| classify(&path, source);
        let transaction = self.connection.transaction().map_err(error)?;
        {
            let mut statement = transaction
                .prepare_cached(
                    "INSERT INTO component
                         (blob, component, file_path, kind, offset, length, expected_md5,
                          state, status, actual_md5, reason, updated)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'done', ?8, ?9, ?10, ?11)
                     ON CONFLICT (blob, component) DO UPDATE SET
                         state = 'done', status = excluded.status, actual_md5 = excluded.actual_md5,
                         reason = excluded.reason, updated = excluded.updated",
                )
                .map_err(error)?;
            let updated = now();
            for (done, file_path, component) in done {
                insert_component(
                    &mut statement,
                    (done.id.blob.into(), done.id.component.into()),
                    file_path,
                    component,
                    params![
                        done.status.as_str(),
                        done.actual_md5.map(|m| m.to_string()),
                        done.reason,
                        updated,
                    ],
                )
                .map_err(error)?;
            }
        }
        transaction.commit().map_err(error)
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Runs a component INSERT whose first seven parameters are the component's columns
/// (`blob, component, file_path, kind, offset, length, expected_md5`), followed by `rest`.
fn insert_component(
    statement: &mut rusqlite::Statement<'_>,
    (blob, index): (i64, i64),
    file_path: &str,
    component: &Component,
    rest: &[&dyn ToSql],
) -> rusqlite::Result<usize> {
    let kind = component.kind.as_str();
    let offset = component.offset as i64;
    let length = component.length as i64;
    let expected_md5 = component.expected_md5.map(|m| m.to_string());
    let mut values: Vec<&dyn ToSql> = vec![
        &blob,
        &index,
        &file_path,
        &kind,
        &offset,
        &length,
        &expected_md5,
    ];
    values.extend_from_slice(rest);
    statement.execute(values.as_slice())
}

fn classify(path: &str, source: rusqlite::Error) -> JournalError {
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => JournalError::NotARepairFile {
            path: path.to_string(),
            reason: "it is not an SQLite database".into(),
        },
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            JournalError::InUse {
                path: path.to_string(),
            }
        }
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => JournalError::NotARepairFile {
            path: path.to_string(),
            reason: "it is damaged (torn or truncated); start over with a new repair file".into(),
        },
        _ => JournalError::Sqlite {
            path: path.to_string(),
            source,
        },
    }
}

fn parse_status(text: &str) -> Option<ComponentStatus> {
    ComponentStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The MD5 of a whole input file, for binding.
pub fn file_md5(path: &Path) -> std::io::Result<Md5> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = crate::md5::Md5Stream::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buffer[..read]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ComponentKind;

    fn binding() -> Binding {
        Binding {
            drive_id: "9WM35C3U".into(),
            manifest_md5: Some(Md5::of(b"manifest")),
            copy_log_md5: None,
        }
    }

    fn component() -> Component {
        Component {
            kind: ComponentKind::Block,
            offset: 4096,
            length: 4096,
            expected_md5: Some(Md5::of(b"x")),
            block_id: None,
            copy_log_status: None,
        }
    }

    #[test]
    fn creates_then_resumes_with_in_flight_and_done_components() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("9WM35C3U.rep");
        let c = component();
        let first = ComponentId {
            blob: 0,
            component: 1,
        };
        let second = ComponentId {
            blob: 2,
            component: 0,
        };
        {
            let (mut file, resumed) = RepairFile::open_or_create(&path, &binding()).unwrap();
            assert!(!resumed);
            file.record_intent([(first, r"\a", &c), (second, r"\b", &c)])
                .unwrap();
            let done = Done {
                id: first,
                status: ComponentStatus::Repaired,
                actual_md5: c.expected_md5,
                reason: None,
            };
            file.record_done([(&done, r"\a", &c)]).unwrap();
        }
        let (file, resumed) = RepairFile::open_or_create(&path, &binding()).unwrap();
        assert!(resumed);
        let entries = file.entries().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0].state,
            EntryState::Done(ComponentStatus::Repaired)
        );
        assert_eq!(entries[0].actual_md5, c.expected_md5);
        assert_eq!(entries[1].id, second);
        assert_eq!(entries[1].state, EntryState::InFlight);
    }

    #[test]
    fn the_drive_recorded_at_creation_comes_back_for_reports() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.rep");
        let sample = crate::demo::scenario::sample_drive();
        let drive = Drive::build(Some(sample.manifest()), None).unwrap();
        let (mut file, _) = RepairFile::open_or_create(&path, &binding()).unwrap();
        file.record_drive(&drive).unwrap();
        assert!(
            file.entries().unwrap().is_empty(),
            "pending rows are not entries"
        );
        drop(file);
        let file = RepairFile::open_read_only(&path).unwrap();
        let (stored, stored_binding) = file.stored_drive().unwrap();
        assert_eq!(stored_binding, binding());
        assert_eq!(stored.blobs.len(), drive.blobs.len());
        for (a, b) in stored.blobs.iter().zip(&drive.blobs) {
            assert_eq!(a.blob_path, b.blob_path);
            assert_eq!(a.file_path, b.file_path);
            assert_eq!(a.properties_path, b.properties_path);
            assert_eq!(a.metadata_path, b.metadata_path);
            let kinds = |blob: &Blob| {
                blob.components
                    .iter()
                    .map(|c| (c.kind, c.offset, c.length, c.expected_md5))
                    .collect::<Vec<_>>()
            };
            assert_eq!(kinds(a), kinds(b));
        }
    }

    #[test]
    fn refuses_another_drives_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.rep");
        drop(RepairFile::open_or_create(&path, &binding()).unwrap());
        let other = Binding {
            drive_id: "OTHER".into(),
            ..binding()
        };
        let error = RepairFile::open_or_create(&path, &other).err().unwrap();
        assert!(
            matches!(
                error,
                JournalError::OtherDrive {
                    what: "DriveId",
                    ..
                }
            ),
            "{error}"
        );
        let changed_manifest = Binding {
            manifest_md5: Some(Md5::of(b"edited")),
            ..binding()
        };
        let error = RepairFile::open_or_create(&path, &changed_manifest)
            .err()
            .unwrap();
        assert!(error.to_string().contains("manifest MD5"), "{error}");
    }

    #[test]
    fn refuses_files_that_are_not_repair_files() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(
            &text,
            "hello, this is not a database at all, not even close ......",
        )
        .unwrap();
        let error = RepairFile::open_or_create(&text, &binding()).err().unwrap();
        assert!(
            matches!(error, JournalError::NotARepairFile { .. }),
            "{error}"
        );
        let other_db = dir.path().join("other.db");
        Connection::open(&other_db)
            .unwrap()
            .execute_batch("CREATE TABLE t (x);")
            .unwrap();
        let error = RepairFile::open_or_create(&other_db, &binding())
            .err()
            .unwrap();
        assert!(error.to_string().contains("another program"), "{error}");
    }

    #[test]
    fn a_second_run_on_the_same_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.rep");
        let (_first, _) = RepairFile::open_or_create(&path, &binding()).unwrap();
        let error = RepairFile::open_or_create(&path, &binding()).err().unwrap();
        assert!(matches!(error, JournalError::InUse { .. }), "{error}");
    }
}
