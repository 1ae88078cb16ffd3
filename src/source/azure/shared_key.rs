//! Shared Key: the account key turned into a per-try pipeline policy that signs every
//! request (retries included) with the documented string-to-sign, since the storage crate only
//! knows Entra ID tokens.

use std::{fmt, sync::Arc};

use azure_core::http::{
    Context, Request, Url,
    policies::{Policy, PolicyResult},
};
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use hmac::{KeyInit as _, Mac as _};

use crate::source::SourceError;

/// A per-try pipeline policy that authorizes each request with Shared Key: it stamps
/// `x-ms-date` and adds `Authorization: SharedKey <account>:<signature>`, where the signature
/// is base64(HMAC-SHA256(base64-decoded key, [`string_to_sign`])). Per try, because a retried
/// request needs a fresh date. `Debug` shows the account only.
#[derive(Clone)]
pub struct SharedKeyPolicy {
    account: String,
    key: Arc<[u8]>,
}

impl fmt::Debug for SharedKeyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKeyPolicy")
            .field("account", &self.account)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SharedKeyPolicy {
    /// `key_base64` is the account key as the portal shows it.
    pub fn new(account: &str, key_base64: &str) -> Result<Self, SourceError> {
        let key = BASE64.decode(key_base64.trim()).map_err(|_| {
            SourceError::Config("the storage account key is not valid base64".into())
        })?;
        if key.is_empty() {
            return Err(SourceError::Config(
                "the storage account key is empty".into(),
            ));
        }
        Ok(Self {
            account: account.to_owned(),
            key: key.into(),
        })
    }

    /// base64(HMAC-SHA256(key, string_to_sign)).
    #[expect(
        clippy::expect_used,
        reason = "HMAC-SHA256 accepts keys of any length: new_from_slice cannot fail"
    )]
    pub fn sign(&self, string_to_sign: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(string_to_sign.as_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    }

    /// Stamps `x-ms-date` and `Authorization` on `request`.
    pub fn authorize(&self, request: &mut Request) {
        let now = time::OffsetDateTime::now_utc();
        request.insert_header("x-ms-date", azure_core::time::to_rfc7231(&now));
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
            .collect();
        let body_len = request.body().len().unwrap_or(0);
        let sts = string_to_sign(
            request.method().as_str(),
            request.url(),
            &headers,
            body_len,
            &self.account,
        );
        let signature = self.sign(&sts);
        request.insert_header(
            "authorization",
            format!("SharedKey {}:{signature}", self.account),
        );
    }
}

#[async_trait::async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        self.authorize(request);
        next[0].send(ctx, request, &next[1..]).await
    }
}

/// The Shared Key string-to-sign for Blob service version 2015-02-21 and later:
///
/// ```text
/// VERB \n Content-Encoding \n Content-Language \n Content-Length (empty when 0) \n Content-MD5 \n
/// Content-Type \n Date \n If-Modified-Since \n If-Match \n If-None-Match \n If-Unmodified-Since \n
/// Range \n CanonicalizedHeaders CanonicalizedResource
/// ```
///
/// CanonicalizedHeaders: every `x-ms-*` header, name lower-cased, value trimmed, sorted by name,
/// each `name:value\n`. CanonicalizedResource: `/<account><encoded URL path>`, then for each
/// query parameter, sorted by lower-cased name, `\nname:value[,value…]` with values decoded.
/// `headers` are (name, value) pairs; names are matched case-insensitively.
pub fn string_to_sign(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body_len: u64,
    account: &str,
) -> String {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let content_length = match get("content-length") {
        "" if body_len > 0 => body_len.to_string(),
        "" | "0" => String::new(),
        n => n.to_owned(),
    };
    let mut out = String::new();
    for part in [
        method,
        get("content-encoding"),
        get("content-language"),
        &content_length,
        get("content-md5"),
        get("content-type"),
        get("date"),
        get("if-modified-since"),
        get("if-match"),
        get("if-none-match"),
        get("if-unmodified-since"),
        get("range"),
    ] {
        out.push_str(part);
        out.push('\n');
    }
    let mut ms_headers: Vec<(String, &str)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim()))
        .filter(|(k, _)| k.starts_with("x-ms-"))
        .collect();
    ms_headers.sort();
    for (k, v) in ms_headers {
        out.push_str(&k);
        out.push(':');
        out.push_str(v);
        out.push('\n');
    }
    out.push('/');
    out.push_str(account);
    out.push_str(if url.path().is_empty() {
        "/"
    } else {
        url.path()
    });
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in url.query_pairs() {
        let k = k.to_ascii_lowercase();
        match params.iter_mut().find(|(name, _)| *name == k) {
            Some((_, values)) => values.push(v.into_owned()),
            None => params.push((k, vec![v.into_owned()])),
        }
    }
    params.sort();
    for (k, mut values) in params {
        values.sort();
        out.push('\n');
        out.push_str(&k);
        out.push(':');
        out.push_str(&values.join(","));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV_KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A ranged, conditional read of a snapshot on Azurite's path-style URL: every slot of the
    /// string-to-sign filled in by hand from the documented layout.
    #[test]
    fn string_to_sign_for_a_conditional_ranged_snapshot_read() {
        let url = Url::parse(
            "http://127.0.0.1:10000/devstoreaccount1/pictures/wild/desert%20one.jpg?snapshot=2024-01-02T03%3A04%3A05.1234567Z&Timeout=30",
        )
        .unwrap();
        let headers = pairs(&[
            ("x-ms-version", "2025-11-05"),
            ("X-MS-Date", "Sun, 11 Oct 2009 21:49:13 GMT"),
            ("range", "bytes=65536-131071"),
            ("if-unmodified-since", "Tue, 18 Sep 2012 23:47:08 GMT"),
            ("if-match", "\"0x8CF2A5B1F6A3E4C\""),
            ("x-ms-client-request-id", "  abc  "),
            ("accept", "application/octet-stream"),
            ("user-agent", "azsdk-rust"),
        ]);
        let sts = string_to_sign("GET", &url, &headers, 0, "devstoreaccount1");
        let expected = "GET\n\n\n\n\n\n\n\n\"0x8CF2A5B1F6A3E4C\"\n\nTue, 18 Sep 2012 23:47:08 GMT\nbytes=65536-131071\n\
            x-ms-client-request-id:abc\n\
            x-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\n\
            x-ms-version:2025-11-05\n\
            /devstoreaccount1/devstoreaccount1/pictures/wild/desert%20one.jpg\n\
            snapshot:2024-01-02T03:04:05.1234567Z\n\
            timeout:30";
        assert_eq!(sts, expected);
    }

    /// A PUT with a body: Content-Length and Content-Type take their slots; a zero length would
    /// leave the slot empty (service version 2015-02-21+).
    #[test]
    fn string_to_sign_content_length_slot() {
        let url =
            Url::parse("https://acct.blob.core.windows.net/c1x/b?comp=metadata&restype=container")
                .unwrap();
        let headers = pairs(&[("content-type", "text/plain"), ("x-ms-date", "D")]);
        let sts = string_to_sign("PUT", &url, &headers, 11, "acct");
        assert_eq!(
            sts,
            "PUT\n\n\n11\n\ntext/plain\n\n\n\n\n\n\nx-ms-date:D\n/acct/c1x/b\ncomp:metadata\nrestype:container"
        );
        let headers = pairs(&[("content-length", "0"), ("x-ms-date", "D")]);
        let sts = string_to_sign("PUT", &url, &headers, 0, "acct");
        assert!(sts.starts_with("PUT\n\n\n\n\n\n"), "{sts:?}");
    }

    /// HMAC-SHA256 with the dev account key, checked against Python's `hmac` module:
    /// `base64(hmac.new(base64.b64decode(KEY), b"GET\n...", hashlib.sha256).digest())`.
    #[test]
    fn signature_matches_an_independent_hmac() {
        let policy = SharedKeyPolicy::new("devstoreaccount1", DEV_KEY).unwrap();
        let sts = "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\nx-ms-version:2009-09-19\n/devstoreaccount1/devstoreaccount1/mycontainer\ncomp:list\nrestype:container";
        assert_eq!(
            policy.sign(sts),
            "LKjIS6gQn7zKkHJRhUiEuHkaomzSNDddMkUJXn/olrE="
        );
        assert!(!format!("{policy:?}").contains("Eby8"));
    }

    #[test]
    fn key_that_is_not_base64_is_a_config_error_without_the_key() {
        let err = SharedKeyPolicy::new("a", "not base64 !!").unwrap_err();
        assert!(
            matches!(&err, SourceError::Config(m) if !m.contains("not base64 !!")),
            "{err:?}"
        );
    }
}
