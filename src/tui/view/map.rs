//! The map: the selected blob's components, or the blobs under a selected folder (the
//! drive map), one cell each (or one cell for several, showing the worst), cells as large
//! as the pane allows; a legend with the states on screen first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::ledger::{ComponentState, human};
use crate::model::ComponentId;

use super::super::app::{App, Focus};
use super::super::theme::Theme;
use super::{focused, pane, text, title};

/// The share of the right column the map may take; the details below keep the rest.
const MAP_SHARE: (usize, usize) = (1, 3);

/// How cells are laid out in a pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grid {
    /// Components (or blobs) per cell.
    bucket: usize,
    cells: usize,
    /// Columns and rows one cell takes.
    cell_width: usize,
    cell_height: usize,
    per_row: usize,
    rows: usize,
}

impl Grid {
    /// The largest cells that fit `items` in `width` × `max_rows` (a cell about twice as
    /// wide as tall looks square); one small cell for several items when even that is not
    /// enough.
    fn fit(items: usize, width: usize, max_rows: usize) -> Self {
        let width = width.max(1);
        let max_rows = max_rows.max(1);
        for (cell_width, cell_height) in [(8, 4), (6, 3), (4, 2), (2, 1), (1, 1)] {
            let per_row = (width / cell_width).max(1);
            let rows = items.div_ceil(per_row) * cell_height;
            if rows <= max_rows && (cell_width == 1 || per_row > 1) {
                return Self {
                    bucket: 1,
                    cells: items,
                    cell_width,
                    cell_height,
                    per_row,
                    rows: rows.max(1),
                };
            }
        }
        let bucket = items.div_ceil(width * max_rows).max(1);
        let cells = items.div_ceil(bucket);
        Self {
            bucket,
            cells,
            cell_width: 1,
            cell_height: 1,
            per_row: width,
            rows: cells.div_ceil(width).max(1),
        }
    }
}

/// The states the map shows, one per item (component or blob), in order.
fn items(app: &App) -> Vec<ComponentState> {
    match app.selected_blob() {
        Some(blob) => (0..app.drive().blobs[blob].components.len() as u32)
            .map(|component| {
                app.ledger.state(ComponentId {
                    blob: blob as u32,
                    component,
                })
            })
            .collect(),
        None => blobs_shown(app)
            .into_iter()
            .map(|blob| app.ledger.blob(blob).state())
            .collect(),
    }
}

/// The drive map's blobs: those under the folder under the cursor (all, with no cursor).
fn blobs_shown(app: &App) -> Vec<usize> {
    let node = app.visible.get(app.selected).copied().unwrap_or(0);
    app.tree.blobs_under(node)
}

/// Columns inside the borders, one kept free before the right one.
fn inner_width(area: Rect) -> usize {
    area.width.saturating_sub(3) as usize
}

/// The legend's entries: the states on screen first (most severe first), then the others.
fn legend(on_screen: &[ComponentState]) -> Vec<(ComponentState, bool)> {
    let present = |state: &ComponentState| on_screen.contains(state);
    ComponentState::BY_SEVERITY
        .iter()
        .filter(|s| present(s))
        .map(|s| (*s, true))
        .chain(
            ComponentState::BY_SEVERITY
                .iter()
                .filter(|s| !present(s))
                .map(|s| (*s, false)),
        )
        .collect()
}

/// Legend lines for `width`: every state on screen, then as many others as fit, whole.
fn legend_lines(states: &[ComponentState], width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = Vec::new();
    let mut spans = Vec::new();
    let mut used = 0;
    for (state, on_screen) in legend(states) {
        let entry = format!("{} {}", state.glyph(), state.name());
        let needed = text::width(&entry) + usize::from(used > 0) * 2;
        if used + needed > width {
            if !on_screen || lines.len() == 1 {
                continue;
            }
            lines.push(Line::from(std::mem::take(&mut spans)));
            used = 0;
        }
        if used > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(state.glyph().to_string(), theme.status(state)));
        spans.push(Span::raw(format!(" {}", state.name())));
        used += text::width(&entry) + usize::from(used > 0) * 2;
    }
    if !spans.is_empty() {
        lines.push(Line::from(spans));
    }
    lines
}

/// Rows the map pane wants in `right` (the right column): its cells, the legend, borders.
pub fn height(app: &App, right: Rect) -> u16 {
    let width = inner_width(right);
    let items = items(app);
    let legend_rows = legend_lines(&distinct(&items), width, &Theme::monochrome()).len();
    let max_rows = (right.height as usize * MAP_SHARE.0 / MAP_SHARE.1)
        .saturating_sub(2 + legend_rows)
        .max(1);
    let grid = Grid::fit(items.len().max(1), width, max_rows);
    (grid.rows + legend_rows + 2) as u16
}

fn distinct(states: &[ComponentState]) -> Vec<ComponentState> {
    let mut out: Vec<ComponentState> = Vec::new();
    for state in states {
        if !out.contains(state) {
            out.push(*state);
        }
    }
    out
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let width = inner_width(area);
    let states = items(app);
    let on_screen = distinct(&states);
    let legend = legend_lines(&on_screen, width, theme);
    let cell_rows = (area.height as usize)
        .saturating_sub(2 + legend.len())
        .max(1);
    let grid = Grid::fit(states.len().max(1), width, cell_rows);
    let is_focused = focused(app, Focus::Map);
    let what = match app.selected_blob() {
        Some(blob) => {
            let count = app.drive().blobs[blob].components.len() as u64;
            format!(
                " block map · {}",
                human::plural(count, "component", "components")
            )
        }
        None => format!(
            " drive map · {}",
            human::plural(states.len() as u64, "blob", "blobs")
        ),
    };
    let bucket = if grid.bucket > 1 {
        format!(" · 1 cell = {}", grid.bucket)
    } else {
        String::new()
    };
    // Whole or not at all: a scale cut by the border reads as another number.
    let room = (area.width as usize).saturating_sub(if is_focused { 5 } else { 3 });
    let bucket = if super::text::width(&what) + super::text::width(&bucket) + 1 > room {
        String::new()
    } else {
        bucket
    };
    let block = pane(
        title(format!("{what}{bucket} "), is_focused, theme),
        is_focused,
        theme,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let cursor_cell = (app.selected_blob().is_some() && app.focus == Focus::Map)
        .then(|| app.map_cursor / grid.bucket);
    let cells: Vec<ComponentState> = states
        .chunks(grid.bucket)
        .map(|chunk| chunk.iter().copied().fold(chunk[0], ComponentState::worse))
        .collect();
    let mut lines = Vec::new();
    for (row_index, row) in cells.chunks(grid.per_row).enumerate() {
        for _ in 0..grid.cell_height {
            let spans: Vec<Span> = row
                .iter()
                .enumerate()
                .map(|(i, &state)| {
                    let mut style = theme.status(state);
                    if cursor_cell == Some(row_index * grid.per_row + i) {
                        style = style.patch(theme.selected());
                    }
                    let body = state.glyph().to_string().repeat(grid.cell_width.max(2) - 1);
                    let cell = if grid.cell_width == 1 {
                        state.glyph().to_string()
                    } else {
                        format!("{body} ")
                    };
                    Span::styled(cell, style)
                })
                .collect();
            lines.push(Line::from(spans));
        }
    }
    let cells_area = Rect {
        height: (inner.height).saturating_sub(legend.len() as u16),
        ..inner
    };
    frame.render_widget(Paragraph::new(lines), cells_area);
    let legend_area = Rect {
        y: inner.y + cells_area.height,
        height: legend.len() as u16,
        ..inner
    };
    frame.render_widget(Paragraph::new(legend), legend_area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_cells_grow_and_many_share_a_cell() {
        // 7 blocks in a 100-column pane with room for 40 rows: large cells, few rows.
        let few = Grid::fit(7, 100, 40);
        assert_eq!((few.cell_width, few.cell_height, few.rows), (8, 4, 4));
        // 1,024 blocks in 60 × 10: every cell used, none shared.
        let many = Grid::fit(1024, 60, 20);
        assert_eq!((many.bucket, many.cell_width), (1, 1));
        assert_eq!(many.rows, 18);
        // A million in 60 × 10: cells share, and all the room is used.
        let huge = Grid::fit(1_000_000, 60, 10);
        assert_eq!(huge.bucket, 1_000_000usize.div_ceil(600));
        assert!(huge.rows <= 10);
    }

    #[test]
    fn the_legend_lists_the_states_on_screen_first() {
        let repaired = ComponentState::Done(crate::model::ComponentStatus::Repaired);
        let failed = ComponentState::Done(crate::model::ComponentStatus::Failed);
        let order = legend(&[repaired, failed]);
        assert_eq!(order[0], (failed, true));
        assert_eq!(order[1], (repaired, true));
        assert!(!order[2].1);
        let lines = legend_lines(&[repaired, failed], 24, &Theme::monochrome());
        let first: String = lines[0].spans.iter().map(|s| s.content.as_ref()).collect();
        assert!(first.starts_with("! failed  ◆ repaired"), "{first}");
    }
}
