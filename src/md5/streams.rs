//! Many MD5 streams at once, each fed in chunks as its bytes arrive: one SIMD lane per stream,
//! so that ranges downloading side by side are hashed together while they are received.

use std::collections::VecDeque;

use super::lanes::{LaneInput, LaneSet, pad};
#[cfg(target_arch = "x86_64")]
use super::lanes::{avx2_lanes, avx512_lanes};
use super::{Md5, Md5Path, Md5Stream};

/// Streams hashed side by side on one core, each in a lane of its own, their bytes given in
/// chunks of any length (`C` owns a chunk: `bytes::Bytes`, `Vec<u8>`).
///
/// A lane's bytes are hashed only when [`Self::run`] is called, so the caller decides how long
/// to let bytes gather: a kernel step costs the same whatever number of lanes has bytes.
pub struct Md5Streams<C> {
    set: Set<C>,
}

#[expect(
    clippy::large_enum_variant,
    reason = "one set per hashing thread, made once and never moved while it hashes"
)]
enum Set<C> {
    #[cfg(target_arch = "x86_64")]
    Avx512(LaneSet<StreamLane<C>, { super::kernel::avx512::LANES }>),
    #[cfg(target_arch = "x86_64")]
    Avx2(LaneSet<StreamLane<C>, { super::kernel::avx2::LANES }>),
    /// AWS-LC's one-stream MD5 per stream.
    Scalar(Vec<Option<ScalarLane<C>>>),
}

/// Streams open at once on the scalar path (each hashed on its own).
const SCALAR_LANES: usize = 16;

impl<C: AsRef<[u8]>> Md5Streams<C> {
    /// Lanes on `path`, or on the scalar path if this CPU lacks it.
    pub fn new(path: Md5Path) -> Self {
        let set = match path {
            #[cfg(target_arch = "x86_64")]
            Md5Path::Avx512 if path.is_supported() => Set::Avx512(avx512_lanes()),
            #[cfg(target_arch = "x86_64")]
            Md5Path::Avx2 if path.is_supported() => Set::Avx2(avx2_lanes()),
            _ => Set::Scalar((0..SCALAR_LANES).map(|_| None).collect()),
        };
        Self { set }
    }

    pub fn path(&self) -> Md5Path {
        match &self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(_) => Md5Path::Avx512,
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(_) => Md5Path::Avx2,
            Set::Scalar(_) => Md5Path::Scalar,
        }
    }

    /// Streams that can be open at once.
    pub fn lanes(&self) -> usize {
        match &self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(set) => set.lanes.len(),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => set.lanes.len(),
            Set::Scalar(lanes) => lanes.len(),
        }
    }

    /// Starts a stream in a free lane and returns the lane, or `None` when every lane is
    /// taken.
    pub fn open(&mut self) -> Option<usize> {
        match &mut self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(set) => open_in(set),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => open_in(set),
            Set::Scalar(lanes) => {
                let index = lanes.iter().position(Option::is_none)?;
                lanes[index] = Some(ScalarLane {
                    hasher: Md5Stream::new(),
                    chunks: VecDeque::new(),
                    pending: 0,
                    closed: false,
                });
                Some(index)
            }
        }
    }

    /// Appends `chunk` to the stream in `lane` (nothing happens to a lane not open or closed).
    pub fn push(&mut self, lane: usize, chunk: C) {
        if chunk.as_ref().is_empty() {
            return;
        }
        match self.lane_mut(lane) {
            Some(LaneMut::Simd(stream)) if !stream.closed => {
                stream.length += chunk.as_ref().len() as u64;
                stream.chunks.push_back(chunk);
            }
            Some(LaneMut::Scalar(stream)) if !stream.closed => {
                stream.pending += chunk.as_ref().len();
                stream.chunks.push_back(chunk);
            }
            _ => {}
        }
    }

    /// Ends the stream in `lane`: no more bytes; its digest comes from a later [`Self::run`].
    pub fn close(&mut self, lane: usize) {
        match self.lane_mut(lane) {
            Some(LaneMut::Simd(stream)) => stream.closed = true,
            Some(LaneMut::Scalar(stream)) => stream.closed = true,
            None => {}
        }
    }

    /// Drops the stream in `lane` and whatever it holds; the lane is free.
    pub fn abort(&mut self, lane: usize) {
        match &mut self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(set) => drop(set.lanes.get_mut(lane).and_then(Option::take)),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => drop(set.lanes.get_mut(lane).and_then(Option::take)),
            Set::Scalar(lanes) => drop(lanes.get_mut(lane).and_then(Option::take)),
        }
    }

    /// Bytes given to the stream in `lane` and not hashed yet (0 for a free lane).
    pub fn pending(&self, lane: usize) -> u64 {
        match &self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(set) => lane_of(&set.lanes, lane).map_or(0, StreamLane::pending),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => lane_of(&set.lanes, lane).map_or(0, StreamLane::pending),
            Set::Scalar(lanes) => lane_of(lanes, lane).map_or(0, |stream| stream.pending as u64),
        }
    }

    /// Whether the stream in `lane` is closed and waits only for its digest.
    pub fn is_closed(&self, lane: usize) -> bool {
        match &self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(set) => lane_of(&set.lanes, lane).is_some_and(|stream| stream.closed),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => lane_of(&set.lanes, lane).is_some_and(|stream| stream.closed),
            Set::Scalar(lanes) => lane_of(lanes, lane).is_some_and(|stream| stream.closed),
        }
    }

    /// Whether a stream is open in `lane`.
    pub fn is_open(&self, lane: usize) -> bool {
        match &self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(set) => lane_of(&set.lanes, lane).is_some(),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => lane_of(&set.lanes, lane).is_some(),
            Set::Scalar(lanes) => lane_of(lanes, lane).is_some(),
        }
    }

    /// Hashes what the lanes hold, each lane at most about `max_bytes`, until a stream is
    /// finished or a lane that was hashed has no bytes left; appends each finished stream's
    /// lane and digest to `done` (its lane is then free).
    pub fn run(&mut self, max_bytes: usize, done: &mut Vec<(usize, Md5)>) {
        match &mut self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(set) => set.run(max_bytes, &mut |index, _, digest| {
                done.push((index, digest));
            }),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => set.run(max_bytes, &mut |index, _, digest| {
                done.push((index, digest));
            }),
            Set::Scalar(lanes) => {
                for (index, slot) in lanes.iter_mut().enumerate() {
                    if let Some(stream) = slot.as_mut() {
                        stream.hash(max_bytes);
                        if stream.closed
                            && stream.chunks.is_empty()
                            && let Some(stream) = slot.take()
                        {
                            done.push((index, stream.hasher.finish()));
                        }
                    }
                }
            }
        }
    }

    fn lane_mut(&mut self, lane: usize) -> Option<LaneMut<'_, C>> {
        match &mut self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(set) => set.lanes.get_mut(lane)?.as_mut().map(LaneMut::Simd),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => set.lanes.get_mut(lane)?.as_mut().map(LaneMut::Simd),
            Set::Scalar(lanes) => lanes.get_mut(lane)?.as_mut().map(LaneMut::Scalar),
        }
    }
}

enum LaneMut<'a, C> {
    Simd(&'a mut StreamLane<C>),
    Scalar(&'a mut ScalarLane<C>),
}

fn open_in<C: AsRef<[u8]>, const N: usize>(set: &mut LaneSet<StreamLane<C>, N>) -> Option<usize> {
    let index = set.free_lane()?;
    set.start(index, StreamLane::default());
    Some(index)
}

fn lane_of<L>(lanes: &[Option<L>], lane: usize) -> Option<&L> {
    lanes.get(lane)?.as_ref()
}

/// One stream in a SIMD lane: whole blocks are compressed in place from its chunks; a block
/// that straddles two chunks is gathered into `block` first, and so is the padded tail.
struct StreamLane<C> {
    chunks: VecDeque<C>,
    /// Bytes of the front chunk already compressed or gathered.
    at: usize,
    block: [u8; 128],
    /// Bytes gathered in `block` (64: a whole block, ready).
    gathered: usize,
    /// Once closed and every whole block is compressed: where the padded tail's next block
    /// starts in `block`, and where it ends.
    tail: Option<(usize, usize)>,
    /// Bytes given in all, and bytes compressed.
    length: u64,
    hashed: u64,
    closed: bool,
}

impl<C> Default for StreamLane<C> {
    fn default() -> Self {
        Self {
            chunks: VecDeque::new(),
            at: 0,
            block: [0; 128],
            gathered: 0,
            tail: None,
            length: 0,
            hashed: 0,
            closed: false,
        }
    }
}

impl<C> StreamLane<C> {
    fn pending(&self) -> u64 {
        self.length - self.hashed
    }
}

impl<C: AsRef<[u8]>> LaneInput for StreamLane<C> {
    fn next_run(&mut self) -> Option<(*const u8, usize)> {
        if let Some((at, end)) = self.tail {
            let rest = &self.block[at..end];
            return Some((rest.as_ptr(), rest.len() / 64));
        }
        loop {
            if self.gathered == 64 {
                return Some((self.block.as_ptr(), 1));
            }
            let Some(front) = self.chunks.front() else {
                if !self.closed {
                    return None;
                }
                let end = pad(&mut self.block, self.gathered, self.length);
                self.tail = Some((0, end));
                return Some((self.block.as_ptr(), end / 64));
            };
            // Sliced again each time (and bounds-checked): the pointer is valid for the
            // blocks counted, whatever `as_ref` returns.
            let rest = &front.as_ref()[self.at..];
            if self.gathered == 0 && rest.len() >= 64 {
                return Some((rest.as_ptr(), rest.len() / 64));
            }
            let take = (64 - self.gathered).min(rest.len());
            self.block[self.gathered..self.gathered + take].copy_from_slice(&rest[..take]);
            self.gathered += take;
            self.at += take;
            if take == rest.len() {
                self.chunks.pop_front();
                self.at = 0;
            }
        }
    }

    fn advance(&mut self, blocks: usize) -> bool {
        if let Some((at, end)) = &mut self.tail {
            *at += blocks * 64;
            return *at == *end;
        }
        self.hashed += blocks as u64 * 64;
        if self.gathered == 64 {
            self.gathered = 0;
            return false;
        }
        self.at += blocks * 64;
        if self
            .chunks
            .front()
            .is_some_and(|front| self.at == front.as_ref().len())
        {
            self.chunks.pop_front();
            self.at = 0;
        }
        false
    }
}

/// One stream on the scalar path.
struct ScalarLane<C> {
    hasher: Md5Stream,
    chunks: VecDeque<C>,
    pending: usize,
    closed: bool,
}

impl<C: AsRef<[u8]>> ScalarLane<C> {
    /// Hashes whole chunks until about `max_bytes` are done.
    fn hash(&mut self, max_bytes: usize) {
        let mut hashed = 0;
        while hashed < max_bytes
            && let Some(chunk) = self.chunks.pop_front()
        {
            self.hasher.update(chunk.as_ref());
            hashed += chunk.as_ref().len();
            self.pending -= chunk.as_ref().len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::md5::lanes::tests::{bytes, reference, supported};
    use proptest::prelude::*;

    /// Feeds `messages` cut at `cuts` (chunk lengths taken in turn), one chunk of one stream
    /// per step in round-robin order, running the lanes every `run_every` steps with
    /// `max_bytes`; returns each message's digest.
    fn hash_streams(
        path: Md5Path,
        messages: &[Vec<u8>],
        cuts: &[usize],
        run_every: usize,
        max_bytes: usize,
    ) -> Vec<Md5> {
        let mut streams = Md5Streams::<Vec<u8>>::new(path);
        assert_eq!(streams.path(), path);
        // (message, lane, bytes given so far)
        let mut open: Vec<(usize, usize, usize)> = Vec::new();
        let mut next = 0;
        let mut digests = vec![None; messages.len()];
        let mut lane_of_message = vec![usize::MAX; messages.len()];
        let mut done = Vec::new();
        let mut step = 0;
        let mut cut = cuts.iter().copied().cycle();
        loop {
            while next < messages.len()
                && let Some(lane) = streams.open()
            {
                lane_of_message[next] = lane;
                open.push((next, lane, 0));
                next += 1;
            }
            if open.is_empty() && next == messages.len() && digests.iter().all(Option::is_some) {
                return digests.into_iter().flatten().collect();
            }
            if !open.is_empty() {
                let turn = step % open.len();
                let (message, lane, given) = &mut open[turn];
                let data = &messages[*message];
                let length = cut.next().unwrap_or(1).max(1).min(data.len() - *given);
                streams.push(*lane, data[*given..*given + length].to_vec());
                *given += length;
                assert!(!streams.is_closed(*lane));
                if *given == data.len() {
                    streams.close(*lane);
                    assert!(streams.is_closed(*lane));
                    open.remove(turn);
                }
            }
            step += 1;
            if step % run_every == 0 || open.is_empty() {
                streams.run(max_bytes, &mut done);
                for (lane, digest) in done.drain(..) {
                    let message = lane_of_message
                        .iter()
                        .position(|&l| l == lane)
                        .expect("a finished lane belongs to a message");
                    lane_of_message[message] = usize::MAX;
                    assert!(digests[message].is_none(), "one digest per stream");
                    digests[message] = Some(digest);
                    assert!(!streams.is_open(lane), "a finished stream frees its lane");
                }
            }
        }
    }

    #[test]
    fn chunks_at_every_padding_edge_on_every_path() {
        let mut messages = Vec::new();
        for base in [0usize, 64, 4096] {
            for edge in [0usize, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128] {
                messages.push(bytes(messages.len() as u64, base + edge));
            }
        }
        let expected: Vec<Md5> = messages.iter().map(|m| reference(m)).collect();
        for path in supported() {
            for cuts in [&[1usize][..], &[63], &[64], &[65], &[7, 130, 64, 1, 200]] {
                for (run_every, max_bytes) in [(1, 64), (3, 1 << 20), (50, 128)] {
                    assert_eq!(
                        hash_streams(path, &messages, cuts, run_every, max_bytes),
                        expected,
                        "{} path, chunks {cuts:?}, run every {run_every} steps",
                        path.as_str()
                    );
                }
            }
        }
    }

    #[test]
    fn a_lane_waiting_for_bytes_keeps_its_state_while_others_run() {
        let a = bytes(1, 10_000);
        let b = bytes(2, 300_000);
        for path in supported() {
            let mut streams = Md5Streams::<&[u8]>::new(path);
            let (la, lb) = (streams.open().unwrap(), streams.open().unwrap());
            streams.push(la, &a[..640]);
            streams.push(lb, &b);
            streams.close(lb);
            let mut done = Vec::new();
            while done.is_empty() {
                streams.run(4096, &mut done);
            }
            assert_eq!(done, vec![(lb, reference(&b))], "{}", path.as_str());
            assert_eq!(streams.pending(la), 0);
            streams.push(la, &a[640..]);
            assert_eq!(streams.pending(la), (a.len() - 640) as u64);
            streams.close(la);
            done.clear();
            while done.is_empty() {
                streams.run(1 << 20, &mut done);
            }
            assert_eq!(done, vec![(la, reference(&a))], "{}", path.as_str());
        }
    }

    #[test]
    fn an_aborted_stream_frees_its_lane_and_nothing_else_changes() {
        let a = bytes(3, 5000);
        for path in supported() {
            let mut streams = Md5Streams::<&[u8]>::new(path);
            let mut opened = Vec::new();
            while let Some(lane) = streams.open() {
                opened.push(lane);
            }
            assert_eq!(opened.len(), streams.lanes(), "{}", path.as_str());
            for &lane in &opened {
                streams.push(lane, &a[..1000]);
            }
            streams.abort(opened[0]);
            assert!(!streams.is_open(opened[0]));
            assert_eq!(streams.pending(opened[0]), 0);
            assert_eq!(
                streams.open(),
                Some(opened[0]),
                "the aborted lane is free again"
            );
            streams.push(opened[0], &a);
            for &lane in &opened[1..] {
                streams.push(lane, &a[1000..]);
            }
            for &lane in &opened {
                streams.close(lane);
            }
            let mut done = Vec::new();
            while done.len() < opened.len() {
                streams.run(1 << 20, &mut done);
            }
            assert!(done.iter().all(|(_, digest)| *digest == reference(&a)));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// Random lengths (0 to a few MiB), random chunk lengths and random run intervals, so
        /// that blocks straddle chunks at every offset and lanes wait and resume at any point.
        #[test]
        fn matches_the_reference_for_random_streams_and_chunks(
            lengths in proptest::collection::vec(
                prop_oneof![
                    6 => 0usize..300,
                    3 => 300usize..70_000,
                    1 => 1_000_000usize..3_000_000,
                ],
                0..24,
            ),
            cuts in proptest::collection::vec(
                prop_oneof![4 => 1usize..130, 2 => 130usize..5000, 1 => 5000usize..500_000],
                1..12,
            ),
            run_every in 1usize..12,
            max_kib in 1usize..512,
            seed in any::<u64>(),
        ) {
            let messages: Vec<Vec<u8>> = lengths
                .iter()
                .enumerate()
                .map(|(i, &length)| bytes(seed ^ i as u64, length))
                .collect();
            let expected: Vec<Md5> = messages.iter().map(|m| reference(m)).collect();
            for path in supported() {
                prop_assert_eq!(
                    hash_streams(path, &messages, &cuts, run_every, max_kib * 1024),
                    expected.clone(),
                    "{}", path.as_str()
                );
            }
        }
    }
}
