//! The one SAS parser: what the command line redacts and what the source sends come from the
//! same reading of the text.
//!
//! A SAS is taken in three forms: `<container>?<sas>` (the v1 tool's `/csas:`), a full container
//! URL with the SAS as its query, or a bare `sv=…&sig=…` token for any container. Values are
//! percent-decoded (`%2B` → `+`, `%3D` → `=`), and a raw `+` stays a `+`: in a pasted SAS it is
//! part of a base64 signature, not a form-encoded space.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use url::Url;

use crate::sanitize::redact_secrets;
use crate::source::SourceError;

/// What a URL path may hold unencoded: RFC 3986's unreserved characters, `/` between segments
/// and `$` of `$root` (as the Azure SDKs encode blob names).
const PATH_SEGMENTS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/')
    .remove(b'$');

/// Percent-encodes a container or blob name for a URL path.
pub(crate) fn encode_path(name: &str) -> String {
    utf8_percent_encode(name, PATH_SEGMENTS).to_string()
}

/// A parsed SAS.
#[derive(Clone, PartialEq, Eq)]
pub struct Sas {
    /// The container it is for, when the text names one.
    pub container: Option<String>,
    /// Its query parameters, in order, percent-decoded.
    pub params: Vec<(String, String)>,
    /// The account endpoint a full URL implies (without a trailing `/`).
    pub endpoint: Option<String>,
}

/// Never shows the signature.
impl std::fmt::Debug for Sas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sas")
            .field("container", &self.container)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Sas {
    /// Reads any of the three forms; a SAS without a signature (`sig=`) is refused.
    pub fn parse(text: &str) -> Result<Self, SourceError> {
        let text = text.trim();
        let (container, query, endpoint) =
            if text.starts_with("http://") || text.starts_with("https://") {
                let url = Url::parse(text).map_err(|e| {
                    SourceError::Config(format!("invalid SAS URL {:?}: {e}", redact_secrets(text)))
                })?;
                let mut segments: Vec<String> = url
                    .path_segments()
                    .map(|s| s.filter(|s| !s.is_empty()).map(decode).collect())
                    .unwrap_or_default();
                let container = segments.pop().ok_or_else(|| {
                    SourceError::Config(
                        "a SAS URL must name the container: \
                     https://<account>.blob.core.windows.net/<container>?<sas>"
                            .into(),
                    )
                })?;
                let mut endpoint = url.clone();
                endpoint.set_query(None);
                endpoint.set_fragment(None);
                let path: Vec<String> = segments.iter().map(|s| encode_path(s)).collect();
                endpoint.set_path(&path.join("/"));
                (
                    Some(container),
                    url.query().unwrap_or_default().to_owned(),
                    Some(endpoint.as_str().trim_end_matches('/').to_owned()),
                )
            } else if let Some((container, query)) = text.split_once('?') {
                let container = container.trim().trim_matches('/');
                (
                    (!container.is_empty()).then(|| container.to_owned()),
                    query.to_owned(),
                    None,
                )
            } else {
                (None, text.to_owned(), None)
            };
        let sas = Self {
            container,
            params: query_pairs(&query),
            endpoint,
        };
        if sas.signatures().next().is_none() {
            return Err(SourceError::Config(
                "the SAS has no signature (sig=); expected <container>?sv=…&sig=… or a container \
                 URL with the SAS"
                    .into(),
            ));
        }
        Ok(sas)
    }

    /// Why the storage refuses the SAS at `now`, when its own times say so: past its expiry
    /// (`se=`) or before its start (`st=`). Neither time is secret.
    pub fn out_of_time(&self, now: time::OffsetDateTime) -> Option<String> {
        let at = |name: &str| {
            let value = self
                .params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))?
                .1
                .as_str();
            Some((value, sas_time(value)?))
        };
        match (at("se"), at("st")) {
            (Some((shown, expiry)), _) if expiry <= now => Some(format!(
                "the SAS expired at {} (its se=): make a new one",
                crate::sanitize::escape_controls(shown)
            )),
            (_, Some((shown, start))) if start > now => Some(format!(
                "the SAS is valid only from {} (its st=): wait, or make one valid now",
                crate::sanitize::escape_controls(shown)
            )),
            _ => None,
        }
    }

    /// The decoded `sig=` values (the secret part of a SAS).
    pub fn signatures(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .filter(|(name, value)| name.eq_ignore_ascii_case("sig") && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }
}

/// A SAS time in the forms the service takes: RFC 3339, minutes without seconds
/// (`2024-01-01T00:00Z`, as `az … generate-sas` writes), or a date alone (midnight UTC).
fn sas_time(value: &str) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(at) = time::OffsetDateTime::parse(value, &Rfc3339) {
        return Some(at);
    }
    let minutes = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    if let Ok(at) = time::PrimitiveDateTime::parse(value, &minutes) {
        return Some(at.assume_utc());
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &day)
        .ok()
        .map(|date| date.midnight().assume_utc())
}

/// `a=1&b=2` → pairs, percent-decoded, `+` kept.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sas_out_of_its_time_says_so_in_every_form_of_time() {
        let now = time::macros::datetime!(2025-06-01 12:00 UTC);
        let with = |params: &str| Sas::parse(&format!("{params}&sig=x")).unwrap();
        for expired in [
            "se=2025-06-01T11:59:59Z",
            "se=2025-06-01T11:59Z",
            "se=2025-05-31",
        ] {
            let said = with(expired).out_of_time(now).unwrap_or_default();
            assert!(said.starts_with("the SAS expired at "), "{expired}: {said}");
        }
        for early in [
            "st=2025-06-01T12:30:00Z",
            "st=2025-06-01T13:00Z",
            "st=2025-06-02",
        ] {
            let said = with(&format!("{early}&se=2025-07-01")).out_of_time(now);
            assert!(
                said.is_some_and(|s| s.starts_with("the SAS is valid only from ")),
                "{early}"
            );
        }
        for fine in [
            "se=2025-06-02",
            "st=2025-06-01&se=2025-06-01T13:00Z",
            "se=soon",
            "",
        ] {
            assert_eq!(with(fine).out_of_time(now), None, "{fine}");
        }
    }

    #[test]
    fn plus_stays_plus_and_percent_escapes_decode() {
        let sas = Sas::parse("c1x?sv=2021-08-06&sig=a+b%2Bc%3D%2f").unwrap();
        assert_eq!(sas.signatures().collect::<Vec<_>>(), ["a+b+c=/"]);
        assert_eq!(sas.container.as_deref(), Some("c1x"));
        assert_eq!(sas.params[0], ("sv".into(), "2021-08-06".into()));
        assert!(!format!("{sas:?}").contains("a+b"));
    }

    #[test]
    fn parses_the_three_forms() {
        let sas = Sas::parse("mycontainer?sv=2021-08-06&sr=c&sp=rl&sig=a%2Bb%2Fc%3D").unwrap();
        assert_eq!(sas.container.as_deref(), Some("mycontainer"));
        assert_eq!(sas.endpoint, None);
        assert!(sas.params.contains(&("sig".into(), "a+b/c=".into())));

        let sas =
            Sas::parse("http://127.0.0.1:10000/devstoreaccount1/mycontainer?sv=2021-08-06&sig=a+b")
                .unwrap();
        assert_eq!(sas.container.as_deref(), Some("mycontainer"));
        assert_eq!(
            sas.endpoint.as_deref(),
            Some("http://127.0.0.1:10000/devstoreaccount1")
        );
        assert!(sas.params.contains(&("sig".into(), "a+b".into())));

        let sas = Sas::parse("?sv=1&sig=x").unwrap();
        assert_eq!(sas.container, None);
        let sas = Sas::parse("sv=1&SIG=x").unwrap();
        assert_eq!(sas.signatures().collect::<Vec<_>>(), ["x"]);
        for unsigned in [
            "c?sv=1&sp=r",
            "c?sv=1&sig=",
            "https://a.blob.core.windows.net/?sig=x",
        ] {
            assert!(
                matches!(Sas::parse(unsigned), Err(SourceError::Config(_))),
                "{unsigned}"
            );
        }
    }

    #[test]
    fn names_encode_like_the_sdks() {
        assert_eq!(
            encode_path("$root/a b/ü#?.bin"),
            "$root/a%20b/%C3%BC%23%3F.bin"
        );
        assert_eq!(encode_path("A-z_0.~"), "A-z_0.~");
    }
}
