//! The files: the damaged ones as cards under "Needs attention" (runs of damaged components
//! with their reasons), then every file with its components on demand.

use crate::ledger::human::{self, bytes as human_bytes, count};
use crate::model::{ComponentKind, FileVerdict};

use super::super::{ComponentReport, FileReport};
use super::bar::FileBar;
use super::status::{Look, is_good};

/// Rows of damaged ranges listed per file under "Needs attention".
const ATTENTION_ROWS: usize = 40;
/// Rows listed per file under "All files": every damaged one, then good ones up to this.
const FILE_ROWS: usize = 400;

pub fn has_damage(file: &FileReport) -> bool {
    file.components.iter().any(|c| c.status.is_damage())
}

/// Files in the order the page lists them: failures first, then damage, repairs, the rest;
/// the report's order within each group.
pub fn in_order(files: &[FileReport]) -> Vec<&FileReport> {
    let rank = |file: &&FileReport| match file.status {
        FileVerdict::Failed => 0,
        FileVerdict::Damaged => 1,
        FileVerdict::Repaired => 2,
        FileVerdict::Unchecked => 3,
        FileVerdict::Verified => 4,
    };
    let mut files: Vec<&FileReport> = files.iter().collect();
    files.sort_by_key(rank);
    files
}

/// A file's heading: status chip, path, blob (and snapshot), size and component bar.
pub struct Heading {
    pub look: Look,
    pub path: String,
    /// The blob path, and the snapshot read when there was one.
    pub blob: String,
    pub bytes: String,
    pub size: String,
    pub bar: FileBar,
}

impl Heading {
    fn of(file: &FileReport) -> Self {
        Self {
            look: Look::of_file(file),
            path: file.file_path.clone(),
            blob: match &file.snapshot {
                Some(snapshot) => format!("{} · snapshot {snapshot}", file.blob_path),
                None => file.blob_path.clone(),
            },
            bytes: count(file.length),
            size: human_bytes(file.length),
            bar: FileBar::of(file),
        }
    }
}

/// A damaged file's card.
pub struct DamagedFile {
    pub failed: bool,
    pub heading: Heading,
    pub rows: Vec<DamageRow>,
    /// Damaged ranges beyond the rows listed.
    pub more: Option<String>,
}

/// A run of consecutive damaged components of one kind and status.
pub struct DamageRow {
    /// "block", "3 page ranges".
    pub what: String,
    /// The bytes the run covers, or a side file's path.
    pub bytes: String,
    pub look: Look,
    pub reason: String,
    /// Other components in the run whose reasons differ from the first's.
    pub similar: Option<usize>,
    /// The manifest's MD5 and the drive's, when a lone component's reason does not say them.
    pub hashes: Option<(String, String)>,
}

impl DamagedFile {
    pub fn of(file: &FileReport) -> Self {
        let runs = damage_runs(file);
        let rows = runs
            .iter()
            .take(ATTENTION_ROWS)
            .map(|run| {
                let first = run[0];
                let last = run[run.len() - 1];
                let bytes = if first.kind.is_side_file() {
                    first
                        .file_path
                        .as_deref()
                        .unwrap_or("whole file")
                        .to_string()
                } else {
                    format!(
                        "{}–{}",
                        count(first.offset),
                        count(last.offset + last.length)
                    )
                };
                let differs = run.len() > 1 && run.iter().any(|c| c.reason != first.reason);
                DamageRow {
                    what: kind_name(first.kind, run.len()),
                    bytes,
                    look: Look::of(first.status),
                    reason: first.reason.as_deref().unwrap_or("—").to_string(),
                    similar: differs.then(|| run.len() - 1),
                    hashes: if run.len() == 1 { hashes(first) } else { None },
                }
            })
            .collect();
        Self {
            failed: file.status == FileVerdict::Failed,
            heading: Heading::of(file),
            rows,
            more: (runs.len() > ATTENTION_ROWS)
                .then(|| count((runs.len() - ATTENTION_ROWS) as u64)),
        }
    }
}

fn kind_name(kind: ComponentKind, n: usize) -> String {
    let name = match kind {
        ComponentKind::Block => "block",
        ComponentKind::Page => "page range",
        ComponentKind::Properties => "properties file",
        ComponentKind::Metadata => "metadata file",
        ComponentKind::File => "whole file",
        ComponentKind::Chunk => "chunk",
        ComponentKind::Crc64 => "whole-file CRC-64",
    };
    if n == 1 {
        name.to_string()
    } else if kind == ComponentKind::Page {
        format!("{n} page ranges")
    } else {
        format!("{n} {name}s")
    }
}

/// Runs of consecutive damaged components of one kind and status.
fn damage_runs(file: &FileReport) -> Vec<Vec<&ComponentReport>> {
    let mut runs: Vec<Vec<&ComponentReport>> = Vec::new();
    let mut previous_damaged = false;
    for component in &file.components {
        if !component.status.is_damage() {
            previous_damaged = false;
            continue;
        }
        let joins = previous_damaged
            && !component.kind.is_side_file()
            && runs.last().is_some_and(|run| {
                let last = run[run.len() - 1];
                last.kind == component.kind
                    && last.status == component.status
                    && last.offset + last.length == component.offset
            });
        match runs.last_mut() {
            Some(run) if joins => run.push(component),
            _ => runs.push(vec![component]),
        }
        previous_damaged = true;
    }
    runs
}

fn hashes(component: &ComponentReport) -> Option<(String, String)> {
    match (component.expected_md5, component.actual_md5) {
        (Some(expected), Some(actual))
            if expected != actual
                && !component
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.contains(&expected.to_string())) =>
        {
            Some((expected.to_string(), actual.to_string()))
        }
        _ => None,
    }
}

/// A file in the list of all files.
pub struct FileEntry {
    pub heading: Heading,
    pub export: Vec<ExportFact>,
    /// None: the file has no components.
    pub components: Option<ComponentTable>,
}

impl FileEntry {
    pub fn of(file: &FileReport) -> Self {
        Self {
            heading: Heading::of(file),
            export: export_facts(file),
            components: (!file.components.is_empty()).then(|| ComponentTable::of(file)),
        }
    }
}

/// What the 2021 logs say about a file, one fact after the other.
pub enum ExportFact {
    /// The blob's kind in the cloud.
    Format(String),
    /// The verbose log's check: the size and the CRC-64.
    VerboseLog {
        size: String,
        crc: String,
    },
    Etag(String),
    /// The copy log's category, and what a repair does about it.
    CopyLog {
        category: String,
        message: Option<String>,
        new_name: Option<String>,
        advice: Option<(String, String)>,
    },
}

fn export_facts(file: &FileReport) -> Vec<ExportFact> {
    let Some(export) = &file.export else {
        return Vec::new();
    };
    let mut facts = Vec::new();
    if let Some(format) = &export.cloud_format {
        facts.push(ExportFact::Format(format.clone()));
    }
    if let (Some(size), Some(crc)) = (export.size, export.crc64) {
        facts.push(ExportFact::VerboseLog {
            size: count(size),
            crc: crc.to_string(),
        });
    }
    if let Some(etag) = &export.etag {
        facts.push(ExportFact::Etag(etag.clone()));
    }
    if let Some(category) = &export.category {
        facts.push(ExportFact::CopyLog {
            category: category.clone(),
            message: export.error_message.clone(),
            new_name: export.new_name.clone(),
            advice: export.action.clone().zip(export.advice.clone()),
        });
    }
    facts
}

/// A file's components: every damaged one, good ones up to [`FILE_ROWS`] in all.
pub struct ComponentTable {
    pub rows: Vec<ComponentRow>,
    /// Good components not shown.
    pub hidden: Option<String>,
}

pub struct ComponentRow {
    pub number: usize,
    pub kind: &'static str,
    /// A side file's path (which may break anywhere), or a byte range (which may not).
    pub side_file: bool,
    pub what: String,
    pub length: String,
    pub look: Look,
    pub check: Check,
    pub reason: String,
}

impl ComponentTable {
    fn of(file: &FileReport) -> Self {
        let good_allowed = FILE_ROWS.saturating_sub(
            file.components
                .iter()
                .filter(|c| !is_good(c.status))
                .count(),
        );
        let mut good_shown = 0usize;
        let mut hidden = 0u64;
        let mut rows = Vec::new();
        for (index, component) in file.components.iter().enumerate() {
            if is_good(component.status) {
                if good_shown >= good_allowed {
                    hidden += 1;
                    continue;
                }
                good_shown += 1;
            }
            let side_file = component.kind.is_side_file();
            rows.push(ComponentRow {
                number: index + 1,
                kind: component.kind.as_str(),
                side_file,
                what: if side_file {
                    component.file_path.as_deref().unwrap_or("—").to_string()
                } else {
                    format!(
                        "{}–{}",
                        count(component.offset),
                        count(component.offset + component.length)
                    )
                },
                length: count(component.length),
                look: Look::of(component.status),
                check: if matches!(component.kind, ComponentKind::Chunk | ComponentKind::Crc64) {
                    Check::crc64(component)
                } else {
                    Check::md5(component)
                },
                reason: reason_text(component),
            });
        }
        Self {
            rows,
            hidden: (hidden > 0).then(|| count(hidden)),
        }
    }
}

/// Why, and for a repair verified again, when.
fn reason_text(component: &ComponentReport) -> String {
    let mut text = component.reason.clone().unwrap_or_default();
    if let Some(at) = component.verified_again {
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(&format!("verified again at {}", human::timestamp(at)));
    }
    text
}

/// A component's checksums, each named: the reference first, then the others that differ
/// from it; a tick when the drive's equals it.
pub struct Check {
    pub head: String,
    /// Checksums shown without a reference to compare with.
    pub found: Vec<String>,
    pub differs: Vec<String>,
    pub same: bool,
}

impl Check {
    fn only(head: impl Into<String>) -> Self {
        Self {
            head: head.into(),
            found: Vec::new(),
            differs: Vec::new(),
            same: false,
        }
    }

    /// The three MD5s: what the manifest expects, what the drive holds, what the storage gave.
    fn md5(component: &ComponentReport) -> Self {
        let Some(expected) = component.expected_md5 else {
            let found: Vec<String> = [
                ("on the drive", component.actual_md5),
                ("from storage", component.storage_md5),
            ]
            .iter()
            .filter_map(|(name, md5)| md5.map(|m| format!("{name} {m}")))
            .collect();
            return if found.is_empty() {
                Self::only("—")
            } else {
                Self {
                    found,
                    ..Self::only("no expected MD5")
                }
            };
        };
        Self::compared(
            expected.to_string(),
            expected,
            component.actual_md5,
            component.storage_md5,
        )
    }

    /// The CRC-64s of a chunk or a whole file (drives from 2021 on): the verbose log's (or,
    /// for a chunk, the storage's) first.
    fn crc64(component: &ComponentReport) -> Self {
        let (reference, name) = match (component.expected_crc64, component.storage_crc64) {
            (Some(expected), _) => (expected, "CRC-64 (verbose log)"),
            (None, Some(storage)) => (storage, "CRC-64 from storage"),
            (None, None) => {
                return Self::only(match component.actual_crc64 {
                    Some(actual) => format!("CRC-64 on the drive {actual}"),
                    None => "checked with the whole file".to_string(),
                });
            }
        };
        Self::compared(
            format!("{name} {reference}"),
            reference,
            component.actual_crc64,
            component.storage_crc64,
        )
    }

    fn compared<T: PartialEq + std::fmt::Display>(
        head: String,
        reference: T,
        drive: Option<T>,
        storage: Option<T>,
    ) -> Self {
        let differs: Vec<String> = [("on the drive", &drive), ("from storage", &storage)]
            .into_iter()
            .filter_map(|(name, value)| {
                value
                    .as_ref()
                    .filter(|value| **value != reference)
                    .map(|value| format!("{name} {value}"))
            })
            .collect();
        Self {
            same: differs.is_empty() && drive.is_some(),
            differs,
            ..Self::only(head)
        }
    }
}
