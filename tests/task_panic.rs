//! A download task that panics is a failure of its components, named with the panic's message:
//! the run goes on with everything else and ends, instead of hanging with components that
//! never settle.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

#[path = "support/engine_run.rs"]
mod engine_run;

use std::sync::Arc;

use export_repair::demo::scenario;
use export_repair::engine::{Event, RepairOptions};
use export_repair::model::ComponentStatus;
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
    let (drive, repair_file) = engine_run::prepare(
        Some(&paths.manifest),
        Some(&paths.copy_log),
        &paths.repair_file,
    );
    let source = Arc::new(PanicsOnCanyon(MirrorSource::new(&paths.mirror).unwrap()));
    let events = engine_run::repair(
        &drive,
        paths.drive.clone(),
        source,
        repair_file,
        RepairOptions::default(),
    )
    .await;
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
