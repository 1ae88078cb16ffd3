//! The engine: one dispatcher task per run that turns commands and worker results into
//! events. It never draws and never prints.

mod event;
pub mod repair;
pub mod verify;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::mpsc;

/// What a `CredentialsRefused` event says was refused.
pub use crate::source::CredentialKind;
pub use event::{
    Activity, Command, ComponentEvent, DownloadPlan, Event, PlannedDownload, PlannedKind, Progress,
    Progression, RunMode, SourceHandle, Tally, Totals, Work, resumed_text,
};
pub use repair::{RepairOptions, STOP_GRACE, start_repair};
pub use verify::{Control, Finding, VerifyOptions, VerifySink};

use crate::ledger::Ledger;
use crate::model::{ComponentId, Drive, Outcome};

/// How often progress is reported at most.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// How often progress is told when nothing moves (a stalled download's rate falling to none).
const STILL_PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// A running engine: send commands, receive events. The event stream ends after
/// `RunFinished`.
pub struct EngineHandle {
    commands: mpsc::UnboundedSender<Command>,
    pub events: mpsc::Receiver<Event>,
}

impl EngineHandle {
    /// Sends a command; ignored once the run has finished.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// A sender that can outlive borrows of the handle (e.g. for a Ctrl-C task).
    pub fn commands(&self) -> mpsc::UnboundedSender<Command> {
        self.commands.clone()
    }
}

/// Starts verifying the whole drive. Must be called inside a tokio runtime.
pub fn start_verify(drive: Arc<Drive>, target: PathBuf, options: VerifyOptions) -> EngineHandle {
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::channel(1024);
    tokio::spawn(dispatch_verify(
        drive, target, options, command_rx, event_tx,
    ));
    EngineHandle {
        commands: command_tx,
        events: event_rx,
    }
}

/// Time the engine works: it stops while paused and while a run kept open waits.
#[derive(Default)]
struct WorkClock {
    before: Duration,
    since: Option<Instant>,
}

impl WorkClock {
    fn run(&mut self, running: bool) {
        match (running, self.since) {
            (true, None) => self.since = Some(Instant::now()),
            (false, Some(since)) => {
                self.before += since.elapsed();
                self.since = None;
            }
            _ => {}
        }
    }

    fn seconds(&self) -> f64 {
        (self.before + self.since.map_or(Duration::ZERO, |since| since.elapsed())).as_secs_f64()
    }
}

/// Rate and time left of one kind of work.
#[derive(Default)]
struct Pace {
    rate: RateMeter,
}

impl Pace {
    fn measure(&mut self, progression: &Progression, paused: bool) -> Progression {
        let mut out = *progression;
        if paused {
            // A paused run has no rate; the window starts again when it goes on.
            self.rate = RateMeter::default();
            out.bytes_per_second = None;
            out.eta_seconds = None;
            return out;
        }
        let rate = self.rate.sample(progression.bytes_done);
        let left = progression
            .bytes_total
            .saturating_sub(progression.bytes_done);
        out.bytes_per_second = (rate > 0).then_some(rate);
        out.eta_seconds = if left == 0 {
            None
        } else {
            (rate > 0).then(|| left.div_ceil(rate))
        };
        out
    }
}

/// Throughput over a sliding window of a few seconds.
#[derive(Default)]
struct RateMeter {
    samples: std::collections::VecDeque<(Instant, u64)>,
    /// Bytes moved since the window (re)started: before that, the wait for the first byte is
    /// not part of any rate.
    moved: bool,
}

impl RateMeter {
    const WINDOW: Duration = Duration::from_secs(5);

    fn sample(&mut self, bytes_done: u64) -> u64 {
        self.sample_at(Instant::now(), bytes_done)
    }

    fn sample_at(&mut self, now: Instant, bytes_done: u64) -> u64 {
        // Fewer bytes done than before (a download begun again after new credentials takes
        // its bytes back): the window starts again here.
        if self
            .samples
            .back()
            .is_some_and(|&(_, before)| bytes_done < before)
        {
            self.samples.clear();
            self.moved = false;
        }
        self.samples.push_back((now, bytes_done));
        while let Some(&(at, _)) = self.samples.front() {
            if now.duration_since(at) > Self::WINDOW && self.samples.len() > 2 {
                self.samples.pop_front();
            } else {
                break;
            }
        }
        // Nothing moved yet (work not begun): the window starts where the bytes last stood
        // still, not seconds before. Later still stretches are part of the rate.
        if !self.moved {
            while self.samples.len() > 2 && self.samples[0].1 == self.samples[1].1 {
                self.samples.pop_front();
            }
            self.moved = self
                .samples
                .front()
                .is_some_and(|&(_, first)| first != bytes_done);
        }
        let Some(&(first_at, first_bytes)) = self.samples.front() else {
            return 0;
        };
        let elapsed = now.duration_since(first_at).as_secs_f64();
        if elapsed < 0.05 {
            return 0;
        }
        ((bytes_done - first_bytes) as f64 / elapsed) as u64
    }
}

/// What workers tell the dispatcher.
pub(crate) enum WorkerMessage {
    /// A component reached a verdict (the worker has journalled it when it had to).
    Finding(Finding),
    Working {
        blob: u32,
        components: Vec<u32>,
        activity: Activity,
    },
    /// The storage's length of a file only the copy log lists, where it differs.
    StorageLength { id: ComponentId, length: u64 },
    /// Bytes of a component's download that came before its verdict.
    Transferred { id: ComponentId, bytes: u64 },
    /// A component planned for download needs none.
    DownloadUnneeded(ComponentId),
    /// Bytes of a page blob's download that lie in empty pages: never asked for.
    EmptyPages { id: ComponentId, bytes: u64 },
    /// A source waits seconds or more before it asks the storage again.
    WaitingForStorage(String),
    /// The storage could not be reached for these components (after their verdicts).
    StorageUnreachable {
        components: Vec<ComponentId>,
        message: String,
    },
    /// Work planned: it joins that work's totals.
    Planned {
        work: Work,
        components: u64,
        bytes: u64,
    },
    /// A rerun took verdicts from its repair file (sent after them; their files are unchanged
    /// since) and will check `checked_again` recorded components again.
    Resumed {
        components: u64,
        repaired: u64,
        verified: u64,
        checked_again: u64,
    },
    /// The source refused the credentials: the run stops, resumable (or, kept open, waits
    /// for new ones).
    CredentialsRefused(String, CredentialKind),
    /// A run kept open has nothing left to do.
    Idle,
    /// A dry run's plan.
    WouldDownload(DownloadPlan),
    /// The repair file cannot be read or written: the run stops, nothing more is written.
    RepairFileFailed(String),
}

/// Work asked of a run kept open, forwarded by the dispatcher to the worker.
pub(crate) enum WorkRequest {
    Retry(Vec<ComponentId>),
    Verify(Vec<ComponentId>),
    Finish,
}

/// The dispatcher's side of a run kept open.
pub(crate) struct OpenRun {
    pub requests: mpsc::UnboundedSender<WorkRequest>,
    pub sources: Arc<repair::SourceSlot>,
}

/// A verifier sink: findings to a closure, what the reader starts to the dispatcher.
pub(crate) struct ToDispatcher<'a, F> {
    pub findings: F,
    pub messages: &'a mpsc::Sender<WorkerMessage>,
}

impl<F: Fn(Finding) + Sync> VerifySink for ToDispatcher<'_, F> {
    fn finding(&self, finding: Finding) {
        (self.findings)(finding)
    }

    fn started(&self, blob: u32, components: &[u32]) {
        let _ = self.messages.blocking_send(WorkerMessage::Working {
            blob,
            components: components.to_vec(),
            activity: Activity::Verifying,
        });
    }
}

async fn dispatch_verify(
    drive: Arc<Drive>,
    target: PathBuf,
    options: VerifyOptions,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<Event>,
) {
    let control = Arc::new(Control::default());
    let (messages_tx, messages) = mpsc::channel::<WorkerMessage>(4096);
    let _ = messages_tx.try_send(WorkerMessage::Planned {
        work: Work::Verify,
        components: drive.component_count() as u64,
        bytes: drive
            .components()
            .map(|(_, blob, component)| blob.data_bytes_of(component))
            .fold(0, u64::saturating_add),
    });
    let target_text = target.display().to_string();
    let worker = {
        let drive = Arc::clone(&drive);
        let control = Arc::clone(&control);
        tokio::task::spawn_blocking(move || {
            let report = ToDispatcher {
                findings: |finding| {
                    let _ = messages_tx.blocking_send(WorkerMessage::Finding(finding));
                },
                messages: &messages_tx,
            };
            verify::verify(&drive, &target, None, &options, &control, &report);
            !control.is_cancelled()
        })
    };
    let run = Run {
        drive,
        mode: RunMode::Verify,
        target: target_text,
        source: None,
        repair_file: None,
        control,
        open: None,
    };
    dispatch(run, worker, messages, commands, events).await;
}

/// What the dispatcher needs to know about the run it drives.
pub(crate) struct Run {
    pub drive: Arc<Drive>,
    pub mode: RunMode,
    /// The drive's root, the source and the repair file, as the run names them.
    pub target: String,
    pub source: Option<String>,
    pub repair_file: Option<String>,
    pub control: Arc<Control>,
    /// Set when the run stays open for more work after its plan.
    pub open: Option<OpenRun>,
}

impl Run {
    fn cancel(&self) {
        self.control.cancel();
        self.finish();
    }

    fn finish(&self) {
        if let Some(open) = &self.open {
            let _ = open.requests.send(WorkRequest::Finish);
        }
    }

    /// Hands a request to a run kept open; anything else is told it cannot take it.
    fn request(&self, request: WorkRequest) -> Option<Event> {
        match &self.open {
            Some(open) => {
                let _ = open.requests.send(request);
                None
            }
            None => Some(Event::Warning {
                message: "this run cannot take more work: retrying and verifying again need \
                          a repair run in the console"
                    .into(),
            }),
        }
    }
}

/// The events a dispatcher sends, folded into its own ledger on the way out: the totals,
/// outcome and progress it reports are the ledger's, as every consumer's are.
struct Outbox {
    events: mpsc::Sender<Event>,
    ledger: Ledger,
    clock: WorkClock,
    verify: Pace,
    download: Pace,
}

impl Outbox {
    /// Sends an event; false when nobody listens any more.
    async fn send(&mut self, event: Event) -> bool {
        self.ledger.apply(&event);
        self.events.send(event).await.is_ok()
    }

    async fn progress(&mut self) -> bool {
        let paused = self.ledger.paused();
        let progress = Progress {
            verify: self.verify.measure(self.ledger.verify(), paused),
            download: self.download.measure(self.ledger.download(), paused),
            active_seconds: self.clock.seconds(),
        };
        self.send(Event::Progress(progress)).await
    }

    /// The clock runs while there is work and nothing holds it: not while idle, paused with
    /// nothing in flight (a download under way at a pause finishes, and that is work), or
    /// waiting for credentials with nothing left to verify (the downloads wait for the
    /// technician, who is not the work).
    fn tick_clock(&mut self) {
        let ledger = &self.ledger;
        let held = ledger.paused() && ledger.downloading() == 0;
        let verify = ledger.verify();
        let waiting = ledger.awaiting_credentials() && verify.bytes_done >= verify.bytes_total;
        let running = !held && !ledger.idle() && !ledger.finished() && !waiting;
        self.clock.run(running);
    }
}

/// The one loop every run goes through: commands in, worker messages and ticks to events.
/// The worker says whether it got through all its work (false: cancelled or stopped).
pub(crate) async fn dispatch(
    run: Run,
    worker: tokio::task::JoinHandle<bool>,
    mut messages: mpsc::Receiver<WorkerMessage>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<Event>,
) -> Outcome {
    let drive = Arc::clone(&run.drive);
    let mut out = Outbox {
        events,
        ledger: Ledger::counting(Arc::clone(&drive)),
        clock: WorkClock::default(),
        verify: Pace::default(),
        download: Pace::default(),
    };
    let started = Event::RunStarted {
        mode: run.mode,
        drive_id: drive.drive_id.clone(),
        blobs: drive.blobs.len(),
        components: drive.component_count(),
        // What the ledger counts, as the summary does (a file the copy log alone lists too).
        bytes: out.ledger.totals().bytes,
        started: OffsetDateTime::now_utc(),
        target: run.target.clone(),
        source: run.source.clone(),
        repair_file: run.repair_file.clone(),
    };
    out.send(started).await;
    out.tick_clock();
    for message in &drive.warnings {
        out.send(Event::Warning {
            message: message.clone(),
        })
        .await;
    }
    let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
    let mut reported = None;
    let mut last_progress = Instant::now();
    let mut commands_open = true;
    let mut repair_file_error = None;
    loop {
        tokio::select! {
            command = commands.recv(), if commands_open => {
                let reply = match command {
                    Some(Command::Pause) => {
                        run.control.set_paused(true);
                        (!out.ledger.paused()).then_some(Event::Paused)
                    }
                    Some(Command::Resume) => {
                        run.control.set_paused(false);
                        out.ledger.paused().then_some(Event::Continued)
                    }
                    Some(Command::Cancel) => {
                        run.cancel();
                        (!out.ledger.stopping()).then_some(Event::Stopping)
                    }
                    Some(Command::Retry(ids)) => run.request(WorkRequest::Retry(ids)),
                    Some(Command::Verify(ids)) => run.request(WorkRequest::Verify(ids)),
                    Some(Command::Finish) => {
                        run.finish();
                        None
                    }
                    Some(Command::UseSource(source)) => match &run.open {
                        Some(open) => {
                            let described = source.0.describe();
                            open.sources.replace(source.0);
                            Some(Event::SourceChanged { source: described })
                        }
                        None => Some(Event::Warning {
                            message: "this run cannot switch sources".into(),
                        }),
                    },
                    None => {
                        // Nobody can ask for more: a run kept open ends when its work does.
                        commands_open = false;
                        run.finish();
                        None
                    }
                };
                if let Some(event) = reply {
                    out.send(event).await;
                }
                out.tick_clock();
            },
            message = messages.recv() => {
                let event = match message {
                    None => break,
                    Some(WorkerMessage::Finding(finding)) => component_event(&drive, finding),
                    Some(WorkerMessage::Working { blob, components, activity }) => {
                        Event::Working { blob, components, activity }
                    }
                    Some(WorkerMessage::StorageLength { id, length }) => {
                        Event::StorageLength { id, length }
                    }
                    Some(WorkerMessage::Transferred { id, bytes }) => {
                        Event::Transferred { id, bytes }
                    }
                    Some(WorkerMessage::DownloadUnneeded(id)) => Event::DownloadUnneeded { id },
                    Some(WorkerMessage::EmptyPages { id, bytes }) => Event::EmptyPages { id, bytes },
                    Some(WorkerMessage::WaitingForStorage(message)) => {
                        Event::WaitingForStorage { message }
                    }
                    Some(WorkerMessage::StorageUnreachable { components, message }) => {
                        Event::StorageUnreachable { components, message }
                    }
                    Some(WorkerMessage::Planned { work, components, bytes }) => {
                        Event::Planned { work, components, bytes }
                    }
                    Some(WorkerMessage::Resumed { components, repaired, verified, checked_again }) => {
                        Event::Resumed { components, repaired, verified, checked_again }
                    }
                    Some(WorkerMessage::WouldDownload(plan)) => Event::WouldDownload(plan),
                    Some(WorkerMessage::CredentialsRefused(message, credentials)) => {
                        if run.open.is_none() {
                            run.cancel();
                        }
                        Event::CredentialsRefused { message, credentials }
                    }
                    Some(WorkerMessage::RepairFileFailed(message)) => {
                        run.cancel();
                        repair_file_error = Some(message.clone());
                        Event::Warning { message }
                    }
                    Some(WorkerMessage::Idle) => {
                        out.clock.run(false);
                        out.progress().await;
                        Event::Idle {
                            outcome: out.ledger.outcome(),
                            totals: out.ledger.totals(),
                            active_seconds: out.clock.seconds(),
                        }
                    }
                };
                if !out.send(event).await {
                    // Nobody listens any more: stop the work.
                    run.cancel();
                }
                out.tick_clock();
            },
            _ = tick.tick() => {
                let now = (
                    out.ledger.verify().bytes_done,
                    out.ledger.download().bytes_done,
                    out.ledger.paused(),
                );
                // Also once a second when nothing moves: the rate falls as it does.
                if reported != Some(now) || last_progress.elapsed() >= STILL_PROGRESS_INTERVAL {
                    reported = Some(now);
                    last_progress = Instant::now();
                    out.progress().await;
                }
            },
        }
    }
    let completed = worker.await.unwrap_or(false);
    out.clock.run(false);
    out.progress().await;
    let outcome = out.ledger.outcome();
    // A stop after which every component has its verdict and nothing is wrong left nothing
    // undone (the last downloads finished after it): not an interruption.
    let stopped_short = !completed && !matches!(outcome, Outcome::Clean | Outcome::Repaired);
    let interrupted =
        stopped_short || out.ledger.awaiting_credentials() || repair_file_error.is_some();
    let finished = Event::RunFinished {
        outcome,
        totals: out.ledger.totals(),
        finished: OffsetDateTime::now_utc(),
        interrupted,
        repair_file_error,
        active_seconds: out.clock.seconds(),
    };
    out.send(finished).await;
    outcome
}

fn component_event(drive: &Drive, finding: Finding) -> Event {
    Event::Component(ComponentEvent::new(
        drive,
        finding,
        OffsetDateTime::now_utc(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seen failing: bytes done going down (a download begun again) wrapped the rate to
    /// 1.8 EiB/s; a rate measured after seconds of nothing moving (a long verify before the
    /// first download) read a fraction of the real one.
    #[test]
    fn the_rate_starts_again_when_bytes_go_back_and_ignores_a_still_start() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut meter = RateMeter::default();
        for ms in (0..=4000).step_by(100) {
            assert_eq!(meter.sample_at(at(ms), 0), 0);
        }
        // 1 MB in the second after 4 s of nothing: 1 MB/s, not a fifth of it.
        let rate = meter.sample_at(at(5000), 1_000_000);
        assert!((900_000..=1_100_000).contains(&rate), "{rate}");
        // A restart takes bytes back: no wrap, the window starts again.
        assert_eq!(meter.sample_at(at(5100), 200_000), 0);
        let rate = meter.sample_at(at(6100), 1_200_000);
        assert!((900_000..=1_100_000).contains(&rate), "{rate}");
        // Bytes that come in large steps (a 16 MiB piece at a time) keep a steady rate: 8 MB
        // every 8 s reads about 1 MB/s between steps, never the step over one tick.
        let mut stepped = RateMeter::default();
        let mut rates = Vec::new();
        for second in 0..=40u64 {
            let done = (second / 8) * 8_000_000;
            rates.push(stepped.sample_at(at(second * 1000), done));
        }
        assert!(
            rates[17..].iter().all(|&rate| rate <= 2_000_000),
            "{rates:?}"
        );
        // Stalled: the rate falls to nothing once the window holds no movement.
        let mut last = rate;
        for ms in (6200..=12_000).step_by(1000) {
            last = meter.sample_at(at(ms), 1_200_000);
        }
        assert_eq!(last, 0);
    }
}
