//! A component's state as every view shows it, with the one order of severity that decides
//! what a cell standing for several components shows, and the one glyph per state (the
//! console's map, the HTML report's map and bars, black-and-white print).

use crate::engine::Activity;
use crate::model::ComponentStatus;

/// Work a component waits for or goes through, or its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ComponentState {
    /// No verdict yet, and no work under way.
    #[default]
    Unchecked,
    Queued,
    Verifying,
    Downloading,
    Done(ComponentStatus),
}

impl ComponentState {
    /// Every state, most severe first: the order a legend lists them in.
    pub const BY_SEVERITY: [ComponentState; 11] = [
        ComponentState::Done(ComponentStatus::Failed),
        ComponentState::Done(ComponentStatus::Corrupt),
        ComponentState::Done(ComponentStatus::Missing),
        ComponentState::Downloading,
        ComponentState::Verifying,
        ComponentState::Queued,
        ComponentState::Done(ComponentStatus::Regenerated),
        ComponentState::Done(ComponentStatus::Skipped),
        ComponentState::Unchecked,
        ComponentState::Done(ComponentStatus::Repaired),
        ComponentState::Done(ComponentStatus::Verified),
    ];

    /// A state from work under way (which wins) and the verdict so far.
    pub fn of(activity: Option<Activity>, status: Option<ComponentStatus>) -> Self {
        match (activity, status) {
            (Some(Activity::Queued), _) => ComponentState::Queued,
            (Some(Activity::Verifying), _) => ComponentState::Verifying,
            (Some(Activity::Downloading), _) => ComponentState::Downloading,
            (None, Some(status)) => ComponentState::Done(status),
            (None, None) => ComponentState::Unchecked,
        }
    }

    pub fn verdict(self) -> Option<ComponentStatus> {
        match self {
            ComponentState::Done(status) => Some(status),
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
            ComponentState::Queued | ComponentState::Verifying | ComponentState::Downloading
        )
    }

    /// How much a cell standing for several components should show this state: damage
    /// first, then work under way, then what still needs a look, then success.
    pub fn severity(self) -> u8 {
        let rank = Self::BY_SEVERITY
            .iter()
            .position(|state| *state == self)
            .unwrap_or(Self::BY_SEVERITY.len());
        (Self::BY_SEVERITY.len() - rank) as u8
    }

    /// Of two states, the one a shared cell shows.
    pub fn worse(self, other: ComponentState) -> ComponentState {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ComponentState::Unchecked => "unchecked",
            ComponentState::Queued => "queued",
            ComponentState::Verifying => "verifying",
            ComponentState::Downloading => "downloading",
            ComponentState::Done(status) => status.as_str(),
        }
    }

    /// One character that tells the state without colour.
    pub fn glyph(self) -> char {
        match self {
            ComponentState::Unchecked => '·',
            ComponentState::Queued => '…',
            ComponentState::Verifying => '◌',
            ComponentState::Downloading => '↓',
            ComponentState::Done(ComponentStatus::Verified) => '■',
            ComponentState::Done(ComponentStatus::Repaired) => '◆',
            ComponentState::Done(ComponentStatus::Regenerated) => '◇',
            ComponentState::Done(ComponentStatus::Corrupt) => '✗',
            ComponentState::Done(ComponentStatus::Missing) => '○',
            ComponentState::Done(ComponentStatus::Failed) => '!',
            ComponentState::Done(ComponentStatus::Skipped) => '-',
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_outranks_work_and_work_outranks_success() {
        let failed = ComponentState::Done(ComponentStatus::Failed);
        let corrupt = ComponentState::Done(ComponentStatus::Corrupt);
        let missing = ComponentState::Done(ComponentStatus::Missing);
        let verified = ComponentState::Done(ComponentStatus::Verified);
        let repaired = ComponentState::Done(ComponentStatus::Repaired);
        assert_eq!(ComponentState::Downloading.worse(failed), failed);
        assert_eq!(corrupt.worse(missing), corrupt);
        assert_eq!(
            verified.worse(ComponentState::Queued),
            ComponentState::Queued
        );
        assert_eq!(verified.worse(repaired), repaired);
        assert_eq!(
            repaired.worse(ComponentState::Unchecked),
            ComponentState::Unchecked
        );
        let glyphs: std::collections::HashSet<char> = ComponentState::BY_SEVERITY
            .iter()
            .map(|s| s.glyph())
            .collect();
        assert_eq!(
            glyphs.len(),
            ComponentState::BY_SEVERITY.len(),
            "one glyph each"
        );
        for status in ComponentStatus::ALL {
            assert!(ComponentState::BY_SEVERITY.contains(&ComponentState::Done(status)));
        }
    }
}
