//! Running an engine headless: every event goes to the reporter, the report builder and
//! the verbose log; a signal (SIGINT, SIGTERM, SIGHUP) asks the engine to finish what is in
//! flight.

use std::sync::Arc;

use std::path::{Path, PathBuf};

use crate::engine::{EngineHandle, Event, SourceHandle, Totals};
use crate::model::{Drive, Outcome};
use crate::source::BlobSource;

use crate::report::{self, ReportBuilder, ReportFormat, RunInfo};

use super::report_paths::{self, Protected};
use super::reporter::Reporter;
use super::{CliError, ExitStatus, signals};

/// How a run ended.
pub struct Finished {
    pub outcome: Outcome,
    pub totals: Totals,
    pub interrupted: bool,
    pub credentials_refused: bool,
    /// The repair file could not be read or written, which stopped the run.
    pub repair_file_error: Option<String>,
}

impl Finished {
    pub fn exit_status(&self) -> ExitStatus {
        if self.repair_file_error.is_some() {
            ExitStatus::Usage
        } else if self.credentials_refused {
            ExitStatus::AuthRefused
        } else if self.interrupted {
            ExitStatus::Interrupted
        } else if self.totals.damaged() > 0 {
            ExitStatus::Damaged
        } else {
            ExitStatus::Verified
        }
    }

    /// Says why a repair file stopped the run, after the summary.
    fn explain(&self) {
        if let Some(message) = &self.repair_file_error {
            eprintln!(
                "error: the repair file stopped the run: {message}\n  nothing more was written to \
                 the drive; fix the repair file's disk (space, permissions) and rerun with it to \
                 resume, or give a new repair file path to start over"
            );
        }
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
        protected: &Protected<'_>,
    ) -> Result<Self, CliError> {
        let targets = paths
            .iter()
            .map(|path| {
                report_paths::check(path, protected)?;
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

    fn builder(&self, drive: Arc<Drive>) -> ReportBuilder {
        ReportBuilder::with_run_info(drive, self.run.clone())
    }

    fn write(&self, builder: &ReportBuilder) -> Result<(), CliError> {
        if self.targets.is_empty() {
            return Ok(());
        }
        let report = builder.finish();
        for (path, format) in &self.targets {
            report::write_report(&report, path, Some(*format))?;
        }
        Ok(())
    }
}

/// Consumes the engine's events until the run finishes, then writes the reports and the
/// summary.
pub async fn run_headless(
    mut handle: EngineHandle,
    drive: Arc<Drive>,
    json: bool,
    reports: &Reports,
) -> Result<Finished, CliError> {
    let interrupts = signals::stop_run(handle.commands());
    let mut reporter = Reporter::new(json);
    let mut builder = reports.builder(Arc::clone(&drive));
    let mut finished = None;
    let mut credentials_refused = false;
    while let Some(event) = handle.events.recv().await {
        reporter.on_event(&event);
        builder.apply(&event);
        log_event(&event);
        match event {
            Event::CredentialsRefused { .. } => credentials_refused = true,
            Event::RunFinished {
                outcome,
                totals,
                interrupted,
                repair_file_error,
                ..
            } => {
                finished = Some(Finished {
                    outcome,
                    totals,
                    interrupted,
                    credentials_refused,
                    repair_file_error,
                });
            }
            _ => {}
        }
    }
    drop(interrupts);
    let finished =
        finished.ok_or_else(|| CliError::Usage("the engine stopped without finishing".into()))?;
    let written = reports.write(&builder);
    reporter.summary(finished.outcome, &finished.totals, finished.interrupted);
    finished.explain();
    written.map(|()| finished)
}

/// Builds a source from an account key or SAS typed into the console.
pub type SourceFactory = Box<dyn Fn(&str) -> Result<Arc<dyn BlobSource>, String> + Send + Sync>;

/// What the console asks of the program: reports, the log, new credentials.
struct ConsoleHost<'a> {
    builder: ReportBuilder,
    make_source: Option<&'a SourceFactory>,
    credentials_refused: bool,
    finished: Option<Finished>,
}

impl crate::tui::Host for ConsoleHost<'_> {
    fn on_event(&mut self, event: &Event) {
        self.builder.apply(event);
        log_event(event);
        match event {
            Event::CredentialsRefused { .. } => self.credentials_refused = true,
            Event::RunFinished {
                outcome,
                totals,
                interrupted,
                repair_file_error,
                ..
            } => {
                self.finished = Some(Finished {
                    outcome: *outcome,
                    totals: totals.clone(),
                    interrupted: *interrupted,
                    credentials_refused: self.credentials_refused,
                    repair_file_error: repair_file_error.clone(),
                });
            }
            _ => {}
        }
    }

    fn export(&mut self, path: &Path, format: ReportFormat) -> Result<(), String> {
        report::write_report(&self.builder.finish(), path, Some(format))
            .map_err(|error| super::chain(&error))
    }

    fn credentials(&mut self, secret: &str) -> Result<SourceHandle, String> {
        let make_source = self.make_source.ok_or_else(|| {
            "this run reads from a local copy (--source-dir): it takes no credentials".to_string()
        })?;
        let source = make_source(secret)?;
        self.credentials_refused = false;
        tracing::info!(
            "new credentials given in the console: {}",
            source.describe()
        );
        Ok(SourceHandle(source))
    }
}

/// Runs the engine under the console; the report and the summary follow when it closes.
pub async fn run_console(
    handle: EngineHandle,
    drive: Arc<Drive>,
    reports: &Reports,
    make_source: Option<&SourceFactory>,
) -> Result<Finished, CliError> {
    let keymap = crate::tui::keymap::Keymap::load(crate::tui::keymap_path().as_deref())
        .map_err(|error| CliError::Usage(error.to_string()))?;
    let theme = crate::tui::theme::Theme::load(crate::tui::theme_path().as_deref())
        .map_err(|error| CliError::Usage(error.to_string()))?;
    let mut host = ConsoleHost {
        builder: reports.builder(Arc::clone(&drive)),
        make_source,
        credentials_refused: false,
        finished: None,
    };
    // SIGTERM or SIGHUP (the terminal closed) stop the run as in a headless one.
    let interrupts = signals::stop_run(handle.commands());
    let ran = crate::tui::run(handle, drive, keymap, theme, &mut host).await;
    drop(interrupts);
    ran.map_err(|error| CliError::Usage(format!("the console failed: {error}")))?;
    let finished = host
        .finished
        .ok_or_else(|| CliError::Usage("the engine stopped without finishing".into()))?;
    let written = reports.write(&host.builder);
    Reporter::new(false).summary(finished.outcome, &finished.totals, finished.interrupted);
    finished.explain();
    written.map(|()| finished)
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
