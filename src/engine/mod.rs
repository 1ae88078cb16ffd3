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

pub use event::{
    Activity, Command, ComponentEvent, Event, Progress, RunMode, SourceHandle, Tally, Totals,
    resumed_text,
};
pub use repair::{RepairOptions, start_repair};
pub use verify::{Control, Finding, VerifyOptions, VerifySink};

use crate::model::{ComponentId, ComponentStatus, Drive, Outcome};

/// How often progress is reported at most.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

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

/// Per-component verdicts so far, and progress arithmetic.
struct Ledger {
    statuses: Vec<Vec<Option<ComponentStatus>>>,
    progress: Progress,
    rate: RateMeter,
}

impl Ledger {
    fn new(drive: &Drive) -> Self {
        Self {
            statuses: drive
                .blobs
                .iter()
                .map(|blob| vec![None; blob.components.len()])
                .collect(),
            progress: Progress {
                components_total: drive.component_count() as u64,
                bytes_total: drive.data_bytes(),
                ..Progress::default()
            },
            rate: RateMeter::default(),
        }
    }

    fn record(&mut self, id: ComponentId, status: ComponentStatus, bytes: u64) {
        let slot = &mut self.statuses[id.blob as usize][id.component as usize];
        if slot.is_none() {
            self.progress.components_done += 1;
        }
        *slot = Some(status);
        self.progress.bytes_done += bytes;
    }

    fn snapshot_progress(&mut self) -> Progress {
        let rate = self.rate.sample(self.progress.bytes_done);
        self.progress.bytes_per_second = rate;
        let left = self
            .progress
            .bytes_total
            .saturating_sub(self.progress.bytes_done);
        self.progress.eta_seconds = (rate > 0).then(|| left / rate);
        self.progress.clone()
    }

    /// Totals over every component; those never looked at count as skipped.
    fn totals(&self, drive: &Drive) -> Totals {
        let mut totals = Totals::default();
        for (id, blob, component) in drive.components() {
            let status = self.statuses[id.blob as usize][id.component as usize]
                .unwrap_or(ComponentStatus::Skipped);
            totals.add(status, blob.data_bytes_of(component));
        }
        totals
    }

    fn outcome(&self) -> Outcome {
        Outcome::of(
            self.statuses
                .iter()
                .flatten()
                .map(|s| s.unwrap_or(ComponentStatus::Skipped)),
        )
    }
}

/// Throughput over a sliding window of a few seconds.
#[derive(Default)]
struct RateMeter {
    samples: std::collections::VecDeque<(Instant, u64)>,
}

impl RateMeter {
    const WINDOW: Duration = Duration::from_secs(5);

    fn sample(&mut self, bytes_done: u64) -> u64 {
        let now = Instant::now();
        self.samples.push_back((now, bytes_done));
        while let Some(&(at, _)) = self.samples.front() {
            if now.duration_since(at) > Self::WINDOW && self.samples.len() > 2 {
                self.samples.pop_front();
            } else {
                break;
            }
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
    /// More bytes will be moved than the plan said (damage found, downloads planned).
    PlannedBytes(u64),
    /// The source refused the credentials: the run stops, resumable (or, kept open, waits
    /// for new ones).
    CredentialsRefused(String),
    /// A run kept open has nothing left to do.
    Idle,
    /// A rerun took verdicts from its repair file (files unchanged since) and will check the
    /// rest again.
    Resumed { taken: u64, checked_again: u64 },
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
        control,
        open: None,
    };
    dispatch(run, worker, messages, commands, events).await;
}

/// What the dispatcher needs to know about the run it drives.
pub(crate) struct Run {
    pub drive: Arc<Drive>,
    pub mode: RunMode,
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
    let started = Event::RunStarted {
        mode: run.mode,
        drive_id: drive.drive_id.clone(),
        blobs: drive.blobs.len(),
        components: drive.component_count(),
        bytes: drive.data_bytes(),
        started: OffsetDateTime::now_utc(),
    };
    let _ = events.send(started).await;
    for message in &drive.warnings {
        let _ = events
            .send(Event::Warning {
                message: message.clone(),
            })
            .await;
    }
    let mut ledger = Ledger::new(&drive);
    let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
    let mut reported_bytes = u64::MAX;
    let mut commands_open = true;
    let mut credentials_refused = false;
    let mut repair_file_error = None;
    loop {
        tokio::select! {
            command = commands.recv(), if commands_open => {
                let reply = match command {
                    Some(Command::Pause) => {
                        run.control.set_paused(true);
                        None
                    }
                    Some(Command::Resume) => {
                        run.control.set_paused(false);
                        None
                    }
                    Some(Command::Cancel) => {
                        run.cancel();
                        None
                    }
                    Some(Command::Retry(ids)) => run.request(WorkRequest::Retry(ids)),
                    Some(Command::Verify(ids)) => run.request(WorkRequest::Verify(ids)),
                    Some(Command::Finish) => {
                        run.finish();
                        None
                    }
                    Some(Command::UseSource(source)) => match &run.open {
                        Some(open) => {
                            credentials_refused = false;
                            open.sources.replace(source.0);
                            None
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
                    let _ = events.send(event).await;
                }
            },
            message = messages.recv() => {
                let event = match message {
                    None => break,
                    Some(WorkerMessage::Finding(finding)) => {
                        ledger.record(finding.id, finding.status, finding.bytes);
                        component_event(&drive, finding)
                    }
                    Some(WorkerMessage::Working { blob, components, activity }) => {
                        Event::Working { blob, components, activity }
                    }
                    Some(WorkerMessage::PlannedBytes(bytes)) => {
                        ledger.progress.bytes_total += bytes;
                        continue;
                    }
                    Some(WorkerMessage::CredentialsRefused(message)) => {
                        credentials_refused = true;
                        if run.open.is_none() {
                            run.cancel();
                        }
                        Event::CredentialsRefused { message }
                    }
                    Some(WorkerMessage::Resumed { taken, checked_again }) => {
                        Event::Resumed { taken, checked_again }
                    }
                    Some(WorkerMessage::RepairFileFailed(message)) => {
                        run.cancel();
                        repair_file_error = Some(message.clone());
                        Event::Warning { message }
                    }
                    Some(WorkerMessage::Idle) => {
                        let _ = events.send(Event::Progress(ledger.snapshot_progress())).await;
                        Event::Idle {
                            outcome: ledger.outcome(),
                            totals: ledger.totals(&drive),
                        }
                    }
                };
                if events.send(event).await.is_err() {
                    // Nobody listens any more: stop the work.
                    run.cancel();
                }
            },
            _ = tick.tick() => {
                if ledger.progress.bytes_done != reported_bytes {
                    reported_bytes = ledger.progress.bytes_done;
                    let _ = events.send(Event::Progress(ledger.snapshot_progress())).await;
                }
            },
        }
    }
    let completed = worker.await.unwrap_or(false);
    let _ = events
        .send(Event::Progress(ledger.snapshot_progress()))
        .await;
    let interrupted = !completed || credentials_refused || repair_file_error.is_some();
    let outcome = ledger.outcome();
    let _ = events
        .send(Event::RunFinished {
            outcome,
            totals: ledger.totals(&drive),
            finished: OffsetDateTime::now_utc(),
            interrupted,
            repair_file_error,
        })
        .await;
    outcome
}

fn component_event(drive: &Drive, finding: Finding) -> Event {
    Event::Component(ComponentEvent::new(
        drive,
        finding.id,
        finding.status,
        finding.actual_md5,
        finding.reason,
    ))
}
