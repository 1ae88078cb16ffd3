//! A run of the tool watched through its NDJSON events (`--json`): `kill -9` or Ctrl-C at
//! the moment an event says, never after a guessed delay, and what the repair file records
//! afterwards.
//!
//! A kill is "mid-write" when the repair file records some components repaired and not all
//! of them: a kill during start-up, verification, or after the last write proves nothing
//! about the write protocol. [`kill_after_repaired`] times a kill by the run's own events,
//! [`repair_progress`] reads the repair file afterwards.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running repair or verify, its NDJSON events and stderr read as they come (so a full
/// pipe never holds it back).
pub struct Watched {
    child: Child,
    events: mpsc::Receiver<Value>,
    /// Every event received so far.
    seen: Vec<Value>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// How a watched run ended.
#[derive(Debug)]
pub struct Ended {
    pub status: ExitStatus,
    pub events: Vec<Value>,
    pub stderr: String,
}

/// A component event saying it was repaired.
pub fn is_repaired(event: &Value) -> bool {
    event["event"] == "component" && event["status"] == "repaired"
}

/// A `working` event saying components are being downloaded.
pub fn is_downloading(event: &Value) -> bool {
    event["event"] == "working" && event["activity"] == "downloading"
}

impl Watched {
    /// Starts `command` with `--json`.
    pub fn start(command: &mut Command) -> Self {
        let mut child = command
            .arg("--json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr_pipe = child.stderr.take().unwrap();
        let (sender, events) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(String::new()));
        let into = Arc::clone(&stderr);
        let readers = vec![
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let event = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not an NDJSON event ({e}): {line}"));
                    let _ = sender.send(event);
                }
            }),
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stderr_pipe.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    into.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            }),
        ];
        Self {
            child,
            events,
            seen: Vec::new(),
            stderr,
            readers,
        }
    }

    /// Waits until an event satisfies `wanted`; false when the run's event stream ended
    /// first.
    pub fn wait_for(&mut self, mut wanted: impl FnMut(&Value) -> bool) -> bool {
        while let Ok(event) = self.events.recv() {
            let hit = wanted(&event);
            self.seen.push(event);
            if hit {
                return true;
            }
        }
        false
    }

    /// Waits, up to a minute, until stderr shows `text`; false when it never does.
    pub fn wait_for_stderr(&mut self, text: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.stderr().contains(text) {
                return true;
            }
            if !self.running() && self.readers.iter().all(JoinHandle::is_finished) {
                return self.stderr().contains(text);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Whether the run is still going. The child is not reaped before [`Watched::end`], so
    /// its process id cannot have been given to another process.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends SIGINT (Ctrl-C) to the run, which must still be running: an exited child is
    /// never signalled.
    pub fn interrupt(&mut self) {
        self.signal("INT");
    }

    /// Sends the signal `name` (`INT`, `TERM`, `HUP`, …) to the run, which must still be
    /// running: an exited child is never signalled.
    pub fn signal(&mut self, name: &str) {
        assert!(
            self.running(),
            "the run ended before it could be sent SIG{name}: {}",
            self.stderr()
        );
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{name} failed");
    }

    /// SIGKILLs the run if it is still going; returns whether it was.
    pub fn kill(&mut self) -> bool {
        let running = self.running();
        if running {
            self.child.kill().unwrap();
        }
        running
    }

    /// Waits for the run to end and for all its output; fails if it panicked.
    pub fn end(mut self) -> Ended {
        let status = self.child.wait().unwrap();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        self.seen.extend(self.events.try_iter());
        let stderr = self.stderr();
        assert!(!stderr.contains("panicked"), "the tool panicked: {stderr}");
        Ended {
            status,
            events: self.seen,
            stderr,
        }
    }
}

/// How a killed run ended.
#[derive(Debug)]
pub struct Killed {
    /// It was still running when the kill was sent.
    pub running: bool,
    pub stderr: String,
}

/// Starts `command` (a repair) and SIGKILLs it at once after it reported its `after`-th
/// repaired component (a resumed run first announces those the repair file holds), or, with
/// `after` `None`, after `delay`.
pub fn kill_repair(command: &mut Command, after: Option<u64>, delay: Duration) -> Killed {
    let mut run = Watched::start(command);
    match after {
        Some(after) => {
            let mut count = 0;
            run.wait_for(|event| {
                count += is_repaired(event) as u64;
                count >= after
            });
        }
        None => std::thread::sleep(delay),
    }
    let running = run.kill();
    Killed {
        running,
        stderr: run.end().stderr,
    }
}

/// [`kill_repair`] after the `after`-th repaired component.
pub fn kill_after_repaired(command: &mut Command, after: u64) -> Killed {
    kill_repair(command, Some(after), Duration::ZERO)
}

/// What a repair file records.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Components finished as repaired.
    pub repaired: u64,
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
    let db = rusqlite::Connection::open(&rep).unwrap();
    let count = |sql: &str| {
        db.query_row(sql, [], |row| row.get::<_, i64>(0))
            .unwrap_or_else(|error| panic!("{sql}: {error}")) as u64
    };
    // Killed before the drive was recorded: nothing to read yet. Past that, a query that
    // fails is a failed test, not "nothing repaired".
    if count("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'component'") == 0
    {
        return Progress::default();
    }
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
        .unwrap();
    Progress {
        repaired: count(&format!("SELECT count(*) FROM component WHERE {REPAIRED}")),
        repaired_ranges,
    }
}
