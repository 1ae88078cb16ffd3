//! Property tests of verification: generated exports (block and page blobs, sparse page
//! ranges, empty blobs, unicode and space-laden names, optional properties and metadata
//! files) are written to disk, damaged in generated ways, and verified through the library.
//! The verdicts must name exactly the components the damage touched, each with the right
//! status, and verification must leave every byte of the drive as it was.
//!
//! The expected verdicts are computed from the injected damage alone (a symbolic model of
//! every file: present or deleted, its length, the bytes flipped, whether it was rewritten),
//! never from the tool's output.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use export_repair::demo::{SampleBlob, SampleDrive, local_path, pseudo_random_bytes};
use export_repair::engine::verify::{Control, Finding, VerifyOptions, verify};
use export_repair::format::manifest::Manifest;
use export_repair::format::side_files::PropertiesFile;
use export_repair::model::{ComponentKind, ComponentStatus, Drive};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence};
use support::files::files as snapshot;

// ---------------------------------------------------------------------------------------
// Generated exports

#[derive(Debug, Clone)]
enum DataSpec {
    /// A block blob of `length` bytes cut into blocks of `block_size`.
    Block {
        length: usize,
        block_size: u64,
        seed: u64,
    },
    /// A page blob: `(gap, length)` pairs in pages of 512 bytes, then a trailing gap.
    Page {
        ranges: Vec<(u64, u64)>,
        tail_pages: u64,
        seed: u64,
    },
}

#[derive(Debug, Clone)]
struct BlobSpec {
    container: String,
    dirs: Vec<String>,
    name: String,
    data: DataSpec,
    content_type: Option<String>,
    metadata: Option<Vec<(String, String)>>,
}

/// Characters legal in NTFS and Linux names and in XML text: `\`, `/`, `:`, `<`, `>`, `"`
/// and control characters are excluded; `&` and `'`, which the manifest must escape, are in.
const NAME_CHARS: &str = "[a-zA-Z0-9 äöüÅßéñçø漢字😀&'()!#$%+,;=@^_`{}~.-]";

fn dir_name() -> impl Strategy<Value = String> {
    // Starts with a letter, so it can never equal a file name (those start with digits).
    "[a-zA-ZäÅ漢][a-zA-Z0-9 äÅ漢&'_.-]{0,8}"
        .prop_filter("not a device name", |name| !is_device_name(name))
}

fn file_name() -> impl Strategy<Value = String> {
    // Ends with a character that is neither a space nor a dot: FilePaths are trimmed.
    proptest::string::string_regex(&format!("{NAME_CHARS}{{0,10}}[a-zA-Z0-9äö漢😀)_]"))
        .expect("a valid regex")
}

fn is_device_name(name: &str) -> bool {
    const DEVICES: &[&str] = &[
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
        "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    ];
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    DEVICES.iter().any(|d| d.eq_ignore_ascii_case(stem))
}

fn data_spec() -> impl Strategy<Value = DataSpec> {
    prop_oneof![
        // Block blobs, empty ones included.
        (
            prop_oneof![Just(0usize), 1usize..6000],
            prop_oneof![Just(1u64), 64u64..2048, Just(4096u64)],
            any::<u64>()
        )
            .prop_map(|(length, block_size, seed)| {
                // A 1-byte block size only for short blobs: it makes a component per byte.
                let block_size = if block_size == 1 && length > 64 {
                    512
                } else {
                    block_size
                };
                DataSpec::Block {
                    length,
                    block_size,
                    seed,
                }
            }),
        // Page blobs: sparse ranges with gaps (or none), possibly no ranges at all.
        (
            prop::collection::vec((0u64..3, 1u64..4), 0..5),
            0u64..3,
            any::<u64>()
        )
            .prop_map(|(ranges, tail_pages, seed)| DataSpec::Page {
                ranges,
                tail_pages,
                seed,
            }),
    ]
}

fn metadata_name() -> impl Strategy<Value = String> {
    "[a-zA-Zäö_][a-zA-Z0-9äö_]{0,8}".prop_filter("names starting with xml are reserved", |name| {
        !name.to_ascii_lowercase().starts_with("xml")
    })
}

fn blob_spec() -> impl Strategy<Value = BlobSpec> {
    (
        "[a-z0-9]{3,8}",
        prop::collection::vec(dir_name(), 0..3),
        file_name(),
        data_spec(),
        prop::option::of("[a-z]{1,8}/[a-z0-9.+-]{1,12}"),
        prop::option::of(prop::collection::vec(
            (metadata_name(), "[ -~äöü€]{0,20}"),
            0..4,
        )),
    )
        .prop_map(
            |(container, dirs, name, data, content_type, metadata)| BlobSpec {
                container,
                dirs,
                name,
                data,
                content_type,
                metadata,
            },
        )
}

fn sample_blob(index: usize, spec: &BlobSpec) -> SampleBlob {
    let mut path = vec![spec.container.clone()];
    path.extend(spec.dirs.iter().cloned());
    // The index prefix makes every file name unique, even case-insensitively, and keeps it
    // clear of `.`, `..` and device names.
    path.push(format!("{index:02}-{}", spec.name));
    let blob_path = path.join("/");
    let blob = match &spec.data {
        DataSpec::Block {
            length,
            block_size,
            seed,
        } => SampleBlob::block(&blob_path, pseudo_random_bytes(*seed, *length), *block_size),
        DataSpec::Page {
            ranges,
            tail_pages,
            seed,
        } => {
            let mut layout = Vec::new();
            let mut page = 0u64;
            for &(gap, pages) in ranges {
                page += gap;
                layout.push((page * 512, pages * 512));
                page += pages;
            }
            SampleBlob::page(&blob_path, (page + tail_pages) * 512, &layout, *seed)
        }
    };
    let blob = match &spec.content_type {
        Some(content_type) => blob.with_properties(content_type),
        None => blob,
    };
    match &spec.metadata {
        Some(entries) => {
            let entries: Vec<(&str, &str)> = entries
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            blob.with_metadata(&entries)
        }
        None => blob,
    }
}

// ---------------------------------------------------------------------------------------
// Damage

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Data,
    Properties,
    Metadata,
}

#[derive(Debug, Clone)]
enum Damage {
    /// Flip one bit of a byte inside one of the blob's components (data range or side file).
    FlipInComponent {
        blob: Index,
        component: Index,
        byte: Index,
        bit: u8,
    },
    /// Flip one bit anywhere in the data file (in a page blob, possibly in a gap that no
    /// component covers: that must change no verdict).
    FlipAnywhere {
        blob: Index,
        byte: Index,
        bit: u8,
    },
    /// Cut a file to a length shorter than it is now.
    Truncate {
        blob: Index,
        which: Which,
        at: Index,
    },
    Delete {
        blob: Index,
        which: Which,
    },
    /// Append bytes to the data file: bytes past the blob's end.
    Append {
        blob: Index,
        bytes: u8,
    },
    /// Rewrite a properties or metadata file with different bytes.
    Rewrite {
        blob: Index,
        metadata: bool,
        how: u8,
    },
}

fn which() -> impl Strategy<Value = Which> {
    prop_oneof![
        Just(Which::Data),
        Just(Which::Properties),
        Just(Which::Metadata),
    ]
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => (any::<Index>(), any::<Index>(), any::<Index>(), 0u8..8).prop_map(
            |(blob, component, byte, bit)| Damage::FlipInComponent { blob, component, byte, bit }
        ),
        1 => (any::<Index>(), any::<Index>(), 0u8..8)
            .prop_map(|(blob, byte, bit)| Damage::FlipAnywhere { blob, byte, bit }),
        2 => (any::<Index>(), which(), any::<Index>())
            .prop_map(|(blob, which, at)| Damage::Truncate { blob, which, at }),
        2 => (any::<Index>(), which()).prop_map(|(blob, which)| Damage::Delete { blob, which }),
        2 => (any::<Index>(), any::<bool>(), 0u8..3)
            .prop_map(|(blob, metadata, how)| Damage::Rewrite { blob, metadata, how }),
        1 => (any::<Index>(), 1u8..=255).prop_map(|(blob, bytes)| Damage::Append { blob, bytes }),
    ]
}

/// What the test knows of one file after the damage, derived from the damage alone.
#[derive(Debug, Clone)]
struct FileModel {
    path: PathBuf,
    original: Vec<u8>,
    exists: bool,
    /// The file's length now.
    length: u64,
    /// Byte offset → XOR mask of the flips applied there (never 0).
    flips: BTreeMap<u64, u8>,
    /// Side files only: rewritten with other bytes, or cut short.
    rewritten: bool,
    /// Whether a truncation made it shorter (for the `missing` reasons).
    truncated: bool,
}

impl FileModel {
    fn new(path: PathBuf, original: Vec<u8>) -> Self {
        Self {
            path,
            length: original.len() as u64,
            original,
            exists: true,
            flips: BTreeMap::new(),
            rewritten: false,
            truncated: false,
        }
    }

    fn flip(&mut self, byte: u64, bit: u8) {
        if !self.exists || byte >= self.length {
            return;
        }
        let mut bytes = std::fs::read(&self.path).unwrap();
        bytes[byte as usize] ^= 1 << bit;
        std::fs::write(&self.path, bytes).unwrap();
        let mask = self.flips.entry(byte).or_insert(0);
        *mask ^= 1 << bit;
        if *mask == 0 {
            self.flips.remove(&byte);
        }
    }

    fn truncate(&mut self, at: Index, side: bool) {
        if !self.exists || self.length == 0 {
            return;
        }
        let new_length = at.index(self.length as usize) as u64;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .unwrap()
            .set_len(new_length)
            .unwrap();
        self.length = new_length;
        self.flips.retain(|&offset, _| offset < new_length);
        self.truncated = true;
        if side {
            self.rewritten = true;
        }
    }

    fn append(&mut self, bytes: u8) {
        if !self.exists {
            return;
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .unwrap();
        std::io::Write::write_all(&mut file, &vec![0xAB; bytes as usize]).unwrap();
        // After a truncation the appended bytes stand where original bytes were: they differ
        // from them wherever the original is not 0xAB.
        for at in self.length..self.length + u64::from(bytes) {
            if let Some(&was) = self.original.get(at as usize)
                && was != 0xAB
            {
                self.flips.insert(at, was ^ 0xAB);
            }
        }
        self.length += u64::from(bytes);
    }

    fn delete(&mut self) {
        if !self.exists {
            return;
        }
        std::fs::remove_file(&self.path).unwrap();
        self.exists = false;
        self.flips.clear();
    }

    /// Replaces a side file with bytes that differ from the original in its first bytes and
    /// in length, so that no later flip or truncation (at most three damages) can restore it.
    fn rewrite(&mut self, how: u8) {
        if !self.exists {
            return;
        }
        let original = String::from_utf8(self.original.clone()).unwrap();
        let bytes = match how {
            // The same document with Windows line ends.
            0 => original.replace('\n', "\r\n").into_bytes(),
            // The same document with one value changed.
            1 => original.replacen("</", "x</", 1).into_bytes(),
            // Not XML at all ('G' is 6 bits away from '<').
            _ => {
                let mut garbage = b"GARBAGE ".repeat(self.original.len() / 8 + 2);
                garbage.truncate(self.original.len() + 3);
                garbage
            }
        };
        assert_ne!(bytes.len(), self.original.len());
        std::fs::write(&self.path, &bytes).unwrap();
        self.length = bytes.len() as u64;
        self.flips.clear();
        self.rewritten = true;
    }

    /// The verdict a data component [offset, offset + length) must get.
    fn data_status(&self, offset: u64, length: u64) -> ComponentStatus {
        if !self.exists || offset + length > self.length {
            ComponentStatus::Missing
        } else if self.flips.range(offset..offset + length).next().is_some() {
            ComponentStatus::Corrupt
        } else {
            ComponentStatus::Verified
        }
    }

    /// The verdict a properties or metadata file must get.
    fn side_status(&self) -> ComponentStatus {
        if !self.exists {
            ComponentStatus::Missing
        } else if self.rewritten || !self.flips.is_empty() {
            ComponentStatus::Corrupt
        } else {
            ComponentStatus::Verified
        }
    }
}

/// The files of one blob.
struct BlobModel {
    data: FileModel,
    /// (offset, length) of each block or page range.
    layout: Vec<(u64, u64)>,
    properties: Option<FileModel>,
    metadata: Option<FileModel>,
}

impl BlobModel {
    fn file(&mut self, which: Which) -> Option<&mut FileModel> {
        match which {
            Which::Data => Some(&mut self.data),
            Which::Properties => self.properties.as_mut(),
            Which::Metadata => self.metadata.as_mut(),
        }
    }

    fn apply(&mut self, damage: &Damage) {
        match *damage {
            Damage::FlipInComponent {
                component,
                byte,
                bit,
                ..
            } => {
                // The blob's components: its ranges, then its side files.
                let mut targets: Vec<Option<Which>> = vec![None; self.layout.len()];
                if self.properties.is_some() {
                    targets.push(Some(Which::Properties));
                }
                if self.metadata.is_some() {
                    targets.push(Some(Which::Metadata));
                }
                if targets.is_empty() {
                    return;
                }
                let chosen = component.index(targets.len());
                match targets[chosen] {
                    None => {
                        let (offset, length) = self.layout[chosen];
                        let at = offset + byte.index(length as usize) as u64;
                        self.data.flip(at, bit);
                    }
                    Some(side) => {
                        let file = self.file(side).expect("listed");
                        if file.length > 0 {
                            let at = byte.index(file.length as usize) as u64;
                            file.flip(at, bit);
                        }
                    }
                }
            }
            Damage::FlipAnywhere { byte, bit, .. } => {
                if self.data.length > 0 {
                    let at = byte.index(self.data.length as usize) as u64;
                    self.data.flip(at, bit);
                }
            }
            Damage::Truncate { which, at, .. } => {
                if let Some(file) = self.file(which) {
                    file.truncate(at, which != Which::Data);
                }
            }
            Damage::Delete { which, .. } => {
                if let Some(file) = self.file(which) {
                    file.delete();
                }
            }
            Damage::Append { bytes, .. } => self.data.append(bytes),
            Damage::Rewrite { metadata, how, .. } => {
                let which = if metadata {
                    Which::Metadata
                } else {
                    Which::Properties
                };
                if let Some(file) = self.file(which) {
                    file.rewrite(how);
                }
            }
        }
    }
}

fn damage_blob(damage: &Damage) -> Index {
    match damage {
        Damage::FlipInComponent { blob, .. }
        | Damage::FlipAnywhere { blob, .. }
        | Damage::Truncate { blob, .. }
        | Damage::Delete { blob, .. }
        | Damage::Append { blob, .. }
        | Damage::Rewrite { blob, .. } => *blob,
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

/// A component as the test names it: blob index, kind, offset, length.
type Key = (usize, &'static str, u64, u64);

fn key(blob: usize, kind: ComponentKind, offset: u64, length: u64) -> Key {
    (blob, kind.as_str(), offset, length)
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        // A failing case is kept (commit it) and tried first from then on.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/verify_properties.txt"
        )))),
        ..Config::default()
    }
}

/// The test's model of every file of `sample` as written under `target` (from the sample,
/// not from the tool).
fn models_of(sample: &SampleDrive, target: &Path) -> Vec<BlobModel> {
    sample
        .blobs
        .iter()
        .map(|blob| {
            let side = |present: bool, path: String| {
                present.then(|| {
                    let local = local_path(target, &path).unwrap();
                    let bytes = std::fs::read(&local).unwrap();
                    FileModel::new(local, bytes)
                })
            };
            BlobModel {
                data: FileModel::new(
                    local_path(target, &blob.file_path).unwrap(),
                    blob.content.clone(),
                ),
                layout: blob.layout.clone(),
                properties: side(blob.properties.is_some(), blob.properties_path()),
                metadata: side(blob.metadata.is_some(), blob.metadata_path()),
            }
        })
        .collect()
}

/// The verdict every component must get, by the models (damage applied).
fn expected_verdicts(sample: &SampleDrive, models: &[BlobModel]) -> BTreeMap<Key, ComponentStatus> {
    let mut expected: BTreeMap<Key, ComponentStatus> = BTreeMap::new();
    for (b, model) in models.iter().enumerate() {
        let kind = match sample.blobs[b].kind {
            export_repair::format::manifest::RangeKind::Block => ComponentKind::Block,
            export_repair::format::manifest::RangeKind::Page => ComponentKind::Page,
        };
        for &(offset, length) in &model.layout {
            expected.insert(
                key(b, kind, offset, length),
                model.data.data_status(offset, length),
            );
        }
        // The file's length is a component of every blob: short or missing is missing,
        // bytes past the end are corrupt.
        let original = model.data.original.len() as u64;
        let status = match model.data.length.cmp(&original) {
            _ if !model.data.exists => ComponentStatus::Missing,
            std::cmp::Ordering::Equal => ComponentStatus::Verified,
            std::cmp::Ordering::Less => ComponentStatus::Missing,
            std::cmp::Ordering::Greater => ComponentStatus::Corrupt,
        };
        expected.insert(key(b, ComponentKind::File, 0, original), status);
        for (kind, file) in [
            (ComponentKind::Properties, &model.properties),
            (ComponentKind::Metadata, &model.metadata),
        ] {
            if let Some(file) = file {
                expected.insert(key(b, kind, 0, 0), file.side_status());
            }
        }
    }
    expected
}

// ---------------------------------------------------------------------------------------
// The property

proptest! {
    // A case takes a few milliseconds: many cases are cheap.
    #![proptest_config(config(256))]

    #[test]
    fn verification_reports_exactly_the_damaged_components(
        specs in prop::collection::vec(blob_spec(), 1..6),
        damages in prop::collection::vec(damage(), 0..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path();
        let sample = SampleDrive {
            drive_id: "PROPTEST1".into(),
            blobs: specs.iter().enumerate().map(|(i, spec)| sample_blob(i, spec)).collect(),
        };
        let manifest_path = sample.write(target).unwrap();

        // The test's model of every file, from the sample (not from the tool).
        let mut models = models_of(&sample, target);
        for model in &models {
            prop_assert_eq!(&std::fs::read(&model.data.path).unwrap(), &model.data.original);
        }
        for damage in &damages {
            let index = damage_blob(damage).index(models.len());
            models[index].apply(damage);
        }
        let expected = expected_verdicts(&sample, &models);
        // A self-check of the model: a side file it calls intact is intact.
        for (b, model) in models.iter().enumerate() {
            for (kind, file) in [
                (ComponentKind::Properties, &model.properties),
                (ComponentKind::Metadata, &model.metadata),
            ] {
                if let Some(file) = file
                    && expected[&key(b, kind, 0, 0)] == ComponentStatus::Verified
                {
                    prop_assert_eq!(&std::fs::read(&file.path).unwrap(), &file.original);
                }
            }
        }

        // Verify through the library, against the manifest as written and read back.
        let manifest = Manifest::from_file(&manifest_path).unwrap();
        prop_assert_eq!(&manifest, &sample.manifest());
        let drive = Drive::build(Some(manifest), None).unwrap();
        let before = snapshot(target);
        let findings = Mutex::new(Vec::<Finding>::new());
        verify(
            &drive,
            target,
            None,
            &VerifyOptions {
                hash_threads: 2,
                ..VerifyOptions::default()
            },
            &Control::default(),
            &|finding| findings.lock().unwrap().push(finding),
        );
        let findings = findings.into_inner().unwrap();
        prop_assert_eq!(snapshot(target), before, "verification changed the drive");

        prop_assert_eq!(findings.len(), drive.component_count(), "one verdict per component");
        let mut actual: BTreeMap<Key, ComponentStatus> = BTreeMap::new();
        let mut by_key: HashMap<Key, &Finding> = HashMap::new();
        for finding in &findings {
            let blob = &drive.blobs[finding.id.blob as usize];
            prop_assert_eq!(&blob.file_path, &sample.blobs[finding.id.blob as usize].file_path);
            let component = drive.component(finding.id);
            let (offset, length) = if component.kind.is_side_file() {
                (0, 0)
            } else {
                (component.offset, component.length)
            };
            let k = key(finding.id.blob as usize, component.kind, offset, length);
            prop_assert!(actual.insert(k, finding.status).is_none(), "two verdicts for {:?}", k);
            by_key.insert(k, finding);
        }
        prop_assert_eq!(&actual, &expected, "damage: {:#?}", damages);

        // The verdicts' details agree with their status.
        for (k, finding) in &by_key {
            let component = drive.component(finding.id);
            let reason = finding.reason.as_deref().unwrap_or("");
            let model = &models[k.0];
            match finding.status {
                ComponentStatus::Verified => {
                    prop_assert_eq!(finding.actual_md5, component.expected_md5);
                    prop_assert!(finding.reason.is_none(), "{}", reason);
                }
                ComponentStatus::Corrupt if component.kind == ComponentKind::File => {
                    let needle = format!(
                        "bytes past the end: the file is {} bytes long, {} more than the blob's Length {}",
                        model.data.length,
                        model.data.length - component.length,
                        component.length
                    );
                    prop_assert!(reason.contains(&needle), "{}", reason);
                }
                ComponentStatus::Corrupt => {
                    prop_assert!(finding.actual_md5.is_some());
                    prop_assert_ne!(finding.actual_md5, component.expected_md5);
                    prop_assert!(reason.contains("the manifest expects"), "{}", reason);
                }
                ComponentStatus::Missing => {
                    let file = match component.kind {
                        ComponentKind::Properties => model.properties.as_ref().unwrap(),
                        ComponentKind::Metadata => model.metadata.as_ref().unwrap(),
                        _ => &model.data,
                    };
                    if file.exists {
                        prop_assert!(file.truncated);
                        let needle = format!("the file is {} bytes long", file.length);
                        prop_assert!(reason.contains(&needle), "{}", reason);
                    } else {
                        prop_assert!(reason.contains("is not on the drive"), "{}", reason);
                    }
                }
                other => {
                    return Err(TestCaseError::fail(format!("unexpected status {other:?}: {reason}")));
                }
            }
        }
    }
}

/// The sample's generators reach what the property is about: a guard against a strategy
/// change that would quietly stop producing sparse page blobs, empty blobs or damage of
/// every kind the property checks (ranges, lengths and side files, corrupt and missing).
#[test]
fn the_generators_cover_the_interesting_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut sparse, mut empty, mut unicode, mut spaces, mut sides) = (0, 0, 0, 0, 0);
    for i in 0..300 {
        let spec = blob_spec().new_tree(&mut runner).unwrap().current();
        let blob = sample_blob(i, &spec);
        let covered: u64 = blob.layout.iter().map(|&(_, length)| length).sum();
        if blob.kind == export_repair::format::manifest::RangeKind::Page
            && covered < blob.content.len() as u64
            && !blob.layout.is_empty()
        {
            sparse += 1;
        }
        if blob.content.is_empty() {
            empty += 1;
        }
        if !blob.file_path.is_ascii() {
            unicode += 1;
        }
        if blob.file_path.contains(' ') {
            spaces += 1;
        }
        if blob.properties.is_some() && blob.metadata.is_some() {
            sides += 1;
        }
        // Every generated path is one the drive-path rules accept, and stays one file.
        let local = local_path(Path::new("/t"), &blob.file_path).unwrap();
        assert_eq!(
            local.components().count(),
            blob.file_path.matches('\\').count() + 2,
            "{:?}",
            blob.file_path
        );
        // And the sample's properties file is the one a PropertiesFile would write.
        if let Some(properties) = &blob.properties {
            assert!(PropertiesFile::parse_str(&properties.to_xml()).is_ok());
        }
    }
    for (what, count) in [
        ("sparse page blobs", sparse),
        ("empty blobs", empty),
        ("unicode names", unicode),
        ("names with spaces", spaces),
        ("blobs with both side files", sides),
    ] {
        assert!(count >= 10, "only {count} {what} in 300 generated blobs");
    }

    // Drives and their damage, as the property draws them: the damage reaches every kind of
    // verdict the property checks.
    let mut seen: BTreeMap<(&'static str, ComponentStatus), usize> = BTreeMap::new();
    let drive_specs = prop::collection::vec(blob_spec(), 1..6);
    let damages = prop::collection::vec(damage(), 0..4);
    for _ in 0..400 {
        let specs = drive_specs.new_tree(&mut runner).unwrap().current();
        let damages = damages.new_tree(&mut runner).unwrap().current();
        let dir = tempfile::tempdir().unwrap();
        let sample = SampleDrive {
            drive_id: "COVERAGE".into(),
            blobs: specs
                .iter()
                .enumerate()
                .map(|(i, spec)| sample_blob(i, spec))
                .collect(),
        };
        sample.write(dir.path()).unwrap();
        let mut models = models_of(&sample, dir.path());
        for damage in &damages {
            let index = damage_blob(damage).index(models.len());
            models[index].apply(damage);
        }
        for ((_, kind, _, _), status) in expected_verdicts(&sample, &models) {
            *seen.entry((kind, status)).or_default() += 1;
        }
    }
    for wanted in [
        ("block", ComponentStatus::Corrupt),
        ("block", ComponentStatus::Missing),
        ("page", ComponentStatus::Corrupt),
        ("page", ComponentStatus::Missing),
        ("file", ComponentStatus::Missing),
        ("file", ComponentStatus::Corrupt),
        ("properties", ComponentStatus::Corrupt),
        ("properties", ComponentStatus::Missing),
        ("metadata", ComponentStatus::Corrupt),
        ("metadata", ComponentStatus::Missing),
    ] {
        let count = seen.get(&wanted).copied().unwrap_or(0);
        assert!(
            count >= 5,
            "only {count} {wanted:?} in 200 damaged drives: {seen:?}"
        );
    }
}

/// Regression: a blob's file was once only checked through its ranges, so the file of an
/// empty blob or of a page blob with no page ranges could be missing, and a sparse page
/// blob's file cut short after its last range, while `verify` reported VERIFIED, exit 0.
#[test]

fn missing_files_of_blobs_without_ranges_are_damage() {
    let dir = tempfile::tempdir().unwrap();
    let sample = SampleDrive {
        drive_id: "NORANGES".into(),
        blobs: vec![
            SampleBlob::block("c/empty.bin", Vec::new(), 512),
            SampleBlob::page("c/zeros.vhd", 4096, &[], 1),
            SampleBlob::page("c/sparse.vhd", 8192, &[(0, 512)], 2),
        ],
    };
    let manifest = sample.write(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join("c/empty.bin")).unwrap();
    std::fs::remove_file(dir.path().join("c/zeros.vhd")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("c/sparse.vhd"))
        .unwrap()
        .set_len(1024)
        .unwrap();
    let output = assert_cmd::Command::cargo_bin("export-repair")
        .unwrap()
        .arg("verify")
        .arg("--target")
        .arg(dir.path())
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for file in [r"\c\empty.bin", r"\c\zeros.vhd", r"\c\sparse.vhd"] {
        assert!(stdout.contains(file), "{file} not reported: {stdout}");
    }
}
