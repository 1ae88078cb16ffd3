//! `export-repair logs`: finds a drive's logs in the storage account and fetches them.
//!
//! Where the service puts them (formats.md §2.1, §2.6): v1 and 2018-10-01 logs and the
//! manifest backup under `waies/` of the diagnostics container (`waimportexport`, or the one
//! the job's DiagnosticsPath named: `--container`), named
//! `<job>_<DriveId>_<timestamp>_{error,verbose,manifest}.xml`; 2021-08-01 logs at the top of
//! `databoxcopylog`, named `<order>_<serial>_{CopyLog,VerboseLog}_<job ID>.xml`. A container
//! SAS reaches only its container; the v1 logs of a SAS job live under `waimportexport/waies/`
//! inside it.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::format::copylog::CopyLog;
use crate::format::log_names::{LogKind, LogName};
use crate::format::manifest::Manifest;
use crate::rooted::{Located, Placed, RootedDir, RootedError, Temporary};
use crate::sanitize::escape_controls;
use crate::source::azure::{AzureBlobSource, AzureSourceConfig, ListedBlob};
use crate::source::{BlobSource, ReadConditions, SourceError};

use super::args::{AuthMethod, LogsArgs};
use super::{CliError, ExitStatus};

/// The container of the 2021-08-01 logs.
const COPY_LOG_CONTAINER: &str = "databoxcopylog";

/// One log of the drive found in the account.
struct Found {
    blob: ListedBlob,
    name: LogName,
}

pub async fn run(args: LogsArgs) -> Result<ExitStatus, CliError> {
    let drive_id = match &args.drive_id {
        Some(id) => id.trim().to_string(),
        None => drive_id_on_target(args.target.as_deref(), args.manifest.as_deref())?,
    };
    let destination = destination(&args)?;
    if let (Some(destination), Some(target)) = (&destination, &args.target) {
        super::report_paths::outside_drive(
            destination,
            target,
            "the folder the logs go to",
            "save them beside the drive (--into, or beside --repair-file)",
        )?;
    }
    let source = open_source(
        &args.account,
        args.account_key.as_deref(),
        args.sas.as_deref(),
        args.auth,
        args.blob_endpoint.as_deref(),
    )
    .await?;
    let say = |line: String| {
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "{line}");
    };
    let found = find_drives_logs(&source, &args.container, &drive_id, &say).await?;
    let Some(destination) = destination else {
        return Ok(ExitStatus::Verified);
    };
    let chosen: Vec<&Found> = if args.all {
        found.iter().collect()
    } else {
        newest_of_each_kind(&found)
    };
    save_all(&source, &chosen, &destination, &say).await?;
    Ok(ExitStatus::Verified)
}

/// What `repair --fetch-logs` needs: the account and which drive.
pub struct FetchFor<'a> {
    pub account: &'a str,
    pub account_key: Option<&'a str>,
    pub sas: Option<&'a str>,
    pub auth: Option<AuthMethod>,
    pub blob_endpoint: Option<&'a str>,
    pub drive_id: Option<&'a str>,
    pub target: &'a Path,
    pub manifest: Option<&'a Path>,
    /// The job's diagnostics container for v1/2018 logs.
    pub container: &'a str,
    /// The logs are saved beside it.
    pub repair_file: &'a Path,
}

/// For `repair --fetch-logs`: finds the drive's logs as `logs` does, saves the newest of each
/// kind beside the repair file, and returns each with the kind it is.
pub async fn fetch_for_repair(fetch: FetchFor<'_>) -> Result<Vec<(LogKind, PathBuf)>, CliError> {
    let drive_id = match fetch.drive_id {
        Some(id) => id.trim().to_string(),
        None => drive_id_on_target(Some(fetch.target), fetch.manifest)?,
    };
    let source = open_source(
        fetch.account,
        fetch.account_key,
        fetch.sas,
        fetch.auth,
        fetch.blob_endpoint,
    )
    .await?;
    // Stdout may be the run's NDJSON stream: what is found and saved goes to stderr.
    let say = |line: String| say!("{line}");
    let found = find_drives_logs(&source, fetch.container, &drive_id, &say).await?;
    let destination = fetch
        .repair_file
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let chosen = newest_of_each_kind(&found);
    let saved = save_all(&source, &chosen, &destination, &say).await?;
    let fetched: Vec<(LogKind, PathBuf)> =
        chosen.iter().map(|log| log.name.kind).zip(saved).collect();
    for (kind, path) in &fetched {
        if let Some(other) = drive_id_in(*kind, path)
            && !other.eq_ignore_ascii_case(&drive_id)
        {
            // Not left beside the repair file under this drive's name for a later run.
            for (_, fetched) in &fetched {
                let _ = std::fs::remove_file(fetched);
            }
            return Err(CliError::Usage(format!(
                "the {} {} fetched for drive {} is drive {}'s (its DriveId): the account \
                 holds another drive's log under this drive's name; the logs fetched were \
                 removed and nothing was repaired (look at the logs with `export-repair logs`, \
                 and give the right ones with --copy-log and --manifest)",
                kind.as_str(),
                escape_controls(&path.display().to_string()),
                escape_controls(&drive_id),
                escape_controls(&other)
            )));
        }
    }
    Ok(fetched)
}

/// The DriveId a fetched error log or manifest backup states, when it can be read (one that
/// cannot is refused by the run, naming its fault). A DriveLog of every blob (the verbose
/// log) is not read twice; a 2021 log's DriveId is a GUID, not the drive's serial number.
fn drive_id_in(kind: LogKind, path: &Path) -> Option<String> {
    let stated = match kind {
        LogKind::Error => CopyLog::from_file(path).ok().map(|log| log.drive_id),
        LogKind::Manifest => Manifest::from_file(path)
            .ok()
            .map(|manifest| manifest.drive_id),
        LogKind::Verbose | LogKind::CopyLog | LogKind::VerboseLog => None,
    }?;
    // A log stating none says nothing of whose it is.
    Some(stated.trim().to_string()).filter(|id| !id.is_empty())
}

/// The account's storage, signed in (an Entra ID token is taken before the first listing).
async fn open_source(
    account: &str,
    account_key: Option<&str>,
    sas: Option<&str>,
    auth: Option<AuthMethod>,
    blob_endpoint: Option<&str>,
) -> Result<AzureBlobSource, CliError> {
    let credential = super::repair::azure_credential(account_key, sas, auth)?;
    let mut config = AzureSourceConfig::new(account.to_string(), credential);
    config.endpoint = blob_endpoint.map(str::to_string);
    let source = AzureBlobSource::new(config)?;
    source.sign_in().await?;
    Ok(source)
}

/// The drive's logs in the account, newest first, listed on stdout; an error naming the
/// drives whose logs are there when there is none.
async fn find_drives_logs(
    source: &AzureBlobSource,
    container: &str,
    drive_id: &str,
    say: &dyn Fn(String),
) -> Result<Vec<Found>, CliError> {
    let (found, others) = find(source, container, drive_id).await?;
    if found.is_empty() {
        let mut other_drives: Vec<&str> = others.iter().map(|n| n.drive_id.as_str()).collect();
        other_drives.sort_unstable();
        other_drives.dedup();
        // Names from the account are shown escaped, and only so many of them.
        const SHOWN: usize = 10;
        let mut shown: Vec<String> = other_drives
            .iter()
            .take(SHOWN)
            .map(|id| escape_controls(id).into_owned())
            .collect();
        if other_drives.len() > SHOWN {
            shown.push(format!("and {} more", other_drives.len() - SHOWN));
        }
        let hint = if shown.is_empty() {
            String::new()
        } else {
            format!(" (there are logs of drives {})", shown.join(", "))
        };
        return Err(CliError::Usage(format!(
            "no logs of drive {} in {}{hint}",
            escape_controls(drive_id),
            places(source, container).join(" or ")
        )));
    }
    say(format!(
        "logs of drive {}, newest first:",
        escape_controls(drive_id)
    ));
    for log in &found {
        say(format!(
            "  {:<26} {:<26} {:>10}  {}",
            log.name.kind.as_str(),
            log.blob
                .last_modified
                .map_or_else(|| "unknown".to_string(), |at| at.to_string()),
            crate::ledger::human::bytes(log.blob.length),
            escape_controls(&format!("{}/{}", log.blob.container, log.blob.name))
        ));
    }
    Ok(found)
}

/// Saves `chosen` into `destination`; the paths, in order.
async fn save_all(
    source: &AzureBlobSource,
    chosen: &[&Found],
    destination: &Path,
    say: &dyn Fn(String),
) -> Result<Vec<PathBuf>, CliError> {
    std::fs::create_dir_all(destination).map_err(|error| {
        CliError::Usage(format!("cannot create {}: {error}", destination.display()))
    })?;
    let mut saved = Vec::new();
    for log in chosen {
        let Saved { path, left_alone } = save(source, &log.blob, destination).await?;
        let mut line = format!(
            "saved {}  (use it with {})",
            escape_controls(&path.display().to_string()),
            log.name.kind.flag()
        );
        if let Some(left_alone) = left_alone {
            line.push_str(&format!(
                "; {}, already there with other bytes (mended by hand?), is left as it is",
                escape_controls(&left_alone.display().to_string())
            ));
        }
        say(line);
        saved.push(path);
    }
    Ok(saved)
}

/// Where the logs go: `--into`, else beside the repair file; `None` with `--list`.
fn destination(args: &LogsArgs) -> Result<Option<PathBuf>, CliError> {
    if args.list {
        return Ok(None);
    }
    match (&args.into, &args.repair_file) {
        (Some(into), _) => Ok(Some(into.clone())),
        (None, Some(repair_file)) => Ok(Some(
            repair_file
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        )),
        (None, None) => Err(CliError::Usage(
            "say where the logs go: --repair-file FILE (they go beside it), --into DIR, or only \
             --list them"
                .into(),
        )),
    }
}

/// The DriveId of the manifest given, or of the one manifest in the target's root.
fn drive_id_on_target(target: Option<&Path>, manifest: Option<&Path>) -> Result<String, CliError> {
    let manifest = match (manifest, target) {
        (Some(manifest), _) => manifest.to_path_buf(),
        (None, Some(target)) => only_manifest_in(target)?,
        (None, None) => {
            return Err(CliError::Usage(
                "name the drive: --drive-id ID, or --target DIR (its manifest names it), or \
                 --manifest FILE"
                    .into(),
            ));
        }
    };
    Ok(Manifest::from_file(&manifest)?.drive_id)
}

fn only_manifest_in(target: &Path) -> Result<PathBuf, CliError> {
    let entries = std::fs::read_dir(target)
        .map_err(|error| CliError::Usage(format!("cannot read {}: {error}", target.display())))?;
    let mut manifests: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && is_manifest_name(path))
        .collect();
    manifests.sort();
    match manifests.len() {
        1 => Ok(manifests.remove(0)),
        0 => Err(CliError::Usage(format!(
            "no manifest (*.manifest or DriveManifest.xml) in {}: give the drive's id with \
             --drive-id, or the manifest with --manifest",
            target.display()
        ))),
        _ => Err(CliError::Usage(format!(
            "several manifests in {} ({}): choose one with --manifest, or give --drive-id",
            target.display(),
            manifests
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn is_manifest_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_ascii_lowercase();
    name.ends_with(".manifest") || name == "drivemanifest.xml"
}

/// The containers and prefixes to look in, as `container/prefix` for messages.
fn places(source: &AzureBlobSource, container: &str) -> Vec<String> {
    locations(source, container)
        .iter()
        .map(|(container, prefix)| format!("{container}/{prefix}"))
        .collect()
}

fn locations(source: &AzureBlobSource, container: &str) -> Vec<(String, &'static str)> {
    match source.sas_container() {
        Some(COPY_LOG_CONTAINER) => vec![(COPY_LOG_CONTAINER.to_string(), "")],
        // A SAS job's v1 logs are a virtual directory of its container.
        Some(sas) if sas != container => vec![(sas.to_string(), "waimportexport/waies/")],
        Some(sas) => vec![(sas.to_string(), "waies/")],
        None => vec![
            (container.to_string(), "waies/"),
            (COPY_LOG_CONTAINER.to_string(), ""),
        ],
    }
}

/// The drive's logs, newest first, and the names of other drives' logs seen on the way.
async fn find(
    source: &AzureBlobSource,
    container: &str,
    drive_id: &str,
) -> Result<(Vec<Found>, Vec<LogName>), CliError> {
    let mut found = Vec::new();
    let mut others = Vec::new();
    let places = locations(source, container);
    let mut refused = Vec::new();
    for (container, prefix) in &places {
        let (container, prefix) = (container.as_str(), *prefix);
        let in_copy_log_container = container == COPY_LOG_CONTAINER && prefix.is_empty();
        let listed = match source.list_blobs(container, prefix).await {
            // A bare SAS may be a container SAS, which reaches only its own container: a
            // refusal elsewhere is said, and the places it reaches are searched all the same.
            Err(error) if error.refused_credentials().is_some() && source.has_bare_sas() => {
                say!(
                    "note: {container} refused the SAS (a container SAS reaches only its own \
                     container; to search {container} too, give a SAS made for it as \
                     {container}?<sas>, or an account SAS)"
                );
                refused.push(error);
                continue;
            }
            listed => listed?,
        };
        for blob in listed {
            // Only the documented places: the top of `waies/` or of `databoxcopylog`.
            let Some(rest) = blob.name.strip_prefix(prefix).filter(|r| !r.contains('/')) else {
                continue;
            };
            let Some(name) = LogName::parse(rest) else {
                continue;
            };
            let is_v2021 = matches!(name.kind, LogKind::CopyLog | LogKind::VerboseLog);
            if is_v2021 != in_copy_log_container {
                continue;
            }
            if name.drive_id.eq_ignore_ascii_case(drive_id) {
                found.push(Found { blob, name });
            } else {
                others.push(name);
            }
        }
    }
    // Found nowhere, and refused somewhere: the refusal is the answer (exit 3).
    if found.is_empty()
        && let Some(error) = refused.into_iter().next()
    {
        return Err(error.into());
    }
    found.sort_by(|a, b| {
        b.blob
            .last_modified
            .cmp(&a.blob.last_modified)
            .then_with(|| b.name.stamp.cmp(&a.name.stamp))
            .then_with(|| a.blob.name.cmp(&b.blob.name))
    });
    Ok((found, others))
}

/// The newest log of each kind (the list is sorted newest first).
fn newest_of_each_kind(found: &[Found]) -> Vec<&Found> {
    let mut chosen: Vec<&Found> = Vec::new();
    for log in found {
        if !chosen.iter().any(|c| c.name.kind == log.name.kind) {
            chosen.push(log);
        }
    }
    chosen
}

/// Where a fetched log went, and the file of its name left alone because it holds other bytes.
struct Saved {
    path: PathBuf,
    left_alone: Option<PathBuf>,
}

/// Downloads one log, pinned to the listed ETag, into `directory` under its own name; the
/// file appears whole and synced, or not at all. The bytes go to the file as they arrive: a
/// verbose log of millions of files is gigabytes, never held in memory. The folder may be
/// shared: the download goes to a temporary of a random name made there (never through a
/// link or into a FIFO someone planted), and a link at the log's name is refused. A file of
/// the log's name with other bytes is never replaced (see [`put_in_place`]).
async fn save(
    source: &AzureBlobSource,
    blob: &ListedBlob,
    directory: &Path,
) -> Result<Saved, CliError> {
    let conditions = ReadConditions {
        if_match: blob.etag.clone(),
        ..ReadConditions::default()
    };
    let file_name = blob.name.rsplit('/').next().unwrap_or(&blob.name);
    let path = directory.join(file_name);
    let shown = escape_controls(&path.display().to_string()).into_owned();
    let cannot_write = |error: &dyn std::fmt::Display| {
        CliError::Usage(format!(
            "cannot write {shown}: {}",
            escape_controls(&error.to_string())
        ))
    };
    let folder = RootedDir::open(directory).map_err(|error| cannot_write(&error))?;
    let refuse_links = |error: RootedError| match error {
        RootedError::Symlink { path, .. } => CliError::Usage(format!(
            "cannot write {}: it is a symbolic link, and a log is saved as a file of its own, \
             never through a link (remove the link, or fetch into another folder)",
            escape_controls(&directory.join(path).display().to_string())
        )),
        error => cannot_write(&error),
    };
    let located = folder.child(file_name).map_err(refuse_links)?;
    let temporary = located.temporary().map_err(|error| cannot_write(&error))?;
    let mut file = &temporary.file;
    let mut write_failed = None;
    let read = source
        .read_range_to(
            &blob.blob_ref(),
            0,
            blob.length,
            &conditions,
            &mut |chunk| {
                if write_failed.is_none()
                    && let Err(error) = file.write_all(&chunk)
                {
                    write_failed = Some(error);
                }
            },
        )
        .await;
    // An uncommitted temporary is removed when dropped.
    match (read, write_failed) {
        // A log is not the export: "changed since export" would mislead.
        (Err(SourceError::Changed { .. }), _) => Err(CliError::TryAgain(format!(
            "the log {} changed while it was fetched (the service may still be writing it); \
             nothing was saved",
            escape_controls(&format!("{}/{}", blob.container, blob.name))
        ))),
        (Err(error), _) => Err(error.into()),
        (Ok(()), Some(error)) => Err(cannot_write(&error)),
        (Ok(()), None) => put_in_place(&folder, file_name, temporary).map_err(refuse_links),
    }
}

/// How many numbered names beside a log are tried before giving up.
const NUMBERED_NAMES: u32 = 99;

/// Puts a fetched log in place under `name`, or, where a file of that name holds other bytes
/// (a copy mended by hand, say), beside it as `<stem>.1.xml`, `<stem>.2.xml`…: never over
/// other bytes, also when a file appears at the name meanwhile (the rename does not replace).
/// A file with the same bytes is left as it is and taken (the temporary goes). A numbered
/// name that is no plain file (a link, a folder, a FIFO) is passed by; at the log's own name
/// it is refused.
fn put_in_place(
    folder: &RootedDir,
    name: &str,
    mut temporary: Temporary,
) -> Result<Saved, RootedError> {
    for number in 0..=NUMBERED_NAMES {
        let candidate = match number {
            0 => name.to_string(),
            n => numbered(name, n),
        };
        let saved = || Saved {
            path: folder.path().join(&candidate),
            left_alone: (number > 0).then(|| folder.path().join(name)),
        };
        let located = match folder.child(&candidate) {
            Err(RootedError::Symlink { .. }) if number > 0 => continue,
            located => located?,
        };
        if located.exists() {
            let theirs = match located.open_read() {
                Err(RootedError::NotAFile { .. } | RootedError::Symlink { .. }) if number > 0 => {
                    continue;
                }
                theirs => theirs?,
            };
            if same_bytes(&theirs, &temporary.file, &located)? {
                return Ok(saved());
            }
            continue;
        }
        temporary.retarget(&candidate)?;
        match temporary.commit_as_new()? {
            Placed::Done(_) => return Ok(saved()),
            Placed::NameTaken(back) => temporary = back,
        }
    }
    Err(RootedError::io(
        &folder.path().join(name).display().to_string(),
        std::io::Error::other(format!(
            "it and {NUMBERED_NAMES} numbered names beside it hold other bytes: fetch into \
             another folder"
        )),
    ))
}

/// `job_error.xml` numbered `n`: `job_error.n.xml` (`name.n` without an extension).
fn numbered(name: &str, n: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => format!("{stem}.{n}.{extension}"),
        _ => format!("{name}.{n}"),
    }
}

/// Whether two files hold the same bytes, compared in pieces (a verbose log is gigabytes).
fn same_bytes(theirs: &File, ours: &File, located: &Located) -> Result<bool, RootedError> {
    use std::os::unix::fs::FileExt as _;
    let io_error = |error| RootedError::io(located.display(), error);
    let length = ours.metadata().map_err(io_error)?.len();
    if theirs.metadata().map_err(io_error)?.len() != length {
        return Ok(false);
    }
    const PIECE: usize = 1 << 20;
    let (mut a, mut b) = (vec![0u8; PIECE], vec![0u8; PIECE]);
    let mut offset = 0;
    while offset < length {
        let piece = PIECE.min((length - offset) as usize);
        theirs
            .read_exact_at(&mut a[..piece], offset)
            .map_err(io_error)?;
        ours.read_exact_at(&mut b[..piece], offset)
            .map_err(io_error)?;
        if a[..piece] != b[..piece] {
            return Ok(false);
        }
        offset += piece as u64;
    }
    Ok(true)
}
