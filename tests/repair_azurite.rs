//! `RepairExport` / `repair` end to end against a real Azurite: what the technician sees
//! (exit codes, messages, the report) and what ends up on the drive, byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::ffi::{OsStr, OsString};
use std::time::Duration;

use assert_cmd::Command;
use export_repair::demo::{SampleBlob, local_path, pseudo_random_bytes};
use export_repair::format::copylog::{LogRange, LogSideFile};
use export_repair::format::status::{BlobStatus, FileStatus, RangeStatus};
use serde_json::Value;
use support::azurite::{self, ACCOUNT, Azurite, KEY};
use support::export::{Export, export, in_container};
use support::fault_proxy::{FaultProxy, Plan};
use support::files::files_with_times as snapshot;
use support::hostile::run;
use support::runs::{kill_after_repaired, repair_progress};

const KIB: u64 = 1024;

impl Export {
    fn args(&self, credential: &[&str]) -> Vec<OsString> {
        self.repair_args(&azurite::shared().unwrap().endpoint(), credential)
    }

    /// [`Export::args`] without `--manifest`: the copy log alone (v1's usual case).
    fn args_without_manifest(&self, credential: &[&str]) -> Vec<OsString> {
        let mut args = self.args(credential);
        let manifest = args.iter().position(|a| a == "--manifest").unwrap();
        args.drain(manifest..manifest + 2);
        args
    }

    fn command(&self, credential: &[&str]) -> Command {
        let mut command = Command::cargo_bin("export-repair").unwrap();
        command
            .env_remove("AZURE_STORAGE_KEY")
            .env_remove("AZURE_STORAGE_SAS")
            .args(self.args(credential));
        command
    }

    fn report_json(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.report()).unwrap()).unwrap()
    }

    /// A repair with `credential` that exits `code` with nothing on the drive changed; its
    /// stdout and stderr.
    fn run_changing_nothing(&self, credential: &[&str], code: i32) -> (String, String) {
        let before = snapshot(&self.drive());
        let output = self
            .command(credential)
            .assert()
            .code(code)
            .get_output()
            .clone();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert_eq!(
            snapshot(&self.drive()),
            before,
            "nothing is written: {stdout}{stderr}"
        );
        (stdout, stderr)
    }
}

/// The standard damage: a failed block the copy log reports, a silently corrupted page
/// range, a file the copy log reports as not found, a failed properties file.
async fn damaged_export(azurite: &Azurite, container: &str) -> Export {
    let blobs = vec![
        SampleBlob::block(
            "docs/report.pdf",
            pseudo_random_bytes(11, 300 * KIB as usize),
            64 * KIB,
        )
        .with_properties("x"),
        SampleBlob::page(
            "disks/vm.vhd",
            2048 * KIB,
            &[
                (0, 128 * KIB),
                (128 * KIB, 64 * KIB),
                (1024 * KIB, 4 * KIB),
                (2048 * KIB - 512, 512),
            ],
            12,
        )
        .with_properties("x")
        .with_metadata(&[("owner", "bob"), ("purpose", "test")]),
        SampleBlob::block(
            "docs/gone.bin",
            pseudo_random_bytes(13, 1024 * KIB as usize),
            256 * KIB,
        ),
        SampleBlob::block("docs/props.txt", b"hello properties".to_vec(), 4 * KIB)
            .with_properties("x"),
    ];
    let mut export = export(azurite, container, in_container(container, blobs)).await;
    let report = format!("{container}/docs/report.pdf");
    let vhd = format!("{container}/disks/vm.vhd");
    let gone = format!("{container}/docs/gone.bin");
    let props = format!("{container}/docs/props.txt");
    // A failed block: zeros on the drive, reported by the copy log.
    let path = export.file(&report);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(128 * KIB) as usize..(192 * KIB) as usize].fill(0);
    std::fs::write(&path, bytes).unwrap();
    let entry = export.log_entry(&report);
    entry.status = BlobStatus::CompletedWithErrors;
    entry.ranges.push(LogRange {
        offset: 128 * KIB,
        length: 64 * KIB,
        id: None,
        hash: None,
        status: RangeStatus::Failed,
    });
    // Silent corruption only the manifest finds.
    let path = export.file(&vhd);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(1024 * KIB + 7) as usize] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    // A file the service could not write.
    export.lose_file(&gone);
    // A properties file that failed.
    let props_path = export.blob(&props).properties_path();
    std::fs::remove_file(local_path(&export.drive(), &props_path).unwrap()).unwrap();
    let entry = export.log_entry(&props);
    entry.status = BlobStatus::CompletedWithErrors;
    entry.properties = Some(LogSideFile {
        status: FileStatus::Failed,
        path: Some(props_path),
        hash: None,
    });
    export.write_copy_log();
    export
}

fn component_statuses(report: &Value, file_path: &str) -> Vec<String> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file_path"] == file_path)
        .unwrap_or_else(|| panic!("{file_path} in the report"))["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap().to_string())
        .collect()
}
/// stdout is an NDJSON stream of the run's events: every line one JSON object, from
/// `run_started` to `run_finished`.
fn assert_ndjson(stdout: &[u8]) {
    let text = String::from_utf8_lossy(stdout);
    let events: Vec<Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not NDJSON ({e}): {line}"))
        })
        .collect();
    assert!(events.len() >= 2, "too few events: {text}");
    assert!(events.iter().all(Value::is_object), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn repairs_every_kind_of_damage_with_the_account_key() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let export = damaged_export(azurite, "keyrepair").await;
    let output = export
        .command(&["--account-key", KEY])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(stdout.contains("REPAIRED"), "{stdout}");
    export.assert_drive_matches_blobs();
    let report = export.report_json();
    assert_eq!(report["outcome"], "repaired");
    assert_eq!(
        component_statuses(&report, r"\keyrepair\docs\report.pdf"),
        [
            "verified", "verified", "repaired", "verified", "verified", "verified", "verified"
        ]
    );
    assert_eq!(
        component_statuses(&report, r"\keyrepair\disks\vm.vhd"),
        [
            "verified", "verified", "repaired", "verified", "verified", "verified", "verified"
        ]
    );
    assert_eq!(
        component_statuses(&report, r"\keyrepair\docs\gone.bin"),
        ["repaired"; 5]
    );
    // The regenerated properties file is, byte for byte, the one the export wrote from
    // Azurite's raw answer in the documented format (so it matches the manifest's hash).
    assert_eq!(
        component_statuses(&report, r"\keyrepair\docs\props.txt"),
        ["verified", "verified", "repaired"]
    );
    let blob = export.blob("keyrepair/docs/props.txt");
    let regenerated =
        std::fs::read_to_string(local_path(&export.drive(), &blob.properties_path()).unwrap())
            .unwrap();
    let expected = &export.properties["keyrepair/docs/props.txt"];
    assert_eq!(&regenerated, expected);
    for element in ["Last-Modified", "Etag", "Content-Length", "Content-Type"] {
        assert!(expected.contains(&format!("<{element}>")), "{expected}");
    }
    assert!(
        expected.contains("<Content-Length>16</Content-Length>")
            && expected.contains("<Content-Type>application/x-test</Content-Type>"),
        "{expected}"
    );
    export.assert_no_secret(&[&output.stdout, &output.stderr], &[KEY]);

    // A rerun of the finished repair resumes, finds nothing to do, writes nothing; its
    // NDJSON events carry no secret either.
    let before = snapshot(&export.drive());
    let rerun = export
        .command(&["--account-key", KEY, "--json"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert_eq!(
        snapshot(&export.drive()),
        before,
        "a finished repair's rerun wrote to the drive"
    );
    assert_ndjson(&rerun.stdout);
    let said = String::from_utf8_lossy(&rerun.stderr);
    assert!(
        said.contains("nothing to repair: ") && said.contains(" repaired in earlier runs)"),
        "{said}"
    );
    export.assert_no_secret(&[&rerun.stdout, &rerun.stderr], &[KEY]);
}

#[tokio::test(flavor = "multi_thread")]
async fn repairs_with_a_container_sas_in_both_forms_without_leaking_it() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    for (index, form) in ["v1", "url"].into_iter().enumerate() {
        let container = format!("sasrepair{index}");
        let export = damaged_export(azurite, &container).await;
        let sas = azurite::container_sas(&container, "r");
        let credential = match form {
            "v1" => format!("{container}?{sas}"),
            _ => format!("{}/{container}?{sas}", azurite.endpoint()),
        };
        // The URL form streams NDJSON events: they go through the same scan.
        let json = form == "url";
        let mut command = export.command(&["--sas", &credential]);
        if json {
            command.arg("--json");
        }
        let output = command.assert().code(0).get_output().clone();
        export.assert_drive_matches_blobs();
        if json {
            assert_ndjson(&output.stdout);
        }
        let signature = sas.split("sig=").nth(1).unwrap().to_string();
        let decoded = url::form_urlencoded::parse(format!("s={signature}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        export.assert_no_secret(&[&output.stdout, &output.stderr], &[&signature, &decoded]);
    }
}

/// A container SAS for another container than the damaged blob's cannot read it, as the
/// storage would refuse it: exit 3 (give other credentials), saying which container the SAS
/// is for and which one it needs; nothing written.
///
/// Seen failing: every component failed with the mismatch as drive damage (exit 1, "to go
/// on, rerun with the same repair file", which failed the same way).
#[tokio::test(flavor = "multi_thread")]
async fn a_sas_for_another_container_is_refused_credentials_naming_both() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let export = damaged_export(azurite, "sasmine").await;
    let sas = azurite::container_sas("sasother", "r");
    let (stdout, stderr) = export.run_changing_nothing(&["--sas", &format!("sasother?{sas}")], 3);
    let said = stdout + &stderr;
    assert!(
        said.contains("\"sasother\"") && said.contains("\"sasmine\""),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn repairs_a_snapshot_from_the_snapshot_after_the_base_blob_was_overwritten() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let original = pseudo_random_bytes(21, 200 * KIB as usize);
    let blob = SampleBlob::block("snaps/data.bin", original.clone(), 64 * KIB);
    let mut export = export(azurite, "snaps", vec![blob]).await;
    let snapshot_id = azurite.create_snapshot("snaps", "data.bin").await;
    azurite
        .put_block_blob(
            "snaps",
            "data.bin",
            &pseudo_random_bytes(22, 200 * KIB as usize),
            None,
            &[],
        )
        .await;
    // The export read the snapshot: the manifest and copy log name it.
    export.sample.blobs[0].snapshot = Some(snapshot_id.clone());
    export.sample.write(&export.drive()).unwrap();
    export.copy_log.blobs[0].snapshot = Some(snapshot_id);
    export.copy_log.blobs[0].last_modified = None;
    export.write_copy_log();
    let path = export.file("snaps/data.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[70_000] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    export.command(&["--account-key", KEY]).assert().code(0);
    assert!(
        std::fs::read(&path).unwrap() == original,
        "repaired from the snapshot's bytes"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_a_blob_overwritten_after_the_export_and_leaves_the_drive_alone() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let blob = SampleBlob::block(
        "changed/data.bin",
        pseudo_random_bytes(31, 128 * KIB as usize),
        64 * KIB,
    );
    let mut export = export(azurite, "changed", vec![blob]).await;
    // The export saw the blob as it was; the copy log's LastModified says when.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    azurite
        .put_block_blob(
            "changed",
            "data.bin",
            &pseudo_random_bytes(32, 128 * KIB as usize),
            None,
            &[],
        )
        .await;
    let entry = export.log_entry("changed/data.bin");
    entry.status = BlobStatus::CompletedWithErrors;
    entry.ranges.push(LogRange {
        offset: 0,
        length: 64 * KIB,
        id: None,
        hash: None,
        status: RangeStatus::Failed,
    });
    export.write_copy_log();
    let path = export.file("changed/data.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..(64 * KIB) as usize].fill(0xEE);
    std::fs::write(&path, &bytes).unwrap();
    let (stdout, _) = export.run_changing_nothing(&["--account-key", KEY], 1);
    assert!(stdout.contains("blob changed since export"), "{stdout}");
    let report = export.report_json();
    assert_eq!(report["outcome"], "damaged");
    assert_eq!(report["files"][0]["status"], "failed");
}

/// Blobs the copy log does not list (nothing pins a read to the export's version) replaced
/// by blobs of another length: a damaged properties file is not rewritten from the new
/// blob, and a block past the new end is not "missing bytes" but a changed blob. Nothing is
/// written, exit 1.
///
/// Seen failing: the properties file was rewritten from the new blob (its Content-Length
/// the new one), called `regenerated`, exit 0; the block failed as "has no bytes".
#[tokio::test(flavor = "multi_thread")]
async fn blobs_replaced_by_other_lengths_are_changed_since_export() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let blobs = vec![
        SampleBlob::block(
            "resized/p.bin",
            pseudo_random_bytes(41, 96 * KIB as usize),
            32 * KIB,
        )
        .with_properties("x"),
        SampleBlob::block(
            "resized/s.bin",
            pseudo_random_bytes(42, 96 * KIB as usize),
            32 * KIB,
        ),
    ];
    let mut export = export(azurite, "resized", blobs).await;
    export.copy_log.blobs.clear();
    let properties = export.local(&export.blob("resized/p.bin").properties_path());
    std::fs::write(&properties, b"<Properties><Etag>torn").unwrap();
    let data = export.file("resized/s.bin");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[(80 * KIB) as usize] ^= 1;
    std::fs::write(&data, &bytes).unwrap();
    export.write_copy_log();
    for name in ["p.bin", "s.bin"] {
        azurite
            .put_block_blob("resized", name, &pseudo_random_bytes(43, 50_000), None, &[])
            .await;
    }
    let (stdout, _) = export.run_changing_nothing(&["--account-key", KEY], 1);
    let report = export.report_json();
    for (file, kind) in [
        (r"\resized\p.bin", "properties"),
        (r"\resized\s.bin", "block"),
    ] {
        let entry = report["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["file_path"] == file)
            .unwrap_or_else(|| panic!("{file} is not in the report: {stdout}"));
        let component = entry["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind && c["status"] == "failed")
            .unwrap_or_else(|| panic!("{file}: no failed {kind}: {stdout}"));
        let reason = component["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("blob changed since export"),
            "{file}: {reason}"
        );
    }
}

/// A blob the copy log does not list, overwritten since the export with bytes of the same
/// length: its lost properties file and damaged metadata file are not rewritten from the new
/// version. With every block of the drive's file right, the blob's Content-MD5 is not the
/// file's MD5: that is another version. With a block damaged too, its repair fails first (the
/// new bytes do not match the manifest), and nothing can tell the version: the side files are
/// not rewritten either. Nothing is written, exit 1.
///
/// Seen failing: both side files were rewritten from the new blob (its ETag, Content-MD5 and
/// metadata), `regenerated`, "REPAIRED", exit 0; a later `verify` called them corrupt. With a
/// block damaged, they were rewritten all the same (the run exited 1 for the block).
#[tokio::test(flavor = "multi_thread")]
async fn side_files_are_not_rewritten_from_a_blob_overwritten_at_the_same_length() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    for (index, block_damaged) in [false, true].into_iter().enumerate() {
        let container = format!("samelen{index}");
        let exported = pseudo_random_bytes(44, 96 * KIB as usize);
        let blobs = vec![
            SampleBlob::block(&format!("{container}/p.bin"), exported.clone(), 32 * KIB)
                .with_properties("x")
                .with_metadata(&[("k", "v")]),
        ];
        let mut export = export(azurite, &container, blobs).await;
        export.copy_log.blobs.clear();
        export.write_copy_log();
        let blob = export.blob(&format!("{container}/p.bin"));
        let (properties, metadata) = (blob.properties_path(), blob.metadata_path());
        std::fs::remove_file(export.local(&properties)).unwrap();
        std::fs::write(export.local(&metadata), b"garbage").unwrap();
        if block_damaged {
            let data = export.file(&format!("{container}/p.bin"));
            let mut bytes = std::fs::read(&data).unwrap();
            bytes[40 * KIB as usize] ^= 1;
            std::fs::write(&data, bytes).unwrap();
        }
        azurite
            .put_block_blob(
                &container,
                "p.bin",
                &pseudo_random_bytes(45, exported.len()),
                None,
                &[("k", "w")],
            )
            .await;
        let (stdout, _) = export.run_changing_nothing(&["--account-key", KEY], 1);
        let report = export.report_json();
        let components = report["files"][0]["components"].as_array().unwrap();
        for kind in ["properties", "metadata"] {
            let component = components
                .iter()
                .find(|c| c["kind"] == kind)
                .unwrap_or_else(|| panic!("no {kind}: {stdout}"));
            assert_eq!(component["status"], "failed", "{kind}: {stdout}");
            let reason = component["reason"].as_str().unwrap();
            let told = if block_damaged {
                reason.starts_with("cannot tell whether the blob is still the exported version")
            } else {
                reason.starts_with("blob changed since export") && reason.contains("Content-MD5")
            };
            assert!(told, "{block_damaged} {kind}: {reason}");
        }
    }
}

/// A properties file the copy log says failed, of a blob it lists without a LastModified
/// (nothing pins the read to the export) and that did not change, with a block damaged that
/// only the manifest's pass finds and repairs: the side file is rewritten once that block is
/// (after both passes' data), and the blob's Content-MD5 found to be the file's. Exit 0.
///
/// Seen failing with side files rewritten in the copy log's pass: "cannot tell whether the
/// blob is still the exported version" (the block still damaged), exit 1.
#[tokio::test(flavor = "multi_thread")]
async fn an_unpinned_listed_side_file_waits_for_its_blocks_and_is_rewritten() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let blobs = vec![
        SampleBlob::block(
            "unpinned/p.bin",
            pseudo_random_bytes(46, 96 * KIB as usize),
            32 * KIB,
        )
        .with_properties("x"),
    ];
    let mut export = export(azurite, "unpinned", blobs).await;
    let props_path = export.blob("unpinned/p.bin").properties_path();
    std::fs::write(export.local(&props_path), b"<Properties>torn").unwrap();
    let data = export.file("unpinned/p.bin");
    let mut bytes = std::fs::read(&data).unwrap();
    // The same bytes with another Content-Type since: the rewritten file cannot match the
    // manifest's MD5, so only the Content-MD5 tells the version.
    azurite
        .put_block_blob("unpinned", "p.bin", &bytes, Some("text/other"), &[])
        .await;
    bytes[70 * KIB as usize] ^= 1;
    std::fs::write(&data, bytes).unwrap();
    let entry = export.log_entry("unpinned/p.bin");
    entry.status = BlobStatus::CompletedWithErrors;
    entry.last_modified = None;
    entry.properties = Some(LogSideFile {
        status: FileStatus::Failed,
        path: Some(props_path),
        hash: None,
    });
    export.write_copy_log();
    let output = export
        .command(&["--account-key", KEY])
        .assert()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let report = export.report_json();
    let statuses = component_statuses(&report, r"\unpinned\p.bin");
    assert!(
        statuses
            .iter()
            .any(|s| s == "repaired" || s == "regenerated"),
        "{statuses:?}"
    );
}

/// `repair --fetch-logs` takes only logs of the drive it looked for: an error log and a
/// manifest backup named for the drive whose contents are another drive's (their DriveId)
/// are refused (exit 2, naming both drives), nothing repaired.
///
/// Seen failing: "logs of drive DRV…", then "repairing drive OTHER99" with the fetched
/// manifest in place of the drive's own, no warning (the two fetched logs agreed), exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn fetched_logs_of_another_drive_are_refused() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let export = damaged_export(azurite, "fetchother").await;
    export.write_copy_log();
    let drive_id = export.sample.drive_id.clone();
    let other = |text: String| text.replace(&drive_id, "OTHER99");
    let copy_log = other(std::fs::read_to_string(export.copy_log_path()).unwrap());
    let manifest = other(std::fs::read_to_string(export.manifest()).unwrap());
    azurite.create_container("waimportexport").await;
    for (kind, text) in [("error", copy_log), ("manifest", manifest)] {
        let name = format!("waies/job1_{drive_id}_20240101-101010-100_{kind}.xml");
        azurite
            .put_block_blob("waimportexport", &name, text.as_bytes(), None, &[])
            .await;
    }
    let before = snapshot(&export.drive());
    let output = Command::cargo_bin("export-repair")
        .unwrap()
        .env_remove("AZURE_STORAGE_KEY")
        .env_remove("AZURE_STORAGE_SAS")
        .arg("repair")
        .arg("--repair-file")
        .arg(export.repair_file())
        .arg("--target")
        .arg(export.drive())
        .arg("--log-dir")
        .arg(export.logs())
        .args(["--account", ACCOUNT, "--account-key", KEY])
        .args([
            "--blob-endpoint",
            &azurite.endpoint(),
            "--fetch-logs",
            "--headless",
        ])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("OTHER99") && stderr.contains(&drive_id),
        "{stderr}"
    );
    assert_eq!(snapshot(&export.drive()), before);
    // Not left beside the repair file under this drive's name for a later run.
    let beside: Vec<_> = std::fs::read_dir(export.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("job1_"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_is_exit_3_with_a_clear_message_and_no_byte_changed() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let export = damaged_export(azurite, "wrongkey").await;
    let before = snapshot(&export.drive());
    let wrong = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc=";
    let output = export
        .command(&["--account-key", wrong, "--json"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(3)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refused the credentials"), "{stderr}");
    assert!(stderr.contains("Rerun with a valid key"), "{stderr}");
    assert_eq!(snapshot(&export.drive()), before);
    assert_ndjson(&output.stdout);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("credentials_refused"),
        "the refusal is an event of the stream"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(r#""credentials":"key_or_sas""#),
        "the event says a key was refused"
    );
    export.assert_no_secret(&[&output.stdout, &output.stderr], &[wrong]);
    // The right key then resumes and finishes.
    export.command(&["--account-key", KEY]).assert().code(0);
    export.assert_drive_matches_blobs();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_v1_command_line_works_and_another_drives_repair_file_is_refused() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let export = damaged_export(azurite, "classic").await;
    let mut command = Command::cargo_bin("export-repair").unwrap();
    command
        .env_remove("AZURE_STORAGE_KEY")
        .env("AZURE_STORAGE_KEY", KEY)
        .arg("RepairExport")
        .arg(format!("/r:{}", export.repair_file().display()))
        .arg(format!("/D:{}", export.drive().display()))
        .arg(format!("/SN:{ACCOUNT}"))
        .arg(format!("/copylogfile:{}", export.copy_log_path().display()))
        .arg(format!("/ManifestFile:{}", export.manifest().display()))
        .arg(format!("/logdir:{}", export.logs().display()))
        .arg(format!("/BlobEndpoint:{}", azurite.endpoint()));
    for report in export.reports() {
        command.arg(format!("/ReportFile:{}", report.display()));
    }
    let output = command.assert().code(0).get_output().clone();
    export.assert_drive_matches_blobs();
    export.assert_no_secret(&[&output.stdout, &output.stderr], &[KEY]);

    // The same repair file offered for another drive.
    let other = damaged_export(azurite, "otherdrive").await;
    std::fs::copy(export.repair_file(), other.repair_file()).unwrap();
    let before = snapshot(&other.drive());
    let refused = other
        .command(&["--account-key", KEY])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("belongs to another drive"), "{stderr}");
    assert!(stderr.contains("DRV-classic"), "{stderr}");
    assert_eq!(snapshot(&other.drive()), before);
}

/// Three `kill -9`s while a missing 96 MiB file is downloaded, each right after the run
/// reports another third of what is left repaired; the repair file read after each must
/// record some blocks repaired and not all, every block it records repaired holds the blob's
/// bytes, and every other block the blob's bytes or zeros (the file is created at its
/// length). A rerun then gives a byte-identical drive.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_in_the_middle_then_a_rerun_gives_a_byte_identical_drive() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let big = SampleBlob::block(
        "killed/big.bin",
        // Six requests of 16 MiB: each third of what is left is more than one.
        pseudo_random_bytes(41, 96 * 1024 * KIB as usize),
        256 * KIB,
    );
    let mut export = export(azurite, "killed", vec![big]).await;
    export.lose_file("killed/big.bin");
    export.write_copy_log();
    let blob = export.blob("killed/big.bin").clone();
    let blocks = blob.layout.len() as u64;
    let binary = assert_cmd::cargo::cargo_bin("export-repair");
    for kill in 1..=3 {
        let before = repair_progress(&export.repair_file()).repaired;
        // A resumed run announces what was repaired before, then goes on.
        let after = before + (blocks - before).div_ceil(3);
        let mut command = std::process::Command::new(&binary);
        // Paced (half a second per request): the kill lands before the next request's blocks
        // on a slow machine too.
        command
            .args(export.args(&["--account-key", KEY]))
            .args(["--concurrency", "1", "--pace", "32768"])
            .env_remove("AZURE_STORAGE_KEY");
        let killed = kill_after_repaired(&mut command, after);
        let progress = repair_progress(&export.repair_file());
        assert!(
            killed.running && before < progress.repaired && progress.repaired < blocks,
            "kill {kill} after {after} blocks repaired was not mid-write: {} of {blocks} \
             recorded repaired (before the run: {before}); {}",
            progress.repaired,
            killed.stderr
        );
        let on_drive = std::fs::read(export.file("killed/big.bin")).unwrap();
        let repaired: std::collections::HashSet<u64> = progress
            .repaired_ranges
            .iter()
            .map(|(_, offset, _)| *offset)
            .collect();
        for &(offset, length) in &blob.layout {
            let range = offset as usize..(offset + length) as usize;
            let now = &on_drive[range.clone()];
            let right = now == &blob.content[range.clone()];
            assert!(
                right || (!repaired.contains(&offset) && now.iter().all(|&b| b == 0)),
                "kill {kill}: bytes {range:?} are {}",
                if repaired.contains(&offset) {
                    "recorded repaired but not the blob's"
                } else {
                    "neither the blob's nor zeros"
                }
            );
        }
        println!(
            "kill {kill}: after {after} reported, {} of {blocks} blocks recorded repaired",
            progress.repaired
        );
    }
    export.command(&["--account-key", KEY]).assert().code(0);
    export.assert_drive_matches_blobs();
}

/// The console's run: kept open after its plan. A refused key makes downloads wait (not
/// fail); new credentials let them go on; then the technician verifies a blob again and
/// retries a component, and finishing ends the run normally.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_kept_open_waits_for_new_credentials_then_takes_more_work() {
    use export_repair::engine::SourceHandle;
    use export_repair::engine::{Activity, Command as EngineCommand, Event};
    use export_repair::model::{ComponentId, ComponentStatus};
    use export_repair::source::azure::{AzureBlobSource, AzureCredential, AzureSourceConfig};
    use std::sync::Arc;

    let Some(azurite) = azurite::shared() else {
        return;
    };
    let export = damaged_export(azurite, "keptopen").await;
    let mut wrong = AzureSourceConfig::new(
        ACCOUNT,
        AzureCredential::AccountKey(
            "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc=".into(),
        ),
    );
    wrong.endpoint = Some(azurite.endpoint());
    let (drive, mut handle) =
        export.start_kept_open(true, Arc::new(AzureBlobSource::new(wrong).unwrap()));
    let pdf = drive
        .blobs
        .iter()
        .position(|b| b.blob_path.ends_with("docs/report.pdf"))
        .unwrap() as u32;
    let mut refusals = 0;
    let mut idles = 0;
    let mut downloading = 0;
    let mut pdf_verdicts = Vec::new();
    let finished = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(event) = handle.events.recv().await {
            match event {
                Event::CredentialsRefused { .. } => {
                    refusals += 1;
                    // Nothing was settled as failed while the key was wrong.
                    handle.send(EngineCommand::UseSource(SourceHandle(Arc::new(
                        azurite.key_source(),
                    ))));
                }
                Event::Working {
                    activity: Activity::Downloading,
                    ..
                } => downloading += 1,
                Event::Component(c) if c.id.blob == pdf => pdf_verdicts.push(c.status),
                Event::Component(c) => assert_ne!(c.status, ComponentStatus::Failed, "{c:?}"),
                Event::Idle { totals, .. } => {
                    idles += 1;
                    assert_eq!(totals.damaged(), 0, "{totals:?}");
                    export.assert_drive_matches_blobs();
                    match idles {
                        1 => {
                            // Damage the pdf's second block behind the run's back, then
                            // ask for the blob to be verified again.
                            let path = export.file(&drive.blobs[pdf as usize].blob_path);
                            let mut bytes = std::fs::read(&path).unwrap();
                            bytes[70 * 1024] ^= 0xff;
                            std::fs::write(&path, bytes).unwrap();
                            pdf_verdicts.clear();
                            let ids = (0..drive.blobs[pdf as usize].components.len() as u32)
                                .map(|component| ComponentId {
                                    blob: pdf,
                                    component,
                                })
                                .collect();
                            handle.send(EngineCommand::Verify(ids));
                        }
                        2 => {
                            // Verified again: the damaged block found, then repaired.
                            let count =
                                |status| pdf_verdicts.iter().filter(|s| **s == status).count();
                            assert_eq!(count(ComponentStatus::Corrupt), 1, "{pdf_verdicts:?}");
                            assert_eq!(count(ComponentStatus::Repaired), 1, "{pdf_verdicts:?}");
                            pdf_verdicts.clear();
                            let id = ComponentId {
                                blob: pdf,
                                component: 0,
                            };
                            handle.send(EngineCommand::Retry(vec![id]));
                        }
                        _ => handle.send(EngineCommand::Finish),
                    }
                }
                Event::RunFinished {
                    interrupted,
                    outcome,
                    ..
                } => return (interrupted, outcome),
                _ => {}
            }
        }
        panic!("the event stream ended without RunFinished");
    })
    .await
    .expect("the run kept open finished in time");
    assert_eq!(
        refusals, 1,
        "one refusal reported, however many downloads hit it"
    );
    assert!(downloading > 0);
    assert!(!finished.0, "finishing is not an interruption");
    assert_eq!(finished.1, export_repair::model::Outcome::Repaired);
    // The last request: the retried block was downloaded and written again.
    assert_eq!(pdf_verdicts, [ComponentStatus::Repaired]);
    export.assert_drive_matches_blobs();
}

/// v1's usual case: the copy log alone, no manifest. A file the service could not write is
/// downloaded whole (in pieces fetched side by side) and lands byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn the_copy_log_alone_repairs_a_missing_file_by_downloading_it_whole() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let content = pseudo_random_bytes(21, 20 * 1024 * KIB as usize + 5);
    let blobs = in_container(
        "wholefile",
        vec![SampleBlob::block(
            "big/file.bin",
            content.clone(),
            4096 * KIB,
        )],
    );
    let mut export = export(azurite, "wholefile", blobs).await;
    let blob_path = "wholefile/big/file.bin";
    export.lose_file(blob_path);
    export.write_copy_log();
    let args = export.args_without_manifest(&["--account-key", KEY]);
    Command::cargo_bin("export-repair")
        .unwrap()
        .env_remove("AZURE_STORAGE_KEY")
        .args(&args)
        .timeout(Duration::from_secs(120))
        .assert()
        .code(0);
    assert!(
        std::fs::read(export.file(blob_path)).unwrap() == content,
        "the file is the blob, byte for byte"
    );
    let report = export.report_json();
    assert_eq!(report["outcome"], "repaired");
    let file = &report["files"][0];
    assert_eq!(file["components"][0]["status"], "repaired");
    assert!(
        file["components"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("downloaded whole")
    );
}

/// A page blob only the copy log names (a disk image, mostly free space) is downloaded
/// whole, but only where the storage lists pages holding data: its empty pages are never asked
/// for nor written (they stay holes, reading as zeros), and the progress leaves them out.
///
/// Seen failing: all 48 MiB were asked for and written, zeros included (for a 1 TB VHD, a
/// terabyte of zeros downloaded).
#[tokio::test(flavor = "multi_thread")]
async fn the_empty_pages_of_a_page_blob_downloaded_whole_are_neither_read_nor_written() {
    use std::os::unix::fs::MetadataExt as _;
    let Some(azurite) = azurite::shared() else {
        return;
    };
    const MIB: u64 = 1024 * KIB;
    let length = 48 * MIB;
    // Two ranges with a short gap (read with them), one far off, the last page.
    let layout = [
        (0, 64 * KIB),
        (512 * KIB, 64 * KIB),
        (40 * MIB, 128 * KIB),
        (length - 512, 512),
    ];
    let blob = SampleBlob::page("disks/sparse.vhd", length, &layout, 41);
    let content = blob.content.clone();
    let mut export = export(
        azurite,
        "sparsepages",
        in_container("sparsepages", vec![blob]),
    )
    .await;
    let blob_path = "sparsepages/disks/sparse.vhd";
    export.lose_file(blob_path);
    export.write_copy_log();
    let proxy = FaultProxy::start(azurite.port(), Plan::new(0, 0, &[]));
    let mut args = export.repair_args(&proxy.endpoint(), &["--account-key", KEY]);
    let manifest = args.iter().position(|a| a == "--manifest").unwrap();
    args.drain(manifest..manifest + 2);
    let mut command = Command::cargo_bin("export-repair").unwrap();
    command
        .env_remove("AZURE_STORAGE_KEY")
        .args(&args)
        .arg("--json");
    let seen = run(command, Duration::from_secs(120));
    assert_eq!(seen.code, Some(0), "{}", seen.text());

    let file = export.file(blob_path);
    assert!(
        std::fs::read(&file).unwrap() == content,
        "the file is the blob, byte for byte"
    );
    let read: u64 = proxy
        .seen()
        .iter()
        .filter(|seen| seen.method == "GET" && seen.path.ends_with("/disks/sparse.vhd"))
        .filter_map(|seen| seen.range_bounds())
        .map(|(start, end)| end + 1 - start)
        .sum();
    let data = 576 * KIB + 128 * KIB + 512;
    assert_eq!(
        read,
        data,
        "only the pages holding data were read: {:?}",
        proxy.seen()
    );
    let allocated = std::fs::metadata(&file).unwrap().blocks() * 512;
    assert!(
        allocated < 4 * MIB,
        "{allocated} bytes allocated: zeros were written"
    );

    let empty = seen.event("empty_pages");
    assert_eq!(empty["bytes"], length - data, "{empty}");
    let last = seen
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .rfind(|event| event["event"] == "progress")
        .unwrap();
    assert_eq!(last["download"]["bytes_total"], data, "{last}");
    assert_eq!(last["download"]["bytes_done"], data, "{last}");
    let report = export.report_json();
    let reason = report["files"][0]["components"][0]["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains(&format!(
            "{} bytes in pages the storage lists as empty were not downloaded",
            length - data
        )),
        "{reason}"
    );
}

/// A repair file of the previous schema (file identities without a change time) is
/// converted by a rerun; a file an earlier run downloaded whole is then taken by its bytes
/// (hashed again against the recorded MD5), not downloaded again.
///
/// Seen failing with the identity compared whole: the rerun took nothing from the repair file
/// ("checked_again": 1) and checked the file all over again.
#[tokio::test(flavor = "multi_thread")]
async fn a_converted_repair_file_keeps_a_whole_download_without_downloading_it_again() {
    use std::os::unix::fs::MetadataExt as _;
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let content = pseudo_random_bytes(27, 300 * KIB as usize);
    let blobs = in_container(
        "converted",
        vec![SampleBlob::block("a/file.bin", content.clone(), 64 * KIB)],
    );
    let mut export = export(azurite, "converted", blobs).await;
    let blob_path = "converted/a/file.bin";
    export.lose_file(blob_path);
    export.write_copy_log();
    let args = export.args_without_manifest(&["--account-key", KEY]);
    let repair = |extra: &[&str]| {
        let mut command = Command::cargo_bin("export-repair").unwrap();
        command
            .env_remove("AZURE_STORAGE_KEY")
            .args(&args)
            .args(extra);
        run(command, Duration::from_secs(120))
    };
    let first = repair(&[]);
    assert_eq!(first.code, Some(0), "{}", first.text());
    let inode = std::fs::metadata(export.file(blob_path)).unwrap().ino();
    // What the previous version wrote: no change times.
    rusqlite::Connection::open(export.repair_file())
        .unwrap()
        .execute_batch(
            "ALTER TABLE component DROP COLUMN file_changed_ns; PRAGMA user_version = 2;",
        )
        .unwrap();
    let again = repair(&["--json"]);
    assert_eq!(again.code, Some(0), "{}", again.text());
    let resumed = again.event("resumed");
    assert_eq!(resumed["repaired"], 1, "{resumed}");
    assert_eq!(
        std::fs::metadata(export.file(blob_path)).unwrap().ino(),
        inode,
        "not downloaded again"
    );
    assert!(std::fs::read(export.file(blob_path)).unwrap() == content);
}

/// A file only the copy log names (absent from the manifest) is downloaded whole by the
/// repair (exit 0); `verify` alone cannot prove it (exit 1, saying how it can be), `verify
/// --repair-file` checks it against the MD5 recorded when it was downloaded (exit 0), and a
/// byte changed since makes that check fail (exit 1). A repair file that is not there is a
/// usage error (exit 2).
#[tokio::test(flavor = "multi_thread")]
async fn verify_with_the_repair_file_proves_a_file_only_the_copy_log_names() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let container = "afterrepair";
    let gone_content = pseudo_random_bytes(31, 300 * KIB as usize + 7);
    let blobs = in_container(
        container,
        vec![
            SampleBlob::block(
                "kept.bin",
                pseudo_random_bytes(30, 200 * KIB as usize),
                64 * KIB,
            ),
            SampleBlob::block("gone.bin", gone_content.clone(), 64 * KIB),
        ],
    );
    let mut export = export(azurite, container, blobs).await;
    let gone = format!("{container}/gone.bin");
    // The manifest names only the file that was written; the copy log names both.
    let mut manifest = export.sample.manifest();
    manifest.blobs.retain(|blob| blob.blob_path != gone);
    std::fs::write(export.manifest(), manifest.to_xml()).unwrap();
    export.lose_file(&gone);
    export.write_copy_log();

    export.command(&["--account-key", KEY]).assert().code(0);
    assert!(std::fs::read(export.file(&gone)).unwrap() == gone_content);

    // `verify` of the export's drive and logs, with `extra` arguments.
    let verify = |extra: &[&std::ffi::OsStr]| {
        let mut command = Command::cargo_bin("export-repair").unwrap();
        command
            .arg("verify")
            .arg("--target")
            .arg(export.drive())
            .arg("--manifest")
            .arg(export.manifest())
            .arg("--copy-log")
            .arg(export.copy_log_path())
            .args(extra);
        run(command, Duration::from_secs(60))
    };
    let repair_file = export.repair_file();
    let with_record = [OsStr::new("--repair-file"), repair_file.as_os_str()];
    let repair_file_before = std::fs::read(&repair_file).unwrap();

    let alone = verify(&[]);
    assert_eq!(alone.code, Some(1), "{}", alone.text());
    assert!(
        alone.text().contains("verify --repair-file FILE"),
        "says how the file can be proven: {}",
        alone.text()
    );

    let proven = verify(&with_record);
    assert_eq!(proven.code, Some(0), "{}", proven.text());
    assert_eq!(
        std::fs::read(&repair_file).unwrap(),
        repair_file_before,
        "verify reads the repair file, never writes it"
    );

    let mut changed = gone_content.clone();
    changed[150_000] ^= 0x20;
    std::fs::write(export.file(&gone), &changed).unwrap();
    let after_change = verify(&with_record);
    assert_eq!(after_change.code, Some(1), "{}", after_change.text());
    assert!(
        after_change.text().contains("changed since"),
        "{}",
        after_change.text()
    );

    // A report named like the repair file would destroy it: refused, the file as it was.
    let report_onto_record = [
        OsStr::new("--report"),
        repair_file.as_os_str(),
        OsStr::new("--report-format"),
        OsStr::new("json"),
    ];
    let onto_record = verify(&[&with_record[..], &report_onto_record[..]].concat());
    assert_eq!(onto_record.code, Some(2), "{}", onto_record.text());
    assert!(
        onto_record
            .text()
            .contains("is the repair file of this run"),
        "{}",
        onto_record.text()
    );
    assert_eq!(std::fs::read(&repair_file).unwrap(), repair_file_before);

    let nowhere = export.dir.path().join("no-such.rep");
    let missing = verify(&[OsStr::new("--repair-file"), nowhere.as_os_str()]);
    assert_eq!(missing.code, Some(2), "{}", missing.text());
    assert!(
        missing.text().contains("there is no repair file at"),
        "{}",
        missing.text()
    );
    assert!(!nowhere.exists(), "no repair file is made");
}

/// `repair --dry-run` through a proxy that counts what reaches the storage: the drive's
/// verification runs, nothing is downloaded or written (the drive byte for byte and to the
/// modification time, no repair file), the exit code is `verify`'s, and the output ends with
/// each download a repair would make and where from. After a real repair, a dry run finds
/// nothing to download and leaves the repair file as it was.
#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_downloads_and_writes_nothing_and_ends_with_the_plan() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let export = damaged_export(azurite, "dryrun").await;
    let before = snapshot(&export.drive());
    let proxy = FaultProxy::start(azurite.port(), Plan::new(0, 0, &[]));
    let args = export.repair_args(&proxy.endpoint(), &["--account-key", KEY]);
    let dry_run = |extra: &[&str]| {
        Command::cargo_bin("export-repair")
            .unwrap()
            .env_remove("AZURE_STORAGE_KEY")
            .env_remove("AZURE_STORAGE_SAS")
            .args(&args)
            .arg("--dry-run")
            .args(extra)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    };

    let output = dry_run(&[]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(proxy.requests(), 0, "a dry run sent {:?}", proxy.seen());
    assert_eq!(snapshot(&export.drive()), before, "the drive changed");
    assert!(
        !export.repair_file().exists(),
        "the repair file was written"
    );
    // Exit codes as `verify` gives them for the same drive.
    let verify = Command::cargo_bin("export-repair")
        .unwrap()
        .arg("verify")
        .arg("--target")
        .arg(export.drive())
        .arg("--manifest")
        .arg(export.manifest())
        .arg("--copy-log")
        .arg(export.copy_log_path())
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), output.status.code());
    // The plan, last: each download (ranges in bytes, whole files, side files) and the total.
    let c = "dryrun";
    let tail: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("dry run: "))
        .collect();
    assert_eq!(
        tail,
        [
            "dry run: nothing was downloaded or written. A repair would:",
            &format!(
                r"  \{c}\docs\report.pdf: download bytes 131072..196608 (64.0 KiB) from {c}/docs/report.pdf"
            ),
            &format!(
                r"  \{c}\disks\vm.vhd: download bytes 1048576..1052672 (4.0 KiB) from {c}/disks/vm.vhd"
            ),
            &format!(
                r"  \{c}\docs\gone.bin: download bytes 0..1048576 (1.0 MiB) from {c}/docs/gone.bin"
            ),
            &format!(r"  \{c}\docs\gone.bin: set its length to that of {c}/docs/gone.bin"),
            &format!(
                r"  \{c}\docs\props.txt.properties: regenerate it from the properties of {c}/docs/props.txt"
            ),
            &format!(
                "in all 1.1 MiB in 3 requests for 4 files, from Azure {} (account key)",
                proxy.endpoint()
            ),
        ],
        "{stdout}"
    );
    // The NDJSON stream carries the plan whole.
    let json = dry_run(&["--json"]);
    let plans: Vec<Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["event"] == "would_download")
        .collect();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0]["downloads"].as_array().unwrap().len(), 5);
    assert_eq!(proxy.requests(), 0);
    assert_eq!(snapshot(&export.drive()), before);
    assert!(!export.repair_file().exists());

    // Repaired, a dry run has nothing to plan, exits 0 and leaves the repair file alone.
    export.command(&["--account-key", KEY]).assert().code(0);
    let repair_file = std::fs::read(export.repair_file()).unwrap();
    let repaired = snapshot(&export.drive());
    let requests = proxy.requests();
    let again = dry_run(&[]);
    let said = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(0), "{said}");
    assert!(said.starts_with("nothing to repair: "), "{said}");
    assert!(
        said.ends_with(
            "dry run: nothing was downloaded or written; a repair would download nothing\n"
        ),
        "{said}"
    );
    assert_eq!(std::fs::read(export.repair_file()).unwrap(), repair_file);
    assert_eq!(snapshot(&export.drive()), repaired);
    assert_eq!(proxy.requests(), requests);
}
