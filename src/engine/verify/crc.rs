//! The CRC-64 path of verification (drives from 2021 on). A file the verbose log lists is
//! checked by its `Size` and `crc64`: the reader reads it in pieces (its chunks; or, when a
//! manifest's blocks are its components, ranges of the chunk length), a hashing thread takes
//! each piece's CRC-64 as its window arrives, and once the last piece is in, the pieces' CRCs
//! are combined into the whole file's. Only then do the chunks and the whole-file check get
//! their verdicts: a chunk has no CRC of its own to be compared with, so it is right exactly
//! when the whole file is, and a file that differs leaves its chunks unchecked until a repair
//! compares each with the blob.

use std::sync::{Mutex, PoisonError};

use super::Finding;
use crate::format::Crc64;
use crate::model::v2021::{self, WholeFileCheck};
use crate::model::{Blob, ComponentId, ComponentKind, ComponentStatus};
use crate::rooted::FileIdentity;

/// A range of the file whose CRC-64 is taken on its own, and the chunk it is (if the chunk's
/// verdict was asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Piece {
    pub offset: u64,
    pub length: u64,
    pub chunk: Option<u32>,
}

impl Piece {
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// What became of one piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PieceResult {
    Crc(u64),
    /// The file ends before the piece does.
    Missing,
    /// The drive could not read it.
    Unreadable(String),
}

/// One file being checked by CRC-64: its pieces' results as they come in.
#[derive(Debug)]
pub(super) struct CrcFile {
    blob: u32,
    /// The whole-file check's component, when its verdict was asked for.
    whole: Option<u32>,
    expected: WholeFileCheck,
    /// The copy log's category for the file, when it reports one (told with a failing check).
    reported: Option<String>,
    file_length: u64,
    identity: FileIdentity,
    pieces: Vec<Piece>,
    results: Mutex<Results>,
}

#[derive(Debug)]
struct Results {
    of: Vec<Option<PieceResult>>,
    left: usize,
}

impl CrcFile {
    /// The check of `blob` when any of `selected` is one of its chunks or its whole-file
    /// check; every piece of the file is read whatever was selected, since no chunk has a
    /// verdict without the whole file's CRC.
    pub fn new(
        blob_index: u32,
        blob: &Blob,
        selected: &[u32],
        file_length: u64,
        identity: FileIdentity,
    ) -> Option<Self> {
        let expected = blob.export.as_deref()?.check?;
        // Looked up once per chunk: a set, not a scan of `selected` (a file of millions of
        // chunks took minutes).
        let mut chosen = vec![false; blob.components.len()];
        for &c in selected {
            if let Some(slot) = chosen.get_mut(c as usize) {
                *slot = true;
            }
        }
        let is_selected = |c: usize| chosen[c];
        let whole = blob
            .components
            .iter()
            .position(|c| c.kind == ComponentKind::Crc64)
            .filter(|&c| is_selected(c))
            .map(|c| c as u32);
        let chunks: Vec<Piece> = blob
            .components
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kind == ComponentKind::Chunk)
            .map(|(index, c)| Piece {
                offset: c.offset,
                length: c.length,
                chunk: is_selected(index).then_some(index as u32),
            })
            .collect();
        if whole.is_none() && chunks.iter().all(|piece| piece.chunk.is_none()) {
            return None;
        }
        // Without chunk components (a manifest's blocks are the file's units), the file is
        // read in ranges of the chunk length all the same.
        let pieces = if chunks.is_empty() {
            v2021::chunks(expected.size)
                .map(|c| Piece {
                    offset: c.offset,
                    length: c.length,
                    chunk: None,
                })
                .collect()
        } else {
            chunks
        };
        let reported = blob
            .export
            .as_deref()
            .and_then(|record| record.error.as_ref())
            .map(|error| error.category.to_string());
        Some(Self {
            blob: blob_index,
            whole,
            expected,
            reported,
            file_length,
            identity,
            results: Mutex::new(Results {
                of: vec![None; pieces.len()],
                left: pieces.len(),
            }),
            pieces,
        })
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    pub fn file_length(&self) -> u64 {
        self.file_length
    }

    /// Records a piece's result; once it was the last piece, hands each verdict to `emit`
    /// (one at a time: a file of a million chunks has as many).
    pub fn record(&self, piece: usize, result: PieceResult, emit: &mut dyn FnMut(Finding)) {
        let mut results = self.results.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = results.of.get_mut(piece) else {
            return;
        };
        if slot.replace(result).is_none() {
            results.left -= 1;
        }
        if results.left > 0 {
            return;
        }
        let of: Vec<PieceResult> = results.of.iter().flatten().cloned().collect();
        drop(results);
        self.verdicts(&of, emit);
    }

    /// The verdicts of a file with no piece at all (an empty file).
    pub fn verdicts_now(&self, emit: &mut dyn FnMut(Finding)) {
        if self.pieces.is_empty() {
            self.verdicts(&[], emit);
        }
    }

    fn id(&self, component: u32) -> ComponentId {
        ComponentId {
            blob: self.blob,
            component,
        }
    }

    fn verdicts(&self, results: &[PieceResult], emit: &mut dyn FnMut(Finding)) {
        let whole_crc = results
            .iter()
            .zip(&self.pieces)
            .try_fold(0u64, |crc, (result, piece)| match result {
                PieceResult::Crc(piece_crc) => Some(Crc64::combine(crc, *piece_crc, piece.length)),
                _ => None,
            });
        let right = whole_crc == Some(self.expected.crc64);
        let on = Some(self.identity);
        for (piece, result) in self.pieces.iter().zip(results) {
            let Some(chunk) = piece.chunk else { continue };
            let finding = match result {
                // The same words for every chunk past the end (they are kept once).
                PieceResult::Missing => Finding::new(
                    self.id(chunk),
                    ComponentStatus::Missing,
                    Some(format!(
                        "the file is {} bytes long: it ends before this chunk does",
                        self.file_length
                    )),
                ),
                PieceResult::Unreadable(error) => Finding::new(
                    self.id(chunk),
                    ComponentStatus::Corrupt,
                    Some(format!(
                        "read error in this chunk at byte {}: {error}",
                        piece.offset
                    )),
                ),
                PieceResult::Crc(crc) if right => Finding {
                    bytes: piece.length,
                    crc64: super::Crc64s {
                        drive: Some(*crc),
                        storage: None,
                    },
                    ..Finding::new(self.id(chunk), ComponentStatus::Verified, None)
                },
                PieceResult::Crc(crc) => Finding {
                    bytes: piece.length,
                    crc64: super::Crc64s {
                        drive: Some(*crc),
                        storage: None,
                    },
                    ..Finding::new(
                        self.id(chunk),
                        ComponentStatus::Skipped,
                        Some(
                            "not checked on its own: a chunk has no CRC-64 of its own, and the \
                             file's differs; a repair compares each chunk with the blob"
                                .into(),
                        ),
                    )
                },
            };
            emit(finding.on(on));
        }
        if let Some(whole) = self.whole {
            let read: u64 = if self.pieces.iter().any(|p| p.chunk.is_some()) {
                0
            } else {
                self.pieces.iter().map(|p| p.length).sum()
            };
            let (status, reason) = self.whole_verdict(results, whole_crc);
            emit(
                Finding {
                    bytes: read,
                    crc64: super::Crc64s {
                        drive: whole_crc,
                        storage: None,
                    },
                    ..Finding::new(self.id(whole), status, reason)
                }
                .on(on),
            );
        }
    }

    fn whole_verdict(
        &self,
        results: &[PieceResult],
        whole_crc: Option<u64>,
    ) -> (ComponentStatus, Option<String>) {
        let WholeFileCheck { size, crc64 } = self.expected;
        let length = self.file_length;
        let reported = self
            .reported
            .as_deref()
            .map(|category| format!(" (the copy log reports {category})"))
            .unwrap_or_default();
        if let Some((piece, PieceResult::Unreadable(error))) = self
            .pieces
            .iter()
            .zip(results)
            .find(|(_, r)| matches!(r, PieceResult::Unreadable(_)))
        {
            return (
                ComponentStatus::Corrupt,
                Some(format!(
                    "the file could not be read whole (read error at byte {}: {error}){reported}",
                    piece.offset
                )),
            );
        }
        if length < size {
            return (
                ComponentStatus::Missing,
                Some(format!(
                    "the file is {length} bytes long, shorter than the verbose log's Size \
                     {size}{reported}"
                )),
            );
        }
        match whole_crc {
            Some(actual) if actual != crc64 => (
                ComponentStatus::Corrupt,
                Some(format!(
                    "CRC-64 is {actual}, the verbose log says {crc64}{reported}"
                )),
            ),
            _ if length > size => (
                ComponentStatus::Corrupt,
                Some(format!(
                    "bytes past the end: the file is {length} bytes long, {} more than the \
                     verbose log's Size {size}",
                    length - size
                )),
            ),
            _ => (ComponentStatus::Verified, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::v2021::CHUNK_LENGTH;
    use crate::model::{Drive, Logs};

    fn identity() -> FileIdentity {
        FileIdentity {
            length: 0,
            modified_ns: 0,
            inode: 1,
            device: 1,
            changed_ns: Some(0),
        }
    }

    fn blob(data: &[u8]) -> Blob {
        let text = format!(
            "<File CloudFormat=\"BlockBlob\" ETag=\"0x1\" Path=\"c/f\" Size=\"{}\" crc64=\"{}\"/>",
            data.len(),
            Crc64::of(data)
        );
        let log = crate::format::verbose_log::VerboseLog::parse_str(&text).unwrap();
        let logs = Logs {
            verbose_log: Some(log),
            ..Logs::default()
        };
        Drive::build(None, Some(logs)).unwrap().blobs.remove(0)
    }

    fn all(blob: &Blob) -> Vec<u32> {
        (0..blob.components.len() as u32).collect()
    }

    fn feed(file: &CrcFile, data: &[u8]) -> Vec<Finding> {
        let mut findings = Vec::new();
        for (index, piece) in file.pieces().to_vec().iter().enumerate() {
            let result = if piece.end() > data.len() as u64 {
                PieceResult::Missing
            } else {
                PieceResult::Crc(Crc64::of(
                    &data[piece.offset as usize..piece.end() as usize],
                ))
            };
            file.record(index, result, &mut |finding| findings.push(finding));
        }
        findings
    }

    fn statuses(findings: &[Finding]) -> Vec<(u32, ComponentStatus)> {
        let mut statuses: Vec<_> = findings
            .iter()
            .map(|f| (f.id.component, f.status))
            .collect();
        statuses.sort();
        statuses
    }

    #[test]
    fn chunks_are_verified_exactly_when_the_combined_crc_is_the_logs() {
        let data: Vec<u8> = (0..CHUNK_LENGTH + 1000).map(|i| (i % 251) as u8).collect();
        let blob = blob(&data);
        let file = CrcFile::new(0, &blob, &all(&blob), data.len() as u64, identity()).unwrap();
        assert_eq!(file.pieces().len(), 2);
        let findings = feed(&file, &data);
        use ComponentStatus::*;
        assert_eq!(
            statuses(&findings),
            [(0, Verified), (1, Verified), (2, Verified)]
        );
        assert_eq!(findings[2].crc64.drive, Some(Crc64::of(&data)));

        // One byte flipped in the second chunk: the whole check fails and no chunk is called
        // right or wrong on its own.
        let mut damaged = data.clone();
        damaged[CHUNK_LENGTH as usize + 10] ^= 1;
        let file = CrcFile::new(0, &blob, &all(&blob), data.len() as u64, identity()).unwrap();
        let findings = feed(&file, &damaged);
        assert_eq!(
            statuses(&findings),
            [(0, Skipped), (1, Skipped), (2, Corrupt)]
        );
        let reason = findings[2].reason.as_deref().unwrap();
        assert_eq!(
            reason,
            format!(
                "CRC-64 is {}, the verbose log says {}",
                Crc64::of(&damaged),
                Crc64::of(&data)
            )
        );
    }

    #[test]
    fn a_short_file_misses_its_tail_and_a_long_one_has_bytes_past_the_end() {
        let data = vec![b'1'; 4096];
        let blob = blob(&data);
        let file = CrcFile::new(0, &blob, &all(&blob), 100, identity()).unwrap();
        let findings = feed(&file, &data[..100]);
        use ComponentStatus::*;
        assert_eq!(statuses(&findings), [(0, Missing), (1, Missing)]);
        assert!(
            findings[1].reason.as_deref().unwrap().starts_with(
                "the file is 100 bytes long, shorter than the verbose log's Size 4096"
            ),
            "{findings:?}"
        );
        let mut long = data.clone();
        long.extend_from_slice(b"tail");
        let file = CrcFile::new(0, &blob, &all(&blob), long.len() as u64, identity()).unwrap();
        let findings = feed(&file, &long);
        assert_eq!(statuses(&findings), [(0, Verified), (1, Corrupt)]);
        assert!(
            findings[1]
                .reason
                .as_deref()
                .unwrap()
                .starts_with("bytes past the end: the file is 4100 bytes long, 4 more"),
            "{findings:?}"
        );
    }

    #[test]
    fn an_empty_file_is_checked_without_pieces() {
        let blob = blob(b"");
        let file = CrcFile::new(0, &blob, &all(&blob), 0, identity()).unwrap();
        assert!(file.pieces().is_empty());
        let mut findings = Vec::new();
        file.verdicts_now(&mut |finding| findings.push(finding));
        assert_eq!(statuses(&findings), [(0, ComponentStatus::Verified)]);
    }
}
