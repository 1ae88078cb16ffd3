//! The headless reporter as a pipeline sees it: a reader that closes stdout (`--json | head`,
//! `| true`) ends the run quietly, as interrupted when the stream was cut, never with a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::path::Path;
use std::process::Command;

use export_repair::demo::{SampleBlob, SampleDrive, pseudo_random_bytes};

/// A drive of many small files: its NDJSON stream is far larger than a pipe's buffer.
fn many_files(dir: &Path) -> std::path::PathBuf {
    let drive = SampleDrive {
        drive_id: "PIPE0001".into(),
        blobs: (0..3000)
            .map(|i| {
                SampleBlob::block(
                    &format!("data/{:02}/file-{i}.bin", i % 50),
                    pseudo_random_bytes(i, 64),
                    64,
                )
            })
            .collect(),
    };
    drive.write(dir).unwrap()
}

/// Runs `export-repair verify … <args> | <reader>` in bash; the program's exit code and
/// stderr.
fn piped(dir: &Path, manifest: &Path, args: &str, reader: &str) -> (i32, String) {
    let binary = assert_cmd::cargo::cargo_bin("export-repair");
    let stderr = dir.join("stderr.txt");
    let script = format!(
        "'{}' verify --target '{}' --manifest '{}' {args} 2>'{}' | {reader} >/dev/null; exit ${{PIPESTATUS[0]}}",
        binary.display(),
        dir.display(),
        manifest.display(),
        stderr.display()
    );
    let status = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&stderr).unwrap_or_default(),
    )
}

#[test]
fn a_closed_ndjson_stream_stops_the_run_as_interrupted_and_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = many_files(dir.path());
    // Beside the drive, not on it: verify writes nothing on the drive.
    let elsewhere = tempfile::tempdir().unwrap();
    let report = elsewhere.path().join("report.json");
    let (code, stderr) = piped(
        dir.path(),
        &manifest,
        &format!("--json --report '{}'", report.display()),
        "head -n 1",
    );
    assert_eq!(code, 4, "interrupted: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(
        !stderr.contains("INTERRUPTED"),
        "no summary after the reader left: {stderr}"
    );
    // The report still says what was done, and that the run was cut short.
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["interrupted"], true);
    let skipped = json["totals"]["by_status"]["skipped"]["components"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        skipped > 0,
        "the run stopped before the end: {}",
        json["totals"]
    );
}

#[test]
fn a_closed_stdout_does_not_panic_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = many_files(dir.path());
    // `true` exits at once: the summary at the end meets a closed pipe.
    let (code, stderr) = piped(dir.path(), &manifest, "", "true");
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A repair that leaves damage says how to go on (the exact command, no secret in it); a
/// rerun says what it takes over from the repair file.
#[test]
fn a_repair_left_unfinished_prints_its_rerun_command_and_the_rerun_says_it_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let paths = export_repair::demo::scenario::build(&dir.path().join("demo")).unwrap();
    let archive = paths.mirror.join("backups/2012/archive.bin");
    let away = dir.path().join("archive.bin");
    std::fs::rename(&archive, &away).unwrap();
    // Files last changed well before a verdict is recorded: a rerun may take those verdicts
    // (a change within the second a verdict was recorded would leave its time unchanged).
    backdate_files(&paths.drive, 3600);
    let run = || {
        Command::new(assert_cmd::cargo::cargo_bin("export-repair"))
            .arg("repair")
            .arg("--repair-file")
            .arg(&paths.repair_file)
            .arg("--target")
            .arg(&paths.drive)
            .arg("--manifest")
            .arg(&paths.manifest)
            .arg("--copy-log")
            .arg(&paths.copy_log)
            .arg("--source-dir")
            .arg(&paths.mirror)
            .arg("--log-dir")
            .arg(dir.path())
            .arg("--headless")
            .output()
            .unwrap()
    };
    let first = run();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{stderr}");
    // The command runs the binary this run was started by.
    let expected = format!(
        "to go on, rerun with the same repair file:\n  {} repair --repair-file {} --target {} --source-dir {} --copy-log {} --manifest {} --log-dir {} --headless\n",
        assert_cmd::cargo::cargo_bin("export-repair").display(),
        paths.repair_file.display(),
        paths.drive.display(),
        paths.mirror.display(),
        paths.copy_log.display(),
        paths.manifest.display(),
        dir.path().display(),
    );
    assert!(stderr.contains(&expected), "{stderr}\n---\n{expected}");
    // The source is back: the rerun takes over what was done and finishes the rest.
    std::fs::rename(&away, &archive).unwrap();
    let second = run();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    // Verdicts on files untouched since are taken; the files the first run repaired were
    // written within the second their verdicts were recorded, so they are checked again.
    let resumed = stderr
        .lines()
        .find(|line| line.starts_with("resuming from the repair file: "))
        .unwrap_or_else(|| panic!("no resumption said: {stderr}"));
    let numbers: Vec<u64> = resumed
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [taken, repaired, verified, checked_again] = numbers[..] else {
        panic!("{resumed}");
    };
    assert!(taken > 0, "{resumed}");
    assert_eq!(taken, repaired + verified, "{resumed}");
    assert_eq!(
        taken + checked_again,
        34,
        "every recorded component: {resumed}"
    );
    assert!(!stderr.contains("to go on"), "{stderr}");
    // Once more: nothing is left to download, and the summary says so rather than REPAIRED;
    // the last progress line shows where the run ended, however fast it was.
    let third = run();
    let stdout = String::from_utf8_lossy(&third.stdout);
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert_eq!(third.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with("nothing to repair: 34 components verified ("),
        "{stdout}"
    );
    assert!(stdout.contains(" repaired in earlier runs)"), "{stdout}");
    assert!(!stdout.contains("REPAIRED"), "{stdout}");
    let last_progress = stderr
        .lines()
        .rfind(|line| line.starts_with("verify: "))
        .unwrap_or_else(|| panic!("no progress line: {stderr}"));
    assert!(last_progress.contains("(100%)"), "{last_progress}");
    assert!(last_progress.contains("done"), "{last_progress}");
}

/// Sets every file's modification time under `dir` this many seconds into the past.
fn backdate_files(dir: &Path, seconds: u64) {
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(seconds);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            backdate_files(&path, seconds);
        } else {
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(then).unwrap();
        }
    }
}

/// `… 2>&1 | head -n 1`: stderr is the pipe too, and closed after the first line. Every
/// message after that meets a closed pipe; the repair must still finish, not crash (it
/// panicked with exit 101 at its first progress line, leaving a hot journal).
#[test]
fn a_closed_stderr_does_not_crash_the_repair() {
    let dir = tempfile::tempdir().unwrap();
    let paths = export_repair::demo::scenario::build(&dir.path().join("demo")).unwrap();
    let binary = assert_cmd::cargo::cargo_bin("export-repair");
    let script = format!(
        "{} --headless 2>&1 | head -n 1 >/dev/null; exit ${{PIPESTATUS[0]}}",
        support::demo_repair_line(&paths, dir.path())
    );
    let status = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the repair finished: everything repaired"
    );
    let journal = paths.repair_file.with_extension("rep-journal");
    assert!(
        !journal.exists(),
        "no hot journal left: {}",
        journal.display()
    );
    let verified = Command::new(&binary)
        .arg("verify")
        .arg("--target")
        .arg(&paths.drive)
        .arg("--manifest")
        .arg(&paths.manifest)
        .output()
        .unwrap();
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}
