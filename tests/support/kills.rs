//! `kill -9` in the middle of a repair, and what the repair file says about where it landed.
//!
//! A kill is "mid-write" when the repair file records some components repaired and not all
//! of them: a kill during start-up, verification, or after the last write proves nothing
//! about the write protocol. [`kill_after_repaired`] times a kill by the run's own NDJSON
//! events (`--json`), [`repair_progress`] reads the repair file afterwards.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// How a killed run ended.
#[derive(Debug)]
pub struct Killed {
    /// It was still running when the kill was sent.
    pub running: bool,
    /// Components it had reported repaired (repaired ones the repair file held at its start
    /// included: a resumed run announces them again).
    pub reported: u64,
    pub stderr: String,
}

/// Starts `command` (a repair, to which `--json` is added) and SIGKILLs it at once after it
/// reported its `after`-th repaired component, or, with `after` `None`, after `delay`.
/// Reads stdout all the while, so a full pipe never holds the run back.
pub fn kill_repair(command: &mut Command, after: Option<u64>, delay: Duration) -> Killed {
    let mut child = command
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (reports, reported) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut count = 0;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if event["event"] == "component" && event["status"] == "repaired" {
                count += 1;
                let _ = reports.send(count);
            }
        }
    });
    let mut count = 0;
    match after {
        Some(after) => {
            while count < after {
                // The channel closes when the run ends without reporting that many.
                let Ok(next) = reported.recv() else { break };
                count = next;
            }
        }
        None => std::thread::sleep(delay),
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    let count = reported.try_iter().last().unwrap_or(count);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    Killed {
        running,
        reported: count,
        stderr,
    }
}

/// [`kill_repair`] after the `after`-th repaired component.
pub fn kill_after_repaired(command: &mut Command, after: u64) -> Killed {
    kill_repair(command, Some(after), Duration::ZERO)
}

/// [`kill_repair`] after `delay`.
pub fn kill_after(command: &mut Command, delay: Duration) -> Killed {
    kill_repair(command, None, delay)
}

/// What a repair file records.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Components finished as repaired.
    pub repaired: u64,
    /// Every component of the drive.
    pub components: u64,
    /// The repaired block and page ranges: FilePath, offset, length. The write protocol
    /// journals a component done only once its bytes are written, synced and read back.
    pub repaired_ranges: Vec<(String, u64, u64)>,
}

/// The progress recorded in the repair file at `path` (none when it does not exist or holds
/// no drive yet). Read from a copy, with its rollback journal if a kill left one: opening it
/// rolls the torn transaction back, as the next run will, without touching the original.
pub fn repair_progress(path: &Path) -> Progress {
    if !path.exists() {
        return Progress::default();
    }
    let copy = tempfile::tempdir().unwrap();
    let rep = copy.path().join("copy.rep");
    std::fs::copy(path, &rep).unwrap();
    let mut journal = path.as_os_str().to_owned();
    journal.push("-journal");
    if Path::new(&journal).exists() {
        std::fs::copy(&journal, copy.path().join("copy.rep-journal")).unwrap();
    }
    let Ok(db) = rusqlite::Connection::open(&rep) else {
        return Progress::default();
    };
    let count = |sql: &str| {
        db.query_row(sql, [], |row| row.get::<_, i64>(0))
            .unwrap_or(0) as u64
    };
    const REPAIRED: &str = "state = 'done' AND status = 'repaired'";
    let repaired_ranges = db
        .prepare(&format!(
            "SELECT file_path, offset, length FROM component
             WHERE {REPAIRED} AND kind IN ('block', 'page')"
        ))
        .and_then(|mut statement| {
            statement
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get::<_, i64>(1)? as u64,
                        row.get::<_, i64>(2)? as u64,
                    ))
                })?
                .collect()
        })
        .unwrap_or_default();
    Progress {
        repaired: count(&format!("SELECT count(*) FROM component WHERE {REPAIRED}")),
        components: count("SELECT count(*) FROM component"),
        repaired_ranges,
    }
}
