//! The log pane's feed: while the console is open, the program's tracing layer publishes
//! its (already redacted) lines here.

use std::sync::Mutex;

use tokio::sync::mpsc;

/// Lines for the pane.
pub type Lines = mpsc::UnboundedReceiver<String>;

static FEED: Mutex<Option<mpsc::UnboundedSender<String>>> = Mutex::new(None);

/// Starts feeding the pane; the previous reader (if any) stops receiving.
pub fn attach() -> Lines {
    let (sender, receiver) = mpsc::unbounded_channel();
    *FEED.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender);
    receiver
}

/// Whether a console is listening (saves formatting lines nobody reads).
pub fn attached() -> bool {
    FEED.lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .is_some_and(|sender| !sender.is_closed())
}

/// Sends a line to the pane, if one is open.
pub fn publish(line: String) {
    let mut feed = FEED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(sender) = feed.as_ref()
        && sender.send(line).is_err()
    {
        *feed = None;
    }
}
