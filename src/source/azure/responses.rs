//! Reading the storage's answers: Get Blob Properties' headers, error bodies, `Retry-After`,
//! `Content-Range`, and the errors made of them.

use std::time::Duration;

use azure_core::http::{
    NoFormat, Response,
    headers::{HeaderName, Headers},
};
use azure_storage_blob::models::{
    BlobClientGetPropertiesResult, BlobClientGetPropertiesResultHeaders as _,
};

use crate::source::{BlobProperties, BlobRef, SourceError};

/// Maps Get Blob Properties' headers to [`BlobProperties`].
pub(super) fn properties_from(
    response: &Response<BlobClientGetPropertiesResult, NoFormat>,
    blob: &BlobRef,
) -> Result<BlobProperties, SourceError> {
    let bad = |e: azure_core::Error| protocol(blob, format!("bad property header: {e}"));
    let headers = response.headers();
    let mut metadata: Vec<(String, String)> =
        response.metadata().map_err(bad)?.into_iter().collect();
    // HTTP header names arrive lower-cased (the transport normalises them), so metadata names
    // do too; sorting gives a stable order (the service does not promise one either).
    metadata.sort();
    Ok(BlobProperties {
        last_modified: response.last_modified().map_err(bad)?,
        etag: header(headers, "etag").map(str::to_owned),
        content_length: response.content_length().map_err(bad)?.unwrap_or_default(),
        content_type: response.content_type().map_err(bad)?,
        // Kept as the header's base64, as the properties file writes it.
        content_md5: header(headers, "content-md5").map(str::to_owned),
        content_encoding: response.content_encoding().map_err(bad)?,
        content_language: response.content_language().map_err(bad)?,
        cache_control: response.cache_control().map_err(bad)?,
        metadata,
        page_blob: header(headers, "x-ms-blob-type") == Some("PageBlob"),
    })
}

/// The text of `<Error><{child}>` in a storage error body (`<Error><Code/><Message/>…</Error>`),
/// read with quick-xml: entities and character references decoded, CDATA taken as it is.
pub(super) fn error_body_text(body: &[u8], child: &str) -> Option<String> {
    use quick_xml::events::Event;
    let body = std::str::from_utf8(body).ok()?;
    let mut reader = quick_xml::Reader::from_str(body);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let inside = |path: &[String]| matches!(path, [root, name] if root == "Error" && name == child);
    loop {
        match reader.read_event().ok()? {
            Event::Start(start) => {
                path.push(start.local_name().as_ref().to_string());
            }
            Event::End(_) => {
                if inside(&path) {
                    return Some(text);
                }
                path.pop();
            }
            Event::Text(part) if inside(&path) => text.push_str(&part.xml10_content()),
            Event::CData(data) if inside(&path) => text.push_str(&data),
            Event::GeneralRef(reference) if inside(&path) => match reference.resolve_char_ref() {
                Ok(Some(c)) => text.push(c),
                _ => text.push_str(quick_xml::escape::resolve_predefined_entity(&reference)?),
            },
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// The answer's `ETag` and `Last-Modified` against what the request was pinned to: a storage
/// (or a gateway before it) that ignored `If-Match` or `If-Unmodified-Since` must not pass
/// another version off as the exported one. Azure answers such a request 412; this refuses it
/// the same way ([`SourceError::Changed`]).
pub(super) fn answered_as_pinned(
    blob: &BlobRef,
    if_match: Option<&str>,
    if_unmodified_since: Option<time::OffsetDateTime>,
    headers: &Headers,
) -> Result<(), SourceError> {
    // With or without its quotes (a properties file may hold it either way).
    let bare = |etag: &str| etag.trim().trim_matches('"').to_owned();
    let other_etag = if_match.is_some_and(|pinned| {
        header(headers, "etag").is_some_and(|answered| bare(answered) != bare(pinned))
    });
    let modified_since = if_unmodified_since.is_some_and(|limit| {
        header(headers, "last-modified")
            .and_then(|value| azure_core::time::parse_rfc7231(value.trim()).ok())
            .is_some_and(|modified| modified > limit)
    });
    match other_etag || modified_since {
        true => Err(SourceError::Changed {
            blob: blob.to_string(),
        }),
        false => Ok(()),
    }
}

pub(super) fn header<'a>(headers: &'a Headers, name: &'static str) -> Option<&'a str> {
    headers.get_optional_str(&HeaderName::from_static(name))
}

/// `Retry-After` (seconds or HTTP date), or Azure's `x-ms-retry-after-ms` / `retry-after-ms`.
pub(super) fn retry_after(headers: &Headers) -> Option<Duration> {
    for name in ["x-ms-retry-after-ms", "retry-after-ms"] {
        if let Some(ms) = header(headers, name).and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let value = header(headers, "retry-after")?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = azure_core::time::parse_rfc7231(value).ok()?;
    let wait = when - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or_default())
}

/// `bytes <first>-<last>/<total>` → (first, Some(total)); `*` totals give `None`.
pub(super) fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (first, _last) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first.trim().parse().ok()?, total))
}

pub(super) fn out_of_range(
    blob: &BlobRef,
    offset: u64,
    end: u64,
    available: Option<u64>,
) -> SourceError {
    SourceError::OutOfRange {
        blob: blob.to_string(),
        offset,
        end,
        available,
    }
}

pub(super) fn protocol(blob: &BlobRef, message: String) -> SourceError {
    SourceError::Protocol {
        blob: blob.to_string(),
        message,
    }
}

/// The error with its causes, `a: b: c` (the crate puts the useful part in the source).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read_as_xml_not_searched_as_text() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<Error><Code>AuthenticationFailed</Code>
<!-- <Message>a comment, not the message</Message> -->
<Detail><Message>nested, not the message</Message></Detail>
<Message>Tom &amp; Jerry &#x41;&#66; <![CDATA[<raw>]]>
RequestId:1</Message>
<AuthenticationErrorDetail>Lifetime validation failed. The token is expired.</AuthenticationErrorDetail>
</Error>"#;
        assert_eq!(
            error_body_text(body, "Message").as_deref(),
            Some("Tom & Jerry AB <raw>\nRequestId:1")
        );
        assert_eq!(
            error_body_text(body, "AuthenticationErrorDetail").as_deref(),
            Some("Lifetime validation failed. The token is expired.")
        );
        assert_eq!(error_body_text(body, "Missing"), None);
        assert_eq!(error_body_text(b"<Error><Message>cut", "Message"), None);
        assert_eq!(error_body_text(b"not xml at all", "Message"), None);
        assert_eq!(error_body_text(&[0xff, 0xfe], "Message"), None);
    }

    #[test]
    fn content_range_and_retry_after_parsing() {
        assert_eq!(
            parse_content_range("bytes 10-19/100"),
            Some((10, Some(100)))
        );
        assert_eq!(parse_content_range("bytes 0-0/*"), Some((0, None)));
        assert_eq!(parse_content_range("items 0-1/2"), None);
        let mut headers = Headers::new();
        headers.insert("retry-after", "3");
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        let mut headers = Headers::new();
        headers.insert("x-ms-retry-after-ms", "1500");
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
    }
}
