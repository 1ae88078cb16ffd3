//! The one way to touch files under a directory the program does not trust: the target drive
//! (and the directories that receive the log and the reports).
//!
//! A [`RootedDir`] holds the directory's file descriptor. Every lookup, open, create, rename and
//! directory creation beneath it resolves relative to that descriptor and never follows a
//! symbolic link: one `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`
//! where the kernel has it, else a walk of single-name `openat(O_NOFOLLOW | O_DIRECTORY)` steps,
//! each relative to the descriptor of the step before. A directory swapped for a link during a
//! run therefore cannot redirect a write: the names are looked up in directories already open.
//!
//! Files are opened `O_NONBLOCK` and checked with `fstat` before anything is read or written, so
//! a FIFO, a device or a socket planted at a data path is refused instead of blocking or
//! streaming without end. A file with more than one hard link is never written in place (the
//! other names would change too). New files are made with `O_CREAT | O_EXCL | O_NOFOLLOW`,
//! temporary files get random names, and a rename into place is followed by an fsync of the
//! directory.
//!
//! Built on `rustix`: it exposes `openat2` and the `*at` calls directly, and (unlike `cap-std`,
//! which follows links that stay inside its root) lets every link be refused.

mod lookup;
mod open;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::format::drive_path;

pub use lookup::{Located, PathIdentity};
pub use open::{FileIdentity, FileKind, Opened, Placed, Temporary};

#[cfg(not(unix))]
compile_error!(
    "export-repair reaches files under the target through openat(2)-style calls: build it on \
     Linux, macOS or another Unix"
);

/// Why a path under a rooted directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RootedError {
    #[error("FilePath {path:?} is unsafe: {reason}")]
    Unsafe { path: String, reason: &'static str },
    #[error(
        "{path} passes through the symbolic link {link:?}; links on the drive are not followed \
         (remove the link, or put the real file or folder in its place, then rerun)"
    )]
    Symlink { path: String, link: String },
    #[error(
        "{path} passes through {name:?}, where another file system is mounted inside the drive; \
         it is not part of the drive and nothing there is read or written (unmount it, then \
         rerun)"
    )]
    MountPoint { path: String, name: String },
    #[error("{path} matches several names that differ only in case or Unicode form: {candidates}")]
    Ambiguous { path: String, candidates: String },
    #[error("{path} needs {name:?} to be a directory, but it is a {kind}")]
    NotADirectory {
        path: String,
        name: String,
        kind: FileKind,
    },
    #[error(
        "{path} is a {kind}, not a regular file; nothing was read or written there (remove it, then rerun)"
    )]
    NotAFile { path: String, kind: FileKind },
    #[error(
        "{path} has {links} hard links: writing it in place would change the other names too; \
         nothing was written (copy the file to break the link, then rerun)"
    )]
    HardLinked { path: String, links: u64 },
    #[error(
        "{path} changed while it was written: {what}; what was checked is not in place (rerun \
         to repair it)"
    )]
    ChangedWhileWritten { path: String, what: &'static str },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl RootedError {
    pub(crate) fn io(path: &str, source: impl Into<io::Error>) -> Self {
        RootedError::Io {
            path: path.to_string(),
            source: source.into(),
        }
    }

    /// Whether the path simply does not exist (as opposed to being refused).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RootedError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// A lock whose holder panicked is taken all the same: what rooted locks guard (names kept,
/// folders made) is a record to consult again, which a half-made update can only make miss.
fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A folder by device and inode (the drive's root, which reports must stay out of).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderIdentity(open::FolderId);

impl FolderIdentity {
    /// The folder at `path` (links followed: the user named it).
    pub fn of(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let found = std::fs::metadata(path)?;
        Ok(Self((found.dev(), found.ino())))
    }
}

/// An open directory that paths are resolved beneath.
#[derive(Debug)]
pub struct RootedDir {
    fd: OwnedFd,
    /// The root's device and inode: what a folder must still lie beneath.
    id: open::FolderId,
    /// For messages only; never used to reach a file.
    path: PathBuf,
    folded: lookup::FoldedNames,
}

impl RootedDir {
    /// Opens `path` as the root. The root itself may be reached through links (the user named
    /// it); nothing beneath it is.
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            id: open::identity(&fd)?,
            fd,
            path: path.to_path_buf(),
            folded: lookup::FoldedNames::default(),
        })
    }

    /// Whether the root's file system may give a file a second name no folding shows: an
    /// 8.3 short name (NTFS, through ntfs3 or FUSE's ntfs-3g, and FAT), or can tell nothing of
    /// itself (FUSE).
    pub fn has_short_names(&self) -> bool {
        const NTFS: i64 = 0x5346_544e;
        const NTFS3: i64 = 0x7366_746e;
        const FUSE: i64 = 0x6573_5546;
        const MSDOS: i64 = 0x4d44;
        // `f_type`'s width differs by architecture.
        #[allow(clippy::unnecessary_cast)]
        rustix::fs::fstatfs(&self.fd).map_or(true, |stats| {
            matches!(stats.f_type as i64, NTFS | NTFS3 | FUSE | MSDOS)
        })
    }

    /// Whether this directory, as opened, is `folder` or lies beneath it now.
    pub fn lies_beneath(&self, folder: FolderIdentity) -> bool {
        open::beneath(self.fd.as_fd(), folder.0)
    }

    /// The directory as the user named it, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Finds `names` beneath the root: each existing name exactly, else by NTFS's case folding
    /// and Unicode form (NFC/NFD). Nothing is created.
    pub fn locate(&self, display: &str, names: &[&str]) -> Result<Located, RootedError> {
        lookup::locate((self.fd.as_fd(), self.id), &self.folded, display, names)
    }

    /// Finds a drive `FilePath` (`\`-separated, drive-relative) beneath the root; an unsafe one
    /// (`..`, a drive letter, a device name) is refused before anything is looked up.
    pub fn locate_file_path(&self, file_path: &str) -> Result<Located, RootedError> {
        let names = drive_path::components(file_path).map_err(|error| match error {
            drive_path::DrivePathError::Unsafe { path, reason } => {
                RootedError::Unsafe { path, reason }
            }
        })?;
        self.locate(file_path, &names)
    }
}

#[cfg(test)]
mod tests;
