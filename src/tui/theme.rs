//! Colours per component state (the glyphs are the ledger's). `NO_COLOR` turns colour off (glyphs
//! still tell states apart); `<config dir>/export-repair/theme.toml` overrides colours by state name.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

use crate::ledger::ComponentState;
use crate::model::ComponentStatus;

const DEFAULT_COLORS: [(ComponentState, Color); 11] = [
    (ComponentState::Unchecked, Color::DarkGray),
    (ComponentState::Queued, Color::Blue),
    (ComponentState::Verifying, Color::LightBlue),
    (
        ComponentState::Done(ComponentStatus::Verified),
        Color::Green,
    ),
    (ComponentState::Done(ComponentStatus::Corrupt), Color::Red),
    (
        ComponentState::Done(ComponentStatus::Missing),
        Color::Magenta,
    ),
    (ComponentState::Downloading, Color::LightCyan),
    (ComponentState::Done(ComponentStatus::Repaired), Color::Cyan),
    (
        ComponentState::Done(ComponentStatus::Failed),
        Color::LightRed,
    ),
    (
        ComponentState::Done(ComponentStatus::Regenerated),
        Color::Yellow,
    ),
    (ComponentState::Done(ComponentStatus::Skipped), Color::Gray),
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
#[error("{path}: {message}; mend the file, or remove it to use the default colours")]
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
            toml::from_str(text).map_err(|error| super::toml_fault(text, &error))?;
        for (name, value) in table {
            let color = Color::from_str(&value)
                .map_err(|_| format!("{name} = {value:?}: not a colour name, #rrggbb or 0-255"))?;
            if name == "selected" {
                self.selected_background = color;
                continue;
            }
            let slot = self.states.get_mut(name.as_str()).ok_or_else(|| {
                let known: Vec<&str> = ComponentState::BY_SEVERITY
                    .iter()
                    .map(|s| s.name())
                    .collect();
                format!(
                    "unknown entry {name:?}: use selected or a state ({})",
                    known.join(", ")
                )
            })?;
            *slot = color;
        }
        Ok(())
    }

    pub fn status(&self, state: ComponentState) -> Style {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_theme_file_overrides_colours_and_names_its_mistakes() {
        let mut theme = Theme::default();
        theme
            .apply("verified = \"#00ff00\"\nselected = \"blue\"\nqueued = \"200\"")
            .unwrap();
        let verified = ComponentState::Done(ComponentStatus::Verified);
        assert_eq!(theme.status(verified).fg, Some(Color::Rgb(0, 255, 0)));
        assert_eq!(
            theme.status(ComponentState::Queued).fg,
            Some(Color::Indexed(200))
        );
        assert_eq!(theme.selected().bg, Some(Color::Blue));
        let error = theme.apply("verfied = \"red\"").unwrap_err();
        assert!(error.contains("unknown entry \"verfied\""), "{error}");
        let error = theme.apply("corrupt = \"reddish\"").unwrap_err();
        assert!(error.contains("corrupt = \"reddish\""), "{error}");
    }

    #[test]
    fn every_state_has_a_colour() {
        let theme = Theme::default();
        for state in ComponentState::BY_SEVERITY {
            assert!(theme.status(state).fg.is_some(), "{}", state.name());
        }
        assert_eq!(ComponentState::BY_SEVERITY.len(), DEFAULT_COLORS.len());
    }
}
