//! Every status code of the copy log (formats.md §2.4) and the 2021-08-01 logs' categories and
//! cloud formats (§2.6) as a typed value. An unknown code is
//! kept verbatim as `Other`, never an error: the service may have grown codes since.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! status_codes {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A code this version does not know, kept as written.
            Other(String),
        }

        impl $name {
            /// Every known code, in the documentation's order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// Reads a code as written (surrounding spaces and letter case forgiven).
            pub fn parse(text: &str) -> Self {
                let trimmed = text.trim();
                $(if trimmed.eq_ignore_ascii_case(stringify!($variant)) {
                    return Self::$variant;
                })+
                Self::Other(trimmed.to_string())
            }

            /// The code as the service writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => stringify!($variant),)+
                    Self::Other(code) => code,
                }
            }

            /// `Completed` is the only code that means nothing is left to do.
            pub fn is_completed(&self) -> bool {
                self.as_str() == "Completed"
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok(Self::parse(&String::deserialize(deserializer)?))
            }
        }
    };
}

status_codes! {
    /// `DriveLog/Status`: the drive as a whole (§2.4.1).
    DriveStatus {
        Completed, CompletedWithWarnings, CompletedWithErrors, DiskNotFound, VolumeNotNtfs,
        DiskOperationFailed, BitLockerVolumeNotFound, BitLockerNotActivated,
        BitLockerProtectorNotFound, BitLockerKeyInvalid, BitLockerUnlockVolumeFailed,
        BitLockerFailed, ManifestNameInvalid, ManifestNameTooLong, ManifestNotFound,
        ManifestAccessDenied, ManifestCorrupted, ManifestFormatInvalid, ManifestDriveIdMismatch,
        ReadManifestFailed, BlobListFormatInvalid, BlobRequestForbidden, InternalError,
    }
}

status_codes! {
    /// `Blob/@Status` (§2.4.2).
    BlobStatus {
        Completed, CompletedWithErrors, FileNameInvalid, FileNameTooLong, FileNotFound,
        FileAccessDenied, BlobRequestFailed, BlobRequestForbidden, RenameFailed,
        BlobUnexpectedChange, LeasePresent, IOFailed, Failed,
    }
}

status_codes! {
    /// `PageRange/@Status` and `Block/@Status` (§2.4.4).
    RangeStatus {
        Completed, Committed, Uncommitted, Corrupted, FileUnexpectedEnd, BlobUnexpectedEnd,
        BlobRequestFailed, IOFailed, Failed, Cancelled,
    }
}

status_codes! {
    /// `Metadata/@Status` and `Properties/@Status` (§2.4.5, §2.4.6).
    FileStatus {
        Completed, FileNameInvalid, FileNameTooLong, FileNotFound, FileAccessDenied, Corrupted,
        XmlReadFailed, XmlWriteFailed, BlobRequestFailed, IOFailed, Failed, Cancelled,
    }
}

status_codes! {
    /// `ImportDisposition/@Status` (§2.4.3, import only; read and kept for completeness).
    ImportDispositionStatus { Created, Renamed, Skipped, Overwritten, Cancelled }
}

status_codes! {
    /// `ErroredEntity/Category` of the 2021-08-01 copy log (§2.6, "Data transfer errors").
    ErrorCategory {
        UploadErrorWin32, UploadErrorCloudHttp, UploadErrorDataValidationError,
        UploadErrorManagedConversionError, UploadErrorUnknownType, ContainerRenamed,
        ShareRenamed, BlobRenamed, FileRenamed, DiskRenamed, FileNameTrailsWithSlash,
        ExportCloudHttp,
    }
}

status_codes! {
    /// `CloudFormat` of the 2021-08-01 logs: what kind of object the entry was.
    CloudFormat { BlockBlob, PageBlob, AppendBlob, AzureFile }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug>(
        codes: &[T],
        as_str: impl Fn(&T) -> &str,
        parse: impl Fn(&str) -> T,
    ) {
        for code in codes {
            assert!(!matches!(as_str(code), ""), "{code:?}");
            assert_eq!(&parse(as_str(code)), code);
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), code);
        }
    }

    #[test]
    fn every_status_code_round_trips() {
        round_trips(DriveStatus::KNOWN, DriveStatus::as_str, DriveStatus::parse);
        round_trips(BlobStatus::KNOWN, BlobStatus::as_str, BlobStatus::parse);
        round_trips(RangeStatus::KNOWN, RangeStatus::as_str, RangeStatus::parse);
        round_trips(FileStatus::KNOWN, FileStatus::as_str, FileStatus::parse);
        round_trips(
            ImportDispositionStatus::KNOWN,
            ImportDispositionStatus::as_str,
            ImportDispositionStatus::parse,
        );
        round_trips(
            ErrorCategory::KNOWN,
            ErrorCategory::as_str,
            ErrorCategory::parse,
        );
        round_trips(CloudFormat::KNOWN, CloudFormat::as_str, CloudFormat::parse);
        assert_eq!(ErrorCategory::KNOWN.len(), 12);
        assert_eq!(DriveStatus::KNOWN.len(), 23);
        assert_eq!(BlobStatus::KNOWN.len(), 13);
        assert_eq!(RangeStatus::KNOWN.len(), 10);
        assert_eq!(FileStatus::KNOWN.len(), 12);
    }

    #[test]
    fn unknown_codes_are_kept_as_data() {
        let code = BlobStatus::parse(" ContainerRenamed ");
        assert_eq!(code, BlobStatus::Other("ContainerRenamed".into()));
        assert_eq!(code.as_str(), "ContainerRenamed");
        assert!(!code.is_completed());
        assert!(BlobStatus::parse("completed").is_completed());
    }
}
