//! A source slowed to a given rate, so that a trainee can watch a repair happen (the demo's
//! local mirror is otherwise done in a blink).

use std::sync::Arc;
use std::time::Duration;

use crate::source::{BlobProperties, BlobRef, BlobSource, ReadConditions, SourceError};

/// Reads no faster than `bytes_per_second` each (and a tenth of a second at least).
pub struct Paced {
    inner: Arc<dyn BlobSource>,
    bytes_per_second: u64,
}

impl Paced {
    pub fn new(inner: Arc<dyn BlobSource>, bytes_per_second: u64) -> Self {
        Self {
            inner,
            bytes_per_second: bytes_per_second.max(1),
        }
    }

    fn delay(&self, bytes: u64) -> Duration {
        let seconds = bytes as f64 / self.bytes_per_second as f64;
        Duration::from_secs_f64(seconds.max(0.1))
    }
}

#[async_trait::async_trait]
impl BlobSource for Paced {
    async fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<bytes::Bytes, SourceError> {
        tokio::time::sleep(self.delay(length)).await;
        self.inner
            .read_range(blob, offset, length, conditions)
            .await
    }

    async fn properties(
        &self,
        blob: &BlobRef,
        conditions: &ReadConditions,
    ) -> Result<BlobProperties, SourceError> {
        tokio::time::sleep(self.delay(0)).await;
        self.inner.properties(blob, conditions).await
    }

    fn describe(&self) -> String {
        format!(
            "{}, paced to {}/s",
            self.inner.describe(),
            crate::ledger::human::bytes(self.bytes_per_second)
        )
    }
}

/// The source, slowed to `kib_per_second` when given.
pub fn paced(source: Arc<dyn BlobSource>, kib_per_second: Option<u64>) -> Arc<dyn BlobSource> {
    match kib_per_second {
        Some(rate) => Arc::new(Paced::new(source, rate.saturating_mul(1024))),
        None => source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mebibyte_at_half_a_mebibyte_a_second_takes_two_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let mirror: Arc<dyn BlobSource> =
            Arc::new(crate::source::mirror::MirrorSource::new(dir.path()).unwrap());
        let paced = Paced::new(mirror, 512 * 1024);
        assert_eq!(paced.delay(1024 * 1024), Duration::from_secs(2));
        assert_eq!(paced.delay(0), Duration::from_millis(100));
        assert!(
            paced.describe().ends_with("paced to 512.0 KiB/s"),
            "{}",
            paced.describe()
        );
    }
}
