//! [`UnlockedVolume`]: the mounted, unlocked drive, and everything that must be undone.
//! Each step that mounts, opens or attaches something records its undo at once, so a failure
//! half-way (or a panic, or an exit on a second Ctrl-C) undoes exactly what was done.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::layout::Placement;
use super::{BitLockerError, ToolOutcome, Tools, commands, run_tool};

/// Something to undo.
#[derive(Debug, Clone)]
enum Undo {
    /// A FUSE (or other) mount point.
    Unmount(PathBuf),
    /// A device-mapper mapping opened by `cryptsetup open`.
    CryptClose { cryptsetup: PathBuf, name: String },
    /// A loop device attached by `losetup`.
    LoopDetach { losetup: PathBuf, device: PathBuf },
    /// An (empty) directory we created; never removed recursively, it may be a mount point.
    RemoveDir(PathBuf),
}

type Steps = Arc<Mutex<Vec<Undo>>>;

/// The volumes open in this process, for [`emergency_cleanup`].
static LIVE: Mutex<Vec<Steps>> = Mutex::new(Vec::new());

/// Undoes every open volume of this process now: for a path that ends the process without
/// unwinding (`std::process::exit` on a second Ctrl-C). Safe to call more than once.
pub fn emergency_cleanup() {
    let live: Vec<Steps> = LIVE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .drain(..)
        .collect();
    let tools = Tools::find();
    for steps in live {
        let steps = std::mem::take(&mut *steps.lock().unwrap_or_else(PoisonError::into_inner));
        for problem in undo_all(&tools, steps) {
            say!("warning: {problem}");
        }
    }
}

/// The unlocked drive's root directory; unmounts, closes and cleans up when dropped.
#[derive(Debug)]
pub struct UnlockedVolume {
    root: PathBuf,
    source: PathBuf,
    placement: Option<Placement>,
    tools: Tools,
    steps: Steps,
}

impl UnlockedVolume {
    /// A directory the user unlocked and mounted already: nothing to undo.
    pub fn already_unlocked(directory: &Path) -> Self {
        Self {
            root: directory.to_path_buf(),
            source: directory.to_path_buf(),
            placement: None,
            tools: Tools::default(),
            steps: Arc::default(),
        }
    }

    pub(crate) fn new(tools: &Tools, source: &Path, placement: Placement) -> Self {
        let steps: Steps = Arc::default();
        LIVE.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&steps));
        Self {
            root: source.to_path_buf(),
            source: source.to_path_buf(),
            placement: Some(placement),
            tools: tools.clone(),
            steps,
        }
    }

    /// The directory to verify and repair.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What the user named: the device or image (or the directory itself).
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Where the BitLocker volume was found; `None` for a directory given as it is.
    pub fn placement(&self) -> Option<Placement> {
        self.placement
    }

    /// Whether this process unlocked the volume (and will lock it again).
    pub fn was_unlocked_here(&self) -> bool {
        self.placement.is_some()
    }

    pub(crate) fn set_root(&mut self, root: PathBuf) {
        self.root = root;
    }

    fn push(&self, undo: Undo) {
        self.steps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(undo);
    }

    /// Creates a private, empty directory for a mount point (removed again on close).
    pub(crate) fn mount_point(&mut self, label: &str) -> Result<PathBuf, BitLockerError> {
        let path = crate::private_dir::make(label)
            .map_err(|(path, source)| BitLockerError::MountPoint { path, source })?;
        self.push(Undo::RemoveDir(path.clone()));
        Ok(path)
    }

    /// Records a mount to undo.
    pub(crate) fn mounted(&mut self, mount_point: &Path) {
        self.push(Undo::Unmount(mount_point.to_path_buf()));
    }

    /// Records a device-mapper mapping to close.
    pub(crate) fn crypt_opened(&mut self, cryptsetup: &Path, name: &str) {
        self.push(Undo::CryptClose {
            cryptsetup: cryptsetup.to_path_buf(),
            name: name.to_string(),
        });
    }

    /// Attaches a loop device over the partition; returns its path.
    pub(crate) fn attach_loop(
        &mut self,
        losetup: &Path,
        image: &Path,
        placement: Placement,
        read_only: bool,
    ) -> Result<PathBuf, BitLockerError> {
        let args = commands::losetup_attach(image, placement, read_only);
        match run_tool(losetup, &args, None, "attaching a loop device")? {
            ToolOutcome::Ok(stdout) => {
                let device = PathBuf::from(stdout.trim());
                self.push(Undo::LoopDetach {
                    losetup: losetup.to_path_buf(),
                    device: device.clone(),
                });
                Ok(device)
            }
            failed => Err(failed.into_error(&format!(
                "attaching a loop device at offset {} of {}",
                placement.offset,
                image.display()
            ))),
        }
    }

    /// Unmounts, closes and removes everything, newest first; reports what could not be undone.
    pub fn close(mut self) -> Result<(), BitLockerError> {
        let problems = self.undo();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BitLockerError::Cleanup(problems.join("; ")))
        }
    }

    fn undo(&mut self) -> Vec<String> {
        let steps = std::mem::take(&mut *self.steps.lock().unwrap_or_else(PoisonError::into_inner));
        LIVE.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|live| !Arc::ptr_eq(live, &self.steps));
        if !steps.is_empty() {
            tracing::info!(
                "locking the BitLocker volume on {} again",
                self.source.display()
            );
        }
        undo_all(&self.tools, steps)
    }
}

impl Drop for UnlockedVolume {
    fn drop(&mut self) {
        for problem in self.undo() {
            tracing::warn!("{problem}");
            say!("warning: {problem}");
        }
    }
}

/// Runs the undo steps newest first; returns what failed.
fn undo_all(tools: &Tools, steps: Vec<Undo>) -> Vec<String> {
    let mut problems = Vec::new();
    for step in steps.into_iter().rev() {
        if let Err(problem) = undo_one(tools, &step) {
            problems.push(problem);
        }
    }
    problems
}

fn undo_one(tools: &Tools, step: &Undo) -> Result<(), String> {
    match step {
        Undo::Unmount(mount_point) => unmount(tools, mount_point),
        Undo::CryptClose { cryptsetup, name } => retry(Duration::from_secs(30), || {
            matches!(
                run_tool(cryptsetup, &commands::cryptsetup_close(name), None, "close"),
                Ok(ToolOutcome::Ok(_))
            )
        })
        .then_some(())
        .ok_or_else(|| {
            format!("could not close the BitLocker mapping {name}: run `cryptsetup close {name}`")
        }),
        Undo::LoopDetach { losetup, device } => {
            // A loop device still held (by a FUSE daemon finishing) is detached by the
            // kernel when it is released: losetup -d sets autoclear.
            match run_tool(losetup, &commands::losetup_detach(device), None, "detach") {
                Ok(ToolOutcome::Ok(_)) => Ok(()),
                _ => Err(format!(
                    "could not detach the loop device {}: run `losetup -d {}`",
                    device.display(),
                    device.display()
                )),
            }
        }
        Undo::RemoveDir(path) => std::fs::remove_dir(path).or_else(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(format!(
                    "could not remove the mount point {}: {error}",
                    path.display()
                ))
            }
        }),
    }
}

/// Unmounts a mount point: `fusermount -u` or `umount`, retried while it is busy (an NTFS
/// mount above it may still be writing its last changes), then a lazy unmount as a last resort.
fn unmount(tools: &Tools, mount_point: &Path) -> Result<(), String> {
    let attempt = || {
        let mut done = false;
        if let Some(fusermount) = &tools.fusermount {
            done = matches!(
                run_tool(
                    fusermount,
                    &commands::fusermount(mount_point, false),
                    None,
                    "unmount"
                ),
                Ok(ToolOutcome::Ok(_))
            );
        }
        if !done && let Some(umount) = &tools.umount {
            done = matches!(
                run_tool(
                    umount,
                    &commands::umount(mount_point, false),
                    None,
                    "unmount"
                ),
                Ok(ToolOutcome::Ok(_))
            );
        }
        done || !is_mount_point(mount_point)
    };
    if retry(Duration::from_secs(30), attempt) {
        return Ok(());
    }
    let lazy = tools.umount.as_ref().is_some_and(|umount| {
        matches!(
            run_tool(
                umount,
                &commands::umount(mount_point, true),
                None,
                "unmount"
            ),
            Ok(ToolOutcome::Ok(_))
        )
    });
    if lazy {
        Err(format!(
            "{} was busy and is unmounted lazily: wait until no program uses it before unplugging \
             the drive",
            mount_point.display()
        ))
    } else {
        Err(format!(
            "could not unmount {}: run `fusermount -u {}` or `umount {}`",
            mount_point.display(),
            mount_point.display(),
            mount_point.display()
        ))
    }
}

/// Whether `path` is listed as a mount point in /proc/self/mountinfo (false where that
/// file does not exist).
fn is_mount_point(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = path.to_string_lossy().replace(' ', "\\040");
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|mount_point| mount_point == wanted)
}

/// Tries `attempt` until it succeeds or `patience` has passed, backing off from 50 ms to 1 s.
fn retry(patience: Duration, mut attempt: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + patience;
    let mut pause = Duration::from_millis(50);
    loop {
        if attempt() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}
