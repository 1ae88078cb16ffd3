//! Every downloaded component is checked on its own before any of its bytes is written, also
//! when many are received side by side and hashed together on SIMD lanes while they arrive.
//! Against a real Azurite, with the real binary: exit code, report, bytes on the drive.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::time::Duration;

use export_repair::demo::{SampleBlob, pseudo_random_bytes};
use support::azurite::{self, KEY};
use support::export::{export, in_container};
use support::hostile::{components, read_json, run};

/// Blocks of an odd size, so that components end anywhere within a 64-byte MD5 block and
/// within the body's chunks.
const BLOCK: usize = 49_153;
const BLOCKS: usize = 24;

/// Four files missing from the drive, each downloaded in one request of 24 blocks, the four
/// requests side by side: 96 components hashed on lanes as they arrive. The storage holds
/// other bytes in three of them (a block in the middle of one file, the first and the last
/// block of another): those three fail, say that nothing was written, and their ranges on the
/// drive stay zeros, not the storage's bytes; the 93 others are repaired byte for byte, the
/// blocks sharing a request with a failing one included (exit 1).
///
/// Seen failing with the hash check after the download removed (exit 0: the storage's bytes
/// were written and the run said REPAIRED), and with the hashing thread handing each digest to
/// the stream in the next lane (the run never ended: the timeout killed it).
#[tokio::test(flavor = "multi_thread")]
async fn blocks_hashed_side_by_side_are_each_checked_before_any_byte_is_written() {
    let Some(azurite) = azurite::shared() else {
        return;
    };
    let container = "lanes";
    let blobs: Vec<SampleBlob> = (0..4)
        .map(|i| {
            let content = pseudo_random_bytes(70 + i, BLOCKS * BLOCK - 1000);
            SampleBlob::block(&format!("f{i}.bin"), content, BLOCK as u64)
        })
        .collect();
    let mut export = export(azurite, container, in_container(container, blobs)).await;
    // (file, block) whose bytes differ in the storage.
    let altered = [(1usize, 5usize), (2, 0), (2, BLOCKS - 1)];
    for file in [1usize, 2] {
        let blob_path = format!("{container}/f{file}.bin");
        let mut other = export.blob(&blob_path).content.clone();
        for &(_, block) in altered.iter().filter(|(f, _)| *f == file) {
            let at = (block * BLOCK + 777).min(other.len() - 1);
            other[at] ^= 0x01;
        }
        azurite
            .put_block_blob(container, &format!("f{file}.bin"), &other, None, &[])
            .await;
        // Uploaded again: the export's Last-Modified would refuse every read as changed.
        export.log_entry(&blob_path).last_modified = None;
    }
    export.write_copy_log();
    for blob in &export.sample.blobs {
        std::fs::remove_file(export.file(&blob.blob_path)).unwrap();
    }

    let mut command = assert_cmd::Command::cargo_bin("export-repair").unwrap();
    command
        .env_remove("AZURE_STORAGE_KEY")
        .env_remove("AZURE_STORAGE_SAS")
        .args(export.repair_args(&azurite.endpoint(), &["--account-key", KEY, "--headless"]));
    let seen = run(command, Duration::from_secs(180));
    assert_eq!(seen.code, Some(1), "{}", seen.text());

    let report = read_json(&export.report());
    for (file, blob) in export.sample.blobs.iter().enumerate() {
        let on_drive = std::fs::read(export.file(&blob.blob_path)).unwrap();
        assert_eq!(on_drive.len(), blob.content.len(), "{}", blob.blob_path);
        let blocks = components(&report, &blob.file_path, "block");
        assert_eq!(blocks.len(), BLOCKS);
        for (block, &(offset, length)) in blob.layout.iter().enumerate() {
            let range = offset as usize..(offset + length) as usize;
            let status = &blocks[block]["status"];
            if altered.contains(&(file, block)) {
                assert_eq!(status, "failed", "{} block {block}", blob.blob_path);
                let reason = blocks[block]["reason"].as_str().unwrap();
                assert!(reason.contains("not the manifest's"), "{reason}");
                assert!(reason.contains("nothing was written"), "{reason}");
                assert!(
                    on_drive[range].iter().all(|&byte| byte == 0),
                    "{} block {block}: none of the storage's bytes is on the drive",
                    blob.blob_path
                );
            } else {
                assert_eq!(status, "repaired", "{} block {block}", blob.blob_path);
                assert!(
                    on_drive[range.clone()] == blob.content[range],
                    "{} block {block} is the blob's",
                    blob.blob_path
                );
            }
        }
    }
}
