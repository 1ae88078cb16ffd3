//! Azure Storage's CRC-64, the one behind `x-ms-content-crc64` and the 2021 verbose log's
//! `crc64` attribute: reflected polynomial 0x9A6C9329AC4BC9B5, initial value and final XOR all
//! ones (catalogued as CRC-64/NVME). Computed with SIMD carry-less multiplication by
//! `crc-fast`; [`Crc64::combine`] joins the CRCs of adjacent pieces so a file can be checked
//! chunk by chunk and still be compared with its whole-file value.

use crc_fast::CrcAlgorithm::Crc64Nvme;

/// A running CRC-64 over bytes fed in order.
#[derive(Clone, Copy)]
pub struct Crc64 {
    digest: crc_fast::Digest,
}

impl std::fmt::Debug for Crc64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crc64")
            .field("value", &self.value())
            .finish()
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc64 {
    /// The CRC of nothing so far (whose value is 0).
    pub fn new() -> Self {
        Self {
            digest: crc_fast::Digest::new(Crc64Nvme),
        }
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }

    /// The CRC of everything fed so far; feeding may go on.
    pub fn value(&self) -> u64 {
        self.digest.finalize()
    }

    /// The CRC of `bytes`.
    pub fn of(bytes: &[u8]) -> u64 {
        crc_fast::checksum(Crc64Nvme, bytes)
    }

    /// The CRC of `A || B` from `CRC(A)`, `CRC(B)` and the length of `B`.
    pub fn combine(first: u64, second: u64, second_length: u64) -> u64 {
        if second_length == 0 {
            return first;
        }
        crc_fast::checksum_combine(Crc64Nvme, first, second, second_length)
    }
}

/// CRC-64s in JSON as decimal strings, as the verbose log writes them: a 20-digit number is
/// more than a JavaScript number holds exactly. For `Option<u64>` fields
/// (`#[serde(default, skip_serializing_if = "Option::is_none", with = "crc64::as_text")]`).
pub mod as_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(value: &Option<u64>, out: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(crc) => out.serialize_str(&crc.to_string()),
            None => out.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Option<u64>, D::Error> {
        let text: Option<String> = Option::deserialize(input)?;
        text.map(|text| {
            text.parse()
                .map_err(|_| D::Error::custom(format!("{text:?} is not a CRC-64 in decimal")))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, one bit at a time: the reference the fast code is checked against.
    fn bitwise(bytes: &[u8]) -> u64 {
        const POLY_REFLECTED: u64 = 0x9A6C_9329_AC4B_C9B5;
        let mut crc = u64::MAX;
        for &byte in bytes {
            crc ^= u64::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY_REFLECTED
                } else {
                    crc >> 1
                };
            }
        }
        crc ^ u64::MAX
    }

    #[test]
    fn check_value_and_microsofts_sample() {
        assert_eq!(bitwise(b"123456789"), 0xAE8B_1486_0A79_9888);
        assert_eq!(Crc64::of(b"123456789"), 0xAE8B_1486_0A79_9888);
        // The export verbose log's sample: Size="4096" crc64="16033727819182370206", the CRC
        // of 4096 ASCII '1's.
        let ones = [b'1'; 4096];
        assert_eq!(bitwise(&ones), 16_033_727_819_182_370_206);
        assert_eq!(Crc64::of(&ones), 16_033_727_819_182_370_206);
        // The import sample's empty files: Size="0" crc64="0".
        assert_eq!(Crc64::of(b""), 0);
        assert_eq!(Crc64::new().value(), 0);
    }

    #[test]
    fn combine_joins_the_sample_from_its_halves() {
        let ones = [b'1'; 4096];
        let (a, b) = ones.split_at(1000);
        assert_eq!(
            Crc64::combine(Crc64::of(a), Crc64::of(b), b.len() as u64),
            16_033_727_819_182_370_206
        );
        assert_eq!(Crc64::combine(Crc64::of(&ones), 0, 0), Crc64::of(&ones));
        assert_eq!(Crc64::combine(0, Crc64::of(&ones), 4096), Crc64::of(&ones));
    }

    proptest! {
        #[test]
        fn the_fast_crc_is_the_bitwise_crc(
            bytes in prop::collection::vec(any::<u8>(), 0..5000),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        ) {
            let expected = bitwise(&bytes);
            prop_assert_eq!(Crc64::of(&bytes), expected);
            // Fed in pieces, and combined from the pieces' own CRCs.
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let (mut running, mut combined, mut start) = (Crc64::new(), 0u64, 0usize);
            for cut in cuts {
                let piece = &bytes[start..cut];
                running.update(piece);
                combined = Crc64::combine(combined, bitwise(piece), piece.len() as u64);
                start = cut;
            }
            prop_assert_eq!(running.value(), expected);
            prop_assert_eq!(combined, expected);
        }
    }
}
