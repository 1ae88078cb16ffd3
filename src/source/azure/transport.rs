//! The HTTP client of every Azure request (storage and sign-in): one connection pool, no
//! automatic decompression, no redirects, and HTTPS trusted through the system's certificate
//! store plus the file `SSL_CERT_FILE` names (the OpenSSL and curl convention), so a private
//! CA or a test certificate works without a flag of its own.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use azure_core::http::Transport;

use crate::source::SourceError;

/// Connecting may take this long (the source's own timeouts are tighter per request).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest silence on a socket before the client gives up on it.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The transport, trusting the certificates of `ssl_cert_file` beside the system store.
pub(crate) fn transport(ssl_cert_file: Option<&Path>) -> Result<Transport, SourceError> {
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        // Storage answers are taken as stored: a blob with Content-Encoding: gzip is exported
        // byte for byte, whatever features another crate turns on in the client.
        .no_gzip()
        .no_deflate()
        .no_brotli()
        .no_zstd()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_merge(extra_roots(ssl_cert_file)?)
        .build()
        .map_err(|e| {
            SourceError::Config(format!("cannot set up HTTPS: {}", super::error_chain(&e)))
        })?;
    Ok(Transport::new(Arc::new(client)))
}

/// The certificates to trust on top of what the platform verifier trusts by itself.
///
/// The verifier reads the system store, except that on Linux a set `SSL_CERT_FILE` replaces
/// the store instead of adding to it; and on macOS and Windows it never reads the file. So the
/// file's certificates are given here, and with them the system store's own directories.
fn extra_roots(ssl_cert_file: Option<&Path>) -> Result<Vec<reqwest::Certificate>, SourceError> {
    let Some(file) = ssl_cert_file else {
        return Ok(Vec::new());
    };
    let unusable = |why: String| {
        SourceError::Config(format!(
            "SSL_CERT_FILE {}: {why} (it should name a PEM file of CA certificates to trust)",
            file.display()
        ))
    };
    let pem = std::fs::read(file).map_err(|e| unusable(e.to_string()))?;
    let mut roots = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| unusable(super::error_chain(&e)))?;
    if roots.is_empty() {
        return Err(unusable("it holds no PEM certificate".into()));
    }
    if cfg!(all(unix, not(target_os = "macos"))) {
        for dir in openssl_probe::candidate_cert_dirs() {
            let found = rustls_native_certs::load_certs_from_paths(None, Some(dir));
            roots.extend(
                found
                    .certs
                    .iter()
                    .filter_map(|der| reqwest::Certificate::from_der(der).ok()),
            );
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_CA: &str = include_str!("../../../tests/fixtures/entra/service-principal.pem");

    #[test]
    fn the_file_is_added_to_the_system_store_not_put_in_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, TEST_CA).unwrap();
        let roots = extra_roots(Some(&file)).unwrap();
        let system: usize = openssl_probe::candidate_cert_dirs()
            .map(|dir| {
                rustls_native_certs::load_certs_from_paths(None, Some(dir))
                    .certs
                    .len()
            })
            .sum();
        assert_eq!(roots.len(), 1 + system);
        assert!(transport(Some(&file)).is_ok());
        assert!(extra_roots(None).unwrap().is_empty());
    }

    #[test]
    fn an_unusable_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("empty.pem");
        std::fs::write(&file, "no certificates here").unwrap();
        let error = extra_roots(Some(&file)).unwrap_err().to_string();
        assert!(
            error.contains("empty.pem") && error.contains("no PEM certificate"),
            "{error}"
        );
        let missing = dir.path().join("missing.pem");
        let error = extra_roots(Some(&missing)).unwrap_err().to_string();
        assert!(
            error.contains("SSL_CERT_FILE") && error.contains("missing.pem"),
            "{error}"
        );
    }
}
