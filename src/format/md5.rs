//! MD5 as the formats use it; the type and the hashing live in `crate::md5`.

pub(crate) use super::shorten;
pub use crate::md5::{InvalidMd5, Md5, Md5Stream};
