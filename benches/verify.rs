//! Performance targets of DESIGN.md, printed as ratios measured in one run (no timing asserts):
//!
//! 1. verify, page-cached: `export_repair` verification of 2 GiB against `md5sum` over the same
//!    files (target ≤ 0.25 × one `md5sum`), CPU seconds per GiB, with the MD5 path used
//!    (avx512 / avx2 / scalar) and the scalar path's figures beside it; and the same files
//!    verified by a 2021 verbose log (Size and CRC-64, no manifest) as a ratio against the
//!    MD5 verification and against `md5sum`;
//! 2. verify, cold cache (caches dropped before every run; needs root): verification against
//!    `dd` of the same files to /dev/null (target: verify's throughput ≥ 0.9 × dd's);
//! 3. scale: one blob of 1,000,000 small blocks (a sparse file) verified with its manifest and
//!    a verbose copy log listing every block, against the manifest alone (target ≤ 1.5 ×),
//!    peak RSS of parse + build + verify for it (≤ 128 MiB) and for 5,000,000 blocks
//!    (≤ 512 MiB), and the whole tool's (`export-repair verify`) on it intact and with every
//!    block corrupt;
//! 4. parse: a 1,000,000-block manifest of 1,000 blobs (target ≤ 1 s) and the peak RSS of
//!    parse + build (≤ 128 MiB).
//!
//! Every verification runs in a child process (this bench binary again, `--verify-child`), so
//! that its peak RSS is its own and `EXPORT_REPAIR_MD5=scalar` can force the scalar path.
//!
//! Run with `cargo bench --bench verify`. Knobs (environment): `VERIFY_BENCH_MIB` (data size,
//! default 2048), `VERIFY_BENCH_RUNS` (timed runs per contender, default 3; medians are
//! printed), `VERIFY_BENCH_BLOCKS` (parse: manifest blocks, default 1,000,000),
//! `VERIFY_BENCH_SCALE_BLOCKS` (1,000,000) and `VERIFY_BENCH_BIG_BLOCKS` (5,000,000),
//! `VERIFY_BENCH_ONLY=verify|cold|scale|parse`. Temporary data goes to a tempdir (honours
//! `TMPDIR`) and is deleted at the end.
//!
//! Without `--bench` (that is, under `cargo test --benches`/`--all-targets`) it makes a smoke
//! run with small sizes instead, which only shows that it still works.
//!
//! Every timed run also prints how much CPU *other* processes used meanwhile (from
//! /proc/stat), since the cores may be shared; a run during which they took more
//! than a quarter of a core is tried once more (the quieter attempt counts).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

#[path = "support/cpu.rs"]
mod cpu;

use cpu::{CpuSample, loadavg};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use export_repair::demo::{SampleBlob, local_path, pseudo_random_bytes};
use export_repair::engine::verify::{Control, Finding, VerifyOptions, verify};
use export_repair::format::manifest::{Manifest, ManifestBlob, Range, RangeKind};
use export_repair::format::verbose_log::VerboseLog;
use export_repair::format::{Crc64, Md5};
use export_repair::md5::Md5Path;
use export_repair::model::v2021::CHUNK_LENGTH;
use export_repair::model::{ComponentStatus, Drive, Logs};

const MIB: u64 = 1024 * 1024;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const BLOCK: u64 = 4 * MIB;
const FILE_MIB: u64 = 256;
const VERIFY_TARGET: f64 = 0.25;
const COLD_TARGET: f64 = 0.9;
const LOG_TARGET: f64 = 1.5;
const PARSE_TARGET_S: f64 = 1.0;
const RSS_1M_TARGET_MIB: f64 = 128.0;
const RSS_5M_TARGET_MIB: f64 = 512.0;
/// Blocks of the scale tests: small, so that a million of them is a 512 MB sparse file.
const SMALL_BLOCK: u64 = 512;
const PARSE_CHILD: &str = "--parse-child";
const VERIFY_CHILD: &str = "--verify-child";
const VERIFY_CRC_CHILD: &str = "--verify-crc-child";
const TOOL_CHILD: &str = "--tool-child";
/// The flags that make this executable one of its own measurements' children (also when it
/// is compiled into the smoke test).
pub const CHILD_FLAGS: [&str; 4] = [PARSE_CHILD, VERIFY_CHILD, VERIFY_CRC_CHILD, TOOL_CHILD];

pub fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == PARSE_CHILD) {
        parse_child(Path::new(&args[at + 1]));
        return;
    }
    if let Some(at) = args.iter().position(|a| a == VERIFY_CRC_CHILD) {
        verify_crc_child(Path::new(&args[at + 1]), Path::new(&args[at + 2]));
        return;
    }
    if let Some(at) = args.iter().position(|a| a == TOOL_CHILD) {
        tool_child(Path::new(&args[at + 1]), Path::new(&args[at + 2]));
        return;
    }
    if let Some(at) = args.iter().position(|a| a == VERIFY_CHILD) {
        verify_child(
            Path::new(&args[at + 1]),
            Path::new(&args[at + 2]),
            args.get(at + 3).map(Path::new),
        );
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("smoke run (not under `cargo bench`): small sizes, numbers not comparable");
        SMOKE.store(true, Ordering::Relaxed);
    }
    let only = std::env::var("VERIFY_BENCH_ONLY").unwrap_or_default();
    let started = Instant::now();
    let load = CpuSample::now();
    println!(
        "verify bench: {} cores, load average {}; MD5 path {} ({} lanes), scalar beside it",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        Md5Path::active().as_str(),
        Md5Path::active().lanes()
    );
    if only.is_empty() || only == "verify" || only == "cold" {
        bench_verify(&only);
    }
    if only.is_empty() || only == "scale" {
        bench_scale();
    }
    if only.is_empty() || only == "parse" {
        bench_parse();
    }
    println!(
        "\ntotal {:.0} s; other processes used {:.2} of the cores on average; load average {}",
        started.elapsed().as_secs_f64(),
        load.foreign_cores(),
        loadavg()
    );
}

/// Set when run by `cargo test`: small sizes, one run.
static SMOKE: AtomicBool = AtomicBool::new(false);

/// A knob from the environment; `smoke` is its default in a smoke run.
fn env_u64(name: &str, default: u64, smoke: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if SMOKE.load(Ordering::Relaxed) {
            smoke
        } else {
            default
        })
}

/// The size of each sample file: small in a smoke run.
fn sample_file_mib() -> u64 {
    if SMOKE.load(Ordering::Relaxed) {
        8
    } else {
        FILE_MIB
    }
}

/// The cores this process may use.
fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

fn runs() -> usize {
    env_u64("VERIFY_BENCH_RUNS", 3, 1).max(1) as usize
}

// ---------------------------------------------------------------------------------------------
// 1 and 2. Verification of page-cached and of cold data, against md5sum and dd.

fn bench_verify(only: &str) {
    let file_mib = sample_file_mib();
    let total_mib = env_u64("VERIFY_BENCH_MIB", 2048, 2 * file_mib).max(file_mib);
    let files = (total_mib / file_mib) as usize;
    let dir = tempfile::tempdir().expect("a temporary directory");
    println!(
        "\n== verify: {files} files × {file_mib} MiB in 4 MiB blocks ({}) ==",
        dir.path().display()
    );
    let generated = Instant::now();
    let (paths, drive, crc_components) = write_sample_drive(dir.path(), files);
    let manifest = dir.path().join("BENCH0001.manifest");
    let verbose_log = dir.path().join(VERBOSE_LOG);
    let bytes = drive.data_bytes();
    println!(
        "generated {:.2} GiB, {} components in {:.1} s",
        bytes as f64 / GIB,
        drive.component_count(),
        generated.elapsed().as_secs_f64()
    );
    let target = VerifyTarget {
        root: dir.path(),
        manifest: &manifest,
        copy_log: None,
        verbose_log: None,
        components: drive.component_count(),
    };
    let by_crc = VerifyTarget {
        verbose_log: Some(&verbose_log),
        components: crc_components,
        ..target
    };
    if only != "cold" {
        bench_page_cached(&paths, &target, &by_crc, bytes);
    }
    if only != "verify" {
        bench_cold(&paths, &target, bytes);
    }
}

fn bench_page_cached(
    paths: &[PathBuf],
    target: &VerifyTarget<'_>,
    by_crc: &VerifyTarget<'_>,
    bytes: u64,
) {
    println!("\n-- page-cached --");
    warm(paths);
    // Diagnostics: what the two halves of the verifier cost alone, on one core each.
    // Measured in on-CPU time of this thread, so they hold even when the cores are shared.
    let read_time = on_cpu(|| {
        time_read_only(paths);
    });
    println!(
        "diagnostics (on-CPU time of one thread): copying the cached files {:.2} GB/s; MD5 of \
         16 × 4 MiB blocks: {}",
        gbps(bytes, read_time),
        Md5Path::ALL
            .iter()
            .filter(|path| path.is_supported())
            .map(|&path| format!("{} {:.2} GB/s", path.as_str(), md5_rate(path) / 1e9))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let half = paths.len().div_ceil(2);
    let active = Md5Path::active();
    let (mut single, mut parallel, mut ours, mut scalar) = (vec![], vec![], vec![], vec![]);
    let mut crc = vec![];
    for run in 1..=runs() {
        // Interleaved, so that a burst of load from elsewhere hits every contender alike.
        let m = quiet_run(|| md5sum(&[paths]));
        report_run(run, "md5sum ×1", &m, bytes);
        single.push(m);
        let m = quiet_run(|| md5sum(&[&paths[..half], &paths[half..]]));
        report_run(run, "md5sum ×2", &m, bytes);
        parallel.push(m);
        let m = quiet_run(|| {
            target.verify(active);
        });
        report_run(run, &format!("verify {}", active.as_str()), &m, bytes);
        ours.push(m);
        let m = quiet_run(|| {
            target.verify(Md5Path::Scalar);
        });
        report_run(run, "verify scalar", &m, bytes);
        scalar.push(m);
        let m = quiet_run(|| {
            by_crc.verify(active);
        });
        report_run(run, "verify CRC-64", &m, bytes);
        crc.push(m);
    }
    let (single, parallel) = (Medians::of(&single), Medians::of(&parallel));
    let (ours, scalar) = (Medians::of(&ours), Medians::of(&scalar));
    let crc = Medians::of(&crc);
    println!("medians of {}:", runs());
    single.print("md5sum, one process", bytes);
    parallel.print("md5sum, two processes", bytes);
    ours.print(&format!("verify, {}", active.as_str()), bytes);
    scalar.print("verify, scalar", bytes);
    crc.print("verify by CRC-64", bytes);
    let ratio = ours.wall / single.wall;
    println!(
        "  verify / md5sum         {ratio:.3} with {}  (target ≤ {VERIFY_TARGET}: {});  \
         scalar {:.3}",
        active.as_str(),
        verdict(ratio <= VERIFY_TARGET),
        scalar.wall / single.wall
    );
    println!(
        "  verify / md5sum ×2      {:.3} with {};  scalar {:.3}  (informative)",
        ours.wall / parallel.wall,
        active.as_str(),
        scalar.wall / parallel.wall
    );
    println!(
        "  verify by CRC-64 (verbose log, no manifest): / verify by MD5 {} {:.3};  / md5sum {:.3}",
        active.as_str(),
        crc.wall / ours.wall,
        crc.wall / single.wall
    );
    println!(
        "  CPU seconds per GiB     verify {}: {:.2};  verify scalar: {:.2};  verify CRC-64: \
         {:.2};  md5sum: {:.2}",
        active.as_str(),
        ours.cpu / (bytes as f64 / GIB),
        scalar.cpu / (bytes as f64 / GIB),
        crc.cpu / (bytes as f64 / GIB),
        single.cpu / (bytes as f64 / GIB)
    );
    println!(
        "  CPU floor (verify CPU ÷ {} cores ÷ md5sum CPU): {:.3} with {};  scalar {:.3}",
        cores(),
        ours.cpu / cores() / single.cpu,
        active.as_str(),
        scalar.cpu / cores() / single.cpu
    );
}

fn bench_cold(paths: &[PathBuf], target: &VerifyTarget<'_>, bytes: u64) {
    println!("\n-- cold cache (caches dropped before every run) --");
    if let Err(error) = drop_caches() {
        println!("skipped: cannot drop the page cache ({error}); run as root");
        return;
    }
    let active = Md5Path::active();
    let (mut dd, mut ours, mut scalar) = (vec![], vec![], vec![]);
    for run in 1..=runs() {
        let m = cold_run(|| dd_all(paths));
        report_run(run, "dd", &m, bytes);
        dd.push(m);
        let m = cold_run(|| {
            target.verify(active);
        });
        report_run(run, &format!("verify {}", active.as_str()), &m, bytes);
        ours.push(m);
        let m = cold_run(|| {
            target.verify(Md5Path::Scalar);
        });
        report_run(run, "verify scalar", &m, bytes);
        scalar.push(m);
    }
    let (dd, ours, scalar) = (Medians::of(&dd), Medians::of(&ours), Medians::of(&scalar));
    println!("medians of {}:", runs());
    dd.print("dd bs=8M, file by file", bytes);
    ours.print(&format!("verify, {}", active.as_str()), bytes);
    scalar.print("verify, scalar", bytes);
    let ratio = dd.wall / ours.wall;
    println!(
        "  cold verify / cold dd (throughput)  {ratio:.3} with {}  (target ≥ {COLD_TARGET}: {});  \
         scalar {:.3}",
        active.as_str(),
        verdict(ratio >= COLD_TARGET),
        dd.wall / scalar.wall
    );
    println!(
        "  CPU seconds per GiB, cold: verify {}: {:.2};  verify scalar: {:.2};  dd: {:.2}",
        active.as_str(),
        ours.cpu / (bytes as f64 / GIB),
        scalar.cpu / (bytes as f64 / GIB),
        dd.cpu / (bytes as f64 / GIB)
    );
}

/// `quiet_run` on cold data: before each attempt the page cache is dropped, then the
/// programs themselves (this bench, `dd`) are read back in, so that only the data is cold.
fn cold_run(work: impl FnMut()) -> Measured {
    let prepare = || {
        drop_caches().expect("drop caches");
        let exe = std::env::current_exe().expect("the bench's own path");
        std::io::copy(
            &mut File::open(exe).expect("the bench's executable"),
            &mut std::io::sink(),
        )
        .expect("read the bench's executable");
        Command::new("dd")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .expect("dd runs");
    };
    quietest(prepare, work).0
}

fn drop_caches() -> std::io::Result<()> {
    // Written-back pages only can be dropped: flush first.
    Command::new("sync").status()?;
    std::fs::write("/proc/sys/vm/drop_caches", "3")
}

/// `dd` as a user would check a disk's read speed: each file in turn, 8 MiB reads.
fn dd_all(paths: &[PathBuf]) {
    for path in paths {
        let status = Command::new("dd")
            .arg(format!("if={}", path.display()))
            .args(["of=/dev/null", "bs=8M", "status=none"])
            .status()
            .expect("dd runs (coreutils)");
        assert!(status.success(), "dd failed");
    }
}

/// Single-core throughput of 16 blocks of 4 MiB hashed together on `path`, in bytes/s.
fn md5_rate(path: Md5Path) -> f64 {
    let data = pseudo_random_bytes(7, BLOCK as usize);
    let messages: Vec<&[u8]> = vec![&data[..]; 16];
    let rounds = if SMOKE.load(Ordering::Relaxed) { 1 } else { 4 };
    let time = on_cpu(|| {
        for _ in 0..rounds {
            std::hint::black_box(path.hash_many(std::hint::black_box(&messages)));
        }
    });
    (rounds * 16 * BLOCK) as f64 / time.as_secs_f64()
}

/// A drive to verify in a child process: its files, manifest and copy log; or (with
/// `verbose_log`) its files and 2021 verbose log alone.
#[derive(Clone, Copy)]
struct VerifyTarget<'a> {
    root: &'a Path,
    manifest: &'a Path,
    copy_log: Option<&'a Path>,
    verbose_log: Option<&'a Path>,
    components: usize,
}

/// What a verifying child reports.
#[derive(Debug, Clone, Copy)]
struct ChildReport {
    parse: f64,
    build: f64,
    verify: f64,
    peak_mib: f64,
}

impl VerifyTarget<'_> {
    fn verify(&self, path: Md5Path) -> ChildReport {
        let exe = std::env::current_exe().expect("the bench's own path");
        let mut command = Command::new(exe);
        match self.verbose_log {
            Some(verbose_log) => command
                .arg(VERIFY_CRC_CHILD)
                .arg(self.root)
                .arg(verbose_log),
            None => command.arg(VERIFY_CHILD).arg(self.root).arg(self.manifest),
        };
        command
            .env(Md5Path::ENV, path.as_str())
            .stderr(Stdio::inherit());
        if let Some(log) = self.copy_log {
            command.arg(log);
        }
        let output = command.output().expect("the bench re-runs itself");
        assert!(output.status.success(), "the verifying child failed");
        let line = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [parse, build, verify, components, peak_kib, used] = fields[..] else {
            panic!("unexpected child output {line:?}");
        };
        assert_eq!(
            used,
            path.as_str(),
            "the child hashed on the path asked for"
        );
        assert_eq!(
            components.parse::<usize>().unwrap(),
            self.components,
            "every component verified"
        );
        let number = |text: &str| text.parse::<f64>().expect("the child prints numbers");
        ChildReport {
            parse: number(parse),
            build: number(build),
            verify: number(verify),
            peak_mib: number(peak_kib) / 1024.0,
        }
    }
}

/// The child: parse the manifest, build the drive (reading the copy log into it) and verify,
/// then print `parse_s build_s verify_s verified_components peak_kib md5_path`. Panics unless every
/// component verifies.
fn verify_child(root: &Path, manifest: &Path, copy_log: Option<&Path>) {
    let started = Instant::now();
    let manifest = Manifest::from_file(manifest).expect("the manifest parses");
    let parsed = started.elapsed();
    // As the tool does: the copy log is merged into the drive as it is read.
    let started = Instant::now();
    let drive = match copy_log {
        Some(copy_log) => Drive::read(Some(manifest), copy_log, Default::default()),
        None => Drive::build(Some(manifest), None),
    }
    .expect("the drive builds");
    let built = started.elapsed();
    verify_and_print(root, &drive, parsed, built);
}

/// The child of a verification by CRC-64: parse the verbose log, build the drive from it
/// alone and verify, printing as [`verify_child`] does.
fn verify_crc_child(root: &Path, verbose_log: &Path) {
    let started = Instant::now();
    let log = VerboseLog::from_file(verbose_log).expect("the verbose log parses");
    let parsed = started.elapsed();
    let started = Instant::now();
    let logs = Logs {
        verbose_log: Some(log),
        ..Logs::default()
    };
    let drive = Drive::build(None, Some(logs)).expect("the drive builds");
    verify_and_print(root, &drive, parsed, started.elapsed());
}

/// Verifies `drive`, then prints `parse_s build_s verify_s verified_components peak_kib
/// md5_path`; panics unless every component verifies.
fn verify_and_print(root: &Path, drive: &Drive, parsed: Duration, built: Duration) {
    let verified = AtomicU64::new(0);
    let report = |finding: Finding| {
        assert_eq!(
            finding.status,
            ComponentStatus::Verified,
            "unexpected finding: {finding:?}"
        );
        verified.fetch_add(1, Ordering::Relaxed);
    };
    let started = Instant::now();
    verify(
        drive,
        root,
        None,
        &VerifyOptions::default(),
        &Control::default(),
        &report,
    );
    let verify_time = started.elapsed();
    println!(
        "{:.4} {:.4} {:.4} {} {} {}",
        parsed.as_secs_f64(),
        built.as_secs_f64(),
        verify_time.as_secs_f64(),
        verified.into_inner(),
        vm_hwm_kib(),
        Md5Path::active().as_str()
    );
}

/// Medians of a contender's runs: wall seconds and CPU seconds.
struct Medians {
    wall: f64,
    cpu: f64,
}

impl Medians {
    fn of(runs: &[Measured]) -> Self {
        Self {
            wall: median_f(runs.iter().map(|m| m.wall.as_secs_f64()).collect()),
            cpu: median_f(runs.iter().map(|m| m.cpu).collect()),
        }
    }

    fn print(&self, what: &str, bytes: u64) {
        println!(
            "  {what:<24} {:>6.2} s  {:.2} GB/s  CPU {:.2} s",
            self.wall,
            bytes as f64 / self.wall / 1e9,
            self.cpu
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Scale: a million-block blob with a verbose copy log, and memory for 1 M and 5 M blocks.

fn bench_scale() {
    let blocks = env_u64("VERIFY_BENCH_SCALE_BLOCKS", 1_000_000, 20_000).max(1000);
    let big = env_u64("VERIFY_BENCH_BIG_BLOCKS", 5_000_000, 50_000).max(1000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    println!(
        "\n== scale: sparse files of {SMALL_BLOCK}-byte blocks ({}) ==",
        dir.path().display()
    );
    let generated = Instant::now();
    let one = ScaleDrive::write(&dir.path().join("one"), 1, blocks);
    println!(
        "1 blob × {blocks} blocks: manifest {:.0} MiB, verbose copy log {:.0} MiB, generated \
         in {:.1} s",
        file_mib(&one.manifest),
        file_mib(&one.copy_log),
        generated.elapsed().as_secs_f64()
    );
    let manifest_only = VerifyTarget {
        root: &one.root,
        manifest: &one.manifest,
        copy_log: None,
        verbose_log: None,
        components: blocks as usize + 1, // and the file's length
    };
    let with_log = VerifyTarget {
        copy_log: Some(&one.copy_log),
        ..manifest_only
    };
    let path = Md5Path::active();
    let (mut alone, mut logged) = (vec![], vec![]);
    for run in 1..=runs() {
        let (m, report) = quiet_run_with(|| manifest_only.verify(path));
        print_child(run, "manifest alone", &m, report);
        alone.push((m, report));
        let (m, report) = quiet_run_with(|| with_log.verify(path));
        print_child(run, "manifest + verbose log", &m, report);
        logged.push((m, report));
    }
    let wall = |runs: &[(Measured, ChildReport)]| {
        median_f(runs.iter().map(|(m, _)| m.wall.as_secs_f64()).collect())
    };
    let peak =
        |runs: &[(Measured, ChildReport)]| median_f(runs.iter().map(|(_, r)| r.peak_mib).collect());
    let ratio = wall(&logged) / wall(&alone);
    println!("medians of {}:", runs());
    println!(
        "  parse + build + verify: manifest alone {:.2} s, with the verbose log {:.2} s → {ratio:.2} \
         (target ≤ {LOG_TARGET}: {})",
        wall(&alone),
        wall(&logged),
        verdict(ratio <= LOG_TARGET)
    );
    println!(
        "  peak RSS, {blocks} blocks: {:.0} MiB (target ≤ {RSS_1M_TARGET_MIB} MiB: {}); with \
         the verbose log {:.0} MiB",
        peak(&alone),
        verdict(peak(&alone) <= RSS_1M_TARGET_MIB),
        peak(&logged)
    );
    tool_memory(&one, blocks);
    drop(one);

    let generated = Instant::now();
    let blobs = 100;
    let many = ScaleDrive::write(&dir.path().join("many"), blobs, big / blobs);
    println!(
        "{blobs} blobs × {} blocks: manifest {:.0} MiB, generated in {:.1} s",
        big / blobs,
        file_mib(&many.manifest),
        generated.elapsed().as_secs_f64()
    );
    let target = VerifyTarget {
        root: &many.root,
        manifest: &many.manifest,
        copy_log: None,
        verbose_log: None,
        components: ((big / blobs + 1) * blobs) as usize, // blocks and each file's length
    };
    let mut report = None;
    let m = measured(|| report = Some(target.verify(path)));
    let report = report.expect("the child ran");
    print_child(1, "5 M blocks", &m, report);
    println!(
        "  peak RSS, {} blocks: {:.0} MiB (target ≤ {RSS_5M_TARGET_MIB} MiB: {})",
        big / blobs * blobs,
        report.peak_mib,
        verdict(report.peak_mib <= RSS_5M_TARGET_MIB)
    );
}

/// The whole tool as a technician runs it (`export-repair verify`: the run's ledger, its
/// events and the headless reporter besides the verification), on the drive intact and with
/// every block corrupt (a manifest whose hashes the zeros do not have): its peak RSS, and what
/// each damaged block adds.
fn tool_memory(drive: &ScaleDrive, blocks: u64) {
    let zeros = Md5::of(&[0u8; SMALL_BLOCK as usize]).to_string();
    let corrupt = drive.root.join("SCALE-corrupt.manifest");
    let text = std::fs::read_to_string(&drive.manifest).expect("the manifest");
    std::fs::write(&corrupt, text.replace(&zeros, &"0".repeat(32))).expect("write");
    let intact = tool_peak_mib(&drive.root, &drive.manifest, 0);
    let damaged = tool_peak_mib(&drive.root, &corrupt, 1);
    println!(
        "  the tool (`export-repair verify`), peak RSS, {blocks} blocks: intact {intact:.0} MiB, \
         every block corrupt {damaged:.0} MiB ({:.0} bytes per damaged block)",
        (damaged - intact) * MIB as f64 / blocks as f64
    );
}

/// Peak RSS of one `export-repair verify` of `root` with `manifest` (the tool's own code in
/// a child of its own: this bench again, `--tool-child`), which must exit `code`.
fn tool_peak_mib(root: &Path, manifest: &Path, code: u8) -> f64 {
    let exe = std::env::current_exe().expect("the bench's own path");
    let output = Command::new(exe)
        .arg(TOOL_CHILD)
        .arg(root)
        .arg(manifest)
        .stderr(Stdio::null())
        .output()
        .expect("the bench re-runs itself");
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text.lines().last().unwrap_or_default();
    let fields: Vec<&str> = last.split_whitespace().collect();
    let [exit, peak_kib] = fields[..] else {
        panic!("unexpected child output {text:?}");
    };
    assert_eq!(exit, code.to_string(), "the tool's exit code");
    peak_kib.parse::<f64>().expect("the child prints numbers") / 1024.0
}

/// The child: `export-repair verify --target ROOT --manifest MANIFEST`, then its exit code and
/// peak RSS (KiB) on a line of their own.
fn tool_child(root: &Path, manifest: &Path) {
    let arguments = [
        "export-repair".as_ref(),
        "verify".as_ref(),
        "--target".as_ref(),
    ]
    .into_iter()
    .chain([
        root.as_os_str(),
        "--manifest".as_ref(),
        manifest.as_os_str(),
    ])
    .map(std::ffi::OsStr::to_os_string)
    .collect();
    let status = export_repair::cli::run(arguments);
    println!("\n{} {}", status as u8, vm_hwm_kib());
}

fn print_child(run: usize, what: &str, m: &Measured, report: ChildReport) {
    println!(
        "run {run}: {what:<24} {:>6.2} s (manifest {:.2}, build + copy log {:.2}, verify {:.2})  peak RSS \
         {:.0} MiB  (others used {:.2} cores)",
        m.wall.as_secs_f64(),
        report.parse,
        report.build,
        report.verify,
        report.peak_mib,
        m.others
    );
}

fn file_mib(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / MIB as f64)
}

/// Sparse files of zeros in `SMALL_BLOCK` blocks, their manifest and a verbose copy log
/// listing every block, written as text straight to disk (the generator keeps no model).
struct ScaleDrive {
    root: PathBuf,
    manifest: PathBuf,
    copy_log: PathBuf,
}

impl ScaleDrive {
    fn write(root: &Path, blobs: u64, per_blob: u64) -> Self {
        std::fs::create_dir_all(root.join("scale")).expect("mkdir");
        let zeros = Md5::of(&[0u8; SMALL_BLOCK as usize]);
        let manifest_path = root.join("SCALE.manifest");
        let log_path = root.join("SCALE_verbose.xml");
        let mut manifest = BufWriter::new(File::create(&manifest_path).expect("create"));
        let mut log = BufWriter::new(File::create(&log_path).expect("create"));
        let length = per_blob * SMALL_BLOCK;
        writeln!(
            manifest,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DriveManifest Version=\"2014-11-01\">\
             <Drive><DriveId>SCALE1</DriveId><BlobList>"
        )
        .unwrap();
        writeln!(
            log,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DriveLog Version=\"2018-10-01\">\
             <DriveId>SCALE1</DriveId>"
        )
        .unwrap();
        for b in 0..blobs {
            let file = File::create(root.join(format!("scale/blob{b:04}.bin"))).expect("create");
            file.set_len(length).expect("a sparse file");
            let paths = format!(
                "<BlobPath>scale/blob{b:04}.bin</BlobPath><FilePath>\\scale\\blob{b:04}.bin</FilePath>"
            );
            writeln!(
                manifest,
                "<Blob>{paths}<Length>{length}</Length><BlockList>"
            )
            .unwrap();
            writeln!(
                log,
                "<Blob Status=\"Completed\">{paths}<Length>{length}</Length>\
                 <LastModified>2026-11-24T00:00:00Z</LastModified><BlockList>"
            )
            .unwrap();
            for i in 0..per_blob {
                let offset = i * SMALL_BLOCK;
                let id = block_id(i as u32);
                writeln!(
                    manifest,
                    "<Block Offset=\"{offset}\" Length=\"{SMALL_BLOCK}\" Id=\"{id}\" Hash=\"{zeros}\"/>"
                )
                .unwrap();
                writeln!(
                    log,
                    "<Block Offset=\"{offset}\" Length=\"{SMALL_BLOCK}\" Id=\"{id}\" Status=\"Completed\"/>"
                )
                .unwrap();
            }
            writeln!(manifest, "</BlockList></Blob>").unwrap();
            writeln!(log, "</BlockList></Blob>").unwrap();
        }
        writeln!(manifest, "</BlobList></Drive></DriveManifest>").unwrap();
        writeln!(log, "<Status>Completed</Status></DriveLog>").unwrap();
        manifest.flush().unwrap();
        log.flush().unwrap();
        Self {
            root: root.to_path_buf(),
            manifest: manifest_path,
            copy_log: log_path,
        }
    }
}

impl Drop for ScaleDrive {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Other processes may take this many cores during a run before it is tried again.
const NOISE_LIMIT: f64 = 0.25;
const ATTEMPTS: usize = 2;

/// Runs `work` until other processes left the cores alone (up to `ATTEMPTS` times) and
/// keeps the quietest attempt, with what it returned.
fn quiet_run_with<T>(work: impl FnMut() -> T) -> (Measured, T) {
    quietest(|| {}, work)
}

/// `prepare` (not timed), then `work` (timed), until other processes left the cores alone
/// (up to `ATTEMPTS` times); the quietest attempt counts.
fn quietest<T>(mut prepare: impl FnMut(), mut work: impl FnMut() -> T) -> (Measured, T) {
    let mut attempt = || {
        prepare();
        let mut value = None;
        let m = measured(|| value = Some(work()));
        (m, value.expect("the work ran"))
    };
    let mut best = attempt();
    let mut attempts = 1;
    while best.0.others > NOISE_LIMIT && attempts < ATTEMPTS {
        let next = attempt();
        attempts += 1;
        if next.0.others < best.0.others {
            best = next;
        }
    }
    best.0.attempts = attempts;
    best
}

fn quiet_run(work: impl FnMut()) -> Measured {
    quiet_run_with(work).0
}

/// The 2021 verbose log of the sample drive: the same files, laid out `<container>/<blob>`.
const VERBOSE_LOG: &str = "bench_BENCH0001_VerboseLog_0.xml";

/// Writes `files` block blobs of [`sample_file_mib`] MiB, their manifest and a 2021 verbose
/// log of them (Size and CRC-64) with the demo module, one blob in memory at a time, flushes
/// them to disk (so writeback does not disturb the timings) and builds the drive from the
/// manifest as read back; the last number is the components of the drive the verbose log
/// makes.
fn write_sample_drive(root: &Path, files: usize) -> (Vec<PathBuf>, Drive, usize) {
    // One pseudo-random 4 MiB chunk, made unique per block by its first 16 bytes: fast to
    // generate, and no block compresses or repeats another.
    let chunk = pseudo_random_bytes(0x5EED, BLOCK as usize);
    let file_mib = sample_file_mib();
    let blocks_per_file = file_mib * MIB / BLOCK;
    let write_one = |file: usize| -> (PathBuf, ManifestBlob, String) {
        let mut content = Vec::with_capacity((file_mib * MIB) as usize);
        for block in 0..blocks_per_file {
            let start = content.len();
            content.extend_from_slice(&chunk);
            content[start..start + 8].copy_from_slice(&(file as u64).to_le_bytes());
            content[start + 8..start + 16].copy_from_slice(&block.to_le_bytes());
        }
        let sample = SampleBlob::block(&format!("bench/file{file:02}.bin"), content, BLOCK);
        let entry = sample.manifest_entry();
        let path = local_path(root, &sample.file_path).expect("a valid sample path");
        std::fs::create_dir_all(path.parent().expect("inside the root")).expect("mkdir");
        let mut out = File::create(&path).expect("create a sample file");
        out.write_all(&sample.content).expect("write a sample file");
        out.sync_all().expect("flush a sample file");
        let listed = format!(
            "<File CloudFormat=\"BlockBlob\" ETag=\"0x8D{file:013X}\" Path=\"{}\" Size=\"{}\" crc64=\"{}\"></File>\n",
            sample.blob_path,
            sample.content.len(),
            Crc64::of(&sample.content)
        );
        (path, entry, listed)
    };
    // Two files at a time (one per core), so that at most 512 MiB of content is in memory.
    let mut written: Vec<(PathBuf, ManifestBlob, String)> = Vec::new();
    for pair in (0..files).collect::<Vec<_>>().chunks(2) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = pair
                .iter()
                .map(|&file| scope.spawn(move || write_one(file)))
                .collect();
            for handle in handles {
                written.push(handle.join().expect("a sample file is written"));
            }
        });
    }
    let mut paths = Vec::new();
    let mut entries = Vec::new();
    let mut verbose = String::new();
    for (path, entry, listed) in written {
        paths.push(path);
        entries.push(entry);
        verbose.push_str(&listed);
    }
    std::fs::write(root.join(VERBOSE_LOG), verbose).expect("write the verbose log");
    let chunks = files * (file_mib * MIB).div_ceil(CHUNK_LENGTH) as usize;
    let manifest = Manifest {
        version: Some("2014-11-01".into()),
        drive_id: "BENCH0001".into(),
        client_creator: None,
        blobs: entries,
    };
    let manifest_path = root.join("BENCH0001.manifest");
    std::fs::write(&manifest_path, manifest.to_xml()).expect("write the manifest");
    let parsed = Manifest::from_file(&manifest_path).expect("the manifest parses");
    let drive = Drive::build(Some(parsed), None).expect("the drive builds");
    // Per file: its chunks and its whole-file check.
    (paths, drive, chunks + files)
}

fn warm(paths: &[PathBuf]) {
    for _ in 0..2 {
        time_read_only(paths);
    }
}

fn time_read_only(paths: &[PathBuf]) -> Duration {
    let mut buffer = vec![0u8; BLOCK as usize];
    let started = Instant::now();
    for path in paths {
        let mut file = File::open(path).expect("open a sample file");
        while file.read(&mut buffer).expect("read a sample file") > 0 {}
    }
    started.elapsed()
}

/// The time this thread spent on a CPU while running `work` (from /proc/thread-self/schedstat).
fn on_cpu(work: impl FnOnce()) -> Duration {
    let read = || -> u64 {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0)
    };
    let before = read();
    let started = Instant::now();
    work();
    match read().saturating_sub(before) {
        0 => started.elapsed(),
        nanos => Duration::from_nanos(nanos),
    }
}

/// `md5sum` as a user would run it: one process per group of files, all at once.
fn md5sum(groups: &[&[PathBuf]]) {
    let children: Vec<_> = groups
        .iter()
        .map(|files| {
            Command::new("md5sum")
                .args(files.iter())
                .stdout(Stdio::null())
                .spawn()
                .expect("md5sum runs (coreutils)")
        })
        .collect();
    for mut child in children {
        assert!(
            child.wait().expect("md5sum finishes").success(),
            "md5sum failed"
        );
    }
}

fn report_run(run: usize, what: &str, m: &Measured, bytes: u64) {
    println!(
        "run {run}: {what:<14} {:>6.2} s  {:.2} GB/s  CPU {:>5.2} s  (others used {:.2} cores{})",
        m.wall.as_secs_f64(),
        gbps(bytes, m.wall),
        m.cpu,
        m.others,
        if m.attempts > 1 {
            format!("; quietest of {} attempts", m.attempts)
        } else {
            String::new()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Parse time and peak memory for a 1,000,000-block manifest.

fn bench_parse() {
    let blocks = env_u64("VERIFY_BENCH_BLOCKS", 1_000_000, 10_000).max(1000);
    let blobs = 1000u64;
    let per_blob = blocks / blobs;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("MILLION.manifest");
    println!(
        "\n== parse + build: {blobs} blobs × {per_blob} blocks = {} blocks ==",
        blobs * per_blob
    );
    let generated = Instant::now();
    let size = write_big_manifest(&path, blobs, per_blob);
    println!(
        "generated {:.0} MiB of manifest XML in {:.1} s",
        size as f64 / MIB as f64,
        generated.elapsed().as_secs_f64()
    );
    let runs = env_u64("VERIFY_BENCH_RUNS", 3, 1).max(1) as usize;
    let mut parse = Vec::new();
    let mut parse_on_cpu = Vec::new();
    let mut build = Vec::new();
    let mut peak = Vec::new();
    for run in 1..=runs {
        let exe = std::env::current_exe().expect("the bench's own path");
        let mut output = None;
        let m = measured(|| {
            output = Some(
                Command::new(&exe)
                    .arg(PARSE_CHILD)
                    .arg(&path)
                    .stderr(Stdio::inherit())
                    .output()
                    .expect("the bench re-runs itself"),
            );
        });
        let output = output.expect("the child ran");
        assert!(output.status.success(), "the parsing child failed");
        let line = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<f64> = line
            .split_whitespace()
            .map(|f| f.parse().expect("the child prints numbers"))
            .collect();
        let [parse_s, build_s, components, base_kib, peak_kib, parse_cpu] = fields[..] else {
            panic!("unexpected child output {line:?}");
        };
        // Every block, and each blob's length check.
        assert_eq!(
            components as u64,
            blobs * (per_blob + 1),
            "every block is parsed"
        );
        println!(
            "run {run}: parse {parse_s:.2} s ({parse_cpu:.2} s on CPU), build {build_s:.2} s, \
             peak RSS {:.0} MiB ({:.1} MiB before parsing)  (others used {:.2} cores)",
            peak_kib / 1024.0,
            base_kib / 1024.0,
            m.others
        );
        parse.push(parse_s);
        parse_on_cpu.push(parse_cpu);
        build.push(build_s);
        peak.push(peak_kib / 1024.0);
    }
    let (parse, build, peak) = (median_f(parse), median_f(build), median_f(peak));
    println!("medians of {runs}:");
    println!(
        "  Manifest::from_file  {parse:.2} s  (target ≤ {PARSE_TARGET_S} s: {})",
        verdict(parse <= PARSE_TARGET_S)
    );
    println!(
        "  (parsing thread on CPU {:.2} s; less sensitive to load than the wall time)",
        median_f(parse_on_cpu)
    );
    println!("  Drive::build         {build:.2} s");
    println!(
        "  peak RSS             {peak:.0} MiB  (target ≤ {RSS_1M_TARGET_MIB} MiB: {})",
        verdict(peak <= RSS_1M_TARGET_MIB)
    );
}

/// A manifest as the service writes it (via `Manifest::to_xml`), with block IDs and
/// distinct hashes, without any data files.
fn write_big_manifest(path: &Path, blobs: u64, per_blob: u64) -> u64 {
    let entries = (0..blobs)
        .map(|b| {
            let ranges = (0..per_blob)
                .map(|i| {
                    let mut hash = [0u8; 16];
                    hash[..8].copy_from_slice(&b.to_le_bytes());
                    hash[8..].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
                    Range {
                        offset: i * BLOCK,
                        length: BLOCK,
                        id: Some(block_id(i as u32).into_boxed_str()),
                        hash: Md5(hash),
                    }
                })
                .collect();
            ManifestBlob {
                blob_path: format!("container{:02}/dir{:03}/blob{b:06}.vhd", b % 7, b % 101),
                file_path: format!("\\container{:02}\\dir{:03}\\blob{b:06}.vhd", b % 7, b % 101),
                client_data: None,
                snapshot: None,
                length: per_blob * BLOCK,
                kind: RangeKind::Block,
                ranges,
                metadata: None,
                properties: None,
            }
        })
        .collect();
    let manifest = Manifest {
        version: Some("2014-11-01".into()),
        drive_id: "MILLION1".into(),
        client_creator: Some("Windows Azure Import/Export service".into()),
        blobs: entries,
    };
    let xml = manifest.to_xml();
    std::fs::write(path, &xml).expect("write the manifest");
    xml.len() as u64
}

/// Base64 of a little-endian counter, as the service names export blocks.
fn block_id(index: u32) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(index.to_le_bytes())
}

/// The child: parse and build only, then print
/// `parse_s build_s components base_kib peak_kib parse_on_cpu_s`.
fn parse_child(path: &Path) {
    let base = vm_hwm_kib();
    let started = Instant::now();
    let mut manifest = None;
    let parse_cpu =
        on_cpu(|| manifest = Some(Manifest::from_file(path).expect("the manifest parses")));
    let parsed = started.elapsed();
    let started = Instant::now();
    let drive = Drive::build(manifest, None).expect("the drive builds");
    let built = started.elapsed();
    let components = drive.component_count();
    let peak = vm_hwm_kib();
    std::hint::black_box(&drive);
    println!(
        "{:.4} {:.4} {components} {base} {peak} {:.4}",
        parsed.as_secs_f64(),
        built.as_secs_f64(),
        parse_cpu.as_secs_f64()
    );
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

// ---------------------------------------------------------------------------------------------
// Load accounting and small helpers.

/// One timed run: wall time, CPU seconds of this process and its children, and the cores'
/// worth of CPU other processes took meanwhile.
struct Measured {
    wall: Duration,
    cpu: f64,
    others: f64,
    attempts: usize,
}

fn measured(work: impl FnOnce()) -> Measured {
    let sample = CpuSample::now();
    let started = Instant::now();
    work();
    let wall = started.elapsed();
    let (cpu, others) = sample.since();
    Measured {
        wall,
        cpu,
        others,
        attempts: 1,
    }
}

fn gbps(bytes: u64, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / 1e9
}

fn median_f(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}
