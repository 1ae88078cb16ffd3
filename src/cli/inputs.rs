//! The drive's documents as the command line names them (manifest, copy log of any
//! generation, 2021 verbose log), read and merged into one `Drive`; shared by `verify` and
//! `repair`.

use std::path::Path;

use crate::format::copylog::AnyCopyLog;
use crate::format::log_names::LogName;
use crate::format::manifest::Manifest;
use crate::format::verbose_log::VerboseLog;
use crate::model::{Drive, Logs};

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
    Ok(match copy_log {
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
    })
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
