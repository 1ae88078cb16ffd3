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

/// What a fake `az` answers to `az account get-access-token`.
pub enum AzAnswer {
    /// A token the way `az account get-access-token --output json` prints it: a JWT for
    /// `audience` from `https://sts.windows.net/<tenant>/`, valid from now for `life_seconds`.
    Token {
        tenant: &'static str,
        audience: &'static str,
        life_seconds: u64,
    },
    /// Not signed in: the message `az` prints, exit status 1.
    NotSignedIn,
}

/// The tenant of the fake `az`'s tokens.
pub const TENANT: &str = "8b3c6ad1-2f64-4c2a-9d0e-5a7f1e2b3c4d";

impl FakeTools {
    /// Installs a fake Azure CLI, `az`: records its argv like [`FakeTools::install`] and
    /// appends each token it prints to `log/az.tokens` (`<exp> <token>` a line).
    pub fn install_az(&self, answer: AzAnswer) {
        let log = self.dir.path().join("log");
        let argv = format!(
            "for a in \"$@\"; do printf '%s\\n' \"$a\" >> '{log}/az.argv'; done\n\
             echo --end-- >> '{log}/az.argv'\n",
            log = log.display()
        );
        let answer = match answer {
            AzAnswer::NotSignedIn => {
                "echo \"ERROR: Please run 'az login' to setup account.\" >&2\n\
                                      exit 1\n"
                    .to_string()
            }
            AzAnswer::Token {
                tenant,
                audience,
                life_seconds,
            } => format!(
                r#"b64() {{ base64 -w0 | tr '+/' '-_' | tr -d '='; }}
tokens='{log}/az.tokens'
n=0; [ -f "$tokens" ] && n=$(wc -l < "$tokens")
now=$(date +%s); exp=$((now + {life_seconds}))
header=$(printf '{{"alg":"RS256","typ":"JWT","kid":"fake"}}' | b64)
claims=$(printf '{{"aud":"{audience}","iss":"https://sts.windows.net/{tenant}/","tid":"{tenant}","iat":%s,"nbf":%s,"exp":%s,"oid":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0","uti":"call-%s"}}' "$now" "$now" "$exp" "$n" | b64)
signature=$(printf 'not-a-real-signature-%s-%s' "$now" "$n" | b64)
token="$header.$claims.$signature"
printf '%s %s\n' "$exp" "$token" >> "$tokens"
printf '{{\n  "accessToken": "%s",\n  "expiresOn": "%s",\n  "expires_on": %s,\n  "subscription": "00000000-1111-2222-3333-444444444444",\n  "tenant": "{tenant}",\n  "tokenType": "Bearer"\n}}\n' "$token" "$(date -d "@$exp" '+%Y-%m-%d %H:%M:%S.000000')" "$exp"
"#,
                log = log.display()
            ),
        };
        let path = self.bin().join("az");
        std::fs::write(&path, format!("#!/bin/sh\n{argv}{answer}")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    /// The tokens the fake `az` printed, oldest first, each with its expiry (Unix seconds).
    pub fn az_tokens(&self) -> Vec<(i64, String)> {
        std::fs::read_to_string(self.dir.path().join("log").join("az.tokens"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let (exp, token) = line.split_once(' ')?;
                Some((exp.parse().ok()?, token.to_string()))
            })
            .collect()
    }
}
