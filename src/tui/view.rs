//! Drawing: the whole screen from the app state, nothing else.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Gauge, List, ListItem, ListState, Paragraph, Wrap};

use crate::engine::RunMode;
use crate::model::human_bytes;
use crate::model::tree::NodeKind;
use crate::model::{ComponentId, ComponentKind, ComponentStatus, Outcome};

use super::action::Action;
use super::app::{App, Focus, Mode, Prompt, PromptKind, TreeRows};
use super::keymap::Keymap;
use super::theme::{self, CellState, Theme};

/// Below this the panes cannot be read: say so instead of drawing garbage.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

pub fn draw(frame: &mut Frame, app: &App, keymap: &Keymap, theme: &Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "terminal too small: {}×{}, needs at least {MIN_WIDTH}×{MIN_HEIGHT}",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    // A tall terminal gives the log more lines.
    let log_height = if area.height >= 32 { 8 } else { 4 };
    let [header, body, log, bar] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(8),
        Constraint::Length(log_height),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, header, app, theme);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)]).areas(body);
    draw_tree(frame, left, app, theme);
    let [details, map] = Layout::vertical([Constraint::Length(8), Constraint::Min(5)]).areas(right);
    draw_details(frame, details, app);
    draw_map(frame, map, app, theme);
    draw_log(frame, log, app);
    draw_command_bar(frame, bar, app, keymap);
    match &app.mode {
        Mode::Help => draw_help(frame, area, keymap, theme),
        Mode::ConfirmQuit => draw_confirm(frame, area, keymap),
        Mode::Prompt(prompt) => draw_prompt(frame, area, prompt, theme),
        Mode::Normal | Mode::Search => {}
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [title, gauge] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let verb = match (app.finished, app.run_mode) {
        (Some((_, true)), _) => "interrupted".to_string(),
        (Some((Outcome::Clean, _)), _) => "verified".to_string(),
        (Some((Outcome::Repaired, _)), _) => "repaired".to_string(),
        (Some((Outcome::Damaged, _)), _) => "damage remains".to_string(),
        (None, _) if app.paused => "paused".to_string(),
        (None, _) if app.awaiting_credentials => "waiting for a new key or SAS".to_string(),
        (None, _) if app.idle => "done, waiting for you".to_string(),
        (None, Some(RunMode::Repair)) => "repairing".to_string(),
        (None, _) => "verifying".to_string(),
    };
    let p = &app.progress;
    let eta = p
        .eta_seconds
        .map(|s| format!("  ETA {s}s"))
        .unwrap_or_default();
    let line = Line::from(vec![
        Span::styled(
            format!(" export-repair · drive {} · ", app.drive.drive_id),
            theme.title(),
        ),
        Span::styled(verb, theme.title()),
        Span::raw(format!(
            " · {} of {} components · {}/s{eta}",
            p.components_done,
            p.components_total,
            human_bytes(p.bytes_per_second)
        )),
    ]);
    frame.render_widget(Paragraph::new(line), title);
    let ratio = if p.bytes_total == 0 {
        if app.finished.is_some() { 1.0 } else { 0.0 }
    } else {
        (p.bytes_done as f64 / p.bytes_total as f64).min(1.0)
    };
    let repaired: u32 = app.counts.iter().map(|c| c.repaired).sum();
    let (damaged, _) = app.node_state(0);
    let label = format!(
        "{} / {} · {repaired} repaired · {damaged} damaged",
        human_bytes(p.bytes_done),
        human_bytes(p.bytes_total)
    );
    frame.render_widget(
        Gauge::default()
            .ratio(ratio)
            .label(label)
            .gauge_style(theme.status(CellState::Done(ComponentStatus::Verified))),
        gauge,
    );
}

fn draw_tree(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let title = match (&app.mode, app.damaged_only, app.search.is_empty()) {
        (Mode::Search, _, _) => format!(" blobs · search: {}▏", app.search),
        (_, true, true) => " blobs · damaged only ".to_string(),
        (_, false, false) => format!(" blobs · matching {:?} ", app.search),
        (_, true, false) => format!(" blobs · damaged, matching {:?} ", app.search),
        _ => " blobs ".to_string(),
    };
    // Only the rows on screen are built: a frame costs the same for 100 blobs or 1,000,000.
    let rows = area.height.saturating_sub(2) as usize;
    let offset = window_start(app.tree_rows.get().offset, app.selected, rows);
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
                    let counts = app.counts[blob];
                    let state = blob_state(app, blob);
                    let mark = if app.marked.contains(&blob) {
                        "+ "
                    } else {
                        "  "
                    };
                    Line::from(vec![
                        Span::raw(format!("{indent}{mark}")),
                        Span::styled(theme::glyph(state).to_string(), theme.status(state)),
                        Span::raw(format!(" {} ", n.name)),
                        Span::styled(
                            format!("{}✗ {}◆ {}", counts.bad, counts.repaired, counts.total),
                            Style::default().fg(ratatui::style::Color::DarkGray),
                        ),
                    ])
                    .into()
                }
                _ => {
                    let (bad, marked) = app.node_state(node);
                    let open = app.is_expanded(node) || app.damaged_only || !app.search.is_empty();
                    let arrow = if open { "▾" } else { "▸" };
                    let badge = if bad > 0 {
                        format!("  {bad}✗")
                    } else {
                        String::new()
                    };
                    let marks = if marked > 0 {
                        format!("  +{marked}")
                    } else {
                        String::new()
                    };
                    Line::from(vec![
                        Span::raw(format!("{indent}{arrow} {}/", n.name)),
                        Span::styled(
                            badge,
                            theme.status(CellState::Done(ComponentStatus::Corrupt)),
                        ),
                        Span::raw(marks),
                    ])
                    .into()
                }
            }
        })
        .collect();
    let border = if app.focus == Focus::Tree {
        theme.title()
    } else {
        Style::default()
    };
    let list = List::new(items)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(title)
                .border_style(border),
        )
        .highlight_style(theme.selected());
    let mut state = ListState::default()
        .with_selected((!app.visible.is_empty()).then_some(app.selected - offset));
    frame.render_stateful_widget(list, area, &mut state);
    app.tree_rows.set(TreeRows {
        top: area.y + 1,
        height: area.height.saturating_sub(2),
        left: area.x,
        width: area.width,
        offset,
    });
}

/// The first row of a window of `rows` that keeps `selected` in sight, moving as little as
/// possible from where it was.
fn window_start(previous: usize, selected: usize, rows: usize) -> usize {
    let rows = rows.max(1);
    if selected < previous {
        selected
    } else if selected >= previous + rows {
        selected + 1 - rows
    } else {
        previous
    }
}

/// What a blob's row shows: work under way, else its worst verdict once all are in (or
/// damage as soon as it is found).
fn blob_state(app: &App, blob: usize) -> CellState {
    let cells = &app.cells[blob];
    if let Some(busy) = cells.iter().map(|c| c.state()).find(|s| s.is_busy()) {
        return busy;
    }
    let counts = app.counts[blob];
    if counts.checked < counts.total && counts.bad == 0 {
        return CellState::Unchecked;
    }
    cells
        .iter()
        .filter_map(|c| c.verdict)
        .map(CellState::Done)
        .fold(CellState::Done(ComponentStatus::Verified), theme::worse)
}

fn draw_details(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::default().borders(Borders::ALL).title(" details ");
    let Some(index) = app.selected_blob() else {
        let text = "Select a blob to see its details and its block map.";
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    };
    let blob = &app.drive.blobs[index];
    let side = |kind: ComponentKind| {
        blob.components
            .iter()
            .position(|c| c.kind == kind)
            .map(|c| app.cells[index][c].state().name().to_string())
            .unwrap_or_else(|| "none".into())
    };
    let lines = vec![
        Line::from(format!("BlobPath  {}", blob.blob_path)),
        Line::from(format!("FilePath  {}", blob.file_path)),
        Line::from(format!(
            "Length    {} ({})   snapshot {}",
            blob.length,
            human_bytes(blob.length),
            blob.snapshot.as_deref().unwrap_or("none")
        )),
        Line::from(format!(
            "Modified  {}   copy log {}",
            blob.last_modified.as_deref().unwrap_or("unknown"),
            blob.copy_log_status
                .as_ref()
                .map_or("not listed", |s| s.as_str())
        )),
        Line::from(format!(
            "Files     properties {}   metadata {}",
            side(ComponentKind::Properties),
            side(ComponentKind::Metadata)
        )),
    ];
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_map(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let border = if app.focus == Focus::Map {
        theme.title()
    } else {
        Style::default()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" block map ")
        .border_style(border);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(index) = app.selected_blob() else {
        return;
    };
    let states: Vec<CellState> = app.cells[index].iter().map(|c| c.state()).collect();
    if inner.height < 2 || inner.width < 10 {
        return;
    }
    // Cells first (a row at least), then the cursor's component, then as much legend as fits.
    let mut legend = legend_lines(theme, inner.width as usize);
    let info_lines = INFO_LINES.min(inner.height - 1);
    legend.truncate((inner.height - 1 - info_lines) as usize);
    let cells_height = (inner.height - info_lines - legend.len() as u16) as usize;
    let capacity = (inner.width as usize) * cells_height;
    let bucket = states.len().div_ceil(capacity.max(1)).max(1);
    let cells: Vec<CellState> = states
        .chunks(bucket)
        .map(|chunk| chunk.iter().copied().fold(chunk[0], theme::worse))
        .collect();
    let cursor_cell = app.map_cursor / bucket;
    let mut lines = Vec::new();
    for row in cells.chunks(inner.width as usize) {
        let row_start = lines.len() * inner.width as usize;
        let spans: Vec<Span> = row
            .iter()
            .enumerate()
            .map(|(i, &state)| {
                let mut style = theme.status(state);
                if app.focus == Focus::Map && row_start + i == cursor_cell {
                    style = style.patch(theme.selected());
                }
                Span::styled(theme::glyph(state).to_string(), style)
            })
            .collect();
        lines.push(Line::from(spans));
        if lines.len() == cells_height {
            break;
        }
    }
    frame.render_widget(
        Paragraph::new(lines),
        Rect {
            height: cells_height as u16,
            ..inner
        },
    );
    let info_area = Rect {
        y: inner.y + cells_height as u16,
        height: info_lines,
        ..inner
    };
    let blob = &app.drive.blobs[index];
    let info = blob.components.get(app.map_cursor).map(|c| {
        let id = ComponentId {
            blob: index as u32,
            component: app.map_cursor as u32,
        };
        let attempts = match app.attempts.get(&id) {
            Some(n) => format!(" · {n} download(s)"),
            None => String::new(),
        };
        let bucket_note = if bucket > 1 {
            format!(" · 1 cell = {bucket}")
        } else {
            String::new()
        };
        let mut lines = vec![
            Line::from(format!(
                "{} {}: {} @{} +{}{attempts}{bucket_note}",
                c.kind.as_str(),
                app.map_cursor + 1,
                states[app.map_cursor].name(),
                c.offset,
                c.length
            )),
            Line::from(
                c.expected_md5
                    .map_or("expected (no MD5 in the manifest)".to_string(), |m| {
                        format!("expected {m}")
                    }),
            ),
        ];
        if let Some(actual) = app.actual_md5.get(&id)
            && Some(*actual) != c.expected_md5
        {
            lines.push(Line::from(format!("on drive {actual}")));
        }
        if let Some(reason) = app.reasons.get(&id) {
            lines.push(Line::from(reason.clone()));
        }
        lines
    });
    frame.render_widget(
        Paragraph::new(info.unwrap_or_default()).wrap(Wrap { trim: false }),
        info_area,
    );
    let legend_area = Rect {
        y: info_area.y + info_lines,
        height: legend.len() as u16,
        ..inner
    };
    frame.render_widget(Paragraph::new(legend), legend_area);
}

/// Lines about the component under the map cursor: where, hashes, the last error.
const INFO_LINES: u16 = 4;

/// The legend, wrapped to the pane's width.
fn legend_lines(theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut spans = Vec::new();
    let mut used = 0;
    for state in theme::LEGEND {
        let entry = format!(" {}  ", state.name());
        let needed = 1 + entry.chars().count();
        if used > 0 && used + needed > width {
            lines.push(Line::from(std::mem::take(&mut spans)));
            used = 0;
        }
        spans.push(Span::styled(
            theme::glyph(state).to_string(),
            theme.status(state),
        ));
        spans.push(Span::raw(entry));
        used += needed;
    }
    lines.push(Line::from(spans));
    lines
}

fn draw_log(frame: &mut Frame, area: Rect, app: &App) {
    let rows = area.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = app
        .log
        .iter()
        .skip(app.log.len().saturating_sub(rows))
        .map(|line| Line::from(line.as_str()))
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" log ")),
        area,
    );
}

/// The actions worth a place on the bar, most wanted first (a narrow bar cuts the rest;
/// help lists everything).
const BAR: [Action; 11] = [
    Action::Help,
    Action::Quit,
    Action::Mark,
    Action::Retry,
    Action::RetryFailed,
    Action::VerifyAgain,
    Action::Export,
    Action::Search,
    Action::DamagedOnly,
    Action::Pause,
    Action::Focus,
];

fn draw_command_bar(frame: &mut Frame, area: Rect, app: &App, keymap: &Keymap) {
    let text = match &app.mode {
        Mode::Search => "type to search · enter keep · esc clear".to_string(),
        Mode::Prompt(Prompt {
            kind: PromptKind::Credentials,
            ..
        }) => "type or paste the key or SAS · enter use it · esc later".to_string(),
        Mode::Prompt(Prompt {
            kind: PromptKind::Export { .. },
            ..
        }) => "type the path · tab next format · enter write · esc cancel".to_string(),
        _ => BAR
            .iter()
            .map(|&action| format!("{} {}", keymap.key_for(action), action.short_label()))
            .collect::<Vec<_>>()
            .join(" · "),
    };
    frame.render_widget(Paragraph::new(text), area);
}

/// Characters of an answer the prompt shows on its one line.
const PROMPT_INPUT_WIDTH: usize = 56;

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

/// The end of a long answer, where the typing happens.
fn tail(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        return text.to_string();
    }
    let kept: String = text.chars().skip(count - (width - 1)).collect();
    format!("…{kept}")
}

fn draw_prompt(frame: &mut Frame, area: Rect, prompt: &Prompt, theme: &Theme) {
    let (title, question, shown) = match prompt.kind {
        PromptKind::Credentials => (
            " new credentials ",
            "The storage refused the credentials (a rotated key or an\n\
             expired SAS?). Type or paste the account key or a SAS;\n\
             downloads go on from where they stopped."
                .to_string(),
            masked(prompt.input.chars().count()),
        ),
        PromptKind::Export { format } => (
            " export the report ",
            format!(
                "Format: {format} (tab for {}). The report shows the run as it\n\
                 stands now.",
                super::app::next_format(format)
            ),
            tail(&prompt.input, PROMPT_INPUT_WIDTH),
        ),
    };
    let mut lines: Vec<Line> = question.lines().map(Line::from).collect();
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("> ", theme.title()),
        Span::raw(format!("{shown}▏")),
    ]));
    if let Some(error) = &prompt.error {
        lines.push(Line::from(Span::styled(
            error.clone(),
            theme.status(CellState::Done(ComponentStatus::Failed)),
        )));
    }
    let popup = centered(area, 64, lines.len() as u16 + 2);
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

fn draw_help(frame: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
    // Two columns, so that every binding fits a 24-line terminal.
    let entries: Vec<String> = keymap
        .all()
        .map(|(action, keys)| format!("{keys:>11}  {:<20}", action.label()))
        .collect();
    let half = entries.len().div_ceil(2);
    let mut lines: Vec<Line> = (0..half)
        .map(|row| {
            let right = entries.get(row + half).map_or("", String::as_str);
            Line::from(format!("{}{right}", entries[row]))
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(
        "  any key closes this help · shift+drag selects text",
    ));
    let popup = centered(area, 70, lines.len() as u16 + 2);
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

fn draw_confirm(frame: &mut Frame, area: Rect, keymap: &Keymap) {
    let text = format!(
        "Work is still running. Quit anyway?\nWrites in flight finish and are recorded;\na rerun with the same repair file resumes.\n\n{} quit · any other key stays",
        keymap.key_for(Action::Quit)
    );
    let popup = centered(area, 48, 7);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).block(Block::default().borders(Borders::ALL).title(" quit? ")),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_window_follows_the_cursor_and_moves_as_little_as_it_can() {
        assert_eq!(window_start(0, 5, 10), 0);
        assert_eq!(window_start(0, 10, 10), 1);
        assert_eq!(window_start(40, 45, 10), 40);
        assert_eq!(window_start(40, 12, 10), 12);
        assert_eq!(window_start(3, 0, 0), 0);
    }

    #[test]
    fn a_long_answer_shows_its_end_and_a_long_secret_its_length() {
        assert_eq!(tail("report.html", 20), "report.html");
        let long = format!("/very/long/{}/report.html", "d".repeat(80));
        let shown = tail(&long, PROMPT_INPUT_WIDTH);
        assert_eq!(shown.chars().count(), PROMPT_INPUT_WIDTH);
        assert!(shown.starts_with('…') && shown.ends_with("d/report.html"));
        assert_eq!(masked(3), "•••");
        assert_eq!(masked(88), format!("{} (88 characters)", "•".repeat(36)));
    }
}
