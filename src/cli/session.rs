//! Running an engine headless or under the console: every event is folded into the run's
//! ledger, which the reporter, the console and the reports read, and goes to the verbose
//! log; a signal (SIGINT, SIGTERM, SIGHUP) asks the engine to finish what is in flight.

use std::sync::Arc;

use std::path::{Path, PathBuf};

use crate::engine::{Command, EngineHandle, Event, SourceHandle};
use crate::ledger::Ledger;
use crate::model::Drive;
use crate::source::BlobSource;
use tokio_util::sync::CancellationToken;

use crate::report::{self, Report, ReportFormat, RunInfo};

use super::report_paths::{self, Protected};
use super::reporter::Reporter;
use super::signals::{self, Signals};
use super::{CliError, ExitStatus, rerun};

/// The exit status a run's ledger calls for.
pub fn exit_status(ledger: &Ledger) -> ExitStatus {
    if ledger.repair_file_error().is_some() {
        ExitStatus::Usage
    } else if ledger.awaiting_credentials() {
        ExitStatus::AuthRefused
    } else if ledger.interrupted() {
        ExitStatus::Interrupted
    } else if ledger.damaged() > 0 && ledger.unreachable() > 0 {
        // Damage a rerun resumes once the storage can be reached, as README's table says.
        ExitStatus::Interrupted
    } else if ledger.damaged() > 0 {
        ExitStatus::Damaged
    } else if ledger.outcome() == crate::model::Outcome::Incomplete {
        // Stopped short however it stopped: what a rerun resumes.
        ExitStatus::Interrupted
    } else {
        ExitStatus::Verified
    }
}

/// Says why a repair file stopped the run, after the summary.
fn explain_repair_file(ledger: &Ledger) {
    if let Some(message) = ledger.repair_file_error() {
        say!(
            "error: the repair file stopped the run: {message}\n  nothing more was written to \
             the drive; fix the repair file's disk (space, permissions) and rerun with it to \
             resume, or give a new repair file path to start over"
        );
    }
}

/// The summary, then the reports: a report that cannot be written is its own error (exit 2),
/// after the summary has said how the run went.
fn finish(
    ledger: Ledger,
    reports: &Reports,
    reporter: Option<Reporter>,
) -> Result<Ledger, CliError> {
    if !ledger.finished() {
        return Err(CliError::Usage(
            "the engine stopped without finishing".into(),
        ));
    }
    let written = reports.write(&ledger);
    if let Some(mut reporter) = reporter {
        reporter.finish(&ledger);
    }
    explain_repair_file(&ledger);
    written.map(|()| ledger)
}

/// The reports a run writes, checked before it starts.
pub struct Reports {
    targets: Vec<(PathBuf, ReportFormat)>,
    run: RunInfo,
    /// What no report may be written over, also one asked for during the run.
    protected: report_paths::ProtectedPaths,
    /// A repair's: its reports can also be written from its repair file.
    repair_file: Option<PathBuf>,
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
        Ok(Self {
            targets,
            run,
            protected: report_paths::ProtectedPaths::of(protected),
            repair_file: None,
        })
    }

    /// A repair's reports: a run stopped before writing them can have them from `repair_file`.
    pub fn of_repair(self, repair_file: &Path) -> Self {
        Self {
            repair_file: Some(repair_file.to_path_buf()),
            ..self
        }
    }

    /// What a run stopped at once (a second signal) leaves to do: resume, and write the
    /// reports it did not write, from the repair file when there is one.
    pub fn after_stopping_at_once(&self) -> String {
        let Some(repair_file) = &self.repair_file else {
            return match self.targets.is_empty() {
                true => "nothing was recorded".to_string(),
                false => "no report was written".to_string(),
            };
        };
        let resume = "rerun with the same repair file to resume";
        if self.targets.is_empty() {
            return resume.to_string();
        }
        let commands: Vec<String> = (self.targets.iter())
            .map(|(path, format)| {
                let named = ReportFormat::resolve(path, None).ok() == Some(*format);
                format!(
                    "`{} report --repair-file {} --output {}{}`",
                    rerun::program(),
                    rerun::path(repair_file),
                    rerun::path(path),
                    if named {
                        String::new()
                    } else {
                        format!(" --format {}", format.as_str())
                    }
                )
            })
            .collect();
        let (what, verb) = match commands.len() {
            1 => ("it", "writes"),
            _ => ("them", "write"),
        };
        format!(
            "{resume}; no report was written; {} {verb} {what} from the repair file",
            commands.join(" and ")
        )
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
            report::write_report(&report, path, Some(*format), self.protected.drive())?;
        }
        Ok(())
    }
}

/// Consumes the engine's events until the run finishes, then writes the reports and the
/// summary. A reader that closes stdout (`--json | head`) stops the run as interrupted, and
/// nothing more is said.
pub async fn run_headless(
    signals: Signals,
    mut handle: EngineHandle,
    drive: Arc<Drive>,
    json: bool,
    reports: &Reports,
) -> Result<Ledger, CliError> {
    let interrupts = signals::stop_run(
        signals,
        handle.commands(),
        None,
        reports.after_stopping_at_once(),
    );
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
    // A second signal being answered ends the program before any report is begun; once
    // the listener is gone, the reports are written whole.
    interrupts.end().await;
    finish(ledger, reports, (!reader_gone).then_some(reporter))
}

/// Builds a source from an account key or SAS typed into the console.
pub type SourceFactory = Box<dyn Fn(&str) -> Result<Arc<dyn BlobSource>, String> + Send + Sync>;

/// What the console asks of the program: reports, the log, new credentials.
struct ConsoleHost<'a> {
    reports: &'a Reports,
    make_source: Option<&'a SourceFactory>,
    log_file: Option<PathBuf>,
    close: CancellationToken,
}

impl crate::tui::Host for ConsoleHost<'_> {
    fn on_event(&mut self, event: &Event) {
        log_event(event);
    }

    fn report_refused(&self, path: &Path) -> Option<String> {
        self.reports.protected.refusal(path)
    }

    fn export(&mut self, ledger: &Ledger, path: &Path, format: ReportFormat) -> Result<(), String> {
        if let Some(refused) = self.report_refused(path) {
            return Err(refused);
        }
        let drive = self.reports.protected.drive();
        report::write_report(&self.reports.report(ledger), path, Some(format), drive)
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

    fn closing(&self) -> CancellationToken {
        self.close.clone()
    }
}

/// The console made ready before the run starts: a keymap or theme that does not load, or a
/// terminal that cannot host the console, is known before anything is begun.
pub struct OpenConsole {
    screen: crate::tui::Screen,
    keymap: crate::tui::keymap::Keymap,
    theme: crate::tui::theme::Theme,
}

/// Opens the console; `None` (said on stderr) when this terminal cannot host it: the run
/// then goes on as with `--headless`.
pub fn open_console() -> Result<Option<OpenConsole>, CliError> {
    let keymap = crate::tui::keymap::Keymap::load(crate::tui::keymap_path().as_deref())
        .map_err(|error| CliError::Usage(error.to_string()))?;
    let theme = crate::tui::theme::Theme::load(crate::tui::theme_path().as_deref())
        .map_err(|error| CliError::Usage(error.to_string()))?;
    match crate::tui::Screen::open() {
        Ok(screen) => Ok(Some(OpenConsole {
            screen,
            keymap,
            theme,
        })),
        Err(error) => {
            say!(
                "the console cannot open on this terminal ({error}): going on without it, as \
                 with --headless"
            );
            Ok(None)
        }
    }
}

/// Runs the engine under the console; the report and the summary follow when it closes
/// (also when the terminal went away under it: the run then stops as on a hang-up).
pub async fn run_console(
    console: OpenConsole,
    signals: Signals,
    handle: EngineHandle,
    drive: Arc<Drive>,
    reports: &Reports,
    make_source: Option<&SourceFactory>,
    log_file: Option<&Path>,
) -> Result<Ledger, CliError> {
    let OpenConsole {
        screen,
        keymap,
        theme,
    } = console;
    let mut host = ConsoleHost {
        reports,
        make_source,
        log_file: log_file.map(Path::to_path_buf),
        close: CancellationToken::new(),
    };
    // A signal (SIGTERM; SIGHUP when the terminal closed) stops the run as in a headless one,
    // and the console closes once the run has ended.
    let interrupts = signals::stop_run(
        signals,
        handle.commands(),
        Some(host.close.clone()),
        reports.after_stopping_at_once(),
    );
    let ledger = crate::tui::run(screen, handle, drive, keymap, theme, &mut host).await;
    // A second signal being answered ends the program before any report is begun; once
    // the listener is gone, the reports are written whole.
    interrupts.end().await;
    finish(ledger, reports, Some(Reporter::new(false)))
}

/// Whether to open the console: both ends are a terminal that can draw one (not
/// `TERM=dumb`) and nobody asked otherwise.
pub fn console_wanted(headless: bool, json: bool) -> bool {
    use std::io::IsTerminal;
    let dumb = std::env::var_os("TERM").is_some_and(|term| term == "dumb");
    !headless && !json && !dumb && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// The verbose log gets every fact but progress ticks (and the bytes told as they come).
fn log_event(event: &Event) {
    match event {
        Event::Progress(_)
        | Event::Transferred { .. }
        | Event::DownloadUnneeded { .. }
        | Event::EmptyPages { .. } => {}
        Event::Warning { message } => tracing::warn!("{message}"),
        Event::CredentialsRefused { message, .. } => tracing::error!("{message}"),
        other => {
            if let Ok(line) = serde_json::to_string(other) {
                tracing::info!(target: "export_repair::event", "{line}");
            }
        }
    }
}
