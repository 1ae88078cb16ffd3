//! Signing in with Microsoft Entra ID, through the official `azure_identity` crate.
//!
//! With neither an account key nor a SAS, a source signs in the way Azure tools do. The chain,
//! first link that gives a token wins (and is kept for the run):
//! 1. a service principal or workload identity from the environment: `AZURE_TENANT_ID` and
//!    `AZURE_CLIENT_ID` with `AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH` (PEM) or
//!    `AZURE_FEDERATED_TOKEN_FILE`;
//! 2. a managed identity, only when the environment says there is one (`IDENTITY_ENDPOINT`,
//!    `MSI_ENDPOINT`): the instance metadata address is never probed unasked;
//! 3. the Azure CLI's login (`az login`).
//!
//! `--auth env|azure-cli|managed-identity` names one link instead ([`EntraMethod`]).
//!
//! Tokens are secrets: every token obtained is handed to [`crate::sanitize::remember_token`],
//! and none is logged. One cache serves every request of the run; a token is renewed before it
//! expires (five minutes before, or half way through a shorter life), and a renewal that fails
//! while the old token still holds keeps the old one.

mod certificate;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::ClientOptions;
use azure_identity::{
    AzureCliCredential, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use time::{Duration, OffsetDateTime};

use crate::source::SourceError;

/// The scope of Azure Storage's data plane.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// The public cloud's sign-in authority (`AZURE_AUTHORITY_HOST` replaces it).
const PUBLIC_AUTHORITY: &str = "https://login.microsoftonline.com";

/// A token is renewed this long before it expires at the latest.
const RENEW_BEFORE: Duration = Duration::minutes(5);

/// One way to sign in, as `--auth` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntraMethod {
    /// A service principal or workload identity from the environment.
    Environment,
    /// The Azure CLI's login.
    AzureCli,
    /// The managed identity of the machine (App Service, VM, …).
    ManagedIdentity,
}

/// The environment variables sign-in reads, taken once (tests give their own).
#[derive(Clone, Default)]
pub struct EntraEnvironment {
    vars: BTreeMap<&'static str, String>,
}

/// Names only: values may be secrets.
impl std::fmt::Debug for EntraEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

/// The environment variables sign-in reads.
pub const ENVIRONMENT_VARIABLES: [&str; 8] = [
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "MSI_ENDPOINT",
];

impl EntraEnvironment {
    /// This process's environment.
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The variables `lookup` knows (empty values count as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let vars = ENVIRONMENT_VARIABLES
            .iter()
            .filter_map(|&name| {
                let value = lookup(name)?;
                let value = value.trim();
                (!value.is_empty()).then(|| (name, value.to_string()))
            })
            .collect();
        Self { vars }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The service principal's secret kind, when the environment describes a complete one.
    fn service_principal(&self) -> Option<(&str, &str, PrincipalProof<'_>)> {
        let tenant = self.get("AZURE_TENANT_ID")?;
        let client = self.get("AZURE_CLIENT_ID")?;
        let proof = if let Some(secret) = self.get("AZURE_CLIENT_SECRET") {
            PrincipalProof::Secret(secret)
        } else if let Some(path) = self.get("AZURE_CLIENT_CERTIFICATE_PATH") {
            PrincipalProof::Certificate(path)
        } else {
            PrincipalProof::FederatedToken(self.get("AZURE_FEDERATED_TOKEN_FILE")?)
        };
        Some((tenant, client, proof))
    }

    /// Whether a managed identity's endpoint is announced.
    fn announces_managed_identity(&self) -> bool {
        self.get("IDENTITY_ENDPOINT").is_some() || self.get("MSI_ENDPOINT").is_some()
    }
}

enum PrincipalProof<'a> {
    Secret(&'a str),
    Certificate(&'a str),
    FederatedToken(&'a str),
}

/// One way to get a token, or why it cannot be used.
struct Link {
    name: &'static str,
    credential: Result<Arc<dyn TokenCredential>, String>,
}

/// A token kept for the run.
struct Cached {
    token: AccessToken,
    scopes: Vec<String>,
    /// When it is renewed.
    renew_at: OffsetDateTime,
}

/// Entra ID sign-in for a source: the chain (or the one link asked for) behind one token cache.
pub struct EntraCredential {
    links: Vec<Link>,
    /// The link that gave a token, once one did (`usize::MAX` before).
    chosen: AtomicUsize,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for EntraCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraCredential")
            .field("method", &self.describe())
            .finish_non_exhaustive()
    }
}

impl EntraCredential {
    /// The chain, or only `method`; `client_options` carry the transport sign-in requests use.
    pub fn new(
        method: Option<EntraMethod>,
        env: &EntraEnvironment,
        client_options: &ClientOptions,
    ) -> Result<Self, SourceError> {
        let links = match method {
            Some(EntraMethod::Environment) => {
                let link = environment_link(env, client_options).ok_or_else(|| {
                    SourceError::Config(
                        "--auth env needs AZURE_TENANT_ID and AZURE_CLIENT_ID with one of \
                         AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or \
                         AZURE_FEDERATED_TOKEN_FILE in the environment"
                            .into(),
                    )
                })?;
                vec![link]
            }
            Some(EntraMethod::ManagedIdentity) => vec![managed_identity_link(env, client_options)],
            Some(EntraMethod::AzureCli) => vec![azure_cli_link()],
            None => {
                let mut links: Vec<Link> =
                    environment_link(env, client_options).into_iter().collect();
                if env.announces_managed_identity() {
                    links.push(managed_identity_link(env, client_options));
                }
                links.push(azure_cli_link());
                links
            }
        };
        if let [
            Link {
                credential: Err(reason),
                ..
            },
        ] = links.as_slice()
        {
            return Err(SourceError::Config(reason.clone()));
        }
        Ok(Self {
            links,
            chosen: AtomicUsize::new(usize::MAX),
            cache: tokio::sync::Mutex::new(None),
        })
    }

    /// `Entra ID: Azure CLI`, or the links still to try before a token was obtained.
    pub fn describe(&self) -> String {
        match self.links.get(self.chosen.load(Ordering::Relaxed)) {
            Some(link) => format!("Entra ID: {}", link.name),
            None => {
                let names: Vec<&str> = self.links.iter().map(|link| link.name).collect();
                format!("Entra ID: {}", names.join(", then "))
            }
        }
    }

    /// Gets the storage token now, so that a sign-in that cannot work stops the run before it
    /// starts.
    pub async fn sign_in(&self) -> Result<(), SourceError> {
        self.get_token(&[STORAGE_SCOPE], None)
            .await
            .map(drop)
            .map_err(|error| SourceError::SignIn {
                message: error.to_string(),
            })
    }

    /// A token from the chosen link, or the first link that gives one.
    async fn fetch(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let chosen = self.chosen.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for (index, link) in self.links.iter().enumerate() {
            if chosen != usize::MAX && index != chosen {
                continue;
            }
            let credential = match &link.credential {
                Ok(credential) => credential,
                Err(reason) => {
                    failures.push(format!("{}: {reason}", link.name));
                    continue;
                }
            };
            match credential.get_token(scopes, options.clone()).await {
                Ok(token) => {
                    self.chosen.store(index, Ordering::Relaxed);
                    return Ok(token);
                }
                Err(error) => failures.push(format!(
                    "{}: {}",
                    link.name,
                    one_line(&super::error_chain(&error))
                )),
            }
        }
        Err(azure_core::Error::with_message(
            ErrorKind::Credential,
            format!("{}. {}", failures.join("; "), self.advice()),
        ))
    }

    /// What to do when no link gave a token.
    fn advice(&self) -> &'static str {
        if self.links.iter().all(|link| link.name == MANAGED_IDENTITY) {
            "Run this on a machine whose managed identity has a role on the account (AZURE_CLIENT_ID \
             names a user-assigned one), or give the account key (--account-key) or a SAS (--sas)"
        } else {
            "Sign in with `az login`, set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET \
             (or AZURE_CLIENT_CERTIFICATE_PATH) for a service principal, or give the account key \
             (--account-key) or a SAS (--sas)"
        }
    }
}

#[async_trait::async_trait]
impl TokenCredential for EntraCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        // One caller signs in at a time; the others then take its token.
        let mut cache = self.cache.lock().await;
        let now = OffsetDateTime::now_utc();
        if let Some(cached) = cache.as_ref()
            && cached.scopes == scopes
            && now < cached.renew_at
        {
            return Ok(cached.token.clone());
        }
        match self.fetch(scopes, options).await {
            Ok(token) => {
                crate::sanitize::remember_token(token.token.secret());
                tracing::debug!(
                    target: "export_repair::source",
                    "signed in with {}; the token expires at {}",
                    self.describe(),
                    token.expires_on
                );
                *cache = Some(Cached {
                    renew_at: renew_at(now, token.expires_on),
                    scopes: scopes.iter().map(|s| s.to_string()).collect(),
                    token: token.clone(),
                });
                Ok(token)
            }
            Err(error) => match cache.as_ref() {
                Some(cached) if cached.scopes == scopes && now < cached.token.expires_on => {
                    tracing::warn!(
                        target: "export_repair::source",
                        "renewing the Entra ID token failed; the current one holds until {}: {}",
                        cached.token.expires_on,
                        one_line(&error.to_string())
                    );
                    Ok(cached.token.clone())
                }
                _ => Err(error),
            },
        }
    }
}

/// When a token obtained at `now` is renewed: five minutes before it expires, or half way
/// through a shorter life.
fn renew_at(now: OffsetDateTime, expires_on: OffsetDateTime) -> OffsetDateTime {
    let life = (expires_on - now).max(Duration::ZERO);
    expires_on - RENEW_BEFORE.min(life / 2)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn environment_link(env: &EntraEnvironment, client_options: &ClientOptions) -> Option<Link> {
    let (tenant, client, proof) = env.service_principal()?;
    let (name, credential) = match proof {
        PrincipalProof::Secret(secret) => (
            "service principal (AZURE_CLIENT_SECRET)",
            ClientSecretCredential::new(
                tenant,
                client.to_string(),
                Secret::new(secret.to_string()),
                Some(ClientSecretCredentialOptions {
                    client_options: client_options.clone(),
                }),
            )
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| e.to_string()),
        ),
        PrincipalProof::Certificate(path) => (
            "service principal (AZURE_CLIENT_CERTIFICATE_PATH)",
            certificate::CertificateAssertion::from_pem_file(
                path.as_ref(),
                tenant,
                client,
                env.get("AZURE_AUTHORITY_HOST").unwrap_or(PUBLIC_AUTHORITY),
            )
            .and_then(|assertion| {
                ClientAssertionCredential::new(
                    tenant.to_string(),
                    client.to_string(),
                    assertion,
                    Some(ClientAssertionCredentialOptions {
                        client_options: client_options.clone(),
                    }),
                )
                .map(|c| c as Arc<dyn TokenCredential>)
                .map_err(|e| e.to_string())
            }),
        ),
        PrincipalProof::FederatedToken(path) => (
            "workload identity (AZURE_FEDERATED_TOKEN_FILE)",
            WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions {
                    client_options: client_options.clone(),
                },
                client_id: Some(client.to_string()),
                tenant_id: Some(tenant.to_string()),
                token_file_path: Some(path.into()),
            }))
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| e.to_string()),
        ),
    };
    Some(Link { name, credential })
}

const MANAGED_IDENTITY: &str = "managed identity";

/// The machine's managed identity; `AZURE_CLIENT_ID` names a user-assigned one.
fn managed_identity_link(env: &EntraEnvironment, client_options: &ClientOptions) -> Link {
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: env
            .get("AZURE_CLIENT_ID")
            .map(|id| UserAssignedId::ClientId(id.to_string())),
        client_options: client_options.clone(),
    };
    Link {
        name: MANAGED_IDENTITY,
        credential: ManagedIdentityCredential::new(Some(options))
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| format!("managed identity: {e}")),
    }
}

fn azure_cli_link() -> Link {
    Link {
        name: "Azure CLI",
        credential: AzureCliCredential::new(None)
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EntraEnvironment {
        EntraEnvironment::from_lookup(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    fn names(credential: &EntraCredential) -> Vec<&'static str> {
        credential.links.iter().map(|link| link.name).collect()
    }

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn the_chain_takes_what_the_environment_offers_then_the_cli() {
        let options = ClientOptions::default();
        let bare = EntraCredential::new(None, &env(&[]), &options).unwrap();
        assert_eq!(names(&bare), ["Azure CLI"]);
        assert_eq!(bare.describe(), "Entra ID: Azure CLI");

        let principal = env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_CLIENT_SECRET", "s3cret-value"),
        ]);
        let chain = EntraCredential::new(None, &principal, &options).unwrap();
        assert_eq!(
            names(&chain),
            ["service principal (AZURE_CLIENT_SECRET)", "Azure CLI"]
        );
        assert!(!format!("{principal:?} {chain:?}").contains("s3cret"));

        // A tenant and client without a secret is no service principal.
        let half = env(&[("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", "app")]);
        assert_eq!(
            names(&EntraCredential::new(None, &half, &options).unwrap()),
            ["Azure CLI"]
        );
        let federated = env(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
        ]);
        assert_eq!(
            names(&EntraCredential::new(None, &federated, &options).unwrap())[0],
            "workload identity (AZURE_FEDERATED_TOKEN_FILE)"
        );
    }

    #[test]
    fn managed_identity_only_when_announced_or_asked() {
        let options = ClientOptions::default();
        let announced = env(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ]);
        assert_eq!(
            names(&EntraCredential::new(None, &announced, &options).unwrap()),
            ["managed identity", "Azure CLI"]
        );
        let asked =
            EntraCredential::new(Some(EntraMethod::ManagedIdentity), &env(&[]), &options).unwrap();
        assert_eq!(names(&asked), ["managed identity"]);
        assert_eq!(
            names(
                &EntraCredential::new(Some(EntraMethod::AzureCli), &announced, &options).unwrap()
            ),
            ["Azure CLI"]
        );
    }

    #[test]
    fn auth_env_without_a_service_principal_says_what_is_missing() {
        let error = EntraCredential::new(
            Some(EntraMethod::Environment),
            &env(&[("AZURE_CLIENT_ID", "app")]),
            &ClientOptions::default(),
        )
        .unwrap_err();
        let text = error.to_string();
        for name in [
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_FEDERATED_TOKEN_FILE",
        ] {
            assert!(text.contains(name), "{text}");
        }
    }

    #[test]
    fn renewal_comes_five_minutes_early_or_half_way_through_a_short_life() {
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(
            renew_at(now, now + Duration::hours(1)),
            now + Duration::minutes(55)
        );
        assert_eq!(
            renew_at(now, now + Duration::seconds(8)),
            now + Duration::seconds(4)
        );
        assert_eq!(
            renew_at(now, now - Duration::seconds(1)),
            now - Duration::seconds(1)
        );
    }

    /// A link that counts its calls and hands out tokens of a given life.
    #[derive(Debug)]
    struct Counting {
        calls: AtomicUsize,
        life: Duration,
        fail: bool,
    }

    #[async_trait::async_trait]
    impl TokenCredential for Counting {
        async fn get_token(
            &self,
            _: &[&str],
            _: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail && n > 0 {
                return Err(azure_core::Error::with_message(
                    ErrorKind::Credential,
                    "offline",
                ));
            }
            Ok(AccessToken::new(
                format!("token-number-{n}"),
                OffsetDateTime::now_utc() + self.life,
            ))
        }
    }

    fn single(link: Arc<Counting>) -> EntraCredential {
        named("counting", link)
    }

    fn named(name: &'static str, link: Arc<Counting>) -> EntraCredential {
        EntraCredential {
            links: vec![Link {
                name,
                credential: Ok(link),
            }],
            chosen: AtomicUsize::new(usize::MAX),
            cache: tokio::sync::Mutex::new(None),
        }
    }

    #[tokio::test]
    async fn one_token_serves_until_its_renewal_then_a_new_one_is_fetched() {
        let link = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            life: Duration::hours(1),
            fail: false,
        });
        let credential = single(Arc::clone(&link));
        for _ in 0..5 {
            let token = credential.get_token(&[STORAGE_SCOPE], None).await.unwrap();
            assert_eq!(token.token.secret(), "token-number-0");
        }
        assert_eq!(link.calls.load(Ordering::SeqCst), 1);
        assert_eq!(credential.describe(), "Entra ID: counting");

        let short = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            life: Duration::milliseconds(400),
            fail: false,
        });
        let credential = single(Arc::clone(&short));
        credential.get_token(&[STORAGE_SCOPE], None).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let renewed = credential.get_token(&[STORAGE_SCOPE], None).await.unwrap();
        assert_eq!(renewed.token.secret(), "token-number-1");
    }

    #[tokio::test]
    async fn a_failed_renewal_keeps_a_token_that_still_holds() {
        let link = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            life: Duration::milliseconds(2400),
            fail: true,
        });
        let credential = single(Arc::clone(&link));
        credential.get_token(&[STORAGE_SCOPE], None).await.unwrap();
        // Past the renewal (half way), a second before the token expires: room for a slow
        // machine.
        tokio::time::sleep(std::time::Duration::from_millis(1400)).await;
        let kept = credential.get_token(&[STORAGE_SCOPE], None).await.unwrap();
        assert_eq!(kept.token.secret(), "token-number-0");
        tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
        let error = credential.sign_in().await.unwrap_err();
        assert!(error.to_string().contains("offline"), "{error}");
        assert!(error.to_string().contains("az login"), "{error}");
    }

    #[tokio::test]
    async fn a_managed_identity_that_gives_no_token_is_not_told_to_run_az_login() {
        let link = Arc::new(Counting {
            calls: AtomicUsize::new(1),
            life: Duration::minutes(60),
            fail: true,
        });
        let error = named(MANAGED_IDENTITY, link).sign_in().await.unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("managed identity has a role on the account"),
            "{message}"
        );
        assert!(!message.contains("az login"), "{message}");
    }
}
