//! The targets without libFuzzer (no nightly needed): every seed of the corpus, then a fixed
//! number of mutations of them (bit flips, byte changes, insertions of XML tokens and large
//! numbers, deletions, duplications, splices of two seeds). A panic saves the input under
//! `fuzz/artifacts/<target>/` and exits 1.
//!
//! `<target> [ITERATIONS] [--seconds N] [--write-seed DIR]`; ITERATIONS defaults to 20000.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOKENS: &[&[u8]] = &[
    b"<",
    b">",
    b"</",
    b"/>",
    b"<?xml version=\"1.0\" encoding=\"utf-8\"?>",
    b"<!DOCTYPE x [<!ENTITY a \"b\">]>",
    b"&amp;",
    b"&#x0;",
    b"&#65;",
    b"&lt;",
    b"&unknown;",
    b"<![CDATA[",
    b"]]>",
    b"\"",
    b"'",
    b"=",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\xC3\x28",
    b"0",
    b"-1",
    b"4294967296",
    b"18446744073709551615",
    b"18446744073709551616",
    b"99999999999999999999999",
    b"00000000000000000000000000000000",
    b"Offset=\"",
    b"Length=\"",
    b"Hash=\"",
    b"<Blob>",
    b"</Blob>",
    b"<Block ",
    b"<PageRange ",
    b"<BlobPath>",
    b"<FilePath>",
    b"<Length>",
    b"\\..\\",
    b"C:\\",
    b"\\\\server\\",
    b"Status=\"Failed\"",
    b"Status=\"FileNotFound\"",
    b"<Snapshot>",
    b"<PropertiesPath>",
    b"<MetadataPath>",
    b"SQLite format 3\0",
];

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(8) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] = rng.next() as u8;
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            3 if !data.is_empty() => {
                let end = (at + 1 + rng.below(64)).min(data.len());
                data.drain(at.min(end)..end);
            }
            4 if !data.is_empty() => {
                let start = rng.below(data.len());
                let end = (start + 1 + rng.below(256)).min(data.len());
                let copy = data[start..end].to_vec();
                data.splice(at..at, copy);
            }
            5 if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(1024)).min(other.len());
                data.splice(at..at, other[start..end].iter().copied());
            }
            6 => data.truncate(at),
            _ => {
                // A run of one character, the way nesting and long numbers break parsers.
                let byte = *b"<9a/ \"".get(rng.below(6)).unwrap_or(&b'<');
                let count = 1 + rng.below(300);
                data.splice(at..at, std::iter::repeat_n(byte, count));
            }
        }
    }
    data.truncate(1 << 20);
    data
}

/// Puts the generated repair-file seed into `fuzz/corpus/repair_file/` (libFuzzer's `init`).
pub fn write_repair_file_seed() {
    let dir = fuzz_dir().join("corpus").join("repair_file");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("generated.rep"), crate::repair_file_seed());
}

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Seed files: `fuzz/seeds/<target>/`, `fuzz/corpus/<target>/` (what libFuzzer kept),
/// `fuzz/regressions/<target>/` and the test corpus.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let tests = fuzz_dir().join("../tests/corpus");
    let mut dirs = vec![
        fuzz_dir().join("seeds").join(target),
        fuzz_dir().join("corpus").join(target),
        fuzz_dir().join("regressions").join(target),
    ];
    match target {
        "manifest" => dirs.push(tests.join("manifest")),
        "copy_log" => dirs.push(tests.join("copylog")),
        _ => {}
    }
    let mut out = Vec::new();
    if matches!(target, "manifest" | "copy_log" | "side_files") {
        for name in ["valid.manifest.xml", "valid.copylog.xml"] {
            if let Ok(bytes) = std::fs::read(tests.join(name)) {
                out.push((name.to_string(), bytes));
            }
        }
    }
    if target == "repair_file" {
        out.push(("generated seed".into(), crate::repair_file_seed()));
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.is_file()) {
            if let Ok(bytes) = std::fs::read(&path) {
                out.push((path.display().to_string(), bytes));
            }
        }
    }
    out
}

fn save_crash(target: &str, data: &[u8]) -> PathBuf {
    let dir = fuzz_dir().join("artifacts").join(target);
    std::fs::create_dir_all(&dir).expect("artifacts directory");
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let path = dir.join(format!("crash-{hash:016x}"));
    std::fs::write(&path, data).expect("write the crashing input");
    path
}

fn run_one(target: &str, f: fn(&[u8]), data: &[u8], slow: &mut Vec<(Duration, usize)>) {
    let started = Instant::now();
    if catch_unwind(AssertUnwindSafe(|| f(data))).is_err() {
        let path = save_crash(target, data);
        eprintln!(
            "{target}: PANIC on a {}-byte input, saved to {}",
            data.len(),
            path.display()
        );
        std::process::exit(1);
    }
    let took = started.elapsed();
    if took > Duration::from_secs(1) {
        slow.push((took, data.len()));
    }
}

/// Runs `target` standalone; see the module documentation for the arguments.
pub fn run(target: &str, f: fn(&[u8])) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut iterations: u64 = 20_000;
    let mut seconds: Option<u64> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--seconds" => {
                seconds = args.get(i + 1).and_then(|s| s.parse().ok());
                iterations = u64::MAX;
                i += 1;
            }
            "--write-seed" => {
                let dir = Path::new(args.get(i + 1).expect("--write-seed DIR"));
                std::fs::create_dir_all(dir).expect("seed directory");
                if target == "repair_file" {
                    std::fs::write(dir.join("generated.rep"), crate::repair_file_seed())
                        .expect("write the seed");
                }
                return;
            }
            n => iterations = n.parse().expect("ITERATIONS must be a number"),
        }
        i += 1;
    }
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "{target}: no seed corpus found");
    let mut slow = Vec::new();
    for (_, data) in &seeds {
        run_one(target, f, data, &mut slow);
    }
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut rng = Rng(0x5EED_0000_0000_0001 ^ target.len() as u64);
    let mut done = 0u64;
    while done < iterations && deadline.is_none_or(|d| Instant::now() < d) {
        let seed = &seeds[rng.below(seeds.len())].1;
        let other = &seeds[rng.below(seeds.len())].1;
        let data = mutate(&mut rng, seed, other);
        run_one(target, f, &data, &mut slow);
        done += 1;
    }
    println!(
        "{target}: {} seeds and {done} mutated inputs, no panic{}",
        seeds.len(),
        if slow.is_empty() {
            String::new()
        } else {
            format!("; {} inputs took over 1 s: {slow:?}", slow.len())
        }
    );
}
