//! What happened to a component over the run: each verdict, by which work, when; and the
//! three hashes by what they are of.

use time::OffsetDateTime;

use crate::engine::Work;
use crate::format::Md5;
use crate::model::ComponentStatus;

use super::human;

/// One verdict in a component's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub status: ComponentStatus,
    /// The work that reached it; none for a verdict taken from the repair file.
    pub work: Option<Work>,
    pub at: OffsetDateTime,
}

/// What the ledger keeps about a component beyond its state: only for components whose
/// first verdict was not a plain "verified", so a clean drive costs nothing here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// Why, in words (the latest verdict's).
    pub reason: Option<String>,
    /// What the bytes on the drive hash to, as last read.
    pub drive_md5: Option<Md5>,
    /// What the bytes the source gave hash to, as last downloaded.
    pub storage_md5: Option<Md5>,
    pub history: Vec<Step>,
}

impl Details {
    /// When a repaired component was verified again, if it was (and nothing came after).
    pub fn verified_again(&self) -> Option<OffsetDateTime> {
        let last = self.history.last()?;
        let repaired_before = self.history[..self.history.len() - 1]
            .iter()
            .any(|step| step.status == ComponentStatus::Repaired);
        (last.status == ComponentStatus::Verified && repaired_before).then_some(last.at)
    }

    /// The history in words: `found corrupt → repaired (download) → verified again 14:05:00`.
    pub fn story(&self) -> String {
        let mut repaired = false;
        let mut words = Vec::with_capacity(self.history.len());
        for (index, step) in self.history.iter().enumerate() {
            let when = human::clock(step.at);
            let word = match (step.status, step.work) {
                (_, None) => format!("{} (repair file)", step.status.as_str()),
                (ComponentStatus::Verified, _) if repaired => format!("verified again {when}"),
                (status, Some(crate::engine::Work::Verify)) if status.is_damage() && index == 0 => {
                    format!("found {} {when}", status.as_str())
                }
                (status, Some(crate::engine::Work::Verify)) if status.is_damage() => {
                    format!("found {} again {when}", status.as_str())
                }
                (status, _) => format!("{} {when}", status.as_str()),
            };
            repaired |= step.status == ComponentStatus::Repaired;
            words.push(word);
        }
        words.join(" → ")
    }
}
