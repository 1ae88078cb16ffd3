//! An export job in Azurite, for the repair tests: the blobs uploaded, the drive the service
//! would have written for them, and a copy log that says every blob completed. The tests
//! then damage the drive and edit the copy log to match.
//!
//! A properties file is built here from Azurite's raw answer to Get Blob Properties, in the
//! documented format ([`properties_from_headers`]), never by the tool's own code: a
//! regenerated one is compared with bytes the tool had no part in.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use export_repair::demo::{SampleBlob, SampleDrive, file_path_for, local_path};
use export_repair::engine::{self, EngineHandle, RepairOptions};
use export_repair::format::copylog::{CopyLog, LogBlob};
use export_repair::format::manifest::Manifest;
use export_repair::format::manifest::RangeKind;
use export_repair::format::side_files::PropertiesFile;
use export_repair::format::status::{BlobStatus, DriveStatus};
use export_repair::journal::{Binding, RepairFile};
use export_repair::model::Drive;
use export_repair::report::ReportFormat;
use export_repair::source::BlobSource;

use super::azurite::{ACCOUNT, Azurite};

/// One export: the blobs as uploaded, the drive as the service wrote it, the copy log, and
/// (after [`Export::seal`]) the drive's bytes before any repair.
pub struct Export {
    pub dir: tempfile::TempDir,
    pub sample: SampleDrive,
    pub copy_log: CopyLog,
    /// Every drive file's bytes when sealed, by FilePath; `None` for a missing file.
    pub before: BTreeMap<String, Option<Vec<u8>>>,
    /// Each properties file as the export wrote it ([`properties_from_headers`]), by blob path.
    pub properties: BTreeMap<String, String>,
}

impl Export {
    pub fn drive(&self) -> PathBuf {
        self.dir.path().join("drive")
    }
    pub fn manifest(&self) -> PathBuf {
        self.drive()
            .join(format!("{}.manifest", self.sample.drive_id))
    }
    pub fn copy_log_path(&self) -> PathBuf {
        self.dir.path().join("copy.xml")
    }
    pub fn repair_file(&self) -> PathBuf {
        self.dir.path().join("drive.rep")
    }
    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }
    pub fn report(&self) -> PathBuf {
        self.dir.path().join("report.json")
    }
    /// The drive file of a FilePath.
    pub fn local(&self, file_path: &str) -> PathBuf {
        local_path(&self.drive(), file_path).unwrap()
    }
    /// The drive file of a blob path.
    pub fn file(&self, blob_path: &str) -> PathBuf {
        self.local(&file_path_for(blob_path))
    }
    pub fn blob(&self, blob_path: &str) -> &SampleBlob {
        self.sample
            .blobs
            .iter()
            .find(|b| b.blob_path == blob_path)
            .unwrap()
    }
    pub fn log_entry(&mut self, blob_path: &str) -> &mut LogBlob {
        self.copy_log
            .blobs
            .iter_mut()
            .find(|b| b.blob_path == blob_path)
            .unwrap()
    }
    /// A repair of this export kept open (as the console's is), reading `source`: the drive
    /// the tool models from the logs (with the manifest unless `manifest` is false), recorded
    /// in a new repair file, and the engine's handle.
    pub fn start_kept_open(
        &self,
        manifest: bool,
        source: Arc<dyn BlobSource>,
    ) -> (Arc<Drive>, EngineHandle) {
        let drive = Arc::new(
            Drive::build(
                manifest.then(|| Manifest::from_file(&self.manifest()).unwrap()),
                Some(CopyLog::from_file(&self.copy_log_path()).unwrap().into()),
            )
            .unwrap(),
        );
        let binding = Binding {
            drive_id: drive.drive_id.clone(),
            manifest_md5: None,
            copy_log_md5: None,
            verbose_log_md5: None,
        };
        let (mut repair_file, _) =
            RepairFile::open_or_create(&self.repair_file(), &binding).unwrap();
        repair_file.record_drive(&drive).unwrap();
        let options = RepairOptions {
            stay_open: true,
            ..RepairOptions::default()
        };
        let handle = engine::start_repair(
            Arc::clone(&drive),
            self.drive(),
            source,
            repair_file,
            options,
        );
        (drive, handle)
    }
    /// Takes a blob's file off the drive, as a copy log reporting it `FileNotFound` says (the
    /// copy log is written by the caller, after any other change to the entry returned).
    pub fn lose_file(&mut self, blob_path: &str) -> &mut LogBlob {
        std::fs::remove_file(self.file(blob_path)).unwrap();
        let entry = self.log_entry(blob_path);
        entry.status = BlobStatus::FileNotFound;
        entry.kind = None;
        entry
    }

    /// `repair` of this export from `endpoint` (the account's), with `extra` (a credential,
    /// flags) after the account; the log in [`Export::logs`], every report.
    pub fn repair_args(&self, endpoint: &str, extra: &[&str]) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["repair".into(), "--repair-file".into()];
        args.push(self.repair_file().into());
        args.push("--target".into());
        args.push(self.drive().into());
        args.extend(["--account", ACCOUNT].map(OsString::from));
        args.extend(extra.iter().map(OsString::from));
        args.extend(["--blob-endpoint", endpoint].map(OsString::from));
        args.push("--copy-log".into());
        args.push(self.copy_log_path().into());
        args.push("--manifest".into());
        args.push(self.manifest().into());
        args.push("--log-dir".into());
        args.push(self.logs().into());
        for report in self.reports() {
            args.push("--report".into());
            args.push(report.into());
        }
        args
    }

    /// A report in every format, `report.json` first.
    pub fn reports(&self) -> Vec<PathBuf> {
        ReportFormat::ALL
            .iter()
            .map(|format| self.dir.path().join(format!("report.{}", format.as_str())))
            .collect()
    }

    /// No secret anywhere the tool writes or prints: stdout and stderr (the summary, or the
    /// NDJSON event stream with `--json`), every file of the log directory, the repair file and
    /// its SQLite side files, the report in every format; nor anywhere else under the export's
    /// directory.
    pub fn assert_no_secret(&self, outputs: &[&[u8]], secrets: &[&str]) {
        let mut places: Vec<(String, Vec<u8>)> = outputs
            .iter()
            .enumerate()
            .map(|(i, bytes)| (format!("output {i}"), bytes.to_vec()))
            .collect();
        let written = super::files::files(self.dir.path());
        for required in [self.repair_file()].into_iter().chain(self.reports()) {
            let relative = required.strip_prefix(self.dir.path()).unwrap();
            assert!(
                written.contains_key(relative),
                "{} was not written",
                relative.display()
            );
        }
        assert!(
            written.keys().any(|path| path.starts_with("logs")),
            "no log was written"
        );
        places.extend(
            written
                .into_iter()
                .map(|(path, bytes)| (path.display().to_string(), bytes)),
        );
        for (place, bytes) in &places {
            let text = String::from_utf8_lossy(bytes);
            for secret in secrets {
                assert!(!text.contains(secret), "a secret appears in {place}");
            }
        }
    }

    pub fn write_copy_log(&self) {
        std::fs::write(self.copy_log_path(), self.copy_log.to_xml()).unwrap();
    }

    /// Writes the copy log and remembers every drive file's bytes (after the damage).
    pub fn seal(&mut self) {
        self.write_copy_log();
        let mut before = BTreeMap::new();
        for blob in &self.sample.blobs {
            let mut paths = vec![blob.file_path.clone()];
            if blob.properties.is_some() {
                paths.push(blob.properties_path());
            }
            if blob.metadata.is_some() {
                paths.push(blob.metadata_path());
            }
            for path in paths {
                before.insert(path.clone(), std::fs::read(self.local(&path)).ok());
            }
        }
        self.before = before;
    }

    /// The bytes each side file should hold, as the export wrote it.
    pub fn expected_side_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for blob in &self.sample.blobs {
            if blob.properties.is_some() {
                let xml = &self.properties[&blob.blob_path];
                out.push((blob.properties_path(), xml.clone().into_bytes()));
            }
            if let Some(metadata) = &blob.metadata {
                out.push((
                    blob.metadata_path(),
                    metadata.to_xml().unwrap().into_bytes(),
                ));
            }
        }
        out
    }

    /// Every file equals its blob byte for byte, and every side file its export-time bytes.
    pub fn assert_drive_matches_blobs(&self) {
        for blob in &self.sample.blobs {
            let on_drive = std::fs::read(self.local(&blob.file_path)).unwrap();
            assert!(
                on_drive == blob.content,
                "{} differs from its blob",
                blob.blob_path
            );
        }
        for (path, expected) in self.expected_side_files() {
            let on_drive = std::fs::read(self.local(&path)).unwrap();
            assert!(
                on_drive == expected,
                "{path} is not as exported:\n{}\nexpected:\n{}",
                String::from_utf8_lossy(&on_drive),
                String::from_utf8_lossy(&expected)
            );
        }
    }
}

/// `blobs` moved into `container`: their blob paths prefixed with it.
pub fn in_container(container: &str, blobs: Vec<SampleBlob>) -> Vec<SampleBlob> {
    blobs
        .into_iter()
        .map(|mut blob| {
            blob.blob_path = format!("{container}/{}", blob.blob_path);
            blob.file_path = file_path_for(&blob.blob_path);
            blob
        })
        .collect()
}

/// Uploads `blobs` (their blob paths start with `container/`) and writes the intact drive and
/// copy log an export of them would have written; the drive's ID is `DRV-<container>`.
pub async fn export(azurite: &Azurite, container: &str, mut blobs: Vec<SampleBlob>) -> Export {
    azurite.create_container(container).await;
    let mut exported_properties = BTreeMap::new();
    for blob in &mut blobs {
        let name = blob
            .blob_path
            .strip_prefix(&format!("{container}/"))
            .expect("the blob path starts with its container")
            .to_string();
        let metadata: Vec<(&str, &str)> = blob
            .metadata
            .as_ref()
            .map(|m| {
                m.entries
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        match blob.kind {
            RangeKind::Block => {
                azurite
                    .put_block_blob(
                        container,
                        &name,
                        &blob.content,
                        Some("application/x-test"),
                        &metadata,
                    )
                    .await;
            }
            RangeKind::Page => {
                let pages: Vec<(u64, &[u8])> = blob
                    .layout
                    .iter()
                    .map(|&(o, l)| (o, &blob.content[o as usize..(o + l) as usize]))
                    .collect();
                azurite
                    .put_page_blob(container, &name, blob.content.len() as u64, &pages)
                    .await;
                if !metadata.is_empty() {
                    azurite.set_metadata(container, &name, &metadata).await;
                }
            }
        }
        if blob.properties.is_some() {
            let xml = properties_from_headers(&azurite.raw_properties(container, &name));
            // The drive is written from the parsed file: it must give back the same bytes.
            let parsed = PropertiesFile::parse_str(&xml).unwrap();
            assert_eq!(
                parsed.to_xml(),
                xml,
                "a properties file read and written again"
            );
            blob.properties = Some(parsed);
            exported_properties.insert(blob.blob_path.clone(), xml);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let sample = SampleDrive {
        drive_id: format!("DRV-{container}"),
        blobs,
    };
    sample.write(&dir.path().join("drive")).unwrap();
    let last_modified = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let copy_log = CopyLog {
        version: Some("2014-11-01".into()),
        drive_id: sample.drive_id.clone(),
        blobs: sample
            .blobs
            .iter()
            .map(|blob| LogBlob {
                status: BlobStatus::Completed,
                blob_path: blob.blob_path.clone(),
                file_path: blob.file_path.clone(),
                snapshot: blob.snapshot.clone(),
                length: Some(blob.content.len() as u64),
                last_modified: Some(last_modified.clone()),
                kind: Some(blob.kind),
                ranges: Vec::new(),
                metadata: None,
                properties: None,
            })
            .collect(),
        status: Some(DriveStatus::CompletedWithErrors),
    };
    Export {
        dir,
        sample,
        copy_log,
        before: BTreeMap::new(),
        properties: exported_properties,
    }
}

/// A properties file from the response headers of Get Blob Properties, as Microsoft's
/// "Import/Export service metadata and properties file format" documents it: the UTF-8
/// declaration, then `Last-Modified`, `Etag` (without the quotes, as in the documented
/// sample `0x8CF63E6A2C1F2C5`), `Content-Length`, `Content-Type`, `Content-MD5`,
/// `Content-Encoding`, `Content-Language`, `Cache-Control`, each present when the header is,
/// its value as sent, one element a line indented by two spaces.
pub fn properties_from_headers(headers: &[(String, String)]) -> String {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    };
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Properties>\n");
    for (element, name) in [
        ("Last-Modified", "last-modified"),
        ("Etag", "etag"),
        ("Content-Length", "content-length"),
        ("Content-Type", "content-type"),
        ("Content-MD5", "content-md5"),
        ("Content-Encoding", "content-encoding"),
        ("Content-Language", "content-language"),
        ("Cache-Control", "cache-control"),
    ] {
        if let Some(value) = header(name) {
            let value = if name == "etag" {
                value.trim_matches('"')
            } else {
                value
            };
            let value = value
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            xml.push_str(&format!("  <{element}>{value}</{element}>\n"));
        }
    }
    xml.push_str("</Properties>\n");
    xml
}
