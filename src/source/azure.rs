//! Azure Blob storage (and Azurite) as a [`BlobSource`], on the official `azure_storage_blob` crate.
//!
//! What the crate does not do, this module adds around it:
//! - **Shared Key**: the crate only knows Entra ID tokens, so an account key is turned into a
//!   per-try pipeline policy ([`SharedKeyPolicy`]) that signs every request, retries included,
//!   with the documented string-to-sign. A SAS needs no policy: it goes into the URL
//!   ([`sas`]). With neither, the source signs in with Entra ID ([`entra`]) and the crate sends
//!   the token.
//! - **Trust**: HTTPS through the system store plus `SSL_CERT_FILE` ([`transport`]).
//! - **Resuming broken bodies**: the crate retries status codes and failed connections, not a
//!   body that breaks half-way. [`AzureBlobSource::read_range_to`] hands the bytes on as they
//!   arrive and asks for the rest from where a body broke, pinned with `If-Match` to the ETag of
//!   the first answer so that two versions are never mixed.
//! - **Timeouts** tuned for a repair (the crate's transport waits 60 s on a silent socket).
//!
//! One retry budget covers everything (the crate's own retry policy is switched off): status
//! 408/429/500/502/503/504, connection failures, timeouts and broken bodies, with exponential
//! backoff, jitter and `Retry-After`. Stacking two retry loops would multiply the attempts and
//! make [`SourceError::Transient`]'s count meaningless. 401/403 are never retried.
//!
//! All requests of one source share one HTTP client, so connections are reused. The storage's
//! answers (property headers, error bodies, `Retry-After`) are read in `responses`.

use std::{fmt, num::NonZero, sync::Arc, time::Duration};

use azure_core::{
    error::ErrorKind,
    http::{ClientOptions, Etag, RetryOptions, Url, policies::Policy},
};
use azure_storage_blob::{
    BlobClient, BlobClientOptions,
    models::{BlobClientDownloadOptions, BlobClientGetPropertiesOptions},
};
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;

use super::{BlobProperties, BlobRef, BlobSource, CredentialKind, ReadConditions, SourceError};
use crate::md5::Md5;
use crate::sanitize::redact_secrets_with;

pub mod entra;
mod list;
mod pages;
mod responses;
pub mod sas;
mod shared_key;
mod transport;

use entra::EntraCredential;
pub use entra::{EntraEnvironment, EntraMethod};
pub use list::ListedBlob;
pub(crate) use responses::error_chain;
use responses::{
    error_body_text, header, out_of_range, parse_content_range, properties_from, protocol,
    retry_after,
};
use sas::{Sas, encode_path};
pub use shared_key::{SharedKeyPolicy, string_to_sign};

/// How the source proves who it is. `Debug` never shows the secret.
#[derive(Clone)]
pub enum AzureCredential {
    /// The storage account key (base64, as the portal shows it).
    AccountKey(String),
    /// A SAS: `<container>?<sas>` as the v1 tool's `/csas:` took it, a full container URL with the
    /// SAS as query, or a bare `sv=…&sig=…` token for any container.
    Sas(String),
    /// Microsoft Entra ID: the chain of [`entra`], or the one method named.
    EntraId(Option<EntraMethod>),
}

impl fmt::Debug for AzureCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AccountKey(_) => f.write_str("AccountKey(<redacted>)"),
            Self::Sas(_) => f.write_str("Sas(<redacted>)"),
            Self::EntraId(method) => write!(f, "EntraId({method:?})"),
        }
    }
}

/// Retry and timeout knobs. The defaults suit Azure; tests shorten them.
#[derive(Debug, Clone)]
pub struct RetrySettings {
    /// Attempts per request before giving up with [`SourceError::Transient`] (1 = no retry).
    /// A resumed body that made progress does not use up the budget.
    pub max_attempts: u32,
    /// First backoff; doubled for every further failure, jittered to 50–100 %.
    pub initial_backoff: Duration,
    /// Ceiling of the exponential backoff.
    pub max_backoff: Duration,
    /// Ceiling for a server's `Retry-After`, so a bogus value cannot park a worker for hours.
    pub max_retry_after: Duration,
    /// Time allowed from sending a request (connecting included) to its response headers.
    pub response_timeout: Duration,
    /// Longest silence allowed while a body is streaming, and the window over which a body
    /// must keep [`MIN_BYTES_PER_SECOND`]: a stalled or trickling body is resumed.
    pub read_timeout: Duration,
}

/// The slowest a body may arrive, on average over a `read_timeout` window (64 KiB/s: a 4 MiB
/// block in a minute), before it is dropped and resumed.
pub const MIN_BYTES_PER_SECOND: u64 = 64 * 1024;

impl RetrySettings {
    /// `--read-timeout`: connecting, the first byte and every silence of a body obey it, and
    /// it is the window of the minimum rate.
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self.read_timeout = timeout;
        self
    }
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            response_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything needed to reach the account.
#[derive(Debug, Clone)]
pub struct AzureSourceConfig {
    /// Storage account name (`/sn:`).
    pub account: String,
    /// `/BlobEndpoint:`; default `https://<account>.blob.core.windows.net`. Azurite:
    /// `http://127.0.0.1:<port>/devstoreaccount1`.
    pub endpoint: Option<String>,
    pub credential: AzureCredential,
    pub retry: RetrySettings,
    /// CA certificates to trust beside the system store (`SSL_CERT_FILE`).
    pub ssl_cert_file: Option<std::path::PathBuf>,
    /// What Entra ID sign-in reads from the environment.
    pub entra_environment: EntraEnvironment,
}

impl AzureSourceConfig {
    /// A configuration that takes `SSL_CERT_FILE` and the Entra ID variables from this
    /// process's environment.
    pub fn new(account: impl Into<String>, credential: AzureCredential) -> Self {
        Self {
            account: account.into(),
            endpoint: None,
            credential,
            retry: RetrySettings::default(),
            ssl_cert_file: std::env::var_os("SSL_CERT_FILE")
                .filter(|file| !file.is_empty())
                .map(Into::into),
            entra_environment: EntraEnvironment::from_process(),
        }
    }
}

enum Auth {
    SharedKey,
    Sas(Sas),
    EntraId(Arc<EntraCredential>),
}

/// Azure Blob storage or Azurite, read through `azure_storage_blob`.
pub struct AzureBlobSource {
    /// Account endpoint without a trailing `/`.
    endpoint: Url,
    auth: Auth,
    /// Shared by every client: one transport (connection pool), no crate retries, the signer.
    client_options: ClientOptions,
    retry: RetrySettings,
    /// Secrets to mask in every message that leaves this module.
    secrets: Vec<String>,
}

impl fmt::Debug for AzureBlobSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureBlobSource")
            .field("describe", &self.describe())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// A storage account's name is 3 to 24 lower-case letters and digits (it is a DNS label). A name
/// of another shape is refused before anything is asked of the storage, and shown only when
/// it is short enough to be a name (a key given in its place must not be echoed).
fn check_account_name(account: &str) -> Result<(), SourceError> {
    let is_name = (3..=24).contains(&account.len())
        && account
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if is_name {
        return Ok(());
    }
    let given = if account.chars().count() <= 24 {
        format!("{:?}", crate::sanitize::escape_controls(account))
    } else {
        format!("given ({} characters)", account.chars().count())
    };
    Err(SourceError::Config(format!(
        "the storage account name {given} is not one: a storage account's name is 3 to 24 \
         lowercase letters and digits, as the Azure portal shows it (--account or /sn: takes \
         the name, --account-key or /sk: the key)"
    )))
}

impl AzureBlobSource {
    pub fn new(config: AzureSourceConfig) -> Result<Self, SourceError> {
        // A name is lower case; one typed with capitals (`/sn:MyAccount`) is the same account.
        let account = config.account.trim().to_ascii_lowercase();
        let account = account.as_str();
        check_account_name(account)?;
        let mut secrets = Vec::new();
        let mut per_try_policies: Vec<Arc<dyn Policy>> = Vec::new();
        let mut endpoint_from_sas = None;
        // Storage clients must not decompress: a blob stored with `Content-Encoding: gzip`
        // is exported as stored, byte for byte.
        let transport = transport::transport(config.ssl_cert_file.as_deref())?;
        let auth = match &config.credential {
            AzureCredential::AccountKey(key) => {
                let key = key.trim();
                secrets.push(key.to_owned());
                per_try_policies.push(Arc::new(SharedKeyPolicy::new(account, key)?));
                Auth::SharedKey
            }
            AzureCredential::Sas(text) => {
                let sas = Sas::parse(text)?;
                secrets.extend(sas.signatures().map(str::to_owned));
                endpoint_from_sas = sas.endpoint.clone();
                Auth::Sas(sas)
            }
            AzureCredential::EntraId(method) => {
                let sign_in_options = ClientOptions {
                    transport: Some(transport.clone()),
                    ..Default::default()
                };
                Auth::EntraId(Arc::new(EntraCredential::new(
                    *method,
                    &config.entra_environment,
                    &sign_in_options,
                )?))
            }
        };
        // An explicit endpoint wins over the one a full SAS URL implies.
        let endpoint_text = match (&config.endpoint, endpoint_from_sas) {
            (Some(explicit), _) => explicit.trim().to_owned(),
            (None, Some(from_sas)) => from_sas,
            (None, None) => format!("https://{account}.blob.core.windows.net"),
        };
        let endpoint = Url::parse(endpoint_text.trim_end_matches('/')).map_err(|e| {
            // Text with an `@` may hold a password no parse found the end of: not shown.
            let shown = match endpoint_text.contains('@') {
                true => "(not shown: it holds an `@`, as a user name and password would)".into(),
                false => format!("{:?}", redact_url_text(&endpoint_text)),
            };
            SourceError::Config(format!("invalid blob endpoint {shown}: {e}"))
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.cannot_be_a_base() {
            return Err(SourceError::Config(format!(
                "the blob endpoint must be an http(s) URL, not {:?}",
                redact_url_text(&endpoint_text)
            )));
        }
        if !endpoint.username().is_empty() || endpoint.password().is_some() {
            return Err(SourceError::Config(
                "the blob endpoint must not carry a user name or password (`user:…@`); give \
                 the account key, a SAS or Entra ID as the credential"
                    .into(),
            ));
        }
        if endpoint.query().is_some() || endpoint.fragment().is_some() {
            return Err(SourceError::Config(
                "the blob endpoint must not carry a query; give a SAS as the credential".into(),
            ));
        }
        if matches!(auth, Auth::EntraId(_)) && endpoint.scheme() != "https" {
            return Err(SourceError::Config(format!(
                "Entra ID tokens are only sent over HTTPS, and the blob endpoint {endpoint} is \
                 not; give an https:// endpoint, or the account key or a SAS"
            )));
        }
        let client_options = ClientOptions {
            per_try_policies,
            retry: RetryOptions::none(),
            transport: Some(transport),
            ..Default::default()
        };
        Ok(Self {
            endpoint,
            auth,
            client_options,
            retry: config.retry,
            secrets,
        })
    }

    /// Masks this source's secrets (and any `sig=`) in `text`.
    pub fn redact(&self, text: &str) -> String {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        redact_secrets_with(text, &secrets)
    }

    /// The blob's URL (SAS included), for a client of the official crate.
    fn blob_url(&self, blob: &BlobRef) -> Result<Url, SourceError> {
        if let Auth::Sas(Sas {
            container: Some(container),
            ..
        }) = &self.auth
            && *container != blob.container
        {
            return Err(SourceError::NotCovered {
                blob: blob.to_string(),
                reason: format!(
                    "the SAS is for container {container:?}, but the blob is in {:?} (give a \
                     SAS for {:?}, or an account SAS)",
                    blob.container, blob.container
                ),
            });
        }
        let text = format!(
            "{}/{}/{}",
            self.endpoint.as_str().trim_end_matches('/'),
            encode_path(&blob.container),
            encode_path(&blob.name)
        );
        let mut url = Url::parse(&text).map_err(|e| SourceError::InvalidPath {
            path: blob.to_string(),
            reason: if matches!(e, url::ParseError::Overflow) {
                "the URL is too long"
            } else {
                "the blob name does not form a valid URL"
            },
        })?;
        if let Auth::Sas(sas) = &self.auth {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &sas.params {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    fn blob_client(&self, blob: &BlobRef) -> Result<BlobClient, SourceError> {
        let options = BlobClientOptions {
            client_options: self.client_options.clone(),
            ..Default::default()
        };
        BlobClient::new(self.blob_url(blob)?, self.token_credential(), Some(options))
            .map_err(|e| SourceError::Config(self.redact(&e.to_string())))
    }

    /// The Entra ID credential the crate's clients send tokens of, when signed in that way.
    fn token_credential(&self) -> Option<Arc<dyn azure_core::credentials::TokenCredential>> {
        match &self.auth {
            Auth::EntraId(credential) => {
                Some(Arc::clone(credential) as Arc<dyn azure_core::credentials::TokenCredential>)
            }
            Auth::SharedKey | Auth::Sas(_) => None,
        }
    }

    /// What an attempt that got no answer within the response timeout tells the retry loop.
    fn no_response(&self) -> Failure {
        Failure::Retry {
            message: format!(
                "no response within {} s",
                self.retry.response_timeout.as_secs_f32()
            ),
            retry_after: None,
        }
    }

    /// Waits before attempt `failures + 1`: exponential, jittered, at least the server's
    /// `Retry-After` (capped).
    fn backoff(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .retry
            .initial_backoff
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
            .min(self.retry.max_backoff);
        let half = exp / 2;
        let jitter = half.mul_f64(rand::random::<f64>());
        let delay = half + jitter;
        match retry_after {
            Some(ra) => delay.max(ra.min(self.retry.max_retry_after)),
            None => delay,
        }
    }

    /// Reads `[offset, offset + length)` into `sink`, resuming a broken body from where it
    /// stopped; with `ask_md5`, the MD5 the storage sent for the whole range (continuations,
    /// which ask for the rest only, send none that counts).
    async fn read_ranged(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
        sink: &mut (dyn FnMut(Bytes) + Send),
        ask_md5: bool,
    ) -> Result<Option<Md5>, SourceError> {
        if length == 0 {
            return Ok(None);
        }
        let end = offset
            .checked_add(length)
            .ok_or_else(|| out_of_range(blob, offset, u64::MAX, None))?;
        let client = self.blob_client(blob)?;
        let mut progress = Progress {
            etag_lock: conditions.if_match.clone(),
            delivered: 0,
            sink,
            ask_md5,
            range_md5: None,
        };
        let what = format!("read {blob} [{offset}, {end})");
        let mut budget = Budget::default();
        loop {
            let before = progress.delivered;
            let pos = offset + before;
            // Every byte came before the body broke (a Content-Length longer than the range,
            // a chunked body without its last chunk): nothing is left to ask for.
            if pos == end {
                return Ok(progress.range_md5);
            }
            match self
                .read_once(&client, blob, pos, end, conditions, &mut progress)
                .await
            {
                Ok(()) => return Ok(progress.range_md5),
                Err(failure) => {
                    let progressed = match &failure {
                        Failure::TooSlow { at_rate, .. } => *at_rate > 0,
                        _ => progress.delivered > before,
                    };
                    self.after_failure(&mut budget, &what, failure, progressed)
                        .await?;
                }
            }
        }
    }

    /// One Get Blob for `[pos, end)`, handing what arrives to `sink` (also when it fails).
    async fn read_once(
        &self,
        client: &BlobClient,
        blob: &BlobRef,
        pos: u64,
        end: u64,
        conditions: &ReadConditions,
        progress: &mut Progress<'_>,
    ) -> Result<(), Failure> {
        let Progress {
            etag_lock,
            delivered,
            sink,
            ask_md5,
            range_md5,
        } = progress;
        // The whole range's MD5 is asked for with its first request only.
        let ask_md5 = *ask_md5 && *delivered == 0;
        let remaining = end - pos;
        let partition = usize::try_from(remaining)
            .ok()
            .and_then(NonZero::new)
            .ok_or_else(|| Failure::Fatal(out_of_range(blob, pos, end, None)))?;
        let options = BlobClientDownloadOptions {
            // The crate sends the standard `Range` header; Azure and Azurite treat it exactly
            // like `x-ms-range` (which would only duplicate it).
            range: Some((pos..end).into()),
            if_match: etag_lock.clone().map(Etag::from),
            if_unmodified_since: conditions.if_unmodified_since.map(utc),
            snapshot: blob.snapshot.clone(),
            range_get_content_md5: ask_md5.then_some(true),
            // One request for the whole range: the engine decides about parallelism.
            parallel: NonZero::new(1),
            partition_size: Some(partition),
            ..Default::default()
        };
        let response =
            match tokio::time::timeout(self.retry.response_timeout, client.download(Some(options)))
                .await
            {
                Err(_) => return Err(self.no_response()),
                Ok(Err(e)) => return Err(self.classify(e, blob, Some((pos, end)))),
                Ok(Ok(response)) => response,
            };
        responses::answered_as_pinned(
            blob,
            etag_lock.as_deref(),
            conditions.if_unmodified_since,
            &response.headers,
        )
        .map_err(Failure::Fatal)?;

        // Where does the body start, and is the blob long enough?
        let (start, total) = match header(&response.headers, "content-range") {
            Some(value) => parse_content_range(value).ok_or_else(|| {
                Failure::Fatal(protocol(blob, format!("bad Content-Range {value:?}")))
            })?,
            // 200 without a range: the crate re-asks without a range when an empty blob
            // answers 416; the body is then the whole blob.
            None => (0, response.properties.content_length),
        };
        if let Some(total) = total
            && total < end
        {
            return Err(Failure::Fatal(out_of_range(blob, pos, end, Some(total))));
        }
        if start > pos {
            return Err(Failure::Fatal(protocol(
                blob,
                format!("asked for bytes from {pos}, got bytes from {start}"),
            )));
        }
        if ask_md5 {
            *range_md5 = header(&response.headers, "content-md5").and_then(Md5::from_base64);
        }
        // Pin any continuation to this version of the blob.
        if etag_lock.is_none() {
            *etag_lock = header(&response.headers, "etag").map(str::to_owned);
        }

        let mut skip = pos - start;
        let mut body = response.body;
        let mut received: u64 = 0;
        let mut window = RateWindow::new(self.retry.read_timeout);
        loop {
            let next = match tokio::time::timeout(window.time_left(), body.next()).await {
                Ok(next) => next,
                Err(_) => {
                    // Nothing came before the window ended (a stall): judge it, then wait on.
                    window.check(received)?;
                    continue;
                }
            };
            match next {
                None => break,
                Some(Ok(mut chunk)) => {
                    if skip > 0 {
                        let n = skip.min(chunk.len() as u64);
                        chunk = chunk.slice(n as usize..);
                        skip -= n;
                    }
                    if received + chunk.len() as u64 > remaining {
                        return Err(Failure::Fatal(protocol(
                            blob,
                            format!("more than the {remaining} bytes asked for"),
                        )));
                    }
                    received += chunk.len() as u64;
                    *delivered += chunk.len() as u64;
                    if !chunk.is_empty() {
                        // The body's own buffers, handed on without a copy.
                        sink(chunk);
                    }
                    if window.is_over() {
                        window.check(received)?;
                    }
                }
                Some(Err(e)) => {
                    return Err(Failure::Retry {
                        message: format!(
                            "body broke after {received} bytes: {}",
                            self.redact(&e.to_string())
                        ),
                        retry_after: None,
                    });
                }
            }
        }
        if received < remaining {
            return Err(Failure::Retry {
                message: format!("body ended after {received} of {remaining} bytes"),
                retry_after: None,
            });
        }
        Ok(())
    }

    /// What an error body says: the first line of its `<Message>` (later lines carry request
    /// ids or quote the string-to-sign); under Entra ID followed by the
    /// `<AuthenticationErrorDetail>` ("The token is expired", "Invalid token audience"). Under
    /// Shared Key that detail quotes the request's signature, so it is left out.
    fn service_message(&self, body: &[u8]) -> Option<String> {
        let message = error_body_text(body, "Message")?;
        let first_line = message.lines().next().unwrap_or_default().trim();
        let detail = match self.auth {
            Auth::EntraId(_) => error_body_text(body, "AuthenticationErrorDetail"),
            Auth::SharedKey | Auth::Sas(_) => None,
        };
        Some(match detail.as_deref().and_then(|d| d.lines().next()) {
            Some(detail) if !detail.trim().is_empty() => {
                format!("{first_line} ({})", detail.trim())
            }
            _ => first_line.to_owned(),
        })
    }

    /// Turns a crate error into a retry decision or a final [`SourceError`].
    fn classify(&self, e: azure_core::Error, blob: &BlobRef, range: Option<(u64, u64)>) -> Failure {
        let (status, code, retry_after, service_message) = match e.kind() {
            ErrorKind::HttpResponse {
                status,
                error_code,
                raw_response,
            } => (
                u16::from(*status),
                error_code.clone(),
                raw_response.as_ref().and_then(|r| retry_after(r.headers())),
                raw_response
                    .as_ref()
                    .and_then(|r| self.service_message(r.body())),
            ),
            ErrorKind::Io | ErrorKind::Connection => {
                return Failure::Retry {
                    message: self.redact(&error_chain(&e)),
                    retry_after: None,
                };
            }
            // No token: signing in (again) failed.
            ErrorKind::Credential => {
                return Failure::Fatal(SourceError::SignIn {
                    message: self.redact(&error_chain(&e)),
                });
            }
            _ => {
                return Failure::Fatal(protocol(blob, self.redact(&error_chain(&e))));
            }
        };
        let message = service_message.unwrap_or_else(|| e.to_string());
        let message = self.redact(message.lines().next().unwrap_or_default().trim());
        let message = match &code {
            Some(code) if !message.contains(code.as_str()) => format!("{code}: {message}"),
            _ => message,
        };
        match status {
            401 | 403 => {
                let (credentials, message) = match &self.auth {
                    Auth::EntraId(credential) => (
                        CredentialKind::EntraId,
                        format!(
                            "{message}; signed in with {}: the identity needs the \"Storage \
                             Blob Data Reader\" role on the storage account or the container \
                             (the Azure portal: Access control (IAM) › Add role assignment), or \
                             give the account key or a SAS instead",
                            credential.describe()
                        ),
                    ),
                    Auth::Sas(sas) => match sas.out_of_time(time::OffsetDateTime::now_utc()) {
                        Some(why) => (CredentialKind::KeyOrSas, format!("{message}; {why}")),
                        None => (CredentialKind::KeyOrSas, message),
                    },
                    Auth::SharedKey => (CredentialKind::KeyOrSas, message),
                };
                Failure::Fatal(SourceError::Auth {
                    status,
                    message,
                    credentials,
                })
            }
            404 => Failure::Fatal(SourceError::NotFound {
                blob: blob.to_string(),
            }),
            412 => Failure::Fatal(SourceError::Changed {
                blob: blob.to_string(),
            }),
            416 => {
                let (offset, end) = range.unwrap_or_default();
                Failure::Fatal(out_of_range(blob, offset, end, None))
            }
            408 | 429 | 500 | 502 | 503 | 504 => Failure::Retry {
                message: format!("HTTP {status}: {message}"),
                retry_after,
            },
            _ => Failure::Fatal(SourceError::Service {
                status,
                code,
                message,
            }),
        }
    }

    /// Decides after a failed attempt: `Err` to give up, `Ok` after waiting to try again.
    async fn after_failure(
        &self,
        budget: &mut Budget,
        what: &str,
        failure: Failure,
        progressed: bool,
    ) -> Result<(), SourceError> {
        let (message, retry_after) = match failure {
            Failure::Fatal(e) => return Err(e),
            Failure::Retry {
                message,
                retry_after,
            } => (message, retry_after),
            Failure::TooSlow { message, .. } => (message, None),
        };
        let max_attempts = self.retry.max_attempts.max(1);
        budget.total += 1;
        // A resumed body that moved forward starts a fresh budget, but never beyond a hard
        // cap (think of a server that drops every connection after one byte).
        budget.failures = if progressed { 1 } else { budget.failures + 1 };
        if budget.failures >= max_attempts || budget.total >= max_attempts.saturating_mul(8) {
            return Err(SourceError::Transient {
                attempts: budget.total,
                last: message,
            });
        }
        let delay = self.backoff(budget.failures, retry_after);
        tracing::debug!(
            target: "export_repair::source",
            "{what}: attempt {} failed ({message}); retrying in {delay:?}",
            budget.total
        );
        let stopping = super::retry_stop().is_some_and(|stop| stop.is_cancelled());
        if delay >= super::TOLD_WAIT && !stopping {
            super::tell_retry(format!(
                "{what}: {message}; trying again in {} s (attempt {} of {max_attempts})",
                delay.as_secs(),
                budget.failures + 1
            ));
        }
        match super::retry_stop() {
            Some(stop) => tokio::select! {
                biased;
                () = stop.cancelled() => Err(SourceError::Stopped),
                () = tokio::time::sleep(delay) => Ok(()),
            },
            None => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
        }
    }
}

/// `at` in UTC: the crate writes the HTTP date from the clock reading, labelled GMT whatever
/// the offset (a copy log's `…+02:00` pinned the blob two hours late).
fn utc(at: time::OffsetDateTime) -> time::OffsetDateTime {
    at.to_offset(time::UtcOffset::UTC)
}

/// The minimum rate of a body, judged over windows of `read_timeout`.
struct RateWindow {
    length: Duration,
    started: tokio::time::Instant,
    received_before: u64,
}

impl RateWindow {
    fn new(length: Duration) -> Self {
        Self {
            length,
            started: tokio::time::Instant::now(),
            received_before: 0,
        }
    }

    fn time_left(&self) -> Duration {
        (self.started + self.length).saturating_duration_since(tokio::time::Instant::now())
    }

    fn is_over(&self) -> bool {
        self.time_left().is_zero()
    }

    /// Ends the window: an error when fewer than the minimum bytes came in it.
    fn check(&mut self, received: u64) -> Result<(), Failure> {
        let seconds = self.length.as_secs_f64();
        let got = received - self.received_before;
        if (got as f64) < MIN_BYTES_PER_SECOND as f64 * seconds {
            let what = if got == 0 { "stalled" } else { "too slow" };
            return Err(Failure::TooSlow {
                message: format!(
                    "body {what}: {got} bytes in {seconds} s (at least {} KiB/s are needed) \
                     after {received} bytes",
                    MIN_BYTES_PER_SECOND / 1024
                ),
                at_rate: self.received_before,
            });
        }
        self.started = tokio::time::Instant::now();
        self.received_before = received;
        Ok(())
    }
}

/// Attempts used so far by one request.
#[derive(Default)]
struct Budget {
    /// Failed attempts in a row without progress.
    failures: u32,
    /// Failed attempts in all.
    total: u32,
}

/// How far a range read is: the ETag that continuations must match, the bytes handed on so
/// far, and where they go.
struct Progress<'a> {
    etag_lock: Option<String>,
    delivered: u64,
    sink: &'a mut (dyn FnMut(Bytes) + Send),
    /// Whether to ask the storage for its MD5 of the range, and the one it sent.
    ask_md5: bool,
    range_md5: Option<Md5>,
}

/// Outcome of one attempt.
enum Failure {
    Fatal(SourceError),
    Retry {
        message: String,
        retry_after: Option<Duration>,
    },
    /// A body below the minimum rate. Only the bytes that came at the rate (before the window
    /// that failed) count as progress: a trickle must not renew the retry budget for ever.
    TooSlow {
        message: String,
        at_rate: u64,
    },
}

#[async_trait::async_trait]
impl BlobSource for AzureBlobSource {
    async fn read_range(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<Bytes, SourceError> {
        let end = offset
            .checked_add(length)
            .ok_or_else(|| out_of_range(blob, offset, u64::MAX, None))?;
        let capacity =
            usize::try_from(length).map_err(|_| out_of_range(blob, offset, end, None))?;
        let mut buf = BytesMut::with_capacity(capacity);
        self.read_range_to(blob, offset, length, conditions, &mut |chunk| {
            buf.extend_from_slice(&chunk);
        })
        .await?;
        Ok(buf.freeze())
    }

    /// The body's own buffers handed to `sink` as they arrive; a body that breaks is resumed
    /// from the byte where it stopped, pinned to the version first read.
    async fn read_range_to(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
        sink: &mut (dyn FnMut(Bytes) + Send),
    ) -> Result<(), SourceError> {
        self.read_ranged(blob, offset, length, conditions, sink, false)
            .await
            .map(|_| ())
    }

    fn sends_range_md5(&self) -> bool {
        true
    }

    async fn read_range_with_md5_to(
        &self,
        blob: &BlobRef,
        offset: u64,
        length: u64,
        conditions: &ReadConditions,
        sink: &mut (dyn FnMut(Bytes) + Send),
    ) -> Result<Option<Md5>, SourceError> {
        let ask = length <= super::RANGE_MD5_LIMIT;
        self.read_ranged(blob, offset, length, conditions, sink, ask)
            .await
    }

    async fn page_ranges(
        &self,
        blob: &BlobRef,
        length: u64,
        conditions: &ReadConditions,
    ) -> Result<Option<Vec<std::ops::Range<u64>>>, SourceError> {
        self.list_page_ranges(blob, length, conditions)
            .await
            .map(Some)
    }

    async fn properties(
        &self,
        blob: &BlobRef,
        conditions: &ReadConditions,
    ) -> Result<BlobProperties, SourceError> {
        let client = self.blob_client(blob)?;
        let what = format!("properties of {blob}");
        let mut budget = Budget::default();
        loop {
            let options = BlobClientGetPropertiesOptions {
                if_match: conditions.if_match.clone().map(Etag::from),
                if_unmodified_since: conditions.if_unmodified_since.map(utc),
                snapshot: blob.snapshot.clone(),
                ..Default::default()
            };
            let failure = match tokio::time::timeout(
                self.retry.response_timeout,
                client.get_properties(Some(options)),
            )
            .await
            {
                Err(_) => self.no_response(),
                Ok(Err(e)) => self.classify(e, blob, None),
                Ok(Ok(response)) => {
                    responses::answered_as_pinned(
                        blob,
                        conditions.if_match.as_deref(),
                        conditions.if_unmodified_since,
                        response.headers(),
                    )?;
                    return properties_from(&response, blob);
                }
            };
            self.after_failure(&mut budget, &what, failure, false)
                .await?;
        }
    }

    /// With Entra ID, gets a token now ([`SourceError::SignIn`] when none can be had).
    async fn sign_in(&self) -> Result<(), SourceError> {
        match &self.auth {
            Auth::EntraId(credential) => credential.sign_in().await.map_err(|error| match error {
                SourceError::SignIn { message } => SourceError::SignIn {
                    message: self.redact(&message),
                },
                other => other,
            }),
            Auth::SharedKey | Auth::Sas(_) => Ok(()),
        }
    }

    fn describe(&self) -> String {
        let auth = match &self.auth {
            Auth::SharedKey => "account key".to_owned(),
            Auth::Sas(Sas {
                container: Some(c), ..
            }) => format!("SAS for container {c}"),
            Auth::Sas(Sas {
                container: None, ..
            }) => "SAS".to_owned(),
            Auth::EntraId(credential) => credential.describe(),
        };
        format!(
            "Azure {} ({auth})",
            self.endpoint.as_str().trim_end_matches('/')
        )
    }
}

/// A URL-ish string for an error message, secrets masked.
fn redact_url_text(text: &str) -> String {
    crate::sanitize::redact_secrets(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV_KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    #[test]
    fn blob_urls_encode_names_and_carry_the_sas() {
        let source = AzureBlobSource::new(AzureSourceConfig {
            endpoint: Some("http://127.0.0.1:10000/devstoreaccount1/".into()),
            retry: RetrySettings::default(),
            ..AzureSourceConfig::new(
                "devstoreaccount1",
                AzureCredential::Sas("c1x?sv=2021-08-06&sp=r&sig=a%2Bb%3D".into()),
            )
        })
        .unwrap();
        let blob = BlobRef::parse("c1x/dir/ünï cödé#1?.bin", None).unwrap();
        let url = source.blob_url(&blob).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1/c1x/dir/%C3%BCn%C3%AF%20c%C3%B6d%C3%A9%231%3F.bin?sv=2021-08-06&sp=r&sig=a%2Bb%3D"
        );
        assert_eq!(
            source.describe(),
            "Azure http://127.0.0.1:10000/devstoreaccount1 (SAS for container c1x)"
        );
        let other = BlobRef::parse("other/x", None).unwrap();
        assert!(matches!(
            source.blob_url(&other),
            Err(SourceError::NotCovered { .. })
        ));
        assert!(!format!("{source:?}").contains("a%2Bb"));
        assert_eq!(source.redact("...sig=a%2Bb%3D&x"), "...sig=<redacted>&x");
    }

    #[test]
    fn default_endpoint_and_description_for_an_account_key() {
        // A name typed with capitals is the account's name in lower case.
        let source = AzureBlobSource::new(AzureSourceConfig::new(
            "MyAcct",
            AzureCredential::AccountKey(DEV_KEY.into()),
        ))
        .unwrap();
        assert_eq!(
            source.describe(),
            "Azure https://myacct.blob.core.windows.net (account key)"
        );
        assert!(!format!("{source:?}").contains("Eby8"));
        assert_eq!(source.redact(&format!("x {DEV_KEY} y")), "x <redacted> y");
        // Anything else that is no account's name is refused, and a long one not shown.
        for (name, shown) in [
            ("my_acct", "\"my_acct\""),
            ("ab", "\"ab\""),
            (DEV_KEY, "given (88 characters)"),
        ] {
            let refused = AzureBlobSource::new(AzureSourceConfig::new(
                name,
                AzureCredential::AccountKey(DEV_KEY.into()),
            ))
            .err()
            .unwrap()
            .to_string();
            assert!(
                refused.contains(shown) && refused.contains("3 to 24"),
                "{refused}"
            );
            assert!(!refused.contains("Eby8"), "{refused}");
        }
    }

    #[test]
    fn backoff_grows_is_jittered_and_honours_retry_after() {
        let mut config =
            AzureSourceConfig::new("acct", AzureCredential::AccountKey(DEV_KEY.into()));
        config.retry.initial_backoff = Duration::from_millis(100);
        config.retry.max_backoff = Duration::from_millis(1000);
        config.retry.max_retry_after = Duration::from_secs(5);
        let source = AzureBlobSource::new(config).unwrap();
        for _ in 0..50 {
            let first = source.backoff(1, None);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first));
            let third = source.backoff(3, None);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third));
            let capped = source.backoff(30, None);
            assert!((Duration::from_millis(500)..=Duration::from_millis(1000)).contains(&capped));
            assert!(source.backoff(1, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
            assert_eq!(
                source.backoff(1, Some(Duration::from_secs(3600))),
                Duration::from_secs(5)
            );
        }
    }
}
