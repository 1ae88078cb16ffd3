//! Properties and metadata files, read whole and bounded.

use std::io::{self, Read};

use super::MAX_SIDE_FILE;
use crate::model::ComponentKind;
use crate::rooted::{FileIdentity, Located, RootedDir, RootedError};

/// A properties or metadata file as found on the drive.
pub(crate) enum SideFile {
    Missing,
    Read {
        bytes: Vec<u8>,
        identity: FileIdentity,
    },
}

/// Why a side file could not be read.
pub(crate) enum SideFileError {
    /// Its path cannot be used (a link, a FIFO, an unsafe name …).
    Refused(RootedError),
    Read(io::Error),
}

/// Reads a properties or metadata file, never more than [`MAX_SIDE_FILE`] bytes (a sparse
/// giant or a device node must not fill memory).
pub(crate) fn read_side_file(
    root: &RootedDir,
    file_path: &str,
    kind: ComponentKind,
) -> Result<SideFile, SideFileError> {
    let located: Located = root
        .locate_file_path(file_path)
        .map_err(SideFileError::Refused)?;
    if !located.exists() {
        return Ok(SideFile::Missing);
    }
    let file = located.open_read().map_err(SideFileError::Refused)?;
    let identity = FileIdentity::of(&file).map_err(SideFileError::Read)?;
    let too_large = || {
        SideFileError::Read(io::Error::other(format!(
            "it is over {MAX_SIDE_FILE} bytes, too large for a {} file",
            kind.as_str()
        )))
    };
    if identity.length > MAX_SIDE_FILE {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(identity.length as usize);
    file.take(MAX_SIDE_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(SideFileError::Read)?;
    if bytes.len() as u64 > MAX_SIDE_FILE {
        return Err(too_large());
    }
    Ok(SideFile::Read { bytes, identity })
}
