//! Folding one event into the ledger.

use crate::engine::{Activity, ComponentEvent, Event, Work};
use crate::model::{ComponentId, ComponentKind, ComponentStatus};

use super::history::Verdict;
use super::{Details, Ending, Ledger, Resumed, RunFacts, Step, activity_index, status_index};

impl Ledger {
    /// Takes one event into account. Events that name components this drive does not have
    /// are ignored.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                mode,
                started,
                target,
                source,
                repair_file,
                ..
            } => {
                self.run = Some(RunFacts {
                    mode: *mode,
                    started: *started,
                    target: target.clone(),
                    source: source.clone(),
                    repair_file: repair_file.clone(),
                });
            }
            Event::Warning { message } => self.warnings.push(message.clone()),
            // Said as it happens; the verdict says how the download ended.
            Event::WaitingForStorage { .. } => {}
            Event::CredentialsRefused {
                message,
                credentials,
            } => {
                self.warnings.push(message.clone());
                self.awaiting_credentials = Some(*credentials);
            }
            Event::SourceChanged { source } => {
                self.awaiting_credentials = None;
                if let Some(run) = &mut self.run {
                    run.source = Some(source.clone());
                }
            }
            Event::Resumed {
                components,
                repaired,
                verified,
                checked_again,
            } => {
                self.resumed = Some(Resumed {
                    components: *components,
                    repaired: *repaired,
                    verified: *verified,
                    checked_again: *checked_again,
                });
            }
            Event::Planned {
                work,
                components,
                bytes,
            } => {
                let progression = self.progression(*work);
                progression.components_total += components;
                progression.bytes_total = progression.bytes_total.saturating_add(*bytes);
                self.idle = false;
            }
            Event::Working {
                blob,
                components,
                activity,
            } => {
                for &component in components {
                    let id = ComponentId {
                        blob: *blob,
                        component,
                    };
                    // A download started again counts its bytes from nothing again; one found
                    // unneeded, then needed after all, is in the total again.
                    if *activity == Activity::Downloading {
                        if let Some(counted) = self.in_transit.remove(&id) {
                            self.download.bytes_done =
                                self.download.bytes_done.saturating_sub(counted);
                        }
                        if self.unneeded.remove(&id) {
                            let bytes = self.data_bytes(id);
                            self.download.bytes_total =
                                self.download.bytes_total.saturating_add(bytes);
                        }
                        if let Some(empty) = self.empty_pages.remove(&id) {
                            self.download.bytes_total =
                                self.download.bytes_total.saturating_add(empty);
                        }
                    }
                    self.set_activity(id, Some(*activity));
                }
                self.idle = false;
            }
            Event::StorageLength { id, length } => self.learn_length(*id, *length),
            Event::Transferred { id, bytes } => self.transferred(*id, *bytes),
            Event::DownloadUnneeded { id } => self.download_unneeded(*id),
            Event::EmptyPages { id, bytes } => self.empty_pages(*id, *bytes),
            Event::StorageUnreachable { components, .. } => {
                self.unreachable.extend(components.iter().copied());
            }
            Event::Component(verdict) => self.verdict(verdict),
            Event::Progress(progress) => {
                self.verify.bytes_per_second = progress.verify.bytes_per_second;
                self.verify.eta_seconds = progress.verify.eta_seconds;
                self.download.bytes_per_second = progress.download.bytes_per_second;
                self.download.eta_seconds = progress.download.eta_seconds;
                self.active_seconds = self.active_seconds.max(progress.active_seconds);
            }
            // A dry run's plan is for the reader of the run's end, not a fact about components.
            Event::WouldDownload(_) => {}
            Event::Paused => self.paused = true,
            Event::Continued => self.paused = false,
            Event::Stopping => self.stopping = true,
            Event::Idle { active_seconds, .. } => {
                self.idle = true;
                self.active_seconds = self.active_seconds.max(*active_seconds);
                self.clear_activity();
            }
            Event::RunFinished {
                finished,
                interrupted,
                active_seconds,
                repair_file_error,
                ..
            } => {
                self.ending = Some(Ending {
                    at: *finished,
                    interrupted: *interrupted,
                });
                self.repair_file_error.clone_from(repair_file_error);
                self.idle = false;
                self.paused = false;
                self.active_seconds = self.active_seconds.max(*active_seconds);
                self.clear_activity();
            }
        }
    }

    fn progression(&mut self, work: Work) -> &mut crate::engine::Progression {
        match work {
            Work::Verify => &mut self.verify,
            Work::Download => &mut self.download,
        }
    }

    fn set_activity(&mut self, id: ComponentId, activity: Option<Activity>) {
        let Some(index) = self.index(id) else {
            return;
        };
        let record = &mut self.records[index];
        let tally = &mut self.blobs[id.blob as usize];
        if let Some(before) = record.activity {
            tally.by_activity[activity_index(before)] -= 1;
            self.by_activity[activity_index(before)] -= 1;
        }
        if let Some(after) = activity {
            tally.by_activity[activity_index(after)] += 1;
            self.by_activity[activity_index(after)] += 1;
            if after == Activity::Downloading {
                record.downloads = record.downloads.saturating_add(1);
            }
        }
        record.activity = activity;
    }

    fn clear_activity(&mut self) {
        for record in &mut self.records {
            record.activity = None;
        }
        for tally in &mut self.blobs {
            tally.by_activity = [0; 3];
        }
        self.by_activity = [0; 3];
        self.unneeded.clear();
    }

    fn verdict(&mut self, event: &ComponentEvent) {
        // A new verdict says why on its own (a `storage_unreachable` follows it if it must).
        self.unreachable.remove(&event.id);
        let id = event.id;
        let Some(index) = self.index(id) else {
            return;
        };
        // A verdict tells a length only when it is not the drive's description (a file the
        // copy log alone lists, downloaded or proven whole); a failure keeps what was learned.
        if event.length != self.drive.component(id).length {
            self.learn_length(id, event.length);
        }
        let bytes = self.data_bytes(id);
        self.bytes_moved = self.bytes_moved.saturating_add(event.bytes);
        let record = self.records[index];
        // The work that reached the verdict is the work the component was going through.
        let work = work_of(record.activity);
        // Bytes written before the verdict were counted as they came; empty pages left the
        // total when they were known: neither is counted again.
        let counted = self
            .in_transit
            .remove(&id)
            .unwrap_or(0)
            .saturating_add(self.empty_pages.remove(&id).unwrap_or(0));
        let left_the_total = self.unneeded.remove(&id);
        if let Some(work) = work {
            let progression = self.progression(work);
            progression.components_done += 1;
            match work {
                Work::Verify => {
                    progression.bytes_done = progression.bytes_done.saturating_add(bytes)
                }
                // Told unneeded before: already out of the total.
                Work::Download if left_the_total => {}
                // A download that did not bring its bytes (it failed, or its bytes were found
                // right on the drive after it failed), or none that was needed (a chunk the
                // repair file already proves, never read): they leave the total rather than
                // count as downloaded.
                Work::Download
                    if !event.status.is_right()
                        || record.downloads == 0
                        || proven_on_drive(event) =>
                {
                    let missed = bytes.saturating_sub(counted);
                    progression.bytes_total = progression.bytes_total.saturating_sub(missed);
                }
                Work::Download => {
                    let rest = bytes.saturating_sub(counted);
                    progression.bytes_done = progression.bytes_done.saturating_add(rest);
                }
            }
        }
        self.set_activity(id, None);
        let failed_download =
            work == Some(Work::Download) && event.status == ComponentStatus::Failed;
        match (record.failed_download, failed_download) {
            (false, true) => self.failed_downloads += 1,
            (true, false) => self.failed_downloads -= 1,
            _ => {}
        }
        self.records[index].failed_download = failed_download;
        let repaired = record.repaired || event.status == ComponentStatus::Repaired;
        // A repair stays a repair when a later look finds nothing wrong.
        let shown = match record.repaired {
            true => event.status.after_repair(),
            false => event.status,
        };
        self.show(id, index, record.status, shown, bytes);
        self.records[index].repaired = repaired;
        // A plain "verified" needs no details (a million of them must stay small); one that
        // says why it is right keeps its reason.
        let kept = self.details_of.get(&id).copied();
        let plain = event.status == ComponentStatus::Verified
            && event.reason.is_none()
            && !record.repaired
            && kept.is_none();
        if plain || !self.keeps_details {
            return;
        }
        let blob = &self.drive.blobs[id.blob as usize];
        let verdict = Verdict {
            step: Step {
                status: event.status,
                work,
                at: event.at,
            },
            reason: event.reason.as_deref(),
            drive_md5: event.drive_md5,
            storage_md5: event.storage_md5,
            drive_crc64: event.drive_crc64,
            storage_crc64: event.storage_crc64,
            expected: self
                .drive
                .component(id)
                .expected_md5
                .map(|md5| (md5, blob.in_manifest)),
        };
        match kept {
            Some(kept) => self.details[kept].push(&verdict, &mut self.reasons),
            None => {
                self.details_of.insert(id, self.details.len());
                self.details.push(Details::new(&verdict, &mut self.reasons));
            }
        }
    }

    /// A component planned for download needs none: its bytes leave the total now, not at
    /// its verdict, so the time left counts only what will be read.
    fn download_unneeded(&mut self, id: ComponentId) {
        let Some(index) = self.index(id) else {
            return;
        };
        if work_of(self.records[index].activity) != Some(Work::Download)
            || self.in_transit.contains_key(&id)
            || !self.unneeded.insert(id)
        {
            return;
        }
        let bytes = self.data_bytes(id);
        self.download.bytes_total = self.download.bytes_total.saturating_sub(bytes);
    }

    /// Bytes of a component's download that lie in empty pages: they leave the total now, so
    /// that the time left counts only what will be read.
    fn empty_pages(&mut self, id: ComponentId, bytes: u64) {
        let Some(index) = self.index(id) else {
            return;
        };
        if work_of(self.records[index].activity) != Some(Work::Download) {
            return;
        }
        self.download.bytes_total = self.download.bytes_total.saturating_sub(bytes);
        let left = self.empty_pages.entry(id).or_default();
        *left = left.saturating_add(bytes);
    }

    /// Bytes of a component's download that came before its verdict: done from here.
    fn transferred(&mut self, id: ComponentId, bytes: u64) {
        let Some(index) = self.index(id) else {
            return;
        };
        if work_of(self.records[index].activity) != Some(Work::Download) {
            return;
        }
        self.download.bytes_done = self.download.bytes_done.saturating_add(bytes);
        let counted = self.in_transit.entry(id).or_default();
        *counted = counted.saturating_add(bytes);
    }

    /// Takes the length the storage gave for a file only the copy log lists (the copy log's
    /// `Length` may lie): the bytes it stands for move to it in every count they are in.
    /// Lengths of anything else are the drive's description, not news.
    fn learn_length(&mut self, id: ComponentId, length: u64) {
        let Some(index) = self.index(id) else {
            return;
        };
        let blob = &self.drive.blobs[id.blob as usize];
        if !blob.is_sole_whole_file(&blob.components[id.component as usize])
            || length == self.length(id)
        {
            return;
        }
        let before = self.data_bytes(id);
        self.storage_lengths.insert(id, length);
        let after = self.data_bytes(id);
        let record = self.records[index];
        let settled = match record.status {
            Some(status) => &mut self.by_status[status_index(status)],
            None => &mut self.unsettled,
        };
        settled.bytes = settled.bytes.saturating_sub(before).saturating_add(after);
        if let Some(work) = work_of(record.activity) {
            let progression = self.progression(work);
            progression.bytes_total = progression
                .bytes_total
                .saturating_sub(before)
                .saturating_add(after);
        }
    }

    /// Moves a component's shown verdict from `before` to `after` in every count.
    fn show(
        &mut self,
        id: ComponentId,
        index: usize,
        before: Option<ComponentStatus>,
        after: ComponentStatus,
        bytes: u64,
    ) {
        let tally = &mut self.blobs[id.blob as usize];
        match before {
            Some(before) => {
                tally.by_status[status_index(before)] -= 1;
                let total = &mut self.by_status[status_index(before)];
                total.components -= 1;
                total.bytes = total.bytes.saturating_sub(bytes);
            }
            None => {
                self.unsettled.components -= 1;
                self.unsettled.bytes = self.unsettled.bytes.saturating_sub(bytes);
            }
        }
        tally.by_status[status_index(after)] += 1;
        let total = &mut self.by_status[status_index(after)];
        total.components += 1;
        total.bytes = total.bytes.saturating_add(bytes);
        self.records[index].status = Some(after);
    }
}

/// The work a component going through `activity` is part of.
fn work_of(activity: Option<Activity>) -> Option<Work> {
    match activity {
        Some(Activity::Verifying) => Some(Work::Verify),
        Some(Activity::Queued | Activity::Downloading) => Some(Work::Download),
        None => None,
    }
}

/// A range or side file verified while it was being downloaded: its download failed and the
/// drive's bytes proved right (a download that succeeds repairs); it brought no bytes.
fn proven_on_drive(event: &ComponentEvent) -> bool {
    event.status == ComponentStatus::Verified
        && matches!(
            event.kind,
            ComponentKind::Block
                | ComponentKind::Page
                | ComponentKind::Properties
                | ComponentKind::Metadata
        )
}
