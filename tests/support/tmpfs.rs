//! A tmpfs mounted for one test: a small disk that fills up, or that is made read-only; and a
//! folder bind-mounted elsewhere (one folder under two names).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::skip;

/// A tmpfs mounted for one test; unmounted on drop.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `2m`) at `path`; `None` when this machine cannot (not
    /// root, no mount permission): the test is skipped, with `CI` set it fails.
    pub fn mount(path: &Path, size: &str) -> Option<Self> {
        let options = format!("size={size}");
        mount(
            &["-t", "tmpfs", "-o", &options, "tmpfs"],
            path,
            "mount a tmpfs",
        )
        .then(|| Self {
            path: path.to_path_buf(),
        })
    }

    pub fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A folder bind-mounted at another path for one test; unmounted on drop.
pub struct Bind {
    pub path: PathBuf,
}

impl Bind {
    /// Mounts `source` at `path` too; `None` when this machine cannot (the test is skipped,
    /// with `CI` set it fails).
    pub fn mount(source: &Path, path: &Path) -> Option<Self> {
        let source = source.to_str().expect("a UTF-8 path");
        mount(&["--bind", source], path, "bind-mount a folder").then(|| Self {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Runs `mount ARGS PATH` (making `path` first); false, the test skipped saying it could not
/// `what` (with `CI` set it fails), when this machine cannot (not root, no permission).
fn mount(args: &[&str], path: &Path, what: &str) -> bool {
    std::fs::create_dir_all(path).unwrap();
    let output = Command::new("mount").args(args).arg(path).output();
    match output {
        Ok(output) if output.status.success() => true,
        other => {
            let why = match other {
                Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_string(),
                Err(error) => error.to_string(),
            };
            skip::skip(&format!(
                "needs to {what}, which failed here ({why}): run as root"
            ));
            false
        }
    }
}
