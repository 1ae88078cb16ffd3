//! The headless reporter as a pipeline sees it: a reader that closes stdout (`--json | head`,
//! `| true`) ends the run quietly, as interrupted when the stream was cut, never with a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

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
    let report = dir.path().join("report.json");
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
    let expected = format!(
        "to go on, rerun with the same repair file:\n  export-repair repair --repair-file {} --target {} --source-dir {} --copy-log {} --manifest {} --log-dir {} --headless\n",
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
    assert!(
        stderr.contains("resuming: 23 already done in an earlier run (6 repaired, 17 verified)"),
        "{stderr}"
    );
    assert!(!stderr.contains("to go on"), "{stderr}");
}
