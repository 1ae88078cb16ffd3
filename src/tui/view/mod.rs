//! Drawing: the whole screen from the app state, nothing else.

mod details;
pub(crate) mod header;
pub(crate) mod hints;
mod log;
mod map;
mod popup;
pub mod text;
mod tree;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};

use super::app::{App, Focus, Mode};
use super::keymap::Keymap;
use super::theme::Theme;

/// Below this the panes cannot be read: say so instead of drawing garbage.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

pub fn draw(frame: &mut Frame, app: &App, keymap: &Keymap, theme: &Theme) {
    let area = frame.area();
    let too_small = area.width < MIN_WIDTH || area.height < MIN_HEIGHT;
    app.too_small.set(too_small);
    if too_small {
        let text = format!(
            "terminal too small: {}×{}, needs at least {MIN_WIDTH}×{MIN_HEIGHT}; keys wait \
             until it is larger (ctrl-c quits)",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        // A question Ctrl-C opened is shown even here: its answer is the next key.
        if let Mode::Confirm(confirm) = &app.mode {
            let working = app.busy() || app.ledger.stopping();
            popup::confirm(frame, area, *confirm, working, keymap, theme);
        }
        return;
    }
    // A tall terminal gives the log more lines.
    let log_height = if area.height >= 32 { 8 } else { 4 };
    let [header, body, log, bar] = Layout::vertical([
        Constraint::Length(header::HEIGHT),
        Constraint::Min(8),
        Constraint::Length(log_height),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw(frame, header, app, theme);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)]).areas(body);
    tree::draw(frame, left, app, theme);
    let map_height = map::height(app, right).min(right.height.saturating_sub(6));
    let [map_area, details_area] =
        Layout::vertical([Constraint::Length(map_height), Constraint::Min(4)]).areas(right);
    map::draw(frame, map_area, app, theme);
    details::draw(frame, details_area, app, theme);
    log::draw(frame, log, app, theme);
    hints::draw(frame, bar, app, keymap);
    match &app.mode {
        Mode::Help => popup::help(frame, area, keymap, theme),
        Mode::Confirm(confirm) => {
            // A run stopping still finishes what is in flight.
            let working = app.busy() || app.ledger.stopping();
            popup::confirm(frame, area, *confirm, working, keymap, theme)
        }
        Mode::Prompt(prompt) => popup::prompt(frame, area, app, prompt, theme),
        Mode::LogFile => popup::log_file(frame, area, app, theme),
        Mode::Normal | Mode::Search => {}
    }
}

/// A pane's frame: the focused one has a double border and a marked, bold title.
fn pane<'a>(title: Line<'a>, focused: bool, theme: &Theme) -> Block<'a> {
    let block = Block::default().borders(Borders::ALL).title(title);
    if focused {
        block
            .border_type(BorderType::Double)
            .border_style(theme.title())
    } else {
        block.border_style(Style::default())
    }
}

/// A title, with `▶` before it when its pane has the focus.
fn title(text: String, focused: bool, theme: &Theme) -> Line<'static> {
    if focused {
        Line::from(vec![Span::styled(format!(" ▶{text}"), theme.title())])
    } else {
        Line::from(text)
    }
}

fn focused(app: &App, focus: Focus) -> bool {
    app.focus == focus && app.mode == Mode::Normal
}

/// The first row of a window of `rows` that keeps `selected` in sight, moving as little as
/// possible from where it was.
fn window_start(previous: usize, selected: usize, rows: usize, len: usize) -> usize {
    let rows = rows.max(1);
    // A list that shrank (a search, a filter, folders closed) fills the window from its
    // end rather than leaving the rows above the cursor off screen.
    let previous = previous.min(len.saturating_sub(rows));
    if selected < previous {
        selected
    } else if selected >= previous + rows {
        selected + 1 - rows
    } else {
        previous
    }
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_window_follows_the_cursor_and_moves_as_little_as_it_can() {
        assert_eq!(window_start(0, 5, 10, 100), 0);
        assert_eq!(window_start(0, 10, 10, 100), 1);
        assert_eq!(window_start(40, 45, 10, 100), 40);
        assert_eq!(window_start(40, 12, 10, 100), 12);
        assert_eq!(window_start(3, 0, 0, 100), 0);
        // The list shrank under the window (a search left 44 rows, the cursor on the last):
        // the window shows the last 10, not only the rows from 40 on.
        // Seen failing: "row 144 of 144" with one row on screen.
        assert_eq!(window_start(40, 43, 10, 44), 34);
        assert_eq!(window_start(40, 2, 10, 5), 0);
    }
}
