//! `export-repair verify`: offline verification against the manifest (and the logs).

use std::sync::Arc;

use crate::engine::{self, VerifyOptions};

use super::args::VerifyArgs;
use super::report_paths::Protected;
use super::session::{Reports, exit_status, run_headless};
use super::{CliError, ExitStatus};
use crate::report::RunInfo;

pub async fn run(mut args: VerifyArgs) -> Result<ExitStatus, CliError> {
    let interrupts = super::signals::before_run();
    // Verification never writes: a BitLocker drive is mounted read-only.
    let volume = super::bitlocker::open_target(&mut args.target, &mut args.bitlocker_key, true)?;
    let result = verify(&args, interrupts).await;
    super::bitlocker::finish(volume, &mut args.bitlocker_key, result)
}

async fn verify(
    args: &VerifyArgs,
    interrupts: super::signals::Interrupts,
) -> Result<ExitStatus, CliError> {
    check_target(&args.target, "--target")?;
    let drive = Arc::new(super::inputs::load(
        args.manifest.as_deref(),
        args.copy_log.as_deref(),
        args.verbose_log.as_deref(),
    )?);
    let md5 = |path: &std::path::Path| {
        crate::journal::file_md5(path)
            .map_err(|error| CliError::Usage(format!("cannot read {}: {error}", path.display())))
    };
    let mut run = RunInfo::default()
        .with_inputs(
            args.manifest.as_deref().map(md5).transpose()?,
            args.copy_log.as_deref().map(md5).transpose()?,
        )
        .with_option("target", args.target.display());
    if let Some(manifest) = &args.manifest {
        run = run.with_option("manifest", manifest.display());
    }
    if let Some(copy_log) = &args.copy_log {
        run = run.with_option("copy_log", copy_log.display());
    }
    let protected = Protected {
        read_only_target: Some(&args.target),
        ..Protected::default()
    }
    .with_logs(
        args.manifest.as_ref(),
        args.copy_log.as_ref(),
        args.verbose_log.as_ref(),
    );
    let reports = Reports::new(
        &args.reports.report,
        args.reports.report_format,
        run,
        &protected,
    )?;
    let mut options = VerifyOptions::default();
    if let Some(threads) = args.threads {
        options.hash_threads = threads.max(1);
    }
    drop(interrupts);
    let handle = engine::start_verify(Arc::clone(&drive), args.target.clone(), options);
    let finished = run_headless(handle, drive, args.json, &reports).await?;
    Ok(exit_status(&finished))
}

/// The target must be a folder the run can open (`flag` names where it comes from).
pub fn check_target(target: &std::path::Path, flag: &str) -> Result<(), CliError> {
    crate::rooted::RootedDir::open(target)
        .map(drop)
        .map_err(|error| {
            let what = if target.exists() && !target.is_dir() {
                "is not a directory".to_string()
            } else {
                format!("cannot be opened ({error})")
            };
            CliError::Usage(format!(
                "the target {} {what}: pass the drive's root (or a copy of it) with {flag}",
                target.display()
            ))
        })
}
