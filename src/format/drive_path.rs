//! Drive paths: a manifest `FilePath` (drive-relative, `\`-separated) becomes the names of a
//! path beneath the target, or a refusal; and the key under which two paths name one file on
//! NTFS. Reaching the file is `crate::rooted`'s job.

use unicode_normalization::UnicodeNormalization;

use super::md5::shorten;

/// Why a `FilePath` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DrivePathError {
    #[error("FilePath {path:?} is unsafe: {reason}")]
    Unsafe { path: String, reason: &'static str },
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

/// How NTFS compares two names of one folder: NFC, then each character's single upper-case
/// form (its upcase table maps one UTF-16 unit onto one; `ß` stays `ß`).
pub fn fold_name(name: &str) -> String {
    name.nfc()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(single), None) => single,
                _ => c,
            }
        })
        .collect()
}

/// The file a `FilePath` names as the drive's file system sees it: separators unified, case
/// and Unicode form folded, and the trailing dots and spaces Windows drops from a name dropped.
/// Two entries with one claim key name one file.
pub fn claim_key(file_path: &str) -> Result<String, DrivePathError> {
    Ok(components(file_path)?
        .iter()
        .map(|name| fold_name(name.trim_end_matches(['.', ' '])))
        .collect::<Vec<_>>()
        .join("/"))
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
    fn claim_keys_fold_separators_case_unicode_and_trailing_dots() {
        let key = |p| claim_key(p).unwrap();
        assert_eq!(key(r"\c\x.bin"), key("/c/x.bin"));
        assert_eq!(key(r"\c\X.bin"), key(r"\C\x.BIN"));
        assert_eq!(key("\\caf\u{e9}\\a"), key("\\cafe\u{301}\\a"));
        assert_eq!(key(r"\c\x.bin."), key(r"\c\x.bin"));
        assert_ne!(key(r"\c\x.bin"), key(r"\c\y.bin"));
        assert_eq!(fold_name("stra\u{df}e"), "STRA\u{df}E");
        assert!(claim_key(r"\a\..\b").is_err());
    }
}
