//! A copy log of any generation, recognised by its first element: the classic and
//! 2018-10-01 `DriveLog`, or the 2021-08-01 `ErroredEntity`/`CopyLog` sequence.

use std::path::Path;

use serde::Serialize;

use super::CopyLog;
use super::v2021::CopyLog2021;
use crate::format::xml::{self, FormatError};

/// What `--copy-log` (`/CopyLogFile:`) may name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "generation", rename_all = "snake_case")]
pub enum AnyCopyLog {
    /// `DriveLog` (unversioned, 2014-11-01, 2018-10-01).
    DriveLog(CopyLog),
    /// The 2021-08-01 log.
    V2021(CopyLog2021),
}

impl AnyCopyLog {
    /// Reads the file with the reader its first element calls for. A document that is
    /// not well-formed before its first element goes to the DriveLog reader, which says what
    /// is wrong.
    pub fn from_file(path: &Path) -> Result<Self, FormatError> {
        if Self::is_2021(path) {
            CopyLog2021::from_file(path).map(Self::V2021)
        } else {
            CopyLog::from_file(path).map(Self::DriveLog)
        }
    }

    /// Whether the file's first element is a 2021-08-01 log's.
    pub fn is_2021(path: &Path) -> bool {
        matches!(
            xml::root_element(path).as_deref(),
            Some("ErroredEntity" | "CopyLog")
        )
    }

    /// The DriveId the log names (a GUID in 2021-08-01 logs, the serial number before).
    pub fn drive_id(&self) -> &str {
        match self {
            AnyCopyLog::DriveLog(log) => &log.drive_id,
            AnyCopyLog::V2021(log) => &log.summary.drive_id,
        }
    }
}

impl From<CopyLog> for AnyCopyLog {
    fn from(log: CopyLog) -> Self {
        AnyCopyLog::DriveLog(log)
    }
}

impl From<CopyLog2021> for AnyCopyLog {
    fn from(log: CopyLog2021) -> Self {
        AnyCopyLog::V2021(log)
    }
}
