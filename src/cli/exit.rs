//! Exit codes, as documented in `--help` and the README.

/// The process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: the drive verified (nothing to do, or everything repaired).
    Verified = 0,
    /// 1: damage remains.
    Damaged = 1,
    /// 2: usage or invalid input.
    Usage = 2,
    /// 3: storage refused the credentials.
    AuthRefused = 3,
    /// 4: interrupted (or the storage could not be reached); rerun with the same repair file to
    /// resume.
    Interrupted = 4,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status as u8)
    }
}

/// The text `--help` shows.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  the drive verified (nothing to do, or everything repaired)
  1  damage remains (a component is corrupt, missing or could not be repaired)
  2  usage or invalid input (bad arguments, malformed XML, a repair file of another drive,
     a wrong BitLocker recovery key, a drive that could not be unlocked or locked again)
  3  storage refused the credentials (403)
  4  interrupted, or the storage could not be reached; rerun (with the same repair file) to
     resume";
