//! `export-repair repair` (and `RepairExport`): the copy-log pass, the manifest pass, resumable.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::{self, RepairOptions};
use crate::format::log_names::LogKind;
use crate::journal::{self, Binding, RepairFile};
use crate::model::Drive;
use crate::source::BlobSource;
use crate::source::azure::{AzureBlobSource, AzureCredential, AzureSourceConfig};
use crate::source::mirror::MirrorSource;

use super::args::{AuthMethod, RepairArgs};
use super::report_paths::{self, Protected};
use super::secrets::secrets_of;
use super::session::{
    Reports, SourceFactory, console_wanted, exit_status, open_console, run_console, run_headless,
};
use super::{CliError, ExitStatus, logging};
use crate::report::RunInfo;

/// What a repair needs, validated.
pub struct RepairPlan {
    pub drive: Arc<Drive>,
    pub target: PathBuf,
    pub source: Arc<dyn BlobSource>,
    /// Builds a source from credentials typed into the console (Azure sources only).
    pub make_source: Option<SourceFactory>,
    /// The credential last typed into the console.
    pub typed: TypedCredential,
    pub repair_file: RepairFile,
    pub secrets: Vec<String>,
    pub reports: Reports,
}

pub async fn run(mut args: RepairArgs) -> Result<ExitStatus, CliError> {
    let interrupts = super::signals::before_run();
    // A dry run writes nothing: a BitLocker volume is opened read-only, as for `verify`.
    let read_only = args.dry_run;
    let volume =
        super::bitlocker::open_target(&mut args.target, &mut args.bitlocker_key, read_only)?;
    let result = match beside_the_drive(&args) {
        Ok(()) => match fetch_logs(&mut args).await {
            Ok(()) => repair(&args, &volume, interrupts).await,
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    super::bitlocker::finish(volume, &mut args.bitlocker_key, result)
}

/// The repair file (and the logs `--fetch-logs` saves beside it) and the log folder are
/// beside the drive, never in it: checked before anything is made or fetched.
fn beside_the_drive(args: &RepairArgs) -> Result<(), CliError> {
    report_paths::outside_drive(
        &args.repair_file,
        &args.target,
        "the repair file",
        "keep the repair file beside the drive",
    )?;
    report_paths::outside_drive(
        &log_dir(args),
        &args.target,
        "the log folder",
        "choose a folder beside the drive with --log-dir (the current folder is the default)",
    )
}

/// Where the run's log goes.
fn log_dir(args: &RepairArgs) -> PathBuf {
    args.log_dir.clone().unwrap_or_else(|| PathBuf::from("."))
}

/// `--fetch-logs`: the drive's newest logs from the account, saved beside the repair file,
/// fill the inputs the command line does not give (the newest copy log of any generation,
/// the 2021 verbose log, the manifest backup).
async fn fetch_logs(args: &mut RepairArgs) -> Result<(), CliError> {
    if !args.fetch_logs {
        return Ok(());
    }
    if args.dry_run {
        return Err(CliError::Usage(
            "--dry-run downloads nothing, and --fetch-logs downloads the drive's logs: fetch \
             them first (`export-repair logs --account NAME --target DIR --into DIR`), then \
             give them to the dry run (--copy-log, --verbose-log, --manifest)"
                .into(),
        ));
    }
    let account = args.account.clone().ok_or_else(|| {
        CliError::Usage("--fetch-logs needs the storage account: name it with --account".into())
    })?;
    let fetched = super::logs::fetch_for_repair(super::logs::FetchFor {
        account: &account,
        account_key: args.account_key.as_deref(),
        sas: args.sas.as_deref(),
        auth: args.auth,
        blob_endpoint: args.blob_endpoint.as_deref(),
        drive_id: args.drive_id.as_deref(),
        target: &args.target,
        manifest: args.manifest.as_deref(),
        container: args.logs_container.as_deref().unwrap_or("waimportexport"),
        repair_file: &args.repair_file,
    })
    .await?;
    // Newest first: the first copy log of either generation is the one to use; a v1
    // verbose DriveLog only when there is no error log.
    let mut copy_log = None;
    let mut drive_log = None;
    for (kind, path) in fetched {
        let slot = match kind {
            LogKind::CopyLog | LogKind::Error => &mut copy_log,
            LogKind::Verbose => &mut drive_log,
            LogKind::VerboseLog => &mut args.verbose_log,
            LogKind::Manifest => &mut args.manifest,
        };
        if slot.is_none() {
            *slot = Some(path);
        }
    }
    if args.copy_log.is_none() {
        args.copy_log = copy_log.or(drive_log);
    }
    for (flag, path) in [
        ("--copy-log", &args.copy_log),
        ("--verbose-log", &args.verbose_log),
        ("--manifest", &args.manifest),
    ] {
        if let Some(path) = path {
            say!("repairing with {flag} {}", path.display());
        }
    }
    Ok(())
}

async fn repair(
    args: &RepairArgs,
    volume: &crate::bitlocker::UnlockedVolume,
    interrupts: super::signals::Interrupts,
) -> Result<ExitStatus, CliError> {
    let plan = prepare(args)?;
    let log_dir = log_dir(args);
    let log =
        logging::start(&log_dir, &plan.drive.drive_id, plan.secrets.clone()).map_err(|error| {
            CliError::Usage(format!(
                "cannot write the log in {}: {error} (choose another directory with --log-dir)",
                log_dir.display()
            ))
        })?;
    tracing::info!(
        "repairing drive {} in {} from {}; repair file {}; log {}",
        plan.drive.drive_id,
        plan.target.display(),
        plan.source.describe(),
        plan.repair_file.path(),
        log.display()
    );
    if volume.was_unlocked_here() {
        tracing::info!(
            "the target is the BitLocker volume on {}, unlocked for this run",
            volume.source().display()
        );
    }
    if !args.dry_run {
        // A sign-in that cannot work stops the run before it starts.
        plan.source.sign_in().await?;
    }
    // The run's own Ctrl-C handling starts now.
    let signals = interrupts.hand_over().await;
    let finished = execute(plan, args, Some(&log), signals).await?;
    Ok(exit_status(&finished))
}

/// Runs a prepared repair, in the console or headless.
pub async fn execute(
    plan: RepairPlan,
    args: &RepairArgs,
    log_file: Option<&Path>,
    signals: super::signals::Signals,
) -> Result<crate::ledger::Ledger, CliError> {
    // A dry run is a plan to read, not a session to steer.
    let console = match !args.dry_run && console_wanted(args.headless, args.json) {
        true => open_console()?,
        false => None,
    };
    let options = RepairOptions {
        concurrency: args.concurrency.max(1),
        // The console keeps the run open for retries and new credentials.
        stay_open: console.is_some(),
        dry_run: args.dry_run,
        ..RepairOptions::default()
    };
    let handle = engine::start_repair(
        Arc::clone(&plan.drive),
        plan.target.clone(),
        plan.source,
        plan.repair_file,
        options,
    );
    let ledger = if let Some(console) = console {
        let make_source = plan.make_source.as_ref();
        run_console(
            console,
            signals,
            handle,
            plan.drive,
            &plan.reports,
            make_source,
            log_file,
        )
        .await?
    } else {
        run_headless(signals, handle, plan.drive, args.json, &plan.reports).await?
    };
    if !args.dry_run {
        let typed = *plan.typed.lock().unwrap_or_else(|e| e.into_inner());
        super::rerun::tell(&ledger, args, typed);
    }
    Ok(ledger)
}

/// Checks the arguments and opens everything a repair needs; nothing on the drive changes.
pub fn prepare(args: &RepairArgs) -> Result<RepairPlan, CliError> {
    super::verify::check_target(&args.target, "/d: or --target")?;
    if args.manifest.is_none() && args.copy_log.is_none() && args.verbose_log.is_none() {
        return Err(CliError::Usage(
            "give the drive's copy log (/CopyLogFile:, --copy-log) and, to verify every component, \
             its manifest (/ManifestFile:, --manifest) or 2021 verbose log (/VerboseLogFile:, \
             --verbose-log)"
                .into(),
        ));
    }
    let typed = TypedCredential::default();
    let (source, make_source, mut secrets) = open_source(args, &typed)?;
    secrets.extend(super::bitlocker::secrets(args.bitlocker_key.as_deref()));
    let drive = super::inputs::load(
        args.manifest.as_deref(),
        args.copy_log.as_deref(),
        args.verbose_log.as_deref(),
    )?;
    let binding = Binding {
        drive_id: drive.drive_id.clone(),
        manifest_md5: args.manifest.as_deref().map(md5_of).transpose()?,
        copy_log_md5: args.copy_log.as_deref().map(md5_of).transpose()?,
        verbose_log_md5: args.verbose_log.as_deref().map(md5_of).transpose()?,
    };
    if let Some(folder) = args.repair_file.parent()
        && !folder.as_os_str().is_empty()
        && !folder.is_dir()
    {
        return Err(CliError::Usage(format!(
            "the repair file {} cannot be made: its folder {} does not exist (make it, or \
             name a repair file in a folder that does)",
            args.repair_file.display(),
            folder.display()
        )));
    }
    let mut run = RunInfo::default()
        .with_inputs(binding.manifest_md5, binding.copy_log_md5)
        .with_option("target", args.target.display())
        .with_option("repair_file", args.repair_file.display())
        .with_secret("account_key", args.account_key.is_some())
        .with_secret("sas", args.sas.is_some())
        .with_secret("bitlocker_key", args.bitlocker_key.is_some())
        .with_option("concurrency", args.concurrency)
        // Where the bytes come from and how the run signs in, never a secret.
        .with_option("source", source.describe());
    if args.dry_run {
        run = run.with_option("dry_run", true);
    }
    for (name, value) in [
        ("account", args.account.clone()),
        ("blob_endpoint", args.blob_endpoint.clone()),
        (
            "source_dir",
            args.source_dir.as_ref().map(|p| p.display().to_string()),
        ),
        (
            "manifest",
            args.manifest.as_ref().map(|p| p.display().to_string()),
        ),
        (
            "copy_log",
            args.copy_log.as_ref().map(|p| p.display().to_string()),
        ),
    ] {
        if let Some(value) = value {
            run = run.with_option(name, value);
        }
    }
    let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let protected = Protected {
        files: vec![("repair file", args.repair_file.as_path())],
        target: Some(&args.target),
    }
    .with_logs(
        args.manifest.as_ref(),
        args.copy_log.as_ref(),
        args.verbose_log.as_ref(),
    );
    // The reports are checked before the repair file is made: a run refused for its report
    // leaves no repair file behind.
    let reports = Reports::new(
        &args.reports.report,
        args.reports.report_format,
        run.scrubbed(&secret_refs),
        &protected,
    )?;
    // A dry run's reports are not the repair file's (it records in a copy in memory).
    let reports = match args.dry_run {
        true => reports,
        false => reports.of_repair(&args.repair_file),
    };
    if !args.dry_run {
        super::inputs::refuse_a_repair_file_on_the_drive(&drive, &args.target, &args.repair_file)
            .map_err(CliError::Usage)?;
    }
    // A dry run reads the repair file into memory and records there: the file is not touched.
    let opened = if args.dry_run {
        RepairFile::in_memory_copy(&args.repair_file, &binding)
    } else {
        RepairFile::open_or_create(&args.repair_file, &binding)
    };
    let (mut repair_file, resumed) =
        opened.map_err(|error| CliError::Usage(super::chain(&error)))?;
    // Now that the repair file exists too.
    let mut drive = drive;
    super::inputs::refuse_entries_on_inputs(&mut drive, &args.target, &protected.files);
    super::inputs::refuse_entries_sharing_a_file(&mut drive, &args.target);
    // A file made by another version may number the drive's components otherwise.
    let recorded = resumed
        && repair_file
            .holds_drive(&drive)
            .map_err(|error| CliError::Usage(super::chain(&error)))?;
    if !recorded {
        repair_file
            .record_drive(&drive)
            .map_err(|error| CliError::Usage(super::chain(&error)))?;
    }
    Ok(RepairPlan {
        drive: Arc::new(drive),
        target: args.target.clone(),
        source,
        make_source,
        typed,
        repair_file,
        secrets,
        reports,
    })
}

/// The MD5 of an input file (the manifest, the copy log), for the run's record and binding.
pub(super) fn md5_of(path: &Path) -> Result<crate::format::Md5, CliError> {
    journal::file_md5(path)
        .map_err(|error| CliError::Usage(format!("cannot read {}: {error}", path.display())))
}

/// The source, how to build it again with other credentials, and the secrets the logs
/// must never show.
type OpenedSource = (Arc<dyn BlobSource>, Option<SourceFactory>, Vec<String>);

/// The environment variable of the credential last typed into the console (the one the run
/// then goes on with), for the command that resumes the run.
pub type TypedCredential = Arc<std::sync::Mutex<Option<&'static str>>>;

fn open_source(args: &RepairArgs, typed: &TypedCredential) -> Result<OpenedSource, CliError> {
    if let Some(directory) = &args.source_dir {
        let mirror = MirrorSource::new(directory).map_err(|error| {
            CliError::Usage(format!(
                "the local mirror (--source-dir) cannot be used: {error}; give the folder that \
                 holds the blobs as <container>/<blob path>"
            ))
        })?;
        let source = crate::demo::pace::paced(Arc::new(mirror), args.pace);
        return Ok((source, None, Vec::new()));
    }
    let account = args.account.clone().ok_or_else(|| {
        CliError::Usage(
            "name the storage account with /sn: (--account), or repair from a local copy with --source-dir"
                .into(),
        )
    })?;
    let credential = azure_credential(args.account_key.as_deref(), args.sas.as_deref(), args.auth)?;
    let secrets = secrets_of(&credential);
    let endpoint = args.blob_endpoint.clone();
    let read_timeout = args.read_timeout;
    let build = move |credential: AzureCredential| {
        let mut config = AzureSourceConfig::new(account.clone(), credential);
        config.endpoint = endpoint.clone();
        if let Some(seconds) = read_timeout {
            config.retry = config
                .retry
                .with_read_timeout(std::time::Duration::from_secs(seconds));
        }
        AzureBlobSource::new(config).map(|source| Arc::new(source) as Arc<dyn BlobSource>)
    };
    let source = build(credential).map_err(|error| CliError::Usage(error.to_string()))?;
    let last_typed = Arc::clone(typed);
    let make_source: SourceFactory = Box::new(move |typed: &str| {
        let credential = typed_credential(typed);
        for secret in secrets_of(&credential) {
            crate::sanitize::remember_secret(&secret);
        }
        let variable = match credential {
            AzureCredential::Sas(_) => "AZURE_STORAGE_SAS",
            _ => "AZURE_STORAGE_KEY",
        };
        let source = build(credential).map_err(|error| super::chain(&error))?;
        *last_typed.lock().unwrap_or_else(|e| e.into_inner()) = Some(variable);
        Ok(source)
    });
    Ok((source, Some(make_source), secrets))
}

/// The account key or the SAS (exactly one of them), or with neither an Entra ID sign-in (the
/// chain, or the `--auth` method); also for `logs`.
pub(super) fn azure_credential(
    account_key: Option<&str>,
    sas: Option<&str>,
    auth: Option<AuthMethod>,
) -> Result<AzureCredential, CliError> {
    match (account_key, sas, auth) {
        (Some(_), Some(_), _) => Err(CliError::Usage(
            "give either the account key (/sk:) or a container SAS (/csas:), not both".into(),
        )),
        (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => Err(CliError::Usage(
            "--auth signs in with Entra ID instead of a key or SAS: give one or the other \
             (AZURE_STORAGE_KEY and AZURE_STORAGE_SAS in the environment count as given)"
                .into(),
        )),
        (Some(key), None, None) => {
            check_account_key(key)?;
            Ok(AzureCredential::AccountKey(key.to_string()))
        }
        (None, Some(sas), None) => Ok(AzureCredential::Sas(sas.to_string())),
        (None, None, auth) => Ok(AzureCredential::EntraId(auth.map(Into::into))),
    }
}

/// A storage account key is the base64 of 64 bytes; say so, and where it goes, when the text
/// given is not base64 at all.
fn check_account_key(key: &str) -> Result<(), CliError> {
    use base64::Engine as _;
    let key = key.trim();
    if base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|bytes| !bytes.is_empty())
    {
        return Ok(());
    }
    let sas_hint = if key.to_ascii_lowercase().contains("sig=") {
        " This looks like a SAS: give it with /csas: or --sas."
    } else {
        ""
    };
    Err(CliError::Usage(format!(
        "the account key given with /sk:, --account-key or AZURE_STORAGE_KEY is not a storage \
         account key: a key is the base64 of 64 bytes (88 characters ending in ==), as the Azure \
         portal shows it under Security + networking › Access keys.{sas_hint} Without a key, \
         give a container SAS (/csas:, --sas) or sign in with Entra ID (--auth)"
    )))
}

/// What was typed into the console's prompt: a SAS carries a signature, anything else is
/// taken for an account key.
fn typed_credential(typed: &str) -> AzureCredential {
    let typed = typed.trim();
    if typed.to_ascii_lowercase().contains("sig=") {
        AzureCredential::Sas(typed.to_string())
    } else {
        AzureCredential::AccountKey(typed.to_string())
    }
}
