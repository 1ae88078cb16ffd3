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
        let total: u64 = report.files.iter().map(|f| f.length).sum();
        if total == 0 {
            return Self {
                caption: "no data bytes".to_string(),
                cells: Vec::new(),
                legend: Look::legend(),
            };
        }
        let mut cells: Vec<Option<ComponentStatus>> = vec![None; MAP_CELLS as usize];
        let cell_of = |byte: u64| {
            ((byte as u128 * MAP_CELLS as u128 / total as u128) as usize)
                .min(MAP_CELLS as usize - 1)
        };
        let mut start = 0u64;
        for file in &report.files {
            let ranged = has_ranges(file);
            for component in &file.components {
                let (first, last) = if !spans_bytes(ranged, component) || component.length == 0 {
                    let at = cell_of((start + file.length).saturating_sub(1));
                    (at, at)
                } else {
                    let from = start + component.offset.min(file.length);
                    let to = start + (component.offset + component.length).min(file.length);
                    (cell_of(from), cell_of(to.saturating_sub(1).max(from)))
                };
                for cell in &mut cells[first..=last] {
                    *cell = worst(*cell, Some(component.status));
                }
            }
            start += file.length;
        }
        Self {
            caption: format!(
                "{} cells of {} each, files in order",
                MAP_CELLS,
                human_bytes(total.div_ceil(MAP_CELLS))
            ),
            cells: cells
                .into_iter()
                .enumerate()
                .map(|(index, status)| Cell {
                    class: class(status),
                    glyph: glyph(status),
                    label: label_or_unlisted(status),
                    from: count((index as u128 * total as u128 / MAP_CELLS as u128) as u64),
                })
                .collect(),
            legend: Look::legend(),
        }
    }
}
