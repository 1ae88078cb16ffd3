//! `export-repair report --repair-file F -o out.html`: a report from a repair file alone.

use std::sync::Arc;

use crate::engine::{ComponentEvent, Event, Finding};
use crate::journal::{EntryState, RepairFile};
use crate::ledger::Ledger;
use crate::model::ComponentStatus;
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
    let recorded_at = time::OffsetDateTime::now_utc();
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
        let finding = Finding::recorded(entry, status);
        ledger.apply(&Event::Component(ComponentEvent::new(
            &drive,
            finding,
            recorded_at,
        )));
    }
    // A repair file with components never settled records a run that did not finish, and so
    // does one whose last run said it stopped short (with damage found and not yet repaired).
    let interrupted = ledger.unsettled() > 0 || file.stopped_short().map_err(usage)? == Some(true);
    ledger.apply(&Event::RunFinished {
        outcome: ledger.outcome(),
        totals: ledger.totals(),
        finished: recorded_at,
        interrupted,
        repair_file_error: None,
        active_seconds: 0.0,
    });
    let report = Report::of(&ledger, run);
    report::write_report(&report, &args.output, Some(format))?;
    eprintln!(
        "wrote the {format} report of drive {} to {}",
        drive.drive_id,
        args.output.display()
    );
    Ok(super::session::exit_status(&ledger))
}
