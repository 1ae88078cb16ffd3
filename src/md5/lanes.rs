//! Many messages at once: a lane scheduler that keeps every SIMD lane busy, handing a lane
//! the next message as soon as its message (of whatever length) has been padded and
//! finished, and the choice of kernel for this CPU.

use std::sync::OnceLock;

use super::Md5;
use super::kernel::{IV, LaneState};

/// How `hash_many` hashes: 16 lanes of AVX-512, 8 of AVX2, or one stream at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Md5Path {
    Avx512,
    Avx2,
    Scalar,
}

impl Md5Path {
    /// The environment variable that forces a path (`avx512`, `avx2` or `scalar`), e.g. to
    /// compare them; a path this CPU lacks is not taken.
    pub const ENV: &'static str = "EXPORT_REPAIR_MD5";
    pub const ALL: [Md5Path; 3] = [Md5Path::Avx512, Md5Path::Avx2, Md5Path::Scalar];

    /// The path `hash_many` takes: the fastest this CPU supports, or the one `ENV` names.
    pub fn active() -> Self {
        static ACTIVE: OnceLock<Md5Path> = OnceLock::new();
        *ACTIVE.get_or_init(|| {
            std::env::var(Self::ENV)
                .ok()
                .and_then(|name| Self::parse(&name))
                .filter(|path| path.is_supported())
                .unwrap_or_else(Self::fastest)
        })
    }

    /// The fastest path this CPU supports.
    pub fn fastest() -> Self {
        Self::ALL
            .into_iter()
            .find(|path| path.is_supported())
            .unwrap_or(Md5Path::Scalar)
    }

    pub fn is_supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Md5Path::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Md5Path::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            Md5Path::Scalar => true,
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Messages hashed side by side on one core.
    pub fn lanes(self) -> usize {
        match self {
            Md5Path::Avx512 => 16,
            Md5Path::Avx2 => 8,
            Md5Path::Scalar => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Md5Path::Avx512 => "avx512",
            Md5Path::Avx2 => "avx2",
            Md5Path::Scalar => "scalar",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|path| path.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// The digests of `messages`, in order, on this path (on the scalar one if this CPU
    /// lacks it).
    pub fn hash_many(self, messages: &[&[u8]]) -> Vec<Md5> {
        let mut digests = vec![Md5([0; 16]); messages.len()];
        match self {
            #[cfg(target_arch = "x86_64")]
            Md5Path::Avx512 if self.is_supported() => {
                use super::kernel::avx512;
                // SAFETY: the CPU supports AVX-512F (checked by the guard above).
                unsafe { schedule::<{ avx512::LANES }>(messages, &mut digests, avx512::compress) }
            }
            #[cfg(target_arch = "x86_64")]
            Md5Path::Avx2 if self.is_supported() => {
                use super::kernel::avx2;
                // SAFETY: the CPU supports AVX2 (checked by the guard above).
                unsafe { schedule::<{ avx2::LANES }>(messages, &mut digests, avx2::compress) }
            }
            _ => {
                for (digest, message) in digests.iter_mut().zip(messages) {
                    *digest = Md5::of(message);
                }
            }
        }
        digests
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

/// One message in a lane: its whole blocks still to compress, then its last partial block
/// with RFC 1321's padding and bit length (one or two blocks).
struct Lane<'a> {
    message: usize,
    body: &'a [u8],
    tail: [u8; 128],
    tail_at: usize,
    tail_end: usize,
}

impl<'a> Lane<'a> {
    fn new(message: usize, bytes: &'a [u8]) -> Self {
        let (body, rest) = bytes.split_at(bytes.len() / 64 * 64);
        let mut tail = [0u8; 128];
        tail[..rest.len()].copy_from_slice(rest);
        tail[rest.len()] = 0x80;
        let tail_end = if rest.len() < 56 { 64 } else { 128 };
        let bits = (bytes.len() as u64).wrapping_mul(8);
        tail[tail_end - 8..tail_end].copy_from_slice(&bits.to_le_bytes());
        Self {
            message,
            body,
            tail,
            tail_at: 0,
            tail_end,
        }
    }

    /// Where the lane's next blocks are, and how many follow there contiguously.
    fn next_run(&self) -> (*const u8, usize) {
        if self.body.is_empty() {
            (
                self.tail[self.tail_at..].as_ptr(),
                (self.tail_end - self.tail_at) / 64,
            )
        } else {
            (self.body.as_ptr(), self.body.len() / 64)
        }
    }

    /// Moves past `blocks` compressed blocks; true once the message is finished.
    fn advance(&mut self, blocks: usize) -> bool {
        if self.body.is_empty() {
            self.tail_at += blocks * 64;
        } else {
            self.body = &self.body[blocks * 64..];
        }
        self.body.is_empty() && self.tail_at == self.tail_end
    }
}

/// Hashes `messages` into `digests` with N lanes: every lane takes the next message as soon
/// as its own is finished, and the kernel runs for as many blocks as every busy lane has
/// contiguously before one of them needs attention.
///
/// # Safety
/// The CPU supports the instructions `compress` is compiled for.
unsafe fn schedule<const N: usize>(messages: &[&[u8]], digests: &mut [Md5], compress: Kernel<N>) {
    let mut state: LaneState<N> = [[0; N]; 4];
    let mut lanes: [Option<Lane<'_>>; N] = std::array::from_fn(|_| None);
    let mut queue = messages.iter().enumerate();
    loop {
        for (index, slot) in lanes.iter_mut().enumerate() {
            if slot.is_none()
                && let Some((message, bytes)) = queue.next()
            {
                *slot = Some(Lane::new(message, bytes));
                for (row, initial) in state.iter_mut().zip(IV) {
                    row[index] = initial;
                }
            }
        }
        let mut blocks = [IDLE_BLOCK.as_ptr(); N];
        let mut strides = [0usize; N];
        let mut count = usize::MAX;
        for (index, lane) in lanes.iter().enumerate() {
            if let Some(lane) = lane {
                let (at, run) = lane.next_run();
                blocks[index] = at;
                strides[index] = 64;
                count = count.min(run);
            }
        }
        if count == usize::MAX {
            return;
        }
        // SAFETY: the CPU supports the kernel (this function's contract). Every busy lane's
        // pointer starts `count` or more whole blocks of its message or its tail, both
        // borrowed and unmoved during the call; idle lanes repeat IDLE_BLOCK (stride 0).
        unsafe { compress(&mut state, blocks, strides, count) };
        for (index, slot) in lanes.iter_mut().enumerate() {
            if let Some(lane) = slot
                && lane.advance(count)
            {
                let mut digest = [0u8; 16];
                for (word, row) in digest.chunks_exact_mut(4).zip(&state) {
                    word.copy_from_slice(&row[index].to_le_bytes());
                }
                digests[lane.message] = Md5(digest);
                *slot = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
