//! The drive as data: every blob on the drive with its components (blocks, page ranges,
//! properties and metadata files, whole files), the manifest's and the copy log's knowledge
//! merged by (FilePath, Offset, Length), and the tree the console shows.

mod build;
mod status;
pub mod tree;

use serde::{Deserialize, Serialize};

use crate::format::Md5;
use crate::format::manifest::RangeKind;
use crate::format::status::{BlobStatus, FileStatus, RangeStatus};

pub use build::ModelError;
pub(crate) use build::is_whole_file_failure;
pub use status::{ComponentStatus, FileVerdict, Outcome};

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
    /// From the copy log: the blob's Last-Modified at export time.
    pub last_modified: Option<String>,
    pub kind: Option<RangeKind>,
    pub in_manifest: bool,
    pub copy_log_status: Option<BlobStatus>,
    pub metadata_path: Option<String>,
    pub properties_path: Option<String>,
    /// Data components sorted by offset, then the properties and metadata files.
    pub components: Vec<Component>,
}

/// A unit of verification and repair.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub kind: ComponentKind,
    /// Byte range in the file (and the blob); 0/0 for properties and metadata files.
    pub offset: u64,
    pub length: u64,
    pub expected_md5: Option<Md5>,
    pub block_id: Option<Box<str>>,
    pub copy_log_status: Option<LogStatus>,
}

/// What a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    Block,
    Page,
    Properties,
    Metadata,
    /// A whole file known only from a copy-log failure, with no ranges listed.
    File,
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
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }

    /// Order within a blob: ranges, the whole-file check, properties, metadata.
    pub fn rank(self) -> u8 {
        match self {
            ComponentKind::Block | ComponentKind::Page => 0,
            ComponentKind::File => 1,
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
        }
    }
}

impl From<RangeKind> for ComponentKind {
    fn from(kind: RangeKind) -> Self {
        match kind {
            RangeKind::Block => ComponentKind::Block,
            RangeKind::Page => ComponentKind::Page,
        }
    }
}

/// The copy log's status for a component, in the vocabulary of its element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogStatus {
    Range(RangeStatus),
    File(FileStatus),
    Blob(BlobStatus),
}

impl LogStatus {
    pub fn is_completed(&self) -> bool {
        self.as_str() == "Completed"
    }

    pub fn as_str(&self) -> &str {
        match self {
            LogStatus::Range(status) => status.as_str(),
            LogStatus::File(status) => status.as_str(),
            LogStatus::Blob(status) => status.as_str(),
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

    /// Bytes of block and page components: what a verification reads.
    pub fn data_bytes(&self) -> u64 {
        self.blobs
            .iter()
            .flat_map(|blob| &blob.components)
            .filter(|component| {
                matches!(component.kind, ComponentKind::Block | ComponentKind::Page)
            })
            .map(|component| component.length)
            .sum()
    }
}

impl Blob {
    /// The drive path of a component's file: the blob's file, or its side file.
    pub fn component_file_path(&self, component: &Component) -> Option<&str> {
        match component.kind {
            ComponentKind::Properties => self.properties_path.as_deref(),
            ComponentKind::Metadata => self.metadata_path.as_deref(),
            _ => Some(&self.file_path),
        }
    }

    /// The blob's bytes a component stands for in totals: its range; for a whole-file
    /// component only when it is the blob's sole data (a copy-log-only download), since a
    /// manifest blob's length check covers bytes its ranges already count.
    pub fn data_bytes_of(&self, component: &Component) -> u64 {
        match component.kind {
            ComponentKind::Block | ComponentKind::Page => component.length,
            ComponentKind::File if !self.in_manifest => component.length,
            _ => 0,
        }
    }

    /// The container: the first segment of the blob path.
    pub fn container(&self) -> &str {
        self.blob_path.split('/').next().unwrap_or_default()
    }
}
