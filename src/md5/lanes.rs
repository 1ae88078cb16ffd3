//! Many messages at once: a lane scheduler that keeps every SIMD lane busy. A message takes
//! a lane as soon as one is free and leaves it when its digest is ready, so messages of any
//! length, arriving at any time, share the lanes.

use super::kernel::{IV, LaneState};
use super::{Md5, Md5Path};

/// Messages hashed side by side on one core, each in a lane of its own.
pub struct Md5Lanes<M> {
    set: Set<M>,
}

enum Set<M> {
    #[cfg(target_arch = "x86_64")]
    Avx512(LaneSet<Lane<M>, { super::kernel::avx512::LANES }>),
    #[cfg(target_arch = "x86_64")]
    Avx2(LaneSet<Lane<M>, { super::kernel::avx2::LANES }>),
    /// One message at a time, on AWS-LC's one-stream MD5.
    Scalar(Option<M>),
}

impl<M: AsRef<[u8]>> Md5Lanes<M> {
    /// Lanes on `path`, or on the scalar path if this CPU lacks it.
    pub fn new(path: Md5Path) -> Self {
        let set = match path {
            #[cfg(target_arch = "x86_64")]
            Md5Path::Avx512 if path.is_supported() => Set::Avx512(avx512_lanes()),
            #[cfg(target_arch = "x86_64")]
            Md5Path::Avx2 if path.is_supported() => Set::Avx2(avx2_lanes()),
            _ => Set::Scalar(None),
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

    /// Whether a lane is free.
    pub fn has_room(&self) -> bool {
        match &self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(set) => set.free_lane().is_some(),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => set.free_lane().is_some(),
            Set::Scalar(message) => message.is_none(),
        }
    }

    /// Whether no message is being hashed.
    pub fn is_empty(&self) -> bool {
        match &self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(set) => set.lanes.iter().all(Option::is_none),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => set.lanes.iter().all(Option::is_none),
            Set::Scalar(message) => message.is_none(),
        }
    }

    /// Gives `message` a free lane; hands it back when every lane is busy.
    pub fn push(&mut self, message: M) -> Result<(), M> {
        match &mut self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(set) => set.push(message),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => set.push(message),
            Set::Scalar(slot @ None) => {
                *slot = Some(message);
                Ok(())
            }
            Set::Scalar(Some(_)) => Err(message),
        }
    }

    /// Hashes until a message is finished, or until every busy lane has advanced about
    /// `max_bytes` (so that new messages can join); appends finished messages and their
    /// digests to `done`.
    pub fn run(&mut self, max_bytes: usize, done: &mut Vec<(M, Md5)>) {
        match &mut self.set {
            #[cfg(target_arch = "x86_64")]
            Set::Avx512(set) => set.finish_into(max_bytes, done),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => set.finish_into(max_bytes, done),
            Set::Scalar(slot) => {
                if let Some(message) = slot.take() {
                    let digest = Md5::of(message.as_ref());
                    done.push((message, digest));
                }
            }
        }
    }
}

/// The digests of `messages`, in order, on `path`.
pub(super) fn hash_many_on(path: Md5Path, messages: &[&[u8]]) -> Vec<Md5> {
    struct Numbered<'a>(usize, &'a [u8]);
    impl AsRef<[u8]> for Numbered<'_> {
        fn as_ref(&self) -> &[u8] {
            self.1
        }
    }
    let mut digests = vec![Md5([0; 16]); messages.len()];
    let mut lanes = Md5Lanes::new(path);
    let mut queue = messages.iter().enumerate();
    let mut done = Vec::new();
    loop {
        while lanes.has_room()
            && let Some((index, message)) = queue.next()
        {
            // A free lane takes it (checked just above).
            let _ = lanes.push(Numbered(index, message));
        }
        if lanes.is_empty() {
            return digests;
        }
        lanes.run(usize::MAX, &mut done);
        for (message, digest) in done.drain(..) {
            digests[message.0] = digest;
        }
    }
}

/// The digests of `messages`, in order, hashed side by side on the active path.
pub fn hash_many(messages: &[&[u8]]) -> Vec<Md5> {
    Md5Path::active().hash_many(messages)
}

/// A kernel: compresses `count` blocks of N lanes (see `kernel::avx512::compress`).
pub(super) type Kernel<const N: usize> =
    unsafe fn(&mut LaneState<N>, [*const u8; N], [usize; N], usize);

/// What an idle lane hashes (its result is thrown away).
static IDLE_BLOCK: [u8; 64] = [0; 64];

/// What a lane hashes: a whole message (`Lane`) or a stream of chunks (`streams`).
pub(super) trait LaneInput {
    /// Where the lane's next blocks are and how many follow there contiguously, or `None`
    /// while it waits for more bytes. The pointer stays valid until the lane is next touched.
    fn next_run(&mut self) -> Option<(*const u8, usize)>;
    /// Moves past `blocks` compressed blocks (at most the run given); true once the message,
    /// padding included, is compressed.
    fn advance(&mut self, blocks: usize) -> bool;
}

/// 16 lanes of AVX-512, with the 8-lane AVX-512VL kernel beside them where the CPU has it.
/// The caller has checked that the CPU supports AVX-512F.
#[cfg(target_arch = "x86_64")]
pub(super) fn avx512_lanes<L: LaneInput>() -> LaneSet<L, { super::kernel::avx512::LANES }> {
    use super::kernel::avx512;
    let narrow: Option<Kernel<{ avx512::LANES }>> =
        std::arch::is_x86_feature_detected!("avx512vl").then_some(avx512::compress_low_half);
    // SAFETY: the CPU supports AVX-512F (the caller's check) and, when `narrow` is given,
    // AVX-512VL (checked just above).
    unsafe { LaneSet::new(avx512::compress, narrow) }
}

/// 8 lanes of AVX2. The caller has checked that the CPU supports AVX2.
#[cfg(target_arch = "x86_64")]
pub(super) fn avx2_lanes<L: LaneInput>() -> LaneSet<L, { super::kernel::avx2::LANES }> {
    // SAFETY: the CPU supports AVX2 (the caller's check).
    unsafe { LaneSet::new(super::kernel::avx2::compress, None) }
}

/// RFC 1321's padding after the message's last `rest` bytes, which are already at the start of
/// `block`: the 0x80 byte, zeros, and the bit length. Returns where the padded tail ends (one
/// block, or two when fewer than 9 bytes are left in the first).
pub(super) fn pad(block: &mut [u8; 128], rest: usize, length: u64) -> usize {
    block[rest..].fill(0);
    block[rest] = 0x80;
    let end = if rest < 56 { 64 } else { 128 };
    block[end - 8..end].copy_from_slice(&length.wrapping_mul(8).to_le_bytes());
    end
}

/// N lanes of one kernel.
pub(super) struct LaneSet<L, const N: usize> {
    state: LaneState<N>,
    pub(super) lanes: [Option<L>; N],
    compress: Kernel<N>,
    /// A cheaper kernel for the lower half of the lanes alone, used when no lane of the upper
    /// half has blocks (lanes are handed out lowest first).
    narrow: Option<Kernel<N>>,
}

/// One message in a lane: its whole blocks, compressed in place from the message, then its
/// last partial block with RFC 1321's padding and bit length (one or two blocks).
struct Lane<M> {
    message: M,
    /// Bytes of whole blocks, and how many of them are compressed.
    body: usize,
    done: usize,
    tail: [u8; 128],
    tail_at: usize,
    tail_end: usize,
}

impl<M: AsRef<[u8]>> Lane<M> {
    fn new(message: M) -> Self {
        let bytes = message.as_ref();
        let body = bytes.len() / 64 * 64;
        let rest = &bytes[body..];
        let mut tail = [0u8; 128];
        tail[..rest.len()].copy_from_slice(rest);
        let tail_end = pad(&mut tail, rest.len(), bytes.len() as u64);
        Self {
            message,
            body,
            done: 0,
            tail,
            tail_at: 0,
            tail_end,
        }
    }
}

impl<M: AsRef<[u8]>> LaneInput for Lane<M> {
    fn next_run(&mut self) -> Option<(*const u8, usize)> {
        if self.done < self.body {
            // Sliced again each time (and bounds-checked): the pointer is valid for the
            // blocks counted, whatever `as_ref` returns.
            let rest = &self.message.as_ref()[self.done..self.body];
            Some((rest.as_ptr(), rest.len() / 64))
        } else {
            let rest = &self.tail[self.tail_at..self.tail_end];
            Some((rest.as_ptr(), rest.len() / 64))
        }
    }

    fn advance(&mut self, blocks: usize) -> bool {
        if self.done < self.body {
            self.done += blocks * 64;
        } else {
            self.tail_at += blocks * 64;
        }
        self.tail_at == self.tail_end
    }
}

impl<L: LaneInput, const N: usize> LaneSet<L, N> {
    /// # Safety
    /// The CPU supports the instructions `compress` and `narrow` are compiled for.
    pub(super) unsafe fn new(compress: Kernel<N>, narrow: Option<Kernel<N>>) -> Self {
        Self {
            state: [[0; N]; 4],
            lanes: std::array::from_fn(|_| None),
            compress,
            narrow,
        }
    }

    pub(super) fn free_lane(&self) -> Option<usize> {
        self.lanes.iter().position(Option::is_none)
    }

    /// Puts `lane` in lane `index` (free or not), from RFC 1321's initial state.
    pub(super) fn start(&mut self, index: usize, lane: L) {
        self.lanes[index] = Some(lane);
        for (row, initial) in self.state.iter_mut().zip(IV) {
            row[index] = initial;
        }
    }

    /// Runs the kernel over every lane that has blocks, each advancing at most about
    /// `max_bytes`, until a lane finishes or one of them has to wait for bytes; a lane that
    /// waits keeps its state. Hands each finished lane, its index and digest to `done`.
    pub(super) fn run(&mut self, max_bytes: usize, done: &mut impl FnMut(usize, L, Md5)) {
        let mut budget = (max_bytes / 64).max(1);
        let mut included = [false; N];
        loop {
            let mut blocks = [IDLE_BLOCK.as_ptr(); N];
            let mut strides = [0usize; N];
            let mut count = budget;
            let mut waiting = [false; N];
            for (index, slot) in self.lanes.iter_mut().enumerate() {
                let Some(lane) = slot else { continue };
                match lane.next_run() {
                    Some((at, run)) => {
                        blocks[index] = at;
                        strides[index] = 64;
                        count = count.min(run);
                    }
                    None => waiting[index] = true,
                }
            }
            let running = strides.map(|stride| stride != 0);
            // Stop when nothing has blocks, or when a lane of the last call ran dry (the
            // caller decides whether to wait for its bytes).
            if !running.contains(&true) || included.iter().zip(&waiting).any(|(&i, &w)| i && w) {
                return;
            }
            let saved = self.state;
            let kernel = match self.narrow {
                Some(narrow) if !running[N / 2..].contains(&true) => narrow,
                _ => self.compress,
            };
            // SAFETY: the CPU supports the kernels (`new`'s contract). Every running lane's
            // pointer starts `count` or more whole blocks that the lane owns (its message, a
            // chunk it holds, or its own block buffer), and nothing touches the lanes during
            // the call; other lanes repeat IDLE_BLOCK (stride 0). The narrow kernel runs only
            // when every running lane is in the lower half, the half it hashes.
            unsafe { kernel(&mut self.state, blocks, strides, count) };
            for (index, _) in waiting.iter().enumerate().filter(|(_, w)| **w) {
                for (row, before) in self.state.iter_mut().zip(&saved) {
                    row[index] = before[index];
                }
            }
            budget -= count;
            let mut finished = false;
            for (index, slot) in self.lanes.iter_mut().enumerate() {
                if running[index]
                    && slot.as_mut().is_some_and(|lane| lane.advance(count))
                    && let Some(lane) = slot.take()
                {
                    done(index, lane, digest(&self.state, index));
                    finished = true;
                }
            }
            if finished || budget == 0 {
                return;
            }
            included = running;
        }
    }
}

/// Lane `index`'s digest: its chaining values, little-endian.
fn digest<const N: usize>(state: &LaneState<N>, index: usize) -> Md5 {
    let mut digest = [0u8; 16];
    for (word, row) in digest.chunks_exact_mut(4).zip(state) {
        word.copy_from_slice(&row[index].to_le_bytes());
    }
    Md5(digest)
}

impl<M: AsRef<[u8]>, const N: usize> LaneSet<Lane<M>, N> {
    fn push(&mut self, message: M) -> Result<(), M> {
        let Some(index) = self.free_lane() else {
            return Err(message);
        };
        self.start(index, Lane::new(message));
        Ok(())
    }

    fn finish_into(&mut self, max_bytes: usize, done: &mut Vec<(M, Md5)>) {
        self.run(max_bytes, &mut |_, lane: Lane<M>, digest| {
            done.push((lane.message, digest));
        });
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::md5::Md5Path;
    use proptest::prelude::*;
    use reference_md5::{Digest, Md5 as Reference};

    pub(in crate::md5) fn reference(bytes: &[u8]) -> Md5 {
        Md5(Reference::digest(bytes).into())
    }

    pub(in crate::md5) fn supported() -> Vec<Md5Path> {
        let paths: Vec<Md5Path> = Md5Path::ALL
            .into_iter()
            .filter(|path| path.is_supported())
            .collect();
        for path in Md5Path::ALL {
            if !path.is_supported() {
                eprintln!(
                    "skipped: this CPU cannot run the {} MD5 path",
                    path.as_str()
                );
            }
        }
        if std::env::var_os("CI").is_some_and(|ci| ci == "true") {
            #[cfg(target_arch = "x86_64")]
            assert!(
                paths.contains(&Md5Path::Avx2),
                "CI=true: the AVX2 path must be tested"
            );
        }
        paths
    }

    /// Bytes that differ by position and seed, so that no two messages share a digest.
    pub(in crate::md5) fn bytes(seed: u64, length: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..length)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn rfc_1321_test_suite_on_every_path() {
        let suite: [(&[u8], &str); 7] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"a", "0cc175b9c0f1b6a831c399e269772661"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        let messages: Vec<&[u8]> = suite.iter().map(|(message, _)| *message).collect();
        for path in supported() {
            let digests = path.hash_many(&messages);
            for (digest, (message, expected)) in digests.iter().zip(&suite) {
                assert_eq!(
                    digest.to_string().to_lowercase(),
                    *expected,
                    "{} path, message {:?}",
                    path.as_str(),
                    String::from_utf8_lossy(message)
                );
            }
        }
    }

    #[test]
    fn every_padding_edge_alone_and_in_a_full_set_of_lanes() {
        let mut lengths = Vec::new();
        for base in [0usize, 64, 128, 4096] {
            for edge in [0usize, 1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128] {
                lengths.push(base + edge);
            }
        }
        let data: Vec<Vec<u8>> = lengths
            .iter()
            .enumerate()
            .map(|(seed, &length)| bytes(seed as u64, length))
            .collect();
        let messages: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        let expected: Vec<Md5> = messages.iter().map(|m| reference(m)).collect();
        for path in supported() {
            assert_eq!(path.hash_many(&messages), expected, "{}", path.as_str());
            for (message, digest) in messages.iter().zip(&expected) {
                assert_eq!(
                    path.hash_many(&[message]),
                    vec![*digest],
                    "{}",
                    path.as_str()
                );
            }
        }
    }

    #[test]
    fn multi_mebibyte_messages_beside_tiny_ones() {
        let data: Vec<Vec<u8>> = [5 * 1024 * 1024 + 7, 3, 4 * 1024 * 1024, 0, 1_000_000]
            .iter()
            .enumerate()
            .map(|(seed, &length)| bytes(seed as u64 + 100, length))
            .collect();
        let messages: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        let expected: Vec<Md5> = messages.iter().map(|m| reference(m)).collect();
        for path in supported() {
            assert_eq!(path.hash_many(&messages), expected, "{}", path.as_str());
        }
    }

    struct Numbered<'a>(usize, &'a [u8]);
    impl AsRef<[u8]> for Numbered<'_> {
        fn as_ref(&self) -> &[u8] {
            self.1
        }
    }

    /// Messages join while others are half done, in small steps, as the verifier feeds them.
    #[test]
    fn messages_join_free_lanes_while_others_are_under_way() {
        let data: Vec<Vec<u8>> = (0..40)
            .map(|i| bytes(i, (i as usize * 7919) % 20_000))
            .collect();
        for path in supported() {
            let mut lanes = Md5Lanes::new(path);
            assert_eq!(lanes.path(), path);
            let mut pending = data.iter().enumerate();
            let mut done = Vec::new();
            let mut digests = vec![None; data.len()];
            loop {
                // One new message per step at most, so that lanes start at different times.
                if lanes.has_room()
                    && let Some((index, message)) = pending.next()
                {
                    assert!(lanes.push(Numbered(index, message)).is_ok());
                }
                if lanes.is_empty() {
                    break;
                }
                lanes.run(640, &mut done);
                for (Numbered(index, message), digest) in done.drain(..) {
                    assert_eq!(digest, reference(message), "{}", path.as_str());
                    digests[index] = Some(digest);
                }
            }
            assert!(digests.iter().all(Option::is_some), "{}", path.as_str());
            let mut full = Md5Lanes::new(path);
            while full.has_room() {
                assert!(full.push(Numbered(0, &data[0])).is_ok());
            }
            assert!(
                full.push(Numbered(1, &data[1])).is_err(),
                "no room past the last lane"
            );
        }
    }

    #[test]
    fn the_environment_chooses_among_supported_paths() {
        assert_eq!(Md5Path::parse(" AVX512 "), Some(Md5Path::Avx512));
        assert_eq!(Md5Path::parse("scalar"), Some(Md5Path::Scalar));
        assert_eq!(Md5Path::parse("neon"), None);
        assert!(Md5Path::active().is_supported());
        assert!(Md5Path::fastest().lanes() >= Md5Path::active().lanes());
        let messages: [&[u8]; 2] = [b"abc", b""];
        assert_eq!(
            hash_many(&messages),
            vec![reference(b"abc"), reference(b"")]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Random mixes of lengths (mostly small, some of several MiB) in random numbers of
        /// messages, so that lanes are refilled at every point of every other lane's message.
        #[test]
        fn matches_the_reference_for_random_lane_mixes(
            lengths in proptest::collection::vec(
                prop_oneof![
                    8 => 0usize..300,
                    2 => 300usize..70_000,
                    1 => 1_000_000usize..3_500_000,
                ],
                0..40,
            ),
            seed in any::<u64>(),
        ) {
            let data: Vec<Vec<u8>> = lengths
                .iter()
                .enumerate()
                .map(|(i, &length)| bytes(seed ^ i as u64, length))
                .collect();
            let messages: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
            let expected: Vec<Md5> = messages.iter().map(|m| reference(m)).collect();
            for path in supported() {
                prop_assert_eq!(path.hash_many(&messages), expected.clone(), "{}", path.as_str());
            }
        }
    }
}
