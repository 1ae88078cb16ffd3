//! `export-repair report --repair-file F -o out.html`: a report from a repair file alone.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use crate::engine::verify::Crc64s;
use crate::engine::{ComponentEvent, Event, Finding};
use crate::journal::{EntryState, RepairFile};
use crate::ledger::Ledger;
use crate::model::{ComponentId, ComponentKind, ComponentStatus, Drive};
use crate::report::{self, Report, ReportFormat, RunInfo};

use super::args::ReportArgs;
use super::{CliError, ExitStatus};

pub fn run(args: ReportArgs) -> Result<ExitStatus, CliError> {
    // A signal exits 4, leaving no copy of the repair file behind.
    let _interrupts = super::signals::before_run();
    let format = ReportFormat::resolve(&args.output, args.format).map_err(|error| {
        CliError::Usage(format!(
            "{error}: name the output .json, .html, .csv or .xml, or give --format"
        ))
    })?;
    let usage = |error: crate::journal::JournalError| CliError::Usage(super::chain(&error));
    let file = RepairFile::open_read_only(&args.repair_file).map_err(usage)?;
    let (drive, binding) = file.stored_drive().map_err(usage)?;
    let entries = file.entries(&drive).map_err(usage)?;
    let drive = Arc::new(drive);
    let run = RunInfo::default()
        .with_inputs(binding.manifest_md5, binding.copy_log_md5)
        .with_option("repair_file", args.repair_file.display());
    // The repair file's verdicts, folded as the run's own events were.
    let mut ledger = Ledger::new(Arc::clone(&drive));
    let known = |id: crate::model::ComponentId| {
        drive
            .blobs
            .get(id.blob as usize)
            .is_some_and(|blob| (id.component as usize) < blob.components.len())
    };
    // Each verdict at the time it was recorded; the run ended with its last (a file of an
    // early version that kept no times: now).
    let now = time::OffsetDateTime::now_utc();
    let mut last_recorded = None;
    let mut chunk_crcs = HashMap::new();
    // The storage's lengths the run learned, taken as the run took them.
    for (blob, length) in file.storage_lengths(&drive).map_err(usage)? {
        if let Some(id) = drive.sole_whole_file(blob) {
            ledger.apply(&Event::StorageLength { id, length });
        }
    }
    for entry in entries {
        let status = match entry.state {
            EntryState::Done(status) => status,
            // A repair under way when the run stopped: the damage found before it, as the
            // run's own report says.
            EntryState::InFlight {
                found: Some(status @ (ComponentStatus::Corrupt | ComponentStatus::Missing)),
            } => status,
            _ => continue,
        };
        if !known(entry.id) {
            continue;
        }
        let blob = entry.id.blob;
        let chunks = match chunk_crcs.entry(blob) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => new.insert(file.chunk_crcs(&drive, blob).map_err(usage)?),
        };
        let recorded = entry
            .recorded_ns
            .and_then(|ns| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).ok());
        last_recorded = last_recorded.max(recorded);
        // A download that failed for the storage out of reach, as the run told it (exit 4).
        let unreachable = status == ComponentStatus::Failed
            && (entry.reason.as_deref())
                .is_some_and(|reason| reason.starts_with(crate::source::UNAVAILABLE));
        let mut finding = Finding::recorded(entry, status);
        finding.crc64 = recorded_crc64s(&drive, finding.id, status, chunks);
        let id = finding.id;
        ledger.apply(&Event::Component(ComponentEvent::new(
            &drive,
            finding,
            recorded.unwrap_or(now),
        )));
        if unreachable {
            ledger.apply(&Event::StorageUnreachable {
                components: vec![id],
                message: String::new(),
            });
        }
    }
    // A repair file with components never settled records a run that did not finish, and so
    // does one whose last run said it stopped short (with damage found and not yet repaired).
    let interrupted = ledger.unsettled() > 0 || file.stopped_short().map_err(usage)? == Some(true);
    ledger.apply(&Event::RunFinished {
        outcome: ledger.outcome(),
        totals: ledger.totals(),
        finished: last_recorded.unwrap_or(now),
        interrupted,
        repair_file_error: None,
        active_seconds: 0.0,
    });
    let report = Report::of(&ledger, run);
    report::write_report(&report, &args.output, Some(format), None)?;
    say!(
        "wrote the {format} report of drive {} to {}",
        drive.drive_id,
        args.output.display()
    );
    Ok(super::session::exit_status(&ledger))
}

/// The CRC-64s a run told with a verdict the repair file recorded, where the verdict implies
/// them: a chunk verified or repaired by comparing it with the blob holds the blob's bytes
/// (`chunks`: the CRC-64s recorded when the blob was read), and a whole file repaired has the
/// verbose log's CRC-64 (and, repaired chunk by chunk, so had the blob's bytes). Anything
/// else the file does not know.
fn recorded_crc64s(
    drive: &Drive,
    id: ComponentId,
    status: ComponentStatus,
    chunks: &HashMap<u32, u64>,
) -> Crc64s {
    let blob = &drive.blobs[id.blob as usize];
    let component = &blob.components[id.component as usize];
    match (component.kind, status) {
        (ComponentKind::Chunk, ComponentStatus::Verified | ComponentStatus::Repaired) => {
            let storage = chunks.get(&id.component).copied();
            Crc64s {
                drive: storage,
                storage,
            }
        }
        (ComponentKind::Crc64, ComponentStatus::Repaired) => {
            let expected = blob.expected_crc64(component);
            Crc64s {
                drive: expected,
                // Its manifest blocks repaired instead, the run read no blob as a whole.
                storage: expected.filter(|_| !chunks.is_empty()),
            }
        }
        _ => Crc64s::default(),
    }
}
