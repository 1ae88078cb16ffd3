//! What the technician asks for, independent of the keys that ask.

use serde::{Deserialize, Serialize};

/// A user intent from the keymap (or a prompt's answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
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
    /// Move on: blob tree → block map → log.
    Focus,
    /// Jump to the next blob with damage.
    NextDamage,
    /// Jump to the previous blob with damage.
    PreviousDamage,
    /// Open every folder.
    ExpandAll,
    /// Show only blobs with damage.
    DamagedOnly,
    /// Show only blobs with something repaired.
    RepairedOnly,
    Search,
    /// Mark or unmark the blobs under the cursor for the next retry or verification.
    Mark,
    /// Download the damaged components of the marked (or selected) blobs again.
    Retry,
    /// Download every damaged component again.
    RetryFailed,
    /// Verify the marked (or selected) blobs again, repairing what does not verify.
    VerifyAgain,
    /// Write the report as it stands (format and path asked).
    Export,
    /// Give a new account key or SAS.
    Credentials,
    Pause,
    Cancel,
    /// Show where the verbose log is written.
    LogFile,
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
            Action::Focus => "tree/map/log",
            Action::NextDamage => "next damage",
            Action::PreviousDamage => "previous damage",
            Action::ExpandAll => "open all folders",
            Action::DamagedOnly => "damaged only",
            Action::RepairedOnly => "repaired only",
            Action::Search => "search",
            Action::Mark => "mark",
            Action::Retry => "retry marked",
            Action::RetryFailed => "retry damaged",
            Action::VerifyAgain => "verify again",
            Action::Export => "export report",
            Action::Credentials => "new key/SAS",
            Action::Pause => "pause/resume",
            Action::Cancel => "cancel run",
            Action::LogFile => "log file",
            Action::Help => "help",
            Action::Quit => "quit",
        }
    }

    /// The command bar's shorter words for it.
    pub fn short_label(self) -> &'static str {
        match self {
            Action::Focus => "next pane",
            Action::NextDamage => "next damage",
            Action::ExpandAll => "open all",
            Action::DamagedOnly => "damaged",
            Action::RepairedOnly => "repaired",
            Action::Cancel => "cancel",
            Action::Retry => "retry",
            Action::RetryFailed => "retry all",
            Action::VerifyAgain => "verify",
            Action::Export => "export",
            Action::Pause => "pause",
            other => other.label(),
        }
    }
}
