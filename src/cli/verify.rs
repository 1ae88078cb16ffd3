//! `export-repair verify`: offline verification against the manifest.

use std::sync::Arc;

use crate::engine::{self, Command, Event, VerifyOptions};
use crate::format::copylog::CopyLog;
use crate::format::manifest::Manifest;
use crate::model::Drive;
use crate::report::{self, ReportBuilder};

use super::args::VerifyArgs;
use super::reporter::Reporter;
use super::{CliError, ExitStatus};

pub async fn run(args: VerifyArgs) -> Result<ExitStatus, CliError> {
    if !args.target.is_dir() {
        return Err(CliError::Usage(format!(
            "the target {} is not a directory: pass the drive's root (or a copy of it) with --target",
            args.target.display()
        )));
    }
    let manifest = Manifest::from_file(&args.manifest)?;
    let copy_log = args
        .copy_log
        .as_deref()
        .map(CopyLog::from_file)
        .transpose()?;
    let drive = Arc::new(Drive::build(Some(manifest), copy_log)?);
    let mut options = VerifyOptions::default();
    if let Some(threads) = args.threads {
        options.hash_threads = threads.max(1);
    }
    let mut handle = engine::start_verify(Arc::clone(&drive), args.target.clone(), options);
    let commands = handle.commands();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = commands.send(Command::Cancel);
        }
    });
    let mut reporter = Reporter::new(args.json);
    let mut builder = ReportBuilder::new(Arc::clone(&drive));
    let mut finished = None;
    while let Some(event) = handle.events.recv().await {
        reporter.on_event(&event);
        builder.apply(&event);
        if let Event::RunFinished {
            outcome,
            totals,
            interrupted,
            ..
        } = &event
        {
            finished = Some((*outcome, totals.clone(), *interrupted));
        }
    }
    ctrl_c.abort();
    let (outcome, totals, interrupted) =
        finished.ok_or_else(|| CliError::Usage("the engine stopped without finishing".into()))?;
    if let Some(path) = &args.report {
        report::write_json(&builder.finish(), path)?;
    }
    reporter.summary(outcome, &totals, interrupted);
    Ok(if interrupted {
        ExitStatus::Interrupted
    } else if totals.damaged() > 0 {
        ExitStatus::Damaged
    } else {
        ExitStatus::Verified
    })
}
