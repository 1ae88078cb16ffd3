//! MD5: the digest type, one-stream hashing, and multi-buffer hashing of many independent
//! messages at once (the drive's blocks are thousands of independent MD5 streams), whole
//! (`Md5Lanes`, verification) or as their bytes arrive (`Md5Streams`, downloads).
//!
//! `unsafe` is allowed in this module and nowhere else in the crate, because hashing at
//! memory speed needs it twice over: the one-stream fallback calls AWS-LC's assembly by FFI,
//! and the multi-buffer kernels use `std::arch` SIMD intrinsics (raw loads from each lane's
//! message, CPU features detected at run time). Every `unsafe` block says why it is sound.
#![allow(unsafe_code)]

mod digest;
mod kernel;
mod lanes;
mod path;
mod stream;
mod streams;

pub use digest::{InvalidMd5, Md5};
pub use lanes::{Md5Lanes, hash_many};
pub use path::Md5Path;
pub use stream::Md5Stream;
pub use streams::Md5Streams;
