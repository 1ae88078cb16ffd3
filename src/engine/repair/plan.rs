//! What to download: components grouped into jobs, adjacent ranges of one blob coalesced into
//! larger requests.

use crate::engine::{DownloadPlan, PlannedDownload, PlannedKind};
use crate::model::{Blob, Component, ComponentId, ComponentKind, Drive};
use crate::source::BlobRef;

/// One download (or, for a file's length, one change of size).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Job {
    /// Adjacent data components of one blob, fetched in one request and each checked against
    /// its own hash.
    Ranges { blob: u32, components: Vec<u32> },
    /// A properties or metadata file, regenerated from the blob's properties.
    SideFile { blob: u32, component: u32 },
    /// A blob known only from a copy-log failure: downloaded whole beside its file, checked,
    /// then renamed into place.
    WholeFile { blob: u32, component: u32 },
    /// A file brought to its length, once its ranges are settled: truncated when it holds
    /// bytes past the end (and its ranges are right); when short, a manifest blob's extended,
    /// a copy-log-only blob's completed from the storage (`tail`).
    Length { blob: u32, component: u32 },
    /// A file checked by CRC-64, repaired chunk by chunk: every chunk of the blob and its
    /// whole-file check (`chunks`).
    Chunks { blob: u32, components: Vec<u32> },
    /// The whole-file CRC-64 of a file whose manifest blocks are its repair units, checked
    /// again once they are repaired (after the lengths).
    Recheck { blob: u32, component: u32 },
}

impl Job {
    pub(crate) fn blob(&self) -> u32 {
        match self {
            Job::Ranges { blob, .. }
            | Job::SideFile { blob, .. }
            | Job::WholeFile { blob, .. }
            | Job::Length { blob, .. }
            | Job::Chunks { blob, .. }
            | Job::Recheck { blob, .. } => *blob,
        }
    }

    pub(crate) fn components(&self) -> Vec<u32> {
        match self {
            Job::Ranges { components, .. } | Job::Chunks { components, .. } => components.clone(),
            Job::SideFile { component, .. }
            | Job::WholeFile { component, .. }
            | Job::Length { component, .. }
            | Job::Recheck { component, .. } => vec![*component],
        }
    }

    /// Jobs that run once the rest of the plan is settled (both passes' data: whether a blob
    /// nothing pins is still the exported version may take its file, every block right).
    pub(crate) fn is_deferred(&self) -> bool {
        matches!(
            self,
            Job::Length { .. } | Job::Recheck { .. } | Job::SideFile { .. }
        )
    }

    pub(crate) fn ids(&self) -> Vec<ComponentId> {
        component_ids(self.blob(), &self.components())
    }
}

/// The ids of `components` of `blob`.
pub(crate) fn component_ids(blob: u32, components: &[u32]) -> Vec<ComponentId> {
    components
        .iter()
        .map(|&component| ComponentId { blob, component })
        .collect()
}

/// Whether the copy log says this component must be downloaded again.
pub(crate) fn needs_copy_log_repair(blob: &Blob, component: &Component) -> bool {
    if let Some(status) = &component.copy_log_status
        && !status.is_completed()
    {
        return true;
    }
    // A blob-level failure with no ranges listed: the whole file is suspect.
    let whole_file_failed = blob
        .copy_log_status
        .as_ref()
        .is_some_and(crate::model::is_whole_file_failure);
    whole_file_failed && !blob.in_manifest && !component.kind.is_side_file()
}

/// The chunks and whole-file check of a blob checked by CRC-64 chunk by chunk: what one
/// chunk-wise repair settles. None for a manifest's blob, whose blocks are its repair units
/// (its whole-file check is only checked again); an empty file has no chunk, only its check.
pub(crate) fn chunk_set(blob: &Blob) -> Option<Vec<u32>> {
    if blob.in_manifest {
        return None;
    }
    let set: Vec<u32> = blob
        .components
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.kind, ComponentKind::Chunk | ComponentKind::Crc64))
        .map(|(index, _)| index as u32)
        .collect();
    (!set.is_empty()).then_some(set)
}

/// `ids` with, for every blob repaired chunk by chunk, all its chunks and its whole-file
/// check (one chunk-wise repair settles them all), each once.
pub(crate) fn with_chunk_sets(drive: &Drive, ids: Vec<ComponentId>) -> Vec<ComponentId> {
    let mut blobs: Vec<u32> = ids
        .iter()
        .filter(|id| {
            matches!(
                drive.component(**id).kind,
                ComponentKind::Chunk | ComponentKind::Crc64
            )
        })
        .map(|id| id.blob)
        .collect();
    if blobs.is_empty() {
        return ids;
    }
    blobs.sort_unstable();
    blobs.dedup();
    let mut all = ids;
    for blob in blobs {
        let set = chunk_set(&drive.blobs[blob as usize]).unwrap_or_default();
        all.extend(
            set.into_iter()
                .map(|component| ComponentId { blob, component }),
        );
    }
    all.sort_unstable();
    all.dedup();
    all
}

/// Groups components into downloads: contiguous data components of one blob are coalesced
/// up to `max_request` bytes; side files, whole files and lengths are jobs of their own, and a
/// blob checked by CRC-64 is one chunk-wise job. Components of refused entries, and files the
/// copy log reports for something no download can fix, are never planned.
pub(crate) fn plan_jobs(drive: &Drive, ids: &[ComponentId], max_request: u64) -> Vec<Job> {
    let mut sorted: Vec<ComponentId> = ids
        .iter()
        .copied()
        .filter(|id| drive.blobs[id.blob as usize].refusal.is_none())
        .collect();
    sorted.sort_unstable_by_key(|id| {
        let component = drive.component(*id);
        (
            id.blob,
            component.kind.rank(),
            component.offset,
            id.component,
        )
    });
    sorted.dedup();
    let mut jobs = Vec::new();
    let mut chunked = std::collections::HashSet::new();
    let mut current: Option<(u32, Vec<u32>, u64, u64)> = None; // blob, components, start, end
    for id in sorted {
        let component = drive.component(id);
        let (blob, index) = (id.blob, id.component);
        let single = match component.kind {
            ComponentKind::Block | ComponentKind::Page => None,
            // One chunk-wise job per blob: its set is made once (not once per chunk).
            ComponentKind::Chunk | ComponentKind::Crc64 if chunked.contains(&blob) => continue,
            ComponentKind::Chunk | ComponentKind::Crc64 => {
                match chunk_set(&drive.blobs[blob as usize]) {
                    Some(components) => {
                        chunked.insert(blob);
                        Some(Job::Chunks { blob, components })
                    }
                    None => Some(Job::Recheck {
                        blob,
                        component: index,
                    }),
                }
            }
            ComponentKind::File if reported_only(&drive.blobs[blob as usize]) => continue,
            ComponentKind::Properties | ComponentKind::Metadata => Some(Job::SideFile {
                blob,
                component: index,
            }),
            ComponentKind::File if drive.blobs[blob as usize].is_sole_whole_file(component) => {
                Some(Job::WholeFile {
                    blob,
                    component: index,
                })
            }
            ComponentKind::File => Some(Job::Length {
                blob,
                component: index,
            }),
        };
        if let Some(job) = single {
            if let Some((blob, components, _, _)) = current.take() {
                jobs.push(Job::Ranges { blob, components });
            }
            jobs.push(job);
            continue;
        }
        let end = component.offset + component.length;
        if let Some((current_blob, components, start, current_end)) = current.as_mut()
            && *current_blob == blob
            && *current_end == component.offset
            && end - *start <= max_request
        {
            components.push(index);
            *current_end = end;
            continue;
        }
        if let Some((blob, components, _, _)) = current.take() {
            jobs.push(Job::Ranges { blob, components });
        }
        current = Some((blob, vec![index], component.offset, end));
    }
    if let Some((blob, components, _, _)) = current {
        jobs.push(Job::Ranges { blob, components });
    }
    jobs
}

/// A file the copy log reports for something no download can fix (a rename, a name no file
/// can have).
fn reported_only(blob: &Blob) -> bool {
    blob.export
        .as_deref()
        .is_some_and(|record| record.reported_only(blob).is_some())
}

/// An empty gap between a page blob's data shorter than this is read rather than asked
/// around: one request instead of two costs less than the zeros.
const EMPTY_GAP_READ: u64 = 1024 * 1024;

/// The spans of a blob of `length` bytes a whole download reads: where it holds data (all of
/// it when that is not known), empty gaps shorter than [`EMPTY_GAP_READ`] read with their
/// neighbours rather than asked around.
pub(crate) fn spans_to_read(
    data: Option<Vec<std::ops::Range<u64>>>,
    length: u64,
) -> Vec<std::ops::Range<u64>> {
    let Some(data) = data else {
        return if length == 0 {
            Vec::new()
        } else {
            std::iter::once(0..length).collect()
        };
    };
    let mut spans: Vec<std::ops::Range<u64>> = Vec::with_capacity(data.len());
    for range in data {
        match spans.last_mut() {
            Some(last) if range.start.saturating_sub(last.end) < EMPTY_GAP_READ => {
                last.end = last.end.max(range.end);
            }
            _ => spans.push(range),
        }
    }
    spans
}

/// The requests `jobs` would make, for a dry run's `WouldDownload` event.
/// What a dry run says a repair would download; `refusal` says why a repair would refuse a
/// job before reading it.
pub(crate) fn download_plan(
    drive: &Drive,
    jobs: &[Job],
    source: String,
    missing_end: impl Fn(u32) -> Option<u64>,
    refusal: impl Fn(&Job) -> Option<String>,
) -> DownloadPlan {
    let downloads = jobs
        .iter()
        .filter_map(|job| {
            let blob = &drive.blobs[job.blob() as usize];
            let components: Vec<&Component> = job
                .components()
                .iter()
                .map(|&index| &blob.components[index as usize])
                .collect();
            let (what, offset, length) = match job {
                Job::Ranges { .. } => {
                    let start = components.first().map_or(0, |c| c.offset);
                    let end = components.last().map_or(0, |c| c.offset + c.length);
                    (PlannedKind::Range, start, end - start)
                }
                Job::WholeFile { .. } => (PlannedKind::WholeFile, 0, blob.length),
                Job::Chunks { .. } => (PlannedKind::Chunks, 0, blob.length),
                Job::SideFile { .. } => (PlannedKind::SideFile, 0, 0),
                // A file only the copy log lists, cut short: its missing end, from where it
                // starts (a repair checks first that the storage agrees with the Length).
                Job::Length { blob: index, .. } if let Some(from) = missing_end(*index) => (
                    PlannedKind::MissingEnd,
                    from,
                    blob.length.saturating_sub(from),
                ),
                // Otherwise the copy log's Length, for such a file (a repair checks that the
                // storage agrees).
                Job::Length { .. } => (PlannedKind::Length, 0, blob.copy_log_length().unwrap_or(0)),
                // A recheck reads the drive, not the storage.
                Job::Recheck { .. } => return None,
            };
            let file_path = job_file_path(drive, job);
            Some(PlannedDownload {
                what,
                file_path: file_path.to_string(),
                blob: BlobRef::parse(&blob.blob_path, blob.snapshot.as_deref())
                    .map_or_else(|_| blob.blob_path.clone(), |blob| blob.to_string()),
                offset,
                length,
                refused: refusal(job),
            })
        })
        .collect();
    DownloadPlan { source, downloads }
}

/// The drive file a job writes: the blob's, or a side file's own.
pub(crate) fn job_file_path<'d>(drive: &'d Drive, job: &Job) -> &'d str {
    let blob = &drive.blobs[job.blob() as usize];
    match job {
        Job::SideFile { component, .. } => blob
            .component_file_path(&blob.components[*component as usize])
            .unwrap_or(&blob.file_path),
        _ => &blob.file_path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_download_reads_the_data_and_the_short_gaps_between() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(
            spans_to_read(None, 10),
            Vec::from_iter(std::iter::once(0..10))
        );
        assert_eq!(spans_to_read(None, 0), []);
        assert_eq!(spans_to_read(Some(vec![]), 10 * MIB), []);
        let data = vec![
            0..512,
            MIB + 512..MIB + 1024,
            3 * MIB..4 * MIB,
            4 * MIB..5 * MIB,
        ];
        assert_eq!(
            spans_to_read(Some(data), 10 * MIB),
            [0..512, MIB + 512..MIB + 1024, 3 * MIB..5 * MIB],
            "a gap of a MiB is asked around"
        );
        let close = vec![0..512, MIB + 511..MIB + 1024];
        assert_eq!(
            spans_to_read(Some(close), 10 * MIB),
            Vec::from_iter(std::iter::once(0..MIB + 1024)),
            "a shorter one is read"
        );
    }
    use crate::format::manifest::Manifest;

    fn drive() -> Drive {
        let manifest = Manifest::parse_str(
            r#"<DriveManifest><Drive><DriveId>D</DriveId><BlobList>
<Blob><BlobPath>c/a</BlobPath><FilePath>\c\a</FilePath><Length>40</Length><BlockList>
<Block Offset="0" Length="10" Hash="00000000000000000000000000000000"/>
<Block Offset="10" Length="10" Hash="00000000000000000000000000000000"/>
<Block Offset="20" Length="10" Hash="00000000000000000000000000000000"/>
<Block Offset="30" Length="10" Hash="00000000000000000000000000000000"/></BlockList>
<PropertiesPath Hash="00000000000000000000000000000000">\c\a.properties</PropertiesPath></Blob>
</BlobList></Drive></DriveManifest>"#,
        )
        .unwrap();
        Drive::build(Some(manifest), None).unwrap()
    }

    fn id(component: u32) -> ComponentId {
        ComponentId { blob: 0, component }
    }

    /// A file of a 2021 drive whose verbose log claims 2 TiB (262,145 chunks) is planned as one
    /// chunk-wise job at once.
    ///
    /// Seen failing: the blob's chunk set was gathered once for every chunk: quadratic, 156 s
    /// for 2 TiB, some 10 hours at the 32 TiB a verbose log may claim.
    #[test]
    fn a_file_of_many_chunks_is_one_job_planned_in_one_pass() {
        let log = crate::format::verbose_log::VerboseLog::parse_str(
            r#"<File CloudFormat="PageBlob" ETag="0x8D1" Path="c/p.vhd" Size="2199023255552" crc64="0"></File>"#,
        )
        .unwrap();
        let logs = crate::model::Logs {
            copy_log: None,
            verbose_log: Some(log),
            drive_id: None,
        };
        let drive = Drive::build(None, Some(logs)).unwrap();
        let components = drive.blobs[0].components.len() as u32;
        assert_eq!(components, 262_145);
        let ids: Vec<ComponentId> = (0..components).map(id).collect();
        let jobs = plan_jobs(&drive, &ids, 16 << 20);
        assert!(
            matches!(jobs.as_slice(), [Job::Chunks { components: all, .. }] if all.len() == ids.len()),
            "{} jobs",
            jobs.len()
        );
    }

    #[test]
    fn coalesces_adjacent_ranges_up_to_the_request_size() {
        let drive = drive();
        // Components: four blocks, the length check (4), the properties file (5).
        let jobs = plan_jobs(&drive, &[id(5), id(3), id(0), id(1), id(4)], 20);
        assert_eq!(
            jobs,
            [
                Job::Ranges {
                    blob: 0,
                    components: vec![0, 1]
                },
                Job::Ranges {
                    blob: 0,
                    components: vec![3]
                },
                Job::Length {
                    blob: 0,
                    component: 4
                },
                Job::SideFile {
                    blob: 0,
                    component: 5
                },
            ]
        );
        let jobs = plan_jobs(&drive, &[id(0), id(1), id(2)], 20);
        assert_eq!(jobs.len(), 2, "{jobs:?}");
    }

    #[test]
    fn the_dry_run_plan_names_each_request_and_its_bytes() {
        let drive = drive();
        let jobs = plan_jobs(&drive, &[id(0), id(1), id(3), id(4), id(5)], 20);
        let plan = download_plan(
            &drive,
            &jobs,
            "Azure x".into(),
            |_| None,
            |job| (job.components() == [3]).then(|| "too large".to_string()),
        );
        let shown: Vec<(PlannedKind, &str, u64, u64)> = plan
            .downloads
            .iter()
            .map(|d| (d.what, d.file_path.as_str(), d.offset, d.length))
            .collect();
        assert_eq!(
            shown,
            [
                (PlannedKind::Range, r"\c\a", 0, 20),
                (PlannedKind::Range, r"\c\a", 30, 10),
                (PlannedKind::Length, r"\c\a", 0, 0),
                (PlannedKind::SideFile, r"\c\a.properties", 0, 0),
            ]
        );
        // What a repair would refuse reads nothing.
        assert_eq!(plan.downloads[1].refused.as_deref(), Some("too large"));
        assert_eq!(plan.bytes(), 20);
        assert_eq!(plan.files(), 2);
        assert_eq!(plan.reads().count(), 1);
        assert!(plan.downloads.iter().all(|d| d.blob == "c/a"));
    }

    #[test]
    fn refused_entries_are_never_planned() {
        let mut drive = drive();
        drive.blobs[0].refusal = Some("refused".into());
        assert!(plan_jobs(&drive, &[id(0), id(5)], 20).is_empty());
    }
}
