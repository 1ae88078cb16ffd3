//! A local mirror as a [`BlobSource`] (`--source-dir D`): a second copy of the exported data,
//! laid out `D/<container>/<blob name>`, and the source of the `demo` command.
//!
//! - A snapshot is the file `D/<container>/<blob name>@<snapshot>`; if it is missing the
//!   snapshot is [`SourceError::NotFound`] (never the base blob: versions are not mixed).
//! - Properties come from the file (length; mtime as `last_modified`), overridden by an optional
//!   sidecar `<file>.blobprops.json` holding a [`BlobProperties`]-like JSON object: any of
//!   `last_modified` (RFC 3339 or HTTP date), `etag`, `content_type`, `content_md5`,
//!   `content_encoding`, `content_language`, `cache_control`, and `metadata` (an object, or a
//!   list of `[name, value]` pairs). `content_length` is always the file's.
//! - Conditions behave as on Azure: `if_unmodified_since` against `last_modified` (whole
//!   seconds, as HTTP dates have), `if_match` against the sidecar's `etag`; and since a mirror,
//!   unlike Azure, can hold a copy older than the export, a `last_modified` seconds before the
//!   export's is another version too. A blob without a
//!   recorded ETag cannot contradict `if_match`, so the condition is then taken as met; copy a
//!   mirror with its times (`cp -p`, `rsync -a`) or give sidecars.
//! - Blob names with `..`, empty segments, absolute forms or backslashes are refused, and so is
//!   any file that resolves (through symlinks) outside the mirror.

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::Mutex,
};

use bytes::Bytes;
use serde::Deserialize;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{BlobProperties, BlobRef, BlobSource, ReadConditions, SourceError};

/// Suffix of the optional properties sidecar next to a mirrored blob.
pub const SIDECAR_SUFFIX: &str = ".blobprops.json";

/// A sidecar larger than this is refused unread (a real one is a few hundred bytes).
const MAX_SIDECAR: u64 = 1024 * 1024;

/// Opens `path` for reading without waiting: a FIFO would block the open until a writer came
/// (and no signal stops a thread blocked there), a device may never end. The caller checks
/// the kind it got.
fn open_without_waiting(path: &Path) -> std::io::Result<(File, std::fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let metadata = file.metadata()?;
    Ok((file, metadata))
}

/// A sidecar's bytes; `None` when it is not a regular file.
fn read_sidecar(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let (file, metadata) = open_without_waiting(path)?;
    if !metadata.is_file() {
        return Ok(None);
    }
    let mut text = Vec::new();
    file.take(MAX_SIDECAR + 1).read_to_end(&mut text)?;
    if text.len() as u64 > MAX_SIDECAR {
        return Err(std::io::ErrorKind::FileTooLarge.into());
    }
    Ok(Some(text))
}

/// A blob (or its sidecar) that is a FIFO, a device or a socket in the mirror.
fn not_regular(blob: &BlobRef) -> SourceError {
    SourceError::InvalidPath {
        path: blob.to_string(),
        reason: "the mirrored file or its sidecar is not a regular file (a FIFO, a device or a \
                 socket): replace it by the blob's bytes",
    }
}

/// A directory of blobs, `<root>/<container>/<blob name>`.
#[derive(Debug, Clone)]
pub struct MirrorSource {
    root: PathBuf,
    /// `root` resolved, to check that files stay inside it.
    canonical_root: PathBuf,
}

impl MirrorSource {
    /// `root` must be an existing directory.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, SourceError> {
        let root = root.into();
        let canonical_root = std::fs::canonicalize(&root).map_err(|source| SourceError::Io {
            path: root.clone(),
            source,
        })?;
        if !canonical_root.is_dir() {
            return Err(SourceError::Config(format!(
                "the mirror {} is not a directory",
                root.display()
            )));
        }
        Ok(Self {
            root,
            canonical_root,
        })
    }

    /// The file holding `blob` (or its snapshot), checked to be a safe relative path.
    pub fn path_for(&self, blob: &BlobRef) -> Result<PathBuf, SourceError> {
        let refuse = |reason: &'static str| SourceError::InvalidPath {
            path: blob.to_string(),
            reason,
        };
        let mut path = self.root.clone();
        path.push(safe_segment(&blob.container).map_err(refuse)?);
        let segments: Vec<&str> = blob.name.split('/').collect();
        for (i, segment) in segments.iter().enumerate() {
            let segment = safe_segment(segment).map_err(refuse)?;
            if i + 1 == segments.len() {
                match &blob.snapshot {
                    Some(snapshot) => {
                        let snapshot = safe_segment(snapshot).map_err(refuse)?;
                        path.push(format!("{segment}@{snapshot}"));
                    }
                    None => path.push(segment),
                }
            } else {
                path.push(segment);
            }
        }
        Ok(path)
    }

    /// Opens the blob's file, refusing one that resolves outside the mirror.
    fn open(&self, blob: &BlobRef) -> Result<(PathBuf, File, std::fs::Metadata), SourceError> {
        let path = self.path_for(blob)?;
        let not_found = || SourceError::NotFound {
            blob: blob.to_string(),
        };
        let io = |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::NotFound {
                not_found()
            } else {
                SourceError::Io {
                    path: path.clone(),
                    source,
                }
            }
        };
        let resolved = std::fs::canonicalize(&path).map_err(io)?;
        if !resolved.starts_with(&self.canonical_root) {
            return Err(SourceError::InvalidPath {
                path: blob.to_string(),
                reason: "the mirrored file resolves outside the mirror",
            });
        }
        let (file, metadata) = open_without_waiting(&resolved).map_err(io)?;
        if metadata.is_dir() {
            return Err(not_found());
        }
        if !metadata.is_file() {
            return Err(not_regular(blob));
        }
        Ok((path, file, metadata))
    }

    /// Properties from the file and its sidecar.
    fn load_properties(
        &self,
        blob: &BlobRef,
        path: &Path,
        metadata: &std::fs::Metadata,
    ) -> Result<BlobProperties, SourceError> {
        let mtime = metadata
            .modified()
            .ok()
            .map(OffsetDateTime::from)
            .map(whole_seconds);
        let mut props = BlobProperties {
            last_modified: mtime,
            content_length: metadata.len(),
            ..Default::default()
        };
        let mut sidecar_path = path.as_os_str().to_owned();
        sidecar_path.push(SIDECAR_SUFFIX);
        let sidecar_path = PathBuf::from(sidecar_path);
        let bad = |message: String| SourceError::Protocol {
            blob: blob.to_string(),
            message: format!("{}: {message}", sidecar_path.display()),
        };
        let text = match read_sidecar(&sidecar_path) {
            Ok(Some(text)) => text,
            Ok(None) => return Err(not_regular(blob)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(props),
            Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                return Err(bad(format!("larger than {MAX_SIDECAR} bytes")));
            }
            Err(source) => {
                return Err(SourceError::Io {
                    path: sidecar_path,
                    source,
                });
            }
        };
        let sidecar: Sidecar = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        if let Some(text) = sidecar.last_modified {
            props.last_modified = Some(whole_seconds(
                parse_time(&text).ok_or_else(|| bad(format!("bad last_modified {text:?}")))?,
            ));
        }
        props.etag = sidecar.etag;
        props.content_type = sidecar.content_type;
        props.content_md5 = sidecar.content_md5;
        props.content_encoding = sidecar.content_encoding;
        props.content_language = sidecar.content_language;
        props.cache_control = sidecar.cache_control;
        props.metadata = match sidecar.metadata {
            None => Vec::new(),
            Some(SidecarMetadata::Pairs(pairs)) => pairs,
            Some(SidecarMetadata::Object(map)) => map
                .into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => Ok((k, s)),
                    other => Err(bad(format!("metadata {k:?} is not a string: {other}"))),
                })
                .collect::<Result<_, _>>()?,
        };
        props.metadata.sort();
        Ok(props)
    }

    /// Opens the blob and checks the conditions against its properties.
    fn open_checked(
        &self,
        blob: &BlobRef,
        conditions: &ReadConditions,
    ) -> Result<(File, BlobProperties), SourceError> {
        let (path, file, metadata) = self.open(blob)?;
        let props = self.load_properties(blob, &path, &metadata)?;
        let changed = || SourceError::Changed {
            blob: blob.to_string(),
        };
        // Azure's blobs only move forward in time; a mirror can hold an older copy, which is
        // no more the exported version than a newer one.
        if let (Some(limit), Some(modified)) = (conditions.if_unmodified_since, props.last_modified)
            && (modified > whole_seconds(limit) || whole_seconds(modified) < whole_seconds(limit))
        {
            return Err(changed());
        }
        if let (Some(wanted), Some(etag)) = (&conditions.if_match, &props.etag)
            && wanted.trim() != "*"
            && wanted.trim().trim_matches('"') != etag.trim().trim_matches('"')
        {
            return Err(changed());
        }
        Ok((file, props))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Sidecar {
    last_modified: Option<String>,
    etag: Option<String>,
    content_type: Option<String>,
    content_md5: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    metadata: Option<SidecarMetadata>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SidecarMetadata {
    Object(serde_json::Map<String, serde_json::Value>),
    Pairs(Vec<(String, String)>),
}

/// One path segment that cannot climb out of or jump around the mirror.
fn safe_segment(segment: &str) -> Result<&str, &'static str> {
    if segment.is_empty() {
        return Err("empty path segments are not mirrored");
    }
    if segment == "." || segment == ".." {
        return Err("'.' and '..' segments are refused");
    }
    if segment.contains(['/', '\\', '\0']) {
        return Err("slashes, backslashes and NUL are refused in mirrored names and snapshots");
    }
    if cfg!(windows) && segment.contains(':') {
        return Err("':' is refused in mirrored names on Windows");
    }
    Ok(segment)
}

/// HTTP dates carry whole seconds; compare and report at that precision.
fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// RFC 3339 (`2012-09-18T23:47:08Z`) or an HTTP date (`Tue, 18 Sep 2012 23:47:08 GMT`).
pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.to_offset(time::UtcOffset::UTC));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(text, format)
        .ok()
        .map(|t| t.assume_utc())
}

/// Read buffers given back by downloads already written, for the next reads. A whole-file
/// download reads piece after piece of one size; handing each to the allocator and taking a
/// new one made glibc keep them in its per-thread arenas (a 2 GiB file peaked at 240 MB).
static SPARE_BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// Spare buffers kept at most, and the largest kept.
const SPARE_COUNT: usize = 4;
const SPARE_LARGEST: usize = 64 * 1024 * 1024;

/// A read's bytes, in a buffer that goes back to the spares when the last `Bytes` of it is
/// dropped.
struct ReadBuffer(Vec<u8>);

impl ReadBuffer {
    fn take(len: usize) -> Self {
        let spare = SPARE_BUFFERS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mut buffer = spare.unwrap_or_default();
        // Only bytes it never held are zeroed; the read overwrites all of them.
        buffer.resize(len.max(buffer.len()), 0);
        buffer.truncate(len);
        Self(buffer)
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl AsRef<[u8]> for ReadBuffer {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.0);
        if buffer.capacity() > SPARE_LARGEST {
            return;
        }
        let mut spares = SPARE_BUFFERS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if spares.len() < SPARE_COUNT {
            spares.push(buffer);
        }
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl BlobSource for MirrorSource {
    async fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<Bytes, SourceError> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        let this = self.clone();
        let blob = blob.clone();
        let conditions = conditions.clone();
        tokio::task::spawn_blocking(move || {
            let (file, props) = this.open_checked(&blob, &conditions)?;
            let out_of_range = |available| SourceError::OutOfRange {
                blob: blob.to_string(),
                offset,
                end: offset.saturating_add(length),
                available,
            };
            let end = offset
                .checked_add(length)
                .filter(|end| *end <= props.content_length)
                .ok_or_else(|| out_of_range(Some(props.content_length)))?;
            let len = usize::try_from(end - offset).map_err(|_| out_of_range(None))?;
            let mut buf = ReadBuffer::take(len);
            read_at(&file, buf.bytes_mut(), offset).map_err(|source| {
                if source.kind() == std::io::ErrorKind::UnexpectedEof {
                    // Truncated between the length check and the read.
                    out_of_range(None)
                } else {
                    SourceError::Io {
                        path: this.path_for(&blob).unwrap_or_default(),
                        source,
                    }
                }
            })?;
            Ok(Bytes::from_owner(buf))
        })
        .await
        .map_err(|e| SourceError::Io {
            path: self.root.clone(),
            source: std::io::Error::other(e),
        })?
    }

    async fn properties(
        &self,
        blob: &BlobRef,
        conditions: &ReadConditions,
    ) -> Result<BlobProperties, SourceError> {
        let this = self.clone();
        let blob = blob.clone();
        let conditions = conditions.clone();
        tokio::task::spawn_blocking(move || this.open_checked(&blob, &conditions).map(|(_, p)| p))
            .await
            .map_err(|e| SourceError::Io {
                path: self.root.clone(),
                source: std::io::Error::other(e),
            })?
    }

    fn describe(&self) -> String {
        format!("local mirror {}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn blob(path: &str, snapshot: Option<&str>) -> BlobRef {
        BlobRef::parse(path, snapshot).unwrap()
    }

    fn mirror_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, MirrorSource) {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let source = MirrorSource::new(dir.path()).unwrap();
        (dir, source)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// A FIFO (or a device) where a blob or its sidecar should be is refused at once, saying
    /// what it is: opening a FIFO for reading waits for a writer that never comes, and once
    /// blocked there no signal stops the run.
    #[test]
    fn a_fifo_in_the_mirror_is_refused_without_a_hang() {
        let (dir, source) = mirror_with(&[("box/sidecar.bin", b"abc")]);
        let fifo = |path: &str| {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                dir.path().join(path),
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )
            .unwrap()
        };
        fifo("box/fifo.bin");
        fifo(&format!("box/sidecar.bin{SIDECAR_SUFFIX}"));
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let none = ReadConditions::default();
            let errors: Vec<String> = ["box/fifo.bin", "box/sidecar.bin"]
                .iter()
                .map(|path| {
                    let path = blob(path, None);
                    match runtime.block_on(source.read_range(&path, 0, 3, &none)) {
                        Ok(_) => "read".to_string(),
                        Err(error) => error.to_string(),
                    }
                })
                .collect();
            let _ = done.send(errors);
        });
        let errors = finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("refused within seconds, not blocked on the FIFO");
        for error in &errors {
            assert!(error.contains("not a regular file"), "{errors:?}");
        }
    }

    #[tokio::test]
    async fn reads_exact_ranges() {
        let content = data(10_000);
        let (_dir, source) = mirror_with(&[("pictures/wild/desert.jpg", &content)]);
        let b = blob("pictures/wild/desert.jpg", None);
        let none = ReadConditions::default();
        let got = source.read_range(&b, 4096, 1000, &none).await.unwrap();
        assert_eq!(&got[..], &content[4096..5096]);
        let got = source.read_range(&b, 9_999, 1, &none).await.unwrap();
        assert_eq!(&got[..], &content[9_999..]);
        assert!(
            source
                .read_range(&b, 20, 0, &none)
                .await
                .unwrap()
                .is_empty()
        );
        let err = source.read_range(&b, 9_990, 20, &none).await.unwrap_err();
        assert!(
            matches!(
                err,
                SourceError::OutOfRange {
                    offset: 9_990,
                    end: 10_010,
                    available: Some(10_000),
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn snapshot_reads_the_snapshot_file_or_nothing() {
        let (_dir, source) = mirror_with(&[
            ("c1x/a.bin", b"current"),
            ("c1x/a.bin@2024-01-02T03:04:05.1234567Z", b"snapshot"),
        ]);
        let none = ReadConditions::default();
        let snap = blob("c1x/a.bin", Some("2024-01-02T03:04:05.1234567Z"));
        assert_eq!(
            &source.read_range(&snap, 0, 8, &none).await.unwrap()[..],
            b"snapshot"
        );
        let other = blob("c1x/a.bin", Some("2025-01-01T00:00:00.0000000Z"));
        let err = source.read_range(&other, 0, 1, &none).await.unwrap_err();
        assert!(matches!(err, SourceError::NotFound { blob } if blob.contains("2025-01-01")));
        let err = source
            .properties(&blob("c1x/missing", None), &none)
            .await
            .unwrap_err();
        assert!(matches!(err, SourceError::NotFound { .. }));
    }

    #[tokio::test]
    async fn properties_from_file_and_sidecar() {
        let sidecar = br#"{"etag": "\"0x8D\"", "content_type": "image/jpeg",
            "content_md5": "Q2hlY2sgSW50ZWdyaXR5IQ==", "cache_control": "no-cache",
            "last_modified": "Tue, 18 Sep 2012 23:47:08 GMT",
            "metadata": {"Zeta": "z", "Author": "me"}}"#;
        let (_dir, source) = mirror_with(&[
            ("c1x/p.jpg", &data(1234)),
            ("c1x/p.jpg.blobprops.json", sidecar),
            ("c1x/plain.bin", b"12345"),
        ]);
        let none = ReadConditions::default();
        let props = source
            .properties(&blob("c1x/p.jpg", None), &none)
            .await
            .unwrap();
        assert_eq!(
            props,
            BlobProperties {
                last_modified: Some(datetime!(2012-09-18 23:47:08 UTC)),
                etag: Some("\"0x8D\"".into()),
                content_length: 1234,
                content_type: Some("image/jpeg".into()),
                content_md5: Some("Q2hlY2sgSW50ZWdyaXR5IQ==".into()),
                content_encoding: None,
                content_language: None,
                cache_control: Some("no-cache".into()),
                metadata: vec![("Author".into(), "me".into()), ("Zeta".into(), "z".into())],
                page_blob: false,
            }
        );
        let plain = source
            .properties(&blob("c1x/plain.bin", None), &none)
            .await
            .unwrap();
        assert_eq!(plain.content_length, 5);
        assert_eq!(plain.etag, None);
        let age = OffsetDateTime::now_utc() - plain.last_modified.unwrap();
        assert!(age.whole_seconds().abs() < 120, "mtime is now, not {age}");
    }

    #[tokio::test]
    async fn conditions_fail_as_changed() {
        let sidecar = br#"{"etag": "\"0x8D\"", "last_modified": "2012-09-18T23:47:08Z"}"#;
        let (_dir, source) = mirror_with(&[
            ("c1x/p.bin", b"0123456789"),
            ("c1x/p.bin.blobprops.json", sidecar),
        ]);
        let b = blob("c1x/p.bin", None);
        let at_export = ReadConditions {
            if_unmodified_since: Some(datetime!(2012-09-18 23:47:08.9 UTC)),
            if_match: Some("\"0x8D\"".into()),
        };
        assert_eq!(
            &source.read_range(&b, 2, 3, &at_export).await.unwrap()[..],
            b"234"
        );
        let earlier = ReadConditions {
            if_unmodified_since: Some(datetime!(2012-09-18 23:47:07 UTC)),
            ..Default::default()
        };
        let err = source.read_range(&b, 0, 1, &earlier).await.unwrap_err();
        assert_eq!(err.to_string(), "blob c1x/p.bin changed since export");
        // A copy older than the export (seconds before it) is not the exported version either.
        // Seen failing with the condition taken as Azure's: the older bytes were read.
        let later = ReadConditions {
            if_unmodified_since: Some(datetime!(2012-09-18 23:47:09 UTC)),
            ..Default::default()
        };
        let err = source.read_range(&b, 0, 1, &later).await.unwrap_err();
        assert!(matches!(err, SourceError::Changed { .. }), "{err}");
        let other_etag = ReadConditions {
            if_match: Some("\"0x99\"".into()),
            ..Default::default()
        };
        let err = source.properties(&b, &other_etag).await.unwrap_err();
        assert!(matches!(err, SourceError::Changed { .. }));
    }

    #[tokio::test]
    async fn refuses_unsafe_names_and_escaping_symlinks() {
        let (dir, source) = mirror_with(&[("c1x/ok", b"x")]);
        let unsafe_refs = [
            BlobRef {
                container: "c1x".into(),
                name: "../outside".into(),
                snapshot: None,
            },
            BlobRef {
                container: "..".into(),
                name: "x".into(),
                snapshot: None,
            },
            BlobRef {
                container: "c1x".into(),
                name: "/etc/passwd".into(),
                snapshot: None,
            },
            BlobRef {
                container: "c1x".into(),
                name: "a\\..\\b".into(),
                snapshot: None,
            },
            BlobRef {
                container: "c1x".into(),
                name: "ok".into(),
                snapshot: Some("../../x".into()),
            },
        ];
        for b in &unsafe_refs {
            let err = source
                .read_range(b, 0, 1, &ReadConditions::default())
                .await
                .unwrap_err();
            assert!(
                matches!(err, SourceError::InvalidPath { .. }),
                "{b:?}: {err:?}"
            );
        }
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().unwrap();
            std::fs::write(outside.path().join("secret"), b"s").unwrap();
            std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("c1x/link"))
                .unwrap();
            let err = source
                .read_range(&blob("c1x/link", None), 0, 1, &ReadConditions::default())
                .await
                .unwrap_err();
            assert!(matches!(err, SourceError::InvalidPath { .. }), "{err:?}");
        }
        assert_eq!(
            source.describe(),
            format!("local mirror {}", dir.path().display())
        );
    }

    #[test]
    fn a_missing_root_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = MirrorSource::new(dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, SourceError::Io { .. }));
    }
}
