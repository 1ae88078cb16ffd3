//! Repairs through a fault-injecting proxy between the tool and Azurite: 500s, 503 with
//! `Retry-After`, connections dropped mid-body, stalled bodies, truncated bodies, a key rotated
//! mid-run, and a mixed seeded storm.
//!
//! Every run must end either with every component right (files byte-identical to their blobs,
//! exit 0) or clearly failed (exit 1, a reason per failed component), and never with a wrong
//! byte on the drive: each component's bytes are the blob's or exactly what was there before.
//! A refused key is exit 3 with the drive consistent, and a rerun through a healthy path
//! completes it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::collections::HashSet;
use std::ffi::OsString;
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use export_repair::demo::{SampleBlob, pseudo_random_bytes};
use export_repair::format::copylog::{LogRange, LogSideFile};
use export_repair::format::status::{BlobStatus, FileStatus, RangeStatus};
use serde_json::Value;
use support::azurite::{self, ACCOUNT, Azurite, KEY};
use support::export::{Export, export, in_container};
use support::fault_proxy::{Fault, FaultProxy, Plan};

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

    /// Blob paths whose every component ended verified, repaired or regenerated.
    fn good_blobs(&self) -> HashSet<String> {
        let report = self.report_json();
        report["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| matches!(f["status"].as_str(), Some("verified" | "repaired")))
            .map(|f| f["blob_path"].as_str().unwrap().to_string())
            .collect()
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

/// The blob path a request path (`/devstoreaccount1/<container>/<name>?…`) is for.
fn blob_of(request_path: &str) -> String {
    let path = request_path.split('?').next().unwrap_or_default();
    let path = path
        .strip_prefix(&format!("/{ACCOUNT}/"))
        .unwrap_or(path)
        .to_string();
    url::form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or(path)
}

/// Checks one run through the proxy (exit 0 right, or exit 1 clearly failed, no wrong byte);
/// after a failure a healthy rerun must complete the drive. Prints the fault counts; returns
/// the exit code of the run through the proxy.
fn check_run(name: &str, export: &Export, proxy: &FaultProxy, output: &Output) -> i32 {
    let code = output.status.code().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        code == 0 || code == 1,
        "{name}: exit {code}, expected 0 (repaired) or 1 (clearly failed)\n{stdout}\n{stderr}"
    );
    export.assert_no_wrong_byte();
    let good = export.good_blobs();
    let survived = proxy
        .seen()
        .iter()
        .filter(|s| s.fault.is_some() && good.contains(&blob_of(&s.path)))
        .count();
    let injected = proxy.injected();
    println!(
        "{name}: faults injected: {injected}, survived: {survived} ({:?}; {} requests; exit {code})",
        proxy.injected_by_kind(),
        proxy.requests()
    );
    if code == 0 {
        assert!(stdout.contains("REPAIRED"), "{stdout}");
        export.assert_drive_matches_blobs();
        assert_eq!(
            survived as u64, injected,
            "{name}: exit 0, so every fault was survived"
        );
    } else {
        let failed = export.failed_components(&stdout);
        assert!(
            !failed.is_empty(),
            "{name}: exit 1 but nothing failed\n{stdout}"
        );
        assert!(stdout.contains("DAMAGED"), "{stdout}");
        let mut reasons: Vec<&str> = failed.iter().map(|(_, r)| r.as_str()).collect();
        reasons.dedup();
        println!(
            "{name}: {} components failed cleanly: {reasons:?}",
            failed.len()
        );
        // A healthy path completes what the faults left.
        let rerun = export.run(&azurite::shared().unwrap().endpoint(), 4);
        assert_eq!(
            rerun.status.code(),
            Some(0),
            "{name}: the healthy rerun: {}",
            String::from_utf8_lossy(&rerun.stdout)
        );
        export.assert_drive_matches_blobs();
    }
    code
}

/// A damaged export in `container`, repaired through a proxy running `plan`.
async fn repair_through(
    name: &str,
    container: &str,
    plan: Plan,
    concurrency: usize,
) -> Option<i32> {
    let azurite = azurite::shared()?;
    let export = damaged_export(azurite, container).await;
    let proxy = FaultProxy::start(azurite.port(), plan);
    let output = export.run(&proxy.endpoint(), concurrency);
    assert!(proxy.injected() > 0, "{name}: no fault was injected");
    Some(check_run(name, &export, &proxy, &output))
}

#[tokio::test(flavor = "multi_thread")]
async fn survives_500s() {
    let plan = Plan::new(500, 30, &[Fault::Status500]);
    repair_through("500s", "fault500", plan, 4).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn survives_503s_and_honours_retry_after() {
    let plan = Plan::new(503, 25, &[Fault::Busy503]);
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let export = damaged_export(azurite, "fault503").await;
    let proxy = FaultProxy::start(azurite.port(), plan);
    let output = export.run(&proxy.endpoint(), 4);
    assert!(proxy.injected() > 0);
    check_run("503s", &export, &proxy, &output);
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
    let plan = Plan::new(7, 40, &[Fault::DropMidBody]);
    repair_through("dropped mid-body", "faultdrop", plan, 4).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn survives_truncated_bodies() {
    let plan = Plan::new(11, 40, &[Fault::Truncate]);
    repair_through("truncated bodies", "faulttrunc", plan, 4).await;
}

/// A body that stops mid-way and stays silent: the tool's read timeout (`--read-timeout`,
/// here 3 s instead of the default 30 s) must fire and the rest be fetched again. One small
/// blob, one stall, which would last far longer than the timeout.
#[tokio::test(flavor = "multi_thread")]
async fn survives_a_stalled_body() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let blob = SampleBlob::block(
        "stalled.bin",
        pseudo_random_bytes(9, 128 * KIB),
        32 * KIB as u64,
    );
    let mut export = export(
        azurite,
        "faultstall",
        in_container("faultstall", vec![blob]),
    )
    .await;
    let path = export.local(&export.sample.blobs[0].file_path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[40 * KIB] ^= 0xFF;
    std::fs::write(&path, bytes).unwrap();
    export.seal();
    let mut plan = Plan::new(13, 100, &[Fault::Stall]);
    plan.max_faults = Some(1);
    plan.stall = Duration::from_secs(40);
    let proxy = FaultProxy::start(azurite.port(), plan);
    let started = Instant::now();
    let output = export.run_with(&proxy.endpoint(), 1, &["--read-timeout", "3"]);
    let took = started.elapsed();
    assert_eq!(proxy.injected_by_kind().get(&Fault::Stall), Some(&1));
    let code = check_run("stalled body", &export, &proxy, &output);
    assert_eq!(code, 0, "a single stall must be survived");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(20),
        "the stall should cost one read timeout (3 s), not {took:?}"
    );
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
        let proxy = FaultProxy::start(azurite.port(), Plan::new(seed, 30, &kinds));
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
        check_run(&format!("storm seed {seed}"), export, proxy, output);
        injected += proxy.injected();
    }
    assert!(injected >= 10, "the storm injected only {injected} faults");
}

/// One blob's every request fails: its components fail with a reason, nothing of it is
/// written, the rest of the drive is repaired, and a healthy rerun finishes the job.
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
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let failed = export.failed_components(&stdout);
    assert!(!failed.is_empty());
    for (blob, reason) in &failed {
        assert_eq!(
            blob, "faultdead/many.bin",
            "only many.bin may fail: {reason}"
        );
        assert!(
            reason.contains("500") && reason.contains("attempts"),
            "the reason should say what happened: {reason}"
        );
    }
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
    check_run("never answers", &export, &proxy, &output);
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
    // Components that were repaired before the 403 are not fetched again.
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

#[test]
fn blob_of_decodes_request_paths() {
    assert_eq!(blob_of("/devstoreaccount1/c/a%20b.bin?x=1"), "c/a b.bin");
    assert_eq!(blob_of("/devstoreaccount1/c/many.bin"), "c/many.bin");
}
