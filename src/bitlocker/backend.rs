//! The ways to unlock a BitLocker volume and mount its NTFS file system, behind [`Unlocker`].
//!
//! - [`CryptsetupUnlocker`]: `cryptsetup open --type bitlk` (key on stdin) → `/dev/mapper/…`
//!   → `ntfs-3g`. Needs device-mapper.
//! - [`DislockerUnlocker`]: `dislocker` (FUSE) → `dislocker-file` → `ntfs-3g`. dislocker
//!   takes the recovery key only in its argv (`-p<key>`): it is visible in the process list
//!   from the start of dislocker until it has parsed its options, when dislocker overwrites it
//!   with `X`s. It is used only where device-mapper is missing.
//!
//! A directory the user unlocked already needs no unlocker ([`super::open`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::guard::UnlockedVolume;
use super::key::RecoveryKey;
use super::{BACKEND_ENV, BitLockerError, ToolOutcome, Tools, run_tool, spawn_and_wait};

/// Unlocks a BitLocker volume whose key has been tested and mounts its file system,
/// recording every step in `volume` so it can be undone; returns the root directory.
pub trait Unlocker {
    fn name(&self) -> &'static str;
    fn unlock(
        &self,
        device: &Path,
        key: &RecoveryKey,
        read_only: bool,
        volume: &mut UnlockedVolume,
    ) -> Result<PathBuf, BitLockerError>;
}

/// The unlockers this machine can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Cryptsetup(CryptsetupUnlocker),
    Dislocker(DislockerUnlocker),
}

impl Backend {
    /// cryptsetup where device-mapper exists (`/dev/mapper/control`), dislocker otherwise;
    /// `EXPORT_REPAIR_BITLOCKER_BACKEND=cryptsetup|dislocker` forces one.
    pub fn choose(tools: &Tools) -> Result<Self, BitLockerError> {
        let forced = std::env::var(BACKEND_ENV).ok();
        let device_mapper = Path::new("/dev/mapper/control").exists();
        Self::choose_for(tools, forced.as_deref(), device_mapper)
    }

    /// [`Backend::choose`] for a given forced backend and presence of device-mapper.
    fn choose_for(
        tools: &Tools,
        forced: Option<&str>,
        device_mapper: bool,
    ) -> Result<Self, BitLockerError> {
        let ntfs_3g = || {
            Tools::require(
                &tools.ntfs_3g,
                "ntfs-3g",
                "ntfs-3g",
                "to mount the unlocked NTFS file system",
            )
        };
        let use_cryptsetup = match forced {
            Some("cryptsetup") => true,
            Some("dislocker") => false,
            _ => device_mapper && tools.cryptsetup.is_some(),
        };
        if use_cryptsetup {
            return Ok(Backend::Cryptsetup(CryptsetupUnlocker {
                cryptsetup: tools.cryptsetup()?,
                ntfs_3g: ntfs_3g()?,
            }));
        }
        let dislocker = Tools::require(
            &tools.dislocker,
            "dislocker",
            "dislocker",
            "to unlock BitLocker without device-mapper",
        )?;
        Ok(Backend::Dislocker(DislockerUnlocker {
            dislocker,
            ntfs_3g: ntfs_3g()?,
        }))
    }

    pub fn unlocker(&self) -> &dyn Unlocker {
        match self {
            Backend::Cryptsetup(unlocker) => unlocker,
            Backend::Dislocker(unlocker) => unlocker,
        }
    }

    pub fn name(&self) -> &'static str {
        self.unlocker().name()
    }
}

/// `cryptsetup open --type bitlk` + `ntfs-3g`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptsetupUnlocker {
    pub cryptsetup: PathBuf,
    pub ntfs_3g: PathBuf,
}

impl Unlocker for CryptsetupUnlocker {
    fn name(&self) -> &'static str {
        "cryptsetup"
    }

    fn unlock(
        &self,
        device: &Path,
        key: &RecoveryKey,
        read_only: bool,
        volume: &mut UnlockedVolume,
    ) -> Result<PathBuf, BitLockerError> {
        let name = format!("export-repair-{}", std::process::id());
        let args = commands::cryptsetup_open(device, &name, read_only);
        match run_tool(
            &self.cryptsetup,
            &args,
            Some(key),
            "unlocking with cryptsetup",
        )? {
            ToolOutcome::Ok(_) => volume.crypt_opened(&self.cryptsetup, &name),
            failed => return Err(failed.into_error("unlocking with cryptsetup open --type bitlk")),
        }
        let mapped = PathBuf::from("/dev/mapper").join(&name);
        let root = volume.mount_point("ntfs")?;
        mount_ntfs(&self.ntfs_3g, &mapped, &root, read_only, volume)?;
        volume.set_root(root.clone());
        Ok(root)
    }
}

/// `dislocker` (FUSE) + `ntfs-3g`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DislockerUnlocker {
    pub dislocker: PathBuf,
    pub ntfs_3g: PathBuf,
}

impl Unlocker for DislockerUnlocker {
    fn name(&self) -> &'static str {
        "dislocker + ntfs-3g"
    }

    fn unlock(
        &self,
        device: &Path,
        key: &RecoveryKey,
        read_only: bool,
        volume: &mut UnlockedVolume,
    ) -> Result<PathBuf, BitLockerError> {
        let fve = volume.mount_point("fve")?;
        let mut command = Command::new(&self.dislocker);
        command
            .args(commands::dislocker(device, key, read_only, &fve))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // dislocker daemonizes once its FUSE mount is up: its exit status is the mount's.
        let outcome = spawn_and_wait(command, None, Some(key), "unlocking with dislocker")?;
        // Record the mount even when dislocker says it failed: unmounting what is not
        // mounted is harmless, leaving a mount behind is not.
        volume.mounted(&fve);
        if let failed @ ToolOutcome::Failed { .. } = outcome {
            return Err(failed.into_error("unlocking with dislocker"));
        }
        let decrypted = fve.join("dislocker-file");
        if !decrypted.exists() {
            return Err(BitLockerError::Tool {
                what: "unlocking with dislocker".into(),
                status: "no dislocker-file".into(),
                detail: format!(": {} did not appear", decrypted.display()),
            });
        }
        let root = volume.mount_point("ntfs")?;
        mount_ntfs(&self.ntfs_3g, &decrypted, &root, read_only, volume)?;
        volume.set_root(root.clone());
        Ok(root)
    }
}

fn mount_ntfs(
    ntfs_3g: &Path,
    source: &Path,
    mount_point: &Path,
    read_only: bool,
    volume: &mut UnlockedVolume,
) -> Result<(), BitLockerError> {
    let outcome = run_tool(
        ntfs_3g,
        &commands::ntfs_3g(source, mount_point, read_only),
        None,
        "mounting NTFS",
    )?;
    volume.mounted(mount_point);
    match outcome {
        ToolOutcome::Ok(_) => Ok(()),
        failed => Err(failed.into_error(
            "mounting the unlocked NTFS file system with ntfs-3g (if Windows left it \
             hibernated or unclean, attach the drive to Windows once and shut it down cleanly)",
        )),
    }
}

/// The argument lists of every command, kept apart so tests can check them.
pub mod commands {
    use std::ffi::OsString;
    use std::path::Path;

    use super::super::key::RecoveryKey;
    use super::super::layout::Placement;

    fn os(items: &[&dyn AsRefOs]) -> Vec<OsString> {
        items.iter().map(|item| item.os()).collect()
    }

    trait AsRefOs {
        fn os(&self) -> OsString;
    }
    impl AsRefOs for &str {
        fn os(&self) -> OsString {
            OsString::from(self)
        }
    }
    impl AsRefOs for &Path {
        fn os(&self) -> OsString {
            self.as_os_str().to_os_string()
        }
    }
    impl AsRefOs for String {
        fn os(&self) -> OsString {
            OsString::from(self)
        }
    }

    /// `cryptsetup bitlkOpen --test-passphrase --key-file=- DEVICE` (key on stdin).
    pub fn test_key(device: &Path) -> Vec<OsString> {
        os(&[&"bitlkOpen", &"--test-passphrase", &"--key-file=-", &device])
    }

    /// `cryptsetup open --type bitlk --key-file=- [--readonly] DEVICE NAME` (key on stdin).
    pub fn cryptsetup_open(device: &Path, name: &str, read_only: bool) -> Vec<OsString> {
        let mut args = os(&[&"open", &"--type", &"bitlk", &"--key-file=-"]);
        if read_only {
            args.push("--readonly".into());
        }
        args.extend(os(&[&device, &name]));
        args
    }

    pub fn cryptsetup_close(name: &str) -> Vec<OsString> {
        os(&[&"close", &name])
    }

    /// `dislocker -V DEVICE -p<KEY> [-r] -- MOUNT_POINT`: the one command with the key in argv.
    pub fn dislocker(
        device: &Path,
        key: &RecoveryKey,
        read_only: bool,
        mount_point: &Path,
    ) -> Vec<OsString> {
        let mut args = os(&[&"-V", &device, &format!("-p{}", key.expose())]);
        if read_only {
            args.push("-r".into());
        }
        args.extend(os(&[&"--", &mount_point]));
        args
    }

    /// `ntfs-3g [-o ro] SOURCE MOUNT_POINT`.
    pub fn ntfs_3g(source: &Path, mount_point: &Path, read_only: bool) -> Vec<OsString> {
        let mut args = Vec::new();
        if read_only {
            args.extend(os(&[&"-o", &"ro"]));
        }
        args.extend(os(&[&source, &mount_point]));
        args
    }

    /// `losetup --find --show --offset O [--sizelimit L] [--read-only] IMAGE`.
    pub fn losetup_attach(image: &Path, placement: Placement, read_only: bool) -> Vec<OsString> {
        let mut args = os(&[
            &"--find",
            &"--show",
            &"--offset",
            &placement.offset.to_string(),
        ]);
        if let Some(length) = placement.length {
            args.extend(os(&[&"--sizelimit", &length.to_string()]));
        }
        if read_only {
            args.push("--read-only".into());
        }
        args.push(image.as_os_str().to_os_string());
        args
    }

    pub fn losetup_detach(device: &Path) -> Vec<OsString> {
        os(&[&"--detach", &device])
    }

    pub fn fusermount(mount_point: &Path, lazy: bool) -> Vec<OsString> {
        let mut args = os(&[&if lazy { "-uz" } else { "-u" }]);
        args.push(mount_point.as_os_str().to_os_string());
        args
    }

    pub fn umount(mount_point: &Path, lazy: bool) -> Vec<OsString> {
        let mut args = Vec::new();
        if lazy {
            args.push("-l".into());
        }
        args.push(mount_point.as_os_str().to_os_string());
        args
    }
}

#[cfg(test)]
mod tests {
    use super::commands;
    use super::*;
    use crate::bitlocker::layout::Placement;
    use std::ffi::OsString;

    const KEY: &str = "235818-357951-253979-013365-241120-245575-342914-591910";

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn the_key_goes_to_stdin_except_for_dislocker() {
        let device = Path::new("/dev/sdb1");
        let test = strings(commands::test_key(device));
        assert_eq!(
            test,
            [
                "bitlkOpen",
                "--test-passphrase",
                "--key-file=-",
                "/dev/sdb1"
            ]
        );
        let open = strings(commands::cryptsetup_open(device, "er-1", false));
        assert_eq!(
            open,
            [
                "open",
                "--type",
                "bitlk",
                "--key-file=-",
                "/dev/sdb1",
                "er-1"
            ]
        );
        assert!(
            strings(commands::cryptsetup_open(device, "er-1", true)).contains(&"--readonly".into())
        );
        assert_eq!(
            strings(commands::cryptsetup_close("er-1")),
            ["close", "er-1"]
        );
        let key = RecoveryKey::parse(KEY).unwrap();
        let dislocker = strings(commands::dislocker(
            device,
            &key,
            false,
            Path::new("/tmp/fve"),
        ));
        assert_eq!(
            dislocker,
            ["-V", "/dev/sdb1", &format!("-p{KEY}"), "--", "/tmp/fve"]
        );
        let read_only = strings(commands::dislocker(
            device,
            &key,
            true,
            Path::new("/tmp/fve"),
        ));
        assert_eq!(read_only[3], "-r");
    }

    #[test]
    fn mounts_loops_and_unmounts() {
        let ntfs = strings(commands::ntfs_3g(
            Path::new("/tmp/fve/dislocker-file"),
            Path::new("/tmp/ntfs"),
            true,
        ));
        assert_eq!(ntfs, ["-o", "ro", "/tmp/fve/dislocker-file", "/tmp/ntfs"]);
        let placement = Placement {
            offset: 1_048_576,
            length: Some(104_857_600),
            partition: Some(1),
        };
        let attach = strings(commands::losetup_attach(
            Path::new("disk.img"),
            placement,
            false,
        ));
        assert_eq!(
            attach,
            [
                "--find",
                "--show",
                "--offset",
                "1048576",
                "--sizelimit",
                "104857600",
                "disk.img"
            ]
        );
        assert_eq!(
            strings(commands::losetup_detach(Path::new("/dev/loop3"))),
            ["--detach", "/dev/loop3"]
        );
        assert_eq!(
            strings(commands::fusermount(Path::new("/m"), false)),
            ["-u", "/m"]
        );
        assert_eq!(
            strings(commands::umount(Path::new("/m"), true)),
            ["-l", "/m"]
        );
    }

    #[test]
    fn chooses_cryptsetup_with_device_mapper_and_dislocker_without() {
        let all = Tools {
            cryptsetup: Some("/usr/sbin/cryptsetup".into()),
            dislocker: Some("/usr/bin/dislocker".into()),
            ntfs_3g: Some("/usr/bin/ntfs-3g".into()),
            ..Tools::default()
        };
        let cryptsetup = Backend::Cryptsetup(CryptsetupUnlocker {
            cryptsetup: "/usr/sbin/cryptsetup".into(),
            ntfs_3g: "/usr/bin/ntfs-3g".into(),
        });
        let dislocker = Backend::Dislocker(DislockerUnlocker {
            dislocker: "/usr/bin/dislocker".into(),
            ntfs_3g: "/usr/bin/ntfs-3g".into(),
        });
        // With device-mapper: cryptsetup; without: dislocker; forced: as forced.
        assert_eq!(Backend::choose_for(&all, None, true).unwrap(), cryptsetup);
        assert_eq!(Backend::choose_for(&all, None, false).unwrap(), dislocker);
        assert_eq!(
            Backend::choose_for(&all, Some("dislocker"), true).unwrap(),
            dislocker
        );
        assert_eq!(
            Backend::choose_for(&all, Some("cryptsetup"), false).unwrap(),
            cryptsetup
        );
        // Without device-mapper and without dislocker, the error says what to install.
        let no_dislocker = Tools {
            dislocker: None,
            ..all.clone()
        };
        let error = Backend::choose_for(&no_dislocker, None, false).unwrap_err();
        assert!(
            error.to_string().contains("apt-get install dislocker"),
            "{error}"
        );
        // With device-mapper dislocker is not needed; without ntfs-3g neither backend mounts.
        assert_eq!(
            Backend::choose_for(&no_dislocker, None, true).unwrap(),
            cryptsetup
        );
        let no_ntfs = Tools {
            ntfs_3g: None,
            ..all.clone()
        };
        for device_mapper in [true, false] {
            let error = Backend::choose_for(&no_ntfs, None, device_mapper).unwrap_err();
            assert!(error.to_string().contains("ntfs-3g"), "{error}");
        }
        // With device-mapper but no cryptsetup, dislocker still unlocks.
        let no_cryptsetup = Tools {
            cryptsetup: None,
            ..all.clone()
        };
        assert_eq!(
            Backend::choose_for(&no_cryptsetup, None, true).unwrap(),
            dislocker
        );
    }
}
