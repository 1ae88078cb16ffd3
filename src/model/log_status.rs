//! The copy log's status for a component as a 4-byte value: a verbose copy log gives one to
//! every block, so it must not cost a string each.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use crate::format::status::{BlobStatus, FileStatus, RangeStatus};

/// A copy-log status in the vocabulary of its element (a range's, a file's or a blob's).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogStatus {
    scope: Scope,
    /// An index into the scope's known codes, or `UNKNOWN + n` for the n-th other code seen.
    code: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    Range,
    File,
    Blob,
}

const UNKNOWN: u16 = 0x100;
/// More different unknown codes than this read as one "unrecognised" code (only a corrupt
/// or hostile log has them: the service has a few dozen).
const MAX_UNKNOWN: usize = (u16::MAX - UNKNOWN) as usize;
const UNRECOGNISED: &str = "(an unrecognised status)";

impl LogStatus {
    pub fn range(status: &RangeStatus) -> Self {
        Self::new(
            Scope::Range,
            RangeStatus::KNOWN,
            status,
            RangeStatus::as_str,
        )
    }

    pub fn file(status: &FileStatus) -> Self {
        Self::new(Scope::File, FileStatus::KNOWN, status, FileStatus::as_str)
    }

    pub fn blob(status: &BlobStatus) -> Self {
        Self::new(Scope::Blob, BlobStatus::KNOWN, status, BlobStatus::as_str)
    }

    fn new<T: PartialEq>(scope: Scope, known: &[T], status: &T, text: fn(&T) -> &str) -> Self {
        let code = match known.iter().position(|k| k == status) {
            Some(index) => index as u16,
            None => UNKNOWN + unknown_code(text(status)),
        };
        Self { scope, code }
    }

    pub fn is_completed(&self) -> bool {
        self.as_str() == "Completed"
    }

    pub fn as_str(&self) -> &'static str {
        let index = usize::from(self.code);
        let known = match self.scope {
            Scope::Range => RangeStatus::KNOWN.get(index).map(RangeStatus::as_str),
            Scope::File => FileStatus::KNOWN.get(index).map(FileStatus::as_str),
            Scope::Blob => BlobStatus::KNOWN.get(index).map(BlobStatus::as_str),
        };
        match known {
            Some(text) => text,
            None => unknown_text(self.code - UNKNOWN),
        }
    }
}

impl fmt::Debug for LogStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({})", self.scope, self.as_str())
    }
}

impl fmt::Display for LogStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Codes outside the known vocabularies, each kept once for the life of the process.
#[derive(Default)]
struct Unknown {
    texts: Vec<&'static str>,
    codes: HashMap<&'static str, u16>,
}

fn unknown() -> std::sync::MutexGuard<'static, Unknown> {
    static UNKNOWN_CODES: OnceLock<Mutex<Unknown>> = OnceLock::new();
    let lock = UNKNOWN_CODES.get_or_init(Mutex::default);
    // The table stays consistent even if a holder panicked: every insert is one push.
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unknown_code(text: &str) -> u16 {
    let mut table = unknown();
    if let Some(&code) = table.codes.get(text) {
        return code;
    }
    if table.texts.len() >= MAX_UNKNOWN {
        return MAX_UNKNOWN as u16;
    }
    let code = table.texts.len() as u16;
    // Leaked on purpose: at most MAX_UNKNOWN short strings per process, so that a status
    // is a `Copy` value whose text lives as long as the program.
    let text: &'static str = Box::leak(text.into());
    table.texts.push(text);
    table.codes.insert(text, code);
    code
}

fn unknown_text(code: u16) -> &'static str {
    unknown()
        .texts
        .get(usize::from(code))
        .copied()
        .unwrap_or(UNRECOGNISED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_codes_read_back_verbatim() {
        for known in RangeStatus::KNOWN {
            assert_eq!(LogStatus::range(known).as_str(), known.as_str());
        }
        let failed = LogStatus::file(&FileStatus::Failed);
        assert!(!failed.is_completed());
        assert!(LogStatus::blob(&BlobStatus::Completed).is_completed());
        let odd = LogStatus::range(&RangeStatus::parse("QuantumFlux"));
        assert_eq!(odd.as_str(), "QuantumFlux");
        assert_eq!(odd, LogStatus::range(&RangeStatus::parse("QuantumFlux")));
        assert_ne!(odd, LogStatus::blob(&BlobStatus::parse("QuantumFlux")));
        assert!(!odd.is_completed());
        assert_eq!(format!("{failed:?}"), "File(Failed)");
        assert_eq!(std::mem::size_of::<Option<LogStatus>>(), 4);
    }
}
