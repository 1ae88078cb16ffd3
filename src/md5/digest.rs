//! The digest as the formats write it: Base16, 32 digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Md5Stream;
use crate::format::shorten;

/// A 16-byte MD5 digest. Displayed as upper-case hex, as every Microsoft sample writes it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Md5(pub [u8; 16]);

/// Why a hash attribute is not an MD5.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an MD5 hash (32 hexadecimal digits)")]
pub struct InvalidMd5 {
    /// The offending value, cut short when it is long.
    pub value: String,
}

impl Md5 {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut hasher = Md5Stream::new();
        hasher.update(bytes);
        hasher.finish()
    }

    /// Reads a `Content-MD5` header or properties-file value (base64 of the 16 bytes).
    pub fn from_base64(text: &str) -> Option<Self> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// Parses Base16, tolerating what the samples do: surrounding spaces, either case.
    pub fn parse_hex(text: &str) -> Result<Self, InvalidMd5> {
        let trimmed = text.trim();
        let mut digest = [0u8; 16];
        match hex::decode_to_slice(trimmed, &mut digest) {
            Ok(()) => Ok(Self(digest)),
            Err(_) => Err(InvalidMd5 {
                value: shorten(trimmed, 64),
            }),
        }
    }
}

impl fmt::Display for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

impl fmt::Debug for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Md5({self})")
    }
}

impl FromStr for Md5 {
    type Err = InvalidMd5;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_hex(s)
    }
}

impl Serialize for Md5 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Md5 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse_hex(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_padded_lower_case_and_prints_upper_case() {
        let md5 = Md5::parse_hex(" 9c8ae14a0b6b2eb0f8bd9e6f3b0d1f6a ").unwrap();
        assert_eq!(md5.to_string(), "9C8AE14A0B6B2EB0F8BD9E6F3B0D1F6A");
    }

    #[test]
    fn refuses_non_hex_and_wrong_length() {
        assert!(Md5::parse_hex("XYZ").is_err());
        assert!(Md5::parse_hex("9C8AE14A").is_err());
        assert!(Md5::parse_hex(&"A".repeat(34)).is_err());
    }

    #[test]
    fn digest_of_known_input() {
        assert_eq!(Md5::of(b"").to_string(), "D41D8CD98F00B204E9800998ECF8427E");
        assert_eq!(
            Md5::of(b"The quick brown fox jumps over the lazy dog").to_string(),
            "9E107D9D372BB6826BD81D3542A419D6"
        );
    }

    #[test]
    fn a_stream_in_pieces_gives_the_digest_of_the_whole() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut stream = Md5Stream::new();
        for piece in bytes.chunks(4093) {
            stream.update(piece);
        }
        assert_eq!(stream.finish(), Md5::of(&bytes));
        // RFC 1321's million "a"s, in uneven pieces.
        let mut stream = Md5Stream::default();
        let a = vec![b'a'; 1_000_000];
        stream.update(&a[..1]);
        stream.update(&a[1..]);
        assert_eq!(
            stream.finish().to_string(),
            "7707D6AE4E027C70EEA2A935C2296F21"
        );
    }
}
