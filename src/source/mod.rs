//! Where repaired bytes come from.
//!
//! The repair engine asks a [`BlobSource`] for byte ranges and properties of the blobs an
//! export job wrote. Two implementations exist: [`azure::AzureBlobSource`] (Azure Blob storage or
//! Azurite, through the official `azure_storage_blob` crate) and [`mirror::MirrorSource`] (a
//! local directory laid out `<container>/<blob name>`, e.g. a second copy of the data).
//!
//! This module depends on nothing else in the crate but `sanitize`, never prints, and reports failures as
//! [`SourceError`] values so the engine can turn them into per-component statuses.

pub mod azure;
pub mod mirror;

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// Hears of a long wait before a source tries again (what failed, and when it tries again).
pub type RetryNotice = Arc<dyn Fn(String) + Send + Sync>;

/// What a source call started through [`retrying_until`] stops on, and who hears of its
/// long waits.
#[derive(Clone)]
struct RetryScope {
    stop: CancellationToken,
    notice: Option<RetryNotice>,
}

tokio::task_local! {
    /// Once cancelled, a source starts no new attempt and sleeps no backoff: what is in flight
    /// finishes, nothing more is asked.
    static RETRY_SCOPE: RetryScope;
}

/// Runs a source call that ends with [`SourceError::Stopped`] instead of retrying once `stop`
/// is cancelled (an attempt already under way finishes); `notice`, if given, hears of every
/// wait long enough for a person to wonder (a throttled storage may ask for minutes).
pub async fn retrying_until<F: Future>(
    stop: CancellationToken,
    notice: Option<RetryNotice>,
    call: F,
) -> F::Output {
    RETRY_SCOPE.scope(RetryScope { stop, notice }, call).await
}

/// The current call's stop, if it was started through [`retrying_until`].
fn retry_stop() -> Option<CancellationToken> {
    RETRY_SCOPE.try_with(|scope| scope.stop.clone()).ok()
}

/// Tells the current call's notice, if it has one, of a wait before trying again.
fn tell_retry(message: String) {
    let _ = RETRY_SCOPE.try_with(|scope| {
        if let Some(notice) = &scope.notice {
            notice(message);
        }
    });
}

/// A wait before trying again at least this long is told (see [`retrying_until`]).
const TOLD_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

use std::fmt;

/// One blob (or one snapshot of it) as the copy log and manifest name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobRef {
    /// Container name; `$root` for blobs in the root container.
    pub container: String,
    /// Blob name inside the container, `/`-separated, never starting with `/`.
    pub name: String,
    /// Snapshot timestamp exactly as the service wrote it (passed on verbatim), if the export
    /// read a snapshot.
    pub snapshot: Option<String>,
}

impl BlobRef {
    /// Parses `<container>/<blob name>` (the copy log's `BlobPath`); one leading `/` is tolerated.
    ///
    /// Blob names with `.` or `..` segments are refused: a URL cannot address them (every HTTP
    /// stack normalises them away) and on a local mirror they would escape the container.
    pub fn parse(blob_path: &str, snapshot: Option<&str>) -> Result<Self, SourceError> {
        let invalid = |reason: &'static str| SourceError::InvalidPath {
            path: blob_path.to_owned(),
            reason,
        };
        let path = blob_path.strip_prefix('/').unwrap_or(blob_path);
        let (container, name) = path
            .split_once('/')
            .ok_or_else(|| invalid("expected <container>/<blob name>"))?;
        if !is_valid_container_name(container) {
            return Err(invalid(
                "container names are 3-63 lowercase letters, digits and single hyphens, or $root",
            ));
        }
        if name.is_empty() {
            return Err(invalid("the blob name is empty"));
        }
        // Characters, as Azure counts them, not the UTF-8 bytes.
        if name.chars().count() > 1024 {
            return Err(invalid("blob names are at most 1024 characters"));
        }
        if name.contains('\0') {
            return Err(invalid("the blob name contains NUL"));
        }
        if name
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        {
            return Err(invalid("'.' and '..' segments cannot be addressed"));
        }
        let snapshot = snapshot.map(str::trim).filter(|s| !s.is_empty());
        Ok(Self {
            container: container.to_owned(),
            name: name.to_owned(),
            snapshot: snapshot.map(str::to_owned),
        })
    }
}

/// `container/name`, followed by `?snapshot=…` for a snapshot: the form used in messages.
impl fmt::Display for BlobRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.container, self.name)?;
        if let Some(snapshot) = &self.snapshot {
            write!(f, "?snapshot={snapshot}")?;
        }
        Ok(())
    }
}

/// Azure's container naming rules (plus the special containers an export can read).
fn is_valid_container_name(name: &str) -> bool {
    if matches!(name, "$root" | "$logs" | "$web") {
        return true;
    }
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
        && !name.contains("--")
}

/// Preconditions that pin a read to the blob's state at export time, so that bytes of a newer
/// version are never mixed into the drive. A failed condition is [`SourceError::Changed`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadConditions {
    /// The copy log's `LastModified`: the blob must not have been modified after it.
    pub if_unmodified_since: Option<time::OffsetDateTime>,
    /// The properties file's `Etag`, when known: the blob must still have it.
    pub if_match: Option<String>,
}

/// What Get Blob Properties says about a blob: the properties file's element set plus metadata.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "snake_case")]
pub struct BlobProperties {
    /// `Last-Modified`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_modified: Option<time::OffsetDateTime>,
    /// `ETag`, with its quotes as the service sends it.
    pub etag: Option<String>,
    /// Blob size in bytes.
    pub content_length: u64,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-MD5`, base64 as in the header (that is also how the properties file holds it).
    pub content_md5: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// User metadata (`x-ms-meta-*`), sorted by name. Azure: see `AzureBlobSource::properties`
    /// for how names keep their case.
    pub metadata: Vec<(String, String)>,
    /// `x-ms-blob-type: PageBlob`: the blob may have empty pages ([`BlobSource::page_ranges`]).
    pub page_blob: bool,
}

/// The longest range the storage gives its MD5 of (`x-ms-range-get-content-md5`).
pub const RANGE_MD5_LIMIT: u64 = 4 * 1024 * 1024;

/// A place to read exported blobs from again.
#[async_trait::async_trait]
pub trait BlobSource: Send + Sync {
    /// Bytes `[offset, offset+length)` of the blob (or its snapshot), honouring the conditions.
    /// Exactly `length` bytes or an error; a zero length returns no bytes without a request.
    async fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<bytes::Bytes, SourceError>;

    /// [`Self::read_range`], the bytes handed to `sink` in order as they arrive (in pieces of
    /// any size, together exactly `length` bytes when it succeeds), so that they can be
    /// checked while the rest is on its way and kept without being copied. On an error `sink`
    /// may have had some of them. The default reads the range whole, then hands it over.
    async fn read_range_to(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
        sink: &mut (dyn FnMut(bytes::Bytes) + Send),
    ) -> Result<(), SourceError> {
        let bytes = self.read_range(blob, offset, length, conditions).await?;
        if !bytes.is_empty() {
            sink(bytes);
        }
        Ok(())
    }

    /// [`Self::read_range_to`], asking the storage for its own MD5 of the range (Azure's
    /// `x-ms-range-get-content-md5`, for a range of at most [`RANGE_MD5_LIMIT`] bytes): the
    /// MD5 the storage sent with the bytes, if it sent one. Bytes with no hash of their own
    /// are checked against it, so that bytes damaged on the way are not written. The default
    /// sends none.
    async fn read_range_with_md5_to(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
        sink: &mut (dyn FnMut(bytes::Bytes) + Send),
    ) -> Result<Option<crate::md5::Md5>, SourceError> {
        self.read_range_to(blob, offset, length, conditions, sink)
            .await
            .map(|()| None)
    }

    /// Whether [`Self::read_range_with_md5_to`] sends the storage's MD5 (Azure does; a local
    /// mirror has none to send, so its reads are not split for it).
    fn sends_range_md5(&self) -> bool {
        false
    }

    /// Properties and metadata of the blob (or its snapshot), honouring the conditions.
    async fn properties(
        &self,
        blob: &BlobRef,
        conditions: &ReadConditions,
    ) -> Result<BlobProperties, SourceError>;

    /// Where a page blob holds data (Get Page Ranges), as sorted, disjoint `[start, end)`
    /// ranges within its `length`, pinned by `conditions` like a read; the rest of the blob is
    /// empty pages, which read as zeros. None when the source cannot tell (the whole blob is
    /// then read), as for a local mirror.
    async fn page_ranges(
        &self,
        _blob: &BlobRef,
        _length: u64,
        _conditions: &ReadConditions,
    ) -> Result<Option<Vec<std::ops::Range<u64>>>, SourceError> {
        Ok(None)
    }

    /// A short description without secrets, e.g.
    /// `Azure http://127.0.0.1:10000/devstoreaccount1 (account key)`.
    fn describe(&self) -> String;

    /// Gets whatever credential the source needs before the first read (an Entra ID token),
    /// so that one that cannot be had stops a run before it starts. Most sources need none.
    async fn sign_in(&self) -> Result<(), SourceError> {
        Ok(())
    }
}

/// Why a source could not deliver. Messages never contain an account key or SAS signature.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// 401/403: the storage refused the credentials (wrong or rotated key, expired SAS, missing
    /// permission). Never retried; the CLI maps it to exit code 3.
    #[error("storage refused the credentials (HTTP {status}): {message}")]
    Auth {
        status: u16,
        message: String,
        /// What was refused: a key or SAS, or an Entra ID identity (which needs a data role).
        credentials: CredentialKind,
    },

    /// Signing in with Entra ID gave no token (not signed in to the Azure CLI, a service
    /// principal's secret refused, no managed identity). Never retried; exit code 3 as a
    /// refusal.
    #[error("cannot sign in with Entra ID: {message}")]
    SignIn { message: String },

    /// The credentials cannot read this blob, known before asking (a SAS for another
    /// container): a refusal, as the storage's would be (exit code 3).
    #[error("the credentials cannot read {blob}: {reason}")]
    NotCovered { blob: String, reason: String },

    /// 404: the blob, its snapshot or its container does not exist (any more).
    #[error("blob {blob} not found")]
    NotFound { blob: String },

    /// 412: a [`ReadConditions`] precondition failed, or the blob changed between two parts of
    /// one read. The component fails; the bytes are not used.
    #[error("blob {blob} changed since export")]
    Changed { blob: String },

    /// 416, or the blob is shorter than the requested range.
    #[error(
        "blob {blob} has no bytes [{offset}, {end}){}",
        available.map(|n| format!(" (it is {n} bytes long)")).unwrap_or_default()
    )]
    OutOfRange {
        blob: String,
        offset: u64,
        end: u64,
        /// The blob's length, when the service or file system told it.
        available: Option<u64>,
    },

    /// Retries exhausted on failures that may pass: 408/429/5xx, timeouts, broken connections.
    /// Its words start with [`UNAVAILABLE`].
    #[error("storage unavailable after {attempts} attempts: {last}")]
    Transient { attempts: u32, last: String },

    /// A status that retrying cannot fix and that none of the variants above describes
    /// (e.g. 400, 409); `code` is the service's `x-ms-error-code`.
    #[error("storage answered HTTP {status} ({}): {message}", code.as_deref().unwrap_or("no error code"))]
    Service {
        status: u16,
        code: Option<String>,
        message: String,
    },

    /// The service answered something that cannot be right (more bytes than asked, a range
    /// other than the one requested, an unparsable header).
    #[error("unexpected response for {blob}: {message}")]
    Protocol { blob: String, message: String },

    /// A blob path that cannot be used (malformed, or unsafe on a local mirror).
    #[error("invalid blob path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },

    /// The source could not be set up (bad endpoint, key that is not base64, malformed SAS,
    /// missing mirror directory).
    #[error("source configuration: {0}")]
    Config(String),

    /// The run was stopped while this request waited to be retried.
    #[error("stopped before the request could be retried")]
    Stopped,

    /// Reading the local mirror failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SourceError {
    /// The credentials the storage refused, or that gave no token: a rerun with other
    /// credentials (or the same identity, given the role it lacks) resumes the run.
    pub fn refused_credentials(&self) -> Option<CredentialKind> {
        match self {
            SourceError::Auth { credentials, .. } => Some(*credentials),
            SourceError::SignIn { .. } => Some(CredentialKind::EntraId),
            SourceError::NotCovered { .. } => Some(CredentialKind::KeyOrSas),
            _ => None,
        }
    }
}

/// The kind of credentials a source reads with, as a refusal names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// An account key or a SAS (or none, for a public container).
    #[default]
    KeyOrSas,
    /// A Microsoft Entra ID sign-in: a refusal means the identity lacks a data role, or signing
    /// in failed.
    EntraId,
}

/// How a [`SourceError::Transient`] starts in words: a failure the repair file recorded with
/// this reason was the storage out of reach (what `report --repair-file` tells from it).
pub const UNAVAILABLE: &str = "storage unavailable after ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transient_error_starts_with_its_words() {
        let error = SourceError::Transient {
            attempts: 6,
            last: "HTTP 503".into(),
        };
        assert!(error.to_string().starts_with(UNAVAILABLE), "{error}");
    }

    /// Seen failing: a name of 605 `ü` (1,210 UTF-8 bytes), which Azure and Azurite take,
    /// was refused as longer than 1,024 characters; 1,024 of them are within the limit.
    #[test]
    fn a_blob_name_is_counted_in_characters() {
        let long = format!("cont/{}", "ü".repeat(1024));
        assert!(BlobRef::parse(&long, None).is_ok());
        let longer = format!("cont/{}", "a".repeat(1025));
        let error = BlobRef::parse(&longer, None).unwrap_err().to_string();
        assert!(error.contains("at most 1024 characters"), "{error}");
    }

    #[test]
    fn parses_container_and_nested_name() {
        let blob = BlobRef::parse("pictures/wild/desert.jpg", None).unwrap();
        assert_eq!(blob.container, "pictures");
        assert_eq!(blob.name, "wild/desert.jpg");
        assert_eq!(blob.snapshot, None);
        assert_eq!(blob.to_string(), "pictures/wild/desert.jpg");
    }

    #[test]
    fn parses_root_container_leading_slash_and_snapshot() {
        let blob = BlobRef::parse("/$root/a b.txt", Some("2024-01-02T03:04:05.1234567Z")).unwrap();
        assert_eq!(blob.container, "$root");
        assert_eq!(blob.name, "a b.txt");
        assert_eq!(
            blob.snapshot.as_deref(),
            Some("2024-01-02T03:04:05.1234567Z")
        );
        assert_eq!(
            blob.to_string(),
            "$root/a b.txt?snapshot=2024-01-02T03:04:05.1234567Z"
        );
        // An empty Snapshot attribute means "no snapshot".
        assert_eq!(BlobRef::parse("c12/x", Some(" ")).unwrap().snapshot, None);
    }

    #[test]
    fn refuses_malformed_paths() {
        for bad in [
            "noslash",
            "Upper/x",
            "ab/x",
            "-abc/x",
            "a--b/x",
            "abc/",
            "abc/../x",
            "abc/x/./y",
            "abc/x\0y",
        ] {
            let err = BlobRef::parse(bad, None).unwrap_err();
            assert!(
                matches!(&err, SourceError::InvalidPath { path, .. } if path == bad),
                "{bad:?} gave {err:?}"
            );
        }
        // A dot inside a segment is an ordinary character.
        assert_eq!(BlobRef::parse("abc/x..y/.z", None).unwrap().name, "x..y/.z");
    }

    #[test]
    fn changed_message_names_the_reason_the_report_shows() {
        let err = SourceError::Changed {
            blob: "c1x/a".into(),
        };
        assert_eq!(err.to_string(), "blob c1x/a changed since export");
        let err = SourceError::OutOfRange {
            blob: "c1x/a".into(),
            offset: 10,
            end: 20,
            available: Some(15),
        };
        assert_eq!(
            err.to_string(),
            "blob c1x/a has no bytes [10, 20) (it is 15 bytes long)"
        );
    }

    #[test]
    fn properties_round_trip_through_json() {
        let props = BlobProperties {
            last_modified: Some(time::macros::datetime!(2012-09-18 23:47:08 UTC)),
            etag: Some("\"0x8CF2A5B1F6A3E4C\"".into()),
            content_length: 163840,
            content_type: Some("image/jpeg".into()),
            content_md5: Some("Q2hlY2sgSW50ZWdyaXR5IQ==".into()),
            metadata: vec![("Author".into(), "me".into())],
            ..Default::default()
        };
        let json = serde_json::to_string(&props).unwrap();
        let back: BlobProperties = serde_json::from_str(&json).unwrap();
        assert_eq!(back, props);
    }
}
