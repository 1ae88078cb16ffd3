//! Tests that cannot run on this machine (not root, no `/dev/fuse`, no tmux, no Chromium, no
//! Azurite, …) say so instead of passing quietly.
//!
//! With `CI` set (`true` or `1`, any case) a missing prerequisite fails the test: CI must run
//! everything. Otherwise [`skip`] prints the reason at once (past libtest's capture) and records
//! it under `target/tmp/skipped-tests/`, one file per `cargo test` run; the run's last test
//! binary (`tests/zz_skipped.rs`) lists every skipped test with its reason at the end of the
//! output.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

/// Whether this is a CI run, where every test must run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The running test cannot run here because of `reason` (what is missing and how to get it).
/// Fails the test under CI; otherwise prints and records the skip. The caller then returns.
pub fn skip(reason: &str) {
    assert!(
        !in_ci(),
        "cannot run: {reason}. With CI set a test that cannot run fails instead of skipping"
    );
    let test = test_name();
    let binary = env!("CARGO_CRATE_NAME");
    // Straight to stderr: libtest would hide an `eprintln!` of a passing test.
    let _ = writeln!(std::io::stderr(), "skipped: {binary}::{test}: {reason}");
    let dir = records_dir();
    let recorded = std::fs::create_dir_all(&dir).and_then(|()| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{}.tsv", run_id())))?;
        // One line, one write: skips of tests running side by side do not interleave.
        let line = format!("{binary}\t{test}\t{}\n", reason.replace(['\t', '\n'], " "));
        file.write_all(line.as_bytes())
    });
    if let Err(error) = recorded {
        let _ = writeln!(
            std::io::stderr(),
            "could not record the skip in {}: {error}",
            dir.display()
        );
    }
}

/// libtest names each test's thread after the test.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "(a test)".to_string(),
    }
}

/// Where skips are recorded: `target/tmp/skipped-tests/`.
pub fn records_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests")
}

/// The `cargo test` run this process belongs to: cargo, its parent.
pub fn run_id() -> String {
    #[cfg(unix)]
    let parent = std::os::unix::process::parent_id();
    #[cfg(not(unix))]
    let parent = 0;
    run_id_of(parent)
}

/// A run by the process id and start time of its `cargo test` (so a reused id is another run);
/// the start time is empty once that process has ended.
pub fn run_id_of(pid: u32) -> String {
    // Field 22 of /proc/<pid>/stat, the 20th after the parenthesised command name.
    let started = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after_name = stat.rsplit_once(')')?.1.to_string();
            after_name.split_whitespace().nth(19).map(str::to_owned)
        })
        .unwrap_or_default();
    format!("{pid}-{started}")
}
