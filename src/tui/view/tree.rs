//! The blob tree: folders with their damage and marks, blobs with their state and labelled
//! counts, the cursor's place ("row k of n").

use crate::sanitize::escape_controls;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};

use crate::ledger::{ComponentState, human};
use crate::model::ComponentStatus;
use crate::model::tree::NodeKind;

use super::super::app::{App, Filter, Focus, Mode, PaneRows};
use super::super::theme::Theme;
use super::text::width as text_width;
use super::{focused, pane, title, window_start};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let search = app.search.value();
    let mut heading = match (&app.mode, app.filter) {
        (Mode::Search, _) => format!(" blobs · search: {search}▏"),
        (_, Filter::Damaged) => " blobs · damaged only".to_string(),
        (_, Filter::Repaired) => " blobs · repaired only".to_string(),
        (_, Filter::All) => " blobs".to_string(),
    };
    let mut more = Vec::new();
    if app.mode != Mode::Search && !search.is_empty() {
        more.push(format!("matching {search:?}"));
    }
    if !app.visible.is_empty() {
        more.push(format!(
            "row {} of {}",
            human::count(app.selected as u64 + 1),
            human::count(app.visible.len() as u64)
        ));
    }
    // Each addition whole or not at all: a title cut at the border read "row 121 of 1".
    // Room: the width inside the corners, less the focus mark and the closing space.
    let room = (area.width as usize).saturating_sub(5);
    for item in more {
        if text_width(&heading) + text_width(" · ") + text_width(&item) <= room {
            heading.push_str(" · ");
            heading.push_str(&item);
        }
    }
    heading.push(' ');
    // Only the rows on screen are built: a frame costs the same for 100 blobs or 1,000,000.
    let rows = area.height.saturating_sub(2) as usize;
    let offset = window_start(
        app.tree_rows.get().offset,
        app.selected,
        rows,
        app.visible.len(),
    );
    let quiet = Style::default().fg(Color::DarkGray);
    let damage_style = theme.status(ComponentState::Done(ComponentStatus::Corrupt));
    // Inside the borders, a column short of the right one: a long name is cut, never the
    // counts after it.
    let inner = area.width.saturating_sub(3) as usize;
    let fitted = |name: &str, taken: usize| {
        let name = escape_controls(name);
        super::text::name_head(&name, inner.saturating_sub(taken).max(1))
    };
    let items: Vec<ListItem> = app
        .visible
        .iter()
        .skip(offset)
        .take(rows)
        .map(|&node| {
            let n = &app.tree.nodes[node];
            let indent = "  ".repeat(n.depth.saturating_sub(1));
            match n.kind {
                NodeKind::Blob(blob) => {
                    let tally = app.ledger.blob(blob);
                    let state = tally.state();
                    let mark = if app.marked.contains(&blob) {
                        "+ "
                    } else {
                        "  "
                    };
                    let mut counts = Vec::new();
                    if tally.damaged() > 0 {
                        counts.push(Span::styled(format!("✗{} ", tally.damaged()), damage_style));
                    }
                    for (status, n) in [
                        (ComponentStatus::Repaired, tally.repaired()),
                        (ComponentStatus::Regenerated, tally.regenerated()),
                    ] {
                        if n > 0 {
                            let glyph = ComponentState::Done(status).glyph();
                            counts.push(Span::styled(format!("{glyph}{n} "), quiet));
                        }
                    }
                    counts.push(Span::styled(format!("/{}", tally.components), quiet));
                    let lead = format!("{indent}{mark}");
                    let taken =
                        text_width(&lead) + 3 + counts.iter().map(|s| s.width()).sum::<usize>();
                    let mut spans = vec![
                        Span::raw(lead),
                        Span::styled(state.glyph().to_string(), theme.status(state)),
                        Span::raw(format!(" {} ", fitted(&n.name, taken))),
                    ];
                    spans.extend(counts);
                    Line::from(spans).into()
                }
                _ => {
                    let (bad, marked) = app.node_state(node);
                    let open = app.is_expanded(node) || app.filtering();
                    let arrow = if open { "▾" } else { "▸" };
                    let mut counts = Vec::new();
                    if bad > 0 {
                        counts.push(Span::styled(format!("  ✗{bad}"), damage_style));
                    }
                    if marked > 0 {
                        counts.push(Span::raw(format!("  +{marked}")));
                    }
                    let lead = format!("{indent}{arrow} ");
                    let taken =
                        text_width(&lead) + 1 + counts.iter().map(|s| s.width()).sum::<usize>();
                    let name = fitted(&n.name, taken);
                    let mut spans = vec![Span::raw(format!("{lead}{name}/"))];
                    spans.extend(counts);
                    Line::from(spans).into()
                }
            }
        })
        .collect();
    let is_focused = focused(app, Focus::Tree);
    // What the counts on each row mean, as much as fits.
    let key: Vec<String> = ["✗ damaged", "◆ repaired", "◇ regenerated", "/total"]
        .map(String::from)
        .to_vec();
    let key = super::text::fit_items(&key, "  ", area.width.saturating_sub(4) as usize);
    let block = pane(title(heading, is_focused, theme), is_focused, theme)
        .title_bottom(Line::from(format!(" {key} ")).style(quiet));
    let list = List::new(items)
        .block(block)
        .highlight_style(theme.selected());
    let mut state = ListState::default()
        .with_selected((!app.visible.is_empty()).then_some(app.selected - offset));
    frame.render_stateful_widget(list, area, &mut state);
    app.tree_rows.set(PaneRows {
        top: area.y + 1,
        height: area.height.saturating_sub(2),
        left: area.x,
        width: area.width,
        offset,
    });
}
