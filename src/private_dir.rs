//! Folders of this process's own under the temporary folder (a BitLocker volume's mount point,
//! a repair file copied aside to be rolled back): made readable by their owner alone, with
//! names no other run of the program shares.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Makes a new, empty folder `export-repair-<pid>-<n>-<label>` under the temporary folder,
/// readable by its owner alone; or says which could not be made, and why.
pub fn make(label: &str) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "export-repair-{}-{}-{label}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut builder = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(&path) {
        Ok(()) => Ok(path),
        Err(error) => Err((path, error)),
    }
}

/// Scratch folders alive now: an exit at once (a signal) removes them first.
static SCRATCH: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// A private folder for scratch copies, removed with what it holds when dropped, or by
/// [`remove_scratch`] when the program exits at once.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new scratch folder (see [`make`]).
    pub fn make(label: &str) -> Result<Self, (PathBuf, std::io::Error)> {
        // Made while the list is held: an exit at once meanwhile waits, then removes it too;
        // none is made once it has begun.
        let mut alive = scratch();
        if EXITING.load(std::sync::atomic::Ordering::SeqCst) {
            let exiting = std::io::Error::other("the program is exiting");
            return Err((std::env::temp_dir(), exiting));
        }
        let path = make(label)?;
        alive.push(path.clone());
        Ok(Self(path))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        scratch().retain(|path| *path != self.0);
    }
}

/// Set by [`remove_scratch`]: no scratch folder is made after it.
static EXITING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Removes every scratch folder alive, for a program about to exit at once.
pub fn remove_scratch() {
    let mut alive = scratch();
    EXITING.store(true, std::sync::atomic::Ordering::SeqCst);
    remove_alive(&mut alive);
}

fn remove_alive(alive: &mut Vec<PathBuf>) {
    for path in alive.drain(..) {
        let _ = std::fs::remove_dir_all(path);
    }
}

fn scratch() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    SCRATCH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch folder is gone once dropped, and all of them once the program exits at once.
    #[test]
    fn scratch_folders_are_removed_when_dropped_or_on_an_exit_at_once() {
        let dropped = Scratch::make("test").unwrap();
        let first = dropped.path().to_path_buf();
        std::fs::write(first.join("copy"), b"bytes").unwrap();
        drop(dropped);
        assert!(!first.exists());
        let kept = Scratch::make("test").unwrap();
        std::fs::write(kept.path().join("copy"), b"bytes").unwrap();
        // What an exit at once does (without refusing the other tests' folders after it).
        remove_alive(&mut scratch());
        assert!(!kept.path().exists());
        drop(kept);
    }
}
