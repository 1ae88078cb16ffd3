//! A real Azurite for integration tests, plus helpers to put blobs into it.
//!
//! [`shared`] starts one `azurite-blob` per test binary on a free loopback port (installed by
//! `npm ci` into `node_modules/`). If it is not installed the test is skipped ([`skip`]) and
//! gets `None`; with `CI` set a missing Azurite is a failure.
//!
//! Uploads go through the official `azure_storage_blob` crate, signed with the product's own
//! [`SharedKeyPolicy`].
#![allow(dead_code)]

use std::{
    collections::HashMap,
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use azure_core::http::{ClientOptions, RequestContent, Transport, Url, policies::Policy};
use azure_storage_blob::{
    BlobClient, BlobClientOptions, BlobContainerClient, BlobContainerClientOptions,
    models::{BlobClientCreateSnapshotResultHeaders, BlockBlobClientUploadOptions},
};
use export_repair::source::azure::{
    AzureBlobSource, AzureCredential, AzureSourceConfig, SharedKeyPolicy,
};

use super::skip::skip;

/// Azurite's well-known account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known key (public, documented by Microsoft).
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running `azurite-blob`; killed on drop.
pub struct Azurite {
    child: Child,
    port: u16,
    /// Set when it serves HTTPS ([`Azurite::start_https_oauth`]).
    tls: Option<Tls>,
}

/// The self-signed certificate an HTTPS Azurite serves, made for it by `openssl`.
pub struct Tls {
    dir: tempfile::TempDir,
}

impl Tls {
    /// The certificate (PEM): what a client is told to trust (`SSL_CERT_FILE`).
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The certificate's private key (PEM), for another test server on 127.0.0.1.
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// A certificate for 127.0.0.1 and its key, valid for a day; `None` without `openssl`.
    fn make() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let tls = Self { dir };
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            // A server's certificate, not a CA's (TLS clients refuse a CA as the server).
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(tls.key())
            .arg("-out")
            .arg(tls.certificate())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match made {
            Ok(output) if output.status.success() => Some(tls),
            Ok(output) => panic!(
                "openssl could not make a certificate: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(_) => None,
        }
    }
}

/// Why a test that needs an HTTPS Azurite cannot run.
pub const MISSING_HTTPS: &str =
    "needs Azurite (`npm ci`) and openssl (Debian package openssl) for a test certificate";

/// Why a test that needs Azurite cannot run.
pub const MISSING: &str = "needs Azurite (run `npm ci` at the top of the repository)";

/// The one Azurite of this test binary, started on first use; `None` when Azurite is not
/// installed (the test is skipped; with `CI` set it fails).
///
/// A static is never dropped, so the process is started under a small shell watchdog that kills
/// it when this test process exits (its stdin closes).
pub fn shared() -> Option<&'static Azurite> {
    static AZURITE: OnceLock<Option<Azurite>> = OnceLock::new();
    let azurite = AZURITE.get_or_init(Azurite::start).as_ref();
    if azurite.is_none() {
        skip(MISSING);
    }
    azurite
}

fn azurite_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/azurite-blob")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Azurite {
    /// Starts an own instance (most tests should use [`shared`]); `None` when Azurite is not
    /// installed ([`MISSING`]).
    pub fn start() -> Option<Self> {
        Self::launch(None)
    }

    /// Starts an own instance over HTTPS that also takes Entra ID tokens (`--oauth basic`: a
    /// JWT for `https://storage.azure.com` from `https://sts.windows.net/<tenant>/`, current
    /// `nbf`/`exp`, signature unchecked; 403 for a wrong or expired one). Its certificate is
    /// [`Azurite::certificate`]. `None` without Azurite or openssl ([`MISSING_HTTPS`]).
    pub fn start_https_oauth() -> Option<Self> {
        if !azurite_bin().exists() {
            return None;
        }
        Self::launch(Some(Tls::make()?))
    }

    fn launch(tls: Option<Tls>) -> Option<Self> {
        let bin = azurite_bin();
        if !bin.exists() {
            return None;
        }
        let mut last_error = String::new();
        // A port picked free can be taken before Azurite binds it: try a few.
        for _ in 0..3 {
            let port = free_port();
            let args = [
                "--blobHost".to_owned(),
                "127.0.0.1".to_owned(),
                "--blobPort".to_owned(),
                port.to_string(),
                "--inMemoryPersistence".to_owned(),
                "--skipApiVersionCheck".to_owned(),
                "--disableTelemetry".to_owned(),
                "--silent".to_owned(),
            ];
            let tls_args: Vec<String> = tls
                .iter()
                .flat_map(|tls| {
                    [
                        "--oauth".to_owned(),
                        "basic".to_owned(),
                        "--cert".to_owned(),
                        tls.certificate().display().to_string(),
                        "--key".to_owned(),
                        tls.key().display().to_string(),
                    ]
                })
                .collect();
            let mut command = if cfg!(unix) {
                // Watchdog: Azurite dies when our end of the pipe closes, also if this
                // process is killed or ends without dropping a static.
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(r#""$0" "$@" & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"#)
                    .arg(&bin)
                    .args(&args)
                    .args(&tls_args);
                c
            } else {
                let mut c = Command::new(&bin);
                c.args(&args).args(&tls_args);
                c
            };
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Self { child, port, tls });
                }
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("azurite-blob exited with {status}");
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = "azurite-blob did not listen within 90 s".into();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("Azurite is installed but did not start: {last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>/devstoreaccount1` (`https://` for an HTTPS instance), the
    /// `/BlobEndpoint` for this instance.
    pub fn endpoint(&self) -> String {
        self.endpoint_on(self.port)
    }

    /// The endpoint as seen through something listening on `port` (a relay).
    pub fn endpoint_on(&self, port: u16) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{port}/{ACCOUNT}")
    }

    /// The certificate an HTTPS instance serves (panics for a plain one).
    pub fn certificate(&self) -> PathBuf {
        self.tls.as_ref().expect("an HTTPS Azurite").certificate()
    }

    /// The private key of [`Azurite::certificate`] (panics for a plain instance).
    pub fn certificate_key(&self) -> PathBuf {
        self.tls.as_ref().expect("an HTTPS Azurite").key()
    }

    /// The product's Azure source for this instance: the well-known key, default retries.
    pub fn key_source(&self) -> AzureBlobSource {
        let mut config = AzureSourceConfig::new(ACCOUNT, AzureCredential::AccountKey(KEY.into()));
        config.endpoint = Some(self.endpoint());
        if let Some(tls) = &self.tls {
            config.ssl_cert_file = Some(tls.certificate());
        }
        AzureBlobSource::new(config).unwrap()
    }

    /// Client options that sign with the well-known key (and trust an HTTPS instance's
    /// certificate).
    pub fn client_options(&self) -> ClientOptions {
        let policy: Arc<dyn Policy> =
            Arc::new(SharedKeyPolicy::new(ACCOUNT, KEY).expect("the dev key is base64"));
        let transport = self.tls.as_ref().map(|tls| {
            let pem = std::fs::read(tls.certificate()).unwrap();
            let client = reqwest::Client::builder()
                .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
                .build()
                .unwrap();
            Transport::new(Arc::new(client))
        });
        ClientOptions {
            per_try_policies: vec![policy],
            transport,
            ..Default::default()
        }
    }

    /// The URL of a blob, names percent-encoded like the product does.
    pub fn blob_url(&self, container: &str, name: &str) -> Url {
        Url::parse(&format!("{}/{container}/{}", self.endpoint(), encode(name))).unwrap()
    }

    pub fn blob_client(&self, container: &str, name: &str) -> BlobClient {
        let options = BlobClientOptions {
            client_options: self.client_options(),
            ..Default::default()
        };
        BlobClient::new(self.blob_url(container, name), None, Some(options)).unwrap()
    }

    pub async fn create_container(&self, container: &str) {
        let url = Url::parse(&format!("{}/{container}", self.endpoint())).unwrap();
        let options = BlobContainerClientOptions {
            client_options: self.client_options(),
            ..Default::default()
        };
        BlobContainerClient::new(url, None, Some(options))
            .unwrap()
            .create(None)
            .await
            .unwrap_or_else(|e| panic!("create container {container}: {e}"));
    }

    /// Uploads (or overwrites) a block blob with a content type and metadata.
    pub async fn put_block_blob(
        &self,
        container: &str,
        name: &str,
        data: &[u8],
        content_type: Option<&str>,
        metadata: &[(&str, &str)],
    ) {
        let options = BlockBlobClientUploadOptions {
            blob_content_type: content_type.map(str::to_owned),
            metadata: (!metadata.is_empty()).then(|| to_map(metadata)),
            ..Default::default()
        };
        self.blob_client(container, name)
            .block_blob_client()
            .upload(RequestContent::from(data.to_vec()), Some(options))
            .await
            .unwrap_or_else(|e| panic!("upload {container}/{name}: {e}"));
    }

    /// Creates a page blob of `size` bytes (a multiple of 512) and writes only the given
    /// 512-aligned pages, leaving the rest a sparse hole that reads as zeros.
    pub async fn put_page_blob(
        &self,
        container: &str,
        name: &str,
        size: u64,
        pages: &[(u64, &[u8])],
    ) {
        let client = self.blob_client(container, name).page_blob_client();
        client
            .create(size, None)
            .await
            .unwrap_or_else(|e| panic!("create page blob {container}/{name}: {e}"));
        for (offset, data) in pages {
            let len = data.len() as u64;
            client
                .upload_pages(
                    RequestContent::from(data.to_vec()),
                    len,
                    (*offset..offset + len).into(),
                    None,
                )
                .await
                .unwrap_or_else(|e| panic!("upload pages at {offset} of {name}: {e}"));
        }
    }

    /// Replaces the blob's metadata.
    pub async fn set_metadata(&self, container: &str, name: &str, metadata: &[(&str, &str)]) {
        self.blob_client(container, name)
            .set_metadata(&to_map(metadata), None)
            .await
            .unwrap_or_else(|e| panic!("set metadata of {container}/{name}: {e}"));
    }

    /// The response headers of Get Blob Properties (`HEAD` on the blob) as Azurite sends them,
    /// asked over a plain HTTP/1.1 connection with a read-only container SAS: no client
    /// library between the test and the answer. Names lower-cased, in the order sent.
    pub fn raw_properties(&self, container: &str, name: &str) -> Vec<(String, String)> {
        use std::io::{BufRead, BufReader, Write};
        assert!(self.tls.is_none(), "raw_properties speaks plain HTTP");
        let url = self.blob_url(container, name);
        let sas = container_sas(container, "r");
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "HEAD {}?{sas} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            url.path(),
            self.port
        )
        .unwrap();
        let mut lines = BufReader::new(stream).lines();
        let status = lines.next().unwrap().unwrap();
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "HEAD {container}/{name}: {status}"
        );
        lines
            .map(Result::unwrap)
            .take_while(|line| !line.is_empty())
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
            })
            .collect()
    }

    /// Snapshots the blob; returns the snapshot timestamp as the service wrote it.
    pub async fn create_snapshot(&self, container: &str, name: &str) -> String {
        let response = self
            .blob_client(container, name)
            .create_snapshot(None)
            .await
            .unwrap_or_else(|e| panic!("snapshot {container}/{name}: {e}"));
        response
            .snapshot()
            .unwrap()
            .expect("Create Snapshot returns x-ms-snapshot")
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        // Closing stdin ends the watchdog, which stops Azurite and exits; give it a moment
        // before killing the shell outright (which would leave Azurite behind).
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn to_map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn encode(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A service SAS for a whole container (`sr=c`), signed with the dev key as the documented
/// string-to-sign for version 2018-11-09 and later prescribes.
pub fn container_sas(container: &str, permissions: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    container_sas_between(
        container,
        permissions,
        now - time::Duration::minutes(5),
        now + time::Duration::hours(1),
    )
}

/// [`container_sas`] valid from `start` to `expiry`.
pub fn container_sas_between(
    container: &str,
    permissions: &str,
    start: time::OffsetDateTime,
    expiry: time::OffsetDateTime,
) -> String {
    let version = "2018-11-09";
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let start = start.format(&fmt).unwrap();
    let expiry = expiry.format(&fmt).unwrap();
    let resource = format!("/blob/{ACCOUNT}/{container}");
    // sp, st, se, canonicalized resource, si, sip, spr, sv, sr, snapshot time,
    // rscc, rscd, rsce, rscl, rsct
    let string_to_sign = [
        permissions,
        &start,
        &expiry,
        &resource,
        "",
        "",
        "",
        version,
        "c",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    .join("\n");
    let sig = SharedKeyPolicy::new(ACCOUNT, KEY)
        .unwrap()
        .sign(&string_to_sign);
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "sv={version}&st={}&se={}&sr=c&sp={permissions}&sig={}",
        enc(&start),
        enc(&expiry),
        enc(&sig)
    )
}
