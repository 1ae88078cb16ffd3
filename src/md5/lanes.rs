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
    Avx512(LaneSet<M, { super::kernel::avx512::LANES }>),
    #[cfg(target_arch = "x86_64")]
    Avx2(LaneSet<M, { super::kernel::avx2::LANES }>),
    /// One message at a time, on AWS-LC's one-stream MD5.
    Scalar(Option<M>),
}

impl<M: AsRef<[u8]>> Md5Lanes<M> {
    /// Lanes on `path`, or on the scalar path if this CPU lacks it.
    pub fn new(path: Md5Path) -> Self {
        let set = match path {
            #[cfg(target_arch = "x86_64")]
            Md5Path::Avx512 if path.is_supported() => {
                use super::kernel::avx512;
                // SAFETY: the CPU supports AVX-512F (checked by the guard above).
                Set::Avx512(unsafe { LaneSet::new(avx512::compress) })
            }
            #[cfg(target_arch = "x86_64")]
            Md5Path::Avx2 if path.is_supported() => {
                use super::kernel::avx2;
                // SAFETY: the CPU supports AVX2 (checked by the guard above).
                Set::Avx2(unsafe { LaneSet::new(avx2::compress) })
            }
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
            Set::Avx512(set) => set.run(max_bytes, done),
            #[cfg(target_arch = "x86_64")]
            Set::Avx2(set) => set.run(max_bytes, done),
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
type Kernel<const N: usize> = unsafe fn(&mut LaneState<N>, [*const u8; N], [usize; N], usize);

/// What an idle lane hashes (its result is thrown away).
static IDLE_BLOCK: [u8; 64] = [0; 64];

/// N lanes of one kernel.
struct LaneSet<M, const N: usize> {
    state: LaneState<N>,
    lanes: [Option<Lane<M>>; N],
    compress: Kernel<N>,
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
        tail[rest.len()] = 0x80;
        let tail_end = if rest.len() < 56 { 64 } else { 128 };
        let bits = (bytes.len() as u64).wrapping_mul(8);
        tail[tail_end - 8..tail_end].copy_from_slice(&bits.to_le_bytes());
        Self {
            message,
            body,
            done: 0,
            tail,
            tail_at: 0,
            tail_end,
        }
    }

    /// Where the lane's next blocks are, and how many follow there contiguously.
    fn next_run(&self) -> (*const u8, usize) {
        if self.done < self.body {
            // Sliced again each time (and bounds-checked): the pointer is valid for the
            // blocks counted, whatever `as_ref` returns.
            let rest = &self.message.as_ref()[self.done..self.body];
            (rest.as_ptr(), rest.len() / 64)
        } else {
            let rest = &self.tail[self.tail_at..self.tail_end];
            (rest.as_ptr(), rest.len() / 64)
        }
    }

    /// Moves past `blocks` compressed blocks; true once the message is finished.
    fn advance(&mut self, blocks: usize) -> bool {
        if self.done < self.body {
            self.done += blocks * 64;
        } else {
            self.tail_at += blocks * 64;
        }
        self.tail_at == self.tail_end
    }
}

impl<M: AsRef<[u8]>, const N: usize> LaneSet<M, N> {
    /// # Safety
    /// The CPU supports the instructions `compress` is compiled for.
    unsafe fn new(compress: Kernel<N>) -> Self {
        Self {
            state: [[0; N]; 4],
            lanes: std::array::from_fn(|_| None),
            compress,
        }
    }

    fn free_lane(&self) -> Option<usize> {
        self.lanes.iter().position(Option::is_none)
    }

    fn push(&mut self, message: M) -> Result<(), M> {
        let Some(index) = self.free_lane() else {
            return Err(message);
        };
        self.lanes[index] = Some(Lane::new(message));
        for (row, initial) in self.state.iter_mut().zip(IV) {
            row[index] = initial;
        }
        Ok(())
    }

    /// Runs the kernel for as many blocks as every busy lane has contiguously (at most
    /// `max_bytes` worth), then hands over the messages that are finished.
    fn run(&mut self, max_bytes: usize, done: &mut Vec<(M, Md5)>) {
        let mut blocks = [IDLE_BLOCK.as_ptr(); N];
        let mut strides = [0usize; N];
        let mut count = (max_bytes / 64).max(1);
        let mut busy = false;
        for (index, lane) in self.lanes.iter().enumerate() {
            if let Some(lane) = lane {
                let (at, run) = lane.next_run();
                blocks[index] = at;
                strides[index] = 64;
                count = count.min(run);
                busy = true;
            }
        }
        if !busy {
            return;
        }
        // SAFETY: the CPU supports the kernel (`new`'s contract). Every busy lane's pointer
        // starts `count` or more whole blocks of its message or of its tail, both owned by
        // the lane, which nothing touches during the call; idle lanes repeat IDLE_BLOCK
        // (stride 0).
        unsafe { (self.compress)(&mut self.state, blocks, strides, count) };
        for (index, slot) in self.lanes.iter_mut().enumerate() {
            if slot.as_mut().is_some_and(|lane| lane.advance(count))
                && let Some(lane) = slot.take()
            {
                let mut digest = [0u8; 16];
                for (word, row) in digest.chunks_exact_mut(4).zip(&self.state) {
                    word.copy_from_slice(&row[index].to_le_bytes());
                }
                done.push((lane.message, Md5(digest)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::md5::Md5Path;
    use proptest::prelude::*;
    use reference_md5::{Digest, Md5 as Reference};

    fn reference(bytes: &[u8]) -> Md5 {
        Md5(Reference::digest(bytes).into())
    }

    fn supported() -> Vec<Md5Path> {
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
    fn bytes(seed: u64, length: usize) -> Vec<u8> {
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
