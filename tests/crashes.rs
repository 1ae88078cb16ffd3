//! Crashes: `kill -9` at seeded points of a repair, then a rerun with the same repair file
//! must give a drive byte-identical to the blobs; and a torn, truncated or bit-flipped repair
//! file must give a clear error (exit 2) or a run that recovers, never a panic. Where a kill
//! landed is read from the repair file: each trial has at least one kill between the first
//! and the last write (tests/support/runs.rs).
//!
//! The source is a local mirror (`--source-dir`), so these need no Azurite: the write protocol
//! and the repair file are what is under test. Each drive has a few MiB in many small blocks
//! with every other block damaged, so a repair is hundreds of separate journalled writes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use export_repair::demo::{SampleBlob, SampleDrive, local_path, pseudo_random_bytes};
use export_repair::format::copylog::{CopyLog, LogBlob};
use export_repair::format::status::{BlobStatus, DriveStatus};
use support::files::files;
use support::hostile::run;
use support::runs::{Progress, kill_repair, repair_progress};

const KIB: usize = 1024;
const DRIVE_ID: &str = "CRASH001";

fn copy_tree(from: &Path, to: &Path) {
    for (relative, bytes) in files(from) {
        let path = to.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// A drive of ~1.8 MiB in 4 KiB blocks and pages, damaged in every way a repair handles.
fn sample() -> SampleDrive {
    let pages: Vec<(u64, u64)> = (0..32).map(|i| (i * 16 * 1024, 4096)).collect();
    SampleDrive {
        drive_id: DRIVE_ID.into(),
        blobs: vec![
            SampleBlob::block("crash/blocks.bin", pseudo_random_bytes(1, 1024 * KIB), 4096)
                .with_properties("application/octet-stream"),
            SampleBlob::page("crash/disk.vhd", 512 * 1024, &pages, 2)
                .with_metadata(&[("owner", "crash"), ("purpose", "kill")]),
            SampleBlob::block("crash/gone.bin", pseudo_random_bytes(3, 256 * KIB), 8192),
            SampleBlob::block("crash/props.txt", b"properties only".to_vec(), 4096)
                .with_properties("text/plain"),
        ],
    }
}

/// A damaged drive, its mirror and copy log under `dir`.
struct Scenario {
    dir: PathBuf,
    sample: SampleDrive,
    /// The drive as damaged, before any repair: drive-relative path → bytes.
    damaged: BTreeMap<String, Option<Vec<u8>>>,
}

impl Scenario {
    fn new(dir: &Path) -> Self {
        let sample = sample();
        let drive = dir.join("drive");
        sample.write(&drive).unwrap();
        sample.write_mirror(&dir.join("mirror")).unwrap();
        let local = |p: &str| local_path(&drive, p).unwrap();
        // Every other block and page range: zeroed or a flipped byte.
        for blob in &sample.blobs[..2] {
            let path = local(&blob.file_path);
            let mut bytes = std::fs::read(&path).unwrap();
            for (index, &(offset, length)) in blob.layout.iter().enumerate() {
                let range = offset as usize..(offset + length) as usize;
                match index % 4 {
                    0 => bytes[range].fill(0),
                    2 => bytes[range.start + length as usize / 2] ^= 0x80,
                    _ => {}
                }
            }
            std::fs::write(&path, bytes).unwrap();
        }
        std::fs::remove_file(local(&sample.blobs[1].metadata_path())).unwrap();
        std::fs::remove_file(local(&sample.blobs[2].file_path)).unwrap();
        std::fs::remove_file(local(&sample.blobs[3].properties_path())).unwrap();
        // The copy log reports the missing file; the manifest pass finds the rest.
        let copy_log = CopyLog {
            version: Some("2014-11-01".into()),
            drive_id: DRIVE_ID.into(),
            blobs: vec![LogBlob {
                status: BlobStatus::FileNotFound,
                blob_path: sample.blobs[2].blob_path.clone(),
                file_path: sample.blobs[2].file_path.clone(),
                snapshot: None,
                length: Some(sample.blobs[2].content.len() as u64),
                last_modified: None,
                kind: None,
                ranges: Vec::new(),
                metadata: None,
                properties: None,
            }],
            status: Some(DriveStatus::CompletedWithErrors),
        };
        std::fs::write(dir.join("copy.xml"), copy_log.to_xml()).unwrap();
        let mut damaged = BTreeMap::new();
        for blob in &sample.blobs {
            for path in [
                Some(blob.file_path.clone()),
                blob.properties.as_ref().map(|_| blob.properties_path()),
                blob.metadata.as_ref().map(|_| blob.metadata_path()),
            ]
            .into_iter()
            .flatten()
            {
                damaged.insert(path.clone(), std::fs::read(local(&path)).ok());
            }
        }
        Self {
            dir: dir.to_path_buf(),
            sample,
            damaged,
        }
    }

    fn drive(&self) -> PathBuf {
        self.dir.join("drive")
    }

    fn repair_file(&self) -> PathBuf {
        self.dir.join("drive.rep")
    }

    fn args(&self, concurrency: usize) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["repair".into(), "--headless".into()];
        for (flag, value) in [
            ("--repair-file", self.repair_file()),
            ("--target", self.drive()),
            (
                "--manifest",
                self.drive().join(format!("{DRIVE_ID}.manifest")),
            ),
            ("--copy-log", self.dir.join("copy.xml")),
            ("--source-dir", self.dir.join("mirror")),
            ("--log-dir", self.dir.join("logs")),
            ("--report", self.dir.join("report.json")),
        ] {
            args.push(flag.into());
            args.push(value.into());
        }
        args.push("--concurrency".into());
        args.push(concurrency.to_string().into());
        args
    }

    fn run(&self, concurrency: usize) -> Output {
        let output = Command::new(assert_cmd::cargo::cargo_bin("export-repair"))
            .args(self.args(concurrency))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_no_panic(&output);
        output
    }

    /// Starts a repair and SIGKILLs it right after it reports its `after`-th repaired
    /// component, or (`after` `None`) after `delay`. Returns whether it was still running and
    /// what the repair file then records.
    fn kill(&self, concurrency: usize, after: Option<u64>, delay: Duration) -> (bool, Progress) {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("export-repair"));
        command.args(self.args(concurrency));
        let killed = kill_repair(&mut command, after, delay);
        (killed.running, repair_progress(&self.repair_file()))
    }

    /// The drive as an intact export: every file, side file and the manifest.
    fn intact(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        self.sample.write(dir.path()).unwrap();
        files(dir.path())
    }

    fn assert_identical_to_blobs(&self, what: &str) {
        let drive = files(&self.drive());
        let intact = self.intact();
        for (path, bytes) in &intact {
            assert!(
                drive.get(path) == Some(bytes),
                "{what}: {} differs from the export",
                path.display()
            );
        }
        let extra: Vec<_> = drive.keys().filter(|p| !intact.contains_key(*p)).collect();
        assert!(
            extra.is_empty(),
            "{what}: files left on the drive: {extra:?}"
        );
    }

    /// After a crash: every range the repair file records repaired holds the blob's bytes.
    fn assert_repaired_ranges_are_right(&self, progress: &Progress, what: &str) {
        for (file_path, offset, length) in &progress.repaired_ranges {
            let blob = self
                .sample
                .blobs
                .iter()
                .find(|b| &b.file_path == file_path)
                .unwrap_or_else(|| panic!("{what}: the repair file names {file_path}"));
            let range = *offset as usize..(offset + length) as usize;
            let now = std::fs::read(local_path(&self.drive(), file_path).unwrap()).unwrap();
            assert!(
                now.get(range.clone()) == Some(&blob.content[range.clone()]),
                "{what}: the repair file says {file_path} {range:?} is repaired, the drive \
                 disagrees"
            );
        }
    }

    /// After a crash: every byte of every block or page range is the blob's or the damaged
    /// drive's (zeros in a file that was missing); side files are exported bytes or absent.
    fn assert_no_wrong_byte(&self, what: &str) {
        let drive = self.drive();
        for blob in &self.sample.blobs {
            let Ok(now) = std::fs::read(local_path(&drive, &blob.file_path).unwrap()) else {
                assert!(
                    self.damaged[&blob.file_path].is_none(),
                    "{what}: file vanished"
                );
                continue;
            };
            let old = self.damaged[&blob.file_path].as_deref();
            for &(offset, length) in &blob.layout {
                for i in offset as usize..(offset + length) as usize {
                    let before = old.map_or(0, |old| old[i]);
                    let byte = now.get(i).copied();
                    // A file that was missing may still end before this byte: nothing was
                    // written there yet.
                    let not_yet = old.is_none() && byte.is_none();
                    assert!(
                        byte == Some(blob.content[i]) || byte == Some(before) || not_yet,
                        "{what}: {} byte {i} is {byte:?}, neither the blob's {} nor the old {before}",
                        blob.file_path,
                        blob.content[i]
                    );
                }
            }
            // A side file is written whole or not at all: one that was there stays there.
            for (path, expected) in [
                blob.properties
                    .as_ref()
                    .map(|p| (blob.properties_path(), p.to_xml())),
                blob.metadata
                    .as_ref()
                    .map(|m| (blob.metadata_path(), m.to_xml().unwrap())),
            ]
            .into_iter()
            .flatten()
            {
                let now = std::fs::read(local_path(&drive, &path).unwrap()).ok();
                assert!(
                    now.as_deref() == Some(expected.as_bytes()) || now == self.damaged[&path],
                    "{what}: {path} is neither as exported nor as before ({})",
                    match (&now, &self.damaged[&path]) {
                        (None, Some(_)) => "it vanished",
                        (None, None) => "absent",
                        _ => "other bytes",
                    }
                );
            }
        }
    }
}

fn assert_no_panic(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked") && output.status.code() != Some(101),
        "the tool panicked (exit {:?}): {stderr}",
        output.status.code()
    );
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Each component's status in the report of a run in `dir`: file, kind and offset → status.
fn statuses(dir: &Path) -> BTreeMap<String, String> {
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let mut statuses = BTreeMap::new();
    for file in report["files"].as_array().unwrap() {
        for component in file["components"].as_array().unwrap() {
            let key = format!(
                "{} {} {}",
                file["file_path"], component["kind"], component["offset"]
            );
            statuses.insert(key, component["status"].as_str().unwrap().to_string());
        }
    }
    statuses
}

/// How long an uninterrupted repair of the scenario takes here, how many components it
/// repairs, and each component's status at its end (measured once).
fn full_run() -> (Duration, u64, &'static BTreeMap<String, String>) {
    static TOOK: OnceLock<(Duration, u64, BTreeMap<String, String>)> = OnceLock::new();
    let (took, repairs, statuses) = TOOK.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let scenario = Scenario::new(dir.path());
        let started = Instant::now();
        let output = scenario.run(2);
        let took = started.elapsed();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        scenario.assert_identical_to_blobs("uninterrupted run");
        let repairs = repair_progress(&scenario.repair_file()).repaired;
        assert!(
            repairs > 100,
            "the scenario repairs only {repairs} components"
        );
        println!("an uninterrupted repair takes {took:?} and repairs {repairs} components");
        (took, repairs, statuses(&scenario.dir))
    });
    (*took, *repairs, statuses)
}

/// Seeded trials: one to three kills, each followed by the no-wrong-byte check, then a rerun
/// to completion, a byte-for-byte comparison, and the rerun's report against one run's
/// (every component's status the same). The first kill of a trial lands right after
/// the run reports a seeded number of repairs (at most half of them): mid-write by
/// construction, which the repair file must confirm (some components repaired, not all).
/// Later kills land at seeded times, anywhere from the resumed run's start-up to near its
/// end.
fn kill_trials(seeds: std::ops::Range<u64>) {
    let (full, repairs, uninterrupted) = full_run();
    let mut mid_write = 0;
    let mut kills = 0;
    for seed in seeds {
        let mut rng = Rng::new(seed);
        let dir = tempfile::tempdir().unwrap();
        let scenario = Scenario::new(dir.path());
        let concurrency = 1 + (seed % 4) as usize;
        let rounds = 1 + rng.below(3);
        let mut points = Vec::new();
        for round in 0..rounds {
            let (at, after, delay) = if round == 0 {
                let after = 1 + rng.below(repairs / 2);
                (format!("repair {after}"), Some(after), Duration::ZERO)
            } else {
                // Near the end of what is left: a resumed run has much less to do.
                let window = full.as_millis() as u64 * 9 / 10 / (round + 1).pow(2);
                let delay = Duration::from_millis(5 + rng.below(window));
                (format!("{delay:?}"), None, delay)
            };
            let before = repair_progress(&scenario.repair_file()).repaired;
            let (running, progress) = scenario.kill(concurrency, after, delay);
            // This run wrote something, and not everything.
            let landed = before < progress.repaired && progress.repaired < repairs;
            if round == 0 {
                assert!(
                    running && landed,
                    "seed {seed}: the kill after {at} was not mid-write: running {running}, \
                     {} of {repairs} components repaired",
                    progress.repaired
                );
            }
            kills += 1;
            mid_write += landed as u32;
            points.push((at, progress.repaired));
            let what = format!("seed {seed} after kill {round}");
            scenario.assert_no_wrong_byte(&what);
            scenario.assert_repaired_ranges_are_right(&progress, &what);
        }
        let output = scenario.run(concurrency);
        assert_eq!(
            output.status.code(),
            Some(0),
            "seed {seed}: the rerun after kills at {points:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        scenario.assert_identical_to_blobs(&format!("seed {seed}, kills at {points:?}"));
        // And the rerun's report tells what one run would have: what was damaged, repaired.
        let told = statuses(&scenario.dir);
        let differ: Vec<String> = (uninterrupted.iter())
            .filter(|&(key, status)| told.get(key) != Some(status))
            .map(|(key, status)| format!("{key}: {status} in one run, {:?} here", told.get(key)))
            .collect();
        assert!(
            differ.is_empty(),
            "seed {seed}, kills at {points:?}:\n{}",
            differ.join("\n")
        );
        println!(
            "seed {seed}: concurrency {concurrency}, kills at {points:?} (when, repaired by then)"
        );
    }
    println!(
        "{mid_write} of {kills} kills landed mid-write (the run repaired some, not all of {repairs})"
    );
}

#[test]
fn kill_9_at_seeded_points_then_a_rerun_is_byte_identical_seeds_1_to_10() {
    kill_trials(1..11);
}

#[test]
fn kill_9_at_seeded_points_then_a_rerun_is_byte_identical_seeds_11_to_20() {
    kill_trials(11..21);
}

/// A repair file as a crash leaves it: a run killed after a third of its repairs (and its
/// rollback journal, if one was left). Returns the drive's state at that moment too.
fn half_done_repair_file(dir: &Path) -> (Scenario, Vec<u8>, Vec<u8>) {
    let (_, repairs, _) = full_run();
    let scenario = Scenario::new(&dir.join("base"));
    let (_, progress) = scenario.kill(1, Some(repairs / 3), Duration::ZERO);
    assert!(
        progress.repaired > 0 && progress.repaired < repairs,
        "killed with {progress:?}, not part-way"
    );
    // The file and its rollback journal as the kill left them, when it came inside a
    // transaction; otherwise as a crash inside one would leave them.
    match std::fs::read(scenario.dir.join("drive.rep-journal")) {
        Ok(journal) => {
            let rep = std::fs::read(scenario.repair_file()).unwrap();
            (scenario, rep, journal)
        }
        Err(_) => {
            let (rep, journal) = mid_transaction(&scenario.repair_file(), dir);
            (scenario, rep, journal)
        }
    }
}

/// A copy of the repair file `rep`, and its hot rollback journal, taken in the middle of a
/// transaction that changed every component row (pages spilled to the file before commit).
fn mid_transaction(rep: &Path, scratch: &Path) -> (Vec<u8>, Vec<u8>) {
    let copy = scratch.join("mid-transaction.rep");
    std::fs::copy(rep, &copy).unwrap();
    let mut db = rusqlite::Connection::open(&copy).unwrap();
    db.pragma_update(None, "journal_mode", "DELETE").unwrap();
    db.pragma_update(None, "cache_size", 1).unwrap();
    let transaction = db.transaction().unwrap();
    let changed = transaction
        .execute("UPDATE component SET reason = printf('%.500c', 'x')", [])
        .unwrap();
    assert!(changed > 0, "no component rows to change");
    let taken = (
        std::fs::read(&copy).unwrap(),
        std::fs::read(scratch.join("mid-transaction.rep-journal")).expect("a rollback journal"),
    );
    drop(transaction);
    taken
}

/// One mangled repair file: exit 2 with a clear message naming it, or exit 0 with the drive
/// right. Returns what went wrong instead of panicking, so every case is reported.
fn check_mangled(
    base: &Scenario,
    case: &str,
    rep: &[u8],
    journal: Option<&[u8]>,
    index: usize,
) -> Result<(), String> {
    let dir = base.dir.parent().unwrap().join(format!("case{index}"));
    copy_tree(&base.dir, &dir);
    let scenario = Scenario {
        dir: dir.clone(),
        sample: base.sample.clone(),
        damaged: base.damaged.clone(),
    };
    let _ = std::fs::remove_file(dir.join("drive.rep-journal"));
    std::fs::write(scenario.repair_file(), rep).unwrap();
    if let Some(journal) = journal {
        std::fs::write(dir.join("drive.rep-journal"), journal).unwrap();
    }
    let before = files(&scenario.drive());
    let output = scenario.run(2);
    let code = output.status.code();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!(
        "{case}: exit {code:?} {}",
        stderr.lines().next().unwrap_or_default()
    );
    match code {
        Some(0) => {
            scenario.assert_identical_to_blobs(&format!("{case}: exit 0"));
            Ok(())
        }
        Some(2) => {
            if !(stderr.contains("drive.rep") && stderr.contains("repair file")) {
                return Err(format!(
                    "{case}: exit 2 must name the repair file: {stderr}"
                ));
            }
            if files(&scenario.drive()) != before {
                return Err(format!("{case}: a refused run changed the drive"));
            }
            Ok(())
        }
        other => Err(format!(
            "{case}: exit {other:?}, expected 0 or 2\n{stdout}\n{stderr}"
        )),
    }
}

/// A repair killed inside a transaction leaves a hot rollback journal beside its repair file.
/// `report --repair-file` and `verify --repair-file` read the file as last committed (what
/// SQLite rolls back to) and leave both files as they found them: the report says the run was
/// interrupted (exit 4); verify judges the drive (exit 1: damage remains).
///
/// Seen failing: both refused with exit 2, "attempt to write a readonly database" (SQLite
/// rolls a hot journal back before reading, which a read-only connection cannot).
#[test]
fn a_hot_journal_is_read_as_committed_by_report_and_verify_which_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _, _) = half_done_repair_file(dir.path());
    let (rep, journal) = mid_transaction(&base.repair_file(), dir.path());
    let case = dir.path().join("hot");
    copy_tree(&base.dir, &case);
    let repair_file = case.join("drive.rep");
    let hot_journal = case.join("drive.rep-journal");
    std::fs::write(&repair_file, &rep).unwrap();
    std::fs::write(&hot_journal, &journal).unwrap();
    let unchanged = || {
        assert!(
            std::fs::read(&repair_file).unwrap() == rep,
            "the repair file was written"
        );
        assert!(
            std::fs::read(&hot_journal).unwrap() == journal,
            "the journal was changed"
        );
    };

    let report = case.join("from-repair-file.json");
    let output = report_from(&repair_file, &report);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(written["interrupted"], true, "{written}");
    // The transaction rolled back changed every reason: none of its text is read.
    assert!(
        !written.to_string().contains("xxxxxxxxxx"),
        "uncommitted rows read"
    );
    unchanged();

    let output = Command::new(assert_cmd::cargo::cargo_bin("export-repair"))
        .arg("verify")
        .arg("--target")
        .arg(case.join("drive"))
        .arg("--manifest")
        .arg(case.join(format!("drive/{DRIVE_ID}.manifest")))
        .arg("--copy-log")
        .arg(case.join("copy.xml"))
        .arg("--repair-file")
        .arg(&repair_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    unchanged();
}

/// A rollback journal beside the repair file that is a FIFO, a folder or a link is refused at
/// once (exit 2, naming it), by every command that opens the repair file; nothing changes.
///
/// Seen failing: with a FIFO every command waited forever; with a folder each said "disk I/O
/// error: Error code 266", naming neither the journal nor what was wrong; with a link, that
/// the repair file was not a repair file.
#[test]
fn a_journal_that_is_a_fifo_a_folder_or_a_link_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = finished_repair(dir.path());
    let journal = scenario.dir.join("drive.rep-journal");
    let rep = std::fs::read(scenario.repair_file()).unwrap();
    let elsewhere = scenario.dir.join("elsewhere");
    std::fs::write(&elsewhere, b"not a journal").unwrap();
    for kind in ["fifo", "folder", "link"] {
        let _ = std::fs::remove_dir(&journal);
        let _ = std::fs::remove_file(&journal);
        match kind {
            "fifo" => {
                let made = Command::new("mkfifo").arg(&journal).status().unwrap();
                assert!(made.success());
            }
            "folder" => std::fs::create_dir(&journal).unwrap(),
            _ => std::os::unix::fs::symlink(&elsewhere, &journal).unwrap(),
        }
        let mut report = assert_cmd::Command::cargo_bin("export-repair").unwrap();
        report
            .arg("report")
            .arg("--repair-file")
            .arg(scenario.repair_file())
            .arg("--output")
            .arg(scenario.dir.join("again.json"));
        let mut repair = assert_cmd::Command::cargo_bin("export-repair").unwrap();
        repair.args(scenario.args(1));
        for command in [report, repair] {
            let seen = run(command, Duration::from_secs(60));
            assert!(seen.code.is_some(), "{kind}: still waiting after a minute");
            assert_eq!(seen.code, Some(2), "{kind}: {}", seen.text());
            assert!(
                seen.stderr.contains(&format!(
                    "its rollback journal {} is not a regular file",
                    journal.display()
                )),
                "{kind}: {}",
                seen.text()
            );
        }
        assert!(
            std::fs::read(scenario.repair_file()).unwrap() == rep,
            "{kind}"
        );
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"not a journal");
    }
}

/// The three commands that open a repair file, on `repair_file` of `scenario`: `report`,
/// `verify --repair-file` and the repair itself.
fn every_reader(
    scenario: &Scenario,
    repair_file: &Path,
) -> Vec<(&'static str, assert_cmd::Command)> {
    let mut report = assert_cmd::Command::cargo_bin("export-repair").unwrap();
    report
        .arg("report")
        .arg("--repair-file")
        .arg(repair_file)
        .arg("--output")
        .arg(scenario.dir.join("again.json"));
    let mut verify = assert_cmd::Command::cargo_bin("export-repair").unwrap();
    verify
        .arg("verify")
        .arg("--target")
        .arg(scenario.drive())
        .arg("--manifest")
        .arg(scenario.drive().join(format!("{DRIVE_ID}.manifest")))
        .arg("--copy-log")
        .arg(scenario.dir.join("copy.xml"))
        .arg("--repair-file")
        .arg(repair_file);
    let mut repair = assert_cmd::Command::cargo_bin("export-repair").unwrap();
    let args: Vec<OsString> = scenario.args(1);
    let at = args.iter().position(|a| a == "--repair-file").unwrap() + 1;
    repair
        .args(&args[..at])
        .arg(repair_file)
        .args(&args[at + 1..]);
    vec![("report", report), ("verify", verify), ("repair", repair)]
}

/// Each command that opens a repair file refuses it at once (exit 2), saying `phrase`, and
/// leaves the drive and `untouched` as they were, with no file beside them.
fn assert_every_reader_refuses(scenario: &Scenario, repair_file: &Path, phrase: &str, what: &str) {
    let before = files(&scenario.drive());
    let beside: Vec<_> = std::fs::read_dir(&scenario.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for (command_name, command) in every_reader(scenario, repair_file) {
        let seen = run(command, Duration::from_secs(60));
        assert!(
            seen.code.is_some(),
            "{what}, {command_name}: still running after a minute"
        );
        assert_eq!(
            seen.code,
            Some(2),
            "{what}, {command_name}: {}",
            seen.text()
        );
        assert!(
            seen.stderr.contains(&repair_file.display().to_string())
                && seen.stderr.contains(phrase),
            "{what}, {command_name}: {}",
            seen.text()
        );
    }
    assert_eq!(files(&scenario.drive()), before, "{what}");
    let mut now: Vec<_> = std::fs::read_dir(&scenario.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    now.retain(|name| !beside.contains(name));
    assert!(
        now.is_empty(),
        "{what}: {now:?} made beside the repair file"
    );
}

/// A repair file that is a FIFO or a folder is refused at once by every command, saying what
/// it is.
///
/// Seen failing: with a FIFO, `report` and `verify --repair-file` waited forever, `repair`
/// said "disk I/O error: Error code 266"; with a folder, "unable to open database file".
#[test]
fn a_repair_file_that_is_a_fifo_or_a_folder_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = finished_repair(dir.path());
    let fifo = scenario.dir.join("fifo.rep");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    assert_every_reader_refuses(&scenario, &fifo, "is a FIFO, not a regular file", "a FIFO");
    let folder = scenario.dir.join("folder.rep");
    std::fs::create_dir(&folder).unwrap();
    assert_every_reader_refuses(
        &scenario,
        &folder,
        "is a folder, not a regular file",
        "a folder",
    );
}

/// An empty file given to the commands that only read a repair file is said to be empty, not
/// missing, and not "not a repair file (it is not a repair file)".
#[test]
fn an_empty_repair_file_is_said_to_be_empty() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = finished_repair(dir.path());
    let empty = scenario.dir.join("empty.rep");
    std::fs::write(&empty, b"").unwrap();
    // A run stopped at once leaves SQLite's header and no table: empty too.
    // Seen failing: "it is another program's SQLite database".
    let header_only = scenario.dir.join("header-only.rep");
    let connection = rusqlite::Connection::open(&header_only).unwrap();
    connection
        .execute_batch("CREATE TABLE t (x); DROP TABLE t;")
        .unwrap();
    drop(connection);
    assert!(std::fs::metadata(&header_only).unwrap().len() > 0);
    for file in [&empty, &header_only] {
        for (name, command) in every_reader(&scenario, file).into_iter().take(2) {
            let seen = run(command, Duration::from_secs(60));
            assert_eq!(seen.code, Some(2), "{name}: {}", seen.text());
            assert!(
                seen.stderr
                    .contains("is empty: no run recorded anything in it"),
                "{name}: {}",
                seen.text()
            );
        }
    }
}

/// A repair file holding a trigger or a view (which no run makes) is refused by every command
/// before anything in it runs: a trigger could rewrite the run's own verdicts, a view stand
/// where a table was, either loop forever.
///
/// Seen failing: a trigger on the binding looping forever hung `repair` at full CPU; one that
/// turned every corrupt verdict to verified made a rerun say "nothing to repair" (exit 0) over
/// a corrupt block; a view in place of the component table hung `report` and `verify`.
#[test]
fn a_repair_file_holding_a_trigger_or_a_view_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = finished_repair(dir.path());
    let original = scenario.repair_file();
    let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                   SELECT count(*) FROM n";
    let cases = [
        (
            "trigger.rep",
            format!("CREATE TRIGGER t AFTER UPDATE ON binding BEGIN {endless}; END;"),
            "a trigger",
        ),
        (
            "flips.rep",
            "CREATE TRIGGER f AFTER UPDATE ON component BEGIN \
             UPDATE component SET status = 'verified' WHERE status IN ('corrupt', 'failed'); END;"
                .to_string(),
            "a trigger",
        ),
        (
            "view.rep",
            format!(
                "ALTER TABLE component RENAME TO component_kept; \
                 CREATE VIEW component AS SELECT * FROM component_kept WHERE ({endless}) > 0;"
            ),
            "a view",
        ),
    ];
    for (name, sql, phrase) in cases {
        let planted = scenario.dir.join(name);
        std::fs::copy(&original, &planted).unwrap();
        let db = rusqlite::Connection::open(&planted).unwrap();
        db.execute_batch(&sql).unwrap();
        drop(db);
        let phrase = format!("holds {phrase}");
        assert_every_reader_refuses(&scenario, &planted, &phrase, name);
    }
}

/// A repair file switched to WAL mode (which no run uses) is refused; reading it would leave
/// `-wal` and `-shm` files beside it, and the commands that only read it promise to write
/// nothing.
#[test]
fn a_repair_file_in_wal_mode_is_refused_and_nothing_is_made_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = finished_repair(dir.path());
    let wal = scenario.dir.join("wal.rep");
    std::fs::copy(scenario.repair_file(), &wal).unwrap();
    let db = rusqlite::Connection::open(&wal).unwrap();
    db.pragma_update(None, "journal_mode", "WAL").unwrap();
    drop(db);
    assert_every_reader_refuses(&scenario, &wal, "WAL", "WAL mode");
}

/// Regression: `kill -9` while the repair file was being created left a file every later run
/// refused; now the file is created in one transaction and an empty one is taken as new.
#[test]

fn a_repair_file_killed_during_creation_is_resumable() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::new(dir.path());
    // What the kill leaves: the file SQLite created, nothing in it yet.
    std::fs::write(scenario.repair_file(), b"").unwrap();
    let output = scenario.run(2);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    scenario.assert_identical_to_blobs("after an empty repair file");
}

/// `report --repair-file REPAIR_FILE --output OUTPUT`, as a user runs it.
fn report_from(
    repair_file: impl AsRef<std::ffi::OsStr>,
    output: impl AsRef<std::ffi::OsStr>,
) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("export-repair"))
        .arg("report")
        .arg("--repair-file")
        .arg(repair_file)
        .arg("--output")
        .arg(output)
        .output()
        .unwrap()
}

/// A finished repair (drive right, repair file all done).
fn finished_repair(dir: &Path) -> Scenario {
    let scenario = Scenario::new(dir);
    assert_eq!(scenario.run(1).status.code(), Some(0));
    scenario
}

/// Exit 2 naming the repair file, and nothing on the drive changed.
fn assert_refused_clearly(scenario: &Scenario) {
    let before = files(&scenario.drive());
    let output = scenario.run(1);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a repair file no run can use must be refused (exit 2), not \"interrupted\": {stderr}"
    );
    assert!(stderr.contains("drive.rep"), "{stderr}");
    assert_eq!(files(&scenario.drive()), before);
}

/// A repair file that opens but whose rows cannot be read (a BLOB where the `state` text
/// belongs, as a flipped type byte gives; text where a number belongs; a negative count; a
/// state or status no run writes) is refused when
/// opened, by a repair and by `report --repair-file`: exit 2 naming it, not a run or a report
/// that says "interrupted" for ever.
///
/// Seen failing for the values: `report` exited 4 with the row "not checked: the run ended
/// before it got here"; for the types and the negative count it gave SQLite's own words.
#[test]
fn unreadable_repair_file_rows_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = finished_repair(dir.path());
    let finished = std::fs::read(scenario.repair_file()).unwrap();
    // The finished file with one change made to it.
    let tamper = |change: &str| {
        std::fs::write(scenario.repair_file(), &finished).unwrap();
        let db = rusqlite::Connection::open(scenario.repair_file()).unwrap();
        db.execute(&format!("UPDATE {change}"), []).unwrap();
    };
    for change in [
        "component SET state = x'00ff' WHERE blob = 0 AND component = 0",
        "component SET state = 'bogus' WHERE blob = 0 AND component = 0",
        "component SET status = 'bogus' WHERE blob = 0 AND component = 0",
        "component SET status = NULL WHERE blob = 0 AND component = 0",
        "component SET attempts = 'x' WHERE blob = 0 AND component = 0",
        "component SET attempts = -3 WHERE blob = 0 AND component = 0",
        "component SET offset = 'a' WHERE blob = 0 AND component = 0",
        "component SET file_inode = 'q' WHERE blob = 0 AND component = 0",
        "blob SET length = 'x' WHERE blob = 0",
    ] {
        tamper(change);
        let output = report_from(scenario.repair_file(), scenario.dir.join("again.json"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{change}: {stderr}");
        assert!(stderr.contains("drive.rep"), "{change}: {stderr}");
        // What is wrong and what to do, not SQLite's words ("Invalid column type Text at
        // index: 9", "Integer -3 out of range").
        assert!(
            stderr.contains("start over with a new repair file"),
            "{change}: {stderr}"
        );
        assert_refused_clearly(&scenario);
    }
    // A block reaching past its file's end: a report would claim its bytes (a repair keys
    // rows by what they are, and takes such a row for a stray one of no component).
    tamper("component SET length = 99999999999 WHERE blob = 0 AND component = 0");
    let output = report_from(scenario.repair_file(), scenario.dir.join("again.json"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("past the blob's end") && stderr.contains("start over"),
        "{stderr}"
    );
}

/// A repair file whose header says it may only be read (byte 18, the write version, above
/// 2, as a flipped bit gives) is refused when opened: exit 2, before any write is tried.
#[test]
fn an_unwritable_repair_file_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = finished_repair(dir.path());
    // One block damaged and forgotten by the repair file, so the run has something to write.
    let db = rusqlite::Connection::open(scenario.repair_file()).unwrap();
    db.execute("DELETE FROM component WHERE blob = 0 AND component = 0", [])
        .unwrap();
    drop(db);
    let blob = &scenario.sample.blobs[0];
    let path = local_path(&scenario.drive(), &blob.file_path).unwrap();
    let mut data = std::fs::read(&path).unwrap();
    data[5] ^= 1;
    std::fs::write(&path, data).unwrap();
    let mut bytes = std::fs::read(scenario.repair_file()).unwrap();
    bytes[18] = 3;
    std::fs::write(scenario.repair_file(), bytes).unwrap();
    assert_refused_clearly(&scenario);
}

/// Truncations at many lengths, a torn hot journal, and bit flips in the header and anywhere.
fn mangled_cases(rep: &[u8], journal: &[u8]) -> Vec<(String, Vec<u8>, Option<Vec<u8>>)> {
    let len = rep.len();
    let mut cases: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    for cut in [0, 1, 15, 100, 512, 1024, 4095, 4096, len / 2, len - 1] {
        cases.push((format!("truncated to {cut}"), rep[..cut].to_vec(), None));
    }
    cases.push((
        "torn: the hot journal cut in half".into(),
        rep.to_vec(),
        Some(journal[..journal.len() / 2].to_vec()),
    ));
    cases.push((
        "a whole hot journal: rolled back".into(),
        rep.to_vec(),
        Some(journal.to_vec()),
    ));
    let mut rng = Rng::new(77);
    // Header fields (page size, counts, schema cookie), then anywhere.
    let mut positions: Vec<usize> = vec![16, 18, 21, 28, 40, 56, 60, 68, 100, 4096 + 3];
    positions.extend((0..10).map(|_| rng.below(len as u64) as usize));
    for position in positions.into_iter().filter(|&p| p < len) {
        let mut flipped = rep.to_vec();
        flipped[position] ^= 1 << rng.below(8);
        cases.push((format!("bit flipped at byte {position}"), flipped, None));
    }
    cases
}

#[test]
fn a_torn_truncated_or_flipped_repair_file_is_a_clear_error_or_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (base, rep, journal) = half_done_repair_file(dir.path());
    assert!(rep.len() >= 4096, "a repair file of {} bytes", rep.len());
    println!(
        "repair file of {} bytes, rollback journal of {} bytes",
        rep.len(),
        journal.len()
    );
    let cases = mangled_cases(&rep, &journal);
    let problems: Vec<String> = cases
        .iter()
        .enumerate()
        .filter_map(|(index, (case, bytes, journal))| {
            check_mangled(&base, case, bytes, journal.as_deref(), index).err()
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    println!("{} mangled repair files, no panic", cases.len());
}

/// A report made later from the repair file says the run ended when its last verdict was
/// recorded, not when the report was made.
///
/// Seen failing: `finished` was the moment `report` ran (seconds or days after the run).
#[test]
fn a_later_report_says_when_the_run_ended_not_when_it_was_made() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = finished_repair(dir.path());
    let ended_by = time::OffsetDateTime::now_utc();
    std::thread::sleep(Duration::from_millis(1500));
    let report = scenario.dir.join("later.json");
    let output = report_from(scenario.repair_file(), &report);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let finished = time::OffsetDateTime::parse(
        written["finished"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        finished <= ended_by,
        "{finished} is after the run ({ended_by})"
    );
    assert!(
        finished > ended_by - time::Duration::minutes(5),
        "{finished}"
    );
}
