//! The drive map: the drive's bytes in file order (data ranges, a file's side files at its
//! end) as a fixed number of cells, each showing the worst status of what it covers.

use crate::ledger::human::{bytes as human_bytes, count};
use crate::model::ComponentStatus;

use super::super::Report;
use super::bar::{has_ranges, spans_bytes};
use super::status::{Look, class, glyph, label_or_unlisted, worst};

/// Cells of the drive map.
const MAP_CELLS: u64 = 512;

pub struct DriveMap {
    pub caption: String,
    /// Empty when the drive's files hold no data bytes.
    pub cells: Vec<Cell>,
    pub legend: Vec<Look>,
}

pub struct Cell {
    pub class: &'static str,
    pub glyph: char,
    pub label: &'static str,
    /// The first byte the cell covers, for people.
    pub from: String,
}

impl DriveMap {
    pub fn of(report: &Report) -> Self {
        // In u128: a hostile copy log's lengths may add up past 2^64.
        let total: u128 = report.files.iter().map(|f| u128::from(f.length)).sum();
        if total == 0 {
            return Self {
                caption: "no data bytes".to_string(),
                cells: Vec::new(),
                legend: Look::legend(),
            };
        }
        let mut cells: Vec<Option<ComponentStatus>> = vec![None; MAP_CELLS as usize];
        let cell_of = |byte: u128| {
            ((byte * u128::from(MAP_CELLS) / total) as usize).min(MAP_CELLS as usize - 1)
        };
        let mut start = 0u128;
        for file in &report.files {
            let ranged = has_ranges(file);
            let length = u128::from(file.length);
            for component in &file.components {
                let (first, last) = if !spans_bytes(ranged, component) || component.length == 0 {
                    let at = cell_of((start + length).saturating_sub(1));
                    (at, at)
                } else {
                    let offset = u128::from(component.offset);
                    let from = start + offset.min(length);
                    let to = start + (offset + u128::from(component.length)).min(length);
                    (cell_of(from), cell_of(to.saturating_sub(1).max(from)))
                };
                for cell in &mut cells[first..=last] {
                    *cell = worst(*cell, Some(component.status));
                }
            }
            start += length;
        }
        Self {
            caption: format!(
                "{} cells of {} each, files in order",
                MAP_CELLS,
                human_bytes(
                    u64::try_from(total.div_ceil(u128::from(MAP_CELLS))).unwrap_or(u64::MAX)
                )
            ),
            cells: cells
                .into_iter()
                .enumerate()
                .map(|(index, status)| Cell {
                    class: class(status),
                    glyph: glyph(status),
                    label: label_or_unlisted(status),
                    from: count(
                        u64::try_from(index as u128 * total / u128::from(MAP_CELLS))
                            .unwrap_or(u64::MAX),
                    ),
                })
                .collect(),
            legend: Look::legend(),
        }
    }
}
