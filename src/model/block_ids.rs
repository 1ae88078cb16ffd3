//! Block IDs of one blob in one string: a million blocks cost one allocation (about 8 bytes
//! each for the service's IDs) rather than a million small strings.

use std::num::NonZeroU32;

/// The block IDs of one blob's components, end to end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockIds(String);

/// Where one ID is in its blob's `BlockIds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockIdRef {
    end: NonZeroU32,
    length: u16,
}

impl BlockIds {
    /// Keeps `id`; `None` for an empty ID, one longer than 65,535 bytes (Azure's are at
    /// most 88) or one past 4 GiB of IDs in a blob: such an ID is not kept.
    pub fn add(&mut self, id: &str) -> Option<BlockIdRef> {
        if id.is_empty() {
            return None;
        }
        let length = u16::try_from(id.len()).ok()?;
        let end = u32::try_from(self.0.len() + id.len()).ok()?;
        let end = NonZeroU32::new(end)?;
        self.0.push_str(id);
        Some(BlockIdRef { end, length })
    }

    pub fn get(&self, id: BlockIdRef) -> &str {
        let end = id.end.get() as usize;
        self.0
            .get(end - usize::from(id.length)..end)
            .unwrap_or_default()
    }

    /// Gives back spare capacity once a blob is complete.
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_back_as_they_went_in() {
        let mut ids = BlockIds::default();
        let a = ids.add("AAAAAA==").unwrap();
        let b = ids.add("ünïcode-ID").unwrap();
        assert_eq!(ids.add(""), None);
        assert_eq!(ids.add(&"x".repeat(70_000)), None);
        assert_eq!(ids.get(a), "AAAAAA==");
        assert_eq!(ids.get(b), "ünïcode-ID");
        assert_eq!(std::mem::size_of::<Option<BlockIdRef>>(), 8);
    }
}
