//! `/d:` on a BitLocker drive: the recovery key from `/bk:`, `--bitlocker-key`,
//! `BITLOCKER_KEY` or a masked prompt; the drive unlocked for the run and locked again after
//! it, whatever happens.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use zeroize::Zeroize;

use crate::bitlocker::{self, RecoveryKey, UnlockedVolume};

use super::{CliError, ExitStatus};

/// Prompts for the key at most this many times when its form is wrong.
const PROMPTS: usize = 3;

/// Replaces `target` by a directory to work in: unlocks and mounts a BitLocker volume (the
/// key from `key`, or asked for on the terminal), or takes a directory as it is. The returned
/// guard locks the drive again when dropped.
pub fn open_target(
    target: &mut PathBuf,
    key: &mut Option<String>,
    read_only: bool,
) -> Result<UnlockedVolume, CliError> {
    // A directory is an unlocked drive: a key (one left in BITLOCKER_KEY, say) is not used,
    // nor looked at.
    if target.is_dir() {
        return Ok(bitlocker::open(target, None, read_only)?);
    }
    let mut recovery_key = key
        .as_deref()
        .map(RecoveryKey::parse)
        .transpose()
        .map_err(bitlocker::BitLockerError::from)?;
    if recovery_key.is_none() && wants_prompt(target) {
        let prompted = prompt(target)?;
        *key = Some(prompted.expose().to_string());
        recovery_key = Some(prompted);
    }
    let volume = bitlocker::open(target, recovery_key.as_ref(), read_only)?;
    if volume.was_unlocked_here() {
        say!(
            "unlocked the BitLocker volume on {}{}{}; it is locked again when the run ends",
            target.display(),
            volume
                .placement()
                .and_then(|p| p.partition)
                .map(|n| format!(" (partition {n})"))
                .unwrap_or_default(),
            if read_only { ", read-only" } else { "" }
        );
    }
    *target = volume.root().to_path_buf();
    Ok(volume)
}

/// The forms of the key the log and the reports must never show.
pub fn secrets(key: Option<&str>) -> Vec<String> {
    let Some(key) = key else {
        return Vec::new();
    };
    let mut secrets = vec![key.trim().to_string()];
    if let Ok(parsed) = RecoveryKey::parse(key) {
        secrets.extend(parsed.redaction_forms());
    }
    secrets
}

/// Locks the drive again and wipes the key; a failure to unmount is an error even after a
/// successful run (the drive must not be unplugged while mounted).
pub fn finish(
    volume: UnlockedVolume,
    key: &mut Option<String>,
    result: Result<ExitStatus, CliError>,
) -> Result<ExitStatus, CliError> {
    if let Some(key) = key.as_mut() {
        key.zeroize();
    }
    let unlocked = volume.was_unlocked_here();
    let closed = volume.close();
    match (result, closed) {
        (Ok(status), Ok(())) => {
            if unlocked {
                say!("the BitLocker volume is unmounted and locked again");
            }
            Ok(status)
        }
        (Ok(_), Err(error)) => Err(error.into()),
        (Err(error), Ok(())) => Err(error),
        (Err(error), Err(cleanup)) => {
            say!("error: {}", super::chain(&cleanup));
            Err(error)
        }
    }
}

/// Asks on the terminal only: a BitLocker target, no key given, a person at the keyboard.
fn wants_prompt(target: &Path) -> bool {
    std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal()
        && bitlocker::is_bitlocker(target)
}

fn prompt(target: &Path) -> Result<RecoveryKey, CliError> {
    say!(
        "{} is BitLocker-encrypted. Type its 48-digit recovery key (it is not shown).",
        target.display()
    );
    let mut last_error = None;
    for _ in 0..PROMPTS {
        let mut typed = rpassword::prompt_password("Recovery key: ").map_err(|error| {
            CliError::Usage(format!(
                "cannot read the recovery key from the terminal: {error} (give it with /bk:, \
                 --bitlocker-key or BITLOCKER_KEY)"
            ))
        })?;
        let parsed = RecoveryKey::parse(&typed);
        typed.zeroize();
        match parsed {
            Ok(key) => return Ok(key),
            Err(error) => {
                say!("{error}");
                last_error = Some(error);
            }
        }
    }
    Err(bitlocker::BitLockerError::from(last_error.unwrap_or(bitlocker::KeyError::Empty)).into())
}
