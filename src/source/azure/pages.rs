//! Where a page blob holds data (Get Page Ranges, page by page under the source's one retry
//! budget): what a whole download of a sparse disk image needs to ask for, rather than
//! terabytes of empty pages.

use std::ops::Range;

use azure_storage_blob::models::PageBlobClientListPageRangesOptions;
use futures::TryStreamExt as _;

use super::responses::{answered_as_pinned, protocol};
use super::{AzureBlobSource, Budget, Etag, utc};
use crate::source::{BlobRef, ReadConditions, SourceError};

impl AzureBlobSource {
    /// The page blob's ranges holding data, sorted and disjoint within `length`. Pinned like
    /// a read: a blob changed since fails with [`SourceError::Changed`].
    pub(super) async fn list_page_ranges(
        &self,
        blob: &BlobRef,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<Vec<Range<u64>>, SourceError> {
        let client = self.blob_client(blob)?.page_blob_client();
        let what = format!("page ranges of {blob}");
        let mut budget = Budget::default();
        loop {
            let options = PageBlobClientListPageRangesOptions {
                if_match: conditions.if_match.clone().map(Etag::from),
                if_unmodified_since: conditions.if_unmodified_since.map(utc),
                snapshot: blob.snapshot.clone(),
                ..Default::default()
            };
            // Every page of the list, each within the response timeout (a fragmented disk's
            // list comes in many), asked again from the first should one fail.
            let mut listed = Vec::new();
            let failure = match client.list_page_ranges(Some(options)) {
                Err(error) => self.classify(error, blob, None),
                Ok(mut pages) => loop {
                    let page =
                        match tokio::time::timeout(self.retry.response_timeout, pages.try_next())
                            .await
                        {
                            Err(_) => break self.no_response(),
                            Ok(Ok(Some(page))) => {
                                // Another version's list would leave its data out as holes.
                                answered_as_pinned(
                                    blob,
                                    conditions.if_match.as_deref(),
                                    conditions.if_unmodified_since,
                                    page.headers(),
                                )?;
                                page.into_model().map(Some)
                            }
                            Ok(page) => page.map(|_| None),
                        };
                    match page {
                        Err(error) => break self.classify(error, blob, None),
                        Ok(None) => {
                            return data_ranges(listed.into_iter(), length).map_err(|message| {
                                protocol(blob, format!("Get Page Ranges: {message}"))
                            });
                        }
                        Ok(Some(list)) => listed.extend(
                            list.page_ranges
                                .into_iter()
                                .map(|range| (range.start, range.end)),
                        ),
                    }
                },
            };
            self.after_failure(&mut budget, &what, failure, false)
                .await?;
        }
    }
}

/// The listed `(Start, End)` pairs (`End` inclusive, as the service writes them) as sorted,
/// merged `[start, end)` ranges; a range outside the blob's `length` or back to front is an
/// answer that cannot be trusted.
fn data_ranges(
    listed: impl Iterator<Item = (Option<i64>, Option<i64>)>,
    length: u64,
) -> Result<Vec<Range<u64>>, String> {
    let mut ranges = Vec::new();
    for (start, end) in listed {
        let (Some(start), Some(end)) = (start, end) else {
            return Err("a range without its Start or End".into());
        };
        let bounds = u64::try_from(start)
            .ok()
            .zip(u64::try_from(end).ok().and_then(|end| end.checked_add(1)));
        match bounds {
            Some((start, end)) if start < end && end <= length => ranges.push(start..end),
            _ => {
                return Err(format!(
                    "the range {start}-{end} is not within the blob's {length} bytes"
                ));
            }
        }
    }
    ranges.sort_unstable_by_key(|range| range.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(listed: &[(i64, i64)], length: u64) -> Result<Vec<Range<u64>>, String> {
        data_ranges(listed.iter().map(|&(s, e)| (Some(s), Some(e))), length)
    }

    #[test]
    fn inclusive_ends_become_exclusive_sorted_and_merged() {
        let listed = [(4096, 8191), (0, 511), (512, 1023), (6000, 9215)];
        assert_eq!(ranges(&listed, 65536).unwrap(), [0..1024, 4096..9216]);
        assert_eq!(ranges(&[], 65536).unwrap(), []);
    }

    #[test]
    fn a_range_outside_the_blob_or_back_to_front_is_refused() {
        for listed in [(0, 65536), (-512, 511), (1024, 511), (0, i64::MAX)] {
            let error = ranges(&[listed], 65536).unwrap_err();
            assert!(
                error.contains("not within the blob's 65536 bytes"),
                "{error}"
            );
        }
        let missing = data_ranges([(Some(0), None)].into_iter(), 512).unwrap_err();
        assert!(missing.contains("without its Start or End"), "{missing}");
    }
}
