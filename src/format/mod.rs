//! The export drive's file formats: the drive manifest, the copy log (DriveLog), the
//! properties and metadata files, and the mapping of drive-relative `FilePath`s to safe
//! local paths. Everything here is pure parsing and writing; nothing touches the network.

pub mod copylog;
pub mod crc64;
pub mod drive_path;
pub mod manifest;
pub mod md5;
pub mod side_files;
pub mod status;
mod utf16;
mod xml;

pub use crc64::Crc64;
pub use md5::Md5;
pub use xml::{FormatError, FormatErrorKind};
