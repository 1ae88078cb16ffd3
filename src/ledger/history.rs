//! What happened to a component over the run: each verdict, by which work, when; and the
//! three hashes by what they are of.
//!
//! Kept small: a drive where everything is damaged has a million of these. Reasons are
//! shared (one copy of each text) and verify's own words for an MD5 that differs are not kept
//! at all but told again from the hashes they name.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::engine::Work;
use crate::format::Md5;
use crate::model::{ComponentStatus, md5_differs};

use super::human;

/// One verdict in a component's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub status: ComponentStatus,
    /// The work that reached it; none for a verdict taken from the repair file.
    pub work: Option<Work>,
    pub at: OffsetDateTime,
}

/// Why a component has its latest verdict, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reason {
    Text(Arc<str>),
    /// "MD5 is <drive MD5>, the <manifest or copy log> expects <expected MD5>", exactly as
    /// `md5_differs` words it for the hashes kept beside it.
    Md5Differs {
        expected: Md5,
        in_manifest: bool,
    },
}

/// What the ledger keeps about a component beyond its state: only for components whose
/// first verdict was not a plain "verified", so a clean drive costs nothing here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    reason: Option<Reason>,
    /// What the bytes on the drive hash to, as last read.
    pub drive_md5: Option<Md5>,
    /// What the bytes the source gave hash to, as last downloaded.
    pub storage_md5: Option<Md5>,
    /// The CRC-64s of the drive's and the source's bytes (files checked by CRC-64), as last
    /// read or downloaded.
    pub drive_crc64: Option<u64>,
    pub storage_crc64: Option<u64>,
    /// The first verdict, and those after it (most components have one: no allocation).
    first: Step,
    later: Vec<Step>,
}

/// One copy of each reason text, however many components give it.
#[derive(Debug, Default)]
pub(super) struct Reasons(HashSet<Arc<str>>);

impl Reasons {
    fn share(&mut self, text: &str) -> Arc<str> {
        if let Some(kept) = self.0.get(text) {
            return Arc::clone(kept);
        }
        let kept: Arc<str> = Arc::from(text);
        self.0.insert(Arc::clone(&kept));
        kept
    }
}

/// A verdict and what came with it, as the ledger takes it into a component's details.
pub(super) struct Verdict<'a> {
    pub step: Step,
    pub reason: Option<&'a str>,
    pub drive_md5: Option<Md5>,
    pub storage_md5: Option<Md5>,
    pub drive_crc64: Option<u64>,
    pub storage_crc64: Option<u64>,
    /// The MD5 the component is checked against, and whether the manifest gives it.
    pub expected: Option<(Md5, bool)>,
}

impl Details {
    pub(super) fn new(verdict: &Verdict<'_>, reasons: &mut Reasons) -> Self {
        let mut details = Self {
            reason: None,
            drive_md5: None,
            storage_md5: None,
            drive_crc64: None,
            storage_crc64: None,
            first: verdict.step,
            later: Vec::new(),
        };
        details.take(verdict, reasons);
        details
    }

    /// Takes a later verdict (its hashes replace those it has; the others stay).
    pub(super) fn push(&mut self, verdict: &Verdict<'_>, reasons: &mut Reasons) {
        self.later.push(verdict.step);
        self.take(verdict, reasons);
    }

    fn take(&mut self, verdict: &Verdict<'_>, reasons: &mut Reasons) {
        self.drive_md5 = verdict.drive_md5.or(self.drive_md5);
        self.storage_md5 = verdict.storage_md5.or(self.storage_md5);
        self.drive_crc64 = verdict.drive_crc64.or(self.drive_crc64);
        self.storage_crc64 = verdict.storage_crc64.or(self.storage_crc64);
        self.reason = verdict
            .reason
            .map(|text| match (verdict.drive_md5, verdict.expected) {
                (Some(actual), Some((expected, in_manifest)))
                    if text == md5_differs(actual, expected, in_manifest) =>
                {
                    Reason::Md5Differs {
                        expected,
                        in_manifest,
                    }
                }
                _ => Reason::Text(reasons.share(text)),
            });
    }

    /// Why, in words (the latest verdict's).
    pub fn reason(&self) -> Option<Cow<'_, str>> {
        match self.reason.as_ref()? {
            Reason::Text(text) => Some(Cow::Borrowed(text)),
            Reason::Md5Differs {
                expected,
                in_manifest,
            } => Some(Cow::Owned(md5_differs(
                self.drive_md5?,
                *expected,
                *in_manifest,
            ))),
        }
    }

    /// Every verdict, the first first.
    pub fn history(&self) -> impl DoubleEndedIterator<Item = &Step> {
        std::iter::once(&self.first).chain(self.later.iter())
    }

    /// How many verdicts it had.
    pub fn verdicts(&self) -> usize {
        1 + self.later.len()
    }

    /// When a repaired component was verified again, if it was (and nothing came after).
    pub fn verified_again(&self) -> Option<OffsetDateTime> {
        let (last, before) = self.later.split_last()?;
        let repaired_before = std::iter::once(&self.first)
            .chain(before)
            .any(|step| step.status == ComponentStatus::Repaired);
        (last.status == ComponentStatus::Verified && repaired_before).then_some(last.at)
    }

    /// The history in words: `found corrupt → repaired (download) → verified again 14:05:00`.
    pub fn story(&self) -> String {
        let mut repaired = false;
        let mut words = Vec::with_capacity(self.verdicts());
        for (index, step) in self.history().enumerate() {
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
