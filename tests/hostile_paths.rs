//! A drive is hostile input: links, hard links and entries that name one file twice, each
//! planted by the test on a drive it builds, then `repair` and `verify` run as a user runs
//! them. Nothing outside the target changes, no entry overwrites another's file, and what was
//! refused is said, naming the entries.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use export_repair::demo::{SampleBlob, pseudo_random_bytes};
use export_repair::format::Md5;
use support::hostile::{Hostile, Seen, read_json, run, verdicts};

const TIMEOUT: Duration = Duration::from_secs(180);
const KIB: usize = 1024;

/// Every file under `dir` with the MD5 of its bytes, links not followed (a link is shown with
/// where it leads).
fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            if kind.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.push((format!("{name} ->"), target.display().to_string()));
            } else if kind.is_dir() {
                stack.push(path);
            } else {
                out.push((name, Md5::of(&std::fs::read(&path).unwrap()).to_string()));
            }
        }
    }
    out.sort();
    out
}

fn assert_refused_naming(seen: &Seen, report: &serde_json::Value, file_path: &str, words: &[&str]) {
    let found = verdicts(report, file_path);
    assert!(!found.is_empty(), "{file_path} has components: {report}");
    assert!(
        found.iter().all(|(status, _)| status == "failed"),
        "every component of {file_path} is refused: {found:?}"
    );
    for (_, reason) in &found {
        for word in words {
            assert!(
                reason.contains(word),
                "{file_path}: {word:?} not in {reason:?}"
            );
        }
    }
    assert!(seen.stdout.contains(file_path), "{}", seen.text());
}

/// A link planted at the name the old tool gave its temporary (`.<name>.export-repair.tmp`)
/// beside a properties file that is regenerated: the file it points to, outside the drive,
/// stays as it was; the properties file is rewritten through a temporary of its own.
///
/// Seen failing with the temporary named `.<name>.export-repair.tmp` and opened without
/// `O_EXCL | O_NOFOLLOW` (the old protocol): the outside file held the regenerated XML.
#[test]
fn a_link_at_a_temporary_name_beside_a_regenerated_properties_file_writes_nothing_outside() {
    let hostile = Hostile::new(
        "TMPLINK1",
        vec![
            SampleBlob::block("box/doc.txt", b"the document".to_vec(), 4 * KIB as u64)
                .with_properties("text/plain"),
        ],
    );
    let properties = hostile.local(&hostile.blob("box/doc.txt").properties_path());
    let exported = std::fs::read(&properties).unwrap();
    std::fs::write(&properties, b"<Properties>damaged</Properties>").unwrap();
    let victim = hostile.outside().join("victim.txt");
    std::fs::write(&victim, b"outside the drive").unwrap();
    let planted = hostile
        .drive()
        .join("box/.doc.txt.properties.export-repair.tmp");
    symlink(&victim, &planted).unwrap();
    let outside = tree(&hostile.outside());

    let seen = run(hostile.repair(), TIMEOUT);
    assert_eq!(seen.code, Some(0), "{}", seen.text());
    assert_eq!(
        tree(&hostile.outside()),
        outside,
        "nothing outside the drive changed"
    );
    assert_eq!(
        std::fs::read(&properties).unwrap(),
        exported,
        "the properties file is back"
    );
    assert_eq!(
        std::fs::read_link(&planted).unwrap(),
        victim,
        "the planted link is left alone"
    );
    let mut names: Vec<String> = std::fs::read_dir(hostile.drive().join("box"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".doc.txt.properties.export-repair.tmp",
            "doc.txt",
            "doc.txt.properties"
        ],
        "no temporary is left behind"
    );
    let report = hostile.report_json();
    assert_eq!(
        support::hostile::components(&report, r"\box\doc.txt", "properties")[0]["status"],
        "repaired"
    );
}

/// A damaged file that is a hard link to a file outside the drive is never written in place
/// (the outside name would change too): its damage is reported with the reason, exit 1, and
/// the outside file is unchanged byte for byte.
///
/// Seen failing without the link-count check of an in-place write: the outside file took the
/// repaired block.
#[test]
fn a_damaged_file_hard_linked_to_a_file_outside_is_not_written_through_the_link() {
    let content = pseudo_random_bytes(3, 12 * KIB);
    let hostile = Hostile::new(
        "HARDLNK1",
        vec![SampleBlob::block(
            "box/data.bin",
            content.clone(),
            4 * KIB as u64,
        )],
    );
    let file = hostile.file("box/data.bin");
    let victim = hostile.outside().join("victim.bin");
    let mut damaged = content.clone();
    damaged[4 * KIB..8 * KIB].fill(0);
    std::fs::write(&victim, &damaged).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::fs::hard_link(&victim, &file).unwrap();

    let seen = run(hostile.repair(), TIMEOUT);
    assert_eq!(seen.code, Some(1), "{}", seen.text());
    assert!(
        std::fs::read(&victim).unwrap() == damaged,
        "the outside file is unchanged"
    );
    let report = hostile.report_json();
    let found = verdicts(&report, r"\box\data.bin");
    assert!(
        found.iter().any(|(status, reason)| status == "failed"
            && reason.contains("hard links")
            && reason.contains("nothing was written")),
        "{found:?}"
    );
}

/// The verbose log's name in `--log-dir` is predictable (drive and second): a link planted at
/// it for every second of the next minutes is not followed. The run refuses to log there
/// (exit 2, naming the folder) and the file the links lead to is unchanged.
///
/// Seen failing with the log opened by `File::create` on the path (the old way): the outside
/// file was truncated and took the log's lines.
#[test]
fn a_link_planted_at_the_log_name_is_not_followed() {
    let hostile = Hostile::new(
        "LOGLINK1",
        vec![SampleBlob::block("box/x.bin", b"data".to_vec(), 4)],
    );
    let victim = hostile.outside().join("victim.log");
    std::fs::write(&victim, b"not a log").unwrap();
    std::fs::create_dir_all(hostile.logs()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let stamp = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    for second in -5..600 {
        let at = (now + time::Duration::seconds(second))
            .format(&stamp)
            .unwrap();
        let name = format!("export-repair_LOGLINK1_{at}.log");
        symlink(&victim, hostile.logs().join(name)).unwrap();
    }
    let seen = run(hostile.repair(), TIMEOUT);
    assert_eq!(seen.code, Some(2), "{}", seen.text());
    assert!(
        seen.stderr.contains("cannot write the log"),
        "{}",
        seen.text()
    );
    assert!(seen.stderr.contains("symbolic link"), "{}", seen.text());
    assert_eq!(std::fs::read(&victim).unwrap(), b"not a log");
}

/// An entry whose FilePath is the manifest the run reads (kept on the drive, as export drives
/// keep it): a repair would write the blob over it. The entry is refused naming it (exit 1),
/// the manifest unchanged; the other entry is repaired.
///
/// Seen failing: the manifest was overwritten with the blob's bytes, exit 0.
#[test]
fn an_entry_whose_file_is_the_manifest_is_refused() {
    let mut hostile = Hostile::new(
        "ONINPUT1",
        vec![
            SampleBlob::block("box/x.bin", pseudo_random_bytes(71, 10 * KIB), 4096),
            SampleBlob::block("box/y.bin", pseudo_random_bytes(72, 10 * KIB), 4096),
        ],
    );
    hostile.sample.blobs[0].file_path = r"\ONINPUT1.manifest".into();
    hostile.write_manifest();
    let damaged = hostile.file("box/y.bin");
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[5] ^= 1;
    std::fs::write(&damaged, &bytes).unwrap();
    let manifest = std::fs::read(hostile.manifest()).unwrap();
    let seen = run(hostile.repair(), TIMEOUT);
    assert_eq!(seen.code, Some(1), "{}", seen.text());
    assert!(
        std::fs::read(hostile.manifest()).unwrap() == manifest,
        "the manifest is unchanged: {}",
        seen.text()
    );
    assert_refused_naming(
        &seen,
        &hostile.report_json(),
        r"\ONINPUT1.manifest",
        &["this run's manifest", "nothing is read or written"],
    );
    assert!(std::fs::read(&damaged).unwrap() == hostile.blob("box/y.bin").content);
}

/// A repair file named outside the drive that is a drive file under another name (a hard
/// link to an empty file that verifies): the repair file is written, so the run is refused
/// before it opens it (exit 2, naming both), and the drive file is unchanged.
///
/// Seen failing: SQLite took the empty file for a new repair file and wrote 24 KiB of tables
/// into the drive's file; only then was its entry refused (exit 1, a later verify: corrupt).
#[test]
fn a_repair_file_that_is_a_drive_file_is_refused_before_anything_is_written() {
    let hostile = Hostile::new(
        "REPLINK1",
        vec![
            SampleBlob::block("box/empty.log", Vec::new(), 4096),
            SampleBlob::block("box/y.bin", pseudo_random_bytes(73, 10 * KIB), 4096),
        ],
    );
    let empty = hostile.file("box/empty.log");
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    std::fs::hard_link(&empty, hostile.repair_file()).unwrap();
    let before = tree(&hostile.drive());
    let seen = run(hostile.repair(), TIMEOUT);
    assert_eq!(seen.code, Some(2), "{}", seen.text());
    assert!(
        seen.stderr.contains("box") && seen.stderr.contains("empty.log"),
        "names the drive's file: {}",
        seen.text()
    );
    assert_eq!(tree(&hostile.drive()), before, "{}", seen.text());
}

/// Two entries with different blobs whose FilePaths name one file on NTFS. Writing either
/// would overwrite the other's bytes; both are refused naming both (exit 1) and the file is
/// unchanged; so says a report made later from the repair file.
///
/// Seen failing with the repair file keying both entries' components alike: its report showed
/// the second entry verified, with no components.
fn two_claims_on_one_file(drive_id: &str, second_path: &str) {
    let first = pseudo_random_bytes(7, 8 * KIB);
    let second = SampleBlob {
        file_path: second_path.to_string(),
        ..SampleBlob::block(
            "box/other.bin",
            pseudo_random_bytes(8, 8 * KIB),
            4 * KIB as u64,
        )
    };
    let hostile = Hostile::new(
        drive_id,
        vec![
            SampleBlob::block("box/x.bin", first.clone(), 4 * KIB as u64),
            second,
        ],
    );
    // The drive holds the first entry's bytes (the sample wrote the second's over them).
    let file = hostile.file("box/x.bin");
    std::fs::write(&file, &first).unwrap();
    let drive = tree(&hostile.drive());

    let seen = run(hostile.repair(), TIMEOUT);
    assert_eq!(seen.code, Some(1), "{}", seen.text());
    assert!(
        std::fs::read(&file).unwrap() == first,
        "the file is unchanged"
    );
    assert_eq!(
        tree(&hostile.drive()),
        drive,
        "nothing on the drive changed"
    );
    let report = hostile.report_json();
    for path in [r"\box\x.bin", second_path] {
        assert_refused_naming(
            &seen,
            &report,
            path,
            &[r"\box\x.bin", second_path, "one file"],
        );
    }
    let later = hostile.dir.path().join("later.json");
    let mut report_command = assert_cmd::Command::cargo_bin("export-repair").unwrap();
    report_command
        .arg("report")
        .arg("--repair-file")
        .arg(hostile.repair_file())
        .arg("-o")
        .arg(&later);
    let made = run(report_command, TIMEOUT);
    assert_eq!(made.code, Some(1), "damage remains: {}", made.text());
    let later = read_json(&later);
    for path in [r"\box\x.bin", second_path] {
        assert_refused_naming(&seen, &later, path, &["one file"]);
    }
    assert_eq!(later["outcome"], report["outcome"], "{later}");

    let seen = run(hostile.verify(), TIMEOUT);
    assert_eq!(seen.code, Some(1), "{}", seen.text());
    assert_refused_naming(&seen, &hostile.report_json(), second_path, &["one file"]);
}

/// `\box\x.bin` and `/box/x.bin`: one file.
///
/// Seen failing with the claims check off: the second entry's blocks were written over the
/// first's file and the run said REPAIRED.
#[test]
fn two_spellings_of_one_path_are_both_refused() {
    two_claims_on_one_file("CLAIMSEP", "/box/x.bin");
}

/// `\box\X.bin` and `\box\x.bin`: one file on NTFS, and the lookup that finds a name in another
/// case would map one onto the other.
///
/// Seen failing with the claims check off, as above.
#[test]
fn case_twins_are_both_refused() {
    two_claims_on_one_file("CLAIMCAS", r"\box\X.bin");
}

/// A `PropertiesPath` equal to another blob's `FilePath`: regenerating the properties file
/// would replace a verified data file with XML. Both entries are refused, naming both.
///
/// Seen failing with the claims check off: `a.bin` became 171 bytes of XML.
#[test]
fn a_properties_path_that_is_another_blobs_file_is_refused() {
    let data = pseudo_random_bytes(9, 8 * KIB);
    let hostile = Hostile::new(
        "CLAIMPRP",
        vec![
            SampleBlob::block("box/a.bin", data.clone(), 4 * KIB as u64),
            SampleBlob::block("box/b.bin", b"bee".to_vec(), 4).with_properties("x"),
        ],
    );
    let mut manifest = hostile.sample.manifest();
    manifest.blobs[1].properties.as_mut().unwrap().path = r"\box\a.bin".into();
    std::fs::write(hostile.manifest(), manifest.to_xml()).unwrap();
    let drive = tree(&hostile.drive());

    let seen = run(hostile.repair(), TIMEOUT);
    assert_eq!(seen.code, Some(1), "{}", seen.text());
    assert!(
        std::fs::read(hostile.file("box/a.bin")).unwrap() == data,
        "a.bin is unchanged"
    );
    assert_eq!(
        tree(&hostile.drive()),
        drive,
        "nothing on the drive changed"
    );
    let report = hostile.report_json();
    for path in [r"\box\a.bin", r"\box\b.bin"] {
        assert_refused_naming(
            &seen,
            &report,
            path,
            &["data file", "properties file", r"\box\a.bin", "one file"],
        );
    }
}

/// Links inside the target: `b.bin -> a.bin`, and a folder `d -> c`. Following them would
/// write one entry's bytes into another's file. Every entry whose path passes a link is
/// refused naming the link (exit 1); `a.bin` stays as it was, the links stay links.
///
/// Seen failing with lookups that follow links (no `O_NOFOLLOW`, no `RESOLVE_NO_SYMLINKS`):
/// b's blocks were written into `a.bin`.
#[test]
fn links_inside_the_target_are_not_followed() {
    let a = pseudo_random_bytes(10, 8 * KIB);
    let hostile = Hostile::new(
        "INLINK01",
        vec![
            SampleBlob::block("box/a.bin", a.clone(), 4 * KIB as u64),
            SampleBlob::block(
                "box/b.bin",
                pseudo_random_bytes(11, 8 * KIB),
                4 * KIB as u64,
            ),
            SampleBlob::block(
                "alias/a.bin",
                pseudo_random_bytes(12, 8 * KIB),
                4 * KIB as u64,
            ),
        ],
    );
    std::fs::remove_file(hostile.file("box/b.bin")).unwrap();
    symlink("a.bin", hostile.file("box/b.bin")).unwrap();
    std::fs::remove_dir_all(hostile.drive().join("alias")).unwrap();
    symlink("box", hostile.drive().join("alias")).unwrap();
    let drive = tree(&hostile.drive());

    for (command, what) in [(hostile.verify(), "verify"), (hostile.repair(), "repair")] {
        // Each run's own report, not the one before it.
        let _ = std::fs::remove_file(hostile.report());
        let seen = run(command, TIMEOUT);
        assert_eq!(seen.code, Some(1), "{what}: {}", seen.text());
        assert_eq!(
            tree(&hostile.drive()),
            drive,
            "{what}: nothing on the drive changed"
        );
        let report = hostile.report_json();
        assert_refused_naming(&seen, &report, r"\box\b.bin", &["symbolic link", "b.bin"]);
        assert_refused_naming(
            &seen,
            &report,
            r"\alias\a.bin",
            &["symbolic link", "\"alias\""],
        );
        assert!(
            verdicts(&report, r"\box\a.bin")
                .iter()
                .all(|(status, _)| status == "verified"),
            "{what}: a.bin verifies"
        );
    }
    assert!(std::fs::read(hostile.file("box/a.bin")).unwrap() == a);
}

/// Exchanges `drive/race` (a folder) with `drive/race.link` (a link to the outside) in a loop
/// until told to stop; counts the exchanges.
fn swap_in_a_loop(drive: &Path, stop: Arc<AtomicBool>, swaps: Arc<AtomicU64>) {
    let dir = rustix::fs::open(
        drive,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    while !stop.load(Ordering::Relaxed) {
        rustix::fs::renameat_with(
            &dir,
            "race",
            &dir,
            "race.link",
            rustix::fs::RenameFlags::EXCHANGE,
        )
        .unwrap();
        swaps.fetch_add(1, Ordering::Relaxed);
    }
}

/// The race: while a repair with 16 downloads in flight runs, a thread swaps a folder of the
/// drive with a link leading outside it, in a loop (`renameat2(RENAME_EXCHANGE)`). Three runs,
/// each from the damaged drive: not one byte outside the target changes, and every block on
/// the drive is either its old bytes or the blob's. Once the swapping stops, a rerun repairs
/// everything.
///
/// Seen failing with lookups that follow links (`openat2` without `RESOLVE_NO_SYMLINKS`, steps
/// without `O_NOFOLLOW`): blocks landed in the outside decoys in every run.
#[test]
fn a_folder_swapped_with_a_link_out_of_the_target_during_a_repair_changes_nothing_outside() {
    const FILES: usize = 16;
    const BLOCK: usize = 4 * KIB;
    const BLOCKS: usize = 64;
    let blobs: Vec<SampleBlob> = (0..FILES)
        .map(|i| {
            SampleBlob::block(
                &format!("race/f{i:02}.bin"),
                pseudo_random_bytes(100 + i as u64, BLOCK * BLOCKS),
                BLOCK as u64,
            )
        })
        .collect();
    let hostile = Hostile::new("RACE0001", blobs);
    // Decoys of the same names outside: a write through the link would land in them.
    let decoys = hostile.outside().join("race");
    std::fs::create_dir_all(&decoys).unwrap();
    for i in 0..FILES {
        std::fs::write(
            decoys.join(format!("f{i:02}.bin")),
            vec![0xEE; BLOCK * BLOCKS],
        )
        .unwrap();
    }
    symlink(&decoys, hostile.drive().join("race.link")).unwrap();
    let outside = tree(&hostile.outside());
    // Every other block zeroed: separate writes, each its own lookup.
    let damage = || {
        for blob in &hostile.sample.blobs {
            let mut bytes = blob.content.clone();
            for block in (0..BLOCKS).step_by(2) {
                bytes[block * BLOCK..(block + 1) * BLOCK].fill(0);
            }
            std::fs::write(hostile.file(&blob.blob_path), bytes).unwrap();
        }
    };
    let mut refusals = 0;
    for round in 0..3 {
        damage();
        let _ = std::fs::remove_file(hostile.repair_file());
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let swapper = {
            let (drive, stop, swaps) = (hostile.drive(), Arc::clone(&stop), Arc::clone(&swaps));
            std::thread::spawn(move || swap_in_a_loop(&drive, stop, swaps))
        };
        let mut command = hostile.repair();
        command.args(["--concurrency", "16"]);
        let seen = run(command, TIMEOUT);
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
        if std::fs::symlink_metadata(hostile.drive().join("race"))
            .unwrap()
            .file_type()
            .is_symlink()
        {
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                hostile.drive().join("race"),
                rustix::fs::CWD,
                hostile.drive().join("race.link"),
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .unwrap();
        }
        assert!(
            matches!(seen.code, Some(0 | 1)),
            "round {round}: {}",
            seen.text()
        );
        assert!(swaps.load(Ordering::Relaxed) > 0);
        assert_eq!(
            tree(&hostile.outside()),
            outside,
            "round {round}: bytes outside the target changed"
        );
        for blob in &hostile.sample.blobs {
            let on_drive = std::fs::read(hostile.file(&blob.blob_path)).unwrap();
            for (index, (now, right)) in on_drive
                .chunks(BLOCK)
                .zip(blob.content.chunks(BLOCK))
                .enumerate()
            {
                assert!(
                    now == right || now.iter().all(|&b| b == 0),
                    "round {round}: block {index} of {} is neither old nor right",
                    blob.blob_path
                );
            }
        }
        let report = hostile.report_json();
        refusals += report["files"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|file| file["components"].as_array().unwrap())
            .filter(|c| {
                c["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("symbolic link"))
            })
            .count();
        println!(
            "round {round}: exit {:?}, {} swaps",
            seen.code,
            swaps.load(Ordering::Relaxed)
        );
    }
    assert!(
        refusals > 0,
        "the swaps were never seen by a run: the test raced nothing"
    );
    let seen = run(hostile.repair(), TIMEOUT);
    assert_eq!(seen.code, Some(0), "{}", seen.text());
    for blob in &hostile.sample.blobs {
        assert!(std::fs::read(hostile.file(&blob.blob_path)).unwrap() == blob.content);
    }
}

/// A listed file whose name has the form of the tool's temporaries, intact on the drive: the
/// rerun with the same repair file (which first removes what killed runs left beside the
/// drive's files) keeps it, and says the drive is whole.
///
/// Seen failing: the rerun deleted it as a stale temporary; the source had no copy to bring
/// back, so the file was lost (exit 1, `verify`: missing).
#[test]
fn a_listed_file_named_like_a_temporary_is_never_removed() {
    let mut hostile = Hostile::new(
        "TMPNAME1",
        vec![
            SampleBlob::block("box/x.bin", pseudo_random_bytes(73, 8 * KIB), 4096),
            SampleBlob::block("box/y.bin", pseudo_random_bytes(74, 8 * KIB), 4096),
        ],
    );
    let name = r"\box\.export-repair-0123456789abcdef.tmp";
    let content = hostile.sample.blobs[0].content.clone();
    std::fs::rename(hostile.file("box/x.bin"), hostile.local(name)).unwrap();
    hostile.sample.blobs[0].file_path = name.into();
    hostile.write_manifest();
    // Nothing at the source could bring it back.
    std::fs::remove_file(hostile.mirror().join("box/x.bin")).unwrap();
    let damaged = hostile.file("box/y.bin");
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[5] ^= 1;
    std::fs::write(&damaged, &bytes).unwrap();
    for attempt in ["first run", "rerun"] {
        let seen = run(hostile.repair(), TIMEOUT);
        assert_eq!(seen.code, Some(0), "{attempt}: {}", seen.text());
        assert_eq!(
            std::fs::read(hostile.local(name)).ok(),
            Some(content.clone()),
            "{attempt}: the listed file is kept"
        );
    }
}

/// An NTFS volume image mounted with ntfs-3g under `dir/mnt` for the test's life; `None`
/// (the test skipped, saying why) where that cannot be done.
struct NtfsMount {
    mount: std::path::PathBuf,
}

impl NtfsMount {
    fn new(dir: &Path) -> Option<Self> {
        // The owner of a file made here is the effective user.
        let root = {
            use std::os::unix::fs::MetadataExt as _;
            std::fs::metadata(dir).unwrap().uid() == 0
        };
        let tools = ["mkntfs", "ntfs-3g"]
            .iter()
            .all(|tool| which(tool).is_some());
        if !root || !tools || !Path::new("/dev/fuse").exists() {
            support::skip::skip(
                "needs root, /dev/fuse and ntfs-3g's mkntfs and ntfs-3g (Debian package ntfs-3g)",
            );
            return None;
        }
        let image = dir.join("ntfs.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(16 << 20)
            .unwrap();
        let mount = dir.join("mnt");
        std::fs::create_dir(&mount).unwrap();
        let made = std::process::Command::new(which("mkntfs").unwrap())
            .args(["-F", "-q", "-f"])
            .arg(&image)
            .output()
            .unwrap();
        assert!(made.status.success(), "mkntfs: {made:?}");
        let mounted = std::process::Command::new(which("ntfs-3g").unwrap())
            .arg(&image)
            .arg(&mount)
            .output()
            .unwrap();
        assert!(mounted.status.success(), "ntfs-3g: {mounted:?}");
        Some(Self { mount })
    }
}

impl Drop for NtfsMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.mount)
            .status();
    }
}

/// A program on `PATH` or in the system folders root's `PATH` has.
fn which(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(tool))
        .find(|candidate| candidate.is_file())
}

/// On NTFS a folder also answers to its 8.3 short name: `\box\LONGDI~1\a.bin` is the file
/// `\box\longdirectoryname\a.bin`, though no folding of the names shows it. Two entries
/// naming it so are both refused, naming both (exit 1), and the intact file keeps its bytes.
///
/// Seen failing: the second entry's bytes were written over the first's intact file, the run
/// said REPAIRED (exit 0), and a `verify` after remounting found the first corrupt.
#[test]
fn an_8_3_short_name_is_one_file_with_its_long_name() {
    let dir = tempfile::tempdir().unwrap();
    let Some(ntfs) = NtfsMount::new(dir.path()) else {
        return;
    };
    let long = SampleBlob::block(
        "box/longdirectoryname/a.bin",
        pseudo_random_bytes(75, 8 * KIB),
        4096,
    );
    let short = SampleBlob {
        file_path: r"\box\LONGDI~1\a.bin".into(),
        ..SampleBlob::block("box/other.bin", pseudo_random_bytes(76, 8 * KIB), 4096)
    };
    let both = export_repair::demo::SampleDrive {
        drive_id: "SHORT83".into(),
        blobs: vec![long.clone(), short],
    };
    export_repair::demo::SampleDrive {
        drive_id: "SHORT83".into(),
        blobs: vec![long.clone()],
    }
    .write(&ntfs.mount)
    .unwrap();
    let folder = ntfs.mount.join("box/longdirectoryname");
    rustix::fs::setxattr(
        &folder,
        "system.ntfs_dos_name",
        b"LONGDI~1",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    assert!(
        ntfs.mount.join("box/LONGDI~1/a.bin").exists(),
        "no short name"
    );
    let manifest = dir.path().join("SHORT83.manifest");
    std::fs::write(&manifest, both.manifest().to_xml()).unwrap();
    both.write_mirror(&dir.path().join("mirror")).unwrap();
    let copy_log = dir.path().join("copy.xml");
    std::fs::write(
        &copy_log,
        r#"<DriveLog Version="2014-11-01"><DriveId>SHORT83</DriveId><Status>Completed</Status></DriveLog>"#,
    )
    .unwrap();
    let mut command = assert_cmd::Command::cargo_bin("export-repair").unwrap();
    command
        .arg("repair")
        .arg("--repair-file")
        .arg(dir.path().join("r.rep"))
        .arg("--target")
        .arg(&ntfs.mount)
        .arg("--manifest")
        .arg(&manifest)
        .arg("--copy-log")
        .arg(&copy_log)
        .arg("--source-dir")
        .arg(dir.path().join("mirror"))
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .arg("--headless");
    let seen = run(command, TIMEOUT);
    assert_eq!(seen.code, Some(1), "{}", seen.text());
    assert!(
        seen.stdout.contains("are one file on the drive"),
        "{}",
        seen.text()
    );
    assert!(
        std::fs::read(folder.join("a.bin")).unwrap() == long.content,
        "the intact file keeps its bytes"
    );
}

/// A device node planted at a drive path is refused without being opened: for some drivers
/// the open itself acts (a watchdog starts counting, a tape rewinds on close). The kernel's
/// own record of opens (inotify) sees none, in `verify` as in `repair`.
///
/// Seen failing: the node was opened (read-only, non-blocking) before its kind was checked.
#[test]
fn a_device_node_at_a_drive_path_is_never_opened() {
    use rustix::fs::inotify;
    let hostile = Hostile::new(
        "DEVNODE1",
        vec![SampleBlob::block(
            "box/x.bin",
            pseudo_random_bytes(77, 8 * KIB),
            4096,
        )],
    );
    let node = hostile.file("box/x.bin");
    std::fs::remove_file(&node).unwrap();
    // The null device's numbers: opening it does nothing, but is seen.
    if rustix::fs::mknodat(
        rustix::fs::CWD,
        &node,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o600),
        rustix::fs::makedev(1, 3),
    )
    .is_err()
    {
        support::skip::skip("needs root to make a device node (mknod)");
        return;
    }
    let watch =
        inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC).unwrap();
    inotify::add_watch(&watch, &node, inotify::WatchFlags::OPEN).unwrap();
    for (what, command) in [("verify", hostile.verify()), ("repair", hostile.repair())] {
        let seen = run(command, TIMEOUT);
        assert_eq!(seen.code, Some(1), "{what}: {}", seen.text());
        assert!(
            seen.stdout.contains("character device"),
            "{what}: {}",
            seen.text()
        );
        let mut buffer = [std::mem::MaybeUninit::uninit(); 4096];
        let mut events = inotify::Reader::new(&watch, &mut buffer);
        let opened = events.next().is_ok();
        assert!(!opened, "{what} opened the device node");
    }
}

/// Unmounts a bind mount when the test ends, however it ends.
struct BindMount(std::path::PathBuf);

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A folder of the drive on which another folder is bound (a file system mounted inside the
/// target: not the drive) is not entered: its entry fails naming the mount (exit 1) and the
/// bound folder outside is unchanged; the other entry is repaired.
///
/// Seen failing: the mount was crossed and the file in the folder outside rewritten (exit 0).
#[test]
fn a_mount_inside_the_target_is_not_crossed() {
    let hostile = Hostile::new(
        "BINDMNT1",
        vec![
            SampleBlob::block("box/sub/x.bin", pseudo_random_bytes(78, 8 * KIB), 4096),
            SampleBlob::block("box/y.bin", pseudo_random_bytes(79, 8 * KIB), 4096),
        ],
    );
    let outside = hostile.outside().join("bound");
    std::fs::create_dir_all(&outside).unwrap();
    let mut kept = hostile.blob("box/sub/x.bin").content.clone();
    kept[7] ^= 1;
    std::fs::write(outside.join("x.bin"), &kept).unwrap();
    let folder = hostile
        .file("box/sub/x.bin")
        .parent()
        .unwrap()
        .to_path_buf();
    let mounted = std::process::Command::new("mount")
        .arg("--bind")
        .arg(&outside)
        .arg(&folder)
        .output();
    if !mounted.is_ok_and(|output| output.status.success()) {
        support::skip::skip("needs root to bind-mount a folder (mount --bind)");
        return;
    }
    let _unmount = BindMount(folder);
    let damaged = hostile.file("box/y.bin");
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[5] ^= 1;
    std::fs::write(&damaged, &bytes).unwrap();
    let seen = run(hostile.repair(), TIMEOUT);
    assert_eq!(seen.code, Some(1), "{}", seen.text());
    assert!(
        seen.stdout
            .contains("another file system is mounted inside the drive"),
        "{}",
        seen.text()
    );
    assert_eq!(std::fs::read(outside.join("x.bin")).unwrap(), kept);
    assert!(std::fs::read(&damaged).unwrap() == hostile.blob("box/y.bin").content);
}
