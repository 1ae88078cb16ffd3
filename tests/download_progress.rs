//! What a run says of its downloads. A download moves the run's progress while it comes, not
//! only at its verdict: a range as it arrives, a file downloaded whole piece by piece, the
//! missing end of a file cut short. The bytes told as they come add up to what was written,
//! come before the verdict, and the progress ends with every planned byte done, none counted
//! twice. And a run stopped while its last download is in flight, which then finishes, is not
//! called interrupted. In-process (small requests, so that a small file takes several), from
//! a local mirror; the bytes on the drive are the blob's.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::path::Path;
use std::sync::Arc;

use export_repair::demo::{SampleBlob, SampleDrive, local_path, pseudo_random_bytes};
use export_repair::engine::{self, Command, Event, RepairOptions, SourceHandle};
use export_repair::journal::RepairFile;
use export_repair::model::{ComponentId, ComponentKind, ComponentStatus, Drive, Outcome};
use export_repair::source::mirror::MirrorSource;
use export_repair::source::{
    BlobProperties, BlobRef, BlobSource, CredentialKind, ReadConditions, SourceError,
};
use support::engine_run;
use tokio::sync::Notify;

const LENGTH: usize = 40_000;
const PIECE: u64 = 4096;
const LAST_MODIFIED: &str = "2012-09-18T23:47:08Z";

/// A drive whose one file `cont/x.bin` only the copy log lists (`entry`: the `<Blob>` element's
/// inner XML after the paths), holding `on_drive` (`None`: missing), its repair file, and a
/// mirror of the blob. Returns the drive's model, the repair file and the blob.
fn export(
    dir: &Path,
    status: &str,
    entry: &str,
    on_drive: Option<usize>,
) -> (Arc<Drive>, RepairFile, Vec<u8>) {
    let blob = pseudo_random_bytes(17, LENGTH);
    let mirror = dir.join("mirror/cont");
    std::fs::create_dir_all(&mirror).unwrap();
    std::fs::write(mirror.join("x.bin"), &blob).unwrap();
    std::fs::write(
        mirror.join("x.bin.blobprops.json"),
        format!(r#"{{"last_modified": "{LAST_MODIFIED}"}}"#),
    )
    .unwrap();
    let drive = dir.join("drive");
    std::fs::create_dir_all(drive.join("cont")).unwrap();
    if let Some(kept) = on_drive {
        std::fs::write(drive.join("cont/x.bin"), &blob[..kept]).unwrap();
    }
    let copy_log = dir.join("copy.xml");
    std::fs::write(
        &copy_log,
        format!(
            r#"<DriveLog Version="2014-11-01"><DriveId>PROGRESS</DriveId>
<Blob Status="{status}"><BlobPath>cont/x.bin</BlobPath><FilePath>\cont\x.bin</FilePath><Length>{LENGTH}</Length><LastModified>{LAST_MODIFIED}</LastModified>{entry}</Blob>
<Status>CompletedWithErrors</Status></DriveLog>"#
        ),
    )
    .unwrap();
    let (model, repair_file) = engine_run::prepare(None, Some(&copy_log), &dir.join("drive.rep"));
    (model, repair_file, blob)
}

/// Requests of `PIECE` bytes: a small file takes several.
fn options() -> RepairOptions {
    RepairOptions {
        max_request_bytes: PIECE,
        ..RepairOptions::default()
    }
}

/// Asserts that the drive's file is `blob`, byte for byte.
fn assert_repaired(dir: &Path, blob: &[u8], events: &[Event]) {
    let verdicts: Vec<&Event> = events
        .iter()
        .filter(|event| matches!(event, Event::Component(_)))
        .collect();
    let on_drive = std::fs::read(dir.join("drive/cont/x.bin")).ok();
    assert!(
        on_drive.as_deref() == Some(blob),
        "not the blob: {verdicts:#?}"
    );
}

/// [`export`], repaired from the mirror: the events.
async fn repair(dir: &Path, status: &str, entry: &str, on_drive: Option<usize>) -> Vec<Event> {
    let (model, repair_file, blob) = export(dir, status, entry, on_drive);
    let source = Arc::new(MirrorSource::new(dir.join("mirror")).unwrap());
    let events =
        engine_run::repair(&model, dir.join("drive"), source, repair_file, options()).await;
    assert_repaired(dir, &blob, &events);
    events
}

/// Bytes told for `id`, in how many events, all before its last verdict; and that verdict.
fn told_before_verdict(events: &[Event], id: ComponentId) -> (u64, usize, ComponentStatus) {
    let (mut bytes, mut count, mut last) = (0, 0, None);
    for event in events {
        match event {
            Event::Transferred { id: told, bytes: b } if *told == id => {
                bytes += b;
                count += 1;
                last = None;
            }
            Event::Component(verdict) if verdict.id == id => last = Some(verdict.status),
            _ => {}
        }
    }
    let last = last.unwrap_or_else(|| panic!("bytes told after the last verdict: {events:#?}"));
    (bytes, count, last)
}

/// The download progress of the last progress event: (done, total) bytes.
fn last_download_progress(events: &[Event]) -> (u64, u64) {
    events
        .iter()
        .rev()
        .find_map(|event| match event {
            Event::Progress(progress) => {
                Some((progress.download.bytes_done, progress.download.bytes_total))
            }
            _ => None,
        })
        .unwrap()
}

/// A file the copy log reports missing, downloaded whole in ten pieces.
///
/// Seen failing without the `transferred` events: no byte was told before the verdict (the
/// progress stood still for the whole download).
#[tokio::test(flavor = "multi_thread")]
async fn a_whole_file_download_moves_the_progress_piece_by_piece() {
    let dir = tempfile::tempdir().unwrap();
    let events = repair(dir.path(), "FileNotFound", "", None).await;
    let file = ComponentId {
        blob: 0,
        component: 0,
    };
    let (told, count, status) = told_before_verdict(&events, file);
    assert_eq!(status, ComponentStatus::Repaired);
    assert_eq!(told, LENGTH as u64, "every byte written was told");
    assert_eq!(count, (LENGTH as u64).div_ceil(PIECE) as usize);
    assert_eq!(
        last_download_progress(&events),
        (LENGTH as u64, LENGTH as u64)
    );
}

/// A file cut short before its failed range: the missing end (the range within it) is
/// downloaded piece by piece; the range's bytes are told for the range, the others for the
/// file, and both join the totals once.
///
/// Seen failing without them: the progress ended at 4000 of 4000 bytes (the range alone),
/// the 34,000 other bytes of the missing end counted nowhere.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_end_moves_the_progress_and_joins_the_totals() {
    let dir = tempfile::tempdir().unwrap();
    let failed = r#"<BlockList><Block Offset="20000" Length="4000" Id="AA==" Status="Failed" /></BlockList>"#;
    let events = repair(dir.path(), "CompletedWithErrors", failed, Some(2000)).await;
    let range = ComponentId {
        blob: 0,
        component: 0,
    };
    let file = ComponentId {
        blob: 0,
        component: 1,
    };
    let (range_told, _, range_status) = told_before_verdict(&events, range);
    assert_eq!(
        (range_told, range_status),
        (4000, ComponentStatus::Repaired)
    );
    let (file_told, count, file_status) = told_before_verdict(&events, file);
    assert_eq!(file_status, ComponentStatus::Repaired);
    assert_eq!(file_told, (LENGTH - 2000 - 4000) as u64);
    assert!(count > 1, "{count} events for the file's bytes");
    let missing_end = (LENGTH - 2000) as u64;
    assert_eq!(last_download_progress(&events), (missing_end, missing_end));
}

/// A missing end that holds a range the copy log says was copied: the range is missing (the
/// file ends before it), so it is planned, comes with the missing end, and joins the totals
/// with it; the progress ends with every byte downloaded, counted once.
///
/// Seen failing with such a range skipped for want of a hash: it was planned by nothing, and
/// the progress ended at 34,000 of 34,000 bytes, its 4000 bytes downloaded but counted nowhere.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_end_counts_the_copied_ranges_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let ranges = r#"<BlockList><Block Offset="8000" Length="4000" Id="AA==" Status="Completed" /><Block Offset="20000" Length="4000" Id="AQ==" Status="Failed" /></BlockList>"#;
    let events = repair(dir.path(), "CompletedWithErrors", ranges, Some(2000)).await;
    let copied = ComponentId {
        blob: 0,
        component: 0,
    };
    let (copied_told, _, copied_status) = told_before_verdict(&events, copied);
    assert_eq!(
        (copied_told, copied_status),
        (4000, ComponentStatus::Repaired)
    );
    let missing_end = (LENGTH - 2000) as u64;
    assert_eq!(last_download_progress(&events), (missing_end, missing_end));
    let told: u64 = (events.iter())
        .filter_map(|event| match event {
            Event::Transferred { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .sum();
    assert_eq!(told, missing_end, "every byte of the missing end told once");
}

/// A download that fails brings no bytes: they leave the download's total instead of joining
/// what was done, so the progress ends at what came (here nothing), not at "100%".
///
/// Seen failing: the progress ended at 4000 of 4000 bytes, 1 of 1 components, after a
/// download refused because the blob changed since export.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_download_is_not_counted_as_downloaded() {
    let dir = tempfile::tempdir().unwrap();
    let failed = r#"<BlockList><Block Offset="20000" Length="4000" Id="AA==" Status="Failed" /></BlockList>"#;
    let (model, repair_file, _) = export(dir.path(), "CompletedWithErrors", failed, Some(LENGTH));
    // The storage holds another version now: the download is refused.
    std::fs::write(
        dir.path().join("mirror/cont/x.bin.blobprops.json"),
        r#"{"last_modified": "2020-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let source = Arc::new(MirrorSource::new(dir.path().join("mirror")).unwrap());
    let events = engine_run::repair(
        &model,
        dir.path().join("drive"),
        source,
        repair_file,
        options(),
    )
    .await;
    let range = ComponentId {
        blob: 0,
        component: 0,
    };
    let (_, _, status) = told_before_verdict(&events, range);
    assert_eq!(status, ComponentStatus::Failed);
    assert_eq!(last_download_progress(&events), (0, 0));
}

/// A range the copy log says failed is told to the progress meter while it arrives, before
/// its verdict (a slow link moves the progress and its rate within a request); the verdict
/// adds the rest, none twice.
///
/// Seen failing without it: no byte was told before the verdict.
#[tokio::test(flavor = "multi_thread")]
async fn a_range_download_is_told_while_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let failed = r#"<BlockList><Block Offset="20000" Length="4000" Id="AA==" Status="Failed" /></BlockList>"#;
    let (model, repair_file, blob) =
        export(dir.path(), "CompletedWithErrors", failed, Some(LENGTH));
    let source = Trickling::mirror_in(dir.path());
    let events = engine_run::repair(
        &model,
        dir.path().join("drive"),
        source,
        repair_file,
        options(),
    )
    .await;
    assert_repaired(dir.path(), &blob, &events);
    let range = ComponentId {
        blob: 0,
        component: 0,
    };
    let (told, _, status) = told_before_verdict(&events, range);
    assert_eq!(status, ComponentStatus::Repaired);
    assert!(
        told > 0 && told < 4000,
        "{told} bytes told before the verdict"
    );
    assert_eq!(last_download_progress(&events), (4000, 4000));
}

/// A mirror whose ranges arrive 500 bytes at a time, 100 ms apart.
struct Trickling(MirrorSource);

impl Trickling {
    /// `dir/mirror`, trickling.
    fn mirror_in(dir: &Path) -> Arc<Self> {
        Arc::new(Self(MirrorSource::new(dir.join("mirror")).unwrap()))
    }
}

/// The repair of `dir/drive` from the trickling `dir/mirror`, under way.
fn start_trickling(
    dir: &Path,
    model: &Arc<Drive>,
    repair_file: RepairFile,
    options: RepairOptions,
) -> engine::EngineHandle {
    engine::start_repair(
        Arc::clone(model),
        dir.join("drive"),
        Trickling::mirror_in(dir) as Arc<dyn BlobSource>,
        repair_file,
        options,
    )
}

#[async_trait::async_trait]
impl BlobSource for Trickling {
    async fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<bytes::Bytes, SourceError> {
        self.0.read_range(blob, offset, length, conditions).await
    }

    async fn read_range_to(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
        sink: &mut (dyn FnMut(bytes::Bytes) + Send),
    ) -> Result<(), SourceError> {
        let mut bytes = self.0.read_range(blob, offset, length, conditions).await?;
        while !bytes.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            sink(bytes.split_to(bytes.len().min(500)));
        }
        Ok(())
    }

    async fn properties(
        &self,
        blob: &BlobRef,
        conditions: &ReadConditions,
    ) -> Result<BlobProperties, SourceError> {
        self.0.properties(blob, conditions).await
    }

    fn describe(&self) -> String {
        "a trickling mirror".into()
    }
}

/// A mirror whose reads start only when the test lets them, and say when one is waiting.
struct Gated {
    mirror: MirrorSource,
    waiting: Notify,
    open: Notify,
}

#[async_trait::async_trait]
impl BlobSource for Gated {
    async fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<bytes::Bytes, SourceError> {
        self.waiting.notify_one();
        self.open.notified().await;
        self.mirror
            .read_range(blob, offset, length, conditions)
            .await
    }

    async fn properties(
        &self,
        blob: &BlobRef,
        conditions: &ReadConditions,
    ) -> Result<BlobProperties, SourceError> {
        self.mirror.properties(blob, conditions).await
    }

    fn describe(&self) -> String {
        "a gated mirror".into()
    }
}

/// Stopped (a cancel, as Ctrl-C sends) while its only download is in flight, the run lets
/// it finish: every component then has its verdict and nothing is wrong (a range without a
/// hash is skipped for good: no rerun checks it either), so the run ends repaired, not
/// interrupted (nothing was left for a rerun), and its repair file says the same.
///
/// Seen failing with "interrupted" taken from the stop alone: `interrupted: true` (exit 4,
/// INTERRUPTED) over a drive a later `verify` found whole, and a report whose HTML said "the
/// run stopped before every component was checked: 0 not checked". And with the skipped
/// range counted as left undone: the repair file said the run stopped short, so `report
/// --repair-file` called it interrupted (exit 4).
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_that_leaves_nothing_undone_is_not_an_interruption() {
    let dir = tempfile::tempdir().unwrap();
    let failed = r#"<BlockList><Block Offset="0" Length="4000" Id="AQ==" Status="Completed" /><Block Offset="20000" Length="4000" Id="AA==" Status="Failed" /></BlockList>"#;
    let (model, repair_file, blob) =
        export(dir.path(), "CompletedWithErrors", failed, Some(LENGTH));
    let source = Arc::new(Gated {
        mirror: MirrorSource::new(dir.path().join("mirror")).unwrap(),
        waiting: Notify::new(),
        open: Notify::new(),
    });
    let mut handle = engine::start_repair(
        Arc::clone(&model),
        dir.path().join("drive"),
        Arc::clone(&source) as Arc<dyn BlobSource>,
        repair_file,
        options(),
    );
    let file = model.blobs[0]
        .components
        .iter()
        .position(|c| c.kind == ComponentKind::File)
        .unwrap();
    let length = ComponentId {
        blob: 0,
        component: file as u32,
    };
    let mut events = Vec::new();
    let run = async {
        // The file's length verified, and the range's read waiting: then the stop.
        let mut reading = false;
        let mut length_verified = false;
        while !(reading && length_verified) {
            tokio::select! {
                () = source.waiting.notified(), if !reading => reading = true,
                event = handle.events.recv() => {
                    let event = event.expect("the run goes on");
                    if matches!(&event, Event::Component(c) if c.id == length) {
                        length_verified = true;
                    }
                    events.push(event);
                }
            }
        }
        handle.send(Command::Cancel);
        loop {
            let event = handle.events.recv().await.expect("the run goes on");
            let stopping = event == Event::Stopping;
            events.push(event);
            if stopping {
                break;
            }
        }
        source.open.notify_one();
        while let Some(event) = handle.events.recv().await {
            events.push(event);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the run ended");
    assert_repaired(dir.path(), &blob, &events);
    let Some(Event::RunFinished {
        outcome,
        interrupted,
        ..
    }) = events.last()
    else {
        panic!("no ending: {events:#?}");
    };
    assert_eq!(*outcome, Outcome::Repaired, "{events:#?}");
    assert!(!interrupted, "{events:#?}");
    assert!(
        events.iter().any(|event| matches!(
            event,
            Event::Component(c) if c.status == ComponentStatus::Skipped
        )),
        "the range without a hash is skipped: {events:#?}"
    );
    let journal = RepairFile::open_read_only(&dir.path().join("drive.rep")).unwrap();
    assert_eq!(journal.stopped_short().unwrap(), Some(false));
}

/// A mirror that refuses the credentials from its `refuse_from`-th range read on, as a key
/// rotated during the run would be refused.
struct Rotated {
    mirror: MirrorSource,
    reads: std::sync::atomic::AtomicUsize,
    refuse_from: usize,
}

#[async_trait::async_trait]
impl BlobSource for Rotated {
    async fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<bytes::Bytes, SourceError> {
        let read = self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if read >= self.refuse_from {
            return Err(SourceError::Auth {
                status: 403,
                message: "the key was rotated".into(),
                credentials: CredentialKind::KeyOrSas,
            });
        }
        self.mirror
            .read_range(blob, offset, length, conditions)
            .await
    }

    async fn properties(
        &self,
        blob: &BlobRef,
        conditions: &ReadConditions,
    ) -> Result<BlobProperties, SourceError> {
        self.mirror.properties(blob, conditions).await
    }

    fn describe(&self) -> String {
        "a mirror whose key is rotated".into()
    }
}

/// A missing end refused part-way (the key rotated after four pieces, the failed range within
/// them written), in a run kept open: given new credentials, it goes on from where the file
/// ends. The range written before the refusal stays repaired, the file ends as the blob, and
/// the bytes are planned and counted once.
///
/// Seen failing with the ranges that waited for the missing end all waiting again: the range
/// already written was failed as "the file changed during the run"; and with the missing end
/// planned again by the second attempt: the progress ended short of its total.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_end_refused_part_way_goes_on_with_new_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let failed = r#"<BlockList><Block Offset="20000" Length="4000" Id="AA==" Status="Failed" /></BlockList>"#;
    let (model, repair_file, blob) =
        export(dir.path(), "CompletedWithErrors", failed, Some(10_000));
    let rotated = Arc::new(Rotated {
        mirror: MirrorSource::new(dir.path().join("mirror")).unwrap(),
        reads: std::sync::atomic::AtomicUsize::new(0),
        refuse_from: 4,
    });
    let mut handle = engine::start_repair(
        Arc::clone(&model),
        dir.path().join("drive"),
        rotated as Arc<dyn BlobSource>,
        repair_file,
        RepairOptions {
            stay_open: true,
            ..options()
        },
    );
    let mut events = Vec::new();
    let run = async {
        while let Some(event) = handle.events.recv().await {
            match &event {
                Event::CredentialsRefused { .. } => {
                    let renewed = MirrorSource::new(dir.path().join("mirror")).unwrap();
                    handle.send(Command::UseSource(SourceHandle(Arc::new(renewed))));
                }
                Event::Idle { .. } => handle.send(Command::Finish),
                _ => {}
            }
            events.push(event);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the run ended");
    assert!(
        events
            .iter()
            .any(|event| matches!(event, Event::CredentialsRefused { .. })),
        "the key was refused: {events:#?}"
    );
    assert_repaired(dir.path(), &blob, &events);
    let last_verdict = |id: ComponentId| {
        events
            .iter()
            .rev()
            .find_map(|event| match event {
                Event::Component(verdict) if verdict.id == id => Some(verdict.clone()),
                _ => None,
            })
            .unwrap()
    };
    for component in [0, 1] {
        let verdict = last_verdict(ComponentId { blob: 0, component });
        assert_eq!(verdict.status, ComponentStatus::Repaired, "{verdict:#?}");
    }
    let missing_end = (LENGTH - 10_000) as u64;
    assert_eq!(last_download_progress(&events), (missing_end, missing_end));
}

/// A mirror whose first `whole` range reads come whole and whose later ones hand over half
/// their bytes, then stall (as a body whose sender went silent), saying when one has.
struct Stalling {
    mirror: MirrorSource,
    whole: usize,
    reads: std::sync::atomic::AtomicUsize,
    stalled: Notify,
}

impl Stalling {
    fn new(mirror: &Path, whole: usize) -> Self {
        Self {
            mirror: MirrorSource::new(mirror).unwrap(),
            whole,
            reads: std::sync::atomic::AtomicUsize::new(0),
            stalled: Notify::new(),
        }
    }
}

#[async_trait::async_trait]
impl BlobSource for Stalling {
    async fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<bytes::Bytes, SourceError> {
        self.mirror
            .read_range(blob, offset, length, conditions)
            .await
    }

    async fn read_range_to(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
        sink: &mut (dyn FnMut(bytes::Bytes) + Send),
    ) -> Result<(), SourceError> {
        let mut bytes = self.read_range(blob, offset, length, conditions).await?;
        if self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < self.whole {
            sink(bytes);
            return Ok(());
        }
        sink(bytes.split_to(bytes.len() / 2));
        self.stalled.notify_one();
        std::future::pending().await
    }

    async fn properties(
        &self,
        blob: &BlobRef,
        conditions: &ReadConditions,
    ) -> Result<BlobProperties, SourceError> {
        self.mirror.properties(blob, conditions).await
    }

    fn describe(&self) -> String {
        "a stalling mirror".into()
    }
}

/// Stopped (a cancel, as Ctrl-C sends) while a download has stalled part-way: the run gives
/// it a few seconds, then leaves it for the rerun and ends interrupted, its range untouched;
/// the rerun repairs it.
///
/// Seen failing with downloads in flight always let finish: the run waited for the stalled
/// body until the read timeout (30 s by default; here, with no timeout, for ever).
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_gives_up_a_stalled_download_and_the_rerun_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let failed = r#"<BlockList><Block Offset="20000" Length="4000" Id="AA==" Status="Failed" /></BlockList>"#;
    let (model, repair_file, blob) =
        export(dir.path(), "CompletedWithErrors", failed, Some(LENGTH));
    let file = dir.path().join("drive/cont/x.bin");
    let mut damaged = blob.clone();
    damaged[20_000..24_000].fill(0);
    std::fs::write(&file, &damaged).unwrap();
    let source = Arc::new(Stalling::new(&dir.path().join("mirror"), 0));
    let mut handle = engine::start_repair(
        Arc::clone(&model),
        dir.path().join("drive"),
        Arc::clone(&source) as Arc<dyn BlobSource>,
        repair_file,
        options(),
    );
    let mut events = Vec::new();
    let run = async {
        loop {
            tokio::select! {
                () = source.stalled.notified() => break,
                event = handle.events.recv() => events.push(event.expect("the run goes on")),
            }
        }
        handle.send(Command::Cancel);
        while let Some(event) = handle.events.recv().await {
            events.push(event);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), run)
        .await
        .expect("the stopped run ended, the stalled download given up");
    let Some(Event::RunFinished { interrupted, .. }) = events.last() else {
        panic!("no ending: {events:#?}");
    };
    assert!(interrupted, "{events:#?}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        damaged,
        "nothing written from the download given up"
    );
    let journal = RepairFile::open_read_only(&dir.path().join("drive.rep")).unwrap();
    assert_eq!(journal.stopped_short().unwrap(), Some(true));
    drop(journal);

    let (model, repair_file) = engine_run::prepare(
        None,
        Some(&dir.path().join("copy.xml")),
        &dir.path().join("drive.rep"),
    );
    let mirror = Arc::new(MirrorSource::new(dir.path().join("mirror")).unwrap());
    let events = engine_run::repair(
        &model,
        dir.path().join("drive"),
        mirror,
        repair_file,
        options(),
    )
    .await;
    assert_repaired(dir.path(), &blob, &events);
}

/// Stopped once a missing file's first block is written (the next download stalled): the run
/// created the file at its length, so its last word on that length is "repaired", not the
/// "missing" it found before writing; the blocks not written stay damaged, and the rerun
/// completes the file.
///
/// Seen failing: the length kept its "missing" (the length check waits for the file's other
/// components and did not run once the run stopped), which a later `verify` contradicted.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_run_says_a_missing_file_it_began_has_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let sample = SampleDrive {
        drive_id: "STOPLEN".into(),
        blobs: vec![SampleBlob::block(
            "cont/gone.bin",
            pseudo_random_bytes(5, 64 * 1024),
            16 * 1024,
        )],
    };
    let drive = dir.path().join("drive");
    let manifest = sample.write(&drive).unwrap();
    sample.write_mirror(&dir.path().join("mirror")).unwrap();
    let file = local_path(&drive, &sample.blobs[0].file_path).unwrap();
    std::fs::remove_file(&file).unwrap();
    let copy_log = dir.path().join("copy.xml");
    std::fs::write(
        &copy_log,
        r#"<DriveLog Version="2014-11-01"><DriveId>STOPLEN</DriveId><Status>Completed</Status></DriveLog>"#,
    )
    .unwrap();
    let (model, repair_file) = engine_run::prepare(
        Some(&manifest),
        Some(&copy_log),
        &dir.path().join("drive.rep"),
    );
    let source = Arc::new(Stalling::new(&dir.path().join("mirror"), 1));
    let options = RepairOptions {
        concurrency: 1,
        max_request_bytes: 16 * 1024,
        ..RepairOptions::default()
    };
    let mut handle = engine::start_repair(
        Arc::clone(&model),
        drive.clone(),
        Arc::clone(&source) as Arc<dyn BlobSource>,
        repair_file,
        options.clone(),
    );
    let mut events = Vec::new();
    let run = async {
        loop {
            tokio::select! {
                () = source.stalled.notified() => break,
                event = handle.events.recv() => events.push(event.expect("the run goes on")),
            }
        }
        handle.send(Command::Cancel);
        while let Some(event) = handle.events.recv().await {
            events.push(event);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), run)
        .await
        .expect("the stopped run ended");
    let length = model.blobs[0]
        .components
        .iter()
        .position(|c| c.kind == ComponentKind::File)
        .map(|index| ComponentId {
            blob: 0,
            component: index as u32,
        })
        .unwrap();
    let last_word = |id: ComponentId| {
        events.iter().rev().find_map(|event| match event {
            Event::Component(verdict) if verdict.id == id => Some(verdict.status),
            _ => None,
        })
    };
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        64 * 1024,
        "the first write brings the file to its length"
    );
    assert_eq!(
        last_word(length),
        Some(ComponentStatus::Repaired),
        "{events:#?}"
    );
    let repaired_blocks = model.blobs[0]
        .components
        .iter()
        .enumerate()
        .filter(|(index, c)| {
            c.kind == ComponentKind::Block
                && last_word(ComponentId {
                    blob: 0,
                    component: *index as u32,
                }) == Some(ComponentStatus::Repaired)
        })
        .count();
    assert_eq!(repaired_blocks, 1, "{events:#?}");
    let Some(Event::RunFinished { interrupted, .. }) = events.last() else {
        panic!("no ending: {events:#?}");
    };
    assert!(interrupted);
    // A report made from the repair file says what the run said of every component, the
    // block whose download was given up included (it said "skipped: not checked").
    let from_file = dir.path().join("from-file.json");
    let made = std::process::Command::new(assert_cmd::cargo::cargo_bin("export-repair"))
        .arg("report")
        .arg("--repair-file")
        .arg(dir.path().join("drive.rep"))
        .arg("-o")
        .arg(&from_file)
        .output()
        .unwrap();
    assert_eq!(made.status.code(), Some(4), "{made:?}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&from_file).unwrap()).unwrap();
    let statuses: Vec<String> = report["files"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|component| component["status"].as_str().unwrap().to_string())
        .collect();
    let said: Vec<String> = (0..model.blobs[0].components.len())
        .map(|index| {
            let id = ComponentId {
                blob: 0,
                component: index as u32,
            };
            last_word(id).map_or("none".into(), |status| status.as_str().to_string())
        })
        .collect();
    assert_eq!(statuses, said, "the repair file's report against the run's");

    let (model, repair_file) = engine_run::prepare(
        Some(&manifest),
        Some(&copy_log),
        &dir.path().join("drive.rep"),
    );
    let mirror = Arc::new(MirrorSource::new(dir.path().join("mirror")).unwrap());
    engine_run::repair(&model, drive.clone(), mirror, repair_file, options).await;
    assert_eq!(std::fs::read(&file).unwrap(), sample.blobs[0].content);
}

/// A run kept open while its downloads wait for new credentials (the storage refused the key)
/// does not count the wait as work: the technician is not the work (README: active time).
///
/// Seen failing: a 3 s wait for the key was counted whole ("worked 3.2 s of 3.3 s").
#[tokio::test(flavor = "multi_thread")]
async fn waiting_for_credentials_is_not_active_time() {
    let dir = tempfile::tempdir().unwrap();
    let failed = r#"<BlockList><Block Offset="20000" Length="4000" Id="AA==" Status="Failed" /></BlockList>"#;
    let (model, repair_file, _) = export(dir.path(), "CompletedWithErrors", failed, Some(LENGTH));
    let refusing = Arc::new(Rotated {
        mirror: MirrorSource::new(dir.path().join("mirror")).unwrap(),
        reads: std::sync::atomic::AtomicUsize::new(0),
        refuse_from: 0,
    });
    let mut handle = engine::start_repair(
        Arc::clone(&model),
        dir.path().join("drive"),
        refusing as Arc<dyn BlobSource>,
        repair_file,
        RepairOptions {
            stay_open: true,
            ..options()
        },
    );
    let waited = std::time::Duration::from_secs(3);
    let started = std::time::Instant::now();
    let mut refused_at: Option<std::time::Instant> = None;
    let mut cancelled = false;
    let mut finished = None;
    let run = async {
        loop {
            let timeout = match refused_at {
                Some(at) if !cancelled => waited.saturating_sub(at.elapsed()),
                _ => std::time::Duration::from_secs(30),
            };
            match tokio::time::timeout(timeout, handle.events.recv()).await {
                Ok(Some(Event::CredentialsRefused { .. })) => {
                    refused_at = Some(std::time::Instant::now());
                }
                Ok(Some(Event::RunFinished { active_seconds, .. })) => {
                    finished = Some(active_seconds);
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                // The technician took `waited` to give up.
                Err(_) => {
                    cancelled = true;
                    handle.send(Command::Cancel);
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the run ended");
    let refused_at = refused_at.expect("the key was refused");
    let active = finished.expect("the run finished");
    // The work before the refusal, however long a slow machine took: not the wait after it.
    let before_refusal = (refused_at - started).as_secs_f64();
    assert!(
        active < before_refusal + 0.5,
        "{active} s of work counted, {before_refusal} s before the key was refused and a \
         {waited:?} wait for the key"
    );
}

/// Paused while a download is under way: what is in flight finishes, and the time it takes is
/// work (the run's rate is bytes over that time); only once nothing is in flight does the
/// pause stop the clock.
///
/// Seen failing: the clock stopped at the pause, so the download's 0.8 s were not counted and
/// the rate read several times the real one.
#[tokio::test(flavor = "multi_thread")]
async fn a_download_finishing_during_a_pause_is_active_time() {
    let dir = tempfile::tempdir().unwrap();
    let failed = r#"<BlockList><Block Offset="20000" Length="4000" Id="AA==" Status="Failed" /></BlockList>"#;
    let (model, repair_file, _) = export(dir.path(), "CompletedWithErrors", failed, Some(LENGTH));
    let mut handle = start_trickling(dir.path(), &model, repair_file, options());
    let range = ComponentId {
        blob: 0,
        component: 0,
    };
    let mut active = None;
    let mut paused = false;
    let run = async {
        while let Some(event) = handle.events.recv().await {
            match &event {
                Event::Working {
                    activity: engine::Activity::Downloading,
                    ..
                } if !paused => {
                    paused = true;
                    handle.send(Command::Pause);
                }
                // The download's verdict came while paused: go on.
                Event::Component(verdict) if paused && verdict.id == range => {
                    handle.send(Command::Resume);
                }
                Event::RunFinished { active_seconds, .. } => active = Some(*active_seconds),
                _ => {}
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the run ended");
    assert!(paused, "no download began");
    let active = active.expect("the run finished");
    // The trickling range takes 0.8 s (eight pieces 100 ms apart).
    assert!(active >= 0.6, "{active} s of work for a 0.8 s download");
}

/// A 2021 drive (verbose log only) of one file `cont/big.bin` = `data`, missing on the drive
/// and whole in the mirror; its model and a new repair file.
fn drive_2021(dir: &Path, data: &[u8]) -> (Arc<Drive>, RepairFile) {
    use export_repair::format::Crc64;
    use export_repair::format::verbose_log::VerboseLog;
    use export_repair::model::Logs;
    std::fs::create_dir_all(dir.join("mirror/cont")).unwrap();
    std::fs::create_dir_all(dir.join("drive/cont")).unwrap();
    std::fs::write(dir.join("mirror/cont/big.bin"), data).unwrap();
    let verbose = format!(
        "<File CloudFormat=\"BlockBlob\" ETag=\"0x8D1\" Path=\"cont/big.bin\" Size=\"{}\" crc64=\"{}\"></File>\n",
        data.len(),
        Crc64::of(data)
    );
    let logs = Logs {
        verbose_log: Some(VerboseLog::parse_str(&verbose).unwrap()),
        ..Logs::default()
    };
    let model = Arc::new(Drive::build(None, Some(logs)).unwrap());
    let binding = export_repair::journal::Binding {
        drive_id: model.drive_id.clone(),
        manifest_md5: None,
        copy_log_md5: None,
        verbose_log_md5: None,
    };
    let (repair_file, _) = RepairFile::open_or_create(&dir.join("P.rep"), &binding).unwrap();
    (model, repair_file)
}

/// A mirror whose reads wait until the test opens it, counting the reads begun.
struct Held {
    mirror: MirrorSource,
    begun: std::sync::atomic::AtomicUsize,
    open: tokio::sync::watch::Sender<bool>,
}

#[async_trait::async_trait]
impl BlobSource for Held {
    async fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<bytes::Bytes, SourceError> {
        self.begun.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _ = self.open.subscribe().wait_for(|open| *open).await;
        self.mirror
            .read_range(blob, offset, length, conditions)
            .await
    }

    async fn properties(
        &self,
        blob: &BlobRef,
        conditions: &ReadConditions,
    ) -> Result<BlobProperties, SourceError> {
        self.mirror.properties(blob, conditions).await
    }

    fn describe(&self) -> String {
        "a held mirror".into()
    }
}

/// A pause holds a 2021 file's chunks not read yet: the file is one job, and its reads in
/// flight finish, but no chunk starts downloading while paused; resumed, the file is repaired
/// byte for byte.
///
/// The mirror holds every read until the run has said "paused", so each of the job's two
/// download slots can have begun one read before the pause took hold, and no slot more.
///
/// Seen failing: the console said "paused" while the chunks went on downloading at full speed
/// for the whole file. (The test once counted the chunks told after "paused" with the reads
/// free to finish: on a loaded machine, chunks begun before the pause took hold were told
/// after it, and it failed with the pause holding.)
#[tokio::test(flavor = "multi_thread")]
async fn a_pause_holds_the_chunks_of_a_file_repaired_chunk_by_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let data = pseudo_random_bytes(90, 12 * 8 * 1024 * 1024 + 100);
    let (model, repair_file) = drive_2021(dir.path(), &data);
    let drive_dir = dir.path().join("drive");
    let source = Arc::new(Held {
        mirror: MirrorSource::new(dir.path().join("mirror")).unwrap(),
        begun: std::sync::atomic::AtomicUsize::new(0),
        open: tokio::sync::watch::Sender::new(false),
    });
    let slots = 2;
    let mut handle = engine::start_repair(
        Arc::clone(&model),
        drive_dir.clone(),
        Arc::clone(&source) as Arc<dyn BlobSource>,
        repair_file,
        RepairOptions {
            concurrency: slots,
            ..RepairOptions::default()
        },
    );
    let (mut asked, mut pauses, mut begun_while_paused) = (false, 0, None);
    let mut reads: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    let mut active = None;
    let started = std::time::Instant::now();
    let mut reasons = Vec::new();
    let mut outcome = None;
    let run = async {
        let mut paused_at: Option<std::time::Instant> = None;
        loop {
            // Three seconds paused (the reads let through finish in the first): go on.
            let wait = match paused_at {
                Some(at) => std::time::Duration::from_secs(3).saturating_sub(at.elapsed()),
                None => std::time::Duration::from_secs(60),
            };
            match tokio::time::timeout(wait, handle.events.recv()).await {
                Ok(Some(Event::Working {
                    activity: engine::Activity::Downloading,
                    components,
                    ..
                })) => {
                    for component in components {
                        *reads.entry(component).or_default() += 1;
                    }
                    if !asked {
                        asked = true;
                        handle.send(Command::Pause);
                    }
                }
                Ok(Some(Event::Paused)) => {
                    pauses += 1;
                    paused_at = Some(std::time::Instant::now());
                    // The reads begun before the pause took hold may finish now.
                    source.open.send_replace(true);
                }
                Ok(Some(Event::RunFinished {
                    outcome: done,
                    active_seconds,
                    ..
                })) => {
                    outcome = Some(done);
                    active = Some(active_seconds);
                }
                Ok(Some(Event::Component(verdict))) if verdict.status.is_damage() => {
                    reasons.push(verdict.reason.clone());
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    begun_while_paused =
                        Some(source.begun.load(std::sync::atomic::Ordering::SeqCst));
                    paused_at = None;
                    handle.send(Command::Resume);
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("the run ended");
    assert_eq!(pauses, 1, "the run was paused once");
    // A run that ended while paused began all its reads while paused.
    let begun = begun_while_paused
        .unwrap_or_else(|| source.begun.load(std::sync::atomic::Ordering::SeqCst));
    assert!(
        (1..=slots).contains(&begun),
        "{begun} chunk reads begun by the end of the pause, with {slots} download slots"
    );
    assert_eq!(outcome, Some(Outcome::Repaired), "{reasons:?}");
    // Each chunk downloaded once, and told so once (the job's start is not a download).
    let chunks = model.blobs[0].components.len() - 1;
    assert_eq!(reads.len(), chunks, "{reads:?}");
    assert!(reads.values().all(|&n| n == 1), "{reads:?}");
    // The time paused, once the reads in flight were done, is not work.
    let wall = started.elapsed().as_secs_f64();
    let active = active.expect("the run finished");
    assert!(
        active < wall - 1.0,
        "worked {active} s of {wall} s with 3 s paused"
    );
    assert!(std::fs::read(drive_dir.join("cont/big.bin")).unwrap() == data);
}

/// A 2021 chunk tells its bytes while it is read, not only once it is all here: on a slow
/// link a chunk (8 MiB) takes minutes, and the download line stood at "0 B · measuring…".
#[tokio::test(flavor = "multi_thread")]
async fn a_chunk_is_told_while_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // Six pieces of the trickling mirror, 100 ms apart.
    let data = pseudo_random_bytes(91, 3000);
    let (model, repair_file) = drive_2021(dir.path(), &data);
    let mut handle = start_trickling(dir.path(), &model, repair_file, RepairOptions::default());
    let chunk = ComponentId {
        blob: 0,
        component: 0,
    };
    let (mut told, mut told_before_verdict, mut outcome) = (Vec::new(), None, None);
    let run = async {
        while let Some(event) = handle.events.recv().await {
            match event {
                Event::Transferred { id, bytes } if id == chunk => told.push(bytes),
                Event::Component(verdict) if verdict.id == chunk => {
                    told_before_verdict = Some(told.clone());
                }
                Event::RunFinished { outcome: done, .. } => outcome = Some(done),
                _ => {}
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the run ended");
    assert_eq!(outcome, Some(Outcome::Repaired));
    let told = told_before_verdict.expect("the chunk's verdict");
    assert!(told.len() >= 2, "told in pieces while read: {told:?}");
    assert_eq!(told.iter().sum::<u64>(), 3000, "{told:?}");
    assert!(std::fs::read(dir.path().join("drive/cont/big.bin")).unwrap() == data);
}
