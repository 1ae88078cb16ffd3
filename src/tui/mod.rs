//! The repair console: ratatui over crossterm, fed by the engine's events. It never blocks
//! the engine: events are drained as they come and the screen redraws at most ~30 times
//! a second.

pub mod action;
pub mod app;
pub mod keymap;
pub mod theme;
pub mod view;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream, KeyCode, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::engine::{EngineHandle, Event};
use crate::model::Drive;

use app::{App, Effect, Mode, SearchInput};
use keymap::Keymap;
use theme::Theme;

/// Redraws at most this often.
const FRAME: Duration = Duration::from_millis(33);

/// Where the user's keymap override lives: `<config dir>/export-repair/keymap.toml`.
pub fn keymap_path() -> Option<std::path::PathBuf> {
    directories::ProjectDirs::from("", "", "export-repair")
        .map(|dirs| dirs.config_dir().join("keymap.toml"))
}

/// Puts the terminal back however the console ends (including a panic).
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<Self> {
        enable_raw_mode()?;
        if let Err(error) = execute!(io::stdout(), EnterAlternateScreen) {
            let _ = disable_raw_mode();
            return Err(error);
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        Ok(Self)
    }
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Runs the console until the user quits; every event also goes to `also` (report builder,
/// log). Returns when the engine's stream ends or the user quits.
pub async fn run(
    mut handle: EngineHandle,
    drive: Arc<Drive>,
    keymap: Keymap,
    mut also: impl FnMut(&Event),
) -> io::Result<()> {
    let _guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    let theme = Theme::from_env();
    let mut app = App::new(drive);
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(FRAME);
    let mut dirty = true;
    let mut engine_open = true;
    let mut quitting = false;
    loop {
        tokio::select! {
            event = handle.events.recv(), if engine_open => match event {
                Some(event) => {
                    also(&event);
                    app.on_event(&event);
                    dirty = true;
                }
                None => {
                    engine_open = false;
                    if quitting {
                        return Ok(());
                    }
                }
            },
            input = keys.next() => match input {
                Some(Ok(TermEvent::Key(key))) if key.kind == KeyEventKind::Press => {
                    dirty = true;
                    if app.mode == Mode::Search {
                        app.search_input(match key.code {
                            KeyCode::Enter => SearchInput::Done,
                            KeyCode::Esc => SearchInput::Abort,
                            KeyCode::Backspace => SearchInput::Backspace,
                            KeyCode::Char(c) => SearchInput::Char(c),
                            _ => continue,
                        });
                        continue;
                    }
                    let Some(action) = keymap.action(key) else {
                        if app.mode != Mode::Normal {
                            app.mode = Mode::Normal;
                        }
                        continue;
                    };
                    for effect in app.update(action) {
                        match effect {
                            Effect::Send(command) => handle.send(command),
                            Effect::Quit => {
                                if !engine_open {
                                    return Ok(());
                                }
                                // Let the engine finish the writes in flight and say so.
                                quitting = true;
                                handle.send(crate::engine::Command::Cancel);
                            }
                        }
                    }
                }
                Some(Ok(TermEvent::Resize(_, _))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            },
            _ = tick.tick() => {
                if dirty {
                    terminal.draw(|frame| view::draw(frame, &app, &keymap, &theme))?;
                    dirty = false;
                }
            },
        }
    }
}
