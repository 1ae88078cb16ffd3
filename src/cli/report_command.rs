//! `export-repair report --repair-file F -o out.html`: a report from a repair file alone.

use std::sync::Arc;

use crate::engine::{ComponentEvent, Event};
use crate::journal::{EntryState, RepairFile};
use crate::model::ComponentStatus;
use crate::report::{self, ReportBuilder, ReportFormat, RunInfo};

use super::args::ReportArgs;
use super::{CliError, ExitStatus};

pub fn run(args: ReportArgs) -> Result<ExitStatus, CliError> {
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
    let mut builder = ReportBuilder::with_run_info(Arc::clone(&drive), run);
    let mut settled = 0usize;
    for entry in entries {
        let EntryState::Done(status) = entry.state else {
            continue;
        };
        settled += 1;
        builder.apply(&Event::Component(ComponentEvent::new(
            &drive,
            entry.id,
            status,
            entry.actual_md5,
            entry.reason,
        )));
    }
    // A repair file with components never settled records a run that did not finish.
    let draft = builder.finish();
    let interrupted = settled < drive.component_count();
    builder.apply(&Event::RunFinished {
        outcome: draft.outcome,
        totals: draft.totals,
        finished: time::OffsetDateTime::now_utc(),
        interrupted,
        repair_file_error: None,
    });
    let report = builder.finish();
    report::write_report(&report, &args.output, Some(format))?;
    eprintln!(
        "wrote the {format} report of drive {} to {}",
        drive.drive_id,
        args.output.display()
    );
    let damaged = report
        .files
        .iter()
        .flat_map(|f| &f.components)
        .any(|c| c.status.is_damage() || c.status == ComponentStatus::Failed);
    Ok(if interrupted {
        ExitStatus::Interrupted
    } else if damaged {
        ExitStatus::Damaged
    } else {
        ExitStatus::Verified
    })
}
