//! The names the service gives a drive's logs in the storage account (formats.md §2.1, §2.6):
//!
//! - v1 and 2018-10-01, in `waies/` of the diagnostics container (`waimportexport` unless the
//!   job named another): `<job>_<DriveId>_<yyyyMMdd-HHmmss-fff>_<error|verbose|manifest>.xml`.
//! - 2021-08-01, in `databoxcopylog`: `<order>_<device serial>_<CopyLog|VerboseLog>_<job ID>.xml`.
//!
//! Names are read from the right, so job and order names may hold underscores.

use serde::Serialize;

/// What a log blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// v1/2018 error log (a DriveLog of the failures).
    Error,
    /// v1/2018 verbose log (a DriveLog of everything).
    Verbose,
    /// The backup of the drive manifest.
    Manifest,
    /// 2021-08-01 copy log.
    CopyLog,
    /// 2021-08-01 verbose log.
    VerboseLog,
}

impl LogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Error => "error log",
            LogKind::Verbose => "verbose log (DriveLog)",
            LogKind::Manifest => "manifest backup",
            LogKind::CopyLog => "copy log (2021-08-01)",
            LogKind::VerboseLog => "verbose log (2021-08-01)",
        }
    }

    /// The option a downloaded log of this kind is given to.
    pub fn flag(self) -> &'static str {
        match self {
            LogKind::Error | LogKind::Verbose | LogKind::CopyLog => "--copy-log",
            LogKind::Manifest => "--manifest",
            LogKind::VerboseLog => "--verbose-log",
        }
    }
}

/// A log's name, taken apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogName {
    pub kind: LogKind,
    /// The job (v1) or order (2021) name.
    pub job: String,
    /// The DriveId (v1) or the device serial number (2021).
    pub drive_id: String,
    /// v1: `yyyyMMdd-HHmmss-fff`; 2021: the job ID.
    pub stamp: String,
}

impl LogName {
    /// Reads the last segment of `name` (a blob name or a file name); `None` when it does
    /// not follow either pattern.
    pub fn parse(name: &str) -> Option<Self> {
        let file = name.rsplit(['/', '\\']).next()?;
        let stem = file
            .len()
            .checked_sub(4)
            .filter(|&cut| file.is_char_boundary(cut) && file[cut..].eq_ignore_ascii_case(".xml"))
            .map(|cut| &file[..cut])?;
        Self::parse_2021(stem).or_else(|| Self::parse_v1(stem))
    }

    fn parse_2021(stem: &str) -> Option<Self> {
        for (marker, kind) in [
            ("_CopyLog_", LogKind::CopyLog),
            ("_VerboseLog_", LogKind::VerboseLog),
        ] {
            if let Some(at) = stem.rfind(marker) {
                let (job, drive_id) = stem[..at].rsplit_once('_')?;
                let stamp = &stem[at + marker.len()..];
                return Self::new(kind, job, drive_id, stamp);
            }
        }
        None
    }

    fn parse_v1(stem: &str) -> Option<Self> {
        let (rest, kind) = stem.rsplit_once('_')?;
        let kind = match kind {
            "error" => LogKind::Error,
            "verbose" => LogKind::Verbose,
            "manifest" => LogKind::Manifest,
            _ => return None,
        };
        let (rest, stamp) = rest.rsplit_once('_')?;
        if !stamp.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return None;
        }
        let (job, drive_id) = rest.rsplit_once('_')?;
        Self::new(kind, job, drive_id, stamp)
    }

    fn new(kind: LogKind, job: &str, drive_id: &str, stamp: &str) -> Option<Self> {
        if [job, drive_id, stamp].iter().any(|part| part.is_empty()) {
            return None;
        }
        Some(Self {
            kind,
            job: job.to_string(),
            drive_id: drive_id.to_string(),
            stamp: stamp.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_patterns() {
        let v1 = LogName::parse("waies/myjob_9WM35C2V_20130921-034307-902_error.xml").unwrap();
        assert_eq!(
            v1,
            LogName {
                kind: LogKind::Error,
                job: "myjob".into(),
                drive_id: "9WM35C2V".into(),
                stamp: "20130921-034307-902".into(),
            }
        );
        let backup =
            LogName::parse("waies/my_job_WD-WMATV123456_20130921-042122-021_manifest.xml").unwrap();
        assert_eq!(
            (backup.kind, backup.job.as_str(), backup.drive_id.as_str()),
            (LogKind::Manifest, "my_job", "WD-WMATV123456")
        );
        let copy = LogName::parse("myorder_ABC123_CopyLog_6c9e4e2a-1b2c.xml").unwrap();
        assert_eq!(
            (
                copy.kind,
                copy.job.as_str(),
                copy.drive_id.as_str(),
                copy.stamp.as_str()
            ),
            (LogKind::CopyLog, "myorder", "ABC123", "6c9e4e2a-1b2c")
        );
        let verbose = LogName::parse(r"C:\logs\my_order_ABC123_VerboseLog_job1.XML").unwrap();
        assert_eq!(
            (
                verbose.kind,
                verbose.job.as_str(),
                verbose.drive_id.as_str()
            ),
            (LogKind::VerboseLog, "my_order", "ABC123")
        );
    }

    #[test]
    fn other_names_are_not_logs() {
        for name in [
            "waies/myjob_9WM35C2V_20130921-034307-902_error.txt",
            "waies/myjob_9WM35C2V_2013xx_error.xml",
            "waies/9WM35C2V_20130921-034307-902_error.xml",
            "waies/myjob_9WM35C2V_20130921-034307-902_journal.xml",
            "ABC123_CopyLog_job.xml",
            "order__CopyLog_job.xml",
            "order_ABC_CopyLog_.xml",
            "x.xml",
            "é.xml",
            "",
        ] {
            assert_eq!(LogName::parse(name), None, "{name}");
        }
    }
}
