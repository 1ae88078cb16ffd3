//! The log pane: the program's log and the run's news, wrapped, scrollable when focused.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::super::app::{App, Focus, PaneRows};
use super::super::theme::Theme;
use super::{focused, pane, text, title};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let rows = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(3) as usize;
    let is_focused = focused(app, Focus::Log);
    let end = app.log.len().saturating_sub(app.log_scroll);
    // Lines from the end back, wrapped, until the pane is full.
    let mut shown: Vec<String> = Vec::new();
    for line in app.log.iter().take(end).rev() {
        let mut wrapped = text::wrap(line, width);
        while let Some(last) = wrapped.pop() {
            shown.push(last);
            if shown.len() == rows {
                break;
            }
        }
        if shown.len() == rows {
            break;
        }
    }
    shown.reverse();
    let heading = if app.log_scroll > 0 {
        format!(" log · {} lines up ", app.log_scroll)
    } else {
        " log ".to_string()
    };
    let lines: Vec<Line> = shown.into_iter().map(Line::from).collect();
    frame.render_widget(
        Paragraph::new(lines).block(pane(title(heading, is_focused, theme), is_focused, theme)),
        area,
    );
    app.log_rows.set(PaneRows {
        top: area.y + 1,
        height: rows as u16,
        left: area.x,
        width: area.width,
        offset: 0,
    });
}
