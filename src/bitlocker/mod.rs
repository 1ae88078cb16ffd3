//! BitLocker export drives: check the recovery key, unlock the volume, mount its NTFS
//! file system, and always close it again.
//!
//! [`open`] turns what the user named with `/d:` into a directory the repair can work in:
//! a directory is used as it is (a drive the user unlocked already); a BitLocker volume,
//! a partition or a whole disk with a BitLocker partition (MBR or GPT) is unlocked with the
//! recovery key. The key's form is checked first ([`RecoveryKey::parse`]), then the key is
//! tried with `cryptsetup bitlkOpen --test-passphrase` (the key on stdin) before anything is
//! mounted. The unlocking itself is done by an [`Unlocker`] chosen from what the machine has:
//! `cryptsetup open --type bitlk` + `ntfs-3g` where device-mapper exists, otherwise
//! `dislocker` (FUSE) + `ntfs-3g`. The [`UnlockedVolume`] it returns unmounts, closes and
//! removes its temporary directories when dropped — on success, error or panic — and
//! [`emergency_cleanup`] does the same for a process about to exit at once (a second Ctrl-C).

mod backend;
mod guard;
pub mod key;
pub mod layout;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use backend::{Backend, CryptsetupUnlocker, DislockerUnlocker, Unlocker, commands};
pub use guard::{UnlockedVolume, emergency_cleanup};
pub use key::{KeyError, RecoveryKey};
pub use layout::Placement;

/// Forces a backend (`cryptsetup` or `dislocker`) instead of choosing from the machine.
pub const BACKEND_ENV: &str = "EXPORT_REPAIR_BITLOCKER_BACKEND";

/// Why a BitLocker volume could not be opened or closed.
#[derive(Debug, thiserror::Error)]
pub enum BitLockerError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot read {path}: {source}", path = path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is neither a directory nor a BitLocker volume (no \"-FVE-FS-\" boot sector at its \
         start or in a partition of its MBR/GPT table): pass the drive's mounted directory, its \
         BitLocker partition or the whole disk with /d:",
        path = path.display()
    )]
    NotBitLocker { path: PathBuf },
    #[error(
        "{path} is BitLocker-encrypted: give its 48-digit recovery key with /bk:, \
         --bitlocker-key or the BITLOCKER_KEY environment variable",
        path = path.display()
    )]
    KeyNeeded { path: PathBuf },
    #[error(
        "{tool} is not installed but is needed {purpose}: install the package {package} \
         (Debian/Ubuntu: apt-get install {package})"
    )]
    ToolMissing {
        tool: &'static str,
        package: &'static str,
        purpose: &'static str,
    },
    #[error(
        "the recovery key does not unlock {path}: check the 48 digits against the drive's recovery \
         key (its key ID is shown by `cryptsetup bitlkDump`); nothing was mounted",
        path = path.display()
    )]
    WrongKey { path: PathBuf },
    #[error("{what} failed ({status}){detail}")]
    Tool {
        what: String,
        status: String,
        detail: String,
    },
    #[error("cannot create the mount point {path}: {source}", path = path.display())]
    MountPoint {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{0}; the drive may still be mounted: check `mount` and unmount it with `fusermount -u` \
         or `umount` before unplugging it"
    )]
    Cleanup(String),
}

/// The external programs, found on `PATH` (then `/usr/sbin` and `/sbin`, where Debian puts
/// cryptsetup and losetup).
#[derive(Debug, Clone, Default)]
pub struct Tools {
    pub cryptsetup: Option<PathBuf>,
    pub dislocker: Option<PathBuf>,
    pub ntfs_3g: Option<PathBuf>,
    pub losetup: Option<PathBuf>,
    pub fusermount: Option<PathBuf>,
    pub umount: Option<PathBuf>,
}

impl Tools {
    pub fn find() -> Self {
        Self {
            cryptsetup: find_program("cryptsetup"),
            dislocker: find_program("dislocker"),
            ntfs_3g: find_program("ntfs-3g"),
            losetup: find_program("losetup"),
            fusermount: find_program("fusermount3").or_else(|| find_program("fusermount")),
            umount: find_program("umount"),
        }
    }

    fn require(
        tool: &Option<PathBuf>,
        name: &'static str,
        package: &'static str,
        purpose: &'static str,
    ) -> Result<PathBuf, BitLockerError> {
        tool.clone().ok_or(BitLockerError::ToolMissing {
            tool: name,
            package,
            purpose,
        })
    }

    pub fn cryptsetup(&self) -> Result<PathBuf, BitLockerError> {
        Self::require(
            &self.cryptsetup,
            "cryptsetup",
            "cryptsetup-bin",
            "to test the BitLocker recovery key",
        )
    }
}

/// Searches `PATH`, then the sbin directories, for an executable file.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Whether `path` (a file or block device, not a directory) holds a BitLocker volume, at its
/// start or in a partition.
pub fn is_bitlocker(path: &Path) -> bool {
    !path.is_dir() && layout::locate(path).is_ok_and(|found| found.is_some())
}

/// Turns `/d:` into a directory to repair or verify. A directory is taken as it is (already
/// unlocked; the key, if any, is not needed), and so is anything else when no key is given
/// and it is not BitLocker (the caller's checks then refuse it). Otherwise the BitLocker volume on `target` is
/// found, the key tested, and the volume unlocked and mounted (read-only when `read_only`).
pub fn open(
    target: &Path,
    key: Option<&RecoveryKey>,
    read_only: bool,
) -> Result<UnlockedVolume, BitLockerError> {
    if target.is_dir() {
        return Ok(UnlockedVolume::already_unlocked(target));
    }
    let placement = match layout::locate(target) {
        Ok(Some(placement)) => placement,
        // Without a key, what is neither a directory nor BitLocker is left to the caller's
        // own checks (and messages).
        Ok(None) | Err(_) if key.is_none() => return Ok(UnlockedVolume::already_unlocked(target)),
        Ok(None) => {
            return Err(BitLockerError::NotBitLocker {
                path: target.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(BitLockerError::Read {
                path: target.to_path_buf(),
                source,
            });
        }
    };
    let key = key.ok_or_else(|| BitLockerError::KeyNeeded {
        path: target.to_path_buf(),
    })?;
    let tools = Tools::find();
    let cryptsetup = tools.cryptsetup()?;
    let backend = Backend::choose(&tools)?;
    let mut volume = UnlockedVolume::new(&tools, target, placement);
    let device = if placement.offset == 0 {
        target.to_path_buf()
    } else {
        let losetup = Tools::require(
            &tools.losetup,
            "losetup",
            "mount",
            "to reach a BitLocker partition inside a whole-disk image",
        )?;
        volume.attach_loop(&losetup, target, placement, read_only)?
    };
    test_key(&cryptsetup, &device, key).map_err(|error| match error {
        BitLockerError::WrongKey { .. } => BitLockerError::WrongKey {
            path: target.to_path_buf(),
        },
        other => other,
    })?;
    backend
        .unlocker()
        .unlock(&device, key, read_only, &mut volume)?;
    tracing::info!(
        "unlocked the BitLocker volume on {}{} with {}; mounted at {}",
        target.display(),
        placement
            .partition
            .map(|n| format!(" (partition {n})"))
            .unwrap_or_default(),
        backend.name(),
        volume.root().display()
    );
    Ok(volume)
}

/// `cryptsetup bitlkOpen --test-passphrase --key-file=- DEVICE` with the key on stdin: needs
/// no device-mapper and mounts nothing.
pub fn test_key(cryptsetup: &Path, device: &Path, key: &RecoveryKey) -> Result<(), BitLockerError> {
    let output = run_tool(
        cryptsetup,
        &commands::test_key(device),
        Some(key),
        "testing the recovery key with cryptsetup",
    )?;
    match output {
        ToolOutcome::Ok(_) => Ok(()),
        // cryptsetup says "No key available with this passphrase" with exit 2, or (2.6, for
        // a well-formed recovery key) nothing at all with exit 1; other failures say why.
        ToolOutcome::Failed {
            code: Some(code),
            stderr,
            ..
        } if code == 2 || (code == 1 && stderr.trim().is_empty()) => {
            Err(BitLockerError::WrongKey {
                path: device.to_path_buf(),
            })
        }
        failed => Err(failed.into_error("testing the recovery key with cryptsetup")),
    }
}

/// How a tool ended.
pub(crate) enum ToolOutcome {
    Ok(String),
    Failed {
        code: Option<i32>,
        status: String,
        stderr: String,
    },
}

impl ToolOutcome {
    pub(crate) fn into_error(self, what: &str) -> BitLockerError {
        match self {
            ToolOutcome::Ok(_) => BitLockerError::Tool {
                what: what.into(),
                status: "no error".into(),
                detail: String::new(),
            },
            ToolOutcome::Failed { status, stderr, .. } => BitLockerError::Tool {
                what: what.into(),
                status,
                detail: if stderr.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", stderr.trim())
                },
            },
        }
    }
}

/// Runs a tool to its end, the key (if any) on its stdin; whatever it prints is scrubbed of
/// the key before it is kept.
pub(crate) fn run_tool<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    stdin_key: Option<&RecoveryKey>,
    what: &str,
) -> Result<ToolOutcome, BitLockerError> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(if stdin_key.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    spawn_and_wait(command, stdin_key, None, what)
}

/// Spawns `command`, writes the key to its stdin, waits, and scrubs its output of the key
/// (`scrub` is the key the output must not show, when it is not on stdin).
pub(crate) fn spawn_and_wait(
    mut command: Command,
    stdin_key: Option<&RecoveryKey>,
    scrub: Option<&RecoveryKey>,
    what: &str,
) -> Result<ToolOutcome, BitLockerError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command.spawn().map_err(|error| BitLockerError::Tool {
        what: what.into(),
        status: format!("cannot start {program}"),
        detail: format!(": {error}"),
    })?;
    if let (Some(key), Some(mut stdin)) = (stdin_key, child.stdin.take()) {
        // No newline: cryptsetup takes the whole of a key file as the passphrase.
        let _ = stdin.write_all(key.expose().as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|error| BitLockerError::Tool {
            what: what.into(),
            status: format!("cannot wait for {program}"),
            detail: format!(": {error}"),
        })?;
    let clean = |bytes: &[u8]| {
        let mut text = String::from_utf8_lossy(bytes).into_owned();
        for key in [stdin_key, scrub].into_iter().flatten() {
            for form in key.redaction_forms() {
                text = text.replace(&form, "<redacted>");
            }
        }
        text
    };
    if output.status.success() {
        Ok(ToolOutcome::Ok(clean(&output.stdout)))
    } else {
        Ok(ToolOutcome::Failed {
            code: output.status.code(),
            status: output.status.to_string(),
            stderr: clean(&[output.stderr, output.stdout].concat()),
        })
    }
}
