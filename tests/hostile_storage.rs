//! The copy log and the storage are hostile too: ranges that do not line up with the blocks,
//! lengths that are wrong or absurd, a storage that holds other bytes, trickles, stays silent
//! or refuses the credentials. Each against a real Azurite (or a misbehaving endpoint the test
//! runs), with the real binary: exit code, message, bytes on the drive, report.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use export_repair::demo::{SampleBlob, pseudo_random_bytes};
use export_repair::format::copylog::LogRange;
use export_repair::format::status::{BlobStatus, RangeStatus};
use support::azurite::{self, ACCOUNT, Azurite, KEY};
use support::export::{Export, export, in_container};
use support::fault_proxy::{Fault, FaultProxy, Plan};
use support::hostile::{Hostile, Seen, components, peak_rss, read_json, run};

const TIMEOUT: Duration = Duration::from_secs(180);
const KIB: usize = 1024;

/// `repair --headless` of an export from `endpoint` with the account key; with the manifest
/// unless `manifest` is false.
fn repair_args(export: &Export, endpoint: &str, manifest: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["repair".into(), "--headless".into()];
    for (flag, value) in [
        ("--repair-file", export.repair_file().into_os_string()),
        ("--target", export.drive().into()),
        ("--account", ACCOUNT.into()),
        ("--account-key", KEY.into()),
        ("--blob-endpoint", endpoint.into()),
        ("--copy-log", export.copy_log_path().into()),
        ("--log-dir", export.logs().into()),
        ("--report", export.report().into()),
    ] {
        args.push(flag.into());
        args.push(value);
    }
    if manifest {
        args.push("--manifest".into());
        args.push(export.manifest().into());
    }
    args
}

fn repair(export: &Export, manifest: bool) -> Seen {
    repair_from(export, &azurite::shared().unwrap().endpoint(), manifest)
}

/// [`repair`] from `endpoint` (a proxy in front of Azurite).
fn repair_from(export: &Export, endpoint: &str, manifest: bool) -> Seen {
    let mut command = assert_cmd::Command::cargo_bin("export-repair").unwrap();
    command
        .env_remove("AZURE_STORAGE_KEY")
        .env_remove("AZURE_STORAGE_SAS")
        .args(repair_args(export, endpoint, manifest));
    run(command, TIMEOUT)
}

/// A one-blob export whose file has the bytes of `failed` zeroed on the drive, reported by the
/// copy log as one failed range without a hash.
struct FailedRange {
    export: Export,
    blob_path: String,
    content: Vec<u8>,
    damaged: Vec<u8>,
}

/// [`FailedRange`] for a block blob of `blocks` blocks of `block` bytes (`seed` for its
/// content). With `changed_at`, the storage's blob differs at that byte; it is uploaded again
/// after the export, so the copy log gives no `LastModified` (it would refuse every read as
/// "changed since export").
async fn failed_range(
    azurite: &Azurite,
    container: &str,
    (seed, blocks, block): (u64, usize, usize),
    failed: std::ops::Range<usize>,
    changed_at: Option<usize>,
) -> FailedRange {
    let content = pseudo_random_bytes(seed, blocks * block);
    let blob_path = format!("{container}/data.bin");
    let mut export = export(
        azurite,
        container,
        in_container(
            container,
            vec![SampleBlob::block("data.bin", content.clone(), block as u64)],
        ),
    )
    .await;
    let mut damaged = content.clone();
    damaged[failed.clone()].fill(0);
    std::fs::write(export.file(&blob_path), &damaged).unwrap();
    let entry = export.log_entry(&blob_path);
    entry.status = BlobStatus::CompletedWithErrors;
    entry.ranges.push(LogRange {
        offset: failed.start as u64,
        length: failed.len() as u64,
        id: None,
        hash: None,
        status: RangeStatus::Failed,
    });
    if let Some(at) = changed_at {
        let mut other = content.clone();
        other[at] ^= 0x20;
        azurite
            .put_block_blob(container, "data.bin", &other, None, &[])
            .await;
        export.log_entry(&blob_path).last_modified = None;
    }
    export.write_copy_log();
    FailedRange {
        export,
        blob_path,
        content,
        damaged,
    }
}

/// A copy-log range that does not line up with the manifest's blocks (`Offset 0 Length 5000`
/// over 2721-byte blocks) is repaired through the blocks it touches, each checked against the
/// manifest before it is written. With the storage right the file is right (exit 0); with a
/// wrong byte in the storage's second block, the first block is repaired and the second is
/// not written at all: its bytes on the drive stay as they were, the byte past the range too,
/// and the component says nothing was written (exit 1).
///
/// Seen failing with the hash check before writing removed: the wrong byte was written and
/// the run said REPAIRED; and with a range that does not line up kept as a component of its
/// own without a hash (the old model): the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_log_range_across_blocks_writes_only_bytes_that_pass_their_hash() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    for (container, storage_right) in [("misaligned-wrong", false), ("misaligned", true)] {
        // The storage holds another byte in the second block when it is wrong.
        let changed_at = (!storage_right).then_some(3000);
        let FailedRange {
            export,
            blob_path,
            content,
            damaged,
        } = failed_range(azurite, container, (40, 5, 2721), 0..5000, changed_at).await;
        let file = export.file(&blob_path);

        let seen = repair(&export, true);
        let on_drive = std::fs::read(&file).unwrap();
        let report = read_json(&export.report());
        let blocks = components(&report, &export.blob(&blob_path).file_path, "block");
        if storage_right {
            assert_eq!(seen.code, Some(0), "{}", seen.text());
            assert!(on_drive == content, "the file is the blob");
            assert_eq!(blocks[0]["status"], "repaired");
            assert_eq!(blocks[1]["status"], "repaired");
            continue;
        }
        assert_eq!(seen.code, Some(1), "{}", seen.text());
        assert!(
            on_drive[..2721] == content[..2721],
            "the first block is repaired"
        );
        assert!(
            on_drive[2721..] == damaged[2721..],
            "nothing of the second block (nor past it) was written"
        );
        assert_eq!(blocks[0]["status"], "repaired");
        assert_eq!(blocks[1]["status"], "failed", "{}", blocks[1]);
        let reason = blocks[1]["reason"].as_str().unwrap();
        assert!(reason.contains("not the manifest's"), "{reason}");
        assert!(reason.contains("nothing was written"), "{reason}");
    }
}

/// Without a manifest, a failed copy-log range that names no hash (Microsoft's own example of
/// a copy log) is downloaded pinned to the copy log's `LastModified` and written: the file is
/// the blob (exit 0). When the copy log gives no `LastModified` either, nothing checks the
/// storage's bytes and nothing pins them to the exported version: they are not written (the
/// blob here changed since the export, and the range would mix two versions in one file), the
/// range fails saying why (exit 1), and the file stays as it was.
///
/// Seen failing without the check: the changed blob's bytes were written and the run said
/// "REPAIRED: all damage was repaired". (And, with the check made after the download, the
/// range was downloaded before it was refused.)
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_log_range_without_a_hash_is_written_only_when_pinned_to_the_export() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    for (container, pinned) in [("nohash-pinned", true), ("nohash-unpinned", false)] {
        // Unpinned: the blob changed since the export, inside the failed range, and the copy
        // log gives no LastModified.
        let changed_at = (!pinned).then_some(5000);
        let FailedRange {
            export,
            blob_path,
            content,
            damaged,
        } = failed_range(azurite, container, (44, 4, 4096), 4096..8192, changed_at).await;
        let file = export.file(&blob_path);

        // Through a proxy that only counts: what was read from the storage.
        let proxy = FaultProxy::start(azurite.port(), Plan::new(0, 0, &[]));
        let seen = repair_from(&export, &proxy.endpoint(), false);
        let on_drive = std::fs::read(&file).unwrap();
        let report = read_json(&export.report());
        let blocks = components(&report, &export.blob(&blob_path).file_path, "block");
        if pinned {
            assert_eq!(seen.code, Some(0), "{}", seen.text());
            assert!(on_drive == content, "the file is the blob");
            assert_eq!(blocks[0]["status"], "repaired", "{}", blocks[0]);
            continue;
        }
        assert_eq!(seen.code, Some(1), "{}", seen.text());
        assert!(on_drive == damaged, "nothing was written");
        assert!(!seen.text().contains("REPAIRED"), "{}", seen.text());
        assert_eq!(blocks[0]["status"], "failed", "{}", blocks[0]);
        let reason = blocks[0]["reason"].as_str().unwrap();
        assert!(reason.contains("could mix two versions"), "{reason}");
        assert!(reason.contains("--manifest"), "{reason}");
        // Bytes that could not be written were not downloaded either.
        let reads: Vec<_> = proxy
            .seen()
            .into_iter()
            .filter(|request| request.method == "GET" && request.path.contains(&blob_path))
            .collect();
        assert!(reads.is_empty(), "{reads:?}");
    }
}

/// Without a manifest, a failed copy-log range with no hash (pinned to the export by the copy
/// log's `LastModified`) is checked against the MD5 the storage sends for it
/// (`x-ms-range-get-content-md5`): with a bit flipped on the way, nothing is written and the
/// range fails saying so (exit 1); a rerun, its bytes arriving whole, makes the file the blob
/// (exit 0).
///
/// Seen failing without the check: the damaged bytes were written and the run said REPAIRED.
/// A repair of `export` from Azurite through a proxy that flips one bit of the first answer
/// for `blob_path` that starts at or after byte `from`: the run, which is refused (exit 1),
/// and the proxy (for a rerun through it).
fn repair_with_a_bit_flipped(
    azurite: &Azurite,
    export: &Export,
    blob_path: &str,
    from: u64,
) -> (Seen, FaultProxy) {
    let mut plan = Plan::new(7, 100, &[Fault::FlipByte]);
    plan.only_path = Some(blob_path.to_string());
    plan.only_from_byte = Some(from);
    plan.max_faults = Some(1);
    let proxy = FaultProxy::start(azurite.port(), plan);
    let seen = repair_from(export, &proxy.endpoint(), false);
    assert_eq!(proxy.injected(), 1, "{:?}", proxy.seen());
    assert_eq!(seen.code, Some(1), "{}", seen.text());
    (seen, proxy)
}

/// A rerun through `proxy` (no more faults) makes `file` the blob's `content` (exit 0).
fn rerun_makes_the_blob(export: &Export, proxy: &FaultProxy, file: &Path, content: &[u8]) {
    let seen = repair_from(export, &proxy.endpoint(), false);
    assert_eq!(seen.code, Some(0), "{}", seen.text());
    assert!(
        std::fs::read(file).unwrap() == content,
        "the file is the blob"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_log_range_without_a_hash_damaged_on_the_way_is_not_written() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    // A range of 4 KiB, and one of 6 MiB (read in requests of at most 4 MiB, the most the
    // storage hashes) damaged in its second request.
    const MIB: usize = 1 << 20;
    let cases = [
        ("nohash-flipped", (46, 4, 4096), 4096..8192),
        ("nohash-flipped-big", (47, 2, 4 * MIB), MIB..7 * MIB),
    ];
    for (container, layout, failed) in cases {
        flipped_on_the_way(azurite, container, layout, failed).await;
    }
}

async fn flipped_on_the_way(
    azurite: &Azurite,
    container: &str,
    layout: (u64, usize, usize),
    failed: std::ops::Range<usize>,
) {
    let last_request = failed.start + (failed.len() - 1) / (4 << 20) * (4 << 20);
    let FailedRange {
        export,
        blob_path,
        content,
        damaged,
    } = failed_range(azurite, container, layout, failed, None).await;
    let file = export.file(&blob_path);
    let (_, proxy) = repair_with_a_bit_flipped(azurite, &export, &blob_path, last_request as u64);
    assert!(
        std::fs::read(&file).unwrap() == damaged,
        "nothing was written"
    );
    let report = read_json(&export.report());
    let blocks = components(&report, &export.blob(&blob_path).file_path, "block");
    assert_eq!(blocks[0]["status"], "failed", "{}", blocks[0]);
    let reason = blocks[0]["reason"].as_str().unwrap();
    assert!(reason.contains("damaged on the way"), "{reason}");

    rerun_makes_the_blob(&export, &proxy, &file, &content);
    // Its verdict says what vouched for its bytes.
    let report = read_json(&export.report());
    let blocks = components(&report, &export.blob(&blob_path).file_path, "block");
    assert_eq!(blocks[0]["status"], "repaired", "{}", blocks[0]);
    let reason = blocks[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("checked against the MD5 the storage sent with it"),
        "{reason}"
    );
}

/// Without a manifest, a copy-log `FileNotFound` of a blob with no Content-MD5 (a page blob)
/// is downloaded whole in requests each checked against the MD5 the storage sends with it: a
/// bit flipped on the way leaves the file uncreated and says so (exit 1); a rerun makes the
/// file the blob and says what checked it (exit 0).
///
/// Seen failing without the check: the damaged bytes were written, "no Content-MD5 to check
/// it against", exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_whole_file_without_a_content_md5_damaged_on_the_way_is_not_written() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let container = "whole-flipped";
    let blob = SampleBlob::page("disk.vhd", 6 << 20, &[(0, 6 << 20)], 48);
    let mut export = export(azurite, container, in_container(container, vec![blob])).await;
    let blob_path = format!("{container}/disk.vhd");
    let content = export.blob(&blob_path).content.clone();
    export.lose_file(&blob_path);
    export.write_copy_log();
    let file = export.file(&blob_path);
    let (seen, proxy) = repair_with_a_bit_flipped(azurite, &export, &blob_path, 4 << 20);
    assert!(!file.exists(), "nothing was written");
    assert!(
        seen.text().contains("damaged on the way"),
        "{}",
        seen.text()
    );

    rerun_makes_the_blob(&export, &proxy, &file, &content);
    let report = read_json(&export.report());
    let whole = components(&report, &export.blob(&blob_path).file_path, "file");
    let reason = whole[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("each piece checked against the MD5 the storage sent with it"),
        "{reason}"
    );
}

/// Without a manifest, a file cut short before a range the copy log says failed gets its
/// missing end downloaded in requests each checked against the storage's MD5 of it (the bytes
/// outside the range have no hash): a bit flipped on the way is not written (exit 1); a rerun
/// completes the file (exit 0).
///
/// Seen failing without the check: the damaged bytes were written and the run said REPAIRED.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_end_damaged_on_the_way_is_not_written() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let container = "end-flipped";
    let blob = SampleBlob::block("cut.bin", pseudo_random_bytes(49, 3 << 20), 1 << 20);
    let mut export = export(azurite, container, in_container(container, vec![blob])).await;
    let blob_path = format!("{container}/cut.bin");
    let content = export.blob(&blob_path).content.clone();
    let file = export.file(&blob_path);
    std::fs::write(&file, &content[..1 << 20]).unwrap();
    let entry = export.log_entry(&blob_path);
    entry.status = BlobStatus::CompletedWithErrors;
    entry.ranges.push(LogRange {
        offset: 2 << 20,
        length: 64 << 10,
        id: None,
        hash: None,
        status: RangeStatus::Failed,
    });
    export.write_copy_log();
    let (seen, proxy) = repair_with_a_bit_flipped(azurite, &export, &blob_path, 1 << 20);
    assert!(
        std::fs::read(&file).unwrap() == content[..1 << 20],
        "nothing was written"
    );
    assert!(
        seen.text().contains("damaged on the way"),
        "{}",
        seen.text()
    );

    rerun_makes_the_blob(&export, &proxy, &file, &content);
}

/// Without a manifest, a copy-log `FileNotFound` is downloaded whole; its length comes from
/// the storage, never from the copy log's `Length` (absent, or 5 for a 300 KiB blob). Both
/// files are the blobs byte for byte (exit 0), the report's lengths and totals are the
/// storage's, and its reasons say what the copy log claimed; for the one without a
/// `LastModified`, that nothing pins it to the exported version.
///
/// Seen failing with the length taken from the copy log: exit 1 ("the downloaded bytes hash
/// to …, not the blob's Content-MD5"), neither file written. (Before the storage was asked at
/// all, the files were written 0 and 5 bytes long and reported repaired.)
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_log_only_file_takes_its_length_from_the_storage_not_the_copy_log() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let container = "notfound";
    let blobs = vec![
        SampleBlob::block(
            "absent.bin",
            pseudo_random_bytes(41, 300 * KIB),
            64 * KIB as u64,
        ),
        SampleBlob::block(
            "five.bin",
            pseudo_random_bytes(42, 300 * KIB),
            64 * KIB as u64,
        ),
    ];
    let mut export = export(azurite, container, in_container(container, blobs)).await;
    for (name, length) in [("absent.bin", None), ("five.bin", Some(5))] {
        let blob_path = format!("{container}/{name}");
        let entry = export.lose_file(&blob_path);
        entry.length = length;
        if length.is_none() {
            // Nothing pins this one to the exported version: its verdict says so.
            entry.last_modified = None;
        }
    }
    export.write_copy_log();

    let seen = repair(&export, false);
    assert_eq!(seen.code, Some(0), "{}", seen.text());
    for blob in &export.sample.blobs {
        assert!(
            std::fs::read(export.file(&blob.blob_path)).unwrap() == blob.content,
            "{} is its blob, byte for byte",
            blob.blob_path
        );
    }
    let report = read_json(&export.report());
    // The report's lengths are the files' (the storage's), not what the copy log claimed.
    for file in report["files"].as_array().unwrap() {
        assert_eq!(file["length"], 300 * KIB as u64, "{file}");
        assert_eq!(file["components"][0]["length"], 300 * KIB as u64, "{file}");
    }
    assert_eq!(report["totals"]["bytes"], 2 * 300 * KIB as u64);
    let five = components(&report, r"\notfound\five.bin", "file");
    assert_eq!(five[0]["status"], "repaired");
    let reason = five[0]["reason"].as_str().unwrap();
    assert!(reason.contains("the copy log said 5 bytes"), "{reason}");
    assert!(!reason.contains("current version"), "{reason}");
    let absent = components(&report, r"\notfound\absent.bin", "file");
    let reason = absent[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("no usable LastModified: this is the blob's current version"),
        "{reason}"
    );
}

/// Without a manifest, a file the copy log describes by ranges has a length too: the copy log's
/// `Length`, the storage's once asked. Its bytes no range lists come from the drive or, pinned
/// to the export like the ranges, from the storage; never zeros nobody vouched for. A file cut
/// short (before or inside the failed range), one with bytes past the end, one gone: each
/// ends as the blob byte for byte (exit 0). Unpinned (no `LastModified`), the length is not
/// changed and the run says why (exit 1; the range, pinned, is still repaired). With a copy
/// log `Length` the storage contradicts, nothing is written, the range neither (they are not
/// one version), whether or not the drive's file has the claimed length (exit 1).
///
/// Seen failing without the length check: the short files were grown with zeros to the copy
/// log's `Length` (8 KiB of data, then zeros) and the long one kept its extra bytes, each run
/// saying "REPAIRED: all damage was repaired". And with a range past the file's end read on
/// its own before the missing end: the same bytes downloaded twice. And with the drive's file
/// as long as the lying `Length`: the range written from the other version, exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_only_copy_log_ranges_describe_ends_as_the_blob_never_padded() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    struct Case {
        container: &'static str,
        failed: std::ops::Range<usize>,
        /// The drive file's bytes from the damaged ones (`None`: the file is gone).
        drive: fn(&[u8]) -> Option<Vec<u8>>,
        claimed_length: Option<u64>,
        pinned: bool,
    }
    let cases = [
        Case {
            container: "ranged-short",
            failed: 4096..8192,
            drive: |damaged| Some(damaged[..6000].to_vec()),
            claimed_length: None,
            pinned: true,
        },
        Case {
            container: "ranged-hole",
            failed: 12288..16384,
            drive: |damaged| Some(damaged[..2000].to_vec()),
            claimed_length: None,
            pinned: true,
        },
        Case {
            container: "ranged-long",
            failed: 4096..8192,
            drive: |damaged| Some([damaged, &[7u8; 100][..]].concat()),
            claimed_length: None,
            pinned: true,
        },
        Case {
            container: "ranged-gone",
            failed: 4096..8192,
            drive: |_| None,
            claimed_length: None,
            pinned: true,
        },
        Case {
            container: "ranged-lying",
            failed: 4096..8192,
            drive: |damaged| Some(damaged.to_vec()),
            claimed_length: Some(20000),
            pinned: true,
        },
        Case {
            container: "ranged-lying-long-enough",
            failed: 4096..8192,
            drive: |damaged| Some([damaged, &[0u8; 20000 - 16384][..]].concat()),
            claimed_length: Some(20000),
            pinned: true,
        },
        Case {
            container: "ranged-hole-lying",
            failed: 12288..16384,
            drive: |damaged| Some(damaged[..2000].to_vec()),
            claimed_length: Some(20000),
            pinned: true,
        },
        Case {
            container: "ranged-unpinned",
            failed: 4096..8192,
            drive: |damaged| Some(damaged[..6000].to_vec()),
            claimed_length: None,
            pinned: false,
        },
    ];
    for case in cases {
        let FailedRange {
            mut export,
            blob_path,
            content,
            damaged,
        } = failed_range(azurite, case.container, (45, 4, 4096), case.failed, None).await;
        let file = export.file(&blob_path);
        let before = (case.drive)(&damaged);
        match &before {
            Some(bytes) => std::fs::write(&file, bytes).unwrap(),
            None => std::fs::remove_file(&file).unwrap(),
        }
        let entry = export.log_entry(&blob_path);
        if let Some(length) = case.claimed_length {
            entry.length = Some(length);
        }
        if !case.pinned {
            entry.last_modified = None;
        }
        export.write_copy_log();
        let name = case.container;
        // Through a proxy that only counts: what was read from the storage.
        let proxy = FaultProxy::start(azurite.port(), Plan::new(0, 0, &[]));
        let seen = repair_from(&export, &proxy.endpoint(), false);
        let report = read_json(&export.report());
        if name == "ranged-hole" {
            // The range past the file's end comes with the missing end, read once.
            let reads: Vec<_> = proxy
                .seen()
                .into_iter()
                .filter(|request| request.method == "GET" && request.path.contains(&blob_path))
                .map(|request| request.range)
                .collect();
            assert_eq!(reads.len(), 1, "{name}: {reads:?}");
        }
        let length = components(&report, &export.blob(&blob_path).file_path, "file");
        assert_eq!(length.len(), 1, "{name}: {report}");
        if name.starts_with("ranged-lying") {
            assert_eq!(seen.code, Some(1), "{name}: {}", seen.text());
            assert!(!seen.text().contains("REPAIRED"), "{name}: {}", seen.text());
            assert!(
                std::fs::read(&file).unwrap() == before.unwrap(),
                "{name}: nothing was written"
            );
            let range = components(&report, &export.blob(&blob_path).file_path, "block");
            let judged = [&length[0], &range[0]];
            let judged = if name == "ranged-lying" {
                &judged[..]
            } else {
                &judged[1..]
            };
            for component in judged {
                assert_eq!(component["status"], "failed", "{name}: {component}");
                let reason = component["reason"].as_str().unwrap();
                assert!(
                    reason.contains(
                        "the storage's blob is 16384 bytes, but the copy log's Length is 20000"
                    ),
                    "{name}: {reason}"
                );
            }
            continue;
        }
        if name == "ranged-hole-lying" {
            // The range past the file's end waited for a missing end that was not downloaded:
            // it fails saying so (not left unchecked, not written).
            assert_eq!(seen.code, Some(1), "{name}: {}", seen.text());
            assert_eq!(report["outcome"], "damaged", "{name}: {report}");
            assert!(
                std::fs::read(&file).unwrap() == before.unwrap(),
                "{name}: nothing was written"
            );
            let file_path = &export.blob(&blob_path).file_path;
            let range = components(&report, file_path, "block");
            assert_eq!(range.len(), 1, "{name}: {report}");
            assert_eq!(range[0]["status"], "failed", "{name}: {}", range[0]);
            let reason = range[0]["reason"].as_str().unwrap();
            assert!(
                reason.contains("missing end, which was not downloaded: the storage's blob is"),
                "{name}: {reason}"
            );
            continue;
        }
        if !case.pinned {
            assert_eq!(seen.code, Some(1), "{name}: {}", seen.text());
            assert!(!seen.text().contains("REPAIRED"), "{name}: {}", seen.text());
            assert!(
                std::fs::read(&file).unwrap() == before.unwrap(),
                "{name}: nothing was written"
            );
            assert_eq!(length[0]["status"], "failed", "{name}: {}", length[0]);
            let reason = length[0]["reason"].as_str().unwrap();
            assert!(reason.contains("LastModified"), "{name}: {reason}");
            continue;
        }
        assert_eq!(seen.code, Some(0), "{name}: {}", seen.text());
        // Nothing said failed on the way to that: a range past the file's end waits for the
        // missing end that brings it, it does not fail first.
        let log: String = std::fs::read_dir(export.logs())
            .unwrap()
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
            .collect();
        let failed: Vec<&str> = log
            .lines()
            .filter(|line| line.contains(r#""event":"component""#))
            .filter(|line| line.contains(r#""status":"failed""#))
            .collect();
        assert!(failed.is_empty(), "{name}: {failed:#?}");
        let on_drive = std::fs::read(&file).unwrap();
        assert_eq!(on_drive.len(), content.len(), "{name}: the blob's length");
        assert!(
            on_drive == content,
            "{name}: the file is the blob, byte for byte"
        );
        assert_eq!(report["outcome"], "repaired", "{name}: {report}");
        assert_eq!(report["files"][0]["length"], content.len(), "{name}");
        let status = length[0]["status"].as_str().unwrap();
        assert!(
            ["repaired", "verified"].contains(&status),
            "{name}: {}",
            length[0]
        );
    }
}

/// An export of one 100 KiB blob in `container` whose file the copy log reports missing
/// (`FileNotFound`), claiming a `Length` of 10^18 bytes; and the blob's path.
async fn claimed_quintillion(azurite: &Azurite, container: &str) -> (Export, String) {
    let blobs = vec![SampleBlob::block(
        "claim.bin",
        pseudo_random_bytes(43, 100 * KIB),
        64 * KIB as u64,
    )];
    let mut export = export(azurite, container, in_container(container, blobs)).await;
    let blob_path = format!("{container}/claim.bin");
    export.lose_file(&blob_path).length = Some(1_000_000_000_000_000_000);
    export.write_copy_log();
    (export, blob_path)
}

/// A copy log claiming a `Length` of 10^18 bytes for a missing file: no abort (it once asked
/// for 1.9 TB up front), the file is the blob (exit 0) and the run stays within 256 MiB.
///
/// Seen failing with the length taken from the copy log: exit 1 ("cannot write … File too
/// large", the temporary could not be made that long), nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_log_length_of_a_quintillion_bytes_neither_aborts_nor_fills_memory() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let (export, blob_path) = claimed_quintillion(azurite, "quintillion").await;

    let Some((seen, kib)) = peak_rss(&repair_args(&export, &azurite.endpoint(), false), TIMEOUT)
    else {
        return;
    };
    assert_eq!(seen.code, Some(0), "{}", seen.text());
    assert!(kib < 256 * 1024, "the run took {kib} KiB of memory");
    let content = &export.blob(&blob_path).content;
    assert!(std::fs::read(export.file(&blob_path)).unwrap() == *content);
    // What was moved is what the storage holds, not what the copy log claimed.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.report()).unwrap()).unwrap();
    let throughput = &report["throughput"];
    assert_eq!(throughput["bytes"], content.len() as u64, "{throughput}");
    let active = throughput["active_seconds"]
        .as_f64()
        .expect("active seconds");
    let rate = throughput["bytes_per_second"].as_u64().expect("a rate");
    assert!(
        active > 0.0 && rate == (content.len() as f64 / active) as u64,
        "the rate is the blob's bytes over the time worked: {throughput}"
    );
    // Once the storage has answered, every length and total the run shows is the storage's
    // too (only the plan, made before, can take the copy log's word): the progress and the
    // summary, the report's file, component and totals.
    let length = content.len() as u64;
    let text = seen.text();
    assert!(
        text.contains("1 components (100.0 KiB): 1 repaired"),
        "{text}"
    );
    let last_progress = text.lines().rfind(|l| l.starts_with("download:")).unwrap();
    assert!(
        last_progress.starts_with("download: 100.0 KiB of 100.0 KiB (100%)"),
        "{text}"
    );
    let file = &report["files"][0];
    assert_eq!(file["length"], length, "{file}");
    assert_eq!(file["components"][0]["length"], length, "{file}");
    assert_eq!(report["totals"]["bytes"], length, "{report}");
    assert_eq!(report["totals"]["by_status"]["repaired"]["bytes"], length);
    // A report made later from the repair file says the same.
    let later = export.report().with_file_name("later.json");
    let mut command = assert_cmd::Command::cargo_bin("export-repair").unwrap();
    command
        .arg("report")
        .arg("--repair-file")
        .arg(export.repair_file())
        .arg("-o")
        .arg(&later);
    let made = run(command, TIMEOUT);
    assert_eq!(made.code, Some(0), "{}", made.text());
    let later = read_json(&later);
    assert_eq!(later["files"][0]["length"], length, "{later}");
    assert_eq!(later["totals"], report["totals"]);
}

/// The same lying `Length` in a run kept open (the console's): the file is downloaded, then
/// retried. Once the storage told the length, the retry plans with it: the download's progress
/// ends complete, never at 102,400 of 10^18 bytes.
///
/// Seen failing with the plan taken from the copy log: the retry's download total was
/// 1000000000000102400 bytes, its progress stuck near 0 %.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_plans_with_the_storage_s_length_not_the_copy_log_s() {
    use export_repair::engine::{Command, Event};
    use export_repair::model::ComponentId;

    let Some(azurite) = azurite::shared() else {
        return;
    };
    let (export, blob_path) = claimed_quintillion(azurite, "retrylength").await;
    let content = export.blob(&blob_path).content.clone();
    let (_, mut handle) = export.start_kept_open(false, Arc::new(azurite.key_source()));
    let file = ComponentId {
        blob: 0,
        component: 0,
    };
    let mut idles = 0;
    let mut last_progress = None;
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(event) = handle.events.recv().await {
            match event {
                Event::Progress(progress) => last_progress = Some(progress),
                Event::Idle { .. } => {
                    idles += 1;
                    handle.send(if idles == 1 {
                        Command::Retry(vec![file])
                    } else {
                        Command::Finish
                    });
                }
                Event::RunFinished { .. } => return,
                _ => {}
            }
        }
        panic!("the event stream ended without RunFinished");
    })
    .await
    .expect("the run kept open finished in time");
    let download = last_progress.unwrap().download;
    assert_eq!(download.components_done, 2, "{download:?}");
    assert_eq!(
        download.bytes_done,
        2 * content.len() as u64,
        "{download:?}"
    );
    assert_eq!(download.bytes_total, download.bytes_done, "{download:?}");
    assert!(std::fs::read(export.file(&blob_path)).unwrap() == content);
}

/// How a [`Misbehaving`] endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Misbehaviour {
    /// Accepts, reads the request, never answers.
    Silent,
    /// Answers with the right head, then one byte of the body every half second.
    Trickle,
}

/// A storage endpoint that misbehaves on every request, until dropped.
struct Misbehaving {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Drop for Misbehaving {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Misbehaving {
    fn start(how: Misbehaviour, content: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let content = Arc::new(content);
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (stop, content) = (Arc::clone(&stopped), Arc::clone(&content));
                std::thread::spawn(move || misbehave(stream, how, &content, &stop));
            }
        });
        Self { port, stop }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }
}

/// Serves one connection the misbehaving way, until the client leaves or the test ends.
fn misbehave(stream: TcpStream, how: Misbehaviour, content: &[u8], stop: &AtomicBool) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = value.trim().strip_prefix("bytes=").and_then(|r| {
                let (first, last) = r.split_once('-')?;
                Some((first.parse::<usize>().ok()?, last.parse::<usize>().ok()?))
            });
        }
    }
    let mut stream = stream;
    let (first, last) = range.unwrap_or((0, content.len() - 1));
    if how == Misbehaviour::Trickle {
        let head = format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nETag: \"E1\"\r\n\
             Last-Modified: Tue, 18 Sep 2012 23:47:08 GMT\r\nx-ms-blob-type: BlockBlob\r\n\
             Content-Range: bytes {first}-{last}/{}\r\n\r\n",
            last - first + 1,
            content.len()
        );
        if stream.write_all(head.as_bytes()).is_err() {
            return;
        }
    }
    for at in first..=last {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if how == Misbehaviour::Trickle
            && stream
                .write_all(&content[at..=at])
                .and_then(|()| stream.flush())
                .is_err()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A storage that accepts and never answers, and one that sends a byte every half second,
/// with `--read-timeout 2`: each repair gives up within a few multiples of the timeout (six
/// attempts of 2 s and their backoff, not 6 × 30 s), exit 4 (the storage could not be
/// reached: a rerun resumes), and the reason names the 2 s.
///
/// Seen failing with the timeout not applied to the first byte (the silent server took
/// 6 × 30 s, "no response within 30 s"), and with a trickling body counted as progress that
/// renews the retry budget (the trickle went on for 48 attempts, over 100 s).
#[test]
fn a_silent_or_trickling_storage_fails_within_a_few_read_timeouts_naming_it() {
    let mut problems = Vec::new();
    for how in [Misbehaviour::Silent, Misbehaviour::Trickle] {
        let content = pseudo_random_bytes(44, 8 * KIB);
        let hostile = Hostile::new(
            "SLOW0001",
            vec![SampleBlob::block(
                "slow/data.bin",
                content.clone(),
                4 * KIB as u64,
            )],
        );
        let mut damaged = content.clone();
        damaged[5000] ^= 1;
        std::fs::write(hostile.file("slow/data.bin"), &damaged).unwrap();
        let server = Misbehaving::start(how, content);
        let mut command = assert_cmd::Command::cargo_bin("export-repair").unwrap();
        command
            .env_remove("AZURE_STORAGE_KEY")
            .args(["repair", "--headless"]);
        for (flag, value) in [
            ("--repair-file", hostile.repair_file().into_os_string()),
            ("--target", hostile.drive().into()),
            ("--manifest", hostile.manifest().into()),
            ("--account", ACCOUNT.into()),
            ("--account-key", KEY.into()),
            ("--blob-endpoint", server.endpoint().into()),
            ("--read-timeout", "2".into()),
            ("--log-dir", hostile.logs().into()),
            ("--report", hostile.report().into()),
        ] {
            command.arg(flag).arg(value);
        }
        let started = Instant::now();
        let seen = run(command, TIMEOUT);
        let took = started.elapsed();
        drop(server);
        let report = std::fs::read(hostile.report()).unwrap_or_default();
        let reason = serde_json::from_slice::<serde_json::Value>(&report)
            .map(|report| {
                components(&report, r"\slow\data.bin", "block")[1]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_else(|_| "(no report)".into());
        println!("{how:?}: exit {:?} after {took:?}: {reason}", seen.code);
        if seen.code != Some(4) {
            problems.push(format!("{how:?}: {}", seen.text()));
        }
        if took > Duration::from_secs(40) {
            problems.push(format!(
                "{how:?}: took {took:?} to give up with --read-timeout 2"
            ));
        }
        if !reason.contains(" 2 s") {
            problems.push(format!(
                "{how:?}: the reason does not name the 2 s: {reason}"
            ));
        }
        if std::fs::read(hostile.file("slow/data.bin")).unwrap() != damaged {
            problems.push(format!("{how:?}: the file changed"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What a repair file records now: components verified, and the states of the components of
/// one file (read from a copy, as [`support::runs::repair_progress`] does).
fn recorded(repair_file: &Path, file_path: &str) -> (u64, Vec<(i64, String, Option<String>)>) {
    let copy = tempfile::tempdir().unwrap();
    let rep = copy.path().join("copy.rep");
    if std::fs::copy(repair_file, &rep).is_err() {
        return (0, Vec::new());
    }
    let db = rusqlite::Connection::open(&rep).unwrap();
    let count = |sql: &str| {
        db.query_row(sql, [], |row| row.get::<_, i64>(0))
            .unwrap_or_else(|error| panic!("{sql}: {error}")) as u64
    };
    // Before the drive is recorded there is nothing to read; past that a failed query is a
    // failed test.
    if count("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'component'") == 0
    {
        return (0, Vec::new());
    }
    let verified =
        count("SELECT count(*) FROM component WHERE state = 'done' AND status = 'verified'");
    let states = db
        .prepare(
            "SELECT offset, state, status FROM component WHERE file_path = ?1 AND kind = 'block'",
        )
        .and_then(|mut statement| {
            statement
                .query_map([file_path], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect()
        })
        .unwrap();
    (verified, states)
}

/// A 403 in the copy-log pass (a SAS without read permission) in the console: the download
/// waits for new credentials, and meanwhile the verification of everything else goes on to
/// its end, as the console promises (the repair file records every other component verified
/// while the refused one is still not done). With the account key typed in, the run repairs
/// both the copy log's block and the corruption verification found (exit 0).
///
/// Seen failing with the manifest pass started only after the copy-log pass: nothing was
/// verified while the download waited, and the test gave up after a minute.
#[tokio::test(flavor = "multi_thread")]
async fn a_403_in_the_copy_log_pass_lets_the_verification_of_everything_else_go_on() {
    if !support::tmux::tmux_present() {
        return;
    }
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let container = "forbidden";
    let blobs = vec![
        SampleBlob::block("a.bin", pseudo_random_bytes(45, 256 * KIB), 64 * KIB as u64),
        SampleBlob::block(
            "b.bin",
            pseudo_random_bytes(46, 1024 * KIB),
            64 * KIB as u64,
        ),
        SampleBlob::block(
            "silent.bin",
            pseudo_random_bytes(47, 256 * KIB),
            64 * KIB as u64,
        ),
    ];
    let mut export = export(azurite, container, in_container(container, blobs)).await;
    let a = format!("{container}/a.bin");
    let path = export.file(&a);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[64 * KIB..128 * KIB].fill(0);
    std::fs::write(&path, bytes).unwrap();
    let entry = export.log_entry(&a);
    entry.status = BlobStatus::CompletedWithErrors;
    entry.ranges.push(LogRange {
        offset: 64 * KIB as u64,
        length: 64 * KIB as u64,
        id: None,
        hash: None,
        status: RangeStatus::Failed,
    });
    export.write_copy_log();
    let silent = export.file(&format!("{container}/silent.bin"));
    let mut bytes = std::fs::read(&silent).unwrap();
    bytes[130 * KIB] ^= 0x10;
    std::fs::write(&silent, bytes).unwrap();
    // Every component but a's failed block and silent's corrupt one: blocks and lengths.
    let others = (4 + 1 - 1) + (16 + 1) + (4 + 1 - 1);

    let list_only = azurite::container_sas(container, "l");
    let binary = assert_cmd::cargo::cargo_bin("export-repair");
    let done = export.dir.path().join("exit-code");
    let name = format!("er-403-{}", std::process::id());
    let command = format!(
        "cd '{dir}' && AZURE_STORAGE_SAS='{list_only}' NO_COLOR=1 '{bin}' repair --repair-file \\
         '{rep}' --target '{drive}' --account {ACCOUNT} --blob-endpoint '{endpoint}' \\
         --copy-log '{log}' --manifest '{manifest}' --log-dir '{logs}' --report '{report}'; \\
         echo $? > '{done}'; sleep 60",
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
    let session = support::tmux::start(&name, &command);
    let a_file = export.blob(&a).file_path.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (verified, states) = recorded(&export.repair_file(), &a_file);
        let refused_block_done = states
            .iter()
            .any(|(offset, state, _)| *offset == 64 * KIB as i64 && state == "done");
        assert!(
            !refused_block_done,
            "the refused block was settled without credentials: {states:?}"
        );
        if verified >= others {
            assert_eq!(verified, others);
            // The file's other three blocks are among them: its rows were read.
            let done = states
                .iter()
                .filter(|(_, state, _)| state == "done")
                .count();
            assert_eq!(done, 3, "{states:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "while the download waits for credentials, {verified} of {others} other components \
             were verified:\n{}",
            support::tmux::screen(&name)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!done.exists(), "the run is still waiting for credentials");
    let log: String = std::fs::read_dir(export.logs())
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    assert!(log.contains("403"), "the storage refused the SAS: {log}");
    support::tmux::tmux(&["send-keys", "-t", &name, "-l", KEY]);
    support::tmux::keys(&name, &["Enter"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let repaired = support::runs::repair_progress(&export.repair_file()).repaired;
        if repaired >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{repaired} repaired after the key was given:\n{}",
            support::tmux::screen(&name)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A `q` before the run is done would ask "Quit anyway?" instead.
    support::tmux::wait_for(&name, "done: all damage repaired");
    support::tmux::keys(&name, &["q"]);
    assert_eq!(
        support::tmux::exit_code(&done),
        "0",
        "{}",
        support::tmux::screen(&name)
    );
    export.assert_drive_matches_blobs();
    drop(session);
}

/// A block whose bytes arrive damaged (a bit flipped on the way) does not hash to the
/// manifest's, though the read was pinned to the exported version: it alone is read once
/// more (the other block of the range is kept) and written when it then does (exit 0).
/// Damaged on the way twice, it fails saying what may be wrong, not that the blob changed.
///
/// Seen failing: "the storage's bytes hash to …: the blob probably changed since export",
/// exit 1, with no second read, though a rerun then repaired it.
#[tokio::test(flavor = "multi_thread")]
async fn a_block_damaged_on_the_way_is_read_once_more() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    for (container, faults) in [("flipped-once", 1), ("flipped-twice", 2)] {
        let FailedRange {
            export,
            blob_path,
            content,
            damaged,
        } = failed_range(azurite, container, (48, 4, 4096), 4096..12288, None).await;
        let mut plan = Plan::new(7, 100, &[Fault::FlipByte]);
        plan.only_path = Some(blob_path.clone());
        plan.max_faults = Some(faults);
        let proxy = FaultProxy::start(azurite.port(), plan);
        let seen = repair_from(&export, &proxy.endpoint(), true);
        assert_eq!(proxy.injected(), faults, "{:?}", proxy.seen());
        let on_drive = std::fs::read(export.file(&blob_path)).unwrap();
        if faults == 1 {
            assert_eq!(seen.code, Some(0), "{}", seen.text());
            assert!(on_drive == content, "the file is the blob");
            let reads: Vec<Option<String>> = (proxy.seen().into_iter())
                .filter(|request| request.method == "GET" && request.path.contains(&blob_path))
                .map(|request| request.range)
                .collect();
            assert_eq!(reads.len(), 2, "the range, then one block of it: {reads:?}");
            let again = reads[1].clone().unwrap_or_default();
            assert!(
                again.ends_with("4096-8191") || again.ends_with("8192-12287"),
                "{reads:?}"
            );
            continue;
        }
        assert_eq!(seen.code, Some(1), "{}", seen.text());
        // The block damaged twice is not written; the other block of the range is.
        let mut right = 0;
        for ((now, blob), before) in
            (on_drive.chunks(4096).zip(content.chunks(4096))).zip(damaged.chunks(4096))
        {
            assert!(now == blob || now == before, "a block of neither");
            right += usize::from(now == blob);
        }
        assert_eq!(
            right, 3,
            "one block of the range repaired, one left as it was"
        );
        let report = read_json(&export.report());
        let blocks = components(&report, &export.blob(&blob_path).file_path, "block");
        let failed: Vec<&serde_json::Value> = (blocks.iter().copied())
            .filter(|block| block["status"] == "failed")
            .collect();
        assert_eq!(failed.len(), 1, "{blocks:?}");
        let reason = failed[0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("twice") && reason.contains("damaged on the way"),
            "{reason}"
        );
        assert!(!reason.contains("changed since export"), "{reason}");
    }
}

/// A gateway before the storage that ignores the export pin (`If-Match`,
/// `If-Unmodified-Since`) would hand over a version written since the export: the answers'
/// own `ETag` and `Last-Modified` give it away, and it is refused as the storage itself would
/// refuse it (changed since the export), nothing written.
///
/// Seen failing: through such a gateway a failed copy-log range (no hash) was filled with the
/// newer version's bytes, and a `FileNotFound` file was downloaded whole as the newer version,
/// both called REPAIRED (exit 0).
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_of_a_version_newer_than_the_pin_is_refused() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    // The last case is the control: the blob unchanged, the same gateway, repaired.
    for (container, whole_file, overwritten) in [
        ("pin-answer-range", false, true),
        ("pin-answer-whole", true, true),
        ("pin-answer-same", false, false),
    ] {
        let FailedRange {
            mut export,
            blob_path,
            content,
            damaged,
        } = failed_range(azurite, container, (46, 4, 4096), 4096..8192, None).await;
        let file = export.file(&blob_path);
        if whole_file {
            let entry = export.log_entry(&blob_path);
            entry.status = BlobStatus::FileNotFound;
            entry.ranges.clear();
            export.write_copy_log();
            std::fs::remove_file(&file).unwrap();
        }
        // Overwritten after the export, in a later second (Last-Modified counts seconds).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        if overwritten {
            let mut newer = content.clone();
            newer.iter_mut().for_each(|byte| *byte ^= 0x5a);
            azurite
                .put_block_blob(container, "data.bin", &newer, None, &[])
                .await;
        }
        let mut plan = Plan::new(0, 0, &[]);
        plan.strip_conditions = true;
        let proxy = FaultProxy::start(azurite.port(), plan);
        let sas = azurite::container_sas(container, "r");
        let args: Vec<OsString> = repair_args(&export, &proxy.endpoint(), false)
            .into_iter()
            .map(|arg| match arg == KEY {
                true => OsString::from(&sas),
                false => match arg == "--account-key" {
                    true => OsString::from("--sas"),
                    false => arg,
                },
            })
            .collect();
        let mut command = assert_cmd::Command::cargo_bin("export-repair").unwrap();
        command
            .env_remove("AZURE_STORAGE_KEY")
            .env_remove("AZURE_STORAGE_SAS")
            .args(args);
        let seen = run(command, TIMEOUT);
        if !overwritten {
            assert_eq!(seen.code, Some(0), "{container}: {}", seen.text());
            assert!(std::fs::read(&file).unwrap() == content, "{container}");
            continue;
        }
        assert_eq!(seen.code, Some(1), "{container}: {}", seen.text());
        assert!(!seen.text().contains("REPAIRED"), "{}", seen.text());
        match whole_file {
            true => assert!(!file.exists(), "{container}: nothing written"),
            false => assert!(
                std::fs::read(&file).unwrap() == damaged,
                "{container}: nothing written"
            ),
        }
        let report = read_json(&export.report());
        let text = report.to_string();
        assert!(text.contains("changed since"), "{container}: {text}");
        // The gateway did forward the reads (or the properties) without the pin.
        assert!(proxy.requests() > 0);
    }
}
