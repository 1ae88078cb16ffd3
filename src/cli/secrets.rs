//! The secrets a run is given, learnt before anything can show them: from the environment and
//! from the arguments, before those are even parsed (an argument the parser refuses is echoed
//! in its error). Everything the program prints or writes is masked through
//! [`crate::sanitize::redact_secrets`], which then knows them.

use std::ffi::OsString;

use crate::sanitize::remember_secret;
use crate::source::azure::AzureCredential;
use crate::source::azure::sas::Sas;

/// Secrets read from the environment by the Entra ID sign-in, not through a flag.
const SIGN_IN_SECRETS: [&str; 2] = ["AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD"];

/// Remembers every secret in the environment and in `arguments`, however they are written:
/// `--flag VALUE`, `--flag=VALUE`, `/sk:VALUE`, and a v1 switch missing its `/`. The flags
/// are those whose environment variable's value help hides (`--account-key`, `--sas`,
/// `--bitlocker-key`), with their v1 switches.
pub fn remember_given(arguments: &[OsString]) {
    let (flags, variables) = secret_flags();
    let variables = variables.iter().map(String::as_str).chain(SIGN_IN_SECRETS);
    for variable in variables {
        if let Some(value) = std::env::var_os(variable) {
            remember(&value.to_string_lossy());
        }
    }
    let switches: Vec<String> = super::classic::SWITCHES
        .iter()
        .filter(|(_, flag)| flags.iter().any(|secret| secret == flag))
        .map(|(switch, _)| format!("{}:", switch.to_ascii_lowercase()))
        .collect();
    let arguments: Vec<String> = arguments
        .iter()
        .map(|argument| argument.to_string_lossy().into_owned())
        .collect();
    for (index, argument) in arguments.iter().enumerate() {
        let lower = argument.to_ascii_lowercase();
        for flag in &flags {
            if lower == *flag {
                // A flag given no value is followed by the next flag, no secret.
                if let Some(value) = arguments.get(index + 1).filter(|v| !v.starts_with('-')) {
                    remember(value);
                }
            } else if let Some(value) = lower
                .strip_prefix(flag.as_str())
                .and_then(|rest| rest.strip_prefix('='))
            {
                remember(&argument[argument.len() - value.len()..]);
            }
        }
        let switch = lower.trim_start_matches(['/', '-']);
        for prefix in &switches {
            if switch.starts_with(prefix.as_str()) {
                remember(&argument[argument.len() - (switch.len() - prefix.len())..]);
            }
        }
    }
}

/// The flags whose value is a secret and their environment variables, from the command
/// line's own definitions.
fn secret_flags() -> (Vec<String>, Vec<String>) {
    let command = <super::Cli as clap::CommandFactory>::command();
    let secret = command
        .get_subcommands()
        .flat_map(|subcommand| subcommand.get_arguments())
        .filter(|argument| argument.is_hide_env_values_set());
    let (mut flags, mut variables) = (Vec::new(), Vec::new());
    for argument in secret {
        flags.extend(argument.get_long().map(|long| format!("--{long}")));
        variables.extend(
            argument
                .get_env()
                .map(|env| env.to_string_lossy().into_owned()),
        );
    }
    for list in [&mut flags, &mut variables] {
        list.sort();
        list.dedup();
    }
    (flags, variables)
}

/// A secret as given, and the SAS signatures it holds (a signature may be shown decoded).
fn remember(value: &str) {
    remember_secret(value);
    for signature in signatures_in(value) {
        remember_secret(&signature);
    }
}

/// The signatures of a SAS (none when `text` is not one).
fn signatures_in(text: &str) -> Vec<String> {
    Sas::parse(text)
        .map(|sas| sas.signatures().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The secrets of a credential, for redaction (an Entra ID token is masked as it is obtained).
pub fn secrets_of(credential: &AzureCredential) -> Vec<String> {
    match credential {
        AzureCredential::AccountKey(key) => vec![key.trim().to_string()],
        AzureCredential::Sas(text) => signatures_in(text),
        AzureCredential::EntraId(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::redact_secrets;

    /// The command line masks the very signature the source sends: `+` is a `+`, `%2B` and
    /// `%3D` decode (form decoding once turned the `+` into a space here).
    #[test]
    fn sas_secrets_are_the_signatures_the_source_reads() {
        let text = "c1x?sv=2021-08-06&sig=a+b%2Bc%3D";
        assert_eq!(secrets_of(&AzureCredential::Sas(text.into())), ["a+b+c="]);
        let sas = Sas::parse(text).unwrap();
        assert_eq!(sas.signatures().collect::<Vec<_>>(), ["a+b+c="]);
    }

    /// The secret flags come from the command line's definitions.
    #[test]
    fn the_secret_flags_are_the_command_line_s() {
        let (flags, variables) = secret_flags();
        assert_eq!(flags, ["--account-key", "--bitlocker-key", "--sas"]);
        assert_eq!(
            variables,
            ["AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS", "BITLOCKER_KEY"]
        );
    }

    /// Every way a secret can be written on the command line is remembered before parsing;
    /// other arguments are not.
    #[test]
    fn secrets_in_arguments_are_remembered_before_parsing() {
        let arguments: Vec<OsString> = [
            "RepairExport",
            "SK:first-secret-1234",
            "/bk:second-secret-1234",
            "--sas=container?sv=1&sig=third%2Bsecret",
            "--account-key",
            "fourth-secret-1234",
            "/sn:not-a-secret-account",
        ]
        .map(OsString::from)
        .to_vec();
        remember_given(&arguments);
        assert_eq!(
            redact_secrets(
                "first-secret-1234 second-secret-1234 third+secret fourth-secret-1234 \
                 not-a-secret-account"
            ),
            "<redacted> <redacted> <redacted> <redacted> not-a-secret-account"
        );
    }
}
