//! The drive as data: every blob on the drive with its components (blocks, page ranges,
//! properties and metadata files, whole files, and for drives from 2021 on CRC-64 chunks and
//! whole-file checks), the manifest's and the copy log's knowledge merged by (FilePath,
//! Offset, Length), the 2021 logs' by BlobPath, and the tree the console shows.

mod block_ids;
mod build;
mod claims;
mod log_status;
mod status;
pub mod tree;
pub mod v2021;

use serde::{Deserialize, Serialize};

use crate::format::Md5;
use crate::format::manifest::RangeKind;
use crate::format::status::BlobStatus;

pub use block_ids::{BlockIdRef, BlockIds};
pub use build::ModelError;
pub(crate) use build::is_whole_file_failure;
pub use claims::refuse_one_file_claimed_twice;
pub use log_status::LogStatus;
pub use status::{ComponentStatus, FileVerdict, Outcome};
pub use v2021::ExportRecord;

/// The service's logs of a drive, as `Drive::build` takes them.
#[derive(Debug, Clone, Default)]
pub struct Logs {
    /// The copy log of any generation.
    pub copy_log: Option<crate::format::copylog::AnyCopyLog>,
    /// The 2021 verbose log.
    pub verbose_log: Option<crate::format::verbose_log::VerboseLog>,
    /// The drive's id when neither a manifest nor a copy log names it (e.g. the serial
    /// number in a verbose log's file name).
    pub drive_id: Option<String>,
}

impl From<crate::format::copylog::CopyLog> for Logs {
    fn from(log: crate::format::copylog::CopyLog) -> Self {
        Logs {
            copy_log: Some(log.into()),
            ..Logs::default()
        }
    }
}

/// Everything known about one export drive.
#[derive(Debug, Clone)]
pub struct Drive {
    pub drive_id: String,
    pub blobs: Vec<Blob>,
    /// Whether a manifest was given (without one, only the copy log's failures are known).
    pub has_manifest: bool,
    /// Things worth telling the user that are not errors (e.g. DriveIds that differ).
    pub warnings: Vec<String>,
}

/// One blob (or snapshot) and the file on the drive that holds it.
#[derive(Debug, Clone)]
pub struct Blob {
    pub blob_path: String,
    /// Drive-relative, exactly as the manifest (or copy log) spells it.
    pub file_path: String,
    pub snapshot: Option<String>,
    pub length: u64,
    /// Whether a document gave `length` (a manifest's or a copy log's `Length`, a verbose
    /// log's `Size`): a copy-log entry may name none, and its 0 is then unknown.
    pub length_given: bool,
    /// From the copy log: the blob's Last-Modified at export time.
    pub last_modified: Option<String>,
    pub kind: Option<RangeKind>,
    pub in_manifest: bool,
    pub copy_log_status: Option<BlobStatus>,
    pub metadata_path: Option<String>,
    pub properties_path: Option<String>,
    /// Why nothing may be read or written for this entry (an unsafe path, a file another entry
    /// claims too); its components are reported failed with this reason.
    pub refusal: Option<String>,
    /// Data components sorted by offset, then the whole-file check, then the properties and
    /// metadata files.
    pub components: Vec<Component>,
    /// What the 2021-08-01 logs say about the file (ETag, size and CRC-64, copy-log error).
    pub export: Option<Box<ExportRecord>>,
    /// The components' block IDs, end to end (`Blob::block_id` finds one).
    pub block_ids: BlockIds,
}

/// A unit of verification and repair: as small as its facts (48 bytes), since a 20 TB
/// drive has five million of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Byte range in the file (and the blob); 0/0 for properties and metadata files.
    pub offset: u64,
    pub length: u64,
    pub expected_md5: Option<Md5>,
    pub kind: ComponentKind,
    pub copy_log_status: Option<LogStatus>,
    /// Where the block ID is in the blob's `block_ids`.
    pub block_id: Option<BlockIdRef>,
}

/// What a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    Block,
    Page,
    Properties,
    Metadata,
    /// The file as a whole: its length against the blob's (bytes missing at the end, or bytes
    /// past it); for a blob known only from a copy-log failure, its bytes too.
    File,
    /// A range of a file checked by CRC-64 (drives from 2021 on): the unit of a chunk-wise
    /// repair, compared with the same range of the blob.
    Chunk,
    /// A whole file's size and CRC-64, as the 2021 verbose log gives them.
    Crc64,
}

impl ComponentKind {
    /// Properties and metadata files live in their own files.
    pub fn is_side_file(self) -> bool {
        matches!(self, ComponentKind::Properties | ComponentKind::Metadata)
    }

    /// Reads the name `as_str` gives.
    pub fn parse(text: &str) -> Option<Self> {
        [
            ComponentKind::Block,
            ComponentKind::Page,
            ComponentKind::Properties,
            ComponentKind::Metadata,
            ComponentKind::File,
            ComponentKind::Chunk,
            ComponentKind::Crc64,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }

    /// Order within a blob: ranges and chunks, the whole-file checks, properties, metadata.
    pub fn rank(self) -> u8 {
        match self {
            ComponentKind::Block | ComponentKind::Page | ComponentKind::Chunk => 0,
            ComponentKind::File | ComponentKind::Crc64 => 1,
            ComponentKind::Properties => 2,
            ComponentKind::Metadata => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Block => "block",
            ComponentKind::Page => "page",
            ComponentKind::Properties => "properties",
            ComponentKind::Metadata => "metadata",
            ComponentKind::File => "file",
            ComponentKind::Chunk => "chunk",
            ComponentKind::Crc64 => "crc64",
        }
    }
}

/// Whose MD5s the components of a blob carry: "manifest", or "copy log" for a file only the
/// copy log lists.
pub fn hash_source(in_manifest: bool) -> &'static str {
    if in_manifest { "manifest" } else { "copy log" }
}

/// Why bytes that hash to `actual` are corrupt, against the `expected` MD5 (and whether the
/// manifest, not the copy log, gives it).
pub fn md5_differs(actual: Md5, expected: Md5, in_manifest: bool) -> String {
    format!(
        "MD5 is {actual}, the {} expects {expected}",
        hash_source(in_manifest)
    )
}

impl From<RangeKind> for ComponentKind {
    fn from(kind: RangeKind) -> Self {
        match kind {
            RangeKind::Block => ComponentKind::Block,
            RangeKind::Page => ComponentKind::Page,
        }
    }
}

/// Identifies a component: indexes into `Drive::blobs` and `Blob::components`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ComponentId {
    pub blob: u32,
    pub component: u32,
}

impl Drive {
    pub fn component(&self, id: ComponentId) -> &Component {
        &self.blobs[id.blob as usize].components[id.component as usize]
    }

    /// The component that is `blob`'s whole file downloaded whole (see
    /// [`Blob::is_sole_whole_file`]), if it has one.
    pub fn sole_whole_file(&self, blob: u32) -> Option<ComponentId> {
        let of = self.blobs.get(blob as usize)?;
        let component = of
            .components
            .iter()
            .position(|c| of.is_sole_whole_file(c))?;
        Some(ComponentId {
            blob,
            component: component as u32,
        })
    }

    /// Every component with its id, in drive order.
    pub fn components(&self) -> impl Iterator<Item = (ComponentId, &Blob, &Component)> {
        self.blobs.iter().enumerate().flat_map(|(b, blob)| {
            blob.components
                .iter()
                .enumerate()
                .map(move |(c, component)| {
                    (
                        ComponentId {
                            blob: b as u32,
                            component: c as u32,
                        },
                        blob,
                        component,
                    )
                })
        })
    }

    pub fn component_count(&self) -> usize {
        self.blobs.iter().map(|blob| blob.components.len()).sum()
    }

    /// Bytes of block, page and chunk components: what a verification reads.
    pub fn data_bytes(&self) -> u64 {
        self.blobs
            .iter()
            .flat_map(|blob| &blob.components)
            .filter(|component| {
                matches!(
                    component.kind,
                    ComponentKind::Block | ComponentKind::Page | ComponentKind::Chunk
                )
            })
            .map(|component| component.length)
            .fold(0, u64::saturating_add)
    }
}

/// Which of a blob's files a drive path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    Data,
    Properties,
    Metadata,
}

impl FileRole {
    pub fn as_str(self) -> &'static str {
        match self {
            FileRole::Data => "data file",
            FileRole::Properties => "properties file",
            FileRole::Metadata => "metadata file",
        }
    }
}

impl Blob {
    /// The drive paths of the blob's files: its data file, then its side files it has.
    pub fn files(&self) -> impl Iterator<Item = (FileRole, &str)> {
        [
            (FileRole::Data, Some(self.file_path.as_str())),
            (FileRole::Properties, self.properties_path.as_deref()),
            (FileRole::Metadata, self.metadata_path.as_deref()),
        ]
        .into_iter()
        .filter_map(|(role, path)| Some((role, path?)))
    }

    /// A component's block ID, as the manifest or the copy log wrote it.
    pub fn block_id(&self, component: &Component) -> Option<&str> {
        component.block_id.map(|id| self.block_ids.get(id))
    }

    /// The drive path of a component's file: the blob's file, or its side file.
    pub fn component_file_path(&self, component: &Component) -> Option<&str> {
        match component.kind {
            ComponentKind::Properties => self.properties_path.as_deref(),
            ComponentKind::Metadata => self.metadata_path.as_deref(),
            _ => Some(&self.file_path),
        }
    }

    /// The verbose log's CRC-64 of the file, for its whole-file check.
    pub fn expected_crc64(&self, component: &Component) -> Option<u64> {
        match component.kind {
            ComponentKind::Crc64 => Some(self.export.as_deref()?.check?.crc64),
            _ => None,
        }
    }

    /// The blob's bytes a component stands for in totals: its range; for a whole-file
    /// component only when it is the blob's sole data (a copy-log-only download), since a
    /// manifest blob's length check covers bytes its ranges already count.
    pub fn data_bytes_of(&self, component: &Component) -> u64 {
        if self.counts_data(component) {
            component.length
        } else {
            0
        }
    }

    /// Whether a component's bytes count in totals (see [`Blob::data_bytes_of`]).
    pub fn counts_data(&self, component: &Component) -> bool {
        match component.kind {
            ComponentKind::Block | ComponentKind::Page | ComponentKind::Chunk => true,
            _ => self.is_sole_whole_file(component),
        }
    }

    /// Whether a component is the whole file of a blob no range describes, with bytes no
    /// hash covers: one only the copy log lists (its length the storage's, whatever the copy
    /// log's `Length` claims), or a manifest block blob whose BlockList names no block. It is
    /// downloaded whole, never brought to its length with zeros. (A page blob without ranges
    /// holds zeros: its length says it all.)
    pub fn is_sole_whole_file(&self, component: &Component) -> bool {
        let hashless = if self.in_manifest {
            self.kind != Some(RangeKind::Page) && self.length > 0
        } else {
            true
        };
        component.kind == ComponentKind::File
            && hashless
            && !self.components.iter().any(|c| {
                matches!(
                    c.kind,
                    ComponentKind::Block | ComponentKind::Page | ComponentKind::Chunk
                )
            })
    }

    /// Whether a repair writes a component's bytes with nothing to check them against but the
    /// storage (a copy-log range without a hash, a side file no manifest hashes, a file only
    /// the copy log lists downloaded whole): what it wrote is then all a later check can
    /// compare them with.
    pub fn written_unchecked(&self, component: &Component) -> bool {
        match component.kind {
            ComponentKind::Block | ComponentKind::Page => component.expected_md5.is_none(),
            ComponentKind::Properties | ComponentKind::Metadata => component.expected_md5.is_none(),
            _ => self.is_sole_whole_file(component),
        }
    }

    /// Whose MD5s its components carry: "manifest", or "copy log" for a file only the copy
    /// log lists (for messages).
    pub fn hash_source(&self) -> &'static str {
        hash_source(self.in_manifest)
    }

    /// The Length a copy-log-only entry lists (a manifest blob's length is the manifest's).
    pub fn copy_log_length(&self) -> Option<u64> {
        (!self.in_manifest && self.length > 0).then_some(self.length)
    }

    /// The blob's length at the export, when a document to trust gives it: the manifest's
    /// `Length`, or the 2021 verbose log's `Size`. (A copy log's `Length` may lie: the storage's
    /// length is taken over it.)
    pub fn exported_length(&self) -> Option<u64> {
        if self.in_manifest {
            return Some(self.length);
        }
        self.export.as_deref()?.check.map(|check| check.size)
    }

    /// The container: the first segment of the blob path.
    pub fn container(&self) -> &str {
        self.blob_path.split('/').next().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_is_as_small_as_its_facts() {
        assert_eq!(std::mem::size_of::<Component>(), 48);
    }
}
