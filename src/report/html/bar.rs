//! A file's components as one horizontal bar in offset order (bytes to scale), then a small
//! square per properties/metadata file or length check.

use crate::ledger::human::bytes as human_bytes;
use crate::model::{ComponentKind, ComponentStatus};

use super::super::{ComponentReport, FileReport};
use super::status::{class, label, label_or_unlisted, worst};

/// Most segments one file's bar is drawn with; more are merged, the worst status winning.
const BAR_SEGMENTS: usize = 120;

/// What the bar shows; no segments: the file holds no data bytes.
pub struct FileBar {
    pub segments: Vec<Segment>,
    pub marks: Vec<SideMark>,
}

/// A run of bytes of one status (`None`: bytes no component covers), as wide as its bytes.
pub struct Segment {
    pub class: &'static str,
    pub bytes: u64,
    pub label: &'static str,
    pub size: String,
}

/// A component that is not a byte range of the file: a letter in its status's colour.
pub struct SideMark {
    pub class: &'static str,
    pub letter: char,
    pub what: &'static str,
    pub label: &'static str,
}

/// Whether a file lists blocks, page ranges or chunks.
pub fn has_ranges(file: &FileReport) -> bool {
    file.components.iter().any(|c| {
        matches!(
            c.kind,
            ComponentKind::Block | ComponentKind::Page | ComponentKind::Chunk
        )
    })
}

/// Whether a component is drawn as the bytes it covers: blocks, page ranges and chunks, and
/// the whole-file component of a file that lists no ranges. The others (properties and
/// metadata files, a length check beside listed ranges) are marks beside the bar.
pub fn spans_bytes(file_has_ranges: bool, component: &ComponentReport) -> bool {
    match component.kind {
        ComponentKind::Block | ComponentKind::Page | ComponentKind::Chunk => true,
        ComponentKind::File | ComponentKind::Crc64 => !file_has_ranges,
        ComponentKind::Properties | ComponentKind::Metadata => false,
    }
}

impl FileBar {
    pub fn of(file: &FileReport) -> Self {
        let mut segments: Vec<(Option<ComponentStatus>, u64)> = Vec::new();
        let mut push = |status: Option<ComponentStatus>, bytes: u64| {
            if bytes == 0 {
                return;
            }
            match segments.last_mut() {
                Some((last, length)) if *last == status => *length += bytes,
                _ => segments.push((status, bytes)),
            }
        };
        let mut position = 0u64;
        let ranged = has_ranges(file);
        let (mut data, marks): (Vec<&ComponentReport>, Vec<&ComponentReport>) =
            file.components.iter().partition(|c| spans_bytes(ranged, c));
        data.sort_by_key(|c| c.offset);
        for component in data {
            let start = component.offset.min(file.length).max(position);
            let end = (component.offset + component.length).min(file.length);
            if start > position {
                push(None, start - position);
            }
            if end > start {
                push(Some(component.status), end - start);
                position = end;
            }
        }
        if file.length > position {
            push(None, file.length - position);
        }
        Self {
            segments: merge_segments(segments, BAR_SEGMENTS)
                .into_iter()
                .map(|(status, bytes)| Segment {
                    class: class(status),
                    bytes,
                    label: label_or_unlisted(status),
                    size: human_bytes(bytes),
                })
                .collect(),
            marks: marks
                .into_iter()
                .map(|mark| {
                    let (letter, what) = match mark.kind {
                        ComponentKind::Properties => ('P', "properties file"),
                        ComponentKind::Metadata => ('M', "metadata file"),
                        _ => ('L', "file length"),
                    };
                    SideMark {
                        class: class(Some(mark.status)),
                        letter,
                        what,
                        label: label(mark.status),
                    }
                })
                .collect(),
        }
    }
}

/// Merges neighbouring segments until at most `max` remain; a merged segment takes the
/// worst status of what it covers, so damage never disappears from the picture.
fn merge_segments(
    segments: Vec<(Option<ComponentStatus>, u64)>,
    max: usize,
) -> Vec<(Option<ComponentStatus>, u64)> {
    if segments.len() <= max {
        return segments;
    }
    let total: u64 = segments
        .iter()
        .map(|(_, bytes)| *bytes)
        .fold(0, u64::saturating_add);
    let bucket = total.div_ceil(max as u64).max(1);
    let mut out: Vec<(Option<ComponentStatus>, u64)> = Vec::new();
    let mut current: Option<(Option<ComponentStatus>, u64)> = None;
    for (status, bytes) in segments {
        let (worst_status, length) = current.get_or_insert((status, 0));
        *worst_status = worst(*worst_status, status);
        *length += bytes;
        if *length >= bucket {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_the_worst_status_and_every_byte() {
        let mut segments = Vec::new();
        for i in 0..1000u64 {
            let status = if i == 517 {
                ComponentStatus::Failed
            } else if i % 2 == 0 {
                ComponentStatus::Verified
            } else {
                ComponentStatus::Repaired
            };
            segments.push((Some(status), 10));
        }
        let merged = merge_segments(segments, 50);
        assert!(merged.len() <= 50, "{}", merged.len());
        assert_eq!(merged.iter().map(|(_, b)| b).sum::<u64>(), 10_000);
        assert_eq!(
            merged
                .iter()
                .filter(|(s, _)| *s == Some(ComponentStatus::Failed))
                .count(),
            1
        );
    }
}
