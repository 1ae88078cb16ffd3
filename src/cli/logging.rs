//! The verbose log in `/logdir` (default: the current directory, as v1), and the console's
//! log pane. Every line passes through a redactor that masks the run's secrets (including
//! credentials typed into the console later) and any SAS signature.

use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

use crate::sanitize::{redact_secrets, remember_secret};

/// Writes log lines to a file with secrets masked.
#[derive(Clone)]
struct RedactingFile {
    file: Arc<Mutex<File>>,
}

impl Write for RedactingFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        // One write is one event's line: a line break or escape sequence inside it (a FilePath
        // holding `&#10;`) is shown escaped, never as a forged line.
        let text = String::from_utf8_lossy(bytes);
        let (line, end) = match text.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (text.as_ref(), ""),
        };
        let clean = format!(
            "{}{end}",
            crate::sanitize::escape_controls(&redact_secrets(line))
        );
        self.file
            .lock()
            .map_err(|_| io::Error::other("log lock poisoned"))?
            .write_all(clean.as_bytes())?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file
            .lock()
            .map_err(|_| io::Error::other("log lock poisoned"))?
            .flush()
    }
}

/// The DriveId as the log's name holds it: ASCII letters, digits and `-` (others `_`), at
/// most 64 of them, so that any DriveId makes a name a file system takes (at most 255 bytes).
fn log_name_id(drive_id: &str) -> String {
    drive_id
        .chars()
        .take(64)
        .map(|c| match c.is_ascii_alphanumeric() || c == '-' {
            true => c,
            false => '_',
        })
        .collect()
}

/// Starts the verbose log for a run; returns its path.
pub fn start(directory: &Path, drive_id: &str, secrets: Vec<String>) -> io::Result<PathBuf> {
    std::fs::create_dir_all(directory)?;
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    let name = format!("export-repair_{}_{stamp}.log", log_name_id(drive_id));
    let path = directory.join(&name);
    // Opened beneath the folder without following a link planted at this predictable name;
    // a file already there (a rerun within the same second) is appended to.
    let mut file = crate::rooted::RootedDir::open(directory)?
        .child(&name)
        .and_then(|located| located.open_or_create())
        .map_err(io::Error::other)?
        .file;
    file.seek(io::SeekFrom::End(0))?;
    for secret in &secrets {
        remember_secret(secret);
    }
    let writer = RedactingFile {
        file: Arc::new(Mutex::new(file)),
    };
    let file_layer = tracing_subscriber::fmt::layer()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG);
    let subscriber = Registry::default().with(file_layer).with(PaneLayer);
    // A second run in one process (tests) keeps the first log; that is harmless.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(path)
}

/// Feeds the console's log pane: warnings and errors, notes, and the storage's retries.
/// Engine events are left out: the console shows those itself.
struct PaneLayer;

impl<S: tracing::Subscriber> Layer<S> for PaneLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let metadata = event.metadata();
        let target = metadata.target();
        let wanted = (*metadata.level() <= tracing::Level::INFO
            || target == "export_repair::source")
            && target != "export_repair::event"
            && !target.starts_with("export_repair::cli::session");
        if !wanted || !crate::tui::log_pane::attached() {
            return;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let level = metadata.level().as_str().to_ascii_lowercase();
        crate::tui::log_pane::publish(redact_secrets(&format!("{level}: {}", message.0)));
    }
}

/// An event's message field.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seen failing: a 300-character DriveId made a log name over 255 bytes, and the repair
    /// stopped with "File name too long" and advice (another --log-dir) that could not help.
    #[test]
    fn a_long_drive_id_makes_a_log_a_file_system_takes() {
        let dir = tempfile::tempdir().unwrap();
        let drive_id = "Ä/".repeat(150);
        let path = start(dir.path(), &drive_id, Vec::new()).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.len() <= 255, "{name}");
        assert!(
            name.starts_with(&format!("export-repair_{}_", "__".repeat(32))),
            "{name}"
        );
        assert_eq!(log_name_id("9WM35C3U"), "9WM35C3U");
    }

    #[test]
    fn the_pane_gets_notes_and_retries_redacted_but_not_engine_events() {
        let subscriber = Registry::default().with(PaneLayer);
        let mut lines = crate::tui::log_pane::attach();
        remember_secret("pane-test-secret-4711");
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("key pane-test-secret-4711 refused");
            tracing::info!(target: "export_repair::event", "{{\"event\":\"component\"}}");
            tracing::debug!(target: "export_repair::source", "attempt 1 failed; retrying");
            tracing::debug!("a detail only the file log wants");
        });
        let mut got = Vec::new();
        while let Ok(line) = lines.try_recv() {
            got.push(line);
        }
        assert_eq!(
            got,
            [
                "warn: key <redacted> refused",
                "debug: attempt 1 failed; retrying"
            ]
        );
    }
}
