//! `export-repair verify`: offline verification against the manifest (and the logs).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::engine::{self, VerifyOptions};

use super::args::VerifyArgs;
use super::report_paths::Protected;
use super::session::{Reports, exit_status, run_headless};
use super::{CliError, ExitStatus};
use crate::format::Md5;
use crate::journal::{Binding, JournalError, RepairFile};
use crate::model::{ComponentId, ComponentStatus, Drive};
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
    let mut drive = super::inputs::load(
        args.manifest.as_deref(),
        args.copy_log.as_deref(),
        args.verbose_log.as_deref(),
    )?;
    super::inputs::refuse_entries_sharing_a_file(&mut drive, &args.target);
    let drive = Arc::new(drive);
    let md5 = super::repair::md5_of;
    let binding = Binding {
        drive_id: drive.drive_id.clone(),
        manifest_md5: args.manifest.as_deref().map(md5).transpose()?,
        copy_log_md5: args.copy_log.as_deref().map(md5).transpose()?,
        verbose_log_md5: args.verbose_log.as_deref().map(md5).transpose()?,
    };
    let mut run = RunInfo::default()
        .with_inputs(binding.manifest_md5, binding.copy_log_md5)
        .with_option("target", args.target.display());
    if let Some(manifest) = &args.manifest {
        run = run.with_option("manifest", manifest.display());
    }
    if let Some(copy_log) = &args.copy_log {
        run = run.with_option("copy_log", copy_log.display());
    }
    let protected = Protected {
        files: args
            .repair_file
            .iter()
            .map(|path| ("repair file", path.as_path()))
            .collect(),
        target: Some(&args.target),
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
        options.hash_threads = usize::from(threads);
    }
    if let Some(repair_file) = &args.repair_file {
        options.downloaded = Arc::new(written_by(repair_file, &drive, &binding)?);
    }
    let signals = interrupts.hand_over().await;
    let handle = engine::start_verify(Arc::clone(&drive), args.target.clone(), options);
    let finished = run_headless(signals, handle, drive, args.json, &reports).await?;
    Ok(exit_status(&finished))
}

/// What the repair file at `path` (made for these inputs) recorded for what a repair wrote
/// that nothing but the storage vouched for: the MD5s of files downloaded whole, of ranges
/// without a hash and of regenerated properties and metadata files, as written. The file is
/// read into memory, never written or locked.
fn written_by(
    path: &Path,
    drive: &Drive,
    binding: &Binding,
) -> Result<HashMap<ComponentId, Md5>, CliError> {
    let unusable = |error: JournalError| CliError::Usage(super::chain(&error));
    let (repair_file, existed) = RepairFile::in_memory_copy(path, binding).map_err(unusable)?;
    if !existed {
        let shown = path.display();
        let what = match path.exists() {
            true => format!("the file at {shown} is empty: no run recorded anything in it"),
            false => format!("there is no repair file at {shown}"),
        };
        return Err(CliError::Usage(format!(
            "{what}: pass the one the repair wrote (--repair-file of `repair`), or leave \
             --repair-file out"
        )));
    }
    let entries = repair_file.entries(drive).map_err(unusable)?;
    Ok(entries
        .into_iter()
        .filter_map(|entry| {
            let blob = &drive.blobs[entry.id.blob as usize];
            let component = drive.component(entry.id);
            if blob.written_unchecked(component) {
                // What a repair last wrote, whatever verdicts followed.
                return Some((entry.id, entry.written_md5?));
            }
            // Regenerated from the blob's properties: what was written is the reference (also
            // when a later run took the verdict back).
            let regenerated = entry.state.recorded_status() == Some(ComponentStatus::Regenerated)
                && component.kind.is_side_file();
            regenerated.then_some((entry.id, entry.actual_md5?))
        })
        .collect())
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
