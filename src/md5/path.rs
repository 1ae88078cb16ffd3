//! Which instructions hash many messages at once on this CPU.

use std::sync::OnceLock;

use super::Md5;

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
        super::lanes::hash_many_on(self, messages)
    }
}
