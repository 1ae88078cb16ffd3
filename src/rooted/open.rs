//! Opening, creating and replacing files at a [`Located`] path: every open is `O_NOFOLLOW`
//! and relative to a folder already open; an existing file is first only looked at (`O_PATH`)
//! and opened once `fstat` has said it is a regular file.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Write as _};
use std::os::fd::{AsFd, AsRawFd as _, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, RenameFlags};

use super::lookup::{Located, exists_exactly, step_into};
use super::{RootedDir, RootedError, locked};
use crate::format::drive_path::fold_name;

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharacterDevice,
    BlockDevice,
    Unknown,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::File => "regular file",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symbolic link",
            FileKind::Fifo => "FIFO (named pipe)",
            FileKind::Socket => "socket",
            FileKind::CharacterDevice => "character device",
            FileKind::BlockDevice => "block device",
            FileKind::Unknown => "special file",
        })
    }
}

impl FileKind {
    fn of(mode: u32) -> Self {
        use rustix::fs::FileType;
        match FileType::from_raw_mode(mode as _) {
            FileType::RegularFile => FileKind::File,
            FileType::Directory => FileKind::Directory,
            FileType::Symlink => FileKind::Symlink,
            FileType::Fifo => FileKind::Fifo,
            FileType::Socket => FileKind::Socket,
            FileType::CharacterDevice => FileKind::CharacterDevice,
            FileType::BlockDevice => FileKind::BlockDevice,
            FileType::Unknown => FileKind::Unknown,
        }
    }
}

/// What `name` in `dir` is, without following a link.
pub(super) fn kind_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<FileKind> {
    let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(FileKind::of(stat.st_mode as u32))
}

/// Which file a path held when it was looked at: a later look that finds another size, time
/// or inode knows the file changed in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    pub length: u64,
    /// Modification time, nanoseconds since the epoch.
    pub modified_ns: i64,
    pub inode: u64,
    pub device: u64,
    /// Status change time, nanoseconds since the epoch: it moves on every write and every
    /// change of the file's metadata, a modification time set back by hand included, and
    /// `touch`, `cp -p` or `tar` cannot set it. None when a repair file from before it was read.
    pub changed_ns: Option<i64>,
}

impl FileIdentity {
    pub fn of(file: &File) -> io::Result<Self> {
        let metadata = file.metadata()?;
        Ok(Self {
            length: metadata.len(),
            modified_ns: metadata
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(metadata.mtime_nsec()),
            inode: metadata.ino(),
            device: metadata.dev(),
            changed_ns: Some(
                metadata
                    .ctime()
                    .saturating_mul(1_000_000_000)
                    .saturating_add(metadata.ctime_nsec()),
            ),
        })
    }
}

/// A file opened for writing, and the folders that gained an entry on the way (synced once the
/// data is, so that a new file cannot vanish in a crash after it was recorded as done).
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    /// Whether the file was created by this open.
    pub created: bool,
    pub(super) new_entries: Vec<OwnedFd>,
    /// The folder the file was opened in.
    folder: OwnedFd,
}

impl Opened {
    /// Syncs every folder that gained a file or folder while this one was opened.
    pub fn sync_new_entries(&self) -> io::Result<()> {
        sync_folders(&self.new_entries)
    }
}

fn sync_folders(folders: &[OwnedFd]) -> io::Result<()> {
    // Deepest first: a folder's own entry is durable only after its contents are.
    for folder in folders.iter().rev() {
        rustix::fs::fsync(folder)?;
    }
    Ok(())
}

impl Located {
    /// Opens the existing file for reading; anything but a regular file is refused unread.
    pub fn open_read(&self) -> Result<File, RootedError> {
        self.open_checked(OFlags::RDONLY, false)
    }

    /// Opens the existing file for writing in place: a regular file with one link only.
    pub fn open_write(&self) -> Result<File, RootedError> {
        self.open_checked(OFlags::RDWR, true)
    }

    fn open_checked(&self, access: OFlags, writing: bool) -> Result<File, RootedError> {
        if !self.exists {
            return Err(RootedError::io(
                &self.display,
                io::Error::from(io::ErrorKind::NotFound),
            ));
        }
        // First only a handle on what is there (`O_PATH` opens nothing: no driver of a device
        // node is called), its kind checked; then that same file opened through the handle.
        let handle = rustix::fs::openat(
            self.parent.as_fd(),
            &self.name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|error| self.open_error(error))?;
        let stat = rustix::fs::fstat(&handle).map_err(|e| RootedError::io(&self.display, e))?;
        match FileKind::of(stat.st_mode as u32) {
            FileKind::File => {}
            FileKind::Symlink => return Err(self.open_error(rustix::io::Errno::LOOP)),
            kind => {
                return Err(RootedError::NotAFile {
                    path: self.display.clone(),
                    kind,
                });
            }
        }
        let flags = access | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let through_handle = format!("/proc/self/fd/{}", handle.as_raw_fd());
        let fd = match rustix::fs::open(through_handle.as_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            // No /proc: by name again (what took the name since is checked below).
            Err(_) => rustix::fs::openat(
                self.parent.as_fd(),
                &self.name,
                flags | OFlags::NOFOLLOW,
                Mode::empty(),
            )
            .map_err(|error| self.open_error(error))?,
        };
        self.checked_file(fd, writing)
    }

    /// A regular file (with one link, when it is to be written); blocking again.
    fn checked_file(&self, fd: OwnedFd, writing: bool) -> Result<File, RootedError> {
        let stat = rustix::fs::fstat(&fd).map_err(|e| RootedError::io(&self.display, e))?;
        let kind = FileKind::of(stat.st_mode as u32);
        if kind != FileKind::File {
            return Err(RootedError::NotAFile {
                path: self.display.clone(),
                kind,
            });
        }
        let links = stat.st_nlink as u64;
        if writing && links > 1 {
            return Err(RootedError::HardLinked {
                path: self.display.clone(),
                links,
            });
        }
        let flags = rustix::fs::fcntl_getfl(&fd).map_err(|e| RootedError::io(&self.display, e))?;
        rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)
            .map_err(|e| RootedError::io(&self.display, e))?;
        Ok(File::from(fd))
    }

    fn open_error(&self, error: rustix::io::Errno) -> RootedError {
        if error == rustix::io::Errno::LOOP {
            return RootedError::Symlink {
                path: self.display.clone(),
                link: self.name.to_string_lossy().into_owned(),
            };
        }
        if error == rustix::io::Errno::NXIO {
            // A FIFO without a reader, opened for writing.
            return RootedError::NotAFile {
                path: self.display.clone(),
                kind: kind_at(self.parent.as_fd(), &self.name).unwrap_or(FileKind::Unknown),
            };
        }
        RootedError::io(&self.display, error)
    }

    /// Makes the missing folders (`made`: the folders this run made, held while the caller
    /// creates its entry); returns the file's folder and the folders that gained an entry,
    /// outermost first.
    fn make_folders(&self, made: &mut MadeFolders) -> Result<(OwnedFd, Vec<OwnedFd>), RootedError> {
        let io_error = |e| RootedError::io(&self.display, e);
        let mut dir = reopen(self.parent.as_fd()).map_err(io_error)?;
        let mut new_entries = Vec::new();
        for name in &self.missing_dirs {
            let key = (identity(&dir).map_err(io_error)?, fold_name(name));
            // Another entry of this run may have made it since it was looked for, spelt
            // otherwise (`\Cont\a` and `\cont\b`): one folder, not two.
            if let Some(actual) = made.by_name.get(&key)
                && exists_exactly(dir.as_fd(), &self.display, &actual.to_string_lossy())?
            {
                dir = step_into(dir.as_fd(), &self.display, actual)?;
                continue;
            }
            let parent =
                match rustix::fs::mkdirat(dir.as_fd(), name.as_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) => {
                        new_entries.push(reopen(dir.as_fd()).map_err(io_error)?);
                        Some(Arc::new(reopen(dir.as_fd()).map_err(io_error)?))
                    }
                    // Made meanwhile by another job of this run: fine, if it is a folder.
                    Err(error) if error == rustix::io::Errno::EXIST => None,
                    Err(error) => return Err(io_error(error)),
                };
            dir = step_into(dir.as_fd(), &self.display, OsStr::new(name))?;
            if let Some(parent) = parent {
                let folder = identity(&dir).map_err(io_error)?;
                made.by_name.insert(key.clone(), OsString::from(name));
                made.by_folder.insert(folder, (parent, key));
            }
        }
        Ok((dir, new_entries))
    }

    /// Whether the file `opened` here is still at this path, in a folder beneath the root:
    /// written in place through a descriptor, it would take bytes wherever it was moved.
    pub fn still_holds(&self, opened: &Opened) -> bool {
        let folder = opened.folder.as_fd();
        identity(&opened.file).is_ok_and(|ours| entry_id(folder, &self.name) == Some(ours))
            && beneath(folder, self.root)
    }

    /// Opens the file for writing in place, creating it (and its folders) when it is missing.
    pub fn open_or_create(&self) -> Result<Opened, RootedError> {
        if self.exists {
            return Ok(Opened {
                file: self.open_write()?,
                created: false,
                new_entries: Vec::new(),
                folder: reopen(self.parent.as_fd())
                    .map_err(|e| RootedError::io(&self.display, e))?,
            });
        }
        let mut made = locked(&MAKING_ENTRIES);
        let (dir, mut new_entries) = self.make_folders(&mut made)?;
        let created = rustix::fs::openat(
            dir.as_fd(),
            &self.name,
            OFlags::RDWR
                | OFlags::CREATE
                | OFlags::EXCL
                | OFlags::NOFOLLOW
                | OFlags::NOCTTY
                | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        );
        match created {
            Ok(fd) => {
                let folder = reopen(dir.as_fd()).map_err(|e| RootedError::io(&self.display, e))?;
                new_entries.push(dir);
                Ok(Opened {
                    file: File::from(fd),
                    created: true,
                    new_entries,
                    folder,
                })
            }
            // Created meanwhile (another job on the same missing file): open what is there.
            Err(error) if error == rustix::io::Errno::EXIST => {
                let located = Located {
                    root: self.root,
                    display: self.display.clone(),
                    parent: dir,
                    missing_dirs: Vec::new(),
                    name: self.name.clone(),
                    exists: true,
                };
                Ok(Opened {
                    file: located.open_write()?,
                    created: false,
                    new_entries,
                    folder: located.parent,
                })
            }
            Err(error) => Err(self.open_error(error)),
        }
    }

    /// A temporary file with a random name in the file's folder (made when missing), to be
    /// renamed over the file by [`Temporary::commit`] once its bytes are right.
    pub fn temporary(&self) -> Result<Temporary, RootedError> {
        let mut made = locked(&MAKING_ENTRIES);
        let (dir, new_entries) = self.make_folders(&mut made)?;
        for _ in 0..16 {
            let name = OsString::from(format!(
                "{TEMPORARY_PREFIX}{:016x}{TEMPORARY_SUFFIX}",
                rand::random::<u64>()
            ));
            match rustix::fs::openat(
                dir.as_fd(),
                &name,
                OFlags::RDWR
                    | OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::NOFOLLOW
                    | OFlags::NOCTTY
                    | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            ) {
                Ok(fd) => {
                    // Held while the temporary lives (and its process): a cleaner of stale
                    // temporaries leaves a locked one alone. One that took the lock first (for
                    // a moment) may have removed it: then another name. A folder without locks
                    // only loses that protection.
                    let _ = rustix::fs::flock(&fd, FlockOperation::LockExclusive);
                    if rustix::fs::fstat(&fd).is_ok_and(|stat| stat.st_nlink == 0) {
                        continue;
                    }
                    return Ok(Temporary {
                        root: self.root,
                        file: File::from(fd),
                        dir,
                        name,
                        target: self.name.clone(),
                        display: self.display.clone(),
                        new_entries,
                        committed: false,
                    });
                }
                Err(error) if error == rustix::io::Errno::EXIST => continue,
                Err(error) => return Err(RootedError::io(&self.display, error)),
            }
        }
        Err(RootedError::io(
            &self.display,
            io::Error::other("no free temporary name after 16 tries"),
        ))
    }

    /// Removes temporaries a killed run left in this file's folder (regular files named as
    /// [`Self::temporary`] names them, whose lock no living process holds: another run's
    /// temporary being written is left alone, and so is a file `claimed` by name, one an entry
    /// of the drive names); returns how many.
    pub fn remove_stale_temporaries(
        &self,
        claimed: impl Fn(&OsStr) -> bool,
    ) -> Result<usize, RootedError> {
        if !self.missing_dirs.is_empty() {
            return Ok(0);
        }
        let io_error = |e: rustix::io::Errno| RootedError::io(&self.display, e);
        let mut stale = Vec::new();
        let mut entries = rustix::fs::Dir::read_from(&self.parent).map_err(io_error)?;
        while let Some(entry) = entries.read() {
            let entry = entry.map_err(io_error)?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if is_temporary_name(name)
                && !claimed(name)
                && kind_at(self.parent.as_fd(), name)
                    .map_err(|e| RootedError::io(&self.display, e))?
                    == FileKind::File
                && !is_held(self.parent.as_fd(), name)
            {
                stale.push(name.to_os_string());
            }
        }
        for name in &stale {
            rustix::fs::unlinkat(self.parent.as_fd(), name, AtFlags::empty()).map_err(io_error)?;
        }
        Ok(stale.len())
    }

    /// Replaces the file whole with `bytes` (temporary, fsync, rename, fsync of the folder) and
    /// returns the bytes read back from the file now in place.
    pub fn replace_with(&self, bytes: &[u8]) -> Result<Vec<u8>, RootedError> {
        let mut temporary = self.temporary()?;
        temporary
            .file
            .write_all(bytes)
            .map_err(|e| RootedError::io(&self.display, e))?;
        let file = temporary.commit()?;
        let mut read_back = vec![0u8; bytes.len()];
        file.read_exact_at(&mut read_back, 0)
            .map_err(|e| RootedError::io(&self.display, e))?;
        Ok(read_back)
    }
}

const TEMPORARY_PREFIX: &str = ".export-repair-";
const TEMPORARY_SUFFIX: &str = ".tmp";

/// Whether `name` is one [`Located::temporary`] makes.
pub(super) fn is_temporary_name(name: &OsStr) -> bool {
    name.to_str()
        .and_then(|n| n.strip_prefix(TEMPORARY_PREFIX))
        .and_then(|n| n.strip_suffix(TEMPORARY_SUFFIX))
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether a living process holds the lock of the temporary `name` in `dir` (or whether that
/// cannot be told: then it is left alone too).
fn is_held(dir: BorrowedFd<'_>, name: &OsStr) -> bool {
    let opened = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    );
    match opened {
        Ok(fd) => rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err(),
        Err(_) => true,
    }
}

/// What [`Temporary::commit_as_new`] did.
#[derive(Debug)]
pub enum Placed {
    /// Put in place: the file under its final name, for reading back.
    Done(File),
    /// A file of the final name appeared meanwhile and was left alone.
    NameTaken(Temporary),
}

/// A file being written beside its final name; removed unless committed.
#[derive(Debug)]
pub struct Temporary {
    pub file: File,
    /// The root its folder must lie beneath when it is put in place.
    root: FolderId,
    dir: OwnedFd,
    name: OsString,
    target: OsString,
    display: String,
    new_entries: Vec<OwnedFd>,
    committed: bool,
}

impl Temporary {
    /// Puts the file in place under `name`, in the same folder, instead of the name it was
    /// made for (a log kept beside a copy with other bytes). `name` is one plain component.
    pub fn retarget(&mut self, name: &str) -> Result<(), RootedError> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(RootedError::io(
                name,
                io::Error::new(io::ErrorKind::InvalidInput, "not a plain file name"),
            ));
        }
        self.display = Path::new(&self.display)
            .with_file_name(name)
            .display()
            .to_string();
        self.target = OsString::from(name);
        Ok(())
    }

    /// Syncs the bytes, renames the file into place and syncs the folders; returns the file
    /// (now under its final name) for reading back.
    pub fn commit(self) -> Result<File, RootedError> {
        match self.put_in_place(RenameFlags::empty())? {
            Placed::Done(file) => Ok(file),
            // Only a rename that must not replace finds the name taken.
            Placed::NameTaken(temporary) => Err(temporary.changed("its final name was taken")),
        }
    }

    /// [`Self::commit`], unless a file of the final name appears first: then nothing is
    /// replaced and the temporary comes back, to be put in place under another name.
    pub fn commit_as_new(self) -> Result<Placed, RootedError> {
        self.put_in_place(RenameFlags::NOREPLACE)
    }

    fn put_in_place(mut self, flags: RenameFlags) -> Result<Placed, RootedError> {
        let io_error = |e| RootedError::io(&self.display, e);
        self.file.sync_all().map_err(io_error)?;
        if exists_exactly(
            self.dir.as_fd(),
            &self.display,
            &self.target.to_string_lossy(),
        )? && kind_at(self.dir.as_fd(), &self.target).map_err(io_error)? == FileKind::Directory
        {
            return Err(RootedError::NotAFile {
                path: self.display.clone(),
                kind: FileKind::Directory,
            });
        }
        // The rename goes by name, in a folder held open: the name must still be this file,
        // and the folder still beneath the root, before and after.
        let ours = identity(&self.file).map_err(|e| RootedError::io(&self.display, e))?;
        if !self.holds(&self.name, ours) {
            // Another file took the temporary's name (or none has it): not ours to remove.
            self.committed = true;
            return Err(self.changed("its temporary was removed or replaced"));
        }
        if !self.beneath_root() {
            return Err(self.changed("its folder was moved out of the target"));
        }
        // renameat2 only when a flag asks for it: kernels before 3.15 lack it.
        let rename = |flags: RenameFlags| {
            let (dir, name, target) = (self.dir.as_fd(), &self.name, &self.target);
            match flags.is_empty() {
                true => rustix::fs::renameat(dir, name, dir, target),
                false => rustix::fs::renameat_with(dir, name, dir, target, flags),
            }
        };
        let renamed = match rename(flags) {
            // A file system without the flag (some FUSE ones): looked at, then renamed.
            Err(
                rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::OPNOTSUPP,
            ) if flags.contains(RenameFlags::NOREPLACE) => {
                match entry_id(self.dir.as_fd(), &self.target) {
                    Some(_) => Err(rustix::io::Errno::EXIST),
                    None => rename(RenameFlags::empty()),
                }
            }
            renamed => renamed,
        };
        match renamed {
            Err(rustix::io::Errno::EXIST) if flags.contains(RenameFlags::NOREPLACE) => {
                return Ok(Placed::NameTaken(self));
            }
            renamed => renamed.map_err(|e| RootedError::io(&self.display, e))?,
        }
        self.committed = true;
        if !self.holds(&self.target, ours) {
            return Err(self.changed("the file put in place was replaced right after"));
        }
        if !self.beneath_root() {
            return Err(self.changed("its folder was moved out of the target"));
        }
        rustix::fs::fsync(&self.dir).map_err(|e| RootedError::io(&self.display, e))?;
        sync_folders(&self.new_entries).map_err(io_error)?;
        self.file.try_clone().map_err(io_error).map(Placed::Done)
    }

    /// Whether `name` in the folder is the file `ours` (device and inode), not followed.
    fn holds(&self, name: &OsStr, ours: FolderId) -> bool {
        entry_id(self.dir.as_fd(), name) == Some(ours)
    }

    /// Whether the folder still lies beneath the root.
    fn beneath_root(&self) -> bool {
        beneath(self.dir.as_fd(), self.root)
    }

    fn changed(&self, what: &'static str) -> RootedError {
        RootedError::ChangedWhileWritten {
            path: self.display.clone(),
            what,
        }
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let mut made = locked(&MAKING_ENTRIES);
        let _ = rustix::fs::unlinkat(self.dir.as_fd(), &self.name, AtFlags::empty());
        // The folders this run made around it, innermost first, while they are empty: a
        // repair that writes nothing leaves no trace, whichever temporary goes last.
        let mut folder = identity(&self.dir).ok();
        while let Some((parent, key)) = folder.and_then(|f| made.by_folder.get(&f)) {
            let Some(name) = made.by_name.get(key) else {
                break;
            };
            if rustix::fs::unlinkat(parent.as_fd(), name, AtFlags::REMOVEDIR).is_err() {
                break;
            }
            let next = identity(parent).ok();
            let key = key.clone();
            made.by_name.remove(&key);
            if let Some(removed) = folder {
                made.by_folder.remove(&removed);
            }
            folder = next;
        }
    }
}

/// Whether `folder` is `root` or lies beneath it: its parents, walked up by `..` (the real
/// parent, never a link), reach it.
pub(super) fn beneath(folder: BorrowedFd<'_>, root: FolderId) -> bool {
    let Ok(mut folder) = reopen(folder) else {
        return false;
    };
    for _ in 0..4096 {
        let Ok(id) = identity(&folder) else {
            return false;
        };
        if id == root {
            return true;
        }
        let Ok(parent) = rustix::fs::openat(
            folder.as_fd(),
            "..",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            return false;
        };
        // The file system's own root is its own parent.
        if identity(&parent).is_ok_and(|above| above == id) {
            return false;
        }
        folder = parent;
    }
    false
}

/// The device and inode of `name` in `dir`, a link not followed; none when it is not there.
pub(super) fn entry_id(dir: BorrowedFd<'_>, name: &OsStr) -> Option<FolderId> {
    let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    #[allow(clippy::unnecessary_cast)] // Field widths differ by architecture.
    Some((stat.st_dev as u64, stat.st_ino as u64))
}

/// A folder's device and inode.
pub(super) fn identity(folder: impl AsFd) -> rustix::io::Result<FolderId> {
    let stat = rustix::fs::fstat(folder)?;
    #[allow(clippy::unnecessary_cast)] // Field widths differ by architecture.
    Ok((stat.st_dev as u64, stat.st_ino as u64))
}

/// A folder by device and inode.
pub(super) type FolderId = (u64, u64);
/// A folder made: the folder it was made in, and its name there folded.
type MadeKey = (FolderId, String);

/// The folders this run made, while it runs.
struct MadeFolders {
    /// Its name, by where it was made: found again by another spelling.
    by_name: BTreeMap<MadeKey, OsString>,
    /// A folder made → the folder it was made in (open) and its key in `by_name`.
    by_folder: BTreeMap<FolderId, (Arc<OwnedFd>, MadeKey)>,
}

/// Held while folders are made and an entry is created in them, and while a temporary is
/// removed with the folders made for it: a folder another job of this run has made is not
/// removed between the moment that job makes (or finds) it and the moment its entry is in it.
/// (A job that found the folder when it looked the path up, before taking this, is not
/// covered: its entry then fails, and a rerun makes the folder again.)
static MAKING_ENTRIES: std::sync::Mutex<MadeFolders> = std::sync::Mutex::new(MadeFolders {
    by_name: BTreeMap::new(),
    by_folder: BTreeMap::new(),
});

fn reopen(dir: BorrowedFd<'_>) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

impl RootedDir {
    /// `name` directly in this folder, spelt exactly (a log or a report: no case folding).
    pub fn child(&self, name: &str) -> Result<Located, RootedError> {
        let dir = reopen(self.fd.as_fd()).map_err(|e| RootedError::io(name, e))?;
        let exists = exists_exactly(dir.as_fd(), name, name)?;
        if exists
            && kind_at(dir.as_fd(), OsStr::new(name)).map_err(|e| RootedError::io(name, e))?
                == FileKind::Symlink
        {
            return Err(RootedError::Symlink {
                path: name.to_string(),
                link: name.to_string(),
            });
        }
        Ok(Located {
            root: self.id,
            display: self.path.join(name).display().to_string(),
            parent: dir,
            missing_dirs: Vec::new(),
            name: OsString::from(name),
            exists,
        })
    }
}
