//! BitLocker drives: `/bk:` checks the key, tests it, unlocks the volume, repairs or verifies
//! it, and locks it again.
//!
//! - Fake `cryptsetup`/`dislocker`/`ntfs-3g` on `PATH` check the commands built and where the
//!   key goes (stdin, never argv — except dislocker's, which only accepts it there).
//! - Real tests (root, `/dev/fuse`, the Debian packages `cryptsetup-bin`, `dislocker`,
//!   `ntfs-3g`, `xz-utils`) use the cryptsetup project's `bitlk-aes-xts-128.img`
//!   (tests/fixtures/bitlocker/README.md): `--test-passphrase` with right, wrong and malformed
//!   keys; a BitLocker NTFS volume built from it holding a damaged export drive, repaired with
//!   `RepairExport /bk:… /d:<image>` against Azurite and checked byte for byte; and a whole
//!   disk with an MBR partition table, verified read-only. Without root, `/dev/fuse` or a tool
//!   they skip, saying why (tests/support/skip.rs); with `CI` set that is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

#[path = "support/fake_tools.rs"]
mod fake_tools;
mod support;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use export_repair::bitlocker::{self, BitLockerError, KeyError, RecoveryKey};
use export_repair::demo::{SampleBlob, SampleDrive, local_path, pseudo_random_bytes};
use fake_tools::{FakeTools, fake_volume};
use support::azurite::{self, ACCOUNT, KEY as STORAGE_KEY};
use support::runs::{Watched, is_downloading};
use support::skip::skip;

/// The recovery key of `bitlk-aes-xts-128.img`.
const KEY: &str = "235818-357951-253979-013365-241120-245575-342914-591910";
/// Well-formed (every group a multiple of 11) but not this volume's.
const WRONG_KEY: &str = "235818-357951-253979-013365-241120-245575-342914-591921";
const KIB: usize = 1024;
const MIB: u64 = 1024 * 1024;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bitlocker/bitlk-aes-xts-128.img.xz")
}

/// The forms of the key that must appear nowhere.
fn key_forms() -> [String; 3] {
    [KEY.to_string(), KEY.replace('-', ""), KEY.replace('-', " ")]
}

fn assert_no_key(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for form in key_forms() {
        assert!(!text.contains(&form), "the recovery key appears in {what}");
    }
}

/// `TMPDIR` for the tool: its mount points are made there, so the test can see they are gone.
fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(
        !mounts.contains(&dir.display().to_string()),
        "still mounted under {}",
        dir.display()
    );
}

// ---------------------------------------------------------------------------------------
// Fake tools: the commands built and where the key goes.

struct FakeRun {
    tools: FakeTools,
    dir: tempfile::TempDir,
}

impl FakeRun {
    fn new() -> Self {
        let run = Self {
            tools: FakeTools::new(),
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(run.tmp()).unwrap();
        fake_volume(&run.volume());
        std::fs::write(run.dir.path().join("m.xml"), "<DriveManifest/>").unwrap();
        run
    }
    fn volume(&self) -> PathBuf {
        self.dir.path().join("vol.img")
    }
    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::cargo_bin("export-repair").unwrap();
        command
            .current_dir(self.dir.path())
            .env("PATH", self.tools.path_env())
            .env("TMPDIR", self.tmp())
            .env_remove("BITLOCKER_KEY")
            .env_remove(bitlocker::BACKEND_ENV)
            .args(args);
        command
    }
    fn verify(&self) -> Command {
        let mut command = self.command(&["verify", "--target", "vol.img", "--manifest", "m.xml"]);
        command.env("BITLOCKER_KEY", KEY);
        command
    }
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_wrong_key_is_refused_before_anything_is_mounted() {
    let run = FakeRun::new();
    run.tools.install(
        "cryptsetup",
        true,
        2,
        "No key available with this passphrase.",
    );
    run.tools.install("dislocker", false, 0, "");
    run.tools.install("ntfs-3g", false, 0, "");
    let output = run.verify().assert().code(2).get_output().clone();
    let stderr = stderr_of(&output);
    assert!(stderr.contains("does not unlock"), "{stderr}");
    assert!(stderr.contains("nothing was mounted"), "{stderr}");
    assert_eq!(
        run.tools.calls("cryptsetup"),
        [["bitlkOpen", "--test-passphrase", "--key-file=-", "vol.img"]]
    );
    // The key went to stdin, without a newline, and nowhere else.
    assert_eq!(run.tools.stdin("cryptsetup"), KEY);
    assert!(run.tools.calls("dislocker").is_empty());
    assert!(run.tools.calls("ntfs-3g").is_empty());
    assert_no_key("stderr", &output.stderr);
    assert_no_key("stdout", &output.stdout);
    assert_empty(&run.tmp());
}

#[test]
fn a_malformed_key_is_told_at_once_naming_the_group() {
    let run = FakeRun::new();
    run.tools.install("cryptsetup", true, 0, "");
    let typo = KEY.replace("013365", "013366");
    let output = run
        .command(&["verify", "--target", "vol.img", "--manifest", "m.xml"])
        .env("BITLOCKER_KEY", &typo)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    assert!(stderr.contains("group 4"), "{stderr}");
    assert!(stderr.contains("multiple of 11"), "{stderr}");
    assert!(!stderr.contains("013366"), "{stderr}");
    assert!(run.tools.calls("cryptsetup").is_empty());
}

#[test]
fn dislocker_gets_the_key_in_argv_and_its_mount_point_is_cleaned_up() {
    let run = FakeRun::new();
    run.tools.install("cryptsetup", true, 0, "");
    run.tools
        .install("dislocker", false, 1, "fake dislocker: cannot mount");
    run.tools.install("ntfs-3g", false, 0, "");
    // The v1 form, as a technician types it.
    let output = run
        .command(&[
            "RepairExport",
            "/r:drive.rep",
            "/d:vol.img",
            &format!("/bk:{KEY}"),
            "/sn:account",
            "/sk:a2V5",
            "/ManifestFile:m.xml",
            "--headless",
        ])
        .env(bitlocker::BACKEND_ENV, "dislocker")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    assert!(stderr.contains("unlocking with dislocker"), "{stderr}");
    assert!(stderr.contains("fake dislocker: cannot mount"), "{stderr}");
    let calls = run.tools.calls("dislocker");
    assert_eq!(calls.len(), 1);
    let argv = &calls[0];
    assert_eq!(argv[..3], ["-V", "vol.img", &format!("-p{KEY}")]);
    assert_eq!(argv[3], "--", "a repair mounts read-write: no -r");
    assert!(argv[4].starts_with(run.tmp().to_str().unwrap()), "{argv:?}");
    assert!(run.tools.calls("ntfs-3g").is_empty());
    assert_no_key("stderr", &output.stderr);
    assert!(
        !run.dir.path().join("drive.rep").exists(),
        "no repair file before unlocking"
    );
    assert_empty(&run.tmp());
}

#[test]
fn the_cryptsetup_backend_opens_with_the_key_on_stdin_and_closes_again() {
    let run = FakeRun::new();
    run.tools.install("cryptsetup", true, 0, "");
    run.tools
        .install("ntfs-3g", false, 14, "fake ntfs-3g: volume is hibernated");
    let output = run
        .verify()
        .env(bitlocker::BACKEND_ENV, "cryptsetup")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    assert!(stderr.contains("ntfs-3g"), "{stderr}");
    assert!(stderr.contains("hibernated"), "{stderr}");
    let calls = run.tools.calls("cryptsetup");
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[0][..2], ["bitlkOpen", "--test-passphrase"]);
    let name = format!(
        "export-repair-{}",
        calls[1][6].trim_start_matches("export-repair-")
    );
    assert_eq!(
        calls[1],
        [
            "open",
            "--type",
            "bitlk",
            "--key-file=-",
            "--readonly",
            "vol.img",
            &name
        ],
        "verify opens read-only"
    );
    assert_eq!(calls[2], ["close", &name]);
    let ntfs = run.tools.calls("ntfs-3g");
    assert_eq!(ntfs[0][..3], ["-o", "ro", &format!("/dev/mapper/{name}")]);
    // Twice on stdin (test, open), never in argv.
    assert_eq!(run.tools.stdin("cryptsetup"), format!("{KEY}{KEY}"));
    assert!(calls.iter().flatten().all(|arg| !arg.contains("591910")));
    assert_no_key("stderr", &output.stderr);
    assert_empty(&run.tmp());
}

// ---------------------------------------------------------------------------------------
// Real tools.

/// Whether the real tests can run here; skips the test (with `CI` set: fails it) saying
/// what is missing.
fn real_tools() -> bool {
    #[cfg(unix)]
    let root = unsafe_free_is_root();
    #[cfg(not(unix))]
    let root = false;
    if !root {
        skip("needs root (FUSE mounts, loop devices)");
        return false;
    }
    if !Path::new("/dev/fuse").exists() {
        skip("needs /dev/fuse (FUSE mounts)");
        return false;
    }
    let missing: Vec<&str> = [
        "cryptsetup",
        "dislocker",
        "ntfs-3g",
        "mkntfs",
        "xz",
        "losetup",
    ]
    .into_iter()
    .filter(|tool| bitlocker::find_program(tool).is_none())
    .collect();
    if !missing.is_empty() {
        skip(&format!(
            "needs {} (Debian: apt-get install cryptsetup-bin dislocker ntfs-3g xz-utils mount)",
            missing.join(", ")
        ));
        return false;
    }
    true
}

#[cfg(unix)]
fn unsafe_free_is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // The owner of a file we create is our effective user.
    let probe = tempfile::NamedTempFile::new().unwrap();
    probe.as_file().metadata().unwrap().uid() == 0
}

/// Decompresses the fixture to `path` as a sparse file, at `offset`.
fn unpack_volume(path: &Path, offset: u64) {
    let mut xz = StdCommand::new("xz")
        .args(["-dc"])
        .arg(fixture())
        .stdout(Stdio::piped())
        .spawn()
        .expect("xz");
    let mut stdout = xz.stdout.take().unwrap();
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap();
    let mut buffer = vec![0u8; 64 * KIB];
    let mut position = offset;
    loop {
        let mut filled = 0;
        while filled < buffer.len() {
            let n = stdout.read(&mut buffer[filled..]).unwrap();
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        if buffer[..filled].iter().any(|&b| b != 0) {
            out.seek(SeekFrom::Start(position)).unwrap();
            out.write_all(&buffer[..filled]).unwrap();
        }
        position += filled as u64;
    }
    assert!(xz.wait().unwrap().success());
    if out.metadata().unwrap().len() < position {
        out.set_len(position).unwrap();
    }
}

fn run_ok(program: &str, args: &[&std::ffi::OsStr]) {
    let output = StdCommand::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The test's own mounts of a BitLocker volume (dislocker + ntfs-3g); unmounted when dropped,
/// also when the test fails.
struct TestMount {
    dir: tempfile::TempDir,
    mounted: Vec<PathBuf>,
}

impl TestMount {
    /// Unlocks `image` (the volume at `offset`) and, when `format`, makes a fresh NTFS in it.
    fn open(image: &Path, offset: u64, format: bool, read_only: bool) -> Self {
        let mut mount = Self {
            dir: tempfile::tempdir().unwrap(),
            mounted: Vec::new(),
        };
        let fve = mount.dir.path().join("fve");
        let ntfs = mount.dir.path().join("ntfs");
        std::fs::create_dir(&fve).unwrap();
        std::fs::create_dir(&ntfs).unwrap();
        let offset = offset.to_string();
        let password = format!("-p{KEY}");
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "-V".as_ref(),
            image.as_os_str(),
            "-O".as_ref(),
            offset.as_ref(),
            password.as_ref(),
        ];
        if read_only {
            args.push("-r".as_ref());
        }
        args.extend(["--".as_ref(), fve.as_os_str()]);
        run_ok("dislocker", &args);
        mount.mounted.push(fve.clone());
        let file = fve.join("dislocker-file");
        if format {
            run_ok(
                "mkntfs",
                &[
                    "-F".as_ref(),
                    "-Q".as_ref(),
                    "-q".as_ref(),
                    file.as_os_str(),
                ],
            );
        }
        let mut args: Vec<&std::ffi::OsStr> = Vec::new();
        if read_only {
            args.extend([std::ffi::OsStr::new("-o"), std::ffi::OsStr::new("ro")]);
        }
        args.extend([file.as_os_str(), ntfs.as_os_str()]);
        run_ok("ntfs-3g", &args);
        mount.mounted.push(ntfs);
        mount
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("ntfs")
    }
}

impl Drop for TestMount {
    fn drop(&mut self) {
        while let Some(point) = self.mounted.pop() {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let done = StdCommand::new("fusermount")
                    .arg("-u")
                    .arg(&point)
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if done {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = StdCommand::new("umount").arg("-l").arg(&point).status();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[test]
fn test_passphrase_with_right_wrong_and_malformed_keys() {
    if !real_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("bitlk.img");
    unpack_volume(&image, 0);
    let cryptsetup = bitlocker::find_program("cryptsetup").unwrap();
    let right = RecoveryKey::parse(KEY).unwrap();
    bitlocker::test_key(&cryptsetup, &image, &right).expect("the right key unlocks");
    let wrong = RecoveryKey::parse(WRONG_KEY).unwrap();
    match bitlocker::test_key(&cryptsetup, &image, &wrong) {
        Err(BitLockerError::WrongKey { .. }) => {}
        other => panic!("a wrong key must be refused as such: {other:?}"),
    }
    let malformed = KEY.replace("591910", "591911");
    assert_eq!(
        RecoveryKey::parse(&malformed).unwrap_err(),
        KeyError::NotMultipleOf11 { group: 8 }
    );
    // The found volume is at the start of the image.
    assert_eq!(
        bitlocker::layout::locate(&image).unwrap().map(|p| p.offset),
        Some(0)
    );
    assert!(bitlocker::is_bitlocker(&image));
}

#[test]
fn a_wrong_key_leaves_the_real_volume_untouched() {
    if !real_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("bitlk.img");
    unpack_volume(&image, 0);
    let before = std::fs::read(&image).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::write(dir.path().join("m.xml"), "<DriveManifest/>").unwrap();
    let output = Command::cargo_bin("export-repair")
        .unwrap()
        .current_dir(dir.path())
        .env("TMPDIR", &tmp)
        .env("BITLOCKER_KEY", WRONG_KEY)
        .args(["verify", "--target", "bitlk.img", "--manifest", "m.xml"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(
        stderr_of(&output).contains("does not unlock"),
        "{}",
        stderr_of(&output)
    );
    assert!(
        std::fs::read(&image).unwrap() == before,
        "the volume changed"
    );
    assert_empty(&tmp);
}

/// Blobs in Azurite and the same export written into a BitLocker volume, then damaged.
fn sample(container: &str) -> SampleDrive {
    let blob = |name: &str, seed: u64, length: usize| {
        SampleBlob::block(
            &format!("{container}/{name}"),
            pseudo_random_bytes(seed, length),
            64 * KIB as u64,
        )
    };
    SampleDrive {
        drive_id: format!("BK-{container}"),
        blobs: vec![
            blob("docs/a.bin", 1, 300 * KIB),
            blob("docs/b.bin", 2, 200 * KIB),
            blob("c.txt", 3, 5 * KIB),
        ],
    }
}

fn upload(sample: &SampleDrive, container: &str) -> Option<String> {
    let azurite = azurite::shared()?;
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        azurite.create_container(container).await;
        for blob in &sample.blobs {
            let name = blob.blob_path.split_once('/').unwrap().1;
            azurite
                .put_block_blob(container, name, &blob.content, None, &[])
                .await;
        }
    });
    Some(azurite.endpoint())
}

#[test]
fn repair_export_unlocks_repairs_and_locks_a_bitlocker_drive() {
    if !real_tools() {
        return;
    }
    let container = "bitlocker-e2e";
    let sample = sample(container);
    let Some(endpoint) = upload(&sample, container) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("drive.img");
    unpack_volume(&image, 0);
    let manifest = dir.path().join("drive.manifest");
    {
        // Build the export drive inside the BitLocker volume, then damage it.
        let mount = TestMount::open(&image, 0, true, false);
        let root = mount.root();
        let on_drive = sample.write(&root).unwrap();
        std::fs::copy(&on_drive, &manifest).unwrap();
        let file = |blob: usize| local_path(&root, &sample.blobs[blob].file_path).unwrap();
        let mut a = std::fs::read(file(0)).unwrap();
        a[100 * KIB] ^= 0x55;
        std::fs::write(file(0), a).unwrap();
        File::options()
            .write(true)
            .open(file(1))
            .unwrap()
            .set_len(50 * KIB as u64)
            .unwrap();
        std::fs::remove_file(file(2)).unwrap();
    }
    let tmp = dir.path().join("tmp");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&tmp).unwrap();
    let arg = |switch: &str, path: &Path| format!("{switch}{}", path.display());
    let output = Command::cargo_bin("export-repair")
        .unwrap()
        .env("TMPDIR", &tmp)
        .env_remove("BITLOCKER_KEY")
        .env_remove("AZURE_STORAGE_KEY")
        .args([
            "RepairExport".to_string(),
            arg("/r:", &dir.path().join("drive.rep")),
            arg("/d:", &image),
            format!("/bk:{KEY}"),
            format!("/sn:{ACCOUNT}"),
            format!("/sk:{STORAGE_KEY}"),
            arg("/ManifestFile:", &manifest),
            arg("/logdir:", &logs),
            format!("/BlobEndpoint:{endpoint}"),
            arg("/ReportFile:", &dir.path().join("report.json")),
            "--headless".to_string(),
        ])
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("unlocked the BitLocker volume"), "{stderr}");
    assert!(stderr.contains("locked again"), "{stderr}");
    assert_empty(&tmp);

    // Nothing the run left behind holds the key.
    assert_no_key("stdout", &output.stdout);
    assert_no_key("stderr", &output.stderr);
    for entry in std::fs::read_dir(&logs).unwrap() {
        let path = entry.unwrap().path();
        assert_no_key(&path.display().to_string(), &std::fs::read(&path).unwrap());
    }
    assert_no_key(
        "the repair file",
        &std::fs::read(dir.path().join("drive.rep")).unwrap(),
    );
    let report = std::fs::read(dir.path().join("report.json")).unwrap();
    assert_no_key("the report", &report);
    assert!(String::from_utf8_lossy(&report).contains("bitlocker_key"));

    // Reopened, the drive holds every blob byte for byte.
    let mount = TestMount::open(&image, 0, false, true);
    for blob in &sample.blobs {
        let bytes = std::fs::read(local_path(&mount.root(), &blob.file_path).unwrap()).unwrap();
        assert!(
            bytes == blob.content,
            "{} differs from its blob",
            blob.blob_path
        );
    }
}

#[test]
fn verify_finds_the_bitlocker_partition_of_a_whole_disk_and_mounts_it_read_only() {
    if !real_tools() {
        return;
    }
    let container = "bitlocker-disk";
    let sample = sample(container);
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    // An MBR with one NTFS/BitLocker partition at 1 MiB, 100 MiB long.
    let start_lba: u32 = 2048;
    let sectors: u32 = 204_800;
    let mut mbr = vec![0u8; 512];
    let entry = &mut mbr[446..462];
    entry[4] = 0x07;
    entry[8..12].copy_from_slice(&start_lba.to_le_bytes());
    entry[12..16].copy_from_slice(&sectors.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    std::fs::write(&disk, &mbr).unwrap();
    unpack_volume(&disk, MIB);
    let manifest = dir.path().join("drive.manifest");
    {
        let mount = TestMount::open(&disk, MIB, true, false);
        let on_drive = sample.write(&mount.root()).unwrap();
        std::fs::copy(&on_drive, &manifest).unwrap();
    }
    let placement = bitlocker::layout::locate(&disk).unwrap().unwrap();
    assert_eq!(
        (placement.offset, placement.length, placement.partition),
        (MIB, Some(100 * MIB), Some(1))
    );
    let before = std::fs::read(&disk).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let output = Command::cargo_bin("export-repair")
        .unwrap()
        .env("TMPDIR", &tmp)
        .env("BITLOCKER_KEY", KEY)
        .arg("verify")
        .arg("--target")
        .arg(&disk)
        .arg("--manifest")
        .arg(&manifest)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("(partition 1), read-only"), "{stderr}");
    assert_no_key("stderr", &output.stderr);
    assert_no_key("stdout", &output.stdout);
    assert_empty(&tmp);
    assert!(
        std::fs::read(&disk).unwrap() == before,
        "verify wrote to the disk"
    );
}

/// Ctrl-C once (finish what is in flight) or twice (stop at once) while a download is under
/// way on an unlocked volume: exit 4, the volume locked and unmounted again, and on the
/// volume the file being repaired entirely absent, or each block the blob's bytes or zeros.
/// The presses follow the run's own events (a `working` download on the NDJSON stream, then
/// its answer to the first press), never a fixed delay, and never reach an exited run.
#[test]
fn ctrl_c_once_or_twice_locks_the_drive_again() {
    if !real_tools() {
        return;
    }
    let sample = sample("bitlocker-ctrl-c");
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("drive.img");
    unpack_volume(&image, 0);
    let manifest = dir.path().join("drive.manifest");
    let missing = &sample.blobs[0];
    {
        let mount = TestMount::open(&image, 0, true, false);
        let on_drive = sample.write(&mount.root()).unwrap();
        std::fs::copy(&on_drive, &manifest).unwrap();
        std::fs::remove_file(local_path(&mount.root(), &missing.file_path).unwrap()).unwrap();
    }
    // A storage that accepts and never answers: a request stays in flight (for the read
    // timeout), so the first Ctrl-C, which lets requests in flight finish, leaves time for a
    // second one.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in silent.incoming().flatten() {
            held.push(connection);
        }
    });
    for presses in [1, 2] {
        let tmp = dir.path().join(format!("tmp{presses}"));
        std::fs::create_dir(&tmp).unwrap();
        // Once: nothing listens on port 1, the download retries until interrupted, and the
        // interruption ends its retries at once. Twice: the storage never answers.
        let endpoint = match presses {
            1 => "http://127.0.0.1:1/devstoreaccount1".to_string(),
            _ => format!("http://127.0.0.1:{silent_port}/devstoreaccount1"),
        };
        let mut command = StdCommand::new(assert_cmd::cargo::cargo_bin("export-repair"));
        command
            .env("TMPDIR", &tmp)
            .env("BITLOCKER_KEY", KEY)
            .arg("repair")
            .arg("--repair-file")
            .arg(dir.path().join(format!("drive{presses}.rep")))
            .arg("--target")
            .arg(&image)
            .args(["--account", ACCOUNT, "--account-key", STORAGE_KEY])
            .args(["--blob-endpoint", &endpoint, "--read-timeout", "120"])
            .arg("--manifest")
            .arg(&manifest)
            .arg("--log-dir")
            .arg(dir.path().join("logs"))
            .arg("--headless");
        let mut run = Watched::start(&mut command);
        assert!(
            run.wait_for(is_downloading),
            "{presses} Ctrl-C: no download began: {}",
            run.stderr()
        );
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            mounts.contains(tmp.to_str().unwrap()),
            "downloading, but the volume is not mounted under {}",
            tmp.display()
        );
        run.interrupt();
        if presses == 2 {
            assert!(
                run.wait_for_stderr("finishing the writes in flight"),
                "the first Ctrl-C was not taken: {}",
                run.stderr()
            );
            run.interrupt();
        }
        let ended = run.end();
        assert_eq!(
            ended.status.code(),
            Some(4),
            "{presses} Ctrl-C: {}",
            ended.stderr
        );
        if presses == 2 {
            assert!(ended.stderr.contains("stopped at once"), "{}", ended.stderr);
        }
        assert_empty(&tmp);

        let mount = TestMount::open(&image, 0, false, true);
        if let Ok(now) = std::fs::read(local_path(&mount.root(), &missing.file_path).unwrap()) {
            assert_eq!(now.len(), missing.content.len(), "{presses} Ctrl-C");
            for &(offset, length) in &missing.layout {
                let range = offset as usize..(offset + length) as usize;
                assert!(
                    now[range.clone()] == missing.content[range.clone()]
                        || now[range.clone()].iter().all(|&b| b == 0),
                    "{presses} Ctrl-C: bytes {range:?} are neither the blob's nor zeros"
                );
            }
        }
    }
}

#[test]
fn on_a_terminal_the_key_is_asked_for_without_echo() {
    if !real_tools() {
        return;
    }
    let Some(script) = bitlocker::find_program("script") else {
        skip("needs script(1) for a terminal (Debian: apt-get install bsdutils)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("bitlk.img");
    unpack_volume(&image, 0);
    drop(TestMount::open(&image, 0, true, false));
    std::fs::write(dir.path().join("m.xml"), "<x/>").unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let binary = assert_cmd::cargo::cargo_bin("export-repair");
    let mut child = StdCommand::new(script)
        .current_dir(dir.path())
        .env("TMPDIR", &tmp)
        .env_remove("BITLOCKER_KEY")
        .args(["-qec"])
        .arg(format!(
            "{} verify --target bitlk.img --manifest m.xml",
            binary.display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let typo = KEY.replace("591910", "591911");
    let typer = std::thread::spawn(move || {
        for line in [typo.as_str(), KEY] {
            std::thread::sleep(Duration::from_secs(1));
            stdin.write_all(format!("{line}\r").as_bytes()).unwrap();
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let output = child.wait_with_output().unwrap();
    typer.join().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("is BitLocker-encrypted"), "{text}");
    assert!(text.contains("group 8"), "{text}");
    assert!(text.contains("unlocked the BitLocker volume"), "{text}");
    // The manifest is not one: the run ends with exit 2 after unlocking and locking again.
    assert!(text.contains("expected <DriveManifest>"), "{text}");
    assert!(!text.contains("591911"), "the typo was echoed: {text}");
    assert_no_key("the terminal", &output.stdout);
    assert_empty(&tmp);
}
