//! A blob's export record (the 2021 logs' facts: CloudFormat, ETag, Size and CRC-64, the copy
//! log's category), kept in the repair file so that a report made from it alone says what the
//! run's report says.

use serde::{Deserialize, Serialize};

use crate::format::status::{CloudFormat, ErrorCategory};
use crate::model::v2021::{EntityError, ExportRecord, WholeFileCheck, action_of};

/// The record as JSON in the blob table's `export` column.
#[derive(Serialize, Deserialize)]
struct Stored {
    cloud_format: Option<String>,
    etag: Option<String>,
    /// The verbose log's Size and CRC-64 (a string: JSON numbers lose digits past 2^53).
    size: Option<u64>,
    crc64: Option<String>,
    error: Option<StoredError>,
}

/// The copy log's entry; what a repair does about it follows from its category and the
/// CloudFormat, as when the log is read.
#[derive(Serialize, Deserialize)]
struct StoredError {
    category: String,
    code: Option<String>,
    message: Option<String>,
    new_name: Option<String>,
}

pub(super) fn to_json(record: &ExportRecord) -> String {
    let stored = Stored {
        cloud_format: record.cloud_format.as_ref().map(|f| f.as_str().to_string()),
        etag: record.etag.clone(),
        size: record.check.map(|check| check.size),
        crc64: record.check.map(|check| check.crc64.to_string()),
        error: record.error.as_ref().map(|error| StoredError {
            category: error.category.as_str().to_string(),
            code: error.code.clone(),
            message: error.message.clone(),
            new_name: error.new_name.clone(),
        }),
    };
    serde_json::to_string(&stored).unwrap_or_default()
}

/// The record back; none when the text is not one (a report then lacks it, nothing more).
pub(super) fn from_json(text: &str) -> Option<ExportRecord> {
    let stored: Stored = serde_json::from_str(text).ok()?;
    let check = match (stored.size, stored.crc64) {
        (Some(size), Some(crc64)) => Some(WholeFileCheck {
            size,
            crc64: crc64.parse().ok()?,
        }),
        _ => None,
    };
    let cloud_format = stored.cloud_format.as_deref().map(CloudFormat::parse);
    let error = stored.error.map(|error| {
        let category = ErrorCategory::parse(&error.category);
        EntityError {
            action: action_of(&category, cloud_format.as_ref()),
            category,
            code: error.code,
            message: error.message,
            new_name: error.new_name,
        }
    });
    Some(ExportRecord {
        cloud_format,
        etag: stored.etag,
        check,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::v2021::RepairAction;

    #[test]
    fn a_record_reads_back_as_written() {
        let record = ExportRecord {
            cloud_format: Some(CloudFormat::PageBlob),
            etag: Some("\"0x8D1\"".into()),
            check: Some(WholeFileCheck {
                size: 7,
                crc64: u64::MAX - 1,
            }),
            error: Some(EntityError {
                category: ErrorCategory::parse("BlobRenamed"),
                code: Some("1".into()),
                message: Some("renamed to: DataBox-1 :from: a".into()),
                action: RepairAction::ReportRename,
                new_name: Some("DataBox-1".into()),
            }),
        };
        assert_eq!(from_json(&to_json(&record)), Some(record));
        assert_eq!(from_json("not json"), None);
    }
}
