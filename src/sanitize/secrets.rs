//! Secrets out of text: SAS signatures, Shared Key signatures, connection-string keys, Entra ID
//! tokens (bearer tokens and anything shaped like a JWT), any key the run was given and every
//! token it obtained, raw or percent-encoded.

use std::sync::RwLock;

/// Secrets learnt while the process runs (Entra ID tokens), newest last.
static REMEMBERED: RwLock<Vec<String>> = RwLock::new(Vec::new());
/// Tokens are renewed every hour or so; the last few are plenty to remember.
const REMEMBERED_AT_MOST: usize = 32;

/// Masks `secret` in everything redacted from now on (an Entra ID token the moment it is
/// obtained). Too short a secret would mask noise and is ignored.
pub fn remember_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < 8 {
        return;
    }
    let mut remembered = REMEMBERED.write().unwrap_or_else(|e| e.into_inner());
    if !remembered.iter().any(|known| known == secret) {
        if remembered.len() >= REMEMBERED_AT_MOST {
            remembered.remove(0);
        }
        remembered.push(secret.to_string());
    }
}

/// Masks SAS signatures (`sig=…`), Shared Key signatures (`SharedKey account:…`),
/// connection-string keys (`AccountKey=…`), bearer tokens, JWTs and every remembered secret in
/// `text`. For use on anything that may be shown or logged: URLs, error messages, request dumps.
pub fn redact_secrets(text: &str) -> String {
    redact_secrets_with(text, &[])
}

/// [`redact_secrets`], and also every occurrence of the given secrets (e.g. an account key),
/// raw or percent-encoded.
pub fn redact_secrets_with(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    let remembered = REMEMBERED.read().unwrap_or_else(|e| e.into_inner());
    let all = secrets
        .iter()
        .copied()
        .chain(remembered.iter().map(String::as_str));
    for secret in all.map(|s| s.trim()).filter(|s| s.len() >= 4) {
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
    out = mask_bearer_tokens(&out);
    out = mask_jwts(&out);
    mask_shared_key_signatures(&out)
}

/// Characters of a token in an `Authorization: Bearer` header (RFC 6750's b64token).
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=')
}

/// `Bearer <token>` → `Bearer <redacted>`, for tokens of at least 16 characters (the word
/// "Bearer" in a sentence is left alone).
fn mask_bearer_tokens(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find("bearer ") {
        let start = search + found + "bearer ".len();
        let end = text[start..]
            .find(|c: char| !is_token_char(c))
            .map_or(text.len(), |i| start + i);
        if end - start >= 16 {
            out.push_str(&text[last..start]);
            out.push_str("<redacted>");
            last = end;
        }
        search = end.max(start);
    }
    out.push_str(&text[last..]);
    out
}

/// Anything shaped like a JWT (`eyJ…` header, `.`, payload, `.`, signature), wherever it
/// stands: Entra ID tokens and client assertions are JWTs.
fn mask_jwts(text: &str) -> String {
    let is_part = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("eyJ") {
        let candidate = &rest[at..];
        let mut end = 0;
        let mut dots = 0;
        for (i, c) in candidate.char_indices() {
            if is_part(c) {
                end = i + 1;
            } else if c == '.' && dots < 2 {
                dots += 1;
                end = i + 1;
            } else {
                break;
            }
        }
        let starts_word = !rest[..at].chars().next_back().is_some_and(is_part);
        if dots == 2 && starts_word && end >= 16 {
            out.push_str(&rest[..at]);
            out.push_str("<redacted>");
        } else {
            out.push_str(&rest[..at + 3]);
            end = 3;
        }
        rest = &candidate[end..];
    }
    out.push_str(rest);
    out
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
    fn redacts_bearer_tokens_jwts_and_remembered_tokens() {
        let jwt = "eyJhbGciOiJub25lIn0.eyJhdWQiOiJodHRwczovL3N0b3JhZ2UuYXp1cmUuY29tIn0.c2ln";
        let text = format!(
            "Authorization: Bearer {jwt}\nauthorization: bearer opaque-token-0123456789\n\
             {{\"accessToken\":\"{jwt}\"}} Authentication scheme Bearer is not allowed"
        );
        assert_eq!(
            redact_secrets(&text),
            "Authorization: Bearer <redacted>\nauthorization: bearer <redacted>\n\
             {\"accessToken\":\"<redacted>\"} Authentication scheme Bearer is not allowed"
        );
        // Three parts are needed, and a word that merely contains eyJ is no token.
        assert_eq!(
            redact_secrets("keyJar.x.y eyJ eyJabc"),
            "keyJar.x.y eyJ eyJabc"
        );
        remember_secret("an-opaque-token-from-a-managed-identity");
        assert_eq!(
            redact_secrets("token an-opaque-token-from-a-managed-identity!"),
            "token <redacted>!"
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
