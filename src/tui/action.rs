//! What the technician asks for, independent of the keys that ask.

use serde::Deserialize;

/// A user intent from the keymap (or a prompt's answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Up,
    Down,
    Collapse,
    Expand,
    Toggle,
    Top,
    Bottom,
    PageUp,
    PageDown,
    /// Move between the blob tree and the block map.
    Focus,
    /// Show only blobs with damage.
    DamagedOnly,
    Search,
    Pause,
    Cancel,
    Help,
    Quit,
}

impl Action {
    /// The command bar's words for it.
    pub fn label(self) -> &'static str {
        match self {
            Action::Up => "up",
            Action::Down => "down",
            Action::Collapse => "collapse",
            Action::Expand => "expand",
            Action::Toggle => "open/close",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Focus => "tree/map",
            Action::DamagedOnly => "damaged only",
            Action::Search => "search",
            Action::Pause => "pause/resume",
            Action::Cancel => "cancel run",
            Action::Help => "help",
            Action::Quit => "quit",
        }
    }
}
