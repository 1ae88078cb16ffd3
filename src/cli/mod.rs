//! The command line: arguments → one validated configuration → a run → an exit code.

mod args;
mod bitlocker;
mod classic;
mod demo;
mod exit;
mod inputs;
mod install_files;
mod logging;
mod logs;
mod repair;
mod report_command;
mod report_paths;
pub mod reporter;
mod rerun;
mod secrets;
mod session;
mod signals;
mod verify;

pub use args::{Cli, Commands};
pub use exit::ExitStatus;

use std::fmt::Write as _;

/// Runs the program with the process's arguments and returns its exit status.
pub fn main() -> ExitStatus {
    run(std::env::args_os().collect())
}

/// Runs the program with `arguments` (the program's name first), as `main` does.
pub fn run(arguments: Vec<std::ffi::OsString>) -> ExitStatus {
    // Before parsing: a refused argument is echoed in the parser's error.
    secrets::remember_given(&arguments);
    let cli = match args::parse(arguments) {
        Ok(cli) => cli,
        Err(error) if error.use_stderr() => {
            use std::io::IsTerminal as _;
            let rendered = error.render();
            let text = match std::io::stderr().is_terminal() {
                true => rendered.ansi().to_string(),
                false => rendered.to_string(),
            };
            say_text!("{}", crate::sanitize::redact_secrets(&text));
            return ExitStatus::Usage;
        }
        Err(help) => {
            let _ = help.print();
            return ExitStatus::Verified;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            say!("error: cannot start the async runtime: {error}");
            return ExitStatus::Usage;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Commands::Verify(args) => verify::run(args).await,
            Commands::Repair(args) => repair::run(args).await,
            Commands::Demo(args) => demo::run(args).await,
            Commands::Report(args) => report_command::run(args),
            Commands::Logs(args) => logs::run(args).await,
            Commands::Completions(args) => install_files::completions(&args),
            Commands::Man(args) => install_files::man(&args),
        }
    });
    match result {
        Ok(status) => status,
        Err(error) => {
            say!("error: {}", chain(&error));
            let status = error.exit_status();
            if status == ExitStatus::Interrupted {
                say!("  nothing more was done: run the command again");
            }
            status
        }
    }
}

/// An error and its causes, one line: "a: b: c", every secret masked.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = crate::sanitize::escape_controls(&error.to_string()).into_owned();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // A cause is told with its control characters escaped (it may quote a hostile file);
        // thiserror messages often embed their source already (escaped or not): not twice.
        let shown = crate::sanitize::escape_controls(&cause_text);
        if !text.contains(&cause_text) && !text.contains(&*shown) {
            let _ = write!(text, ": {shown}");
        }
        source = cause.source();
    }
    crate::sanitize::redact_secrets(&text)
}

/// Failures that end a run before or instead of a verdict.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Format(#[from] crate::format::FormatError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error(transparent)]
    BitLocker(#[from] crate::bitlocker::BitLockerError),
    /// Boxed: the storage's errors are large, and CliError travels in every Result here.
    #[error(transparent)]
    Source(Box<crate::source::SourceError>),
    #[error("{0}")]
    Usage(String),
    /// Nothing is wrong with the input: another try may get through (exit 4).
    #[error("{0}")]
    TryAgain(String),
}

impl From<crate::source::SourceError> for CliError {
    fn from(error: crate::source::SourceError) -> Self {
        CliError::Source(Box::new(error))
    }
}

impl CliError {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            CliError::Format(_)
            | CliError::Model(_)
            | CliError::BitLocker(_)
            | CliError::Usage(_)
            // The run is over and its summary printed; the report it was asked for is missing.
            | CliError::Report(_) => ExitStatus::Usage,
            CliError::Source(error) => {
                use crate::source::SourceError;
                match **error {
                    // Storage unreachable, a log that vanished or changed since it was listed, a
                    // stop: nothing was fetched, nothing says the drive is damaged, and another
                    // try may get through.
                    SourceError::Transient { .. }
                    | SourceError::Changed { .. }
                    | SourceError::NotFound { .. }
                    | SourceError::Stopped
                    | SourceError::Io { .. } => ExitStatus::Interrupted,
                    // What no retry mends: a configuration or a name that cannot work, a request
                    // the service refuses as such, an answer that makes no sense.
                    SourceError::Config(_)
                    | SourceError::InvalidPath { .. }
                    | SourceError::Service { .. }
                    | SourceError::Protocol { .. }
                    | SourceError::OutOfRange { .. } => ExitStatus::Usage,
                    SourceError::Auth { .. }
                    | SourceError::SignIn { .. }
                    | SourceError::NotCovered { .. } => ExitStatus::AuthRefused,
                }
            }
            CliError::TryAgain(_) => ExitStatus::Interrupted,
        }
    }
}
