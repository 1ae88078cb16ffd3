//! `export-repair logs` against a real Azurite: blobs named exactly as the documented
//! patterns (v1/2018 in `waimportexport/waies/`, 2021-08-01 in `databoxcopylog`), beside
//! decoys of other drives, other jobs' places and other names; the drive's logs are listed
//! newest first and fetched byte for byte, the decoys never.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use support::azurite::{self, ACCOUNT, Azurite, KEY};

const DRIVE: &str = "SERIAL42";

/// (container, blob name, content): the drive's logs, oldest first.
fn drive_logs() -> Vec<(&'static str, String, Vec<u8>)> {
    vec![
        (
            "waimportexport",
            format!("waies/job1_{DRIVE}_20240101-101010-100_error.xml"),
            b"<DriveLog>old error log</DriveLog>".to_vec(),
        ),
        (
            "waimportexport",
            format!("waies/job1_{DRIVE}_20240101-101010-100_verbose.xml"),
            b"<DriveLog>verbose</DriveLog>".to_vec(),
        ),
        (
            "waimportexport",
            format!("waies/job1_{DRIVE}_20240101-101010-100_manifest.xml"),
            b"<DriveManifest>backup</DriveManifest>".to_vec(),
        ),
        (
            "databoxcopylog",
            format!("my_order_{DRIVE}_VerboseLog_6c9e4e2a-1b2c.xml"),
            b"<File/>".to_vec(),
        ),
        (
            "databoxcopylog",
            format!("my_order_{DRIVE}_CopyLog_6c9e4e2a-1b2c.xml"),
            b"<CopyLog/>".to_vec(),
        ),
        // A later job on the same drive: the newest error log.
        (
            "waimportexport",
            format!("waies/job2_{DRIVE}_20240301-090000-000_error.xml"),
            b"<DriveLog>new error log</DriveLog>".to_vec(),
        ),
    ]
}

/// Blobs that must never be listed or fetched for the drive.
fn decoys() -> Vec<(&'static str, String)> {
    vec![
        (
            "waimportexport",
            "waies/job1_OTHER7_20240101-101010-100_error.xml".into(),
        ),
        (
            "waimportexport",
            format!("waies/job1_{DRIVE}X_20240101-101010-100_error.xml"),
        ),
        (
            "waimportexport",
            format!("waies/job1_{DRIVE}_20240101-101010-100_journal.xml"),
        ),
        (
            "waimportexport",
            format!("waies/job1_{DRIVE}_20240101-101010-100_error.txt"),
        ),
        (
            "waimportexport",
            format!("other/job1_{DRIVE}_20240101-101010-100_error.xml"),
        ),
        (
            "waimportexport",
            format!("waies/old/job0_{DRIVE}_20230101-101010-100_error.xml"),
        ),
        ("databoxcopylog", "order_OTHER7_CopyLog_job9.xml".into()),
        (
            "databoxcopylog",
            format!("sub/order_{DRIVE}_CopyLog_job9.xml"),
        ),
        (
            "databoxcopylog",
            format!("job1_{DRIVE}_20240101-101010-100_error.xml"),
        ),
        (
            "diagnostics",
            format!("waies/jobd_{DRIVE}_20240101-101010-100_error.xml"),
        ),
    ]
}

async fn upload_all(azurite: &Azurite) {
    for container in ["waimportexport", "databoxcopylog", "diagnostics"] {
        azurite.create_container(container).await;
    }
    for (container, name) in decoys() {
        azurite
            .put_block_blob(container, &name, b"decoy", None, &[])
            .await;
    }
    for (index, (container, name, data)) in drive_logs().into_iter().enumerate() {
        if index > 0 {
            // Last-Modified has whole seconds: keep the upload order visible in it.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        azurite
            .put_block_blob(container, &name, &data, None, &[])
            .await;
    }
}

fn logs(azurite: &Azurite, args: &[&str]) -> Output {
    Command::cargo_bin("export-repair")
        .unwrap()
        .arg("logs")
        .args(["--account", ACCOUNT, "--blob-endpoint", &azurite.endpoint()])
        .args(args)
        .env_remove("AZURE_STORAGE_KEY")
        .env_remove("AZURE_STORAGE_SAS")
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The blob paths the listing printed, in its order.
fn listed(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| line.split_whitespace().last())
        .filter(|word| word.ends_with(".xml"))
        .map(str::to_string)
        .filter(|word| !word.starts_with('/'))
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_finds_the_drives_logs_newest_first_and_fetches_them_not_the_decoys() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    upload_all(azurite).await;
    let work = tempfile::tempdir().unwrap();
    // The drive's manifest on the target names the drive.
    let target = work.path().join("drive");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(
        target.join(format!("{DRIVE}.manifest")),
        format!("<DriveManifest Version=\"2014-11-01\"><Drive><DriveId>{DRIVE}</DriveId></Drive></DriveManifest>"),
    )
    .unwrap();

    let output = logs(
        azurite,
        &[
            "--account-key",
            KEY,
            "--target",
            target.to_str().unwrap(),
            "--list",
        ],
    );
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{stdout}",
        text(&output.stderr)
    );
    let mut expected: Vec<String> = drive_logs()
        .into_iter()
        .map(|(container, name, _)| format!("{container}/{name}"))
        .collect();
    expected.reverse();
    assert_eq!(listed(&stdout), expected, "{stdout}");
    assert!(stdout.contains("copy log (2021-08-01)"), "{stdout}");

    // Fetched beside the repair file: the newest of each kind, byte for byte.
    let repairs = work.path().join("repairs");
    std::fs::create_dir_all(&repairs).unwrap();
    let repair_file = repairs.join(format!("{DRIVE}.rep"));
    let output = logs(
        azurite,
        &[
            "--account-key",
            KEY,
            "--drive-id",
            &DRIVE.to_lowercase(),
            "--repair-file",
            repair_file.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let newest: Vec<(String, Vec<u8>)> = drive_logs()
        .into_iter()
        .filter(|(_, name, _)| !name.starts_with("waies/job1_SERIAL42_20240101-101010-100_error"))
        .map(|(_, name, data)| (name.rsplit('/').next().unwrap().to_string(), data))
        .collect();
    let mut names: Vec<String> = newest.iter().map(|(name, _)| name.clone()).collect();
    names.sort();
    assert_eq!(files_in(&repairs), names);
    for (name, data) in &newest {
        assert_eq!(&std::fs::read(repairs.join(name)).unwrap(), data, "{name}");
    }
    assert!(text(&output.stdout).contains("(use it with --verbose-log)"));

    // --all into a directory: every one of the drive's six logs.
    let all = work.path().join("all");
    let output = logs(
        azurite,
        &[
            "--account-key",
            KEY,
            "--drive-id",
            DRIVE,
            "--all",
            "--into",
            all.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(files_in(&all).len(), 6);

    // Another diagnostics container (the job's DiagnosticsPath): its v1 logs instead of
    // waimportexport's, beside the 2021 logs.
    let output = logs(
        azurite,
        &[
            "--account-key",
            KEY,
            "--drive-id",
            DRIVE,
            "--container",
            "diagnostics",
            "--list",
        ],
    );
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        listed(&stdout),
        [
            format!("databoxcopylog/my_order_{DRIVE}_CopyLog_6c9e4e2a-1b2c.xml"),
            format!("databoxcopylog/my_order_{DRIVE}_VerboseLog_6c9e4e2a-1b2c.xml"),
            format!("diagnostics/waies/jobd_{DRIVE}_20240101-101010-100_error.xml"),
        ]
    );

    // A container SAS for databoxcopylog reaches the 2021 logs there.
    let sas = format!(
        "databoxcopylog?{}",
        azurite::container_sas("databoxcopylog", "rl")
    );
    let output = logs(azurite, &["--sas", &sas, "--drive-id", DRIVE, "--list"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        listed(&stdout),
        [
            format!("databoxcopylog/my_order_{DRIVE}_CopyLog_6c9e4e2a-1b2c.xml"),
            format!("databoxcopylog/my_order_{DRIVE}_VerboseLog_6c9e4e2a-1b2c.xml"),
        ]
    );

    // A drive with no logs: exit 2, naming where it looked and whose logs are there.
    let output = logs(
        azurite,
        &["--account-key", KEY, "--drive-id", "NOPE1", "--list"],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: no logs of drive NOPE1 in waimportexport/waies/ or databoxcopylog/ (there are logs of drives OTHER7, SERIAL42, SERIAL42X)"),
        "{stderr}"
    );

    // A wrong key: exit 3, and the key never shown.
    let wrong = "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXkgd3Jvbmcga2V5IHdyb25nIGtleQ==";
    let output = logs(
        azurite,
        &["--account-key", wrong, "--drive-id", DRIVE, "--list"],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("storage refused the credentials"),
        "{stderr}"
    );
    assert!(!stderr.contains(wrong), "{stderr}");
}
