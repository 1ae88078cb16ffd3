//! Colours and glyphs per status. `NO_COLOR` turns colour off; glyphs still tell states apart.

use ratatui::style::{Color, Modifier, Style};

use crate::model::ComponentStatus;

/// A component's state as the console shows it: not looked at yet, or a verdict.
pub type CellState = Option<ComponentStatus>;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set (to anything), as no-color.org asks.
    pub fn from_env() -> Self {
        Self {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    pub fn status(&self, state: CellState) -> Style {
        if !self.color {
            return match state {
                Some(s) if s.is_damage() => Style::default().add_modifier(Modifier::BOLD),
                _ => Style::default(),
            };
        }
        let color = match state {
            None => Color::DarkGray,
            Some(ComponentStatus::Verified) => Color::Green,
            Some(ComponentStatus::Repaired) => Color::Cyan,
            Some(ComponentStatus::Regenerated) => Color::Yellow,
            Some(ComponentStatus::Corrupt) => Color::Red,
            Some(ComponentStatus::Missing) => Color::Magenta,
            Some(ComponentStatus::Failed) => Color::LightRed,
            Some(ComponentStatus::Skipped) => Color::Gray,
        };
        Style::default().fg(color)
    }

    pub fn selected(&self) -> Style {
        if self.color {
            Style::default()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn title(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
}

/// One cell of the block map.
pub fn glyph(state: CellState) -> char {
    match state {
        None => '·',
        Some(ComponentStatus::Verified) => '■',
        Some(ComponentStatus::Repaired) => '◆',
        Some(ComponentStatus::Regenerated) => '◇',
        Some(ComponentStatus::Corrupt) => '✗',
        Some(ComponentStatus::Missing) => '○',
        Some(ComponentStatus::Failed) => '!',
        Some(ComponentStatus::Skipped) => '-',
    }
}

/// Which of two states a bucket of cells shows: the worst.
pub fn worse(a: CellState, b: CellState) -> CellState {
    fn rank(state: CellState) -> u8 {
        match state {
            Some(ComponentStatus::Failed) => 7,
            Some(ComponentStatus::Corrupt) => 6,
            Some(ComponentStatus::Missing) => 5,
            Some(ComponentStatus::Regenerated) => 4,
            None => 3,
            Some(ComponentStatus::Repaired) => 2,
            Some(ComponentStatus::Skipped) => 1,
            Some(ComponentStatus::Verified) => 0,
        }
    }
    if rank(b) > rank(a) { b } else { a }
}

/// The legend's entries.
pub const LEGEND: [(CellState, &str); 8] = [
    (None, "unchecked"),
    (Some(ComponentStatus::Verified), "verified"),
    (Some(ComponentStatus::Repaired), "repaired"),
    (Some(ComponentStatus::Regenerated), "regenerated"),
    (Some(ComponentStatus::Corrupt), "corrupt"),
    (Some(ComponentStatus::Missing), "missing"),
    (Some(ComponentStatus::Failed), "failed"),
    (Some(ComponentStatus::Skipped), "skipped"),
];
