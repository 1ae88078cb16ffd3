//! Argument definitions.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::exit::EXIT_CODES_HELP;

/// Repair and verify drives returned by Azure Import/Export export jobs.
#[derive(Debug, Parser)]
#[command(name = "export-repair", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Check every block, page range, properties and metadata file of a drive against the
    /// manifest's MD5s. Offline: needs no credentials and never writes to the drive.
    #[command(after_help = EXIT_CODES_HELP)]
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The drive's root directory (or a copy of it).
    #[arg(long, short = 'd', value_name = "DIR")]
    pub target: PathBuf,
    /// The drive manifest (on export drives usually `<DriveId>.manifest` in the root).
    #[arg(long, short = 'm', value_name = "FILE")]
    pub manifest: PathBuf,
    /// The job's copy log (verbose or error log): its failures are reported too.
    #[arg(long, value_name = "FILE")]
    pub copy_log: Option<PathBuf>,
    /// Write the JSON report (schema export-repair/report/v1) to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Stream the engine's events to stdout as NDJSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Hashing threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Parses the command line.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(args)
}
