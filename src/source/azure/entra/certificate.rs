//! A service principal's certificate (`AZURE_CLIENT_CERTIFICATE_PATH`: a PEM file holding the
//! certificate and its RSA private key) as the client assertion Entra ID takes in place of a
//! secret: a JWT signed RS256 whose `x5t` is the certificate's SHA-1 thumbprint, as the
//! `azure_identity` crate's own certificate credential writes it. The crate's credential needs
//! OpenSSL and PKCS #12; this one signs with AWS-LC, already linked for TLS, and reads PEM,
//! the form Linux machines keep certificates in. The assertion goes to the crate's
//! `ClientAssertionCredential`, which asks for the token.

use std::path::Path;

use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use azure_core::error::ErrorKind;
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How long an assertion is valid (Entra ID takes up to ten minutes).
const ASSERTION_LIFETIME: i64 = 600;

pub(super) struct CertificateAssertion {
    key: RsaKeyPair,
    /// The JWT header, encoded.
    header: String,
    client_id: String,
    /// The token endpoint, the assertion's audience.
    audience: String,
}

/// Never shows the key.
impl std::fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl CertificateAssertion {
    /// Reads the PEM file: its first certificate and its RSA private key (PKCS #8 or PKCS #1).
    pub(super) fn from_pem_file(
        path: &Path,
        tenant: &str,
        client_id: &str,
        authority: &str,
    ) -> Result<Self, String> {
        let shown = path.display();
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read AZURE_CLIENT_CERTIFICATE_PATH {shown}: {e}"))?;
        let certificate = CertificateDer::pem_slice_iter(&pem)
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| {
                format!(
                    "AZURE_CLIENT_CERTIFICATE_PATH {shown} holds no PEM certificate (a PKCS #12 \
                     file converts with `openssl pkcs12 -in cert.pfx -nodes -out cert.pem`)"
                )
            })?;
        let key = match PrivateKeyDer::from_pem_slice(&pem) {
            Ok(PrivateKeyDer::Pkcs8(der)) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            Ok(PrivateKeyDer::Pkcs1(der)) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            _ => {
                return Err(format!(
                    "AZURE_CLIENT_CERTIFICATE_PATH {shown} holds no unencrypted RSA private key \
                     beside the certificate"
                ));
            }
        }
        .map_err(|e| {
            format!("AZURE_CLIENT_CERTIFICATE_PATH {shown}: the private key is refused: {e}")
        })?;
        let thumbprint =
            URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, certificate.as_ref()));
        let header = format!(r#"{{"alg":"RS256","typ":"JWT","x5t":"{thumbprint}"}}"#);
        Ok(Self {
            key,
            header: URL_SAFE_NO_PAD.encode(header),
            client_id: client_id.to_string(),
            audience: format!(
                "{}/{tenant}/oauth2/v2.0/token",
                authority.trim_end_matches('/')
            ),
        })
    }

    /// A signed assertion valid from `now` (seconds since the epoch).
    fn assertion(&self, now: i64) -> Result<String, String> {
        let jti = hex::encode(rand::random::<[u8; 16]>());
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": jti,
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let signed = format!(
            "{}.{}",
            self.header,
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the client assertion failed".to_string())?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[async_trait::async_trait]
impl ClientAssertion for CertificateAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.assertion(now)
            .map_err(|message| azure_core::Error::with_message(ErrorKind::Credential, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    /// A throwaway self-signed RSA certificate and key, made for this test with
    /// `openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=export-repair-test`.
    const PEM: &str = include_str!("../../../../tests/fixtures/entra/service-principal.pem");

    #[test]
    fn the_assertion_is_signed_by_the_certificate_key_and_names_its_thumbprint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sp.pem");
        std::fs::write(&path, PEM).unwrap();
        let assertion = CertificateAssertion::from_pem_file(
            &path,
            "tenant-1",
            "client-1",
            "https://login.example/",
        )
        .unwrap();
        let jwt = assertion.assertion(1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let certificate = CertificateDer::pem_slice_iter(PEM.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let thumbprint =
            URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, certificate.as_ref()));
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t"], thumbprint.as_str());
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(
            claims["aud"],
            "https://login.example/tenant-1/oauth2/v2.0/token"
        );
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(claims["exp"], 1_700_000_600);
        // Verified with the public key of the certificate's key pair.
        let public = assertion.key.public_key();
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public.as_ref())
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .unwrap();
        assert!(!format!("{assertion:?}").contains("PRIVATE"));
    }

    #[test]
    fn a_file_without_a_key_or_certificate_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("only-cert.pem");
        let certificate_only: String = PEM
            .split_inclusive('\n')
            .take_while(|line| !line.contains("PRIVATE KEY"))
            .collect();
        std::fs::write(&path, certificate_only).unwrap();
        let error = CertificateAssertion::from_pem_file(&path, "t", "c", PUBLIC_TEST_AUTHORITY)
            .unwrap_err();
        assert!(error.contains("no unencrypted RSA private key"), "{error}");
        std::fs::write(&path, "not pem").unwrap();
        let error = CertificateAssertion::from_pem_file(&path, "t", "c", PUBLIC_TEST_AUTHORITY)
            .unwrap_err();
        assert!(error.contains("holds no PEM certificate"), "{error}");
    }

    const PUBLIC_TEST_AUTHORITY: &str = "https://login.microsoftonline.com";
}
