//! Snapshots of directory trees: "nothing on the drive changed" is a comparison of two.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Every file under `root` (none if `root` does not exist), by its path relative to `root`,
/// with its bytes.
pub fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(root, |path| std::fs::read(path).unwrap())
}

/// [`files`] with each file's modification time: a rewrite of the same bytes shows too.
pub fn files_with_times(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    walk(root, |path| {
        let modified = std::fs::metadata(path).unwrap().modified().unwrap();
        (std::fs::read(path).unwrap(), modified)
    })
}

fn walk<T>(root: &Path, mut read: impl FnMut(&Path) -> T) -> BTreeMap<PathBuf, T> {
    fn visit<T>(
        root: &Path,
        dir: &Path,
        read: &mut dyn FnMut(&Path) -> T,
        out: &mut BTreeMap<PathBuf, T>,
    ) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(root, &path, read, out);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(relative, read(&path));
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        visit(root, root, &mut read, &mut out);
    }
    out
}
