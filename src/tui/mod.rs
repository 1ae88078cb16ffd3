//! The repair console: ratatui over crossterm, fed by the engine's events. It never blocks
//! the engine: events are drained as they come, a key is answered with a frame at once, and
//! engine news redraws at most ~30 times a second.

pub mod action;
pub mod app;
pub mod keymap;
pub mod log_pane;
pub mod theme;
pub mod view;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent, EventStream, KeyCode, KeyEventKind, MouseEventKind,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};

use crate::engine::{Command, EngineHandle, Event, SourceHandle};
use crate::ledger::Ledger;
use crate::model::Drive;
use crate::report::ReportFormat;
use tokio_util::sync::CancellationToken;

use action::Action;
use app::{App, Effect, Surroundings, TextInput};
use keymap::Keymap;
use theme::Theme;

/// Redraws for engine news at most this often.
const FRAME: Duration = Duration::from_millis(33);
/// How often the console looks whether its terminal is still there.
const LOOK_AT_TERMINAL: Duration = Duration::from_secs(1);
/// Engine events taken in one turn of the loop, at most, before keys and frames get a turn.
const EVENTS_PER_TURN: usize = 4096;

/// `<config dir>/export-repair/<name>`: where the user's keymap and theme live.
pub fn config_path(name: &str) -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "export-repair").map(|dirs| dirs.config_dir().join(name))
}

/// A TOML file's fault in one line: where (line and column) and what, without the excerpt
/// the parser draws over several lines.
pub(crate) fn toml_fault(text: &str, error: &toml::de::Error) -> String {
    let place = error
        .span()
        .and_then(|span| text.get(..span.start))
        .map(|before| {
            let line = before.matches('\n').count() + 1;
            let column = before
                .rsplit('\n')
                .next()
                .map_or(0, |last| last.chars().count())
                + 1;
            format!("line {line}, column {column}: ")
        });
    format!("{}{}", place.unwrap_or_default(), error.message().trim())
}

/// Where the user's keymap override lives: `<config dir>/export-repair/keymap.toml`.
pub fn keymap_path() -> Option<PathBuf> {
    config_path("keymap.toml")
}

/// Where the user's theme override lives: `<config dir>/export-repair/theme.toml`.
pub fn theme_path() -> Option<PathBuf> {
    config_path("theme.toml")
}

/// What the console needs from the program around it.
pub trait Host {
    /// Every engine event, before the console shows it (the log).
    fn on_event(&mut self, event: &Event);
    /// Writes the report of the run as the ledger holds it now.
    fn export(&mut self, ledger: &Ledger, path: &Path, format: ReportFormat) -> Result<(), String>;
    /// Why no report may be written at `path` whatever the answer (the repair file, an input,
    /// the drive), asked before offering to replace the file there.
    fn report_refused(&self, _path: &Path) -> Option<String> {
        None
    }
    /// A source that reads with this account key or SAS.
    fn credentials(&mut self, secret: &str) -> Result<SourceHandle, String>;
    /// Whether new credentials mean anything to this run (a local mirror takes none).
    fn takes_credentials(&self) -> bool {
        true
    }
    /// The verbose log file, if the run writes one.
    fn log_file(&self) -> Option<PathBuf> {
        None
    }
    /// Cancelled when the console must close once the run has ended, as if the technician
    /// had quit (a SIGTERM, or SIGHUP when the terminal went away).
    fn closing(&self) -> CancellationToken {
        CancellationToken::new()
    }
    /// A frame was drawn (benchmarks measure the console's answer time here).
    fn frame_drawn(&mut self, _app: &App) {}
}

/// Whether a terminal error means the terminal is gone (hung up, closed), not a passing
/// trouble worth another frame.
fn gone(error: &io::Error) -> bool {
    let gone_codes = [
        rustix::io::Errno::IO,
        rustix::io::Errno::NXIO,
        rustix::io::Errno::PIPE,
    ];
    matches!(error.kind(), io::ErrorKind::BrokenPipe)
        || error
            .raw_os_error()
            .is_some_and(|code| gone_codes.iter().any(|gone| gone.raw_os_error() == code))
}

/// Whether the console's terminal (stdout) is still there. A frame with nothing new writes
/// nothing, and a hung-up terminal never ends the key stream: a console waiting for `q`
/// would wait for ever.
fn terminal_still_there() -> io::Result<()> {
    rustix::termios::tcgetattr(io::stdout())
        .map(drop)
        .map_err(io::Error::from)
}

/// The terminal is gone (closed under the run, or failing): the run stops as on a hang-up,
/// its reports are written by the program around the console. Always true (the terminal is
/// gone).
fn stop_without_terminal(why: &str, handle: &EngineHandle) -> bool {
    tracing::warn!(
        "the terminal is gone ({why}): the run stops as on a hang-up; the reports are written"
    );
    handle.send(Command::Cancel);
    true
}

/// Puts the terminal back however the console ends (including a panic).
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<Self> {
        enable_raw_mode()?;
        if let Err(error) = execute!(
            io::stdout(),
            EnterAlternateScreen,
            EnableBracketedPaste,
            EnableMouseCapture
        ) {
            restore();
            return Err(error);
        }
        // Only the console's own panic puts the terminal back: a worker's panic is a failure
        // of its components, and the console goes on drawing.
        let console_thread = std::thread::current().id();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() == console_thread {
                restore();
            }
            previous(info);
        }));
        Ok(Self)
    }
}

fn restore() {
    restore_to(&mut io::stdout());
}

/// Raw mode off (a terminal setting, no write to stdout): first of all when the program must
/// stop at once, whatever holds stdout.
pub fn leave_raw_mode() {
    let _ = disable_raw_mode();
}

/// Gives the terminal back through `out` (stdout, or a lock of it held until the program
/// exits at once): raw mode off, the main screen, the mouse and the cursor as they were.
pub fn restore_to(out: &mut impl io::Write) {
    let _ = disable_raw_mode();
    let _ = execute!(
        out,
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// The terminal, taken over for the console (raw mode, the alternate screen, the mouse) until
/// dropped. Opened before the run starts: a terminal that cannot host the console (one that
/// never answers where its cursor is) is known before anything is written.
pub struct Screen {
    /// Never dropped: ratatui's drop shows the cursor and, when that fails, says so with
    /// `eprintln!`, which panics on a terminal that is gone. The guard shows the cursor.
    terminal: std::mem::ManuallyDrop<Terminal<CrosstermBackend<io::Stdout>>>,
    _guard: TerminalGuard,
}

impl Screen {
    pub fn open() -> io::Result<Self> {
        let guard = TerminalGuard::enter()?;
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        terminal.clear()?;
        Ok(Self {
            terminal: std::mem::ManuallyDrop::new(terminal),
            _guard: guard,
        })
    }
}

/// Runs the console on `screen` until the run has ended and the technician quits (or the
/// terminal is gone); the ledger of the run.
pub async fn run(
    mut screen: Screen,
    handle: EngineHandle,
    drive: Arc<Drive>,
    keymap: Keymap,
    theme: Theme,
    host: &mut dyn Host,
) -> Ledger {
    let surroundings = Surroundings {
        takes_credentials: host.takes_credentials(),
        log_file: host.log_file(),
        working_dir: std::env::current_dir().unwrap_or_default(),
    };
    let mut app = App::with(drive, surroundings);
    let logs = log_pane::attach();
    let console = Console {
        keymap: &keymap,
        theme: &theme,
        watch_terminal: true,
    };
    console
        .run(
            &mut screen.terminal,
            EventStream::new(),
            handle,
            &mut app,
            host,
            Some(logs),
        )
        .await;
    app.ledger
}

/// The loop, over any backend and input stream (a terminal, or a test's).
pub struct Console<'a> {
    pub keymap: &'a Keymap,
    pub theme: &'a Theme,
    /// Look at the process's terminal every [`LOOK_AT_TERMINAL`] (the real console; a test's
    /// backend is no terminal).
    pub watch_terminal: bool,
}

impl Console<'_> {
    pub async fn run<B: Backend>(
        &self,
        terminal: &mut Terminal<B>,
        mut input: impl Stream<Item = io::Result<TermEvent>> + Unpin,
        mut handle: EngineHandle,
        app: &mut App,
        host: &mut dyn Host,
        mut logs: Option<log_pane::Lines>,
    ) where
        B::Error: Into<io::Error>,
    {
        app.use_keys(self.keymap);
        let mut tick = tokio::time::interval(FRAME);
        // After a slow frame, draw once more, not once per missed tick.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut dirty = true;
        let mut engine_open = true;
        let mut quitting = false;
        let closing = host.closing();
        let mut closing_seen = false;
        // Once the terminal is gone (closed, or it failed), nothing is drawn or read: the run
        // stops as on a hang-up, and the console ends with it.
        let mut terminal_gone = false;
        let mut last_look = std::time::Instant::now();
        loop {
            tokio::select! {
                () = closing.cancelled(), if !closing_seen => {
                    closing_seen = true;
                    if !engine_open {
                        return;
                    }
                    // The engine was told to stop; close once it has said it did.
                    quitting = true;
                },
                event = handle.events.recv(), if engine_open => match event {
                    Some(event) => {
                        host.on_event(&event);
                        app.on_event(&event);
                        // Take what else is waiting before the next frame, so that the
                        // engine never waits on the screen.
                        for _ in 0..EVENTS_PER_TURN {
                            let Ok(event) = handle.events.try_recv() else {
                                break;
                            };
                            host.on_event(&event);
                            app.on_event(&event);
                        }
                        dirty = true;
                    }
                    None => {
                        engine_open = false;
                        if quitting {
                            return;
                        }
                    }
                },
                line = next_line(&mut logs) => {
                    match line {
                        Some(line) => app.push_log(line),
                        None => logs = None,
                    }
                    dirty = true;
                }
                input = input.next(), if !terminal_gone => {
                    let effects = match input {
                        Some(Ok(event)) => self.on_input(app, event),
                        Some(Err(error)) => {
                            match gone(&error) {
                                true => {
                                    terminal_gone =
                                        stop_without_terminal(&error.to_string(), &handle);
                                }
                                false => tracing::debug!("a key could not be read: {error}"),
                            }
                            Vec::new()
                        }
                        None => {
                            terminal_gone = stop_without_terminal("no more input", &handle);
                            Vec::new()
                        }
                    };
                    for effect in effects {
                        match effect {
                            Effect::Send(command) => handle.send(command),
                            Effect::Quit => {
                                if !engine_open {
                                    return;
                                }
                                // The engine finishes (or cancels) first and says so.
                                quitting = true;
                            }
                            Effect::UseCredentials(secret) => match host.credentials(&secret) {
                                Ok(source) => handle.send(Command::UseSource(source)),
                                Err(reason) => app.credentials_refused_locally(reason),
                            },
                            Effect::AskOverwrite(path) => match host.report_refused(&path) {
                                Some(reason) => app.export_failed(reason),
                                None => app.ask_overwrite(path),
                            },
                            Effect::Export { path, format } => {
                                match host.export(&app.ledger, &path, format) {
                                    Ok(()) => app.exported(&path, format),
                                    Err(error) => app.export_failed(error),
                                }
                            }
                        }
                    }
                    // A key is answered at once, not at the next tick.
                    self.draw(terminal, app, host, &handle, &mut terminal_gone);
                    dirty = false;
                },
                _ = tick.tick() => {
                    if dirty {
                        self.draw(terminal, app, host, &handle, &mut terminal_gone);
                        dirty = false;
                    }
                    if self.watch_terminal && last_look.elapsed() >= LOOK_AT_TERMINAL {
                        last_look = std::time::Instant::now();
                        if let Err(error) = terminal_still_there()
                            && gone(&error)
                            && !terminal_gone
                        {
                            terminal_gone = stop_without_terminal(&error.to_string(), &handle);
                        }
                    }
                },
            }
            if terminal_gone {
                if !engine_open {
                    return;
                }
                quitting = true;
            }
        }
    }

    /// Draws a frame, unless the terminal is gone; a frame that cannot be drawn means it is.
    fn draw<B: Backend>(
        &self,
        terminal: &mut Terminal<B>,
        app: &mut App,
        host: &mut dyn Host,
        handle: &EngineHandle,
        terminal_gone: &mut bool,
    ) where
        B::Error: Into<io::Error>,
    {
        if *terminal_gone {
            return;
        }
        app.settle();
        let app = &*app;
        match terminal.draw(|frame| view::draw(frame, app, self.keymap, self.theme)) {
            Ok(_) => host.frame_drawn(app),
            Err(error) => {
                let error: io::Error = error.into();
                match gone(&error) {
                    true => *terminal_gone = stop_without_terminal(&error.to_string(), handle),
                    // The next frame tries again.
                    false => tracing::debug!("a frame could not be drawn: {error}"),
                }
            }
        }
    }

    /// A terminal event to the app: text while typing, else an action from the keymap.
    /// While the screen is too small to show what a key does, only Ctrl-C acts (a question it
    /// opens is drawn even then, and the next key answers it): another key could open a
    /// question nobody sees, for the next key to answer.
    pub(crate) fn on_input(&self, app: &mut App, event: TermEvent) -> Vec<Effect> {
        let ctrl_c = matches!(event, TermEvent::Key(key) if Keymap::always_quits(key));
        let question_shown = matches!(app.mode, app::Mode::Confirm(_));
        if app.too_small.get() && !ctrl_c && !question_shown {
            return Vec::new();
        }
        match event {
            TermEvent::Key(key) if key.kind != KeyEventKind::Release => {
                if app.mode.takes_text() {
                    let text = match key.code {
                        KeyCode::Enter => TextInput::Done,
                        KeyCode::Esc => TextInput::Abort,
                        KeyCode::Tab => TextInput::Next,
                        _ => match tui_input::backend::crossterm::to_input_request(&event) {
                            Some(request) => TextInput::Edit(request),
                            None => return Vec::new(),
                        },
                    };
                    return app.text_input(text);
                }
                match self.keymap.action(key) {
                    Some(action) => app.update(action),
                    // An unbound key closes help and questions.
                    None => app.dismiss(),
                }
            }
            TermEvent::Paste(text) if app.mode.takes_text() => {
                app.text_input(TextInput::Paste(text))
            }
            TermEvent::Mouse(mouse) if app.mode == app::Mode::Normal => match mouse.kind {
                MouseEventKind::ScrollUp => app.update(Action::Up),
                MouseEventKind::ScrollDown => app.update(Action::Down),
                MouseEventKind::Down(_) => {
                    app.click(mouse.column, mouse.row);
                    Vec::new()
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

async fn next_line(logs: &mut Option<log_pane::Lines>) -> Option<String> {
    match logs {
        Some(lines) => lines.recv().await,
        None => std::future::pending().await,
    }
}
