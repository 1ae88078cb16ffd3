//! The console end to end: the real binary in a terminal (tmux), driven by keys, read from
//! the screen, checked on disk.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::path::Path;

use export_repair::demo::{SampleBlob, pseudo_random_bytes};
use export_repair::format::copylog::LogRange;
use export_repair::format::status::{BlobStatus, RangeStatus};
use support::azurite::{self, ACCOUNT, KEY};
use support::export::{export, in_container};
use support::tmux::{exit_code, keys, start, tmux, tmux_present, wait_for};

#[test]
fn the_demo_in_the_console_navigate_search_and_quit() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("demo");
    let binary = assert_cmd::cargo::cargo_bin("export-repair");
    let done = dir.path().join("exit-code");
    let name = format!("er-{}", std::process::id());
    let command = format!(
        "NO_COLOR=1 '{}' demo --dir '{}'; echo $? > '{}'; sleep 60",
        binary.display(),
        root.display(),
        done.display()
    );
    let session = start(&name, &command);
    let first = wait_for(&name, "done: all damage repaired");
    assert!(first.contains("drive DEMO0001"), "{first}");
    assert!(first.contains("? help"), "{first}");

    // Search for the archive, open it, look at its map.
    keys(&name, &["/", "a", "r", "c", "h", "Enter"]);
    let searched = wait_for(&name, "archive.bin");
    assert!(!searched.contains("canyon.jpg"), "{searched}");
    keys(&name, &["j", "j"]);
    let selected = wait_for(&name, "BlobPath  backups/2012/archive.bin");
    assert!(selected.contains("copy log FileNotFound"), "{selected}");
    assert!(
        selected.contains("◆◆◆◆◆◆"),
        "six repaired blocks on the map: {selected}"
    );
    keys(&name, &["?"]);
    wait_for(&name, "any key closes this help");
    // Idle: quitting asks nothing and ends the run normally.
    keys(&name, &["Escape", "q"]);
    let summary = wait_for(&name, "REPAIRED: all damage was repaired");
    assert!(!summary.contains("panicked"), "{summary}");
    assert_eq!(exit_code(&done), "0");
    assert!(Path::new(&root.join("report.json")).is_file());
    let mirror = std::fs::read(root.join("mirror/backups/2012/archive.bin")).unwrap();
    let drive = std::fs::read(root.join("drive/backups/2012/archive.bin")).unwrap();
    assert!(mirror == drive, "the archive was repaired byte for byte");
    drop(session);
}

/// The technician's loop: a blob fails (its source is missing), the source comes back, the
/// blob is marked and retried, the report is exported from the console, and quitting ends
/// the run with every byte right.
#[test]
fn mark_a_failed_blob_retry_it_export_the_report_and_quit() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let paths = export_repair::demo::scenario::build(&dir.path().join("demo")).unwrap();
    let archive = paths.mirror.join("backups/2012/archive.bin");
    let hidden = dir.path().join("archive.bin.away");
    std::fs::rename(&archive, &hidden).unwrap();
    let binary = assert_cmd::cargo::cargo_bin("export-repair");
    let done = dir.path().join("exit-code");
    let name = format!("er-retry-{}", std::process::id());
    let command = format!(
        "cd '{}' && NO_COLOR=1 '{}' repair --repair-file '{}' --target '{}' --manifest '{}' \
         --copy-log '{}' --source-dir '{}' --log-dir '{}'; echo $? > '{}'; sleep 60",
        dir.path().display(),
        binary.display(),
        paths.repair_file.display(),
        paths.drive.display(),
        paths.manifest.display(),
        paths.copy_log.display(),
        paths.mirror.display(),
        dir.path().display(),
        done.display()
    );
    let session = start(&name, &command);
    let idle = wait_for(&name, "still damaged");
    assert!(idle.contains("done, waiting for you"), "{idle}");

    // Find the failed archive, mark it; the tree shows the mark.
    keys(&name, &["f", "/", "a", "r", "c", "h", "Enter", "j", "j"]);
    wait_for(&name, "BlobPath  backups/2012/archive.bin");
    keys(&name, &["m"]);
    let marked = wait_for(&name, "+ ! archive.bin");
    assert!(marked.contains("2012/"), "{marked}");

    // The source is back: retry the marked blob.
    std::fs::rename(&hidden, &archive).unwrap();
    keys(&name, &["r"]);
    let retried = wait_for(&name, "done: all damage repaired");
    assert!(
        retried.contains("repaired \\backups\\2012\\archive.bin"),
        "{retried}"
    );

    // Export the report where the prompt suggests (the working directory), as JSON.
    keys(&name, &["e"]);
    wait_for(&name, "export-repair-report-DEMO0001.html");
    keys(&name, &["Tab", "Enter"]); // html, then json
    wait_for(
        &name,
        "report written: export-repair-report-DEMO0001.json (json)",
    );
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("export-repair-report-DEMO0001.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["drive_id"], "DEMO0001");
    assert_eq!(report["outcome"], "repaired");

    keys(&name, &["q"]);
    wait_for(&name, "REPAIRED: all damage was repaired");
    assert_eq!(exit_code(&done), "0");
    let mirror = std::fs::read(&archive).unwrap();
    let drive = std::fs::read(paths.drive.join("backups/2012/archive.bin")).unwrap();
    assert!(mirror == drive, "the archive was repaired byte for byte");
    drop(session);
}

/// A rotated key in the console: the storage refuses the key the run started with, the
/// console asks for a new one in a masked prompt, and the repair goes on with it. Neither key
/// is ever on the screen, in the log, the report or the repair file.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_is_asked_for_again_masked_and_the_repair_goes_on() {
    if !tmux_present() {
        return;
    }
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let blobs = in_container(
        "rotated",
        vec![SampleBlob::block(
            "data/ledger.bin",
            pseudo_random_bytes(31, 512 * 1024),
            64 * 1024,
        )],
    );
    let mut export = export(azurite, "rotated", blobs).await;
    let blob_path = "rotated/data/ledger.bin";
    let path = export.file(blob_path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[64 * 1024..128 * 1024].fill(0);
    std::fs::write(&path, bytes).unwrap();
    let entry = export.log_entry(blob_path);
    entry.status = BlobStatus::CompletedWithErrors;
    entry.ranges.push(LogRange {
        offset: 64 * 1024,
        length: 64 * 1024,
        id: None,
        hash: None,
        status: RangeStatus::Failed,
    });
    export.write_copy_log();

    let wrong = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc=";
    let binary = assert_cmd::cargo::cargo_bin("export-repair");
    let done = export.dir.path().join("exit-code");
    let name = format!("er-key-{}", std::process::id());
    // The key comes from the environment, as the README advises: never in argv.
    let command = format!(
        "cd '{dir}' && AZURE_STORAGE_KEY='{wrong}' NO_COLOR=1 '{bin}' repair --repair-file '{rep}' \\
         --target '{drive}' --account {ACCOUNT} --blob-endpoint '{endpoint}' --copy-log '{log}' \\
         --manifest '{manifest}' --log-dir '{logs}' --report '{report}'; echo $? > '{done}'; sleep 60",
        dir = export.dir.path().display(),
        bin = binary.display(),
        rep = export.repair_file().display(),
        drive = export.drive().display(),
        endpoint = azurite.endpoint(),
        log = export.copy_log_path().display(),
        manifest = export.manifest().display(),
        logs = export.logs().display(),
        report = export.report().display(),
        done = done.display(),
    );
    let session = start(&name, &command);
    let mut screens = Vec::new();
    let asked = wait_for(&name, "new credentials");
    assert!(asked.contains("waiting for a new key or SAS"), "{asked}");
    screens.push(asked);
    // Typed (not pasted), every character masked.
    tmux(&["send-keys", "-t", &name, "-l", KEY]);
    let typed = wait_for(&name, &format!("({} characters)", KEY.len()));
    screens.push(typed);
    keys(&name, &["Enter"]);
    let repaired = wait_for(&name, "done: all damage repaired");
    assert!(repaired.contains("new credentials in use"), "{repaired}");
    screens.push(repaired);
    keys(&name, &["q"]);
    screens.push(wait_for(&name, "REPAIRED: all damage was repaired"));
    assert_eq!(exit_code(&done), "0");
    export.assert_drive_matches_blobs();

    // Neither key anywhere a person or a file could show it.
    let mut outputs: Vec<(String, Vec<u8>)> = screens
        .into_iter()
        .enumerate()
        .map(|(i, screen)| (format!("screen {i}"), screen.into_bytes()))
        .collect();
    for (path, bytes) in support::files::files(export.dir.path()) {
        if !path.starts_with("drive") {
            outputs.push((path.display().to_string(), bytes));
        }
    }
    assert!(
        outputs.iter().any(|(name, _)| name.starts_with("logs")),
        "a log was written"
    );
    assert!(outputs.iter().any(|(name, _)| name == "report.json"));
    for (name, bytes) in &outputs {
        for secret in [KEY, wrong] {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{name} shows a key");
        }
    }
    drop(session);
}
