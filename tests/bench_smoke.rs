//! A smoke run of each benchmark (`benches/verify.rs`, `benches/console.rs`) in the test
//! suite: small sizes, and the benchmarks' own checks of what they measured (every component
//! verified, every block parsed, every folder shown, keys answered), never their timings.
//!
//! The benchmarks are compiled in here as modules; without `--bench` on the command line
//! each runs its smoke mode. Cargo.toml builds this target without libtest's harness (the
//! verify benchmark re-runs its own executable to measure parsing in a child), so it takes
//! the usual `cargo test` arguments itself: a name filter, `--list`, `--ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.
#![allow(clippy::duplicate_mod)] // Both benchmarks bring benches/support/cpu.rs.

#[path = "../benches/console.rs"]
mod console;
#[path = "../benches/verify.rs"]
mod verify;

const BENCHES: [(&str, fn()); 2] = [("verify", verify::main), ("console", console::main)];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .iter()
        .any(|a| verify::CHILD_FLAGS.contains(&a.as_str()))
    {
        verify::main();
        return;
    }
    if args.iter().any(|a| a == "--list") {
        for (name, _) in BENCHES {
            println!("{name}: test");
        }
        return;
    }
    if args.iter().any(|a| a == "--ignored") {
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    for (name, bench) in BENCHES {
        let full = format!("bench_smoke::{name}");
        if filters.is_empty() || filters.iter().any(|f| full.contains(f.as_str())) {
            println!("\n=== bench smoke run: {name} ===");
            bench();
        }
    }
}
