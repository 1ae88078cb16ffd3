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
