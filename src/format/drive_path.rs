//! Drive paths: a manifest `FilePath` (drive-relative, `\`-separated) becomes a path inside
//! the target directory, or a refusal. Nothing here may lead a write outside the target.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use super::md5::shorten;

/// Why a `FilePath` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DrivePathError {
    #[error("FilePath {path:?} is unsafe: {reason}")]
    Unsafe { path: String, reason: &'static str },
    #[error("FilePath {path:?} leads outside the target through the symbolic link {link}")]
    SymlinkOutside { path: String, link: PathBuf },
    #[error("FilePath {path:?} matches several names that differ only in case: {candidates}")]
    Ambiguous { path: String, candidates: String },
    #[error("cannot look up FilePath {path:?}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Reserved Windows device names: an export drive is NTFS, where they cannot be files.
const DEVICE_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Splits a `FilePath` into its names, refusing anything that could escape the drive root.
pub fn components(file_path: &str) -> Result<Vec<&str>, DrivePathError> {
    let unsafe_path = |reason| DrivePathError::Unsafe {
        path: shorten(file_path, 200),
        reason,
    };
    if file_path.contains('\0') {
        return Err(unsafe_path("it contains a NUL character"));
    }
    let trimmed = file_path.trim();
    if trimmed.starts_with(r"\\") || trimmed.starts_with("//") {
        return Err(unsafe_path("it is a network (UNC) path"));
    }
    let bytes = trimmed.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return Err(unsafe_path("it names a drive letter"));
    }
    // NTFS forbids `/` in names, so either slash separates.
    let names: Vec<&str> = trimmed
        .split(['\\', '/'])
        .filter(|name| !name.is_empty())
        .collect();
    if names.is_empty() {
        return Err(unsafe_path("it names no file"));
    }
    for name in &names {
        if *name == "." || *name == ".." {
            return Err(unsafe_path("it contains a `.` or `..` component"));
        }
        if name.contains(':') {
            return Err(unsafe_path(
                "it contains `:` (a drive or alternate data stream)",
            ));
        }
        let stem = name.split('.').next().unwrap_or(name).trim_end();
        if DEVICE_NAMES.iter().any(|d| d.eq_ignore_ascii_case(stem)) {
            return Err(unsafe_path(
                "it uses a reserved device name (CON, NUL, COM1, …)",
            ));
        }
    }
    Ok(names)
}

/// Where a `FilePath` lives under `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub path: PathBuf,
    /// Whether a file (or anything) exists there now.
    pub exists: bool,
}

/// Resolves `file_path` under `target`. An existing name is matched exactly, then
/// case-insensitively (NTFS drives mounted on Linux); symbolic links are followed only while
/// they stay inside the target.
pub fn resolve(target: &Path, file_path: &str) -> Result<Resolved, DrivePathError> {
    let names = components(file_path)?;
    let io_error = |source| DrivePathError::Io {
        path: shorten(file_path, 200),
        source,
    };
    let canonical_target = target.canonicalize().map_err(io_error)?;
    let mut current = target.to_path_buf();
    let mut exists = true;
    for name in names {
        if !exists {
            current.push(name);
            continue;
        }
        let exact = current.join(name);
        let chosen = match std::fs::symlink_metadata(&exact) {
            Ok(_) => exact,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                match find_case_insensitive(&current, name).map_err(io_error)? {
                    Lookup::One(found) => current.join(found),
                    Lookup::None => {
                        exists = false;
                        exact
                    }
                    Lookup::Several(candidates) => {
                        return Err(DrivePathError::Ambiguous {
                            path: shorten(file_path, 200),
                            candidates: candidates.join(", "),
                        });
                    }
                }
            }
            Err(error) => return Err(io_error(error)),
        };
        if exists {
            check_link(&chosen, &canonical_target, file_path)?;
        }
        current = chosen;
    }
    Ok(Resolved {
        path: current,
        exists,
    })
}

fn check_link(path: &Path, canonical_target: &Path, file_path: &str) -> Result<(), DrivePathError> {
    let metadata = std::fs::symlink_metadata(path).map_err(|source| DrivePathError::Io {
        path: shorten(file_path, 200),
        source,
    })?;
    if !metadata.file_type().is_symlink() {
        return Ok(());
    }
    let outside = || DrivePathError::SymlinkOutside {
        path: shorten(file_path, 200),
        link: path.to_path_buf(),
    };
    let resolved = path.canonicalize().map_err(|_| outside())?;
    if resolved.starts_with(canonical_target) {
        Ok(())
    } else {
        Err(outside())
    }
}

enum Lookup {
    None,
    One(OsString),
    Several(Vec<String>),
}

fn find_case_insensitive(directory: &Path, name: &str) -> io::Result<Lookup> {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Lookup::None),
        Err(error) if error.kind() == io::ErrorKind::NotADirectory => return Ok(Lookup::None),
        Err(error) => return Err(error),
    };
    let wanted = name.to_lowercase();
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let candidate = entry.file_name();
        if candidate.to_string_lossy().to_lowercase() == wanted {
            found.push(candidate);
        }
    }
    Ok(match found.len() {
        0 => Lookup::None,
        1 => Lookup::One(found.swap_remove(0)),
        _ => Lookup::Several(
            found
                .iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_backslash_paths() {
        assert_eq!(
            components(r"\pictures\city\redmond.jpg").unwrap(),
            ["pictures", "city", "redmond.jpg"]
        );
        assert_eq!(components("a/b").unwrap(), ["a", "b"]);
    }

    #[test]
    fn refuses_unsafe_paths() {
        for path in [
            r"C:\x",
            r"\\server\share\x",
            r"\a\..\..\etc\passwd",
            r"\a\.\b",
            "a\0b",
            r"\a\CON",
            r"\a\nul.txt",
            r"\a\file.txt:stream",
            r"\",
            "",
        ] {
            let error = components(path).unwrap_err();
            assert!(
                matches!(error, DrivePathError::Unsafe { .. }),
                "{path:?}: {error}"
            );
        }
        assert!(components(r"\a\console.txt").is_ok());
    }

    #[test]
    fn resolves_exactly_then_case_insensitively() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("Pictures/City")).unwrap();
        std::fs::write(dir.path().join("Pictures/City/Redmond.JPG"), b"x").unwrap();
        let resolved = resolve(dir.path(), r"\pictures\city\redmond.jpg").unwrap();
        assert!(resolved.exists);
        assert_eq!(resolved.path, dir.path().join("Pictures/City/Redmond.JPG"));
        let missing = resolve(dir.path(), r"\pictures\town\a.jpg").unwrap();
        assert!(!missing.exists);
        assert_eq!(missing.path, dir.path().join("Pictures/town/a.jpg"));
    }

    #[test]
    fn refuses_ambiguous_case_matches() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("A.txt"), b"x").unwrap();
        std::fs::write(dir.path().join("a.TXT"), b"x").unwrap();
        let error = resolve(dir.path(), r"\a.txt").unwrap_err();
        assert!(matches!(error, DrivePathError::Ambiguous { .. }), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_symlinks_leading_out_but_follows_inner_ones() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
        let error = resolve(dir.path(), r"\escape\x").unwrap_err();
        assert!(
            matches!(error, DrivePathError::SymlinkOutside { .. }),
            "{error}"
        );
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("inner")).unwrap();
        assert!(resolve(dir.path(), r"\inner\x").is_ok());
    }
}
