//! Report paths, checked before a run starts: a report must never overwrite the run's own
//! inputs (the manifest, the copy log, the repair file) nor land inside the drive (where a run
//! writes only the files the drive's logs list, through its own checks), and a folder that
//! cannot take the report is found now, not after hours of work.

use std::path::{Path, PathBuf};

use super::CliError;
use crate::rooted::{FolderIdentity, RootedDir};

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
/// `resolved`) is inside it: under its name, or under a folder that is the drive by another
/// name (a bind mount: the same device and inode).
fn inside_drive(path: &Path, resolved: Option<&Path>, target: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let target = target.canonicalize().ok()?;
    let named = path.starts_with(&target) || resolved.is_some_and(|r| r.starts_with(&target));
    let mounted_elsewhere = || {
        let drive = std::fs::metadata(&target).ok()?;
        (path
            .ancestors()
            .chain(resolved.into_iter().flat_map(Path::ancestors)))
        .find(|folder| {
            std::fs::metadata(folder)
                .is_ok_and(|m| m.dev() == drive.dev() && m.ino() == drive.ino())
        })
    };
    (named || mounted_elsewhere().is_some()).then(|| target.display().to_string())
}

/// The drive, when `path` (which may not exist yet) would be inside it.
fn would_be_inside_drive(path: &Path, target: &Path) -> Option<String> {
    let resolved = as_it_will_resolve(path)?;
    inside_drive(&resolved, Some(&resolved), target)
}

/// Where `path` (which may not exist yet) is, as the kernel would resolve it while its
/// folders are made: each part that exists resolved as it is reached (links followed, so that
/// a `..` after a link climbs out of where it leads), each that does not taken as the folder
/// or file it will be.
fn as_it_will_resolve(path: &Path) -> Option<PathBuf> {
    let mut walked = PathBuf::new();
    for part in std::path::absolute(path).ok()?.components() {
        match part {
            std::path::Component::ParentDir => {
                walked.pop();
            }
            std::path::Component::CurDir => {}
            std::path::Component::Normal(name) => {
                walked.push(name);
                if let Ok(resolved) = walked.canonicalize() {
                    walked = resolved;
                }
            }
            root => walked.push(root),
        }
    }
    Some(walked)
}

/// Refuses `path` (`what` it is: "the log folder", "the repair file") inside the drive, before
/// anything is made there; `instead` says what to do. A link counts where it leads, even one
/// that leads nowhere yet (what opens it would make the file there).
pub fn outside_drive(
    path: &Path,
    target: &Path,
    what: &str,
    instead: &str,
) -> Result<(), CliError> {
    // The link and each link it leads to in turn (as the kernel follows them, at most 40).
    let mut chain = vec![path.to_path_buf()];
    while chain.len() <= 40
        && let Some(last) = chain.last()
        && let Ok(to) = std::fs::read_link(last)
    {
        let next = last
            .parent()
            .map_or_else(|| to.clone(), |folder| folder.join(&to));
        chain.push(next);
    }
    let inside = (chain.iter()).find_map(|path| would_be_inside_drive(path, target));
    match inside {
        Some(drive) => Err(CliError::Usage(format!(
            "{what} {} is inside the drive {drive}; a run writes nothing on the drive but the \
             files its logs list: {instead}",
            path.display()
        ))),
        None => Ok(()),
    }
}

/// The paths no report may be written to, owned (for reports asked for during a run).
#[derive(Debug, Default, Clone)]
pub struct ProtectedPaths {
    files: Vec<(&'static str, PathBuf)>,
    target: Option<PathBuf>,
    /// The drive's folder as the run started: where a report must not land when written.
    drive: Option<FolderIdentity>,
}

impl ProtectedPaths {
    pub fn of(protected: &Protected<'_>) -> Self {
        Self {
            files: (protected.files.iter())
                .map(|(what, path)| (*what, path.to_path_buf()))
                .collect(),
            target: protected.target.map(Path::to_path_buf),
            drive: protected
                .target
                .and_then(|target| FolderIdentity::of(target).ok()),
        }
    }

    /// The drive's folder, which a report is checked to stay out of as it is written.
    pub fn drive(&self) -> Option<FolderIdentity> {
        self.drive
    }

    /// Why `report` may not be written, if it may not: one of the run's inputs, or inside
    /// the drive (its folder is not made).
    pub fn refusal(&self, report: &Path) -> Option<String> {
        let protected = Protected {
            files: self.files.iter().map(|(w, p)| (*w, p.as_path())).collect(),
            target: self.target.as_deref(),
        };
        let folder = match report.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let folder = folder.canonicalize().ok()?;
        let refused = refused(&folder, report.file_name()?, &protected)?;
        Some(format!("the report {} {refused}", report.display()))
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
    // Before its folder is made: a folder made inside the drive would already change it.
    if let Some(target) = protected.target
        && let Some(drive) = would_be_inside_drive(&folder, target)
    {
        return Err(refuse(inside_drive_reason(&drive)));
    }
    std::fs::create_dir_all(&folder).map_err(|error| {
        refuse(format!(
            "cannot be written: its folder cannot be made ({error})"
        ))
    })?;
    let folder = folder
        .canonicalize()
        .map_err(|error| refuse(format!("cannot be written: {error}")))?;
    if let Some(why) = refused(&folder, name, protected) {
        return Err(refuse(why));
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

/// Why the report `name` in the (resolved) `folder` may not be written: it is a folder, one
/// of the run's inputs, or inside the drive.
fn refused(folder: &Path, name: &std::ffi::OsStr, protected: &Protected<'_>) -> Option<String> {
    let lexical = folder.join(name);
    // A report that exists may be a link: what it leads to counts too.
    let resolved = lexical.canonicalize().ok();
    if lexical.is_dir() {
        return Some("is a folder".into());
    }
    for (what, input) in &protected.files {
        // An input not made yet (a new repair file) is where it will be made.
        let Some(input) = as_it_will_resolve(input) else {
            continue;
        };
        if lexical == input || resolved.as_ref() == Some(&input) {
            return Some(format!(
                "is the {what} of this run; writing it would destroy the run's input"
            ));
        }
    }
    if let Some(drive) = protected
        .target
        .and_then(|target| inside_drive(&lexical, resolved.as_deref(), target))
    {
        return Some(inside_drive_reason(&drive));
    }
    // Found now, not after the run: a report is written as a file of its own.
    let is_link = std::fs::symlink_metadata(&lexical).is_ok_and(|m| m.file_type().is_symlink());
    is_link.then(|| {
        "is a symbolic link: a report is written as a file of its own, never through a link; \
         name the file itself"
            .into()
    })
}

fn inside_drive_reason(drive: &str) -> String {
    format!(
        "is inside the drive {drive}; a run writes nothing on the drive but the files its logs \
         list (verify not even those)"
    )
}
