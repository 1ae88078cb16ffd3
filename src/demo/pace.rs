//! A source slowed to a given rate, so that a trainee can watch a repair happen (the demo's
//! local mirror is otherwise done in a blink).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::source::{BlobProperties, BlobRef, BlobSource, ReadConditions, SourceError};

/// Reads no faster than `bytes_per_second` in all, however many reads run at once (and each
/// takes a tenth of a second at least).
pub struct Paced {
    inner: Arc<dyn BlobSource>,
    bytes_per_second: u64,
    /// When the bytes already promised to reads have all been handed over.
    busy_until: std::sync::Mutex<Option<Instant>>,
}

impl Paced {
    pub fn new(inner: Arc<dyn BlobSource>, bytes_per_second: u64) -> Self {
        Self {
            inner,
            bytes_per_second: bytes_per_second.max(1),
            busy_until: std::sync::Mutex::new(None),
        }
    }

    fn delay(&self, bytes: u64) -> Duration {
        let seconds = bytes as f64 / self.bytes_per_second as f64;
        Duration::from_secs_f64(seconds.max(0.1))
    }

    /// When `bytes` more may be handed over: after every byte promised before them, at the
    /// pace.
    fn turn_for(&self, bytes: u64) -> Instant {
        let mut busy = self
            .busy_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = busy.map_or_else(Instant::now, |until| until.max(Instant::now()));
        let seconds = bytes as f64 / self.bytes_per_second as f64;
        let end = start + Duration::from_secs_f64(seconds);
        *busy = Some(end);
        end
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
        let started = Instant::now();
        tokio::time::sleep_until(self.turn_for(length).max(started + self.delay(0))).await;
        self.inner
            .read_range(blob, offset, length, conditions)
            .await
    }

    /// The range read at once, then handed over in tenths of a second's worth, each when the
    /// pace reaches it: the progress moves while the range comes, as it does from Azure.
    async fn read_range_to(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
        sink: &mut (dyn FnMut(bytes::Bytes) + Send),
    ) -> Result<(), SourceError> {
        let started = Instant::now();
        let bytes = self
            .inner
            .read_range(blob, offset, length, conditions)
            .await?;
        let piece = usize::try_from(self.bytes_per_second / 10)
            .unwrap_or(usize::MAX)
            .max(1);
        let mut handed = 0;
        while handed < bytes.len() {
            let end = bytes.len().min(handed.saturating_add(piece));
            tokio::time::sleep_until(self.turn_for((end - handed) as u64)).await;
            sink(bytes.slice(handed..end));
            handed = end;
        }
        tokio::time::sleep_until(started + self.delay(0)).await;
        Ok(())
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

    /// A range comes in pieces spread over its time, not whole at its end (the progress then
    /// stood still until the verdict).
    #[tokio::test(start_paused = true)]
    async fn a_range_is_handed_over_a_tenth_of_a_second_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::create_dir_all(dir.path().join("cont")).unwrap();
        std::fs::write(dir.path().join("cont/x.bin"), &blob).unwrap();
        let mirror: Arc<dyn BlobSource> =
            Arc::new(crate::source::mirror::MirrorSource::new(dir.path()).unwrap());
        // 100,000 bytes at 200,000 a second: half a second, in pieces of 20,000.
        let paced = Paced::new(mirror, 200_000);
        let reference = BlobRef {
            container: "cont".into(),
            name: "x.bin".into(),
            snapshot: None,
        };
        let started = tokio::time::Instant::now();
        let mut pieces: Vec<(Duration, bytes::Bytes)> = Vec::new();
        paced
            .read_range_to(
                &reference,
                0,
                100_000,
                &ReadConditions::default(),
                &mut |piece| pieces.push((started.elapsed(), piece)),
            )
            .await
            .unwrap();
        let joined: Vec<u8> = pieces
            .iter()
            .flat_map(|(_, piece)| piece.to_vec())
            .collect();
        assert!(joined == blob, "the pieces are the range, in order");
        let moments: Vec<u128> = pieces.iter().map(|(at, _)| at.as_millis()).collect();
        assert_eq!(moments, [100, 200, 300, 400, 500]);

        // Two reads at once share the pace: both done after a second, not half of one.
        let started = tokio::time::Instant::now();
        let read = || async {
            let mut count = 0;
            paced
                .read_range_to(
                    &reference,
                    0,
                    100_000,
                    &ReadConditions::default(),
                    &mut |piece| count += piece.len(),
                )
                .await
                .unwrap();
            (count, started.elapsed().as_millis())
        };
        let (first, second) = tokio::join!(read(), read());
        assert_eq!((first.0, second.0), (100_000, 100_000));
        assert_eq!(first.1.max(second.1), 1000);
    }
}
