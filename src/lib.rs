//! Repair and verify drives returned by Azure Import/Export export jobs.

/// `eprintln!` that never panics: with stderr closed (`2>&1 | head`) a message is lost, never
/// the run that is writing to the drive (the log and the reports still say it).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that never panics, as [`say!`].
macro_rules! say_text {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

pub mod bitlocker;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod format;
pub mod journal;
pub mod ledger;
pub mod md5;
pub mod model;
pub mod private_dir;
pub mod report;
pub mod rooted;
pub mod sanitize;
pub mod source;
pub mod tui;
