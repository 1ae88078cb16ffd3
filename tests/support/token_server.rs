//! A local Entra ID token service for tests, over HTTPS with the test certificate: the two
//! endpoints `azure_identity` asks when a run signs in as a service principal or a managed
//! identity, each answering only a request that carries the right secret.
//!
//! - `POST /<tenant>/oauth2/v2.0/token` (a form with `client_id`, `client_secret`,
//!   `grant_type=client_credentials`, `scope`), where `AZURE_AUTHORITY_HOST` points
//!   `ClientSecretCredential`; the answer is Entra ID's (`access_token`, `expires_in`).
//! - `GET /msi/token?api-version=2019-08-01&resource=…` with the `x-identity-header` header,
//!   where `IDENTITY_ENDPOINT` points an App Service managed identity; the answer is App
//!   Service's (`access_token`, `expires_on` as a string of Unix seconds).
//!
//! Each token is a JWT Azurite takes in `--oauth basic` mode (audience
//! `https://storage.azure.com`, issuer `https://sts.windows.net/<tenant>/`, current
//! `nbf`/`exp`, signature unchecked), unique to its request. Every request and every token is
//! recorded, so a test knows which endpoint its run asked and which tokens are in play.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where `IDENTITY_ENDPOINT` points.
const MANAGED_IDENTITY_PATH: &str = "/msi/token";
/// The storage audience Azurite wants.
const STORAGE: &str = "https://storage.azure.com";

/// One request the service received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub method: String,
    /// The path with its query.
    pub target: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// The secrets a request must carry to be given a token.
#[derive(Clone)]
pub struct Secrets {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    /// `IDENTITY_HEADER`: App Service's secret for its managed identity endpoint.
    pub identity_header: String,
}

#[derive(Default)]
struct Record {
    requests: Vec<TokenRequest>,
    tokens: Vec<String>,
}

pub struct TokenServer {
    port: u16,
    record: Arc<Mutex<Record>>,
}

impl TokenServer {
    /// Serves on a free loopback port with `certificate`/`key` (PEM) until the test ends.
    pub fn start(certificate: &Path, key: &Path, secrets: Secrets) -> Self {
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certificates, key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let record = Arc::new(Mutex::new(Record::default()));
        let shared = Arc::clone(&record);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let (config, record, secrets) =
                    (Arc::clone(&config), Arc::clone(&shared), secrets.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, config, &record, &secrets);
                });
            }
        });
        Self { port, record }
    }

    /// `AZURE_AUTHORITY_HOST` for a service principal signing in here.
    pub fn authority(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// `IDENTITY_ENDPOINT` for a managed identity signing in here.
    pub fn identity_endpoint(&self) -> String {
        format!("{}{MANAGED_IDENTITY_PATH}", self.authority())
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.record.lock().unwrap().requests.clone()
    }

    /// Every token handed out, oldest first.
    pub fn tokens(&self) -> Vec<String> {
        self.record.lock().unwrap().tokens.clone()
    }
}

/// One connection: one request, one answer, then it closes.
fn serve(
    client: TcpStream,
    config: Arc<rustls::ServerConfig>,
    record: &Mutex<Record>,
    secrets: &Secrets,
) -> std::io::Result<()> {
    let connection = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut stream = BufReader::new(rustls::StreamOwned::new(connection, client));
    let mut request_line = String::new();
    stream.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default().to_string(),
    );
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        stream.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body)?;
    let request = TokenRequest {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (status, answer) = answer(&request, secrets, record);
    record.lock().unwrap().requests.push(request);
    let stream = stream.get_mut();
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    stream.flush()?;
    stream.conn.send_close_notify();
    stream.flush()
}

/// The status line's tail and the JSON body for `request`.
fn answer(request: &TokenRequest, secrets: &Secrets, record: &Mutex<Record>) -> (String, String) {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let life = 3600;
    let issue = || {
        let mut record = record.lock().unwrap();
        let token = jwt(&secrets.tenant, now, life, record.tokens.len());
        record.tokens.push(token.clone());
        token
    };
    let refused = |status: &str, why: &str| {
        (
            status.to_string(),
            serde_json::json!({
                "error": "invalid_request",
                "error_description": why,
                "error_codes": [7000215],
            })
            .to_string(),
        )
    };
    if request.method == "POST" && path == format!("/{}/oauth2/v2.0/token", secrets.tenant) {
        let form: HashMap<String, String> = url::form_urlencoded::parse(request.body.as_bytes())
            .into_owned()
            .collect();
        let field = |name: &str| form.get(name).map(String::as_str);
        if field("client_id") != Some(&secrets.client_id)
            || field("client_secret") != Some(&secrets.client_secret)
        {
            // As careless services do: the refusal repeats what was sent, raw and encoded.
            let why = format!(
                "invalid client id or secret {:?} (request: {})",
                field("client_secret").unwrap_or_default(),
                request.body
            );
            return refused("401 Unauthorized", &why);
        }
        if field("grant_type") != Some("client_credentials")
            || field("scope") != Some(&format!("{STORAGE}/.default"))
        {
            return refused("400 Bad Request", "unexpected grant or scope");
        }
        let token = issue();
        return (
            "200 OK".into(),
            serde_json::json!({
                "token_type": "Bearer",
                "expires_in": life,
                "ext_expires_in": life,
                "access_token": token,
            })
            .to_string(),
        );
    }
    if request.method == "GET" && path == MANAGED_IDENTITY_PATH {
        let pairs: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        if request.headers.get("x-identity-header") != Some(&secrets.identity_header) {
            return refused("401 Unauthorized", "missing or wrong x-identity-header");
        }
        if pairs.get("resource").map(String::as_str) != Some(STORAGE) {
            return refused("400 Bad Request", "unexpected resource");
        }
        let token = issue();
        return (
            "200 OK".into(),
            serde_json::json!({
                "access_token": token,
                "expires_on": (now + life).to_string(),
                "token_type": "Bearer",
                "resource": STORAGE,
            })
            .to_string(),
        );
    }
    refused("404 Not Found", "no such endpoint")
}

/// A JWT for the storage from `tenant`, valid from `now` for `life` seconds; `serial` makes it
/// unique.
fn jwt(tenant: &str, now: i64, life: i64, serial: usize) -> String {
    let encode = |value: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    };
    let header = encode(serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "fake"}));
    let claims = encode(serde_json::json!({
        "aud": STORAGE,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "tid": tenant,
        "iat": now,
        "nbf": now,
        "exp": now + life,
        "oid": "4c3b2a19-0817-4e6d-9c5b-a4f3e2d1c0b9",
        "uti": format!("token-server-{serial}"),
    }));
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("not-a-real-signature-{now}-{serial}"));
    format!("{header}.{claims}.{signature}")
}
