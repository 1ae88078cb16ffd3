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
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, StatxFlags};

use super::RootedError;
use super::open::{FileKind, kind_at};

/// See [`Located::identity`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathIdentity {
    Existing((u64, u64)),
    New { folder: (u64, u64), beneath: String },
}

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

    /// What the path names on the drive, however it is spelt: what is there when something
    /// is (its device and inode), else the deepest folder on the way that exists and the
    /// folded names beneath it. Two spellings of one file (a case variant, an 8.3 short name
    /// of it or of a folder on its way, a second link) have one identity.
    pub fn identity(&self) -> Option<PathIdentity> {
        if let Some(file) = self.device_and_inode() {
            return Some(PathIdentity::Existing(file));
        }
        let folder = rustix::fs::fstat(&self.parent).ok()?;
        let beneath = self
            .missing_dirs
            .iter()
            .map(|name| fold_name(name))
            .chain([fold_name(&self.name.to_string_lossy())])
            .collect::<Vec<_>>()
            .join("/");
        Some(PathIdentity::New {
            folder: (folder.st_dev, folder.st_ino),
            beneath,
        })
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
    if let Some(actual) = &found
        && elsewhere(
            mount_of(dir.as_fd(), actual),
            mount_of(dir.as_fd(), OsStr::new("")),
        )
    {
        return Err(RootedError::MountPoint {
            path: display.to_string(),
            name: actual.to_string_lossy().into_owned(),
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
            ResolveFlags::BENEATH
                | ResolveFlags::NO_SYMLINKS
                | ResolveFlags::NO_MAGICLINKS
                | ResolveFlags::NO_XDEV,
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
        Ok(fd)
            if elsewhere(
                mount_of(fd.as_fd(), OsStr::new("")),
                mount_of(dir, OsStr::new("")),
            ) =>
        {
            Err(RootedError::MountPoint {
                path: display.to_string(),
                name: name.to_string_lossy().into_owned(),
            })
        }
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

/// The mount `name` in `dir` (`""`: `dir` itself) lies on (a file system mounted inside the
/// drive, or a folder bound into it, is not the drive); `None` where the kernel tells no mount
/// ID (before Linux 5.8: devices would not do, as btrfs subvolumes and overlayfs files have
/// their own).
fn mount_of(dir: BorrowedFd<'_>, name: &OsStr) -> Option<u64> {
    let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::EMPTY_PATH;
    let found = rustix::fs::statx(dir, name, flags, StatxFlags::MNT_ID).ok()?;
    StatxFlags::from_bits_retain(found.stx_mask)
        .contains(StatxFlags::MNT_ID)
        .then_some(found.stx_mnt_id)
}

/// Whether two mounts are known to differ.
fn elsewhere(one: Option<u64>, other: Option<u64>) -> bool {
    matches!((one, other), (Some(one), Some(other)) if one != other)
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
