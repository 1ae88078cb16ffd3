//! Eight lanes in AVX2 registers: the round functions from and/xor/or, rotates from two
//! shifts, an 8 × 8 transpose per half block.

use std::arch::x86_64::*;

use super::{LaneState, md5_rounds};

pub(in crate::md5) const LANES: usize = 8;

macro_rules! func {
    (F, $b:expr, $c:expr, $d:expr) => {
        _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256($c, $d), $b), $d)
    };
    (G, $b:expr, $c:expr, $d:expr) => {
        _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256($b, $c), $d), $c)
    };
    (H, $b:expr, $c:expr, $d:expr) => {
        _mm256_xor_si256(_mm256_xor_si256($b, $c), $d)
    };
    (I, $b:expr, $c:expr, $d:expr) => {
        _mm256_xor_si256(
            $c,
            _mm256_or_si256($b, _mm256_xor_si256($d, _mm256_set1_epi32(-1))),
        )
    };
}

macro_rules! step {
    ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:literal) => {
        let sum = _mm256_add_epi32(
            _mm256_add_epi32($a, func!($f, $b, $c, $d)),
            _mm256_add_epi32($m, _mm256_set1_epi32($k as i32)),
        );
        let rotated = _mm256_or_si256(
            _mm256_slli_epi32::<$s>(sum),
            _mm256_srli_epi32::<{ 32 - $s }>(sum),
        );
        $a = _mm256_add_epi32($b, rotated);
    };
}

/// Compresses `count` blocks of every lane, as `avx512::compress` does with 8 lanes.
///
/// # Safety
/// The CPU supports AVX2, and for every lane `blocks[l]` is readable for
/// `(count - 1) * strides[l] + 64` bytes.
#[target_feature(enable = "avx2")]
pub(in crate::md5) unsafe fn compress(
    state: &mut LaneState<LANES>,
    mut blocks: [*const u8; LANES],
    strides: [usize; LANES],
    count: usize,
) {
    // SAFETY: each row of `state` is 8 u32s, exactly one unaligned 256-bit load or store.
    let [mut a, mut b, mut c, mut d] =
        state.map(|row| unsafe { _mm256_loadu_si256(row.as_ptr().cast()) });
    for _ in 0..count {
        // SAFETY: the caller guarantees 64 readable bytes at every lane's next block.
        let m = unsafe { message_words!(blocks, strides) };
        let (a0, b0, c0, d0) = (a, b, c, d);
        md5_rounds!(step, m, a, b, c, d);
        a = _mm256_add_epi32(a, a0);
        b = _mm256_add_epi32(b, b0);
        c = _mm256_add_epi32(c, c0);
        d = _mm256_add_epi32(d, d0);
    }
    for (row, value) in state.iter_mut().zip([a, b, c, d]) {
        // SAFETY: as for the loads above.
        unsafe { _mm256_storeu_si256(row.as_mut_ptr().cast(), value) };
    }
}

/// The 16 message words of the next block of lanes 0 to 7 of `$blocks`, word `w` of every
/// lane in vector `w`; each of these lanes' pointers moves on by its stride in `$strides`. A
/// macro, so that it is inlined into every kernel that uses it (a call costs the AVX-512VL
/// kernel a tenth of its speed). Inside an `unsafe` block of a function with AVX2, where 64
/// bytes are readable at each of these lanes' pointers.
macro_rules! message_words {
    ($blocks:ident, $strides:ident) => {{
        const HALF: usize = 8;
        let mut low = [_mm256_setzero_si256(); HALF];
        let mut high = [_mm256_setzero_si256(); HALF];
        for lane in 0..HALF {
            low[lane] = _mm256_loadu_si256($blocks[lane].cast());
            high[lane] = _mm256_loadu_si256($blocks[lane].add(32).cast());
            $blocks[lane] = $blocks[lane].wrapping_add($strides[lane]);
        }
        let (low, high) = (
            $crate::md5::kernel::avx2::transpose(low),
            $crate::md5::kernel::avx2::transpose(high),
        );
        let words: [__m256i; 16] =
            std::array::from_fn(|w| if w < HALF { low[w] } else { high[w - HALF] });
        words
    }};
}
pub(super) use message_words;

/// Row `l` holds 8 words of lane `l`; the result's vector `w` holds word `w` of every lane.
#[target_feature(enable = "avx2")]
pub(super) fn transpose(r: [__m256i; 8]) -> [__m256i; 8] {
    // Within each 128-bit half q, u[4k + j] holds word 4q + j of rows 4k … 4k + 3.
    let mut t = [_mm256_setzero_si256(); 8];
    for k in 0..4 {
        t[2 * k] = _mm256_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm256_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    let mut u = [_mm256_setzero_si256(); 8];
    for k in 0..2 {
        u[4 * k] = _mm256_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 1] = _mm256_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 2] = _mm256_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
        u[4 * k + 3] = _mm256_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    let mut out = [_mm256_setzero_si256(); 8];
    for j in 0..4 {
        out[j] = _mm256_permute2x128_si256::<0x20>(u[j], u[4 + j]);
        out[4 + j] = _mm256_permute2x128_si256::<0x31>(u[j], u[4 + j]);
    }
    out
}
