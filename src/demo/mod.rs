//! Sample exports: drives with a manifest built from known content. The `demo` command,
//! the tests and the benchmarks all build their drives here, so every one of them checks
//! the same code paths a real drive does.

use std::io;
use std::path::{Path, PathBuf};

pub mod pace;
pub mod scenario;

use crate::format::Md5;
use crate::format::drive_path;
use crate::format::manifest::{Manifest, ManifestBlob, Range, RangeKind, SideFile};
use crate::format::side_files::{MetadataFile, PropertiesFile};

/// One blob of a sample export, with its full content.
#[derive(Debug, Clone)]
pub struct SampleBlob {
    pub blob_path: String,
    /// Drive-relative, `\`-separated.
    pub file_path: String,
    pub kind: RangeKind,
    pub content: Vec<u8>,
    /// (offset, length) of each block or listed page range.
    pub layout: Vec<(u64, u64)>,
    pub snapshot: Option<String>,
    pub properties: Option<PropertiesFile>,
    pub metadata: Option<MetadataFile>,
}

/// The export's drive-relative path for a blob: the container becomes the top directory.
pub fn file_path_for(blob_path: &str) -> String {
    format!("\\{}", blob_path.replace('/', "\\"))
}

/// Deterministic bytes (xorshift64*), so samples need no random-number crate.
pub fn pseudo_random_bytes(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(length + 8);
    while out.len() < length {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(length);
    out
}

impl SampleBlob {
    /// A block blob cut into blocks of `block_size` (the last one shorter).
    pub fn block(blob_path: &str, content: Vec<u8>, block_size: u64) -> Self {
        let length = content.len() as u64;
        let block_size = block_size.max(1);
        let layout = (0..length.div_ceil(block_size))
            .map(|i| (i * block_size, block_size.min(length - i * block_size)))
            .collect();
        Self {
            blob_path: blob_path.to_string(),
            file_path: file_path_for(blob_path),
            kind: RangeKind::Block,
            content,
            layout,
            snapshot: None,
            properties: None,
            metadata: None,
        }
    }

    /// A page blob of `length` bytes with data only in `ranges`; zeros elsewhere.
    pub fn page(blob_path: &str, length: u64, ranges: &[(u64, u64)], seed: u64) -> Self {
        let mut content = vec![0u8; length as usize];
        for (index, &(offset, range_length)) in ranges.iter().enumerate() {
            let bytes = pseudo_random_bytes(seed + index as u64, range_length as usize);
            content[offset as usize..(offset + range_length) as usize].copy_from_slice(&bytes);
        }
        Self {
            blob_path: blob_path.to_string(),
            file_path: file_path_for(blob_path),
            kind: RangeKind::Page,
            content,
            layout: ranges.to_vec(),
            snapshot: None,
            properties: None,
            metadata: None,
        }
    }

    /// Adds a properties file the way an export writes one.
    pub fn with_properties(mut self, content_type: &str) -> Self {
        self.properties = Some(PropertiesFile {
            last_modified: Some("Tue, 18 Sep 2012 23:47:08 GMT".into()),
            etag: Some("0x8CF63E6A2C1F2C5".into()),
            content_length: Some(self.content.len().to_string()),
            content_type: Some(content_type.into()),
            ..PropertiesFile::default()
        });
        self
    }

    /// Adds a metadata file.
    pub fn with_metadata(mut self, entries: &[(&str, &str)]) -> Self {
        self.metadata = Some(MetadataFile {
            entries: entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        self
    }

    pub fn properties_path(&self) -> String {
        format!("{}.properties", self.file_path)
    }

    pub fn metadata_path(&self) -> String {
        format!("{}.metadata", self.file_path)
    }

    fn properties_bytes(&self) -> Option<Vec<u8>> {
        self.properties.as_ref().map(|p| p.to_xml().into_bytes())
    }

    #[expect(
        clippy::expect_used,
        reason = "the sample's metadata names are literals; the demo's tests write them"
    )]
    fn metadata_bytes(&self) -> Option<Vec<u8>> {
        self.metadata.as_ref().map(|m| {
            m.to_xml()
                .expect("sample metadata names are valid")
                .into_bytes()
        })
    }

    /// The manifest entry for this blob.
    pub fn manifest_entry(&self) -> ManifestBlob {
        let ranges = self
            .layout
            .iter()
            .enumerate()
            .map(|(index, &(offset, length))| Range {
                offset,
                length,
                id: (self.kind == RangeKind::Block).then(|| block_id(index as u32)),
                hash: Md5::of(&self.content[offset as usize..(offset + length) as usize]),
            })
            .collect();
        let side = |path: String, bytes: Option<Vec<u8>>| {
            bytes.map(|bytes| SideFile {
                path,
                hash: Md5::of(&bytes),
            })
        };
        ManifestBlob {
            blob_path: self.blob_path.clone(),
            file_path: self.file_path.clone(),
            client_data: None,
            snapshot: self.snapshot.clone(),
            length: self.content.len() as u64,
            kind: self.kind,
            ranges,
            metadata: side(self.metadata_path(), self.metadata_bytes()),
            properties: side(self.properties_path(), self.properties_bytes()),
        }
    }
}

/// Base64 of a little-endian counter, as the service names export blocks.
fn block_id(index: u32) -> Box<str> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(index.to_le_bytes())
        .into_boxed_str()
}

/// A whole sample export.
#[derive(Debug, Clone)]
pub struct SampleDrive {
    pub drive_id: String,
    pub blobs: Vec<SampleBlob>,
}

impl SampleDrive {
    pub fn manifest(&self) -> Manifest {
        Manifest {
            version: Some("2014-11-01".into()),
            drive_id: self.drive_id.clone(),
            client_creator: Some("Windows Azure Import/Export service".into()),
            blobs: self.blobs.iter().map(SampleBlob::manifest_entry).collect(),
        }
    }

    /// Writes every file (data, properties, metadata) under `target` as an intact export
    /// would have them, and `<DriveId>.manifest` in its root. Returns the manifest's path.
    pub fn write(&self, target: &Path) -> io::Result<PathBuf> {
        for blob in &self.blobs {
            write_file(target, &blob.file_path, &blob.content)?;
            if let Some(bytes) = blob.properties_bytes() {
                write_file(target, &blob.properties_path(), &bytes)?;
            }
            if let Some(bytes) = blob.metadata_bytes() {
                write_file(target, &blob.metadata_path(), &bytes)?;
            }
        }
        let manifest_path = target.join(format!("{}.manifest", self.drive_id));
        std::fs::write(&manifest_path, self.manifest().to_xml())?;
        Ok(manifest_path)
    }
}

impl SampleDrive {
    /// Writes the blobs as a local mirror (`<container>/<blob name>`), each with a
    /// properties sidecar holding what the service would answer for it.
    pub fn write_mirror(&self, mirror: &Path) -> io::Result<()> {
        for blob in &self.blobs {
            let mut path = mirror.to_path_buf();
            for segment in blob.blob_path.split('/') {
                path.push(segment);
            }
            if let Some(snapshot) = &blob.snapshot {
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                path.set_file_name(format!("{name}@{snapshot}"));
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, &blob.content)?;
            let properties = blob.properties.clone().unwrap_or_default();
            let metadata = blob.metadata.clone().unwrap_or_default();
            let sidecar = serde_json::json!({
                "last_modified": properties.last_modified,
                "etag": properties.etag.map(|etag| format!("\"{etag}\"")),
                "content_type": properties.content_type,
                "metadata": metadata.entries,
            });
            let mut sidecar_path = path.into_os_string();
            sidecar_path.push(crate::source::mirror::SIDECAR_SUFFIX);
            std::fs::write(sidecar_path, serde_json::to_vec_pretty(&sidecar)?)?;
        }
        Ok(())
    }
}

/// The local path of a drive-relative `FilePath` under `target` (no lookups).
pub fn local_path(target: &Path, file_path: &str) -> io::Result<PathBuf> {
    let names = drive_path::components(file_path).map_err(io::Error::other)?;
    Ok(names
        .iter()
        .fold(target.to_path_buf(), |path, name| path.join(name)))
}

fn write_file(target: &Path, file_path: &str, bytes: &[u8]) -> io::Result<()> {
    let path = local_path(target, file_path)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_cover_the_content() {
        let blob = SampleBlob::block("c/x", pseudo_random_bytes(1, 10_000), 4096);
        assert_eq!(blob.layout, [(0, 4096), (4096, 4096), (8192, 1808)]);
        assert_eq!(
            &*blob.manifest_entry().ranges[1].id.clone().unwrap(),
            "AQAAAA=="
        );
        let page = SampleBlob::page("c/p", 4096, &[(512, 512)], 7);
        assert!(page.content[..512].iter().all(|&b| b == 0));
        assert!(page.content[512..1024].iter().any(|&b| b != 0));
        assert_eq!(file_path_for("c/a b/ü.bin"), r"\c\a b\ü.bin");
    }

    #[test]
    fn a_written_sample_parses_back() {
        let dir = tempfile::tempdir().unwrap();
        let drive = SampleDrive {
            drive_id: "SAMPLE1".into(),
            blobs: vec![
                SampleBlob::block("c/a.bin", pseudo_random_bytes(2, 3000), 1000)
                    .with_properties("application/octet-stream")
                    .with_metadata(&[("Origin", "test")]),
            ],
        };
        let manifest_path = drive.write(dir.path()).unwrap();
        let manifest = Manifest::from_file(&manifest_path).unwrap();
        assert_eq!(manifest, drive.manifest());
        assert!(dir.path().join("c/a.bin.properties").is_file());
    }
}
