//! The report writers over real runs: a damaged sample drive is verified, then repaired
//! from a local mirror that cannot supply everything, and each report is checked by reading
//! it back: the JSON against docs/report.schema.json, the CSV against the report's totals,
//! the DriveLog with the project's own copy-log parser, the HTML in headless Chromium (a
//! screenshot is kept under target/test-artifacts/), and every format for leaked secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

#[path = "support/skip.rs"]
mod skip;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use export_repair::demo::{SampleBlob, SampleDrive, local_path, pseudo_random_bytes};
use export_repair::engine::{self, EngineHandle, RepairOptions, VerifyOptions};
use export_repair::format::copylog::CopyLog;
use export_repair::format::manifest::Manifest;
use export_repair::format::status::{BlobStatus, DriveStatus, FileStatus, RangeStatus};
use export_repair::journal::{self, Binding, RepairFile};
use export_repair::ledger::Ledger;
use export_repair::model::{ComponentKind, ComponentStatus, Drive, Outcome};
use export_repair::report::{self, Report, ReportFormat, RunInfo, csv::COLUMNS};
use export_repair::source::mirror::MirrorSource;
use serde_json::Value;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
/// A file name with everything HTML and CSV must escape or quote.
const NOTES: &str = r#"reports/Q1 <draft> & "notes", v2.txt"#;

/// The demo's canyon and redmond blobs (and their damage, in [`scenario`]), and files with what
/// the writers must escape, an archive the mirror lacks, an intact file and an empty one.
fn sample() -> SampleDrive {
    let demo = export_repair::demo::scenario::sample_drive();
    let from_demo = |blob_path: &str| {
        demo.blobs
            .iter()
            .find(|b| b.blob_path == blob_path)
            .expect("a blob of the demo")
            .clone()
    };
    SampleDrive {
        drive_id: "RPT0001".into(),
        blobs: vec![
            from_demo("photos/wild/canyon.jpg"),
            from_demo("photos/city/redmond.vhd"),
            SampleBlob::block(
                "backups/2012/archive.bin",
                pseudo_random_bytes(4, 6 * MIB as usize),
                MIB,
            )
            .with_properties("application/octet-stream"),
            SampleBlob::block(NOTES, pseudo_random_bytes(5, 5000), 1024),
            SampleBlob::block("data/ok.bin", pseudo_random_bytes(6, 100_000), 4096),
            SampleBlob::block("data/empty.log", Vec::new(), 4096).with_properties("text/plain"),
        ],
    }
}

/// The drive, damaged; the mirror, missing one blob and holding a changed copy of another.
struct Scenario {
    _dir: tempfile::TempDir,
    root: PathBuf,
    drive_dir: PathBuf,
    mirror: PathBuf,
    manifest: PathBuf,
}

fn scenario() -> Scenario {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let drive_dir = root.join("drive");
    let mirror = root.join("mirror");
    std::fs::create_dir_all(&drive_dir).unwrap();
    let sample = sample();
    sample.write_mirror(&mirror).unwrap();
    let manifest = sample.write(&drive_dir).unwrap();
    let path = |file_path: &str| local_path(&drive_dir, file_path).unwrap();
    // canyon: its second block zeroed.
    let canyon = path(r"\photos\wild\canyon.jpg");
    let mut bytes = std::fs::read(&canyon).unwrap();
    bytes[2721..5442].fill(0);
    std::fs::write(&canyon, bytes).unwrap();
    // redmond: a bit flip in its third range and a corrupted metadata file.
    let redmond = path(r"\photos\city\redmond.vhd");
    let mut bytes = std::fs::read(&redmond).unwrap();
    bytes[512 * 1024 + 100] ^= 0x20;
    std::fs::write(&redmond, bytes).unwrap();
    std::fs::write(path(r"\photos\city\redmond.vhd.metadata"), b"<Metadata/>").unwrap();
    // archive: gone from the drive, and from the mirror too.
    std::fs::remove_file(path(r"\backups\2012\archive.bin")).unwrap();
    std::fs::remove_file(mirror.join("backups/2012/archive.bin")).unwrap();
    // notes: truncated on the drive; the mirror's copy changed since the export.
    let notes = path(&export_repair::demo::file_path_for(NOTES));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&notes)
        .unwrap()
        .set_len(2000)
        .unwrap();
    let mut mirror_notes = mirror.clone();
    mirror_notes.extend(NOTES.split('/'));
    std::fs::write(&mirror_notes, pseudo_random_bytes(99, 5000)).unwrap();
    Scenario {
        _dir: dir,
        root,
        drive_dir,
        mirror,
        manifest,
    }
}

/// Fake secrets, passed the way the command line passes options.
const ACCOUNT_KEY: &str = "ZmFrZS1hY2NvdW50LWtleS1zaG91bGQtbmV2ZXItYmUtcHJpbnRlZA==";
const CONNECTION_KEY: &str = "Y29ubmVjdGlvbi1zdHJpbmcta2V5LW5vdC1mb3ItcmVwb3J0cw==";
const ROTATED_KEY: &str = "cm90YXRlZC1rZXktdGhhdC1zbGlwcGVkLWludG8tYS1ub3Rl";
const SAS_SIG_RAW: &str = "FAKEsig%2Bwith%2Fslash%3D";
const SAS_SIG_DECODED: &str = "FAKEsig+with/slash=";
const ENDPOINT_SIG: &str = "ENDPOINTsig0123456789abcdef";
const ALL_SECRETS: [&str; 6] = [
    ACCOUNT_KEY,
    CONNECTION_KEY,
    ROTATED_KEY,
    SAS_SIG_RAW,
    SAS_SIG_DECODED,
    ENDPOINT_SIG,
];

fn run_info(scenario: &Scenario) -> RunInfo {
    RunInfo::default()
        .with_inputs(Some(journal::file_md5(&scenario.manifest).unwrap()), None)
        .with_option("target", scenario.drive_dir.display())
        .with_option("manifest", scenario.manifest.display())
        .with_option("account", "exportacct")
        .with_option("account_key", ACCOUNT_KEY)
        .with_option(
            "sas",
            format!("sv=2022-11-02&sr=c&sp=rl&se=2030-01-01T00:00:00Z&sig={SAS_SIG_RAW}"),
        )
        .with_option(
            "blob_endpoint",
            format!("https://exportacct.blob.core.windows.net/?sv=2022-11-02&sig={ENDPOINT_SIG}"),
        )
        .with_option(
            "connection",
            format!(
                "DefaultEndpointsProtocol=https;AccountName=exportacct;AccountKey={CONNECTION_KEY}"
            ),
        )
        .with_option("note", format!("key rotated from {ROTATED_KEY}"))
        .with_option("concurrency", 8)
        .scrubbed(&[ROTATED_KEY])
}

/// The run's events folded into its ledger, read as a report.
async fn fold(mut handle: EngineHandle, drive: Arc<Drive>, run: RunInfo) -> Report {
    let mut ledger = Ledger::new(drive);
    while let Some(event) = handle.events.recv().await {
        ledger.apply(&event);
    }
    Report::of(&ledger, run)
}

fn drive(scenario: &Scenario) -> Arc<Drive> {
    let manifest = Manifest::from_file(&scenario.manifest).unwrap();
    Arc::new(Drive::build(Some(manifest), None).unwrap())
}

async fn verify_report(scenario: &Scenario) -> Report {
    let drive = drive(scenario);
    let handle = engine::start_verify(
        Arc::clone(&drive),
        scenario.drive_dir.clone(),
        VerifyOptions::default(),
    );
    fold(handle, drive, run_info(scenario)).await
}

async fn repair_report(scenario: &Scenario) -> Report {
    let drive = drive(scenario);
    let binding = Binding {
        drive_id: drive.drive_id.clone(),
        manifest_md5: Some(journal::file_md5(&scenario.manifest).unwrap()),
        copy_log_md5: None,
        verbose_log_md5: None,
    };
    let (repair_file, _) =
        RepairFile::open_or_create(&scenario.root.join("RPT0001.rep"), &binding).unwrap();
    let source = Arc::new(MirrorSource::new(&scenario.mirror).unwrap());
    let handle = engine::start_repair(
        Arc::clone(&drive),
        scenario.drive_dir.clone(),
        source,
        repair_file,
        RepairOptions::default(),
    );
    fold(handle, drive, run_info(scenario)).await
}

fn statuses_of(report: &Report, blob_path: &str) -> Vec<ComponentStatus> {
    let file = report
        .files
        .iter()
        .find(|f| f.blob_path == blob_path)
        .unwrap_or_else(|| panic!("{blob_path} is in the report"));
    file.components.iter().map(|c| c.status).collect()
}

/// The runs did what the scenario says, so the checks below are about the writers.
fn check_runs(verified: &Report, repaired: &Report) {
    use ComponentStatus::*;
    assert_eq!(verified.outcome, Outcome::Damaged);
    assert_eq!(
        statuses_of(verified, "photos/wild/canyon.jpg"),
        [Verified, Corrupt, Verified, Verified, Verified, Verified]
    );
    assert_eq!(
        statuses_of(verified, "backups/2012/archive.bin")[..6],
        [Missing; 6]
    );
    assert_eq!(repaired.outcome, Outcome::Damaged);
    assert_eq!(
        statuses_of(repaired, "photos/wild/canyon.jpg"),
        [Verified, Repaired, Verified, Verified, Verified, Verified]
    );
    assert_eq!(
        statuses_of(repaired, "backups/2012/archive.bin")[..6],
        [Failed; 6]
    );
    assert!(statuses_of(repaired, NOTES).contains(&Failed));
    assert!(
        statuses_of(repaired, "data/ok.bin")
            .iter()
            .all(|s| *s == Verified)
    );
    assert!(
        repaired.totals.count(Repaired) >= 3,
        "{:?}",
        repaired.totals
    );
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------------------
// JSON against the schema

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_reports_validate_against_the_published_schema() {
    let scenario = scenario();
    let verified = verify_report(&scenario).await;
    let repaired = repair_report(&scenario).await;
    check_runs(&verified, &repaired);
    let schema = schema();
    for (name, report) in [("verify", &verified), ("repair", &repaired)] {
        let path = artifacts().join(format!("report-{name}.json"));
        report::write_report(report, &path, None, None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        let errors = validate(&schema, &json);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), *report);
        assert_eq!(json["mode"], name);
        assert_eq!(
            json["manifest_md5"],
            journal::file_md5(&scenario.manifest).unwrap().to_string()
        );
        assert_eq!(json["copy_log_md5"], Value::Null);
        assert!(json["throughput"]["bytes"].as_u64().unwrap() > 0);
        assert!(json["started"].is_string() && json["finished"].is_string());
    }

    // The validator is not vacuous: each of these breaks the schema.
    let good: Value = serde_json::to_value(&repaired).unwrap();
    type Breakage = (&'static str, fn(&mut Value));
    let breakages: [Breakage; 6] = [
        ("unknown outcome", |v| v["outcome"] = "fine".into()),
        ("no drive_id", |v| {
            v.as_object_mut().unwrap().remove("drive_id");
        }),
        ("lower-case MD5", |v| {
            v["manifest_md5"] = "d41d8cd98f00b204e9800998ecf8427e".into()
        }),
        ("undocumented field", |v| v["extra"] = true.into()),
        ("negative length", |v| v["files"][0]["length"] = (-1).into()),
        ("unknown status key", |v| {
            v["totals"]["by_status"]["great"] = serde_json::json!({"components": 1, "bytes": 1})
        }),
    ];
    for (what, break_it) in breakages {
        let mut bad = good.clone();
        break_it(&mut bad);
        assert!(
            !validate(&schema, &bad).is_empty(),
            "{what} passed the schema"
        );
    }
}

fn schema() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/report.schema.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

/// A JSON Schema (draft 2020-12) validator for the keywords docs/report.schema.json uses.
/// Any other keyword is an error, so the schema cannot silently use one this ignores.
fn validate(schema: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, instance, "$", &mut errors);
    errors
}

fn check(root: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(keywords) = schema.as_object() else {
        errors.push(format!("{at}: schema is not an object"));
        return;
    };
    for (keyword, rule) in keywords {
        match keyword.as_str() {
            "$schema" | "$id" | "title" | "description" | "$defs" => {}
            "$ref" => {
                let name = rule
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .expect("only local #/$defs/ references");
                check(root, &root["$defs"][name], value, at, errors);
            }
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                    _ => panic!("bad type keyword"),
                };
                let matches = types.iter().any(|t| match *t {
                    "object" => value.is_object(),
                    "array" => value.is_array(),
                    "string" => value.is_string(),
                    "boolean" => value.is_boolean(),
                    "null" => value.is_null(),
                    "number" => value.is_number(),
                    "integer" => value.is_i64() || value.is_u64(),
                    other => panic!("unknown type {other}"),
                });
                if !matches {
                    errors.push(format!("{at}: {value} is not of type {types:?}"));
                }
            }
            "const" => {
                if value != rule {
                    errors.push(format!("{at}: {value} is not {rule}"));
                }
            }
            "enum" => {
                if !rule.as_array().unwrap().contains(value) {
                    errors.push(format!("{at}: {value} is not one of {rule}"));
                }
            }
            "required" => {
                if let Some(object) = value.as_object() {
                    for name in rule.as_array().unwrap().iter().filter_map(Value::as_str) {
                        if !object.contains_key(name) {
                            errors.push(format!("{at}: {name} is missing"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(object) = value.as_object() {
                    for (name, sub) in rule.as_object().unwrap() {
                        if let Some(field) = object.get(name) {
                            check(root, sub, field, &format!("{at}.{name}"), errors);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(object) = value.as_object() {
                    let known = schema.get("properties").and_then(Value::as_object);
                    for (name, field) in object {
                        if known.is_some_and(|k| k.contains_key(name)) {
                            continue;
                        }
                        match rule {
                            Value::Bool(false) => {
                                errors.push(format!("{at}: {name} is not allowed"));
                            }
                            Value::Bool(true) => {}
                            sub => check(root, sub, field, &format!("{at}.{name}"), errors),
                        }
                    }
                }
            }
            "propertyNames" => {
                if let Some(object) = value.as_object() {
                    for name in object.keys() {
                        check(
                            root,
                            rule,
                            &Value::from(name.as_str()),
                            &format!("{at}[{name}]"),
                            errors,
                        );
                    }
                }
            }
            "items" => {
                if let Some(items) = value.as_array() {
                    for (index, item) in items.iter().enumerate() {
                        check(root, rule, item, &format!("{at}[{index}]"), errors);
                    }
                }
            }
            "anyOf" => {
                let any = rule.as_array().unwrap().iter().any(|sub| {
                    let mut inner = Vec::new();
                    check(root, sub, value, at, &mut inner);
                    inner.is_empty()
                });
                if !any {
                    errors.push(format!("{at}: {value} matches none of anyOf"));
                }
            }
            "minimum" => {
                if let (Some(n), Some(min)) = (value.as_f64(), rule.as_f64())
                    && n < min
                {
                    errors.push(format!("{at}: {n} < {min}"));
                }
            }
            "minLength" => {
                if let Some(text) = value.as_str()
                    && (text.chars().count() as u64) < rule.as_u64().unwrap()
                {
                    errors.push(format!("{at}: {text:?} is too short"));
                }
            }
            "pattern" => {
                if let Some(text) = value.as_str()
                    && !known_pattern(rule.as_str().unwrap())(text)
                {
                    errors.push(format!("{at}: {text:?} does not match {rule}"));
                }
            }
            other => panic!("the schema uses {other:?}, which this validator does not know"),
        }
    }
}

/// The schema's patterns, each as code (no regex engine in the dev-dependencies).
fn known_pattern(pattern: &str) -> fn(&str) -> bool {
    match pattern {
        "^[0-9A-F]{32}$" => |text| {
            text.len() == 32
                && text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        },
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$" => {
            |text| {
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .is_ok()
                    && text.as_bytes().get(10) == Some(&b'T')
            }
        }
        // A CRC-64 in decimal, as the verbose log writes it: a u64 without leading zeros.
        "^(0|[1-9][0-9]{0,19})$" => |text| {
            text.parse::<u64>()
                .is_ok_and(|value| value.to_string() == text)
        },
        other => panic!("the schema uses a pattern this validator does not know: {other}"),
    }
}

// ---------------------------------------------------------------------------------------
// CSV

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_reports_parse_back_to_the_report() {
    let scenario = scenario();
    let verified = verify_report(&scenario).await;
    let repaired = repair_report(&scenario).await;
    check_runs(&verified, &repaired);
    for (name, report) in [("verify", &verified), ("repair", &repaired)] {
        let path = scenario.root.join(format!("{name}.csv"));
        report::write_report(report, &path, None, None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("\r\n"));
        let rows = parse_csv(&text);
        assert_eq!(rows[0], COLUMNS);
        let rows = &rows[1..];
        assert_eq!(rows.len() as u64, report.totals.components, "{name}");

        // The same numbers as the totals, which count the bytes of ranges (and of a file
        // known only from the copy log); a manifest blob's length check adds none.
        let copy_log_only = |blob_path: &str| {
            report.files.iter().any(|f| {
                f.blob_path == blob_path
                    && !f
                        .components
                        .iter()
                        .any(|c| matches!(c.kind, ComponentKind::Block | ComponentKind::Page))
            })
        };
        let counted = |row: &Vec<String>| -> u64 {
            match row[2].as_str() {
                "block" | "page" | "chunk" => row[4].parse().unwrap(),
                "file" if copy_log_only(&row[1]) => row[4].parse().unwrap(),
                _ => 0,
            }
        };
        let mut by_status: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for row in rows {
            let tally = by_status.entry(row[5].clone()).or_default();
            tally.0 += 1;
            tally.1 += counted(row);
        }
        let expected: BTreeMap<String, (u64, u64)> = report
            .totals
            .by_status
            .iter()
            .map(|(s, t)| (s.as_str().to_string(), (t.components, t.bytes)))
            .collect();
        assert_eq!(by_status, expected, "{name}");
        assert_eq!(rows.iter().map(counted).sum::<u64>(), report.totals.bytes);

        // Row by row, the report's components (quoted paths and reasons come back whole).
        let flattened: Vec<Vec<String>> = report
            .files
            .iter()
            .flat_map(|file| {
                file.components.iter().map(move |c| {
                    vec![
                        c.file_path
                            .clone()
                            .unwrap_or_else(|| file.file_path.clone()),
                        file.blob_path.clone(),
                        c.kind.as_str().to_string(),
                        c.offset.to_string(),
                        c.length.to_string(),
                        c.status.as_str().to_string(),
                        c.expected_md5.map(|m| m.to_string()).unwrap_or_default(),
                        c.actual_md5.map(|m| m.to_string()).unwrap_or_default(),
                        c.storage_md5.map(|m| m.to_string()).unwrap_or_default(),
                        String::new(),
                        c.reason.clone().unwrap_or_default(),
                        c.expected_crc64.map(|c| c.to_string()).unwrap_or_default(),
                        c.actual_crc64.map(|c| c.to_string()).unwrap_or_default(),
                        c.storage_crc64.map(|c| c.to_string()).unwrap_or_default(),
                    ]
                })
            })
            .collect();
        assert_eq!(rows, flattened.as_slice(), "{name}");
        let notes = rows
            .iter()
            .find(|r| r[1] == NOTES)
            .expect("the notes file has rows");
        assert_eq!(notes[0], export_repair::demo::file_path_for(NOTES));
        assert!(
            text.contains(r#""\reports\Q1 <draft> & ""notes"", v2.txt""#),
            "a path with a comma and quotes is quoted, its quotes doubled"
        );
        assert!(
            rows.iter().any(|r| r[10].contains(',')),
            "a reason with a comma survives"
        );
    }
}

/// An RFC 4180 reader: quoted fields may hold commas, CR, LF and doubled quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                assert!(field.is_empty(), "a quote inside an unquoted field");
                quoted = true;
            }
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            '\n' => panic!("a bare LF ends a row"),
            c => field.push(c),
        }
    }
    assert!(!quoted, "unterminated quoted field");
    assert!(
        field.is_empty() && row.is_empty(),
        "the last row has no CRLF"
    );
    rows
}

// ---------------------------------------------------------------------------------------
// DriveLog

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drive_logs_read_back_with_the_copy_log_parser() {
    let scenario = scenario();
    let verified = verify_report(&scenario).await;
    let repaired = repair_report(&scenario).await;
    check_runs(&verified, &repaired);
    for (name, report) in [("verify", &verified), ("repair", &repaired)] {
        let path = scenario.root.join(format!("{name}_DriveLog.xml"));
        report::write_report(report, &path, None, None).unwrap();
        let log = CopyLog::from_file(&path).unwrap();
        assert_eq!(log.drive_id, "RPT0001");
        assert_eq!(log.status, Some(DriveStatus::CompletedWithErrors));
        assert_eq!(log.blobs.len(), report.files.len());
        for (file, blob) in report.files.iter().zip(&log.blobs) {
            assert_eq!(blob.file_path, file.file_path);
            assert_eq!(blob.blob_path, file.blob_path);
            assert_eq!(blob.length, Some(file.length));
            let good = |s: ComponentStatus| {
                matches!(
                    s,
                    ComponentStatus::Verified
                        | ComponentStatus::Repaired
                        | ComponentStatus::Regenerated
                )
            };
            let all_good = file.components.iter().all(|c| good(c.status));
            // A file bad as a whole (its length check and every range bad) is the format's
            // FileNotFound when the file is missing, else Failed; any other damage leaves the
            // blob CompletedWithErrors.
            let length = file
                .components
                .iter()
                .find(|c| c.kind == ComponentKind::File)
                .map(|c| c.status);
            let whole_bad = length.is_some_and(|s| !good(s))
                && file
                    .components
                    .iter()
                    .filter(|c| matches!(c.kind, ComponentKind::Block | ComponentKind::Page))
                    .all(|c| !good(c.status));
            assert_eq!(
                blob.status,
                if all_good {
                    BlobStatus::Completed
                } else if whole_bad && length == Some(ComponentStatus::Missing) {
                    BlobStatus::FileNotFound
                } else if whole_bad {
                    BlobStatus::Failed
                } else {
                    BlobStatus::CompletedWithErrors
                },
                "{name} {}",
                file.file_path
            );
            let ranges: Vec<_> = file
                .components
                .iter()
                .filter(|c| matches!(c.kind, ComponentKind::Block | ComponentKind::Page))
                .collect();
            assert_eq!(blob.ranges.len(), ranges.len());
            for (component, range) in ranges.iter().zip(&blob.ranges) {
                assert_eq!(
                    (range.offset, range.length),
                    (component.offset, component.length)
                );
                assert_eq!(range.hash, component.expected_md5);
                let expected = match component.status {
                    ComponentStatus::Verified | ComponentStatus::Repaired => RangeStatus::Completed,
                    ComponentStatus::Corrupt => RangeStatus::Corrupted,
                    ComponentStatus::Missing => RangeStatus::FileUnexpectedEnd,
                    ComponentStatus::Failed => RangeStatus::Failed,
                    other => panic!("the scenario has no {other:?} range"),
                };
                assert_eq!(
                    range.status, expected,
                    "{name} {} @{}",
                    file.file_path, range.offset
                );
                if component.kind == ComponentKind::Block {
                    assert!(range.id.is_some(), "block IDs are kept");
                }
            }
            for (kind, side) in [
                (ComponentKind::Properties, &blob.properties),
                (ComponentKind::Metadata, &blob.metadata),
            ] {
                let component = file.components.iter().find(|c| c.kind == kind);
                assert_eq!(
                    component.is_some(),
                    side.is_some(),
                    "{kind:?} {}",
                    file.file_path
                );
                if let (Some(component), Some(side)) = (component, side) {
                    assert_eq!(side.path, component.file_path);
                    assert_eq!(side.status.is_completed(), good(component.status));
                    if component.status == ComponentStatus::Corrupt {
                        assert_eq!(side.status, FileStatus::Corrupted);
                    }
                }
            }
        }

        // Given back to the tool as its copy log, the DriveLog points at exactly what is
        // still damaged: the components a repair with it would fetch again.
        // A file's length has a code of its own only when the whole file is gone or failed;
        // otherwise its ranges carry it (their repair brings the file to its length).
        let manifest = Manifest::from_file(&scenario.manifest).unwrap();
        let drive = Drive::build(Some(manifest), Some(log.into())).unwrap();
        let flagged: Vec<(String, u64, ComponentKind)> = drive
            .components()
            .filter(|(_, _, c)| {
                c.copy_log_status
                    .as_ref()
                    .is_some_and(|s| !s.is_completed())
            })
            .map(|(_, blob, c)| (blob.file_path.clone(), c.offset, c.kind))
            .collect();
        let damaged: Vec<(String, u64, ComponentKind)> = report
            .files
            .iter()
            .flat_map(|f| {
                f.components
                    .iter()
                    .filter(|c| c.status.is_damage())
                    .map(|c| (f.file_path.clone(), c.offset, c.kind))
            })
            .collect();
        assert!(!damaged.is_empty());
        let without_lengths = |list: &[(String, u64, ComponentKind)]| {
            list.iter()
                .filter(|(_, _, kind)| *kind != ComponentKind::File)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            without_lengths(&flagged),
            without_lengths(&damaged),
            "{name}"
        );
        for (file, _, kind) in &damaged {
            if *kind == ComponentKind::File {
                assert!(
                    flagged
                        .iter()
                        .any(|(flagged_file, _, _)| flagged_file == file),
                    "{name}: the damaged length of {file} is carried by nothing"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTML in a real browser

fn chromium() -> Option<PathBuf> {
    // CHROMIUM names the browser; otherwise the usual names are looked up on PATH.
    let candidates = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    let found = match std::env::var_os("CHROMIUM") {
        Some(path) => Some(PathBuf::from(path)).filter(|path| path.is_file()),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .flat_map(|dir| candidates.iter().map(move |name| dir.join(name)))
                .find(|path| path.is_file())
        }),
    };
    if found.is_none() {
        skip::skip(
            "needs headless Chromium to render the HTML report \
             (Debian: apt-get install chromium; .ci/run installs it)",
        );
    }
    found
}

/// Runs Chromium headless on `page` with `extra` arguments, stdout to `stdout`.
fn run_chromium(browser: &Path, page: &Path, extra: &[String], stdout: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_reports_render_in_headless_chromium() {
    let scenario = scenario();
    let verified = verify_report(&scenario).await;
    let repaired = repair_report(&scenario).await;
    check_runs(&verified, &repaired);
    let artifacts = artifacts();
    let browser = chromium();
    for (name, report) in [("verify", &verified), ("repair", &repaired)] {
        let page = artifacts.join(format!("report-{name}.html"));
        report::write_report(report, &page, None, None).unwrap();
        let html = std::fs::read_to_string(&page).unwrap();
        // Self-contained: nothing is fetched, nothing needs a script.
        for reference in [
            "<script",
            "<link",
            "src=\"http",
            "href=\"http",
            "@import",
            "url(",
        ] {
            assert!(!html.contains(reference), "{name}: {reference} in the page");
        }
        assert!(html.contains("@media print"));
        assert!(html.contains(r"\reports\Q1 &lt;draft&gt; &amp; &quot;notes&quot;, v2.txt"));

        let Some(browser) = &browser else { continue };
        let dom_path = scenario.root.join(format!("{name}.dom.html"));
        run_chromium(browser, &page, &["--dump-dom".to_string()], &dom_path);
        let dom = std::fs::read_to_string(&dom_path).unwrap();
        assert!(
            dom.contains("class=\"banner damaged\""),
            "{name}: the outcome banner"
        );
        assert!(dom.contains(">DAMAGED<"), "{name}");
        // The file name stayed text: no <draft> element was made of it.
        assert!(dom.contains(r#"\reports\Q1 &lt;draft&gt; &amp; "notes", v2.txt"#));
        assert!(
            !dom.contains("<draft>"),
            "{name}: a file name became markup"
        );
        assert_eq!(
            dom.matches("<details class=\"file\"").count(),
            report.files.len(),
            "{name}: every file is listed"
        );
        // Failures first: the attention section names every damaged file before the list.
        let attention = dom.find("id=\"attention\"").unwrap();
        let list = dom.find("id=\"files\"").unwrap();
        for file in report
            .files
            .iter()
            .filter(|f| f.components.iter().any(|c| c.status.is_damage()))
        {
            let shown = export_repair::report::html::escape(&file.file_path)
                .replace("&quot;", "\"")
                .replace("&#39;", "'");
            let at = dom[attention..].find(&shown).map(|i| i + attention);
            assert!(
                at.is_some_and(|at| at < list),
                "{name}: {} is not under Needs attention",
                file.file_path
            );
        }
        let expected_word = if name == "repair" {
            "repaired"
        } else {
            "corrupt"
        };
        assert!(
            dom.contains(&format!("class=\"chip s-{expected_word}\"")),
            "{name}"
        );

        let screenshot = artifacts.join(if name == "repair" {
            "report.png".to_string()
        } else {
            format!("report-{name}.png")
        });
        let _ = std::fs::remove_file(&screenshot);
        run_chromium(
            browser,
            &page,
            &[
                format!("--screenshot={}", screenshot.display()),
                "--window-size=1280,1600".to_string(),
            ],
            &scenario.root.join("screenshot.log"),
        );
        let png = std::fs::read(&screenshot).unwrap();
        assert_eq!(png_size(&png), (1280, 1600), "{name}");
        assert!(
            png.len() > 20_000,
            "{name}: a blank screenshot is tiny ({} bytes)",
            png.len()
        );
        eprintln!("screenshot: {}", screenshot.display());

        // It prints: the print style sheet lays it out as a PDF.
        let pdf = artifacts.join(format!("report-{name}.pdf"));
        let _ = std::fs::remove_file(&pdf);
        run_chromium(
            browser,
            &page,
            &[
                format!("--print-to-pdf={}", pdf.display()),
                "--no-pdf-header-footer".to_string(),
            ],
            &scenario.root.join("print.log"),
        );
        let pdf = std::fs::read(&pdf).unwrap();
        assert!(pdf.starts_with(b"%PDF-"), "{name}: not a PDF");
        assert!(
            pdf.len() > 10_000,
            "{name}: an empty PDF ({} bytes)",
            pdf.len()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Secrets

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_report_format_contains_a_secret() {
    let scenario = scenario();
    let report = verify_report(&scenario).await;
    assert_eq!(report.run.options["account_key"], report::REDACTED);
    for format in ReportFormat::ALL {
        let path = scenario.root.join(format!("secrets.{}", format.as_str()));
        report::write_report(&report, &path, Some(format), None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for secret in ALL_SECRETS {
            assert!(!text.contains(secret), "{format}: {secret} leaked");
            let encoded: String = url_encode(secret);
            assert!(!text.contains(&encoded), "{format}: {encoded} leaked");
        }
        if format != ReportFormat::Csv {
            // The options are in it, masked, not left out.
            assert!(text.contains("blob_endpoint"), "{format}");
            assert!(
                text.contains("exportacct.blob.core.windows.net"),
                "{format}"
            );
            assert!(
                text.contains("<redacted>") || text.contains("&lt;redacted&gt;"),
                "{format}"
            );
        }
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Formats by extension

#[test]
fn formats_are_chosen_by_extension_or_by_name() {
    assert_eq!(
        ReportFormat::from_path(Path::new("r.JSON")),
        Some(ReportFormat::Json)
    );
    assert_eq!(
        ReportFormat::from_path(Path::new("r.htm")),
        Some(ReportFormat::Html)
    );
    assert_eq!(
        ReportFormat::from_path(Path::new("r.html")),
        Some(ReportFormat::Html)
    );
    assert_eq!(
        ReportFormat::from_path(Path::new("r.csv")),
        Some(ReportFormat::Csv)
    );
    assert_eq!(
        ReportFormat::from_path(Path::new("r.xml")),
        Some(ReportFormat::DriveLog)
    );
    assert_eq!(ReportFormat::from_path(Path::new("report")), None);
    assert_eq!(
        "drivelog".parse::<ReportFormat>(),
        Ok(ReportFormat::DriveLog)
    );
    assert_eq!("HTML".parse::<ReportFormat>(), Ok(ReportFormat::Html));
    for format in ReportFormat::ALL {
        assert_eq!(format.as_str().parse::<ReportFormat>(), Ok(format));
    }
    let error = "pdf".parse::<ReportFormat>().unwrap_err();
    assert!(
        error.to_string().contains("json, html, csv or xml"),
        "{error}"
    );
    assert_eq!(
        ReportFormat::resolve(Path::new("out.txt"), Some(ReportFormat::Csv)),
        Ok(ReportFormat::Csv)
    );
    assert!(ReportFormat::resolve(Path::new("out.txt"), None).is_err());

    // An unknown extension writes nothing.
    let dir = tempfile::tempdir().unwrap();
    let report = Report::of(
        &Ledger::new(Arc::new(
            Drive::build(Some(sample().manifest()), None).unwrap(),
        )),
        RunInfo::default(),
    );
    let path = dir.path().join("report.txt");
    let error = report::write_report(&report, &path, None, None).unwrap_err();
    assert_eq!(error.source.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains(".txt"), "{error}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // A report of a run that never started: every component not checked, nothing else made up.
    report::write_report(&report, &dir.path().join("r.json"), None, None).unwrap();
    assert_eq!(
        report.totals.count(ComponentStatus::Skipped),
        report.totals.components
    );
    assert_eq!(report.throughput.bytes_per_second, None);
    assert_eq!(report.mode, None);
}

// ---------------------------------------------------------------------------------------
// A drive from 2021 on: every format shows its CRC-64 checks, chunk maps and categories

/// A 2021 export on disk (verbose log and copy log, no manifest), repaired chunk by chunk
/// from a local mirror: a file with one damaged chunk of three, a missing one, one the copy
/// log names with a category no download fixes.
async fn report_2021() -> (tempfile::TempDir, Report, Report) {
    use export_repair::format::Crc64;
    use export_repair::format::copylog::AnyCopyLog;
    use export_repair::format::copylog::v2021::CopyLog2021;
    use export_repair::format::verbose_log::VerboseLog;
    use export_repair::model::Logs;
    let dir = tempfile::tempdir().unwrap();
    let (drive_dir, mirror) = (dir.path().join("drive"), dir.path().join("mirror"));
    let files = [
        (
            "c2021/big.bin",
            pseudo_random_bytes(70, (16 * MIB + 300) as usize),
        ),
        ("c2021/gone.bin", pseudo_random_bytes(71, 70_000)),
    ];
    let mut verbose = String::new();
    for (path, data) in &files {
        for root in [&drive_dir, &mirror] {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, data).unwrap();
        }
        verbose.push_str(&format!(
            "<File CloudFormat=\"BlockBlob\" ETag=\"0x8D1\" Path=\"{path}\" Size=\"{}\" crc64=\"{}\"></File>\n",
            data.len(),
            Crc64::of(data)
        ));
    }
    let big = drive_dir.join("c2021/big.bin");
    let mut bytes = std::fs::read(&big).unwrap();
    bytes[(8 * MIB + 3) as usize] ^= 4;
    std::fs::write(&big, bytes).unwrap();
    std::fs::remove_file(drive_dir.join("c2021/gone.bin")).unwrap();
    let copy_log = CopyLog2021::parse_str(
        "<ErroredEntity CloudFormat=\"BlockBlob\" Path=\"c2021/dir/\"><Category>FileNameTrailsWithSlash</Category>\
         <ETag>0x8D2</ETag><ErrorCode>1</ErrorCode><ErrorMessage>name ends in a slash</ErrorMessage><Type>File</Type></ErroredEntity>\
         <CopyLog Summary=\"Summary\"><DriveLogVersion>2021-08-01</DriveLogVersion><DriveId>RPT2021</DriveId><Status>Failed</Status></CopyLog>",
    )
    .unwrap();
    let logs = Logs {
        copy_log: Some(AnyCopyLog::from(copy_log)),
        verbose_log: Some(VerboseLog::parse_str(&verbose).unwrap()),
        drive_id: None,
    };
    let drive = Arc::new(Drive::build(None, Some(logs)).unwrap());
    let handle = engine::start_verify(
        Arc::clone(&drive),
        drive_dir.clone(),
        VerifyOptions::default(),
    );
    let verified = fold(handle, Arc::clone(&drive), RunInfo::default()).await;
    let binding = Binding {
        drive_id: drive.drive_id.clone(),
        manifest_md5: None,
        copy_log_md5: None,
        verbose_log_md5: None,
    };
    let (repair_file, _) =
        RepairFile::open_or_create(&dir.path().join("RPT2021.rep"), &binding).unwrap();
    let source = Arc::new(MirrorSource::new(&mirror).unwrap());
    let handle = engine::start_repair(
        Arc::clone(&drive),
        drive_dir,
        source,
        repair_file,
        RepairOptions::default(),
    );
    let report = fold(handle, drive, RunInfo::default()).await;
    (dir, verified, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2021_drive_is_reported_with_its_crc64_checks_chunk_maps_and_categories() {
    use ComponentStatus::*;
    let (dir, verified, report) = report_2021().await;
    assert_eq!(
        statuses_of(&verified, "c2021/big.bin"),
        [Skipped, Skipped, Skipped, Corrupt]
    );
    assert_eq!(statuses_of(&verified, "c2021/gone.bin"), [Missing, Missing]);
    assert_eq!(
        statuses_of(&report, "c2021/big.bin"),
        [Verified, Repaired, Verified, Repaired]
    );
    assert_eq!(statuses_of(&report, "c2021/gone.bin"), [Repaired, Repaired]);
    assert_eq!(statuses_of(&report, "c2021/dir/"), [Failed]);

    // JSON: valid against the schema, the CRC-64s as decimal strings, the 2021 facts.
    let schema = schema();
    let json = serde_json::to_value(&report).unwrap();
    let errors = validate(&schema, &json);
    assert!(errors.is_empty(), "{errors:#?}");
    let big = &json["files"][0];
    assert_eq!(big["export"]["cloud_format"], "BlockBlob");
    let whole = &big["components"][3];
    assert_eq!(whole["kind"], "crc64");
    assert!(whole["expected_crc64"].is_string());
    let chunk = &big["components"][1];
    assert!(chunk["storage_crc64"].is_string() && chunk["actual_crc64"].is_string());
    // A repaired chunk's CRC-64 on the drive is the one read back after writing, the blob's
    // (seen failing: the damaged bytes' CRC-64, from before the repair).
    let on_disk = std::fs::read(dir.path().join("drive/c2021/big.bin")).unwrap();
    let repaired_crc =
        export_repair::format::Crc64::of(&on_disk[(8 * MIB) as usize..(16 * MIB) as usize]);
    assert_eq!(chunk["actual_crc64"], repaired_crc.to_string());
    assert_eq!(chunk["storage_crc64"], chunk["actual_crc64"]);
    assert_eq!(whole["actual_crc64"], whole["expected_crc64"]);
    let slash = &json["files"][2];
    assert_eq!(slash["export"]["category"], "FileNameTrailsWithSlash");
    assert_eq!(slash["export"]["action"], "report");

    // CSV: the CRC-64 columns.
    let csv = report::render_to_string(&report, ReportFormat::Csv);
    let rows = parse_csv(&csv);
    let at = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap();
    let chunk_row = rows
        .iter()
        .find(|r| r[1] == "c2021/big.bin" && r[2] == "chunk" && r[5] == "repaired")
        .unwrap();
    assert_eq!(
        chunk_row[at("storage_crc64")],
        chunk["storage_crc64"].as_str().unwrap()
    );
    assert_eq!(
        chunk_row[at("drive_crc64")],
        chunk["actual_crc64"].as_str().unwrap()
    );

    // HTML: the CRC-64 cells, the 2021 facts and the category's advice.
    let html = report::render_to_string(&report, ReportFormat::Html);
    assert!(
        html.contains("CRC-64 (verbose log)"),
        "the whole-file check's cell"
    );
    assert!(html.contains("CRC-64 from storage"), "a chunk's cell");
    assert!(html.contains("copy log: <strong>FileNameTrailsWithSlash</strong>"));
    assert!(html.contains("cannot be on any drive under that name"));

    // DriveLog: the v1 vocabulary; the 2021 files by their whole-file check, no chunk ranges.
    let path = dir.path().join("RPT2021_DriveLog.xml");
    report::write_report(&report, &path, None, None).unwrap();
    let log = CopyLog::from_file(&path).unwrap();
    let status = |blob_path: &str| {
        let blob = log.blobs.iter().find(|b| b.blob_path == blob_path).unwrap();
        assert!(blob.ranges.is_empty(), "{blob_path}: chunks are not ranges");
        blob.status.clone()
    };
    assert_eq!(status("c2021/big.bin"), BlobStatus::Completed);
    assert_eq!(status("c2021/gone.bin"), BlobStatus::Completed);
    assert_eq!(status("c2021/dir/"), BlobStatus::Failed);
    // Before the repair: a file whose check fails is Failed, a missing one FileNotFound.
    report::write_report(&verified, &path, None, None).unwrap();
    let log = CopyLog::from_file(&path).unwrap();
    let status = |blob_path: &str| {
        let blob = log.blobs.iter().find(|b| b.blob_path == blob_path).unwrap();
        blob.status.clone()
    };
    assert_eq!(status("c2021/big.bin"), BlobStatus::Failed);
    assert_eq!(status("c2021/gone.bin"), BlobStatus::FileNotFound);
}
