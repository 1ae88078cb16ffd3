//! A repair run inside the test's process, through the engine's API (for a source the test
//! wraps, or options the command line does not offer): the drive from its manifest and copy
//! log, a repair file bound to them, and the run's events until it ends.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use export_repair::engine::{self, Event, RepairOptions};
use export_repair::format::copylog::CopyLog;
use export_repair::format::manifest::Manifest;
use export_repair::journal::{self, Binding, RepairFile};
use export_repair::model::Drive;
use export_repair::source::BlobSource;

/// The drive of `manifest` and `copy_log` (one at least), and a new repair file at
/// `repair_file` bound to them.
pub fn prepare(
    manifest: Option<&Path>,
    copy_log: Option<&Path>,
    repair_file: &Path,
) -> (Arc<Drive>, RepairFile) {
    let logs = copy_log.map(|path| CopyLog::from_file(path).unwrap().into());
    let parsed = manifest.map(|path| Manifest::from_file(path).unwrap());
    let drive = Arc::new(Drive::build(parsed, logs).unwrap());
    let binding = Binding {
        drive_id: drive.drive_id.clone(),
        manifest_md5: manifest.map(|path| journal::file_md5(path).unwrap()),
        copy_log_md5: copy_log.map(|path| journal::file_md5(path).unwrap()),
        verbose_log_md5: None,
    };
    let (mut file, _) = RepairFile::open_or_create(repair_file, &binding).unwrap();
    file.record_drive(&drive).unwrap();
    (drive, file)
}

/// Runs a repair of `drive` into `target` to its end (a minute at most) and returns its events.
pub async fn repair(
    drive: &Arc<Drive>,
    target: PathBuf,
    source: Arc<dyn BlobSource>,
    repair_file: RepairFile,
    options: RepairOptions,
) -> Vec<Event> {
    let mut handle = engine::start_repair(Arc::clone(drive), target, source, repair_file, options);
    let mut events = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(event) = handle.events.recv().await {
            events.push(event);
        }
    })
    .await;
    assert!(ended.is_ok(), "the run never ended: {events:#?}");
    events
}
