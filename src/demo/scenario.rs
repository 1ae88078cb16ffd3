//! The demo's damaged export: a mirror of the storage account, a drive with damage of
//! every kind, its manifest and its copy log.

use std::io;
use std::path::{Path, PathBuf};

use super::{SampleBlob, SampleDrive, local_path, pseudo_random_bytes};
use crate::format::copylog::{CopyLog, LogBlob, LogRange, LogSideFile};
use crate::format::status::{BlobStatus, DriveStatus, FileStatus, RangeStatus};

/// Where the demo put things.
#[derive(Debug, Clone)]
pub struct DemoPaths {
    pub root: PathBuf,
    /// The damaged export drive.
    pub drive: PathBuf,
    /// The intact copy repairs come from.
    pub mirror: PathBuf,
    pub manifest: PathBuf,
    pub copy_log: PathBuf,
    pub repair_file: PathBuf,
    pub report: PathBuf,
}

pub const DRIVE_ID: &str = "DEMO0001";
/// The export time every sample blob carries.
const EXPORTED: &str = "2012-09-18T23:47:08Z";

/// The sample export: block blobs, a sparse page blob, an empty blob, unicode names,
/// properties and metadata.
pub fn sample_drive() -> SampleDrive {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    SampleDrive {
        drive_id: DRIVE_ID.into(),
        blobs: vec![
            SampleBlob::block(
                "photos/wild/canyon.jpg",
                pseudo_random_bytes(1, 10_884),
                2721,
            )
            .with_properties("image/jpeg"),
            SampleBlob::page(
                "photos/city/redmond.vhd",
                MIB,
                &[
                    (0, 64 * KIB),
                    (64 * KIB, 64 * KIB),
                    (512 * KIB, 4 * KIB),
                    (MIB - 512, 512),
                ],
                2,
            )
            .with_properties("application/octet-stream")
            .with_metadata(&[("Camera", "Hasselblad"), ("Location", "Redmond")]),
            SampleBlob::block(
                "photos/zürich/straße café.jpg",
                pseudo_random_bytes(3, 3 * MIB as usize),
                MIB,
            )
            .with_properties("image/jpeg")
            .with_metadata(&[("Photographer", "Zoë")]),
            SampleBlob::block(
                "backups/2012/archive.bin",
                pseudo_random_bytes(4, 24 * MIB as usize),
                4 * MIB,
            )
            .with_properties("application/octet-stream"),
            SampleBlob::block("backups/empty.log", Vec::new(), 4 * MIB)
                .with_properties("text/plain"),
            SampleBlob::block(
                "photos/wild/desert.jpg",
                pseudo_random_bytes(6, 160 * KIB as usize),
                64 * KIB,
            )
            .with_properties("image/jpeg"),
        ],
    }
}

/// Builds the demo under `root`: the mirror, the intact drive, then the damage and the copy
/// log that reports part of it.
pub fn build(root: &Path) -> io::Result<DemoPaths> {
    let sample = sample_drive();
    let paths = DemoPaths {
        root: root.to_path_buf(),
        drive: root.join("drive"),
        mirror: root.join("mirror"),
        manifest: root.join("drive").join(format!("{DRIVE_ID}.manifest")),
        copy_log: root.join(format!("{DRIVE_ID}_error.xml")),
        repair_file: root.join(format!("{DRIVE_ID}.rep")),
        report: root.join("report.json"),
    };
    std::fs::create_dir_all(&paths.drive)?;
    sample.write_mirror(&paths.mirror)?;
    sample.write(&paths.drive)?;
    damage(&paths.drive)?;
    std::fs::write(&paths.copy_log, copy_log(&sample).to_xml())?;
    Ok(paths)
}

/// Damage of every kind: a failed block (zeros where it should be), a silent bit flip, a
/// truncated file, a missing file, a missing properties file and a corrupted metadata file.
fn damage(drive: &Path) -> io::Result<()> {
    let path = |file_path: &str| local_path(drive, file_path);
    let canyon = path(r"\photos\wild\canyon.jpg")?;
    let mut bytes = std::fs::read(&canyon)?;
    bytes[2721..5442].fill(0);
    std::fs::write(&canyon, bytes)?;

    let redmond = path(r"\photos\city\redmond.vhd")?;
    let mut bytes = std::fs::read(&redmond)?;
    bytes[512 * 1024 + 100] ^= 0x20;
    std::fs::write(&redmond, bytes)?;
    std::fs::write(
        path(r"\photos\city\redmond.vhd.metadata")?,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Metadata>\n  <Camera>Hasselbl\u{0}</Camera>\n</Metadata>\n"
            .replace('\u{0}', "?"),
    )?;

    let zurich = path(r"\photos\zürich\straße café.jpg")?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&zurich)?
        .set_len(1536 * 1024)?;

    std::fs::remove_file(path(r"\backups\2012\archive.bin")?)?;
    std::fs::remove_file(path(r"\photos\wild\desert.jpg.properties")?)?;
    Ok(())
}

/// The error log the service would have written for this drive.
#[expect(
    clippy::expect_used,
    reason = "the sample drive is a literal that names these blobs; its tests build it"
)]
fn copy_log(sample: &SampleDrive) -> CopyLog {
    let find = |blob_path: &str| {
        sample
            .blobs
            .iter()
            .find(|b| b.blob_path == blob_path)
            .expect("sample blob")
    };
    let entry = |blob: &SampleBlob, status: BlobStatus| LogBlob {
        status,
        blob_path: blob.blob_path.clone(),
        file_path: blob.file_path.clone(),
        snapshot: None,
        length: Some(blob.content.len() as u64),
        last_modified: Some(EXPORTED.into()),
        kind: Some(blob.kind),
        ranges: Vec::new(),
        metadata: None,
        properties: None,
    };
    let canyon = find("photos/wild/canyon.jpg");
    let mut canyon_entry = entry(canyon, BlobStatus::CompletedWithErrors);
    canyon_entry.ranges.push(LogRange {
        offset: 2721,
        length: 2721,
        id: Some("AQAAAA==".into()),
        hash: None,
        status: RangeStatus::Failed,
    });
    let mut archive_entry = entry(find("backups/2012/archive.bin"), BlobStatus::FileNotFound);
    archive_entry.kind = None;
    let desert = find("photos/wild/desert.jpg");
    let mut desert_entry = entry(desert, BlobStatus::CompletedWithErrors);
    desert_entry.properties = Some(LogSideFile {
        status: FileStatus::Failed,
        path: Some(desert.properties_path()),
        hash: None,
    });
    CopyLog {
        version: Some("2014-11-01".into()),
        drive_id: DRIVE_ID.into(),
        blobs: vec![canyon_entry, archive_entry, desert_entry],
        status: Some(DriveStatus::CompletedWithErrors),
    }
}
