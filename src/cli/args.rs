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
    /// Re-download what the copy log says failed and whatever does not verify against the
    /// manifest, from Azure Blob storage (or a local mirror). Resumable through the repair
    /// file. The v1 form `RepairExport /r:… /d:… /sn:… /sk:… /CopyLogFile:…` is accepted too.
    #[command(after_help = super::classic::repair_help())]
    Repair(RepairArgs),
    /// Render a report from a repair file, without touching the drive.
    #[command(after_help = EXIT_CODES_HELP)]
    Report(ReportArgs),
    /// Find a drive's copy logs, verbose logs and manifest backup in the storage account
    /// (v1/2018 in waimportexport/waies, 2021 in databoxcopylog), newest first, and fetch them.
    #[command(after_help = EXIT_CODES_HELP)]
    Logs(LogsArgs),
    /// Build a damaged sample export and repair it from its local mirror.
    #[command(after_help = EXIT_CODES_HELP)]
    Demo(DemoArgs),
    /// Print a shell completion script: `export-repair completions bash > …` (see the README
    /// for where each shell looks).
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to stdout, or write one page per command into a directory.
    Man(ManArgs),
}

/// How to sign in with Microsoft Entra ID when neither a key nor a SAS is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMethod {
    /// A service principal or workload identity: AZURE_TENANT_ID and AZURE_CLIENT_ID with
    /// AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE.
    Env,
    /// The Azure CLI's login (`az login`).
    AzureCli,
    /// The machine's managed identity (AZURE_CLIENT_ID names a user-assigned one).
    ManagedIdentity,
}

impl From<AuthMethod> for crate::source::azure::EntraMethod {
    fn from(method: AuthMethod) -> Self {
        match method {
            AuthMethod::Env => Self::Environment,
            AuthMethod::AzureCli => Self::AzureCli,
            AuthMethod::ManagedIdentity => Self::ManagedIdentity,
        }
    }
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells completions are made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write export-repair.1 and a page per command (export-repair-repair.1, …) here instead.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// `--report` and `--report-format`, shared by `verify` and `repair`.
#[derive(Debug, Clone, Default, Args)]
pub struct ReportFlags {
    /// Write a report; the format follows the extension (.json .html .csv .xml). May be
    /// given several times.
    #[arg(long, value_name = "FILE")]
    pub report: Vec<PathBuf>,
    /// The reports' format, whatever their extension: json, html, csv or xml (DriveLog).
    #[arg(long, value_name = "FORMAT")]
    pub report_format: Option<crate::report::ReportFormat>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The drive's root directory (or a copy of it), or a BitLocker-encrypted drive (device,
    /// partition or image), unlocked read-only with --bitlocker-key.
    #[arg(long, short = 'd', value_name = "DIR")]
    pub target: PathBuf,
    /// The drive manifest (on export drives usually `<DriveId>.manifest` in the root).
    #[arg(
        long,
        short = 'm',
        value_name = "FILE",
        required_unless_present = "verbose_log"
    )]
    pub manifest: Option<PathBuf>,
    /// The job's copy log (v1/2018 error or verbose log, or a 2021-08-01 copy log): its
    /// failures are reported too.
    #[arg(long, value_name = "FILE")]
    pub copy_log: Option<PathBuf>,
    /// The 2021 verbose log: every file it lists is checked by size and CRC-64.
    #[arg(long, value_name = "FILE")]
    pub verbose_log: Option<PathBuf>,
    /// The repair file of an earlier repair (read, never written): what it wrote that only
    /// the copy log names (a file downloaded whole, a range) is checked against the MD5
    /// recorded then.
    #[arg(long, value_name = "FILE")]
    pub repair_file: Option<PathBuf>,
    #[command(flatten)]
    pub reports: ReportFlags,
    /// Stream the engine's events to stdout as NDJSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Hashing threads, 1 to 256 (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// The BitLocker recovery key (48 digits) when --target is an encrypted drive (better:
    /// the BITLOCKER_KEY environment variable; asked for on a terminal when missing).
    #[arg(
        long,
        value_name = "KEY",
        env = "BITLOCKER_KEY",
        hide_env_values = true
    )]
    pub bitlocker_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The repair file: a path that does not exist starts a repair, an existing one resumes it.
    /// One per drive.
    #[arg(long, value_name = "FILE")]
    pub repair_file: PathBuf,
    /// The drive's root directory (or a copy of it) to verify and repair, or a
    /// BitLocker-encrypted drive (device, partition or image) to unlock with --bitlocker-key.
    #[arg(long, short = 'd', value_name = "DIR")]
    pub target: PathBuf,
    /// The storage account of the export job.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// The storage account key (better: the AZURE_STORAGE_KEY environment variable, which
    /// keeps it out of the process list).
    #[arg(
        long,
        value_name = "KEY",
        env = "AZURE_STORAGE_KEY",
        hide_env_values = true
    )]
    pub account_key: Option<String>,
    /// A container SAS: `<container>?<sas>` (as v1 wrote it) or a full URL (or AZURE_STORAGE_SAS).
    #[arg(
        long,
        value_name = "SAS",
        env = "AZURE_STORAGE_SAS",
        hide_env_values = true
    )]
    pub sas: Option<String>,
    /// Sign in with Microsoft Entra ID this way. Without a key, a SAS or this flag: a service
    /// principal from the environment, a managed identity the environment announces, then
    /// the Azure CLI's login.
    #[arg(long, value_enum, value_name = "METHOD")]
    pub auth: Option<AuthMethod>,
    /// Verify and plan only: say what a repair would download (files, ranges, bytes) and
    /// from where, without downloading or writing anything (the repair file included).
    /// Exit codes as for `verify`.
    #[arg(long)]
    pub dry_run: bool,
    /// The drive's copy log: the v1/2018 error or verbose log, or the 2021-08-01 copy log.
    #[arg(long, value_name = "FILE")]
    pub copy_log: Option<PathBuf>,
    /// The 2021 verbose log: every file it lists is checked by size and CRC-64.
    #[arg(long, value_name = "FILE")]
    pub verbose_log: Option<PathBuf>,
    /// The drive manifest: every component is verified against it and re-downloaded if bad.
    #[arg(long, short = 'm', value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Where the verbose log goes (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Replaces https://<account>.blob.core.windows.net (Azurite, sovereign clouds).
    #[arg(long, value_name = "URL")]
    pub blob_endpoint: Option<String>,
    /// Repair from a local mirror laid out `<container>/<blob path>` instead of Azure.
    // A key or SAS on the command line conflicts with it too; one in the environment is left
    // unused (`parse_modern`).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["blob_endpoint", "read_timeout"])]
    pub source_dir: Option<PathBuf>,
    #[command(flatten)]
    pub reports: ReportFlags,
    /// The BitLocker recovery key (48 digits) when --target is an encrypted drive: it is
    /// unlocked for the run and locked again after it (better: the BITLOCKER_KEY environment
    /// variable; asked for on a terminal when missing).
    #[arg(
        long,
        value_name = "KEY",
        env = "BITLOCKER_KEY",
        hide_env_values = true
    )]
    pub bitlocker_key: Option<String>,
    /// Stream the engine's events to stdout as NDJSON.
    #[arg(long)]
    pub json: bool,
    /// Never open the console, even on a terminal.
    #[arg(long)]
    pub headless: bool,
    /// Downloads in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
    /// Longest silence allowed while a download streams before it is dropped and resumed
    /// from the byte where it stopped (default: 30).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub read_timeout: Option<u64>,
    /// Find the drive's logs in the storage account first (as `export-repair logs` does),
    /// save the newest of each kind beside the repair file, and repair with those: the copy
    /// log, the 2021 verbose log and the manifest backup fill the inputs not given.
    #[arg(long, conflicts_with = "source_dir")]
    pub fetch_logs: bool,
    /// With --fetch-logs: the drive whose logs to fetch (default: the DriveId of --manifest,
    /// or of the manifest on --target).
    #[arg(long, value_name = "ID", requires = "fetch_logs")]
    pub drive_id: Option<String>,
    /// With --fetch-logs: the job's diagnostics container (DiagnosticsPath) for v1/2018 logs
    /// (default: waimportexport).
    #[arg(long, value_name = "NAME", requires = "fetch_logs")]
    pub logs_container: Option<String>,
    /// Read the local mirror (--source-dir) no faster than this many KiB a second, to watch
    /// a repair happen (training, demonstrations).
    #[arg(long, value_name = "KIB_PER_S", requires = "source_dir", value_parser = clap::value_parser!(u64).range(1..))]
    pub pace: Option<u64>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The storage account of the export job.
    #[arg(long, value_name = "NAME")]
    pub account: String,
    /// The storage account key (better: AZURE_STORAGE_KEY).
    #[arg(
        long,
        value_name = "KEY",
        env = "AZURE_STORAGE_KEY",
        hide_env_values = true
    )]
    pub account_key: Option<String>,
    /// A container SAS (or AZURE_STORAGE_SAS): it reaches only its container.
    #[arg(
        long,
        value_name = "SAS",
        env = "AZURE_STORAGE_SAS",
        hide_env_values = true
    )]
    pub sas: Option<String>,
    /// Sign in with Microsoft Entra ID this way (without a key or SAS the chain is tried, as
    /// for `repair`).
    #[arg(long, value_enum, value_name = "METHOD")]
    pub auth: Option<AuthMethod>,
    /// Replaces https://<account>.blob.core.windows.net (Azurite, sovereign clouds).
    #[arg(long, value_name = "URL")]
    pub blob_endpoint: Option<String>,
    /// The drive whose logs to find (default: the DriveId of the manifest on --target).
    #[arg(long, value_name = "ID")]
    pub drive_id: Option<String>,
    /// The drive's root: its manifest (*.manifest or DriveManifest.xml) names the drive.
    #[arg(long, short = 'd', value_name = "DIR")]
    pub target: Option<PathBuf>,
    /// The drive manifest that names the drive.
    #[arg(long, short = 'm', value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// The job's diagnostics container (DiagnosticsPath) for v1/2018 logs.
    #[arg(long, value_name = "NAME", default_value = "waimportexport")]
    pub container: String,
    /// The repair file: the logs are saved beside it.
    #[arg(long, value_name = "FILE")]
    pub repair_file: Option<PathBuf>,
    /// Save the logs in this directory instead.
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
    /// Only list the logs found.
    #[arg(long, conflicts_with_all = ["into", "all"])]
    pub list: bool,
    /// Fetch every log of the drive, not only the newest of each kind.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The repair file of the run to report on.
    #[arg(long, value_name = "FILE")]
    pub repair_file: PathBuf,
    /// json, html, csv or xml (DriveLog); default: from the output's extension.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<crate::report::ReportFormat>,
    /// Where to write it.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to build the sample export (default: a new directory under the system's
    /// temporary directory, kept so you can look at it).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Never open the console, even on a terminal.
    #[arg(long)]
    pub headless: bool,
    /// Stream the engine's events to stdout as NDJSON.
    #[arg(long)]
    pub json: bool,
    /// Slow the repair down to watch it: downloads from the mirror at this many KiB a
    /// second (1024 when given without a value).
    #[arg(long, value_name = "KIB_PER_S", num_args = 0..=1, default_missing_value = "1024",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub pace: Option<u64>,
}

/// Parses the command line.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    let args: Vec<OsString> = args.into_iter().collect();
    match super::classic::translate(&args) {
        Some(Ok(modern)) => parse_modern(modern),
        // clap prints a raw message as it is: the line ends here.
        Some(Err(message)) => Err(clap::Error::raw(
            clap::error::ErrorKind::ValueValidation,
            format!("{message}\n"),
        )),
        None => parse_modern(args),
    }
}

/// [`parse`] of the modern command line. A repair from a local mirror refuses an account key
/// or SAS given on the command line, and leaves one in the environment unused (a shell that
/// exports `AZURE_STORAGE_KEY` for other runs must not stop it).
fn parse_modern(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    use clap::parser::ValueSource;
    use clap::{CommandFactory as _, FromArgMatches as _};
    let mut command = Cli::command();
    let matches = command.try_get_matches_from_mut(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let Some(("repair", repair)) = matches.subcommand() else {
        return Ok(cli);
    };
    if repair.value_source("source_dir").is_none() {
        return Ok(cli);
    }
    for (id, flag) in [
        ("account_key", "--account-key <KEY>"),
        ("sas", "--sas <SAS>"),
    ] {
        if repair.value_source(id) == Some(ValueSource::CommandLine) {
            // Told with the usage of `repair`, as clap tells its own conflicts.
            let mut repair_command = command.find_subcommand_mut("repair").cloned();
            return Err(repair_command.as_mut().unwrap_or(&mut command).error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("the argument '--source-dir <DIR>' cannot be used with '{flag}'"),
            ));
        }
    }
    if let Commands::Repair(repair) = &mut cli.command {
        repair.account_key = None;
        repair.sas = None;
    }
    Ok(cli)
}
