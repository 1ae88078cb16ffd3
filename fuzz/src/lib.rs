//! Fuzz targets for export-repair: each takes arbitrary bytes and must never panic.
//!
//! - [`manifest`]: the drive manifest parser, then the drive model built from it.
//! - [`copy_log`]: the copy log parser, then the model built from it alone and merged with a
//!   valid manifest.
//! - [`copy_log_2021`]: the 2021-08-01 copy log parser (bytes in any encoding), then the model
//!   built from it alone and merged with a valid manifest.
//! - [`verbose_log`]: the 2021 verbose log parser (bytes in any encoding), then the model built
//!   from it alone and merged with a valid manifest.
//! - [`side_files`]: the properties and metadata file parsers, and writing back what parsed.
//! - [`repair_file`]: [`RepairFile::open_or_create`](export_repair::journal::RepairFile) on the
//!   bytes as an existing repair file, then reading its entries and recording into it.
//!
//! The targets live in `targets.rs`, which `tests/bad_inputs.rs` compiles in too: the
//! regressions under `fuzz/regressions/<target>/` are replayed on every `cargo test` through
//! these very functions.

pub mod standalone;
mod targets;

pub use targets::*;
