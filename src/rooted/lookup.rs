//! Finding a drive path beneath the root without following links.
//!
//! NTFS folds case and a drive mounted on Linux shows names as they were written: a manifest may
//! say `\Pictures\a.JPG` for `pictures/a.jpg`, or write in NFC a name stored in NFD. An existing
//! name is matched exactly first, then by that folding; two candidates are an ambiguity, never a
//! guess.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use crate::format::drive_path::fold_name;
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

use super::RootedError;
use super::open::{FileKind, kind_at};

/// Where a path lies beneath the root: the deepest existing folder on the way (open), the
/// folders still to be made beneath it, and the file's name.
#[derive(Debug)]
pub struct Located {
    pub(super) display: String,
    pub(super) parent: OwnedFd,
    pub(super) missing_dirs: Vec<String>,
    pub(super) name: OsString,
    pub(super) exists: bool,
}

impl Located {
    /// Whether something exists at the path now.
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// The path as the drive's entry names it, for messages.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The file's name on disk (the entry's own when it does not exist yet).
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// The device and inode of what is at the path now (a link itself, not where it leads).
    pub fn device_and_inode(&self) -> Option<(u64, u64)> {
        if !self.exists {
            return None;
        }
        let stat = rustix::fs::statat(&self.parent, &self.name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        Some((stat.st_dev, stat.st_ino))
    }
}

pub(super) fn locate(
    root: BorrowedFd<'_>,
    display: &str,
    names: &[&str],
) -> Result<Located, RootedError> {
    let Some((last, folders)) = names.split_last() else {
        return Err(RootedError::Unsafe {
            path: display.to_string(),
            reason: "it names no file",
        });
    };
    let dir = match open_exact_folders(root, folders) {
        Some(dir) => dir,
        None => {
            let mut dir = reopen(root, display)?;
            for (depth, name) in folders.iter().enumerate() {
                match find(dir.as_fd(), display, name)? {
                    Some(actual) => dir = step_into(dir.as_fd(), display, &actual)?,
                    None => {
                        return Ok(Located {
                            display: display.to_string(),
                            parent: dir,
                            missing_dirs: folders[depth..].iter().map(|n| n.to_string()).collect(),
                            name: OsString::from(*last),
                            exists: false,
                        });
                    }
                }
            }
            dir
        }
    };
    let found = find(dir.as_fd(), display, last)?;
    if let Some(actual) = &found
        && kind_at(dir.as_fd(), actual).map_err(|e| RootedError::io(display, e))?
            == FileKind::Symlink
    {
        return Err(RootedError::Symlink {
            path: display.to_string(),
            link: actual.to_string_lossy().into_owned(),
        });
    }
    // `dir` is the file's folder: the walk above returned early otherwise.
    Ok(Located {
        display: display.to_string(),
        parent: dir,
        missing_dirs: Vec::new(),
        exists: found.is_some(),
        name: found.unwrap_or_else(|| OsString::from(*last)),
    })
}

/// The fast path: every folder named exactly, opened in one `openat2` that refuses links and
/// anything outside. `None` sends the caller to the step-by-step walk (a name that differs in
/// case, a link to name in the message, or a kernel without `openat2`).
fn open_exact_folders(root: BorrowedFd<'_>, folders: &[&str]) -> Option<OwnedFd> {
    if folders.is_empty() {
        return None;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let joined = folders.join("/");
        rustix::fs::openat2(
            root,
            joined.as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .ok()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}

fn reopen(dir: BorrowedFd<'_>, display: &str) -> Result<OwnedFd, RootedError> {
    rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| RootedError::io(display, e))
}

/// Opens the folder `name` of `dir`, refusing a link or anything that is not a folder.
pub(super) fn step_into(
    dir: BorrowedFd<'_>,
    display: &str,
    name: &OsStr,
) -> Result<OwnedFd, RootedError> {
    match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(fd),
        Err(error) if error == rustix::io::Errno::LOOP || error == rustix::io::Errno::NOTDIR => {
            let kind = kind_at(dir, name).map_err(|e| RootedError::io(display, e))?;
            if kind == FileKind::Symlink {
                Err(RootedError::Symlink {
                    path: display.to_string(),
                    link: name.to_string_lossy().into_owned(),
                })
            } else {
                Err(RootedError::NotADirectory {
                    path: display.to_string(),
                    name: name.to_string_lossy().into_owned(),
                    kind,
                })
            }
        }
        Err(error) => Err(RootedError::io(display, error)),
    }
}

/// Whether `name` exists in `dir` exactly as spelt (as anything, a link included).
pub(super) fn exists_exactly(
    dir: BorrowedFd<'_>,
    display: &str,
    name: &str,
) -> Result<bool, RootedError> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => Ok(true),
        Err(error) if error == rustix::io::Errno::NOENT => Ok(false),
        Err(error) => Err(RootedError::io(display, error)),
    }
}

/// The name in `dir` that `wanted` stands for: itself, or the one name it folds onto.
fn find(dir: BorrowedFd<'_>, display: &str, wanted: &str) -> Result<Option<OsString>, RootedError> {
    if exists_exactly(dir, display, wanted)? {
        return Ok(Some(OsString::from(wanted)));
    }
    let key = fold_name(wanted);
    let mut found = Vec::new();
    let mut entries = rustix::fs::Dir::read_from(dir).map_err(|e| RootedError::io(display, e))?;
    while let Some(entry) = entries.read() {
        let entry = entry.map_err(|e| RootedError::io(display, io::Error::from(e)))?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if matches!(name.as_bytes(), b"." | b"..") {
            continue;
        }
        if let Some(text) = name.to_str()
            && fold_name(text) == key
        {
            found.push(name.to_os_string());
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(RootedError::Ambiguous {
            path: display.to_string(),
            candidates: found
                .iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
