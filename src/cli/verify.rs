//! `export-repair verify`: offline verification against the manifest.

use std::sync::Arc;

use crate::engine::{self, VerifyOptions};
use crate::format::copylog::CopyLog;
use crate::format::manifest::Manifest;
use crate::model::Drive;

use super::args::VerifyArgs;
use super::session::run_headless;
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
    let handle = engine::start_verify(Arc::clone(&drive), args.target.clone(), options);
    let finished = run_headless(handle, drive, args.json, args.report.as_deref()).await?;
    Ok(finished.exit_status())
}
