//! The drive's documents as the command line names them (manifest, copy log of any
//! generation, 2021 verbose log), read and merged into one `Drive`; shared by `verify` and
//! `repair`.

use std::path::Path;

use crate::format::copylog::AnyCopyLog;
use crate::format::log_names::LogName;
use crate::format::manifest::Manifest;
use crate::format::verbose_log::VerboseLog;
use crate::model::{ComponentKind, Drive, Logs};

use super::CliError;

/// Reads every document given and builds the drive; malformed input is a `FormatError`
/// naming the file, line:column and element.
pub fn load(
    manifest: Option<&Path>,
    copy_log: Option<&Path>,
    verbose_log: Option<&Path>,
) -> Result<Drive, CliError> {
    check_exists(manifest, copy_log, verbose_log)?;
    let manifest = manifest.map(Manifest::from_file).transpose()?;
    let logs = Logs {
        copy_log: None,
        verbose_log: verbose_log.map(VerboseLog::from_file).transpose()?,
        drive_id: verbose_log.map(drive_id_from_name),
    };
    let drive = match copy_log {
        // A DriveLog is merged as it is read: a verbose one of millions of ranges is never
        // held whole.
        Some(path) if !AnyCopyLog::is_2021(path) => Drive::read(manifest, path, logs)?,
        Some(path) => Drive::build(
            manifest,
            Some(Logs {
                copy_log: Some(AnyCopyLog::from_file(path)?),
                ..logs
            }),
        )?,
        None => Drive::build(manifest, Some(logs))?,
    };
    refuse_what_cannot_be_checked_yet(&drive, copy_log, verbose_log)?;
    Ok(drive)
}

/// A document that is not where the command line says gets a message saying where it
/// usually is and how to fetch the copy the service keeps.
fn check_exists(
    manifest: Option<&Path>,
    copy_log: Option<&Path>,
    verbose_log: Option<&Path>,
) -> Result<(), CliError> {
    const FETCH: &str = "`export-repair logs --account <name> --drive-id <DriveId> --into <dir>` \
                         fetches the copies the service keeps in the storage account";
    if let Some(path) = manifest.filter(|path| !path.exists()) {
        return Err(CliError::Usage(format!(
            "the manifest {} does not exist. On an export drive it is <DriveId>.manifest in the \
             drive's root (give it with /ManifestFile: or --manifest); if it is lost, {FETCH} \
             (the manifest backup among them)",
            path.display()
        )));
    }
    for (what, flags, path) in [
        ("copy log", "/CopyLogFile: or --copy-log", copy_log),
        (
            "verbose log",
            "/VerboseLogFile: or --verbose-log",
            verbose_log,
        ),
    ] {
        if let Some(path) = path.filter(|path| !path.exists()) {
            return Err(CliError::Usage(format!(
                "the {what} {} does not exist (given with {flags}); {FETCH}",
                path.display()
            )));
        }
    }
    Ok(())
}

/// A verbose log names no drive: its file name does (`<order>_<serial>_VerboseLog_<job>.xml`),
/// else the file's own name stands for it.
fn drive_id_from_name(path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    match LogName::parse(&name) {
        Some(log) => log.drive_id,
        None => name.into_owned(),
    }
}

/// Checking by CRC-64 and downloading 2021 entries whole are not built into the engine
/// yet: rather than report such files unchecked as if the drive verified, say so and stop
/// before anything runs. A 2021 copy log whose every file the manifest describes is fine:
/// the manifest's MD5s check and repair those files.
fn refuse_what_cannot_be_checked_yet(
    drive: &Drive,
    copy_log: Option<&Path>,
    verbose_log: Option<&Path>,
) -> Result<(), CliError> {
    let crc_files = drive
        .blobs
        .iter()
        .filter(|blob| {
            blob.components
                .iter()
                .any(|c| c.kind == ComponentKind::Crc64)
        })
        .count();
    if let Some(path) = verbose_log
        && crc_files > 0
    {
        return Err(CliError::Usage(format!(
            "{}: read {crc_files} file(s) to check by size and CRC-64; checking and repairing \
             files by CRC-64 is not available in this version yet, so nothing was checked \
             (the drive manifest, --manifest, checks the same files by MD5)",
            path.display()
        )));
    }
    let unlisted: Vec<&str> = drive
        .blobs
        .iter()
        .filter(|blob| blob.export.as_ref().is_some_and(|e| e.error.is_some()) && !blob.in_manifest)
        .map(|blob| blob.blob_path.as_str())
        .collect();
    if let (Some(path), Some(first)) = (copy_log, unlisted.first()) {
        return Err(CliError::Usage(format!(
            "{}: the 2021-08-01 copy log lists {} file(s) that the manifest does not describe \
             (the first: {first}); acting on them needs downloads pinned to their ETag, which \
             this version does not have yet, so nothing was checked{}",
            path.display(),
            unlisted.len(),
            if drive.has_manifest {
                ""
            } else {
                " (give the drive manifest, --manifest, to check the files it lists)"
            }
        )));
    }
    Ok(())
}
