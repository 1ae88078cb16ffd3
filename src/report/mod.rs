//! Reports: each is a fold over the engine's event stream into a `Report`, then written
//! in a format. Schema `export-repair/report/v1` is documented in docs/report.md.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::engine::{Event, Totals};
use crate::format::Md5;
use crate::model::{ComponentKind, ComponentStatus, Drive, FileVerdict, Outcome};

/// The schema name every JSON report carries.
pub const SCHEMA: &str = "export-repair/report/v1";

/// A finished run, ready to be written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool_version: String,
    pub drive_id: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished: Option<OffsetDateTime>,
    pub outcome: Outcome,
    pub interrupted: bool,
    pub totals: Totals,
    pub warnings: Vec<String>,
    pub files: Vec<FileReport>,
}

/// One file of the drive (one blob or snapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// Exactly as the manifest spells it.
    pub file_path: String,
    pub blob_path: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub snapshot: Option<String>,
    pub length: u64,
    pub status: FileVerdict,
    pub components: Vec<ComponentReport>,
}

/// One component's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentReport {
    pub kind: ComponentKind,
    pub offset: u64,
    pub length: u64,
    pub status: ComponentStatus,
    pub expected_md5: Option<Md5>,
    pub actual_md5: Option<Md5>,
    pub reason: Option<String>,
    /// For properties and metadata files: their own path on the drive.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file_path: Option<String>,
}

#[derive(Clone, Default)]
struct Verdict {
    status: Option<ComponentStatus>,
    actual_md5: Option<Md5>,
    reason: Option<String>,
}

/// Folds events into a report.
pub struct ReportBuilder {
    drive: Arc<Drive>,
    verdicts: Vec<Vec<Verdict>>,
    started: Option<OffsetDateTime>,
    finished: Option<OffsetDateTime>,
    totals: Option<Totals>,
    interrupted: bool,
    warnings: Vec<String>,
}

impl ReportBuilder {
    pub fn new(drive: Arc<Drive>) -> Self {
        let verdicts = drive
            .blobs
            .iter()
            .map(|blob| vec![Verdict::default(); blob.components.len()])
            .collect();
        Self {
            drive,
            verdicts,
            started: None,
            finished: None,
            totals: None,
            interrupted: false,
            warnings: Vec::new(),
        }
    }

    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::RunStarted { started, .. } => self.started = Some(*started),
            Event::Warning { message } | Event::CredentialsRefused { message } => {
                self.warnings.push(message.clone());
            }
            Event::Component(component) => {
                let slot =
                    &mut self.verdicts[component.id.blob as usize][component.id.component as usize];
                slot.status = Some(component.status);
                slot.actual_md5 = component.actual_md5;
                slot.reason.clone_from(&component.reason);
            }
            Event::Progress(_) => {}
            Event::RunFinished {
                totals,
                finished,
                interrupted,
                ..
            } => {
                self.totals = Some(totals.clone());
                self.finished = Some(*finished);
                self.interrupted = *interrupted;
            }
        }
    }

    pub fn finish(&self) -> Report {
        let not_reached = || Some("not checked: the run ended before it got here".to_string());
        let mut totals = Totals::default();
        let files: Vec<FileReport> = self
            .drive
            .blobs
            .iter()
            .zip(&self.verdicts)
            .map(|(blob, verdicts)| {
                let components: Vec<ComponentReport> = blob
                    .components
                    .iter()
                    .zip(verdicts)
                    .map(|(component, verdict)| {
                        let status = verdict.status.unwrap_or(ComponentStatus::Skipped);
                        totals.add(status, component.length);
                        ComponentReport {
                            kind: component.kind,
                            offset: component.offset,
                            length: component.length,
                            status,
                            expected_md5: component.expected_md5,
                            actual_md5: verdict.actual_md5,
                            reason: if verdict.status.is_none() {
                                not_reached()
                            } else {
                                verdict.reason.clone()
                            },
                            file_path: component
                                .kind
                                .is_side_file()
                                .then(|| blob.component_file_path(component).map(str::to_string))
                                .flatten(),
                        }
                    })
                    .collect();
                FileReport {
                    file_path: blob.file_path.clone(),
                    blob_path: blob.blob_path.clone(),
                    snapshot: blob.snapshot.clone(),
                    length: blob.length,
                    status: FileVerdict::of(components.iter().map(|c| c.status)),
                    components,
                }
            })
            .collect();
        let outcome = Outcome::of(
            files
                .iter()
                .flat_map(|file| file.components.iter().map(|c| c.status)),
        );
        Report {
            schema: SCHEMA.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            drive_id: self.drive.drive_id.clone(),
            started: self.started,
            finished: self.finished,
            outcome,
            interrupted: self.interrupted,
            totals: self.totals.clone().unwrap_or(totals),
            warnings: self.warnings.clone(),
            files,
        }
    }
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the report {path}: {source}")]
pub struct ReportError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Writes the JSON report; the file appears whole or not at all.
pub fn write_json(report: &Report, path: &Path) -> Result<(), ReportError> {
    write_atomically(path, |out| {
        serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    })
}

fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), ReportError> {
    let error = |source| ReportError {
        path: path.display().to_string(),
        source,
    };
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = directory.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&temporary)?);
        fill(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(error)
}
