//! Fake `cryptsetup`, `dislocker` and `ntfs-3g` for tests: shell scripts put first on `PATH`
//! that record their argv (one argument a line) and their stdin, and answer as told.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A directory of fake tools and what they recorded.
pub struct FakeTools {
    pub dir: tempfile::TempDir,
}

impl FakeTools {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::create_dir(dir.path().join("log")).unwrap();
        Self { dir }
    }

    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// `PATH` with the fakes first.
    pub fn path_env(&self) -> std::ffi::OsString {
        let mut paths = vec![self.bin()];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(paths).unwrap()
    }

    /// Installs `name`: each call appends its argv to `log/<name>.argv` (then a `--end--`
    /// line) and its stdin to `log/<name>.stdin` (when `reads_stdin`), prints `stderr`, and
    /// exits with `code`.
    pub fn install(&self, name: &str, reads_stdin: bool, code: i32, stderr: &str) {
        let log = self.dir.path().join("log");
        let script = format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '{log}/{name}.argv'; done\n\
             echo --end-- >> '{log}/{name}.argv'\n{stdin}printf '%s' '{stderr}' >&2\nexit {code}\n",
            log = log.display(),
            stdin = if reads_stdin {
                format!("cat >> '{}/{name}.stdin'\n", log.display())
            } else {
                String::new()
            },
        );
        let path = self.bin().join(name);
        std::fs::write(&path, script).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    /// The calls of `name`, each its argv; empty when it never ran.
    pub fn calls(&self, name: &str) -> Vec<Vec<String>> {
        let text =
            std::fs::read_to_string(self.dir.path().join("log").join(format!("{name}.argv")))
                .unwrap_or_default();
        text.split_terminator("--end--\n")
            .map(|call| call.lines().map(str::to_owned).collect())
            .collect()
    }

    /// What `name` read on stdin, all calls together.
    pub fn stdin(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("log").join(format!("{name}.stdin")))
            .unwrap_or_default()
    }
}

/// A small file that looks like a BitLocker volume (`-FVE-FS-` at offset 3).
pub fn fake_volume(path: &Path) {
    let mut sector = vec![0u8; 4096];
    sector[0..3].copy_from_slice(&[0xEB, 0x58, 0x90]);
    sector[3..11].copy_from_slice(b"-FVE-FS-");
    std::fs::write(path, sector).unwrap();
}
