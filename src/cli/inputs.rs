//! The drive's documents as the command line names them (manifest, copy log of any
//! generation, 2021 verbose log), read and merged into one `Drive`; shared by `verify` and
//! `repair`.

use std::path::Path;

use crate::format::copylog::AnyCopyLog;
use crate::format::log_names::LogName;
use crate::format::manifest::Manifest;
use crate::format::verbose_log::VerboseLog;
use crate::model::{Drive, Logs, ModelError};
use crate::rooted::RootedDir;
use crate::sanitize::escape_controls;

use super::CliError;

/// Reads every document given and builds the drive; malformed input is a `FormatError`
/// naming the file, line:column and element.
pub fn load(
    manifest: Option<&Path>,
    copy_log: Option<&Path>,
    verbose_log: Option<&Path>,
) -> Result<Drive, CliError> {
    check_exists(manifest, copy_log, verbose_log)?;
    let manifest_path = manifest;
    let manifest = manifest.map(Manifest::from_file).transpose()?;
    let manifest_drive = manifest.as_ref().map(|m| m.drive_id.clone());
    let logs = Logs {
        copy_log: None,
        verbose_log: verbose_log.map(VerboseLog::from_file).transpose()?,
        drive_id: verbose_log.map(drive_id_from_name),
    };
    let given = [
        ("manifest", manifest_path),
        ("copy log", copy_log),
        ("verbose log", verbose_log),
    ];
    let built = match copy_log {
        // A DriveLog is merged as it is read: a verbose one of millions of ranges is never
        // held whole.
        Some(path) if !AnyCopyLog::is_2021(path) => Drive::read(manifest, path, logs),
        Some(path) => Drive::build(
            manifest,
            Some(Logs {
                copy_log: Some(AnyCopyLog::from_file(path)?),
                ..logs
            }),
        ),
        None => Drive::build(manifest, Some(logs)),
    };
    let mut drive = built.map_err(|error| match error {
        ModelError::Format(error) => CliError::Format(error),
        // Two documents disagree: which files they are.
        error => {
            let files: Vec<String> = given
                .iter()
                .filter_map(|&(what, path)| Some(format!("{what} {}", path?.display())))
                .collect();
            CliError::Usage(format!("{error} ({})", files.join(", ")))
        }
    })?;
    // The verbose log's name (`<job>_<serial>_VerboseLog_<stamp>.xml`) carries the serial
    // number the manifest names; a job name may hold `_`, so the name is matched, not split.
    let name = verbose_log
        .and_then(|path| path.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| LogName::parse(name).is_some());
    if let (Some(manifest_drive), Some(name)) = (manifest_drive, name)
        && let Some((before, _)) = name.rsplit_once("_VerboseLog_")
        && !before
            .to_lowercase()
            .ends_with(&format!("_{}", manifest_drive.to_lowercase()))
    {
        drive.warnings.insert(
            0,
            format!(
                "the manifest is for drive {} but the verbose log's name {} is another drive's; \
                 using the manifest's (check you have the right verbose log)",
                escape_controls(&manifest_drive),
                escape_controls(&name)
            ),
        );
    }
    Ok(drive)
}

/// Refuses every entry whose data, properties or metadata file on the drive is one of the
/// run's own files (`files`: what each is to the user, and its path), as a drive that keeps
/// its manifest beside the data may list it: a repair would write the blob over it. (A second
/// link to one is refused when written; this is the file itself.)
pub fn refuse_entries_on_inputs(drive: &mut Drive, target: &Path, files: &[(&str, &Path)]) {
    use std::os::unix::fs::MetadataExt as _;
    let (Ok(root), Ok(on_drive)) = (RootedDir::open(target), std::fs::metadata(target)) else {
        return;
    };
    // Only a file on the drive's file system, or inside the drive (a file system mounted in
    // it), can be one of its files.
    let target_path = target.canonicalize().ok();
    let inputs: Vec<(&str, (u64, u64))> = files
        .iter()
        .filter_map(|&(what, path)| {
            let found = std::fs::metadata(path).ok()?;
            let inside = || {
                let (Ok(path), Some(target)) = (path.canonicalize(), &target_path) else {
                    return false;
                };
                path.starts_with(target)
            };
            (found.dev() == on_drive.dev() || inside()).then(|| (what, (found.dev(), found.ino())))
        })
        .collect();
    if inputs.is_empty() {
        return;
    }
    for blob in drive.blobs.iter_mut().filter(|blob| blob.refusal.is_none()) {
        let on_an_input = file_among(&root, blob, &inputs).map(|(role, path, what)| {
            format!(
                "refused: its {role} \"{}\" is this run's {what}, which a repair would \
                 overwrite; nothing is read or written for this entry",
                escape_controls(path)
            )
        });
        if on_an_input.is_some() {
            blob.refusal = on_an_input;
        }
    }
}

/// The first of `blob`'s files on the drive that is one of `files` (by device and inode):
/// its role, its path and what that file is to the run.
fn file_among<'a, 'b>(
    root: &RootedDir,
    blob: &'a crate::model::Blob,
    files: &[(&'b str, (u64, u64))],
) -> Option<(&'static str, &'a str, &'b str)> {
    blob.files().find_map(|(role, path)| {
        let found = root.locate_file_path(path).ok()?.device_and_inode()?;
        let (what, _) = files.iter().find(|(_, file)| *file == found)?;
        Some((role.as_str(), path, *what))
    })
}

/// Refuses a repair file that is a drive file under another name (a hard link): the run writes
/// the repair file, so the drive's file would be overwritten before any entry could be
/// refused. A path that leads inside the drive (a symbolic link too) is refused by its path.
pub fn refuse_a_repair_file_on_the_drive(
    drive: &Drive,
    target: &Path,
    repair_file: &Path,
) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(found) = std::fs::metadata(repair_file) else {
        return Ok(());
    };
    if found.nlink() < 2 {
        return Ok(());
    }
    let Ok(root) = RootedDir::open(target) else {
        return Ok(());
    };
    let identity = [("repair file", (found.dev(), found.ino()))];
    match drive
        .blobs
        .iter()
        .find_map(|blob| file_among(&root, blob, &identity))
    {
        Some((role, path, _)) => Err(format!(
            "the repair file {} is the drive's {role} \"{}\" under another name (a hard link): \
             writing the repair file would overwrite it; nothing was written (name a repair \
             file that is not on the drive)",
            repair_file.display(),
            escape_controls(path)
        )),
        None => Ok(()),
    }
}

/// Refuses every two entries whose files on the drive are one file under two spellings the
/// documents' names do not show (an 8.3 short name of the file or of a folder on its way; a
/// second link too, met there): writing either would overwrite the other's bytes, or rename
/// over them. Spellings that fold to one name are refused with the model; a file system with
/// no short names is not looked at (every entry looked up costs time before the run starts,
/// and writes already refuse a file with a second link).
pub fn refuse_entries_sharing_a_file(drive: &mut Drive, target: &Path) {
    let Ok(root) = RootedDir::open(target) else {
        return;
    };
    if !root.has_short_names() {
        return;
    }
    let identity = |_, path: &str| {
        let located = root.locate_file_path(path).ok();
        Ok(located.and_then(|located| located.identity()))
    };
    crate::model::refuse_one_file_claimed_twice(
        &mut drive.blobs,
        identity,
        " (under another name: an 8.3 short name or a second link)",
    );
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
