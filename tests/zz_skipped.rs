//! The last test binary of `cargo test`: lists every test of this run that could not run on
//! this machine, with its reason, at the end of the output (see `tests/support/skip.rs`).
//!
//! Cargo runs a package's test targets in the order of their names, after the unit tests of
//! the library and the binary, hence the name; Cargo.toml builds it without libtest's harness,
//! so it also runs when `cargo test` is given a filter.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

#[path = "support/skip.rs"]
mod skip;

use std::collections::BTreeSet;

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let run = skip::run_id();
    let mut skipped = BTreeSet::new();
    for entry in std::fs::read_dir(skip::records_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if stem == run {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            skipped.extend(text.lines().map(str::to_owned));
            let _ = std::fs::remove_file(&path);
        } else if let Some(pid) = stem.split('-').next().and_then(|p| p.parse().ok())
            && skip::run_id_of(pid) != stem
        {
            // Left by a run that stopped before this binary (a test failed): not this run's.
            let _ = std::fs::remove_file(&path);
        }
    }
    println!();
    if skipped.is_empty() {
        println!("skipped tests: none");
        return;
    }
    println!(
        "SKIPPED: {} tests could not run on this machine (with CI=true each is a failure):",
        skipped.len()
    );
    for line in &skipped {
        let mut fields = line.splitn(3, '\t');
        let (binary, test, reason) = (
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
        );
        println!("  {binary}::{test}: {reason}");
    }
    if skip::in_ci() {
        eprintln!("with CI set no test may skip");
        std::process::exit(1);
    }
}
