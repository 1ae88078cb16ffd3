//! Finding a drive path beneath the root without following links.
//!
//! NTFS folds case and a drive mounted on Linux shows names as they were written: a manifest may
//! say `\Pictures\a.JPG` for `pictures/a.jpg`, or write in NFC a name stored in NFD. An existing
//! name is matched exactly first, then by that folding; two candidates are an ambiguity, never a
//! guess.

use std::collections::{HashMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::format::drive_path::fold_name;
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, StatxFlags};

use super::open::{FileKind, FolderId, kind_at};
use super::{RootedError, locked};

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
    /// The root it lies beneath (device and inode).
    pub(super) root: FolderId,
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
        super::open::entry_id(self.parent.as_fd(), &self.name)
    }
}

pub(super) fn locate(
    (root, root_id): (BorrowedFd<'_>, FolderId),
    folded: &FoldedNames,
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
                match find(dir.as_fd(), folded, display, name)? {
                    Some(actual) => dir = step_into(dir.as_fd(), display, &actual)?,
                    None => {
                        return Ok(Located {
                            root: root_id,
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
    let found = find(dir.as_fd(), folded, display, last)?;
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
        root: root_id,
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
fn find(
    dir: BorrowedFd<'_>,
    folded: &FoldedNames,
    display: &str,
    wanted: &str,
) -> Result<Option<OsString>, RootedError> {
    if exists_exactly(dir, display, wanted)? {
        return Ok(Some(OsString::from(wanted)));
    }
    let key = fold_name(wanted);
    let candidates = |folder: &FoldedFolder| folder.names.get(&key).cloned().unwrap_or_default();
    let mut found = candidates(&*folded.of(dir, display)?);
    // Names kept from before the folder changed: one that is gone sends for a fresh read.
    let mut gone = false;
    for name in &found {
        gone |= rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).is_err();
    }
    if gone {
        found = candidates(&*folded.read(dir, display)?);
    }
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
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

/// The folded names of the folders looked into by folding last: a folder is read and every
/// name in it folded once, not at every lookup (which made a folder of many files missing or
/// spelt otherwise quadratic: 40,000 files took minutes). A folder changed since (another
/// modification time, change time, size or link count, or a stamp too recent to trust: the
/// clock file times come from is coarse) is read again once it has served an eighth of its
/// names' worth of lookups: the time stays linear while a repair fills the folder, and a name
/// another program gives a file meanwhile is seen soon after; a name kept that is gone is
/// read again at once. (What this run creates it finds by its exact name, and the folders it
/// makes it remembers: see `Located::make_folders`.)
#[derive(Debug, Default)]
pub(super) struct FoldedNames {
    recent: Mutex<VecDeque<Arc<FoldedFolder>>>,
}

#[derive(Debug)]
struct FoldedFolder {
    stamp: FolderStamp,
    /// Folded name → the names in the folder that fold to it.
    names: HashMap<String, Vec<OsString>>,
    /// Lookups it answered after its folder changed.
    stale_lookups: AtomicUsize,
    /// Read within a second of the folder's last change: a change in the same tick of the
    /// file-time clock would leave the stamp as it is.
    racy: bool,
}

/// A folder's identity and what changes whenever an entry is added, removed or renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FolderStamp {
    device: u64,
    inode: u64,
    modified: (i64, i64),
    changed: (i64, i64),
    size: i64,
    links: u64,
}

impl FolderStamp {
    fn of(dir: BorrowedFd<'_>, display: &str) -> Result<Self, RootedError> {
        let stat = rustix::fs::fstat(dir).map_err(|e| RootedError::io(display, e))?;
        #[allow(clippy::unnecessary_cast)] // Field widths differ by architecture.
        Ok(Self {
            device: stat.st_dev as u64,
            inode: stat.st_ino as u64,
            modified: (stat.st_mtime as i64, stat.st_mtime_nsec as i64),
            changed: (stat.st_ctime as i64, stat.st_ctime_nsec as i64),
            size: stat.st_size as i64,
            links: stat.st_nlink as u64,
        })
    }

    fn same_folder(&self, other: &Self) -> bool {
        (self.device, self.inode) == (other.device, other.inode)
    }
}

impl FoldedFolder {
    fn read(dir: BorrowedFd<'_>, display: &str, stamp: FolderStamp) -> Result<Self, RootedError> {
        let mut names: HashMap<String, Vec<OsString>> = HashMap::new();
        let mut entries =
            rustix::fs::Dir::read_from(dir).map_err(|e| RootedError::io(display, e))?;
        while let Some(entry) = entries.read() {
            let entry = entry.map_err(|e| RootedError::io(display, io::Error::from(e)))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if matches!(name.as_bytes(), b"." | b"..") {
                continue;
            }
            if let Some(text) = name.to_str() {
                names
                    .entry(fold_name(text))
                    .or_default()
                    .push(name.to_os_string());
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs() as i64);
        Ok(Self {
            stamp,
            names,
            stale_lookups: AtomicUsize::new(0),
            racy: stamp.modified.0.max(stamp.changed.0) >= now - 1,
        })
    }
}

/// How many folders' names are kept (work goes folder by folder).
const FOLDERS_KEPT: usize = 8;

impl FoldedNames {
    fn of(&self, dir: BorrowedFd<'_>, display: &str) -> Result<Arc<FoldedFolder>, RootedError> {
        let stamp = FolderStamp::of(dir, display)?;
        let kept = {
            let mut recent = locked(&self.recent);
            let at = recent.iter().position(|f| f.stamp.same_folder(&stamp));
            // The folder used last goes to the back: the front is evicted first.
            let kept = at.and_then(|at| recent.remove(at));
            if let Some(folder) = &kept {
                recent.push_back(Arc::clone(folder));
            }
            kept
        };
        if let Some(folder) = kept {
            if folder.stamp == stamp && !folder.racy {
                return Ok(folder);
            }
            let served = folder.stale_lookups.fetch_add(1, Ordering::Relaxed);
            if served < folder.names.len() / 8 {
                return Ok(folder);
            }
        }
        self.read(dir, display)
    }

    /// Reads the folder now and keeps its names.
    fn read(&self, dir: BorrowedFd<'_>, display: &str) -> Result<Arc<FoldedFolder>, RootedError> {
        let stamp = FolderStamp::of(dir, display)?;
        let folder = Arc::new(FoldedFolder::read(dir, display, stamp)?);
        let mut recent = locked(&self.recent);
        recent.retain(|kept| !kept.stamp.same_folder(&stamp));
        if recent.len() == FOLDERS_KEPT {
            recent.pop_front();
        }
        recent.push_back(Arc::clone(&folder));
        Ok(folder)
    }
}
