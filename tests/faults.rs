//! Repairs through a fault-injecting proxy between the tool and Azurite: 500s, 503 with
//! `Retry-After`, connections dropped mid-body, stalled bodies, truncated bodies, a key rotated
//! mid-run, and a mixed seeded storm.
//!
//! Faults within the tool's retry budget (never as many for one request as it has attempts)
//! must be survived: exit 0, every file byte-identical to its blob, and the proxy's record
//! shows every faulted request asked again and then answered. Faults beyond the budget (a
//! blob that never answers) end in exit 1 with a reason per failed component and no wrong
//! byte on the drive: each component's bytes are the blob's or exactly what was there before.
//! A refused key is exit 3 with the drive consistent. After either, a rerun through a healthy
//! path completes the drive.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use export_repair::demo::{SampleBlob, pseudo_random_bytes};
use export_repair::format::copylog::{LogRange, LogSideFile};
use export_repair::format::status::{BlobStatus, FileStatus, RangeStatus};
use serde_json::Value;
use support::azurite::{self, ACCOUNT, Azurite, KEY};
use support::export::{Export, export, in_container};
use support::fault_proxy::{Fault, FaultProxy, Plan, Seen, not_recovered};

const KIB: usize = 1024;

impl Export {
    fn args(&self, endpoint: &str, concurrency: usize) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["repair".into(), "--headless".into()];
        for (flag, value) in [
            ("--repair-file", self.repair_file()),
            ("--target", self.drive()),
            ("--copy-log", self.copy_log_path()),
            ("--manifest", self.manifest()),
            ("--log-dir", self.logs()),
            ("--report", self.report()),
        ] {
            args.push(flag.into());
            args.push(value.into());
        }
        for (flag, value) in [
            ("--account", ACCOUNT.to_string()),
            ("--blob-endpoint", endpoint.to_string()),
            ("--concurrency", concurrency.to_string()),
        ] {
            args.push(flag.into());
            args.push(value.into());
        }
        args
    }

    /// Runs a repair against `endpoint` with the account key (from the environment).
    fn run(&self, endpoint: &str, concurrency: usize) -> Output {
        self.run_with(endpoint, concurrency, &[])
    }

    /// [`Export::run`] with `extra` arguments.
    fn run_with(&self, endpoint: &str, concurrency: usize, extra: &[&str]) -> Output {
        let output = Command::cargo_bin("export-repair")
            .unwrap()
            .env_remove("AZURE_STORAGE_SAS")
            .env("AZURE_STORAGE_KEY", KEY)
            .args(self.args(endpoint, concurrency))
            .args(extra)
            .timeout(Duration::from_secs(55))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked") && output.status.code() != Some(101),
            "the tool panicked: {stderr}"
        );
        assert!(
            output.status.code().is_some(),
            "the run did not end by itself (killed by the 55 s timeout?): {stderr}"
        );
        output
    }

    fn report_json(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.report()).unwrap()).unwrap()
    }

    /// No wrong byte: every block or page range on the drive holds the blob's bytes or
    /// exactly what it held before the run (zeros, for a file that did not exist); every side
    /// file is its export-time bytes or what it was before.
    fn assert_no_wrong_byte(&self) {
        for blob in &self.sample.blobs {
            let Ok(now) = std::fs::read(self.local(&blob.file_path)) else {
                assert!(
                    self.before[&blob.file_path].is_none(),
                    "{} disappeared",
                    blob.file_path
                );
                continue;
            };
            let before = self.before[&blob.file_path].as_deref();
            for &(offset, length) in &blob.layout {
                let range = offset as usize..(offset + length) as usize;
                let Some(now) = now.get(range.clone()) else {
                    panic!("{} is shorter than its range {range:?}", blob.file_path);
                };
                let right = &blob.content[range.clone()];
                let old_ok = match before {
                    Some(before) => before.get(range.clone()) == Some(now),
                    None => now.iter().all(|&b| b == 0),
                };
                assert!(
                    now == right || old_ok,
                    "{} bytes {range:?} are neither the blob's nor the old ones",
                    blob.file_path
                );
            }
        }
        for (path, expected) in self.expected_side_files() {
            let now = std::fs::read(self.local(&path)).ok();
            assert!(
                now.as_deref() == Some(&expected[..]) || now == self.before[&path],
                "{path} is neither as exported nor as before"
            );
        }
    }

    /// Components by status from the report; every failed one must carry a reason, and the
    /// summary on stdout must name its file.
    fn failed_components(&self, stdout: &str) -> Vec<(String, String)> {
        let report = self.report_json();
        let mut failed = Vec::new();
        for file in report["files"].as_array().unwrap() {
            for component in file["components"].as_array().unwrap() {
                if component["status"] == "failed" {
                    let reason = component["reason"].as_str().unwrap_or_default();
                    assert!(
                        !reason.trim().is_empty(),
                        "a failed component without a reason: {component}"
                    );
                    let file_path = file["file_path"].as_str().unwrap().to_string();
                    assert!(
                        stdout.contains(&file_path),
                        "the summary does not name {file_path}: {stdout}"
                    );
                    failed.push((
                        file["blob_path"].as_str().unwrap().to_string(),
                        reason.into(),
                    ));
                }
            }
        }
        failed
    }
}

/// Every kind of damage, spread so that the repair makes many separate requests: every
/// other block of a 1 MiB file (half reported by the copy log, half silent), two page ranges,
/// a missing file, a missing properties file and a missing metadata file.
async fn damaged_export(azurite: &Azurite, container: &str) -> Export {
    let blobs = vec![
        SampleBlob::block(
            "many.bin",
            pseudo_random_bytes(1, 1024 * KIB),
            16 * KIB as u64,
        )
        .with_properties("x"),
        SampleBlob::page(
            "disk.vhd",
            512 * KIB as u64,
            &[
                (0, 64 * 1024),
                (128 * 1024, 16 * 1024),
                (256 * 1024, 4096),
                (512 * 1024 - 512, 512),
            ],
            2,
        )
        .with_properties("x")
        .with_metadata(&[("owner", "bob"), ("purpose", "faults")]),
        SampleBlob::block(
            "gone.bin",
            pseudo_random_bytes(3, 300 * KIB),
            64 * KIB as u64,
        ),
        SampleBlob::block("props.txt", b"hello properties".to_vec(), 4096).with_properties("x"),
    ];
    let mut export = export(azurite, container, in_container(container, blobs)).await;
    let [many, disk, gone, props] =
        ["many.bin", "disk.vhd", "gone.bin", "props.txt"].map(|name| format!("{container}/{name}"));

    // Every other block of many.bin: even ones zeroed and reported, odd ones flipped silently.
    let blob = export.sample.blobs[0].clone();
    let path = export.local(&blob.file_path);
    let mut bytes = std::fs::read(&path).unwrap();
    let mut failed_ranges = Vec::new();
    for (index, &(offset, length)) in blob.layout.iter().enumerate() {
        let range = offset as usize..(offset + length) as usize;
        match index % 4 {
            0 => {
                bytes[range].fill(0);
                failed_ranges.push(LogRange {
                    offset,
                    length,
                    id: None,
                    hash: None,
                    status: RangeStatus::Failed,
                });
            }
            2 => bytes[range.start + 11] ^= 0x5A,
            _ => {}
        }
    }
    std::fs::write(&path, bytes).unwrap();
    let entry = export.log_entry(&many);
    entry.status = BlobStatus::CompletedWithErrors;
    entry.ranges = failed_ranges;

    // Two silently corrupted page ranges and a failed metadata file.
    let blob = export.sample.blobs[1].clone();
    let path = export.local(&blob.file_path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[128 * KIB + 5] ^= 1;
    bytes[512 * KIB - 3] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    std::fs::remove_file(export.local(&blob.metadata_path())).unwrap();
    let entry = export.log_entry(&disk);
    entry.status = BlobStatus::CompletedWithErrors;
    entry.metadata = Some(LogSideFile {
        status: FileStatus::Failed,
        path: Some(blob.metadata_path()),
        hash: None,
    });

    // A file the service could not write.
    let blob = export.sample.blobs[2].clone();
    std::fs::remove_file(export.local(&blob.file_path)).unwrap();
    let entry = export.log_entry(&gone);
    entry.status = BlobStatus::FileNotFound;
    entry.kind = None;

    // A failed properties file.
    let blob = export.sample.blobs[3].clone();
    std::fs::remove_file(export.local(&blob.properties_path())).unwrap();
    let entry = export.log_entry(&props);
    entry.status = BlobStatus::CompletedWithErrors;
    entry.properties = Some(LogSideFile {
        status: FileStatus::Failed,
        path: Some(blob.properties_path()),
        hash: None,
    });
    export.seal();
    export
}

/// The tool's retry budget: the attempts per request it promises before giving up (the Azure
/// source's default, which the command line keeps).
const RETRY_BUDGET: u64 = 6;

/// `kinds` at `rate_percent` of the requests, never more faults for one request than the
/// retry budget survives: every request can be answered in the end.
fn within_budget(seed: u64, rate_percent: u64, kinds: &[Fault]) -> Plan {
    let mut plan = Plan::new(seed, rate_percent, kinds);
    plan.max_per_request = Some(RETRY_BUDGET - 1);
    plan
}

fn outputs(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A run whose faults stayed within the retry budget: exit 0, every file equal to its blob,
/// and, from the proxy's record, every faulted request asked again and then answered.
fn check_survived(name: &str, export: &Export, proxy: &FaultProxy, output: &Output) {
    let (stdout, stderr) = outputs(output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{name}: faults within the retry budget must be survived\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("REPAIRED"), "{name}: {stdout}");
    export.assert_drive_matches_blobs();
    let injected = proxy.injected();
    assert!(
        injected > 0,
        "{name}: no fault was injected in {} requests",
        proxy.requests()
    );
    let lost = proxy.faults_not_recovered();
    assert!(
        lost.is_empty(),
        "{name}: {} of {injected} faulted requests were not asked again and answered: {lost:#?}",
        lost.len()
    );
    println!(
        "{name}: {injected} faults injected ({:?}) in {} requests, each survived",
        proxy.injected_by_kind(),
        proxy.requests()
    );
}

/// A run whose faults exceeded the retry budget: exit 4 (the storage could not be reached: a
/// rerun resumes), a reason for every failed component and its file named in the summary, no
/// wrong byte on the drive; a healthy rerun then completes the drive. Returns the failed
/// components (blob path, reason).
fn check_failed_cleanly(name: &str, export: &Export, output: &Output) -> Vec<(String, String)> {
    let (stdout, stderr) = outputs(output);
    assert_eq!(
        output.status.code(),
        Some(4),
        "{name}: expected exit 4 (damage remains, the storage out of reach)\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("DAMAGED"), "{name}: {stdout}");
    export.assert_no_wrong_byte();
    let failed = export.failed_components(&stdout);
    assert!(
        !failed.is_empty(),
        "{name}: exit 1 but nothing failed\n{stdout}"
    );
    let rerun = export.run(&azurite::shared().unwrap().endpoint(), 4);
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{name}: the healthy rerun: {}",
        String::from_utf8_lossy(&rerun.stdout)
    );
    export.assert_drive_matches_blobs();
    failed
}

/// A damaged export in `container`, repaired through a proxy running `plan`, which must be
/// survived.
async fn survive(name: &str, container: &str, plan: Plan, concurrency: usize) {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let export = damaged_export(azurite, container).await;
    let proxy = FaultProxy::start(azurite.port(), plan);
    let output = export.run(&proxy.endpoint(), concurrency);
    check_survived(name, &export, &proxy, &output);
}

#[tokio::test(flavor = "multi_thread")]
async fn survives_500s() {
    let plan = within_budget(500, 30, &[Fault::Status500]);
    survive("500s", "fault500", plan, 4).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn survives_503s_and_honours_retry_after() {
    let plan = within_budget(503, 25, &[Fault::Busy503]);
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let export = damaged_export(azurite, "fault503").await;
    let proxy = FaultProxy::start(azurite.port(), plan);
    let output = export.run(&proxy.endpoint(), 4);
    check_survived("503s", &export, &proxy, &output);
    // Each 503 said Retry-After: 1; the same request must not come back sooner.
    let seen = proxy.seen();
    let mut checked = 0;
    for (i, busy) in seen.iter().enumerate() {
        if busy.fault != Some(Fault::Busy503) {
            continue;
        }
        let again = seen[i + 1..]
            .iter()
            .find(|s| s.method == busy.method && s.path == busy.path && s.range == busy.range);
        if let Some(again) = again {
            let waited = again.at - busy.at;
            assert!(
                waited >= Duration::from_millis(950),
                "retried {} {} {:?} after {waited:?}, before Retry-After: 1",
                busy.method,
                busy.path,
                busy.range
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no 503 was retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn survives_connections_dropped_mid_body() {
    let plan = within_budget(7, 40, &[Fault::DropMidBody]);
    survive("dropped mid-body", "faultdrop", plan, 4).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn survives_truncated_bodies() {
    let plan = within_budget(11, 40, &[Fault::Truncate]);
    survive("truncated bodies", "faulttrunc", plan, 4).await;
}

/// An export of one 128 KiB blob in `container` (content from `seed`) whose drive file has one
/// byte flipped in its second block: the export, that file, and its damaged bytes.
async fn one_damaged_block(
    azurite: &Azurite,
    container: &str,
    seed: u64,
) -> (Export, PathBuf, Vec<u8>) {
    let blob = SampleBlob::block(
        &format!("{container}.bin"),
        pseudo_random_bytes(seed, 128 * KIB),
        32 * KIB as u64,
    );
    let mut export = export(azurite, container, in_container(container, vec![blob])).await;
    let path = export.local(&export.sample.blobs[0].file_path);
    let mut damaged = std::fs::read(&path).unwrap();
    damaged[40 * KIB] ^= 0xFF;
    std::fs::write(&path, &damaged).unwrap();
    export.seal();
    (export, path, damaged)
}

/// One stalled body, silent for `stall`.
fn one_stall(stall: Duration) -> Plan {
    let mut plan = Plan::new(13, 100, &[Fault::Stall]);
    plan.max_faults = Some(1);
    plan.stall = stall;
    plan
}

/// A body that stops mid-way and stays silent: the tool's read timeout (`--read-timeout`,
/// here 3 s instead of the default 30 s) must fire and the rest be fetched again. One small
/// blob, one stall, which would last far longer than the timeout.
#[tokio::test(flavor = "multi_thread")]
async fn survives_a_stalled_body() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let (export, _, _) = one_damaged_block(azurite, "faultstall", 9).await;
    let proxy = FaultProxy::start(azurite.port(), one_stall(Duration::from_secs(40)));
    let started = Instant::now();
    let output = export.run_with(&proxy.endpoint(), 1, &["--read-timeout", "3"]);
    let took = started.elapsed();
    assert_eq!(proxy.injected_by_kind().get(&Fault::Stall), Some(&1));
    check_survived("stalled body", &export, &proxy, &output);
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(20),
        "the stall should cost one read timeout (3 s), not {took:?}"
    );
}

/// Ctrl-C while a body has stalled (a read timeout of 120 s, a stall far longer): the run gives
/// the download a few seconds, then ends interrupted (exit 4) with the block's old bytes on
/// the drive, and a rerun through a healthy path repairs it.
///
/// Seen failing with every download in flight let finish: the first Ctrl-C waited for the read
/// timeout (the bound below, 20 s, was exceeded).
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_gives_up_a_stalled_body() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let (export, path, damaged) = one_damaged_block(azurite, "faultstop", 10).await;
    let proxy = FaultProxy::start(azurite.port(), one_stall(Duration::from_secs(600)));
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("export-repair"));
    command
        .env_remove("AZURE_STORAGE_SAS")
        .env("AZURE_STORAGE_KEY", KEY)
        .args(export.args(&proxy.endpoint(), 1))
        .args(["--read-timeout", "120"]);
    let mut run = support::runs::Watched::start(&mut command);
    let waiting = Instant::now();
    while !proxy.injected_by_kind().contains_key(&Fault::Stall) {
        assert!(
            waiting.elapsed() < Duration::from_secs(30) && run.running(),
            "no body stalled: {}",
            run.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    run.interrupt();
    let interrupted = Instant::now();
    let ended = run.end();
    let took = interrupted.elapsed();
    assert_eq!(ended.status.code(), Some(4), "{}", ended.stderr);
    assert!(
        took < Duration::from_secs(20),
        "the stop waited {took:?} for the stalled body"
    );
    assert!(
        ended.stderr.contains("left for the rerun"),
        "{}",
        ended.stderr
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        damaged,
        "nothing written from the download given up"
    );
    let rerun = export.run(&azurite.endpoint(), 1);
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rerun.stdout)
    );
    export.assert_drive_matches_blobs();
}

/// Everything but stalls, at random, over three seeds (the three repairs run side by side).
#[tokio::test(flavor = "multi_thread")]
async fn survives_a_mixed_seeded_storm() {
    let kinds = [
        Fault::Status500,
        Fault::Busy503,
        Fault::DropMidBody,
        Fault::Truncate,
    ];
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let mut storms = Vec::new();
    for seed in [101u64, 202, 303] {
        let export = damaged_export(azurite, &format!("storm{seed}")).await;
        let proxy = FaultProxy::start(azurite.port(), within_budget(seed, 30, &kinds));
        storms.push((seed, export, proxy));
    }
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let runs: Vec<_> = storms
            .iter()
            .map(|(seed, export, proxy)| {
                scope.spawn(move || export.run(&proxy.endpoint(), 1 + (*seed as usize % 4)))
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    let mut injected = 0;
    for ((seed, export, proxy), output) in storms.iter().zip(&outputs) {
        check_survived(&format!("storm seed {seed}"), export, proxy, output);
        injected += proxy.injected();
    }
    assert!(injected >= 10, "the storm injected only {injected} faults");
}

/// Faults beyond the retry budget: every request for one blob fails. The blob's components
/// fail, each with a reason that says what happened, nothing of it is written, the rest of the
/// drive is repaired, and the run ends with exit 4, as the storage could not be reached for
/// them: a healthy rerun finishes the job.
#[tokio::test(flavor = "multi_thread")]
async fn a_blob_that_never_answers_fails_cleanly() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let export = damaged_export(azurite, "faultdead").await;
    let mut plan = Plan::new(5, 100, &[Fault::Status500]);
    plan.only_path = Some("/faultdead/many.bin".into());
    let proxy = FaultProxy::start(azurite.port(), plan);
    let output = export.run(&proxy.endpoint(), 8);
    let (stdout, _) = outputs(&output);
    assert_eq!(output.status.code(), Some(4), "{stdout}");
    assert!(
        stdout.contains("the storage could not be reached for"),
        "the headline should say why: {stdout}"
    );
    assert!(
        stdout.contains("storage unavailable after"),
        "the summary should give the reason: {stdout}"
    );
    // Nothing of many.bin changed; everything else is repaired.
    let many = &export.sample.blobs[0];
    assert_eq!(
        std::fs::read(export.local(&many.file_path)).ok(),
        export.before[&many.file_path],
        "bytes of a blob that never answered were written"
    );
    for blob in &export.sample.blobs[1..] {
        assert!(std::fs::read(export.local(&blob.file_path)).unwrap() == blob.content);
    }
    let budget = format!("after {} attempts", RETRY_BUDGET);
    for (blob, reason) in check_failed_cleanly("never answers", &export, &output) {
        assert_eq!(
            blob, "faultdead/many.bin",
            "only many.bin may fail: {reason}"
        );
        assert!(
            reason.contains("500") && reason.contains(&budget),
            "the reason should say what happened: {reason}"
        );
    }
}

/// The key is rotated mid-run: 403 from the sixth request on. Exit 3 with the reason, the
/// drive consistent (no wrong byte), and a rerun through a healthy path completes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_rotated_mid_run_is_exit_3_and_a_healthy_rerun_completes() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let export = damaged_export(azurite, "faultrotate").await;
    let mut plan = Plan::new(17, 0, &[]);
    plan.forbid_after = Some(5);
    let proxy = FaultProxy::start(azurite.port(), plan);
    let output = export.run(&proxy.endpoint(), 2);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stderr.contains("refused the credentials"), "{stderr}");
    export.assert_no_wrong_byte();
    let forbidden = proxy.injected_by_kind().get(&Fault::Forbidden).copied();
    println!(
        "key rotated: faults injected: {}, survived: 0 (403 stops the run by design; {} requests)",
        proxy.injected(),
        proxy.requests()
    );
    // A 403 is never retried and stops the run: only the requests already in flight see it.
    assert!(
        forbidden.is_some_and(|n| (1..=4).contains(&n)),
        "403s seen: {forbidden:?}"
    );
    // Components that were repaired before the 403 are not fetched again (some were: the
    // check below is not empty).
    let repaired_before = support::runs::repair_progress(&export.repair_file()).repaired;
    assert!(repaired_before > 0, "nothing was repaired before the 403");
    assert!(
        proxy
            .seen()
            .iter()
            .any(|s| s.fault.is_none() && s.method == "GET" && s.range.is_some()),
        "no range was downloaded before the 403"
    );
    let through_proxy: HashSet<(String, Option<String>)> = proxy
        .seen()
        .iter()
        .filter(|s| s.fault.is_none())
        .map(|s| (s.path.clone(), s.range.clone()))
        .collect();
    let healthy = FaultProxy::start(azurite.port(), Plan::new(0, 0, &[]));
    let rerun = export.run(&healthy.endpoint(), 2);
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rerun.stdout)
    );
    export.assert_drive_matches_blobs();
    let refetched: Vec<_> = healthy
        .seen()
        .iter()
        .filter(|s| s.method == "GET" && through_proxy.contains(&(s.path.clone(), s.range.clone())))
        .map(|s| (s.path.clone(), s.range.clone()))
        .collect();
    assert!(
        refetched.is_empty(),
        "repaired ranges were fetched again after the rerun: {refetched:?}"
    );
}

/// The record check itself: a fault counts as survived only when the same request (same
/// method, path and range end; a resumed body from a later byte) came back and was answered.
#[test]
fn a_fault_is_recovered_only_by_the_same_request_answered_later() {
    let seen = |path: &str, range: Option<&str>, fault: Option<Fault>, status: u16| Seen {
        method: "GET".into(),
        path: path.into(),
        range: range.map(str::to_owned),
        at: Instant::now(),
        fault,
        status: Some(status),
    };
    let dropped = seen("/a/b", Some("bytes=0-99"), Some(Fault::DropMidBody), 206);
    let refused = seen("/a/c", None, Some(Fault::Status500), 500);
    let record = [
        dropped.clone(),
        refused.clone(),
        // The rest of the dropped range, answered: recovered.
        seen("/a/b", Some("bytes=40-99"), None, 206),
        // Another request for /a/c, and /a/c itself only failing again: not recovered.
        seen("/a/c", Some("bytes=0-9"), None, 206),
        seen("/a/c", None, None, 503),
    ];
    let lost = not_recovered(&record);
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0].path, "/a/c");
    // Asked again but from an earlier byte, or before the fault: not the same request.
    assert_eq!(
        not_recovered(&[
            seen("/a/b", Some("bytes=0-99"), None, 206),
            seen("/a/b", Some("bytes=50-99"), Some(Fault::Truncate), 206),
            seen("/a/b", Some("bytes=10-99"), None, 206),
        ])
        .len(),
        1
    );
}
