//! A download task that panics is a failure of its components, named with the panic's message:
//! the run goes on with everything else and ends, instead of hanging with components that
//! never settle.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

use std::sync::Arc;
use std::time::Duration;

use export_repair::demo::scenario;
use export_repair::engine::{self, Event, RepairOptions};
use export_repair::format::copylog::CopyLog;
use export_repair::format::manifest::Manifest;
use export_repair::journal::{self, Binding, RepairFile};
use export_repair::model::{ComponentStatus, Drive};
use export_repair::source::mirror::MirrorSource;
use export_repair::source::{BlobProperties, BlobRef, BlobSource, ReadConditions, SourceError};

/// The mirror, except that reading canyon.jpg's bytes panics.
struct PanicsOnCanyon(MirrorSource);

#[async_trait::async_trait]
impl BlobSource for PanicsOnCanyon {
    async fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<bytes::Bytes, SourceError> {
        assert!(
            !blob.name.ends_with("canyon.jpg"),
            "a bug in the download of canyon.jpg"
        );
        self.0.read_range(blob, offset, length, conditions).await
    }

    async fn properties(
        &self,
        blob: &BlobRef,
        conditions: &ReadConditions,
    ) -> Result<BlobProperties, SourceError> {
        self.0.properties(blob, conditions).await
    }

    fn describe(&self) -> String {
        "a mirror that panics on canyon.jpg".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_download_fails_its_components_and_the_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let paths = scenario::build(dir.path()).unwrap();
    let manifest = Manifest::from_file(&paths.manifest).unwrap();
    let copy_log = CopyLog::from_file(&paths.copy_log).unwrap();
    let drive = Arc::new(Drive::build(Some(manifest), Some(copy_log.into())).unwrap());
    let binding = Binding {
        drive_id: drive.drive_id.clone(),
        manifest_md5: Some(journal::file_md5(&paths.manifest).unwrap()),
        copy_log_md5: Some(journal::file_md5(&paths.copy_log).unwrap()),
    };
    let (mut repair_file, _) = RepairFile::open_or_create(&paths.repair_file, &binding).unwrap();
    repair_file.record_drive(&drive).unwrap();
    let source = Arc::new(PanicsOnCanyon(MirrorSource::new(&paths.mirror).unwrap()));
    let mut handle = engine::start_repair(
        Arc::clone(&drive),
        paths.drive.clone(),
        source,
        repair_file,
        RepairOptions::default(),
    );
    let mut events = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(event) = handle.events.recv().await {
            events.push(event);
        }
    })
    .await;
    assert!(ended.is_ok(), "the run never ended: {events:#?}");
    let Some(Event::RunFinished { interrupted, .. }) = events.last() else {
        panic!("no RunFinished: {events:#?}");
    };
    assert!(!interrupted, "the rest of the run went on to its end");
    let verdicts: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            Event::Component(c) => Some(c),
            _ => None,
        })
        .collect();
    let canyon = verdicts
        .iter()
        .filter(|c| c.file_path.ends_with("canyon.jpg") && c.status == ComponentStatus::Failed)
        .collect::<Vec<_>>();
    assert!(
        !canyon.is_empty(),
        "canyon.jpg's damage failed: {verdicts:#?}"
    );
    for failed in &canyon {
        let reason = failed.reason.as_deref().unwrap_or_default();
        assert!(
            reason.contains("internal error") && reason.contains("a bug in the download"),
            "{reason}"
        );
    }
    // Everything else the demo damaged was repaired regardless.
    assert!(
        verdicts
            .iter()
            .any(|c| !c.file_path.ends_with("canyon.jpg") && c.status == ComponentStatus::Repaired),
        "{verdicts:#?}"
    );
}
