//! The fuzz targets' bodies (see the crate documentation). Also compiled into
//! `tests/bad_inputs.rs`, which replays `fuzz/regressions/` through them: only
//! `export_repair` and `std` here.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use export_repair::format::Md5;
use export_repair::format::copylog::CopyLog;
use export_repair::format::copylog::v2021::CopyLog2021;
use export_repair::format::manifest::Manifest;
use export_repair::format::side_files::{MetadataFile, PropertiesFile};
use export_repair::format::verbose_log::VerboseLog;
use export_repair::journal::{Binding, Done, RepairFile};
use export_repair::model::{ComponentStatus, Drive, Logs};

/// The manifest the copy-log target merges with, and the repair-file target's drive.
pub const VALID_MANIFEST: &str = include_str!("../../tests/corpus/valid.manifest.xml");

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

pub fn manifest(data: &[u8]) {
    if let Ok(manifest) = Manifest::parse_str(&text(data)) {
        let xml = manifest.to_xml();
        if let Ok(drive) = Drive::build(Some(manifest), None) {
            let _ = drive.components().count();
        }
        let _ = Manifest::parse_str(&xml);
    }
}

pub fn copy_log(data: &[u8]) {
    if let Ok(log) = CopyLog::parse_str(&text(data)) {
        let _ = log.failed_blobs().count();
        let _ = CopyLog::parse_str(&log.to_xml());
        build_with_and_without_manifest(log.into());
    }
}

/// The drive built from `logs` alone and merged with the valid manifest.
fn build_with_and_without_manifest(logs: Logs) {
    if let Ok(drive) = Drive::build(None, Some(logs.clone())) {
        let _ = drive.components().count();
    }
    let manifest = Manifest::parse_str(VALID_MANIFEST).expect("the valid manifest parses");
    if let Ok(drive) = Drive::build(Some(manifest), Some(logs)) {
        let _ = drive.components().count();
    }
}

pub fn copy_log_2021(data: &[u8]) {
    if let Ok(log) = CopyLog2021::parse_bytes(data) {
        build_with_and_without_manifest(Logs {
            copy_log: Some(log.into()),
            ..Logs::default()
        });
    }
}

pub fn verbose_log(data: &[u8]) {
    if let Ok(log) = VerboseLog::parse_bytes(data) {
        build_with_and_without_manifest(Logs {
            verbose_log: Some(log),
            drive_id: Some("FUZZ".into()),
            ..Logs::default()
        });
    }
}

pub fn side_files(data: &[u8]) {
    let text = text(data);
    if let Ok(properties) = PropertiesFile::parse_str(&text) {
        let _ = PropertiesFile::parse_str(&properties.to_xml());
    }
    if let Ok(metadata) = MetadataFile::parse_str(&text)
        && let Ok(xml) = metadata.to_xml()
    {
        let _ = MetadataFile::parse_str(&xml);
    }
}

/// The drive and binding every repair-file input is opened for.
fn repair_drive() -> &'static (Drive, Binding) {
    static DRIVE: OnceLock<(Drive, Binding)> = OnceLock::new();
    DRIVE.get_or_init(|| {
        let manifest = Manifest::parse_str(VALID_MANIFEST).expect("the valid manifest parses");
        let binding = Binding {
            drive_id: manifest.drive_id.clone(),
            manifest_md5: Some(Md5::of(VALID_MANIFEST.as_bytes())),
            copy_log_md5: None,
            verbose_log_md5: None,
        };
        let drive = Drive::build(Some(manifest), None).expect("the valid manifest builds");
        (drive, binding)
    })
}

/// A scratch path per process and thread (libFuzzer runs in one process).
fn scratch() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("export-repair-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    });
    dir.join(format!("{:?}.rep", std::thread::current().id()).replace(['(', ')'], ""))
}

fn journal_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-journal");
    PathBuf::from(name)
}

/// [`repair_file_at`] a scratch path of this process and thread.
pub fn repair_file(data: &[u8]) {
    repair_file_at(&scratch(), data);
}

/// Writes `data` to `path` and opens it as an existing repair file; when it opens, reads it,
/// records an intent and a verdict for every component of the drive, and reads it again.
pub fn repair_file_at(path: &Path, data: &[u8]) {
    let _ = std::fs::remove_file(journal_of(path));
    std::fs::write(path, data).expect("the scratch file is writable");
    let (drive, binding) = repair_drive();
    if let Ok((mut file, _resumed)) = RepairFile::open_or_create(path, binding) {
        let _ = file.entries(drive);
        let ids: Vec<_> = drive.components().map(|(id, _, _)| id).collect();
        let _ = file.record_intent(drive, &ids);
        let done: Vec<Done> = ids
            .iter()
            .map(|id| Done {
                id: *id,
                status: ComponentStatus::Repaired,
                actual_md5: None,
                storage_md5: None,
                reason: Some("fuzz".into()),
                identity: None,
            })
            .collect();
        let _ = file.record_done(drive, &done);
        let _ = file.entries(drive);
        let _ = file.stored_drive();
    }
}

/// A valid repair file for [`repair_drive`], half in flight and half done: the seed the
/// repair-file target starts from.
pub fn repair_file_seed() -> Vec<u8> {
    let path = scratch().with_extension("seed");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(journal_of(&path));
    let (drive, binding) = repair_drive();
    {
        let (mut file, _) = RepairFile::open_or_create(&path, binding).expect("a new repair file");
        file.record_drive(drive).expect("record the drive");
        let ids: Vec<_> = drive.components().map(|(id, _, _)| id).collect();
        file.record_intent(drive, &ids).expect("record intent");
        let done: Vec<Done> = ids
            .iter()
            .step_by(2)
            .map(|id| Done {
                id: *id,
                status: ComponentStatus::Failed,
                actual_md5: Some(Md5::of(b"x")),
                storage_md5: None,
                reason: Some("seed".into()),
                identity: None,
            })
            .collect();
        file.record_done(drive, &done).expect("record done");
    }
    let bytes = std::fs::read(&path).expect("the seed repair file");
    let _ = std::fs::remove_file(&path);
    bytes
}
