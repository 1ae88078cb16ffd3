//! Hostile and malformed input: a corpus of bad manifests and copy logs
//! (`tests/corpus/`, described in its README), generated monsters (10 MB attribute values,
//! a million nested elements), unsafe `FilePath`s, and fuzzing of the four parsers.
//!
//! Every bad document is run through the real binary. Malformed input must end the run with
//! exit 2 and one `error: ` line that names the file, the `line:column`, the element and
//! what is wrong; an unsafe entry must be refused (`failed`, `refused: …`, exit 1) without
//! anything outside the target being followed; nothing may panic, and the drive must be left
//! exactly as it was.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use export_repair::format::copylog::CopyLog;
use export_repair::format::manifest::Manifest;
use export_repair::format::side_files::{MetadataFile, PropertiesFile};
use export_repair::format::{FormatError, FormatErrorKind};
use export_repair::report::Report;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

// ---------------------------------------------------------------------------------------
// The fixture: a drive with one good file, and a directory beside it that unsafe paths aim at

/// MD5 of `data`, the content of both the good file and the secret outside the target.
const DATA_MD5: &str = "8D777F385D3DFEC8815D20F7496026DC";

fn corpus(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(relative)
}

struct Fixture {
    /// Holds `drive/` (the target), `outside/` (what unsafe paths aim at), `reports/`.
    root: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("drive/c")).unwrap();
        std::fs::create_dir_all(root.path().join("outside")).unwrap();
        std::fs::create_dir_all(root.path().join("reports")).unwrap();
        std::fs::write(root.path().join("drive/c/good.bin"), b"data").unwrap();
        // The same bytes as the good file: a tool that followed an unsafe path to it would
        // find the hash matching and report it verified.
        std::fs::write(root.path().join("outside/secret.bin"), b"data").unwrap();
        Self { root }
    }

    fn target(&self) -> PathBuf {
        self.root.path().join("drive")
    }

    fn report(&self) -> PathBuf {
        self.root.path().join("reports/report.json")
    }

    /// Every entry under the root except `reports/`: files with their bytes, symbolic links
    /// with their targets (never followed), directories by name.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path == skip {
                    continue;
                }
                let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
                if kind.is_symlink() {
                    let link = std::fs::read_link(&path).unwrap();
                    out.insert(path, link.as_os_str().as_encoded_bytes().to_vec());
                } else if kind.is_dir() {
                    out.insert(path.clone(), b"<dir>".to_vec());
                    walk(&path, skip, out);
                } else {
                    out.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(
            self.root.path(),
            &self.root.path().join("reports"),
            &mut out,
        );
        out
    }

    fn verify(&self, manifest: &Path, copy_log: Option<&Path>, report: bool) -> Output {
        let mut command = Command::cargo_bin("export-repair").unwrap();
        command
            .arg("verify")
            .arg("--target")
            .arg(self.target())
            .arg("--manifest")
            .arg(manifest)
            .args(["--threads", "1"])
            .timeout(Duration::from_secs(60));
        if let Some(log) = copy_log {
            command.arg("--copy-log").arg(log);
        }
        if report {
            command.arg("--report").arg(self.report());
        }
        command.output().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------
// Malformed input: exit 2 and a precise message

/// One bad document and what the error must say about it.
struct Case {
    /// Relative to `tests/corpus/`.
    file: &'static str,
    /// A phrase that says what is wrong.
    phrase: &'static str,
    /// `line:column` of the fault; `None` where the document has no element position to
    /// name (not an XML error).
    at: Option<(u64, u64)>,
    /// The element path the message names, or `None` when the fault is outside any element.
    element: Option<String>,
}

fn case(file: &'static str, phrase: &'static str, at: (u64, u64), element: &str) -> Case {
    Case {
        file,
        phrase,
        at: Some(at),
        element: (!element.is_empty()).then(|| element.to_string()),
    }
}

const BLOB: &str = "DriveManifest/Drive/BlobList[1]/Blob[1]";
const BLOCK: &str = "DriveManifest/Drive/BlobList[1]/Blob[1]/BlockList/Block[1]";
const LOG_BLOB: &str = "DriveLog/Blob[1]";
const LOG_BLOCK: &str = "DriveLog/Blob[1]/BlockList/Block[1]";
const DOCTYPE: &str = "a DOCTYPE declaration is refused";
const NOT_NUMBER: &str = "is not a whole non-negative number";
const NOT_MD5: &str = "is not an MD5 hash (32 hexadecimal digits)";

fn manifest_cases() -> Vec<Case> {
    let deep = format!("DriveManifest/Drive/BlobList[1]{}", "/Nest".repeat(61));
    vec![
        case(
            "manifest/unclosed_element.xml",
            "not well-formed XML: the document ends inside <Drive>",
            (15, 1),
            "DriveManifest/Drive",
        ),
        case("manifest/unclosed_tag.xml", "tag not closed", (10, 9), BLOB),
        case(
            "manifest/mismatched_end_tag.xml",
            "expected `</BlobPath>`, but `</FilePath>` was found",
            (7, 29),
            "DriveManifest/Drive/BlobList[1]/Blob[1]/BlobPath",
        ),
        case(
            "manifest/garbage.xml",
            "not well-formed XML: text outside the root element",
            (1, 1),
            "",
        ),
        case(
            "manifest/wrong_root_drivelog.xml",
            "the root element is <DriveLog>, expected <DriveManifest> (this looks like a copy log: pass it with --copy-log)",
            (2, 1),
            "DriveLog",
        ),
        case(
            "manifest/wrong_root_html.xml",
            "the root element is <html>, expected <DriveManifest>",
            (2, 1),
            "html",
        ),
        case(
            "manifest/two_roots.xml",
            "more than one root element",
            (17, 1),
            "",
        ),
        case(
            "manifest/two_file_paths.xml",
            "a second <FilePath> where one belongs",
            (9, 31),
            "DriveManifest/Drive/BlobList[1]/Blob[1]/FilePath[2]",
        ),
        case(
            "manifest/cdata_after_root.xml",
            "text outside the root element",
            (17, 1),
            "",
        ),
        // Held whole by the reader before this refusal, it filled memory (`/dev/zero` for
        // ever).
        case(
            "manifest/nul_padding.xml",
            "a NUL byte, which no XML document holds",
            (9, 1),
            "DriveManifest/Drive/BlobList[1]/Blob[1]",
        ),
        case(
            "manifest/offset_not_numeric.xml",
            NOT_NUMBER,
            (11, 11),
            BLOCK,
        ),
        case(
            "manifest/offset_negative.xml",
            "Offset \"-4\" is not a whole non-negative number",
            (11, 11),
            BLOCK,
        ),
        case(
            "manifest/range_length_negative.xml",
            "Length \"-4\" is not a whole non-negative number",
            (11, 11),
            BLOCK,
        ),
        case(
            "manifest/offset_too_large.xml",
            "Offset \"18446744073709551616\" is too large",
            (11, 11),
            BLOCK,
        ),
        case(
            "manifest/blob_length_too_large.xml",
            "Length \"99999999999999999999999\" is too large",
            (9, 40),
            "DriveManifest/Drive/BlobList[1]/Blob[1]/Length",
        ),
        case(
            "manifest/blob_length_fraction.xml",
            "Length \"4.0\" is not a whole non-negative number",
            (9, 20),
            "DriveManifest/Drive/BlobList[1]/Blob[1]/Length",
        ),
        case(
            "manifest/range_end_overflows.xml",
            "Block at Offset 18446744073709551615 with Length 2 ends beyond any possible blob",
            (13, 7),
            BLOB,
        ),
        case(
            "manifest/overlapping_ranges.xml",
            "Block at Offset 2 overlaps the previous one, which ends at byte 3",
            (14, 7),
            BLOB,
        ),
        case(
            "manifest/range_beyond_length.xml",
            "Block at Offset 0 with Length 8 ends at byte 8, beyond the blob's Length 4",
            (13, 7),
            BLOB,
        ),
        case(
            "manifest/page_range_beyond_length.xml",
            "PageRange at Offset 1024 with Length 512 ends at byte 1536, beyond the blob's Length 1024",
            (14, 7),
            BLOB,
        ),
        case("manifest/hash_not_hex.xml", NOT_MD5, (11, 11), BLOCK),
        case(
            "manifest/hash_wrong_length.xml",
            "Hash \"8D777F385D3DFEC8\" is not an MD5 hash",
            (11, 11),
            BLOCK,
        ),
        case(
            "manifest/hash_missing.xml",
            "the attribute Hash is missing",
            (11, 11),
            BLOCK,
        ),
        case("manifest/billion_laughs.xml", DOCTYPE, (2, 1), ""),
        case("manifest/external_entity.xml", DOCTYPE, (2, 1), ""),
        case(
            "manifest/undefined_entity_text.xml",
            "undefined entity &secret;",
            (8, 22),
            "DriveManifest/Drive/BlobList[1]/Blob[1]/FilePath",
        ),
        case(
            "manifest/undefined_entity_attribute.xml",
            "undefined entity &h;",
            (11, 11),
            BLOCK,
        ),
        case("manifest/empty.xml", "the document is empty", (1, 1), ""),
        case(
            "manifest/declaration_only.xml",
            "the document is empty",
            (3, 1),
            "",
        ),
        Case {
            file: "manifest/invalid_utf8.xml",
            phrase: "the file is not valid UTF-8 here",
            at: Some((8, 26)),
            element: Some("DriveManifest/Drive/BlobList[1]/Blob[1]/FilePath".into()),
        },
        Case {
            file: "manifest/bom_offset_not_numeric.xml",
            phrase: "Offset \"zero\" is not a whole non-negative number",
            at: Some((11, 11)),
            element: Some(BLOCK.into()),
        },
        case(
            "manifest/deep_nesting.xml",
            "elements are nested more than 64 deep",
            (6, 373),
            &deep,
        ),
        case(
            "manifest/missing_drive_id.xml",
            "a Blob comes before the drive's DriveId",
            (5, 7),
            BLOB,
        ),
        case(
            "manifest/missing_drive_id_no_blobs.xml",
            "the Drive has no DriveId",
            (5, 3),
            "DriveManifest/Drive",
        ),
        case(
            "manifest/empty_drive_id.xml",
            "DriveId is empty",
            (4, 16),
            "DriveManifest/Drive/DriveId",
        ),
        case(
            "manifest/missing_blob_path.xml",
            "the Blob has no BlobPath",
            (12, 7),
            BLOB,
        ),
        case(
            "manifest/missing_file_path.xml",
            "the Blob \"c/good.bin\" has no FilePath",
            (12, 7),
            BLOB,
        ),
        case(
            "manifest/missing_length.xml",
            "the Blob \"c/good.bin\" has no Length",
            (12, 7),
            BLOB,
        ),
        case(
            "manifest/both_lists.xml",
            "a Blob has both a BlockList and a PageRangeList",
            (13, 9),
            "DriveManifest/Drive/BlobList[1]/Blob[1]/PageRangeList",
        ),
        case(
            "manifest/compressed_gzip.xml.gz",
            "the file is gzip-compressed, not XML: decompress it first",
            (1, 1),
            "",
        ),
        case(
            "manifest/duplicate_file_path.xml",
            "is also the file of Blob 1 (c/good.bin)",
            (21, 7),
            "DriveManifest/Drive/BlobList[1]/Blob[2]",
        ),
    ]
}

fn copy_log_cases() -> Vec<Case> {
    let deep = format!("DriveLog{}", "/Nest".repeat(63));
    vec![
        case(
            "copylog/unclosed_element.xml",
            "the document ends inside <DriveLog>",
            (13, 1),
            "DriveLog",
        ),
        case(
            "copylog/mismatched_end_tag.xml",
            "expected `</Length>`, but `</length>` was found",
            (8, 14),
            "DriveLog/Blob[1]/Length",
        ),
        case(
            "copylog/two_drive_ids.xml",
            "a second <DriveId> where one belongs",
            (4, 20),
            "DriveLog/DriveId[2]",
        ),
        case(
            "copylog/garbage.xml",
            "a NUL byte, which no XML document holds",
            (1, 1),
            "",
        ),
        case(
            "copylog/wrong_root_manifest.xml",
            "the root element is <DriveManifest>, expected <DriveLog> (this looks like a drive manifest: pass it with --manifest)",
            (2, 1),
            "DriveManifest",
        ),
        case(
            "copylog/copylog_2021_errored_entity.xml",
            "the CopyLog summary has no DriveLogVersion",
            (12, 1),
            "CopyLog",
        ),
        // Starts with a byte-order mark, which is not a column of line 1.
        case(
            "copylog/copylog_2021_bom_no_path.xml",
            "the attribute Path is missing",
            (1, 1),
            "ErroredEntity[1]",
        ),
        case(
            "copylog/copylog_2021_no_summary.xml",
            "the copy log ends without its `CopyLog Summary` (is the file cut short?)",
            (8, 1),
            "",
        ),
        case(
            "copylog/copylog_2021_category_missing.xml",
            "the ErroredEntity \"c/good.bin\" has no Category",
            (6, 1),
            "ErroredEntity[1]",
        ),
        case(
            "copylog/copylog_2021_count_not_numeric.xml",
            "Count \"one\" is not a whole non-negative number",
            (19, 7),
            "CopyLog/Summary/CopyErrors/UploadErrorWin32",
        ),
        case(
            "copylog/copylog_2021_files_errored_negative.xml",
            "FilesErrored \"-1\" is not a whole non-negative number",
            (13, 19),
            "CopyLog/FilesErrored",
        ),
        case(
            "copylog/copylog_2021_two_summaries.xml",
            "a second CopyLog summary",
            (23, 1),
            "CopyLog[2]",
        ),
        case(
            "copylog/compressed_zip.zip",
            "the file is zip-compressed, not XML: decompress it first",
            (1, 1),
            "",
        ),
        case(
            "copylog/copylog_2021_utf16_no_bom.xml",
            "the file looks like UTF-16 (little-endian) without a byte-order mark",
            (1, 1),
            "",
        ),
        case(
            "copylog/copylog_2021_billion_laughs.xml",
            DOCTYPE,
            (2, 1),
            "",
        ),
        case(
            "copylog/offset_not_numeric.xml",
            "Offset \"0x10\" is not a whole non-negative number",
            (10, 7),
            LOG_BLOCK,
        ),
        case(
            "copylog/range_length_negative.xml",
            "Length \"-1\" is not a whole non-negative number",
            (10, 7),
            LOG_BLOCK,
        ),
        case(
            "copylog/offset_too_large.xml",
            "Offset \"340282366920938463463374607431768211456\" is too large",
            (10, 7),
            LOG_BLOCK,
        ),
        case(
            "copylog/overlapping_ranges.xml",
            "Block at Offset 3 overlaps the previous one, which ends at byte 4",
            (13, 3),
            LOG_BLOB,
        ),
        case(
            "copylog/range_beyond_length.xml",
            "Block at Offset 2 with Length 4 ends at byte 6, beyond the blob's Length 4",
            (12, 3),
            LOG_BLOB,
        ),
        case(
            "copylog/hash_not_hex.xml",
            "Hash \"not-a-hash\" is not an MD5 hash",
            (10, 7),
            LOG_BLOCK,
        ),
        case("copylog/hash_wrong_length.xml", NOT_MD5, (10, 7), LOG_BLOCK),
        case(
            "copylog/status_missing.xml",
            "the attribute Status is missing",
            (4, 3),
            LOG_BLOB,
        ),
        case(
            "copylog/missing_drive_id.xml",
            "the DriveLog has no DriveId",
            (13, 1),
            "DriveLog",
        ),
        case(
            "copylog/missing_file_path.xml",
            "the Blob \"c/good.bin\" has no FilePath",
            (11, 3),
            LOG_BLOB,
        ),
        case(
            "copylog/missing_blob_path.xml",
            "the Blob has no BlobPath",
            (11, 3),
            LOG_BLOB,
        ),
        case("copylog/billion_laughs.xml", DOCTYPE, (2, 1), ""),
        case("copylog/external_entity.xml", DOCTYPE, (2, 1), ""),
        case(
            "copylog/undefined_entity.xml",
            "undefined entity &nbsp;",
            (13, 11),
            "DriveLog/Status",
        ),
        case("copylog/empty.xml", "the document is empty", (1, 1), ""),
        Case {
            file: "copylog/invalid_utf8.xml",
            phrase: "the file is not valid UTF-8 here",
            at: Some((5, 17)),
            element: Some("DriveLog/Blob[1]/BlobPath".into()),
        },
        case(
            "copylog/deep_nesting.xml",
            "elements are nested more than 64 deep",
            (13, 381),
            &deep,
        ),
    ]
}

/// Runs one bad document and checks everything the user sees and the drive.
fn assert_refused(
    fixture: &Fixture,
    case: &Case,
    bad: &Path,
    manifest: &Path,
    log: Option<&Path>,
) -> String {
    let before = fixture.snapshot();
    let output = fixture.verify(manifest, log, false);
    let stderr = text(&output.stderr);
    let stdout = text(&output.stdout);
    let name = case.file;
    assert_eq!(output.status.code(), Some(2), "{name}: {stderr}{stdout}");
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    let mut expected_start = format!("error: {}:", bad.display());
    if let Some((line, column)) = case.at {
        expected_start.push_str(&format!("{line}:{column}: "));
        if let Some(element) = &case.element {
            expected_start.push_str(&format!("in <{element}>: "));
        }
    }
    assert!(
        stderr.starts_with(&expected_start),
        "{name}: stderr should start with {expected_start:?}:\n{stderr}"
    );
    if let Some(element) = &case.element {
        assert!(
            stderr.contains(&format!(": in <{element}>: ")),
            "{name}: {stderr}"
        );
    } else {
        assert!(!stderr.contains(": in <"), "{name}: {stderr}");
    }
    assert!(stderr.contains(case.phrase), "{name}: {stderr}");
    // One line: the message, not a dump of the input.
    assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: {stderr}");
    assert!(
        stderr.len() < 1200,
        "{name}: {} bytes of stderr",
        stderr.len()
    );
    // No verdict for a drive that was never checked.
    assert!(!stdout.contains("VERIFIED"), "{name}: {stdout}");
    // An external entity must never be resolved into the message.
    assert!(!stderr.contains("root:"), "{name}: {stderr}");
    assert_eq!(fixture.snapshot(), before, "{name}: the drive changed");
    stderr
}

#[test]
fn the_valid_corpus_documents_verify_clean() {
    // The control: every bad document is one of these with a single fault.
    let fixture = Fixture::new();
    let manifest = corpus("valid.manifest.xml");
    let before = fixture.snapshot();
    let output = fixture.verify(&manifest, None, false);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("VERIFIED"));
    let output = fixture.verify(&manifest, Some(&corpus("valid.copylog.xml")), false);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    // 2021-08-01 copy logs: one whose only entry is a file the manifest describes (its MD5s
    // decide), and one with nothing but the summary.
    for log_2021 in ["valid.copylog2021.xml", "copylog/copylog_2021_summary.xml"] {
        let output = fixture.verify(&manifest, Some(&corpus(log_2021)), false);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
    // Same DriveId, every entry in both: nothing to warn about.
    assert!(
        !text(&output.stderr).contains("warning"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(fixture.snapshot(), before);
    // And the good file really is checked: damage it and the same manifest finds it.
    std::fs::write(fixture.target().join("c/good.bin"), b"dat!").unwrap();
    let output = fixture.verify(&manifest, None, false);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
}

#[test]
fn bad_manifests_are_refused_with_exit_2_and_a_precise_message() {
    let fixture = Fixture::new();
    for case in manifest_cases() {
        let bad = corpus(case.file);
        assert_refused(&fixture, &case, &bad, &bad, None);
    }
}

#[test]
fn bad_copy_logs_are_refused_with_exit_2_and_a_precise_message() {
    let fixture = Fixture::new();
    let manifest = corpus("valid.manifest.xml");
    for case in copy_log_cases() {
        let bad = corpus(case.file);
        let stderr = assert_refused(&fixture, &case, &bad, &manifest, Some(&bad));
        // The message is about the copy log, not the manifest.
        assert!(
            !stderr.contains("valid.manifest.xml"),
            "{}: {stderr}",
            case.file
        );
    }
}

/// A copy log that contradicts the manifest about an entry (its `Length`; a snapshot of a
/// file the manifest lists as the base blob) describes another blob: refused (exit 2) naming
/// both, nothing changed.
///
/// The snapshot seen failing when it was taken silently: a repair read the snapshot, whose
/// bytes are not the manifest's, and failed "the blob probably changed since export".
#[test]
fn a_copy_log_contradicting_the_manifest_is_refused_with_exit_2() {
    let cases = [
        (
            "copylog/length_mismatch.xml",
            r#"the copy log lists "\c\good.bin" with Length 5 but the manifest says 4"#,
        ),
        (
            "copylog/snapshot_mismatch.xml",
            r#"the copy log lists "\c\good.bin" as snapshot 2020-01-01T00:00:00.0000000Z of c/good.bin, but the manifest as the base blob"#,
        ),
    ];
    for (copy_log, phrase) in cases {
        let fixture = Fixture::new();
        let before = fixture.snapshot();
        let output = fixture.verify(
            &corpus("valid.manifest.xml"),
            Some(&corpus(copy_log)),
            false,
        );
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{copy_log}: {stderr}");
        assert!(stderr.starts_with("error: "), "{copy_log}: {stderr}");
        assert!(stderr.contains(phrase), "{copy_log}: {stderr}");
        // Which files disagree.
        for file in [corpus("valid.manifest.xml"), corpus(copy_log)] {
            let named = file.display().to_string();
            assert!(stderr.contains(&named), "{copy_log}: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{copy_log}: {stderr}");
        assert_eq!(fixture.snapshot(), before, "{copy_log}");
    }
}

/// Lengths that add up past 2^64 - 1 bytes (three copy-log files of 2^63 - 1 each) describe no
/// drive: refused naming the entry where the sum overflows (the second, after the manifest's
/// few bytes), exit 2, nothing changed.
///
/// Seen failing with the sums saturating: the run went on and its totals said 16.0 EiB.
#[test]
fn lengths_adding_up_past_any_drive_are_refused_with_exit_2() {
    let fixture = Fixture::new();
    let before = fixture.snapshot();
    let output = fixture.verify(
        &corpus("valid.manifest.xml"),
        Some(&corpus("copylog/lengths_past_any_drive.xml")),
        false,
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains("more than 2^64 - 1 bytes in all at")
            && stderr.contains(r#"huge2.bin" (the copy log's)"#),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(fixture.snapshot(), before);
}

// ---------------------------------------------------------------------------------------
// Unsafe FilePaths: the manifest parses, the entry is refused, nothing outside is followed

/// One component of the report: file path, kind, status.
type Row = (String, String, String);

fn rows(report: &Report) -> Vec<Row> {
    report
        .files
        .iter()
        .flat_map(|file| {
            file.components.iter().map(move |c| {
                (
                    file.file_path.clone(),
                    c.kind.as_str().to_string(),
                    c.status.as_str().to_string(),
                )
            })
        })
        .collect()
}

fn row(file: &str, kind: &str, status: &str) -> Row {
    (file.to_string(), kind.to_string(), status.to_string())
}

/// One unsafe entry: the document, the path it names, the component it makes, and why the
/// path is refused.
struct Unsafe {
    file: &'static str,
    path: &'static str,
    kind: &'static str,
    why: &'static str,
}

#[test]
fn unsafe_file_paths_are_refused_with_exit_1_and_the_outside_left_alone() {
    const DOTS: &str = "it contains a `.` or `..` component";
    let cases = [
        Unsafe {
            file: "manifest/unsafe_dotdot.xml",
            path: r"\..\outside\secret.bin",
            kind: "block",
            why: DOTS,
        },
        Unsafe {
            file: "manifest/unsafe_nested_dotdot.xml",
            path: "/c/../../outside/secret.bin",
            kind: "block",
            why: DOTS,
        },
        Unsafe {
            file: "manifest/unsafe_drive_letter.xml",
            path: r"C:\outside\secret.bin",
            kind: "block",
            why: "it names a drive letter",
        },
        Unsafe {
            file: "manifest/unsafe_unc.xml",
            path: r"\\server\share\secret.bin",
            kind: "block",
            why: "it is a network (UNC) path",
        },
        Unsafe {
            file: "manifest/unsafe_side_file.xml",
            path: r"\..\outside\secret.bin",
            kind: "properties",
            why: DOTS,
        },
        Unsafe {
            file: "manifest/unsafe_symlink.xml",
            path: r"\c\link\secret.bin",
            kind: "block",
            why: "passes through the symbolic link",
        },
        Unsafe {
            file: "copylog/unsafe_dotdot.xml",
            path: r"\..\outside\secret.bin",
            kind: "file",
            why: DOTS,
        },
    ];
    for Unsafe {
        file,
        path,
        kind,
        why,
    } in cases
    {
        let fixture = Fixture::new();
        #[cfg(unix)]
        std::os::unix::fs::symlink("../../outside", fixture.target().join("c/link")).unwrap();
        let (manifest, log) = if file.starts_with("copylog/") {
            (corpus("valid.manifest.xml"), Some(corpus(file)))
        } else {
            (corpus(file), None)
        };
        // A side file belongs to the good blob's entry, which is refused as a whole; anything
        // else is an entry of its own (with its length check when it comes from a manifest).
        let good = r"\c\good.bin";
        let expected = match kind {
            "properties" => vec![
                row(good, "block", "failed"),
                row(good, "file", "failed"),
                row(good, "properties", "failed"),
            ],
            "file" => vec![
                row(good, "block", "verified"),
                row(good, "file", "verified"),
                row(path, "file", "failed"),
            ],
            _ => vec![
                row(good, "block", "verified"),
                row(good, "file", "verified"),
                row(path, kind, "failed"),
                row(path, "file", "failed"),
            ],
        };
        let before = fixture.snapshot();
        let output = fixture.verify(&manifest, log.as_deref(), true);
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert_eq!(output.status.code(), Some(1), "{file}: {stderr}{stdout}");
        assert!(!stderr.contains("panicked"), "{file}: {stderr}");
        assert!(stdout.contains("DAMAGED"), "{file}: {stdout}");
        assert_eq!(fixture.snapshot(), before, "{file}: something changed");

        let report: Report =
            serde_json::from_slice(&std::fs::read(fixture.report()).unwrap()).unwrap();
        assert_eq!(rows(&report), expected, "{file}");
        let refused: Vec<_> = report
            .files
            .iter()
            .flat_map(|f| &f.components)
            .filter(|c| c.status.as_str() == "failed")
            .collect();
        assert_eq!(
            refused.len(),
            expected.iter().filter(|r| r.2 == "failed").count(),
            "{file}"
        );
        for component in &refused {
            let reason = component.reason.as_deref().unwrap_or_default();
            assert!(reason.starts_with("refused: "), "{file}: {reason}");
            assert!(reason.contains(why), "{file}: {reason}");
            assert!(
                component.actual_md5.is_none(),
                "{file}: an unsafe file was read"
            );
            assert!(stdout.contains(&format!(": {reason}")), "{file}: {stdout}");
        }
        let owner = if kind == "properties" { good } else { path };
        assert!(
            stdout.contains(&format!("  failed   {owner} ")),
            "{file}: {stdout}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Generated monsters

#[test]
fn huge_and_deep_generated_documents_are_refused_briefly() {
    let fixture = Fixture::new();
    let scratch = tempfile::tempdir().unwrap();
    let valid = std::fs::read_to_string(corpus("valid.manifest.xml")).unwrap();
    let ten_mb = 10 * 1024 * 1024;
    let cases = [
        (
            "huge_hash.xml",
            valid.replace(DATA_MD5, &"A".repeat(ten_mb)),
            format!("… ({ten_mb} bytes)\" is not an MD5 hash"),
            Some((11, 11)),
        ),
        (
            "huge_offset.xml",
            valid.replace(
                "Offset=\"0\"",
                &format!("Offset=\"{}\"", "7".repeat(ten_mb)),
            ),
            format!("… ({ten_mb} bytes)\" is too large"),
            Some((11, 11)),
        ),
        (
            "huge_file_path_entity.xml",
            valid.replace(
                r"\c\good.bin<",
                &format!(r"\c\{}&bad;<", "x".repeat(ten_mb)),
            ),
            "undefined entity &bad;".to_string(),
            None,
        ),
        (
            "huge_file_path.xml",
            valid.replace(r"\c\good.bin<", &format!(r"\c\{}<", "x".repeat(ten_mb))),
            format!(
                "FilePath is {} characters long, more than any NTFS path (32767)",
                ten_mb + 3
            ),
            None,
        ),
        (
            "million_nested.xml",
            format!("{}{}", "<DriveManifest>", "<a>".repeat(1_000_000)),
            "elements are nested more than 64 deep".to_string(),
            Some((1, 15 + 63 * 3 + 1)),
        ),
    ];
    for (name, content, phrase, at) in cases {
        let path = scratch.path().join(name);
        std::fs::write(&path, content).unwrap();
        let before = fixture.snapshot();
        let output = fixture.verify(&path, None, false);
        let stderr = text(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{name}: {}",
            &stderr[..stderr.len().min(500)]
        );
        assert!(
            stderr.starts_with(&format!("error: {}:", path.display())),
            "{name}"
        );
        if let Some((line, column)) = at {
            assert!(
                stderr.contains(&format!("{}:{line}:{column}: ", path.display())),
                "{name}: {stderr}"
            );
        }
        assert!(stderr.contains(&phrase), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}");
        assert!(
            stderr.len() < 2000,
            "{name}: {} bytes of stderr",
            stderr.len()
        );
        assert_eq!(fixture.snapshot(), before, "{name}");
    }
}

/// Element names come from the file: an escape sequence in one (a terminal title, a screen
/// clear) is shown escaped in the error, never sent to the terminal.
///
/// Seen failing: the element name was printed raw, twice.
#[test]
fn control_characters_in_an_element_name_are_escaped_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("esc.manifest");
    std::fs::write(&manifest, b"<DriveManifest\x1b]0;pwned\x07\x1b[2J>").unwrap();
    let output = Command::cargo_bin("export-repair")
        .unwrap()
        .args(["verify", "--target"])
        .arg(dir.path())
        .arg("--manifest")
        .arg(&manifest)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        !output.stderr.iter().any(|&b| b == 0x1b || b == 0x07),
        "{:?}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r"DriveManifest\u{1b}]0;pwned\u{7}"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("pwned").count(), 2, "{stderr}");
}

/// A document that never ends (`/dev/zero`, a device named by mistake) is refused at its first
/// byte, not read into memory for ever.
#[test]
fn a_document_that_never_ends_is_refused_at_once() {
    let drive = tempfile::tempdir().unwrap();
    for flag in ["--manifest", "--copy-log", "--verbose-log"] {
        let mut command = Command::cargo_bin("export-repair").unwrap();
        command.args(["verify", "--target"]).arg(drive.path());
        if flag == "--copy-log" {
            command.arg("--manifest").arg(corpus("valid.manifest.xml"));
        }
        let output = command
            .args([flag, "/dev/zero"])
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag}: {stderr}");
        assert!(
            stderr.contains("/dev/zero:1:1: not well-formed XML: a NUL byte"),
            "{flag}: {stderr}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The corpus and its README agree

#[test]
fn every_corpus_file_has_a_case_and_a_readme_entry() {
    let readme = std::fs::read_to_string(corpus("README.md")).unwrap();
    let mut covered: Vec<String> = manifest_cases()
        .into_iter()
        .chain(copy_log_cases())
        .map(|case| case.file.to_string())
        .collect();
    covered.extend(
        [
            "manifest/unsafe_dotdot.xml",
            "manifest/unsafe_nested_dotdot.xml",
            "manifest/unsafe_drive_letter.xml",
            "manifest/unsafe_unc.xml",
            "manifest/unsafe_side_file.xml",
            "manifest/unsafe_symlink.xml",
            "manifest/list_outside_blob.xml",
            "manifest/no_drive.xml",
            "copylog/unsafe_dotdot.xml",
            "copylog/length_mismatch.xml",
            "copylog/snapshot_mismatch.xml",
            "copylog/lengths_past_any_drive.xml",
            "copylog/copylog_2021_summary.xml",
        ]
        .map(String::from),
    );
    let mut on_disk = Vec::new();
    for dir in ["manifest", "copylog"] {
        for entry in std::fs::read_dir(corpus(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            on_disk.push(format!("{dir}/{name}"));
        }
    }
    on_disk.sort();
    covered.sort();
    assert_eq!(covered, on_disk, "cases and corpus files differ");
    for file in &on_disk {
        assert!(
            readme.contains(&format!("`{file}`")),
            "README.md does not list {file}"
        );
    }
    assert!(on_disk.len() >= 60, "{} files", on_disk.len());
}

// ---------------------------------------------------------------------------------------
// Regressions: inputs that once panicked, verified clean or were placed wrongly.

#[test]
fn a_range_list_outside_a_blob_is_an_error_not_a_panic() {
    let fixture = Fixture::new();
    let bad = corpus("manifest/list_outside_blob.xml");
    let output = fixture.verify(&bad, None, false);
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {}:7:9: ", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("BlockList"), "{stderr}");
}

#[test]

fn a_manifest_without_a_drive_is_refused() {
    let fixture = Fixture::new();
    let bad = corpus("manifest/no_drive.xml");
    let output = fixture.verify(&bad, None, false);
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{stderr}{}",
        text(&output.stdout)
    );
    assert!(
        stderr.starts_with(&format!("error: {}:", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("DriveId"), "{stderr}");
    assert!(Manifest::parse_str("<DriveManifest/>").is_err());
}

#[test]

fn positions_after_a_byte_order_mark_are_right() {
    let fixture = Fixture::new();
    let manifest = corpus("manifest/bom_offset_not_numeric.xml");
    let stderr = text(&fixture.verify(&manifest, None, false).stderr);
    assert!(stderr.contains(":11:11: in <"), "{stderr}");
    let log = corpus("copylog/copylog_2021_bom_no_path.xml");
    let stderr = text(
        &fixture
            .verify(&corpus("valid.manifest.xml"), Some(&log), false)
            .stderr,
    );
    assert!(stderr.contains(":1:1: in <ErroredEntity[1]>"), "{stderr}");
}

#[test]

fn invalid_utf8_is_reported_where_it_is() {
    let fixture = Fixture::new();
    let manifest = corpus("manifest/invalid_utf8.xml");
    let stderr = text(&fixture.verify(&manifest, None, false).stderr);
    assert!(stderr.contains(".xml:8:"), "{stderr}");
    let log = corpus("copylog/invalid_utf8.xml");
    let stderr = text(
        &fixture
            .verify(&corpus("valid.manifest.xml"), Some(&log), false)
            .stderr,
    );
    assert!(stderr.contains(".xml:5:"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// Fuzzing the parsers: never a panic, a Result either way

/// Panics already reported and not yet fixed, tolerated so that the fuzzer keeps looking
/// for new ones. None at present.
const KNOWN_PANICS: &[&str] = &[];

#[derive(Debug)]
enum Parsed {
    Ok,
    Err(FormatError),
    KnownPanic,
}

fn guarded<T>(
    parse: impl FnOnce() -> Result<T, FormatError>,
) -> Result<(Parsed, Option<T>), String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)) {
        Ok(Ok(value)) => Ok((Parsed::Ok, Some(value))),
        Ok(Err(error)) => Ok((Parsed::Err(error), None)),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            if KNOWN_PANICS.contains(&message.as_str()) {
                Ok((Parsed::KnownPanic, None))
            } else {
                Err(format!("panicked: {message}"))
            }
        }
    }
}

/// What must hold of an error from in-memory text.
fn check_error(input: &str, error: &FormatError) -> Result<(), TestCaseError> {
    prop_assert_eq!(&error.file, "<input>");
    prop_assert!(
        !matches!(error.kind, FormatErrorKind::Io(_)),
        "I/O error from text: {}",
        error
    );
    let lines = input.split('\n').count() as u64;
    prop_assert!(
        error.line >= 1 && error.line <= lines,
        "line {} of {}: {}",
        error.line,
        lines,
        error
    );
    prop_assert!(error.column >= 1, "{}", error);
    prop_assert!(error.to_string().starts_with("<input>:"), "{}", error);
    Ok(())
}

fn check_ranges(
    length: Option<u64>,
    ranges: impl Iterator<Item = (u64, u64)>,
) -> Result<(), TestCaseError> {
    let mut previous_end = 0;
    for (offset, range_length) in ranges {
        prop_assert!(offset >= previous_end, "unsorted or overlapping ranges");
        let end = offset.checked_add(range_length);
        prop_assert!(end.is_some(), "a range ends beyond u64");
        previous_end = end.unwrap();
        if let Some(length) = length {
            prop_assert!(previous_end <= length, "a range beyond the Length");
        }
    }
    Ok(())
}

/// Feeds `input` to all four parsers; none may panic, and what they return must be sound.
fn parse_all(input: &str) -> Result<(), TestCaseError> {
    match guarded(|| Manifest::parse_str(input)).map_err(TestCaseError::fail)? {
        (Parsed::Err(error), _) => check_error(input, &error)?,
        (Parsed::Ok, Some(manifest)) if manifest.drive_id.is_empty() => {
            prop_assert!(false, "a manifest without a DriveId parsed");
        }
        (Parsed::Ok, Some(manifest)) => {
            let mut paths = std::collections::HashSet::new();
            for blob in &manifest.blobs {
                prop_assert!(paths.insert(&blob.file_path), "a FilePath used twice");
                prop_assert!(!blob.file_path.is_empty() && !blob.blob_path.is_empty());
                check_ranges(
                    Some(blob.length),
                    blob.ranges.iter().map(|r| (r.offset, r.length)),
                )?;
            }
            // What was read can be written and read back as the same manifest.
            let again = Manifest::parse_str(&manifest.to_xml());
            prop_assert!(again.is_ok(), "{:?}", again);
            prop_assert_eq!(again.unwrap(), manifest);
        }
        _ => {}
    }
    match guarded(|| CopyLog::parse_str(input)).map_err(TestCaseError::fail)? {
        (Parsed::Err(error), _) => check_error(input, &error)?,
        (Parsed::Ok, Some(log)) => {
            prop_assert!(!log.drive_id.is_empty(), "a copy log without a DriveId");
            for blob in &log.blobs {
                check_ranges(
                    blob.length,
                    blob.ranges.iter().map(|r| (r.offset, r.length)),
                )?;
            }
        }
        _ => {}
    }
    match guarded(|| PropertiesFile::parse_str(input)).map_err(TestCaseError::fail)? {
        (Parsed::Err(error), _) => check_error(input, &error)?,
        (Parsed::Ok, Some(properties)) => {
            let again = PropertiesFile::parse_str(&properties.to_xml());
            prop_assert!(again.is_ok(), "{:?}", again);
            prop_assert_eq!(again.unwrap(), properties);
        }
        _ => {}
    }
    match guarded(|| MetadataFile::parse_str(input)).map_err(TestCaseError::fail)? {
        (Parsed::Err(error), _) => check_error(input, &error)?,
        (Parsed::Ok, Some(metadata)) => {
            // Names that came out of an element name are written back, and read again as they
            // were, unless the format cannot hold them (a prefixed name such as `a:b`): never
            // a plain one.
            match metadata.to_xml() {
                Ok(xml) => {
                    let again = MetadataFile::parse_str(&xml);
                    prop_assert!(again.is_ok(), "{:?}", again);
                    prop_assert_eq!(again.unwrap(), metadata);
                }
                Err(refused) => prop_assert!(
                    !refused
                        .0
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{refused}"
                ),
            }
        }
        _ => {}
    }
    Ok(())
}

const PROPERTIES_SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Properties>
  <Last-Modified>Tue, 18 Sep 2012 23:47:08 GMT</Last-Modified>
  <Etag>0x8CF63E6A2C1F2C5</Etag>
  <Content-Length>4</Content-Length>
  <Content-Type>image/jpeg</Content-Type>
</Properties>
"#;

const METADATA_SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Metadata>
  <Photographer>Bob &amp; Alice</Photographer>
  <Ort>Zürich</Ort>
</Metadata>
"#;

/// The valid documents the mutations start from.
fn seeds() -> Vec<String> {
    vec![
        std::fs::read_to_string(corpus("valid.manifest.xml")).unwrap(),
        std::fs::read_to_string(corpus("valid.copylog.xml")).unwrap(),
        std::fs::read_to_string(corpus("manifest/page_range_beyond_length.xml"))
            .unwrap()
            .replace("<Length>1024</Length>", "<Length>2048</Length>"),
        std::fs::read_to_string(corpus("copylog/unsafe_dotdot.xml")).unwrap(),
        PROPERTIES_SAMPLE.to_string(),
        METADATA_SAMPLE.to_string(),
    ]
}

/// Fragments that matter to an XML parser.
const TOKENS: &[&str] = &[
    "<",
    ">",
    "/>",
    "</",
    "&",
    ";",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x110000;",
    "&#65;",
    "&x;",
    "\"",
    "'",
    "=",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<!DOCTYPE x>",
    "\u{feff}",
    "\r\n",
    "\n",
    " ",
    "\0",
    "é",
    "😀",
    "0",
    "-1",
    "18446744073709551616",
    "99999999999999999999",
    "4",
    "512",
    "<Blob>",
    "</Blob>",
    "<Block Offset=\"0\" Length=\"4\" Hash=\"8D777F385D3DFEC8815D20F7496026DC\"/>",
    "<PageRangeList>",
    "<BlockList>",
    "<DriveId>X</DriveId>",
    "<Properties Status=\"Failed\">",
    "<Path Hash=\"00\">",
    "<Metadata>",
    "<MetadataPath Hash=\"8D777F385D3DFEC8815D20F7496026DC\">",
    "Status=\"Completed\"",
    "Offset=\"",
    "Length=\"",
    "Hash=\"",
];

/// Element names a rename mutation swaps.
const NAMES: &[&str] = &[
    "DriveManifest",
    "Drive",
    "DriveId",
    "BlobList",
    "Blob",
    "BlobPath",
    "FilePath",
    "Length",
    "BlockList",
    "Block",
    "PageRangeList",
    "PageRange",
    "PropertiesPath",
    "MetadataPath",
    "DriveLog",
    "Status",
    "Properties",
    "Metadata",
    "Path",
    "X",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete {
        at: prop::sample::Index,
        length: usize,
    },
    Insert {
        at: prop::sample::Index,
        token: prop::sample::Index,
    },
    InsertText {
        at: prop::sample::Index,
        text: String,
    },
    Duplicate {
        from: prop::sample::Index,
        length: usize,
        to: prop::sample::Index,
    },
    Rename {
        from: prop::sample::Index,
        to: prop::sample::Index,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    use prop::sample::Index;
    prop_oneof![
        (any::<Index>(), 1usize..40).prop_map(|(at, length)| Mutation::Delete { at, length }),
        (any::<Index>(), any::<Index>()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (any::<Index>(), ".{1,8}").prop_map(|(at, text)| Mutation::InsertText { at, text }),
        (any::<Index>(), 1usize..120, any::<Index>())
            .prop_map(|(from, length, to)| Mutation::Duplicate { from, length, to }),
        (any::<Index>(), any::<Index>()).prop_map(|(from, to)| Mutation::Rename { from, to }),
    ]
}

fn mutate(seed: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for mutation in mutations {
        let len = chars.len();
        let pos = |index: &prop::sample::Index| index.index(len + 1);
        match mutation {
            Mutation::Delete { at, length } => {
                let start = pos(at).min(len);
                let end = (start + length).min(len);
                chars.drain(start..end);
            }
            Mutation::Insert { at, token } => {
                let token = TOKENS[token.index(TOKENS.len())];
                let at = pos(at);
                chars.splice(at..at, token.chars());
            }
            Mutation::InsertText { at, text } => {
                let at = pos(at);
                chars.splice(at..at, text.chars());
            }
            Mutation::Duplicate { from, length, to } => {
                let start = pos(from).min(len);
                let end = (start + length).min(len);
                let piece: Vec<char> = chars[start..end].to_vec();
                let to = pos(to);
                chars.splice(to..to, piece);
            }
            Mutation::Rename { from, to } => {
                let from = NAMES[from.index(NAMES.len())];
                let to = NAMES[to.index(NAMES.len())];
                let text: String = chars.iter().collect();
                let mut renamed = text;
                for (old, new) in [
                    (format!("<{from}>"), format!("<{to}>")),
                    (format!("<{from} "), format!("<{to} ")),
                    (format!("<{from}/>"), format!("<{to}/>")),
                    (format!("</{from}>"), format!("</{to}>")),
                ] {
                    renamed = renamed.replace(&old, &new);
                }
                chars = renamed.chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

fn fuzz_config(cases: u32) -> Config {
    Config {
        cases,
        // A failing case is kept (commit it) and tried first from then on.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/bad_inputs.txt"
        )))),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(fuzz_config(384))]

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        parse_all(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn parsers_never_panic_on_token_soup(
        tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..60),
    ) {
        parse_all(&tokens.concat())?;
    }

    #[test]
    fn parsers_never_panic_on_mutated_valid_documents(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let seeds = seeds();
        let seed = &seeds[seed.index(seeds.len())];
        parse_all(&mutate(seed, &mutations))?;
    }
}

#[test]
fn the_mutation_fuzzer_reaches_deep_into_the_parsers() {
    // Unmutated seeds parse; so the fuzzer starts from documents that reach every handler.
    let seeds = seeds();
    assert!(Manifest::parse_str(&seeds[0]).is_ok());
    assert!(CopyLog::parse_str(&seeds[1]).is_ok());
    assert!(Manifest::parse_str(&seeds[2]).is_ok());
    assert!(CopyLog::parse_str(&seeds[3]).is_ok());
    assert_eq!(
        PropertiesFile::parse_str(&seeds[4])
            .unwrap()
            .content_type
            .as_deref(),
        Some("image/jpeg")
    );
    assert_eq!(
        MetadataFile::parse_str(&seeds[5]).unwrap().entries[0].1,
        "Bob & Alice"
    );
    // A rename moves a BlockList out of its Blob (the known panic's input), so the fuzzer
    // reaches that class of bug; no other panic may come of it.
    let renamed = mutate(
        &seeds[0],
        &[Mutation::Rename {
            from: index_of(NAMES, "Blob"),
            to: index_of(NAMES, "X"),
        }],
    );
    assert!(renamed.contains("<X>") && renamed.contains("<BlobList>"));
    match guarded(|| Manifest::parse_str(&renamed)) {
        Ok((Parsed::Err(error), _)) => assert!(
            error
                .to_string()
                .contains("<BlockList> is only allowed inside a <Blob>"),
            "{error}"
        ),
        other => panic!("a BlockList outside its Blob must be refused: {other:?}"),
    }
}

/// An `Index` that selects `name` from `names`.
fn index_of(names: &[&str], name: &str) -> prop::sample::Index {
    use proptest::strategy::ValueTree;
    let position = names.iter().position(|n| *n == name).unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    loop {
        let index = any::<prop::sample::Index>()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        if index.index(names.len()) == position {
            return index;
        }
    }
}

/// The fuzz targets (`fuzz/src/targets.rs`), compiled in: the regressions replay through the
/// very functions the fuzzer calls.
#[path = "../fuzz/src/targets.rs"]
mod fuzz_targets;

/// Replays one input through a fuzz target; the path is the repair-file target's scratch file.
type Replay = fn(&Path, &[u8]);

/// Every fuzz target's replay here; a target of `fuzz/fuzz_targets/` missing from this list
/// fails [`fuzz_regressions_stay_fixed`].
const FUZZ_TARGETS: [(&str, Replay); 6] = [
    ("manifest", |_, data| fuzz_targets::manifest(data)),
    ("copy_log", |_, data| fuzz_targets::copy_log(data)),
    ("copy_log_2021", |_, data| fuzz_targets::copy_log_2021(data)),
    ("verbose_log", |_, data| fuzz_targets::verbose_log(data)),
    ("side_files", |_, data| fuzz_targets::side_files(data)),
    ("repair_file", fuzz_targets::repair_file_at),
];

/// Inputs for the fuzz targets (`fuzz/regressions/<target>/`, see its README): each target
/// has its folder with at least one input, and each input goes through the target's own
/// function (parsers, `Drive::build` alone and merged with a manifest, `failed_blobs()`; the
/// repair file opened, read, `record_intent`, `record_done`, read again); the XML inputs also
/// through [`parse_all`], which checks what the parsers return. None may panic.
#[test]
fn fuzz_regressions_stay_fixed() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut targets: Vec<String> = std::fs::read_dir(fuzz.join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .collect();
    targets.sort();
    let mut known: Vec<&str> = FUZZ_TARGETS.iter().map(|(name, _)| *name).collect();
    known.sort();
    assert_eq!(targets, known, "every fuzz target is replayed here");
    let scratch = tempfile::tempdir().unwrap();
    for (target, replay) in FUZZ_TARGETS {
        let dir = fuzz.join("regressions").join(target);
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}: every fuzz target has its folder", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{} holds no input", dir.display());
        for path in inputs {
            let bytes = std::fs::read(&path).unwrap();
            let rep = scratch.path().join("replay.rep");
            let replayed =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| replay(&rep, &bytes)));
            assert!(
                replayed.is_ok(),
                "{}: the {target} target panicked",
                path.display()
            );
            // The v1 readers' XML also through `parse_all`; the 2021 logs read raw bytes.
            if matches!(target, "manifest" | "copy_log" | "side_files")
                && let Err(failure) = parse_all(&String::from_utf8_lossy(&bytes))
            {
                panic!("{}: {failure}", path.display());
            }
        }
    }
}
