//! The hint bar: the keys that apply now, the most wanted first, as many whole hints as
//! fit (help lists everything).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Paragraph;

use crate::engine::RunMode;
use crate::ledger::Phase;

use super::super::action::Action;
use super::super::app::{App, Focus, Mode, PromptKind};
use super::super::keymap::Keymap;
use super::text;

/// The actions that make sense in the app's state, most wanted first.
pub fn actions(app: &App) -> Vec<(Action, &'static str)> {
    let ledger = &app.ledger;
    let repair = ledger.mode() == Some(RunMode::Repair) && !ledger.finished() && !ledger.stopping();
    let damaged = ledger.damaged() > 0;
    let mut out: Vec<(Action, &'static str)> = Vec::new();
    match ledger.phase() {
        Phase::AwaitingCredentials if app.surroundings.takes_credentials => {
            out.push((Action::Credentials, "new key/SAS"))
        }
        Phase::Paused => out.push((Action::Pause, "resume")),
        Phase::Idle if damaged && repair => out.push((Action::RetryFailed, "retry all")),
        _ => {}
    }
    out.push((Action::Help, "help"));
    out.push((Action::Quit, "quit"));
    if damaged {
        out.push((Action::NextDamage, "next damage"));
    }
    if app.focus == Focus::Log {
        out.push((Action::Up, "scroll"));
    }
    if repair && damaged {
        out.push((Action::Retry, "retry"));
        out.push((Action::Mark, "mark"));
    }
    if repair {
        out.push((Action::VerifyAgain, "verify again"));
    }
    out.push((Action::Export, "export"));
    out.push((Action::Search, "search"));
    if damaged {
        out.push((Action::DamagedOnly, "damaged only"));
    }
    out.push((Action::Focus, "next pane"));
    if !ledger.finished() && !ledger.stopping() && ledger.phase() != Phase::Paused {
        out.push((Action::Pause, "pause"));
    }
    if app.busy() {
        out.push((Action::Cancel, "cancel"));
    }
    out.push((Action::ExpandAll, "open all"));
    out.push((Action::LogFile, "log file"));
    out
}

/// The bar's text for `columns`.
pub fn line(app: &App, keymap: &Keymap, columns: usize) -> String {
    let typing: Option<&[&str]> = match &app.mode {
        Mode::Search => Some(&[
            "type to search",
            "enter keep",
            "esc clear",
            "←→ move",
            "ctrl-u clear",
        ]),
        Mode::Prompt(prompt) => match prompt.kind {
            PromptKind::Credentials => Some(&[
                "type or paste the key or SAS",
                "enter use it",
                "esc later",
                "ctrl-u clear",
            ]),
            PromptKind::Export { .. } => Some(&[
                "enter write",
                "tab next format",
                "esc cancel",
                "←→ move",
                "ctrl-u clear",
                "ctrl-w word",
            ]),
        },
        _ => None,
    };
    let items: Vec<String> = match typing {
        Some(words) => words.iter().map(|w| w.to_string()).collect(),
        None => actions(app)
            .into_iter()
            .filter_map(|(action, label)| {
                let key = keymap.key_for(action);
                (!key.is_empty()).then(|| format!("{key} {label}"))
            })
            .collect(),
    };
    text::fit_items(&items, " · ", columns)
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, keymap: &Keymap) {
    // The last column stays free: a hint never touches the edge.
    let columns = (area.width as usize).saturating_sub(1);
    frame.render_widget(Paragraph::new(line(app, keymap, columns)), area);
}
