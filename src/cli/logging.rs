//! The verbose log in `/logdir` (default: the current directory, as v1). Every line passes
//! through a redactor that masks the run's secrets and any SAS signature.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::source::azure::redact_secrets_with;

/// Writes log lines to a file with secrets masked.
#[derive(Clone)]
struct RedactingFile {
    file: Arc<Mutex<File>>,
    secrets: Arc<Vec<String>>,
}

impl Write for RedactingFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(bytes);
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let clean = redact_secrets_with(&text, &secrets);
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

/// Starts the verbose log for a run; returns its path.
pub fn start(directory: &Path, drive_id: &str, secrets: Vec<String>) -> io::Result<PathBuf> {
    std::fs::create_dir_all(directory)?;
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    let safe_id: String = drive_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = directory.join(format!("export-repair_{safe_id}_{stamp}.log"));
    let file = File::create(&path)?;
    let writer = RedactingFile {
        file: Arc::new(Mutex::new(file)),
        secrets: Arc::new(secrets.into_iter().filter(|s| s.len() >= 4).collect()),
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    // A second run in one process (tests) keeps the first log; that is harmless.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(path)
}
