//! The source downloads read from, replaceable while the run goes on (new credentials typed
//! into the console after a 403).

use std::sync::Arc;

use tokio::sync::watch;

use super::super::verify::Control;
use crate::source::BlobSource;

/// The current source and its generation: a download refused by generation `g` waits for a
/// source newer than `g`.
#[derive(Clone)]
pub(crate) struct CurrentSource {
    pub generation: u64,
    pub source: Arc<dyn BlobSource>,
}

pub(crate) struct SourceSlot {
    current: watch::Sender<CurrentSource>,
}

impl SourceSlot {
    pub(crate) fn new(source: Arc<dyn BlobSource>) -> Self {
        Self {
            current: watch::Sender::new(CurrentSource {
                generation: 0,
                source,
            }),
        }
    }

    pub(crate) fn get(&self) -> CurrentSource {
        self.current.borrow().clone()
    }

    pub(crate) fn replace(&self, source: Arc<dyn BlobSource>) {
        self.current.send_modify(|current| {
            current.generation += 1;
            current.source = source;
        });
    }

    /// Waits until a source newer than `generation` is set; false if the run is cancelled
    /// first.
    pub(crate) async fn wait_past(&self, generation: u64, control: &Control) -> bool {
        let mut changes = self.current.subscribe();
        tokio::select! {
            _ = control.cancelled() => false,
            newer = changes.wait_for(|current| current.generation != generation) => newer.is_ok(),
        }
    }
}
