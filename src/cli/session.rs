//! Running an engine headless or under the console: every event is folded into the run's
//! ledger, which the reporter, the console and the reports read, and goes to the verbose
//! log; Ctrl-C asks the engine to finish what is in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::path::{Path, PathBuf};

use crate::engine::{Command, EngineHandle, Event, SourceHandle};
use crate::ledger::Ledger;
use crate::model::Drive;
use crate::source::BlobSource;

use crate::report::{self, Report, ReportFormat, RunInfo};

use super::reporter::Reporter;
use super::{CliError, ExitStatus};

/// The exit status a run's ledger calls for.
pub fn exit_status(ledger: &Ledger) -> ExitStatus {
    if ledger.awaiting_credentials() {
        ExitStatus::AuthRefused
    } else if ledger.interrupted() {
        ExitStatus::Interrupted
    } else if ledger.damaged() > 0 {
        ExitStatus::Damaged
    } else {
        ExitStatus::Verified
    }
}

/// The reports a run writes, checked before it starts.
pub struct Reports {
    targets: Vec<(PathBuf, ReportFormat)>,
    run: RunInfo,
}

impl Reports {
    pub fn new(
        paths: &[PathBuf],
        format: Option<ReportFormat>,
        run: RunInfo,
    ) -> Result<Self, CliError> {
        let targets = paths
            .iter()
            .map(|path| {
                ReportFormat::resolve(path, format)
                    .map(|format| (path.clone(), format))
                    .map_err(|error| {
                        CliError::Usage(format!(
                            "{error} for the report {}: name it .json, .html, .csv or .xml, or give --report-format",
                            path.display()
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { targets, run })
    }

    /// The report of the run as the ledger holds it.
    pub fn report(&self, ledger: &Ledger) -> Report {
        Report::of(ledger, self.run.clone())
    }

    fn write(&self, ledger: &Ledger) -> Result<(), CliError> {
        if self.targets.is_empty() {
            return Ok(());
        }
        let report = self.report(ledger);
        for (path, format) in &self.targets {
            report::write_report(&report, path, Some(*format))?;
        }
        Ok(())
    }
}

/// Consumes the engine's events until the run finishes, then writes the reports and the
/// summary. A reader that closes stdout (`--json | head`) stops the run as interrupted, and
/// nothing more is said.
pub async fn run_headless(
    mut handle: EngineHandle,
    drive: Arc<Drive>,
    json: bool,
    reports: &Reports,
) -> Result<Ledger, CliError> {
    let commands = handle.commands();
    let ctrl_c = tokio::spawn(async move {
        let pressed = AtomicBool::new(false);
        while tokio::signal::ctrl_c().await.is_ok() {
            if pressed.swap(true, Ordering::Relaxed) {
                eprintln!("stopped at once; rerun with the same repair file to resume");
                crate::bitlocker::emergency_cleanup();
                std::process::exit(ExitStatus::Interrupted as i32);
            }
            eprintln!("interrupted: finishing the writes in flight (Ctrl-C again stops at once)");
            let _ = commands.send(Command::Cancel);
        }
    });
    let mut reporter = Reporter::new(json);
    let mut ledger = Ledger::new(drive);
    let mut reader_gone = false;
    while let Some(event) = handle.events.recv().await {
        ledger.apply(&event);
        log_event(&event);
        if reporter.on_event(&event, &ledger).is_err() && !reader_gone {
            reader_gone = true;
            tracing::info!("stdout was closed by its reader: the run stops");
            handle.send(Command::Cancel);
        }
    }
    ctrl_c.abort();
    if !ledger.finished() {
        return Err(CliError::Usage(
            "the engine stopped without finishing".into(),
        ));
    }
    reports.write(&ledger)?;
    if !reader_gone {
        reporter.finish(&ledger);
    }
    Ok(ledger)
}

/// Builds a source from an account key or SAS typed into the console.
pub type SourceFactory = Box<dyn Fn(&str) -> Result<Arc<dyn BlobSource>, String> + Send + Sync>;

/// What the console asks of the program: reports, the log, new credentials.
struct ConsoleHost<'a> {
    reports: &'a Reports,
    make_source: Option<&'a SourceFactory>,
    log_file: Option<PathBuf>,
}

impl crate::tui::Host for ConsoleHost<'_> {
    fn on_event(&mut self, event: &Event) {
        log_event(event);
    }

    fn export(&mut self, ledger: &Ledger, path: &Path, format: ReportFormat) -> Result<(), String> {
        report::write_report(&self.reports.report(ledger), path, Some(format))
            .map_err(|error| super::chain(&error))
    }

    fn credentials(&mut self, secret: &str) -> Result<SourceHandle, String> {
        let make_source = self.make_source.ok_or_else(|| {
            "this run reads from a local copy (--source-dir): no credentials are involved"
                .to_string()
        })?;
        let source = make_source(secret)?;
        tracing::info!(
            "new credentials given in the console: {}",
            source.describe()
        );
        Ok(SourceHandle(source))
    }

    fn takes_credentials(&self) -> bool {
        self.make_source.is_some()
    }

    fn log_file(&self) -> Option<PathBuf> {
        self.log_file.clone()
    }
}

/// Runs the engine under the console; the report and the summary follow when it closes.
pub async fn run_console(
    handle: EngineHandle,
    drive: Arc<Drive>,
    reports: &Reports,
    make_source: Option<&SourceFactory>,
    log_file: Option<&Path>,
) -> Result<Ledger, CliError> {
    let keymap = crate::tui::keymap::Keymap::load(crate::tui::keymap_path().as_deref())
        .map_err(|error| CliError::Usage(error.to_string()))?;
    let theme = crate::tui::theme::Theme::load(crate::tui::theme_path().as_deref())
        .map_err(|error| CliError::Usage(error.to_string()))?;
    let mut host = ConsoleHost {
        reports,
        make_source,
        log_file: log_file.map(Path::to_path_buf),
    };
    let ledger = crate::tui::run(handle, drive, keymap, theme, &mut host)
        .await
        .map_err(|error| CliError::Usage(format!("the console failed: {error}")))?;
    if !ledger.finished() {
        return Err(CliError::Usage(
            "the engine stopped without finishing".into(),
        ));
    }
    reports.write(&ledger)?;
    Reporter::new(false).finish(&ledger);
    Ok(ledger)
}

/// Whether to open the console: both ends are a terminal and nobody asked otherwise.
pub fn console_wanted(headless: bool, json: bool) -> bool {
    use std::io::IsTerminal;
    !headless && !json && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// The verbose log gets every fact but progress ticks.
fn log_event(event: &Event) {
    match event {
        Event::Progress(_) => {}
        Event::Warning { message } => tracing::warn!("{message}"),
        Event::CredentialsRefused { message } => tracing::error!("{message}"),
        other => {
            if let Ok(line) = serde_json::to_string(other) {
                tracing::info!(target: "export_repair::event", "{line}");
            }
        }
    }
}
