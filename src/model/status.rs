//! Verdicts: per component, per file, per run.

use serde::{Deserialize, Serialize};

/// A component's verdict, the report's vocabulary (work under way, such as queued or
/// downloading, is the engine's `Activity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    /// The bytes match the manifest hash.
    Verified,
    /// Found bad, re-downloaded, and now verified.
    Repaired,
    /// A properties/metadata file rewritten from the service whose hash still differs
    /// (the service's exact serialisation is unknown): a warning, not a failure.
    Regenerated,
    /// The bytes do not match the expected hash (or the copy log says they are bad).
    Corrupt,
    /// The file, or this part of it, is not on the drive.
    Missing,
    /// A repair was attempted and could not fix it (or the entry was refused).
    Failed,
    /// Not checked: no hash to check against, or the run stopped first.
    Skipped,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 7] = [
        ComponentStatus::Verified,
        ComponentStatus::Repaired,
        ComponentStatus::Regenerated,
        ComponentStatus::Corrupt,
        ComponentStatus::Missing,
        ComponentStatus::Failed,
        ComponentStatus::Skipped,
    ];

    /// Damage that remains on the drive.
    pub fn is_damage(self) -> bool {
        matches!(
            self,
            ComponentStatus::Corrupt | ComponentStatus::Missing | ComponentStatus::Failed
        )
    }

    /// Right after this verdict: checked and found right, or made right.
    pub fn is_right(self) -> bool {
        matches!(
            self,
            ComponentStatus::Verified | ComponentStatus::Repaired | ComponentStatus::Regenerated
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Verified => "verified",
            ComponentStatus::Repaired => "repaired",
            ComponentStatus::Regenerated => "regenerated",
            ComponentStatus::Corrupt => "corrupt",
            ComponentStatus::Missing => "missing",
            ComponentStatus::Failed => "failed",
            ComponentStatus::Skipped => "skipped",
        }
    }

    /// What a component the run repaired is called when a later look finds `self`: a repair
    /// stays a repair while nothing wrong is found (the ledger and the repair file alike).
    pub fn after_repair(self) -> ComponentStatus {
        match self {
            ComponentStatus::Verified | ComponentStatus::Skipped => ComponentStatus::Repaired,
            status => status,
        }
    }
}

/// A file's verdict in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileVerdict {
    /// Every component good.
    Verified,
    /// Something was repaired (or regenerated) and nothing bad remains.
    Repaired,
    /// Found bad; no repair attempted.
    Damaged,
    /// A repair was attempted and something could not be fixed.
    Failed,
    /// Nothing found wrong, but not every component was checked (the run stopped first).
    Unchecked,
}

impl FileVerdict {
    /// Folds component statuses into the file's verdict.
    pub fn of(statuses: impl IntoIterator<Item = ComponentStatus>) -> Self {
        let (mut repaired, mut damaged, mut failed) = (false, false, false);
        for status in statuses {
            match status {
                ComponentStatus::Repaired | ComponentStatus::Regenerated => repaired = true,
                ComponentStatus::Corrupt | ComponentStatus::Missing => damaged = true,
                ComponentStatus::Failed => failed = true,
                ComponentStatus::Verified | ComponentStatus::Skipped => {}
            }
        }
        if failed {
            FileVerdict::Failed
        } else if damaged {
            FileVerdict::Damaged
        } else if repaired {
            FileVerdict::Repaired
        } else {
            FileVerdict::Verified
        }
    }
}

/// The run's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything verified; nothing needed doing.
    Clean,
    /// Damage was found and all of it repaired.
    Repaired,
    /// Damage remains.
    Damaged,
    /// Nothing found wrong, but not every component was checked (the run stopped first).
    Incomplete,
}

impl Outcome {
    pub fn of(statuses: impl IntoIterator<Item = ComponentStatus>) -> Self {
        match FileVerdict::of(statuses) {
            FileVerdict::Verified => Outcome::Clean,
            FileVerdict::Repaired => Outcome::Repaired,
            FileVerdict::Damaged | FileVerdict::Failed => Outcome::Damaged,
            FileVerdict::Unchecked => Outcome::Incomplete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::*;

    #[test]
    fn file_verdicts() {
        assert_eq!(FileVerdict::of([Verified, Skipped]), FileVerdict::Verified);
        assert_eq!(FileVerdict::of([Verified, Repaired]), FileVerdict::Repaired);
        assert_eq!(FileVerdict::of([Regenerated]), FileVerdict::Repaired);
        assert_eq!(FileVerdict::of([Repaired, Corrupt]), FileVerdict::Damaged);
        assert_eq!(FileVerdict::of([Missing, Failed]), FileVerdict::Failed);
        assert_eq!(Outcome::of([]), Outcome::Clean);
        assert_eq!(Outcome::of([Repaired, Verified]), Outcome::Repaired);
        assert_eq!(Outcome::of([Failed]), Outcome::Damaged);
    }
}
