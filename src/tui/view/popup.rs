//! What opens over the panes: help, a question, a prompt, where the log is.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::engine::CredentialKind;
use crate::ledger::ComponentState;
use crate::model::ComponentStatus;

use super::super::action::Action;
use super::super::app::{App, Confirm, Prompt, PromptKind, next_format};
use super::super::keymap::Keymap;
use super::super::theme::Theme;
use super::{centered, text};

fn boxed(
    frame: &mut Frame,
    area: Rect,
    title: &'static str,
    lines: Vec<Line>,
    theme: &Theme,
    width: u16,
) {
    let inner_width = width.min(area.width).saturating_sub(2) as usize;
    // Wrapped between words, as the paragraph wraps them.
    let rows: usize = lines
        .iter()
        .map(|line| text::wrap(&line.to_string(), inner_width).len())
        .sum();
    let popup = centered(area, width, rows as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(title)
                .title_style(theme.title()),
        ),
        popup,
    );
}

pub fn help(frame: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
    // Two columns, so that every binding fits a 24-line terminal; as narrow as the longest
    // binding when the terminal is (every binding whole).
    let bindings: Vec<(String, &str)> = keymap
        .all()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(action, keys)| (keys, action.label()))
        .collect();
    let keys_width = bindings
        .iter()
        .map(|(keys, _)| text::width(keys))
        .max()
        .unwrap_or(0);
    let label_width = bindings
        .iter()
        .map(|(_, label)| text::width(label))
        .max()
        .unwrap_or(0);
    let roomy = area.width >= 72;
    let (keys_width, label_width, gap) = if roomy {
        (keys_width.max(11), label_width.max(19), "  ")
    } else {
        (keys_width, label_width, " ")
    };
    let entries: Vec<String> = bindings
        .iter()
        .map(|(keys, label)| format!("{keys:>keys_width$}{gap}{label:<label_width$}"))
        .collect();
    let half = entries.len().div_ceil(2);
    let column_gap = if roomy { "" } else { " " };
    let mut lines: Vec<Line> = (0..half)
        .map(|row| {
            let right = entries.get(row + half).map_or("", String::as_str);
            Line::from(format!("{}{column_gap}{right}", entries[row]))
        })
        .collect();
    // The closing words only when there is room for them below every binding.
    if lines.len() + 4 <= area.height as usize {
        lines.push(Line::from(""));
        lines.push(Line::from(
            "  any key closes this help · shift+drag selects text",
        ));
    }
    let width = if roomy {
        72
    } else {
        (2 * (keys_width + 1 + label_width) + 1 + 2).max(56) as u16
    };
    let popup = centered(area, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" keys ")
                .title_style(theme.title()),
        ),
        popup,
    );
}

/// A question before quitting or cancelling; `working`: work is still under way (the run may
/// have ended behind the question, which then says so).
pub fn confirm(
    frame: &mut Frame,
    area: Rect,
    confirm: Confirm,
    working: bool,
    keymap: &Keymap,
    theme: &Theme,
) {
    let (title, question, action, verb) = match (confirm, working) {
        (Confirm::Quit, true) => (
            " quit? ",
            "Work is still running. Quit anyway? Writes in flight finish and are recorded; a rerun with the same repair file resumes.",
            Action::Quit,
            "quit",
        ),
        (Confirm::Quit, false) => (
            " quit? ",
            "The work ended behind this question: nothing is running now. Quit?",
            Action::Quit,
            "quit",
        ),
        (Confirm::Cancel, true) => (
            " cancel the run? ",
            "Cancel the whole run? Writes in flight finish and are recorded; nothing new starts. A rerun with the same repair file resumes.",
            Action::Cancel,
            "cancel the run",
        ),
        (Confirm::Cancel, false) => (
            " cancel the run? ",
            "The work ended behind this question: nothing is running now, so nothing is left to cancel.",
            Action::Cancel,
            "close",
        ),
    };
    let lines = vec![
        Line::from(question),
        Line::from(""),
        Line::from(format!(
            "{} {verb} · any other key goes on",
            keymap.key_for(action)
        )),
    ];
    boxed(frame, area, title, lines, theme, 52);
}

/// Characters of an answer the prompt shows on its one line.
const PROMPT_INPUT_WIDTH: usize = 58;

/// A secret as the prompt shows it: a dot a character, and the count once the dots would
/// not fit.
fn masked(count: usize) -> String {
    if count <= PROMPT_INPUT_WIDTH {
        "•".repeat(count)
    } else {
        format!(
            "{} ({count} characters)",
            "•".repeat(PROMPT_INPUT_WIDTH - 20)
        )
    }
}

pub fn prompt(frame: &mut Frame, area: Rect, app: &App, prompt: &Prompt, theme: &Theme) {
    let error_style = theme.status(ComponentState::Done(ComponentStatus::Failed));
    let mut lines: Vec<Line> = Vec::new();
    let title = match prompt.kind {
        PromptKind::Credentials => {
            lines.push(Line::from(match app.ledger.refused_credentials() {
                Some(CredentialKind::EntraId) => {
                    "The storage refused the Entra ID sign-in: the identity needs the \
                     \"Storage Blob Data Reader\" role on the storage account or the container \
                     (Access control (IAM) in the Azure portal). To switch to a key or SAS, type \
                     or paste the account key or a SAS; downloads go on from where they stopped."
                }
                Some(CredentialKind::KeyOrSas) | None => {
                    "The storage refused the credentials (a rotated key or an expired SAS?). \
                     Type or paste the account key or a SAS; downloads go on from where they \
                     stopped."
                }
            }));
            " new credentials "
        }
        PromptKind::Export { .. } => {
            let format = prompt.format().unwrap_or(crate::report::ReportFormat::Html);
            lines.push(Line::from(format!(
                "Format: {format} (tab for {}). The report shows the run as it stands now.",
                next_format(format)
            )));
            " export the report "
        }
    };
    lines.push(Line::from(""));
    let input = &prompt.input;
    let shown = match prompt.kind {
        PromptKind::Credentials => {
            let count = input.value().chars().count();
            Line::from(vec![
                Span::styled("> ", theme.title()),
                Span::raw(format!("{}▏", masked(count))),
            ])
        }
        PromptKind::Export { .. } => {
            let scroll = input.visual_scroll(PROMPT_INPUT_WIDTH);
            let value: String = input.value().chars().skip(scroll).collect();
            let caret = input.visual_cursor().saturating_sub(scroll);
            let before: String = value.chars().take(caret).collect();
            let after: String = value.chars().skip(caret).take(PROMPT_INPUT_WIDTH).collect();
            let lead = if scroll > 0 { "…" } else { "" };
            Line::from(vec![
                Span::styled("> ", theme.title()),
                Span::raw(format!("{lead}{before}")),
                Span::styled("▏", theme.title()),
                Span::raw(after),
            ])
        }
    };
    lines.push(shown);
    if let PromptKind::Export { .. } = prompt.kind {
        let target = app.export_target(input.value());
        lines.push(Line::from(format!("writes {}", target.display())));
    }
    if let Some(existing) = &prompt.overwrite {
        lines.push(Line::from(Span::styled(
            format!(
                "{} exists: enter again replaces it, or change the name",
                existing.display()
            ),
            error_style,
        )));
    }
    if let Some(error) = &prompt.error {
        lines.push(Line::from(Span::styled(error.clone(), error_style)));
    }
    boxed(frame, area, title, lines, theme, 66);
}

pub fn log_file(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let text = match &app.surroundings.log_file {
        Some(path) => format!(
            "The verbose log of this run is written to {}",
            path.display()
        ),
        None => "This run writes no log file.".to_string(),
    };
    let lines = vec![
        Line::from(text),
        Line::from(""),
        Line::from("any key closes this"),
    ];
    boxed(frame, area, " log file ", lines, theme, 66);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_secret_shows_its_length() {
        assert_eq!(masked(3), "•••");
        assert_eq!(masked(88), format!("{} (88 characters)", "•".repeat(38)));
    }
}
