//! Sixteen lanes in AVX-512F registers: ternary logic for the round functions, native
//! rotates, a 16 × 16 transpose to turn sixteen messages' blocks into message words.

use std::arch::x86_64::*;

use super::{LaneState, avx2, md5_rounds};

pub(in crate::md5) const LANES: usize = 16;

macro_rules! func {
    (F, $b:expr, $c:expr, $d:expr) => {
        _mm512_ternarylogic_epi32::<0xCA>($b, $c, $d) // b ? c : d
    };
    (G, $b:expr, $c:expr, $d:expr) => {
        _mm512_ternarylogic_epi32::<0xE4>($b, $c, $d) // d ? b : c
    };
    (H, $b:expr, $c:expr, $d:expr) => {
        _mm512_ternarylogic_epi32::<0x96>($b, $c, $d) // b ^ c ^ d
    };
    (I, $b:expr, $c:expr, $d:expr) => {
        _mm512_ternarylogic_epi32::<0x39>($b, $c, $d) // c ^ (b | !d)
    };
}

macro_rules! step {
    ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:literal) => {
        let sum = _mm512_add_epi32(
            _mm512_add_epi32($a, func!($f, $b, $c, $d)),
            _mm512_add_epi32($m, _mm512_set1_epi32($k as i32)),
        );
        $a = _mm512_add_epi32($b, _mm512_rol_epi32::<$s>(sum));
    };
}

/// Compresses `count` blocks of every lane: lane `l` reads its blocks at `blocks[l]`,
/// `blocks[l] + strides[l]`, … (a stride of 0 repeats one block, for an idle lane).
///
/// # Safety
/// The CPU supports AVX-512F, and for every lane `blocks[l]` is readable for
/// `(count - 1) * strides[l] + 64` bytes.
#[target_feature(enable = "avx512f")]
pub(in crate::md5) unsafe fn compress(
    state: &mut LaneState<LANES>,
    mut blocks: [*const u8; LANES],
    strides: [usize; LANES],
    count: usize,
) {
    // SAFETY: each row of `state` is 16 u32s, exactly one unaligned 512-bit load or store.
    let [mut a, mut b, mut c, mut d] =
        state.map(|row| unsafe { _mm512_loadu_si512(row.as_ptr().cast()) });
    for _ in 0..count {
        let mut rows = [_mm512_setzero_si512(); LANES];
        for (lane, row) in rows.iter_mut().enumerate() {
            // SAFETY: the caller guarantees 64 readable bytes at every lane's next block.
            *row = unsafe { _mm512_loadu_si512(blocks[lane].cast()) };
            blocks[lane] = blocks[lane].wrapping_add(strides[lane]);
        }
        let m = transpose(rows);
        let (a0, b0, c0, d0) = (a, b, c, d);
        md5_rounds!(step, m, a, b, c, d);
        a = _mm512_add_epi32(a, a0);
        b = _mm512_add_epi32(b, b0);
        c = _mm512_add_epi32(c, c0);
        d = _mm512_add_epi32(d, d0);
    }
    for (row, value) in state.iter_mut().zip([a, b, c, d]) {
        // SAFETY: as for the loads above.
        unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), value) };
    }
}

macro_rules! func256 {
    (F, $b:expr, $c:expr, $d:expr) => {
        _mm256_ternarylogic_epi32::<0xCA>($b, $c, $d)
    };
    (G, $b:expr, $c:expr, $d:expr) => {
        _mm256_ternarylogic_epi32::<0xE4>($b, $c, $d)
    };
    (H, $b:expr, $c:expr, $d:expr) => {
        _mm256_ternarylogic_epi32::<0x96>($b, $c, $d)
    };
    (I, $b:expr, $c:expr, $d:expr) => {
        _mm256_ternarylogic_epi32::<0x39>($b, $c, $d)
    };
}

macro_rules! step256 {
    ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:literal) => {
        let sum = _mm256_add_epi32(
            _mm256_add_epi32($a, func256!($f, $b, $c, $d)),
            _mm256_add_epi32($m, _mm256_set1_epi32($k as i32)),
        );
        $a = _mm256_add_epi32($b, _mm256_rol_epi32::<$s>(sum));
    };
}

/// [`compress`] for lanes 0 to 7 alone, in 256-bit registers (AVX-512VL): when no other lane
/// has blocks, a step costs about half of a 16-lane one on CPUs that split 512-bit operations
/// in two. Lanes 8 to 15 (their state and their `blocks`) are not touched.
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512VL, and for lanes 0 to 7 `blocks[l]` is readable for
/// `(count - 1) * strides[l] + 64` bytes.
#[target_feature(enable = "avx512f,avx512vl")]
pub(in crate::md5) unsafe fn compress_low_half(
    state: &mut LaneState<LANES>,
    mut blocks: [*const u8; LANES],
    strides: [usize; LANES],
    count: usize,
) {
    // SAFETY: each row of `state` is 16 u32s; its first 8 are one unaligned 256-bit load.
    let [mut a, mut b, mut c, mut d] =
        state.map(|row| unsafe { _mm256_loadu_si256(row.as_ptr().cast()) });
    for _ in 0..count {
        // SAFETY: AVX-512F implies AVX2; the caller guarantees 64 readable bytes at lanes 0 to
        // 7's next block.
        let m = unsafe { avx2::message_words!(blocks, strides) };
        let (a0, b0, c0, d0) = (a, b, c, d);
        md5_rounds!(step256, m, a, b, c, d);
        a = _mm256_add_epi32(a, a0);
        b = _mm256_add_epi32(b, b0);
        c = _mm256_add_epi32(c, c0);
        d = _mm256_add_epi32(d, d0);
    }
    for (row, value) in state.iter_mut().zip([a, b, c, d]) {
        // SAFETY: as for the loads above; the row's last 8 u32s are left alone.
        unsafe { _mm256_storeu_si256(row.as_mut_ptr().cast(), value) };
    }
}

/// Row `l` holds lane `l`'s 16 message words; the result's vector `w` holds word `w` of
/// every lane.
#[target_feature(enable = "avx512f")]
fn transpose(r: [__m512i; 16]) -> [__m512i; 16] {
    // Pairs of rows interleaved by 32 then 64 bits: within each 128-bit quarter q, u[4k + j]
    // holds word 4q + j of rows 4k … 4k + 3.
    let mut t = [_mm512_setzero_si512(); 16];
    for k in 0..8 {
        t[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    let mut u = [_mm512_setzero_si512(); 16];
    for k in 0..4 {
        u[4 * k] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
        u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    // Then a 4 × 4 transpose of 128-bit quarters across u[j], u[4 + j], u[8 + j], u[12 + j].
    let mut out = [_mm512_setzero_si512(); 16];
    for j in 0..4 {
        let v0 = _mm512_shuffle_i32x4::<0x44>(u[j], u[4 + j]);
        let v1 = _mm512_shuffle_i32x4::<0xEE>(u[j], u[4 + j]);
        let v2 = _mm512_shuffle_i32x4::<0x44>(u[8 + j], u[12 + j]);
        let v3 = _mm512_shuffle_i32x4::<0xEE>(u[8 + j], u[12 + j]);
        out[j] = _mm512_shuffle_i32x4::<0x88>(v0, v2);
        out[4 + j] = _mm512_shuffle_i32x4::<0xDD>(v0, v2);
        out[8 + j] = _mm512_shuffle_i32x4::<0x88>(v1, v3);
        out[12 + j] = _mm512_shuffle_i32x4::<0xDD>(v1, v3);
    }
    out
}
