//! Multi-buffer MD5 compression: N independent messages advance one 64-byte block each per
//! step, lane `l` of every SIMD register holding message `l`'s state. RFC 1321's schedule,
//! written once as a macro that each instruction set's kernel fills with its own operations.

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(super) mod avx512;

/// The chaining values A, B, C, D of every lane, one row per word.
pub(super) type LaneState<const N: usize> = [[u32; N]; 4];

/// RFC 1321's initial chaining values.
pub(super) const IV: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// RFC 1321's table T: floor(2^32 × |sin(i + 1)|).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// The 64 steps of one block: `$step!(function, a, b, c, d, message word, constant, shift)`,
/// the roles of a, b, c, d rotating each step.
#[cfg(target_arch = "x86_64")]
macro_rules! md5_rounds {
    ($step:ident, $m:ident, $a:ident, $b:ident, $c:ident, $d:ident) => {
        md5_rounds!(@4 $step, $m, F, $a, $b, $c, $d, [0, 1, 2, 3], [0, 1, 2, 3], [7, 12, 17, 22]);
        md5_rounds!(@4 $step, $m, F, $a, $b, $c, $d, [4, 5, 6, 7], [4, 5, 6, 7], [7, 12, 17, 22]);
        md5_rounds!(@4 $step, $m, F, $a, $b, $c, $d, [8, 9, 10, 11], [8, 9, 10, 11], [7, 12, 17, 22]);
        md5_rounds!(@4 $step, $m, F, $a, $b, $c, $d, [12, 13, 14, 15], [12, 13, 14, 15], [7, 12, 17, 22]);
        md5_rounds!(@4 $step, $m, G, $a, $b, $c, $d, [1, 6, 11, 0], [16, 17, 18, 19], [5, 9, 14, 20]);
        md5_rounds!(@4 $step, $m, G, $a, $b, $c, $d, [5, 10, 15, 4], [20, 21, 22, 23], [5, 9, 14, 20]);
        md5_rounds!(@4 $step, $m, G, $a, $b, $c, $d, [9, 14, 3, 8], [24, 25, 26, 27], [5, 9, 14, 20]);
        md5_rounds!(@4 $step, $m, G, $a, $b, $c, $d, [13, 2, 7, 12], [28, 29, 30, 31], [5, 9, 14, 20]);
        md5_rounds!(@4 $step, $m, H, $a, $b, $c, $d, [5, 8, 11, 14], [32, 33, 34, 35], [4, 11, 16, 23]);
        md5_rounds!(@4 $step, $m, H, $a, $b, $c, $d, [1, 4, 7, 10], [36, 37, 38, 39], [4, 11, 16, 23]);
        md5_rounds!(@4 $step, $m, H, $a, $b, $c, $d, [13, 0, 3, 6], [40, 41, 42, 43], [4, 11, 16, 23]);
        md5_rounds!(@4 $step, $m, H, $a, $b, $c, $d, [9, 12, 15, 2], [44, 45, 46, 47], [4, 11, 16, 23]);
        md5_rounds!(@4 $step, $m, I, $a, $b, $c, $d, [0, 7, 14, 5], [48, 49, 50, 51], [6, 10, 15, 21]);
        md5_rounds!(@4 $step, $m, I, $a, $b, $c, $d, [12, 3, 10, 1], [52, 53, 54, 55], [6, 10, 15, 21]);
        md5_rounds!(@4 $step, $m, I, $a, $b, $c, $d, [8, 15, 6, 13], [56, 57, 58, 59], [6, 10, 15, 21]);
        md5_rounds!(@4 $step, $m, I, $a, $b, $c, $d, [4, 11, 2, 9], [60, 61, 62, 63], [6, 10, 15, 21]);
    };
    (@4 $step:ident, $m:ident, $f:ident, $a:ident, $b:ident, $c:ident, $d:ident,
     [$g0:literal, $g1:literal, $g2:literal, $g3:literal],
     [$k0:literal, $k1:literal, $k2:literal, $k3:literal],
     [$s0:literal, $s1:literal, $s2:literal, $s3:literal]) => {
        $step!($f, $a, $b, $c, $d, $m[$g0], $crate::md5::kernel::K[$k0], $s0);
        $step!($f, $d, $a, $b, $c, $m[$g1], $crate::md5::kernel::K[$k1], $s1);
        $step!($f, $c, $d, $a, $b, $m[$g2], $crate::md5::kernel::K[$k2], $s2);
        $step!($f, $b, $c, $d, $a, $m[$g3], $crate::md5::kernel::K[$k3], $s3);
    };
}
#[cfg(target_arch = "x86_64")]
use md5_rounds;
