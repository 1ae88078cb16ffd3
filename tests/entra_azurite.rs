//! Signing in with Microsoft Entra ID, for real: Azurite over HTTPS with `--oauth basic` and a
//! self-signed certificate for 127.0.0.1 that the test makes with openssl (trusted through
//! `SSL_CERT_FILE`), and a fake Azure CLI on `PATH` that prints tokens the way
//! `az account get-access-token --output json` does. Azurite takes such a JWT when its
//! audience, issuer and lifetime are right and answers 403 otherwise.
//!
//! No test here may reach the instance metadata address: the child's environment carries no
//! `IDENTITY_ENDPOINT`/`MSI_ENDPOINT` and no test asks for a managed identity.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

#[path = "support/fake_tools.rs"]
mod fake_tools;
#[path = "support/relay.rs"]
mod relay;
mod support;
#[path = "support/token_server.rs"]
mod token_server;

use std::ffi::OsString;
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use assert_cmd::Command;
use export_repair::demo::{SampleBlob, pseudo_random_bytes};
use export_repair::format::status::BlobStatus;
use export_repair::source::azure::entra::ENVIRONMENT_VARIABLES;
use fake_tools::{AzAnswer, FakeTools, TENANT};
use relay::Relay;
use support::azurite::{ACCOUNT, Azurite, KEY, MISSING_HTTPS};
use support::export::{Export, export, in_container};
use support::files::files_with_times as snapshot;
use support::skip::skip;
use support::tmux::{boxed_text, exit_code, keys, start, tmux, tmux_present, wait_for};
use token_server::{Secrets, TokenServer};

const KIB: u64 = 1024;

/// Variables, beside those Entra ID sign-in reads, through which the machine's own Azure
/// credentials could leak into a test.
const MORE_AZURE_VARIABLES: &[&str] = &[
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS",
    "IDENTITY_HEADER",
    "MSI_SECRET",
    "AZURE_CONFIG_DIR",
];

/// The HTTPS Azurite of this test binary.
fn azurite() -> Option<&'static Azurite> {
    static AZURITE: OnceLock<Option<Azurite>> = OnceLock::new();
    let azurite = AZURITE.get_or_init(Azurite::start_https_oauth).as_ref();
    if azurite.is_none() {
        skip(MISSING_HTTPS);
    }
    azurite
}

/// A token for this storage, valid for `life_seconds`.
fn storage_token(life_seconds: u64) -> AzAnswer {
    AzAnswer::Token {
        tenant: TENANT,
        audience: "https://storage.azure.com",
        life_seconds,
    }
}

/// Four blobs of 256 KiB, each with a corrupted block only the manifest finds, and a fifth
/// the copy log says the service could not write (downloaded whole).
async fn damaged_export(azurite: &Azurite, container: &str) -> Export {
    let mut blobs: Vec<SampleBlob> = (0..4)
        .map(|i| {
            SampleBlob::block(
                &format!("data/part{i}.bin"),
                pseudo_random_bytes(40 + i, 256 * KIB as usize),
                64 * KIB,
            )
        })
        .collect();
    blobs.push(SampleBlob::block(
        "data/gone.bin",
        pseudo_random_bytes(50, 96 * KIB as usize),
        32 * KIB,
    ));
    let mut export = export(azurite, container, in_container(container, blobs)).await;
    for i in 0..4 {
        let path = export.file(&format!("{container}/data/part{i}.bin"));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[(64 * KIB + 100 * i) as usize] ^= 0x5a;
        std::fs::write(&path, bytes).unwrap();
    }
    let gone = format!("{container}/data/gone.bin");
    std::fs::remove_file(export.file(&gone)).unwrap();
    let entry = export.log_entry(&gone);
    entry.status = BlobStatus::FileNotFound;
    entry.kind = None;
    export.seal();
    export
}

/// The tool, with the fake `az` first on `PATH`, the test certificate trusted and none of the
/// machine's Azure settings.
fn tool(az: &FakeTools, azurite: &Azurite, args: Vec<OsString>) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_export-repair"));
    for name in ENVIRONMENT_VARIABLES.iter().chain(MORE_AZURE_VARIABLES) {
        command.env_remove(name);
    }
    command
        .env("PATH", az.path_env())
        .env("SSL_CERT_FILE", azurite.certificate())
        .args(args);
    command
}

/// Runs `command` to its end (two minutes at most).
fn run(command: std::process::Command) -> Output {
    Command::from_std(command)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn repairs_over_https_signed_in_with_the_azure_cli() {
    let Some(azurite) = azurite() else { return };
    let export = damaged_export(azurite, "cli").await;
    let az = FakeTools::new();
    az.install_az(storage_token(3600));

    let output = run(tool(
        &az,
        azurite,
        export.repair_args(&azurite.endpoint(), &["--auth", "azure-cli"]),
    ));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    export.assert_drive_matches_blobs();
    // One sign-in for the whole run, for the storage scope.
    let calls = az.calls("az");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        calls[0],
        [
            "account",
            "get-access-token",
            "-o",
            "json",
            "--scope",
            "https://storage.azure.com/.default"
        ]
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.report()).unwrap()).unwrap();
    assert!(
        report.to_string().contains("Entra ID: Azure CLI"),
        "the report names how the run signed in: {report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_expires_mid_run_is_renewed_and_the_run_goes_on() {
    let Some(azurite) = azurite() else { return };
    let export = damaged_export(azurite, "renew").await;
    let az = FakeTools::new();
    // Renewed half way through its life, at 4 s.
    az.install_az(storage_token(8));
    // The answers stop after the first 64 KiB, in the first of five downloads (one at a time).
    let relay = Relay::start(azurite.port(), 64 * KIB);
    let endpoint = azurite.endpoint_on(relay.port());

    let args = export.repair_args(&endpoint, &["--auth", "azure-cli", "--concurrency", "1"]);
    let child = tool(&az, azurite, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(relay.wait_until_holding(), "the repair never downloaded");
    let tokens = az.az_tokens();
    let first_expiry = tokens[0].0;
    // Hold the run until the token it started with has expired for Azurite too.
    while time::OffsetDateTime::now_utc().unix_timestamp() <= first_expiry {
        std::thread::sleep(Duration::from_millis(100));
    }
    relay.release();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    export.assert_drive_matches_blobs();
    let tokens = az.az_tokens();
    assert!(
        tokens.len() >= 2 && tokens.last().unwrap().0 > first_expiry,
        "a new token was fetched: {tokens:?}"
    );
    assert!(relay.relayed() > 64 * KIB);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_403_under_entra_id_names_the_role_and_changes_nothing() {
    let Some(azurite) = azurite() else { return };
    let export = damaged_export(azurite, "forbidden").await;
    let before = snapshot(&export.drive());
    let az = FakeTools::new();
    // A token for another account: Azurite refuses it with 403, as Azure refuses an identity
    // without a data role.
    az.install_az(AzAnswer::Token {
        tenant: TENANT,
        audience: "https://someoneelse.blob.core.windows.net",
        life_seconds: 3600,
    });
    // The v1 form, no credential: the chain signs in with the Azure CLI.
    let mut args: Vec<OsString> = vec!["RepairExport".into()];
    args.push(format!("/r:{}", export.repair_file().display()).into());
    args.push(format!("/d:{}", export.drive().display()).into());
    args.push(format!("/sn:{ACCOUNT}").into());
    args.push(format!("/CopyLogFile:{}", export.copy_log_path().display()).into());
    args.push(format!("/ManifestFile:{}", export.manifest().display()).into());
    args.push(format!("/BlobEndpoint:{}", azurite.endpoint()).into());
    args.push(format!("/logdir:{}", export.logs().display()).into());
    let output = run(tool(&az, azurite, args));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("refused the credentials (HTTP 403)"),
        "{stderr}"
    );
    assert!(stderr.contains("Entra ID: Azure CLI"), "{stderr}");
    assert!(
        stderr.contains("\"Storage Blob Data Reader\" role"),
        "{stderr}"
    );
    assert!(stderr.contains("account key or a SAS"), "{stderr}");
    assert!(stderr.contains("(Invalid token audience.)"), "{stderr}");
    // How to go on says how to switch to a key or SAS, in the v1 switches as in the flags,
    // not "rerun with a valid key or SAS" as if a key had been refused.
    assert!(
        stderr.contains("or switch to a key or SAS: rerun with the account key (/sk:, --account-key or AZURE_STORAGE_KEY) or a SAS (/csas:, --sas or AZURE_STORAGE_SAS) in place of the Entra ID sign-in"),
        "{stderr}"
    );
    assert!(!stderr.contains("valid key or SAS"), "{stderr}");
    assert_eq!(snapshot(&export.drive()), before);
    let tokens: Vec<String> = az.az_tokens().into_iter().map(|(_, t)| t).collect();
    assert!(!tokens.is_empty());
    for token in &tokens {
        assert!(!stderr.contains(token.as_str()) && !text(&output.stdout).contains(token.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_sign_in_the_run_stops_before_it_starts_with_exit_3() {
    let Some(azurite) = azurite() else { return };
    let export = damaged_export(azurite, "nologin").await;
    let before = snapshot(&export.drive());
    let az = FakeTools::new();
    az.install_az(AzAnswer::NotSignedIn);
    let output = run(tool(
        &az,
        azurite,
        export.repair_args(&azurite.endpoint(), &[]),
    ));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("cannot sign in with Entra ID"), "{stderr}");
    assert!(stderr.contains("az login"), "{stderr}");
    assert!(stderr.contains("--account-key"), "{stderr}");
    assert_eq!(snapshot(&export.drive()), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_reaches_an_output_a_log_the_repair_file_or_a_report() {
    let Some(azurite) = azurite() else { return };
    let export = damaged_export(azurite, "secrets").await;
    let az = FakeTools::new();
    // Short-lived: the run renews it, so more than one token is in play.
    az.install_az(storage_token(2));
    let mut outputs: Vec<Output> = Vec::new();
    for extra in [&["--json"][..], &[]] {
        let output = run(tool(
            &az,
            azurite,
            export.repair_args(&azurite.endpoint(), extra),
        ));
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        outputs.push(output);
    }
    export.assert_drive_matches_blobs();
    let tokens: Vec<(i64, String)> = az.az_tokens();
    assert!(tokens.len() >= 2, "{tokens:?}");
    let mut secrets: Vec<&str> = Vec::new();
    for (_, token) in &tokens {
        // The whole token and its signature, each on its own.
        secrets.push(token);
        secrets.push(token.rsplit('.').next().unwrap());
    }
    let streams: Vec<&[u8]> = outputs
        .iter()
        .flat_map(|o| [o.stdout.as_slice(), o.stderr.as_slice()])
        .collect();
    export.assert_no_secret(&streams, &secrets);
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_signs_in_the_same_way() {
    let Some(azurite) = azurite() else { return };
    azurite.create_container("waimportexport").await;
    let name = "waies/job1_ENTRA7_20240101-101010-100_error.xml";
    let content = b"<DriveLog>error log</DriveLog>";
    azurite
        .put_block_blob("waimportexport", name, content, None, &[])
        .await;
    let into = tempfile::tempdir().unwrap();
    let az = FakeTools::new();
    az.install_az(storage_token(3600));
    let args = [
        "logs",
        "--account",
        ACCOUNT,
        "--blob-endpoint",
        &azurite.endpoint(),
    ]
    .into_iter()
    .chain([
        "--drive-id",
        "ENTRA7",
        "--into",
        &into.path().display().to_string(),
    ])
    .map(OsString::from)
    .collect();
    let output = run(tool(&az, azurite, args));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read(
            into.path()
                .join("job1_ENTRA7_20240101-101010-100_error.xml")
        )
        .unwrap(),
        content
    );
    assert_eq!(az.calls("az").len(), 1);
}

/// The console signed in with Entra ID: the storage refuses the identity (403), the console
/// says which role it needs and offers to switch to a key or SAS; the account key typed there
/// (Azurite takes Shared Key beside OAuth) finishes the repair.
#[tokio::test(flavor = "multi_thread")]
async fn the_console_names_the_role_and_a_key_typed_there_finishes_the_repair() {
    if !tmux_present() {
        return;
    }
    let Some(azurite) = azurite() else { return };
    let export = damaged_export(azurite, "console").await;
    let az = FakeTools::new();
    az.install_az(AzAnswer::Token {
        tenant: TENANT,
        audience: "https://someoneelse.blob.core.windows.net",
        life_seconds: 3600,
    });
    let quote = |text: &std::ffi::OsStr| format!("'{}'", text.to_string_lossy());
    let args: Vec<String> = export
        .repair_args(&azurite.endpoint(), &["--auth", "azure-cli"])
        .iter()
        .map(|arg| quote(arg))
        .collect();
    let unset: Vec<String> = ENVIRONMENT_VARIABLES
        .iter()
        .chain(MORE_AZURE_VARIABLES)
        .map(|name| format!("-u {name}"))
        .collect();
    let done = export.dir.path().join("exit-code");
    let command = format!(
        "cd {dir} && env {unset} PATH={path} SSL_CERT_FILE={cert} NO_COLOR=1 {bin} {args}; \
         echo $? > {done}; sleep 60",
        dir = quote(export.dir.path().as_os_str()),
        unset = unset.join(" "),
        path = quote(&az.path_env()),
        cert = quote(azurite.certificate().as_os_str()),
        bin = quote(std::path::Path::new(env!("CARGO_BIN_EXE_export-repair")).as_os_str()),
        args = args.join(" "),
        done = quote(done.as_os_str()),
    );
    let name = format!("er-entra-{}", std::process::id());
    let session = start(&name, &command);
    let asked = wait_for(&name, " new credentials ");
    let offer = boxed_text(&asked, " new credentials ");
    assert!(
        offer.starts_with(
            "The storage refused the Entra ID sign-in: the identity needs the \"Storage Blob \
             Data Reader\" role on the storage account or the container"
        ),
        "{asked}"
    );
    assert!(
        offer.contains("To switch to a key or SAS, type or paste the account key or a SAS"),
        "{asked}"
    );
    assert!(asked.contains("waiting for a new key or SAS"), "{asked}");
    tmux(&["send-keys", "-t", &name, "-l", KEY]);
    wait_for(&name, &format!("({} characters)", KEY.len()));
    keys(&name, &["Enter"]);
    let repaired = wait_for(&name, "done: all damage repaired");
    // The header names the source as it reads now: with the key.
    assert!(
        repaired.contains("devstoreaccount1 (account key)"),
        "{repaired}"
    );
    keys(&name, &["q"]);
    wait_for(&name, "REPAIRED: all damage was repaired");
    assert_eq!(exit_code(&done), "0");
    export.assert_drive_matches_blobs();
    drop(session);
}

/// A token service on Azurite's certificate, the secrets of its sign-ins (none of them ever
/// printed or written), and an Azure CLI that is signed out: a token can only come from the
/// service.
fn token_service(azurite: &Azurite) -> (TokenServer, Secrets, FakeTools) {
    let secrets = Secrets {
        tenant: TENANT.into(),
        client_id: "5d1c9a7e-3b2f-4e6a-8c0d-9f8e7d6c5b4a".into(),
        client_secret: "Xq8~client-secret-never-printed.Zr4vT2mK".into(),
        identity_header: "identity-header-never-printed-7f3e9b1c".into(),
    };
    let server = TokenServer::start(
        &azurite.certificate(),
        &azurite.certificate_key(),
        secrets.clone(),
    );
    let az = FakeTools::new();
    az.install_az(AzAnswer::NotSignedIn);
    (server, secrets, az)
}

/// Every token the service handed out, whole and by its signature.
fn issued(server: &TokenServer) -> Vec<String> {
    let tokens = server.tokens();
    assert!(!tokens.is_empty(), "no token was issued");
    tokens
        .iter()
        .flat_map(|token| [token.clone(), token.rsplit('.').next().unwrap().to_string()])
        .collect()
}

/// A service principal with a client secret (`--auth env`), signing in at a local token
/// service over HTTPS (`AZURE_AUTHORITY_HOST`): a wrong secret is refused before anything
/// starts (exit 3), the right one repairs the drive; the secret and the tokens are nowhere.
///
/// Seen failing with a token service whose refusal repeats the request: the wrong secret was
/// printed (AZURE_CLIENT_SECRET was never among the secrets masked).
#[tokio::test(flavor = "multi_thread")]
async fn repairs_signed_in_as_a_service_principal_with_a_client_secret() {
    let Some(azurite) = azurite() else { return };
    let export = damaged_export(azurite, "principal").await;
    let before = snapshot(&export.drive());
    let (server, secrets, az) = token_service(azurite);
    let principal = |secret: &str| {
        let mut command = tool(
            &az,
            azurite,
            export.repair_args(&azurite.endpoint(), &["--auth", "env"]),
        );
        command
            .env("AZURE_TENANT_ID", &secrets.tenant)
            .env("AZURE_CLIENT_ID", &secrets.client_id)
            .env("AZURE_CLIENT_SECRET", secret)
            .env("AZURE_AUTHORITY_HOST", server.authority());
        command
    };

    let wrong = "Xq8~a-wrong-secret-never-printed.Qw3e";
    let refused = run(principal(wrong));
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("cannot sign in with Entra ID"), "{stderr}");
    assert!(
        stderr.contains("service principal (AZURE_CLIENT_SECRET)"),
        "{stderr}"
    );
    assert!(!stderr.contains(wrong) && !text(&refused.stdout).contains(wrong));
    assert!(server.tokens().is_empty());
    assert_eq!(snapshot(&export.drive()), before);

    let output = run(principal(&secrets.client_secret));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    export.assert_drive_matches_blobs();
    // Each request went to the tenant's token endpoint, for the storage scope.
    let requests = server.requests();
    assert!(requests.len() >= 2, "{requests:?}");
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, format!("/{TENANT}/oauth2/v2.0/token"));
        assert!(
            request
                .body
                .contains("scope=https%3A%2F%2Fstorage.azure.com%2F.default"),
            "{}",
            request.body
        );
    }
    assert!(az.calls("az").is_empty(), "the Azure CLI was asked");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.report()).unwrap()).unwrap();
    assert!(
        report
            .to_string()
            .contains("Entra ID: service principal (AZURE_CLIENT_SECRET)"),
        "the report names how the run signed in: {report}"
    );
    let mut secret_texts = issued(&server);
    secret_texts.extend([secrets.client_secret.clone(), wrong.to_string()]);
    let secret_texts: Vec<&str> = secret_texts.iter().map(String::as_str).collect();
    export.assert_no_secret(
        &[
            &output.stdout,
            &output.stderr,
            &refused.stdout,
            &refused.stderr,
        ],
        &secret_texts,
    );
}

/// An App Service managed identity (`--auth managed-identity`): the token comes from the
/// endpoint `IDENTITY_ENDPOINT` names, asked with `IDENTITY_HEADER`, so the instance metadata
/// address is never asked. The repair succeeds with it; the header and the tokens are nowhere.
#[tokio::test(flavor = "multi_thread")]
async fn repairs_signed_in_as_an_app_service_managed_identity() {
    let Some(azurite) = azurite() else { return };
    let export = damaged_export(azurite, "managed").await;
    let (server, secrets, az) = token_service(azurite);
    let mut command = tool(
        &az,
        azurite,
        export.repair_args(&azurite.endpoint(), &["--auth", "managed-identity"]),
    );
    command
        .env("IDENTITY_ENDPOINT", server.identity_endpoint())
        .env("IDENTITY_HEADER", &secrets.identity_header);
    let output = run(command);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    export.assert_drive_matches_blobs();
    // The token Azurite took came from here: App Service's protocol, its secret header, the
    // storage as the resource, a system-assigned identity.
    let requests = server.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.method, "GET");
        assert_eq!(
            request.target,
            "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fstorage.azure.com"
        );
        assert_eq!(
            request.headers.get("x-identity-header"),
            Some(&secrets.identity_header)
        );
    }
    assert!(az.calls("az").is_empty(), "the Azure CLI was asked");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.report()).unwrap()).unwrap();
    assert!(
        report.to_string().contains("Entra ID: managed identity"),
        "{report}"
    );
    let mut secret_texts = issued(&server);
    secret_texts.push(secrets.identity_header.clone());
    let secret_texts: Vec<&str> = secret_texts.iter().map(String::as_str).collect();
    export.assert_no_secret(&[&output.stdout, &output.stderr], &secret_texts);
}
