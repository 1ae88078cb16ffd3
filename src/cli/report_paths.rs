//! Report paths, checked before a run starts: a report must never overwrite the run's own
//! inputs (the manifest, the copy log, the repair file) nor land inside the drive (where a run
//! writes only the files the drive's logs list, through its own checks), and a folder that
//! cannot take the report is found now, not after hours of work.

use std::path::{Path, PathBuf};

use super::CliError;
use crate::rooted::RootedDir;

/// What reports must not land on.
#[derive(Debug, Default)]
pub struct Protected<'a> {
    /// Inputs by what they are to the user ("manifest", "copy log", "repair file").
    pub files: Vec<(&'static str, &'a Path)>,
    /// The drive: no report is written into it.
    pub target: Option<&'a Path>,
}

impl<'a> Protected<'a> {
    /// Adds the drive's logs that were given (manifest, copy log, verbose log).
    pub fn with_logs(
        mut self,
        manifest: Option<&'a PathBuf>,
        copy_log: Option<&'a PathBuf>,
        verbose_log: Option<&'a PathBuf>,
    ) -> Self {
        let logs = [
            ("manifest", manifest),
            ("copy log", copy_log),
            ("verbose log", verbose_log),
        ];
        for (what, path) in logs {
            if let Some(path) = path {
                self.files.push((what, path));
            }
        }
        self
    }
}

/// The drive, as the user should read it, when `path` (or the file it leads to,
/// `resolved`) is inside it.
fn inside_drive(path: &Path, resolved: Option<&Path>, target: &Path) -> Option<String> {
    let target = target.canonicalize().ok()?;
    (path.starts_with(&target) || resolved.is_some_and(|r| r.starts_with(&target)))
        .then(|| target.display().to_string())
}

/// Refuses a repair file inside the drive: its database could take the place of a file the
/// drive's logs list, which the run would then write into.
pub fn repair_file_outside(repair_file: &Path, target: &Path) -> Result<(), CliError> {
    let absolute = match (repair_file.parent(), repair_file.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            parent.canonicalize().ok().map(|folder| folder.join(name))
        }
        _ => None,
    };
    let Some(absolute) = absolute else {
        return Ok(());
    };
    match inside_drive(&absolute, absolute.canonicalize().ok().as_deref(), target) {
        Some(drive) => Err(CliError::Usage(format!(
            "the repair file {} is inside the drive {drive}; a repair writes nothing on the \
             drive but the files its logs list: keep the repair file beside the drive",
            repair_file.display()
        ))),
        None => Ok(()),
    }
}

/// Checks a report path and makes its folder when missing.
pub fn check(report: &Path, protected: &Protected<'_>) -> Result<(), CliError> {
    let refuse = |why: String| {
        CliError::Usage(format!(
            "the report {} {why}; name another report path",
            report.display()
        ))
    };
    let name = report
        .file_name()
        .ok_or_else(|| refuse("names no file".into()))?;
    let folder = match report.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&folder).map_err(|error| {
        refuse(format!(
            "cannot be written: its folder cannot be made ({error})"
        ))
    })?;
    let folder = folder
        .canonicalize()
        .map_err(|error| refuse(format!("cannot be written: {error}")))?;
    let lexical = folder.join(name);
    // A report that exists may be a link: what it leads to counts too.
    let resolved = lexical.canonicalize().ok();
    if lexical.is_dir() {
        return Err(refuse("is a folder".into()));
    }
    for (what, input) in &protected.files {
        let Ok(input) = input.canonicalize() else {
            continue;
        };
        if lexical == input || resolved.as_ref() == Some(&input) {
            return Err(refuse(format!(
                "is the {what} of this run; writing it would destroy the run's input"
            )));
        }
    }
    if let Some(target) = protected.target
        && let Some(drive) = inside_drive(&lexical, resolved.as_deref(), target)
    {
        return Err(refuse(format!(
            "is inside the drive {drive}; a run writes nothing on the drive but the files its \
             logs list (verify not even those)"
        )));
    }
    // Whether the folder takes a file now: a temporary made and removed.
    RootedDir::open(&folder)
        .map_err(|error| error.to_string())
        .and_then(|root| {
            root.child(".export-repair-report-check")
                .and_then(|located| located.temporary())
                .map(drop)
                .map_err(|error| error.to_string())
        })
        .map_err(|error| refuse(format!("cannot be written: {error}")))
}
