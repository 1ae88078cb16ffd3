//! Hashing downloads while they arrive: every component being received is an MD5 stream in a
//! SIMD lane of one hashing thread (`md5::Md5Streams`), so ranges downloading side by side are
//! hashed together, and a component's digest is ready soon after its last byte.
//!
//! A kernel step costs the same whatever number of lanes has bytes, so the thread lets bytes
//! gather until half of the lanes have some, one stream has plenty, or a complete stream (whose
//! digest a download waits for) has waited `MAX_WAIT` for company.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use tokio::sync::oneshot;

use crate::md5::{Md5, Md5Path, Md5Streams};

/// Bytes a lane hashes before the thread looks at its messages again.
const STEP: usize = 256 * 1024;
/// A stream holding this many bytes not yet hashed is hashed without waiting for others.
const MAX_GATHERED: u64 = 8 * 1024 * 1024;
/// A stream holding this many bytes, or complete, is ready to take a lane's share of a step.
const READY: u64 = 64 * 1024;
/// How long a complete stream's digest may wait for other streams to be ready with it.
/// Azurite sends one response after another, so lanes fill only with blocks that have
/// arrived: with four downloads in flight 5 ms gave 3.2 busy lanes of 16 on average, 20 ms
/// 4.3, 50 ms 5.3; with eight, 40 ms took no more wall time than 20 ms.
const MAX_WAIT: Duration = Duration::from_millis(40);

/// The handle of the hashing thread; the thread ends when the last handle is dropped.
pub(crate) struct Hasher {
    messages: Sender<Message>,
    next_key: AtomicU64,
}

enum Message {
    Open {
        key: u64,
        digest: oneshot::Sender<Md5>,
    },
    Bytes {
        key: u64,
        chunk: Bytes,
    },
    Close {
        key: u64,
    },
    Abort {
        key: u64,
    },
}

/// One component's bytes on their way to the hashing thread. Dropped before [`Self::close`],
/// it is abandoned and its digest never comes.
pub(crate) struct HashStream {
    key: u64,
    messages: Sender<Message>,
    closed: bool,
}

impl HashStream {
    pub(crate) fn push(&self, chunk: Bytes) {
        // A thread that is gone drops the digest's sender: the receiver learns it.
        let _ = self.messages.send(Message::Bytes {
            key: self.key,
            chunk,
        });
    }

    /// No more bytes: the digest follows.
    pub(crate) fn close(mut self) {
        self.closed = true;
        let _ = self.messages.send(Message::Close { key: self.key });
    }
}

impl Drop for HashStream {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.messages.send(Message::Abort { key: self.key });
        }
    }
}

impl Hasher {
    /// Starts the hashing thread on `path`.
    pub(crate) fn spawn(path: Md5Path) -> std::io::Result<Self> {
        let (messages, inbox) = unbounded();
        std::thread::Builder::new()
            .name("download-md5".into())
            .spawn(move || Lanes::new(path).serve(&inbox))?;
        Ok(Self {
            messages,
            next_key: AtomicU64::new(0),
        })
    }

    /// A new stream, and where its digest will come.
    pub(crate) fn stream(&self) -> (HashStream, oneshot::Receiver<Md5>) {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (digest, receiver) = oneshot::channel();
        let _ = self.messages.send(Message::Open { key, digest });
        let stream = HashStream {
            key,
            messages: self.messages.clone(),
            closed: false,
        };
        (stream, receiver)
    }
}

/// The thread's side: the lanes, and the streams waiting for one.
struct Lanes {
    streams: Md5Streams<Bytes>,
    /// Where each stream is.
    places: HashMap<u64, Place>,
    /// The stream in each lane, with where its digest goes.
    in_lane: Vec<Option<(u64, oneshot::Sender<Md5>)>>,
    /// Streams opened while every lane was taken, oldest first.
    queue: VecDeque<u64>,
    /// When the stream in each lane was closed.
    closed_at: Vec<Option<Instant>>,
}

enum Place {
    Lane(usize),
    Waiting(Waiting),
}

struct Waiting {
    digest: oneshot::Sender<Md5>,
    chunks: Vec<Bytes>,
    /// When it was closed.
    closed: Option<Instant>,
}

enum When {
    Now,
    Within(Duration),
    /// Nothing to hash until a message comes.
    Idle,
}

impl Lanes {
    fn new(path: Md5Path) -> Self {
        let streams = Md5Streams::new(path);
        let in_lane = (0..streams.lanes()).map(|_| None).collect();
        let closed_at = vec![None; streams.lanes()];
        Self {
            streams,
            places: HashMap::new(),
            in_lane,
            queue: VecDeque::new(),
            closed_at,
        }
    }

    fn serve(mut self, inbox: &Receiver<Message>) {
        let mut done = Vec::new();
        loop {
            let next = match self.when() {
                When::Now => inbox.try_recv().map_err(|_| RecvTimeoutError::Timeout),
                When::Within(wait) => inbox.recv_timeout(wait),
                When::Idle => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match next {
                Ok(message) => {
                    self.take(message);
                    // Everything already waiting first, then decide.
                    while let Ok(message) = inbox.try_recv() {
                        self.take(message);
                    }
                    if !matches!(self.when(), When::Now) {
                        continue;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.streams.run(STEP, &mut done);
            for (lane, digest) in done.drain(..) {
                if let Some((key, reply)) = self.in_lane[lane].take() {
                    self.places.remove(&key);
                    let _ = reply.send(digest);
                }
                self.closed_at[lane] = None;
            }
            self.fill_free_lanes();
        }
    }

    fn take(&mut self, message: Message) {
        match message {
            Message::Open { key, digest } => {
                self.places.insert(
                    key,
                    Place::Waiting(Waiting {
                        digest,
                        chunks: Vec::new(),
                        closed: None,
                    }),
                );
                self.queue.push_back(key);
                self.fill_free_lanes();
            }
            Message::Bytes { key, chunk } => match self.places.get_mut(&key) {
                Some(Place::Lane(lane)) => self.streams.push(*lane, chunk),
                Some(Place::Waiting(waiting)) => waiting.chunks.push(chunk),
                None => {}
            },
            Message::Close { key } => match self.places.get_mut(&key) {
                Some(Place::Lane(lane)) => {
                    self.streams.close(*lane);
                    self.closed_at[*lane] = Some(Instant::now());
                }
                Some(Place::Waiting(waiting)) => waiting.closed = Some(Instant::now()),
                None => {}
            },
            Message::Abort { key } => match self.places.remove(&key) {
                Some(Place::Lane(lane)) => {
                    self.streams.abort(lane);
                    self.in_lane[lane] = None;
                    self.closed_at[lane] = None;
                    self.fill_free_lanes();
                }
                Some(Place::Waiting(_)) => self.queue.retain(|&waiting| waiting != key),
                None => {}
            },
        }
    }

    /// Gives free lanes to the streams waiting longest.
    fn fill_free_lanes(&mut self) {
        while let Some(&key) = self.queue.front() {
            let Some(lane) = self.streams.open() else {
                return;
            };
            self.queue.pop_front();
            let Some(Place::Waiting(waiting)) = self.places.insert(key, Place::Lane(lane)) else {
                // Only waiting streams are queued.
                self.streams.abort(lane);
                continue;
            };
            for chunk in waiting.chunks {
                self.streams.push(lane, chunk);
            }
            if let Some(at) = waiting.closed {
                self.streams.close(lane);
                self.closed_at[lane] = Some(at);
            }
            self.in_lane[lane] = Some((key, waiting.digest));
        }
    }

    /// When to hash: now when enough lanes have bytes to fill half of them (a step costs the
    /// same whatever number of lanes has bytes), when a stream holds plenty, or when a
    /// complete stream has waited long enough for others; otherwise once the first complete
    /// stream has waited its time, or at the next message. On the scalar path gathering gains
    /// nothing: whatever is there is hashed.
    fn when(&self) -> When {
        let scalar = self.streams.path() == Md5Path::Scalar;
        let mut ready = 0;
        let mut first_closed: Option<Instant> = None;
        for lane in self.open_lanes() {
            let pending = self.streams.pending(lane);
            if (scalar && (pending > 0 || self.streams.is_closed(lane))) || pending >= MAX_GATHERED
            {
                return When::Now;
            }
            ready += usize::from(self.is_ready(lane));
            if let Some(at) = self.closed_at[lane] {
                first_closed = Some(first_closed.map_or(at, |first| first.min(at)));
            }
        }
        if ready > 0 && ready >= self.in_lane.len() / 2 {
            return When::Now;
        }
        match first_closed.map(|at| MAX_WAIT.saturating_sub(at.elapsed())) {
            Some(wait) if wait.is_zero() => When::Now,
            Some(wait) => When::Within(wait),
            None => When::Idle,
        }
    }

    fn is_ready(&self, lane: usize) -> bool {
        self.streams.is_closed(lane) || self.streams.pending(lane) >= READY
    }

    fn open_lanes(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.in_lane.len()).filter(|&lane| self.in_lane[lane].is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(seed: u8, length: usize) -> Vec<u8> {
        (0..length)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// More streams than lanes, fed in turns, some abandoned half way: every completed
    /// stream gets the digest of its own bytes, on every path.
    #[tokio::test]
    async fn streams_beyond_the_lanes_wait_for_one_and_abandoned_ones_free_theirs() {
        for path in Md5Path::ALL.into_iter().filter(|path| path.is_supported()) {
            let hasher = Hasher::spawn(path).unwrap();
            let data: Vec<Vec<u8>> = (0..40)
                .map(|i| bytes(i, 1000 + 7919 * i as usize))
                .collect();
            let mut streams: Vec<_> = data.iter().map(|_| hasher.stream()).collect();
            for round in 0..8 {
                for (i, (stream, _)) in streams.iter().enumerate() {
                    let piece = data[i].len().div_ceil(8);
                    let from = (round * piece).min(data[i].len());
                    let to = (from + piece).min(data[i].len());
                    stream.push(Bytes::copy_from_slice(&data[i][from..to]));
                }
            }
            let mut digests = Vec::new();
            for (i, (stream, digest)) in streams.drain(..).enumerate() {
                if i % 5 == 3 {
                    drop(stream);
                    assert!(digest.await.is_err(), "an abandoned stream has no digest");
                } else {
                    stream.close();
                    digests.push((i, digest));
                }
            }
            for (i, digest) in digests {
                assert_eq!(
                    digest.await.unwrap(),
                    Md5::of(&data[i]),
                    "{} path, stream {i}",
                    path.as_str()
                );
            }
        }
    }
}
