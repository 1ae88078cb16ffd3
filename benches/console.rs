//! The console's performance targets (the console issue), printed as ratios measured in one
//! run (no timing asserts):
//!
//! 1. **render**: one frame (`Terminal::draw` of `view::draw` on a `TestBackend`) for a drive
//!    of 100,000 blobs, at 120×40 and 200×60, with every folder open, with the damaged-only
//!    filter and with a search (target ≤ 10 ms); and how many engine events per second
//!    `App::on_event` takes, without and with the damaged-only filter (the console must
//!    keep up with the engine);
//! 2. **keys**: the time from a key (↓/↑ every 70–130 ms) to the frame showing its effect,
//!    measured in `Host::frame_drawn` of the real `Console::run` loop over a 120×40
//!    `TestBackend` while `engine::start_verify` verifies a drive of as many blobs at full
//!    speed (target ≤ 50 ms): once on the first screen (containers open) and once with every
//!    folder open; with the verification throughput meanwhile, and without a console.
//!
//! Run with `cargo bench --bench console`. Knobs (environment): `CONSOLE_BENCH_BLOBS` (blobs
//! of both drives, default 100,000), `CONSOLE_BENCH_FRAMES` (frames per render measurement,
//! default 200, each measurement also stops after 4 s), `CONSOLE_BENCH_SAMPLES` (keys per
//! case, default 60, each case also stops after 30 s), `CONSOLE_BENCH_DIR` (where the verified drive's files go; default /dev/shm when
//! writable, else `TMPDIR`), `CONSOLE_BENCH_ONLY=render|keys`.
//!
//! The verified drive's files are sparse (holes read as zeros; their manifest hashes are the
//! MD5 of zeros, 1 % of them deliberately wrong): any size costs no disk and, on tmpfs, no
//! memory, and MD5 costs the same on zeros as on any data, so hashing stays the bottleneck,
//! as with page-cached data.
//!
//! Without `--bench` (under `cargo test`, through tests/bench_smoke.rs) it makes a smoke run
//! with small sizes instead, which shows that it still works and checks what it measured
//! (never how fast).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

#[path = "support/cpu.rs"]
mod cpu;

use cpu::{CpuSample, loadavg};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use export_repair::demo::{file_path_for, local_path};
use export_repair::engine::{
    self, Activity, ComponentEvent, Event, Progress, RunMode, SourceHandle, VerifyOptions,
};
use export_repair::format::Md5;
use export_repair::format::manifest::{Manifest, ManifestBlob, Range, RangeKind};
use export_repair::ledger::Ledger;
use export_repair::model::tree::NodeKind;
use export_repair::model::{ComponentId, ComponentStatus, Drive};
use export_repair::report::ReportFormat;
use export_repair::tui::action::Action;
use export_repair::tui::app::{App, TextInput};
use export_repair::tui::keymap::Keymap;
use export_repair::tui::theme::Theme;
use export_repair::tui::{Console, Host, view};
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};

const MIB: u64 = 1024 * 1024;
const BLOCK: u64 = 4 * MIB;
const RENDER_TARGET_MS: f64 = 10.0;
const KEY_TARGET_MS: f64 = 50.0;
/// A render measurement stops after this long, however many frames it took.
const RENDER_BUDGET: Duration = Duration::from_secs(4);
/// The filtered `on_event` measurement stops after this long.
const FILTERED_BUDGET: Duration = Duration::from_secs(3);
/// Verification runs this long before the first key (and before the baseline's window).
const WARM_UP: Duration = Duration::from_secs(1);
/// Keys are pressed for at most this long per case, however many were answered.
const KEY_BUDGET: Duration = Duration::from_secs(25);
/// After `q` `q`, the console gets this long to end before it is dropped.
const QUIT_GRACE: Duration = Duration::from_secs(5);
/// How long the engine runs alone for the throughput it reaches without a console.
const BASELINE_WINDOW: Duration = Duration::from_secs(5);

pub fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("smoke run (not under `cargo bench`): small sizes, numbers not comparable");
        SMOKE.store(true, Ordering::Relaxed);
    }
    let only = std::env::var("CONSOLE_BENCH_ONLY").unwrap_or_default();
    let started = Instant::now();
    let load = CpuSample::now();
    println!(
        "console bench: {} cores, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    let mut events_per_second = None;
    if only.is_empty() || only == "render" {
        events_per_second = Some(bench_render());
    }
    if only.is_empty() || only == "keys" {
        let engine_rate = bench_keys();
        if let (Some((plain, filtered)), Some(engine_rate)) = (events_per_second, engine_rate) {
            println!(
                "\nheadroom: App::on_event takes {:.0}× (unfiltered) and {:.1}× (damaged only) \
                 the events a full-speed verification sends ({engine_rate:.0}/s)",
                plain / engine_rate,
                filtered / engine_rate
            );
        }
    }
    println!(
        "\ntotal {:.0} s; other processes used {:.2} of the cores on average; load average {}",
        started.elapsed().as_secs_f64(),
        load.foreign_cores(),
        loadavg()
    );
}

/// Set when run by `cargo test`: small sizes.
static SMOKE: AtomicBool = AtomicBool::new(false);

fn smoke() -> bool {
    SMOKE.load(Ordering::Relaxed)
}

/// A knob from the environment; `smoke` is its default in a smoke run.
fn env_u64(name: &str, default: u64, smoke_default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke() { smoke_default } else { default })
}

// ---------------------------------------------------------------------------------------------
// Synthetic drives.

/// Blob `b`'s path: 4 containers × 5 years × 12 months × 10 days (2,400 leaf folders, 5
/// levels); every tenth blob sits two levels higher, next to the month folders.
fn blob_path(b: u64) -> String {
    let (container, year, month, day) = (b % 4, (b / 4) % 5, (b / 20) % 12, (b / 240) % 10);
    if b % 10 == 9 {
        format!("backup{container}/{}/blob{b:06}.bin", 2020 + year)
    } else {
        format!(
            "backup{container}/{}/month{month:02}/day{day:02}/blob{b:06}.bin",
            2020 + year
        )
    }
}

/// A manifest of `blobs` block blobs of `blocks` 4 MiB blocks each. Every block's hash is
/// `hash`, except that one in 97 gets another (so verifying zeros finds it corrupt).
fn synthetic_manifest(blobs: u64, blocks: u64, hash: Md5) -> Manifest {
    let entries = (0..blobs)
        .map(|b| {
            let ranges = (0..blocks)
                .map(|i| {
                    let mut hash = hash;
                    if (b * blocks + i) % 97 == 13 {
                        hash.0[0] ^= 0xFF;
                    }
                    Range {
                        offset: i * BLOCK,
                        length: BLOCK,
                        id: None,
                        hash,
                    }
                })
                .collect();
            let path = blob_path(b);
            ManifestBlob {
                file_path: file_path_for(&path),
                blob_path: path,
                client_data: None,
                snapshot: None,
                length: blocks * BLOCK,
                kind: RangeKind::Block,
                ranges,
                metadata: None,
                properties: None,
            }
        })
        .collect();
    Manifest {
        version: Some("2014-11-01".into()),
        drive_id: "CONSOLE1".into(),
        client_creator: None,
        blobs: entries,
    }
}

fn build_drive(blobs: u64, blocks: u64, hash: Md5) -> Arc<Drive> {
    let drive = Drive::build(Some(synthetic_manifest(blobs, blocks, hash)), None)
        .expect("the synthetic drive builds");
    Arc::new(drive)
}

/// Opens every folder, as a user pressing → on each would.
fn expand_all(app: &mut App) {
    let mut row = 0;
    while row < app.visible.len() {
        let node = app.visible[row];
        if !matches!(app.tree.nodes[node].kind, NodeKind::Blob(_)) && !app.is_expanded(node) {
            app.selected = row;
            app.update(Action::Expand);
        }
        row += 1;
    }
    app.selected = 0;
}

fn run_started(drive: &Drive) -> Event {
    Event::RunStarted {
        mode: RunMode::Verify,
        drive_id: drive.drive_id.clone(),
        blobs: drive.blobs.len(),
        components: drive.component_count(),
        bytes: drive.data_bytes(),
        started: time::OffsetDateTime::UNIX_EPOCH,
        target: "/bench/drive".into(),
        source: None,
        repair_file: None,
    }
}

/// The events a verification sends for `blobs`, as the engine sends them: each blob's
/// components start, then one verdict each (one in 97 corrupt, one in 1,009 missing), and
/// progress every 64 components.
fn verification_events(drive: &Drive, blobs: std::ops::Range<usize>) -> Vec<Event> {
    let mut events = Vec::new();
    let mut done = 0u64;
    if blobs.start == 0 {
        events.push(Event::Planned {
            work: engine::Work::Verify,
            components: drive.component_count() as u64,
            bytes: drive.data_bytes(),
        });
    }
    for b in blobs {
        let blob = &drive.blobs[b];
        events.push(Event::Working {
            blob: b as u32,
            components: (0..blob.components.len() as u32).collect(),
            activity: Activity::Verifying,
        });
        for (c, component) in blob.components.iter().enumerate() {
            let serial = (b * blob.components.len() + c) as u64;
            let status = if serial % 97 == 13 {
                ComponentStatus::Corrupt
            } else if serial % 1009 == 7 {
                ComponentStatus::Missing
            } else {
                ComponentStatus::Verified
            };
            events.push(Event::Component(ComponentEvent {
                id: ComponentId {
                    blob: b as u32,
                    component: c as u32,
                },
                file_path: blob.file_path.clone(),
                kind: component.kind,
                offset: component.offset,
                length: component.length,
                status,
                expected_md5: component.expected_md5,
                drive_md5: component.expected_md5,
                storage_md5: None,
                expected_crc64: None,
                drive_crc64: None,
                storage_crc64: None,
                reason: status
                    .is_damage()
                    .then(|| "MD5 is 00, the manifest expects 11".to_string()),
                bytes: component.length,
                at: time::OffsetDateTime::UNIX_EPOCH,
            }));
            done += 1;
            if done.is_multiple_of(64) {
                events.push(Event::Progress(Progress {
                    verify: engine::Progression {
                        components_done: serial + 1,
                        components_total: drive.component_count() as u64,
                        bytes_done: (serial + 1) * BLOCK,
                        bytes_total: drive.data_bytes(),
                        bytes_per_second: Some(900_000_000),
                        eta_seconds: Some(3600),
                    },
                    ..Progress::default()
                }));
            }
        }
    }
    events
}

/// Applies the events of `blobs` in chunks of 1,000 blobs (only `on_event` timed), until
/// `budget` is spent. Returns (events applied, time spent in `on_event`, blobs fed).
fn feed(app: &mut App, blobs: std::ops::Range<usize>, budget: Duration) -> (u64, Duration, usize) {
    let drive = Arc::clone(app.drive());
    let (mut count, mut spent) = (0u64, Duration::ZERO);
    let mut next = blobs.start;
    while next < blobs.end && spent < budget {
        let end = (next + 1000).min(blobs.end);
        let events = verification_events(&drive, next..end);
        let started = Instant::now();
        for event in &events {
            app.on_event(event);
        }
        spent += started.elapsed();
        count += events.len() as u64;
        next = end;
    }
    (count, spent, next - blobs.start)
}

// ---------------------------------------------------------------------------------------------
// 1. Frame render time and on_event throughput.

/// Returns `App::on_event`'s events per second (unfiltered, damaged only).
fn bench_render() -> (f64, f64) {
    let blobs = env_u64("CONSOLE_BENCH_BLOBS", 100_000, 2_000).max(100);
    let frames = env_u64("CONSOLE_BENCH_FRAMES", 200, 20).max(5) as usize;
    println!("\n== render: {blobs} blobs × 4 blocks, TestBackend ==");
    let load = CpuSample::now();
    let built = Instant::now();
    let drive = build_drive(blobs, 4, Md5([0; 16]));
    let mut app = App::new(Arc::clone(&drive));
    println!(
        "built the drive and App::new ({} tree nodes) in {:.2} s",
        app.tree.nodes.len(),
        built.elapsed().as_secs_f64()
    );
    app.on_event(&run_started(&drive));

    // Verdicts for 70 % of the blobs, as the engine would send them.
    let verified = (blobs as usize) * 7 / 10;
    let (count, spent, _) = feed(&mut app, 0..verified, Duration::MAX);
    let plain_rate = count as f64 / spent.as_secs_f64();
    println!(
        "App::on_event, no filter:    {count} events in {:.3} s = {:.2} M events/s",
        spent.as_secs_f64(),
        plain_rate / 1e6
    );

    let opened = Instant::now();
    expand_all(&mut app);
    println!(
        "opened every folder in {:.2} s: {} rows",
        opened.elapsed().as_secs_f64(),
        app.visible.len()
    );
    assert_eq!(
        app.visible.len(),
        app.tree.nodes.len() - 1,
        "every node but the root is a row once every folder is open"
    );
    let mut summary = Vec::new();
    let all_rows = format!("every folder open, {} rows", app.visible.len());
    for (width, height) in [(120, 40), (200, 60)] {
        summary.push(render_case(&mut app, &all_rows, width, height, frames));
    }

    // The damaged-only filter: new damage re-filters the tree.
    app.update(Action::DamagedOnly);
    let rest = verified..(blobs as usize);
    let (count, spent, fed) = feed(&mut app, rest, FILTERED_BUDGET);
    let filtered_rate = count as f64 / spent.as_secs_f64();
    println!(
        "App::on_event, damaged only: {count} events ({fed} blobs) in {:.3} s = {:.0} events/s",
        spent.as_secs_f64(),
        filtered_rate
    );
    let damaged = format!("damaged only, {} rows", app.visible.len());
    for (width, height) in [(120, 40), (200, 60)] {
        summary.push(render_case(&mut app, &damaged, width, height, frames));
    }

    // A search (every folder shown open), without the damage filter.
    app.update(Action::DamagedOnly);
    app.update(Action::Search);
    for c in "day07/".chars() {
        app.text_input(TextInput::char(c));
    }
    app.text_input(TextInput::Done);
    let searched = format!("search \"day07/\", {} rows", app.visible.len());
    for (width, height) in [(120, 40), (200, 60)] {
        summary.push(render_case(&mut app, &searched, width, height, frames));
    }

    println!("summary (target ≤ {RENDER_TARGET_MS} ms a frame; ratio = time / target):");
    for line in summary {
        println!("  {line}");
    }
    println!(
        "other processes used {:.2} of the cores during the render part",
        load.foreign_cores()
    );
    (plain_rate, filtered_rate)
}

/// Times `frames` draws (or `RENDER_BUDGET`'s worth) with the selection in the middle of the
/// list, moving down a row between frames; returns the summary line.
fn render_case(app: &mut App, what: &str, width: u16, height: u16, frames: usize) -> String {
    let keymap = Keymap::default_keys();
    let theme = Theme::default();
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    app.selected = app.visible.len() / 2;
    let mut draw = |app: &App| {
        terminal
            .draw(|frame| view::draw(frame, app, &keymap, &theme))
            .expect("a frame draws");
    };
    for _ in 0..3 {
        draw(app);
    }
    let mut times = Vec::with_capacity(frames);
    let started = Instant::now();
    while times.len() < frames && (times.len() < 10 || started.elapsed() < RENDER_BUDGET) {
        app.update(Action::Down);
        let at = Instant::now();
        draw(app);
        times.push(at.elapsed());
    }
    let stats = Stats::of(&mut times);
    let line = format!(
        "render {width}×{height}, {what}: {}",
        stats.describe(RENDER_TARGET_MS)
    );
    println!("{line}");
    line
}

// ---------------------------------------------------------------------------------------------
// 2. Key latency during a full-speed verification.

/// Returns the engine's events per second during the measurement.
fn bench_keys() -> Option<f64> {
    let blobs = env_u64("CONSOLE_BENCH_BLOBS", 100_000, 2_000).max(100);
    let samples = env_u64("CONSOLE_BENCH_SAMPLES", 60, 10).max(5) as usize;
    let blocks = 2;
    let root = bench_dir();
    let dir = tempfile::Builder::new()
        .prefix("console-bench")
        .tempdir_in(&root)
        .expect("a temporary directory");
    println!(
        "\n== keys during a full-speed verification: {blobs} sparse files × {} MiB in {} ==",
        blocks * BLOCK / MIB,
        dir.path().display()
    );
    let written = Instant::now();
    let zeros = Md5::of(&vec![0u8; BLOCK as usize]);
    let drive = build_drive(blobs, blocks, zeros);
    for blob in &drive.blobs {
        let path = local_path(dir.path(), &blob.file_path).expect("a valid sample path");
        std::fs::create_dir_all(path.parent().expect("inside the root")).expect("mkdir");
        std::fs::File::create(&path)
            .and_then(|file| file.set_len(blob.length))
            .expect("a sparse sample file");
    }
    let mut throughputs = Vec::new();
    println!(
        "wrote {} sparse files ({:.0} GiB apparent) in {:.1} s",
        drive.blobs.len(),
        drive.data_bytes() as f64 / (1024.0 * MIB as f64),
        written.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut engine_rate = None;
    for open_all in [false, true] {
        let load = CpuSample::now();
        let run = runtime.block_on(console_run(
            Arc::clone(&drive),
            dir.path(),
            samples,
            open_all,
        ));
        let others = load.foreign_cores();
        let what = if open_all {
            "every folder open"
        } else {
            "first screen"
        };
        let mut latencies = run.latencies;
        if latencies.is_empty() {
            assert!(
                !smoke(),
                "{what}: no key was answered while the verification ran"
            );
            println!("{what}: no key was answered while the verification ran");
            continue;
        }
        let answered = latencies.len();
        let stats = Stats::of(&mut latencies);
        let seconds = run.window.as_secs_f64();
        println!(
            "key → frame, {what} ({} rows; {answered} keys{}{}): {}",
            run.rows,
            if run.unanswered > 0 {
                format!(", {} unanswered in 5 s", run.unanswered)
            } else {
                String::new()
            },
            if run.ended_early {
                "; stopped early (time budget or end of the verification)"
            } else {
                ""
            },
            stats.describe(KEY_TARGET_MS)
        );
        println!(
            "  meanwhile: verification {:.2} GB/s, {} frames ({:.0}/s), {} engine events \
             ({:.0}/s) in {seconds:.1} s; other processes used {others:.2} of the cores",
            run.throughput / 1e9,
            run.frames,
            run.frames as f64 / seconds,
            run.events,
            run.events as f64 / seconds
        );
        if run.abandoned {
            println!(
                "  the console had not ended {} s after q q (the engine's Cancel waits behind \
                 events the console has not taken yet): dropped it",
                QUIT_GRACE.as_secs()
            );
            // Let the cancelled verification wind down before the next measurement.
            std::thread::sleep(Duration::from_millis(500));
        }
        engine_rate.get_or_insert(run.events as f64 / seconds);
        throughputs.push((what, run.throughput));
    }
    let window = if smoke() {
        Duration::from_secs(1)
    } else {
        BASELINE_WINDOW
    };
    let baseline = runtime.block_on(engine_alone(Arc::clone(&drive), dir.path(), window));
    drop(runtime);
    let ratios: Vec<String> = throughputs
        .iter()
        .map(|(what, rate)| format!("{what} {:.2}", rate / baseline))
        .collect();
    println!(
        "engine alone (events drained, no console), {:.0} s: {:.2} GB/s; verification with the \
         console / without: {}",
        window.as_secs_f64(),
        baseline / 1e9,
        ratios.join(", ")
    );
    engine_rate
}

/// /dev/shm when it takes files (sparse files there cost no memory), else the temp dir.
fn bench_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CONSOLE_BENCH_DIR") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if tempfile::tempdir_in(shm).is_ok() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// What a console run measured.
struct KeyRun {
    latencies: Vec<Duration>,
    unanswered: usize,
    /// The verification finished before every key was sent.
    ended_early: bool,
    rows: usize,
    /// From the first key sent to the last answered.
    window: Duration,
    /// Engine events and frames within the window.
    events: u64,
    frames: u64,
    /// Verification bytes per second within the window.
    throughput: f64,
    /// The console had not ended `QUIT_GRACE` after `q` `q` and was dropped.
    abandoned: bool,
}

/// What the key thread and the console's host share.
#[derive(Default)]
struct Probe {
    /// The selection the key in flight leads to, and when it was sent.
    pending: Option<(usize, Instant)>,
    /// The selection on the last frame drawn (the console may move it itself, e.g. to the
    /// first damage found).
    shown: Option<usize>,
    /// Counting starts with the first key.
    counting: bool,
    events: u64,
    frames: u64,
    /// (when, bytes verified) from every progress event.
    progress: Vec<(Instant, u64)>,
    finished: bool,
    /// When the key thread sent `q` `q`.
    quit_sent: Option<Instant>,
}

/// Resolves `QUIT_GRACE` after `q` `q` were sent.
async fn quit_deadline(probe: &Mutex<Probe>) {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sent = probe.lock().expect("the probe").quit_sent;
        if sent.is_some_and(|at| at.elapsed() > QUIT_GRACE) {
            return;
        }
    }
}

struct ProbeHost {
    probe: Arc<Mutex<Probe>>,
    answers: mpsc::Sender<Duration>,
}

impl Host for ProbeHost {
    fn on_event(&mut self, event: &Event) {
        let mut probe = self.probe.lock().expect("the probe");
        if probe.counting {
            probe.events += 1;
        }
        match event {
            Event::Progress(progress) => probe
                .progress
                .push((Instant::now(), progress.verify.bytes_done)),
            Event::RunFinished { .. } => probe.finished = true,
            _ => {}
        }
    }

    fn export(
        &mut self,
        _ledger: &Ledger,
        _path: &Path,
        _format: ReportFormat,
    ) -> Result<(), String> {
        Err("not in a benchmark".into())
    }

    fn credentials(&mut self, _secret: &str) -> Result<SourceHandle, String> {
        Err("not in a benchmark".into())
    }

    fn frame_drawn(&mut self, app: &App) {
        let mut probe = self.probe.lock().expect("the probe");
        probe.shown = Some(app.selected);
        if probe.counting {
            probe.frames += 1;
        }
        if let Some((expected, sent)) = probe.pending
            && app.selected == expected
        {
            probe.pending = None;
            let _ = self.answers.send(sent.elapsed());
        }
    }
}

/// Runs the real console loop over a verification while a thread presses ↓/↑ every
/// 70–130 ms, each key once the previous one was answered; then quits with `q` `q`.
async fn console_run(drive: Arc<Drive>, target: &Path, samples: usize, open_all: bool) -> KeyRun {
    let mut app = App::new(Arc::clone(&drive));
    if open_all {
        expand_all(&mut app);
    }
    let rows = app.visible.len();
    app.selected = rows / 2;
    let start = app.selected;

    let (keys, input) = tokio::sync::mpsc::unbounded_channel::<io::Result<TermEvent>>();
    let input = Box::pin(futures::stream::unfold(input, |mut input| async move {
        input.recv().await.map(|event| (event, input))
    }));
    let probe = Arc::new(Mutex::new(Probe::default()));
    let (answers_tx, answers) = mpsc::channel();
    let mut host = ProbeHost {
        probe: Arc::clone(&probe),
        answers: answers_tx,
    };
    let presser = {
        let keys = keys.clone();
        let probe = Arc::clone(&probe);
        std::thread::spawn(move || press_keys(&keys, &probe, &answers, start, rows, samples))
    };

    let handle = engine::start_verify(drive, target.to_path_buf(), VerifyOptions::default());
    let mut terminal = Terminal::new(Backed(TestBackend::new(120, 40))).expect("a test terminal");
    let keymap = Keymap::default_keys();
    let theme = Theme::default();
    let console = Console {
        keymap: &keymap,
        theme: &theme,
        watch_terminal: false,
    };
    let abandoned = tokio::select! {
        () = console.run(&mut terminal, input, handle, &mut app, &mut host, None) => false,
        _ = quit_deadline(&probe) => true,
    };
    // Held until here so that the input stream does not end before the engine does.
    drop(keys);
    let pressed = presser.join().expect("the key thread");

    let probe = probe.lock().expect("the probe");
    let window = pressed.end.duration_since(pressed.start);
    let at = |when: Instant| {
        probe
            .progress
            .iter()
            .rev()
            .find(|(at, _)| *at <= when)
            .or(probe.progress.first())
            .copied()
            .unwrap_or((when, 0))
    };
    let (from, to) = (at(pressed.start), at(pressed.end));
    KeyRun {
        latencies: pressed.latencies,
        unanswered: pressed.unanswered,
        ended_early: pressed.ended_early,
        rows,
        window,
        events: probe.events,
        frames: probe.frames,
        throughput: (to.1 - from.1) as f64 / to.0.duration_since(from.0).as_secs_f64(),
        abandoned,
    }
}

struct Pressed {
    latencies: Vec<Duration>,
    unanswered: usize,
    ended_early: bool,
    start: Instant,
    end: Instant,
}

fn press_keys(
    keys: &tokio::sync::mpsc::UnboundedSender<io::Result<TermEvent>>,
    probe: &Mutex<Probe>,
    answers: &mpsc::Receiver<Duration>,
    mut selected: usize,
    rows: usize,
    samples: usize,
) -> Pressed {
    let key = |code| {
        let _ = keys.send(Ok(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))));
    };
    std::thread::sleep(WARM_UP);
    let start = Instant::now();
    probe.lock().expect("the probe").counting = true;
    let mut latencies = Vec::with_capacity(samples);
    let (mut unanswered, mut ended_early) = (0, false);
    let mut end = start;
    let mut down = true;
    let mut jitter = 0x2545_F491_4F6C_DD1Du64;
    while latencies.len() + unanswered < samples {
        // 70–130 ms apart, so that keys do not keep the same phase as the 33 ms frame tick.
        jitter ^= jitter << 13;
        jitter ^= jitter >> 7;
        jitter ^= jitter << 17;
        std::thread::sleep(Duration::from_millis(70 + jitter % 61));
        if probe.lock().expect("the probe").finished || start.elapsed() > KEY_BUDGET {
            ended_early = true;
            break;
        }
        // Keys go from what the screen shows, wherever the console put the cursor.
        if let Some(shown) = probe.lock().expect("the probe").shown {
            selected = shown;
        }
        if selected + 1 >= rows {
            down = false;
        } else if selected == 0 {
            down = true;
        }
        let (next, code) = if down {
            (selected + 1, KeyCode::Down)
        } else {
            (selected - 1, KeyCode::Up)
        };
        probe.lock().expect("the probe").pending = Some((next, Instant::now()));
        key(code);
        match answers.recv_timeout(Duration::from_secs(5)) {
            Ok(latency) => {
                latencies.push(latency);
                end = Instant::now();
            }
            Err(_) => unanswered += 1,
        }
        selected = next;
    }
    probe.lock().expect("the probe").counting = false;
    // Quit: the console asks for confirmation while the verification runs.
    key(KeyCode::Char('q'));
    key(KeyCode::Char('q'));
    probe.lock().expect("the probe").quit_sent = Some(Instant::now());
    Pressed {
        latencies,
        unanswered,
        ended_early,
        start,
        end,
    }
}

/// The engine alone over `window` after the warm-up: its events are drained, nothing drawn.
/// Returns bytes verified per second in the window.
async fn engine_alone(drive: Arc<Drive>, target: &Path, window: Duration) -> f64 {
    let mut handle = engine::start_verify(drive, target.to_path_buf(), VerifyOptions::default());
    let started = Instant::now();
    let mut first: Option<(Instant, u64)> = None;
    let mut last = None;
    let mut cancelled = false;
    while let Some(event) = handle.events.recv().await {
        if let Event::Progress(progress) = event {
            let now = Instant::now();
            if now.duration_since(started) >= WARM_UP {
                let first = *first.get_or_insert((now, progress.verify.bytes_done));
                last = Some((now, progress.verify.bytes_done));
                if !cancelled && now.duration_since(first.0) >= window {
                    handle.send(engine::Command::Cancel);
                    cancelled = true;
                }
            }
        }
    }
    match (first, last) {
        (Some(first), Some(last)) if last.0 > first.0 => {
            (last.1 - first.1) as f64 / last.0.duration_since(first.0).as_secs_f64()
        }
        _ => f64::NAN,
    }
}

/// A `TestBackend` whose errors are `io::Error`, as `Console::run` wants.
struct Backed(TestBackend);

impl Backend for Backed {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.0.draw(content).map_err(|never| match never {})
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        self.0.hide_cursor().map_err(|never| match never {})
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        self.0.show_cursor().map_err(|never| match never {})
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.0.get_cursor_position().map_err(|never| match never {})
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.0
            .set_cursor_position(position)
            .map_err(|never| match never {})
    }

    fn clear(&mut self) -> io::Result<()> {
        self.0.clear().map_err(|never| match never {})
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.0
            .clear_region(clear_type)
            .map_err(|never| match never {})
    }

    fn size(&self) -> io::Result<Size> {
        self.0.size().map_err(|never| match never {})
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.0.window_size().map_err(|never| match never {})
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(|never| match never {})
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics, load accounting and small helpers.

struct Stats {
    p50: Duration,
    p99: Duration,
    max: Duration,
    n: usize,
}

impl Stats {
    fn of(times: &mut [Duration]) -> Self {
        times.sort();
        // Nearest rank.
        let rank =
            |p: f64| times[((p * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
        Self {
            p50: rank(0.50),
            p99: rank(0.99),
            max: times[times.len() - 1],
            n: times.len(),
        }
    }

    fn describe(&self, target_ms: f64) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, n {} (target {target_ms} ms: p50 {:.2}, \
             p99 {:.2}: {})",
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.n,
            ms(self.p50) / target_ms,
            ms(self.p99) / target_ms,
            if ms(self.p99) <= target_ms {
                "met"
            } else {
                "NOT met"
            }
        )
    }
}
