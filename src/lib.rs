//! Repair and verify drives returned by Azure Import/Export export jobs.

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
