//! How a status looks on the page: a colour class, a glyph that tells it without colour (as
//! the console's map under NO_COLOR), and a word.

use crate::ledger::ComponentState;
use crate::model::{ComponentStatus, FileVerdict};

use super::super::FileReport;

/// A status as a chip, a swatch or a map cell shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub class: &'static str,
    pub glyph: char,
    pub label: &'static str,
}

impl Look {
    pub fn of(status: ComponentStatus) -> Self {
        Self {
            class: class(Some(status)),
            glyph: glyph(Some(status)),
            label: label(status),
        }
    }

    /// How a file is shown: its verdict, or "not checked" when nothing of it was.
    pub fn of_file(file: &FileReport) -> Self {
        let all_skipped = !file.components.is_empty()
            && file
                .components
                .iter()
                .all(|c| c.status == ComponentStatus::Skipped);
        if all_skipped {
            return Self::of(ComponentStatus::Skipped);
        }
        let (class, label, status) = match file.status {
            FileVerdict::Verified => ("s-verified", "verified", ComponentStatus::Verified),
            FileVerdict::Repaired => ("s-repaired", "repaired", ComponentStatus::Repaired),
            FileVerdict::Damaged => ("s-damaged", "damaged", ComponentStatus::Corrupt),
            FileVerdict::Failed => ("s-failed", "failed", ComponentStatus::Failed),
            FileVerdict::Unchecked => return Self::of(ComponentStatus::Skipped),
        };
        Self {
            class,
            glyph: glyph(Some(status)),
            label,
        }
    }

    /// The states the legend explains, in the ledger's order of severity.
    pub fn legend() -> Vec<Self> {
        ComponentState::BY_SEVERITY
            .iter()
            .filter_map(|state| state.verdict())
            .map(Self::of)
            .collect()
    }
}

/// A status's colour class; `None` is a byte range no component covers.
pub fn class(status: Option<ComponentStatus>) -> &'static str {
    match status {
        None => "s-none",
        Some(ComponentStatus::Verified) => "s-verified",
        Some(ComponentStatus::Repaired) => "s-repaired",
        Some(ComponentStatus::Regenerated) => "s-regenerated",
        Some(ComponentStatus::Corrupt) => "s-corrupt",
        Some(ComponentStatus::Missing) => "s-missing",
        Some(ComponentStatus::Failed) => "s-failed",
        Some(ComponentStatus::Skipped) => "s-skipped",
    }
}

pub fn label(status: ComponentStatus) -> &'static str {
    match status {
        ComponentStatus::Skipped => "not checked",
        other => other.as_str(),
    }
}

/// A status's word, or what bytes no component covers are.
pub fn label_or_unlisted(status: Option<ComponentStatus>) -> &'static str {
    status.map_or("not listed", label)
}

/// The glyph that tells a status without colour.
pub fn glyph(status: Option<ComponentStatus>) -> char {
    status.map_or(' ', |s| ComponentState::Done(s).glyph())
}

/// Which status a cell shared by several shows: the ledger's order of severity (damage
/// first); bytes no component covers give way to anything.
pub fn worst(a: Option<ComponentStatus>, b: Option<ComponentStatus>) -> Option<ComponentStatus> {
    let severity =
        |status: Option<ComponentStatus>| status.map_or(0, |s| ComponentState::Done(s).severity());
    if severity(b) > severity(a) { b } else { a }
}

pub fn is_good(status: ComponentStatus) -> bool {
    matches!(
        status,
        ComponentStatus::Verified | ComponentStatus::Repaired | ComponentStatus::Regenerated
    )
}
