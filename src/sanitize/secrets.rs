//! Secrets out of text: SAS signatures, Shared Key signatures, connection-string keys and
//! any key the run was given, raw or percent-encoded.

/// Masks SAS signatures (`sig=…`), Shared Key signatures (`SharedKey account:…`) and
/// connection-string keys (`AccountKey=…`) in `text`. For use on anything that may be shown
/// or logged: URLs, error messages, request dumps.
pub fn redact_secrets(text: &str) -> String {
    redact_secrets_with(text, &[])
}

/// [`redact_secrets`], and also every occurrence of the given secrets (e.g. an account key),
/// raw or percent-encoded.
pub fn redact_secrets_with(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().map(|s| s.trim()).filter(|s| s.len() >= 4) {
        out = out.replace(secret, "<redacted>");
        let encoded: String = secret
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        out = out.replace(&encoded, "<redacted>");
        out = out.replace(&encoded.to_ascii_lowercase(), "<redacted>");
    }
    out = mask_after(&out, "sig=", |c| {
        matches!(c, '&' | '"' | '\'' | '<' | '>' | ')' | ']') || c.is_whitespace()
    });
    out = mask_after(&out, "accountkey=", |c| {
        matches!(c, ';' | '"' | '\'') || c.is_whitespace()
    });
    mask_shared_key_signatures(&out)
}

/// Replaces the value after each (ASCII case-insensitive) `marker` up to `stop`.
fn mask_after(text: &str, marker: &str, stop: impl Fn(char) -> bool) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(marker) {
        let value_start = search + found + marker.len();
        // `sig=` must start a parameter, not end a longer name (`xsig=`).
        let at_boundary = search + found == 0
            || !text[..search + found]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let value_end = text[value_start..]
            .find(&stop)
            .map_or(text.len(), |i| value_start + i);
        if at_boundary && value_end > value_start {
            out.push_str(&text[last..value_start]);
            out.push_str("<redacted>");
            last = value_end;
        }
        search = value_end.max(value_start);
    }
    out.push_str(&text[last..]);
    out
}

/// `SharedKey account:signature` → `SharedKey account:<redacted>`.
fn mask_shared_key_signatures(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("SharedKey ") {
        let after = &rest[i + "SharedKey ".len()..];
        let token_end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ','))
            .unwrap_or(after.len());
        let token = &after[..token_end];
        out.push_str(&rest[..i + "SharedKey ".len()]);
        match token.split_once(':') {
            Some((account, sig)) if !sig.is_empty() => {
                out.push_str(account);
                out.push_str(":<redacted>");
            }
            _ => out.push_str(token),
        }
        rest = &after[token_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV_KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    #[test]
    fn redacts_sas_signatures_keys_and_authorization() {
        let text = "GET http://h/c/b?sv=2021-08-06&sig=abc%2Bdef%3D&sp=r failed; Authorization: SharedKey devstoreaccount1:Zm9vYmFy= ; \"sig=xyz\"; AccountKey=Eby8vdM0;x";
        let redacted = redact_secrets(text);
        assert_eq!(
            redacted,
            "GET http://h/c/b?sv=2021-08-06&sig=<redacted>&sp=r failed; Authorization: SharedKey devstoreaccount1:<redacted> ; \"sig=<redacted>\"; AccountKey=<redacted>;x"
        );
        // A parameter that merely ends in "sig" is not a signature.
        assert_eq!(
            redact_secrets("xsig=keep&sig=drop"),
            "xsig=keep&sig=<redacted>"
        );
    }

    #[test]
    fn redacts_given_keys_raw_and_percent_encoded() {
        let text = format!(
            "key {DEV_KEY} and encoded {}",
            DEV_KEY.replace('/', "%2F").replace('=', "%3D")
        );
        let redacted = redact_secrets_with(&text, &[DEV_KEY]);
        assert_eq!(redacted, "key <redacted> and encoded <redacted>");
    }
}
