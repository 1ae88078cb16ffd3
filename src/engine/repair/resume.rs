//! What a rerun may take from the repair file: a verdict is taken only while the component's
//! file is the one it was reached on (same size, modification time, inode and device), and
//! only when the file was last modified in an earlier second than the verdict was recorded
//! (git's racy-clean rule: a change within the same second leaves the time equal). Everything
//! else is verified again; failures are always tried again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::Repairer;
use crate::engine::verify::Finding;
use crate::format::md5::Md5Stream;
use crate::journal::{Entry, EntryState};
use crate::model::{ComponentId, ComponentStatus};
use crate::rooted::FileIdentity;

const NANOS: i64 = 1_000_000_000;

/// What a rerun takes from its repair file.
#[derive(Default)]
pub(super) struct Resumed {
    /// Components the repair file holds a verdict for.
    pub recorded: u64,
    /// Verdicts that still hold.
    pub taken: Vec<Finding>,
    /// Recorded as right, but their files changed since: verified again (the copy log's word
    /// on them is already acted on).
    pub verify_first: HashSet<ComponentId>,
    /// What earlier runs repaired or regenerated among those, and the damage they found: a
    /// verification that finds the same bytes keeps that history, one that finds the damage
    /// gone calls it repaired.
    pub earlier: HashMap<ComponentId, Earlier>,
    /// What earlier runs wrote with nothing but the storage to check it (copy-log ranges
    /// without a hash, files downloaded whole), as written: what a check compares it with.
    pub written_md5s: HashMap<ComponentId, crate::format::Md5>,
    /// Verdicts this run reaches again (damage found or a repair that failed, or right but
    /// its file changed since): taken back in the repair file until it does.
    pub reopened: Vec<ComponentId>,
}

/// Why a repair of an earlier run that this run verified again is still a repair.
const VERIFIED_AGAIN: &str = "repaired in an earlier run; verified again";
/// The same, taken again from the repair file by a later run.
const TAKEN_AGAIN: &str = "repaired in an earlier run; its file is unchanged since";

/// A verdict of an earlier run that a new verification may confirm.
#[derive(Debug, Clone)]
pub(crate) struct Earlier {
    pub status: ComponentStatus,
    pub actual_md5: Option<crate::format::Md5>,
    pub reason: Option<String>,
}

impl Earlier {
    fn of(entry: &Entry, status: ComponentStatus) -> Self {
        Self {
            status,
            actual_md5: entry.actual_md5,
            reason: entry.reason.clone(),
        }
    }

    /// `finding` with the earlier verdict kept when it finds what the earlier run left.
    pub(crate) fn confirm(&self, finding: Finding) -> Finding {
        let same_bytes = finding.actual_md5 == self.actual_md5;
        match (self.status, finding.status) {
            (ComponentStatus::Repaired, ComponentStatus::Verified) => Finding {
                status: ComponentStatus::Repaired,
                reason: Some(VERIFIED_AGAIN.into()),
                ..finding
            },
            // Damage an earlier run found that is right now was mended meanwhile: by a write
            // that run did not live to record, or with another component's (a file's length,
            // set by its blocks). One run would have called it repaired.
            (found, ComponentStatus::Verified) if found.is_damage() => Finding {
                status: ComponentStatus::Repaired,
                reason: Some(format!(
                    "found {} by an earlier run; verified now",
                    found.as_str()
                )),
                ..finding
            },
            (ComponentStatus::Regenerated, ComponentStatus::Corrupt) if same_bytes => Finding {
                status: ComponentStatus::Regenerated,
                reason: self.reason.clone(),
                ..finding
            },
            _ => finding,
        }
    }
}

impl Repairer {
    /// What the repair file says: the verdicts taken from it, and the components it recorded
    /// as right whose files changed since (verified again before anything is downloaded).
    pub(super) async fn resume(self: Arc<Self>, entries: Vec<Entry>) -> Resumed {
        if entries.is_empty() {
            return Resumed::default();
        }
        if !self.options.dry_run {
            let this = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || this.remove_stale_temporaries()).await;
        }
        let recorded = entries.len() as u64;
        let this = Arc::clone(&self);
        let resumed = tokio::task::spawn_blocking(move || this.trusted(entries))
            .await
            .unwrap_or_default();
        if !self.options.dry_run
            && let Err(error) = self.journal.reopen(resumed.reopened.clone()).await
        {
            self.journal_failed(error).await;
        }
        Resumed {
            recorded,
            ..resumed
        }
    }

    fn trusted(&self, entries: Vec<Entry>) -> Resumed {
        let mut identities: HashMap<String, Option<FileIdentity>> = HashMap::new();
        let mut resumed = Resumed::default();
        for entry in entries {
            // What a repair last wrote, whatever became of it since (damage found, a repair
            // that failed or was cut short): what a check compares those bytes with.
            let blob = &self.drive.blobs[entry.id.blob as usize];
            let component = self.drive.component(entry.id);
            if let Some(md5) = entry.written_md5
                && blob.written_unchecked(component)
            {
                resumed.written_md5s.insert(entry.id, md5);
            }
            // Taken back by a run that stopped before it looked again: looked at first.
            let (status, reopened) = match entry.state {
                EntryState::Done(status) => (status, false),
                EntryState::Reopened(status) => (status, true),
                EntryState::InFlight => continue,
            };
            // Damage (found, or a repair that failed) is looked at again.
            if status.is_damage() || blob.refusal.is_some() {
                resumed.reopened.push(entry.id);
                if status.is_damage() {
                    resumed
                        .earlier
                        .insert(entry.id, Earlier::of(&entry, status));
                }
                continue;
            }
            let file_path = blob
                .component_file_path(component)
                .unwrap_or(&blob.file_path);
            let now = *identities
                .entry(file_path.to_string())
                .or_insert_with(|| self.identity_now(file_path));
            if reopened
                || !unchanged(entry.identity, now, entry.recorded_ns)
                    && !self.same_whole_download(&entry, now)
            {
                resumed.verify_first.insert(entry.id);
                resumed.reopened.push(entry.id);
                if matches!(
                    status,
                    ComponentStatus::Repaired | ComponentStatus::Regenerated
                ) {
                    resumed
                        .earlier
                        .insert(entry.id, Earlier::of(&entry, status));
                }
                continue;
            }
            // Taken as it is: a reason that told of that run's verification does not tell of
            // this one's.
            let mut taken = Finding::recorded(entry, status);
            if taken.reason.as_deref() == Some(VERIFIED_AGAIN) {
                taken.reason = Some(TAKEN_AGAIN.into());
            }
            resumed.taken.push(taken);
        }
        resumed
    }

    /// A run killed mid-download leaves its temporary beside the file: removed before anything
    /// else, in every folder the drive's files live in.
    fn remove_stale_temporaries(&self) {
        let mut folders = HashSet::new();
        for blob in &self.drive.blobs {
            if blob.refusal.is_some() {
                continue;
            }
            let paths = [
                Some(blob.file_path.as_str()),
                blob.properties_path.as_deref(),
                blob.metadata_path.as_deref(),
            ];
            for path in paths.into_iter().flatten() {
                let Ok(key) = crate::format::drive_path::claim_key(path) else {
                    continue;
                };
                let folder = key.rsplit_once('/').map_or("", |(folder, _)| folder);
                if folders.insert(folder.to_string())
                    && let Ok(located) = self.root.locate_file_path(path)
                {
                    let _ = located.remove_stale_temporaries();
                }
            }
        }
    }

    /// A whole file an earlier run downloaded (a copy-log-only entry, which no check of
    /// the drive can prove) whose verdict was recorded in the second it was last written: the
    /// time cannot tell a later change, its bytes can. Taken when the file is the same one and
    /// still hashes to what was recorded.
    fn same_whole_download(&self, entry: &Entry, now: Option<FileIdentity>) -> bool {
        let blob = &self.drive.blobs[entry.id.blob as usize];
        let component = self.drive.component(entry.id);
        let (Some(recorded), Some(now)) = (entry.actual_md5, now) else {
            return false;
        };
        // A repair file from before change times were recorded has none: the bytes decide.
        let same_file = entry.identity.is_some_and(|then| {
            FileIdentity {
                changed_ns: then.changed_ns.or(now.changed_ns),
                ..then
            } == now
        });
        if !blob.is_sole_whole_file(component) || !same_file {
            return false;
        }
        let hashed = self
            .root
            .locate_file_path(&blob.file_path)
            .ok()
            .and_then(|located| located.open_read().ok())
            .and_then(|file| Md5Stream::of_reader(file).ok());
        hashed == Some(recorded)
    }

    fn identity_now(&self, file_path: &str) -> Option<FileIdentity> {
        let located = self.root.locate_file_path(file_path).ok()?;
        let file = located.open_read().ok()?;
        FileIdentity::of(&file).ok()
    }
}

/// Whether a verdict recorded at `recorded_ns` on a file that was `then` still holds for the
/// file as it is `now`.
fn unchanged(
    then: Option<FileIdentity>,
    now: Option<FileIdentity>,
    recorded_ns: Option<i64>,
) -> bool {
    match (then, now, recorded_ns) {
        (Some(then), Some(now), Some(recorded_ns)) => {
            then == now && now.modified_ns.div_euclid(NANOS) < recorded_ns.div_euclid(NANOS)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(modified_ns: i64) -> FileIdentity {
        FileIdentity {
            length: 10,
            modified_ns,
            inode: 7,
            device: 1,
            changed_ns: Some(modified_ns),
        }
    }

    #[test]
    fn trusts_only_an_unchanged_file_modified_in_an_earlier_second() {
        let recorded = 100 * NANOS + 5;
        let old = identity(99 * NANOS + 999);
        assert!(unchanged(Some(old), Some(old), Some(recorded)));
        // Modified within the second the verdict was recorded: racy, checked again.
        let racy = identity(100 * NANOS);
        assert!(!unchanged(Some(racy), Some(racy), Some(recorded)));
        let other_inode = FileIdentity { inode: 8, ..old };
        assert!(!unchanged(Some(old), Some(other_inode), Some(recorded)));
        let longer = FileIdentity { length: 11, ..old };
        assert!(!unchanged(Some(old), Some(longer), Some(recorded)));
        // Written since and its modification time set back: the change time tells.
        let set_back = FileIdentity {
            changed_ns: Some(200 * NANOS),
            ..old
        };
        assert!(!unchanged(Some(old), Some(set_back), Some(recorded)));
        let recorded_before_change_times = FileIdentity {
            changed_ns: None,
            ..old
        };
        assert!(!unchanged(
            Some(recorded_before_change_times),
            Some(old),
            Some(recorded)
        ));
        assert!(!unchanged(Some(old), None, Some(recorded)), "deleted since");
        assert!(
            !unchanged(None, Some(old), Some(recorded)),
            "recorded without identity"
        );
    }
}
