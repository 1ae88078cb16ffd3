//! Colours and glyphs per cell state. `NO_COLOR` turns colour off (glyphs still tell states
//! apart); `<config dir>/export-repair/theme.toml` overrides colours by state name.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

use crate::model::ComponentStatus;

/// A component's state as the console shows it: work it waits for or goes through, or its
/// verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CellState {
    #[default]
    Unchecked,
    Queued,
    Verifying,
    Downloading,
    Done(ComponentStatus),
}

impl CellState {
    pub fn verdict(self) -> Option<ComponentStatus> {
        match self {
            CellState::Done(status) => Some(status),
            _ => None,
        }
    }

    pub fn is_damage(self) -> bool {
        self.verdict().is_some_and(ComponentStatus::is_damage)
    }

    /// Work is waiting or going on for it.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            CellState::Queued | CellState::Verifying | CellState::Downloading
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            CellState::Unchecked => "unchecked",
            CellState::Queued => "queued",
            CellState::Verifying => "verifying",
            CellState::Downloading => "downloading",
            CellState::Done(status) => status.as_str(),
        }
    }

    /// How much a bucket of cells should show this state: failures first, then work.
    fn severity(self) -> u8 {
        match self {
            CellState::Done(ComponentStatus::Failed) => 10,
            CellState::Done(ComponentStatus::Corrupt) => 9,
            CellState::Done(ComponentStatus::Missing) => 8,
            CellState::Downloading => 7,
            CellState::Verifying => 6,
            CellState::Queued => 5,
            CellState::Done(ComponentStatus::Regenerated) => 4,
            CellState::Unchecked => 3,
            CellState::Done(ComponentStatus::Repaired) => 2,
            CellState::Done(ComponentStatus::Skipped) => 1,
            CellState::Done(ComponentStatus::Verified) => 0,
        }
    }
}

/// Every state, in the legend's order.
pub const LEGEND: [CellState; 11] = [
    CellState::Unchecked,
    CellState::Queued,
    CellState::Verifying,
    CellState::Done(ComponentStatus::Verified),
    CellState::Done(ComponentStatus::Corrupt),
    CellState::Done(ComponentStatus::Missing),
    CellState::Downloading,
    CellState::Done(ComponentStatus::Repaired),
    CellState::Done(ComponentStatus::Failed),
    CellState::Done(ComponentStatus::Regenerated),
    CellState::Done(ComponentStatus::Skipped),
];

const DEFAULT_COLORS: [(CellState, Color); 11] = [
    (CellState::Unchecked, Color::DarkGray),
    (CellState::Queued, Color::Blue),
    (CellState::Verifying, Color::LightBlue),
    (CellState::Done(ComponentStatus::Verified), Color::Green),
    (CellState::Done(ComponentStatus::Corrupt), Color::Red),
    (CellState::Done(ComponentStatus::Missing), Color::Magenta),
    (CellState::Downloading, Color::LightCyan),
    (CellState::Done(ComponentStatus::Repaired), Color::Cyan),
    (CellState::Done(ComponentStatus::Failed), Color::LightRed),
    (CellState::Done(ComponentStatus::Regenerated), Color::Yellow),
    (CellState::Done(ComponentStatus::Skipped), Color::Gray),
];

/// Colours in force.
#[derive(Debug, Clone)]
pub struct Theme {
    pub color: bool,
    states: BTreeMap<&'static str, Color>,
    selected_background: Color,
}

/// A theme file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ThemeError {
    path: String,
    message: String,
}

impl Default for Theme {
    fn default() -> Self {
        Self {
            color: true,
            states: DEFAULT_COLORS.iter().map(|(s, c)| (s.name(), *c)).collect(),
            selected_background: Color::DarkGray,
        }
    }
}

impl Theme {
    /// The defaults without colour.
    pub fn monochrome() -> Self {
        Self {
            color: false,
            ..Self::default()
        }
    }

    /// The defaults with the user's file applied, colour unless `NO_COLOR` is set (to
    /// anything), as no-color.org asks.
    pub fn load(user_file: Option<&Path>) -> Result<Self, ThemeError> {
        let mut theme = Self {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            ..Self::default()
        };
        if let Some(path) = user_file.filter(|p| p.is_file()) {
            let text = std::fs::read_to_string(path).map_err(|error| ThemeError {
                path: path.display().to_string(),
                message: error.to_string(),
            })?;
            theme.apply(&text).map_err(|message| ThemeError {
                path: path.display().to_string(),
                message,
            })?;
        }
        Ok(theme)
    }

    /// Applies a theme file: `state = "colour"` lines (a name such as "red" or
    /// "lightblue", "#rrggbb", or a 0–255 index), and `selected = "colour"`.
    pub fn apply(&mut self, text: &str) -> Result<(), String> {
        let table: BTreeMap<String, String> =
            toml::from_str(text).map_err(|error| error.to_string())?;
        for (name, value) in table {
            let color = Color::from_str(&value)
                .map_err(|_| format!("{name} = {value:?}: not a colour name, #rrggbb or 0-255"))?;
            if name == "selected" {
                self.selected_background = color;
                continue;
            }
            let slot = self.states.get_mut(name.as_str()).ok_or_else(|| {
                let known: Vec<&str> = LEGEND.iter().map(|s| s.name()).collect();
                format!(
                    "unknown entry {name:?}: use selected or a state ({})",
                    known.join(", ")
                )
            })?;
            *slot = color;
        }
        Ok(())
    }

    pub fn status(&self, state: CellState) -> Style {
        if !self.color {
            return if state.is_damage() {
                Style::default().add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
        }
        Style::default().fg(self.states[state.name()])
    }

    pub fn selected(&self) -> Style {
        if self.color {
            Style::default()
                .bg(self.selected_background)
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
        CellState::Unchecked => '·',
        CellState::Queued => '…',
        CellState::Verifying => '◌',
        CellState::Downloading => '↓',
        CellState::Done(ComponentStatus::Verified) => '■',
        CellState::Done(ComponentStatus::Repaired) => '◆',
        CellState::Done(ComponentStatus::Regenerated) => '◇',
        CellState::Done(ComponentStatus::Corrupt) => '✗',
        CellState::Done(ComponentStatus::Missing) => '○',
        CellState::Done(ComponentStatus::Failed) => '!',
        CellState::Done(ComponentStatus::Skipped) => '-',
    }
}

/// Which of two states a bucket of cells shows: the worst.
pub fn worse(a: CellState, b: CellState) -> CellState {
    if b.severity() > a.severity() { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_theme_file_overrides_colours_and_names_its_mistakes() {
        let mut theme = Theme::default();
        theme
            .apply("verified = \"#00ff00\"\nselected = \"blue\"\nqueued = \"200\"")
            .unwrap();
        let verified = CellState::Done(ComponentStatus::Verified);
        assert_eq!(theme.status(verified).fg, Some(Color::Rgb(0, 255, 0)));
        assert_eq!(
            theme.status(CellState::Queued).fg,
            Some(Color::Indexed(200))
        );
        assert_eq!(theme.selected().bg, Some(Color::Blue));
        let error = theme.apply("verfied = \"red\"").unwrap_err();
        assert!(error.contains("unknown entry \"verfied\""), "{error}");
        let error = theme.apply("corrupt = \"reddish\"").unwrap_err();
        assert!(error.contains("corrupt = \"reddish\""), "{error}");
    }

    #[test]
    fn failures_outrank_work_and_work_outranks_success() {
        let failed = CellState::Done(ComponentStatus::Failed);
        let verified = CellState::Done(ComponentStatus::Verified);
        assert_eq!(worse(CellState::Downloading, failed), failed);
        assert_eq!(worse(verified, CellState::Queued), CellState::Queued);
        assert_eq!(LEGEND.len(), DEFAULT_COLORS.len());
    }
}
