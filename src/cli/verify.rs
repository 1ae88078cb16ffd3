//! `export-repair verify`: offline verification against the manifest.

use std::sync::Arc;

use crate::engine::{self, VerifyOptions};
use crate::format::copylog::CopyLog;
use crate::format::manifest::Manifest;
use crate::model::Drive;

use super::args::VerifyArgs;
use super::session::{Reports, exit_status, run_headless};
use super::{CliError, ExitStatus};
use crate::report::RunInfo;

pub async fn run(mut args: VerifyArgs) -> Result<ExitStatus, CliError> {
    let interrupts = super::bitlocker::InterruptGuard::watch(&args.target);
    // Verification never writes: a BitLocker drive is mounted read-only.
    let volume = super::bitlocker::open_target(&mut args.target, &mut args.bitlocker_key, true)?;
    let result = verify(&args, interrupts).await;
    super::bitlocker::finish(volume, &mut args.bitlocker_key, result)
}

async fn verify(
    args: &VerifyArgs,
    interrupts: super::bitlocker::InterruptGuard,
) -> Result<ExitStatus, CliError> {
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
    let md5 = |path: &std::path::Path| {
        crate::journal::file_md5(path)
            .map_err(|error| CliError::Usage(format!("cannot read {}: {error}", path.display())))
    };
    let mut run = RunInfo::default()
        .with_inputs(
            Some(md5(&args.manifest)?),
            args.copy_log.as_deref().map(md5).transpose()?,
        )
        .with_option("target", args.target.display())
        .with_option("manifest", args.manifest.display());
    if let Some(copy_log) = &args.copy_log {
        run = run.with_option("copy_log", copy_log.display());
    }
    let reports = Reports::new(&args.reports.report, args.reports.report_format, run)?;
    let mut options = VerifyOptions::default();
    if let Some(threads) = args.threads {
        options.hash_threads = threads.max(1);
    }
    drop(interrupts);
    let handle = engine::start_verify(Arc::clone(&drive), args.target.clone(), options);
    let finished = run_headless(handle, drive, args.json, &reports).await?;
    Ok(exit_status(&finished))
}
