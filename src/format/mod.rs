//! The export drive's file formats: the drive manifest, the copy log (DriveLog, and the
//! 2021-08-01 generation), the 2021 verbose log, the properties and metadata files, the
//! mapping of drive-relative `FilePath`s to safe local paths, and the checksums (MD5,
//! CRC-64). Everything here is pure parsing and writing; nothing touches the network.

pub mod copylog;
pub mod crc64;
pub mod drive_path;
pub mod log_names;
pub mod manifest;
pub mod md5;
pub mod side_files;
pub mod status;
mod text_guard;
mod utf16;
pub mod verbose_log;
mod xml;

pub use crc64::Crc64;
pub use md5::Md5;
pub use xml::{FormatError, FormatErrorKind};

/// Cuts long values so that an error message never carries megabytes of input.
pub(crate) fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(max_chars).collect();
    format!("{cut}… ({} bytes)", text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_long_values() {
        let long = "x".repeat(10_000);
        let short = shorten(&long, 10);
        assert!(short.starts_with("xxxxxxxxxx…"));
        assert!(short.contains("10000 bytes"));
    }
}
