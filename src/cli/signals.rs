//! SIGINT, SIGTERM and SIGHUP end a run the same way: the writes in flight finish (downloads
//! under way get a few seconds), the repair file records them, the reports are written, a
//! BitLocker volume is locked again, exit 4.
//! A second signal stops at once (after locking the volume). Before the run starts (while a
//! BitLocker drive is unlocked and the run prepared) any of them locks the drive and exits 4.

use std::sync::Arc;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Mutex;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::ExitStatus;
use crate::engine::Command;

/// The stop signals of one command, from before its run to its end. Its listeners take turns
/// on the same ones, so a signal that comes while one hands over to the next is heard by the
/// next, not lost.
pub struct Signals(Arc<Mutex<StopSignals>>);

/// Listens while alive; dropped (or ended), it leaves the signals unheard: tokio's handler
/// stays, so from then on a stop signal does nothing (the reports are being written).
pub struct Interrupts {
    task: Option<tokio::task::JoinHandle<()>>,
    signals: Arc<Mutex<StopSignals>>,
}

impl Signals {
    fn install() -> Self {
        Self(Arc::new(Mutex::new(StopSignals::install())))
    }
}

impl Interrupts {
    /// Spawns `on_signals`, which holds the signals while it listens.
    fn listen<F>(signals: Signals, on_signals: impl FnOnce(Signals) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let shared = Arc::clone(&signals.0);
        Self {
            task: Some(tokio::spawn(on_signals(signals))),
            signals: shared,
        }
    }

    /// Stops listening and gives the signals to the next listener once this one is surely
    /// gone (had it begun to answer a signal, the program has ended by then).
    pub async fn hand_over(mut self) -> Signals {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        Signals(Arc::clone(&self.signals))
    }

    /// Stops listening, once the listener is surely gone: after this, no signal ends the
    /// program midway through what follows (the reports).
    pub async fn end(self) {
        self.hand_over().await;
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The three signals that mean "stop".
struct StopSignals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
    hangup: Option<Signal>,
}

impl StopSignals {
    fn install() -> Self {
        Self {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
            hangup: signal(SignalKind::hangup()).ok(),
        }
    }

    /// The next one, by name.
    async fn next(&mut self) -> &'static str {
        async fn on(signal: &mut Option<Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = on(&mut self.interrupt) => "interrupted",
            () = on(&mut self.terminate) => "terminated (SIGTERM)",
            () = on(&mut self.hangup) => "hung up (SIGHUP)",
        }
    }
}

/// Until the run starts: a signal locks a BitLocker volume again and exits 4.
pub fn before_run() -> Interrupts {
    let signals = Signals::install();
    Interrupts::listen(signals, |signals| async move {
        let mut signals = signals.0.lock().await;
        let what = signals.next().await;
        // The repair file may have been made already: "nothing" would be untrue.
        say!(
            "{what} before the run started: nothing on the drive was written; run the same \
             command again to start"
        );
        crate::bitlocker::emergency_cleanup();
        crate::private_dir::remove_scratch();
        std::process::exit(ExitStatus::Interrupted as i32);
    })
}

/// During a run: the first signal asks the engine to finish what is in flight and stop; a
/// second stops at once, saying what is then left `to_do`. Under the console (`console`
/// given) the word goes to its log (the screen is the console's) and the console is told to
/// close once the run has ended.
pub fn stop_run(
    signals: Signals,
    commands: UnboundedSender<Command>,
    console: Option<CancellationToken>,
    to_do: String,
) -> Interrupts {
    Interrupts::listen(signals, |signals| async move {
        let mut signals = signals.0.lock().await;
        let what = signals.next().await;
        let message = format!(
            "{what}: finishing the writes in flight (downloads not done in {grace} s are left for \
             the rerun), then recording them and writing the reports (a second signal stops at \
             once)",
            grace = crate::engine::STOP_GRACE.as_secs()
        );
        match &console {
            Some(close) => {
                tracing::warn!("{message}");
                close.cancel();
            }
            None => say!("{message}"),
        }
        let _ = commands.send(Command::Cancel);
        let what = signals.next().await;
        // The console's screen is given back first: the words go to the main screen, and
        // the shell gets a terminal that echoes again.
        hold_stdout(console.is_some());
        say!("{what} again: stopped at once; {to_do}");
        crate::bitlocker::emergency_cleanup();
        crate::private_dir::remove_scratch();
        std::process::exit(ExitStatus::Interrupted as i32);
    })
}

/// Takes stdout for good before the program exits at once, so that an NDJSON line (or a
/// console frame) being printed is finished and no other begun, and gives the console's
/// terminal back through it when there is one; waits a second at most (a reader that
/// stopped reading must not keep the program from stopping).
fn hold_stdout(console: bool) {
    if console {
        crate::tui::leave_raw_mode();
    }
    let (taken, held) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut whole_lines = std::io::stdout().lock();
        if console {
            crate::tui::restore_to(&mut whole_lines);
        }
        let _ = taken.send(());
        loop {
            std::thread::park();
        }
    });
    let _ = held.recv_timeout(std::time::Duration::from_secs(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests send SIGHUP to their own process: one at a time, so that none hears
    /// another's.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

    /// The run's listener comes a moment after the preparation's has gone: a Ctrl-C in that
    /// moment must still stop the run, not be dropped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_signal_between_two_listeners_is_heard_by_the_second() {
        let _alone = ONE_AT_A_TIME.lock().await;
        let signals = Signals::install();
        let preparing = Interrupts::listen(signals, |signals| async move {
            let _held = signals.0.lock().await;
            std::future::pending::<()>().await;
        });
        let signals = preparing.hand_over().await;
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        // Delivered (and handled by the runtime) before anyone listens again.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (heard, hearing) = tokio::sync::oneshot::channel();
        let _running = Interrupts::listen(signals, |signals| async move {
            let what = signals.0.lock().await.next().await;
            let _ = heard.send(what);
        });
        let what = tokio::time::timeout(std::time::Duration::from_secs(10), hearing)
            .await
            .expect("the signal sent between the listeners was lost")
            .expect("the listener ran");
        assert_eq!(what, "hung up (SIGHUP)");
    }

    /// A listener answering a second signal (which ends the program) is not cut off when
    /// the run ends meanwhile: `end` waits for it, so no report is begun that the exit would
    /// leave half written beside its message "no report was written".
    ///
    /// Seen failing: the reports were written (some, or all, or a temporary left) after the
    /// listener had said none was, then the program exited.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ending_waits_for_a_signal_being_answered() {
        let _alone = ONE_AT_A_TIME.lock().await;
        use std::sync::atomic::{AtomicBool, Ordering};
        let signals = Signals::install();
        let started = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicBool::new(false));
        let (begun, done) = (Arc::clone(&started), Arc::clone(&answered));
        let listener = Interrupts::listen(signals, move |signals| async move {
            let _ = signals.0.lock().await.next().await;
            begun.store(true, Ordering::SeqCst);
            // Answering: no await from here on (the real one exits the program).
            std::thread::sleep(std::time::Duration::from_millis(300));
            done.store(true, Ordering::SeqCst);
        });
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !started.load(Ordering::SeqCst) {
            assert!(
                std::time::Instant::now() < deadline,
                "the signal was not heard"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        listener.end().await;
        assert!(
            answered.load(Ordering::SeqCst),
            "the run went on while the signal was being answered"
        );
    }
}
