//! The repair file (`/r:`): one SQLite database per drive that remembers which components
//! are done and which were in flight, so an interrupted repair resumes where it stopped.
//!
//! It is bound to the drive (DriveId and the MD5s of the manifest and copy log it was made
//! from) and refuses to serve another. It holds no secret. The rollback journal (not WAL)
//! and `synchronous=FULL` keep it safe on network shares; an exclusive lock keeps two runs
//! from sharing one file.
//!
//! Components are keyed by what they are (the file as NTFS names it, kind, offset, length;
//! the expected hash is compared too), never by their position in the manifest, so another
//! version of the tool that orders components differently still finds its own. A verdict is
//! stored with the file's size, modification time and inode at the time, and trusted on resume
//! only while the file is unchanged (see `engine::repair::resume`).

mod chunks;
mod export;
mod rows;
mod run_state;
mod storage_lengths;
mod writer;

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::format::Md5;
use crate::model::{ComponentId, ComponentStatus};
use crate::rooted::FileIdentity;

pub use writer::JournalWriter;

/// Bumped whenever the tables change in a way older versions cannot read.
/// 1: rows keyed by (blob, component) position. 2: keyed by identity, with file identities.
/// 3: file identities with the change time (a file of 2 is read for reports as it is, and
/// converted by a resume: its verdicts are then checked again once).
const SCHEMA_VERSION: i64 = 5;
/// The `application_id` SQLite stores in the header: "ERPR".
const APPLICATION_ID: i64 = 0x4552_5052;

/// What a repair file is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub drive_id: String,
    pub manifest_md5: Option<Md5>,
    pub copy_log_md5: Option<Md5>,
    /// A 2021 verbose log: it describes the files (Size, CRC-64) as a manifest does.
    pub verbose_log_md5: Option<Md5>,
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
    #[error(
        "the repair file {path} is {kind}, not a regular file: give the repair file, or a new \
         path to start one"
    )]
    NotAFile { path: String, kind: &'static str },
    #[error(
        "the repair file {path} cannot be read: its rollback journal {journal} is not a regular \
         file (a FIFO, a folder, a link…); move it away"
    )]
    JournalNotAFile { path: String, journal: String },
    #[error("the repair file {path} was written by a newer export-repair (schema {found})")]
    NewerSchema { path: String, found: i64 },
    #[error("repair file {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the repair file's writer stopped")]
    WriterGone,
}

/// Where a component stands in the repair file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryState {
    /// A write was about to happen or happening: look at it again. `found`: what a check had
    /// found before (the damage the write was to repair), when one had.
    InFlight { found: Option<ComponentStatus> },
    /// Finished with this status.
    Done(ComponentStatus),
    /// Finished with this status, then taken back by a later run that looks at it again and
    /// had not when it stopped: no report takes it for the drive as it is now; a rerun checks
    /// it first (what it wrote is still known).
    Reopened(ComponentStatus),
}

impl EntryState {
    /// The status recorded last, whether or not it still stands.
    pub fn recorded_status(&self) -> Option<ComponentStatus> {
        match *self {
            EntryState::Done(status) | EntryState::Reopened(status) => Some(status),
            EntryState::InFlight { .. } => None,
        }
    }
}

/// One component's record, matched to a component of the drive it was read for.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: ComponentId,
    pub state: EntryState,
    pub actual_md5: Option<Md5>,
    pub reason: Option<String>,
    pub attempts: u32,
    /// The component's file when the verdict was recorded.
    pub identity: Option<FileIdentity>,
    /// When the verdict was recorded, nanoseconds since the epoch.
    pub recorded_ns: Option<i64>,
    /// The MD5 of what a repair last wrote for a component nothing else holds a hash of (a
    /// copy-log range without one, a file downloaded whole): kept whatever verdicts follow,
    /// so that it is never forgotten what the bytes should be.
    pub written_md5: Option<Md5>,
}

/// A finished component to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub id: ComponentId,
    pub status: ComponentStatus,
    pub actual_md5: Option<Md5>,
    /// What the bytes the source gave hash to (told in the run's events, not recorded).
    pub storage_md5: Option<Md5>,
    pub reason: Option<String>,
    /// The component's file as the verdict found (or left) it.
    pub identity: Option<FileIdentity>,
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
        let exists = check_repair_file(path, &display)?;
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
        file.refuse_triggers_and_views()?;
        file.configure()?;
        file.bind(exists, binding)
    }

    /// Checks an existing file against `binding`, or makes a new one for it. Returns whether
    /// an existing file was taken.
    fn bind(mut self, exists: bool, binding: &Binding) -> Result<(Self, bool), JournalError> {
        // A file killed while being created holds no schema yet: it is new, not foreign.
        let resumed = exists && !self.is_blank()?;
        if resumed {
            self.check_existing(binding)?;
        } else {
            self.create_tables(binding)?;
        }
        self.ensure_chunk_table()?;
        self.ensure_run_state_table()?;
        self.ensure_storage_length_table()?;
        Ok((self, resumed))
    }

    /// For a dry run: a copy in memory of the repair file at `path` (read, never written or
    /// locked), or a new one in memory when there is none. What the run records goes to the
    /// copy and is gone with it. Returns whether an existing file was read.
    pub fn in_memory_copy(path: &Path, binding: &Binding) -> Result<(Self, bool), JournalError> {
        let display = path.display().to_string();
        let sqlite = |source| classify(&display, source);
        let exists = check_repair_file(path, &display)?;
        let connection = if exists {
            in_memory(&open_committed(path, &display)?).map_err(sqlite)?
        } else {
            Connection::open_in_memory().map_err(sqlite)?
        };
        let file = RepairFile {
            connection,
            path: display,
        };
        file.refuse_triggers_and_views()?;
        file.bind(exists, binding)
    }

    /// Whether the file has the table `name` (tables added by later versions may be absent).
    fn has_table(&self, name: &str) -> Result<bool, JournalError> {
        self.connection
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(self.sqlite())
    }

    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
        |source| classify(&self.path, source)
    }

    fn configure(&mut self) -> Result<(), JournalError> {
        self.connection
            .busy_timeout(BUSY_TIMEOUT)
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

    /// Refuses a file holding a trigger or a view, which no run makes: a trigger runs on the
    /// run's own writes (it could rewrite verdicts, or loop forever), a view may stand where a
    /// table was. Checked before anything else in the file is read or written.
    fn refuse_triggers_and_views(&self) -> Result<(), JournalError> {
        let planted: Option<String> = self
            .connection
            .query_row(
                "SELECT type FROM sqlite_master WHERE type IN ('trigger', 'view') LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.sqlite())?;
        match planted {
            Some(kind) => Err(JournalError::NotARepairFile {
                path: self.path.clone(),
                reason: format!(
                    "it holds a {kind}, which no run makes (it was edited); start over with a new \
                     repair file"
                ),
            }),
            None => Ok(()),
        }
    }

    /// No id and no tables: an empty database (or an empty file).
    fn is_blank(&self) -> Result<bool, JournalError> {
        let application_id = self.application_id()?;
        let tables: i64 = self
            .connection
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .map_err(self.sqlite())?;
        Ok((application_id == 0 || application_id == APPLICATION_ID) && tables == 0)
    }

    fn application_id(&self) -> Result<i64, JournalError> {
        self.connection
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .map_err(self.sqlite())
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
                 tool_version TEXT NOT NULL,
                 verbose_log_md5 TEXT
             );
             {BLOB_TABLE}
             {COMPONENT_TABLE}
             "
        );
        // One transaction: a file killed while being created is empty, never half made.
        self.connection.execute_batch(&sql).map_err(self.sqlite())?;
        self.connection
            .execute(
                "INSERT INTO binding VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    binding.drive_id,
                    binding.manifest_md5.map(|m| m.to_string()),
                    binding.copy_log_md5.map(|m| m.to_string()),
                    now(),
                    env!("CARGO_PKG_VERSION"),
                    binding.verbose_log_md5.map(|m| m.to_string()),
                ],
            )
            .map_err(self.sqlite())?;
        self.connection
            .execute_batch("COMMIT;")
            .map_err(self.sqlite())
    }

    fn check_existing(&mut self, binding: &Binding) -> Result<(), JournalError> {
        let not_ours = |path: &str, reason: &str| JournalError::NotARepairFile {
            path: path.to_string(),
            reason: reason.to_string(),
        };
        if self.application_id()? != APPLICATION_ID {
            return Err(not_ours(
                &self.path,
                "it is an SQLite database of another program",
            ));
        }
        let version = self.schema_version()?;
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
            .ok_or_else(|| not_ours(&self.path, "it records no drive"))?;
        let text = |md5: Option<Md5>| md5.map_or_else(|| "(none)".to_string(), |m| m.to_string());
        // A file made before the verbose log was bound (schema 4 or before) does not know it.
        let binds_verbose_log = rows::has_column(&self.connection, "binding", "verbose_log_md5")
            .map_err(self.sqlite())?;
        let recorded_verbose_log: Option<String> = if binds_verbose_log {
            self.connection
                .query_row("SELECT verbose_log_md5 FROM binding", [], |row| row.get(0))
                .map_err(self.sqlite())?
        } else {
            None
        };
        let mut checks = vec![
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
        if binds_verbose_log {
            checks.push((
                "verbose log MD5",
                recorded_verbose_log.unwrap_or_else(|| "(none)".into()),
                text(binding.verbose_log_md5),
            ));
        }
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
        if version < 2 {
            self.migrate_from_position_keys()?;
        } else if version < SCHEMA_VERSION {
            self.add_columns()?;
        }
        if !binds_verbose_log {
            // Bound from now on to the verbose log it is resumed with.
            self.connection
                .execute_batch("ALTER TABLE binding ADD COLUMN verbose_log_md5 TEXT;")
                .map_err(self.sqlite())?;
            self.connection
                .execute(
                    "UPDATE binding SET verbose_log_md5 = ?1",
                    [binding.verbose_log_md5.map(|m| m.to_string())],
                )
                .map_err(self.sqlite())?;
        }
        // Find out now, not at the first write of the repair, whether the file can be
        // written and its rows read.
        self.connection
            .execute("UPDATE binding SET tool_version = tool_version", [])
            .map_err(self.sqlite())?;
        self.check_rows(&[UNREADABLE_BLOBS, UNREADABLE_ROWS, UNKNOWN_VALUES])
    }

    /// Refuses rows a run could not read back (`queries`: each counts such rows).
    fn check_rows(&self, queries: &[&str]) -> Result<(), JournalError> {
        let mut unreadable: i64 = 0;
        for query in queries {
            let count: i64 = self
                .connection
                .query_row(query, [], |row| row.get(0))
                .map_err(self.sqlite())?;
            unreadable += count;
        }
        if unreadable > 0 {
            return Err(JournalError::NotARepairFile {
                path: self.path.clone(),
                reason: format!(
                    "{unreadable} of its rows are damaged (values of the wrong type, a negative \
                     number, or a state or status no run writes); start over with a new repair \
                     file"
                ),
            });
        }
        Ok(())
    }

    /// The schema the file is of: its `user_version`, unless that was set back below the
    /// identity keys its tables have (by hand or another program): then the schema its columns
    /// are of (a conversion adds any column it lacks). A file without the tables every schema
    /// has, or of a version no run writes, is refused.
    fn schema_version(&self) -> Result<i64, JournalError> {
        let edited = |what: String| JournalError::NotARepairFile {
            path: self.path.clone(),
            reason: format!("{what} (it was edited); start over with a new repair file"),
        };
        let recorded: i64 = self
            .connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(self.sqlite())?;
        // A newer schema is the newer version's to judge (its callers say so).
        if recorded > SCHEMA_VERSION {
            return Ok(recorded);
        }
        for table in ["binding", "blob", "component"] {
            if !self.has_table(table)? {
                return Err(edited(format!("it has no `{table}` table")));
            }
        }
        if recorded < 0 {
            return Err(edited(format!(
                "its schema version is {recorded}, which no export-repair writes"
            )));
        }
        let has =
            |column| rows::has_column(&self.connection, "component", column).map_err(self.sqlite());
        if recorded >= 2 || !has("file_key")? {
            return Ok(recorded);
        }
        // Set back by hand: the schema its component columns are of (a resume converts it).
        Ok(match (has("file_changed_ns")?, has("written_md5")?) {
            (true, true) => 4,
            (true, false) => 3,
            (false, _) => 2,
        })
    }

    /// Opens an existing repair file only to read it (for reports); takes no lock.
    pub fn open_read_only(path: &Path) -> Result<Self, JournalError> {
        let display = path.display().to_string();
        if !check_repair_file(path, &display)? {
            return Err(JournalError::NotARepairFile {
                path: display,
                reason: "it does not exist".into(),
            });
        }
        let connection = open_committed(path, &display)?;
        let file = RepairFile {
            connection,
            path: display,
        };
        file.refuse_triggers_and_views()?;
        if file.application_id()? != APPLICATION_ID {
            // No table at all: made by a run stopped before it recorded anything (SQLite may
            // have written its header already).
            let no_tables = file
                .connection
                .query_row("SELECT count(*) FROM sqlite_master", [], |row| {
                    row.get::<_, i64>(0)
                })
                .is_ok_and(|tables| tables == 0);
            let empty = no_tables || std::fs::metadata(path).is_ok_and(|found| found.len() == 0);
            return Err(JournalError::NotARepairFile {
                path: file.path.clone(),
                reason: match empty {
                    true => "it is empty: no run recorded anything in it".into(),
                    false => "it is another program's SQLite database".into(),
                },
            });
        }
        let version = file.schema_version()?;
        if version > SCHEMA_VERSION {
            return Err(JournalError::NewerSchema {
                path: file.path.clone(),
                found: version,
            });
        }
        if version < 2 {
            return Err(JournalError::NotARepairFile {
                path: file.path.clone(),
                reason: "it was made by an older export-repair; resume the repair once with this \
                         version (it converts the file), then make the report"
                    .into(),
            });
        }
        // Schema 2 has no change times, which the check of every column's type reads.
        if version >= 3 {
            file.check_rows(&[UNREADABLE_BLOBS, UNREADABLE_ROWS, UNKNOWN_VALUES])?;
        } else {
            file.check_rows(&[UNREADABLE_BLOBS, UNKNOWN_VALUES])?;
        }
        Ok(file)
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

const BLOB_TABLE: &str = "CREATE TABLE blob (
                 blob INTEGER PRIMARY KEY,
                 blob_path TEXT NOT NULL,
                 file_path TEXT NOT NULL,
                 snapshot TEXT,
                 length INTEGER NOT NULL,
                 properties_path TEXT,
                 metadata_path TEXT,
                 in_manifest INTEGER NOT NULL DEFAULT 1,
                 export TEXT
             );";

/// Components by identity: the file as NTFS names it (`file_key`), kind, offset, length.
/// `blob`/`component` are the positions in the drive recorded when the file was made (for
/// reports made from the file alone); they never identify a component on resume.
const COMPONENT_TABLE: &str = "CREATE TABLE component (
                 file_key TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 offset INTEGER NOT NULL,
                 length INTEGER NOT NULL,
                 blob INTEGER NOT NULL,
                 component INTEGER NOT NULL,
                 file_path TEXT NOT NULL,
                 expected_md5 TEXT,
                 state TEXT NOT NULL,
                 status TEXT,
                 actual_md5 TEXT,
                 reason TEXT,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 updated TEXT NOT NULL,
                 recorded_ns INTEGER,
                 file_length INTEGER,
                 file_modified_ns INTEGER,
                 file_inode INTEGER,
                 file_device INTEGER,
                 file_changed_ns INTEGER,
                 written_md5 TEXT,
                 PRIMARY KEY (file_key, kind, offset, length)
             ) WITHOUT ROWID;";

/// Rows whose values a run could not read back (a flipped bit, a foreign edit).
const UNREADABLE_ROWS: &str = "SELECT count(*) FROM component WHERE
    typeof(file_key) != 'text' OR typeof(kind) != 'text' OR typeof(offset) != 'integer'
    OR typeof(length) != 'integer' OR typeof(blob) != 'integer'
    OR typeof(component) != 'integer' OR typeof(file_path) != 'text'
    OR typeof(state) != 'text' OR typeof(attempts) != 'integer' OR attempts < 0
    OR typeof(expected_md5) NOT IN ('text', 'null') OR typeof(status) NOT IN ('text', 'null')
    OR typeof(actual_md5) NOT IN ('text', 'null') OR typeof(reason) NOT IN ('text', 'null')
    OR typeof(recorded_ns) NOT IN ('integer', 'null')
    OR typeof(file_length) NOT IN ('integer', 'null')
    OR typeof(file_modified_ns) NOT IN ('integer', 'null')
    OR typeof(file_inode) NOT IN ('integer', 'null')
    OR typeof(file_device) NOT IN ('integer', 'null')
    OR typeof(file_changed_ns) NOT IN ('integer', 'null')";

/// Blob rows whose values a run could not read back.
const UNREADABLE_BLOBS: &str = "SELECT count(*) FROM blob WHERE
    typeof(blob) != 'integer' OR typeof(blob_path) != 'text' OR typeof(file_path) != 'text'
    OR typeof(snapshot) NOT IN ('text', 'null') OR typeof(length) != 'integer' OR length < 0
    OR typeof(properties_path) NOT IN ('text', 'null')
    OR typeof(metadata_path) NOT IN ('text', 'null') OR typeof(in_manifest) != 'integer'";

/// Rows holding a state or status no run writes (columns every schema has).
const UNKNOWN_VALUES: &str = "SELECT count(*) FROM component WHERE
    state NOT IN ('pending', 'in_flight', 'done', 'reopened')
    OR state IN ('done', 'reopened') AND (status IS NULL OR status NOT IN
        ('verified', 'repaired', 'regenerated', 'corrupt', 'missing', 'failed', 'skipped'))
    OR status IS NOT NULL AND status NOT IN
        ('verified', 'repaired', 'regenerated', 'corrupt', 'missing', 'failed', 'skipped')";

/// Where SQLite keeps the rollback journal of the repair file at `path`.
fn journal_path(path: &Path) -> std::path::PathBuf {
    let mut journal = path.as_os_str().to_owned();
    journal.push("-journal");
    journal.into()
}

/// Refuses a repair file that is not a regular file (SQLite would wait forever to open a FIFO,
/// and say "disk I/O error" of a folder) or that is in WAL mode, which no run uses (reading it
/// would leave `-wal` and `-shm` files beside it), and its rollback journal when that is not a
/// regular file. Returns whether the repair file exists.
fn check_repair_file(path: &Path, display: &str) -> Result<bool, JournalError> {
    use std::io::Read as _;
    use std::os::unix::fs::FileTypeExt as _;
    let found = match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => {
            return Err(JournalError::NotARepairFile {
                path: display.to_string(),
                reason: format!("it cannot be read: {error}"),
            });
        }
        Ok(found) => found.file_type(),
    };
    if !found.is_file() {
        let kind = match found {
            _ if found.is_dir() => "a folder",
            _ if found.is_fifo() => "a FIFO",
            _ if found.is_socket() => "a socket",
            _ if found.is_block_device() || found.is_char_device() => "a device",
            _ => "a special file",
        };
        return Err(JournalError::NotAFile {
            path: display.to_string(),
            kind,
        });
    }
    // The header's write and read versions (bytes 18 and 19) are 2 in WAL mode.
    let mut header = [0u8; 20];
    let whole = std::fs::File::open(path).and_then(|mut file| file.read_exact(&mut header));
    if whole.is_ok() && header.starts_with(b"SQLite format 3\0") && header[18..] == [2, 2] {
        return Err(JournalError::NotARepairFile {
            path: display.to_string(),
            reason: "it is in WAL mode, which no run uses: another tool switched it; start over \
                     with a new repair file"
                .into(),
        });
    }
    check_journal(path, display)?;
    Ok(true)
}

/// Refuses a rollback journal beside the repair file that is not a regular file: SQLite would
/// wait forever on a FIFO, give "disk I/O error" for a folder, and "cannot open" (blamed on
/// the repair file) for some links; a link is not followed.
fn check_journal(path: &Path, display: &str) -> Result<(), JournalError> {
    let journal = journal_path(path);
    match std::fs::symlink_metadata(&journal) {
        Ok(found) if !found.is_file() => Err(JournalError::JournalNotAFile {
            path: display.to_string(),
            journal: journal.display().to_string(),
        }),
        _ => Ok(()),
    }
}

/// Another run holding the repair file is not going to let go soon: say so at once.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(200);

/// A connection that reads the repair file at `path` as last committed, and never writes it.
/// A run killed inside a transaction leaves a hot rollback journal beside the file, which
/// SQLite rolls back before anything is read, and a read-only connection cannot: the file and
/// its journal are then copied aside, rolled back there, and read into memory. The file and its
/// journal were checked first ([`check_repair_file`]).
fn open_committed(path: &Path, display: &str) -> Result<Connection, JournalError> {
    let sqlite = |source| classify(display, source);
    // Twice at most: a run that rolls the journal back meanwhile takes it away.
    for _ in 0..2 {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        match connection.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())) {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK =>
            {
                drop(connection);
                match rolled_back_copy(path, display) {
                    Err(CopyAside::Gone) => continue,
                    Err(CopyAside::Failed(error)) => return Err(error),
                    Ok(connection) => return Ok(connection),
                }
            }
            Err(error) => return Err(sqlite(error)),
            Ok(()) => return Ok(connection),
        }
    }
    Err(JournalError::InUse {
        path: display.to_string(),
    })
}

/// Why a repair file was not read through a copy aside.
enum CopyAside {
    /// Its journal went away before it was copied (another run rolled it back).
    Gone,
    Failed(JournalError),
}

/// The repair file at `path` with its hot journal rolled back, in memory: both are copied to a
/// private folder (writable copies, whatever the originals' modes), where SQLite rolls the
/// copy back; the folder is then removed.
fn rolled_back_copy(path: &Path, display: &str) -> Result<Connection, CopyAside> {
    use std::os::unix::fs::PermissionsExt as _;
    let sqlite = |source| CopyAside::Failed(classify(display, source));
    let aside = |error: std::io::Error| {
        CopyAside::Failed(JournalError::Sqlite {
            path: display.to_string(),
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!(
                    "cannot copy it and its rollback journal aside to read them: {error}"
                )),
            ),
        })
    };
    let folder =
        crate::private_dir::Scratch::make("repair-file").map_err(|(_, error)| aside(error))?;
    let copy = folder.path().join("repair-file");
    let journal = journal_path(path);
    let copies = [
        (path.to_path_buf(), copy.clone()),
        (journal, folder.path().join("repair-file-journal")),
    ];
    for (from, to) in copies {
        match std::fs::copy(&from, &to) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(CopyAside::Gone);
            }
            Err(error) => return Err(aside(error)),
            Ok(_) => std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
                .map_err(aside)?,
        }
    }
    let rolled_back =
        Connection::open_with_flags(&copy, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sqlite)?;
    in_memory(&rolled_back).map_err(sqlite)
}

/// A copy in memory of the database `connection` reads.
fn in_memory(connection: &Connection) -> rusqlite::Result<Connection> {
    let mut copy = Connection::open_in_memory()?;
    rusqlite::backup::Backup::new(connection, &mut copy)?.run_to_completion(
        1024,
        std::time::Duration::ZERO,
        None,
    )?;
    Ok(copy)
}

fn classify(path: &str, source: rusqlite::Error) -> JournalError {
    // A value no run writes (a foreign edit, a flipped bit) found while reading a row.
    let damaged = |what: String| JournalError::NotARepairFile {
        path: path.to_string(),
        reason: format!("{what}, which no run writes; start over with a new repair file"),
    };
    match &source {
        rusqlite::Error::InvalidColumnType(_, column, found) => {
            return damaged(format!(
                "a row holds a value of type {found} in its column `{column}`"
            ));
        }
        rusqlite::Error::IntegralValueOutOfRange(_, value) => {
            return damaged(format!(
                "a row holds the number {value} where a count belongs"
            ));
        }
        rusqlite::Error::FromSqlConversionFailure(_, found, _) => {
            return damaged(format!(
                "a row holds a value of type {found} that cannot be read"
            ));
        }
        _ => {}
    }
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
        Some(rusqlite::ErrorCode::CannotOpen) => JournalError::NotARepairFile {
            path: path.to_string(),
            reason: "it cannot be opened (no such file, or no permission)".into(),
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

fn now_ns() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// The MD5 of a whole input file, for binding.
pub fn file_md5(path: &Path) -> std::io::Result<Md5> {
    crate::format::md5::Md5Stream::of_reader(std::fs::File::open(path)?)
}

#[cfg(test)]
mod tests;
