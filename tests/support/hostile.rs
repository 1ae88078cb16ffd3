//! Hostile drives the tests build themselves: a sample export written as a drive and as a
//! local mirror to repair it from, an `outside` folder beside the drive whose bytes no run may
//! change, and the run's other paths (repair file, log folder, report).
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use export_repair::demo::{SampleBlob, SampleDrive, file_path_for, local_path};
use serde_json::Value;

/// A run's end as the user sees it.
#[derive(Debug)]
pub struct Seen {
    /// `None` when the run was killed (a timeout: it hung).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Seen {
    /// Both streams, for messages.
    pub fn text(&self) -> String {
        format!("exit {:?}\n{}\n{}", self.code, self.stdout, self.stderr)
    }

    /// The first event named `name` a `--json` run wrote to stdout.
    #[allow(dead_code)] // Not every test binary that shares this module reads events.
    pub fn event(&self, name: &str) -> Value {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .find(|event| event["event"] == name)
            .unwrap_or_else(|| panic!("no {name} event: {}", self.text()))
    }
}

/// Runs `command` to its end (at most `timeout`: a run that hangs is killed and seen with no
/// exit code); a panic fails the test.
pub fn run(mut command: assert_cmd::Command, timeout: Duration) -> Seen {
    let output = command.timeout(timeout).output().unwrap();
    let seen = Seen {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(!seen.stderr.contains("panicked"), "{}", seen.text());
    seen
}

/// A sample export on a drive, its mirror, and the paths of a run.
pub struct Hostile {
    pub dir: tempfile::TempDir,
    pub sample: SampleDrive,
}

impl Hostile {
    /// Writes the intact drive (with its manifest), the mirror and an empty `outside` folder.
    pub fn new(drive_id: &str, blobs: Vec<SampleBlob>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sample = SampleDrive {
            drive_id: drive_id.into(),
            blobs,
        };
        let hostile = Self { dir, sample };
        std::fs::create_dir_all(hostile.drive()).unwrap();
        hostile.sample.write(&hostile.drive()).unwrap();
        hostile.sample.write_mirror(&hostile.mirror()).unwrap();
        std::fs::create_dir_all(hostile.outside()).unwrap();
        hostile
    }

    pub fn drive(&self) -> PathBuf {
        self.dir.path().join("drive")
    }
    pub fn mirror(&self) -> PathBuf {
        self.dir.path().join("mirror")
    }
    /// A folder beside the drive: what links on the drive lead to.
    pub fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }
    pub fn manifest(&self) -> PathBuf {
        self.drive()
            .join(format!("{}.manifest", self.sample.drive_id))
    }
    pub fn copy_log(&self) -> PathBuf {
        self.dir.path().join("copy.xml")
    }
    pub fn repair_file(&self) -> PathBuf {
        self.dir.path().join("drive.rep")
    }
    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }
    pub fn report(&self) -> PathBuf {
        self.dir.path().join("report.json")
    }

    /// The drive file of a FilePath (no lookups).
    pub fn local(&self, file_path: &str) -> PathBuf {
        local_path(&self.drive(), file_path).unwrap()
    }
    /// The drive file of a blob path, as an export names it.
    pub fn file(&self, blob_path: &str) -> PathBuf {
        self.local(&file_path_for(blob_path))
    }
    pub fn blob(&self, blob_path: &str) -> &SampleBlob {
        self.sample
            .blobs
            .iter()
            .find(|b| b.blob_path == blob_path)
            .unwrap()
    }

    /// Writes the manifest again from the sample (after its entries were edited).
    pub fn write_manifest(&self) {
        std::fs::write(self.manifest(), self.sample.manifest().to_xml()).unwrap();
    }

    /// `repair --headless` from the mirror with the manifest, a log folder and a JSON report.
    pub fn repair(&self) -> assert_cmd::Command {
        let mut command = assert_cmd::Command::cargo_bin("export-repair").unwrap();
        command.args(self.repair_args());
        command
    }

    pub fn repair_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["repair".into(), "--headless".into()];
        for (flag, value) in [
            ("--repair-file", self.repair_file()),
            ("--target", self.drive()),
            ("--manifest", self.manifest()),
            ("--source-dir", self.mirror()),
            ("--log-dir", self.logs()),
            ("--report", self.report()),
        ] {
            args.push(flag.into());
            args.push(value.into());
        }
        args
    }

    /// `verify` with the manifest and a JSON report.
    pub fn verify(&self) -> assert_cmd::Command {
        let mut command = assert_cmd::Command::cargo_bin("export-repair").unwrap();
        command
            .arg("verify")
            .arg("--target")
            .arg(self.drive())
            .arg("--manifest")
            .arg(self.manifest())
            .arg("--report")
            .arg(self.report());
        command
    }

    pub fn report_json(&self) -> Value {
        read_json(&self.report())
    }
}

pub fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("the report {} was not written: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// The components of `kind` (`block`, `file`, `properties`, …) of the report's file entry for
/// `file_path`.
pub fn components<'a>(report: &'a Value, file_path: &str, kind: &str) -> Vec<&'a Value> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file_path"] == file_path)
        .unwrap_or_else(|| panic!("{file_path} is not in the report: {report}"))["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .collect()
}

/// Every component of the report's entry for `file_path`, as `(status, reason)`.
pub fn verdicts(report: &Value, file_path: &str) -> Vec<(String, String)> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file_path"] == file_path)
        .unwrap_or_else(|| panic!("{file_path} is not in the report: {report}"))["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The peak resident memory of a run in KiB, as GNU time measures it (`None`: the test is
/// skipped, saying why).
pub fn peak_rss(args: &[OsString], timeout: Duration) -> Option<(Seen, u64)> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        super::skip::skip("needs GNU time at /usr/bin/time (Debian package time)");
        return None;
    }
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut command = assert_cmd::Command::new(time);
    command
        .env_remove("AZURE_STORAGE_KEY")
        .env_remove("AZURE_STORAGE_SAS")
        .args(["-f", "%M", "-o"])
        .arg(out.path())
        .arg(assert_cmd::cargo::cargo_bin("export-repair"))
        .args(args);
    let seen = run(command, timeout);
    let kib = std::fs::read_to_string(out.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time wrote no peak: {}", seen.text()));
    Some((seen, kib))
}
